//! The resilience lab's server: a ticker of numbered updates, with a heartbeat, a bounded
//! history for recovery, the gateway's limits, and a goodbye with 1001.
//!
//! ```text
//! cargo run -p lab-resilience                         # open http://127.0.0.1:3006/
//! cargo run -p lab-resilience -- --no-heartbeat       # a dead peer is never freed
//! cargo run -p lab-resilience -- --history 5          # too short to recover a long gap
//! curl -s http://127.0.0.1:3006/metrics               # the counters, Prometheus text format
//! cargo run -p lab-resilience -- --proxy strip        # behind nginx: open http://127.0.0.1:3016/
//! ```
//!
//! Stop it with Ctrl-C and start it again: every client hears 1001, comes back with
//! backoff, and is told `recovered: false` (a new epoch). Chapter 10 ("Best practices,
//! measured") walks through it.

use std::time::Duration;

use std::net::SocketAddr;

use clap::Parser;
use lab_resilience::proxy::{Proxy, ProxyKind};
use lab_resilience::{Config, HistoryLimits};

/// Heartbeats, reconnection with backoff, recovery of missed updates, limits.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// `--addr` and `--allow-origin`, as every lab takes them.
    #[command(flatten)]
    serve: kit::cli::ServeArgs,

    /// Seconds between the server's pings to each client.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = seconds)]
    ping_interval: Duration,

    /// Seconds of silence after which a client is presumed dead (half-open) and freed.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = seconds)]
    ping_timeout: Duration,

    /// No pings and no silence check: a vanished client then holds its connection (and
    /// its permit) until the kernel gives up retransmitting to it (about 15 minutes on
    /// Linux), or forever when nothing is sent to it.
    #[arg(long)]
    no_heartbeat: bool,

    /// Updates kept for recovery (the count bound of the history).
    #[arg(long, value_name = "COUNT", default_value_t = HistoryLimits::default().max_len)]
    history: usize,

    /// Seconds an update is kept for recovery (the age bound of the history).
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = seconds)]
    history_secs: Duration,

    /// Updates the ticker publishes per second (0: none).
    #[arg(long, value_name = "PER_SEC", default_value_t = 2.0)]
    rate: f64,

    /// Open connections allowed; the next one is answered 503 with Retry-After. 0: no
    /// limit at all (the pitfall: the server then runs out of file descriptors instead).
    #[arg(long, default_value_t = 1000)]
    max_connections: usize,

    /// Also start nginx in front of the lab: `strip` does not pass the WebSocket upgrade
    /// (the page falls back to Server-Sent Events), `forward` does. Needs nginx installed.
    #[arg(long, value_enum, value_name = "CONFIG")]
    proxy: Option<ProxyKind>,

    /// Where nginx listens with `--proxy`.
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:3016")]
    proxy_addr: SocketAddr,
}

/// A number of seconds, fractions allowed (`0.5`).
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kit::init_tracing();
    anyhow::ensure!(
        args.no_heartbeat || args.ping_interval < args.ping_timeout,
        "--ping-interval must be shorter than --ping-timeout, or live clients look dead"
    );

    let (listener, addr) = args.serve.bind(kit::ports::RESILIENCE).await?;
    let mut config = Config::for_port(addr.port())
        .with_heartbeat((!args.no_heartbeat).then_some((args.ping_interval, args.ping_timeout)));
    config.gateway.allowlist = args.serve.allowlist(config.gateway.allowlist)?;
    // Port 0 for the proxy: a free one, chosen now, since the allowlist needs it.
    let proxy_addr = match args.proxy_addr.port() {
        0 => std::net::TcpListener::bind(args.proxy_addr)?.local_addr()?,
        _ => args.proxy_addr,
    };
    if args.proxy.is_some() {
        // The browser's origin is then the proxy's.
        config.gateway.allowlist = config.gateway.allowlist.allow_local_port(proxy_addr.port());
    }
    config.gateway.max_connections = match args.max_connections {
        0 => tokio::sync::Semaphore::MAX_PERMITS,
        n => n,
    };
    config.history = HistoryLimits {
        max_len: args.history,
        max_age: args.history_secs,
    };
    config.rate = args.rate;

    let shutdown = config.gateway.shutdown.clone();
    let (app, stream) = lab_resilience::build(config);
    tracing::info!(
        epoch = %stream.epoch(),
        "resilience lab: open http://{addr}/  (WebSocket at ws://{addr}/ws, Ctrl-C to stop)"
    );
    let proxy = match args.proxy {
        Some(kind) => {
            let proxy = Proxy::start(kind, proxy_addr, addr).await?;
            let what = match kind {
                ProxyKind::Strip => {
                    "does not pass the upgrade: the page falls back to Server-Sent Events"
                }
                ProxyKind::Forward => "passes the upgrade: the page uses its WebSocket",
            };
            tracing::info!(
                "nginx ({kind:?}) in front of the lab: browse http://{}/ ({what})",
                proxy.addr()
            );
            Some(proxy)
        }
        None => None,
    };
    kit::serve_with_goodbye(listener, app, kit::shutdown_signal(), &shutdown).await?;
    if let Some(proxy) = proxy {
        proxy.stop().await?;
    }
    Ok(())
}
