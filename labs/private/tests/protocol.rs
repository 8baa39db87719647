//! Bad input per DESIGN.md: message errors earn an `exception` and the connection stays;
//! protocol violations close with their code; a foreign Origin is refused with 403.

#![allow(clippy::unwrap_used)]

mod common;

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::raw::masked;
use kit::testing::{connect_ok, connect_ws, within};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, http::HeaderValue};

/// Malformed JSON, an unknown event and a payload missing fields each get an `exception`
/// naming the problem, and the connection still answers afterwards.
#[tokio::test]
async fn bad_messages_get_exceptions() {
    let (server, _) = common::start().await;
    let token = common::token(&server, "alice").await;
    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let mut ws = connect_ok(request).await.unwrap();
    let cases = [
        ("{not json", "not valid JSON"),
        (r#"{"event":"teleport","id":1}"#, "unknown event"),
        (
            r#"{"event":"send","data":{"channel":"x"},"id":2}"#,
            "missing field",
        ),
        (
            r#"{"event":"send","data":{"channel":"x","seq":1,"copies":[{"to":"bob","iv":"!","ciphertext":"!"}]},"id":3}"#,
            "not a sealed message",
        ),
    ];
    for (frame, problem) in cases {
        within("send", ws.send(Message::text(frame)))
            .await
            .unwrap()
            .unwrap();
        let answer = next(&mut ws).await;
        assert_eq!(answer["event"], "exception", "{frame}: {answer}");
        let message = answer["data"]["message"].as_str().unwrap();
        assert!(message.contains(problem), "{frame}: {message}");
    }
    within("send", ws.send(Message::text(r#"{"event":"keys","id":9}"#)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next(&mut ws).await["event"], "ack");
}

/// The next envelope that is not a `welcome` or a `key` push.
async fn next(ws: &mut kit::testing::Client) -> Value {
    loop {
        let message = within("next", ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["event"] != "welcome" && value["event"] != "key" {
                return value;
            }
        }
    }
}

/// Protocol violations close with their code: an unmasked frame 1002, invalid UTF-8 1007,
/// a message over the limit 1009.
#[tokio::test]
async fn protocol_violations_get_close_codes() {
    let (server, _) = common::start_with(|c| c.gateway.max_message_bytes = 1024).await;
    let token = common::token(&server, "alice").await;

    // An unmasked text frame "hi"; invalid UTF-8; 2000 bytes over a 1024-byte limit.
    let cases: [(Vec<u8>, u16); 3] = [
        (vec![0x81, 0x02, b'h', b'i'], 1002),
        (masked(0x81, &[0xff, 0xfe]), 1007),
        (masked(0x81, &[b'a'; 2000]), 1009),
    ];
    for (bytes, code) in cases {
        let mut raw = common::raw_upgraded(&server, &token).await;
        within("write", raw.send(&bytes)).await.unwrap().unwrap();
        let closed = within("close", raw.close_code()).await.unwrap().unwrap();
        assert_eq!(closed, Some(code), "{bytes:?}");
    }
}

/// A page on a foreign origin gets 403 before the upgrade, even with a valid token (the
/// cross-site hijacking defence runs first); the lab's own origin gets through.
#[tokio::test]
async fn foreign_origin_gets_403() {
    let (server, _) = common::start().await;
    let token = common::token(&server, "alice").await;
    let attempt = |origin: &str| {
        let mut request = server.ws_url("/ws").into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        request
    };
    match connect_ws(attempt("http://evil.example")).await.unwrap() {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let own = server.origin();
    assert!(connect_ws(attempt(&own)).await.unwrap().is_ok());
}
