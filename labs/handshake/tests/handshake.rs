//! The opening handshake against the lab's own server, with raw HTTP: every mistake gets
//! the status the RFC asks for (never a 500), and slow or oversized requests are cut off.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{RawServer, http_exchange};
use kit::testing::raw::{RFC_ACCEPT as ACCEPT, RFC_KEY as KEY, upgrade_request};
use kit::testing::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request for /ws built from header lines.
fn request(method: &str, headers: &[&str]) -> String {
    let mut text = format!("{method} /ws HTTP/1.1\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text
}

const HOST: &str = "Host: 127.0.0.1";
const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const VERSION: &str = "Sec-WebSocket-Version: 13";

fn key() -> String {
    format!("Sec-WebSocket-Key: {KEY}")
}

fn status(response: &str) -> u16 {
    response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response:?}"))
}

/// A valid request gets 101 with the RFC's accept value for the RFC's key.
#[tokio::test]
async fn valid_request_gets_101() {
    let server = RawServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(upgrade_request(server.addr, "/ws", &[]).as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = within("101", stream.read(&mut buf)).await.unwrap().unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{head}"
    );
}

/// Each malformed upgrade gets its status and a body that says what was wrong.
#[tokio::test]
async fn wrong_requests_get_their_status() {
    let server = RawServer::start().await;
    let key = key();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "wrong method",
            request("POST", &[HOST, UPGRADE, CONNECTION, &key, VERSION]),
            405,
            "use GET",
        ),
        (
            "no Upgrade",
            request("GET", &[HOST, CONNECTION, &key, VERSION]),
            426,
            "Upgrade: websocket",
        ),
        (
            "no Connection",
            request("GET", &[HOST, UPGRADE, &key, VERSION]),
            400,
            "Connection: Upgrade",
        ),
        (
            "no Host",
            request("GET", &[UPGRADE, CONNECTION, &key, VERSION]),
            400,
            "Host",
        ),
        (
            "no key",
            request("GET", &[HOST, UPGRADE, CONNECTION, VERSION]),
            400,
            "Sec-WebSocket-Key",
        ),
        (
            "short key",
            request(
                "GET",
                &[
                    HOST,
                    UPGRADE,
                    CONNECTION,
                    "Sec-WebSocket-Key: c2hvcnQ=",
                    VERSION,
                ],
            ),
            400,
            "16 random bytes",
        ),
        (
            "key not base64",
            request(
                "GET",
                &[
                    HOST,
                    UPGRADE,
                    CONNECTION,
                    "Sec-WebSocket-Key: !!!not-base64!!!!!!!!!!",
                    VERSION,
                ],
            ),
            400,
            "16 random bytes",
        ),
        (
            "version 8",
            request(
                "GET",
                &[HOST, UPGRADE, CONNECTION, &key, "Sec-WebSocket-Version: 8"],
            ),
            426,
            "speaks 13",
        ),
        (
            "foreign origin",
            request(
                "GET",
                &[
                    HOST,
                    UPGRADE,
                    CONNECTION,
                    &key,
                    VERSION,
                    "Origin: http://evil.example",
                ],
            ),
            403,
            "hijacking",
        ),
        (
            "not HTTP",
            "\x16\x03\x01 hello\r\n\r\n".to_string(),
            400,
            "malformed",
        ),
    ];
    for (what, request, expected, says) in cases {
        let response = http_exchange(server.addr, request.as_bytes()).await;
        assert_eq!(status(&response), expected, "{what}: {response}");
        assert!(
            response.contains(says),
            "{what}: the body should say {says:?}: {response}"
        );
    }
    // A refusal carries exactly one Connection header; a 426 lists Upgrade in it.
    let response = http_exchange(
        server.addr,
        request("GET", &[HOST, CONNECTION, &key, VERSION]).as_bytes(),
    )
    .await;
    let connection: Vec<&str> = response
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    assert_eq!(connection, ["Connection: Upgrade, close"], "{response}");
    // Version 8 is told which version to use.
    let response = http_exchange(
        server.addr,
        request(
            "GET",
            &[HOST, UPGRADE, CONNECTION, &key, "Sec-WebSocket-Version: 8"],
        )
        .as_bytes(),
    )
    .await;
    assert!(
        response.contains("Sec-WebSocket-Version: 13\r\n"),
        "{response}"
    );
}

