//! `soak`: a thousand clients on the rooms lab and the broadcast lab at a steady rate for ten
//! minutes, checking what a short benchmark cannot: every message delivered exactly once,
//! the servers' memory flat, no file descriptor left behind.
//!
//! ```text
//! cargo build --release -p lab-rooms -p lab-broadcast
//! cargo run --release -p bench --bin soak -- --minutes 1     # the class version
//! cargo run --release -p bench --bin soak                    # the full ten minutes
//! ```
//!
//! Each lab runs as its own release binary in a child process (found next to this program,
//! or given with `--rooms-bin` / `--broadcast-bin`), on a free port of 127.0.0.1. By default
//! 500 clients are members of 10 rooms of 50, and 500 subscribe to one topic of the broadcast
//! lab; one more connection per room sends to it, one publishes to the topic, each at
//! `--rate` messages per second. Every message carries its sequence number and its send
//! time, so each client counts what it received, missed, got twice or out of order, and the
//! delivery latency goes into one HdrHistogram per minute. Every `--sample-secs` the servers'
//! resident memory is read from `/proc/<pid>/status` and a progress line printed; their open
//! descriptors are counted before the clients connect, while they are connected, and after
//! they leave. The end is a Markdown table (pastable into a slide) and a verdict per check;
//! the exit status is 1 if a check failed (2 if the soak could not run). Ctrl-C stops
//! everything, the labs included.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use bench::child::LabProcess;
use bench::procstat;
use bench::soak::{FdCounts, LabSoak, MinuteHistograms, SeqLedger, SoakReport, Tally};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Clients on the rooms and broadcast labs at a steady rate: exactly-once delivery, flat
/// memory, no descriptor leak, and the p99 latency of every minute.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Minutes of steady sending (a class can run `--minutes 1`; fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,

    /// Seconds of steady sending, instead of `--minutes` (for quick checks).
    #[arg(long, conflicts_with = "minutes")]
    seconds: Option<f64>,

    /// Which labs to soak, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rooms,broadcast"
    )]
    labs: Vec<Lab>,

    /// Rooms on the rooms lab.
    #[arg(long, default_value_t = 10)]
    rooms: usize,

    /// Members (clients) per room.
    #[arg(long, default_value_t = 50)]
    members: usize,

    /// Subscribers (clients) of the broadcast lab.
    #[arg(long, default_value_t = 500)]
    subscribers: usize,

    /// Messages per second of each sender: one per room, one publisher on the broadcast
    /// lab. Keep it below the gateway's rate limit per connection.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,

    /// Seconds between two samples of the servers' memory (and progress lines).
    #[arg(long, default_value_t = 10.0)]
    sample_secs: f64,

    /// The largest memory growth after the warm-up that still counts as flat, in KiB per
    /// minute (either way).
    #[arg(long, default_value_t = 256.0)]
    rss_tolerance: f64,

    /// Seconds the clients wait for the last messages once sending stops.
    #[arg(long, default_value_t = 10.0)]
    drain_secs: f64,

    /// The rooms lab's server [default: `lab-rooms` next to this program].
    #[arg(long)]
    rooms_bin: Option<PathBuf>,

    /// The broadcast lab's server [default: `lab-broadcast` next to this program].
    #[arg(long)]
    broadcast_bin: Option<PathBuf>,
}

/// A lab the soak can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lab {
    /// Chat rooms (chapter 7): members join a room, one more member sends to it.
    Rooms,
    /// Broadcasting (chapter 9): clients subscribe to a topic, a publisher publishes to it.
    Broadcast,
}

impl Lab {
    fn name(self) -> &'static str {
        match self {
            Lab::Rooms => "rooms",
            Lab::Broadcast => "broadcast",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Lab::Rooms => "lab-rooms",
            Lab::Broadcast => "lab-broadcast",
        }
    }
}

/// The clients' WebSocket settings: a 4 KiB read buffer instead of tungstenite's 128 KiB,
/// which it zeroes before every read; the clients share the cores with the servers they
/// measure (DESIGN.md, "The benchmark harness").
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// Clients connecting at the same time: a burst of a thousand handshakes would measure the
/// accept queue, not the soak.
const CONNECT_BATCH: usize = 50;

/// How long one connection, join or subscription may take before the soak gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the servers get to close the connections the clients closed, before their
/// descriptors are counted as left open.
const FD_SETTLE: Duration = Duration::from_secs(10);

/// The first problems of each lab quoted in the report; the rest are only counted.
const PROBLEMS_QUOTED: usize = 5;

