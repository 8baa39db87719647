//! One message, many receivers: the rooms workload and the fan-out workload.
//!
//! Both measure the same four things on every server, in one run, with the same client code
//! (this module) on both sides of the comparison:
//!
//! 1. **memory per idle connection**: the server's resident memory (`VmRSS`) before and
//!    after N receivers connect, divided by N;
//! 2. **delivery latency** at a steady rate (`rate` messages per second for `seconds`):
//!    from the publisher's send to each receiver's arrival, p50/p99/max (publisher and
//!    receivers share this process's clock, the server runs in another process);
//! 3. **deliveries per second in a burst**: `burst` messages sent back to back, and the time
//!    until every receiver has all of them;
//! 4. **server CPU per delivery** during the burst, from `/proc/<pid>/stat`.
//!
//! The **rooms** workload (chapter 7's benchmark) has the receivers join one room; a
//! message sent to the room reaches each member. Servers: the rooms lab, and Socket.IO's
//! rooms (`socket.join(room)`, `io.to(room).emit`). The **fan-out** workload (chapter 9's)
//! has every connected client receive every broadcast. Servers: the broadcast lab's naive
//! and scaling fan-out, the raw-TCP floor, and Socket.IO's `io.emit`.
//!
//! Socket.IO is driven over its WebSocket transport only, by our own Engine.IO client
//! ([`crate::socketio`]): the same client code drives both servers, so a difference between
//! two rows is the servers'.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use lab_broadcast::tools::{self, Behaviour};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::floor;
use crate::labs::LabServer;
use crate::procstat;
use crate::socketio::SioClient;
use crate::stats::{self, Latency};

/// Which of the two workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// N members of one room; each message goes to the room.
    Rooms,
    /// N subscribers; each broadcast goes to all of them.
    Fanout,
}

impl Shape {
    /// The workload's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Rooms => "rooms",
            Shape::Fanout => "fanout",
        }
    }
}

/// A server of the rooms or fan-out workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Receiving {
    /// One of the course's labs, or the floor.
    Lab(LabServer),
    /// Socket.IO 4 on Node (`benches/peers/socketio-server.mjs`), WebSocket transport only.
    SocketIo,
}

impl Receiving {
    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Receiving::Lab(lab) => lab.label(),
            Receiving::SocketIo => "Socket.IO (Node)",
        }
    }

    /// The servers of a workload, in table order: the floor first where there is one.
    pub fn all(shape: Shape) -> Vec<Receiving> {
        match shape {
            Shape::Rooms => vec![Receiving::Lab(LabServer::Rooms), Receiving::SocketIo],
            Shape::Fanout => vec![
                Receiving::Lab(LabServer::Floor),
                Receiving::Lab(LabServer::BroadcastNaive),
                Receiving::Lab(LabServer::BroadcastScaling),
                Receiving::SocketIo,
            ],
        }
    }
}

/// What one measurement of a rooms or fan-out workload does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeliverySpec {
    /// Rooms or fan-out.
    pub shape: Shape,
    /// Receivers (room members, subscribers).
    pub receivers: usize,
    /// Messages per second in the latency run.
    pub rate: u32,
    /// Length of the latency run.
    #[serde(with = "crate::config::duration_secs")]
    pub duration: Duration,
    /// Messages sent back to back in the throughput run.
    pub burst: u64,
}

impl DeliverySpec {
    /// Messages of the latency run.
    pub fn messages(&self) -> u64 {
        (f64::from(self.rate) * self.duration.as_secs_f64())
            .round()
            .max(1.0) as u64
    }
}

