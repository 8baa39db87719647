//! Opens N subscribers to the broadcast lab, optionally publishes from one more connection,
//! and reports what the subscribers received: how many broadcasts, in order or not, how
//! late, and how any of them was closed.
//!
//! ```text
//! cargo run -p lab-broadcast                                   # in one terminal
//! cargo run -p lab-broadcast --bin broadcast-subscribers -- --count 100 --publish 10
//! ```
//!
//! Chapter 9 ("Broadcasting") uses it to fill the dashboard and to show confirmations.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use lab_broadcast::tools::{self, Behaviour};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Open N subscribers, publish, and report what they received.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
struct Args {
    /// The lab's WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:3005/ws")]
    url: String,

    /// How many subscribers to open.
    #[arg(long, default_value_t = 10)]
    count: usize,

    /// A topic every subscriber joins (repeatable).
    #[arg(long)]
    topic: Vec<String>,

    /// One subscriber in this many confirms broadcasts that ask for it; 0: none confirm.
    #[arg(long, default_value_t = 1)]
    confirm_every: usize,

    /// Broadcasts to publish to the subscribers from one more connection (0: only listen).
    #[arg(long, default_value_t = 0)]
    publish: u64,

    /// Ask for confirmations within this many milliseconds.
    #[arg(long)]
    confirm_ms: Option<u64>,

    /// With nothing to publish: how long to listen, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let clock = Instant::now();
    let behaviour = Behaviour {
        topics: args.topic.clone(),
        confirm_every: args.confirm_every,
    };
    let subscribers = tools::open(&args.url, args.count, &behaviour, clock).await?;
    println!("opened {} subscribers to {}", args.count, args.url);

    if args.publish > 0 {
        let mut publisher = tools::connect(&args.url).await?;
        let mut last_report = Value::Null;
        for i in 0..args.publish {
            let message = tools::publish_message(i, clock, Some(i + 1), args.confirm_ms);
            publisher.send(Message::text(message)).await?;
            // Wait for this broadcast's report before the next one.
            last_report = loop {
                let message = tokio::time::timeout(Duration::from_secs(70), publisher.next())
                    .await
                    .context("no report from the lab")?
                    .context("the lab closed the connection")??;
                if let Message::Text(text) = message {
                    let value: Value = serde_json::from_str(text.as_str())?;
                    if value["id"] == i + 1 {
                        break value["data"].clone();
                    }
                }
            };
        }
        let confirm = args
            .confirm_ms
            .map(|ms| format!(", confirm within {ms} ms"))
            .unwrap_or_default();
        println!(
            "published {} broadcasts to everyone else{confirm}",
            args.publish
        );
        println!("  last report: {last_report}");
        let expected = args.publish * args.count as u64;
        subscribers
            .wait_for(expected, Duration::from_secs(10))
            .await;
    } else {
        println!("listening for {} s", args.seconds);
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    }

    let totals = subscribers.finish().await;
    let received: u64 = totals.tallies.iter().map(|t| t.received).sum();
    let out_of_order: u64 = totals.tallies.iter().map(|t| t.out_of_order).sum();
    let mut per_subscriber: BTreeMap<u64, usize> = BTreeMap::new();
    for tally in &totals.tallies {
        *per_subscriber.entry(tally.received).or_default() += 1;
    }
    let spread: Vec<String> = per_subscriber
        .iter()
        .map(|(got, subs)| format!("{subs} got {got}"))
        .collect();
    let closed: Vec<String> = totals
        .tallies
        .iter()
        .filter_map(|t| t.closed.as_ref())
        .map(|(code, reason)| format!("{code} {reason}"))
        .collect();
    println!(
        "received {received} broadcasts: {}; {out_of_order} out of order; {} closed{}",
        spread.join(", "),
        closed.len(),
        closed
            .first()
            .map(|c| format!(" (first: {c})"))
            .unwrap_or_default()
    );
    let mut latencies = totals.latencies_us;
    latencies.sort_unstable();
    if !latencies.is_empty() {
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "delivery latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(tools::percentile(&latencies, 0.5)),
            ms(tools::percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap_or(&0)),
        );
    }
    Ok(())
}
