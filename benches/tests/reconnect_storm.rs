//! The reconnect storm end to end, in a few seconds: it starts the resilience lab's binary,
//! connects 20 subscribers, restarts and freezes the server, each way with and without
//! jitter, and prints its table.
//!
//! Run with `cargo test -p bench --test reconnect_storm`. The lab's binary is the one next to
//! the storm's in the target directory (`cargo test --workspace` builds it); when it is not
//! there yet, the test builds it first with the same cargo.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The lab binary the storm starts, built next to the storm if missing.
fn lab_binary(storm: &Path) -> PathBuf {
    let lab = storm.with_file_name("lab-resilience");
    if !lab.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = if storm.parent().unwrap().ends_with("release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let status = Command::new(cargo)
            .args(["build", "-p", "lab-resilience", "--bin", "lab-resilience"])
            .args(profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the lab failed");
    }
    lab
}

/// Twenty clients, both ways, both jitter modes: exit 0 (every client back, nothing lost,
/// the freeze recovered) and a table with a row per way and mode.
#[test]
fn a_small_storm_comes_back_whole_and_prints_both_modes() {
    let storm = PathBuf::from(env!("CARGO_BIN_EXE_reconnect-storm"));
    let lab = lab_binary(&storm);
    let started = Instant::now();
    let output = Command::new(&storm)
        .args(["--clients", "20", "--base-ms", "100", "--cap-ms", "1000"])
        .args(["--steady-ms", "200", "--freeze-ms", "800"])
        .args([
            "--ping-ms",
            "100",
            "--dead-ms",
            "300",
            "--timeout-secs",
            "10",
        ])
        .arg("--lab-bin")
        .arg(&lab)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "status {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    println!("{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for row in [
        "| restart (SIGTERM, 1001, new epoch) | full |",
        "| restart (SIGTERM, 1001, new epoch) | none |",
        "| freeze (SIGSTOP, heartbeat, SIGCONT) | full |",
        "| freeze (SIGSTOP, heartbeat, SIGCONT) | none |",
    ] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    // Every client back in every run, nothing lost; a restart is never recovered (a new
    // epoch), a freeze always is.
    assert_eq!(
        stdout.matches("| 20/20 | 0/20 | 0 |").count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("| 20/20 | 20/20 | 0 |").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("peak with jitter"), "{stdout}");
    assert!(stdout.contains("```text"), "no histogram:\n{stdout}");
}

/// A lab binary that does not exist is a clear error, not a hang.
#[test]
fn a_missing_lab_binary_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_reconnect-storm"))
        .args(["--clients", "1", "--lab-bin", "/nonexistent/lab-resilience"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not found") && stderr.contains("cargo build --release -p lab-resilience"),
        "{stderr}"
    );
}
