//! # The private lab: authentication, private channels, end-to-end encryption
//!
//! The source's private-messaging diagram made real: users authenticate, open a private
//! channel, and send messages encrypted before the channel and decrypted after it, so the
//! server relays what it cannot read.
//!
//! ```text
//! cargo run -p lab-private                 # open http://127.0.0.1:3004/
//! cargo run -p lab-private --bin private-client -- --user bob listen
//! ```
//!
//! Reading order (chapter 8, "Private messaging", walks through it):
//!
//! 1. [`auth`]: the login endpoint's tokens, and where the upgrade carries them.
//! 2. [`channels`]: direct channels and invite-only groups, enforced by membership.
//! 3. [`server`]: the gateway (chapter 6) with the token check, the expiry timer, the relay.
//! 4. [`e2e`]: P-256 ECDH, HKDF-SHA-256, AES-256-GCM, fingerprints, replay refusal.
//! 5. [`client`]: the Rust client; `static/index.html` is the browser's.

pub mod auth;
pub mod channels;
pub mod client;
pub mod e2e;
pub mod server;

pub use server::{AppState, Config, app};

/// The lab's browser page: two users side by side and what the server sees.
pub const PAGE: &str = include_str!("../static/index.html");

/// The lab with `config` and its page at `/`; also returns the state, for tests to inspect
/// what the server stored.
pub fn lab(config: Config) -> (axum::Router, std::sync::Arc<AppState>) {
    let (router, state) = app(config);
    (router.route("/", kit::page::static_page(PAGE)), state)
}

/// The lab with its default settings and `allowlist`: what the course launcher mounts
/// under `/labs/private/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = Config::for_port(kit::ports::PRIVATE);
    config.gateway.allowlist = allowlist;
    config.gateway.shutdown = shutdown.clone();
    lab(config).0
}
