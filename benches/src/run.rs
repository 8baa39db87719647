//! A whole run: every echo measurement repeated, interleaved, summarized, and compared with
//! raw TCP; then the other workloads.
//!
//! Repetitions are interleaved (repetition 1 of every transport, then repetition 2 of every
//! transport...) so that a machine that drifts (a neighbour's build, thermal throttling)
//! drifts under every transport alike instead of spoiling one of them. Each figure reported
//! is the median over the repetitions, with the spread (smallest and largest) of the median
//! latency and of the throughput next to it.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::ProgressBar;
use serde::Serialize;
use thiserror::Error;

use crate::ack::{self, AckResult, Acking};
use crate::child::ChildServer;
use crate::config::{ConfigError, EchoSpec, LoadMode, Workload};
use crate::delivery::{
    self, BatchingResult, DeliveryResult, DeliverySpec, Receiving, Served, Shape,
};
use crate::labs::{LabChild, LabServer, RunningLab};
use crate::load::{self, Figures, LoadError, Target};
use crate::peers::{NodePeer, PeerKind};
use crate::server::{self, RunningServer, ServerOptions};
use crate::stats::{self, Latency};
use crate::transport::{Encoding, Transport};
use crate::workloads::{self, MemoryFigures, PushKind};

/// Everything a run measures.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// Transports of the echo workload, raw TCP included for the ratios.
    pub transports: Vec<Transport>,
    /// Encodings, each applied to every transport.
    pub encodings: Vec<Encoding>,
    /// Payload sizes in bytes.
    pub sizes: Vec<usize>,
    /// Load modes (closed loops at some concurrencies, open loops at some rates).
    pub modes: Vec<LoadMode>,
    /// Warm-up before each measurement, discarded.
    #[serde(with = "crate::config::duration_secs")]
    pub warmup: Duration,
    /// Length of each measurement.
    #[serde(with = "crate::config::duration_secs")]
    pub duration: Duration,
    /// Repetitions of each measurement.
    pub repetitions: usize,
    /// Connection setup: this many new connections per transport (`None`: skipped).
    pub setup_count: Option<usize>,
    /// Idle memory: this many connections per transport (`None`: skipped).
    pub idle_connections: Option<usize>,
    /// Server push: this many updates of this many bytes per push transport.
    pub push: Option<(u64, u32)>,
    /// `TCP_NODELAY` everywhere (turn off only to show Nagle's stall).
    pub nodelay: bool,
    /// Whether the echo workload runs (the others run when their settings are there).
    pub echo: bool,
    /// Request and acknowledgement, gateway lab vs Socket.IO (`None`: skipped).
    pub ack: Option<AckSettings>,
    /// A room of N members, rooms lab vs Socket.IO (`None`: skipped).
    pub rooms: Option<GroupSettings>,
    /// One publish to N subscribers, broadcast lab vs floor vs Socket.IO (`None`: skipped).
    pub fanout: Option<GroupSettings>,
    /// The fan-out workload's batching comparison (`None`: skipped).
    pub batching: Option<BatchSettings>,
}

/// The ack workload's settings.
#[derive(Debug, Clone, Serialize)]
pub struct AckSettings {
    /// Payload sizes, characters (at most [`crate::ack::MAX_ACK_PAYLOAD`]).
    pub sizes: Vec<usize>,
    /// Requests timed per server and size, after a tenth as many for warm-up.
    pub count: u64,
}

/// The rooms or fan-out workload's settings.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSettings {
    /// Receivers (members, subscribers), one measurement each.
    pub receivers: Vec<usize>,
    /// Messages per second in the latency run.
    pub rate: u32,
    /// Length of the latency run.
    #[serde(with = "crate::config::duration_secs")]
    pub duration: Duration,
    /// Messages sent back to back in the throughput run.
    pub burst: u64,
}

/// The batching comparison's settings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BatchSettings {
    /// Subscribers.
    pub receivers: usize,
    /// Updates produced per second.
    pub update_rate: u32,
    /// Length of each of the two runs.
    #[serde(with = "crate::config::duration_secs")]
    pub duration: Duration,
    /// The coalescing window, milliseconds.
    pub window_ms: u64,
}