/// The topic every broadcast subscriber follows.
const TOPIC: &str = "soak";

/// What a sender puts in each message: its number and its send time, nanoseconds since the
/// Unix epoch (one machine, one clock).
fn stamp(seq: u64) -> String {
    format!("{seq} {}", now_ns())
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Reads a [`stamp`].
fn parse_stamp(text: &str) -> Option<(u64, u64)> {
    let (seq, sent) = text.split_once(' ')?;
    Some((seq.parse().ok()?, sent.parse().ok()?))
}

/// Counters and histograms the clients of one lab share.
#[derive(Debug)]
struct Shared {
    /// Messages received so far, for the progress lines.
    delivered: AtomicU64,
    /// Messages sent so far.
    sent: AtomicU64,
    /// When sending started, nanoseconds since the epoch (0 until then): a message's minute
    /// is counted from it.
    start_ns: AtomicU64,
    /// Latency per minute. A std `Mutex` held only to record a batch of values.
    latency: Mutex<MinuteHistograms>,
    /// Problems seen (first few), and how many.
    problems: Mutex<(Vec<String>, u64)>,
}

impl Shared {
    fn new(minutes: usize) -> Self {
        Self {
            delivered: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            start_ns: AtomicU64::new(0),
            latency: Mutex::new(MinuteHistograms::new(minutes)),
            problems: Mutex::new((Vec::new(), 0)),
        }
    }

    fn problem(&self, what: String) {
        let mut problems = self.problems.lock().unwrap_or_else(PoisonError::into_inner);
        problems.1 += 1;
        if problems.0.len() < PROBLEMS_QUOTED {
            problems.0.push(what);
        }
    }

    /// Records latencies buffered by a client: (sent at, ns since epoch; latency, ns).
    fn record(&self, batch: &mut Vec<(u64, u64)>) {
        let start = self.start_ns.load(Ordering::Relaxed);
        let mut latency = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        for (sent, ns) in batch.drain(..) {
            let minute = (sent.saturating_sub(start) / 60_000_000_000) as usize;
            latency.record(minute, ns);
        }
    }
}

/// Latencies a client keeps before recording them: the shared lock is taken once per batch.
const LATENCY_BATCH: usize = 256;

/// The parts of an incoming envelope a client reads, borrowed from the frame.
#[derive(Debug, Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, borrow)]
    data: IncomingData<'a>,
}

#[derive(Debug, Default, Deserialize)]
struct IncomingData<'a> {
    /// A room message's text: a [`stamp`].
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    /// A broadcast's payload: a [`stamp`] too.
    #[serde(default, borrow)]
    payload: Option<Cow<'a, str>>,
    /// A `missed` event's count.
    #[serde(default)]
    missed: Option<u64>,
}

/// How one client joins its lab and reads its messages.
#[derive(Debug, Clone)]
struct Role {
    lab: Lab,
    /// `ws://.../ws?name=...`
    url: String,
    /// The request that puts it in the audience (`join`, `subscribe`), with id 1, or none.
    enter: Option<String>,
    /// Which sender it hears: an index into the senders' final counts.
    sender: usize,
}

impl Role {
    fn room_member(addr: SocketAddr, room: usize, member: usize, sender: usize) -> Self {
        Self {
            lab: Lab::Rooms,
            url: format!("ws://{addr}/ws?name=r{room}m{member}"),
            enter: Some(join_room(room)),
            sender,
        }
    }

    fn subscriber(addr: SocketAddr, index: usize, sender: usize) -> Self {
        Self {
            lab: Lab::Broadcast,
            url: format!("ws://{addr}/ws?name=sub{index}"),
            enter: Some(
                json!({ "event": "subscribe", "data": { "topics": [TOPIC] }, "id": 1 }).to_string(),
            ),
            sender,
        }
    }

    /// The (sequence, send time) of a message this client counts, if `incoming` is one.
    fn stamp_of(&self, incoming: &Incoming<'_>) -> Option<Option<(u64, u64)>> {
        let field = match (self.lab, incoming.event.as_ref()) {
            (Lab::Rooms, "message") => incoming.data.text.as_deref(),
            (Lab::Broadcast, "broadcast") => incoming.data.payload.as_deref(),
            _ => return None,
        };
        Some(field.and_then(parse_stamp))
    }
}

fn room_name(room: usize) -> String {
    format!("soak-{room}")
}