/// What one server did under one [`DeliverySpec`].
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryResult {
    /// What was measured.
    pub spec: DeliverySpec,
    /// On which server.
    pub server: Receiving,
    /// Server memory per idle connection, bytes (absent for an in-process server).
    pub idle_bytes_per_conn: Option<f64>,
    /// Delivery latency at the steady rate.
    pub latency: Latency,
    /// Deliveries the latency run should have made (messages × receivers).
    pub latency_expected: u64,
    /// Deliveries it made.
    pub latency_received: u64,
    /// Deliveries per second in the burst.
    pub burst_per_second: f64,
    /// Deliveries the burst should have made.
    pub burst_expected: u64,
    /// Deliveries it made.
    pub burst_received: u64,
    /// Server CPU per delivery during the burst, microseconds (absent in-process).
    pub server_cpu_us_per_delivery: Option<f64>,
    /// The floor only: how long the server's pass over every subscriber took.
    pub floor_pass: Option<Latency>,
    /// How busy the clients' process (this one) was during the latency run, in cores (1.0:
    /// one core all the time). Near the cores it may use, the clients, not the server, set
    /// the latency.
    pub client_cores_busy: Option<f64>,
}

/// The room every member joins.
pub const ROOM: &str = "bench";

/// How many receivers connect at the same time while the audience fills up.
const CONNECT_BATCH: usize = 50;

/// Time for the receivers of a run to get what they are owed once sending ends.
const DRAIN: Duration = Duration::from_secs(30);

/// A server started for one measurement: its address and, when it is another process, its
/// pid; dropping it stops it.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process, for `/proc` readings.
    pub pid: Option<u32>,
    /// Keeps it running.
    pub guard: Box<dyn Send>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served")
            .field("addr", &self.addr)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// Measures `server`, already started as `served`, under `spec`. `start` starts a fresh
