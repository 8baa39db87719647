//! `compression`: what permessage-deflate (RFC 7692) costs and saves, measured on the
//! handshake lab's own server, which implements it from scratch (chapter 5).
//!
//! ```text
//! cargo build --release -p lab-handshake -p bench
//! cargo run --release -p bench --bin compression
//! cargo run --release -p bench --bin compression -- --help
//! ```
//!
//! The lab runs as its own release binary (`lab-handshake`, found next to this program, or
//! given with `--lab-bin`) in a child process on a free port of 127.0.0.1, once per mode:
//!
//! - **off**: `--no-compression`, the baseline;
//! - **takeover**: permessage-deflate with context takeover both ways (what browsers ask);
//! - **no-takeover**: `--no-context-takeover`, every message compressed on its own.
//!
//! Two measurements:
//!
//! 1. **Bytes and CPU per message.** One client (the lab's own, offering the same mode)
//!    sends `--messages` messages of a workload and reads each echo: JSON chat messages
//!    (short, varied text), a JSON ticker stream (the same fields again and again, the
//!    numbers changing), and random bytes (incompressible). Bytes are counted frame by frame
//!    as they cross the socket (header and payload, as the client's inspector sees them);
//!    server CPU is the lab process's CPU time (`/proc`, every thread) over the run, divided
//!    by the messages: it includes reading, inflating, deflating and writing each echo.
//!    After `--warmup` messages, `--reps` runs; the median is reported, with the spread.
//! 2. **Memory per idle connection.** `--connections` clients connect one after the other,
//!    each sends one ticker message, reads its echo, and stays connected, silent. The lab's
//!    resident memory before and after, divided by the connections, is what each idle
//!    connection costs, compression context included.
//!
//! The end is a Markdown table per measurement (pastable on a slide). Where a production
//! measurement would differ: the client shares this machine's two cores with the server,
//! and resident memory counts what the allocator keeps after a free, so the no-takeover
//! figure is an upper bound.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use bench::child::LabProcess;
use bench::procstat;
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use lab_handshake::deflate::DeflateConfig;
use lab_handshake::events::{Direction, Event, Observer};
use lab_handshake::frame::OpCode;
use lab_handshake::{Connection, Message, Settings};
use tokio::net::TcpStream;

/// permessage-deflate measured: bytes on the wire and server CPU per message for chat,
/// ticker and random workloads, and memory per idle connection, each off, with and without
/// context takeover.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Messages per measured run.
    #[arg(long, default_value_t = 5000)]
    messages: usize,

    /// Messages sent first on each connection and not measured (the runtime, the
    /// allocator and the compression context warm up).
    #[arg(long, default_value_t = 500)]
    warmup: usize,

    /// Measured runs per workload and mode; the median is reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,

    /// Idle connections for the memory measurement (0 skips it).
    #[arg(long, default_value_t = 1000)]
    connections: usize,

    /// The modes, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "off,takeover,no-takeover"
    )]
    modes: Vec<Mode>,

    /// The handshake lab's server [default: `lab-handshake` next to this program].
    #[arg(long)]
    lab_bin: Option<PathBuf>,
}

/// Compression off, or on with or without context takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `--no-compression`.
    Off,
    /// permessage-deflate with context takeover both ways.
    Takeover,
    /// permessage-deflate, no context takeover either way.
    NoTakeover,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Takeover => "takeover",
            Mode::NoTakeover => "no takeover",
        }
    }

    /// The lab's flags for this mode (besides `--addr`).
    fn lab_args(self) -> Vec<String> {
        let mut args = vec!["--idle-secs".to_owned(), "0".to_owned()];
        match self {
            Mode::Off => args.push("--no-compression".into()),
            Mode::Takeover => {}
            Mode::NoTakeover => args.push("--no-context-takeover".into()),
        }
        args
    }

    /// What the client offers: the same as the server, so the mode is what is agreed.
    fn client_config(self) -> Option<DeflateConfig> {
        match self {
            Mode::Off => None,
            Mode::Takeover => Some(DeflateConfig::default()),
            Mode::NoTakeover => Some(DeflateConfig::no_context_takeover()),
        }
    }
}

/// What a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Chat lines: a JSON envelope, a user, a room, 6 to 14 words of text.
    Chat,
    /// Price updates: the same JSON fields every time, the numbers moving a little.
    Ticker,
    /// 1 KiB of random bytes: nothing for DEFLATE to find.
    Random,
}

