//! The broker between nodes: how a message said on one node reaches the room's members on
//! every other node, who is in a room across nodes, and the history a client recovers from
//! after the balancer sent it somewhere else.
//!
//! Two brokers, one switch (`--broker`):
//!
//! - **none**: each node delivers to its own members only. Two clients in the same room that
//!   the balancer put on different nodes never see each other: the problem, kept runnable.
//! - **redis** (the default): what Socket.IO's Redis adapter, Centrifugo's Redis engine and
//!   Phoenix.PubSub's Redis adapter do, in three Redis features:
//!   - **pub/sub**, one channel per room (`scale:{rust}:channel`). A node subscribes to a
//!     room's channel when its first local member joins, so it receives only the rooms it
//!     serves. Sharded pub/sub (`SSUBSCRIBE`, Redis 7) spreads channels over the shards of a
//!     Redis *Cluster*; with one Redis server, as here, it changes nothing, so the lab uses
//!     plain `SUBSCRIBE`.
//!   - a **Stream** per room (`scale:{rust}:history`), capped with `XADD ... MAXLEN ~`: the
//!     history a client recovers from, on any node, by the id of the last message it saw.
//!   - a **sorted set** per room (`scale:{rust}:presence`): who is in the room, on any node,
//!     each entry scored with the time it expires; each node's heartbeat pushes its own
//!     members' expiry forward, so the members of a node that crashed disappear once it has
//!     stopped doing so.
//!
//! A message is added to the Stream and published on the channel by **one Lua script**,
//! which Redis runs atomically: two nodes publishing at once cannot have their messages in
//! one order in the history and in the other order on the channel. Every member sees the
//! same order, the history's, and a recovering client can drop what it already has by id.
//!
//! What pub/sub does not give: it is **at-most-once** (a node that is not subscribed at the
//! moment of the `PUBLISH`, because it was reconnecting, never gets that message; only the
//! Stream still has it), and it has **no backpressure** (Redis buffers a slow subscriber's
//! messages up to `client-output-buffer-limit pubsub`, 32 MB by default, then disconnects
//! it). Chapter "Scaling out" discusses both, and when Streams consumer groups or NATS
//! JetStream are the better tool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use lab_gateway::ConnId;
use lab_gateway::server::encode;
use lab_resilience::client::Backoff;
use redis::AsyncCommands as _;
use redis::aio::{MultiplexedConnection, PubSubSink};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use crate::position::{Position, StreamId, new_epoch};
use crate::rooms::{Delivery, Rooms};

/// Which broker a node uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    /// No broker: every node on its own.
    None,
    /// Redis at this URL (`redis://127.0.0.1:6379/`).
    Redis(String),
}

// ANCHOR: settings
/// The broker's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Messages each room's Stream keeps (`XADD ... MAXLEN ~ n`: "about n", which lets Redis
    /// trim whole blocks at a time, much cheaper than an exact cap).
    pub history_len: usize,
    /// The most messages one recovery hands back; a client further behind is told
    /// `recovered: false` and must reload the room instead.
    pub max_recover: usize,
    /// How long a presence entry lives without being refreshed. Each node refreshes its own
    /// members every third of it; a crashed node's members disappear after at most this.
    pub presence_ttl: Duration,
    /// How long one Redis command may take before the broker counts as down.
    pub command_timeout: Duration,
    /// The delays between attempts to reach Redis again: the resilience lab's backoff with
    /// full jitter, so that nodes that lost Redis together do not come back in step.
    pub reconnect: Backoff,
}

impl Default for BrokerSettings {
    /// 1 000 messages per room, recover at most 500, presence for 15 s, 2 s per command,
    /// reconnect within 100 ms to 2 s.
    fn default() -> Self {
        Self {
            history_len: 1000,
            max_recover: 500,
            presence_ttl: Duration::from_secs(15),
            command_timeout: Duration::from_secs(2),
            reconnect: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(2),
            },
        }
    }
}
// ANCHOR_END: settings

/// The Redis key that holds the history's epoch, set by the first node that finds none.
pub const EPOCH_KEY: &str = "scale:epoch";

/// A room's pub/sub channel. The braces are a Redis Cluster hash tag: a room's channel,
/// history and presence hash to the same slot, so one script may touch all of them.
pub fn channel_of(room: &str) -> String {
    format!("scale:{{{room}}}:channel")
}

