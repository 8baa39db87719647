//! Monitoring: the lab's counters, served at `GET /metrics` in the Prometheus text format.
//!
//! ```text
//! cargo run -p lab-resilience
//! curl -s http://127.0.0.1:3006/metrics
//! ```
//!
//! Every number here is one the lab can see from its own code: the gateway's
//! `on_connected` and `on_disconnect` hooks (opens, and closes with who closed and the close
//! code), the subscribe path (reconnections, recoveries that worked or not), the publish path
//! (updates, frames and bytes sent), the `position` handler (requests), and, at each scrape,
//! the gateway's [`Server`] (open connections, frames waiting in the outgoing queues).
//!
//! Why these: each answers a question an operator asks when clients complain. Are they
//! being cut (`disconnects_total` by code)? By us, for silence (`heartbeat_timeouts_total`),
//! for flooding (`rate_limit_closes_total`), for being slow (`slow_consumer_closes_total`)?
//! Do they come back (`reconnects_total`) and come back whole (`recoveries_total` by
//! outcome)? Is someone not reading (`queued_frames` growing)? A dashboard plots the
//! counters as rates (`rate(resilience_reconnects_total[1m])`), never as raw totals.
//!
//! The text is encoded by `prometheus-client`, the Prometheus project's own Rust client,
//! never formatted by hand: the format has escaping rules, `# TYPE`/`# HELP` lines and a
//! final `# EOF` that are easy to get subtly wrong. A production service would add latency
//! histograms and per-process metrics (memory, file descriptors); this lab keeps to what
//! chapter 10 ("Best practices, measured") discusses.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use lab_gateway::{ClosedBy, Disconnect, Server};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::stream::{Recovery, SLOW_CONSUMER};

/// The content type of what `prometheus-client` encodes: OpenMetrics 1.0, which Prometheus
/// scrapes natively (and which is the classic text format plus a final `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The reason the gateway gives when it closes a silent peer with 1001 (its idle timeout,
/// the heartbeat's verdict). A 1001 with another reason is the server shutting down.
pub const IDLE_TIMEOUT_REASON: &str = "no sign of life within the idle timeout";

/// The reason the gateway gives when it closes a client over its message rate with 1008.
/// A 1008 with another reason is another policy (a full outgoing queue).
pub const RATE_LIMIT_REASON: &str = "too many messages: over the rate limit";

/// The labels of a disconnection: who closed, and with which code (`none` when nobody
/// sent one: the TCP connection just ended).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    /// `client`, `server` or `network`.
    by: String,
    /// The close code, or `none`.
    code: String,
}

/// The label of a frame the lab sent: `subscribed` (one per subscription) or `update`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    /// The event's name.
    event: String,
}

/// The label of a recovery's outcome: `ok` (the client's state is whole again) or
/// `failed` (it must start over).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// `ok` or `failed`.
    outcome: String,
}

