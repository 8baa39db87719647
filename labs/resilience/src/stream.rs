//! The stream: numbered updates, a bounded history of them, and the recovery of what a
//! reconnecting client missed.
//!
//! Every update has a [`Position`]: the stream's **epoch** (a random id drawn when the server
//! starts, so a restarted server has a new one) and an **offset** (1, 2, 3... within the
//! epoch). A client remembers the position of the last update it saw and, when it
//! reconnects, sends it back as `?since=<epoch>:<offset>`. The server answers with what came
//! after it, in order, and says `recovered: true`, or says `recovered: false` when it cannot:
//!
//! - the epoch is not the server's (it restarted: its history died with the old process);
//! - the history no longer reaches back far enough (it keeps [`HistoryLimits::max_len`]
//!   updates, none older than [`HistoryLimits::max_age`]), so something in the gap is gone;
//! - the offset is ahead of the stream (a client that never talked to this epoch).
//!
//! A client told `false` cannot rebuild its state from the stream alone: it must fetch a
//! fresh snapshot (here: it just carries on from the current update, and says so).
//!
//! The names are Centrifugo's, whose history-and-recovery this is: a publication's `offset`
//! within a stream `epoch`, a subscribe request with `recover`, `since: {offset, epoch}`, and
//! a reply with `recovered` and the missed `publications`. Socket.IO calls the same thing
//! *connection state recovery*: the server keeps the packets of a vanished session for
//! `maxDisconnectionDuration`, and after the reconnection `socket.recovered` is `true` or
//! `false`. Chapter 10 ("Best practices, measured") puts them side by side.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lab_gateway::server::encode;
use lab_gateway::{ConnId, Server};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The close code for a subscriber too slow to keep up: 1013, try again later. See
/// [`Stream::publish_with`].
pub const SLOW_CONSUMER: u16 = 1013;

/// The close code of [`Stream::restart`]: 1012, service restart.
pub const SERVICE_RESTART: u16 = 1012;

// ANCHOR: position
/// Where an update sits in the stream: which server lifetime, and which number in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The stream's id for this server's lifetime.
    pub epoch: String,
    /// The update's number within the epoch, from 1; 0 is "before the first update".
    pub offset: u64,
}
// ANCHOR_END: position

impl fmt::Display for Position {
    /// `<epoch>:<offset>`, the form of the `since` query parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.offset)
    }
}

/// Why a `since` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("since must be <epoch>:<offset>, an id of 1 to 64 letters or digits and a number")]
pub struct BadPosition;

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, offset) = s.rsplit_once(':').ok_or(BadPosition)?;
        let epoch_ok =
            (1..=64).contains(&epoch.len()) && epoch.bytes().all(|b| b.is_ascii_alphanumeric());
        let offset = offset.parse().map_err(|_| BadPosition)?;
        if !epoch_ok {
            return Err(BadPosition);
        }
        Ok(Self {
            epoch: epoch.to_owned(),
            offset,
        })
    }
}

/// A new epoch: 64 random bits in hex. Random, not a counter or the start time alone, so
/// two servers started in the same second (or one restarted from a backup) never share one.
pub fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One update of the ticker: a price, and where it sits in the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The stream's epoch.
    pub epoch: String,
    /// The update's number within the epoch.
    pub offset: u64,
    /// The ticker's value: a made-up price, a random walk.
    pub price: f64,
}

impl Update {
    /// The update's position.
    pub fn position(&self) -> Position {
        Position {
            epoch: self.epoch.clone(),
            offset: self.offset,
        }
    }
}

// ANCHOR: limits
/// How much history the server keeps: the smaller of a count and an age. The count bounds
/// memory whatever the rate; the age bounds how long a client may be gone and still
/// recover (Socket.IO's `maxDisconnectionDuration`; Centrifugo's `history_size` and
/// `history_ttl` are the same pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryLimits {
    /// The most updates kept.
    pub max_len: usize,
    /// The oldest update kept.
    pub max_age: Duration,
}

impl Default for HistoryLimits {
    /// 1 000 updates, 2 minutes: a phone that loses its network for a minute recovers
    /// everything at the lab's default rate of 2 updates a second.
    fn default() -> Self {
        Self {
            max_len: 1000,
            max_age: Duration::from_secs(120),
        }
    }
}
// ANCHOR_END: limits

