//! The gateway as a client sees it: acknowledgements, bad input, guards, emits, state,
//! lifecycle hooks and the Origin allowlist, driven by real WebSocket clients.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Json, start};
use futures_util::SinkExt as _;
use kit::testing::{connect_ws, within};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// 100 requests sent at once on one connection each get exactly one answer with their own
/// id and their own data, though handlers finish in a different order than they started.
#[tokio::test]
async fn hundred_concurrent_requests_each_get_their_own_ack() {
    let server = start().await;
    let (mut client, _) = Json::welcomed(&server, "").await;
    let mut expected = BTreeMap::new();
    for id in 1..=100u64 {
        let (event, data, answer) = if id % 2 == 0 {
            let text = format!("message {id}");
            ("echo", json!({ "text": text }), json!({ "text": text }))
        } else {
            // Later requests sleep less, so their acks overtake earlier ones.
            let ms = (100 - id) / 4;
            ("sleep", json!({ "ms": ms }), json!({ "slept_ms": ms }))
        };
        expected.insert(id, answer);
        client
            .send(json!({ "event": event, "data": data, "id": id }))
            .await;
    }
    let mut order = Vec::new();
    while !expected.is_empty() {
        let reply = client.recv().await;
        assert_eq!(reply["event"], "ack", "{reply}");
        let id = reply["id"].as_u64().unwrap();
        let answer = expected
            .remove(&id)
            .unwrap_or_else(|| panic!("a second or unknown answer for id {id}: {reply}"));
        assert_eq!(reply["data"], answer, "id {id}");
        order.push(id);
    }
    assert_ne!(
        order,
        (1..=100).collect::<Vec<_>>(),
        "some acks overtook others"
    );
    // Nothing else is pending: the next message is the answer to a new request.
    client
        .send(json!({ "event": "echo", "data": { "text": "last" }, "id": 1000 }))
        .await;
    let last = client.recv().await;
    assert_eq!(last["id"], 1000, "{last}");
}

/// Malformed JSON, a non-envelope, an unknown event, a wrong type, a missing field and a
/// binary frame each get an exception naming the problem; the connection stays open, and
/// another client is not disturbed.
#[tokio::test]
async fn bad_input_gets_an_exception_and_the_connection_stays_open() {
    let server = start().await;
    let (mut client, _) = Json::welcomed(&server, "").await;
    let (mut other, _) = Json::welcomed(&server, "").await;

    client.send_text(r#"{"event": "echo", "data": "#).await;
    let reply = client.recv().await;
    assert_eq!(reply["event"], "exception");
    assert_eq!(reply["data"]["cause"]["kind"], "malformed");
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(reply["data"]["status"], "error");
    assert!(reply.get("id").is_none());

    client.send_text(r#"{"event": 5, "id": 3}"#).await;
    let reply = client.recv().await;
    assert_eq!(
        (reply["id"].clone(), reply["data"]["cause"]["kind"].clone()),
        (json!(3), json!("malformed"))
    );

    let reply = client.request(4, "nope", Value::Null).await;
    assert_eq!(reply["event"], "exception");
    assert_eq!(
        reply["data"]["cause"],
        json!({ "event": "nope", "kind": "unknown_event" })
    );
    assert_eq!(reply["data"]["message"], r#"unknown event "nope""#);

    let reply = client.request(5, "add", json!({ "a": "2", "b": 1 })).await;
    assert_eq!(reply["data"]["cause"]["kind"], "validation");
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .contains("expected i64"),
        "{reply}"
    );

    let reply = client.request(6, "echo", json!({})).await;
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `text`"),
        "{reply}"
    );

    let reply = client
        .request(7, "echo", json!({ "text": "x".repeat(281) }))
        .await;
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 280"),
        "{reply}"
    );

    within(
        "a binary frame",
        client
            .ws
            .send(tokio_tungstenite::tungstenite::Message::binary(vec![
                1, 2, 3,
            ])),
    )
    .await
    .unwrap()
    .unwrap();
    let reply = client.recv().await;
    assert_eq!(reply["data"]["cause"]["kind"], "malformed");

    // Still open, still working, for both.
    let reply = client.request(8, "add", json!({ "a": 2, "b": 40 })).await;
    assert_eq!(
        reply,
        json!({ "event": "ack", "id": 8, "data": { "sum": 42 } })
    );
    let reply = other.request(1, "echo", json!({ "text": "fine" })).await;
    assert_eq!(reply["event"], "ack");
}

