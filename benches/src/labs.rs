//! The course's own servers for the many-client workloads, run by the harness.
//!
//! The rooms, fan-out and ack workloads ([`crate::delivery`], [`crate::ack`]) measure the
//! labs themselves, not a copy: the rooms lab of chapter 7, the broadcast lab of chapter 9
//! (its naive and its scaling fan-out), the gateway lab of chapter 6, and the raw-TCP floor
//! of fan-out ([`crate::floor`]). Each runs in a child process, `bench serve-lab <server>`,
//! started by the harness like `bench serve`: pinned to its own core, printing one JSON line
//! with its address once it listens, and exiting when its stdin closes, so it cannot outlive
//! the run. Tests run them in-process instead.
//!
//! The labs' defaults protect a server from its clients (a rate limit per connection, 10 000
//! connections, a heartbeat); a benchmark that sends as fast as it asks would trip them, so
//! [`LabServer::router`] lifts exactly those, and says so. Nothing else changes.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::Context as _;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::child::READY_TIMEOUT;

/// One of the course's servers the many-client workloads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LabServer {
    /// The rooms lab (chapter 7): members join a room, a message to the room reaches each.
    Rooms,
    /// The broadcast lab (chapter 9), the naive fan-out: encode and write per subscriber.
    BroadcastNaive,
    /// The broadcast lab (chapter 9), the scaling fan-out: encode once, batched writes.
    BroadcastScaling,
    /// The floor of fan-out: one `write` per subscriber socket, nothing else.
    Floor,
    /// The gateway lab (chapter 6): `echo` requests answered with an `ack`.
    Gateway,
}

impl LabServer {
    /// The name on the command line and in the result files.
    pub fn name(self) -> &'static str {
        match self {
            LabServer::Rooms => "rooms",
            LabServer::BroadcastNaive => "broadcast-naive",
            LabServer::BroadcastScaling => "broadcast-scaling",
            LabServer::Floor => "floor",
            LabServer::Gateway => "gateway",
        }
    }

    /// The row label in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            LabServer::Rooms => "rooms lab",
            LabServer::BroadcastNaive => "broadcast lab, naive",
            LabServer::BroadcastScaling => "broadcast lab, scaling",
            LabServer::Floor => "raw TCP floor",
            LabServer::Gateway => "gateway lab",
        }
    }

    /// The lab's app, set up for `capacity` clients: connection limits above `capacity`, no
    /// per-connection rate limit (the publisher sends as fast as the workload asks, which
    /// is what is measured), no idle timeout (members sit silent while the others connect).
    /// `None` for the floor, which is not an axum app.
    pub fn router(self, port: u16, capacity: usize) -> Option<axum::Router> {
        let room = capacity + 16;
        match self {
            LabServer::Rooms => {
                let mut config = lab_rooms::RoomsConfig::for_port(port);
                config.limits.members_per_room = room;
                config.gateway.max_connections = room;
                config.gateway.rate_limit = None;
                config.gateway.idle_timeout = None;
                let registry = lab_rooms::RoomRegistry::new(config.limits.clone());
                Some(lab_rooms::app(config, registry))
            }
            LabServer::BroadcastNaive | LabServer::BroadcastScaling => {
                let fanout = if self == LabServer::BroadcastNaive {
                    lab_broadcast::FanOut::Naive
                } else {
                    lab_broadcast::FanOut::Scaling
                };
                let mut config = lab_broadcast::LabConfig::for_port(port).with_fanout(fanout);
                config.gateway.idle_timeout = None;
                config.gateway.max_connections = room;
                config.gateway.rate_limit = None;
                // Room for a whole burst in each connection's queue, so a burst measures
                // speed, not the slow-consumer policy (chapter 9 teaches that one apart).
                config.gateway.outgoing_queue = BURST_QUEUE;
                config.hub.volatile_keep_free = BURST_QUEUE / 2;
                Some(lab_broadcast::app(config))
            }
            LabServer::Gateway => {
                let mut config = lab_gateway::Config::for_port(port);
                config.max_connections = room;
                config.rate_limit = None;
                config.idle_timeout = None;
                Some(lab_gateway::app(config))
            }
            LabServer::Floor => None,
        }
    }
}

impl fmt::Display for LabServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Outgoing queue per connection of the broadcast lab under the fan-out workload: more than
/// the largest burst the workload sends.
pub const BURST_QUEUE: usize = 1024;

/// The line a server prints once it listens.
#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    /// Where it listens.
    addr: SocketAddr,
}

/// `bench serve-lab <server>`: binds 127.0.0.1:0, prints its address as one JSON line,
/// serves until stdin closes. Runs in the child process.
pub async fn serve_child(server: LabServer, capacity: usize) -> anyhow::Result<()> {
    let parent_gone = async {
        let mut line = String::new();
        let _ = BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await;
    };
    let running = RunningLab::start(server, capacity).await?;
    println!("{}", serde_json::to_string(&Ready { addr: running.addr })?);
    parent_gone.await;
    Ok(())
}

/// A lab server running in this process; stopped when dropped.
#[derive(Debug)]
pub struct RunningLab {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The axum task, or the floor's accept thread's waiter.
    task: JoinHandle<()>,
}

impl RunningLab {
    /// Starts `server` on 127.0.0.1:0 on the current runtime (the floor on a thread).
    pub async fn start(server: LabServer, capacity: usize) -> anyhow::Result<Self> {
        if server == LabServer::Floor {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            // The floor is blocking code on threads of its own; it ends with the process.
            std::thread::spawn(move || {
                if let Err(err) = crate::floor::serve(listener) {
                    tracing::error!(%err, "the floor server stopped");
                }
            });
            let task = tokio::spawn(async {});
            return Ok(Self { addr, task });
        }
        let listener = kit::bind("127.0.0.1:0".parse()?).await?;
        let addr = listener.local_addr()?;
        let app = server
            .router(addr.port(), capacity)
            .context("the lab has an app")?;
        let task = tokio::spawn(async move {
            if let Err(err) = kit::serve(listener, app, std::future::pending()).await {
                tracing::error!(%err, "the lab server stopped");
            }
        });
        Ok(Self { addr, task })
    }
}

impl Drop for RunningLab {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `bench serve-lab` in a child process; killed when dropped.
#[derive(Debug)]
pub struct LabChild {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id, for `/proc` (CPU time, memory).
    pub pid: u32,
    /// The process; it exits when its stdin (this pipe) closes, or is killed on drop.
    child: Child,
}

impl LabChild {
    /// Starts `exe serve-lab <server> --capacity <n> --threads <t>`, pinned to `core` if
    /// given, and waits for its address line.
    pub async fn spawn(
        exe: &Path,
        server: LabServer,
        capacity: usize,
        core: Option<usize>,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .arg("serve-lab")
            .arg(server.name())
            .arg("--capacity")
            .arg(capacity.to_string())
            .arg("--threads")
            .arg(threads.to_string());
        if let Some(core) = core {
            command.arg("--core").arg(core.to_string());
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            // The labs log every connection at `info`, and the rooms lab warns about every
            // member that misses presence events while a thousand join at once (it is told
            // so, by design): thousands of lines, and time spent writing them, that are not
            // part of what is measured. Errors still show.
            command.env("RUST_LOG", "error");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} serve-lab {server}", exe.display()))?;
        let pid = child.id().context("the lab server exited at once")?;
        let ready: Ready = crate::child::ready_line(&mut child, server.name()).await?;
        Ok(Self {
            addr: ready.addr,
            pid,
            child,
        })
    }

    /// Stops the child and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().ok();
        tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .context("the lab server did not exit")??;
        Ok(())
    }
}