/// What a (re)subscribing client is told: the `data` of the `subscribed` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The stream's epoch now.
    pub epoch: String,
    /// The offset of the latest update now (0: none yet).
    pub offset: u64,
    /// Whether the client asked to recover (it sent `since`).
    pub was_recovering: bool,
    /// Whether every update after `since` is in `missed`: the client's state is whole.
    pub recovered: bool,
    /// Why, in words: what a learner should read.
    pub reason: String,
    /// The updates after `since`, in order; empty unless `recovered`.
    pub missed: Vec<Update>,
}

// ANCHOR: history
/// The bounded history of one epoch.
#[derive(Debug)]
pub struct History {
    /// This server lifetime's epoch.
    epoch: String,
    /// The bounds.
    limits: HistoryLimits,
    /// The retained updates, oldest first, with when each was published.
    entries: VecDeque<(Instant, Update)>,
    /// The offset of the latest update (0: none yet).
    latest: u64,
}

impl History {
    /// An empty history for `epoch`.
    pub fn new(epoch: String, limits: HistoryLimits) -> Self {
        Self {
            epoch,
            limits,
            entries: VecDeque::new(),
            latest: 0,
        }
    }

    /// The epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The offset of the latest update.
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The offsets still retained, oldest and newest, after dropping what is too old.
    pub fn retained(&mut self, now: Instant) -> Option<(u64, u64)> {
        self.prune(now);
        Some((
            self.entries.front()?.1.offset,
            self.entries.back()?.1.offset,
        ))
    }

    /// Appends the next update, with `price`, published at `now`.
    pub fn push(&mut self, now: Instant, price: f64) -> Update {
        self.latest += 1;
        let update = Update {
            epoch: self.epoch.clone(),
            offset: self.latest,
            price,
        };
        self.entries.push_back((now, update.clone()));
        self.prune(now);
        update
    }

    /// Drops what is over the count, then what is over the age.
    fn prune(&mut self, now: Instant) {
        while self.entries.len() > self.limits.max_len {
            self.entries.pop_front();
        }
        while self
            .entries
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.limits.max_age)
        {
            self.entries.pop_front();
        }
    }

    /// What a client that last saw `since` (or nothing: a first subscription) gets now.
    pub fn recover(&mut self, since: Option<&Position>, now: Instant) -> Recovery {
        self.prune(now);
        let answer = |recovered: bool, reason: &str, missed: Vec<Update>| Recovery {
            epoch: self.epoch.clone(),
            offset: self.latest,
            was_recovering: since.is_some(),
            recovered,
            reason: reason.to_owned(),
            missed,
        };
        let Some(since) = since else {
            return answer(false, "a first subscription: the stream starts now", vec![]);
        };
        if since.epoch != self.epoch {
            return answer(
                false,
                "another epoch: the server restarted and its history is gone",
                vec![],
            );
        }
        if since.offset > self.latest {
            return answer(false, "offset ahead of the stream", vec![]);
        }
        if since.offset == self.latest {
            return answer(true, "nothing was missed", vec![]);
        }
        // The first missed update must still be here; everything after it then is too.
        let first_missed = since.offset + 1;
        match self.entries.front() {
            Some((_, oldest)) if oldest.offset <= first_missed => {
                let missed = self
                    .entries
                    .iter()
                    .map(|(_, update)| update)
                    .filter(|update| update.offset >= first_missed)
                    .cloned()
                    .collect();
                answer(true, "every missed update was in the history", missed)
            }
            _ => answer(
                false,
                "the history no longer covers the gap: some updates are gone",
                vec![],
            ),
        }
    }
}
// ANCHOR_END: history

/// What the stream keeps under its lock.
#[derive(Debug)]
struct State {
    /// The history of this epoch.
    history: History,
    /// The connections receiving the stream.
    subscribers: BTreeSet<ConnId>,
    /// The fallback's subscribers (Server-Sent Events, [`crate::fallback`]): each one's
    /// queue of updates, by a number of its own.
    fallback: BTreeMap<u64, mpsc::Sender<Update>>,
    /// The number the next fallback subscriber gets.
    next_fallback: u64,
    /// WebSocket subscribers the server does not write to until the given instant: the
    /// page's "Go silent" (a half-open link, as the client sees it).
    silent: BTreeMap<ConnId, Instant>,
    /// The ticker's last price.
    price: f64,
}

