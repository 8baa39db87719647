//! The fan-out benchmark of chapter 9: one publisher, N subscribers, the naive way and the
//! scaling way side by side in one run.
//!
//! ```text
//! cargo run --release -p lab-broadcast --bin fanout-bench -- --subscribers 1000,10000
//! ```
//!
//! For each number of subscribers and each fan-out way, it starts the lab's server in a
//! child process (this same binary with `--serve`), so server and clients never share a
//! runtime, then measures:
//!
//! 1. **memory per idle connection**: the server's resident memory (`VmRSS` in
//!    `/proc/<pid>/status`) before and after N idle subscribers connect, divided by N;
//! 2. **delivery latency** at a steady rate (`--rate` broadcasts per second for
//!    `--seconds`): the time from the publisher's send to each subscriber's receipt, p50,
//!    p99 and max (publisher and subscribers share this process's clock);
//! 3. **deliveries per second** in a burst: `--burst` broadcasts sent back to back, and the
//!    time until every subscriber has all of them;
//! 4. **batching**: updates at `--update-rate` per second published one broadcast each, then
//!    coalesced every `--window-ms` into one broadcast, with the latency that costs.
//!
//! Beside the lab's two ways, the same measurements are made on **the floor**
//! (`lab_broadcast::floor`): plain TCP subscribers and a server that writes each frame to
//! every socket in one loop, no WebSocket, no JSON, no queues. What it costs is what one
//! `write` per subscriber costs in the kernel, the part no WebSocket server can remove.
//!
//! Release builds only give meaningful numbers. The machine's two cores are shared by the
//! server, the clients, and whatever else runs: the numbers say what this machine did in
//! this run, nothing more. Chapter 9 ("Broadcasting") shows a run and reads it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::SinkExt as _;
use lab_broadcast::floor;
use lab_broadcast::tools::{self, Behaviour};
use lab_broadcast::{FanOut, LabConfig};
use tokio_tungstenite::tungstenite::Message;

/// Fan-out from one publisher to N subscribers: naive vs scaling.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Numbers of subscribers to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    subscribers: Vec<usize>,

    /// The fan-out ways to compare, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "naive,scaling"
    )]
    fanout: Vec<FanOut>,

    /// Broadcasts per second in the latency run.
    #[arg(long, default_value_t = 10)]
    rate: u64,

    /// Length of the latency run, in seconds.
    #[arg(long, default_value_t = 5)]
    seconds: u64,

    /// Broadcasts sent back to back in the throughput run.
    #[arg(long, default_value_t = 50)]
    burst: u64,

    /// Subscribers for the batching comparison (0: skip it).
    #[arg(long, default_value_t = 1000)]
    batching_subscribers: usize,

    /// Updates per second in the batching comparison.
    #[arg(long, default_value_t = 100)]
    update_rate: u64,

    /// The coalescing window of the batching comparison, in milliseconds.
    #[arg(long, default_value_t = 100)]
    window_ms: u64,

    /// tungstenite's buffers per connection on the server, in bytes: the lab's default is
    /// 1 KiB, the gateway's 4 KiB, tungstenite's own 128 KiB.
    #[arg(long, default_value_t = lab_broadcast::lab::READ_BUFFER_BYTES)]
    socket_buffer: usize,

    /// Skip the raw-TCP floor.
    #[arg(long)]
    no_floor: bool,

    /// Internal: run the server with this fan-out way, print its address, serve.
    #[arg(long, value_enum, hide = true)]
    serve: Option<FanOut>,

    /// Internal: run the floor server, print its address, serve.
    #[arg(long, hide = true)]
    serve_floor: bool,
}

/// Outgoing queue per connection in the benchmark's server: room for a whole burst, so
/// the burst measures speed, not the slow-consumer policy.
const BENCH_QUEUE: usize = 1024;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // 10 000 subscribers need 10 000 descriptors in each process: raise the soft limit to
    // the hard one.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve_floor {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        // The parent reads this line to learn the port.
        println!("listening {}", listener.local_addr()?);
        return Ok(floor::serve(listener)?);
    }
    match args.serve {
        Some(fanout) => runtime.block_on(serve(fanout, args.socket_buffer)),
        None => runtime.block_on(bench(args, limit)),
    }
}