/// A room's history Stream.
pub fn history_of(room: &str) -> String {
    format!("scale:{{{room}}}:history")
}

/// A room's presence sorted set.
pub fn presence_of(room: &str) -> String {
    format!("scale:{{{room}}}:presence")
}

/// The room of a channel name, if it is one of ours.
fn room_of(channel: &str) -> Option<&str> {
    channel.strip_prefix("scale:{")?.strip_suffix("}:channel")
}

// ANCHOR: script
/// Adds a message to the room's Stream and publishes it on the room's channel, in one
/// atomic step: the history's order is the channel's order.
///
/// KEYS: the Stream, the channel, the epoch key. ARGV: the Stream's cap, the message (JSON),
/// an epoch to store if there is none yet. Returns the epoch and the new entry's id. What is
/// published is `m <epoch> <id> <json>`.
const PUBLISH_SCRIPT: &str = r"
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[3], epoch)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'msg', ARGV[2])
redis.call('PUBLISH', KEYS[2], 'm ' .. epoch .. ' ' .. id .. ' ' .. ARGV[2])
return {epoch, id}
";
// ANCHOR_END: script

/// What a member says in a room: what travels between nodes, and (with its position) what
/// every member receives as a `message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    /// The room.
    pub room: String,
    /// The sender's name.
    pub from: String,
    /// The node the sender is connected to.
    pub node: String,
    /// The sender's connection id on that node.
    pub conn: ConnId,
    /// The text.
    pub text: String,
}

/// The `message` event as a member receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    /// What was said, by whom, on which node.
    #[serde(flatten)]
    pub said: Said,
    /// Its position in the room's history, `<epoch>:<id>`; `None` for a message said while
    /// the broker was down, which is in no history.
    pub position: Option<Position>,
    /// Whether it came from the history, after a rejoin, rather than live.
    #[serde(default)]
    pub recovered: bool,
}

/// Someone in a room, on some node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Presence {
    /// The member's name.
    pub name: String,
    /// The node it is connected to.
    pub node: String,
    /// Its connection id on that node.
    pub conn: ConnId,
}

impl Presence {
    /// The sorted set's member: `<node>:<conn>:<name>` (names and node ids have no `:`).
    fn key(&self) -> String {
        format!("{}:{}:{}", self.node, self.conn, self.name)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        let node = parts.next()?.to_owned();
        let conn = parts.next()?.parse().ok()?;
        let name = parts.next()?.to_owned();
        Some(Self { name, node, conn })
    }
}

/// The broker's state, as `/metrics`, `/node` and the page show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// `none` or `redis`.
    pub broker: &'static str,
    /// Whether cross-node delivery works right now (always `false` without a broker).
    pub up: bool,
    /// The history's epoch, once known.
    pub epoch: Option<String>,
    /// What happened last, in words.
    pub reason: String,
}

/// What became of a `send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// In the room's history at `position`, and on its way to every member on every node
    /// (without a broker: to this node's members, in this node's own history).
    Broadcast(Position),
    /// The broker is down: delivered to this node's members only, in no history.
    LocalOnly,
}

// ANCHOR: recovery
/// The answer to a rejoin with `since`: what the member missed, or why that cannot be known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recovery {
    /// Whether every message after `since` is in `missed`: nothing was lost.
    pub recovered: bool,
    /// Why, in words.
    pub reason: String,
    /// The messages after `since`, in order; empty unless `recovered`.
    #[serde(skip)]
    pub missed: Vec<RoomMessage>,
}
// ANCHOR_END: recovery

impl Recovery {
    fn lost(reason: impl Into<String>) -> Self {
        Self {
            recovered: false,
            reason: reason.into(),
            missed: Vec::new(),
        }
    }
}

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Redis is not reachable right now; the node is trying again.
    #[error("the broker is down: {0}")]
    Down(String),
    /// Redis answered with an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// A live connection to Redis: one multiplexed connection for commands, one for pub/sub.
#[derive(Clone)]
struct Link {
    /// Commands (the script, XRANGE, presence). Cheap to clone: a handle.
    conn: MultiplexedConnection,
    /// Subscribes to channels; the messages arrive on the stream the supervisor reads.
    sink: PubSubSink,
}

