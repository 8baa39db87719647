//! The hub: who is listening, and how one broadcast reaches them.
//!
//! A broadcast picks its recipients ([`Audience`]: everyone, the subscribers of a topic,
//! connections whose attributes match a filter, everyone except the sender), encodes its
//! frame, and offers it to each recipient's bounded outgoing queue (the gateway's, see
//! `lab_gateway::Server::offer_frame`). What happens when a queue is full is the
//! slow-consumer policy, stated once in [`Hub::publish`]:
//!
//! - a **volatile** message (a cursor position, a price tick: the next one replaces it) is
//!   queued only while the recipient's queue is less than half full, and is dropped, and
//!   counted, beyond that. The busy client loses it; nobody waits.
//! - a **reliable** message is queued in order behind the others. If it does not fit, the
//!   recipient is closed with 1008 (policy violation) and a reason saying that everything
//!   after the last broadcast it received is lost (the frames still queued for it are
//!   dropped with the connection), so it is never silently out of order: it gets every
//!   reliable message in order, or it is told what it missed.
//!
//! Fan-out comes in two ways ([`FanOut`]): the scaling way encodes the frame once and hands
//! every recipient the same bytes (a reference-counted buffer: cloning it copies nothing);
//! the naive way encodes it again for each recipient, as a loop of `emit` calls would.
//! Chapter 9 ("Broadcasting") walks through this file and measures both.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use kit::close;
use lab_gateway::server::encode;
use lab_gateway::{ConnId, EmitError, Server};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::confirm::{Confirmation, Confirmations};
use crate::stats::{Stats, StatsSnapshot};

/// The event name of a broadcast message as recipients receive it.
pub const BROADCAST: &str = "broadcast";

// ANCHOR: audience
/// Who receives a broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    /// Every connection, the sender included.
    All,
    /// The connections subscribed to `topic`.
    Topic {
        /// The topic's name.
        topic: String,
    },
    /// The connections whose attribute `attr` (set from the handshake's query string,
    /// `/ws?role=admin`) equals `equals`.
    Where {
        /// The attribute's name.
        attr: String,
        /// The value it must have.
        equals: String,
    },
    /// Every connection except the sender (Socket.IO's `socket.broadcast.emit`).
    Others,
}
// ANCHOR_END: audience

impl Audience {
    /// Whether the connection `id`, described by `member`, is in the audience of a broadcast
    /// sent by `from` (`None` when the server itself sends it).
    pub fn includes(&self, id: ConnId, member: &Member, from: Option<ConnId>) -> bool {
        match self {
            Self::All => true,
            Self::Topic { topic } => member.topics.contains(topic),
            Self::Where { attr, equals } => member.attrs.get(attr) == Some(equals),
            Self::Others => Some(id) != from,
        }
    }
}

/// How a broadcast is fanned out to its recipients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum FanOut {
    /// Encode the frame once, hand every recipient the same bytes; the gateway's send task
    /// writes queued frames in batches, one flush per batch.
    #[default]
    Scaling,
    /// Encode the frame again for every recipient, and write each message with its own
    /// flush: what a loop of `socket.send(...)` does. Kept to measure the difference.
    Naive,
}

/// One broadcast, as a publisher asks for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    /// Who receives it.
    pub to: Audience,
    /// What they receive: any JSON.
    #[serde(default)]
    pub payload: Value,
    /// May it be dropped for a busy recipient? See the module's policy.
    #[serde(default)]
    pub volatile: bool,
    /// If set, wait up to this many milliseconds for every recipient's `confirm`, and report
    /// the counts. At most [`MAX_CONFIRM`].
    #[serde(default)]
    pub confirm_ms: Option<u64>,
}

/// The longest a publisher may wait for confirmations: a forgotten broadcast must not
/// hold its bookkeeping for long.
pub const MAX_CONFIRM: Duration = Duration::from_secs(60);

// ANCHOR: message
/// A broadcast as each recipient receives it, the `data` of a `broadcast` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The broadcast's number, increasing across the server. Reliable messages reach a
    /// recipient in this order; a recipient that misses one is closed and told its number.
    pub seq: u64,
    /// The sender's connection id; `None` for the server itself.
    pub from: Option<ConnId>,
    /// Who it was sent to.
    pub to: Audience,
    /// Whether it may have been dropped for others (and for you, had you been busy).
    pub volatile: bool,
    /// Whether the sender waits for `{"event": "confirm", "data": {"seq": ...}}`.
    pub confirm: bool,
    /// The payload.
    pub payload: Value,
}
// ANCHOR_END: message

