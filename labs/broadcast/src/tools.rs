//! What the lab's command-line tools share: open many subscribers, publish, and tally what
//! each subscriber received (how many, in order or not, how late, how it ended).
//!
//! Used by `broadcast-subscribers` (open N subscribers and report) and by the benchmark
//! harness's fan-out workload (`bench run --workload fanout`, chapter 9). Tool code, so
//! errors are `anyhow` with context, as in the binaries.
//!
//! Delivery latency is measured from the publisher's clock to the subscriber's: both run in
//! the same process (the server runs in another), and the payload carries the publish time
//! as microseconds since a shared [`Instant`].

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client connection as tokio-tungstenite opens it.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The parts of an incoming envelope a subscriber reads.
#[derive(Debug, Deserialize)]
struct Incoming<'a> {
    /// The event name; only `broadcast` counts.
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    /// The broadcast, when it is one.
    data: Option<IncomingBroadcast>,
}

/// The parts of a broadcast a subscriber reads.
#[derive(Debug, Deserialize)]
struct IncomingBroadcast {
    /// Its number.
    #[serde(default)]
    seq: u64,
    /// Whether the publisher waits for a confirmation.
    #[serde(default)]
    confirm: bool,
    /// The payload, if it carries the publish time.
    #[serde(default)]
    payload: Option<Stamp>,
}

/// The publish time a tool's payload carries.
#[derive(Debug, Deserialize)]
struct Stamp {
    /// Microseconds since the publisher's clock started.
    t_us: Option<u64>,
    /// Updates coalesced into this one broadcast, each with its own time.
    #[serde(default)]
    batch: Vec<Stamp>,
}

/// What one subscriber saw.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Broadcasts received.
    pub received: u64,
    /// Broadcasts received with a `seq` lower than the one before (never expected).
    pub out_of_order: u64,
    /// The close code and reason, if the server closed the connection.
    pub closed: Option<(u16, String)>,
}

/// Everything the subscribers of one run saw.
#[derive(Debug, Default)]
pub struct Totals {
    /// One tally per subscriber.
    pub tallies: Vec<Tally>,
    /// Delivery latencies in microseconds, of every broadcast that carried a time.
    pub latencies_us: Vec<u64>,
}

/// How the subscribers behave.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Topics each subscriber joins.
    pub topics: Vec<String>,
    /// Of every `confirm_every` subscribers, one confirms what asks for it; 0: none do.
    pub confirm_every: usize,
}

/// Subscribers running in tasks of their own, until [`Subscribers::finish`].
#[derive(Debug)]
pub struct Subscribers {
    /// One task per subscriber.
    tasks: Vec<JoinHandle<Tally>>,
    /// Tells every task to stop.
    stop: watch::Sender<bool>,
    /// Broadcasts received by all of them, so far.
    received: Arc<std::sync::atomic::AtomicU64>,
    /// The latencies, appended by each task when it ends.
    latencies: Arc<Mutex<Vec<u64>>>,
}

/// Opens `n` subscribers to `url` (`ws://127.0.0.1:3005/ws`), each reading in its own task.
/// `clock` is the publisher's time base.
pub async fn open(
    url: &str,
    n: usize,
    behaviour: &Behaviour,
    clock: Instant,
) -> anyhow::Result<Subscribers> {
    let (stop, stopped) = watch::channel(false);
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut ws = connect(url).await?;
        if !behaviour.topics.is_empty() {
            let subscribe = json!({ "event": "subscribe", "data": { "topics": behaviour.topics } });
            ws.send(Message::text(subscribe.to_string())).await?;
        }
        let confirm = behaviour.confirm_every > 0 && i % behaviour.confirm_every == 0;
        tasks.push(tokio::spawn(read(
            ws,
            confirm,
            clock,
            stopped.clone(),
            Arc::clone(&received),
            Arc::clone(&latencies),
        )));
    }
    Ok(Subscribers {
        tasks,
        stop,
        received,
        latencies,
    })
}

/// The read buffer of each tool connection. tungstenite's default is 128 KiB, and it zeroes
/// the free part of its read buffer before every `read` system call: with the default, each
/// received message cost a subscriber a 128 KiB `memset`, more CPU than the server spent
/// delivering it (a profile of the fan-out benchmark showed a fifth of all CPU time there).
/// Broadcasts are a few hundred bytes; 4 KiB holds many of them.
pub const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// Opens one WebSocket, with a clear error if the server is not there.
pub async fn connect(url: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(url, Some(config), false),
    )
    .await
    .with_context(|| format!("connecting to {url} timed out"))?
    .with_context(|| {
        format!("connecting to {url}: is the lab running (cargo run -p lab-broadcast)?")
    })?;
    Ok(ws)
}

