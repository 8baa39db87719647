//! The real binaries, as processes: the server stopped with SIGTERM says 1001 to every
//! client before it exits; the server killed with SIGKILL (no goodbye at all) and started
//! again on the same port is found again by `resilience-client`, which says the gap could
//! not be recovered (a new epoch), and carries on in order.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;

use common::{Json, close_code};
use kit::testing::{LabProcess, connect_ok, within};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const SERVER: &str = env!("CARGO_BIN_EXE_lab-resilience");
const CLIENT: &str = env!("CARGO_BIN_EXE_resilience-client");

/// SIGTERM: each of three subscribers receives a close frame with 1001 (which a dead
/// process could not send), then the process exits successfully.
#[tokio::test]
async fn every_client_hears_1001_before_the_process_exits() {
    let lab = LabProcess::start(SERVER, &["--rate", "0"]).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = Json {
            ws: connect_ok(lab.ws_url("/ws")).await.unwrap(),
            kept: Default::default(),
        };
        assert_eq!(client.recv().await["event"], "subscribed");
        clients.push(client);
    }
    lab.terminate().await.unwrap();
    for client in &mut clients {
        assert_eq!(close_code(&mut client.ws).await, 1001);
    }
    let (status, _lines) = lab.wait().await.unwrap();
    assert!(status.success(), "{status}");
}

/// `update <epoch>:<offset> ...` lines as (epoch, offset).
fn update_of(line: &str) -> Option<(String, u64)> {
    let position = line.strip_prefix("update ")?.split(' ').next()?;
    let (epoch, offset) = position.rsplit_once(':')?;
    Some((epoch.to_owned(), offset.parse().ok()?))
}

/// Chaos with a restart: the client is receiving when the server is killed (SIGKILL, no
/// close frame) and started again on the same port. The client reports the loss as 1006
/// and retries, reconnects, is told `recovered: false` because the epoch changed, says so,
/// and ends with its 20 updates: consecutive within each epoch, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_restarted_server_is_found_again_but_not_recovered() {
    let lab = LabProcess::start(SERVER, &["--rate", "50"]).await.unwrap();
    let addr = lab.addr.to_string();
    let mut client = Command::new(CLIENT)
        .args(["--url", &lab.ws_url("/ws"), "--count", "20"])
        .args(["--base-ms", "20", "--cap-ms", "200", "--max-attempts", "50"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    // Bounded: the client stops by itself after 20 updates.
    let mut lab = Some(lab);
    let mut restarted = false;
    for _ in 0..1000 {
        let Some(line) = within("the client's next line", lines.next_line())
            .await
            .unwrap()
            .unwrap()
        else {
            break;
        };
        printed.push(line);
        let updates = printed.iter().filter_map(|l| update_of(l)).count();
        if updates == 5 && !restarted {
            restarted = true;
            lab.take().unwrap().kill().await.unwrap();
            // The same port again, where the client looks for it.
            lab = Some(
                LabProcess::start_on(SERVER, &addr, &["--rate", "50"])
                    .await
                    .unwrap(),
            );
            assert_eq!(lab.as_ref().unwrap().addr.to_string(), addr);
        }
    }
    let status = within("the client's exit", client.wait())
        .await
        .unwrap()
        .unwrap();
    let all = printed.join("\n");
    assert!(status.success(), "{all}");
    assert!(
        all.contains("closed: 1006"),
        "the kill is a lost connection:\n{all}"
    );
    assert!(all.contains("-> retry"), "{all}");
    assert!(all.contains("reconnecting: attempt 1 in"), "{all}");
    assert!(
        all.contains("recovered: false (another epoch"),
        "the client says it could not recover:\n{all}"
    );
    assert!(all.contains("received 20 updates, 0 recovered"), "{all}");
    let updates: Vec<(String, u64)> = printed.iter().filter_map(|l| update_of(l)).collect();
    let epochs: Vec<&String> = {
        let mut e: Vec<&String> = updates.iter().map(|(e, _)| e).collect();
        e.dedup();
        e
    };
    assert_eq!(epochs.len(), 2, "one epoch per server lifetime:\n{all}");
    for pair in updates.windows(2) {
        if pair[0].0 == pair[1].0 {
            assert_eq!(
                pair[1].1,
                pair[0].1 + 1,
                "consecutive within an epoch:\n{all}"
            );
        }
    }
}

/// The client from the terminal against one server: cutting its own connection every 3
/// updates, it recovers each time, and exits after `--count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cuts_and_recovers() {
    let lab = LabProcess::start(SERVER, &["--rate", "100"]).await.unwrap();
    let output = within(
        "the client's run",
        Command::new(CLIENT)
            .args([
                "--url",
                &lab.ws_url("/ws"),
                "--count",
                "10",
                "--cut-every",
                "3",
            ])
            .args(["--base-ms", "20", "--cap-ms", "100"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("closed: 1006 connection cut on purpose"),
        "{stdout}"
    );
    assert!(stdout.contains("recovered: true"), "{stdout}");
    assert!(stdout.contains("received 10 updates"), "{stdout}");
    let offsets: Vec<u64> = stdout
        .lines()
        .filter_map(update_of)
        .map(|(_, o)| o)
        .collect();
    for pair in offsets.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "no gap, no repeat:\n{stdout}");
    }
}

