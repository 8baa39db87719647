//! The command-line tool against a live lab: `broadcast-subscribers` opens subscribers,
//! publishes, and reports exactly what they received.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use kit::testing::within;
use tokio::process::Command;

/// 5 subscribers, 3 confirmed broadcasts, every second subscriber confirming: the report
/// counts 3 delivered and 2 timed out, and every subscriber got all 3, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_tool_reports_what_was_received() {
    let (server, _hub) = common::start().await;
    let output = within(
        "the tool's run",
        Command::new(env!("CARGO_BIN_EXE_broadcast-subscribers"))
            .args(["--url", &server.ws_url("/ws")])
            .args(["--count", "5", "--publish", "3"])
            .args(["--confirm-ms", "500", "--confirm-every", "2"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("opened 5 subscribers"), "{stdout}");
    assert!(
        stdout.contains(r#""confirmation":{"delivered":3,"failed":0,"timed_out":2}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("received 15 broadcasts: 5 got 3; 0 out of order; 0 closed"),
        "{stdout}"
    );
}

/// The tool says what to do when no lab is listening.
#[tokio::test]
async fn subscribers_tool_explains_a_missing_lab() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = within(
        "the tool's run",
        Command::new(env!("CARGO_BIN_EXE_broadcast-subscribers"))
            .args([
                "--url",
                &format!("ws://127.0.0.1:{port}/ws"),
                "--count",
                "1",
            ])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("is the lab running"), "{stderr}");
}
