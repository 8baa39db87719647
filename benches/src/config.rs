//! What a run measures, and the checks that turn a bad configuration into a clear error.
//!
//! The command line (`main.rs`) parses its flags with the functions here, so `--sizes 0` or
//! `--transports carrier-pigeon` fail before any server starts, with a message that says
//! what would have been accepted. Tests match on [`ConfigError`] directly.

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::transport::{Encoding, Transport};

/// The largest payload the harness sends. Big enough for the 1 MiB row of the workload with
/// room to spare; small enough that a typo (`--sizes 1g`) is refused instead of exhausting
/// memory. Every server accepts frames up to [`crate::wire::MAX_FRAME`], which leaves room
/// for the JSON encoding's base64 overhead.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// A configuration the harness refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A transport name that is not one of [`Transport::ALL`].
    #[error("unknown transport '{given}' (known: {known})")]
    UnknownTransport {
        /// What was typed.
        given: String,
        /// The names that would have worked.
        known: String,
    },
    /// An encoding other than `proto` or `json`.
    #[error("unknown encoding '{0}' (known: proto, json)")]
    UnknownEncoding(String),
    /// A payload of zero bytes measures nothing but headers, and JSON/protobuf would not
    /// even carry a payload field.
    #[error("payload size must be at least 1 byte (got 0)")]
    PayloadZero,
    /// A payload over [`MAX_PAYLOAD`].
    #[error("payload size {size} bytes is over the limit of {max} bytes (4 MiB)")]
    PayloadTooLarge {
        /// The size asked for.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A size that is not a number with an optional k/KiB/m/MiB suffix.
    #[error("cannot read '{0}' as a payload size (examples: 16, 256, 4k, 64KiB, 1m)")]
    BadSize(String),
    /// An open-loop arrival rate of zero would never send anything.
    #[error("the open-loop rate must be above 0 requests per second (got {0})")]
    RateZero(String),
    /// A rate that is not a positive number.
    #[error("cannot read '{0}' as a rate in requests per second (example: 2000)")]
    BadRate(String),
    /// Concurrency, connections, repetitions or counts of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A number that does not parse.
    #[error("cannot read '{given}' as {what}")]
    BadNumber {
        /// What the number was for.
        what: &'static str,
        /// What was typed.
        given: String,
    },
    /// A duration that does not parse.
    #[error("cannot read '{0}' as a duration (examples: 500ms, 2s, 1.5s)")]
    BadDuration(String),
    /// A measured duration of zero.
    #[error("the measured duration must be above 0")]
    DurationZero,
    /// A list flag given with nothing in it.
    #[error("the list of {0} is empty")]
    Empty(&'static str),
    /// A workload name that is not one of [`Workload::ALL`].
    #[error("unknown workload '{given}' (known: {known})")]
    UnknownWorkload {
        /// What was typed.
        given: String,
        /// The names that would have worked.
        known: String,
    },
    /// An ack payload over the gateway's echo limit.
    #[error(
        "the ack workload's payload is at most {max} characters (the gateway lab's echo limit), not {size}"
    )]
    AckPayloadTooLarge {
        /// The size asked for.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// What a run measures: one or more workloads, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// One request, one reply, over every transport and payload size (chapter 11).
    Echo,
    /// A new connection and its first reply (chapter 11).
    Setup,
    /// Server memory per idle connection, per transport (chapter 11).
    Memory,
    /// The server pushes a stream of updates (chapter 11).
    Push,
    /// Request and acknowledgement: the gateway lab against Socket.IO (chapter 6).
    Ack,
    /// A room of N members receiving R messages per second: the rooms lab against
    /// Socket.IO's rooms (chapter 7).
    Rooms,
    /// One publish to N subscribers: the broadcast lab's two ways, the raw-TCP floor and
    /// Socket.IO's `io.emit` (chapter 9).
    Fanout,
}

impl Workload {
    /// Every workload, in the order a run makes them.
    pub const ALL: [Workload; 7] = [
        Workload::Echo,
        Workload::Setup,
        Workload::Push,
        Workload::Memory,
        Workload::Ack,
        Workload::Rooms,
        Workload::Fanout,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Echo => "echo",
            Workload::Setup => "setup",
            Workload::Memory => "memory",
            Workload::Push => "push",
            Workload::Ack => "ack",
            Workload::Rooms => "rooms",
            Workload::Fanout => "fanout",
        }
    }
}

impl FromStr for Workload {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "fan-out" | "broadcast" => "fanout",
            "room" => "rooms",
            "idle" | "idle-memory" => "memory",
            "connect" | "connection-setup" => "setup",
            other => other,
        };
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == alias)
            .ok_or_else(|| ConfigError::UnknownWorkload {
                given: s.to_string(),
                known: Workload::ALL.map(Workload::name).join(", "),
            })
    }
}

/// Reads a comma-separated list of workloads (`all` for every one).
pub fn parse_workloads(s: &str) -> Result<Vec<Workload>, ConfigError> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Workload::ALL.to_vec());
    }
    let mut list = parse_list("workloads", s, str::parse)?;
    list.sort();
    list.dedup();
    Ok(list)
}

/// Reads a payload size: `16`, `4k`, `4KiB`, `1m`, `1MiB` (k and m are binary: 1024).
pub fn parse_size(s: &str) -> Result<usize, ConfigError> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t.as_str(), ""),
    };
    let multiplier = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(ConfigError::BadSize(s.to_string())),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| ConfigError::BadSize(s.to_string()))?;
    let size = n
        .checked_mul(multiplier)
        .ok_or_else(|| ConfigError::BadSize(s.to_string()))?;
    check_size(size)
}

