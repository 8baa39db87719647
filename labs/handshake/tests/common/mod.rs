//! Shared by the handshake lab's tests: the raw server on a free port, and a raw client
//! that can send bytes no library would.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use kit::testing::within;
use lab_handshake::{Lab, LabConfig, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// The lab's own (from-scratch) server on 127.0.0.1:0; stops when dropped.
pub struct RawServer {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl RawServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// Starts with settings adjusted by `adjust`.
    pub async fn with(adjust: impl FnOnce(&mut LabConfig)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = LabConfig::for_port(addr.port());
        config.settings = Settings {
            idle_after: None,
            ..Settings::default()
        };
        adjust(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(lab_handshake::server::run(
            listener,
            Lab::new(config),
            async {
                let _ = stopped.await;
            },
        ));
        Self { addr, _stop: stop }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The RFC's example key, and the accept value it must produce.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request for `/ws`.
pub fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Sends `request` and reads the whole response (until the server closes).
pub async fn http_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    within("the HTTP response", stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// A raw WebSocket connection: the handshake done by hand, then bytes.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: BytesMut,
}

impl Raw {
    /// Connects and completes the handshake (checking the accept value).
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(upgrade_request(addr).as_bytes())
            .await
            .unwrap();
        let mut buf = BytesMut::new();
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(buf.split_to(end + 4).to_vec()).unwrap();
                assert!(head.starts_with("HTTP/1.1 101"), "{head}");
                assert!(head.contains(ACCEPT), "{head}");
                return Self { stream, buf };
            }
            let n = within("the 101 response", stream.read_buf(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed during the handshake");
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads the next server frame: (first byte, payload). `None` at EOF.
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let first = self.buf[0];
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are never masked");
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
                    let frame = self.buf.split_to(at + len);
                    return Some((first, frame[at..].to_vec()));
                }
            }
            let n = within(
                "a frame from the server",
                self.stream.read_buf(&mut self.buf),
            )
            .await
            .unwrap()
            .unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }

    /// Reads frames until the server's close frame; returns its code (None: no code), and
    /// checks the server then closes the TCP connection.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            let (first, payload) = self.frame().await.expect("a close frame before EOF");
            if first & 0x0f == 0x8 {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                assert!(
                    self.frame().await.is_none(),
                    "the server closes TCP after its close frame"
                );
                return code;
            }
        }
    }
}

/// A masked client frame, written by hand: `first` is the first header byte (FIN, RSV,
/// opcode), then a mask bit and the minimal length, a fixed key, the masked payload.
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// A close payload with `code` and `reason`.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

pub const SHORT: Duration = Duration::from_secs(1);