impl GroupSettings {
    fn validate(&self, what: &'static str) -> Result<(), ConfigError> {
        if self.receivers.is_empty() {
            return Err(ConfigError::Empty(what));
        }
        if self.receivers.contains(&0) {
            return Err(ConfigError::Zero(what));
        }
        if self.rate == 0 {
            return Err(ConfigError::Zero("messages per second"));
        }
        if self.duration.is_zero() {
            return Err(ConfigError::DurationZero);
        }
        if self.burst == 0 {
            return Err(ConfigError::Zero("burst"));
        }
        if self.burst > crate::labs::BURST_QUEUE as u64 / 2 {
            return Err(ConfigError::BadNumber {
                what: "a burst (at most 512: the servers' queues hold a whole burst)",
                given: self.burst.to_string(),
            });
        }
        Ok(())
    }

    /// The measurements of these settings for `shape`.
    pub fn specs(&self, shape: Shape) -> Vec<DeliverySpec> {
        self.receivers
            .iter()
            .map(|&receivers| DeliverySpec {
                shape,
                receivers,
                rate: self.rate,
                duration: self.duration,
                burst: self.burst,
            })
            .collect()
    }
}

impl RunConfig {
    /// Checks every value before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.transports.is_empty() {
            return Err(ConfigError::Empty("transports"));
        }
        if self.encodings.is_empty() {
            return Err(ConfigError::Empty("encodings"));
        }
        if self.sizes.is_empty() {
            return Err(ConfigError::Empty("payload sizes"));
        }
        if self.modes.is_empty() {
            return Err(ConfigError::Empty("load modes"));
        }
        if self.repetitions == 0 {
            return Err(ConfigError::Zero("repetitions"));
        }
        for spec in self.echo_specs() {
            spec.validate()?;
        }
        if self.setup_count == Some(0) {
            return Err(ConfigError::Zero("connection-setup count"));
        }
        if self.idle_connections == Some(0) {
            return Err(ConfigError::Zero("idle connections"));
        }
        if let Some((count, size)) = self.push {
            if count == 0 {
                return Err(ConfigError::Zero("push count"));
            }
            crate::config::check_size(size as usize)?;
        }
        if let Some(ack) = &self.ack {
            if ack.sizes.is_empty() {
                return Err(ConfigError::Empty("ack payload sizes"));
            }
            for &size in &ack.sizes {
                crate::config::check_size(size)?;
                if size > crate::ack::MAX_ACK_PAYLOAD {
                    return Err(ConfigError::AckPayloadTooLarge {
                        size,
                        max: crate::ack::MAX_ACK_PAYLOAD,
                    });
                }
            }
            if ack.count == 0 {
                return Err(ConfigError::Zero("ack requests"));
            }
        }
        if let Some(rooms) = &self.rooms {
            rooms.validate("room members")?;
        }
        if let Some(fanout) = &self.fanout {
            fanout.validate("subscribers")?;
        }
        if let Some(batching) = &self.batching {
            if batching.receivers == 0 {
                return Err(ConfigError::Zero("batching subscribers"));
            }
            if batching.update_rate == 0 {
                return Err(ConfigError::Zero("batching updates per second"));
            }
            if batching.window_ms == 0 {
                return Err(ConfigError::Zero("batching window"));
            }
        }
        Ok(())
    }

    /// The workloads this configuration runs, in order.
    pub fn workloads(&self) -> Vec<Workload> {
        Workload::ALL
            .into_iter()
            .filter(|w| match w {
                Workload::Echo => self.echo,
                Workload::Setup => self.setup_count.is_some(),
                Workload::Memory => self.idle_connections.is_some(),
                Workload::Push => self.push.is_some(),
                Workload::Ack => self.ack.is_some(),
                Workload::Rooms => self.rooms.is_some(),
                Workload::Fanout => self.fanout.is_some() || self.batching.is_some(),
            })
            .collect()
    }

    /// Every echo measurement of one repetition, in the order they run.
    pub fn echo_specs(&self) -> Vec<EchoSpec> {
        let mut specs = Vec::new();
        for &mode in &self.modes {
            for &encoding in &self.encodings {
                for &size in &self.sizes {
                    for &transport in &self.transports {
                        specs.push(EchoSpec {
                            transport,
                            encoding,
                            size,
                            mode,
                            warmup: self.warmup,
                            duration: self.duration,
                        });
                    }
                }
            }
        }
        specs
    }

    /// Steps of the progress bar.
    pub fn steps(&self) -> u64 {
        let echo = self.echo_specs().len() * self.repetitions;
        let setup = self.setup_count.map_or(0, |_| self.transports.len());
        let memory = self.idle_connections.map_or(0, |_| self.transports.len());
        let push = self.push.map_or(0, |_| PushKind::ALL.len());
        let ack = self
            .ack
            .as_ref()
            .map_or(0, |a| a.sizes.len() * Acking::ALL.len());
        let rooms = self.rooms.as_ref().map_or(0, |r| {
            r.receivers.len() * Receiving::all(Shape::Rooms).len()
        });
        let fanout = self.fanout.as_ref().map_or(0, |f| {
            f.receivers.len() * Receiving::all(Shape::Fanout).len()
        });
        let batching = self.batching.map_or(0, |_| 2);
        let echo = if self.echo { echo } else { 0 };
        (echo + setup + memory + push + ack + rooms + fanout + batching) as u64
    }
}

