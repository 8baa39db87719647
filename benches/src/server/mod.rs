//! The servers the harness measures, one per transport, all in one process.
//!
//! [`start`] binds three listeners on `127.0.0.1:0` and serves:
//!
//! - the raw-TCP floor ([`tcp`]): length-prefixed frames, nothing else;
//! - one axum app ([`http`]) for REST (`POST /echo` over HTTP/1.1 keep-alive or HTTP/2 h2c,
//!   the same router, told apart by the connection preface), WebSocket (`GET /ws`) and the
//!   push workload (`GET /push` WebSocket, `GET /poll` HTTP polling);
//! - tonic's gRPC server ([`grpc`]) for unary, server streaming and bidirectional streaming.
//!
//! Every accepted socket gets `TCP_NODELAY` (unless a run turns it off on purpose to show
//! Nagle's algorithm meeting delayed ACKs), and every echo handler passes through the same
//! [`Stall`] gate, so the open-loop test can pause the whole server once.
//!
//! The CLI runs this in a child process (`bench serve`), pinned to its own core; tests run
//! it in-process.

pub mod grpc;
pub mod http;
pub mod tcp;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The addresses a running server listens on; the `serve` child prints them as one JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAddrs {
    /// Raw TCP frames.
    pub tcp: SocketAddr,
    /// The axum app: REST, WebSocket, push.
    pub http: SocketAddr,
    /// tonic's gRPC server.
    pub grpc: SocketAddr,
    /// Node's `ws` echo server (`benches/peers/node-ws-echo.mjs`), when the run has it: not
    /// part of this process, started beside it by the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ws: Option<SocketAddr>,
}

/// A pause injected once into the server, to show what each load mode does with a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StallPlan {
    /// The pause starts with the first echo request that arrives this long after the server
    /// started (a time rather than a request count, so it lands in the measured part of a
    /// run whatever the request rate).
    pub after: Duration,
    /// How long every echo handler is held once the pause starts.
    pub pause: Duration,
}

/// How the server is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerOptions {
    /// `TCP_NODELAY` on accepted sockets. Always on for measurements; off only to show the
    /// Nagle + delayed-ACK stall on purpose.
    pub nodelay: bool,
    /// An optional one-time pause.
    pub stall: Option<StallPlan>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            nodelay: true,
            stall: None,
        }
    }
}

/// The one-time pause, shared by every handler. Without a plan, [`Stall::gate`] returns at
/// once and costs one branch.
#[derive(Debug)]
pub struct Stall {
    /// When to pause, if ever.
    plan: Option<StallPlan>,
    /// When the server started: the plan's `after` counts from here.
    origin: Instant,
    /// Set by the request that starts the pause, so it happens once.
    fired: AtomicBool,
    /// The end of the pause once it has started. A std `Mutex`: held for a copy, never
    /// across an `.await`.
    until: Mutex<Option<Instant>>,
}

impl Stall {
    /// A gate following `plan`, its clock starting now.
    pub fn new(plan: Option<StallPlan>) -> Self {
        Self {
            plan,
            origin: Instant::now(),
            fired: AtomicBool::new(false),
            until: Mutex::new(None),
        }
    }

    /// Called by every echo handler before it answers: starts the pause when its time has
    /// come, and holds the caller while the pause lasts.
    pub async fn gate(&self) {
        let Some(plan) = self.plan else { return };
        let now = Instant::now();
        let until = {
            let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
            if now >= self.origin + plan.after && !self.fired.swap(true, Ordering::Relaxed) {
                tracing::info!(pause = ?plan.pause, "stalling the server once, on purpose");
                *until = Some(now + plan.pause);
            }
            *until
        };
        if let Some(until) = until
            && until > now
        {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct ServerState {
    /// Socket options and the stall plan.
    pub options: ServerOptions,
    /// The one-time pause.
    pub stall: Stall,
}

/// A server running in this process; dropping it stops every listener.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens.
    pub addrs: ServerAddrs,
    /// The accept loops; aborted on drop.
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// Waits until a listener fails (it normally never does).
    pub async fn wait(mut self) {
        if let Some(result) = self.tasks.join_next().await
            && let Err(err) = result
        {
            tracing::error!(%err, "a listener task ended");
        }
    }
}

/// Binds every listener on `127.0.0.1:0` and starts serving on the current runtime.
pub async fn start(options: ServerOptions) -> std::io::Result<RunningServer> {
    let state = Arc::new(ServerState {
        options,
        stall: Stall::new(options.stall),
    });
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let grpc = TcpListener::bind("127.0.0.1:0").await?;
    let addrs = ServerAddrs {
        tcp: tcp.local_addr()?,
        http: http.local_addr()?,
        grpc: grpc.local_addr()?,
        node_ws: None,
    };

    let mut tasks = JoinSet::new();
    tasks.spawn(tcp::serve(tcp, state.clone()));
    tasks.spawn(http::serve(http, state.clone()));
    tasks.spawn(grpc::serve(grpc, state));
    tracing::info!(?addrs, ?options, "bench server listening");
    Ok(RunningServer { addrs, tasks })
}
