//! The private lab's server: log in, connect with a token, talk in private channels with
//! end-to-end encryption, and watch what the server sees.
//!
//! ```text
//! cargo run -p lab-private
//! # then open http://127.0.0.1:3004/ : Alice and Bob side by side, the server in between
//! ```
//!
//! Chapter 8 ("Private messaging") walks through it.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use lab_private::Config;

/// Private messaging: authentication at the handshake, private channels, end-to-end
/// encryption.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// Address to listen on (127.0.0.1 keeps the lab on your machine).
    #[arg(long, default_value = "127.0.0.1:3004")]
    addr: SocketAddr,

    /// How long a token lives, in seconds; a connection is closed with 1008 when its token
    /// expires. Try 20 to watch it happen.
    #[arg(long, default_value_t = 300)]
    token_secs: u64,

    /// Another browser origin allowed to connect (repeatable).
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
    config.token_ttl = Duration::from_secs(args.token_secs);
    for origin in &args.allow_origin {
        config.gateway.allowlist = config.gateway.allowlist.allow(origin)?;
    }
    tracing::info!(%addr, "private lab: open http://{addr}/ (Ctrl-C to stop)");
    let (app, _state) = lab_private::lab(config);
    kit::serve(listener, app, kit::shutdown_signal()).await?;
    Ok(())
}
