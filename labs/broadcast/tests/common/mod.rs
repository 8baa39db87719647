//! Shared by the broadcast lab's tests: the lab on a free port with its hub, a JSON client,
//! and a raw client that can send bytes no library would.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

use futures_util::{SinkExt as _, StreamExt as _};
use kit::testing::{Client, TestServer, connect_ok, within};
use lab_broadcast::{FanOut, Hub, LabConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The lab (heartbeat off) fanning out `fanout`'s way, with settings adjusted by `adjust`.
pub async fn start_with(fanout: FanOut, adjust: impl FnOnce(&mut LabConfig)) -> (TestServer, Hub) {
    let mut hub = None;
    let server = TestServer::start(|addr| {
        let mut config = LabConfig::for_port(addr.port()).with_fanout(fanout);
        config.gateway.idle_timeout = None;
        adjust(&mut config);
        let (router, h) = lab_broadcast::build(config);
        hub = Some(h);
        router
    })
    .await
    .unwrap();
    (server, hub.unwrap())
}

/// The lab with its defaults.
pub async fn start() -> (TestServer, Hub) {
    start_with(FanOut::Scaling, |_| {}).await
}

/// What a client read: a message, or the close frame.
#[derive(Debug)]
pub enum Read {
    Json(Value),
    Closed(Option<CloseFrame>),
}

/// A JSON-speaking test client.
pub struct Json {
    pub ws: Client,
    pub conn: u64,
    /// Messages read while waiting for an answer, kept for `recv`.
    pub kept: std::collections::VecDeque<Value>,
}

impl Json {
    /// Connects with `query` (`""` or `"?role=admin"`) and reads the welcome.
    pub async fn connect(server: &TestServer, query: &str) -> Self {
        let ws = connect_ok(server.ws_url(&format!("/ws{query}")))
            .await
            .unwrap();
        Self::welcomed(ws).await
    }

    /// Reads the welcome on an open connection.
    pub async fn welcomed(ws: Client) -> Self {
        let mut client = Self {
            ws,
            conn: 0,
            kept: Default::default(),
        };
        let welcome = client.recv().await;
        assert_eq!(welcome["event"], "welcome", "{welcome}");
        client.conn = welcome["data"]["conn"].as_u64().unwrap();
        client
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

    /// The next message or the close frame (pings and pongs skipped).
    pub async fn read(&mut self) -> Read {
        loop {
            let message = within("a message from the lab", self.ws.next())
                .await
                .unwrap();
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Read::Json(serde_json::from_str(text.as_str()).unwrap());
                }
                Some(Ok(Message::Close(frame))) => return Read::Closed(frame),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next text message as JSON, kept ones first.
    pub async fn recv(&mut self) -> Value {
        if let Some(kept) = self.kept.pop_front() {
            return kept;
        }
        match self.read().await {
            Read::Json(value) => value,
            Read::Closed(frame) => panic!("closed: {frame:?}"),
        }
    }

    /// Sends a request and returns its answer; events pushed meanwhile are kept.
    pub async fn request(&mut self, id: u64, event: &str, data: Value) -> Value {
        self.send(json!({ "event": event, "data": data, "id": id }))
            .await;
        loop {
            let Read::Json(reply) = self.read().await else {
                panic!("closed while waiting for answer {id}");
            };
            if reply["id"] == id {
                return reply;
            }
            self.kept.push_back(reply);
        }
    }

    /// The `data` of the next `broadcast` event, skipping nothing: anything else fails.
    pub async fn broadcast(&mut self) -> Value {
        let message = self.recv().await;
        assert_eq!(message["event"], "broadcast", "{message}");
        message["data"].clone()
    }

    /// Subscribes to `topics`.
    pub async fn subscribe(&mut self, topics: &[&str]) {
        let reply = self
            .request(900, "subscribe", json!({ "topics": topics }))
            .await;
        assert_eq!(reply["event"], "ack", "{reply}");
    }
}

/// A raw WebSocket connection: the handshake done by hand, then bytes.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    /// Connects to `/ws`, completes the handshake and skips the welcome frame.
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Self {
            stream,
            buf: Vec::new(),
        };
        loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(raw.buf.drain(..end + 4).collect()).unwrap();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                break;
            }
            assert!(raw.fill().await, "closed during the handshake");
        }
        let (first, _welcome) = raw.frame().await.unwrap();
        assert_eq!(first, 0x81, "the welcome is one text frame");
        raw
    }

    /// Reads more bytes; `false` at EOF or on a reset.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        let n = within("bytes from the server", self.stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next server frame (server frames are short here): (first byte, payload).
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let (len, at) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let frame: Vec<u8> = self.buf.drain(..at + len).collect();
                    return Some((frame[0], frame[at..].to_vec()));
                }
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The code of the server's close frame; panics on a bare TCP drop.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let (first, payload) = self
                .frame()
                .await
                .expect("a close frame before the connection ends");
            if first & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

/// A masked client frame: `first` is the first header byte (FIN, RSV, opcode).
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}
