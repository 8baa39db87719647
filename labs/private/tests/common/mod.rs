//! Shared by the private lab's tests: the lab on a free port, logins, clients, and a raw
//! client that can send bytes no library would.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kit::testing::{TestServer, within};
use lab_private::client::{PrivateClient, login};
use lab_private::{AppState, Config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The lab with its defaults (no heartbeat) on 127.0.0.1:0, and its state.
pub async fn start() -> (TestServer, Arc<AppState>) {
    start_with(|_| {}).await
}

/// The lab with settings adjusted by `adjust`.
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> (TestServer, Arc<AppState>) {
    let mut state = None;
    let server = TestServer::start(|addr| {
        let mut config = Config::for_port(addr.port());
        config.gateway.idle_timeout = None;
        adjust(&mut config);
        let (router, s) = lab_private::lab(config);
        state = Some(s);
        router
    })
    .await
    .unwrap();
    (server, state.unwrap())
}

/// A token for `user`, through `POST /login`.
pub async fn token(server: &TestServer, user: &str) -> String {
    within("login", login(&server.url(""), user, &format!("{user}-pw")))
        .await
        .unwrap()
        .unwrap()
}

/// `user`, logged in, connected, key published.
pub async fn connect(server: &TestServer, user: &str) -> PrivateClient {
    let token = token(server, user).await;
    within(
        "connect",
        PrivateClient::connect(&server.ws_url("/ws"), &token),
    )
    .await
    .unwrap()
    .unwrap()
}

/// A raw TCP connection that has completed the upgrade with `token`.
pub async fn raw_upgraded(server: &TestServer, token: &str) -> TcpStream {
    let mut tcp = within("tcp connect", TcpStream::connect(server.addr))
        .await
        .unwrap()
        .unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        server.addr
    );
    within("write upgrade", tcp.write_all(request.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    // Read the response head byte by byte, so no frame after it is swallowed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = within("read upgrade answer", tcp.read_u8())
            .await
            .unwrap()
            .unwrap();
        head.push(byte);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A masked client frame with `first` as its first byte (FIN, RSV, opcode).
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![first];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads server frames until a close frame, and returns its code.
pub async fn read_close_code(tcp: &mut TcpStream) -> u16 {
    within("the server's close frame", async {
        loop {
            let first = tcp.read_u8().await.unwrap();
            let len = match tcp.read_u8().await.unwrap() & 0x7f {
                126 => u64::from(tcp.read_u16().await.unwrap()),
                127 => tcp.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mut payload = vec![0; usize::try_from(len).unwrap()];
            tcp.read_exact(&mut payload).await.unwrap();
            if first & 0x0f == 0x8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    })
    .await
    .unwrap()
}

/// A short token lifetime for the expiry tests: under kit's step timeout, so that with the
/// clock paused the expiry timer is the next one due.
pub const SHORT_TTL: Duration = Duration::from_secs(5);