/// What a publisher learns about its broadcast.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The broadcast's number.
    pub seq: u64,
    /// How many connections were in the audience.
    pub recipients: u64,
    /// How many of them had the frame queued.
    pub queued: u64,
    /// Volatile only: how many were too busy and did not get it.
    pub dropped: u64,
    /// Reliable only: how many were too slow and were closed with 1008.
    pub closed_slow: u64,
    /// The confirmation counts, if the publisher asked for them.
    pub confirmation: Option<Confirmation>,
}

/// Why [`Hub::subscribe`] changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The connection has left the hub: it is closing.
    #[error("this connection is closing")]
    Gone,
    /// The change would leave the connection with more than `max` topics.
    #[error("at most {max} topics per connection")]
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// What the hub knows about one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The topics it subscribed to.
    pub topics: BTreeSet<String>,
    /// Its attributes, from the handshake's query string (`/ws?role=admin&lang=vi`).
    pub attrs: BTreeMap<String, String>,
}

/// How long a publisher waits for confirmations, and the signal that all are in.
type Waiting = (Duration, oneshot::Receiver<()>);

/// The hub's settings.
#[derive(Clone, Copy, Debug)]
pub struct HubConfig {
    /// Encode once (scaling) or per recipient (naive).
    pub fanout: FanOut,
    /// Free slots a volatile message must leave in a recipient's queue; below that the
    /// recipient is "busy" and the message is dropped for it.
    pub volatile_keep_free: usize,
}