/// The lab's counters and the registry that encodes them. Cheap to clone: every clone
/// counts into the same numbers (each metric is an `Arc` around atomics, so counting takes
/// no lock).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// The metrics, each also registered (as a clone) in `registry`.
#[derive(Debug)]
struct Inner {
    /// Encodes every metric below, under the `resilience_` prefix.
    registry: Registry,
    /// Connections open now: read from the gateway at each scrape.
    connections_open: Gauge,
    /// Frames waiting in every connection's outgoing queue: read from the gateway at each
    /// scrape.
    queued_frames: Gauge,
    /// Connections opened (a subscription each).
    connects: Counter,
    /// Connections closed, by who closed and the close code.
    disconnects: Family<CloseLabels, Counter>,
    /// Peers closed by the server for silence (1001, the idle timeout).
    heartbeat_timeouts: Counter,
    /// Clients closed for flooding (1008, the rate limit).
    rate_limit_closes: Counter,
    /// Clients closed for a message over the size limit (1009).
    oversize_closes: Counter,
    /// Subscribers closed for being too slow for the stream (1013).
    slow_consumer_closes: Counter,
    /// Requests the lab answered (`position`).
    messages_in: Counter,
    /// Frames the lab queued for its clients, by event.
    messages_out: Family<EventLabel, Counter>,
    /// The bytes of those frames (the JSON text; WebSocket framing not included).
    bytes_out: Counter,
    /// Updates the stream published.
    updates_published: Counter,
    /// Subscriptions with `since`: a client coming back.
    reconnects: Counter,
    /// Of those, by outcome: `ok` or `failed`.
    recoveries: Family<OutcomeLabel, Counter>,
    /// Fallback streams (Server-Sent Events) open now.
    fallback_open: Gauge,
    /// Fallback streams opened: clients whose WebSocket upgrade could not get through.
    fallback_connects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every counter at 0, registered under the `resilience_` prefix. A counter's name
    /// gets `_total` when encoded: `connects` is scraped as `resilience_connects_total`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("resilience");
        let inner = Inner {
            connections_open: Gauge::default(),
            queued_frames: Gauge::default(),
            connects: Counter::default(),
            disconnects: Family::default(),
            heartbeat_timeouts: Counter::default(),
            rate_limit_closes: Counter::default(),
            oversize_closes: Counter::default(),
            slow_consumer_closes: Counter::default(),
            messages_in: Counter::default(),
            messages_out: Family::default(),
            bytes_out: Counter::default(),
            updates_published: Counter::default(),
            reconnects: Counter::default(),
            recoveries: Family::default(),
            fallback_open: Gauge::default(),
            fallback_connects: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "connections_open",
            "WebSocket connections open now",
            inner.connections_open.clone(),
        );
        registry.register(
            "queued_frames",
            "Frames waiting in the outgoing queues of all connections",
            inner.queued_frames.clone(),
        );
        registry.register(
            "connects",
            "WebSocket connections opened",
            inner.connects.clone(),
        );
        registry.register(
            "disconnects",
            "WebSocket connections closed, by who closed and the close code",
            inner.disconnects.clone(),
        );
        registry.register(
            "heartbeat_timeouts",
            "Peers closed with 1001 after the idle timeout passed in silence",
            inner.heartbeat_timeouts.clone(),
        );
        registry.register(
            "rate_limit_closes",
            "Clients closed with 1008 for sending over the rate limit",
            inner.rate_limit_closes.clone(),
        );
        registry.register(
            "oversize_closes",
            "Clients closed with 1009 for a message over the size limit",
            inner.oversize_closes.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Subscribers closed with 1013 for falling behind the stream",
            inner.slow_consumer_closes.clone(),
        );
        registry.register(
            "messages_in",
            "Requests answered",
            inner.messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Frames queued for clients, by event",
            inner.messages_out.clone(),
        );
        registry.register(
            "bytes_out",
            "Bytes of the frames queued for clients (JSON text, without WebSocket framing)",
            inner.bytes_out.clone(),
        );
        registry.register(
            "updates_published",
            "Updates the stream published",
            inner.updates_published.clone(),
        );
        registry.register(
            "reconnects",
            "Subscriptions with since: clients coming back",
            inner.reconnects.clone(),
        );
        registry.register(
            "recoveries",
            "Reconnections by outcome: ok (every missed update sent) or failed",
            inner.recoveries.clone(),
        );
        registry.register(
            "fallback_open",
            "Server-Sent Events streams open now (the fallback transport)",
            inner.fallback_open.clone(),
        );
        registry.register(
            "fallback_connects",
            "Server-Sent Events streams opened (the fallback transport)",
            inner.fallback_connects.clone(),
        );
        Self {
            inner: Arc::new(Inner { registry, ..inner }),
        }
    }

    /// A fallback stream opened.
    pub fn fallback_opened(&self) {
        self.inner.fallback_connects.inc();
        self.inner.fallback_open.inc();
    }

    /// A fallback stream ended.
    pub fn fallback_closed(&self) {
        self.inner.fallback_open.dec();
    }

    /// A connection opened.
    pub fn connected(&self) {
        self.inner.connects.inc();
    }

    /// A connection closed, as the gateway's `on_disconnect` hook says. The named closes
    /// are told apart by code and, where one code has several causes, by the gateway's
    /// reason.
    pub fn disconnected(&self, why: &Disconnect) {
        let by = match why.by {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::Network => "network",
        };
        let code = why
            .code
            .map_or_else(|| "none".to_owned(), |c| c.to_string());
        self.inner
            .disconnects
            .get_or_create(&CloseLabels {
                by: by.to_owned(),
                code,
            })
            .inc();
        if why.by != ClosedBy::Server {
            return;
        }
        let inner = &self.inner;
        let named = match (why.code, why.reason.as_str()) {
            (Some(1001), IDLE_TIMEOUT_REASON) => Some(&inner.heartbeat_timeouts),
            (Some(1008), RATE_LIMIT_REASON) => Some(&inner.rate_limit_closes),
            (Some(1009), _) => Some(&inner.oversize_closes),
            (Some(SLOW_CONSUMER), _) => Some(&inner.slow_consumer_closes),
            _ => None,
        };
        if let Some(counter) = named {
            counter.inc();
        }
    }

    /// A request was answered.
    pub fn request(&self) {
        self.inner.messages_in.inc();
    }

    /// A frame of `bytes` for `event` was queued for one client.
    pub fn sent(&self, event: &str, bytes: usize) {
        self.inner
            .messages_out
            .get_or_create(&EventLabel {
                event: event.to_owned(),
            })
            .inc();
        self.inner.bytes_out.inc_by(bytes as u64);
    }

    /// The stream published an update.
    pub fn published(&self) {
        self.inner.updates_published.inc();
    }

    /// A client subscribed and was told `recovery`: a reconnection if it sent `since`.
    pub fn subscribed(&self, recovery: &Recovery) {
        if !recovery.was_recovering {
            return;
        }
        self.inner.reconnects.inc();
        let outcome = if recovery.recovered { "ok" } else { "failed" };
        self.inner
            .recoveries
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The text of a scrape: the gauges read from `server` now (0 before the gateway is
    /// built), then every metric encoded.
    pub fn encode(&self, server: Option<&Server>) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let inner = &self.inner;
        inner
            .connections_open
            .set(gauge(server.map_or(0, Server::connection_count)));
        inner
            .queued_frames
            .set(gauge(server.map_or(0, Server::queued_frames)));
        let mut text = String::new();
        // Writing into a `String` cannot fail: `fmt::Write` for `String` never errors.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &inner.registry) {
            tracing::error!(%err, "cannot encode the metrics");
        }
        text
    }
}

/// `GET /metrics`: the scrape, with the OpenMetrics content type.
pub fn response(text: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