/// The child process: the lab's server, quiet, with room for many connections.
async fn serve(fanout: FanOut, socket_buffer: usize) -> anyhow::Result<()> {
    kit::init_tracing();
    let listener = kit::bind("127.0.0.1:0".parse()?).await?;
    let mut config = LabConfig::for_port(listener.local_addr()?.port()).with_fanout(fanout);
    config.gateway.idle_timeout = None;
    config.gateway.max_connections = 100_000;
    // The publisher sends as fast as the benchmark asks: the per-connection rate limit would
    // close it, and it is not what this benchmark measures.
    config.gateway.rate_limit = None;
    config.gateway.outgoing_queue = BENCH_QUEUE;
    config.gateway.socket_buffer_bytes = socket_buffer;
    config.hub.volatile_keep_free = BENCH_QUEUE / 2;
    // The parent reads this line to learn the port.
    println!("listening {}", listener.local_addr()?);
    kit::serve(listener, lab_broadcast::app(config), kit::shutdown_signal()).await?;
    Ok(())
}

/// The server child, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(fanout: FanOut, socket_buffer: usize) -> anyhow::Result<Self> {
        let way = match fanout {
            FanOut::Naive => "naive",
            FanOut::Scaling => "scaling",
        };
        let socket_buffer = socket_buffer.to_string();
        Self::spawn(&["--serve", way, "--socket-buffer", &socket_buffer])
    }

    /// The floor server (`lab_broadcast::floor`); its `url` is `host:port`.
    fn start_floor() -> anyhow::Result<Self> {
        Self::spawn(&["--serve-floor"])
    }

    fn spawn(args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the server process")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening ") else {
            bail!("the server did not start: {line:?}");
        };
        let url = if args.contains(&"--serve-floor") {
            addr.to_string()
        } else {
            format!("ws://{addr}/ws")
        };
        Ok(Self { url, child })
    }

    /// The server's resident memory in KiB.
    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc/<pid>/status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of the results.
#[derive(Debug)]
struct Row {
    subscribers: usize,
    way: &'static str,
    idle_bytes_per_conn: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    latency_missing: u64,
    deliveries_per_s: f64,
    burst_missing: u64,
}

async fn bench(args: Args, limit: u64) -> anyhow::Result<()> {
    println!(
        "fan-out benchmark: {} cores, RLIMIT_NOFILE {limit}, rate {}/s for {} s, burst {}, server read buffer {} B",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.rate,
        args.seconds,
        args.burst,
        args.socket_buffer
    );
    let mut rows = Vec::new();
    let mut passes = Vec::new();
    for &n in &args.subscribers {
        if !args.no_floor {
            eprintln!("{n} subscribers, raw TCP floor...");
            let (row, pass) = measure_floor(&args, n).await?;
            rows.push(row);
            passes.push((n, pass));
        }
        for &fanout in &args.fanout {
            eprintln!("{n} subscribers, {fanout:?}...");
            rows.push(measure(&args, n, fanout).await?);
        }
    }
    println!();
    println!(
        "| subscribers | fan-out | idle memory / conn | latency p50 | p99 | max | missing | burst deliveries/s | missing |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} KiB | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.0} | {} |",
            r.subscribers,
            r.way,
            r.idle_bytes_per_conn as f64 / 1024.0,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.latency_missing,
            r.deliveries_per_s,
            r.burst_missing
        );
    }
    if !passes.is_empty() {
        println!();
        println!(
            "The floor's server: one pass writing a {}-byte frame to every subscriber, one thread:",
            floor::FRAME_LEN
        );
        println!();
        println!("| subscribers | pass p50 | p99 | max | per write |");
        println!("|---:|---:|---:|---:|---:|");
        for (n, pass) in &passes {
            println!(
                "| {n} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} µs |",
                pass.p50_ms,
                pass.p99_ms,
                pass.max_ms,
                pass.p50_ms * 1000.0 / *n as f64
            );
        }
    }
    if args.batching_subscribers > 0 {
        let n = args.batching_subscribers;
        eprintln!("batching, {n} subscribers...");
        let unbatched = coalesce(&args, n, 0).await?;
        let batched = coalesce(&args, n, args.window_ms).await?;
        println!();
        println!(
            "{n} subscribers, {} updates/s for {} s, scaling fan-out:",
            args.update_rate, args.seconds
        );
        println!();
        println!(
            "| window | broadcasts | frames delivered | update latency p50 | p99 | max | updates missing |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for (window, r) in [(0, unbatched), (args.window_ms, batched)] {
            println!(
                "| {window} ms | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
                r.broadcasts, r.frames, r.p50_ms, r.p99_ms, r.max_ms, r.missing
            );
        }
    }
    Ok(())
}

