//! `bench`: the comparison harness's command line. Chapter 11 of the book explains its
//! results; this file only reads flags, places the processes and prints.
//!
//! ```text
//! cargo run --release -p bench -- run --preset quick     # about a minute
//! cargo run --release -p bench -- run --preset full      # about 45 minutes
//! cargo run --release -p bench -- run --transports tcp,ws --sizes 4k --rate 2000
//! cargo run --release -p bench -- run --help
//! ```
//!
//! `run` starts the servers as a child process (`bench serve`, the same executable), pins
//! it and itself to different cores when there are two, measures, prints a table and writes
//! the files (JSON, CSV, Markdown, SVG charts, machine description, command line) into
//! `results/<UTC timestamp>/` unless `--out` says otherwise.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bench::config::{self, ConfigError, LoadMode, Workload};
use bench::labs::LabServer;
use bench::machine::MachineInfo;
use bench::report::{self, RunReport};
use bench::run::{self, RunConfig, ServerLauncher};
use bench::run::{AckSettings, BatchSettings, GroupSettings};
use bench::server::{self, ServerOptions, StallPlan};
use bench::transport::{Encoding, Transport};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

/// WebSocket vs REST vs gRPC on the same machine and the same workload, with raw TCP as the
/// floor.
#[derive(Debug, Parser)]
#[command(name = "bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure: start the servers in a child process, run the workloads, print a table and
    /// write the result files.
    Run(Box<RunArgs>),
    /// Only serve every transport on 127.0.0.1 (random ports) and print their addresses as
    /// one JSON line; `run` starts this as its child process. Exits when stdin closes.
    Serve(ServeArgs),
    /// Only serve one of the course's labs (or the fan-out floor) on 127.0.0.1 and print its
    /// address as one JSON line; `run` starts this for the ack, rooms and fan-out workloads.
    /// Exits when stdin closes.
    ServeLab(ServeLabArgs),
}

/// The prepared runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Preset {
    /// About a minute: every transport and payload size, one connection, protobuf, 3
    /// repetitions of 0.45 s; plus connection setup, server push and idle memory.
    Quick,
    /// About three minutes: our servers against the stacks learners would use instead:
    /// WebSocket echo against Node's `ws` at 16 B and 4 KiB; the gateway's ack against
    /// Socket.IO's; a room of 1000 members and a fan-out to 1000 subscribers against
    /// Socket.IO; with raw TCP and the fan-out floor in the same run.
    Peers,
    /// About 50 minutes: both encodings, closed loops at 1 and 16 connections, an open
    /// loop at 1000 requests/s, 5 repetitions of 2 s; and every other workload, the fan-out
    /// at 1000 and 10 000 subscribers.
    Full,
}

// The lists below are spelled `::std::vec::Vec` on purpose: with a plain `Vec`, clap's derive
// would parse each comma-separated item on its own instead of handing our parser the list.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  bench run --preset quick
  bench run --preset peers                               # against Node ws and Socket.IO
  bench run --workload rooms --members 1000              # chapter 7's room
  bench run --workload fanout --subscribers 1000,10000   # chapter 9's fan-out
  bench run --transports tcp,ws,grpc-stream --sizes 64,4k --concurrency 1,8
  bench run --transports tcp,http2 --sizes 4k --rate 2000 --connections 16
  bench run --nagle --transports tcp,http2,grpc-unary --sizes 4k   # show the Nagle stall