/// The broker of one node. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("node", &self.inner.node)
            .field("kind", &self.inner.kind)
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// This node's id.
    node: String,
    /// Which broker.
    kind: BrokerKind,
    /// The bounds.
    settings: BrokerSettings,
    /// This node's rooms, which the broker delivers into.
    rooms: Rooms,
    /// The counters of `/metrics`.
    metrics: Metrics,
    /// The live Redis connection; `None` while it is down (and always without a broker).
    link: Mutex<Option<Link>>,
    /// The status, watched by the page's `broker` events.
    status: watch::Sender<Status>,
    /// Wakes the supervisor when a command found the connection broken.
    lost: Notify,
    /// Without a broker: this node's own epoch, and its message counter.
    local_epoch: String,
    /// The last local message number.
    local_seq: AtomicU64,
}

impl Broker {
    /// A broker of `kind` for node `node`, delivering into `rooms`. A Redis broker is down
    /// until [`Broker::run`] has connected.
    pub fn new(
        node: &str,
        kind: BrokerKind,
        settings: BrokerSettings,
        rooms: Rooms,
        metrics: Metrics,
    ) -> Self {
        let local_epoch = new_epoch();
        let status = match kind {
            BrokerKind::None => Status {
                broker: "none",
                up: false,
                epoch: Some(local_epoch.clone()),
                reason: "no broker: this node delivers to its own members only".into(),
            },
            BrokerKind::Redis(_) => Status {
                broker: "redis",
                up: false,
                epoch: None,
                reason: "connecting to redis".into(),
            },
        };
        Self {
            inner: Arc::new(Inner {
                node: node.to_owned(),
                kind,
                settings,
                rooms,
                metrics,
                link: Mutex::new(None),
                status: watch::channel(status).0,
                lost: Notify::new(),
                local_epoch,
                local_seq: AtomicU64::new(0),
            }),
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The status now.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// The status, as it changes.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Whether there is a broker at all.
    pub fn is_redis(&self) -> bool {
        matches!(self.inner.kind, BrokerKind::Redis(_))
    }

    fn link(&self) -> Option<Link> {
        self.inner
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_status(&self, up: bool, epoch: Option<String>, reason: String) {
        self.inner.metrics.broker_up(up);
        self.inner.status.send_modify(|status| {
            status.up = up;
            if epoch.is_some() {
                status.epoch = epoch;
            }
            status.reason = reason;
        });
    }

    /// Runs `command` on the Redis connection under the command timeout. A broken or silent
    /// connection marks the broker down and wakes the supervisor, which reconnects.
    async fn redis<T, F, Fut>(&self, command: F) -> Result<T, BrokerError>
    where
        F: FnOnce(Link) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let link = self
            .link()
            .ok_or_else(|| BrokerError::Down(self.status().reason))?;
        let timeout = self.inner.settings.command_timeout;
        match tokio::time::timeout(timeout, command(link)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
                    self.link_lost(format!("redis connection lost: {err}"));
                }
                Err(BrokerError::Redis(err))
            }
            Err(_) => {
                self.link_lost(format!("redis did not answer within {timeout:?}"));
                Err(BrokerError::Timeout(timeout))
            }
        }
    }

    /// The connection is broken: forget it, say so, and let the supervisor reconnect.
    fn link_lost(&self, reason: String) {
        let had = self
            .inner
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some();
        if had {
            tracing::warn!(node = %self.inner.node, %reason, "broker down");
            self.set_status(false, None, reason);
        }
        self.inner.lost.notify_one();
    }

