//! The handshake lab's server: RFC 6455 written by hand, echoing every message, with a
//! live inspector of every frame.
//!
//! ```text
//! cargo run -p lab-handshake
//! # then open http://127.0.0.1:3001/ and send a message
//! ```
//!
//! Chapter 4 ("Connection flow") and chapter 5 ("Message flow") of the book walk through it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use lab_handshake::{Lab, LabConfig};

/// RFC 6455 from scratch: an echo server whose every frame you can inspect.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on (127.0.0.1 keeps the lab on your machine).
    #[arg(long, default_value = "127.0.0.1:3001")]
    addr: SocketAddr,

    /// Seconds of silence before the server pings a connection (the heartbeat); after as
    /// long again without an answer the connection is dropped. 0 turns the heartbeat off.
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,

    /// Another browser origin allowed to connect (repeatable), e.g. http://192.168.1.5:3001.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let listener = kit::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    let mut config = LabConfig::for_port(addr.port());
    for origin in &args.allow_origin {
        config.allowlist = config.allowlist.allow(origin)?;
    }
    config.settings.idle_after = (args.idle_secs > 0).then(|| Duration::from_secs(args.idle_secs));

    // The one line a learner needs, on stdout rather than in the log so that scripts (and
    // the book's instructions) can rely on it; everything else goes through tracing.
    println!(
        "handshake lab: open http://{addr}/  (WebSocket echo at ws://{addr}/ws, Ctrl-C to stop)"
    );
    lab_handshake::server::run(listener, Lab::new(config), kit::shutdown_signal()).await?;
    Ok(())
}
