//! `reconnect-storm`: a thousand of the resilience lab's subscribers lose their server at the
//! same moment, and come back. How hard do they hit it, how long until all are back, and is
//! any update lost? Run once with full jitter (the lab's policy) and once without, so the
//! difference the jitter makes is a number and not a claim.
//!
//! ```text
//! cargo build --release -p lab-resilience -p bench
//! cargo run --release -p bench --bin reconnect-storm -- --clients 1000
//! cargo run --release -p bench --bin reconnect-storm -- --help
//! ```
//!
//! The lab runs as its own release binary in a child process (`lab-resilience`, found next to
//! this program, or given with `--lab-bin`) on a free port of 127.0.0.1, its ticker publishing
//! `--rate` updates a second. The clients are the lab's own [`Subscriber`]s, in this process:
//! the backoff, the close-code decisions, the heartbeat and the recovery measured are the ones
//! chapter 10 teaches, not a copy. The server goes away in one of two ways (`--ways`):
//!
//! - **restart**: SIGTERM. The lab says 1001 to every client and exits; it is started again on
//!   the same port (after `--down-ms`). A new process is a new epoch: its history is empty, so
//!   every client is told `recovered: false` and resumes from the new epoch. "No update lost"
//!   then means no gap within the new epoch after the resubscription.
//! - **freeze**: SIGSTOP for `--freeze-ms`, then SIGCONT: a server that hangs (a stop-the-world
//!   pause, a VM migrated) without closing anything. The clients' heartbeat finds the silence,
//!   they give the connections up and come back to the *same* process, whose history still
//!   covers the gap: every client must be told `recovered: true` and see every update exactly
//!   once.
//!
//! Every connection attempt is timestamped client-side against one clock (the moment the
//! subscriber's backoff delay ends and it dials), and counted in 100 ms buckets from the
//! moment the server was taken away. The peak is the most attempts in any 100 ms window (a
//! sliding window, so a burst that straddles two buckets is not halved). A client is back at
//! its first `subscribed` after the event; its return time is counted from the server's return
//! (the new process accepting, or SIGCONT). The end is a Markdown table (pastable on a slide),
//! the attempts as a text histogram per run, and a verdict per goal. The goals are reported,
//! not asserted: the exit status is 1 only when correctness failed (an update lost, a client
//! not back, a freeze not recovered), 2 when the benchmark could not run. Ctrl-C stops
//! everything, the lab included. Chapter 10 ("Best practices, measured") shows the result.
//!
//! Where a production measurement would differ: the clients share this machine's cores with
//! the server (the storm is also a storm of client CPU), and loopback has no latency, so the
//! attempts of a real fleet arrive more spread than here.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, ensure};
use bench::child::LabProcess;
use clap::{Parser, ValueEnum};
use lab_resilience::Position;
use lab_resilience::client::{Backoff, Event, Jitter, Options, Subscriber};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A thousand resilience-lab subscribers, the server restarted or frozen: connection attempts
/// per 100 ms with and without jitter, time until all are back, recovery, lost updates.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Subscribers, each its own WebSocket connection.
    #[arg(long, default_value_t = 1000)]
    clients: usize,

    /// How the server goes away, comma-separated: `restart` (SIGTERM: 1001 to every client,
    /// then a new process on the same port, a new epoch) or `freeze` (SIGSTOP, the clients'
    /// heartbeat gives up, then SIGCONT: the same process, recovery expected).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "restart,freeze"
    )]
    ways: Vec<Way>,

    /// Backoff randomness, comma-separated: `full` (full jitter, the lab's policy: a uniform
    /// delay in [0, min(cap, base·2ⁿ)]) or `none` (the same schedule, exactly its ceiling).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "full,none")]
    jitter: Vec<JitterMode>,

    /// The first retry's ceiling, in milliseconds (the lab's default: 500).
    #[arg(long, default_value_t = 500)]
    base_ms: u64,

    /// The ceiling no delay exceeds, in milliseconds (the lab's default: 30 000).
    #[arg(long, default_value_t = 30_000)]
    cap_ms: u64,

    /// Retries in a row before a client gives up.
    #[arg(long, default_value_t = 100)]
    max_attempts: u32,

    /// restart: how long the server stays away between the old process's exit and the start
    /// of the new one, in milliseconds (0: at once; starting still takes a moment).
    #[arg(long, default_value_t = 0)]
    down_ms: u64,

    /// freeze: how long the server is stopped, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    freeze_ms: u64,

    /// The clients' heartbeat: how long a client waits in silence before it pings, in
    /// milliseconds.
    #[arg(long, default_value_t = 250)]
    ping_ms: u64,

    /// The clients' heartbeat: the silence after which a client gives the connection up, in
    /// milliseconds (what makes a frozen server noticed).
    #[arg(long, default_value_t = 1000)]
    dead_ms: u64,

    /// Updates the lab's ticker publishes per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,

    /// Milliseconds of steady updates before the server is taken away.
    #[arg(long, default_value_t = 1000)]
    steady_ms: u64,

    /// Seconds a phase (connecting, coming back, catching up) may take before the run gives up
    /// waiting and reports what it has.
    #[arg(long, default_value_t = 30.0)]
    timeout_secs: f64,

    /// The resilience lab's server [default: `lab-resilience` next to this program].
    #[arg(long)]
    lab_bin: Option<PathBuf>,
}