/// A handler's refusal names the problem; an internal error and a panic become a generic
/// "internal error" without details; the connection stays open after all three.
#[tokio::test]
async fn refusals_are_specific_and_internal_errors_are_generic() {
    let server = start().await;
    let (mut client, _) = Json::welcomed(&server, "").await;
    let reply = client
        .request(1, "add", json!({ "a": i64::MAX, "b": 1 }))
        .await;
    assert_eq!(reply["data"]["cause"]["kind"], "refused");
    assert_eq!(reply["data"]["message"], "a + b overflows a 64-bit integer");
    for (id, event) in [(2, "fail"), (3, "crash")] {
        let reply = client.request(id, event, Value::Null).await;
        assert_eq!(
            reply["data"],
            json!({ "status": "error", "message": "internal error", "cause": { "event": event, "kind": "internal" } })
        );
        assert!(!reply.to_string().contains("10.0.0.5"));
    }
    let reply = client.request(4, "count", Value::Null).await;
    assert_eq!(reply["data"]["count"], 1);
}

/// A guard refuses `shout` to a nameless connection with a `forbidden` exception; a named
/// one shouts to every connection, including the refused one, which is still open.
#[tokio::test]
async fn guard_refuses_then_server_emits_to_all() {
    let server = start().await;
    let (mut nameless, _) = Json::welcomed(&server, "").await;
    let (mut ada, ada_id) = Json::welcomed(&server, "?user=ada").await;

    let reply = nameless.request(1, "shout", json!({ "text": "hi" })).await;
    assert_eq!(reply["event"], "exception");
    assert_eq!(reply["data"]["cause"]["kind"], "forbidden");
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .starts_with("forbidden: give a name")
    );

    let reply = ada
        .request(1, "shout", json!({ "text": "hello all" }))
        .await;
    assert_eq!(reply["data"]["delivered"], 2, "{reply}");
    let heard = nameless.recv_event("shouted").await;
    assert_eq!(
        heard["data"],
        json!({ "from": ada_id, "user": "ada", "text": "hello all" })
    );
    let heard = ada.recv_event("shouted").await;
    assert_eq!(heard["data"]["text"], "hello all");
}

/// `whisper` reaches exactly the listed connections (one, then a set), no one else.
#[tokio::test]
async fn server_emits_to_one_and_to_a_set() {
    let server = start().await;
    let (mut ada, _) = Json::welcomed(&server, "?user=ada").await;
    let (mut bob, bob_id) = Json::welcomed(&server, "?user=bob").await;
    let (mut cy, cy_id) = Json::welcomed(&server, "?user=cy").await;

    let reply = ada
        .request(1, "whisper", json!({ "to": [bob_id], "text": "one" }))
        .await;
    assert_eq!(reply["data"]["delivered"], 1);
    let reply = ada
        .request(
            2,
            "whisper",
            json!({ "to": [bob_id, cy_id, 999], "text": "set" }),
        )
        .await;
    assert_eq!(reply["data"]["delivered"], 2);

    assert_eq!(bob.recv_event("whispered").await["data"]["text"], "one");
    assert_eq!(bob.recv_event("whispered").await["data"]["text"], "set");
    // cy's first whisper is the second one: "one" never reached it.
    assert_eq!(cy.recv_event("whispered").await["data"]["text"], "set");
    // And the sender heard neither: the next event pushed to ada is a shout sent after.
    let reply = ada.request(3, "shout", json!({ "text": "marker" })).await;
    assert_eq!(reply["event"], "ack", "{reply}");
    let next = ada.recv().await;
    assert_eq!(
        (&next["event"], &next["data"]["text"]),
        (&json!("shouted"), &json!("marker")),
        "{next}"
    );
}

/// Per-connection state is per connection: two counters advance independently, and the
/// connect hook's name is in each one's state.
#[tokio::test]
async fn each_connection_has_its_own_state() {
    let server = start().await;
    let (mut ada, ada_id) = Json::welcomed(&server, "?user=ada").await;
    let (mut anon, _) = Json::welcomed(&server, "").await;
    for n in 1..=3 {
        assert_eq!(
            ada.request(n, "count", Value::Null).await["data"]["count"],
            n
        );
    }
    assert_eq!(
        anon.request(1, "count", Value::Null).await["data"]["count"],
        1
    );
    let me = ada.request(9, "whoami", Value::Null).await;
    assert_eq!(
        (me["data"]["conn"].clone(), me["data"]["user"].clone()),
        (json!(ada_id), json!("ada"))
    );
}

