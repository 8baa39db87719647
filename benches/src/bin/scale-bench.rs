//! `scale-bench`: what the Redis hop between nodes costs a chat room. One node delivering
//! from memory (the floor), then 1, 2 and 3 nodes with Redis pub/sub between them, and 3
//! nodes with the clients going through HAProxy: room delivery latency (p50, p99, for every
//! delivery and for those crossing nodes), deliveries per second at a fixed offered load and
//! at saturation, and the CPU each message costs Redis (from its `INFO cpu`) and the nodes.
//!
//! ```text
//! cargo build --release -p lab-scale -p bench
//! cargo run --release -p bench --bin scale-bench
//! cargo run --release -p bench --bin scale-bench -- --help
//! ```
//!
//! The cluster is the lab's own (`lab_scale::cluster`): a real `redis-server`, the lab's
//! release binary as each node (found next to this program, or `--lab-bin`), a real
//! `haproxy`, each a child process on 127.0.0.1, stopped at the end. The clients are in this
//! process: `--receivers` members of one room spread evenly over the nodes, and `--senders`
//! members saying messages without asking for an ack. Each message carries its **scheduled**
//! send time (open loop: a late sender does not hide its lateness, no coordinated omission),
//! and its latency is the receiving time minus that, on this process's one clock.
//!
//! Two loads per setup: `--rate` messages a second in all, fire and forget (latency at a
//! load well below capacity), then every sender in a closed loop, each message acknowledged
//! before the next (capacity: deliveries per second over `--secs`). Nodes run with `--no-rate-limit`, since the senders type faster than any
//! person. The goals of the issue are reported, not asserted. Chapter "Scaling out" shows a
//! run; where this machine (2 cores shared by Redis, every node, HAProxy and the clients)
//! differs from one core per node is discussed there.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use bench::procstat::cpu_ns;
use bench::stats::{Latency, new_histogram, record};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use lab_scale::cluster::{Balance, Cluster, Options};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Room delivery latency and throughput: one node in memory vs 1-3 nodes through Redis.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// Members of the room receiving, spread evenly over the nodes.
    #[arg(long, default_value_t = 30)]
    receivers: usize,
    /// Members saying messages, spread over the nodes too.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages a second in all, for the latency run.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Seconds of warm-up before each run, not measured.
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// The lab's binary [default: `lab-scale` next to this program].
    #[arg(long)]
    lab_bin: Option<PathBuf>,
}

/// One setup of the cluster.
#[derive(Clone, Copy, Debug)]
struct Setup {
    /// What the table calls it.
    name: &'static str,
    /// Nodes.
    nodes: usize,
    /// Redis between them, or each node on its own.
    redis: bool,
    /// Clients through HAProxy, or straight to their node.
    via_balancer: bool,
}

const SETUPS: [Setup; 5] = [
    Setup {
        name: "1 node, in memory (floor)",
        nodes: 1,
        redis: false,
        via_balancer: false,
    },
    Setup {
        name: "1 node, Redis",
        nodes: 1,
        redis: true,
        via_balancer: false,
    },
    Setup {
        name: "2 nodes, Redis",
        nodes: 2,
        redis: true,
        via_balancer: false,
    },
    Setup {
        name: "3 nodes, Redis",
        nodes: 3,
        redis: true,
        via_balancer: false,
    },
    Setup {
        name: "3 nodes, Redis, via HAProxy",
        nodes: 3,
        redis: true,
        via_balancer: true,
    },
];

/// What one run measured.
#[derive(Debug)]
struct Outcome {
    all: Latency,
    cross: Option<Latency>,
    deliveries_per_sec: f64,
    messages: u64,
    missed: u64,
    redis_us_per_msg: Option<f64>,
    nodes_us_per_msg: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.receivers > 0 && args.senders > 0 && args.rate > 0.0,
        "receivers, senders and rate must be above 0"
    );
    let exe = match &args.lab_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this program has no folder")?
            .join("lab-scale"),
    };
    ensure!(
        exe.is_file(),
        "{} not found: cargo build --release -p lab-scale",
        exe.display()
    );
    for (name, path) in lab_scale::programs() {
        ensure!(
            path.is_some(),
            "{name} is not installed (Debian: apt-get install redis-server haproxy)"
        );
    }
    let mut rows = Vec::new();
    for setup in SETUPS {
        for rate in [Some(args.rate), None] {
            eprintln!(
                "== {} at {}",
                setup.name,
                rate.map_or("saturation".to_owned(), |r| format!("{r} msg/s"))
            );
            let outcome = run(&args, &exe, setup, rate).await?;
            eprintln!("   {outcome:?}");
            rows.push((setup, rate, outcome));
        }
    }
    print_table(&args, &rows);
    Ok(())
}

