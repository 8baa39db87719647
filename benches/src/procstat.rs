//! CPU time and memory of a process, read from Linux's `/proc` (no `unsafe`, no libc).
//!
//! - CPU: the sum over the process's threads of `/proc/<pid>/task/<tid>/schedstat`'s first
//!   field, the nanoseconds each thread spent on a CPU. Nanosecond resolution, unlike the
//!   10 ms ticks of `/proc/<pid>/stat`, which matters for microsecond messages.
//! - Memory: `VmRSS` from `/proc/<pid>/status`, the resident set size.
//! - Open files: the entries of `/proc/<pid>/fd`, one per descriptor (sockets included), so
//!   a server that forgets to close connections shows a count that only grows.
//!
//! On other systems each returns `None` and the reports leave the columns empty.

use std::fs;

/// CPU time used so far by every live thread of `pid`, in nanoseconds.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(schedstat) = fs::read_to_string(task.path().join("schedstat")) else {
            // The thread ended between the listing and the read.
            continue;
        };
        if let Some(ns) = schedstat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            total += ns;
            any = true;
        }
    }
    any.then_some(total)
}

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// File descriptors `pid` has open right now (every socket, pipe and file).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn reads_our_own_process_on_linux() {
        if cfg!(target_os = "linux") {
            let pid = std::process::id();
            assert!(super::cpu_ns(pid).is_some());
            assert!(super::rss_bytes(pid).unwrap() > 0);
            // At least stdin, stdout and stderr, plus the listing's own descriptor.
            assert!(super::open_fds(pid).unwrap() >= 3);
        }
    }
}