/// How the server goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Way {
    /// SIGTERM (a goodbye with 1001), then a new process on the same port: a new epoch.
    Restart,
    /// SIGSTOP, then SIGCONT: the same process, silent meanwhile.
    Freeze,
}

impl Way {
    /// The row's label in the table.
    fn label(self) -> &'static str {
        match self {
            Way::Restart => "restart (SIGTERM, 1001, new epoch)",
            Way::Freeze => "freeze (SIGSTOP, heartbeat, SIGCONT)",
        }
    }

    /// The short name, for progress lines and the histogram.
    fn name(self) -> &'static str {
        match self {
            Way::Restart => "restart",
            Way::Freeze => "freeze",
        }
    }
}

/// The backoff's randomness, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JitterMode {
    /// Full jitter: the lab's policy.
    Full,
    /// No randomness: every client waits exactly the ceiling.
    None,
}

impl JitterMode {
    fn jitter(self) -> Jitter {
        match self {
            JitterMode::Full => Jitter::Full,
            JitterMode::None => Jitter::None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            JitterMode::Full => "full",
            JitterMode::None => "none",
        }
    }
}

/// The window the attempts are counted in: the issue's "per 100 ms".
const BUCKET: Duration = Duration::from_millis(100);

/// Clients started at the same time while connecting: the initial thousand handshakes are
/// not what is measured, so they are not made a storm of their own.
const CONNECT_BATCH: usize = 50;

/// How often the orchestrator looks at the counters while it waits.
const POLL: Duration = Duration::from_millis(5);

/// How long the clients' tasks may take to end once the run is over.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after all are back the stream keeps running before the clients are told where
/// to stop: updates delivered after the return are part of what is checked.
const SETTLE: Duration = Duration::from_millis(500);

/// The goal of the issue: all clients back within this time of the server's return.
const GOAL_BACK: Duration = Duration::from_secs(3);

/// The goal of the issue: the peak with jitter at most this fraction of the peak without.
const GOAL_PEAK_RATIO: f64 = 0.2;

/// What the clients share with the orchestrator while a run goes on.
#[derive(Debug)]
struct Shared {
    /// The one clock every timestamp is measured against.
    start: Instant,
    /// Set just before the server is taken away: a `subscribed` after it is a return.
    event: AtomicBool,
    /// Clients subscribed at least once.
    subscribed: AtomicUsize,
    /// Clients subscribed again since the event.
    back: AtomicUsize,
    /// Clients whose task has ended.
    ended: AtomicUsize,
    /// The newest update a returned client has seen: where the orchestrator sets the end.
    latest: Mutex<Option<Position>>,
}

