//! The rooms lab's server: a chat with rooms, presence and the room lifecycle.
//!
//! ```text
//! cargo run -p lab-rooms
//! # then open http://127.0.0.1:3003/ in two windows
//! ```
//!
//! Chapter 7 ("Rooms") walks through it.

use std::time::Duration;

use clap::Parser;
use lab_rooms::{RoomRegistry, RoomsConfig};

/// Rooms on the gateway: join, leave, send, presence, lifecycle.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// Seconds an empty room stays Inactive before it is Deleted (0: at once).
    #[arg(long, default_value_t = 30)]
    grace_secs: u64,

    /// Rooms one connection may be in at once.
    #[arg(long, default_value_t = 8)]
    rooms_per_connection: usize,

    /// Members one room may hold.
    #[arg(long, default_value_t = 1_000)]
    members_per_room: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();

    let (listener, addr) = args.serve.bind(kit::ports::ROOMS).await?;
    let mut config = RoomsConfig::for_port(addr.port());
    config.gateway.allowlist = args.serve.allowlist(config.gateway.allowlist)?;
    config.limits.grace = Duration::from_secs(args.grace_secs);
    config.limits.rooms_per_connection = args.rooms_per_connection;
    config.limits.members_per_room = args.members_per_room;
    let registry = RoomRegistry::new(config.limits.clone());

    tracing::info!("rooms lab: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)");
    let shutdown = config.gateway.shutdown.clone();
    let app = lab_rooms::app(config, registry);
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    Ok(())
}
