//! The two load modes of the echo workload, and the measurement they produce.
//!
//! **Closed loop** ([`LoadMode::Closed`]): `c` connections, each sends a request, waits for
//! the reply, sends the next. Latency is timed from the actual send. If the server stalls,
//! the loops stall with it and stop sending: the requests that would have queued behind the
//! stall are never sent, so they are never measured. One slow request out of thousands,
//! and the percentiles look fine. This is *coordinated omission*.
//!
//! **Open loop** ([`LoadMode::Open`]): request *i* is scheduled at `start + i / rate`,
//! whatever happens. Connections take the next scheduled request as soon as they are free;
//! a request that could not be sent on time because every connection was stuck behind a
//! stall is timed from its *scheduled* time, so it counts the time it waited. That is
//! what a user arriving at that moment would see. The run reports the target rate and the
//! rate it achieved: if they differ, the server (or the harness) could not keep up.
//!
//! Both modes run a warm-up first and throw its samples away, check every reply (a wrong or
//! short reply is an error, never a success) and reconnect after an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use protos::bench::v1::EchoRequest;
use serde::Serialize;
use thiserror::Error;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::{ClientError, Connection};
use crate::config::{ConfigError, EchoSpec, LoadMode};
use crate::procstat;
use crate::server::ServerAddrs;
use crate::stats::{self, Latency};
use crate::transport::Transport;
use crate::wire;

/// A request that takes longer than this is abandoned and counted as an error: a hung
/// server fails the measurement instead of hanging the run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the client connects, and what it may observe of the server.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The server's listeners.
    pub addrs: ServerAddrs,
    /// `TCP_NODELAY` on client sockets (always, unless showing Nagle on purpose).
    pub nodelay: bool,
    /// The server's process id, to read its CPU time and memory; `None` when the server
    /// shares the client's process (tests), where its CPU cannot be told apart.
    pub server_pid: Option<u32>,
    /// The Node `ws` peer's process id, when it runs ([`ServerAddrs::node_ws`]).
    pub node_pid: Option<u32>,
}

impl Target {
    /// The process serving `transport`: the Node peer's for [`Transport::NodeWs`].
    pub fn pid_for(&self, transport: Transport) -> Option<u32> {
        match transport {
            Transport::NodeWs => self.node_pid,
            _ => self.server_pid,
        }
    }
}

/// Why a measurement could not be made at all (errors *during* a measurement are counted
/// in [`Measurement::errors`] instead).
#[derive(Debug, Error)]
pub enum LoadError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The first connection of a loop could not be opened.
    #[error("cannot connect ({transport}): {source}")]
    Connect {
        /// The transport's name.
        transport: String,
        /// What went wrong.
        source: ClientError,
    },
    /// A loop task panicked (a bug in the harness).
    #[error("a load loop failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What one measurement produced: an echo run, connection setups, a stream of pushed
/// updates. The one record every workload fills; [`Measurement::figures`] turns it into the
/// per-operation [`Figures`] written to the result files.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Latencies of the successful measured requests, nanoseconds.
    pub histogram: Histogram<u64>,
    /// Measured requests whose reply was correct.
    pub ok: u64,
    /// Measured requests that failed or got a wrong reply.
    pub errors: u64,
    /// The first error seen, to tell the user what went wrong.
    pub first_error: Option<String>,
    /// From the end of the warm-up to the last measured reply.
    pub elapsed: Duration,
    /// Bytes the client wrote during the measured part.
    pub bytes_written: u64,
    /// Bytes the client read during the measured part.
    pub bytes_read: u64,
    /// Server CPU time during the measured part, if the server is another process.
    pub server_cpu_ns: Option<u64>,
    /// Client (this process) CPU time during the measured part.
    pub client_cpu_ns: Option<u64>,
}

/// The per-operation figures derived from a [`Measurement`], as written to the result files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Latency percentiles.
    pub latency: Latency,
    /// Correct replies in the measured part.
    pub ok: u64,
    /// Errors in the measured part.
    pub errors: u64,
    /// Correct replies per second (for an open loop: the achieved rate).
    pub throughput: f64,
    /// Client → server bytes per request, counted at the socket.
    pub bytes_out_per_msg: f64,
    /// Server → client bytes per reply, counted at the socket.
    pub bytes_in_per_msg: f64,
    /// Server CPU per request, microseconds.
    pub server_cpu_us_per_msg: Option<f64>,
    /// Client CPU per request, microseconds.
    pub client_cpu_us_per_msg: Option<f64>,
}

impl Default for Measurement {
    fn default() -> Self {
        Self::new()
    }
}

impl Measurement {
    /// An empty measurement, for a workload to fill.
    pub fn new() -> Self {
        Self {
            histogram: stats::new_histogram(),
            ok: 0,
            errors: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            bytes_written: 0,
            bytes_read: 0,
            server_cpu_ns: None,
            client_cpu_ns: None,
        }
    }

