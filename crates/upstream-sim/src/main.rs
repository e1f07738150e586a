//! `upstream-sim`: run the simulated OpenAI provider as a process, for
//! tests and benchmarks written in other languages.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use upstream_sim::{Sim, SimConfig};

#[derive(Parser, Debug)]
#[command(
    name = "upstream-sim",
    about = "Simulated OpenAI-protocol model provider"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Delay before each reply's headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between stream chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Require `Authorization: Bearer <KEY>` on /v1 requests.
    #[arg(long)]
    api_key: Option<String>,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Reply length in tokens when a request sets no max tokens.
    #[arg(long, default_value_t = 12)]
    default_completion_tokens: u32,
    /// How long a video job renders, in milliseconds.
    #[arg(long, default_value_t = 200)]
    video_render_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = args.worker_threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("upstream-sim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let config = SimConfig {
        api_key: args.api_key,
        latency: Duration::from_millis(args.latency_ms),
        chunk_interval: Duration::from_millis(args.chunk_interval_ms),
        default_completion_tokens: args.default_completion_tokens,
        aws_credentials: None,
        video_render: Duration::from_millis(args.video_render_ms),
    };
    let sim = match Sim::start_on(args.listen, config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("upstream-sim: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    // Scripts wait for this line before sending traffic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{}", sim.addr());
    let _ = out.flush();
    drop(out);

    wait_for_signal().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