Transports: tcp (raw TCP, the floor), ws, node-ws (Node's ws), http1, http2, grpc-unary,
grpc-stream, or all.
Workloads: echo, setup, memory, push, ack, rooms, fanout, or all.
Sizes take k and m suffixes (binary): 16, 256, 4k, 64k, 1m; at most 4m.
Node's ws and Socket.IO come from benches/peers (run benches/peers/install.sh once); where
they are missing, their rows are skipped with the reason.")]
struct RunArgs {
    /// The starting point; every other flag overrides part of it.
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    preset: Preset,
    /// Workloads to run, comma-separated (default: the preset's).
    #[arg(long, value_name = "LIST", value_parser = config::parse_workloads)]
    workload: Option<::std::vec::Vec<config::Workload>>,
    /// Transports to compare, comma-separated (raw TCP is needed for the ratios).
    #[arg(long, value_name = "LIST", value_parser = config::parse_transports)]
    transports: Option<::std::vec::Vec<Transport>>,
    /// Payload sizes, comma-separated.
    #[arg(long, value_name = "LIST", value_parser = parse_sizes)]
    sizes: Option<::std::vec::Vec<usize>>,
    /// Encodings, comma-separated: proto, json (applied to every transport, gRPC included).
    #[arg(long, value_name = "LIST", value_parser = parse_encodings)]
    encodings: Option<::std::vec::Vec<Encoding>>,
    /// Closed-loop concurrencies (connections), comma-separated.
    #[arg(long, value_name = "LIST", value_parser = parse_concurrency)]
    concurrency: Option<::std::vec::Vec<usize>>,
    /// Add an open-loop run at this arrival rate (requests per second).
    #[arg(long, value_name = "PER_SECOND", value_parser = config::parse_rate)]
    rate: Option<f64>,
    /// Connections carrying the open-loop requests.
    #[arg(long, value_name = "N", value_parser = parse_connections)]
    connections: Option<usize>,
    /// Only the open loop (needs --rate): no closed-loop runs.
    #[arg(long, requires = "rate")]
    open_only: bool,
    /// Length of each measurement (e.g. 500ms, 2s).
    #[arg(long, value_parser = config::parse_duration)]
    duration: Option<Duration>,
    /// Warm-up before each measurement, discarded.
    #[arg(long, value_parser = config::parse_duration)]
    warmup: Option<Duration>,
    /// Repetitions of each measurement (the table shows medians and the spread).
    #[arg(long, value_name = "N", value_parser = parse_reps)]
    reps: Option<usize>,
    /// Connection-setup workload: new connections per transport.
    #[arg(long, value_name = "N", value_parser = parse_setup)]
    setup: Option<usize>,
    /// Idle-memory workload: connections per transport.
    #[arg(long, value_name = "N", value_parser = parse_idle)]
    idle: Option<usize>,
    /// Server-push workload: updates per push transport.
    #[arg(long, value_name = "N", value_parser = parse_push)]
    push: Option<usize>,
    /// Payload size of pushed updates.
    #[arg(long, value_name = "SIZE", value_parser = config::parse_size, default_value = "256")]
    push_size: usize,
    /// Only the echo workload (the same as `--workload echo`).
    #[arg(long, conflicts_with = "workload")]
    echo_only: bool,
    /// Ack workload: payload sizes in characters, comma-separated (at most 280).
    #[arg(long, value_name = "LIST", value_parser = parse_sizes)]
    ack_sizes: Option<::std::vec::Vec<usize>>,
    /// Ack workload: requests timed per server and size.
    #[arg(long, value_name = "N", value_parser = parse_acks)]
    acks: Option<usize>,
    /// Rooms workload: members of the room, comma-separated (one measurement each).
    #[arg(long, value_name = "LIST", value_parser = parse_receivers)]
    members: Option<::std::vec::Vec<usize>>,
    /// Rooms workload: messages per second sent to the room.
    #[arg(long, value_name = "N", value_parser = parse_message_rate)]
    room_rate: Option<u32>,
    /// Fan-out workload: subscribers, comma-separated (one measurement each).
    #[arg(long, value_name = "LIST", value_parser = parse_receivers)]
    subscribers: Option<::std::vec::Vec<usize>>,
    /// Fan-out workload: broadcasts per second.
    #[arg(long, value_name = "N", value_parser = parse_message_rate)]
    broadcast_rate: Option<u32>,
    /// Rooms and fan-out: length of the latency run (e.g. 5s).
    #[arg(long, value_parser = config::parse_duration)]
    group_duration: Option<Duration>,
    /// Rooms and fan-out: messages sent back to back in the throughput run.
    #[arg(long, value_name = "N", value_parser = parse_burst)]
    burst: Option<u64>,
    /// Fan-out: the batching comparison's window in milliseconds (0: skip the comparison).
    #[arg(long, value_name = "MS")]
    batching_window_ms: Option<u64>,
    /// Turn TCP_NODELAY off on every socket, to show Nagle's algorithm meeting delayed
    /// ACKs. Never for real measurements.
    #[arg(long)]
    nagle: bool,
    /// Tokio worker threads of the server and of the client (the same for every transport).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
    /// Do not pin the server and the client to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Where to write the result files (default: results/<UTC timestamp>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the table only; write no files.
    #[arg(long)]
    no_files: bool,
    /// No progress bar (for logs and CI).
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ServeLabArgs {
    /// Which server.
    #[arg(value_enum)]
    server: LabServer,
    /// Clients it must hold (its connection and room limits are set above this).
    #[arg(long, default_value_t = 1000)]
    capacity: usize,
    /// Pin the server to this core.
    #[arg(long)]
    core: Option<usize>,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Pin the server to this core.
    #[arg(long)]
    core: Option<usize>,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1, value_parser = parse_threads)]
    threads: usize,
    /// Turn TCP_NODELAY off on accepted sockets (to show the Nagle stall).
    #[arg(long)]
    nagle: bool,
    /// Pause every echo handler once, this many milliseconds after starting...
    #[arg(long, requires = "stall_ms")]
    stall_after_ms: Option<u64>,
    /// ...for this many milliseconds (to show what each load mode does with a stall).
    #[arg(long, requires = "stall_after_ms")]
    stall_ms: Option<u64>,
}

