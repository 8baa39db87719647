//! # The resilience lab: connections that fail, and clients that come back whole
//!
//! A ticker publishes numbered updates; clients subscribe over a WebSocket. Then things go
//! wrong on purpose: the network drops, a peer vanishes without a word, the server is
//! killed or restarted, a client floods. What the lab teaches is what each side does about it:
//!
//! - **heartbeat**: the server pings every `ping_interval` and closes a peer silent for
//!   `ping_timeout` (a half-open connection: the peer vanished without a FIN); the client
//!   does the same the other way ([`client`]);
//! - **reconnection**: exponential backoff with full jitter and a cap, and a decision per
//!   close code: retry after 1001 or 1006, stop after 1008 ([`client`]);
//! - **recovery**: every update has an offset within an epoch; the server keeps a bounded
//!   history; a client reconnecting with `since=<epoch>:<offset>` gets what it missed and
//!   `recovered: true`, or `recovered: false` when it cannot ([`stream`]);
//! - **graceful shutdown** with 1001, the connection limit (503 + `Retry-After`), the rate
//!   limit (1008) and the size limit (1009): the gateway's, reused as they are;
//! - **monitoring**: `GET /metrics` in the Prometheus text format, counting all of the
//!   above ([`metrics`]).
//!
//! Why on the gateway (chapter 6) rather than on axum directly: the limits, the close codes
//! of protocol errors, the heartbeat and the goodbye are already there, each tested; built
//! again here they would bury what this lab is about, recovery and reconnection, under code
//! the learner has seen. Why a ticker rather than a chat: a ticker publishes on its own
//! clock, so updates keep coming while a client is away, which is exactly the gap recovery
//! must fill; a chat would need a second person typing during the outage.
//!
//! ```text
//! cargo run -p lab-resilience                 # open http://127.0.0.1:3006/
//! curl -s http://127.0.0.1:3006/metrics       # its counters, as Prometheus scrapes them
//! cargo run -p lab-resilience --bin resilience-client -- --count 20 --cut-every 7
//! ```
//!
//! Reading order (chapter 10, "Best practices, measured"): [`stream`] (positions, history,
//! recovery), [`lab`] (the gateway and the ticker), [`client`] (backoff, close codes, the
//! reconnecting subscriber), [`metrics`] (what `/metrics` counts), then `src/main.rs` and
//! `src/bin/resilience-client.rs`.

pub mod client;
pub mod fallback;
pub mod lab;
pub mod metrics;
pub mod proxy;
pub mod stream;

use std::time::Duration;

pub use stream::{HistoryLimits, Position, Recovery, Stream, Update};

/// The lab's browser page: plain HTML and JavaScript, compiled in.
pub const PAGE: &str = include_str!("../static/index.html");

/// The largest message a client may send. A subscriber only sends small requests
/// (`position`), so 4 KiB is generous; anything larger is closed with 1009.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

// ANCHOR: config
/// The lab's settings: the gateway's (origins, limits, heartbeat, goodbye), the history's
/// bounds, and the ticker's rate.
#[derive(Clone, Debug)]
pub struct Config {
    /// The gateway underneath. Its `idle_timeout` is the ping timeout, its `ping_interval`
    /// the ping interval; both `None` is `--no-heartbeat`.
    pub gateway: lab_gateway::Config,
    /// How much history is kept for recovery.
    pub history: HistoryLimits,
    /// Updates the ticker publishes per second; 0 turns it off (tests publish by hand).
    pub rate: f64,
}

impl Config {
    /// The defaults for the lab served on `port`: pings every 5 s, a peer silent for 15 s
    /// is dead (three missed pings: one lost packet is not a death), [`MAX_MESSAGE_BYTES`],
    /// 1 000 connections, the default history, 2 updates a second.
    pub fn for_port(port: u16) -> Self {
        let mut gateway = lab_gateway::Config::for_port(port);
        gateway.ping_interval = Some(Duration::from_secs(5));
        gateway.idle_timeout = Some(Duration::from_secs(15));
        gateway.max_message_bytes = MAX_MESSAGE_BYTES;
        gateway.max_connections = 1000;
        Self {
            gateway,
            history: HistoryLimits::default(),
            rate: 2.0,
        }
    }

    /// The same settings with the heartbeat set: pings every `interval`, dead after
    /// `timeout` of silence; `None` turns both off.
    pub fn with_heartbeat(mut self, heartbeat: Option<(Duration, Duration)>) -> Self {
        self.gateway.ping_interval = heartbeat.map(|(interval, _)| interval);
        self.gateway.idle_timeout = heartbeat.map(|(_, timeout)| timeout);
        self
    }
}
// ANCHOR_END: config

/// The lab with `config`, and its stream (to publish by hand, or read its state). The
/// ticker, if `config.rate` is above 0, starts now and stops at the server's goodbye.
pub fn build(config: Config) -> (axum::Router, Stream) {
    let stream = Stream::new(config.history);
    let scraped = stream.clone();
    let gateway = lab::gateway(&config, &stream);
    let permits = gateway.permits();
    let router = gateway
        .into_router()
        .merge(fallback::routes(&config, &stream, permits))
        .route("/", kit::page::static_page(PAGE))
        .route(
            "/metrics",
            axum::routing::get(move || {
                let text = scraped.metrics_text();
                async move { metrics::response(text) }
            }),
        );
    if config.rate > 0.0 {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(lab::ticker(
                    stream.clone(),
                    config.rate,
                    config.gateway.shutdown.clone(),
                ));
            }
            Err(_) => tracing::error!("no tokio runtime: the ticker cannot start"),
        }
    }
    (router, stream)
}

/// The lab with `config`.
pub fn app(config: Config) -> axum::Router {
    build(config).0
}

/// The lab with its default settings and `allowlist`: what the course launcher mounts
/// under `/labs/resilience/`; its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = Config::for_port(kit::ports::RESILIENCE);
    config.gateway.allowlist = allowlist;
    config.gateway.shutdown = shutdown.clone();
    app(config)
}
