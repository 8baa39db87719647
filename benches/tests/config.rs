//! Bad configurations get clear errors, from the library and from the command line, before
//! any server starts.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use bench::config::{self, ConfigError, EchoSpec, LoadMode, MAX_PAYLOAD};
use bench::transport::{Encoding, Transport};

/// The library refuses an unknown transport, a payload of 0 or over the limit, and a rate
/// of 0, each with an error that says what would be accepted.
#[test]
fn library_refuses_bad_values() {
    let err = config::parse_transports("tcp,carrier-pigeon").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownTransport { .. }));
    assert_eq!(
        err.to_string(),
        "unknown transport 'carrier-pigeon' (known: tcp, ws, node-ws, http1, http2, grpc-unary, grpc-stream)"
    );
    let err = config::parse_workloads("echo,rooms,carrier-pigeon").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown workload 'carrier-pigeon' (known: echo, setup, push, memory, ack, rooms, fanout)"
    );
    assert_eq!(
        config::parse_workloads("fan-out,echo,echo").unwrap(),
        vec![config::Workload::Echo, config::Workload::Fanout]
    );
    assert_eq!(config::parse_size("0"), Err(ConfigError::PayloadZero));
    assert_eq!(
        config::parse_size("5m"),
        Err(ConfigError::PayloadTooLarge {
            size: 5 << 20,
            max: MAX_PAYLOAD
        })
    );
    assert!(matches!(
        config::parse_rate("0"),
        Err(ConfigError::RateZero(_))
    ));
    assert!(
        config::parse_rate("0")
            .unwrap_err()
            .to_string()
            .contains("above 0")
    );

    let mut spec = EchoSpec {
        transport: Transport::Ws,
        encoding: Encoding::Proto,
        size: 0,
        mode: LoadMode::Closed { concurrency: 1 },
        warmup: Duration::ZERO,
        duration: Duration::from_secs(1),
    };
    assert_eq!(spec.validate(), Err(ConfigError::PayloadZero));
    spec.size = MAX_PAYLOAD + 1;
    assert!(matches!(
        spec.validate(),
        Err(ConfigError::PayloadTooLarge { .. })
    ));
    spec.size = 16;
    spec.mode = LoadMode::Open {
        rate: 0.0,
        connections: 4,
    };
    assert!(matches!(spec.validate(), Err(ConfigError::RateZero(_))));
    spec.mode = LoadMode::Closed { concurrency: 0 };
    assert_eq!(spec.validate(), Err(ConfigError::Zero("concurrency")));
}

/// Runs the CLI with `args`, expecting a usage error; returns its stderr.
fn cli_error(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap's usage-error exit code"
    );
    String::from_utf8(output.stderr).unwrap()
}

/// The command line refuses the same values, naming the flag and the reason.
#[test]
fn command_line_refuses_bad_values() {
    let err = cli_error(&["run", "--transports", "tcp,smoke-signals"]);
    assert!(err.contains("--transports"), "{err}");
    assert!(err.contains("unknown transport 'smoke-signals'"), "{err}");
    assert!(err.contains("known: tcp, ws"), "{err}");

    let err = cli_error(&["run", "--sizes", "16,0"]);
    assert!(
        err.contains("payload size must be at least 1 byte"),
        "{err}"
    );

    let err = cli_error(&["run", "--sizes", "8m"]);
    assert!(err.contains("over the limit"), "{err}");

    let err = cli_error(&["run", "--rate", "0"]);
    assert!(err.contains("rate must be above 0"), "{err}");

    let err = cli_error(&["run", "--concurrency", "0"]);
    assert!(err.contains("concurrency must be at least 1"), "{err}");
}
