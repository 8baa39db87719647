//! `rooms-bench`: one room of many members receiving a steady stream of messages. Measures
//! the delivery latency (p50/p99/max) and the server's memory per connection.
//!
//! ```text
//! cargo run --release -p lab-rooms --bin rooms-bench -- --members 1000 --rate 100 --seconds 10
//! ```
//!
//! The server runs in a child process (this program started again with `serve`), so its
//! memory is its own: the resident set size is read from `/proc/<pid>/status` before and
//! after the members connect. The members and the publisher run here. Each message carries
//! the time it was sent; each member records now − then on arrival (one machine, one
//! clock). Chapter 7 ("Rooms") reports a run.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use lab_rooms::{RoomRegistry, RoomsConfig};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A room of N members receiving R messages per second: delivery latency and memory.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    #[command(subcommand)]
    serve: Option<Serve>,

    /// Members in the room.
    #[arg(long, default_value_t = 1000)]
    members: usize,

    /// Messages per second sent to the room.
    #[arg(long, default_value_t = 100)]
    rate: u32,

    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Debug, Subcommand)]
enum Serve {
    /// (internal) run the rooms server for the benchmark and print its address.
    #[command(hide = true)]
    Serve {
        /// Members one room may hold.
        #[arg(long)]
        members: usize,
    },
}

/// The room every member joins.
const ROOM: &str = "bench";

/// The members' WebSocket settings: a 4 KiB read buffer instead of tungstenite's 128 KiB.
/// tungstenite zeroes the free part of its read buffer before every `read` system call, so
/// with the default each message cost a member a 128 KiB `memset`: the clients, which share
/// the machine's cores with the server, would be measured more than the server.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

/// How many members connect at the same time while the room fills up.
const CONNECT_BATCH: usize = 50;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match args.serve {
        Some(Serve::Serve { members }) => runtime.block_on(serve(members)),
        None => runtime.block_on(bench(args)),
    }
}

/// The child: the rooms lab with room for everyone, on a free port, printed on stdout.
async fn serve(members: usize) -> anyhow::Result<()> {
    let listener = kit::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let mut config = RoomsConfig::for_port(addr.port());
    config.limits.members_per_room = members;
    config.gateway.max_connections = members + 10;
    // The publisher sends as fast as the benchmark asks: the per-connection rate limit would
    // close it, and it is not what this benchmark measures.
    config.gateway.rate_limit = None;
    let registry = RoomRegistry::new(config.limits.clone());
    println!("{addr}");
    // Ends when the parent closes our stdin (or kills us).
    let parent_gone = async {
        let mut line = String::new();
        let _ = BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await;
    };
    kit::serve(listener, lab_rooms::app(config, registry), parent_gone).await?;
    Ok(())
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// One member: connect (and say so on `ready`), wait for the signal to join, join (and say
/// so again), then record the latency of every message until `expected` arrived or the
/// deadline passed. Returns its histogram (microseconds), what it received and missed.
async fn member(
    addr: SocketAddr,
    index: usize,
    ready: tokio::sync::mpsc::Sender<()>,
    mut go: tokio::sync::watch::Receiver<bool>,
    expected: u64,
    deadline: tokio::time::Instant,
) -> anyhow::Result<(Histogram<u64>, u64, u64)> {
    let url = format!("ws://{addr}/ws?name=m{index}");
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(client_config()), false).await?;
    let _ = ready.send(()).await;
    // Idle until every member is connected and the server's memory has been read.
    go.wait_for(|go| *go).await?;
    let join = json!({ "event": "join", "data": { "room": ROOM }, "id": 1 });
    ws.send(Message::text(join.to_string())).await?;
    // Latencies go into a plain vector, merged into one histogram at the end: a thousand
    // histograms with a 60 s range would not fit in the CPU's caches, and the members share
    // the machine's cores with the server they measure.
    let mut latencies = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    let (mut received, mut missed) = (0u64, 0u64);
    let mut joined = false;
    let give_up = tokio::time::sleep_until(deadline);
    tokio::pin!(give_up);
    // Until the last message (numbered expected − 1) arrives: a member that lagged still
    // gets the newest messages, so the last one always comes, or the deadline passes.
    loop {
        let next = tokio::select! {
            next = ws.next() => next,
            () = &mut give_up => break,
        };
        let Some(Ok(Message::Text(text))) = next else {
            match next {
                Some(Ok(_)) => continue,
                _ => bail!("member {index}: the connection ended"),
            }
        };
        // Only the fields a member reads, borrowed from the frame: the benchmark measures
        // the server, not how fast the clients build JSON trees.
        let incoming: Incoming<'_> = serde_json::from_str(text.as_str())?;
        match incoming.event.as_ref() {
            "ack" if !joined => {
                joined = true;
                let _ = ready.send(()).await;
            }
            "exception" => bail!("member {index}: {}", text.as_str()),
            "message" => {
                let text = incoming.data.text.unwrap_or_default();
                let mut fields = text.split(' ');
                let (Some(seq), Some(sent)) = (fields.next(), fields.next()) else {
                    bail!("member {index}: not a benchmark message: {text}");
                };
                let (seq, sent): (u64, u64) = (seq.parse()?, sent.parse()?);
                latencies.push((now_nanos().saturating_sub(sent) / 1000).max(1));
                received += 1;
                if seq + 1 == expected {
                    break;
                }
            }
            // Counts every event the member fell behind on: chat messages, and presence
            // events if it lagged while the room filled up.
            "missed" => missed += incoming.data.missed.unwrap_or(0),
            _ => {}
        }
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for micros in latencies {
        histogram.record(micros)?;
    }
    Ok((histogram, received, missed))
}

/// The parts of an incoming envelope a member reads.
#[derive(Debug, Deserialize)]
struct Incoming<'a> {
    /// `ack`, `message`, `missed`, `exception`, or a presence event.
    #[serde(borrow)]
    event: Cow<'a, str>,
    /// The fields of `data` a member reads.
    #[serde(default, borrow)]
    data: IncomingData<'a>,
}

