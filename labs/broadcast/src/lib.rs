//! # The broadcast lab: one message, many recipients
//!
//! Built on the gateway lab's library (chapter 6): the same envelope, handlers, acks, close
//! codes and bounded per-connection queues. What this lab adds is the broadcasting side:
//!
//! - kinds of broadcast: to everyone, to a topic's subscribers, to connections whose
//!   attributes match a filter, to everyone except the sender ([`hub::Audience`]);
//! - reliable messages (in order, or the client is closed and told what it missed) beside
//!   volatile ones (dropped for a busy client), the slow-consumer policy ([`hub`]);
//! - delivery confirmation with a timeout and exact counts ([`confirm`]);
//! - fan-out the scaling way (encode once, batched writes) or the naive way ([`hub::FanOut`]);
//! - a live dashboard ([`stats`], the page) and a tool that opens N subscribers.
//!
//! Its fan-out is measured by the benchmark harness (`bench run --workload fanout`, in
//! `benches/`), beside a raw-TCP floor and Socket.IO.
//!
//! ```text
//! cargo run -p lab-broadcast                    # open http://127.0.0.1:3005/
//! cargo run -p lab-broadcast --bin broadcast-subscribers -- --count 100 --publish 10
//! ```
//!
//! Reading order (chapter 9, "Broadcasting", walks through it): [`hub`], [`confirm`],
//! [`lab`], [`stats`], then `src/main.rs`, and [`tools`] with the command-line tools in
//! `src/bin/`.

pub mod confirm;
pub mod hub;
pub mod lab;
pub mod stats;
pub mod tools;

pub use hub::{Audience, Broadcast, FanOut, Hub, Report};
pub use lab::LabConfig;

/// The lab's browser page, the dashboard: plain HTML and JavaScript, compiled in.
pub const PAGE: &str = include_str!("../static/index.html");

/// The lab with `config`, and its hub (to publish from the server side, or read counters).
pub fn build(config: LabConfig) -> (axum::Router, Hub) {
    let (gateway, hub) = lab::gateway(config);
    let router = gateway
        .into_router()
        .route("/", kit::page::static_page(PAGE));
    (router, hub)
}

/// The lab with `config`.
pub fn app(config: LabConfig) -> axum::Router {
    build(config).0
}

/// The lab with its default settings and `allowlist`: what the course launcher mounts
/// under `/labs/broadcast/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = LabConfig::for_port(kit::ports::BROADCAST);
    config.gateway.allowlist = allowlist;
    config.gateway.shutdown = shutdown.clone();
    app(config)
}
