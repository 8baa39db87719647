//! The pieces every lab of the course shares.
//!
//! A lab teaches one idea (the handshake, rooms, broadcast...). Everything around that idea
//! is the same in every lab and lives here, so a lab's own files stay about its topic:
//!
//! - [`serve`]: run an `axum::Router` on a listener with `TCP_NODELAY` on every accepted
//!   socket and graceful shutdown on Ctrl-C or SIGTERM ([`shutdown_signal`]).
//! - [`shutdown`]: close every WebSocket with 1001 ("going away") when the lab stops
//!   ([`serve_with_goodbye`]).
//! - [`init_tracing`]: logs through `tracing`, filtered by `RUST_LOG`.
//! - [`cli`]: the `--addr` and `--allow-origin` flags every lab's server takes.
//! - [`origin`]: the Origin allowlist that stops cross-site WebSocket hijacking with a 403
//!   before the upgrade.
//! - [`close`]: close codes, and the close frame tungstenite leaves to us after a protocol
//!   error.
//! - [`page`]: serve a lab's embedded HTML page (no build step, no CDN).
//! - [`testing`]: spawn a router on `127.0.0.1:0` and connect real clients with timeouts.
//! - `browser` (feature `browser`): a headless Chromium for the labs' page tests.
//!
//! The book explains these choices in chapter 10, "Best practices, measured".

#[cfg(feature = "browser")]
pub mod browser;
pub mod cli;
pub mod close;
pub mod origin;
pub mod page;
pub mod serve;
pub mod shutdown;
pub mod testing;
pub mod trace;

pub use origin::OriginAllowlist;
pub use serve::{bind, serve, serve_with_goodbye, shutdown_signal};
pub use shutdown::Shutdown;
pub use trace::init_tracing;

/// The fixed port of each part of the course on 127.0.0.1. Fixed ports keep the book's
/// instructions stable: "open http://127.0.0.1:3001" works for every reader.
pub mod ports {
    /// The course launcher: the book with every lab mounted under `/labs/<topic>/`.
    pub const COURSE: u16 = 3000;
    /// RFC 6455 from scratch: the handshake and the frames.
    pub const HANDSHAKE: u16 = 3001;
    /// NestJS gateway ideas in Rust.
    pub const GATEWAY: u16 = 3002;
    /// Rooms on top of the gateway.
    pub const ROOMS: u16 = 3003;
    /// Authenticated private channels with end-to-end encryption.
    pub const PRIVATE: u16 = 3004;
    /// Broadcast, delivery confirmation, slow consumers.
    pub const BROADCAST: u16 = 3005;
    /// Heartbeats, reconnection with backoff, recovery of missed messages, limits.
    pub const RESILIENCE: u16 = 3006;
    /// Scaling out: the load balancer in front of several nodes (the nodes and Redis take
    /// free ports).
    pub const SCALE: u16 = 3007;
}
