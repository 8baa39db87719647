//! # The handshake lab: RFC 6455 from scratch
//!
//! Both ends of the WebSocket protocol written by hand over tokio's `TcpStream`, so that a
//! learner can see every byte: the HTTP upgrade, the key and its accept value, each frame's
//! header bits, masking, fragmentation, ping/pong and the closing handshake, and the
//! connection's state changing as it happens.
//!
//! ```text
//! cargo run -p lab-handshake                    # the server: open http://127.0.0.1:3001/
//! cargo run -p lab-handshake --bin ws-inspect -- ws://127.0.0.1:3001/ws text:Hello
//! ```
//!
//! Reading order, from bytes up (chapter 4, "Connection flow", and chapter 5, "Message
//! flow", walk through them):
//!
//! 1. [`handshake`]: the upgrade request and the 101 answer.
//! 2. [`frame`]: the frame header, bit by bit, and masking.
//! 3. [`codec`]: bytes to frames for one end (who masks, size limits).
//! 4. [`utf8`] and [`close`]: the two payload rules the receiver checks.
//! 5. [`connection`]: messages, fragmentation, ping/pong, closing, heartbeat.
//! 6. [`deflate`]: permessage-deflate (RFC 7692), negotiated in the handshake, used by the
//!    connection (chapter 5).
//! 7. [`events`] and [`inspect`]: what the lab makes visible.
//! 8. [`server`], [`client`], [`app`]: the two ends, and the mount for the course.
//!
//! Only primitives come from crates (`sha1`, `base64`, `rand`, `bytes`, `httparse`, and
//! `flate2` for DEFLATE itself); the protocol, the extension's negotiation and framing
//! included, is here. tungstenite, a full implementation, is the independent peer in the
//! tests.

pub mod app;
pub mod client;
pub mod close;
pub mod codec;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod events;
pub mod frame;
pub mod handshake;
pub mod inspect;
pub mod lab;
pub mod server;
pub mod utf8;

pub use codec::{Limits, Role};
pub use connection::{Connection, Message, Settings};
pub use error::{Error, ProtocolError};
pub use lab::{Lab, LabConfig};

/// The lab's browser page: plain HTML and JavaScript, compiled into the binary.
pub const PAGE: &str = include_str!("../static/index.html");

/// The lab as a router, with its default settings and `allowlist`: what the course
/// launcher mounts under `/labs/handshake/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = LabConfig::for_port(kit::ports::HANDSHAKE);
    config.allowlist = allowlist;
    config.shutdown = shutdown.clone();
    app::router(Lab::new(config))
}
