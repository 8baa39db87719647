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

use crate::child::ChildServer;
use crate::config::{ConfigError, EchoSpec, LoadMode};
use crate::load::{self, EchoFigures, LoadError, Target};
use crate::server::{self, RunningServer, ServerOptions};
use crate::stats::{self, Latency};
use crate::transport::{Encoding, Transport};
use crate::workloads::{self, MemoryFigures, PushKind, TimingFigures};

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
        Ok(())
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
        (echo + setup + memory + push) as u64
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

impl LaunchedServer {
    /// The client's view of this server.
    pub fn target(&self, nodelay: bool) -> Target {
        match self {
            LaunchedServer::Child(child) => Target {
                addrs: child.addrs,
                nodelay,
                server_pid: Some(child.pid),
            },
            LaunchedServer::InProcess(server) => Target {
                addrs: server.addrs,
                nodelay,
                server_pid: None,
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
    pub repetitions: Vec<EchoFigures>,
    /// The median of each figure over the repetitions (errors: the sum).
    pub median: EchoFigures,
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
    pub figures: TimingFigures,
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
    pub figures: TimingFigures,
    /// The first error seen.
    pub first_error: Option<String>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResults {
    /// Echo measurements.
    pub echo: Vec<EchoCell>,
    /// Connection setup.
    pub setup: Vec<SetupResult>,
    /// Idle memory.
    pub memory: Vec<MemoryResult>,
    /// Server push.
    pub push: Vec<PushResult>,
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
    let target = server.target(config.nodelay);

    let specs = config.echo_specs();
    let mut reps: Vec<Vec<EchoFigures>> = vec![Vec::new(); specs.len()];
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
        for &transport in &config.transports {
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
        for &transport in &config.transports {
            progress.set_message(format!("idle memory {transport} ×{n}"));
            // A fresh server each time: memory freed by one transport is not reused by the
            // next one's connections.
            let fresh = launcher.launch(options).await?;
            let result =
                workloads::measure_idle_memory(transport, &fresh.target(config.nodelay), n).await;
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

    Ok(RunResults {
        echo,
        setup,
        memory,
        push,
    })
}

/// Medians and spreads of one cell's repetitions.
fn summarize(spec: EchoSpec, reps: Vec<EchoFigures>, first_error: Option<String>) -> EchoCell {
    let med = |f: fn(&EchoFigures) -> f64| stats::median(reps.iter().map(f)).unwrap_or(0.0);
    let med_opt = |f: fn(&EchoFigures) -> Option<f64>| stats::median(reps.iter().filter_map(f));
    let median = EchoFigures {
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
    let floors: Vec<(EchoSpec, EchoFigures)> = cells
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
