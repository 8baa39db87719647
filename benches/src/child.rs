//! The server in its own process: `bench serve`, started by the CLI as a child.
//!
//! A server sharing the client's process would share its allocator, its runtime and its
//! cores, and its CPU time could not be told apart. So the CLI starts itself again as
//! `bench serve`, pinned to another core, and waits for the one line the child prints on
//! stdout: the JSON of its [`ServerAddrs`]. No sleeping: the child prints only after its
//! listeners are bound, so the line means "ready". The child exits when its stdin closes,
//! so it cannot outlive the CLI, even after a crash.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::server::{ServerAddrs, ServerOptions};

/// How long a child may take to print its addresses. Starting takes milliseconds; this is
/// for a machine under heavy load.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `bench serve` child.
#[derive(Debug)]
pub struct ChildServer {
    /// Where it listens.
    pub addrs: ServerAddrs,
    /// Its process id, to read its CPU time and memory from `/proc`.
    pub pid: u32,
    /// The process; killed when this value is dropped.
    child: Child,
}

impl ChildServer {
    /// Starts `exe serve` with `options`, pinned to `core` if given, with `threads` runtime
    /// workers, and waits until it prints its addresses.
    pub async fn spawn(
        exe: &Path,
        options: ServerOptions,
        core: Option<usize>,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--threads")
            .arg(threads.to_string());
        if let Some(core) = core {
            command.arg("--core").arg(core.to_string());
        }
        if !options.nodelay {
            command.arg("--nagle");
        }
        if let Some(stall) = options.stall {
            command
                .arg("--stall-after-ms")
                .arg(stall.after.as_millis().to_string())
                .arg("--stall-ms")
                .arg(stall.pause.as_millis().to_string());
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start the server: {} serve", exe.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut line = String::new();
        let read = tokio::time::timeout(READY_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
            .await
            .with_context(|| {
                format!("the server did not say it was ready within {READY_TIMEOUT:?}")
            })?
            .context("reading the server's address line")?;
        if read == 0 {
            bail!("the server exited before printing its addresses (see its messages above)");
        }
        let addrs: ServerAddrs = serde_json::from_str(line.trim())
            .with_context(|| format!("the server printed {line:?}, not its addresses"))?;
        Ok(Self { addrs, pid, child })
    }

    /// Stops the child and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().ok();
        tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .context("the server did not exit")??;
        Ok(())
    }
}
