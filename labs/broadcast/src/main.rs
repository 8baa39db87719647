//! The broadcast lab's server: broadcasts of every kind, delivery confirmation, slow
//! consumers, and a live dashboard.
//!
//! ```text
//! cargo run -p lab-broadcast                    # the scaling fan-out
//! cargo run -p lab-broadcast -- --fanout naive  # one encode and one flush per recipient
//! # then open http://127.0.0.1:3005/
//! ```
//!
//! Chapter 9 ("Broadcasting") walks through it.

use std::time::Duration;

use clap::Parser;
use lab_broadcast::{FanOut, LabConfig};

/// Broadcasting: to all, to a selection, to all but the sender; confirmations; slow clients.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// How a broadcast reaches its recipients.
    #[arg(long, value_enum, default_value_t = FanOut::Scaling)]
    fanout: FanOut,

    /// Frames waiting to be written to one connection before it counts as too slow.
    #[arg(long, default_value_t = 256)]
    queue: usize,

    /// Open connections allowed.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,

    /// Seconds of silence before a connection is considered dead (pings go out at half
    /// that). 0 turns the heartbeat off.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let (listener, addr) = args.serve.bind(kit::ports::BROADCAST).await?;
    let mut config = LabConfig::for_port(addr.port()).with_fanout(args.fanout);
    config.gateway.allowlist = args.serve.allowlist(config.gateway.allowlist)?;
    config.gateway.outgoing_queue = args.queue.max(2);
    config.hub.volatile_keep_free = config.gateway.outgoing_queue / 2;
    config.gateway.max_connections = args.max_connections;
    config.gateway.idle_timeout = (args.idle_secs > 0).then(|| Duration::from_secs(args.idle_secs));

    tracing::info!(
        fanout = ?args.fanout,
        "broadcast lab: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)"
    );
    let shutdown = config.gateway.shutdown.clone();
    let app = lab_broadcast::app(config);
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}
