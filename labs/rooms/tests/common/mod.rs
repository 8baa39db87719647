//! Shared by the rooms lab's tests: the lab on a free port, and a JSON client.

#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use kit::testing::TestServer;
use lab_rooms::{RoomRegistry, RoomsConfig};

/// The rooms lab with its defaults, grace 0 (rooms are deleted when empty), on 127.0.0.1:0.
pub async fn start() -> (TestServer, RoomRegistry) {
    start_with(|_| {}).await
}

/// The lab with settings adjusted by `adjust`; also returns its registry.
pub async fn start_with(adjust: impl FnOnce(&mut RoomsConfig)) -> (TestServer, RoomRegistry) {
    let mut registry = None;
    let server = TestServer::start(|addr| {
        let mut config = RoomsConfig::for_port(addr.port());
        config.gateway.idle_timeout = None;
        config.limits.grace = std::time::Duration::ZERO;
        adjust(&mut config);
        let rooms = RoomRegistry::new(config.limits.clone());
        registry = Some(rooms.clone());
        lab_rooms::app(config, rooms)
    })
    .await
    .unwrap();
    (server, registry.unwrap())
}

/// The JSON test client every gateway-based lab shares.
pub use lab_gateway::testing::JsonClient as Json;