impl Shared {
    fn latest(&self) -> std::sync::MutexGuard<'_, Option<Position>> {
        // Each critical section leaves the value whole: a poisoned lock is still usable.
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one client saw, timestamped against [`Shared::start`].
#[derive(Debug, Default)]
struct ClientLog {
    /// Every connection attempt: the first dial, then the end of each backoff delay.
    attempts: Vec<Duration>,
    /// When it was first subscribed again after the event, and whether it was recovered.
    back: Option<(Duration, bool)>,
    /// Updates missing from the sequence: gaps within an epoch, where the client had no
    /// `recovered: false` to excuse them.
    lost: u64,
    /// Updates that came twice or out of order (the subscriber should drop them).
    repeated: u64,
    /// Updates of an epoch the client was not subscribed to.
    foreign: u64,
    /// The next update expected: its epoch and offset.
    expected: Option<Position>,
    /// Whether it received the update the orchestrator said to stop at.
    reached: bool,
    /// Why it gave up, if it did.
    gave_up: Option<String>,
}

impl ClientLog {
    /// A (re)subscription: recovered, the sequence goes on; not recovered, it restarts after
    /// the server's latest offset (what was missed is gone, and the client was told so).
    fn subscribed(&mut self, epoch: &str, offset: u64, recovered: bool) {
        let continues = self.expected.as_ref().is_some_and(|e| e.epoch == epoch);
        if recovered && continues {
            return;
        }
        if recovered {
            self.foreign += 1;
        }
        self.expected = Some(Position {
            epoch: epoch.to_owned(),
            offset: offset + 1,
        });
    }

    /// An update: counted against the expected offset.
    fn update(&mut self, position: &Position) {
        match &self.expected {
            Some(expected) if expected.epoch == position.epoch => {
                if position.offset > expected.offset {
                    self.lost += position.offset - expected.offset;
                } else if position.offset < expected.offset {
                    self.repeated += 1;
                    return;
                }
            }
            _ => self.foreign += 1,
        }
        self.expected = Some(Position {
            epoch: position.epoch.clone(),
            offset: position.offset + 1,
        });
    }
}

/// One subscriber until it reaches `target`, gives up, or `abort` says so.
async fn client(
    options: Options,
    shared: Arc<Shared>,
    target: watch::Receiver<Option<Position>>,
    mut abort: watch::Receiver<bool>,
) -> ClientLog {
    let mut log = ClientLog::default();
    let mut subscriber = Subscriber::new(options);
    let mut subscribed_once = false;
    log.attempts.push(shared.start.elapsed());
    // Bounded: the orchestrator sets `target` once all are back, and `abort` at its deadline.
    loop {
        let event = tokio::select! {
            event = subscriber.next() => event,
            _ = abort.changed() => break,
        };
        let Some(event) = event else { break };
        match event {
            Event::Subscribed(recovery) => {
                if !subscribed_once {
                    subscribed_once = true;
                    shared.subscribed.fetch_add(1, Ordering::SeqCst);
                }
                if shared.event.load(Ordering::SeqCst) && log.back.is_none() {
                    log.back = Some((shared.start.elapsed(), recovery.recovered));
                    shared.back.fetch_add(1, Ordering::SeqCst);
                }
                log.subscribed(&recovery.epoch, recovery.offset, recovery.recovered);
            }
            Event::Update { update, .. } => {
                let position = update.position();
                log.update(&position);
                if log.back.is_some() {
                    let mut latest = shared.latest();
                    if latest.as_ref().is_none_or(|l| l.offset < position.offset) {
                        *latest = Some(position.clone());
                    }
                }
                let done = target
                    .borrow()
                    .as_ref()
                    .is_some_and(|t| t.epoch == position.epoch && position.offset >= t.offset);
                if done {
                    log.reached = true;
                    break;
                }
            }
            // The attempt happens when the delay has passed: that is its timestamp.
            Event::Reconnecting { delay, .. } => log.attempts.push(shared.start.elapsed() + delay),
            // A fallback would mean the upgrade was blocked: the storm measures WebSockets on
            // loopback, where nothing blocks it, so it only goes on.
            Event::Closed { .. } | Event::Fallback { .. } => {}
            Event::GaveUp { reason } => log.gave_up = Some(reason),
        }
    }
    shared.ended.fetch_add(1, Ordering::SeqCst);
    log
}

/// What one run (one way, one jitter mode) measured.
#[derive(Debug)]
struct RunReport {
    way: Way,
    jitter: JitterMode,
    clients: usize,
    /// Attempts after the event, per [`BUCKET`] from the event.
    buckets: Vec<usize>,
    /// The most attempts in any 100 ms window after the event.
    peak: usize,
    /// Attempts after the event.
    total: usize,
    /// When the server returned, after the event.
    returned_after: Duration,
    /// Each returned client's return time, counted from the server's return, sorted.
    back: Vec<Duration>,
    /// Returned clients told `recovered: true`.
    recovered: usize,
    /// Updates lost, over all clients (a client that never reached the end counts what it
    /// did not get).
    lost: u64,
    /// Updates repeated or of a foreign epoch, over all clients.
    anomalies: u64,
    /// Clients that gave up.
    gave_up: usize,
}

impl RunReport {
    fn all_back(&self) -> bool {
        self.back.len() == self.clients
    }

