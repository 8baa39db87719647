//! Shared by the gateway lab's tests: the demo gateway on a free port, a JSON client, and a
//! raw client that can send bytes no library would.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, TestServer, connect_ok, within};
use lab_gateway::Config;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The demo gateway with its defaults (its own origin allowed) on 127.0.0.1:0.
pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

/// The demo gateway with settings adjusted by `adjust`.
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start(|addr| {
        let mut config = Config::for_port(addr.port());
        config.idle_timeout = None;
        adjust(&mut config);
        lab_gateway::app(config)
    })
    .await
    .unwrap()
}

/// A JSON-speaking test client on tokio-tungstenite.
pub struct Json {
    pub ws: Client,
    /// Messages read while waiting for an answer, kept for `recv`.
    pub kept: std::collections::VecDeque<Value>,
}

impl Json {
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        Self {
            ws: connect_ok(server.ws_url(&format!("/ws{query}")))
                .await
                .unwrap(),
            kept: Default::default(),
        }
    }

    /// Connects and reads the `welcome` event; returns the client and its connection id.
    pub async fn welcomed(server: &TestServer, query: &str) -> (Self, u64) {
        let mut client = Self::connect(server, query).await;
        let welcome = client.recv().await;
        assert_eq!(welcome["event"], "welcome", "{welcome}");
        let conn = welcome["data"]["conn"].as_u64().unwrap();
        (client, conn)
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        within("sending", self.ws.send(Message::text(text)))
            .await
            .unwrap()
            .unwrap();
    }

    /// The next text message as JSON (pings and pongs skipped), kept ones first.
    pub async fn recv(&mut self) -> Value {
        if let Some(kept) = self.kept.pop_front() {
            return kept;
        }
        self.recv_socket().await
    }

    /// The next text message from the socket.
    async fn recv_socket(&mut self) -> Value {
        loop {
            let message = within("a message from the gateway", self.ws.next())
                .await
                .unwrap()
                .expect("the connection is open")
                .unwrap();
            match message {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Sends a request and returns the answer with its id (events pushed meanwhile are
    /// kept for `recv`).
    pub async fn request(&mut self, id: u64, event: &str, data: Value) -> Value {
        self.send(json!({ "event": event, "data": data, "id": id }))
            .await;
        loop {
            let reply = self.recv_socket().await;
            if reply["id"] == id {
                return reply;
            }
            self.kept.push_back(reply);
        }
    }

    /// The next message whose event is `event`, skipping others.
    pub async fn recv_event(&mut self, event: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["event"] == event {
                return message;
            }
        }
    }
}

/// The RFC's example key.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A raw WebSocket connection: the handshake done by hand, then bytes.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    /// Connects to `/ws` and completes the handshake.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(buf.drain(..end + 4).collect()).unwrap();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                return Self { stream, buf };
            }
            let mut chunk = [0u8; 4096];
            let n = within("the 101 response", stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads the next server frame: (first byte, payload). `None` at EOF or reset.
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let first = self.buf[0];
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let frame: Vec<u8> = self.buf.drain(..at + len).collect();
                    return Some((first, frame[at..].to_vec()));
                }
            }
            let mut chunk = [0u8; 65536];
            let n = within("a frame from the server", self.stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads frames until the server's close frame and returns its code; panics if the
    /// connection ends without one (a bare TCP drop).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let (first, payload) = self
                .frame()
                .await
                .expect("a close frame before the connection ends");
            if first & 0x0f == 0x8 {
                assert!(payload.len() >= 2, "a close frame with a code");
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

/// A masked client frame: `first` is the first header byte (FIN, RSV, opcode).
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    push_len(&mut out, 0x80, payload.len() as u64);
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// The length field of a frame header, with `mask_bit` set or not.
pub fn push_len(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=65535 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}
