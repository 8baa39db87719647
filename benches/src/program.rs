//! The `main` of a measuring program that starts labs as child processes: a tokio runtime,
//! the run raced against Ctrl-C, and an exit status a script can test.
//!
//! Ctrl-C drops the run's future, which aborts its clients and drops its lab handles, and a
//! dropped handle kills its process: nothing is left running. Exit status: 0 when the run
//! finished and its checks held, 1 when a check failed (the report says which), 2 for an
//! error, 130 when interrupted (the shell's convention for SIGINT).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `run` on a runtime with `workers` threads (`None`: one per core) until it ends or
/// Ctrl-C; `name` prefixes every message. `run` says whether its checks held.
pub fn main_until_interrupted(
    name: &str,
    workers: Option<usize>,
    run: impl Future<Output = anyhow::Result<bool>>,
) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{name}: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = run => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Some(Ok(true)) => ExitCode::SUCCESS,
        Some(Ok(false)) => {
            eprintln!("{name}: a check failed (see the report)");
            ExitCode::from(1)
        }
        Some(Err(err)) => {
            eprintln!("{name}: {err:#}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{name}: interrupted; every lab it started was stopped");
            ExitCode::from(130)
        }
    }
}
