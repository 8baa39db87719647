//! A node's counters at `GET /metrics`, in the Prometheus text format (encoded by
//! `prometheus-client`, as in the resilience lab, chapter 10).
//!
//! The ones an operator of a cluster watches: is this node's broker up (`scale_broker_up`)?
//! How often did it lose Redis (`scale_broker_reconnects_total`)? Is traffic crossing nodes
//! (`scale_broker_messages_total` grows on every node in a room, `scale_published_total`
//! only on the sender's), and did any message go out to local members only because the
//! broker was down (`scale_published_total{path="local_only"}`)? Do rejoining clients get
//! their history (`scale_recoveries_total` by outcome)?

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of what `prometheus-client` encodes (OpenMetrics 1.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label with one value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Path {
    /// `redis`, `node` (no broker) or `local_only` (broker down).
    path: String,
}

/// A recovery's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    /// `recovered` or `lost`.
    outcome: String,
}

/// The counters. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    broker_up: Gauge,
    connections: Gauge,
    reconnects: Counter,
    published: Family<Path, Counter>,
    from_broker: Counter,
    malformed: Counter,
    delivered: Counter,
    recoveries: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scale");
        let inner = Inner {
            broker_up: Gauge::default(),
            connections: Gauge::default(),
            reconnects: Counter::default(),
            published: Family::default(),
            from_broker: Counter::default(),
            malformed: Counter::default(),
            delivered: Counter::default(),
            recoveries: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "broker_up",
            "1 while this node's Redis connection works",
            inner.broker_up.clone(),
        );
        registry.register(
            "connections",
            "Open WebSocket connections on this node",
            inner.connections.clone(),
        );
        registry.register(
            "broker_reconnects",
            "Times this node reconnected to Redis after losing it",
            inner.reconnects.clone(),
        );
        registry.register(
            "published",
            "Messages said on this node, by path",
            inner.published.clone(),
        );
        registry.register(
            "broker_messages",
            "Messages received from the broker's channels",
            inner.from_broker.clone(),
        );
        registry.register(
            "broker_malformed",
            "Malformed messages from the broker, dropped",
            inner.malformed.clone(),
        );
        registry.register(
            "deliveries",
            "Room events handed to local members' forwarders",
            inner.delivered.clone(),
        );
        registry.register(
            "recoveries",
            "Rejoins with a position, by outcome",
            inner.recoveries.clone(),
        );
        Self {
            inner: Arc::new(Inner { registry, ..inner }),
        }
    }
}

impl Metrics {
    /// The broker went up or down.
    pub fn broker_up(&self, up: bool) {
        self.inner.broker_up.set(i64::from(up));
    }

    /// The node reconnected to Redis.
    pub fn reconnected(&self) {
        self.inner.reconnects.inc();
    }

    /// A message was said on this node, by `path`.
    pub fn published(&self, path: &str) {
        self.inner
            .published
            .get_or_create(&Path { path: path.into() })
            .inc();
    }

    /// A message arrived from the broker.
    pub fn from_broker(&self) {
        self.inner.from_broker.inc();
    }

    /// A malformed message from the broker was dropped.
    pub fn malformed(&self) {
        self.inner.malformed.inc();
    }

    /// A room event went to `n` local members.
    pub fn delivered(&self, n: usize) {
        self.inner
            .delivered
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// A rejoin with a position was answered.
    pub fn recovery(&self, recovered: bool) {
        let outcome = if recovered { "recovered" } else { "lost" };
        self.inner
            .recoveries
            .get_or_create(&Outcome {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The text of a scrape, with `connections` open now.
    pub fn text(&self, connections: usize) -> String {
        self.inner
            .connections
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry)
        {
            tracing::error!(%err, "cannot encode the metrics");
        }
        text
    }
}

/// The HTTP answer of a scrape.
pub fn response(text: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
