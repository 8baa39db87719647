//! The handshake lab's server: RFC 6455 written by hand, echoing every message, with a
//! live inspector of every frame.
//!
//! ```text
//! cargo run -p lab-handshake
//! # then open http://127.0.0.1:3001/ and send a message
//! ```
//!
//! Chapter 4 ("Connection flow") and chapter 5 ("Message flow") of the book walk through it.

use std::time::Duration;

use clap::Parser;
use lab_handshake::deflate::DeflateConfig;
use lab_handshake::{Lab, LabConfig};

/// RFC 6455 from scratch: an echo server whose every frame you can inspect.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// Seconds of silence before the server pings a connection (the heartbeat); after as
    /// long again without an answer the connection is dropped. 0 turns the heartbeat off.
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,

    /// Decline permessage-deflate (RFC 7692): every message goes uncompressed, whatever the
    /// client offers.
    #[arg(long)]
    no_compression: bool,

    /// Accept permessage-deflate without context takeover either way: every message is
    /// compressed on its own, and no compression state is kept between messages.
    #[arg(long, conflicts_with = "no_compression")]
    no_context_takeover: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let (listener, addr) = args.serve.bind(kit::ports::HANDSHAKE).await?;
    let mut config = LabConfig::for_port(addr.port());
    config.allowlist = args.serve.allowlist(config.allowlist)?;
    config.settings.idle_after = (args.idle_secs > 0).then(|| Duration::from_secs(args.idle_secs));
    config.settings.compression = match (args.no_compression, args.no_context_takeover) {
        (true, _) => None,
        (false, true) => Some(DeflateConfig::no_context_takeover()),
        (false, false) => Some(DeflateConfig::default()),
    };

    // The one line a learner needs, on stdout rather than in the log so that scripts (and
    // the book's instructions) can rely on it; everything else goes through tracing.
    println!(
        "handshake lab: open http://{addr}/  (WebSocket echo at ws://{addr}/ws, Ctrl-C to stop)"
    );
    let shutdown = config.shutdown.clone();
    lab_handshake::server::run(listener, Lab::new(config), kit::shutdown_signal()).await?;
    // The listener is closed; now every open connection gets its 1001.
    shutdown.going_away(kit::shutdown::GOODBYE_DEADLINE).await;
    Ok(())
}