/// Why a run could not be made.
#[derive(Debug, Error)]
pub enum RunError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not be started.
    #[error("starting the server: {0:#}")]
    Server(anyhow::Error),
    /// A measurement could not be made.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Where the server runs.
#[derive(Debug, Clone)]
pub enum ServerLauncher {
    /// `exe serve` in a child process, pinned to `core`: the way real numbers are made.
    Child {
        /// The harness's own executable.
        exe: PathBuf,
        /// The core to pin the server to.
        core: Option<usize>,
        /// Runtime worker threads of the server.
        threads: usize,
    },
    /// In this process, on this runtime: for tests (no CPU or memory figures).
    InProcess,
}

/// A server started by a [`ServerLauncher`]; stopped when dropped.
#[derive(Debug)]
pub enum LaunchedServer {
    /// A child process.
    Child(ChildServer),
    /// Tasks of this process.
    InProcess(RunningServer),
}

impl ServerLauncher {
    /// Starts a server with `options`.
    pub async fn launch(&self, options: ServerOptions) -> Result<LaunchedServer, RunError> {
        match self {
            ServerLauncher::Child { exe, core, threads } => {
                ChildServer::spawn(exe, options, *core, *threads)
                    .await
                    .map(LaunchedServer::Child)
                    .map_err(RunError::Server)
            }
            ServerLauncher::InProcess => server::start(options)
                .await
                .map(LaunchedServer::InProcess)
                .map_err(|err| RunError::Server(err.into())),
        }
    }
}

impl ServerLauncher {
    /// The core servers are pinned to, if any.
    fn core(&self) -> Option<usize> {
        match self {
            ServerLauncher::Child { core, .. } => *core,
            ServerLauncher::InProcess => None,
        }
    }

    /// Starts one of the course's lab servers for `capacity` clients.
    pub async fn launch_lab(&self, server: LabServer, capacity: usize) -> Result<Served, RunError> {
        match self {
            ServerLauncher::Child { exe, core, threads } => {
                let child = LabChild::spawn(exe, server, capacity, *core, *threads)
                    .await
                    .map_err(RunError::Server)?;
                Ok(Served {
                    addr: child.addr,
                    pid: Some(child.pid),
                    guard: Box::new(child),
                })
            }
            ServerLauncher::InProcess => {
                let lab = RunningLab::start(server, capacity)
                    .await
                    .map_err(RunError::Server)?;
                Ok(Served {
                    addr: lab.addr,
                    pid: None,
                    guard: Box::new(lab),
                })
            }
        }
    }

    /// Starts a Node peer, pinned like the other servers; `Ok(Err(why))` when Node or the
    /// peers' packages are not installed, so the run can skip those rows and say why.
    pub async fn launch_peer(&self, kind: PeerKind) -> Result<Result<Served, String>, RunError> {
        match NodePeer::spawn(kind, self.core()).await {
            Ok(peer) => Ok(Ok(Served {
                addr: peer.addr,
                pid: Some(peer.pid),
                guard: Box::new(peer),
            })),
            Err(err @ crate::peers::PeerError::Missing { .. }) => Ok(Err(err.to_string())),
            Err(err) => Err(RunError::Server(err.into())),
        }
    }
}