const WORKLOADS: [Workload; 3] = [Workload::Chat, Workload::Ticker, Workload::Random];

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Chat => "JSON chat",
            Workload::Ticker => "JSON ticker",
            Workload::Random => "random 1 KiB",
        }
    }
}

/// A small deterministic generator (xorshift64*): every run sends the same messages, and
/// the bench needs no dependency for it. Its bytes are random enough for DEFLATE, which
/// finds no repeats in them.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const USERS: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];
const ROOMS: [&str; 3] = ["rust", "general", "random"];
const WORDS: [&str; 40] = [
    "the",
    "build",
    "is",
    "green",
    "again",
    "who",
    "broke",
    "main",
    "yesterday",
    "lunch",
    "at",
    "noon",
    "deploy",
    "after",
    "review",
    "please",
    "merge",
    "my",
    "branch",
    "thanks",
    "tests",
    "pass",
    "locally",
    "but",
    "fail",
    "in",
    "ci",
    "coffee",
    "meeting",
    "moved",
    "to",
    "three",
    "websocket",
    "latency",
    "looks",
    "fine",
    "today",
    "ship",
    "it",
    "now",
];
const SYMBOLS: [&str; 5] = ["BTC-USD", "ETH-USD", "SOL-USD", "ADA-USD", "DOT-USD"];

/// The messages of one workload, generated on the fly.
struct Messages {
    workload: Workload,
    rng: Rng,
    seq: u64,
    prices: [f64; 5],
}

impl Messages {
    fn new(workload: Workload) -> Self {
        Self {
            workload,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            seq: 0,
            prices: [97_000.0, 3_400.0, 180.0, 0.95, 7.2],
        }
    }

    fn next(&mut self) -> Message {
        self.seq += 1;
        let ts = 1_767_225_600_000 + self.seq * 250;
        match self.workload {
            Workload::Chat => {
                let words = 6 + self.rng.below(9);
                let text: Vec<&str> = (0..words).map(|_| WORDS[self.rng.below(40)]).collect();
                let line = serde_json::json!({
                    "event": "message",
                    "data": {
                        "room": ROOMS[self.rng.below(3)],
                        "user": USERS[self.rng.below(8)],
                        "text": text.join(" "),
                        "ts": ts,
                    },
                    "id": self.seq,
                });
                Message::Text(line.to_string())
            }
            Workload::Ticker => {
                let i = self.rng.below(5);
                // A random walk of at most ±0.05 % per update.
                let step = (self.rng.below(1001) as f64 - 500.0) / 1_000_000.0;
                self.prices[i] *= 1.0 + step;
                let price = self.prices[i];
                let tick = serde_json::json!({
                    "event": "tick",
                    "data": {
                        "symbol": SYMBOLS[i],
                        "price": format!("{price:.2}"),
                        "bid": format!("{:.2}", price * 0.9999),
                        "ask": format!("{:.2}", price * 1.0001),
                        "volume": format!("{:.4}", self.rng.below(100_000) as f64 / 1000.0),
                        "seq": self.seq,
                        "ts": ts,
                    },
                });
                Message::Text(tick.to_string())
            }
            Workload::Random => {
                let bytes: Vec<u8> = (0..128)
                    .flat_map(|_| self.rng.next().to_le_bytes())
                    .collect();
                Message::Binary(Bytes::from(bytes))
            }
        }
    }
}

/// Bytes counted frame by frame, as they cross the client's socket.
#[derive(Debug, Default)]
struct WireCount {
    /// Server to client: the echoes, as the server framed (and compressed) them.
    down: AtomicU64,
    /// Client to server: the client's messages, masked (and compressed).
    up: AtomicU64,
    /// Data frames received with RSV1 set: proof the mode is what was agreed.
    compressed_down: AtomicU64,
}

impl WireCount {
    fn reset(&self) {
        self.down.store(0, Ordering::SeqCst);
        self.up.store(0, Ordering::SeqCst);
        self.compressed_down.store(0, Ordering::SeqCst);
    }
}