/// The lab's own origin passes; "Connection: keep-alive, Upgrade" (what Firefox sends) too.
#[tokio::test]
async fn own_origin_and_token_lists_pass() {
    let server = RawServer::start().await;
    let origin = format!("Origin: {}", server.origin());
    let request = request(
        "GET",
        &[
            HOST,
            "Upgrade: WebSocket",
            "Connection: keep-alive, Upgrade",
            &key(),
            VERSION,
            &origin,
        ],
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // A 101 keeps the connection open: read the head only.
    let mut buf = vec![0u8; 1024];
    let n = within("101", stream.read(&mut buf)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(status(&response), 101, "{response}");
}

/// A request head over 8 KiB gets 431 instead of growing the server's buffer.
#[tokio::test]
async fn oversized_headers() {
    let server = RawServer::start().await;
    let cookie = format!("Cookie: {}", "x".repeat(9 * 1024));
    let response = http_exchange(
        server.addr,
        request(
            "GET",
            &[HOST, UPGRADE, CONNECTION, &key(), VERSION, &cookie],
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status(&response), 431, "{response}");
    let many: Vec<String> = (0..40).map(|i| format!("X-Header-{i}: {i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let response = http_exchange(server.addr, request("GET", &many).as_bytes()).await;
    assert_eq!(status(&response), 431, "too many header lines: {response}");
}

/// A slowloris client, one byte per second, is answered 408 and cut off at the handshake
/// deadline, while its request is still incomplete (simulated time: the test takes
/// milliseconds).
#[tokio::test(start_paused = true)]
async fn slowloris_is_cut_off() {
    let deadline = lab_handshake::handshake::HANDSHAKE_TIMEOUT;
    let server = RawServer::start().await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let request = upgrade_request(server.addr, "/ws", &[]);
    assert!(
        request.len() as u64 > deadline.as_secs() * 2,
        "at 1 byte/s the request must outlast the deadline for this test to mean anything"
    );
    let started = tokio::time::Instant::now();
    // Everything the server says, and when it hung up.
    let answer = tokio::spawn(async move {
        let mut response = Vec::new();
        let _ = reader.read_to_end(&mut response).await;
        (response, tokio::time::Instant::now())
    });
    let mut sent = 0;
    for byte in request.as_bytes() {
        if answer.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (response, hung_up) = answer.await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert_eq!(status(&response), 408, "{response}");
    let took = hung_up - started;
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(2),
        "cut off after {took:?}, the deadline is {deadline:?}"
    );
    assert!(
        sent < request.len(),
        "the whole request went out ({sent} bytes) before the server cut it off"
    );
}

/// The page is served to GET at /; other methods get 405, other paths 404.
#[tokio::test]
async fn page_and_404() {
    let server = RawServer::start().await;
    let page = http_exchange(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&page), 200);
    assert!(page.contains("Handshake lab"));
    let missing = http_exchange(server.addr, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&missing), 404);
    let post = http_exchange(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status(&post), 405, "{post}");
}

/// Our client, refused, reports what the server said (status and reason), once.
#[tokio::test]
async fn client_shows_why_it_was_refused() {
    use lab_handshake::client::connect;
    use lab_handshake::events::Observer;
    let server = RawServer::start().await;
    let result = within(
        "connect",
        connect(
            &server.ws_url(),
            Some("http://evil.example"),
            Default::default(),
            Observer::none(),
        ),
    )
    .await
    .unwrap();
    let message = result
        .map(|_| ())
        .expect_err("a foreign origin is refused")
        .to_string();
    assert!(message.contains("403"), "{message}");
    assert!(
        message.contains("hijacking"),
        "the server's reason is shown: {message}"
    );
    assert_eq!(
        message.matches("instead of 101").count(),
        1,
        "said once: {message}"
    );
}
