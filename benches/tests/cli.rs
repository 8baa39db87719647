//! The command line end to end: `bench run` starts `bench serve` as a child process, waits
//! for its address line, measures, prints the table and writes every result file.

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// A tiny run of three transports writes JSON, CSV, Markdown, SVG charts, the machine and
/// the command into the chosen folder, and its JSON has one echo cell per transport and
/// size, each with answered requests and no errors.
#[test]
fn a_tiny_run_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "run",
            "--transports",
            "tcp,ws,grpc-stream",
            "--sizes",
            "16,4k",
            "--reps",
            "2",
            "--warmup",
            "20ms",
            "--duration",
            "50ms",
            "--setup",
            "5",
            "--idle",
            "5",
            "--push",
            "50",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
    assert!(stdout.contains("raw TCP (floor)"), "{stdout}");
    assert!(stdout.contains("WebSocket"), "{stdout}");

    for file in [
        "report.json",
        "machine.json",
        "command.txt",
        "echo.csv",
        "results.md",
        "chart-p50-closed-c-1-proto.svg",
        "chart-p50-vs-tcp-closed-c-1-proto.svg",
    ] {
        let path = out.join(file);
        assert!(path.exists(), "{} missing", path.display());
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let echo = report["results"]["echo"].as_array().unwrap();
    assert_eq!(echo.len(), 3 * 2);
    for cell in echo {
        assert_eq!(cell["median"]["errors"], 0, "{cell}");
        assert!(
            cell["median"]["ok"].as_u64().is_some_and(|ok| ok > 0),
            "no request answered: {cell}"
        );
        assert_eq!(cell["repetitions"].as_array().unwrap().len(), 2);
    }
    assert!(report["machine"]["cpu_model"].is_string());
    let csv = std::fs::read_to_string(out.join("echo.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6);
    let svg = std::fs::read_to_string(out.join("chart-p50-closed-c-1-proto.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("WebSocket"),
        "{svg}"
    );
}