/// A connection to `addr`'s `/ws` as `name`, in `room`.
async fn member(
    addr: SocketAddr,
    name: &str,
    room: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let url = format!("ws://{addr}/ws?name={name}");
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .context("connecting timed out")??;
    let _ = tcp_nodelay(&ws);
    let join = serde_json::json!({ "event": "join", "data": { "room": room }, "id": 1 });
    ws.send(Message::text(join.to_string())).await?;
    // Wait for the join's ack, so that no message is said before everyone is in.
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .context("no join ack")?
            .context("closed before the join ack")??;
        if let Message::Text(text) = frame {
            let value: serde_json::Value = serde_json::from_str(text.as_str())?;
            if value["event"] == "ack" && value["id"] == 1 {
                return Ok(ws);
            }
        }
    }
}

/// The number right after `key` in `text`.
fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(key)? + key.len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The `"text":"<node>:<µs>"` of a message frame.
fn stamp(frame: &str) -> Option<(usize, u64)> {
    let key = r#""text":""#;
    let rest = &frame[frame.find(key)? + key.len()..];
    let (node, rest) = rest.split_once(':')?;
    let end = rest.find('"')?;
    Some((node.parse().ok()?, rest[..end].parse().ok()?))
}

/// Sets `TCP_NODELAY` on a client socket.
fn tcp_nodelay(
    ws: &tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> std::io::Result<()> {
    match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.set_nodelay(true),
        _ => Ok(()),
    }
}

/// Redis's own CPU so far, user + system, in seconds, from `INFO cpu`.
async fn redis_cpu(url: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_user") + field("used_cpu_sys"))
}