// ANCHOR: stream
/// The live stream: the history and the subscribers, behind one lock so that a client
/// subscribing while an update is published gets it exactly once. Either the update is
/// in the history it recovers from, or it is sent to it as a subscriber; never both, never
/// neither. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Stream {
    /// A std `Mutex`: each critical section is a few map operations and non-blocking
    /// `try_send`s into connection queues, never an `.await`.
    state: Arc<Mutex<State>>,
    /// The gateway's handle on the connections, set once the gateway is built.
    server: Arc<OnceLock<Server>>,
    /// The number of subscribers, for tests and the page's counters to wait on.
    count: Arc<watch::Sender<usize>>,
    /// How many times the stream was restarted ([`Stream::restart`]): the fallback's
    /// streams watch it to say goodbye.
    restarts: Arc<watch::Sender<u64>>,
    /// What `/metrics` reports: the stream counts what it publishes and sends, the
    /// gateway's hooks count opens and closes into the same numbers.
    metrics: Metrics,
}
// ANCHOR_END: stream

impl Stream {
    /// A stream with a new epoch and an empty history bounded by `limits`.
    pub fn new(limits: HistoryLimits) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                history: History::new(new_epoch(), limits),
                subscribers: BTreeSet::new(),
                fallback: BTreeMap::new(),
                next_fallback: 0,
                silent: BTreeMap::new(),
                price: 100.0,
            })),
            server: Arc::new(OnceLock::new()),
            count: Arc::new(watch::Sender::new(0)),
            restarts: Arc::new(watch::Sender::new(0)),
            metrics: Metrics::new(),
        }
    }

    /// Attaches the gateway's server handle (done once, by the gateway's `after_init`).
    pub fn attach(&self, server: &Server) {
        let _ = self.server.set(server.clone());
    }

    /// Locks the state. Every critical section leaves it whole, so a poisoned lock (a
    /// panic elsewhere while it was held) is still safe to use.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lab's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The text of a `/metrics` scrape, with the gateway's gauges read now.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode(self.server.get())
    }

    /// The stream's epoch.
    pub fn epoch(&self) -> String {
        self.state().history.epoch().to_owned()
    }

    /// The position of the latest update.
    pub fn position(&self) -> Position {
        let state = self.state();
        Position {
            epoch: state.history.epoch().to_owned(),
            offset: state.history.latest(),
        }
    }

    /// The offsets the history still holds, oldest and newest.
    pub fn retained(&self) -> Option<(u64, u64)> {
        self.state().history.retained(Instant::now())
    }

    /// How many connections receive the stream, over either transport.
    pub fn subscriber_count(&self) -> usize {
        let state = self.state();
        state.subscribers.len() + state.fallback.len()
    }

    /// The WebSocket connections receiving the stream.
    pub fn subscribers(&self) -> Vec<ConnId> {
        self.state().subscribers.iter().copied().collect()
    }

    /// Watches the number of subscribers.
    pub fn watch_subscribers(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    // ANCHOR: publish
    /// Publishes the ticker's next update (a small random step of the price) to every
    /// subscriber, and keeps it in the history.
    pub fn tick(&self) -> Update {
        let step = (rand::random::<f64>() - 0.5) * 2.0;
        self.publish_with(|price| ((price + step).max(1.0) * 100.0).round() / 100.0)
    }

    /// Publishes an update whose price is `next(previous price)`.
    pub fn publish_with(&self, next: impl FnOnce(f64) -> f64) -> Update {
        let mut state = self.state();
        state.price = next(state.price);
        let price = state.price;
        let update = state.history.push(Instant::now(), price);
        self.metrics.published();
        let now = Instant::now();
        state.silent.retain(|_, until| *until > now);
        if let (Some(server), Ok(frame)) = (self.server.get(), encode("update", &update)) {
            for &id in &state.subscribers {
                if state.silent.contains_key(&id) {
                    continue;
                }
                // The slow-consumer policy of this lab: a client whose queue is full is
                // closed with 1013 ("try again later"), not the gateway's 1008, because
                // here it *can* come back: it reconnects with `since` and catches up from
                // the history. Nobody else waits for it meanwhile.
                match server.offer_frame(id, frame.clone(), 0) {
                    Ok(true) => self.metrics.sent("update", frame.len()),
                    Ok(false) => {
                        server.disconnect(id, SLOW_CONSUMER, "too slow: reconnect and recover");
                    }
                    // Gone already: its `on_disconnect` is about to remove it.
                    Err(_) => {}
                }
            }
        }
        // The fallback's subscribers, with the same policy: a full queue ends the stream
        // (dropping its sender), and the client comes back with `Last-Event-ID`.
        let mut slow = Vec::new();
        for (&id, queue) in &state.fallback {
            match queue.try_send(update.clone()) {
                Ok(()) => self.metrics.sent("update", update_bytes(&update)),
                Err(_) => slow.push(id),
            }
        }
        for id in slow {
            state.fallback.remove(&id);
        }
        self.count
            .send_replace(state.subscribers.len() + state.fallback.len());
        update
    }
    // ANCHOR_END: publish

    // ANCHOR: subscribe
    /// Subscribes connection `id`, which last saw `since`: it gets its [`Recovery`] as one
    /// `subscribed` event, then every update published after it.
    pub fn subscribe(&self, id: ConnId, since: Option<&Position>) -> Recovery {
        let mut state = self.state();
        let recovery = state.history.recover(since, Instant::now());
        if let (Some(server), Ok(frame)) = (self.server.get(), encode("subscribed", &recovery)) {
            let bytes = frame.len();
            if server.emit_frame(id, frame).is_ok() {
                self.metrics.sent("subscribed", bytes);
            }
        }
        self.metrics.subscribed(&recovery);
        state.subscribers.insert(id);
        self.count
            .send_replace(state.subscribers.len() + state.fallback.len());
        recovery
    }
    // ANCHOR_END: subscribe

    /// Removes connection `id` from the subscribers.
    pub fn leave(&self, id: ConnId) {
        let mut state = self.state();
        state.subscribers.remove(&id);
        state.silent.remove(&id);
        self.count
            .send_replace(state.subscribers.len() + state.fallback.len());
    }

    // ANCHOR: controls
    /// Stops writing updates to connection `id` for `how_long`: the updates go on into the
    /// history, none reaches it, and the TCP connection stays up. From the client's side
    /// that is a half-open link; its heartbeat must notice.
    pub fn silence(&self, id: ConnId, how_long: Duration) {
        self.state().silent.insert(id, Instant::now() + how_long);
    }

    /// Until when connection `id` is silenced, if it is.
    pub fn silent_until(&self, id: ConnId) -> Option<Instant> {
        let state = self.state();
        state
            .silent
            .get(&id)
            .copied()
            .filter(|until| *until > Instant::now())
    }

    /// Restarts the stream as a new server process would: a new epoch, an empty history,
    /// and every subscriber told so (WebSocket: close 1012 "service restart"; fallback:
    /// `goodbye` 1012), so that each comes back and is told `recovered: false`.
    pub fn restart(&self) -> String {
        let mut state = self.state();
        let limits = state.history.limits;
        state.history = History::new(new_epoch(), limits);
        if let Some(server) = self.server.get() {
            for &id in &state.subscribers {
                server.disconnect(id, SERVICE_RESTART, "the stream restarted: a new epoch");
            }
        }
        self.restarts.send_modify(|n| *n += 1);
        state.history.epoch().to_owned()
    }

    /// Watches the number of restarts.
    pub fn watch_restarts(&self) -> watch::Receiver<u64> {
        self.restarts.subscribe()
    }
    // ANCHOR_END: controls

    // ANCHOR: subscribe_fallback
    /// Subscribes a fallback client (Server-Sent Events) that last saw `since`: its
    /// [`Recovery`], its number (for [`Stream::leave_fallback`]), and the queue of every
    /// update published after the recovery, `queue` deep. Under the same lock as the
    /// WebSocket's [`Stream::subscribe`], so an update is either in the recovery or in the
    /// queue, never both, never neither. The queue ends (its sender dropped) when the
    /// client falls `queue` updates behind.
    pub fn subscribe_fallback(
        &self,
        since: Option<&Position>,
        queue: usize,
    ) -> (Recovery, u64, mpsc::Receiver<Update>) {
        let mut state = self.state();
        let recovery = state.history.recover(since, Instant::now());
        self.metrics.subscribed(&recovery);
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let id = state.next_fallback;
        state.next_fallback += 1;
        state.fallback.insert(id, sender);
        self.count
            .send_replace(state.subscribers.len() + state.fallback.len());
        (recovery, id, receiver)
    }
    // ANCHOR_END: subscribe_fallback

    /// Removes fallback subscriber `id` (if a slow queue has not removed it already).
    pub fn leave_fallback(&self, id: u64) {
        let mut state = self.state();
        state.fallback.remove(&id);
        self.count
            .send_replace(state.subscribers.len() + state.fallback.len());
    }
}

