//! Bad input per DESIGN.md's table: message errors get an `exception` and the connection
//! stays open; protocol violations get their close code; a foreign Origin gets 403.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, start, start_with};
use kit::testing::connect_ws;
use kit::testing::raw::{RawClient, masked};
use lab_broadcast::FanOut;
use serde_json::json;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Malformed JSON, an unknown event and a publish with a bad audience each get an
/// exception naming the problem; the connection stays open.
#[tokio::test]
async fn bad_messages_get_an_exception() {
    let (server, _hub) = start().await;
    let mut client = Json::connect(&server, "").await;

    client.send_text(r#"{"event": "publish", "#).await;
    let reply = client.recv().await;
    assert_eq!(reply["data"]["cause"]["kind"], "malformed", "{reply}");

    let reply = client.request(1, "shout", json!({})).await;
    assert_eq!(reply["data"]["cause"]["kind"], "unknown_event", "{reply}");

    let reply = client
        .request(2, "publish", json!({ "to": { "kind": "martians" } }))
        .await;
    assert_eq!(reply["event"], "exception");
    assert_eq!(reply["data"]["cause"]["kind"], "validation", "{reply}");
    assert!(
        reply["data"]["message"]
            .as_str()
            .unwrap()
            .contains("martians"),
        "{reply}"
    );

    let reply = client.request(3, "confirm", json!({ "seq": "one" })).await;
    assert_eq!(reply["data"]["cause"]["kind"], "validation", "{reply}");

    let reply = client
        .request(4, "subscribe", json!({ "topics": [""] }))
        .await;
    assert_eq!(reply["data"]["cause"]["kind"], "validation", "{reply}");

    let reply = client.request(5, "stats", json!(null)).await;
    assert_eq!(reply["event"], "ack", "still open: {reply}");
}

/// Protocol violations sent as raw bytes are answered with their close code, not a bare
/// drop: unmasked frame and reserved bits 1002, invalid UTF-8 1007, an oversized frame 1009
/// (refused from its header, before any payload is sent).
#[tokio::test]
async fn protocol_violations_get_their_close_code() {
    let (server, _hub) = start().await;
    let hello = br#"{"event":"stats"}"#;

    let mut unmasked = vec![0x81, hello.len() as u8];
    unmasked.extend_from_slice(hello);
    let huge = {
        // A text frame header claiming 1 GiB, masked, and no payload at all.
        let mut h = vec![0x81, 0x80 | 127];
        h.extend_from_slice(&(1u64 << 30).to_be_bytes());
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    };
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("unmasked frame", unmasked, 1002),
        ("reserved bit", masked(0x81 | 0x40, hello), 1002),
        ("reserved opcode", masked(0x83, hello), 1002),
        ("invalid UTF-8", masked(0x81, &[0xff, 0xfe, b'{']), 1007),
        ("1 GiB frame", huge, 1009),
    ];
    for (what, bytes, code) in cases {
        let mut raw = RawClient::connect(server.addr, "/ws", &[]).await.unwrap();
        let (first, _welcome) = raw.frame().await.unwrap().unwrap();
        assert_eq!(first, 0x81, "the welcome is one text frame");
        raw.send(&bytes).await.unwrap();
        // The close frame with its code, then TCP closed: never a bare drop.
        assert_eq!(raw.close_code().await.unwrap(), Some(code), "{what}");
    }
}

/// A page from a foreign origin is refused with 403 before the upgrade; the lab's own
/// origin and clients without an Origin are accepted.
#[tokio::test]
async fn foreign_origin_is_refused() {
    let (server, _hub) = start().await;
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    match connect_ws(request).await.unwrap() {
        Err(Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_str(&server.origin()).unwrap());
    assert!(connect_ws(request).await.unwrap().is_ok());
}

/// Too many attributes in the query string: 400 before the upgrade.
#[tokio::test]
async fn too_many_attributes_are_refused() {
    let (server, _hub) = start().await;
    let query: Vec<String> = (0..20).map(|i| format!("a{i}=x")).collect();
    let url = server.ws_url(&format!("/ws?{}", query.join("&")));
    match connect_ws(url).await.unwrap() {
        Err(Error::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected a 400, got {other:?}"),
    }
}

/// Beyond the connection limit, the upgrade is answered 503 with `Retry-After`.
#[tokio::test]
async fn over_the_connection_limit_is_503() {
    let (server, _hub) = start_with(FanOut::Scaling, |config| {
        config.gateway.max_connections = 1;
    })
    .await;
    let _first = Json::connect(&server, "").await;
    match connect_ws(server.ws_url("/ws")).await.unwrap() {
        Err(Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!("expected a 503, got {other:?}"),
    }
}

/// A `subscribe` refused for going over the topic limit changes nothing: the client keeps
/// every topic it had, including one that the refused request named again.
#[tokio::test]
async fn a_refused_subscribe_changes_nothing() {
    let (server, _hub) = start().await;
    let mut client = Json::connect(&server, "").await;
    let full: Vec<String> = (0..lab_broadcast::lab::MAX_TOPICS)
        .map(|i| format!("t{i}"))
        .collect();
    let reply = client
        .request(1, "subscribe", json!({ "topics": full }))
        .await;
    assert_eq!(reply["event"], "ack", "{reply}");

    let reply = client
        .request(2, "subscribe", json!({ "topics": ["t0", "x"] }))
        .await;
    assert_eq!(reply["event"], "exception", "{reply}");
    assert_eq!(reply["data"]["cause"]["kind"], "refused", "{reply}");

    // An empty subscribe changes nothing and answers with the topics as they are.
    let reply = client
        .request(3, "subscribe", json!({ "topics": [] }))
        .await;
    let mut now: Vec<String> = serde_json::from_value(reply["data"]["topics"].clone()).unwrap();
    now.sort();
    let mut expected = full.clone();
    expected.sort();
    assert_eq!(
        now, expected,
        "the refused request changed the subscriptions"
    );
}