fn join_room(room: usize) -> String {
    json!({ "event": "join", "data": { "room": room_name(room) }, "id": 1 }).to_string()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and, if the role says so, sends its entering request and waits for its ack.
async fn enter(role: &Role) -> anyhow::Result<Ws> {
    let (mut ws, _) = tokio::time::timeout(
        STEP_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(&role.url, Some(client_config()), true),
    )
    .await
    .context("connecting timed out")??;
    let Some(request) = &role.enter else {
        return Ok(ws);
    };
    ws.send(Message::text(request.clone())).await?;
    let acked = async {
        while let Some(frame) = ws.next().await {
            if let Message::Text(text) = frame? {
                let incoming: Incoming<'_> = serde_json::from_str(text.as_str())?;
                match (incoming.event.as_ref(), incoming.id) {
                    ("ack", Some(1)) => return Ok(()),
                    ("exception", _) => bail!("refused: {}", text.as_str()),
                    _ => {}
                }
            }
        }
        bail!("the connection ended before the ack")
    };
    tokio::time::timeout(STEP_TIMEOUT, acked)
        .await
        .context("no ack in time")??;
    Ok(ws)
}

/// What the clients wait for once sending stops: each sender's count, and when to give up.
#[derive(Debug, Clone)]
struct Finals {
    sent: Arc<Vec<u64>>,
    drain_until: Instant,
}

/// One client: enter, say so on `ready`, then count every message until it has all its
/// sender sent, or the drain deadline passes; then close.
async fn client(
    role: Role,
    shared: Arc<Shared>,
    ready: mpsc::Sender<anyhow::Result<()>>,
    mut finals: watch::Receiver<Option<Finals>>,
    hard_deadline: Instant,
) -> (Lab, SeqLedger, Option<u64>) {
    let mut ws = match enter(&role).await {
        Ok(ws) => {
            let _ = ready.send(Ok(())).await;
            ws
        }
        Err(err) => {
            let _ = ready.send(Err(err)).await;
            return (role.lab, SeqLedger::default(), None);
        }
    };
    let mut ledger = SeqLedger::default();
    let mut batch = Vec::with_capacity(LATENCY_BATCH);
    let mut target: Option<(u64, Instant)> = None;
    loop {
        if let Some((sent, _)) = target
            && ledger.distinct() >= sent
        {
            break;
        }
        let drain = async {
            match target {
                Some((_, until)) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            frame = ws.next() => frame,
            changed = finals.changed(), if target.is_none() => {
                if changed.is_err() {
                    break;
                }
                target = finals
                    .borrow()
                    .as_ref()
                    .map(|f| (f.sent[role.sender], f.drain_until));
                continue;
            }
            () = drain => break,
            () = tokio::time::sleep_until(hard_deadline) => break,
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                shared.problem(format!("{}: closed by the server: {close:?}", role.url));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => {
                shared.problem(format!("{}: {err}", role.url));
                break;
            }
            None => {
                shared.problem(format!("{}: the connection ended", role.url));
                break;
            }
        };
        let Ok(incoming) = serde_json::from_str::<Incoming<'_>>(text.as_str()) else {
            shared.problem(format!("{}: not an envelope: {}", role.url, text.as_str()));
            continue;
        };
        match role.stamp_of(&incoming) {
            Some(Some((seq, sent))) => {
                if let Err(err) = ledger.record(seq) {
                    shared.problem(format!("{}: {err}", role.url));
                }
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                batch.push((sent, now_ns().saturating_sub(sent)));
                if batch.len() >= LATENCY_BATCH {
                    shared.record(&mut batch);
                }
            }
            Some(None) => shared.problem(format!("{}: no stamp in {}", role.url, text.as_str())),
            None => match incoming.event.as_ref() {
                "exception" => shared.problem(format!("{}: {}", role.url, text.as_str())),
                "missed" => shared.problem(format!(
                    "{}: told it missed {} event(s)",
                    role.url,
                    incoming.data.missed.unwrap_or(0)
                )),
                _ => {}
            },
        }
    }
    shared.record(&mut batch);
    // A clean close, so the server sees the client leave rather than a dropped socket.
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    let sent = target.map(|(sent, _)| sent);
    (role.lab, ledger, sent)
}

/// One sender: connect (joining the room it sends to), say so on `ready`, wait for `go`,
/// then send a stamped message every 1/`rate` seconds until `until`. Returns how many it
/// sent. What it receives is read and thrown away (a room's sender gets its own messages
/// back), so its queue on the server never fills; exceptions count as problems.
async fn sender(
    lab: Lab,
    role: Role,
    room: Option<usize>,
    rate: f64,
    shared: Arc<Shared>,
    ready: mpsc::Sender<anyhow::Result<()>>,
    mut go: watch::Receiver<Option<Instant>>,
) -> u64 {
    let ws = match enter(&role).await {
        Ok(ws) => {
            let _ = ready.send(Ok(())).await;
            ws
        }
        Err(err) => {
            let _ = ready.send(Err(err)).await;
            return 0;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let reader_shared = Arc::clone(&shared);
    let url = role.url.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = stream.next().await {
            if let Message::Text(text) = frame
                && text.as_str().contains("\"exception\"")
            {
                reader_shared.problem(format!("{url}: {}", text.as_str()));
            }
        }
    });
    let until = match go.wait_for(Option::is_some).await {
        Ok(until) => (*until).unwrap_or_else(Instant::now),
        Err(_) => return 0,
    };
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A tick delayed by a busy machine is caught up at once, so the count stays rate × time.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut seq = 0u64;
    loop {
        ticker.tick().await;
        if Instant::now() >= until {
            break;
        }
        let message = match (lab, room) {
            (Lab::Rooms, Some(room)) => json!({
                "event": "send",
                "data": { "room": room_name(room), "text": stamp(seq) },
            }),
            _ => json!({
                "event": "publish",
                "data": { "to": { "kind": "topic", "topic": TOPIC }, "payload": stamp(seq) },
            }),
        };
        if let Err(err) = sink.send(Message::text(message.to_string())).await {
            shared.problem(format!("{}: sending: {err}", role.url));
            break;
        }
        seq += 1;
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
    reader.abort();
    seq
}

/// A lab under soak: its process, its clients' shared counters.
struct Running {
    lab: Lab,
    process: LabProcess,
    shared: Arc<Shared>,
    shape: String,
    rss: Vec<(f64, u64)>,
    fds: FdCounts,
}

/// The open descriptors of a lab that just started, once steady: the connection that
/// checked it was listening is still being closed for a moment.
async fn settled_fds(pid: u32) -> Option<usize> {
    let mut last = procstat::open_fds(pid)?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = procstat::open_fds(pid)?;
        if now == last {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}

fn rss_kib(pid: u32) -> Option<u64> {
    procstat::rss_bytes(pid).map(|b| b / 1024)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Where a lab's binary is: as given, or next to this program (`target/release/`).
fn lab_binary(lab: Lab, given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this program")?
            .with_file_name(lab.binary()),
    };
    ensure!(
        path.exists(),
        "{} not found; build it first: cargo build --release -p {}",
        path.display(),
        lab.binary()
    );
    Ok(path)
}

async fn soak(args: Args) -> anyhow::Result<bool> {
    let duration_secs = args.seconds.unwrap_or(args.minutes * 60.0);
    ensure!(
        duration_secs > 0.0 && duration_secs.is_finite(),
        "the duration must be above 0"
    );
    ensure!(
        args.rate > 0.0 && args.rate <= 1000.0,
        "--rate must be above 0 and at most 1000"
    );
    ensure!(args.sample_secs > 0.0, "--sample-secs must be above 0");
    ensure!(!args.labs.is_empty(), "no lab to soak");
    let mut labs = args.labs.clone();
    labs.dedup();
    let want_rooms = labs.contains(&Lab::Rooms);
    let want_broadcast = labs.contains(&Lab::Broadcast);
    ensure!(
        !want_rooms || (args.rooms > 0 && args.members > 0),
        "--rooms and --members must be above 0"
    );
    ensure!(
        !want_broadcast || args.subscribers > 0,
        "--subscribers must be above 0"
    );
    let duration = Duration::from_secs_f64(duration_secs);
    let minutes = (duration_secs / 60.0).ceil() as usize;
    let load_start = load_average();

    let clients = usize::from(want_rooms) * args.rooms * args.members
        + usize::from(want_broadcast) * args.subscribers;
    let senders = usize::from(want_rooms) * args.rooms + usize::from(want_broadcast);
    // One descriptor per connection here, and as many in the servers, which inherit the
    // limit: raise the soft limit to the hard one.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    ensure!(
        limit as usize > clients + senders + 64,
        "the open-files limit is {limit}: too low for {clients} clients (raise it with ulimit -n)"
    );

    let mut running: Vec<Running> = Vec::new();
    for &lab in &labs {
        let (given, extra, shape) = match lab {
            Lab::Rooms => {
                let mut extra = Vec::new();
                // The lab's default of 1 000 members per room fits the usual sizes.
                if args.members + 1 > 1000 {
                    extra = vec![
                        "--members-per-room".to_string(),
                        (args.members + 1).to_string(),
                    ];
                }
                let shape = format!("{} rooms × {} members", args.rooms, args.members);
                (args.rooms_bin.as_deref(), extra, shape)
            }
            Lab::Broadcast => {
                let shape = format!("{} subscribers of one topic", args.subscribers);
                (args.broadcast_bin.as_deref(), Vec::new(), shape)
            }
        };
        let exe = lab_binary(lab, given)?;
        let process = LabProcess::spawn(&exe, &extra)
            .await
            .with_context(|| format!("starting the {} lab", lab.name()))?;
        eprintln!(
            "soak: {} lab pid {} on {}",
            lab.name(),
            process.pid,
            process.addr
        );
        let fds = FdCounts {
            before: settled_fds(process.pid).await,
            ..FdCounts::default()
        };
        running.push(Running {
            lab,
            process,
            shared: Arc::new(Shared::new(minutes)),
            shape,
            rss: Vec::new(),
            fds,
        });
    }

    // The clients, in batches; then the senders.
    let (finals_tx, finals_rx) = watch::channel::<Option<Finals>>(None);
    let (go_tx, go_rx) = watch::channel::<Option<Instant>>(None);
    let hard_deadline = Instant::now()
        + duration
        + Duration::from_secs_f64(args.drain_secs.max(0.0))
        + Duration::from_secs(300);
    let mut roles: Vec<(Role, Arc<Shared>)> = Vec::new();
    let mut sender_roles: Vec<(Lab, Role, Option<usize>, Arc<Shared>)> = Vec::new();
    for r in &running {
        let addr = r.process.addr;
        match r.lab {
            Lab::Rooms => {
                for room in 0..args.rooms {
                    let sender = sender_roles.len();
                    for member in 0..args.members {
                        let role = Role::room_member(addr, room, member, sender);
                        roles.push((role, Arc::clone(&r.shared)));
                    }
                    let role = Role {
                        lab: Lab::Rooms,
                        url: format!("ws://{addr}/ws?name=r{room}sender"),
                        enter: Some(join_room(room)),
                        sender,
                    };
                    sender_roles.push((Lab::Rooms, role, Some(room), Arc::clone(&r.shared)));
                }
            }
            Lab::Broadcast => {
                let sender = sender_roles.len();
                for index in 0..args.subscribers {
                    roles.push((Role::subscriber(addr, index, sender), Arc::clone(&r.shared)));
                }
                let role = Role {
                    lab: Lab::Broadcast,
                    url: format!("ws://{addr}/ws?name=publisher"),
                    enter: None,
                    sender,
                };
                sender_roles.push((Lab::Broadcast, role, None, Arc::clone(&r.shared)));
            }
        }
    }

    let (ready_tx, mut ready_rx) = mpsc::channel::<anyhow::Result<()>>(CONNECT_BATCH * 2);
    let mut client_tasks = JoinSet::new();
    let connecting = Instant::now();
    for batch in roles.chunks(CONNECT_BATCH) {
        for (role, shared) in batch {
            client_tasks.spawn(client(
                role.clone(),
                Arc::clone(shared),
                ready_tx.clone(),
                finals_rx.clone(),
                hard_deadline,
            ));
        }
        for _ in batch {
            let answer = tokio::time::timeout(STEP_TIMEOUT * 2, ready_rx.recv())
                .await
                .context("clients did not connect in time")?
                .context("a client task ended")?;
            answer.context("a client could not connect")?;
        }
    }
    let mut sender_tasks = JoinSet::new();
    for (index, (lab, role, room, shared)) in sender_roles.iter().cloned().enumerate() {
        let go = go_rx.clone();
        let ready = ready_tx.clone();
        let rate = args.rate;
        sender_tasks.spawn(async move {
            (
                index,
                sender(lab, role, room, rate, shared, ready, go).await,
            )
        });
    }
    for _ in &sender_roles {
        let answer = tokio::time::timeout(STEP_TIMEOUT * 2, ready_rx.recv())
            .await
            .context("senders did not connect in time")?
            .context("a sender task ended")?;
        answer.context("a sender could not connect")?;
    }
    eprintln!(
        "soak: {} clients and {} senders connected in {:.1} s",
        roles.len(),
        sender_roles.len(),
        connecting.elapsed().as_secs_f64()
    );
    // Joining announced every member to its room: let those presence events drain before
    // counting what a connected client costs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for r in &mut running {
        r.fds.during = procstat::open_fds(r.process.pid);
    }

    // Steady sending.
    let start = Instant::now();
    let start_ns = now_ns();
    for r in &running {
        r.shared.start_ns.store(start_ns, Ordering::Relaxed);
    }
    let until = start + duration;
    go_tx.send_replace(Some(until));
    let sample = Duration::from_secs_f64(args.sample_secs);
    let mut next_sample = start;
    loop {
        let elapsed = next_sample.duration_since(start).as_secs_f64();
        let mut line = format!("soak: {:>6.0} s", elapsed);
        for r in &mut running {
            let rss = rss_kib(r.process.pid);
            if let Some(kib) = rss {
                r.rss.push((elapsed, kib));
            }
            line.push_str(&format!(
                " | {}: sent {} delivered {} RSS {} KiB fds {}",
                r.lab.name(),
                r.shared.sent.load(Ordering::Relaxed),
                r.shared.delivered.load(Ordering::Relaxed),
                rss.map_or_else(|| "?".into(), |k| k.to_string()),
                procstat::open_fds(r.process.pid).map_or_else(|| "?".into(), |n| n.to_string())
            ));
        }
        eprintln!("{line}");
        next_sample += sample;
        if next_sample > until {
            break;
        }
        tokio::time::sleep_until(next_sample).await;
    }
    tokio::time::sleep_until(until).await;

    // Sending stops: each sender reports its count, the clients drain.
    let mut sent = vec![0u64; sender_roles.len()];
    while let Some(joined) = tokio::time::timeout(STEP_TIMEOUT, sender_tasks.join_next())
        .await
        .context("a sender did not stop")?
    {
        let (index, count) = joined.context("a sender panicked")?;
        sent[index] = count;
    }
    let end_rss: Vec<Option<u64>> = running.iter().map(|r| rss_kib(r.process.pid)).collect();
    let sent = Arc::new(sent);
    finals_tx.send_replace(Some(Finals {
        sent: Arc::clone(&sent),
        drain_until: Instant::now() + Duration::from_secs_f64(args.drain_secs.max(0.0)),
    }));
    let mut tallies: Vec<Tally> = vec![Tally::default(); running.len()];
    while let Some(joined) = client_tasks.join_next().await {
        let (lab, ledger, sent) = joined.context("a client panicked")?;
        let index = running.iter().position(|r| r.lab == lab).unwrap_or(0);
        let tally = ledger.tally(sent.unwrap_or(0));
        tallies[index].add(&tally);
    }
    eprintln!("soak: every client has disconnected");

    // The servers close what the clients closed; a descriptor still open after that is left.
    let settle_until = Instant::now() + FD_SETTLE;
    for r in &mut running {
        loop {
            let now = procstat::open_fds(r.process.pid);
            let settled = match (now, r.fds.before) {
                (Some(now), Some(before)) => now <= before,
                _ => true,
            };
            if settled || Instant::now() >= settle_until {
                r.fds.after = now;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let mut lab_reports = Vec::new();
    for ((r, tally), end) in running.into_iter().zip(tallies).zip(end_rss) {
        let mut rss = r.rss;
        if let Some(kib) = end {
            // The last sample, at the end of sending, unless a regular one fell there.
            if rss.last().is_none_or(|s| s.0 < duration_secs - 0.5) {
                rss.push((duration_secs, kib));
            }
        }
        let sent: u64 = r.shared.sent.load(Ordering::Relaxed);
        let minutes = r
            .shared
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .per_minute();
        let (problems, problem_count) = r
            .shared
            .problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        lab_reports.push(LabSoak {
            name: r.lab.name().into(),
            shape: r.shape,
            sent,
            tally,
            problems,
            problem_count,
            rss_kib: rss,
            fds: r.fds,
            minutes,
        });
        r.process.stop().await.ok();
    }

    let report = SoakReport {
        command: command_line(),
        duration_secs,
        rate: args.rate,
        warmup_secs: bench::soak::warmup_secs(duration_secs),
        sample_secs: args.sample_secs,
        rss_tolerance_kib_per_min: args.rss_tolerance,
        load: (load_start, load_average()),
        labs: lab_reports,
    };
    println!("{}", report.markdown());
    Ok(report.passed())
}

/// The command line that reproduces this run.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p bench --bin soak -- {}",
        args.join(" ")
    )
}

fn main() -> ExitCode {
    let args = Args::parse();
    bench::program::main_until_interrupted("soak", None, soak(args))
}
