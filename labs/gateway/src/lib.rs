//! # The gateway lab: NestJS ideas in Rust
//!
//! A small gateway library on axum's WebSocket, speaking the course's JSON envelope
//! (`{"event", "data", "id"}`), with each building block of a NestJS gateway as plain Rust:
//! handlers registered by event name with typed payloads, guards, interceptors as tower
//! layers, acknowledgements, lifecycle hooks, a server handle that emits to one connection,
//! a set or all, and per-connection state. The rooms lab (chapter 7) is built on it.
//!
//! ```text
//! cargo run -p lab-gateway                      # the demo: open http://127.0.0.1:3002/
//! cargo run -p lab-gateway --bin gateway-client -- echo '{"text": "Hello"}'
//! ```
//!
//! Reading order (chapter 6, "The gateway", walks through it):
//!
//! 1. [`envelope`]: the JSON shape of every message.
//! 2. [`exception`]: everything a message can get wrong, as NestJS's exception payload.
//! 3. [`pipeline`]: a handler as a tower service; the validation pipe; guards.
//! 4. [`interceptors`]: logging with timing, and metrics, as tower layers.
//! 5. [`server`]: the handle on every connection, and one connection's state.
//! 6. [`gateway`]: the builder, the lifecycle hooks, and the connection's two tasks.
//! 7. [`demo`]: the lab's own gateway, one handler of each kind; [`client`]: a client.
//! 8. [`testing`]: the JSON test client every gateway-based lab's tests share.

pub mod client;
pub mod demo;
pub mod envelope;
pub mod exception;
pub mod gateway;
pub mod interceptors;
pub mod pipeline;
pub mod rate;
pub mod server;
pub mod testing;

pub use envelope::Envelope;
pub use exception::WsException;
pub use gateway::{ClosedBy, Config, Disconnect, Gateway, Handshake, Refusal};
pub use pipeline::Ctx;
pub use rate::RateLimit;
pub use server::{ConnId, EmitError, Server, Socket};

/// The lab's browser page: plain HTML and JavaScript, compiled into the binary.
pub const PAGE: &str = include_str!("../static/index.html");

/// The demo gateway with `config`, and its page at `/`.
pub fn app(config: Config) -> axum::Router {
    demo::gateway(config)
        .into_router()
        .route("/", kit::page::static_page(PAGE))
}

/// The lab with its default settings and `allowlist`: what the course launcher mounts
/// under `/labs/gateway/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = Config::for_port(kit::ports::GATEWAY);
    config.allowlist = allowlist;
    config.shutdown = shutdown.clone();
    app(config)
}
