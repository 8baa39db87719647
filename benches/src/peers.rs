//! The servers a learner would write instead of ours, run next to ours: Node's `ws` and
//! Socket.IO (the default WebSocket adapter of NestJS, which the course's source teaches).
//!
//! Their code lives in `benches/peers/` (two small `.mjs` files, and the npm packages at the
//! versions its committed `package-lock.json` pins, installed by `benches/peers/install.sh`).
//! [`NodePeer::spawn`] starts one as a child process exactly like the harness starts its own
//! server ([`crate::child`]): on 127.0.0.1 port 0, pinned to its own core when asked, ready
//! once it prints its one address line, and gone when its owner is: the child is killed
//! when the [`NodePeer`] is dropped, and the script exits by itself when its stdin closes,
//! so even a crash of the harness cannot leave a server behind.
//!
//! ```text
//! benches/peers/install.sh
//! cargo test -p bench --test peers
//! ```
//!
//! - [`PeerKind::NodeWs`] (`node-ws-echo.mjs`) serves the harness's echo workload on the
//!   harness's wire format ([`crate::wire`]), so [`crate::client::Connection`] measures it as
//!   it measures our WebSocket server.
//! - [`PeerKind::SocketIo`] (`socketio-server.mjs`) speaks Socket.IO: echo with an ack,
//!   rooms, broadcast; our own client for it is [`crate::socketio`].
//!
//! Where Node or the packages are missing, [`PeerError::Missing`] says what to install, so
//! a caller can leave the peer's rows out with that message instead of failing the run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::child::READY_TIMEOUT;

/// How long [`NodePeer::stop`] waits for the script to exit by itself once its stdin is
/// closed, before killing it. Node exits in milliseconds; this is for a loaded machine.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Which Node server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Node's `ws` WebSocketServer serving the harness's echo workload.
    NodeWs,
    /// A Socket.IO 4 server (websocket transport only): echo with ack, rooms, broadcast.
    SocketIo,
}

impl PeerKind {
    /// Every peer, in the order a report lists them.
    pub const ALL: [Self; 2] = [Self::NodeWs, Self::SocketIo];

    /// The name a report and an error message use.
    pub fn name(self) -> &'static str {
        match self {
            Self::NodeWs => "node-ws",
            Self::SocketIo => "socket.io",
        }
    }

    /// The script in `benches/peers/` that runs it.
    pub fn script(self) -> &'static str {
        match self {
            Self::NodeWs => "node-ws-echo.mjs",
            Self::SocketIo => "socketio-server.mjs",
        }
    }
}

/// Why a peer could not be started or stopped.
#[derive(Debug, Error)]
pub enum PeerError {
    /// Something the peer needs is not installed: the caller skips the peer with this
    /// message (or fails, where the peer is required).
    #[error("{what} is missing: {hint}")]
    Missing {
        /// What is missing (a program, or the npm packages).
        what: String,
        /// How to install it.
        hint: String,
    },
    /// Starting the process, or reading its output, failed.
    #[error("cannot run the {peer} peer: {source}")]
    Io {
        /// Which peer.
        peer: &'static str,
        /// The system's error.
        source: std::io::Error,
    },
    /// The script exited, or printed nothing, before saying where it listens.
    #[error("the {peer} peer exited before printing its address (see its messages above)")]
    Exited {
        /// Which peer.
        peer: &'static str,
    },
    /// The script did not print its address within [`READY_TIMEOUT`].
    #[error("the {peer} peer did not say it was ready within {READY_TIMEOUT:?}")]
    NotReady {
        /// Which peer.
        peer: &'static str,
    },
    /// The first line on the script's stdout is not `{"addr":"127.0.0.1:PORT"}`.
    #[error("the {peer} peer printed {line:?}, not its address")]
    BadAddressLine {
        /// Which peer.
        peer: &'static str,
        /// What it printed.
        line: String,
    },
    /// The process we hold is not Node (taskset did not exec it): its CPU time and memory
    /// would be the wrong process's.
    #[error("process {pid} is {comm:?}, not node")]
    NotNode {
        /// The child's pid.
        pid: u32,
        /// Its name in `/proc/<pid>/comm`.
        comm: String,
    },
    /// The process did not exit when it was stopped.
    #[error("the {peer} peer did not exit")]
    DidNotExit {
        /// Which peer.
        peer: &'static str,
    },
}

/// What `install.sh` says to run when the packages are missing.
const INSTALL_HINT: &str = "run benches/peers/install.sh";

/// The folder of the Node peers, `benches/peers/`, found from this crate's own folder so it
/// works from any working directory.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// The one line a script prints once it listens.
#[derive(Debug, Deserialize)]
struct AddressLine {
    /// `127.0.0.1:PORT`.
    addr: SocketAddr,
}

