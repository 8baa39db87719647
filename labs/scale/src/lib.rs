//! # The scale lab: several nodes behind a real load balancer, Redis between them
//!
//! One command starts a small cluster on loopback: a Redis server, N nodes of a chat with
//! rooms, and HAProxy in front of them. Every part is the real one, started as a child
//! process on a free port of 127.0.0.1 and stopped with the lab.
//!
//! ```text
//! cargo run -p lab-scale                         # 3 nodes, Redis, HAProxy: open http://127.0.0.1:3007/
//! cargo run -p lab-scale -- --broker none        # the problem: rooms split across nodes
//! cargo run -p lab-scale -- --balance cookie     # sticky sessions by a cookie
//! cargo run -p lab-scale -- node --redis redis://127.0.0.1:6379/ --addr 127.0.0.1:4001 --node-id n9
//! cargo run -p lab-scale -- chat --url ws://127.0.0.1:3007/ws --name ada --room rust
//! ```
//!
//! What it shows, in the order of chapter "Scaling out":
//!
//! 1. **the problem** (`--broker none`): each node knows only its own connections, so two
//!    members of one room on different nodes never see each other's messages;
//! 2. **the broker** (`--broker redis`): a message goes through Redis pub/sub to every node
//!    serving the room ([`broker`]);
//! 3. **presence across nodes**: who is in a room, on any node, in a Redis sorted set that
//!    each node's heartbeat keeps fresh, so a crashed node's members expire;
//! 4. **recovery across nodes**: each room's history in a Redis Stream, so a client that the
//!    balancer sends to *another* node after a failure gets what it missed ([`position`]);
//! 5. **failover**: kill a node with SIGKILL; its clients reconnect through HAProxy to the
//!    others and recover ([`client`]); stop Redis: nodes say the broker is down, keep
//!    serving their own members, and come back when Redis does;
//! 6. **sticky sessions**: the generated HAProxy configuration, round-robin or sticky by a
//!    cookie or by source address ([`cluster`]).
//!
//! Reading order: [`position`], [`rooms`], [`broker`], [`node`], [`client`], [`cluster`],
//! then `src/main.rs`.

pub mod broker;
pub mod client;
pub mod cluster;
pub mod metrics;
pub mod node;
pub mod position;
pub mod rooms;

use std::sync::OnceLock;

use axum::Json;
use axum::routing::get;
use serde_json::json;

pub use broker::{Broker, BrokerKind, BrokerSettings};
pub use node::Node;
pub use position::{Position, StreamId};

/// The lab's browser page: plain HTML and JavaScript, compiled in.
pub const PAGE: &str = include_str!("../static/index.html");

/// The largest message a client may send: chat messages and requests are small.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

// ANCHOR: config
/// One node's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The gateway underneath: origins, limits, heartbeat, goodbye.
    pub gateway: lab_gateway::Config,
    /// This node's id, shown to clients and written in presence entries: 1 to 16 of
    /// `a-z`, `0-9`, `-`.
    pub node: String,
    /// No broker, or Redis at a URL.
    pub broker: BrokerKind,
    /// History, recovery and presence bounds.
    pub settings: BrokerSettings,
    /// Rooms one connection may be in at once.
    pub rooms_per_connection: usize,
    /// The longest message text, in characters.
    pub max_text_chars: usize,
}

impl Config {
    /// A node called `n1` on `port` without a broker: pings every 10 s, a peer silent for
    /// 30 s is dead, [`MAX_MESSAGE_BYTES`], 8 rooms per connection, 2 000 characters.
    pub fn for_port(port: u16) -> Self {
        let mut gateway = lab_gateway::Config::for_port(port);
        gateway.max_message_bytes = MAX_MESSAGE_BYTES;
        gateway.idle_timeout = Some(std::time::Duration::from_secs(30));
        gateway.ping_interval = Some(std::time::Duration::from_secs(10));
        Self {
            gateway,
            node: "n1".into(),
            broker: BrokerKind::None,
            settings: BrokerSettings::default(),
            rooms_per_connection: 8,
            max_text_chars: 2000,
        }
    }
}
// ANCHOR_END: config

