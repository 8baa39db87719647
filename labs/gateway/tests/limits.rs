//! The gateway's limits and its goodbye, from outside: the connection limit under a burst
//! of simultaneous upgrades, the per-connection rate limit, close 1001 when the server
//! stops (in-process and as a real process receiving SIGTERM), and emit errors that say
//! what happened.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Json, Raw, masked};
use kit::testing::{LabProcess, connect_ws, within};
use lab_gateway::{EmitError, RateLimit, Server};
use serde_json::json;

/// 40 upgrades at the same moment against a limit of 5: exactly 5 get in and the others are
/// answered 503, because each connection takes a permit in the same step as the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_upgrades_cannot_exceed_the_limit() {
    let server = common::start_with(|config| config.max_connections = 5).await;
    let url = server.ws_url("/ws");
    let attempts: Vec<_> = (0..40)
        .map(|_| tokio::spawn(connect_ws(url.clone())))
        .collect();
    let (mut open, mut refused) = (Vec::new(), 0);
    for attempt in attempts {
        match attempt.await.unwrap().unwrap() {
            Ok((client, _)) => open.push(client),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 503);
                refused += 1;
            }
            Err(other) => panic!("unexpected answer: {other}"),
        }
    }
    assert_eq!(open.len(), 5, "connections let in");
    assert_eq!(refused, 35);

    // A permit comes back when its connection ends, whichever way: here a dropped TCP.
    drop(open.pop());
    let mut again = None;
    for _ in 0..250 {
        if let Ok(Ok(client)) = connect_ws(url.clone()).await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the freed permit was never given back");
}

/// A client within its rate is served; a flood from another client empties its bucket and
/// closes it with 1008, and the first client carries on unharmed.
#[tokio::test]
async fn a_flood_is_closed_with_1008_and_others_carry_on() {
    let server = common::start_with(|config| {
        config.rate_limit = Some(RateLimit {
            per_second: 10.0,
            burst: 20,
        });
    })
    .await;
    let (mut calm, _) = Json::welcomed(&server, "").await;
    for id in 1..=15 {
        let reply = calm.request(id, "echo", json!({ "text": "hi" })).await;
        assert_eq!(reply["event"], "ack", "within the burst: {reply}");
    }

    let mut flood = Raw::connect(server.addr).await;
    let message = masked(0x81, br#"{"event":"echo","data":{"text":"x"}}"#);
    let burst: Vec<u8> = message.repeat(200);
    flood.send(&burst).await;
    assert_eq!(flood.close_code().await, 1008);

    let reply = calm
        .request(100, "echo", json!({ "text": "still here" }))
        .await;
    assert_eq!(reply["event"], "ack", "{reply}");
}

/// With the limit off (`None`), a flood of 2 000 messages in one write, four times the
/// default burst, is answered in full and the connection stays open.
#[tokio::test]
async fn without_a_rate_limit_a_flood_is_served() {
    const FLOOD: u64 = 2_000;
    let server = common::start_with(|config| {
        config.rate_limit = None;
        // Room for every ack while the client is still writing: this test is about the
        // rate limit, not about a client too slow to read.
        config.outgoing_queue = 4_096;
    })
    .await;
    let mut raw = Raw::connect(server.addr).await;
    raw.frame().await.unwrap(); // The welcome.
    let request = |id: u64| {
        let text = json!({ "event": "echo", "data": { "text": "x" }, "id": id }).to_string();
        masked(0x81, text.as_bytes())
    };
    let flood: Vec<u8> = (1..=FLOOD).flat_map(request).collect();
    raw.send(&flood).await;

    let mut acked = std::collections::BTreeSet::new();
    while (acked.len() as u64) < FLOOD {
        let (first, payload) = raw.frame().await.expect("open until every ack");
        assert_eq!(first, 0x81, "a text frame, not {first:#x}: {payload:?}");
        let reply: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(reply["event"], "ack", "{reply}");
        assert!(
            acked.insert(reply["id"].as_u64().unwrap()),
            "twice: {reply}"
        );
    }
    assert_eq!(acked, (1..=FLOOD).collect());

    // Still open: one more request is answered.
    raw.send(&request(FLOOD + 1)).await;
    let (_, payload) = raw.frame().await.expect("still open");
    let reply: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        (&reply["event"], reply["id"].as_u64()),
        (&json!("ack"), Some(FLOOD + 1))
    );
}

/// The server's goodbye closes every connection with 1001 and returns once they are gone.
#[tokio::test]
async fn going_away_closes_every_connection_with_1001() {
    let shutdown = kit::Shutdown::new();
    let signal = shutdown.clone();
    let server = common::start_with(move |config| config.shutdown = signal).await;
    let mut first = Raw::connect(server.addr).await;
    let mut second = Raw::connect(server.addr).await;
    // Each has been welcomed: both connections are open on the server.
    first.frame().await.unwrap();
    second.frame().await.unwrap();
    assert_eq!(shutdown.open_connections(), 2);

    let left = within("the goodbye", shutdown.going_away(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(left, 0, "every connection ended before the deadline");
    assert_eq!(first.close_code().await, 1001);
    assert_eq!(second.close_code().await, 1001);
}

/// The real binary, stopped with SIGTERM: its client is told 1001 (not a dropped TCP
/// connection), and the process exits cleanly.
#[tokio::test]
async fn sigterm_closes_clients_with_1001_then_exits() {
    let lab = LabProcess::start(env!("CARGO_BIN_EXE_lab-gateway"), &[])
        .await
        .unwrap();
    let mut client = Raw::connect(lab.addr).await;
    client.frame().await.unwrap();
    lab.terminate().await.unwrap();
    assert_eq!(client.close_code().await, 1001);
    let (status, _lines) = lab.wait().await.unwrap();
    assert!(status.success(), "exit status {status}");
}

/// An event whose data cannot be encoded is an `Encode` error naming the event, from
/// `Server::emit_to` and from `Socket::emit` alike, and nothing is sent.
#[tokio::test]
async fn encoding_failures_say_so() {
    // JSON object keys must be strings: a map keyed by a tuple cannot be encoded.
    let unencodable: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();

    let server = Server::default();
    let err = server.emit_to(1, "scores", &unencodable).unwrap_err();
    assert!(
        matches!(&err, EmitError::Encode { event, .. } if event == "scores"),
        "{err:?}"
    );
    assert!(err.to_string().contains("scores"), "{err}");

    let (queue, mut sent) = tokio::sync::mpsc::channel(4);
    let socket = lab_gateway::Socket::new(7, None, (), queue, server);
    let err = socket.emit("scores", &unencodable).await.unwrap_err();
    assert!(matches!(err, EmitError::Encode { .. }), "{err:?}");
    assert!(sent.try_recv().is_err(), "nothing was queued");
}
