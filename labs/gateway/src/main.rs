//! The gateway lab's server: a small gateway with one handler of each kind, and a page to
//! send it any envelope.
//!
//! ```text
//! cargo run -p lab-gateway
//! # then open http://127.0.0.1:3002/
//! ```
//!
//! Chapter 6 ("The gateway") walks through it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use lab_gateway::Config;

/// NestJS gateway ideas in Rust: send envelopes, get acks and exceptions.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on (127.0.0.1 keeps the lab on your machine).
    #[arg(long, default_value = "127.0.0.1:3002")]
    addr: SocketAddr,

    /// The largest message accepted, in bytes; larger ones close the connection with 1009.
    #[arg(long, default_value_t = 64 * 1024)]
    max_message_bytes: usize,

    /// Seconds of silence before a connection is considered dead (pings go out at half
    /// that). 0 turns the heartbeat off.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,

    /// Another browser origin allowed to connect (repeatable), e.g. http://192.168.1.5:3002.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let listener = kit::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let mut config = Config::for_port(addr.port());
    for origin in &args.allow_origin {
        config.allowlist = config.allowlist.allow(origin)?;
    }
    config.max_message_bytes = args.max_message_bytes;
    config.idle_timeout = (args.idle_secs > 0).then(|| Duration::from_secs(args.idle_secs));

    tracing::info!(
        "gateway lab: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)"
    );
    kit::serve(listener, lab_gateway::app(config), kit::shutdown_signal()).await?;
    Ok(())
}
