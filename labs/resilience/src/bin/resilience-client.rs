//! A terminal subscriber to the resilience lab: it prints every update and every
//! reconnection event, reconnects with backoff and full jitter, and recovers what it missed.
//!
//! ```text
//! cargo run -p lab-resilience                                     # in one terminal
//! cargo run -p lab-resilience --bin resilience-client -- --count 20
//! cargo run -p lab-resilience --bin resilience-client -- --count 30 --cut-every 10
//! ```
//!
//! `--cut-every N` drops the connection (no close frame) after every N updates, to watch
//! the recovery: the updates published meanwhile come back marked `(recovered)`. Stop and
//! restart the server while it runs to see `recovered: false`. It exits after `--count`
//! updates (0: never), with status 0, or with status 1 when it gives up. Through a proxy
//! that does not pass the upgrade (`lab-resilience --proxy strip`, then `--url
//! ws://127.0.0.1:3016/ws` here) it says so and goes on over Server-Sent Events;
//! `--no-fallback` makes it give up instead.
//!
//! `--connections N` opens N subscriptions at once instead of one, holds those that got in
//! for `--hold-secs`, and prints how many got in and why the others were refused: the
//! connection limit, seen from outside (`lab-resilience --max-connections 50`). Chapter 10 ("Best
//! practices, measured") uses it.

use std::time::Duration;

use clap::Parser;
use lab_resilience::client::{Backoff, Event, Options, Subscriber};
use lab_resilience::stream::Position;

/// Subscribe to the resilience lab's stream, reconnect, recover, and print what happens.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// The lab's WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:3006/ws")]
    url: String,

    /// Stop after this many updates (0: run until stopped).
    #[arg(long, default_value_t = 0)]
    count: u64,

    /// Start by recovering from this position, `<epoch>:<offset>`.
    #[arg(long, value_name = "EPOCH:OFFSET")]
    since: Option<Position>,

    /// The ceiling of the first retry's delay, in milliseconds.
    #[arg(long, default_value_t = 500)]
    base_ms: u64,

    /// The ceiling of every retry's delay, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    cap_ms: u64,

    /// Retries in a row before giving up.
    #[arg(long, default_value_t = 10)]
    max_attempts: u32,

    /// Seconds between the client's pings.
    #[arg(long, default_value_t = 5.0)]
    ping_interval: f64,

    /// Seconds of silence after which the server is presumed dead.
    #[arg(long, default_value_t = 15.0)]
    ping_timeout: f64,

    /// Drop the connection without a close frame after every N updates (0: never).
    #[arg(long, default_value_t = 0)]
    cut_every: u64,

    /// Never fall back to Server-Sent Events when the WebSocket upgrade is blocked.
    #[arg(long)]
    no_fallback: bool,

    /// Open this many subscriptions at once (no retries), report how many got in and why the
    /// others did not, hold them for `--hold-secs`, and exit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20_000))]
    connections: Option<u32>,

    /// With `--connections`: how long to keep the subscriptions that got in.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    hold_secs: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let secs = |s: f64| Duration::try_from_secs_f64(s).map_err(anyhow::Error::from);
    let mut options = Options::new(&args.url);
    options.backoff = Backoff {
        base: Duration::from_millis(args.base_ms),
        cap: Duration::from_millis(args.cap_ms),
    };
    options.max_attempts = args.max_attempts;
    options.heartbeat = Some((secs(args.ping_interval)?, secs(args.ping_timeout)?));
    options.since = args.since;
    if args.no_fallback {
        options.fallback = None;
    }
    if let Some(n) = args.connections {
        return many(options, n, secs(args.hold_secs)?).await;
    }
    let mut subscriber = Subscriber::new(options);

    let (mut received, mut recovered) = (0u64, 0u64);
    let mut since_cut = 0u64;
    while let Some(event) = subscriber.next().await {
        match event {
            Event::Subscribed(r) => println!(
                "subscribed: epoch {} at offset {}, recovered: {} ({}), {} missed",
                r.epoch,
                r.offset,
                r.recovered,
                r.reason,
                r.missed.len()
            ),
            Event::Update {
                update,
                recovered: from_history,
            } => {
                received += 1;
                since_cut += 1;
                recovered += u64::from(from_history);
                let mark = if from_history { " (recovered)" } else { "" };
                println!(
                    "update {}:{} price {:.2}{mark}",
                    update.epoch, update.offset, update.price
                );
                if args.count > 0 && received >= args.count {
                    break;
                }
                if args.cut_every > 0 && since_cut >= args.cut_every {
                    since_cut = 0;
                    subscriber.cut();
                }
            }
            Event::Closed {
                code,
                reason,
                decision,
            } => {
                let code = code.map_or("no code".to_owned(), |c| c.to_string());
                let what = if decision.retries() { "retry" } else { "stop" };
                println!("closed: {code} {reason} -> {what}: {}", decision.reason());
            }
            Event::Fallback { status, url } => {
                println!(
                    "fallback: the upgrade was answered HTTP {status}, not 101: a proxy does not pass it; going on over Server-Sent Events at {url}"
                );
            }
            Event::Reconnecting { attempt, delay } => {
                println!(
                    "reconnecting: attempt {attempt} in {} ms",
                    delay.as_millis()
                );
            }
            Event::GaveUp { reason } => {
                println!("gave up: {reason}");
                println!("received {received} updates, {recovered} recovered");
                std::process::exit(1);
            }
        }
    }
    println!("received {received} updates, {recovered} recovered");
    Ok(())
}

/// `--connections n`: `n` subscriptions at once, each with a single attempt; prints how many
/// got in and each distinct refusal with its count, then holds the open ones for `hold`.
async fn many(mut options: Options, n: u32, hold: Duration) -> anyhow::Result<()> {
    options.max_attempts = 0;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let options = options.clone();
        tasks.spawn(async move {
            let mut subscriber = Subscriber::new(options);
            // The first event says it all: subscribed, or closed with a reason.
            let first = tokio::time::timeout(Duration::from_secs(10), subscriber.next()).await;
            let outcome = match first {
                Ok(Some(Event::Subscribed(_))) => Ok(()),
                Ok(Some(Event::Closed { reason, .. })) => Err(reason),
                Ok(Some(other)) => Err(format!("{other:?}")),
                Ok(None) => Err("gave up".to_owned()),
                Err(_) => Err("no answer within 10 s".to_owned()),
            };
            (outcome, subscriber)
        });
    }
    let mut open = Vec::new();
    let mut refused = std::collections::BTreeMap::<String, u32>::new();
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            (Ok(()), subscriber) => open.push(subscriber),
            (Err(reason), _) => *refused.entry(reason).or_default() += 1,
        }
    }
    println!("{} of {n} subscriptions got in", open.len());
    for (reason, count) in &refused {
        println!("{count} refused: {reason}");
    }
    println!("holding the open ones for {} s", hold.as_secs_f64());
    tokio::time::sleep(hold).await;
    Ok(())
}
