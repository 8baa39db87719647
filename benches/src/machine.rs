//! The machine a run was made on, written next to its results: a number means little
//! without the CPU, the kernel and the compiler that produced it.

use std::process::Command;

use serde::Serialize;

/// What a reader needs to compare two runs.
#[derive(Debug, Clone, Serialize)]
pub struct MachineInfo {
    /// From `/proc/cpuinfo`'s `model name`.
    pub cpu_model: String,
    /// Logical CPUs this process may use (collected before the harness pins itself).
    pub cores: usize,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// The operating system and architecture the harness was built for.
    pub os: String,
    /// The compiler that built the harness (recorded by `build.rs`).
    pub rustc: String,
    /// `debug` or `release`: a debug build's numbers are not worth comparing.
    pub profile: String,
    /// `git rev-parse HEAD` in the current directory, `-dirty` if there are uncommitted
    /// changes; `unknown` outside a repository.
    pub git_commit: String,
    /// The host name, to tell machines apart.
    pub hostname: String,
}

impl MachineInfo {
    /// Collects the description of this machine.
    pub fn collect() -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into())
        };
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu_model,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            kernel: read("/proc/sys/kernel/osrelease"),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            rustc: env!("BENCH_RUSTC_VERSION").to_string(),
            profile: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
            git_commit: git_commit(),
            hostname: read("/proc/sys/kernel/hostname"),
        }
    }
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
        None => "unknown".into(),
    }
}