/// One subscriber's loop.
async fn read(
    mut ws: Ws,
    confirm: bool,
    clock: Instant,
    mut stop: watch::Receiver<bool>,
    received: Arc<std::sync::atomic::AtomicU64>,
    latencies: Arc<Mutex<Vec<u64>>>,
) -> Tally {
    let mut tally = Tally::default();
    let mut mine = Vec::new();
    let mut last_seq = 0;
    loop {
        let message = tokio::select! {
            _ = stop.changed() => break,
            message = ws.next() => message,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                tally.closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        };
        let now = clock.elapsed().as_micros() as u64;
        // Only the fields we need, typed: a generic `Value` would cost the client more than
        // the server spends delivering the message, and the benchmark measures the server.
        let Ok(envelope) = serde_json::from_str::<Incoming<'_>>(text.as_str()) else {
            continue;
        };
        let Some(data) = envelope.data.filter(|_| envelope.event == "broadcast") else {
            continue;
        };
        let seq = data.seq;
        if seq < last_seq {
            tally.out_of_order += 1;
        }
        last_seq = seq;
        tally.received += 1;
        received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(stamp) = data.payload {
            let stamps = stamp
                .t_us
                .into_iter()
                .chain(stamp.batch.iter().filter_map(|s| s.t_us));
            mine.extend(stamps.map(|sent| now.saturating_sub(sent)));
        }
        if confirm && data.confirm {
            let answer = json!({ "event": "confirm", "data": { "seq": seq } });
            if ws.send(Message::text(answer.to_string())).await.is_err() {
                break;
            }
        }
    }
    latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(mine);
    tally
}

impl Subscribers {
    /// Broadcasts received by all subscribers so far.
    pub fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until `total` broadcasts were received in all, or `deadline` passes; `true`
    /// if they all came.
    pub async fn wait_for(&self, total: u64, deadline: Duration) -> bool {
        wait_for_count(&self.received, total, deadline).await
    }

    /// Stops every subscriber and collects what they saw.
    pub async fn finish(self) -> Totals {
        let _ = self.stop.send(true);
        let mut tallies = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            tallies.push(task.await.unwrap_or_default());
        }
        let latencies_us = std::mem::take(
            &mut *self
                .latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        Totals {
            tallies,
            latencies_us,
        }
    }
}

/// The text of every tool broadcast: the size of a real ticker update, so the frames on the
/// wire are the size a real fan-out moves.
pub const TICKER: &str = "BTC/USD 97 412.50 +0.42% vol 1 204.7; the kind of update a ticker pushes";

/// The `publish` envelope of message `i`: to everyone but the publisher, stamped with the
/// time since `clock`, padded with text to a realistic size; with an `id` if `ack_id` is set.
pub fn publish_message(
    i: u64,
    clock: Instant,
    ack_id: Option<u64>,
    confirm_ms: Option<u64>,
) -> String {
    let mut envelope = json!({
        "event": "publish",
        "data": {
            "to": { "kind": "others" },
            "payload": {
                "i": i,
                "t_us": clock.elapsed().as_micros() as u64,
                "text": TICKER,
            },
        },
    });
    if let Some(ms) = confirm_ms {
        envelope["data"]["confirm_ms"] = json!(ms);
    }
    if let Some(id) = ack_id {
        envelope["id"] = json!(id);
    }
    envelope.to_string()
}

/// The `publish` envelope of a batch: the updates stamped `stamps_us` (each made when its
/// update was produced), coalesced into one broadcast to everyone but the publisher.
pub fn publish_batch(first: u64, stamps_us: &[u64]) -> String {
    let batch: Vec<serde_json::Value> = stamps_us
        .iter()
        .enumerate()
        .map(|(k, t_us)| {
            json!({
                "i": first + k as u64,
                "t_us": t_us,
                "text": TICKER,
            })
        })
        .collect();
    json!({
        "event": "publish",
        "data": { "to": { "kind": "others" }, "payload": { "batch": batch } },
    })
    .to_string()
}

/// Waits until `counter` reaches `total`, or `deadline` passes; `true` if it did. Polls every
/// 5 ms: the subscribers count what they receive, and the benchmark only needs to know when
/// they are done.
pub async fn wait_for_count(counter: &AtomicU64, total: u64, deadline: Duration) -> bool {
    let give_up = Instant::now() + deadline;
    while counter.load(std::sync::atomic::Ordering::Relaxed) < total {
        if Instant::now() > give_up {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// The value at quantile `q` (0 to 1) of sorted `values`.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