/// Why a node id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a node id is 1 to 16 characters among a-z, 0-9 and '-'")]
pub struct BadNodeId;

/// Checks a node id: it is written into presence entries, where `:` separates fields.
pub fn check_node_id(id: &str) -> Result<(), BadNodeId> {
    let ok = (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(()).ok_or(BadNodeId)
}

/// The node with `config`, and its state (to read the broker's status in tests). Its broker's
/// supervisor starts now, on the current tokio runtime, and stops at the node's goodbye.
pub fn build(config: Config) -> (axum::Router, Node) {
    let rooms = rooms::Rooms::default();
    let metrics = metrics::Metrics::default();
    let broker = Broker::new(
        &config.node,
        config.broker.clone(),
        config.settings,
        rooms.clone(),
        metrics.clone(),
    );
    let node = Node {
        id: config.node.clone(),
        rooms,
        broker: broker.clone(),
        metrics,
        rooms_per_connection: config.rooms_per_connection,
        max_text_chars: config.max_text_chars,
    };
    let gateway = node::gateway(&config, &node);
    let server = gateway.server();
    let scraped = (node.clone(), server.clone());
    let described = (node.clone(), server);
    let healthy = node.id.clone();
    let router = gateway
        .into_router()
        .route("/", kit::page::static_page(PAGE))
        // HAProxy's health check: a node that answers is up.
        .route(
            "/healthz",
            get(move || async move { format!("ok {healthy}\n") }),
        )
        .route(
            "/metrics",
            get(move || {
                let (node, server) = scraped.clone();
                async move { metrics::response(node.metrics.text(server.connection_count())) }
            }),
        )
        .route(
            "/node",
            get(move || {
                let (node, server) = described.clone();
                async move {
                    Json(json!({
                        "node": node.id,
                        "broker": node.broker.status(),
                        "connections": server.connection_count(),
                        "rooms": node.rooms.names(),
                        "cluster_programs": programs_report(),
                    }))
                }
            }),
        );
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(broker.run(config.gateway.shutdown.clone()));
        }
        Err(_) => tracing::error!("no tokio runtime: the broker cannot start"),
    }
    (router, node)
}

/// The node with `config`.
pub fn app(config: Config) -> axum::Router {
    build(config).0
}

/// The lab as the course launcher mounts it under `/labs/scale/`: **one node without a
/// broker**, the single server every chat starts as (all the page's panels land on it and
/// see each other). The cluster itself needs Redis and HAProxy, child processes the
/// launcher does not start: `cargo run -p lab-scale` does, and the page says what to install
/// when one is missing. Its connections hear `shutdown`'s goodbye.
pub fn router(allowlist: kit::OriginAllowlist, shutdown: &kit::Shutdown) -> axum::Router {
    let mut config = Config::for_port(kit::ports::SCALE);
    config.node = "course".into();
    config.gateway.allowlist = allowlist;
    config.gateway.shutdown = shutdown.clone();
    app(config)
}

/// Which of the cluster's programs are installed, and the command that installs a missing
/// one: what the page shows next to a node that runs without a broker.
fn programs_report() -> serde_json::Value {
    programs()
        .iter()
        .map(|(name, path)| {
            json!({
                "program": name,
                "found": path.as_ref().map(|p| p.display().to_string()),
                "install": format!("sudo apt-get install {name}"),
            })
        })
        .collect()
}

/// Where `redis-server` and `haproxy` were found, looked up once: what the course's labs
/// page and the tests report when one is missing.
pub fn programs() -> &'static [(&'static str, Option<std::path::PathBuf>)] {
    static FOUND: OnceLock<Vec<(&'static str, Option<std::path::PathBuf>)>> = OnceLock::new();
    FOUND.get_or_init(|| {
        ["redis-server", "haproxy"]
            .into_iter()
            .map(|name| (name, cluster::find_program(name)))
            .collect()
    })
}
