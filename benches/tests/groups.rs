//! The many-client workloads end to end: `bench run --workload ack,rooms,fanout` starts the
//! course's labs as `bench serve-lab` children (and Socket.IO from `benches/peers/`), drives
//! them with the harness's clients, and writes their tables into the same report as the
//! echo workload.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

/// The peers are installed (`benches/peers/install.sh`); otherwise the Socket.IO rows are
/// skipped with a message, which is checked instead (and REQUIRE_PEERS=1 fails the test).
fn peers_installed() -> bool {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed = here.join("peers/node_modules/socket.io").is_dir()
        && Command::new("node").arg("--version").output().is_ok();
    if !installed {
        kit::testing::missing(
            "REQUIRE_PEERS",
            "Node or the peers' npm packages are missing (run benches/peers/install.sh)",
        );
    }
    installed
}

/// A small run of the ack, rooms and fan-out workloads delivers every message on every
/// server (our labs, the floor and Socket.IO), reads each server's memory and CPU from its
/// own process, and writes the rows into report.json and results.md.
#[test]
fn group_workloads_deliver_everything_on_every_server() {
    let peers = peers_installed();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "run",
            "--workload",
            "ack,rooms,fanout",
            "--acks",
            "50",
            "--ack-sizes",
            "16,280",
            "--members",
            "20",
            "--subscribers",
            "20",
            "--room-rate",
            "50",
            "--broadcast-rate",
            "50",
            "--group-duration",
            "200ms",
            "--burst",
            "5",
            "--batching-window-ms",
            "0",
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
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let results = &report["results"];
    assert_eq!(
        results["echo"].as_array().unwrap().len(),
        0,
        "no echo asked"
    );

    let servers = |rows: &Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["server"].to_string())
            .collect()
    };
    let mut want_rooms = vec![r#"{"lab":"rooms"}"#.to_string()];
    let mut want_fanout = vec![
        r#"{"lab":"floor"}"#.to_string(),
        r#"{"lab":"broadcast-naive"}"#.to_string(),
        r#"{"lab":"broadcast-scaling"}"#.to_string(),
    ];
    let mut want_ack = vec![r#""gateway""#.to_string(), r#""gateway""#.to_string()];
    if peers {
        want_rooms.push(r#""socket-io""#.into());
        want_fanout.push(r#""socket-io""#.into());
        want_ack.extend([r#""socket-io""#.to_string(), r#""socket-io""#.to_string()]);
    } else {
        assert!(stdout.contains("skipped: Socket.IO rows"), "{stdout}");
    }
    assert_eq!(servers(&results["rooms"]), want_rooms);
    assert_eq!(servers(&results["fanout"]), want_fanout);
    assert_eq!(servers(&results["ack"]), want_ack);

    for row in results["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .chain(results["fanout"].as_array().unwrap())
    {
        let name = row["server"].to_string();
        // 50/s for 0.2 s: 10 messages to 20 receivers; a burst of 5 to 20.
        assert_eq!(row["latency_expected"], 200, "{name}");
        assert_eq!(
            row["latency_received"], 200,
            "{name}: every message delivered"
        );
        assert_eq!(
            row["burst_received"], 100,
            "{name}: every burst message delivered"
        );
        assert!(row["latency"]["p50_us"].as_f64().unwrap() > 0.0, "{name}");
        assert!(row["burst_per_second"].as_f64().unwrap() > 0.0, "{name}");
        // The server is another process: its memory and CPU are its own.
        assert!(row["idle_bytes_per_conn"].is_number(), "{name}");
        assert!(
            row["server_cpu_us_per_delivery"].as_f64().unwrap() > 0.0,
            "{name}"
        );
        assert_eq!(
            row["floor_pass"].is_object(),
            name.contains("floor"),
            "{name}: only the floor reports its passes"
        );
        let busy = row["client_cores_busy"].as_f64().unwrap();
        assert!(
            busy > 0.0 && busy <= 2.5,
            "{name}: clients busy {busy} cores"
        );
    }
    for row in results["ack"].as_array().unwrap() {
        let name = row["server"].to_string();
        assert_eq!(row["figures"]["ok"], 50, "{name}: every ack checked");
        assert_eq!(row["figures"]["errors"], 0, "{name}");
        assert!(
            row["figures"]["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0,
            "{name}"
        );
    }

    let markdown = std::fs::read_to_string(out.join("results.md")).unwrap();
    for title in [
        "## Request and acknowledgement",
        "## Rooms: one room of N members",
        "## Fan-out: one publish reaches every subscriber",
        "## The floor's server",
    ] {
        assert!(markdown.contains(title), "{title} missing from results.md");
    }
}

/// `cargo run -p bench -- run ...`, the command the README and the book give, needs the
/// harness to be the package's default binary: the package has five.
#[test]
fn the_harness_is_the_default_binary() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    assert_eq!(manifest["package"]["default-run"].as_str(), Some("bench"));
}

/// Bad values for the new workloads are refused before any server starts, with a message
/// that says what would be accepted.
#[test]
fn group_workloads_refuse_bad_values() {
    for (args, expected) in [
        (
            &["--workload", "rooms,carrier-pigeon"][..],
            "unknown workload 'carrier-pigeon'",
        ),
        (
            &["--workload", "ack", "--ack-sizes", "4k"][..],
            "at most 280 characters",
        ),
        (&["--workload", "rooms", "--members", "0"][..], "at least 1"),
        (
            &["--workload", "fanout", "--burst", "5000"][..],
            "at most 512",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_bench"))
            .arg("run")
            .args(args)
            .args(["--no-files", "--quiet"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `--transports ...,node-ws` runs Node's `ws` beside our server in the same run: its echo
/// rows are answered without error, their server CPU is read from the node process (not
/// ours), and they get ratios to raw TCP like every transport; without Node the rows are
/// skipped with the reason.
#[test]
fn node_ws_is_an_echo_transport_of_the_run() {
    let peers = peers_installed();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "run",
            "--workload",
            "echo",
            "--transports",
            "tcp,ws,node-ws",
            "--sizes",
            "16,4k",
            "--reps",
            "1",
            "--warmup",
            "20ms",
            "--duration",
            "100ms",
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
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let node: Vec<&Value> = report["results"]["echo"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spec"]["transport"] == "NodeWs")
        .collect();
    if !peers {
        assert!(node.is_empty());
        assert!(stdout.contains("skipped: Node ws rows"), "{stdout}");
        return;
    }
    assert_eq!(node.len(), 2, "one cell per size");
    for cell in node {
        assert_eq!(cell["median"]["errors"], 0, "{cell}");
        assert!(cell["median"]["ok"].as_u64().unwrap() > 0, "{cell}");
        assert!(cell["median"]["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0);
        assert!(cell["vs_tcp"]["p50"].as_f64().unwrap() > 0.0, "{cell}");
    }
    assert!(stdout.contains("WebSocket, Node ws"), "{stdout}");
}