/// The connect hook refuses before the upgrade, with an HTTP status: 403 for a banned
/// name, 400 for an invalid one.
#[tokio::test]
async fn connect_hook_refuses_before_the_connection_exists() {
    let server = start().await;
    for (query, status) in [("?user=mallory", 403), ("?user=no%20spaces", 400)] {
        let refused = connect_ws(server.ws_url(&format!("/ws{query}")))
            .await
            .unwrap();
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status, "{query}");
            }
            other => panic!("{query}: expected an HTTP refusal, got {other:?}"),
        }
    }
}

/// The disconnect hook runs on every path out, with who closed and the code: a close frame
/// from the client, and a TCP connection dropped without one.
#[tokio::test]
async fn disconnect_hook_sees_reason_and_code() {
    let server = start().await;
    let (mut watcher, _) = Json::welcomed(&server, "").await;

    let (polite, polite_id) = Json::welcomed(&server, "?user=polite").await;
    let mut ws = polite.ws;
    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 4000.into(),
        reason: "done".into(),
    };
    within("closing", ws.close(Some(frame)))
        .await
        .unwrap()
        .unwrap();
    let left = watcher.recv_event("left").await;
    assert_eq!(left["data"]["conn"], polite_id);
    assert_eq!(
        left["data"]["why"],
        json!({ "by": "client", "code": 4000, "reason": "done" })
    );

    let raw = common::Raw::connect(server.addr).await;
    let welcome = raw_welcome_id(raw).await;
    let left = watcher.recv_event("left").await;
    assert_eq!(left["data"]["conn"], welcome);
    assert_eq!(left["data"]["why"]["by"], "network");
    assert_eq!(left["data"]["why"]["code"], Value::Null);
}

/// Reads the raw client's welcome, then drops its TCP connection without a close frame.
async fn raw_welcome_id(mut raw: common::Raw) -> u64 {
    let (_, payload) = raw.frame().await.unwrap();
    let welcome: Value = serde_json::from_slice(&payload).unwrap();
    drop(raw);
    welcome["data"]["conn"].as_u64().unwrap()
}

/// A browser page from a foreign origin gets 403 before the upgrade; the lab's own origin
/// and a client without Origin get in.
#[tokio::test]
async fn foreign_origin_is_refused_with_403() {
    let server = start().await;
    let with_origin = |origin: &str| {
        let mut request = server.ws_url("/ws").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
        request
    };
    match connect_ws(with_origin("http://evil.example"))
        .await
        .unwrap()
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(
        connect_ws(with_origin(&server.origin()))
            .await
            .unwrap()
            .is_ok()
    );
    assert!(connect_ws(server.ws_url("/ws")).await.unwrap().is_ok());
}

/// The metrics interceptor counts calls and errors per event.
#[tokio::test]
async fn metrics_interceptor_counts() {
    let server = start().await;
    let (mut client, _) = Json::welcomed(&server, "").await;
    client.request(1, "echo", json!({ "text": "a" })).await;
    client.request(2, "echo", json!({ "nope": 1 })).await;
    client.request(3, "fail", Value::Null).await;
    let metrics = client.request(4, "metrics", Value::Null).await;
    assert_eq!(metrics["data"]["echo"], json!({ "calls": 2, "errors": 1 }));
    assert_eq!(metrics["data"]["fail"], json!({ "calls": 1, "errors": 1 }));
}

/// Beyond the connection limit, the upgrade is answered 503 with Retry-After.
#[tokio::test]
async fn connection_limit_answers_503() {
    let server = common::start_with(|config| config.max_connections = 1).await;
    let (_first, _) = Json::welcomed(&server, "").await;
    match connect_ws(server.ws_url("/ws")).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("expected 503, got {other:?}"),
    }
}

/// A client that never reads is closed with 1008 once its bounded outgoing queue is full;
/// the sender is never blocked by it and carries on.
#[tokio::test]
async fn slow_client_is_closed_with_1008_and_does_not_block_others() {
    let server = common::start_with(|config| config.outgoing_queue = 4).await;
    let (mut ada, _) = Json::welcomed(&server, "?user=ada").await;
    let mut lazy = common::Raw::connect(server.addr).await;
    let text = "z".repeat(50_000);
    let mut shouts = 0;
    loop {
        shouts += 1;
        assert!(shouts < 2_000, "the lazy client was never closed");
        let reply = ada.request(shouts, "shout", json!({ "text": text })).await;
        ada.kept.clear();
        // Delivered to ada alone: the lazy client has left the registry.
        if reply["data"]["delivered"] == 1 {
            break;
        }
    }
    assert_eq!(lazy.close_code().await, 1008);
    let reply = ada
        .request(10_000, "echo", json!({ "text": "still fine" }))
        .await;
    assert_eq!(reply["event"], "ack");
}