    /// Correct: all back, nothing lost or repeated, and a freeze recovered by everyone.
    fn correct(&self) -> bool {
        self.all_back()
            && self.lost == 0
            && self.anomalies == 0
            && (self.way != Way::Freeze || self.recovered == self.clients)
    }

    fn back_p50(&self) -> Option<Duration> {
        // Nearest rank: the value at or below which half the clients came back.
        let rank = self.back.len().div_ceil(2);
        rank.checked_sub(1).and_then(|i| self.back.get(i)).copied()
    }

    fn back_max(&self) -> Option<Duration> {
        self.back.last().copied()
    }
}

/// The most timestamps in any window of `width` (a sliding window over sorted times).
fn sliding_peak(sorted: &[Duration], width: Duration) -> usize {
    let mut peak = 0;
    let mut first = 0;
    for (last, &t) in sorted.iter().enumerate() {
        while sorted[first] + width <= t {
            first += 1;
        }
        peak = peak.max(last + 1 - first);
    }
    peak
}

/// The lab's arguments for a run of `args.clients`.
fn lab_args(args: &Args) -> Vec<String> {
    vec![
        "--rate".into(),
        args.rate.to_string(),
        // Room for every client and the ones still closing from before.
        "--max-connections".into(),
        (args.clients * 2 + 16).to_string(),
    ]
}

/// Waits until `done()` or `timeout`; false on timeout.
async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// One run: start the lab, connect the clients, take the server away, bring it back,
/// let the clients catch up, collect what they saw.
async fn run(args: &Args, exe: &Path, way: Way, jitter: JitterMode) -> anyhow::Result<RunReport> {
    let timeout = Duration::from_secs_f64(args.timeout_secs);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, bench::child::free_port()?));
    let lab_args = lab_args(args);
    let mut lab = LabProcess::spawn_on(exe, addr, &lab_args).await?;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        event: AtomicBool::new(false),
        subscribed: AtomicUsize::new(0),
        back: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
        latest: Mutex::new(None),
    });
    let (target_tx, target_rx) = watch::channel(None);
    let (abort_tx, abort_rx) = watch::channel(false);
    let mut options = Options::new(format!("ws://{}/ws", lab.addr));
    options.backoff = Backoff {
        base: Duration::from_millis(args.base_ms),
        cap: Duration::from_millis(args.cap_ms),
    };
    options.jitter = jitter.jitter();
    options.max_attempts = args.max_attempts;
    options.heartbeat = Some((
        Duration::from_millis(args.ping_ms),
        Duration::from_millis(args.dead_ms),
    ));

    let mut clients = JoinSet::new();
    for batch_start in (0..args.clients).step_by(CONNECT_BATCH) {
        let batch_end = (batch_start + CONNECT_BATCH).min(args.clients);
        for _ in batch_start..batch_end {
            clients.spawn(client(
                options.clone(),
                shared.clone(),
                target_rx.clone(),
                abort_rx.clone(),
            ));
        }
        let subscribed = wait_until(timeout, || {
            shared.subscribed.load(Ordering::SeqCst) >= batch_end
        })
        .await;
        ensure!(
            subscribed,
            "only {} of {batch_end} clients subscribed within {timeout:?}",
            shared.subscribed.load(Ordering::SeqCst)
        );
    }
    tokio::time::sleep(Duration::from_millis(args.steady_ms)).await;

    // The event.
    shared.event.store(true, Ordering::SeqCst);
    let event_at = shared.start.elapsed();
    let returned_at = match way {
        Way::Restart => {
            lab.terminate().await?;
            tokio::time::sleep(Duration::from_millis(args.down_ms)).await;
            lab = LabProcess::spawn_on(exe, addr, &lab_args).await?;
            shared.start.elapsed()
        }
        Way::Freeze => {
            lab.signal("STOP").await?;
            tokio::time::sleep(Duration::from_millis(args.freeze_ms)).await;
            lab.signal("CONT").await?;
            shared.start.elapsed()
        }
    };
    eprintln!(
        "reconnect-storm: {} / jitter {}: server back {:.0} ms after it went away",
        way.name(),
        jitter.name(),
        (returned_at - event_at).as_secs_f64() * 1e3
    );
    let all_back = wait_until(timeout, || {
        shared.back.load(Ordering::SeqCst) + shared.ended.load(Ordering::SeqCst) >= args.clients
    })
    .await;
    if !all_back {
        eprintln!(
            "reconnect-storm: only {} of {} back within {timeout:?}",
            shared.back.load(Ordering::SeqCst),
            args.clients
        );
    }

    // Catching up: let the stream run, then stop every client at one update a little ahead.
    tokio::time::sleep(SETTLE).await;
    let latest = shared.latest().clone();
    let target = latest.map(|latest| Position {
        offset: latest.offset + (args.rate * SETTLE.as_secs_f64()).ceil().max(2.0) as u64,
        epoch: latest.epoch,
    });
    target_tx.send_replace(target.clone());
    let caught_up = wait_until(timeout, || {
        shared.ended.load(Ordering::SeqCst) >= args.clients
    })
    .await;
    if !caught_up {
        eprintln!("reconnect-storm: clients still short of the last update; stopping them");
    }
    abort_tx.send_replace(true);
    let mut logs = Vec::with_capacity(args.clients);
    // Bounded: every client ends at `abort`.
    while let Some(joined) = tokio::time::timeout(EXIT_TIMEOUT, clients.join_next())
        .await
        .context("a client did not stop")?
    {
        logs.push(joined.context("a client task failed")?);
    }
    lab.stop().await?;

    let mut attempts: Vec<Duration> = logs
        .iter()
        .flat_map(|log| log.attempts.iter())
        .filter(|&&t| t >= event_at)
        .map(|&t| t - event_at)
        .collect();
    attempts.sort();
    let mut back: Vec<Duration> = logs
        .iter()
        .filter_map(|log| log.back)
        .map(|(at, _)| at.saturating_sub(returned_at))
        .collect();
    back.sort();
    // The series runs until the last attempt, the return and the last client back, whichever
    // is latest, so the histogram shows the whole story.
    let returned_after = returned_at.saturating_sub(event_at);
    let last_back = returned_after + back.last().copied().unwrap_or_default();
    let span = attempts.last().copied().unwrap_or_default().max(last_back);
    let mut buckets = vec![0; bucket_of(span) + 1];
    for &t in &attempts {
        buckets[bucket_of(t)] += 1;
    }
    // A client that did not reach the end missed what it did not get.
    let shortfall: u64 = match &target {
        Some(target) => logs
            .iter()
            .filter(|log| !log.reached)
            .map(|log| match &log.expected {
                Some(e) if e.epoch == target.epoch => (target.offset + 1).saturating_sub(e.offset),
                _ => 1,
            })
            .sum(),
        None => 0,
    };
    Ok(RunReport {
        way,
        jitter,
        clients: args.clients,
        peak: sliding_peak(&attempts, BUCKET),
        total: attempts.len(),
        buckets,
        returned_after,
        back,
        recovered: logs.iter().filter(|l| l.back.is_some_and(|b| b.1)).count(),
        lost: logs.iter().map(|l| l.lost).sum::<u64>() + shortfall,
        anomalies: logs.iter().map(|l| l.repeated + l.foreign).sum(),
        gave_up: logs.iter().filter(|l| l.gave_up.is_some()).count(),
    })
}

