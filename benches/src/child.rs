//! The server in its own process: `bench serve`, started by the CLI as a child.
//!
//! A server sharing the client's process would share its allocator, its runtime and its
//! cores, and its CPU time could not be told apart. So the CLI starts itself again as
//! `bench serve`, pinned to another core, and waits for the one line the child prints on
//! stdout: the JSON of its [`ServerAddrs`]. No sleeping: the child prints only after its
//! listeners are bound, so the line means "ready". The child exits when its stdin closes,
//! so it cannot outlive the CLI, even after a crash.
//!
//! [`LabProcess`] starts a lab's own server binary the same way (the soak, `src/bin/soak.rs`,
//! runs the rooms and broadcast labs so): a lab prints no address line, so it is given a
//! free port with `--addr` and is ready once that port accepts a connection.

use std::net::{Ipv4Addr, SocketAddr};
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
        let addrs: ServerAddrs = ready_line(&mut child, "the server").await?;
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

/// Waits, at most [`READY_TIMEOUT`], for the one JSON line a child prints on stdout once it
/// listens (`bench serve`, `bench serve-lab`), and reads it as a `T`. `who` names the child
/// in the errors.
pub async fn ready_line<T: serde::de::DeserializeOwned>(
    child: &mut Child,
    who: &str,
) -> anyhow::Result<T> {
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut line = String::new();
    let read = tokio::time::timeout(READY_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .with_context(|| format!("{who} did not say it was ready within {READY_TIMEOUT:?}"))?
        .with_context(|| format!("reading the address line of {who}"))?;
    if read == 0 {
        bail!("{who} exited before printing its address (see its messages above)");
    }
    serde_json::from_str(line.trim())
        .with_context(|| format!("{who} printed {line:?}, not its address"))
}

/// A lab's server binary (`lab-rooms`, `lab-broadcast`...) running in a child process on
/// 127.0.0.1; killed when this value is dropped.
#[derive(Debug)]
pub struct LabProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id, to read its memory and open files from `/proc`.
    pub pid: u32,
    /// The process.
    child: Child,
}

/// How often a starting lab's port is tried: starting takes milliseconds, so this bounds
/// the number of attempts within [`READY_TIMEOUT`], and is short enough for the moment the
/// port first accepts to time a server's return (reconnect-storm).
const READY_POLL: Duration = Duration::from_millis(5);

/// Times a lab is started on a fresh port when it exits at once (another program took the
/// port between our choosing it and the lab binding it).
const START_ATTEMPTS: usize = 3;

impl LabProcess {
    /// Starts `exe --addr 127.0.0.1:<free port> <args>` with its logs at `warn` (unless
    /// `RUST_LOG` says otherwise: the labs log every request at `info`) and waits until the
    /// port accepts a TCP connection.
    pub async fn spawn(exe: &Path, args: &[String]) -> anyhow::Result<Self> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::try_spawn(exe, args).await {
                Ok(lab) => return Ok(lab),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }

    async fn try_spawn(exe: &Path, args: &[String]) -> anyhow::Result<Self> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        Self::spawn_on(exe, addr, args).await
    }

    /// Starts `exe --addr <addr> <args>` on an address the caller chose (a restarted lab
    /// goes back on its old port), and waits until the port accepts a TCP connection.
    pub async fn spawn_on(exe: &Path, addr: SocketAddr, args: &[String]) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .arg("--addr")
            .arg(addr.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let pid = child.id().context("the lab exited at once")?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("{} exited with {status} before listening", exe.display());
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Self { addr, pid, child });
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} did not listen on {addr} within {READY_TIMEOUT:?}",
                    exe.display()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`) with kill(1): the bench crate has no libc
    /// binding, and this is what a learner would type.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .await
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{signal} {} failed", self.pid);
        Ok(())
    }

    /// SIGTERM, as a service manager stops a server, then waits for the exit; a lab that
    /// ignores it for [`READY_TIMEOUT`] is killed.
    pub async fn terminate(mut self) -> anyhow::Result<()> {
        self.signal("TERM").await?;
        if tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("the lab ignored SIGTERM for {READY_TIMEOUT:?}; killed");
            return self.stop().await;
        }
        Ok(())
    }

    /// Kills the lab (SIGKILL ends a stopped process too) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill().ok();
        tokio::time::timeout(READY_TIMEOUT, self.child.wait())
            .await
            .context("the lab did not exit")??;
        Ok(())
    }
}

/// A port of 127.0.0.1 that was free a moment ago: the kernel's choice for port 0, released
/// at once for the child to bind.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
