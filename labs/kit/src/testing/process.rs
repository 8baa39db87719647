//! A lab's real binary as a child process, for the tests that only a process can make:
//! stopping it with SIGTERM, as a service manager or `kill` does, or killing it outright,
//! and seeing what its clients are told.
//!
//! The lab is started on `--addr 127.0.0.1:0` and its port is read from the line every lab
//! prints when it is ready (`open http://127.0.0.1:<port>/`), so no port is fixed and no
//! sleep waits for readiness. The child is killed when the handle is dropped: a failing
//! test leaves no server behind.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::within;

/// A lab binary running on a free port of 127.0.0.1.
#[derive(Debug)]
pub struct LabProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process; killed on drop.
    child: Child,
    /// Every line it printed, stdout and stderr together, in arrival order.
    lines: mpsc::UnboundedReceiver<String>,
}

impl LabProcess {
    /// Starts `exe` (a path from `env!("CARGO_BIN_EXE_<name>")`) with `--addr 127.0.0.1:0`
    /// and `args`, and waits for its "open http://127.0.0.1:<port>/" line.
    pub async fn start(exe: &str, args: &[&str]) -> anyhow::Result<Self> {
        Self::start_on(exe, "127.0.0.1:0", args).await
    }

    /// Starts `exe` with `--addr addr` and `args`: the address of a lab that was stopped, to
    /// start it again where its clients look for it.
    pub async fn start_on(exe: &str, addr: &str, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .args(["--addr", addr])
            .args(args)
            // Plain log lines, so the address is found in them as it is printed.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {exe}"))?;
        let (tx, mut lines) = mpsc::unbounded_channel();
        // Both pipes are drained for the life of the process, so it never blocks on them.
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward(stdout, tx.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward(stderr, tx));
        }
        let addr = within("the lab's ready line", async {
            while let Some(line) = lines.recv().await {
                if let Some(addr) = address_in(&line) {
                    return Ok(addr);
                }
            }
            bail!("{exe} ended without printing its address")
        })
        .await??;
        Ok(Self { addr, child, lines })
    }

    /// `ws://<addr><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Sends SIGTERM, what `kill` and service managers send to stop a server.
    pub async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the lab has already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`, `INT`...) to the process. SIGSTOP freezes it without
    /// closing anything: its kernel still completes TCP handshakes and acknowledges data,
    /// but the program answers nothing, which is how a hung server or a half-open link
    /// looks from outside; SIGCONT thaws it.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self.child.id().context("the lab has already exited")?;
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .await
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would: no signal handler
    /// runs and no close frame is sent, so its clients see their connections just die.
    /// Returns once it is gone, so its port can be bound again.
    pub async fn kill(mut self) -> anyhow::Result<ExitStatus> {
        within("the lab's death", self.child.kill()).await??;
        Ok(within("the lab's exit", self.child.wait()).await??)
    }

    /// Waits for the process to exit and returns its status and every line it printed.
    pub async fn wait(mut self) -> anyhow::Result<(ExitStatus, Vec<String>)> {
        let status = within("the lab's exit", self.child.wait()).await??;
        let mut printed = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            printed.push(line);
        }
        Ok((status, printed))
    }
}

/// Sends each line of `pipe` to `tx` until the pipe closes.
async fn forward(pipe: impl AsyncRead + Unpin, tx: mpsc::UnboundedSender<String>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// The `127.0.0.1:<port>` of the first `http://127.0.0.1:<port>` in `line`.
fn address_in(line: &str) -> Option<SocketAddr> {
    let start = line.find("http://127.0.0.1:")? + "http://".len();
    let rest = &line[start..];
    let end = rest
        .char_indices()
        .skip("127.0.0.1:".len())
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address is found in a lab's ready line, and nowhere else.
    #[test]
    fn finds_the_address() {
        let line = "INFO gateway lab: open http://127.0.0.1:40123/  (WebSocket at ws://127.0.0.1:40123/ws)";
        assert_eq!(address_in(line), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(address_in("listening"), None);
    }
}