    /// Counts a failed operation, keeping the first error for the report.
    pub fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// Computes the per-operation figures.
    pub fn figures(&self) -> Figures {
        let n = self.ok.max(1) as f64;
        let secs = self.elapsed.as_secs_f64();
        Figures {
            latency: Latency::from_histogram(&self.histogram),
            ok: self.ok,
            errors: self.errors,
            throughput: if secs > 0.0 {
                self.ok as f64 / secs
            } else {
                0.0
            },
            bytes_out_per_msg: self.bytes_written as f64 / n,
            bytes_in_per_msg: self.bytes_read as f64 / n,
            server_cpu_us_per_msg: self.server_cpu_ns.map(|ns| ns as f64 / 1000.0 / n),
            client_cpu_us_per_msg: self.client_cpu_ns.map(|ns| ns as f64 / 1000.0 / n),
        }
    }
}

/// CPU time of the server (another process, when it is one) and of this process, read from
/// `/proc` at the start of a measured part and again at its end.
#[derive(Debug, Clone, Copy)]
pub struct CpuClock {
    /// The server's process, if it is not this one.
    server_pid: Option<u32>,
    /// The server's CPU time at the start, nanoseconds.
    server_start: Option<u64>,
    /// This process's CPU time at the start, nanoseconds.
    client_start: Option<u64>,
}

impl CpuClock {
    /// Reads both CPU times now.
    pub fn start(server_pid: Option<u32>) -> Self {
        Self {
            server_pid,
            server_start: server_pid.and_then(procstat::cpu_ns),
            client_start: procstat::cpu_ns(std::process::id()),
        }
    }

    /// Reads both again and stores what was spent since [`CpuClock::start`].
    pub fn stop(self, measurement: &mut Measurement) {
        let spent =
            |start: Option<u64>, end: Option<u64>| start.zip(end).map(|(a, b)| b.saturating_sub(a));
        measurement.server_cpu_ns = spent(
            self.server_start,
            self.server_pid.and_then(procstat::cpu_ns),
        );
        measurement.client_cpu_ns = spent(self.client_start, procstat::cpu_ns(std::process::id()));
    }
}

/// The clock of one measurement, shared by its loops.
#[derive(Debug)]
struct Schedule {
    /// When the warm-up starts (and, open loop, when request 0 is due).
    start: Instant,
    /// Requests sent (closed) or scheduled (open) from here on are measured.
    warm_end: Instant,
    /// No request is sent (closed) or scheduled (open) from here on.
    end: Instant,
    /// Open loop: the time between two scheduled requests.
    interval: Option<Duration>,
    /// Open loop: the next request number to take.
    next_slot: AtomicU64,
}

/// When a request is due and from when its latency is timed.
#[derive(Debug, Clone, Copy)]
struct Due {
    /// Its scheduled time (closed loop: now). Decides whether it is measured.
    due: Instant,
    /// Where its clock starts.
    clock_from: Instant,
}

impl Schedule {
    /// The next request of a loop, or `None` when the run is over.
    ///
    /// Open loop: the loop takes the next slot. If the slot is still in the future, the
    /// connection was free in time: it sleeps until the slot and the clock starts when it
    /// wakes, so the timer's own lateness (tokio's timer has millisecond granularity) is
    /// not charged to the server. If the slot is already past, every connection was busy
    /// when it fell due: the request has been waiting, and its clock starts at the slot.
    /// That waiting is exactly what a closed loop never sees.
    async fn next(&self) -> Option<Due> {
        let now = Instant::now();
        match self.interval {
            None => (now < self.end).then_some(Due {
                due: now,
                clock_from: now,
            }),
            Some(interval) => {
                let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
                let due = self.start + interval.mul_f64(slot as f64);
                if due >= self.end {
                    return None;
                }
                if due > now {
                    tokio::time::sleep_until(due).await;
                    Some(Due {
                        due,
                        clock_from: Instant::now(),
                    })
                } else {
                    Some(Due {
                        due,
                        clock_from: due,
                    })
                }
            }
        }
    }
}

/// What one loop brings back.
struct LoopResult {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
    bytes_written: u64,
    bytes_read: u64,
}

