//! The cluster on one machine: a real Redis, N nodes (this crate's own binary, `lab-scale
//! node`), and a real HAProxy in front of them, each a child process on 127.0.0.1.
//!
//! Each part is started on a free port, waited for by what it prints or by connecting to it
//! (never by sleeping), and stopped when its handle is dropped: SIGTERM first, as a service
//! manager would, then SIGKILL if it has not exited within [`STOP_TIMEOUT`]. A failing test
//! leaves nothing running. Redis is started with persistence off (`--save ""
//! --appendonly no`) in a temporary directory: a restarted Redis starts empty, which is
//! what the lab's epoch detects.
//!
//! The HAProxy configuration is generated from the node list ([`haproxy_config`]): round
//! robin by default, or sticky by a cookie or by the client's address. The chapter shows the
//! generated file and says when stickiness is needed: a plain WebSocket lives on one TCP
//! connection, which stays on one node whatever the balancing; a transport made of several
//! HTTP requests (the resilience lab's long-polling fallback) needs them all on the node that
//! holds its session, and only stickiness does that.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio::sync::mpsc;

use crate::BrokerKind;

/// How long a part may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a part has to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `name` is installed: on `PATH`, or in the `sbin` folders Debian puts servers in
/// (`/usr/sbin/haproxy` is not on an ordinary user's `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A free port of 127.0.0.1: bound, read and released. Another program could take it in
/// between; the parts below retry with a new port when that happens.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A child process whose output is read line by line (so it never blocks on a full pipe)
/// and which is stopped when dropped.
#[derive(Debug)]
pub struct Process {
    /// What it is, for messages.
    name: String,
    /// The process.
    child: Child,
    /// Its lines, stdout and stderr, as they come.
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line so far, to explain a failure.
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `command` with its output piped.
    pub fn spawn(name: &str, mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        let (tx, lines) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            forward(stdout, tx.clone(), Arc::clone(&log));
        }
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, tx, Arc::clone(&log));
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            lines,
            log,
        })
    }

    /// The process id: what `kill` takes.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line for which `found` returns something, within [`READY_TIMEOUT`].
    pub async fn wait_for<T>(&mut self, found: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
        let name = self.name.clone();
        let waiting = async {
            while let Some(line) = self.lines.recv().await {
                if let Some(value) = found(&line) {
                    return Ok(value);
                }
            }
            bail!("{name} exited before it was ready:\n{}", self.output())
        };
        tokio::time::timeout(READY_TIMEOUT, waiting)
            .await
            .map_err(|_| {
                anyhow!(
                    "{name} not ready within {READY_TIMEOUT:?}:\n{}",
                    self.output()
                )
            })?
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, as a crash or the OOM killer: no handler runs, nothing is said to anyone.
    pub fn kill(&mut self) -> anyhow::Result<ExitStatus> {
        self.child.kill().ok();
        self.child
            .wait()
            .with_context(|| format!("waiting for {}", self.name))
    }

    /// SIGTERM, then SIGKILL if it is still running after [`STOP_TIMEOUT`].
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Ok(status);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if sent.is_ok_and(|s| s.success()) {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Ok(status);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            tracing::warn!(name = %self.name, "did not stop within {STOP_TIMEOUT:?} of SIGTERM: killing it");
        }
        self.kill()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(name = %self.name, %err, "could not stop");
        }
    }
}

/// Reads `pipe` line by line on a thread of its own, into `tx` and `log`.
fn forward(
    pipe: impl Read + Send + 'static,
    tx: mpsc::UnboundedSender<String>,
    log: Arc<Mutex<Vec<String>>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.clone());
            // The receiver may be gone (nobody waits any more): keep draining the pipe.
            let _ = tx.send(line);
        }
    });
}

// ANCHOR: redis
/// A Redis server on 127.0.0.1, persistence off, its files in a directory of ours.
#[derive(Debug)]
pub struct Redis {
    /// Its port.
    pub port: u16,
    /// The process.
    process: Process,
}