/// The length of an update's JSON, as the fallback sends it (for `bytes_out`).
fn update_bytes(update: &Update) -> usize {
    serde_json::to_vec(update).map_or(0, |json| json.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(max_len: usize, max_age_secs: u64) -> History {
        History::new(
            "e1".into(),
            HistoryLimits {
                max_len,
                max_age: Duration::from_secs(max_age_secs),
            },
        )
    }

    fn at(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    /// Every case of recovery: first subscription, nothing missed, a covered gap, a gap
    /// the count no longer covers, another epoch, an offset from the future.
    #[tokio::test(start_paused = true)]
    async fn recovery_cases() {
        let mut h = history(3, 60);
        let now = Instant::now();
        for i in 0..5 {
            h.push(now, f64::from(i));
        }
        assert_eq!(h.retained(now), Some((3, 5)), "the count keeps the last 3");
        let first = h.recover(None, now);
        assert!(!first.was_recovering && !first.recovered && first.missed.is_empty());
        let whole = h.recover(Some(&at("e1", 5)), now);
        assert!(whole.recovered && whole.missed.is_empty(), "{whole:?}");
        let gap = h.recover(Some(&at("e1", 2)), now);
        assert!(gap.recovered, "{gap:?}");
        let offsets: Vec<u64> = gap.missed.iter().map(|u| u.offset).collect();
        assert_eq!(offsets, [3, 4, 5], "in order, from the first missed");
        let lost = h.recover(Some(&at("e1", 1)), now);
        assert!(lost.was_recovering && !lost.recovered, "update 2 is gone");
        assert!(lost.missed.is_empty());
        assert!(!h.recover(Some(&at("e0", 5)), now).recovered, "other epoch");
        assert!(
            !h.recover(Some(&at("e1", 6)), now).recovered,
            "from the future"
        );
    }

    /// The age bound: updates older than `max_age` are gone, and a gap reaching into them
    /// is not recovered; a client that missed nothing still recovers.
    #[tokio::test(start_paused = true)]
    async fn age_bound() {
        let mut h = history(100, 10);
        let start = Instant::now();
        h.push(start, 1.0);
        h.push(start + Duration::from_secs(5), 2.0);
        let later = start + Duration::from_secs(12);
        assert_eq!(h.retained(later), Some((2, 2)), "update 1 is 12 s old");
        assert!(!h.recover(Some(&at("e1", 0)), later).recovered);
        assert!(h.recover(Some(&at("e1", 1)), later).recovered);
        let much_later = start + Duration::from_secs(60);
        assert_eq!(h.retained(much_later), None);
        assert!(h.recover(Some(&at("e1", 2)), much_later).recovered);
    }

    /// `since` parses as `<epoch>:<offset>` and nothing else.
    #[test]
    fn parse_position() {
        assert_eq!("ab12:7".parse(), Ok(at("ab12", 7)));
        for bad in ["", "ab12", ":7", "ab12:", "ab12:-1", "a b:1", "ab:1x"] {
            assert_eq!(bad.parse::<Position>(), Err(BadPosition), "{bad:?}");
        }
        assert_eq!(at("ab12", 7).to_string(), "ab12:7");
        assert_ne!(new_epoch(), new_epoch());
    }
}