fn bucket_of(t: Duration) -> usize {
    (t.as_nanos() / BUCKET.as_nanos()) as usize
}

/// `412 ms` or `1.23 s`.
fn human(d: Option<Duration>) -> String {
    match d {
        None => "–".into(),
        Some(d) if d < Duration::from_secs(1) => format!("{} ms", d.as_millis()),
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
    }
}

/// One character per 100 ms bucket, on a scale shared by every row (so a flatter row is a
/// smaller storm): `·` for none, then `▁` to `█`.
fn sparkline(buckets: &[usize], scale: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    buckets
        .iter()
        .map(|&n| {
            if n == 0 || scale == 0 {
                '·'
            } else {
                let level = (n * BARS.len()).div_ceil(scale).clamp(1, BARS.len());
                BARS[level - 1]
            }
        })
        .collect()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The Markdown report: the table, the goals, the histograms.
fn markdown(args: &Args, reports: &[RunReport], load: (&str, &str)) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "## Reconnect storm: {} subscribers of the resilience lab\n",
        args.clients
    );
    let _ = writeln!(
        out,
        "`{}` · {cores} cores, clients and server on the same machine · load average {} before, {} after · \
         backoff {} ms doubling to {} ms · ticker {} updates/s · client heartbeat: silent {} ms → ping, {} ms → dead · \
         restart: down {} ms after the exit · freeze: {} ms\n",
        command_line(),
        load.0,
        load.1,
        args.base_ms,
        args.cap_ms,
        args.rate,
        args.ping_ms,
        args.dead_ms,
        args.down_ms,
        args.freeze_ms,
    );
    let _ = writeln!(
        out,
        "| server goes away | jitter | peak attempts/100 ms | total attempts | server back after | clients back p50 | back max | all back | recovered | lost updates |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let anomalies = if r.anomalies > 0 {
            format!(" (+{} repeated/foreign)", r.anomalies)
        } else {
            String::new()
        };
        let gave_up = if r.gave_up > 0 {
            format!(" ({} gave up)", r.gave_up)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {}/{}{gave_up} | {}/{} | {}{anomalies} |",
            r.way.label(),
            r.jitter.name(),
            r.peak,
            r.total,
            human(Some(r.returned_after)),
            human(r.back_p50()),
            human(r.back_max()),
            r.back.len(),
            r.clients,
            r.recovered,
            r.clients,
            r.lost,
        );
    }
    let _ = writeln!(
        out,
        "\nAttempts are counted client-side after the server went away; the peak is the most in \
         any 100 ms window. Return times are counted from the server's return. A restart is a \
         new epoch, so `recovered` is 0 by design there and \"lost\" means a gap after the \
         resubscription; a freeze must be recovered by every client.\n"
    );
    let _ = writeln!(out, "Goals:\n");
    for way in [Way::Restart, Way::Freeze] {
        let find = |j| reports.iter().find(|r| r.way == way && r.jitter == j);
        for r in reports.iter().filter(|r| r.way == way) {
            let max = r.back_max().unwrap_or(Duration::MAX);
            let met = r.all_back() && max <= GOAL_BACK;
            let _ = writeln!(
                out,
                "- {} / jitter {}: all {} back within {} of the return: **{}** (max {}); no update lost: **{}**",
                way.name(),
                r.jitter.name(),
                r.clients,
                human(Some(GOAL_BACK)),
                verdict(met),
                human(r.back_max()),
                verdict(r.correct()),
            );
        }
        if let (Some(full), Some(none)) = (find(JitterMode::Full), find(JitterMode::None)) {
            let ratio = full.peak as f64 / none.peak.max(1) as f64;
            let _ = writeln!(
                out,
                "- {}: peak with jitter ≤ 1/5 of without: **{}** ({} vs {}: {ratio:.2})",
                way.name(),
                verdict(ratio <= GOAL_PEAK_RATIO),
                full.peak,
                none.peak,
            );
        }
    }
    let scale = reports.iter().map(|r| r.peak).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nAttempts per 100 ms from the moment the server went away (one character per 100 ms, \
         `·` none, `█` = {scale}; `^` the server's return):\n"
    );
    let _ = writeln!(out, "```text");
    for r in reports {
        let label = format!("{:<7} {:<4}", r.way.name(), r.jitter.name());
        let _ = writeln!(out, "{label} |{}|", sparkline(&r.buckets, scale));
        let _ = writeln!(
            out,
            "{:<12} |{}^",
            "",
            " ".repeat(bucket_of(r.returned_after))
        );
        let counts: Vec<String> = r.buckets.iter().map(usize::to_string).collect();
        let _ = writeln!(out, "{:<12}  {}", "", counts.join(" "));
    }
    let _ = writeln!(out, "```");
    out
}

