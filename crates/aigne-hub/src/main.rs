//! `aigne-hub`: the single binary. CLI parsing and wiring only; the logic lives in the crates.

mod cli;
mod commands;
mod serve;

use std::process::ExitCode;

/// The hot path allocates many small, short-lived buffers (headers, JSON, chunks); mimalloc's
/// thread-local free lists serve them far cheaper than the system allocator. It is built without
/// transparent huge pages (the `no_thp` feature): with them, each 2 MiB region the allocator
/// touches becomes resident as a whole, and 1,000 open streams cost over 60 MiB more.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.log_format.as_deref());
    let runtime = match runtime(cli.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: one worker thread per CPU this process may use (its affinity mask, so
/// `taskset` and container CPU sets count), or as asked. With one thread the current-thread
/// scheduler runs everything on the main thread: no work-stealing queues, no cross-thread
/// wake-ups, which is what a hub pinned to one core should pay. Blocking work (SQLite, file
/// I/O of the journal writer) has its own threads either way.
fn runtime(asked: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let threads = asked.filter(|n| *n > 0).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
}

/// Logs go to stderr, so `--json` output on stdout stays a clean document. Never a secret:
/// nothing logs headers, bodies or configuration values.
fn init_logging(format: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AIGNE_HUB_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    use std::io::IsTerminal;
    // Colour only for a person at a terminal; files and log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod architecture_doc {
    /// ARCHITECTURE.md is a map; a map with dead paths misleads. Every `crates/…` path it names
    /// must exist.
    #[test]
    fn every_path_named_in_architecture_md_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
        assert!(!doc.is_empty(), "ARCHITECTURE.md is missing");
        let mut missing = Vec::new();
        let mut checked = 0;
        for (i, part) in doc.split('`').enumerate() {
            if i % 2 == 1 && part.starts_with("crates/") && !part.contains(' ') {
                checked += 1;
                if !root.join(part).exists() {
                    missing.push(part.to_owned());
                }
            }
        }
        assert!(checked > 10, "expected ARCHITECTURE.md to name the crates' files");
        assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
    }
}
