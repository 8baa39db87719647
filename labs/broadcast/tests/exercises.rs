//! The exercises of chapter 9 ("Broadcasting"), with their solutions, tested against the
//! lab.
//!
//! ```text
//! cargo test -p lab-broadcast --test exercises
//! ```
//!
//! The book shows each exercise's task and its tests; the body written here is the
//! solution. To do an exercise yourself, replace a body with `todo!()`, watch its tests
//! fail, then write your own until they pass.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, start};
use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, within};
use lab_broadcast::{Audience, Broadcast, Hub, Report};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------------------
// Exercise 1: a topic broadcast that falls back to everyone.
// ---------------------------------------------------------------------------------------

// ANCHOR: fallback_solution
// ANCHOR: fallback_task
/// Exercise 1: publish `payload` (reliable, no confirmation) from the server to the
/// subscribers of `topic`; if the topic has no subscriber at all, publish it to everyone
/// instead. Return the report of the broadcast that reached someone (or of the last one).
pub async fn publish_or_everyone(hub: &Hub, topic: &str, payload: Value) -> Report {
    // ANCHOR_END: fallback_task
    let to_topic = Broadcast {
        to: Audience::Topic {
            topic: topic.to_owned(),
        },
        payload: payload.clone(),
        volatile: false,
        confirm_ms: None,
    };
    let report = hub.publish(None, to_topic).await;
    if report.recipients > 0 {
        return report;
    }
    let to_all = Broadcast {
        to: Audience::All,
        payload,
        volatile: false,
        confirm_ms: None,
    };
    hub.publish(None, to_all).await
}
// ANCHOR_END: fallback_solution

// ANCHOR: fallback_tests
/// With a subscriber, only it receives; without any, everyone does.
#[tokio::test]
async fn fallback_to_everyone() {
    let (server, hub) = start().await;
    let mut fan = Json::connect(&server, "").await;
    let mut other = Json::connect(&server, "").await;
    fan.subscribe(&["goals"]).await;

    let report = publish_or_everyone(&hub, "goals", json!("1-0")).await;
    assert_eq!(report.recipients, 1);
    assert_eq!(fan.broadcast().await["payload"], "1-0");

    let report = publish_or_everyone(&hub, "weather", json!("rain")).await;
    assert_eq!(report.recipients, 2);
    assert_eq!(fan.broadcast().await["payload"], "rain");
    assert_eq!(
        other.broadcast().await["payload"],
        "rain",
        "no 1-0 before it"
    );
}
// ANCHOR_END: fallback_tests

// ---------------------------------------------------------------------------------------
// Exercise 2: a client that confirms.
// ---------------------------------------------------------------------------------------

// ANCHOR: confirm_solution
// ANCHOR: confirm_task
/// Exercise 2: the client side of delivery confirmation. Read messages from `ws` until
/// `n` broadcasts have arrived; answer each one whose `data.confirm` is `true` with
/// `{"event": "confirm", "data": {"seq": <its seq>}}`. Return the `seq` of every
/// broadcast read, in order. Skip any other event (the welcome, acks).
pub async fn read_and_confirm(ws: &mut Client, n: usize) -> Vec<u64> {
    // ANCHOR_END: confirm_task
    let mut seqs = Vec::new();
    while seqs.len() < n {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            break; // Closed, or an error: nothing more will come.
        };
        let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if message["event"] != "broadcast" {
            continue;
        }
        let data = &message["data"];
        let Some(seq) = data["seq"].as_u64() else {
            continue;
        };
        if data["confirm"] == true {
            let answer = json!({ "event": "confirm", "data": { "seq": seq } });
            if ws.send(Message::text(answer.to_string())).await.is_err() {
                break;
            }
        }
        seqs.push(seq);
    }
    seqs
}
// ANCHOR_END: confirm_solution

// ANCHOR: confirm_tests
/// A confirmed broadcast to two clients running `read_and_confirm` reports both
/// delivered; an unconfirmed one before it is read too.
#[tokio::test]
async fn clients_that_confirm() {
    let (server, hub) = start().await;
    let mut a = kit::testing::connect_ok(server.ws_url("/ws"))
        .await
        .unwrap();
    let mut b = kit::testing::connect_ok(server.ws_url("/ws"))
        .await
        .unwrap();
    // Wait until both are in the audience (a connection joins right after its welcome).
    within("both connected", async {
        while hub.stats().connected < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let broadcast = |confirm_ms| Broadcast {
        to: Audience::All,
        payload: json!("please confirm"),
        volatile: false,
        confirm_ms,
    };
    let publish = async {
        let plain = hub.publish(None, broadcast(None)).await;
        let confirmed = hub.publish(None, broadcast(Some(5_000))).await;
        (plain, confirmed)
    };
    let ((plain, confirmed), seqs_a, seqs_b) = within("publishing and confirming", async {
        tokio::join!(
            publish,
            read_and_confirm(&mut a, 2),
            read_and_confirm(&mut b, 2)
        )
    })
    .await
    .unwrap();
    assert_eq!(seqs_a, vec![plain.seq, confirmed.seq]);
    assert_eq!(seqs_b, seqs_a);
    let counts = confirmed.confirmation.unwrap();
    assert_eq!(
        (counts.delivered, counts.failed, counts.timed_out),
        (2, 0, 0)
    );
    assert_eq!(hub.stats().confirmed, 2);
}

/// Against a scripted server, `read_and_confirm` skips the welcome, reads a plain and a
/// confirmed broadcast, and answers exactly once: the confirmed one, with its seq.
#[tokio::test]
async fn only_a_confirmed_broadcast_is_answered() {
    // The lab counts only confirmations it waits for, so a client that confirmed every
    // broadcast would pass against it. This server records every message instead.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let broadcast = |seq: u64, confirm: bool| {
            let data = json!({
                "seq": seq, "from": null, "to": { "kind": "all" },
                "volatile": false, "confirm": confirm, "payload": "hi",
            });
            Message::text(json!({ "event": "broadcast", "data": data }).to_string())
        };
        let welcome = json!({ "event": "welcome", "data": { "conn": 1 } });
        ws.send(Message::text(welcome.to_string())).await.unwrap();
        ws.send(broadcast(7, false)).await.unwrap();
        ws.send(broadcast(8, true)).await.unwrap();
        // Everything the client sends until it closes.
        let mut received = Vec::new();
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                received.push(serde_json::from_str::<Value>(text.as_str()).unwrap());
            }
        }
        received
    });

    let mut ws = kit::testing::connect_ok(url).await.unwrap();
    let seqs = within("reading two broadcasts", read_and_confirm(&mut ws, 2))
        .await
        .unwrap();
    assert_eq!(seqs, vec![7, 8]);
    within("closing", ws.close(None)).await.unwrap().unwrap();
    let received = within("the server's record", server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        received,
        vec![json!({ "event": "confirm", "data": { "seq": 8 } })],
        "one confirm, for seq 8 only"
    );
}
// ANCHOR_END: confirm_tests