fn verdict(met: bool) -> &'static str {
    if met { "MET" } else { "MISSED" }
}

/// The command line that reproduces this run.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p bench --bin reconnect-storm -- {}",
        args.join(" ")
    )
    .trim_end()
    .to_owned()
}

/// Where the lab's binary is: as given, or next to this program (`target/release/`).
fn lab_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this program")?
            .with_file_name("lab-resilience"),
    };
    ensure!(
        path.exists(),
        "{} not found; build it first: cargo build --release -p lab-resilience",
        path.display()
    );
    Ok(path)
}

async fn storm(args: Args) -> anyhow::Result<bool> {
    ensure!(args.clients > 0, "--clients must be above 0");
    ensure!(
        !args.ways.is_empty() && !args.jitter.is_empty(),
        "nothing to run"
    );
    ensure!(
        args.rate > 0.0 && args.rate <= 1000.0,
        "--rate must be above 0 and at most 1000"
    );
    ensure!(
        args.timeout_secs > 0.0 && args.timeout_secs.is_finite(),
        "--timeout-secs must be above 0"
    );
    ensure!(
        args.base_ms > 0 && args.base_ms <= args.cap_ms,
        "need 0 < --base-ms ≤ --cap-ms"
    );
    ensure!(
        args.ping_ms < args.dead_ms,
        "--ping-ms must be below --dead-ms"
    );
    let exe = lab_binary(args.lab_bin.as_deref())?;
    // One descriptor per connection here, as many in the lab, which inherits the limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    ensure!(
        limit as usize > args.clients * 2 + 64,
        "the open-files limit is {limit}: too low for {} clients (raise it with ulimit -n)",
        args.clients
    );
    let load_before = load_average();
    let mut ways = args.ways.clone();
    ways.dedup();
    let mut modes = args.jitter.clone();
    modes.dedup();
    let mut reports = Vec::new();
    for &way in &ways {
        for &jitter in &modes {
            eprintln!(
                "reconnect-storm: {} / jitter {}: {} clients…",
                way.name(),
                jitter.name(),
                args.clients
            );
            let report = run(&args, &exe, way, jitter)
                .await
                .with_context(|| format!("the {} run, jitter {}", way.name(), jitter.name()))?;
            eprintln!(
                "reconnect-storm: {} / jitter {}: peak {} attempts/100 ms, {}/{} back, max {}",
                way.name(),
                jitter.name(),
                report.peak,
                report.back.len(),
                report.clients,
                human(report.back_max())
            );
            reports.push(report);
        }
    }
    println!(
        "{}",
        markdown(&args, &reports, (&load_before, &load_average()))
    );
    Ok(reports.iter().all(RunReport::correct))
}

