//! A chat keeps each member's order: messages sent back to back, without waiting for their
//! acks, reach the others in the order they were sent, and a `send` right after the `join`
//! is handled after it.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use lab_gateway::testing::JsonClient;
use serde_json::json;

/// ada joins and sends 300 messages without waiting for any answer; bob receives all 300,
/// in order, and none of ada's requests is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_messages_arrive_in_the_order_sent() {
    let (server, _registry) = common::start().await;
    let mut bob = JsonClient::connect(&server, "?name=bob").await;
    let reply = bob.request(1, "join", json!({ "room": "order" })).await;
    assert_eq!(reply["event"], "ack", "{reply}");

    let mut ada = JsonClient::connect(&server, "?name=ada").await;
    // The join and the first send go out together: the send must not overtake the join.
    ada.send(json!({ "event": "join", "data": { "room": "order" }, "id": 1 }))
        .await;
    for i in 0..300 {
        let text = format!("m{i}");
        ada.send(
            json!({ "event": "send", "data": { "room": "order", "text": text }, "id": 10 + i }),
        )
        .await;
    }
    let mut acks = 0;
    while acks < 301 {
        let reply = ada.recv().await;
        if reply.get("id").is_some_and(|id| !id.is_null()) {
            assert_eq!(reply["event"], "ack", "refused: {reply}");
            acks += 1;
        }
    }

    let mut received = Vec::new();
    while received.len() < 300 {
        let event = bob.recv().await;
        if event["event"] == "message" && event["data"]["from"] == "ada" {
            received.push(event["data"]["text"].as_str().unwrap().to_owned());
        }
    }
    let sent: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    assert_eq!(received, sent, "bob saw ada's messages out of order");
}
