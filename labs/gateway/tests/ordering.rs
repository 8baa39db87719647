//! Concurrent by default, in order when asked: a slow request does not hold up the next one,
//! unless its event is marked `Gateway::ordered`, and then the next request waits for it.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

use kit::testing::TestServer;
use lab_gateway::testing::JsonClient;
use lab_gateway::{Config, demo};
use serde_json::json;

/// The demo gateway, with `ordered` events handled in arrival order.
async fn demo_with(ordered: &[&str]) -> TestServer {
    let ordered: Vec<String> = ordered.iter().map(|e| e.to_string()).collect();
    TestServer::start(move |addr| {
        demo::gateway(Config::for_port(addr.port()))
            .ordered(ordered)
            .into_router()
    })
    .await
    .unwrap()
}

/// The ids of the first `n` acks, in the order they arrived.
async fn ack_order(client: &mut JsonClient, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let reply = client.recv().await;
        if reply["event"] == "ack" {
            ids.push(reply["id"].as_u64().unwrap());
        }
    }
    ids
}

/// By default a fast request sent after a slow one is answered first.
#[tokio::test]
async fn by_default_a_fast_request_overtakes_a_slow_one() {
    let server = demo_with(&[]).await;
    let mut client = JsonClient::connect(&server, "").await;
    client
        .send(json!({ "event": "sleep", "data": { "ms": 300 }, "id": 1 }))
        .await;
    client
        .send(json!({ "event": "echo", "data": { "text": "fast" }, "id": 2 }))
        .await;
    assert_eq!(ack_order(&mut client, 2).await, [2, 1]);
}

/// With both events ordered, the fast request waits for the slow one: answers in the order
/// of the requests, however long each takes.
#[tokio::test]
async fn ordered_events_are_answered_in_arrival_order() {
    let server = demo_with(&["sleep", "echo"]).await;
    let mut client = JsonClient::connect(&server, "").await;
    client
        .send(json!({ "event": "sleep", "data": { "ms": 300 }, "id": 1 }))
        .await;
    client
        .send(json!({ "event": "echo", "data": { "text": "fast" }, "id": 2 }))
        .await;
    client
        .send(json!({ "event": "sleep", "data": { "ms": 10 }, "id": 3 }))
        .await;
    assert_eq!(ack_order(&mut client, 3).await, [1, 2, 3]);
}