fn main() -> ExitCode {
    let args = Args::parse();
    bench::program::main_until_interrupted("reconnect-storm", None, storm(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    /// The sliding peak finds a burst that straddles two fixed buckets.
    #[test]
    fn sliding_peak_sees_a_straddling_burst() {
        assert_eq!(sliding_peak(&[], BUCKET), 0);
        assert_eq!(sliding_peak(&ms(&[95, 96, 97, 105, 106, 300]), BUCKET), 5);
        assert_eq!(sliding_peak(&ms(&[0, 100, 200]), BUCKET), 1);
    }

    /// The ledger: a gap is lost, a non-recovered resubscription restarts the sequence, a
    /// repeat is counted.
    #[test]
    fn ledger_counts_gaps_but_not_a_new_epoch() {
        let at = |e: &str, o| Position {
            epoch: e.into(),
            offset: o,
        };
        let mut log = ClientLog::default();
        log.subscribed("a", 3, false);
        log.update(&at("a", 4));
        log.update(&at("a", 6));
        assert_eq!(log.lost, 1);
        log.subscribed("a", 9, true);
        log.update(&at("a", 7));
        log.update(&at("a", 7));
        assert_eq!((log.lost, log.repeated), (1, 1));
        log.subscribed("b", 5, false);
        log.update(&at("b", 6));
        assert_eq!((log.lost, log.repeated, log.foreign), (1, 1, 0));
    }
}