fn parse_sizes(s: &str) -> Result<Vec<usize>, ConfigError> {
    config::parse_list("payload sizes", s, config::parse_size)
}
fn parse_encodings(s: &str) -> Result<Vec<Encoding>, ConfigError> {
    config::parse_list("encodings", s, str::parse)
}
fn parse_concurrency(s: &str) -> Result<Vec<usize>, ConfigError> {
    config::parse_list("concurrencies", s, |c| {
        config::parse_count("concurrency", c)
    })
}
fn parse_connections(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("connections", s)
}
fn parse_reps(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("repetitions", s)
}
fn parse_setup(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("connection-setup count", s)
}
fn parse_idle(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("idle connections", s)
}
fn parse_push(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("push count", s)
}
fn parse_threads(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("threads", s)
}
fn parse_acks(s: &str) -> Result<usize, ConfigError> {
    config::parse_count("ack requests", s)
}
fn parse_receivers(s: &str) -> Result<Vec<usize>, ConfigError> {
    config::parse_list("receivers", s, |c| config::parse_count("receivers", c))
}
fn parse_message_rate(s: &str) -> Result<u32, ConfigError> {
    let n = config::parse_count("messages per second", s)?;
    u32::try_from(n).map_err(|_| ConfigError::BadNumber {
        what: "messages per second",
        given: s.to_string(),
    })
}
fn parse_burst(s: &str) -> Result<u64, ConfigError> {
    config::parse_count("burst", s).map(|n| n as u64)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Serve(args) => serve_command(args),
        Command::ServeLab(args) => serve_lab_command(args),
    }
}

fn serve_lab_command(args: ServeLabArgs) -> anyhow::Result<()> {
    if let Some(core) = args.core {
        pin_to(core)?;
    }
    // Thousands of clients need thousands of descriptors: the soft limit up to the hard one.
    rlimit::increase_nofile_limit(u64::MAX).context("raising RLIMIT_NOFILE")?;
    runtime(args.threads)?.block_on(bench::labs::serve_child(args.server, args.capacity))
}

/// Pins the calling thread (and so every thread it starts later: tokio's workers inherit
/// the mask) to `core`.
fn pin_to(core: usize) -> anyhow::Result<()> {
    // Built directly rather than looked up: a child inherits its parent's mask, so listing
    // the cores from inside it would only show the parent's core.
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        bail!("cannot pin to core {core}");
    }
    Ok(())
}

/// The runtime every process of the harness uses: multi-threaded with `threads` workers,
/// the same flavour and size for every transport.
fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn serve_command(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(core) = args.core {
        pin_to(core)?;
    }
    let options = ServerOptions {
        nodelay: !args.nagle,
        stall: args
            .stall_after_ms
            .zip(args.stall_ms)
            .map(|(after, pause)| StallPlan {
                after: Duration::from_millis(after),
                pause: Duration::from_millis(pause),
            }),
    };
    runtime(args.threads)?.block_on(async move {
        let server = server::start(options).await.context("cannot bind")?;
        // The one line the parent waits for: the listeners are bound, so we are ready.
        let line = serde_json::to_string(&server.addrs)?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
        drop(stdout);
        let parent_gone = async {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
        };
        tokio::select! {
            () = parent_gone => {}
            () = server.wait() => {}
        }
        Ok(())
    })
}

