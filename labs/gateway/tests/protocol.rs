//! Protocol violations sent as raw bytes get the close code RFC 6455 assigns (1002, 1007,
//! 1009), sent in a close frame before the server drops the connection: never a bare TCP
//! drop. Other clients keep working meanwhile.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use common::{Json, Raw, masked, push_len, start, start_with};
use serde_json::json;

/// Sends `bytes` after the handshake and returns the code of the server's close frame.
async fn close_code_after(server: &kit::testing::TestServer, bytes: &[u8]) -> u16 {
    let mut raw = Raw::connect(server.addr).await;
    let (_, welcome) = raw.frame().await.unwrap();
    assert!(String::from_utf8_lossy(&welcome).contains("welcome"));
    raw.send(bytes).await;
    raw.close_code().await
}

/// Each framing violation closes with 1002.
#[tokio::test]
async fn framing_violations_close_with_1002() {
    let server = start().await;
    let unmasked = {
        let mut frame = vec![0x81];
        push_len(&mut frame, 0, 2);
        frame.extend_from_slice(b"{}");
        frame
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked client frame", unmasked),
        ("reserved bit RSV1 set", masked(0x81 | 0x40, b"{}")),
        ("reserved opcode 0x3", masked(0x83, b"x")),
        ("control frame over 125 bytes", masked(0x89, &[0u8; 126])),
        ("fragmented control frame", masked(0x09, b"ping")),
        ("continuation with nothing to continue", masked(0x80, b"x")),
        ("1-byte close payload", masked(0x88, &[0x03])),
    ];
    for (what, bytes) in cases {
        assert_eq!(close_code_after(&server, &bytes).await, 1002, "{what}");
    }
}

/// A text message that is not UTF-8 closes with 1007.
#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = start().await;
    assert_eq!(
        close_code_after(&server, &masked(0x81, &[0x7b, 0xff, 0xfe, 0x7d])).await,
        1007
    );
}

/// A frame header claiming more than the limit closes with 1009 at once: the server does
/// not wait for (or allocate) the claimed megabytes, which are never sent.
#[tokio::test]
async fn oversized_message_closes_with_1009_without_reading_it() {
    let server = start_with(|config| config.max_message_bytes = 1024).await;
    let mut header = vec![0x81];
    push_len(&mut header, 0x80, 1 << 30);
    header.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(close_code_after(&server, &header).await, 1009);

    // The same valid request padded with trailing spaces (JSON allows them): exactly at
    // the limit it is answered, one byte over it gets 1009.
    let padded = |len: usize| {
        let mut text = r#"{"event":"echo","data":{"text":"at the limit"},"id":1}"#.to_owned();
        text.push_str(&" ".repeat(len - text.len()));
        assert_eq!(text.len(), len);
        text
    };
    let mut raw = Raw::connect(server.addr).await;
    raw.frame().await.unwrap();
    raw.send(&masked(0x81, padded(1024).as_bytes())).await;
    let (_, ack) = raw.frame().await.unwrap();
    let ack: serde_json::Value = serde_json::from_slice(&ack).unwrap();
    assert_eq!(
        (&ack["event"], &ack["id"]),
        (&json!("ack"), &json!(1)),
        "{ack}"
    );
    raw.send(&masked(0x81, padded(1025).as_bytes())).await;
    assert_eq!(raw.close_code().await, 1009);
}

/// A violation on one connection does not disturb another.
#[tokio::test]
async fn other_clients_keep_working() {
    let server = start().await;
    let (mut bystander, _) = Json::welcomed(&server, "").await;
    assert_eq!(
        close_code_after(&server, &masked(0x81 | 0x20, b"{}")).await,
        1002
    );
    let reply = bystander
        .request(1, "echo", json!({ "text": "still here" }))
        .await;
    assert_eq!(reply["event"], "ack");
}

/// A client that says nothing, not even a pong, is pinged, then closed with 1001 and "no
/// sign of life" no earlier than the idle timeout (the raw client never answers pings).
#[tokio::test]
async fn silent_client_is_closed_after_the_idle_timeout() {
    let idle = std::time::Duration::from_millis(200);
    let server = start_with(|config| config.idle_timeout = Some(idle)).await;
    // Started before the handshake, so it cannot be later than the server's own clock.
    let started = std::time::Instant::now();
    let mut raw = Raw::connect(server.addr).await;
    let mut pings = 0;
    let close = loop {
        let (first, payload) = raw.frame().await.expect("a close frame before EOF");
        match first {
            0x89 => pings += 1,
            0x88 => break payload,
            _ => {} // The welcome.
        }
    };
    let elapsed = started.elapsed();
    assert!(pings >= 1, "pinged before being given up on");
    assert!(
        elapsed >= idle,
        "closed after {elapsed:?}, before the {idle:?} timeout"
    );
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1001);
    let reason = String::from_utf8_lossy(&close[2..]);
    assert!(reason.contains("no sign of life"), "reason: {reason}");
    assert!(
        raw.frame().await.is_none(),
        "TCP closed after the close frame"
    );
}

/// Sends a raw HTTP request head and returns the response head, lower-cased.
async fn response_head(addr: std::net::SocketAddr, head: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    // Until the end of the head; the refusals here all come with a short body after it.
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = kit::testing::within("the response", stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before a response: {response:?}");
        response.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&response).to_lowercase()
}

/// The upgrade mistakes get the answers of RFC 6455 and RFC 9110, as in the handshake lab:
/// a plain GET and a wrong or missing version are 426 with `Upgrade: websocket` (and the
/// version spoken, `13`), and a key that is not 16 bytes is 400; none is upgraded.
#[tokio::test]
async fn upgrade_mistakes_get_the_rfc_answers() {
    let server = start().await;
    let host = format!("Host: {}", server.addr);
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    let ask = |lines: &[&str]| {
        let mut head = format!("GET /ws HTTP/1.1\r\n{host}\r\n");
        for line in lines {
            head.push_str(line);
            head.push_str("\r\n");
        }
        head + "\r\n"
    };
    let up = "Upgrade: websocket";
    let conn = "Connection: Upgrade";
    let plain = response_head(server.addr, &ask(&[])).await;
    assert!(plain.starts_with("http/1.1 426"), "{plain}");
    assert!(plain.contains("\r\nupgrade: websocket\r\n"), "{plain}");

    for version in [&["Sec-WebSocket-Version: 8"][..], &[]] {
        let lines = [&[up, conn, key][..], version].concat();
        let wrong = response_head(server.addr, &ask(&lines)).await;
        assert!(wrong.starts_with("http/1.1 426"), "{wrong}");
        assert!(
            wrong.contains("\r\nsec-websocket-version: 13\r\n"),
            "{wrong}"
        );
        assert!(wrong.contains("\r\nupgrade: websocket\r\n"), "{wrong}");
    }

    let short = ask(&[
        up,
        conn,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: c2hvcnQ=",
    ]);
    let short = response_head(server.addr, &short).await;
    assert!(short.starts_with("http/1.1 400"), "{short}");

    // And the valid request still upgrades.
    let valid = response_head(
        server.addr,
        &ask(&[up, conn, "Sec-WebSocket-Version: 13", key]),
    )
    .await;
    assert!(valid.starts_with("http/1.1 101"), "{valid}");
}
