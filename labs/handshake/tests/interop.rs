//! Interop, both directions: our server with tokio-tungstenite's client, and tokio-tungstenite's
//! server with our client. tungstenite is a complete, independent implementation: if both
//! understand each other at every size, our framing is right.

// Tests report failures by panicking: unwrap is how they say "this must work".
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::RawServer;
use futures_util::{SinkExt, StreamExt};
use kit::testing::{TestServer, connect_ok, connect_ws, within};
use lab_handshake::client::connect;
use lab_handshake::events::Observer;
use lab_handshake::{Message, Settings};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as TClose;
use tokio_tungstenite::tungstenite::protocol::frame::Frame as TFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode as TOpCode};
use tokio_tungstenite::tungstenite::{self, Message as TMessage, client::IntoClientRequest};

/// The sizes at each boundary of the length encoding, and a large message.
const SIZES: [usize; 6] = [0, 125, 126, 65_535, 65_536, 1 << 20];

fn text_of(size: usize) -> String {
    "abcdefghij".repeat(size / 10 + 1)[..size].to_string()
}

/// Our server, a tungstenite client: text and binary of every size come back unchanged.
#[tokio::test]
async fn our_server_tungstenite_client_sizes() {
    let server = RawServer::start().await;
    let mut client = connect_ok(server.ws_url()).await.unwrap();
    for size in SIZES {
        let text = text_of(size);
        client.send(TMessage::text(text.clone())).await.unwrap();
        let reply = within("text echo", client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(reply, TMessage::text(text), "text of {size} bytes");

        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        client.send(TMessage::binary(data.clone())).await.unwrap();
        let reply = within("binary echo", client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(reply, TMessage::binary(data), "binary of {size} bytes");
    }
}

/// Our server, a tungstenite client: a message sent as three frames comes back whole;
/// a ping gets a pong with its payload; a close code is echoed.
#[tokio::test]
async fn our_server_tungstenite_client_fragments_ping_close() {
    let server = RawServer::start().await;
    let mut client = connect_ok(server.ws_url()).await.unwrap();

    let parts: [(&str, TOpCode, bool); 3] = [
        ("Hel", TOpCode::Data(Data::Text), false),
        ("lo, ", TOpCode::Data(Data::Continue), false),
        ("world", TOpCode::Data(Data::Continue), true),
    ];
    for (part, opcode, fin) in parts {
        let frame = TFrame::message(Bytes::from(part), opcode, fin);
        client.send(TMessage::Frame(frame)).await.unwrap();
    }
    let reply = within("reassembled echo", client.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, TMessage::text("Hello, world"));

    client
        .send(TMessage::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    let reply = within("pong", client.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, TMessage::Pong(Bytes::from_static(b"are you there")));

    client
        .send(TMessage::Close(Some(TClose {
            code: CloseCode::from(4000),
            reason: "done".into(),
        })))
        .await
        .unwrap();
    let reply = within("close echo", client.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match reply {
        TMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A tungstenite echo server on a free port.
async fn tungstenite_echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A tungstenite server, our client: every size, fragments, ping/pong, close with a code.
#[tokio::test]
async fn tungstenite_server_our_client() {
    let addr = tungstenite_echo_server().await;
    let settings = Settings {
        idle_after: None,
        ..Settings::default()
    };
    let (mut conn, transcript) = within(
        "connect",
        connect(&format!("ws://{addr}/"), None, settings, Observer::none()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(transcript.response.starts_with("HTTP/1.1 101"));

    for size in SIZES {
        let text = text_of(size);
        conn.send(Message::Text(text.clone())).await.unwrap();
        assert_eq!(
            within("text", conn.recv()).await.unwrap().unwrap(),
            Message::Text(text)
        );
        let data = Bytes::from((0..size).map(|i| (i * 7) as u8).collect::<Vec<_>>());
        conn.send(Message::Binary(data.clone())).await.unwrap();
        assert_eq!(
            within("binary", conn.recv()).await.unwrap().unwrap(),
            Message::Binary(data)
        );
    }

    conn.send_fragmented(true, &[b"frag", b"men", b"ted"])
        .await
        .unwrap();
    assert_eq!(
        within("fragments", conn.recv()).await.unwrap().unwrap(),
        Message::Text("fragmented".into())
    );

    conn.send(Message::Ping(Bytes::from_static(b"hi")))
        .await
        .unwrap();
    assert_eq!(
        within("pong", conn.recv()).await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"hi"))
    );

    conn.close(1001, "going away").await.unwrap();
    match within("close", conn.recv()).await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, 1001),
        other => panic!("expected the close answer, got {other:?}"),
    }
}

/// Our client refuses a server whose accept value is wrong.
#[tokio::test]
async fn our_client_checks_the_accept_value() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n")
            .await;
    });
    let result = within(
        "connect",
        connect(
            &format!("ws://{addr}/"),
            None,
            Settings::default(),
            Observer::none(),
        ),
    )
    .await
    .unwrap();
    let err = result
        .map(|_| ())
        .expect_err("a wrong accept value must be refused")
        .to_string();
    assert!(err.contains("Sec-WebSocket-Accept"), "{err}");
}

/// Mounted on axum (as the course does): the handshake is still ours, the echo works, a
/// foreign origin gets 403 and a plain GET gets 426.
#[tokio::test]
async fn mounted_on_axum() {
    let server = TestServer::start(|addr| {
        lab_handshake::router(
            kit::OriginAllowlist::for_lab(addr.port()),
            &kit::Shutdown::new(),
        )
    })
    .await
    .unwrap();
    let mut client = connect_ok(server.ws_url("/ws")).await.unwrap();
    client.send(TMessage::text("Hello")).await.unwrap();
    let reply = within("echo", client.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, TMessage::text("Hello"));

    let mut request = server.ws_url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", "http://evil.example".parse().unwrap());
    match connect_ws(request).await.unwrap() {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }

    let plain = within("GET /ws", plain_get_status(&server.url("/ws")))
        .await
        .unwrap();
    assert_eq!(plain, 426);
    server.stop().await.unwrap();
}

async fn plain_get_status(url: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response)[9..12].parse().unwrap()
}
