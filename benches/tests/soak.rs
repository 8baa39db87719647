//! The soak end to end, in a few seconds: it starts the rooms and broadcast labs' binaries,
//! connects a few clients, sends, counts, and prints its tables and verdicts.
//!
//! Run with `cargo test -p bench --test soak`. The labs' binaries are the ones next to the
//! soak's in the target directory (`cargo test --workspace` builds them); when they are not
//! there yet, the test builds them first with the same cargo.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The lab binaries the soak starts, built next to the soak if missing.
fn lab_binaries(soak: &Path) -> (PathBuf, PathBuf) {
    let rooms = soak.with_file_name("lab-rooms");
    let broadcast = soak.with_file_name("lab-broadcast");
    if !rooms.exists() || !broadcast.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = if soak.parent().unwrap().ends_with("release") {
            vec!["--release"]
        } else {
            vec![]
        };
        let status = Command::new(cargo)
            .args(["build", "-p", "lab-rooms", "-p", "lab-broadcast", "--bins"])
            .args(profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the labs failed");
    }
    (rooms, broadcast)
}

/// A three-second soak of 11 clients on both labs exits 0 with every message counted once,
/// and prints the delivery, latency and server tables with a verdict per check.
#[test]
fn a_short_soak_passes_and_prints_its_verdicts() {
    let soak = PathBuf::from(env!("CARGO_BIN_EXE_soak"));
    let (rooms, broadcast) = lab_binaries(&soak);
    let started = Instant::now();
    let output = Command::new(&soak)
        .args([
            "--seconds",
            "3",
            "--sample-secs",
            "0.5",
            "--rooms",
            "2",
            "--members",
            "3",
            "--subscribers",
            "5",
            "--rate",
            "20",
            "--drain-secs",
            "3",
            // Three seconds of samples say nothing about a leak; the arithmetic of the slope
            // has its own unit tests (src/soak.rs).
            "--rss-tolerance",
            "1000000",
        ])
        .arg("--rooms-bin")
        .arg(&rooms)
        .arg("--broadcast-bin")
        .arg(&broadcast)
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
    for verdict in [
        "**PASS** exactly-once",
        "**PASS** RSS flat",
        "**PASS** no fd leak",
    ] {
        assert!(stdout.contains(verdict), "{verdict} missing:\n{stdout}");
    }
    // 2 rooms × 3 members and 5 subscribers, every one of them complete.
    assert!(stdout.contains("6/6 clients"), "{stdout}");
    assert!(stdout.contains("5/5 clients"), "{stdout}");
    assert!(stdout.contains("| minute |"), "{stdout}");
    assert!(stderr.contains("RSS"), "no progress lines:\n{stderr}");
}

/// A lab binary that does not exist is a clear error, not a hang.
#[test]
fn a_missing_lab_binary_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--seconds", "1", "--labs", "rooms", "--rooms-bin"])
        .arg("/nonexistent/lab-rooms")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not found") && stderr.contains("cargo build --release -p lab-rooms"),
        "{stderr}"
    );
}