impl Redis {
    /// Starts `redis-server` on a free port, working in `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start_on(free_port()?, dir).await {
                Ok(redis) => return Ok(redis),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("redis did not start")))
    }

    /// Starts `redis-server` on `port` (again, after a stop: its clients look for it there).
    pub async fn start_on(port: u16, dir: &Path) -> anyhow::Result<Self> {
        let program = find_program("redis-server")
            .context("redis-server is not installed (Debian: apt-get install redis-server)")?;
        let mut command = Command::new(program);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            // Nothing on disk: a restart starts empty, as a cache or a broker often does.
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .args(["--daemonize", "no", "--protected-mode", "yes"]);
        let mut process = Process::spawn("redis-server", command)?;
        process
            .wait_for(|line| line.contains("Ready to accept connections").then_some(()))
            .await?;
        Ok(Self { port, process })
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Stops it (SIGTERM: Redis closes every connection and exits).
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        self.process.stop()
    }
}
// ANCHOR_END: redis

/// How the balancer picks a node for a new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Balance {
    /// Each new connection to the next node in turn.
    #[default]
    Roundrobin,
    /// Sticky by a cookie HAProxy sets on the first answer: later requests of the same
    /// browser go to the same node.
    Cookie,
    /// Sticky by the client's IP address (a hash of it): no cookie needed, but every client
    /// behind one NAT lands on one node.
    Source,
}

// ANCHOR: haproxy_config
/// The HAProxy configuration for `nodes` behind `bind`, balanced by `balance`.
pub fn haproxy_config(
    bind: SocketAddr,
    nodes: &[(String, SocketAddr)],
    balance: Balance,
) -> String {
    let mut config = String::from(
        "# Generated by lab-scale: HAProxy in front of the chat nodes.
global
    # Each connection through HAProxy takes two file descriptors (client and node side).
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # After the 101, the connection is a tunnel: it may stay idle this long (the nodes
    # ping every 10 s, so a live one never is).
    timeout tunnel 1h
    # A connection refused by a node that just died is tried again on another node.
    retries 2
    option redispatch 1

frontend chat
",
    );
    let _ = writeln!(config, "    bind {bind}");
    config.push_str("    default_backend nodes\n\nbackend nodes\n");
    match balance {
        Balance::Roundrobin => config.push_str("    balance roundrobin\n"),
        Balance::Cookie => config.push_str(
            "    balance roundrobin\n    # Sticky: the first answer sets SCALE_NODE=<node>, later requests carry it.\n    cookie SCALE_NODE insert indirect nocache\n",
        ),
        Balance::Source => config.push_str(
            "    # Sticky: a hash of the client's address picks the node.\n    balance source\n    hash-type consistent\n",
        ),
    }
    config.push_str(
        "    # A node that stops answering is taken out within a second, and put back when it answers.\n    option httpchk GET /healthz\n",
    );
    for (id, addr) in nodes {
        let _ = write!(
            config,
            "    server {id} {addr} check inter 500ms fall 2 rise 1"
        );
        if balance == Balance::Cookie {
            let _ = write!(config, " cookie {id}");
        }
        config.push('\n');
    }
    config
}
// ANCHOR_END: haproxy_config

/// The configuration for `nodes` nodes `n1`, `n2`... on the example ports 40001, 40002...
/// behind the lab's port 3007: what `lab-scale haproxy-config` prints and the chapter shows.
pub fn example_config(nodes: u16, balance: Balance) -> String {
    let list: Vec<(String, SocketAddr)> = (1..=nodes)
        .map(|i| {
            (
                format!("n{i}"),
                SocketAddr::from(([127, 0, 0, 1], 40000 + i)),
            )
        })
        .collect();
    haproxy_config(
        SocketAddr::from(([127, 0, 0, 1], kit::ports::SCALE)),
        &list,
        balance,
    )
}