impl LaunchedServer {
    /// The client's view of this server.
    pub fn target(&self, nodelay: bool) -> Target {
        match self {
            LaunchedServer::Child(child) => Target {
                addrs: child.addrs,
                nodelay,
                server_pid: Some(child.pid),
                node_pid: None,
            },
            LaunchedServer::InProcess(server) => Target {
                addrs: server.addrs,
                nodelay,
                server_pid: None,
                node_pid: None,
            },
        }
    }
}

/// Figures as a ratio to raw TCP's in the same run, same size, encoding and mode.
///
/// Each ratio is `None` where there is nothing honest to divide: raw TCP measured nothing
/// for that figure (every request failed, or the figure was not collected), or this
/// transport did not. A zero in its place would read as "infinitely faster than TCP".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ratios {
    /// p50 latency / raw TCP's.
    pub p50: Option<f64>,
    /// p90 latency / raw TCP's.
    pub p90: Option<f64>,
    /// p99 latency / raw TCP's.
    pub p99: Option<f64>,
    /// p99.9 latency / raw TCP's.
    pub p999: Option<f64>,
    /// Maximum latency / raw TCP's.
    pub max: Option<f64>,
    /// Throughput / raw TCP's (below 1 is slower).
    pub throughput: Option<f64>,
    /// Bytes on the wire per request and reply / raw TCP's.
    pub bytes_per_msg: Option<f64>,
    /// Server CPU per request / raw TCP's.
    pub server_cpu: Option<f64>,
}

/// One echo measurement over its repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct EchoCell {
    /// What was measured.
    pub spec: EchoSpec,
    /// Each repetition's figures, in order.
    pub repetitions: Vec<Figures>,
    /// The median of each figure over the repetitions (errors: the sum).
    pub median: Figures,
    /// Smallest and largest p50 over the repetitions, microseconds.
    pub p50_spread_us: (f64, f64),
    /// Smallest and largest throughput over the repetitions.
    pub throughput_spread: (f64, f64),
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// The median figures as ratios to raw TCP's (absent when TCP was not in the run; each
    /// ratio absent where raw TCP or this transport measured nothing).
    pub vs_tcp: Option<Ratios>,
}

/// Connection setup of one transport.
#[derive(Debug, Clone, Serialize)]
pub struct SetupResult {
    /// The transport.
    pub transport: Transport,
    /// Latency of connect + handshake + first echo.
    pub figures: Figures,
    /// The p50 as a ratio to raw TCP's (absent without a raw-TCP p50 in the run).
    pub p50_vs_tcp: Option<f64>,
    /// The first error seen.
    pub first_error: Option<String>,
}

/// Idle memory of one transport.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    /// The transport.
    pub transport: Transport,
    /// The figures (absent if the server's memory could not be read).
    pub figures: Option<MemoryFigures>,
    /// Why there are no figures.
    pub error: Option<String>,
}

