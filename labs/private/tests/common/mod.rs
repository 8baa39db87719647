//! Shared by the private lab's tests: the lab on a free port, logins, clients, and a raw
//! client that can send bytes no library would.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kit::testing::raw::RawClient;
use kit::testing::{TestServer, within};
use lab_private::client::{PrivateClient, login};
use lab_private::{AppState, Config};

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

/// A raw connection (kit's byte-level client) that has completed the upgrade with `token`.
pub async fn raw_upgraded(server: &TestServer, token: &str) -> RawClient {
    let auth = format!("Authorization: Bearer {token}");
    within(
        "raw upgrade",
        RawClient::connect(server.addr, "/ws", &[&auth]),
    )
    .await
    .unwrap()
    .unwrap()
}

/// A short token lifetime for the expiry tests: under kit's step timeout, so that with the
/// clock paused the expiry timer is the next one due.
pub const SHORT_TTL: Duration = Duration::from_secs(5);