/// HAProxy in front of the nodes.
#[derive(Debug)]
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The configuration it runs, as written to its file.
    pub config: String,
    /// The process.
    process: Process,
}

impl Balancer {
    /// Writes the configuration into `dir` and starts `haproxy` on `addr` (port 0: a free
    /// one), in the foreground; ready once its port accepts a connection.
    pub async fn start(
        addr: SocketAddr,
        nodes: &[(String, SocketAddr)],
        balance: Balance,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let program = find_program("haproxy")
            .context("haproxy is not installed (Debian: apt-get install haproxy)")?;
        let addr = if addr.port() == 0 {
            SocketAddr::from(([127, 0, 0, 1], free_port()?))
        } else {
            addr
        };
        let config = haproxy_config(addr, nodes, balance);
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, &config).with_context(|| format!("writing {}", file.display()))?;
        let mut command = Command::new(program);
        // -db: stay in the foreground, as a child process must.
        command.arg("-db").arg("-f").arg(&file);
        let mut process = Process::spawn("haproxy", command)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if process.has_exited() {
                bail!("haproxy exited:\n{}", process.output());
            }
            if Instant::now() > deadline {
                bail!(
                    "haproxy not listening on {addr} within {READY_TIMEOUT:?}:\n{}",
                    process.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            addr,
            config,
            process,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// One node, this crate's binary run as `lab-scale node`.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its id.
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The process.
    process: Process,
}

impl NodeProcess {
    /// Starts `exe node` with `args` on a free port, and waits for its ready line.
    pub async fn start(exe: &Path, id: &str, args: &[String]) -> anyhow::Result<Self> {
        let mut command = Command::new(exe);
        command
            .args(["node", "--addr", "127.0.0.1:0", "--node-id", id])
            .args(args)
            // The node's own lines (ready, broker up and down, rejoins, expiries), not one
            // line per connection: the ready line is how we know it listens.
            .env("RUST_LOG", "warn,lab_scale=info")
            .env("NO_COLOR", "1");
        let mut process = Process::spawn(&format!("node {id}"), command)?;
        let addr = process.wait_for(address_in).await?;
        Ok(Self {
            id: id.to_owned(),
            addr,
            process,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL: the node dies on the spot, its clients' connections with it.
    pub fn kill(mut self) -> anyhow::Result<ExitStatus> {
        self.process.kill()
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// The address in a node's ready line (`open http://127.0.0.1:<port>/`).
fn address_in(line: &str) -> Option<SocketAddr> {
    let start = line.find("open http://")? + "open http://".len();
    let rest = &line[start..];
    let end = rest.find('/')?;
    rest[..end].parse().ok()
}

// ANCHOR: options
/// What to start.
#[derive(Clone, Debug)]
pub struct Options {
    /// The lab's binary (`std::env::current_exe()`, or `env!("CARGO_BIN_EXE_lab-scale")`).
    pub exe: PathBuf,
    /// How many nodes.
    pub nodes: usize,
    /// Whether to start Redis and connect the nodes through it.
    pub redis: bool,
    /// The balancing.
    pub balance: Balance,
    /// Where the balancer listens (port 0: a free one).
    pub addr: SocketAddr,
    /// More flags for every node (`--presence-ttl 2`).
    pub node_args: Vec<String>,
}
// ANCHOR_END: options

/// A running cluster. Dropping it stops the balancer, the nodes, then Redis: the fields
/// drop in the order they are declared, so keep that order.
#[derive(Debug)]
pub struct Cluster {
    /// HAProxy: what clients connect to.
    pub balancer: Balancer,
    /// The nodes, `n1`, `n2`...; a test may kill one (`nodes.remove(i).kill()`).
    pub nodes: Vec<NodeProcess>,
    /// Redis, unless the cluster runs without a broker.
    pub redis: Option<Redis>,
    /// Redis's working directory and the balancer's configuration.
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts Redis (if asked), the nodes, then the balancer in front of them.
    pub async fn start(options: &Options) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=16).contains(&options.nodes),
            "--nodes: 1 to 16 on one machine"
        );
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let redis = if options.redis {
            Some(Redis::start(dir.path()).await?)
        } else {
            None
        };
        let broker = match &redis {
            Some(redis) => BrokerKind::Redis(redis.url()),
            None => BrokerKind::None,
        };
        let lb_addr = if options.addr.port() == 0 {
            SocketAddr::from(([127, 0, 0, 1], free_port()?))
        } else {
            options.addr
        };
        let mut args = match &broker {
            BrokerKind::Redis(url) => vec![
                "--broker".into(),
                "redis".into(),
                "--redis".into(),
                url.clone(),
            ],
            BrokerKind::None => vec!["--broker".into(), "none".into()],
        };
        // The page is served through the balancer: its origin is the balancer's.
        args.extend(["--allow-origin".into(), format!("http://{lb_addr}")]);
        args.extend(options.node_args.iter().cloned());
        let mut nodes = Vec::with_capacity(options.nodes);
        for i in 1..=options.nodes {
            nodes.push(NodeProcess::start(&options.exe, &format!("n{i}"), &args).await?);
        }
        let list: Vec<(String, SocketAddr)> =
            nodes.iter().map(|n| (n.id.clone(), n.addr)).collect();
        let balancer = Balancer::start(lb_addr, &list, options.balance, dir.path()).await?;
        Ok(Self {
            balancer,
            nodes,
            redis,
            dir,
        })
    }

    /// `ws://<balancer><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.balancer.addr)
    }

    /// `http://<balancer><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.balancer.addr)
    }

    /// What is running, one line per part: what `lab-scale` prints when it starts.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(redis) = &self.redis {
            let _ = writeln!(
                text,
                "redis     {}  (pid {}, persistence off)",
                redis.url(),
                redis.pid()
            );
        } else {
            let _ = writeln!(
                text,
                "redis     none (--broker none: every node on its own)"
            );
        }
        for node in &self.nodes {
            let _ = writeln!(
                text,
                "node {:<4} http://{}/  (pid {})",
                node.id,
                node.addr,
                node.pid()
            );
        }
        let _ = writeln!(
            text,
            "haproxy   http://{}/  (pid {}, config {})",
            self.balancer.addr,
            self.balancer.pid(),
            self.dir.path().join("haproxy.cfg").display()
        );
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The generated configuration lists every node, with cookies only when sticky by cookie.
    #[test]
    fn config_lists_the_nodes() {
        let nodes = vec![
            ("n1".to_owned(), "127.0.0.1:4001".parse().unwrap()),
            ("n2".to_owned(), "127.0.0.1:4002".parse().unwrap()),
        ];
        let bind = "127.0.0.1:3007".parse().unwrap();
        let plain = haproxy_config(bind, &nodes, Balance::Roundrobin);
        assert!(plain.contains("bind 127.0.0.1:3007"));
        assert!(plain.contains("server n2 127.0.0.1:4002 check"));
        assert!(!plain.contains("cookie"));
        let sticky = haproxy_config(bind, &nodes, Balance::Cookie);
        assert!(sticky.contains("cookie SCALE_NODE insert"));
        assert!(
            sticky.contains("server n1 127.0.0.1:4001 check inter 500ms fall 2 rise 1 cookie n1")
        );
        assert!(haproxy_config(bind, &nodes, Balance::Source).contains("balance source"));
    }

    /// A node's ready line gives its address.
    #[test]
    fn ready_line() {
        let line = "INFO scale node n1: open http://127.0.0.1:40123/  (WebSocket at ws://127.0.0.1:40123/ws)";
        assert_eq!(address_in(line), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(address_in("listening"), None);
    }
}