/// The outcome of one batching run.
#[derive(Debug)]
struct Coalesced {
    broadcasts: u64,
    frames: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    missing: u64,
}

// ANCHOR: coalesce
/// Updates produced at `--update-rate` per second for `--seconds`, published one broadcast
/// each (`window_ms` 0) or coalesced: every `window_ms`, the updates produced meanwhile go
/// out as one broadcast. The latency of an update counts from when it was produced, so the
/// time it waited for its window is part of it.
async fn coalesce(args: &Args, n: usize, window_ms: u64) -> anyhow::Result<Coalesced> {
    let server = Server::start(FanOut::Scaling, args.socket_buffer)?;
    let clock = Instant::now();
    let subscribers = tools::open(&server.url, n, &Behaviour::default(), clock).await?;
    let mut publisher = tools::connect(&server.url).await?;
    let updates = args.update_rate * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.update_rate.max(1) as u32);
    let per_window = (args.update_rate * window_ms / 1000).max(1);
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
    let frames_expected = broadcasts * n as u64;
    subscribers
        .wait_for(frames_expected, Duration::from_secs(30))
        .await;
    let frames = subscribers.received();
    let totals = subscribers.finish().await;
    let mut latencies = totals.latencies_us;
    latencies.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    Ok(Coalesced {
        broadcasts,
        frames,
        p50_ms: ms(tools::percentile(&latencies, 0.5)),
        p99_ms: ms(tools::percentile(&latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or(0)),
        missing: (updates * n as u64).saturating_sub(latencies.len() as u64),
    })
}
// ANCHOR_END: coalesce

async fn measure(args: &Args, n: usize, fanout: FanOut) -> anyhow::Result<Row> {
    let server = Server::start(fanout, args.socket_buffer)?;
    let clock = Instant::now();
    let behaviour = Behaviour::default();
    // Warm the server up with one connection, so its runtime and allocator are in place.
    drop(tools::connect(&server.url).await?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib()?;

    // 1. Idle memory.
    let subscribers = tools::open(&server.url, n, &behaviour, clock).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib()?;
    let idle_bytes_per_conn = after.saturating_sub(before) * 1024 / n as u64;

    // 2. Latency at a steady rate.
    let mut publisher = tools::connect(&server.url).await?;
    let count = args.rate * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1) as u32);
    for i in 0..count {
        tick.tick().await;
        let message = tools::publish_message(i, clock, None, None);
        publisher.send(Message::text(message)).await?;
    }
    let expected = count * n as u64;
    subscribers
        .wait_for(expected, Duration::from_secs(30))
        .await;
    let totals = subscribers.finish().await;
    let received: u64 = totals.tallies.iter().map(|t| t.received).sum();
    let mut latencies = totals.latencies_us;
    latencies.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;

    // 3. Throughput in a burst, with fresh subscribers.
    let subscribers = tools::open(&server.url, n, &behaviour, clock).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    for i in 0..args.burst {
        let message = tools::publish_message(i, clock, None, None);
        publisher.feed(Message::text(message)).await?;
    }
    publisher.flush().await?;
    let burst_expected = args.burst * n as u64;
    subscribers
        .wait_for(burst_expected, Duration::from_secs(60))
        .await;
    let elapsed = start.elapsed();
    let burst_received = subscribers.received();
    drop(subscribers.finish().await);

    Ok(Row {
        subscribers: n,
        way: match fanout {
            FanOut::Naive => "Naive",
            FanOut::Scaling => "Scaling",
        },
        idle_bytes_per_conn,
        p50_ms: ms(tools::percentile(&latencies, 0.5)),
        p99_ms: ms(tools::percentile(&latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or(0)),
        latency_missing: expected.saturating_sub(received),
        deliveries_per_s: burst_received as f64 / elapsed.as_secs_f64(),
        burst_missing: burst_expected.saturating_sub(burst_received),
    })
}