/// Runs one echo measurement as `spec` says, against `target`.
pub async fn measure_echo(spec: &EchoSpec, target: &Target) -> Result<Measurement, LoadError> {
    spec.validate()?;
    let (loops, interval) = match spec.mode {
        LoadMode::Closed { concurrency } => (concurrency, None),
        LoadMode::Open { rate, connections } => {
            (connections, Some(Duration::from_secs_f64(1.0 / rate)))
        }
    };

    // Connect every loop before the clock starts: connection setup is its own workload.
    let mut connections = Vec::with_capacity(loops);
    for _ in 0..loops {
        let connection =
            Connection::open(spec.transport, spec.encoding, &target.addrs, target.nodelay)
                .await
                .map_err(|source| LoadError::Connect {
                    transport: spec.transport.to_string(),
                    source,
                })?;
        connections.push(connection);
    }

    // Made before the clock starts too: a 1 MiB payload takes a while in a debug build.
    let payload = wire::payload(spec.size);
    let start = Instant::now();
    let schedule = Arc::new(Schedule {
        start,
        warm_end: start + spec.warmup,
        end: start + spec.warmup + spec.duration,
        interval,
        next_slot: AtomicU64::new(0),
    });
    let mut tasks = JoinSet::new();
    for connection in connections {
        tasks.spawn(run_loop(
            connection,
            schedule.clone(),
            payload.clone(),
            *target,
        ));
    }

    // CPU is read at the end of the warm-up and after the last loop finishes.
    tokio::time::sleep_until(schedule.warm_end).await;
    let cpu = CpuClock::start(target.pid_for(spec.transport));

    let mut histogram = stats::new_histogram();
    let mut measurement = Measurement::new();
    let mut last_done = schedule.warm_end;
    while let Some(result) = tasks.join_next().await {
        let result = result?;
        // Invariant: both histograms have the same bounds, so adding cannot fail.
        histogram
            .add(&result.histogram)
            .expect("histograms with the same bounds add");
        measurement.ok += result.ok;
        measurement.errors += result.errors;
        measurement.first_error = measurement.first_error.or(result.first_error);
        measurement.bytes_written += result.bytes_written;
        measurement.bytes_read += result.bytes_read;
        if let Some(done) = result.last_done {
            last_done = last_done.max(done);
        }
    }

    measurement.histogram = histogram;
    measurement.elapsed = last_done - schedule.warm_end;
    cpu.stop(&mut measurement);
    Ok(measurement)
}

/// One connection's loop: take the next due time, send, time, check, record.
async fn run_loop(
    mut connection: Connection,
    schedule: Arc<Schedule>,
    payload: bytes::Bytes,
    target: Target,
) -> LoopResult {
    let mut result = LoopResult {
        histogram: stats::new_histogram(),
        ok: 0,
        errors: 0,
        first_error: None,
        last_done: None,
        bytes_written: 0,
        bytes_read: 0,
    };
    // Byte counts of the current connection when its measured part began.
    let mut bytes_at_start: Option<(u64, u64)> = None;
    let mut seq = 0u64;

    loop {
        let Due { due, clock_from } = match schedule.next().await {
            Some(next) => next,
            // A closed loop sends at least one measured request even when the machine was
            // too busy to start it within the duration, so every run has a figure.
            None if schedule.interval.is_none() && result.ok + result.errors == 0 => {
                let now = Instant::now().max(schedule.warm_end);
                Due {
                    due: now,
                    clock_from: now,
                }
            }
            None => break,
        };
        let measured = due >= schedule.warm_end;
        if measured && bytes_at_start.is_none() {
            bytes_at_start = Some(connection.counters.snapshot());
        }
        let request = EchoRequest {
            seq,
            payload: payload.clone(),
        };
        seq += 1;
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, connection.echo(&request)).await;
        // The clock stops here; checking the reply is not part of the latency.
        let done = Instant::now();
        let error = match outcome {
            Ok(Ok(reply)) => match wire::check_reply(&request, &reply) {
                Ok(()) => {
                    if measured {
                        stats::record(&mut result.histogram, (done - clock_from).as_nanos() as u64);
                        result.ok += 1;
                        result.last_done = Some(done);
                    }
                    continue;
                }
                Err(wrong) => wrong.to_string(),
            },
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no reply within {REQUEST_TIMEOUT:?}"),
        };

        // An error: count it, then start again on a fresh connection, since the old one may
        // still deliver the late reply and every later reply would be off by one.
        if measured {
            result.errors += 1;
            result.last_done = Some(done);
        }
        tracing::debug!(transport = %connection.transport, %error, "echo failed");
        result.first_error.get_or_insert(error);
        if let Some((w0, r0)) = bytes_at_start {
            let (w, r) = connection.counters.snapshot();
            result.bytes_written += w - w0;
            result.bytes_read += r - r0;
        }
        match Connection::open(
            connection.transport,
            connection.encoding,
            &target.addrs,
            target.nodelay,
        )
        .await
        {
            Ok(fresh) => {
                connection = fresh;
                bytes_at_start = measured.then(|| connection.counters.snapshot());
            }
            Err(err) => {
                tracing::warn!(%err, "cannot reconnect; this loop stops");
                return result;
            }
        }
    }
    if let Some((w0, r0)) = bytes_at_start {
        let (w, r) = connection.counters.snapshot();
        result.bytes_written += w - w0;
        result.bytes_read += r - r0;
    }
    result
}