/// Server push over one transport.
#[derive(Debug, Clone, Serialize)]
pub struct PushResult {
    /// How updates are pushed.
    pub kind: PushKind,
    /// Updates asked for.
    pub count: u64,
    /// Payload bytes per update.
    pub size: u32,
    /// Creation-to-arrival latency and updates per second.
    pub figures: Figures,
    /// The first error seen.
    pub first_error: Option<String>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResults {
    /// Echo measurements.
    pub echo: Vec<EchoCell>,
    /// Connection setup.
    pub setup: Vec<SetupResult>,
    /// Idle memory.
    pub memory: Vec<MemoryResult>,
    /// Server push.
    pub push: Vec<PushResult>,
    /// Request and acknowledgement.
    pub ack: Vec<AckResult>,
    /// A room of N members.
    pub rooms: Vec<DeliveryResult>,
    /// One publish to N subscribers.
    pub fanout: Vec<DeliveryResult>,
    /// Fan-out with and without batching.
    pub batching: Vec<BatchingResult>,
    /// Rows that could not be measured on this machine, and why (a peer not installed).
    pub skipped: Vec<String>,
}

/// Runs every workload of `config`, reporting progress on `progress`.
pub async fn run(
    config: &RunConfig,
    launcher: &ServerLauncher,
    progress: &ProgressBar,
) -> Result<RunResults, RunError> {
    config.validate()?;
    progress.set_length(config.steps());
    let options = ServerOptions {
        nodelay: config.nodelay,
        stall: None,
    };
    let server = launcher.launch(options).await?;
    let mut target = server.target(config.nodelay);
    let mut skipped = Vec::new();
    // Node's `ws` runs beside our servers, pinned to the same core, when the run has it.
    let mut transports = config.transports.clone();
    let node = if transports.contains(&Transport::NodeWs) {
        match launcher.launch_peer(PeerKind::NodeWs).await? {
            Ok(peer) => {
                target.addrs.node_ws = Some(peer.addr);
                target.node_pid = peer.pid;
                Some(peer)
            }
            Err(why) => {
                skipped.push(format!("Node ws rows: {why}"));
                transports.retain(|&t| t != Transport::NodeWs);
                None
            }
        }
    } else {
        None
    };

    let specs: Vec<EchoSpec> = if config.echo {
        config
            .echo_specs()
            .into_iter()
            .filter(|s| transports.contains(&s.transport))
            .collect()
    } else {
        Vec::new()
    };
    let mut reps: Vec<Vec<Figures>> = vec![Vec::new(); specs.len()];
    let mut errors: Vec<Option<String>> = vec![None; specs.len()];
    for rep in 0..config.repetitions {
        for (i, spec) in specs.iter().enumerate() {
            progress.set_message(format!(
                "echo {} {} B {} {} (rep {}/{})",
                spec.transport,
                spec.size,
                spec.encoding,
                spec.mode.label(),
                rep + 1,
                config.repetitions
            ));
            let m = load::measure_echo(spec, &target).await?;
            if errors[i].is_none() {
                errors[i] = m.first_error.clone();
            }
            reps[i].push(m.figures());
            progress.inc(1);
        }
    }
    let mut echo: Vec<EchoCell> = specs
        .iter()
        .zip(reps)
        .zip(errors)
        .map(|((spec, reps), first_error)| summarize(*spec, reps, first_error))
        .collect();
    add_ratios(&mut echo);

    let mut setup = Vec::new();
    if let Some(count) = config.setup_count {
        for &transport in &transports {
            progress.set_message(format!("connection setup {transport} ×{count}"));
            let t = workloads::measure_setup(transport, Encoding::Proto, &target, count, 16).await;
            setup.push(SetupResult {
                transport,
                figures: t.figures(),
                p50_vs_tcp: None,
                first_error: t.first_error,
            });
            progress.inc(1);
        }
        add_setup_ratios(&mut setup);
    }

    let mut push = Vec::new();
    if let Some((count, size)) = config.push {
        for kind in PushKind::ALL {
            progress.set_message(format!("push {} ×{count}", kind.label()));
            let t = workloads::measure_push(kind, &target, count, size).await;
            push.push(PushResult {
                kind,
                count,
                size,
                figures: t.figures(),
                first_error: t.first_error,
            });
            progress.inc(1);
        }
    }
    drop(server);

    let mut memory = Vec::new();
    if let Some(n) = config.idle_connections {
        for &transport in &transports {
            progress.set_message(format!("idle memory {transport} ×{n}"));
            // A fresh server each time: memory freed by one transport is not reused by the
            // next one's connections.
            let fresh = launcher.launch(options).await?;
            let mut fresh_target = fresh.target(config.nodelay);
            let fresh_node = if transport == Transport::NodeWs {
                match launcher.launch_peer(PeerKind::NodeWs).await? {
                    Ok(peer) => {
                        fresh_target.addrs.node_ws = Some(peer.addr);
                        fresh_target.node_pid = peer.pid;
                        Some(peer)
                    }
                    Err(why) => {
                        skipped.push(format!("Node ws rows: {why}"));
                        None
                    }
                }
            } else {
                None
            };
            let result = workloads::measure_idle_memory(transport, &fresh_target, n).await;
            drop(fresh_node);
            memory.push(match result {
                Ok(figures) => MemoryResult {
                    transport,
                    figures: Some(figures),
                    error: None,
                },
                Err(err) => MemoryResult {
                    transport,
                    figures: None,
                    error: Some(err.to_string()),
                },
            });
            drop(fresh);
            progress.inc(1);
        }
    }

    drop(node);
    let mut results = RunResults {
        echo,
        setup,
        memory,
        push,
        skipped,
        ..RunResults::default()
    };
    if let Some(settings) = &config.ack {
        run_ack(settings, launcher, progress, &mut results).await?;
    }
    for (shape, settings) in [
        (Shape::Rooms, &config.rooms),
        (Shape::Fanout, &config.fanout),
    ] {
        if let Some(settings) = settings {
            run_group(shape, settings, launcher, progress, &mut results).await?;
        }
    }
    if let Some(settings) = config.batching {
        run_batching(settings, launcher, progress, &mut results).await?;
    }
    results.skipped.sort();
    results.skipped.dedup();
    Ok(results)
}

/// The ack workload: each server, each size.
async fn run_ack(
    settings: &AckSettings,
    launcher: &ServerLauncher,
    progress: &ProgressBar,
    results: &mut RunResults,
) -> Result<(), RunError> {
    for server in Acking::ALL {
        let served = match server {
            Acking::Gateway => launcher.launch_lab(LabServer::Gateway, 16).await?,
            Acking::SocketIo => match launcher.launch_peer(PeerKind::SocketIo).await? {
                Ok(served) => served,
                Err(why) => {
                    results.skipped.push(format!("Socket.IO rows: {why}"));
                    progress.inc(settings.sizes.len() as u64);
                    continue;
                }
            },
        };
        for &size in &settings.sizes {
            progress.set_message(format!(
                "ack {} {size} B ×{}",
                server.label(),
                settings.count
            ));
            let warmup = (settings.count / 10).max(1);
            let m = ack::measure(
                server,
                served.addr,
                served.pid,
                size,
                warmup,
                settings.count,
            )
            .await
            .map_err(RunError::Server)?;
            results.ack.push(AckResult {
                server,
                size,
                figures: m.figures(),
                first_error: m.first_error,
            });
            progress.inc(1);
        }
    }
    Ok(())
}

/// The rooms or fan-out workload: each audience size, each server, a fresh server each time.
async fn run_group(
    shape: Shape,
    settings: &GroupSettings,
    launcher: &ServerLauncher,
    progress: &ProgressBar,
    results: &mut RunResults,
) -> Result<(), RunError> {
    for spec in settings.specs(shape) {
        for server in Receiving::all(shape) {
            progress.set_message(format!(
                "{} {} ×{}",
                shape.name(),
                server.label(),
                spec.receivers
            ));
            let start = || start_receiving(launcher, server, spec.receivers);
            let served = match start().await? {
                Ok(served) => served,
                Err(why) => {
                    results.skipped.push(format!("Socket.IO rows: {why}"));
                    progress.inc(1);
                    continue;
                }
            };
            let restart = || async {
                start()
                    .await
                    .map_err(anyhow::Error::from)?
                    .map_err(anyhow::Error::msg)
            };
            let result = delivery::measure(&spec, server, served, restart)
                .await
                .map_err(|err| {
                    RunError::Server(err.context(format!("{} {}", shape.name(), server.label())))
                })?;
            match shape {
                Shape::Rooms => results.rooms.push(result),
                Shape::Fanout => results.fanout.push(result),
            }
            progress.inc(1);
        }
    }
    Ok(())
}

/// Starts the server of a rooms or fan-out row; `Ok(Err(why))` for a peer not installed.
async fn start_receiving(
    launcher: &ServerLauncher,
    server: Receiving,
    receivers: usize,
) -> Result<Result<Served, String>, RunError> {
    match server {
        Receiving::Lab(lab) => launcher.launch_lab(lab, receivers + 2).await.map(Ok),
        Receiving::SocketIo => launcher.launch_peer(PeerKind::SocketIo).await,
    }
}

/// The batching comparison on the broadcast lab's scaling way: unbatched, then batched.
async fn run_batching(
    settings: BatchSettings,
    launcher: &ServerLauncher,
    progress: &ProgressBar,
    results: &mut RunResults,
) -> Result<(), RunError> {
    for window_ms in [0, settings.window_ms] {
        progress.set_message(format!(
            "batching {} subscribers, window {window_ms} ms",
            settings.receivers
        ));
        let served = launcher
            .launch_lab(LabServer::BroadcastScaling, settings.receivers + 2)
            .await?;
        let result = delivery::coalesce(
            served.addr,
            settings.receivers,
            settings.update_rate,
            settings.duration,
            window_ms,
        )
        .await
        .map_err(RunError::Server)?;
        results.batching.push(result);
        drop(served);
        progress.inc(1);
    }
    Ok(())
}

/// Medians and spreads of one cell's repetitions.
fn summarize(spec: EchoSpec, reps: Vec<Figures>, first_error: Option<String>) -> EchoCell {
    let med = |f: fn(&Figures) -> f64| stats::median(reps.iter().map(f)).unwrap_or(0.0);
    let med_opt = |f: fn(&Figures) -> Option<f64>| stats::median(reps.iter().filter_map(f));
    let median = Figures {
        latency: Latency {
            p50_us: med(|r| r.latency.p50_us),
            p90_us: med(|r| r.latency.p90_us),
            p99_us: med(|r| r.latency.p99_us),
            p999_us: med(|r| r.latency.p999_us),
            max_us: med(|r| r.latency.max_us),
            mean_us: med(|r| r.latency.mean_us),
        },
        ok: reps.iter().map(|r| r.ok).sum(),
        errors: reps.iter().map(|r| r.errors).sum(),
        throughput: med(|r| r.throughput),
        bytes_out_per_msg: med(|r| r.bytes_out_per_msg),
        bytes_in_per_msg: med(|r| r.bytes_in_per_msg),
        server_cpu_us_per_msg: med_opt(|r| r.server_cpu_us_per_msg),
        client_cpu_us_per_msg: med_opt(|r| r.client_cpu_us_per_msg),
    };
    EchoCell {
        spec,
        p50_spread_us: stats::min_max(reps.iter().map(|r| r.latency.p50_us)).unwrap_or_default(),
        throughput_spread: stats::min_max(reps.iter().map(|r| r.throughput)).unwrap_or_default(),
        repetitions: reps,
        median,
        first_error,
        vs_tcp: None,
    }
}

/// `value / floor`, or `None` when either is not a measured figure. Both come from
/// measurements that report 0 for "nothing measured" (an empty histogram, no reply), so a 0
/// on either side means there is no ratio, not a ratio of 0 or of infinity.
fn ratio(value: f64, floor: f64) -> Option<f64> {
    let measured = |x: f64| x.is_finite() && x > 0.0;
    (measured(value) && measured(floor)).then(|| value / floor)
}

/// Fills `p50_vs_tcp` of every setup result from raw TCP's.
pub fn add_setup_ratios(setup: &mut [SetupResult]) {
    let tcp_p50 = setup
        .iter()
        .find(|s| s.transport == Transport::Tcp)
        .map(|s| s.figures.latency.p50_us);
    for s in setup {
        s.p50_vs_tcp = tcp_p50.and_then(|tcp| ratio(s.figures.latency.p50_us, tcp));
    }
}

/// Fills `vs_tcp` of every cell from the raw-TCP cell of the same size, encoding and mode.
pub fn add_ratios(cells: &mut [EchoCell]) {
    let floors: Vec<(EchoSpec, Figures)> = cells
        .iter()
        .filter(|c| c.spec.transport == Transport::Tcp)
        .map(|c| (c.spec, c.median))
        .collect();
    for cell in cells.iter_mut() {
        let Some((_, tcp)) = floors.iter().find(|(s, _)| {
            s.size == cell.spec.size && s.encoding == cell.spec.encoding && s.mode == cell.spec.mode
        }) else {
            continue;
        };
        let m = &cell.median;
        cell.vs_tcp = Some(Ratios {
            p50: ratio(m.latency.p50_us, tcp.latency.p50_us),
            p90: ratio(m.latency.p90_us, tcp.latency.p90_us),
            p99: ratio(m.latency.p99_us, tcp.latency.p99_us),
            p999: ratio(m.latency.p999_us, tcp.latency.p999_us),
            max: ratio(m.latency.max_us, tcp.latency.max_us),
            throughput: ratio(m.throughput, tcp.throughput),
            bytes_per_msg: ratio(
                m.bytes_out_per_msg + m.bytes_in_per_msg,
                tcp.bytes_out_per_msg + tcp.bytes_in_per_msg,
            ),
            server_cpu: m
                .server_cpu_us_per_msg
                .zip(tcp.server_cpu_us_per_msg)
                .and_then(|(x, t)| ratio(x, t)),
        });
    }
}
