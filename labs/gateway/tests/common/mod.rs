//! Shared by the gateway lab's tests: the demo gateway on a free port, a JSON client, and a
//! raw client that can send bytes no library would.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::net::SocketAddr;

use kit::testing::{RawClient, TestServer};
use lab_gateway::Config;

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

pub use kit::testing::raw::{masked, push_len};
/// The JSON test client every gateway-based lab shares.
pub use lab_gateway::testing::JsonClient as Json;

/// kit's raw client on the gateway's `/ws`, for bytes no library would send.
pub struct Raw(pub RawClient);

impl Raw {
    /// Connects to `/ws` and completes the handshake.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self(RawClient::connect(addr, "/ws", &[]).await.unwrap())
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.0.send(bytes).await.unwrap();
    }

    /// The next server frame: (first byte, payload); `None` at EOF or reset.
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        self.0.frame().await.unwrap()
    }

    /// The code of the server's close frame; fails on a bare drop or a close without code.
    pub async fn close_code(&mut self) -> u16 {
        self.0
            .close_code()
            .await
            .unwrap()
            .expect("a close frame with a code")
    }
}
