//! Slow consumers: a client that never reads does not slow the others, is handled by the
//! lab's stated policy, and costs the server a bounded amount of memory.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, Read, start_with};
use kit::testing::{TestServer, within};
use lab_broadcast::{Audience, Broadcast, FanOut, Hub};
use serde_json::json;
use tokio::net::TcpSocket;
use tokio_tungstenite::MaybeTlsStream;

/// Each outgoing queue holds this many frames: small, so the policy starts early.
const QUEUE: usize = 16;
/// The payload's padding: large, so the kernel's socket buffers fill after a few hundred.
const PAD: usize = 8 * 1024;
/// If the slow client is not handled after this many messages, memory is not bounded:
/// 16 queued frames plus the kernel's buffers (a few MiB) hold far fewer.
const MAX_MESSAGES: u64 = 4000;

async fn start() -> (TestServer, Hub) {
    start_with(FanOut::Scaling, |config| {
        config.gateway.outgoing_queue = QUEUE;
        config.hub.volatile_keep_free = QUEUE / 2;
    })
    .await
}

/// A client whose socket has a tiny receive buffer and that never reads on its own.
async fn slow_client(server: &TestServer) -> Json {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = within("connecting", socket.connect(server.addr))
        .await
        .unwrap()
        .unwrap();
    let (ws, _) = within(
        "the handshake",
        tokio_tungstenite::client_async(server.ws_url("/ws"), MaybeTlsStream::Plain(stream)),
    )
    .await
    .unwrap()
    .unwrap();
    Json::welcomed(ws).await
}

fn message(i: u64, volatile: bool) -> Broadcast {
    Broadcast {
        to: Audience::All,
        payload: json!({ "i": i, "pad": "x".repeat(PAD) }),
        volatile,
        confirm_ms: None,
    }
}

/// Reliable messages: the client that never reads is closed with 1008 once its queue is
/// full, after a gap-free prefix of the messages and a reason saying it missed the rest;
/// the readers get every message meanwhile, and keep getting them afterwards.
#[tokio::test]
async fn a_client_that_never_reads_is_closed_and_told() {
    let (server, hub) = start().await;
    let mut readers = vec![
        Json::connect(&server, "").await,
        Json::connect(&server, "").await,
    ];
    let mut slow = slow_client(&server).await;

    let mut closed_at = None;
    for i in 0..MAX_MESSAGES {
        let report = hub.publish(None, message(i, false)).await;
        for reader in &mut readers {
            assert_eq!(reader.broadcast().await["payload"]["i"], i);
        }
        if report.closed_slow == 1 {
            closed_at = Some(i);
            break;
        }
    }
    let closed_at = closed_at.expect("the slow client is closed within the bound");
    // The others keep receiving, and the slow client is no longer a recipient.
    for i in closed_at + 1..closed_at + 20 {
        let report = hub.publish(None, message(i, false)).await;
        assert_eq!((report.recipients, report.closed_slow), (2, 0));
        for reader in &mut readers {
            assert_eq!(reader.broadcast().await["payload"]["i"], i);
        }
    }
    // What the slow client finally reads: message 0, 1, 2... with no gap, then the close.
    let mut next = 0;
    let frame = loop {
        match slow.read().await {
            Read::Json(message) => {
                assert_eq!(
                    message["data"]["payload"]["i"], next,
                    "no gap, no reordering"
                );
                next += 1;
            }
            Read::Closed(frame) => break frame.expect("a close frame with a code"),
        }
    };
    assert!(
        next <= closed_at,
        "it missed at least the message that did not fit"
    );
    assert_eq!(u16::from(frame.code), 1008);
    assert!(
        frame.reason.contains(&format!(
            "queue full at broadcast {}; all after the last one you got are lost",
            closed_at + 1
        )),
        "{}",
        frame.reason
    );
    let stats = hub.stats();
    assert_eq!((stats.closed_slow, stats.connected), (1, 2));
}

/// Volatile messages: a client that does not read loses some (counted as dropped) but is
/// not closed; once it reads again it gets what was kept, in order, and a reliable message
/// sent afterwards still arrives.
#[tokio::test]
async fn volatile_messages_are_dropped_for_a_busy_client() {
    let (server, hub) = start().await;
    let mut reader = Json::connect(&server, "").await;
    let mut slow = slow_client(&server).await;

    let mut dropped = 0;
    let mut sent = 0;
    while sent < MAX_MESSAGES && dropped < 100 {
        let report = hub.publish(None, message(sent, true)).await;
        assert_eq!(report.closed_slow, 0);
        dropped += report.dropped;
        assert_eq!(
            reader.broadcast().await["payload"]["i"],
            sent,
            "the reader loses nothing"
        );
        sent += 1;
    }
    assert_eq!(
        dropped, 100,
        "the busy client's messages are dropped, not queued"
    );
    let report = hub.publish(None, message(sent, false)).await;
    assert_eq!(
        (report.queued, report.closed_slow),
        (2, 0),
        "room kept for reliable ones"
    );

    let mut last = None;
    let mut received = 0;
    loop {
        let data = slow.broadcast().await;
        let i = data["payload"]["i"].as_u64().unwrap();
        assert!(last.is_none_or(|last| i > last), "in order");
        last = Some(i);
        received += 1;
        if !data["volatile"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(last, Some(sent), "the reliable message arrives last");
    assert_eq!(
        received + dropped,
        sent + 1,
        "each message was either received or dropped"
    );
    assert_eq!(hub.stats().dropped, dropped);
    // Still connected.
    let stats = slow.request(1, "stats", json!(null)).await;
    assert_eq!(stats["data"]["connected"], 2, "{stats}");
}