/// The broadcasting side of the lab: members, sequence numbers, confirmations, counters.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    /// The gateway's handle on every connection; set once the gateway is built.
    server: OnceLock<Server>,
    /// Every open connection that may receive broadcasts. A std `Mutex`: each critical
    /// section is a map operation or one pass to pick recipients, never an `.await`.
    members: Mutex<HashMap<ConnId, Member>>,
    /// The last broadcast's number.
    seq: AtomicU64,
    /// Held while one broadcast is numbered and queued, so that broadcasts from several
    /// publishers at once reach every recipient in `seq` order. A std `Mutex`: the fan-out
    /// it guards never awaits.
    publish_lock: Mutex<()>,
    /// Broadcasts waiting for their recipients' confirmations.
    confirmations: Confirmations,
    /// What the dashboard shows.
    stats: Stats,
    /// Fan-out way and slow-consumer threshold.
    config: HubConfig,
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Self {
        Self {
            inner: Arc::new(HubInner {
                server: OnceLock::new(),
                members: Mutex::new(HashMap::new()),
                seq: AtomicU64::new(0),
                publish_lock: Mutex::new(()),
                confirmations: Confirmations::default(),
                stats: Stats::default(),
                config,
            }),
        }
    }

    /// Connects the hub to the gateway's server handle (done once, by the gateway's
    /// after-init hook).
    pub(crate) fn attach(&self, server: &Server) {
        let _ = self.inner.server.set(server.clone());
    }

    fn members(&self) -> MutexGuard<'_, HashMap<ConnId, Member>> {
        // Every critical section is one map operation: a panic cannot leave it half done.
        self.inner
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection joins the audience.
    pub fn join(&self, id: ConnId, member: Member) {
        self.members().insert(id, member);
    }

    /// A connection has ended: it leaves the audience, and every confirmation still
    /// waiting for it counts it as failed.
    pub fn leave(&self, id: ConnId) {
        self.members().remove(&id);
        let failed = self.inner.confirmations.forget(id);
        self.inner.stats.add_failed(failed);
    }

    /// Subscribes connection `id` to `topics` (or unsubscribes it, `on == false`) and
    /// returns its topics after the change. The change is all or nothing: the new set is
    /// built aside and kept only if it has at most `max` topics, so a refused request leaves
    /// the connection's subscriptions exactly as they were.
    pub fn subscribe(
        &self,
        id: ConnId,
        topics: &[String],
        on: bool,
        max: usize,
    ) -> Result<Vec<String>, SubscribeError> {
        let mut members = self.members();
        let member = members.get_mut(&id).ok_or(SubscribeError::Gone)?;
        let mut after = member.topics.clone();
        for topic in topics {
            if on {
                after.insert(topic.clone());
            } else {
                after.remove(topic);
            }
        }
        if after.len() > max {
            return Err(SubscribeError::TooMany { max });
        }
        member.topics = after;
        Ok(member.topics.iter().cloned().collect())
    }

    /// A recipient confirms broadcast `seq`; `true` if it was awaited.
    pub fn confirm(&self, id: ConnId, seq: u64) -> bool {
        let counted = self.inner.confirmations.confirm(seq, id);
        if counted {
            self.inner.stats.add_confirmed(1);
        }
        counted
    }

    /// The counters, for the dashboard.
    pub fn stats(&self) -> StatsSnapshot {
        let connected = self.members().len() as u64;
        self.inner.stats.snapshot(connected)
    }

    /// The fan-out way this hub uses.
    pub fn fanout(&self) -> FanOut {
        self.inner.config.fanout
    }

    // ANCHOR: publish
    /// Sends `broadcast` from `from` (`None`: the server) to its audience, applies the
    /// slow-consumer policy, and, if asked, waits for confirmations.
    pub async fn publish(&self, from: Option<ConnId>, broadcast: Broadcast) -> Report {
        let (mut report, waiting) = self.fan_out(from, broadcast);
        // Wait for the confirmations, then count what is still missing as timed out.
        if let Some((wait, done)) = waiting {
            let _ = tokio::time::timeout(wait, done).await;
            let confirmation = self.inner.confirmations.finish(report.seq);
            self.inner.stats.add_timed_out(confirmation.timed_out);
            report.confirmation = Some(confirmation);
        }
        report
    }
    // ANCHOR_END: publish

    // ANCHOR: fan_out
    /// The synchronous part of [`Hub::publish`]: number the broadcast, pick its recipients
    /// and offer each of them the frame. It runs under the publish lock, so two broadcasts
    /// never interleave: every recipient's queue holds them in `seq` order. Returns the
    /// report so far and, if confirmations were asked for, how long to wait and the signal
    /// that everyone has answered.
    fn fan_out(&self, from: Option<ConnId>, broadcast: Broadcast) -> (Report, Option<Waiting>) {
        let Some(server) = self.inner.server.get() else {
            return (Report::default(), None); // Not attached yet: nobody is connected.
        };
        let _in_order = self
            .inner
            .publish_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // 1. Pick the recipients.
        let recipients: Vec<ConnId> = self
            .members()
            .iter()
            .filter(|(id, member)| broadcast.to.includes(**id, member, from))
            .map(|(id, _)| *id)
            .collect();
        let wait = broadcast
            .confirm_ms
            .map(|ms| Duration::from_millis(ms).min(MAX_CONFIRM));
        let message = Delivered {
            seq,
            from,
            to: broadcast.to,
            volatile: broadcast.volatile,
            confirm: wait.is_some(),
            payload: broadcast.payload,
        };
        // 2. Register the confirmation before the first frame leaves, so that no answer
        //    can arrive before it is awaited.
        let pending = wait.map(|_| self.inner.confirmations.expect(seq, &recipients));
        // 3. Encode once (the scaling way) and offer the frame to each recipient.
        let once = self.encode(&message);
        let keep_free = if message.volatile {
            self.inner.config.volatile_keep_free
        } else {
            0
        };
        let mut report = Report {
            seq,
            recipients: recipients.len() as u64,
            ..Report::default()
        };
        for &id in &recipients {
            let frame = match (&once, self.inner.config.fanout) {
                (Some(frame), FanOut::Scaling) => Some(frame.clone()),
                _ => self.encode(&message),
            };
            let Some(frame) = frame else { break };
            match server.offer_frame(id, frame, keep_free) {
                Ok(true) => {
                    report.queued += 1;
                    continue;
                }
                Ok(false) if message.volatile => report.dropped += 1,
                Ok(false) => {
                    report.closed_slow += 1;
                    self.close_slow(server, id, seq);
                }
                // `offer_frame` takes a frame already encoded: only "gone" can happen here.
                Err(
                    EmitError::NoSuchConnection(_)
                    | EmitError::QueueFull(_)
                    | EmitError::Encode { .. },
                ) => {}
            }
            // Not queued: a confirmation will never come from it.
            if pending.is_some() && self.inner.confirmations.fail(seq, id) {
                self.inner.stats.add_failed(1);
            }
        }
        self.inner.stats.add_published(&report);
        (report, wait.zip(pending))
    }
    // ANCHOR_END: fan_out

    // ANCHOR: close_slow
    /// The reliable half of the policy: a recipient whose queue cannot take a reliable
    /// message leaves the audience at once (so it is counted once and gets nothing out of
    /// order) and is closed with 1008. The frames already in its queue go with the
    /// connection, so the reason cannot name the first one it misses: it says that
    /// everything after the last `seq` it received is lost, which the client knows.
    fn close_slow(&self, server: &Server, id: ConnId, seq: u64) {
        if self.members().remove(&id).is_some() {
            tracing::warn!(conn = id, seq, "outgoing queue full: closing a slow client");
            server.disconnect(
                id,
                close::POLICY_VIOLATION,
                &format!(
                    "too slow: queue full at broadcast {seq}; all after the last one you got are lost"
                ),
            );
        }
    }
    // ANCHOR_END: close_slow

    /// The frame of `message`, or `None` (logged) if it cannot be encoded.
    fn encode(&self, message: &Delivered) -> Option<Utf8Bytes> {
        match encode(BROADCAST, message) {
            Ok(frame) => Some(frame),
            Err(err) => {
                tracing::error!(%err, seq = message.seq, "cannot encode a broadcast");
                None
            }
        }
    }
}