/// An observer that adds every frame's size (header and payload) to `count`.
fn counting(count: Arc<WireCount>) -> Observer {
    Observer::new(0, None, move |tagged| {
        if let Event::Frame(frame) = tagged.event {
            // "81 85 37 fa 21 3d": three characters a byte, the last without its space.
            let header = (frame.header_hex.len() as u64).div_ceil(3);
            let bytes = header + frame.payload_len;
            let data = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
            match frame.direction {
                Direction::In => {
                    count.down.fetch_add(bytes, Ordering::Relaxed);
                    let first = u8::from_str_radix(&frame.header_hex[..2], 16).unwrap_or(0);
                    if data && first & 0x40 != 0 {
                        count.compressed_down.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Direction::Out => {
                    count.up.fetch_add(bytes, Ordering::Relaxed);
                }
            }
        }
    })
}

/// A client of the lab in `mode`.
async fn connect(
    lab: &LabProcess,
    mode: Mode,
    observer: Observer,
) -> anyhow::Result<Connection<TcpStream>> {
    let settings = Settings {
        idle_after: None,
        compression: mode.client_config(),
        ..Settings::default()
    };
    let url = format!("ws://{}/ws", lab.addr);
    let (connection, _) = lab_handshake::client::connect(&url, None, settings, observer)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    Ok(connection)
}

/// Sends `n` messages and checks each echo.
async fn echo(
    connection: &mut Connection<TcpStream>,
    messages: &mut Messages,
    n: usize,
) -> anyhow::Result<()> {
    for _ in 0..n {
        let message = messages.next();
        connection.send(message.clone()).await?;
        let reply = tokio::time::timeout(Duration::from_secs(10), connection.recv())
            .await
            .context("no echo within 10 s")??;
        ensure!(reply == message, "the echo differs from what was sent");
    }
    Ok(())
}

/// One workload in one mode: the medians of `reps` runs.
#[derive(Debug)]
struct Row {
    workload: Workload,
    mode: Mode,
    /// Average message before compression.
    original: f64,
    /// Bytes per echo, server to client, on the wire.
    down: f64,
    /// Bytes per message, client to server, on the wire.
    up: f64,
    /// Server CPU per echoed message, nanoseconds: the median and the range of the runs.
    cpu_ns: f64,
    cpu_min: f64,
    cpu_max: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn per_message(
    args: &Args,
    exe: &Path,
    mode: Mode,
    workload: Workload,
) -> anyhow::Result<Row> {
    let lab = LabProcess::spawn(exe, &mode.lab_args()).await?;
    let count = Arc::new(WireCount::default());
    let mut connection = connect(&lab, mode, counting(Arc::clone(&count))).await?;
    let mut messages = Messages::new(workload);
    echo(&mut connection, &mut messages, args.warmup).await?;

    let (mut cpu, mut down, mut up) = (Vec::new(), Vec::new(), Vec::new());
    let mut original = 0usize;
    let mut sizes = Messages::new(workload);
    for _ in 0..args.reps {
        count.reset();
        let before = procstat::cpu_ns(lab.pid).context("reading the lab's CPU time")?;
        echo(&mut connection, &mut messages, args.messages).await?;
        let after = procstat::cpu_ns(lab.pid).context("reading the lab's CPU time")?;
        let n = args.messages as f64;
        cpu.push((after - before) as f64 / n);
        down.push(count.down.load(Ordering::SeqCst) as f64 / n);
        up.push(count.up.load(Ordering::SeqCst) as f64 / n);
        let compressed = count.compressed_down.load(Ordering::SeqCst);
        let expected = if mode == Mode::Off {
            0
        } else {
            args.messages as u64
        };
        ensure!(
            compressed == expected,
            "{}: {compressed} of {} echoes compressed",
            mode.name(),
            args.messages
        );
    }
    for _ in 0..1000 {
        original += match sizes.next() {
            Message::Text(text) => text.len(),
            Message::Binary(data) => data.len(),
            _ => 0,
        };
    }
    connection.close(1000, "done").await.ok();
    lab.stop().await?;
    let (cpu_min, cpu_max) = cpu
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    Ok(Row {
        workload,
        mode,
        original: original as f64 / 1000.0,
        down: median(&mut down),
        up: median(&mut up),
        cpu_ns: median(&mut cpu),
        cpu_min,
        cpu_max,
    })
}

/// Memory of `n` idle connections in `mode`.
#[derive(Debug)]
struct MemoryRow {
    mode: Mode,
    before: u64,
    after: u64,
    n: usize,
}

async fn idle_memory(exe: &Path, mode: Mode, n: usize) -> anyhow::Result<MemoryRow> {
    let lab = LabProcess::spawn(exe, &mode.lab_args()).await?;
    // Let the lab finish starting (its runtime's threads, its first allocations).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = procstat::rss_bytes(lab.pid).context("reading the lab's memory")?;
    let mut connections = Vec::with_capacity(n);
    let mut messages = Messages::new(Workload::Ticker);
    // One after the other: at most one message is being compressed at any time, so what
    // a no-takeover message allocates and frees is reused by the next instead of piling up.
    for _ in 0..n {
        let mut connection = connect(&lab, mode, Observer::none()).await?;
        echo(&mut connection, &mut messages, 1).await?;
        connections.push(connection);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = procstat::rss_bytes(lab.pid).context("reading the lab's memory")?;
    for connection in &mut connections {
        connection.close(1000, "done").await.ok();
    }
    drop(connections);
    lab.stop().await?;
    Ok(MemoryRow {
        mode,
        before,
        after,
        n,
    })
}

fn lab_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this program")?
            .with_file_name("lab-handshake"),
    };
    ensure!(
        path.exists(),
        "{} not found: build it first (cargo build --release -p lab-handshake), or give --lab-bin",
        path.display()
    );
    Ok(path)
}

async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.reps > 0 && args.messages > 0,
        "--reps and --messages must be above 0"
    );
    let exe = lab_binary(args.lab_bin.as_deref())?;
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    ensure!(
        limit as usize > args.connections + 64,
        "the open-files limit is {limit}: too low for {} connections (raise it with ulimit -n)",
        args.connections
    );

    let mut rows = Vec::new();
    for workload in WORKLOADS {
        for &mode in &args.modes {
            eprintln!(
                "· {} / {}: {} reps of {} messages",
                workload.name(),
                mode.name(),
                args.reps,
                args.messages
            );
            rows.push(per_message(&args, &exe, mode, workload).await?);
        }
    }
    println!(
        "\n## Bytes and server CPU per message ({} messages × {} runs, medians)\n",
        args.messages, args.reps
    );
    println!(
        "| workload | mode | message | on the wire, server → client | × off | client → server | server CPU per echo | × off |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let off = rows
            .iter()
            .find(|r| r.workload == row.workload && r.mode == Mode::Off);
        let ratio = |value: f64, base: Option<f64>| {
            base.map_or("".to_owned(), |base| format!("{:.2}", value / base))
        };
        println!(
            "| {} | {} | {:.0} B | {:.1} B | {} | {:.1} B | {:.1} µs ({:.1}–{:.1}) | {} |",
            row.workload.name(),
            row.mode.name(),
            row.original,
            row.down,
            ratio(row.down, off.map(|o| o.down)),
            row.up,
            row.cpu_ns / 1000.0,
            row.cpu_min / 1000.0,
            row.cpu_max / 1000.0,
            ratio(row.cpu_ns, off.map(|o| o.cpu_ns)),
        );
    }

    if args.connections > 0 {
        let mut memory = Vec::new();
        for &mode in &args.modes {
            eprintln!(
                "· memory / {}: {} idle connections",
                mode.name(),
                args.connections
            );
            memory.push(idle_memory(&exe, mode, args.connections).await?);
        }
        println!(
            "\n## Server memory per idle connection ({} connections, each after one ticker message)\n",
            args.connections
        );
        println!("| mode | resident before | resident after | per connection | more than off |");
        println!("|---|---:|---:|---:|---:|");
        let per =
            |row: &MemoryRow| row.after.saturating_sub(row.before) as f64 / row.n as f64 / 1024.0;
        let off = memory.iter().find(|r| r.mode == Mode::Off).map(per);
        for row in &memory {
            println!(
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {} |",
                row.mode.name(),
                row.before as f64 / 1048576.0,
                row.after as f64 / 1048576.0,
                per(row),
                off.map_or("".to_owned(), |off| format!("{:+.1} KiB", per(row) - off)),
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One worker thread: the client drives one connection at a time, and the other core is
    // left to the lab's process.
    bench::program::main_until_interrupted("compression", Some(1), async {
        run(args).await.map(|()| true)
    })
}
