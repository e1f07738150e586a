//! The SQLite driver runs each connection on a thread of its own, and the usage writer's batch
//! inserts run there. At the process's normal priority a batch competes with the thread serving
//! calls for the same core, and a call that arrives during it waits. At a lower priority
//! (nice +10) the scheduler runs the call's thread first and gives the database threads the
//! rest; should the writer ever fall behind, admission slows callers rather than dropping
//! records (`UsageJournal::backlog`).

use std::collections::HashSet;

/// How much lower than the process the database threads run.
const NICE: i32 = 10;
/// The driver's thread names, as `comm` holds them (at most 15 bytes).
const THREAD_PREFIX: &str = "sqlx-sqlite-wor";

/// The threads found alive at the last look, so each is read and lowered once (threads that
/// ended are forgotten: the set stays as small as the process's thread list).
#[derive(Default)]
pub struct WorkerPriority {
    seen: HashSet<i32>,
}

impl WorkerPriority {
    /// Lowers the priority of the driver's threads started since the last call; returns how
    /// many it lowered. Only on Linux (elsewhere nothing happens); a failure leaves the thread
    /// at the process's priority, which is only slower for calls, never wrong.
    pub fn lower_new_threads(&mut self) -> usize {
        #[cfg(target_os = "linux")]
        {
            self.lower_on_linux()
        }
        #[cfg(not(target_os = "linux"))]
        {
            0
        }
    }

    #[cfg(target_os = "linux")]
    fn lower_on_linux(&mut self) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        let before = std::mem::take(&mut self.seen);
        let mut lowered = 0;
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            self.seen.insert(tid);
            if before.contains(&tid) {
                continue;
            }
            let is_worker = std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.starts_with(THREAD_PREFIX));
            if !is_worker {
                continue;
            }
            // On Linux `PRIO_PROCESS` with a thread id sets that one thread's nice value.
            match rustix::process::setpriority_process(rustix::process::Pid::from_raw(tid), NICE) {
                Ok(()) => lowered += 1,
                Err(e) => tracing::debug!(tid, error = %e, "could not lower a database thread's priority"),
            }
        }
        lowered
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn nice_of(tid: i32) -> Option<i32> {
        rustix::process::getpriority_process(rustix::process::Pid::from_raw(tid)).ok()
    }

    #[test]
    fn lowers_only_threads_named_like_the_drivers_and_each_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("sqlx-sqlite-worker-7".to_owned())
            .spawn(move || {
                let _ = tx.send(rustix::thread::gettid().as_raw_nonzero().get());
                let _ = stop_rx.recv();
            })
            .expect("a test thread starts");
        let tid = rx.recv().expect("the test thread reports its id");
        let base = nice_of(0).unwrap_or(0);
        let mut p = WorkerPriority::default();
        // Other tests may run driver threads of their own at the same time: at least ours.
        assert!(p.lower_new_threads() >= 1);
        assert_eq!(nice_of(tid), Some((base + NICE).min(19)));
        // This test's own thread is not a driver thread and keeps its priority.
        assert_eq!(nice_of(rustix::thread::gettid().as_raw_nonzero().get()), Some(base));
        assert!(p.seen.contains(&tid), "a thread is looked at once");
        let _ = stop_tx.send(());
        worker.join().expect("the test thread ends");
        p.lower_new_threads();
        assert!(!p.seen.contains(&tid), "an ended thread is forgotten");
    }
}