/// one: the floor never forgets a subscriber, so its burst runs on a new server.
pub async fn measure<F, Fut>(
    spec: &DeliverySpec,
    server: Receiving,
    served: Served,
    start: F,
) -> anyhow::Result<DeliveryResult>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Served>>,
{
    let clock = Instant::now();
    let n = spec.receivers;
    // Warm the server up with one connection, so its runtime and allocator are in place
    // before its memory is read.
    drop(Publisher::connect(server, served.addr, spec.shape).await?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss = |pid: Option<u32>| pid.and_then(procstat::rss_bytes);
    let before = rss(served.pid);

    // 1. Idle memory: everyone connected, nobody in a room yet.
    let audience = Audience::open(server, spec.shape, served.addr, n, clock).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_bytes_per_conn = before
        .zip(rss(served.pid))
        .map(|(b, a)| a.saturating_sub(b) as f64 / n as f64);
    audience.join(server, served.addr, n).await?;

    // 2. Latency at a steady rate.
    let mut publisher = Publisher::connect(server, served.addr, spec.shape).await?;
    let messages = spec.messages();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / spec.rate.max(1));
    let mut passes = Vec::new();
    let client_before = procstat::cpu_ns(std::process::id());
    let steady_started = std::time::Instant::now();
    for seq in 0..messages {
        tick.tick().await;
        if let Some(pass) = publisher.publish(seq, clock).await? {
            passes.push(pass);
        }
    }
    let latency_expected = messages * n as u64;
    audience.wait_for(latency_expected, DRAIN).await;
    let client_cores_busy = client_before
        .zip(procstat::cpu_ns(std::process::id()))
        .map(|(b, a)| a.saturating_sub(b) as f64 / steady_started.elapsed().as_nanos() as f64);
    let latency_received = audience.received();
    let latency = latency_of(audience.finish().await);
    drop(publisher);

    // 3. Throughput in a burst, with fresh receivers (on a fresh floor server).
    let served = if server == Receiving::Lab(LabServer::Floor) {
        drop(served);
        start().await?
    } else {
        served
    };
    let audience = Audience::open(server, spec.shape, served.addr, n, clock).await?;
    audience.join(server, served.addr, n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut publisher = Publisher::connect(server, served.addr, spec.shape).await?;
    let cpu_before = served.pid.and_then(procstat::cpu_ns);
    let started = Instant::now();
    for seq in 0..spec.burst {
        publisher.publish(seq, clock).await?;
    }
    let burst_expected = spec.burst * n as u64;
    audience.wait_for(burst_expected, DRAIN).await;
    let elapsed = started.elapsed();
    let cpu_after = served.pid.and_then(procstat::cpu_ns);
    let burst_received = audience.received();
    drop(audience.finish().await);
    let server_cpu_us_per_delivery = cpu_before
        .zip(cpu_after)
        .filter(|_| burst_received > 0)
        .map(|(b, a)| a.saturating_sub(b) as f64 / 1000.0 / burst_received as f64);

    Ok(DeliveryResult {
        spec: *spec,
        server,
        idle_bytes_per_conn,
        latency,
        latency_expected,
        latency_received,
        burst_per_second: burst_received as f64 / elapsed.as_secs_f64(),
        burst_expected,
        burst_received,
        server_cpu_us_per_delivery,
        floor_pass: (!passes.is_empty()).then(|| latency_of(passes)),
        client_cores_busy,
    })
}

/// The latency figures of some microsecond values.
fn latency_of(micros: Vec<u64>) -> Latency {
    let mut histogram = stats::new_histogram();
    for us in micros {
        stats::record(&mut histogram, us.max(1) * 1000);
    }
    Latency::from_histogram(&histogram)
}

/// The text of message `seq`: its number and its send time on `clock`, in microseconds.
fn stamp(seq: u64, clock: Instant) -> String {
    format!("{seq} {}", clock.elapsed().as_micros())
}

/// The send time in a text made by [`stamp`].
fn sent_us(text: &str) -> Option<u64> {
    text.split(' ').nth(1)?.parse().ok()
}

/// The receivers of one run, whichever server they are connected to.
enum Audience {
    /// The broadcast lab's own subscribers (`lab_broadcast::tools`).
    Broadcast(tools::Subscribers),
    /// The floor's plain TCP subscribers.
    Floor(floor::Subscribers),
    /// Room members of the rooms lab, or Socket.IO clients.
    Members(Members),
}

impl Audience {
    /// Connects `n` receivers, [`CONNECT_BATCH`] at a time.
    async fn open(
        server: Receiving,
        shape: Shape,
        addr: SocketAddr,
        n: usize,
        clock: Instant,
    ) -> anyhow::Result<Self> {
        Ok(match server {
            Receiving::Lab(LabServer::BroadcastNaive | LabServer::BroadcastScaling) => {
                let url = format!("ws://{addr}/ws");
                Audience::Broadcast(tools::open(&url, n, &Behaviour::default(), clock).await?)
            }
            Receiving::Lab(LabServer::Floor) => {
                let subscribers = floor::Subscribers::open(addr, n, clock).await?;
                if !floor::wait_for_subscribers(addr, n, Duration::from_secs(30)).await? {
                    bail!("the floor server did not accept {n} subscribers within 30 s");
                }
                Audience::Floor(subscribers)
            }
            Receiving::Lab(LabServer::Rooms) | Receiving::SocketIo => {
                Audience::Members(Members::open(server, shape, addr, n, clock).await?)
            }
            Receiving::Lab(LabServer::Gateway) => {
                bail!("the gateway lab is measured by the ack workload, not this one")
            }
        })
    }

    /// Has every member join the room (nothing to do for a plain audience).
    async fn join(&self, _server: Receiving, _addr: SocketAddr, n: usize) -> anyhow::Result<()> {
        if let Audience::Members(members) = self {
            members.join(n).await?;
        }
        Ok(())
    }

    fn received(&self) -> u64 {
        match self {
            Audience::Broadcast(s) => s.received(),
            Audience::Floor(s) => s.received(),
            Audience::Members(m) => m.received.load(Ordering::Relaxed),
        }
    }

    async fn wait_for(&self, total: u64, deadline: Duration) -> bool {
        match self {
            Audience::Broadcast(s) => s.wait_for(total, deadline).await,
            Audience::Floor(s) => s.wait_for(total, deadline).await,
            Audience::Members(m) => tools::wait_for_count(&m.received, total, deadline).await,
        }
    }

    /// Stops every receiver; the latency of every delivery, microseconds.
    async fn finish(self) -> Vec<u64> {
        match self {
            Audience::Broadcast(s) => s.finish().await.latencies_us,
            Audience::Floor(s) => s.finish().await,
            Audience::Members(m) => m.finish().await,
        }
    }
}

/// Receivers that may have to join a room: the rooms lab's members, Socket.IO's clients.
struct Members {
    /// One task per member.
    tasks: Vec<JoinHandle<anyhow::Result<Vec<u64>>>>,
    /// `true`: join now (rooms).
    go: watch::Sender<bool>,
    /// Stops every task.
    stop: watch::Sender<bool>,
    /// Joins confirmed so far.
    joined: Arc<AtomicU64>,
    /// Deliveries counted so far, by all members.
    received: Arc<AtomicU64>,
    /// Whether joining is part of this workload.
    rooms: bool,
}

impl Members {
    async fn open(
        server: Receiving,
        shape: Shape,
        addr: SocketAddr,
        n: usize,
        clock: Instant,
    ) -> anyhow::Result<Self> {
        let (go, go_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let joined = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let connected = Arc::new(AtomicU64::new(0));
        let rooms = shape == Shape::Rooms;
        let mut tasks = Vec::with_capacity(n);
        for batch in (0..n).collect::<Vec<_>>().chunks(CONNECT_BATCH) {
            for &index in batch {
                let member = Member {
                    index,
                    rooms,
                    clock,
                    go: go_rx.clone(),
                    stop: stop_rx.clone(),
                    joined: Arc::clone(&joined),
                    received: Arc::clone(&received),
                    connected: Arc::clone(&connected),
                };
                tasks.push(match server {
                    Receiving::SocketIo => tokio::spawn(member.socket_io(addr)),
                    _ => tokio::spawn(member.rooms_lab(addr)),
                });
            }
            let want = (batch[batch.len() - 1] + 1) as u64;
            if !tools::wait_for_count(&connected, want, Duration::from_secs(30)).await {
                // A member that failed to connect ended its task with the reason.
                for task in tasks.iter_mut().filter(|t| t.is_finished()) {
                    if let Ok(Err(err)) = task.await {
                        return Err(err.context("a member could not connect"));
                    }
                }
                bail!("members did not connect within 30 s");
            }
        }
        Ok(Self {
            tasks,
            go,
            stop,
            joined,
            received,
            rooms,
        })
    }

    /// Has every member join the room and waits for every confirmation.
    async fn join(&self, n: usize) -> anyhow::Result<()> {
        if !self.rooms {
            return Ok(());
        }
        let _ = self.go.send(true);
        if !tools::wait_for_count(&self.joined, n as u64, Duration::from_secs(30)).await {
            bail!("members did not join within 30 s");
        }
        // Joining announced every member to the room: let those presence events drain.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    }

    async fn finish(self) -> Vec<u64> {
        let _ = self.stop.send(true);
        let mut all = Vec::new();
        for task in self.tasks {
            match task.await {
                Ok(Ok(latencies)) => all.extend(latencies),
                Ok(Err(err)) => tracing::warn!(err = format!("{err:#}"), "a member failed"),
                Err(err) => tracing::warn!(%err, "a member task failed"),
            }
        }
        all
    }
}

/// One member's task, before it starts.
struct Member {
    index: usize,
    rooms: bool,
    clock: Instant,
    go: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    joined: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    connected: Arc<AtomicU64>,
}

/// The parts of a rooms lab envelope a member reads, borrowed from the frame: the benchmark
/// measures the server, not how fast the clients build JSON trees.
#[derive(Debug, Deserialize)]
struct Incoming<'a> {
    /// `ack`, `message`, `exception`, or a presence event.
    #[serde(borrow)]
    event: std::borrow::Cow<'a, str>,
    /// The fields of `data` a member reads.
    #[serde(default, borrow)]
    data: IncomingData<'a>,
}

/// The fields of a rooms lab event's `data` a member reads.
#[derive(Debug, Default, Deserialize)]
struct IncomingData<'a> {
    /// A chat message's text, made by [`stamp`].
    #[serde(borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
}

impl Member {
    /// A member of the rooms lab: `/ws?name=m<i>`, `join` when told, then every `message`.
    async fn rooms_lab(mut self, addr: SocketAddr) -> anyhow::Result<Vec<u64>> {
        let url = format!("ws://{addr}/ws?name=m{}", self.index);
        let mut ws = tools::connect(&url).await?;
        self.connected.fetch_add(1, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut asked = false;
        loop {
            let next = tokio::select! {
                _ = self.stop.changed() => break,
                Ok(()) = self.go.changed(), if !asked => {
                    asked = true;
                    let join = json!({ "event": "join", "data": { "room": ROOM }, "id": 1 });
                    ws.send(Message::text(join.to_string())).await?;
                    continue;
                }
                next = ws.next() => next,
            };
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                _ => break,
            };
            let now = self.clock.elapsed().as_micros() as u64;
            let incoming: Incoming<'_> = serde_json::from_str(text.as_str())?;
            match incoming.event.as_ref() {
                "ack" => {
                    self.joined.fetch_add(1, Ordering::Relaxed);
                }
                "exception" => bail!("member {}: {}", self.index, text.as_str()),
                "message" => {
                    if let Some(sent) = incoming.data.text.as_deref().and_then(sent_us) {
                        latencies.push(now.saturating_sub(sent));
                        self.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
        }
        Ok(latencies)
    }

    /// A Socket.IO client: `join` with an ack when told (rooms), then every `msg` event.
    async fn socket_io(mut self, addr: SocketAddr) -> anyhow::Result<Vec<u64>> {
        let mut client = SioClient::connect(addr)
            .await
            .with_context(|| format!("member {}: connecting to Socket.IO", self.index))?;
        self.connected.fetch_add(1, Ordering::Relaxed);
        if self.rooms {
            tokio::select! {
                _ = self.stop.changed() => return Ok(Vec::new()),
                changed = self.go.wait_for(|go| *go) => { changed?; }
            }
            client.emit_with_ack("join", &json!(ROOM)).await?;
            self.joined.fetch_add(1, Ordering::Relaxed);
        }
        let mut latencies = Vec::new();
        loop {
            let event = tokio::select! {
                _ = self.stop.changed() => break,
                event = client.next_event() => event,
            };
            let Ok((name, body)) = event else { break };
            let now = self.clock.elapsed().as_micros() as u64;
            // A room message is a stamp; a broadcast, the ticker payload with `t_us`.
            let sent = body
                .as_str()
                .and_then(sent_us)
                .or_else(|| body.get("t_us").and_then(serde_json::Value::as_u64));
            if name == "msg"
                && let Some(sent) = sent
            {
                latencies.push(now.saturating_sub(sent));
                self.received.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(latencies)
    }
}

/// The sender of a run.
enum Publisher {
    /// A member of the rooms lab's room, sending `send` envelopes (its own copies drained).
    Rooms {
        sink: futures_util::stream::SplitSink<tools::Ws, Message>,
        drain: JoinHandle<()>,
    },
    /// A client of the broadcast lab, sending `publish` envelopes to everyone but itself.
    Broadcast(tools::Ws),
    /// The floor's publisher connection.
    Floor(floor::Publisher),
    /// A Socket.IO client emitting `publish` (to the room) or `broadcast` (to everyone).
    SocketIo { client: SioClient, shape: Shape },
}

impl Publisher {
    async fn connect(server: Receiving, addr: SocketAddr, shape: Shape) -> anyhow::Result<Self> {
        Ok(match server {
            Receiving::Lab(LabServer::Rooms) => {
                let mut ws = tools::connect(&format!("ws://{addr}/ws?name=publisher")).await?;
                let join = json!({ "event": "join", "data": { "room": ROOM }, "id": 1 });
                ws.send(Message::text(join.to_string())).await?;
                let (sink, mut stream) = ws.split();
                let drain =
                    tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
                Publisher::Rooms { sink, drain }
            }
            Receiving::Lab(LabServer::BroadcastNaive | LabServer::BroadcastScaling) => {
                Publisher::Broadcast(tools::connect(&format!("ws://{addr}/ws")).await?)
            }
            Receiving::Lab(LabServer::Floor) => {
                Publisher::Floor(floor::Publisher::connect(addr).await?)
            }
            Receiving::SocketIo => Publisher::SocketIo {
                client: SioClient::connect(addr).await?,
                shape,
            },
            Receiving::Lab(LabServer::Gateway) => {
                bail!("the gateway lab is measured by the ack workload, not this one")
            }
        })
    }

    /// Sends message `seq`, stamped with the time on `clock`. The floor answers with how
    /// long its pass over every subscriber took, in microseconds.
    async fn publish(&mut self, seq: u64, clock: Instant) -> anyhow::Result<Option<u64>> {
        match self {
            Publisher::Rooms { sink, .. } => {
                let send =
                    json!({ "event": "send", "data": { "room": ROOM, "text": stamp(seq, clock) } });
                sink.send(Message::text(send.to_string())).await?;
            }
            Publisher::Broadcast(ws) => {
                ws.send(Message::text(tools::publish_message(
                    seq, clock, None, None,
                )))
                .await?;
            }
            Publisher::Floor(publisher) => {
                let frame = floor::frame(seq, clock.elapsed().as_micros() as u64);
                return Ok(Some(publisher.publish(&frame).await?.as_micros() as u64));
            }
            Publisher::SocketIo { client, shape } => match shape {
                Shape::Rooms => {
                    client
                        .emit(
                            "publish",
                            &json!({ "room": ROOM, "body": stamp(seq, clock) }),
                        )
                        .await?;
                }
                // The broadcast lab's payload, so both servers move the same bytes.
                Shape::Fanout => {
                    let payload = json!({
                        "i": seq,
                        "t_us": clock.elapsed().as_micros() as u64,
                        "text": tools::TICKER,
                    });
                    client.emit("broadcast", &payload).await?;
                }
            },
        }
        Ok(None)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if let Publisher::Rooms { drain, .. } = self {
            drain.abort();
        }
    }
}

/// The batching comparison of the fan-out workload: one run of updates, sent one broadcast
/// each or coalesced.
#[derive(Debug, Clone, Serialize)]
pub struct BatchingResult {
    /// Subscribers.
    pub receivers: usize,
    /// Updates produced per second.
    pub update_rate: u32,
    /// The coalescing window, milliseconds (0: one broadcast per update).
    pub window_ms: u64,
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Frames delivered, all subscribers together.
    pub frames: u64,
    /// Latency of each update, from when it was produced to its arrival.
    pub latency: Latency,
    /// Updates that did not arrive.
    pub missing: u64,
}

// ANCHOR: coalesce
/// Updates produced at `update_rate` per second for `duration`, published one broadcast
/// each (`window_ms` 0) or coalesced: every `window_ms`, the updates produced meanwhile go
/// out as one broadcast. The latency of an update counts from when it was produced, so the
/// time it waited for its window is part of it. `addr` is the broadcast lab's scaling way.
pub async fn coalesce(
    addr: SocketAddr,
    n: usize,
    update_rate: u32,
    duration: Duration,
    window_ms: u64,
) -> anyhow::Result<BatchingResult> {
    let url = format!("ws://{addr}/ws");
    let clock = Instant::now();
    let subscribers = tools::open(&url, n, &Behaviour::default(), clock).await?;
    let mut publisher = tools::connect(&url).await?;
    let updates = (f64::from(update_rate) * duration.as_secs_f64())
        .round()
        .max(1.0) as u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / update_rate.max(1));
    let per_window = (u64::from(update_rate) * window_ms / 1000).max(1);
    let (mut pending, mut broadcasts, mut first) = (Vec::new(), 0, 0);
    for i in 0..updates {
        tick.tick().await;
        pending.push(clock.elapsed().as_micros() as u64);
        if pending.len() as u64 >= per_window || i + 1 == updates {
            let message = tools::publish_batch(first, &pending);
            publisher.send(Message::text(message)).await?;
            broadcasts += 1;
            first = i + 1;
            pending.clear();
        }
    }
    subscribers.wait_for(broadcasts * n as u64, DRAIN).await;
    let frames = subscribers.received();
    let latencies = subscribers.finish().await.latencies_us;
    let missing = (updates * n as u64).saturating_sub(latencies.len() as u64);
    Ok(BatchingResult {
        receivers: n,
        update_rate,
        window_ms,
        broadcasts,
        frames,
        latency: latency_of(latencies),
        missing,
    })
}
// ANCHOR_END: coalesce