/// The fields of an event's `data` a member reads.
#[derive(Debug, Default, Deserialize)]
struct IncomingData<'a> {
    /// A chat message's text: "<seq> <sent at, ns>".
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    /// How many events a `missed` event says were lost.
    missed: Option<u64>,
}

async fn bench(args: Args) -> anyhow::Result<()> {
    ensure!(
        args.members > 0 && args.rate > 0 && args.seconds > 0,
        "members, rate and seconds must be positive"
    );
    let exe = std::env::current_exe()?;
    let mut server = tokio::process::Command::new(exe)
        .args(["serve", "--members", &(args.members + 1).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server process")?;
    let pid = server.id().context("the server's pid")?;
    let stdout = server.stdout.take().context("the server's stdout")?;
    let line = tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).lines().next_line(),
    )
    .await
    .context("the server did not start within 10 s")??
    .context("the server exited")?;
    let addr: SocketAddr = line
        .trim()
        .parse()
        .with_context(|| format!("not an address: {line}"))?;
    let rss_before = rss_kib(pid)?;
    eprintln!("server pid {pid} on {addr}, {rss_before} KiB resident before any member");

    let messages = u64::from(args.rate) * args.seconds;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds + 60);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(args.members);
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let mut members = JoinSet::new();
    for batch_start in (0..args.members).step_by(CONNECT_BATCH) {
        let batch_end = (batch_start + CONNECT_BATCH).min(args.members);
        for index in batch_start..batch_end {
            members.spawn(member(
                addr,
                index,
                ready_tx.clone(),
                go_rx.clone(),
                messages,
                deadline,
            ));
        }
        for _ in batch_start..batch_end {
            tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
                .await
                .context("members did not connect within 30 s")?;
        }
    }
    // Let the server settle, then read its memory: everyone connected, nobody in a room.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid)?;
    let per_idle = rss_idle.saturating_sub(rss_before) as f64 / args.members as f64;
    eprintln!(
        "{} members connected; {rss_idle} KiB resident",
        args.members
    );

    // Now everyone joins the room.
    go_tx.send(true)?;
    for _ in 0..args.members {
        tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
            .await
            .context("members did not join within 30 s")?;
    }
    // Joining announced every member to the room: let those presence events drain first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_joined = rss_kib(pid)?;
    let per_member = rss_joined.saturating_sub(rss_before) as f64 / args.members as f64;
    eprintln!("{} members joined; {rss_joined} KiB resident", args.members);

    // The publisher: one more connection, in the room, sending at a fixed rate.
    let (mut publisher, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/ws?name=publisher")).await?;
    let join = json!({ "event": "join", "data": { "room": ROOM }, "id": 1 });
    publisher.send(Message::text(join.to_string())).await?;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / args.rate);
    let (mut sink, mut stream) = publisher.split();
    // Drain what the publisher receives (its own messages come back to it too).
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    let started = tokio::time::Instant::now();
    for seq in 0..messages {
        ticker.tick().await;
        let text = format!("{seq} {}", now_nanos());
        let send = json!({ "event": "send", "data": { "room": ROOM, "text": text } });
        sink.send(Message::text(send.to_string())).await?;
    }
    let sending = started.elapsed();

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut received, mut missed) = (0u64, 0u64);
    while let Some(result) = members.join_next().await {
        let (h, r, m) = result??;
        histogram.add(h)?;
        received += r;
        missed += m;
    }
    drain.abort();
    let _ = server.kill().await;

    let expected = messages * args.members as u64;
    println!(
        "rooms-bench: {} members, {} msg/s for {} s ({} messages, sent in {:.2} s)",
        args.members,
        args.rate,
        args.seconds,
        messages,
        sending.as_secs_f64()
    );
    println!(
        "deliveries: {received} of {expected}; the lab told members they missed {missed} events (messages, or presence events while the room filled)"
    );
    println!(
        "delivery latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        histogram.value_at_quantile(0.50) as f64 / 1000.0,
        histogram.value_at_quantile(0.90) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
    println!(
        "server memory: {rss_before} KiB before; {rss_idle} KiB with everyone connected ({per_idle:.1} KiB per idle connection); {rss_joined} KiB with everyone in the room ({per_member:.1} KiB per member)"
    );
    Ok(())
}
