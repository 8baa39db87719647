//! # The rooms lab: rooms on the gateway
//!
//! Join, leave, list and send to rooms over the gateway of chapter 6, with isolation (a
//! room's messages reach its members and nobody else), the room lifecycle of the source
//! (Created → Active → Inactive → Deleted, with a grace period), presence (the member list on
//! join, join and leave events, right even when a client vanishes without a close frame),
//! limits with clear exceptions, and slow members told how many messages they missed.
//!
//! ```text
//! cargo run -p lab-rooms                        # open http://127.0.0.1:3003/ in two windows
//! cargo run -p lab-rooms --bin rooms-client -- --name ada --join rust
//! ```
//!
//! Reading order (chapter 7, "Rooms", walks through it): [`registry`] (the room manager),
//! then [`handlers`] (the events clients send, and the hooks).

pub mod handlers;
pub mod registry;

pub use handlers::{RoomsConfig, gateway};
pub use registry::{Limits, Member, RoomRegistry, RoomState};

/// The lab's browser page: a chat in plain HTML and JavaScript, compiled into the binary.
pub const PAGE: &str = include_str!("../static/index.html");

/// The rooms gateway with `config` and `registry`, and its page at `/`.
pub fn app(config: RoomsConfig, registry: RoomRegistry) -> axum::Router {
    gateway(config, registry)
        .into_router()
        .route("/", kit::page::static_page(PAGE))
}

/// The lab with its default settings and `allowlist`: what the course launcher mounts
/// under `/labs/rooms/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = RoomsConfig::for_port(kit::ports::ROOMS);
    config.gateway.allowlist = allowlist;
    config.gateway.shutdown = shutdown.clone();
    let registry = RoomRegistry::new(config.limits.clone());
    app(config, registry)
}