/// How long the floor server took for one pass over every subscriber, in milliseconds.
#[derive(Debug)]
struct Passes {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

// ANCHOR: measure_floor
/// The same three measurements as [`measure`], on the floor (`lab_broadcast::floor`).
async fn measure_floor(args: &Args, n: usize) -> anyhow::Result<(Row, Passes)> {
    let server = Server::start_floor()?;
    let addr: std::net::SocketAddr = server.url.parse()?;
    let clock = Instant::now();
    let before = server.rss_kib()?;

    // 1. Idle memory.
    let subscribers = floor::Subscribers::open(addr, n, clock).await?;
    if !floor::wait_for_subscribers(addr, n, Duration::from_secs(30)).await? {
        bail!("the floor server did not accept {n} subscribers within 30 s");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib()?;
    let idle_bytes_per_conn = after.saturating_sub(before) * 1024 / n as u64;

    // 2. Latency at a steady rate.
    let mut publisher = floor::Publisher::connect(addr).await?;
    let count = args.rate * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1) as u32);
    let mut passes = Vec::with_capacity(count as usize);
    for i in 0..count {
        tick.tick().await;
        let frame = floor::frame(i, clock.elapsed().as_micros() as u64);
        passes.push(publisher.publish(&frame).await?.as_micros() as u64);
    }
    let expected = count * n as u64;
    subscribers
        .wait_for(expected, Duration::from_secs(30))
        .await;
    let received = subscribers.received();
    let mut latencies = subscribers.finish().await;
    latencies.sort_unstable();
    passes.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;

    // 3. Throughput in a burst, with fresh subscribers on a fresh server (the floor server
    //    never forgets a subscriber, gone or not).
    drop((publisher, server));
    let server = Server::start_floor()?;
    let addr: std::net::SocketAddr = server.url.parse()?;
    let subscribers = floor::Subscribers::open(addr, n, clock).await?;
    if !floor::wait_for_subscribers(addr, n, Duration::from_secs(30)).await? {
        bail!("the floor server did not accept {n} subscribers within 30 s");
    }
    let mut publisher = floor::Publisher::connect(addr).await?;
    let start = Instant::now();
    for i in 0..args.burst {
        publisher
            .publish(&floor::frame(i, clock.elapsed().as_micros() as u64))
            .await?;
    }
    let burst_expected = args.burst * n as u64;
    subscribers
        .wait_for(burst_expected, Duration::from_secs(60))
        .await;
    let elapsed = start.elapsed();
    let burst_received = subscribers.received();
    drop(subscribers.finish().await);

    let row = Row {
        subscribers: n,
        way: "raw TCP floor",
        idle_bytes_per_conn,
        p50_ms: ms(tools::percentile(&latencies, 0.5)),
        p99_ms: ms(tools::percentile(&latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or(0)),
        latency_missing: expected.saturating_sub(received),
        deliveries_per_s: burst_received as f64 / elapsed.as_secs_f64(),
        burst_missing: burst_expected.saturating_sub(burst_received),
    };
    let passes = Passes {
        p50_ms: ms(tools::percentile(&passes, 0.5)),
        p99_ms: ms(tools::percentile(&passes, 0.99)),
        max_ms: ms(passes.last().copied().unwrap_or(0)),
    };
    Ok((row, passes))
}
// ANCHOR_END: measure_floor
