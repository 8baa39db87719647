//! Shared by the handshake lab's tests: the lab's raw server on a free port, and a plain
//! HTTP exchange. (The raw WebSocket client is `kit::testing::RawClient`.)

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;

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