/// The run a preset describes, before flags override it.
fn preset_config(preset: Preset) -> RunConfig {
    let all_sizes = vec![16, 256, 4096, 64 * 1024, 1024 * 1024];
    match preset {
        Preset::Quick => RunConfig {
            transports: Transport::ALL.to_vec(),
            encodings: vec![Encoding::Proto],
            sizes: all_sizes,
            modes: vec![LoadMode::Closed { concurrency: 1 }],
            warmup: Duration::from_millis(150),
            duration: Duration::from_millis(450),
            repetitions: 3,
            setup_count: Some(200),
            idle_connections: Some(500),
            push: Some((5000, 256)),
            nodelay: true,
            echo: true,
            ack: None,
            rooms: None,
            fanout: None,
            batching: None,
        },
        Preset::Peers => RunConfig {
            transports: vec![Transport::Tcp, Transport::Ws, Transport::NodeWs],
            encodings: vec![Encoding::Proto],
            sizes: vec![16, 4096],
            modes: vec![LoadMode::Closed { concurrency: 1 }],
            warmup: Duration::from_millis(300),
            duration: Duration::from_secs(1),
            repetitions: 5,
            setup_count: None,
            idle_connections: None,
            push: None,
            nodelay: true,
            echo: true,
            ack: Some(ack_settings()),
            rooms: Some(rooms_settings(vec![1000])),
            fanout: Some(fanout_settings(vec![1000])),
            batching: None,
        },
        Preset::Full => RunConfig {
            transports: Transport::ALL.to_vec(),
            encodings: Encoding::ALL.to_vec(),
            sizes: all_sizes,
            modes: vec![
                LoadMode::Closed { concurrency: 1 },
                LoadMode::Closed { concurrency: 16 },
                LoadMode::Open {
                    rate: 1000.0,
                    connections: 16,
                },
            ],
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(2),
            repetitions: 5,
            setup_count: Some(1000),
            idle_connections: Some(2000),
            push: Some((50_000, 256)),
            nodelay: true,
            echo: true,
            ack: Some(ack_settings()),
            rooms: Some(rooms_settings(vec![1000])),
            fanout: Some(fanout_settings(vec![1000, 10_000])),
            batching: Some(BatchSettings {
                receivers: 1000,
                update_rate: 100,
                duration: Duration::from_secs(5),
                window_ms: 100,
            }),
        },
    }
}

/// A workload's settings when `wanted`: the preset's own, or else `fallback` (the full
/// preset's); none when not wanted.
fn pick<T>(wanted: bool, ours: Option<T>, fallback: Option<T>) -> Option<T> {
    if wanted { ours.or(fallback) } else { None }
}

/// The ack workload of the presets: 16 B and 256 B (the gateway's echo takes 280 at most).
fn ack_settings() -> AckSettings {
    AckSettings {
        sizes: vec![16, 256],
        count: 2000,
    }
}

/// The rooms workload of the presets: 100 messages per second for 10 s (chapter 7's run),
/// and a burst of 50.
fn rooms_settings(receivers: Vec<usize>) -> GroupSettings {
    GroupSettings {
        receivers,
        rate: 100,
        duration: Duration::from_secs(10),
        burst: 50,
    }
}

/// The fan-out workload of the presets: 10 broadcasts per second for 5 s (chapter 9's
/// run), and a burst of 50.
fn fanout_settings(receivers: Vec<usize>) -> GroupSettings {
    GroupSettings {
        receivers,
        rate: 10,
        duration: Duration::from_secs(5),
        burst: 50,
    }
}

fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let mut config = preset_config(args.preset);
    if let Some(t) = args.transports {
        config.transports = t;
    }
    if let Some(s) = args.sizes {
        config.sizes = s;
    }
    if let Some(e) = args.encodings {
        config.encodings = e;
    }
    if let Some(d) = args.duration {
        config.duration = d;
    }
    if let Some(w) = args.warmup {
        config.warmup = w;
    }
    if let Some(r) = args.reps {
        config.repetitions = r;
    }
    if args.concurrency.is_some() || args.rate.is_some() {
        let mut modes: Vec<LoadMode> = Vec::new();
        if !args.open_only {
            let concurrencies = args.concurrency.unwrap_or_else(|| vec![1]);
            modes.extend(
                concurrencies
                    .into_iter()
                    .map(|concurrency| LoadMode::Closed { concurrency }),
            );
        }
        if let Some(rate) = args.rate {
            modes.push(LoadMode::Open {
                rate,
                connections: args.connections.unwrap_or(16),
            });
        }
        config.modes = modes;
    }
    let workloads = if args.echo_only {
        Some(vec![Workload::Echo])
    } else {
        args.workload
    };
    if let Some(workloads) = workloads {
        let wants = |w: Workload| workloads.contains(&w);
        config.echo = wants(Workload::Echo);
        // A workload the preset does not run gets the settings of the full preset.
        let full = preset_config(Preset::Full);
        config.setup_count = pick(wants(Workload::Setup), config.setup_count, full.setup_count);
        config.idle_connections = pick(
            wants(Workload::Memory),
            config.idle_connections,
            full.idle_connections,
        );
        config.push = pick(wants(Workload::Push), config.push, full.push);
        config.ack = pick(wants(Workload::Ack), config.ack, full.ack);
        config.rooms = pick(wants(Workload::Rooms), config.rooms, full.rooms);
        config.fanout = pick(wants(Workload::Fanout), config.fanout, full.fanout);
        config.batching = pick(wants(Workload::Fanout), config.batching, full.batching);
    }
    if let Some(ack) = &mut config.ack {
        if let Some(sizes) = args.ack_sizes {
            ack.sizes = sizes;
        }
        if let Some(n) = args.acks {
            ack.count = n as u64;
        }
    }
    for (group, receivers, rate) in [
        (&mut config.rooms, args.members, args.room_rate),
        (&mut config.fanout, args.subscribers, args.broadcast_rate),
    ] {
        if let Some(group) = group {
            if let Some(receivers) = receivers {
                group.receivers = receivers;
            }
            if let Some(rate) = rate {
                group.rate = rate;
            }
            if let Some(d) = args.group_duration {
                group.duration = d;
            }
            if let Some(b) = args.burst {
                group.burst = b;
            }
        }
    }
    match args.batching_window_ms {
        Some(0) => config.batching = None,
        Some(ms) => {
            if let Some(b) = &mut config.batching {
                b.window_ms = ms;
            }
        }
        None => {}
    }
    if let Some(n) = args.setup {
        config.setup_count = Some(n);
    }
    if let Some(n) = args.idle {
        config.idle_connections = Some(n);
    }
    if let Some(n) = args.push {
        config.push = Some((n as u64, args.push_size as u32));
    } else if let Some((count, _)) = config.push {
        config.push = Some((count, args.push_size as u32));
    }
    config.nodelay = !args.nagle;
    config.validate()?;

    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; its numbers are not worth comparing. \
             Use `cargo run --release -p bench -- run ...`."
        );
    }
    if !config.transports.contains(&Transport::Tcp) {
        eprintln!("note: raw TCP is not in the run, so there will be no ratios to it");
    }

    // Described before pinning: once pinned, this process sees only its own core.
    let machine = MachineInfo::collect();

    // Placement: the server on the first core, the client (this process) on the second.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (server_core, client_core) = if !args.no_pin && cores.len() >= 2 {
        (Some(cores[0].id), Some(cores[1].id))
    } else {
        (None, None)
    };
    if let Some(core) = client_core {
        pin_to(core)?;
    }
    let placement = match (server_core, client_core) {
        (Some(s), Some(c)) => format!(
            "server pinned to core {s}, client to core {c}; {} tokio worker thread(s) each",
            args.threads
        ),
        _ => format!(
            "not pinned ({} core(s) seen); {} tokio worker thread(s) each",
            cores.len(),
            args.threads
        ),
    };

    let started_at = SystemTime::now();
    let command = command_line();
    let exe = std::env::current_exe().context("cannot find the harness's own executable")?;
    let launcher = ServerLauncher::Child {
        exe,
        core: server_core,
        threads: args.threads,
    };

    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(config.steps());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} (eta {eta}) {msg}",
            )
            // Invariant: the template above is valid.
            .expect("valid progress template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };

    let results = runtime(args.threads)?
        .block_on(run::run(&config, &launcher, &progress))
        .context("the run failed")?;
    progress.finish_and_clear();

    let report = RunReport {
        started_at: iso8601(started_at),
        command,
        machine,
        config,
        placement,
        results,
    };
    println!("{}", report::terminal_tables(&report.results));
    println!(
        "median of {} repetitions; latencies in µs; ×tcp = ratio to raw TCP in this run \
         ({} without a raw-TCP figure); {}",
        report.config.repetitions,
        report::NO_RATIO,
        report.placement
    );
    let errors: u64 = report.results.echo.iter().map(|c| c.median.errors).sum();
    if errors > 0 {
        let first = report
            .results
            .echo
            .iter()
            .find_map(|c| c.first_error.clone())
            .unwrap_or_default();
        eprintln!("warning: {errors} echo request(s) failed; first error: {first}");
    }

    if !args.no_files {
        let dir = args
            .out
            .unwrap_or_else(|| PathBuf::from("results").join(timestamp_dir(started_at)));
        let files = report::write_files(&report, &dir)
            .with_context(|| format!("cannot write the results into {}", dir.display()))?;
        println!("wrote {} files into {}/", files.len(), dir.display());
    }
    Ok(())
}

/// The command line as typed, plus the cargo command that reproduces it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).map(|a| shell_quote(&a)).collect();
    format!("cargo run --release -p bench -- {}", args.join(" "))
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `(year, month, day, hour, minute, second)` in UTC, from the Unix time (Howard Hinnant's
/// days-to-civil algorithm; no date library needed for a folder name).
fn utc(time: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

fn iso8601(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn timestamp_dir(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc(time);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}