/// Runs `resilience-client --connections <n> --hold-secs 0` against `lab`; its stdout.
async fn connections(lab: &LabProcess, n: u32) -> String {
    let output = within(
        "the client's run",
        Command::new(CLIENT)
            .args(["--url", &lab.ws_url("/ws")])
            .args(["--connections", &n.to_string(), "--hold-secs", "0"])
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    stdout
}

/// `--max-connections 2`: of 5 subscriptions opened at once, 2 get in and 3 are told 503;
/// `--max-connections 0` (no limit): all 5 get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_from_the_command_line() {
    let lab = LabProcess::start(SERVER, &["--rate", "0", "--max-connections", "2"])
        .await
        .unwrap();
    let stdout = connections(&lab, 5).await;
    assert!(stdout.contains("2 of 5 subscriptions got in"), "{stdout}");
    assert!(
        stdout.contains("3 refused: HTTP 503 too many connections"),
        "{stdout}"
    );
    lab.terminate().await.unwrap();

    let unlimited = LabProcess::start(SERVER, &["--rate", "0", "--max-connections", "0"])
        .await
        .unwrap();
    let stdout = connections(&unlimited, 5).await;
    assert!(stdout.contains("5 of 5 subscriptions got in"), "{stdout}");
    unlimited.terminate().await.unwrap();
}

/// Subscribes to `lab` with `since` (or none); the `subscribed` event's data.
async fn subscribe(lab: &LabProcess, since: Option<&str>) -> serde_json::Value {
    let path = since.map_or("/ws".to_owned(), |s| format!("/ws?since={s}"));
    let mut client = Json {
        ws: connect_ok(lab.ws_url(&path)).await.unwrap(),
        kept: Default::default(),
    };
    let first = client.recv().await;
    assert_eq!(first["event"], "subscribed");
    first["data"].clone()
}

/// `--history-secs`: a gap older than the history's age cannot be recovered
/// (`recovered: false`, with the reason), a gap within it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_secs_bounds_what_can_be_recovered() {
    for (secs, recovered) in [("0.3", false), ("60", true)] {
        let lab = LabProcess::start(SERVER, &["--rate", "20", "--history-secs", secs])
            .await
            .unwrap();
        let now = subscribe(&lab, None).await;
        let since = format!("{}:{}", now["epoch"].as_str().unwrap(), now["offset"]);
        // Away for 1 s: 20 updates published, the first of them 1 s old on return.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let back = subscribe(&lab, Some(&since)).await;
        assert_eq!(
            back["recovered"], recovered,
            "--history-secs {secs}: {back}"
        );
        if recovered {
            assert!(back["missed"].as_array().unwrap().len() >= 10, "{back}");
        } else {
            assert!(
                back["reason"]
                    .as_str()
                    .unwrap()
                    .contains("no longer covers the gap"),
                "{back}"
            );
        }
        lab.terminate().await.unwrap();
    }
}