/// Accepts a payload size between 1 byte and [`MAX_PAYLOAD`].
pub fn check_size(size: usize) -> Result<usize, ConfigError> {
    match size {
        0 => Err(ConfigError::PayloadZero),
        s if s > MAX_PAYLOAD => Err(ConfigError::PayloadTooLarge {
            size: s,
            max: MAX_PAYLOAD,
        }),
        s => Ok(s),
    }
}

/// Reads an arrival rate in requests per second; zero, negative and non-numbers are refused.
pub fn parse_rate(s: &str) -> Result<f64, ConfigError> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| ConfigError::BadRate(s.to_string()))?;
    check_rate(rate).map_err(|_| {
        if rate == 0.0 {
            ConfigError::RateZero(s.to_string())
        } else {
            ConfigError::BadRate(s.to_string())
        }
    })
}

/// Accepts a finite rate above zero.
pub fn check_rate(rate: f64) -> Result<f64, ConfigError> {
    if rate == 0.0 {
        Err(ConfigError::RateZero(rate.to_string()))
    } else if !rate.is_finite() || rate < 0.0 {
        Err(ConfigError::BadRate(rate.to_string()))
    } else {
        Ok(rate)
    }
}

/// Reads a duration: `250ms`, `2s`, `1.5s`, `1m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let t = s.trim().to_ascii_lowercase();
    let bad = || ConfigError::BadDuration(s.to_string());
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t.as_str(), 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Reads a positive whole number (`what` names it in the error).
pub fn parse_count(what: &'static str, s: &str) -> Result<usize, ConfigError> {
    let n: usize = s.trim().parse().map_err(|_| ConfigError::BadNumber {
        what,
        given: s.to_string(),
    })?;
    if n == 0 {
        Err(ConfigError::Zero(what))
    } else {
        Ok(n)
    }
}

/// Reads a comma-separated list with `item`, refusing an empty list.
pub fn parse_list<T>(
    what: &'static str,
    s: &str,
    item: impl Fn(&str) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let items = s
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(item)
        .collect::<Result<Vec<T>, _>>()?;
    if items.is_empty() {
        Err(ConfigError::Empty(what))
    } else {
        Ok(items)
    }
}

/// Reads a comma-separated list of transports (`tcp,ws,http1,...` or `all`).
pub fn parse_transports(s: &str) -> Result<Vec<Transport>, ConfigError> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Transport::ALL.to_vec());
    }
    parse_list("transports", s, Transport::from_str)
}

/// How load is offered to the server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadMode {
    /// `concurrency` connections, each sending its next request as soon as the previous
    /// reply is in. Simple and the usual way to measure; but a stalled server also stops
    /// the client from sending, so the requests that *would* have waited are never sent and
    /// never measured (coordinated omission).
    Closed {
        /// Connections (and so requests in flight), each with its own loop.
        concurrency: usize,
    },
    /// Requests scheduled at a fixed arrival rate whatever the server does, spread over
    /// `connections` connections; each latency is timed from the request's *scheduled*
    /// send time, so time spent waiting behind a stall is counted.
    Open {
        /// Target arrival rate, requests per second.
        rate: f64,
        /// Connections available to carry the scheduled requests.
        connections: usize,
    },
}

impl LoadMode {
    /// A short label for tables: `closed c=1`, `open 2000/s`.
    pub fn label(&self) -> String {
        match self {
            LoadMode::Closed { concurrency } => format!("closed c={concurrency}"),
            LoadMode::Open { rate, connections } => format!("open {rate}/s ({connections} conn)"),
        }
    }

    /// Checks the numbers in the mode.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            LoadMode::Closed { concurrency: 0 } => Err(ConfigError::Zero("concurrency")),
            LoadMode::Open { connections: 0, .. } => Err(ConfigError::Zero("connections")),
            LoadMode::Open { rate, .. } => check_rate(rate).map(|_| ()),
            LoadMode::Closed { .. } => Ok(()),
        }
    }
}

/// One echo measurement: one transport, one encoding, one size, one load mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EchoSpec {
    /// Which transport carries the requests.
    pub transport: Transport,
    /// How the echo message is encoded.
    pub encoding: Encoding,
    /// Payload bytes per request (and per reply).
    pub size: usize,
    /// Closed or open loop.
    pub mode: LoadMode,
    /// Run first and thrown away: connections, caches, allocator and TCP windows warm up.
    #[serde(with = "duration_secs")]
    pub warmup: Duration,
    /// How long the measured part lasts.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
}

impl EchoSpec {
    /// Refuses sizes, rates and durations the harness cannot measure honestly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_size(self.size)?;
        self.mode.validate()?;
        if self.duration.is_zero() {
            return Err(ConfigError::DurationZero);
        }
        Ok(())
    }
}

/// Serializes a `Duration` as seconds (a float), the unit the result files use.
pub mod duration_secs {
    use std::time::Duration;

    /// Writes `d` as fractional seconds.
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_suffixes_and_refuse_zero_and_huge() {
        assert_eq!(parse_size("16"), Ok(16));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("0"), Err(ConfigError::PayloadZero));
        assert!(matches!(
            parse_size("5m"),
            Err(ConfigError::PayloadTooLarge { .. })
        ));
        assert!(matches!(parse_size("lots"), Err(ConfigError::BadSize(_))));
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(matches!(parse_rate("0"), Err(ConfigError::RateZero(_))));
        assert!(matches!(parse_rate("-3"), Err(ConfigError::BadRate(_))));
        assert_eq!(parse_rate("2000"), Ok(2000.0));
    }
}