    // ANCHOR: publish
    /// Says `said` in its room: through Redis to every node (the history's id comes back),
    /// or, with no broker or with the broker down, to this node's members only.
    pub async fn publish(&self, said: Said) -> Result<Published, BrokerError> {
        let room = said.room.clone();
        let json =
            serde_json::to_string(&said).map_err(|err| BrokerError::Down(err.to_string()))?;
        if !self.is_redis() {
            // The node's own history: an epoch of its own and a counter. Another node knows
            // neither, which is why a client cannot recover there.
            let seq = self.inner.local_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let position = Position {
                epoch: self.inner.local_epoch.clone(),
                id: StreamId { ms: seq, seq: 0 },
            };
            self.deliver_message(said, position.clone());
            self.inner.metrics.published("node");
            return Ok(Published::Broadcast(position));
        }
        let cap = self.inner.settings.history_len;
        let fresh_epoch = new_epoch();
        let result = self
            .redis(|mut link| async move {
                redis::Script::new(PUBLISH_SCRIPT)
                    .key(history_of(&room))
                    .key(channel_of(&room))
                    .key(EPOCH_KEY)
                    .arg(cap)
                    .arg(json)
                    .arg(fresh_epoch)
                    .invoke_async::<(String, String)>(&mut link.conn)
                    .await
            })
            .await;
        match result {
            Ok((epoch, id)) => {
                let id = id
                    .parse()
                    .map_err(|_| BrokerError::Down(format!("redis returned a bad id {id:?}")))?;
                self.inner.metrics.published("redis");
                Ok(Published::Broadcast(Position { epoch, id }))
            }
            Err(BrokerError::Down(_) | BrokerError::Timeout(_)) => {
                self.deliver_local_only(said);
                self.inner.metrics.published("local_only");
                Ok(Published::LocalOnly)
            }
            Err(BrokerError::Redis(err)) if err.is_io_error() || err.is_connection_dropped() => {
                self.deliver_local_only(said);
                self.inner.metrics.published("local_only");
                Ok(Published::LocalOnly)
            }
            Err(err) => Err(err),
        }
    }
    // ANCHOR_END: publish

    /// Hands a message with a position to the room's local members.
    fn deliver_message(&self, said: Said, position: Position) {
        let room = said.room.clone();
        let message = RoomMessage {
            said,
            position: Some(position.clone()),
            recovered: false,
        };
        match encode("message", &message) {
            Ok(frame) => {
                let n = self
                    .inner
                    .rooms
                    .deliver(&room, Delivery::Message { position, frame });
                self.inner.metrics.delivered(n);
            }
            Err(err) => tracing::error!(%err, "cannot encode a message"),
        }
    }

    fn deliver_local_only(&self, said: Said) {
        let room = said.room.clone();
        let message = RoomMessage {
            said,
            position: None,
            recovered: false,
        };
        if let Ok(frame) = encode("message", &message) {
            let n = self.inner.rooms.deliver(&room, Delivery::LocalOnly(frame));
            self.inner.metrics.delivered(n);
        }
    }

    /// Makes sure this node receives `room`'s channel: called when a member joins, before
    /// its history is read. While Redis is down this does nothing: the supervisor
    /// subscribes to every local room when it reconnects.
    pub async fn subscribe_room(&self, room: &str) {
        if !self.is_redis() {
            return;
        }
        let channel = channel_of(room);
        if let Err(err) = self
            .redis(|mut link| async move { link.sink.subscribe(channel).await })
            .await
        {
            tracing::warn!(room, %err, "cannot subscribe now; will on reconnect");
        }
    }

    /// Where `room`'s history is now: the epoch and the id of its last message (`0-0` for a
    /// room nobody has spoken in yet). A member joining without `since` starts from here,
    /// read *before* it is subscribed (see `node::join`), so whatever is said between the
    /// read and the subscription is replayed, not lost. `None` while the broker is down.
    pub async fn current_position(&self, room: &str) -> Option<Position> {
        if !self.is_redis() {
            return Some(Position {
                epoch: self.inner.local_epoch.clone(),
                id: StreamId {
                    ms: self.inner.local_seq.load(Ordering::Relaxed),
                    seq: 0,
                },
            });
        }
        let status = self.status();
        let epoch = status.epoch.filter(|_| status.up)?;
        let key = history_of(room);
        let info: HashMap<String, redis::Value> = match self
            .redis(|mut link| async move {
                let info: redis::RedisResult<HashMap<String, redis::Value>> = redis::cmd("XINFO")
                    .arg("STREAM")
                    .arg(&key)
                    .query_async(&mut link.conn)
                    .await;
                // "no such key": a room without history yet.
                Ok(info.unwrap_or_default())
            })
            .await
        {
            Ok(info) => info,
            Err(_) => return None,
        };
        Some(Position {
            epoch,
            id: stream_field(&info, "last-generated-id"),
        })
    }

