//! The private lab's server: log in, connect with a token, talk in private channels with
//! end-to-end encryption, and watch what the server sees.
//!
//! ```text
//! cargo run -p lab-private
//! # then open http://127.0.0.1:3004/ : Alice and Bob side by side, the server in between
//! ```
//!
//! Chapter 8 ("Private messaging") walks through it.

use std::time::Duration;

use clap::Parser;
use lab_private::Config;

/// Private messaging: authentication at the handshake, private channels, end-to-end
/// encryption.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// How long a token lives, in seconds; a connection is closed with 1008 when its token
    /// expires. Try 20 to watch it happen.
    #[arg(long, default_value_t = 300)]
    token_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let (listener, addr) = args.serve.bind(kit::ports::PRIVATE).await?;
    let mut config = Config::for_port(addr.port());
    config.token_ttl = Duration::from_secs(args.token_secs);
    config.gateway.allowlist = args.serve.allowlist(config.gateway.allowlist)?;
    tracing::info!(%addr, "private lab: open http://{addr}/ (Ctrl-C to stop)");
    let shutdown = config.gateway.shutdown.clone();
    let (app, _state) = lab_private::lab(config);
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}