/// One run: a fresh cluster, the room filled, `rate` messages a second (or as fast as the
/// senders can) for `--secs` after the warm-up.
async fn run(
    args: &Args,
    exe: &std::path::Path,
    setup: Setup,
    rate: Option<f64>,
) -> anyhow::Result<Outcome> {
    let options = Options {
        exe: exe.to_owned(),
        nodes: setup.nodes,
        redis: setup.redis,
        balance: Balance::Roundrobin,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        node_args: vec!["--no-rate-limit".into()],
    };
    let cluster = Cluster::start(&options).await?;
    let node_addr = |i: usize| cluster.nodes[i % setup.nodes].addr;
    let room = "bench";
    let origin = Instant::now();
    let warm_until = Duration::from_secs(args.warmup_secs);
    let end_at = warm_until + Duration::from_secs(args.secs);

    // Receivers: member i on node i mod n (through the balancer, round robin does the same).
    let stop = Arc::new(AtomicBool::new(false));
    let mut receivers = JoinSet::new();
    for i in 0..args.receivers {
        let addr = if setup.via_balancer {
            cluster.balancer.addr
        } else {
            node_addr(i)
        };
        let mut ws = member(addr, &format!("r{i}"), room).await?;
        let my_node = i % setup.nodes;
        let stop = Arc::clone(&stop);
        receivers.spawn(async move {
            let (mut all, mut cross) = (new_histogram(), new_histogram());
            let (mut delivered, mut missed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let Ok(Some(Ok(frame))) =
                    tokio::time::timeout(Duration::from_millis(200), ws.next()).await
                else {
                    continue;
                };
                let Message::Text(text) = frame else { continue };
                let now = origin.elapsed();
                let text = text.as_str();
                // Read without a JSON parser: the receivers share the machine's two cores with
                // the cluster, and their own cost must not be what is measured.
                if text.contains(r#""event":"missed""#) {
                    missed += number_after(text, r#""missed":"#).unwrap_or(0);
                    continue;
                }
                if !text.contains(r#""event":"message""#) {
                    continue;
                }
                // "<sender node>:<scheduled µs>"
                let Some((from, at_us)) = stamp(text) else {
                    continue;
                };
                let at = Duration::from_micros(at_us);
                if at < warm_until || at >= end_at {
                    continue;
                }
                delivered += 1;
                let ns = u64::try_from(now.saturating_sub(at).as_nanos()).unwrap_or(u64::MAX);
                record(&mut all, ns);
                if from != my_node {
                    record(&mut cross, ns);
                }
            }
            (all, cross, delivered, missed)
        });
    }

    // CPU before.
    let redis_url = cluster.redis.as_ref().map(|r| r.url());
    let redis_before = match &redis_url {
        Some(url) => Some(redis_cpu(url).await?),
        None => None,
    };
    let node_pids: Vec<u32> = cluster.nodes.iter().map(|n| n.pid()).collect();
    let nodes_before: u64 = node_pids.iter().filter_map(|p| cpu_ns(*p)).sum();

    // Senders: sender j on node (j + 1) mod n, so that with several nodes most of its
    // receivers are elsewhere.
    let sent = Arc::new(AtomicU64::new(0));
    let mut senders = JoinSet::new();
    for j in 0..args.senders {
        let node = (j + 1) % setup.nodes;
        let addr = if setup.via_balancer {
            cluster.balancer.addr
        } else {
            node_addr(node)
        };
        let mut ws = member(addr, &format!("s{j}"), room).await?;
        let sent = Arc::clone(&sent);
        let period = rate.map(|r| Duration::from_secs_f64(args.senders as f64 / r));
        let offset = period.map(|p| p.mul_f64(j as f64 / args.senders as f64));
        senders.spawn(async move {
            let start = origin.elapsed();
            let mut k = 0u32;
            loop {
                let at = match (period, offset) {
                    (Some(period), Some(offset)) => start + offset + period * k,
                    _ => origin.elapsed(),
                };
                if at >= end_at {
                    break;
                }
                if let Some(wait) = at.checked_sub(origin.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                let text = format!("{node}:{}", at.as_micros());
                // At a fixed rate, fire and forget (open loop). At saturation, closed loop:
                // ask for an ack and wait for it, so the senders go exactly as fast as the
                // cluster takes messages in, and no queue grows without bound.
                let id = period.is_none().then_some(k + 2);
                let said = serde_json::json!({ "event": "send", "data": { "room": "bench", "text": text }, "id": id });
                if ws.send(Message::text(said.to_string())).await.is_err() {
                    break;
                }
                if let Some(id) = id {
                    let ack = format!(r#""id":{id}"#);
                    loop {
                        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                            Ok(Some(Ok(Message::Text(frame)))) if frame.as_str().contains(r#""event":"ack""#) && frame.as_str().contains(&ack) => break,
                            Ok(Some(Ok(_))) => {}
                            _ => return,
                        }
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
                k += 1;
            }
            // Keep reading until told to stop, so the node never blocks on this socket.
            let _ = tokio::time::timeout(Duration::from_secs(2), async { while ws.next().await.is_some() {} }).await;
        });
    }
    // Through the balancer the nodes are HAProxy's choice, so no cross-node column there.
    while senders.join_next().await.is_some() {}
    // Let the last messages arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut cross): (Histogram<u64>, Histogram<u64>) = (new_histogram(), new_histogram());
    let (mut delivered, mut missed) = (0u64, 0u64);
    while let Some(joined) = receivers.join_next().await {
        let (a, c, d, m) = joined?;
        all.add(a)?;
        cross.add(c)?;
        delivered += d;
        missed += m;
    }
    let messages = sent.load(Ordering::Relaxed);
    let redis_us_per_msg = match (&redis_url, redis_before) {
        (Some(url), Some(before)) => {
            Some((redis_cpu(url).await? - before) * 1e6 / messages.max(1) as f64)
        }
        _ => None,
    };
    let nodes_after: u64 = node_pids.iter().filter_map(|p| cpu_ns(*p)).sum();
    let nodes_us_per_msg =
        nodes_after.saturating_sub(nodes_before) as f64 / 1000.0 / messages.max(1) as f64;
    drop(cluster);
    Ok(Outcome {
        all: Latency::from_histogram(&all),
        cross: (setup.nodes > 1 && !setup.via_balancer).then(|| Latency::from_histogram(&cross)),
        deliveries_per_sec: delivered as f64 / args.secs as f64,
        messages,
        missed,
        redis_us_per_msg,
        nodes_us_per_msg,
    })
}

/// The Markdown table of every run, then the issue's goals.
fn print_table(args: &Args, rows: &[(Setup, Option<f64>, Outcome)]) {
    println!(
        "{} receivers and {} senders in one room; {} s measured after {} s of warm-up; latency from the scheduled send time.\n",
        args.receivers, args.senders, args.secs, args.warmup_secs
    );
    println!(
        "| setup | load | messages | p50 ms | p99 ms | cross-node p50 / p99 ms | deliveries/s | missed | Redis CPU µs/msg | nodes CPU µs/msg |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |us: f64| format!("{:.2}", us / 1000.0);
    for (setup, rate, o) in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {:.1} |",
            setup.name,
            rate.map_or("saturation".to_owned(), |r| format!("{r:.0} msg/s")),
            o.messages,
            ms(o.all.p50_us),
            ms(o.all.p99_us),
            o.cross.map_or("–".to_owned(), |c| format!(
                "{} / {}",
                ms(c.p50_us),
                ms(c.p99_us)
            )),
            o.deliveries_per_sec,
            o.missed,
            o.redis_us_per_msg
                .map_or("–".to_owned(), |c| format!("{c:.1}")),
            o.nodes_us_per_msg,
        );
    }
    let find = |name: &str, load: bool| {
        rows.iter()
            .find(|(s, r, _)| s.name == name && r.is_some() == load)
            .map(|(_, _, o)| o)
    };
    let mut goals = BTreeMap::new();
    if let (Some(floor), Some(three)) = (find(SETUPS[0].name, true), find(SETUPS[3].name, true)) {
        let added = (three.cross.unwrap_or(three.all).p50_us - floor.all.p50_us) / 1000.0;
        goals.insert(
            "Redis hop adds ≤ 0.5 ms to p50 (3 nodes, cross-node, vs floor)",
            (added <= 0.5, format!("+{added:.2} ms")),
        );
    }
    if let (Some(floor), Some(three)) = (find(SETUPS[0].name, false), find(SETUPS[3].name, false)) {
        let ratio = three.deliveries_per_sec / floor.deliveries_per_sec.max(1.0);
        goals.insert(
            "3 nodes deliver ≥ 0.8× one node at saturation",
            (ratio >= 0.8, format!("{ratio:.2}×")),
        );
    }
    println!();
    for (goal, (met, value)) in goals {
        println!(
            "- {goal}: {value} ({})",
            if met { "met" } else { "NOT met" }
        );
    }
}