    // ANCHOR: recover
    /// What a member rejoining `room` missed since `since`, from the room's Stream: the same
    /// answer on every node, since the Stream is in Redis.
    pub async fn recover(&self, room: &str, since: &Position) -> Recovery {
        let status = self.status();
        if !self.is_redis() {
            return Recovery::lost(
                "no broker: what was said while you were away stayed on the node you left",
            );
        }
        let Some(epoch) = status.epoch.filter(|_| status.up) else {
            return Recovery::lost("the broker is down: the history cannot be read now");
        };
        if since.epoch != epoch {
            return Recovery::lost(format!(
                "the history's epoch is {epoch}, not {}: Redis restarted and its streams are gone",
                since.epoch
            ));
        }
        let key = history_of(room);
        let limit = self.inner.settings.max_recover;
        let start = format!("({}", since.id);
        let read = self
            .redis(|mut link| async move {
                let info: redis::RedisResult<HashMap<String, redis::Value>> = redis::cmd("XINFO")
                    .arg("STREAM")
                    .arg(&key)
                    .query_async(&mut link.conn)
                    .await;
                let entries: Vec<(String, HashMap<String, String>)> =
                    link.conn.xrange_count(&key, start, "+", limit + 1).await?;
                Ok((info.ok(), entries))
            })
            .await;
        let (info, entries) = match read {
            Ok(read) => read,
            Err(err) => return Recovery::lost(format!("the history cannot be read: {err}")),
        };
        // A stream that does not exist has nothing newer than anything, and lost nothing.
        let info = info.unwrap_or_default();
        let (last, trimmed) = (
            stream_field(&info, "last-generated-id"),
            stream_field(&info, "max-deleted-entry-id"),
        );
        if since.id > last {
            return Recovery::lost(format!(
                "since {} is ahead of the room's history (last id {last})",
                since.id
            ));
        }
        if trimmed > since.id {
            return Recovery::lost(format!(
                "the history was trimmed past {} (up to {trimmed}): messages are gone",
                since.id
            ));
        }
        if entries.len() > limit {
            return Recovery::lost(format!(
                "more than {limit} messages were missed: reload the room instead"
            ));
        }
        let mut missed = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let parsed = id.parse::<StreamId>().ok().zip(
                fields
                    .get("msg")
                    .and_then(|json| serde_json::from_str::<Said>(json).ok()),
            );
            let Some((id, said)) = parsed else {
                self.inner.metrics.malformed();
                tracing::warn!(room, %id, "a malformed history entry, skipped");
                continue;
            };
            missed.push(RoomMessage {
                said,
                position: Some(Position {
                    epoch: epoch.clone(),
                    id,
                }),
                recovered: true,
            });
        }
        Recovery {
            recovered: true,
            reason: format!(
                "{} missed message(s) replayed from the history",
                missed.len()
            ),
            missed,
        }
    }
    // ANCHOR_END: recover

    // ANCHOR: presence
    /// Records that `member` is in `room` (with an expiry) and tells the room.
    pub async fn joined(&self, room: &str, member: &Presence) {
        self.announce(room, json!({ "room": room, "joined": member }));
        if !self.is_redis() {
            return;
        }
        let (key, entry, deadline) = (presence_of(room), member.key(), self.deadline_ms());
        if let Err(err) = self
            .redis(
                |mut link| async move { link.conn.zadd::<_, _, _, ()>(key, entry, deadline).await },
            )
            .await
        {
            tracing::warn!(room, %err, "presence not recorded now; the heartbeat will");
        }
    }

    /// Removes `member` from `room`'s presence and tells the room, once: if another node's
    /// heartbeat expired the entry first, that node already told it.
    pub async fn left(&self, room: &str, member: &Presence, reason: &str) {
        if !self.is_redis() {
            self.announce(
                room,
                json!({ "room": room, "left": member, "reason": reason }),
            );
            return;
        }
        let (key, entry) = (presence_of(room), member.key());
        let removed = self
            .redis(|mut link| async move { link.conn.zrem::<_, _, u32>(key, entry).await })
            .await;
        // Down: the entry expires by itself, and the node that removes it says so.
        if matches!(removed, Ok(1)) {
            self.announce(
                room,
                json!({ "room": room, "left": member, "reason": reason }),
            );
        }
    }

    /// Who is in `room`, on every node: the entries that have not expired. Without a
    /// broker, this node's members only.
    pub async fn members(&self, room: &str) -> Result<Vec<Presence>, BrokerError> {
        if !self.is_redis() {
            return Ok(self
                .inner
                .rooms
                .members_of(room)
                .into_iter()
                .map(|(conn, name)| Presence {
                    name,
                    node: self.inner.node.clone(),
                    conn,
                })
                .collect());
        }
        let (key, now) = (presence_of(room), now_ms());
        let entries: Vec<String> = self
            .redis(|mut link| async move { link.conn.zrangebyscore(key, now, "+inf").await })
            .await?;
        let mut members: Vec<Presence> =
            entries.iter().filter_map(|e| Presence::parse(e)).collect();
        members.sort();
        Ok(members)
    }

    /// The presence heartbeat: pushes the expiry of every local member forward, then removes
    /// the expired entries of the rooms this node serves, announcing each removal once
    /// (`ZREM` answers 1 to exactly one node).
    pub async fn refresh_presence(&self) -> Result<(), BrokerError> {
        let members = self.inner.rooms.members();
        let deadline = self.deadline_ms();
        let node = self.inner.node.clone();
        let mut pipe = redis::pipe();
        for (room, conn, name) in &members {
            let entry = Presence {
                name: name.clone(),
                node: node.clone(),
                conn: *conn,
            };
            pipe.zadd(presence_of(room), entry.key(), deadline).ignore();
        }
        self.redis(|mut link| async move { pipe.query_async::<()>(&mut link.conn).await })
            .await?;
        let now = now_ms();
        for room in self.inner.rooms.names() {
            let key = presence_of(&room);
            let expired: Vec<String> = self
                .redis(|mut link| {
                    let key = key.clone();
                    async move { link.conn.zrangebyscore(key, "-inf", now).await }
                })
                .await?;
            for entry in expired {
                let Some(member) = Presence::parse(&entry) else {
                    continue;
                };
                let removed: u32 = self
                    .redis(|mut link| {
                        let key = key.clone();
                        async move { link.conn.zrem(key, entry).await }
                    })
                    .await?;
                if removed == 1 {
                    tracing::info!(room, member = %member.key(), "presence expired");
                    let note = json!({ "room": room, "left": member, "reason": "expired: its node stopped refreshing it" });
                    self.announce(&room, note);
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: presence

    /// Tells `room`'s members, on every node, of a presence change. Presence events are
    /// published but not kept in the history: what a rejoining client needs is the member
    /// list (`members`), not every join and leave it missed.
    fn announce(&self, room: &str, event: serde_json::Value) {
        let payload = event.to_string();
        if !self.is_redis() || self.link().is_none() {
            if let Ok(frame) = encode("presence", &event) {
                self.inner.rooms.deliver(room, Delivery::Presence(frame));
            }
            return;
        }
        let broker = self.clone();
        let channel = channel_of(room);
        tokio::spawn(async move {
            let published = broker
                .redis(|mut link| async move {
                    link.conn
                        .publish::<_, _, ()>(channel, format!("p {payload}"))
                        .await
                })
                .await;
            if let Err(err) = published {
                tracing::debug!(%err, "presence event not published");
            }
        });
    }

    fn deadline_ms(&self) -> u64 {
        let ttl = u64::try_from(self.inner.settings.presence_ttl.as_millis()).unwrap_or(u64::MAX);
        now_ms().saturating_add(ttl)
    }

    // ANCHOR: incoming
    /// One message from a room's channel: a room message (`m <epoch> <id> <json>`) or a
    /// presence event (`p <json>`), handed to the room's local members. Anything else
    /// (someone else publishing on our channel, a bug) is counted and dropped: it must
    /// never take the node down.
    fn incoming(&self, channel: &str, payload: &str) {
        self.inner.metrics.from_broker();
        let Some(room) = room_of(channel) else {
            return self.malformed(channel, "not a room channel");
        };
        if let Some(json) = payload.strip_prefix("p ") {
            match serde_json::from_str::<serde_json::Value>(json) {
                Ok(event) => match encode("presence", event) {
                    Ok(frame) => {
                        self.inner.rooms.deliver(room, Delivery::Presence(frame));
                    }
                    Err(_) => self.malformed(channel, "presence not encodable"),
                },
                Err(_) => self.malformed(channel, "presence is not JSON"),
            }
            return;
        }
        let mut parts = payload.splitn(4, ' ');
        let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("m"), Some(epoch), Some(id), Some(json)) => {
                let position = format!("{epoch}:{id}").parse::<Position>().ok();
                let said = serde_json::from_str::<Said>(json).ok();
                position.zip(said)
            }
            _ => None,
        };
        match parsed {
            Some((position, said)) if said.room == room => self.deliver_message(said, position),
            _ => self.malformed(channel, "not `m <epoch> <id> <json>` for this room"),
        }
    }
    // ANCHOR_END: incoming

    fn malformed(&self, channel: &str, why: &str) {
        self.inner.metrics.malformed();
        tracing::warn!(channel, why, "a malformed message from the broker, dropped");
    }

    // ANCHOR: run
    /// The supervisor of the Redis connection, for the node's lifetime: connect, subscribe
    /// to every local room, read the channels; when the connection breaks, say the broker
    /// is down and try again after a jittered backoff. Also runs the presence heartbeat.
    /// Returns at once without a broker, and when `shutdown` starts.
    pub async fn run(self, shutdown: kit::Shutdown) {
        let BrokerKind::Redis(url) = self.inner.kind.clone() else {
            return;
        };
        let settings = self.inner.settings;
        let mut attempt = 0u32;
        let mut connected_before = false;
        while !shutdown.is_started() {
            match self.connect(&url).await {
                Ok(mut messages) => {
                    attempt = 0;
                    if connected_before {
                        self.inner.metrics.reconnected();
                    }
                    connected_before = true;
                    let mut heartbeat = tokio::time::interval(settings.presence_ttl / 3);
                    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut watch_shutdown = shutdown.clone();
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => {
                                    let channel = message.get_channel_name().to_owned();
                                    match message.get_payload::<String>() {
                                        Ok(payload) => self.incoming(&channel, &payload),
                                        Err(_) => self.malformed(&channel, "payload is not text"),
                                    }
                                }
                                None => {
                                    self.link_lost("redis closed the subscription connection".into());
                                    break;
                                }
                            },
                            _ = heartbeat.tick() => {
                                if let Err(err) = self.refresh_presence().await {
                                    tracing::warn!(%err, "presence heartbeat failed");
                                }
                            }
                            () = self.inner.lost.notified() => {
                                if self.link().is_none() {
                                    break;
                                }
                            }
                            () = wait_started(&mut watch_shutdown) => return,
                        }
                    }
                }
                Err(err) => {
                    self.set_status(false, None, format!("cannot reach redis at {url}: {err}"));
                }
            }
            let delay = settings.reconnect.delay(attempt);
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
        }
    }
    // ANCHOR_END: run

    /// Opens both connections, learns the epoch, subscribes to every local room, and
    /// re-records local presence. The broker is up when this returns `Ok`.
    async fn connect(&self, url: &str) -> Result<redis::aio::PubSubStream, BrokerError> {
        let timeout = self.inner.settings.command_timeout;
        let connecting = async {
            let client = redis::Client::open(url)?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let (mut sink, stream) = client.get_async_pubsub().await?.split();
            // The first node to find no epoch stores one; every node then reads the same.
            let _: () = redis::cmd("SET")
                .arg(EPOCH_KEY)
                .arg(new_epoch())
                .arg("NX")
                .query_async(&mut conn)
                .await?;
            let epoch: String = conn.get(EPOCH_KEY).await?;
            let channels: Vec<String> = self
                .inner
                .rooms
                .names()
                .iter()
                .map(|r| channel_of(r))
                .collect();
            if !channels.is_empty() {
                sink.subscribe(channels).await?;
            }
            Ok::<_, redis::RedisError>((Link { conn, sink }, stream, epoch))
        };
        let (link, stream, epoch) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| BrokerError::Timeout(timeout))??;
        *self
            .inner
            .link
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(link);
        tracing::info!(node = %self.inner.node, %epoch, "broker up");
        self.set_status(
            true,
            Some(epoch.clone()),
            format!("connected to redis, epoch {epoch}"),
        );
        // Members who joined while Redis was away are in no presence set yet.
        if let Err(err) = self.refresh_presence().await {
            tracing::warn!(%err, "presence not refreshed after connecting");
        }
        Ok(stream)
    }
}

/// A stream id field of an `XINFO STREAM` answer; `0-0` when missing.
fn stream_field(info: &HashMap<String, redis::Value>, name: &str) -> StreamId {
    info.get(name)
        .and_then(|value| redis::from_redis_value_ref::<String>(value).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or_default()
}

/// Waits until `shutdown` has started.
async fn wait_started(shutdown: &mut kit::Shutdown) {
    while !shutdown.is_started() {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Milliseconds since the Unix epoch, by this machine's clock. Presence expiry compares
/// deadlines written by different nodes, so their clocks must agree to well within the
/// presence TTL: true on one machine, and on machines kept in step by NTP.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