/// A Node peer running in a child process on 127.0.0.1.
#[derive(Debug)]
pub struct NodePeer {
    /// Which server this is.
    pub kind: PeerKind,
    /// Where it listens (WebSocket at any path for [`PeerKind::NodeWs`]; Socket.IO at
    /// `/socket.io/` for [`PeerKind::SocketIo`]).
    pub addr: SocketAddr,
    /// The node process's id (taskset execs node, so it is node's and not taskset's), to
    /// read its CPU time and memory from `/proc`.
    pub pid: u32,
    /// The process; killed when this value is dropped. Its stdin is the pipe whose closing
    /// tells the script to exit.
    child: Child,
}

impl NodePeer {
    /// Starts `node benches/peers/<script>` (under `taskset -c <core>` when `core` is
    /// given, as the harness pins its own server) and waits until it prints its address.
    pub async fn spawn(kind: PeerKind, core: Option<usize>) -> Result<Self, PeerError> {
        let node = find_program("node").ok_or_else(|| PeerError::Missing {
            what: "node".into(),
            hint: format!("apt-get install nodejs npm, then {INSTALL_HINT}"),
        })?;
        check_installed()?;
        let script = peers_dir().join(kind.script());
        let mut command = match core {
            Some(core) => {
                let taskset = find_program("taskset").ok_or_else(|| PeerError::Missing {
                    what: "taskset (to pin the peer to a core)".into(),
                    hint: "apt-get install util-linux".into(),
                })?;
                let mut command = Command::new(taskset);
                command.arg("-c").arg(core.to_string()).arg(node);
                command
            }
            None => Command::new(node),
        };
        command
            .arg(&script)
            .current_dir(peers_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let peer = kind.name();
        let io = |source| PeerError::Io { peer, source };
        let mut child = command.spawn().map_err(io)?;
        let pid = child.id().ok_or(PeerError::Exited { peer })?;
        let stdout = child.stdout.take().ok_or(PeerError::Exited { peer })?;
        let mut line = String::new();
        let read = tokio::time::timeout(READY_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
            .await
            .map_err(|_| PeerError::NotReady { peer })?
            .map_err(io)?;
        if read == 0 {
            return Err(PeerError::Exited { peer });
        }
        let AddressLine { addr } =
            serde_json::from_str(line.trim()).map_err(|_| PeerError::BadAddressLine {
                peer,
                line: line.trim().to_owned(),
            })?;
        // By now node runs the script (it printed), so taskset has long exec'd into it.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).map_err(io)?;
        let comm = comm.trim();
        if !comm.starts_with("node") {
            return Err(PeerError::NotNode {
                pid,
                comm: comm.to_owned(),
            });
        }
        tracing::debug!(peer, %addr, pid, ?core, "peer listening");
        Ok(Self {
            kind,
            addr,
            pid,
            child,
        })
    }

    /// Stops the peer the polite way, by closing its stdin, and waits for it to exit; kills
    /// it if it has not within [`STOP_GRACE`].
    pub async fn stop(mut self) -> Result<(), PeerError> {
        let peer = self.kind.name();
        drop(self.child.stdin.take());
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_ok()
        {
            return Ok(());
        }
        tracing::warn!(
            peer,
            pid = self.pid,
            "peer ignored its closed stdin; killing it"
        );
        self.child.start_kill().ok();
        tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .map_err(|_| PeerError::DidNotExit { peer })?
            .map_err(|source| PeerError::Io { peer, source })?;
        Ok(())
    }
}

/// [`PeerError::Missing`] unless `benches/peers/node_modules` holds exactly what
/// `package-lock.json` pins: install.sh leaves a copy of the lockfile there once `npm ci`
/// succeeded, so an old or half-done install is caught too.
fn check_installed() -> Result<(), PeerError> {
    let dir = peers_dir();
    let installed = std::fs::read(dir.join("node_modules/.package-lock-installed.json"));
    let pinned = std::fs::read(dir.join("package-lock.json"));
    match (installed, pinned) {
        (Ok(installed), Ok(pinned)) if installed == pinned => Ok(()),
        _ => Err(PeerError::Missing {
            what: "benches/peers/node_modules at the versions of package-lock.json".into(),
            hint: INSTALL_HINT.into(),
        }),
    }
}

/// The first executable file named `name` in a folder of `PATH`, as the shell would find it.
fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every peer's script is in benches/peers/, so a renamed file cannot leave a kind behind.
    #[test]
    fn every_kind_has_its_script() {
        for kind in PeerKind::ALL {
            assert!(
                peers_dir().join(kind.script()).is_file(),
                "{} has no {}",
                kind.name(),
                kind.script()
            );
        }
    }

    /// A program that does not exist is not found, and one every machine has is.
    #[test]
    fn programs_are_found_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-here").is_none());
    }
}
