//! A real reverse proxy in front of the lab: Debian's nginx, started as a child process
//! with one of the two configurations committed beside this crate (`proxy/`):
//!
//! - [`ProxyKind::Strip`] (`proxy/nginx-strip.conf`): a plain-HTTP reverse proxy, as one is
//!   written for a REST service. It does not pass `Upgrade`, so no WebSocket opens through
//!   it, and the clients fall back to Server-Sent Events ([`crate::fallback`]).
//! - [`ProxyKind::Forward`] (`proxy/nginx-forward.conf`): the same proxy with nginx's
//!   documented WebSocket lines. The WebSocket opens through it.
//!
//! ```text
//! cargo run -p lab-resilience -- --proxy strip      # open http://127.0.0.1:3016/
//! ```
//!
//! nginx runs in the foreground (`daemon off`), on loopback, with every file it writes
//! under a temporary prefix, and is stopped with the [`Proxy`] handle (SIGTERM, nginx's
//! fast shutdown) however the program ends. Where nginx is not installed, [`Proxy::start`]
//! says so and how to install it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::{Child, Command};

/// The stripping configuration, as committed.
pub const STRIP_CONF: &str = include_str!("../proxy/nginx-strip.conf");
/// The forwarding configuration, as committed.
pub const FORWARD_CONF: &str = include_str!("../proxy/nginx-forward.conf");

/// How long nginx may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Which configuration the proxy runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProxyKind {
    /// Does not pass `Upgrade`: the WebSocket fails, the fallback carries the stream.
    Strip,
    /// Passes `Upgrade` and `Connection`: the WebSocket opens through it.
    Forward,
}

impl ProxyKind {
    /// The configuration template.
    pub fn template(self) -> &'static str {
        match self {
            Self::Strip => STRIP_CONF,
            Self::Forward => FORWARD_CONF,
        }
    }

    /// The configuration for a proxy listening on `listen` in front of `upstream`.
    pub fn config(self, listen: SocketAddr, upstream: SocketAddr) -> String {
        self.template()
            .replace("@LISTEN@", &listen.to_string())
            .replace("@UPSTREAM@", &upstream.to_string())
    }
}

/// The nginx binary: `$NGINX` if set, else `nginx` on the `PATH` or in `/usr/sbin` (where
/// Debian puts it, often outside a user's `PATH`). `None` when there is none.
pub fn find_nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NGINX") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// What to tell a learner without nginx.
pub const INSTALL_HINT: &str = "nginx is not installed: `sudo apt-get install nginx-light` \
     (Debian, Ubuntu), `brew install nginx` (macOS), or set NGINX to its path";

/// A running nginx, stopped when dropped.
#[derive(Debug)]
pub struct Proxy {
    /// The nginx master process.
    child: Child,
    /// Where it listens.
    addr: SocketAddr,
    /// Its prefix: the configuration, the pid file, the temporary directories.
    dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts nginx with `kind`'s configuration on `listen` (port 0: a free one) in front of
    /// `upstream`, and waits until it accepts connections.
    pub async fn start(
        kind: ProxyKind,
        listen: SocketAddr,
        upstream: SocketAddr,
    ) -> anyhow::Result<Self> {
        let nginx = find_nginx().context(INSTALL_HINT)?;
        let listen = if listen.port() == 0 {
            free_port(listen)?
        } else {
            listen
        };
        let dir = tempfile::Builder::new()
            .prefix("lab-resilience-nginx-")
            .tempdir()
            .context("creating nginx's prefix directory")?;
        // nginx's workers may run as another user (`nobody`, when started by root): they
        // must be able to enter the prefix.
        set_mode(dir.path(), 0o755)?;
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, kind.config(listen, upstream)).context("writing nginx.conf")?;
        let log =
            std::fs::File::create(dir.path().join("stderr.log")).context("creating nginx's log")?;
        let child = Command::new(&nginx)
            // -e: the log nginx writes before it has read its configuration.
            .args(["-e", "stderr", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", nginx.display()))?;
        let mut proxy = Self {
            child,
            addr: listen,
            dir,
        };
        proxy.ready().await?;
        Ok(proxy)
    }

    /// Waits until nginx accepts connections, or fails with what it printed.
    async fn ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("nginx exited at start ({status}): {}", self.log());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "nginx is not listening on {} after {START_TIMEOUT:?}: {}",
                    self.addr,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What nginx has printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops nginx (SIGTERM: a fast shutdown, the master stops its workers) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.terminate();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        Ok(())
    }

    /// Sends SIGTERM to the master, which stops its workers before it exits. SIGKILL (what
    /// `kill_on_drop` sends) would leave the workers running.
    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            // Give the master a moment to stop its workers before the prefix is removed.
            for _ in 0..100 {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// `addr` with a port the system says is free now.
fn free_port(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr).context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// Sets a directory's permission bits.
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}
