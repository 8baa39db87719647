//! The gateway lab's server: a small gateway with one handler of each kind, and a page to
//! send it any envelope.
//!
//! ```text
//! cargo run -p lab-gateway
//! # then open http://127.0.0.1:3002/
//! ```
//!
//! Chapter 6 ("The gateway") walks through it.

use std::time::Duration;

use clap::Parser;
use lab_gateway::Config;

/// NestJS gateway ideas in Rust: send envelopes, get acks and exceptions.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// The largest message accepted, in bytes; larger ones close the connection with 1009.
    #[arg(long, default_value_t = 64 * 1024)]
    max_message_bytes: usize,

    /// Seconds of silence before a connection is considered dead (pings go out at half
    /// that). 0 turns the heartbeat off.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let (listener, addr) = args.serve.bind(kit::ports::GATEWAY).await?;
    let mut config = Config::for_port(addr.port());
    config.allowlist = args.serve.allowlist(config.allowlist)?;
    config.max_message_bytes = args.max_message_bytes;
    config.idle_timeout = (args.idle_secs > 0).then(|| Duration::from_secs(args.idle_secs));

    tracing::info!(
        "gateway lab: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)"
    );
    let shutdown = config.shutdown.clone();
    let app = lab_gateway::app(config);
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}
