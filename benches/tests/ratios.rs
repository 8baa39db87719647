//! Ratios to raw TCP in every output of a run: JSON, CSV, Markdown, the terminal table and the
//! charts. A figure without a raw-TCP baseline in the same run has no ratio at all (JSON
//! `null`, an empty CSV field, `—` in a table, no point on the ×tcp chart), never a `0.0` that
//! a reader would take for "infinitely faster than TCP", nor an `inf` or a `NaN`.
//!
//! Run with `cargo test -p bench --test ratios`. The reports are built by hand from made-up
//! figures, so no server is started.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bench::config::{EchoSpec, LoadMode};
use bench::load::Figures;
use bench::machine::MachineInfo;
use bench::report::{self, RunReport};
use bench::run::{self, EchoCell, RunConfig, RunResults, SetupResult};
use bench::stats::Latency;
use bench::transport::{Encoding, Transport};

/// What a table shows in place of a ratio that has no baseline.
const NO_RATIO: &str = "—";

const SIZES: [usize; 2] = [16, 4096];

/// Figures as a working transport measures them: everything above zero.
fn figures(p50_us: f64) -> Figures {
    Figures {
        latency: Latency {
            p50_us,
            p90_us: p50_us * 1.2,
            p99_us: p50_us * 2.0,
            p999_us: p50_us * 3.0,
            max_us: p50_us * 10.0,
            mean_us: p50_us * 1.1,
        },
        ok: 1000,
        errors: 0,
        throughput: 1e6 / p50_us,
        bytes_out_per_msg: 40.0,
        bytes_in_per_msg: 40.0,
        server_cpu_us_per_msg: Some(p50_us / 2.0),
        client_cpu_us_per_msg: Some(p50_us / 2.0),
    }
}

/// Figures of a measurement where every request failed: nothing to divide by.
fn failed() -> Figures {
    Figures {
        latency: Latency::default(),
        ok: 0,
        errors: 10,
        throughput: 0.0,
        bytes_out_per_msg: 0.0,
        bytes_in_per_msg: 0.0,
        server_cpu_us_per_msg: None,
        client_cpu_us_per_msg: None,
    }
}

fn cell(transport: Transport, size: usize, median: Figures) -> EchoCell {
    EchoCell {
        spec: EchoSpec {
            transport,
            encoding: Encoding::Proto,
            size,
            mode: LoadMode::Closed { concurrency: 1 },
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
        },
        repetitions: vec![median],
        median,
        p50_spread_us: (median.latency.p50_us, median.latency.p50_us),
        throughput_spread: (median.throughput, median.throughput),
        first_error: None,
        vs_tcp: None,
    }
}

fn setup(transport: Transport, p50_us: f64) -> SetupResult {
    SetupResult {
        transport,
        figures: Figures {
            latency: Latency {
                p50_us,
                p99_us: p50_us * 2.0,
                max_us: p50_us * 5.0,
                ..Latency::default()
            },
            ok: if p50_us > 0.0 { 100 } else { 0 },
            errors: if p50_us > 0.0 { 0 } else { 100 },
            throughput: if p50_us > 0.0 { 1e6 / p50_us } else { 0.0 },
            bytes_out_per_msg: 100.0,
            bytes_in_per_msg: 100.0,
            ..Figures::default()
        },
        p50_vs_tcp: None,
        first_error: None,
    }
}

/// A report of `echo` and `setup` with the ratios filled in as a run fills them.
fn report(mut echo: Vec<EchoCell>, mut setup: Vec<SetupResult>) -> RunReport {
    run::add_ratios(&mut echo);
    run::add_setup_ratios(&mut setup);
    let mut transports: Vec<Transport> = echo.iter().map(|c| c.spec.transport).collect();
    transports.dedup();
    RunReport {
        started_at: "2025-01-01T00:00:00Z".into(),
        command: "cargo run --release -p bench -- run".into(),
        machine: MachineInfo {
            cpu_model: "test CPU".into(),
            cores: 2,
            kernel: "6.1".into(),
            os: "linux x86_64".into(),
            rustc: "rustc".into(),
            profile: "release".into(),
            git_commit: "unknown".into(),
            hostname: "test".into(),
        },
        config: RunConfig {
            transports,
            encodings: vec![Encoding::Proto],
            sizes: SIZES.to_vec(),
            modes: vec![LoadMode::Closed { concurrency: 1 }],
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            repetitions: 1,
            setup_count: Some(100),
            idle_connections: None,
            push: None,
            nodelay: true,
            echo: true,
            ack: None,
            rooms: None,
            fanout: None,
            batching: None,
        },
        placement: "not pinned".into(),
        results: RunResults {
            echo,
            setup,
            ..RunResults::default()
        },
    }
}

/// The JSON value of every ratio of every echo cell of `transport`, and of its setup result.
fn json_ratios(report: &RunReport, transport: Transport) -> Vec<(String, serde_json::Value)> {
    let json = serde_json::to_value(report).unwrap();
    let name = serde_json::to_value(transport).unwrap();
    let mut out = Vec::new();
    for cell in json["results"]["echo"].as_array().unwrap() {
        if cell["spec"]["transport"] != name {
            continue;
        }
        let size = &cell["spec"]["size"];
        match &cell["vs_tcp"] {
            serde_json::Value::Object(ratios) => {
                for (figure, value) in ratios {
                    out.push((format!("echo {size} B vs_tcp.{figure}"), value.clone()));
                }
            }
            other => out.push((format!("echo {size} B vs_tcp"), other.clone())),
        }
    }
    for s in json["results"]["setup"].as_array().unwrap() {
        if s["transport"] == name {
            out.push(("setup p50_vs_tcp".into(), s["p50_vs_tcp"].clone()));
        }
    }
    out
}

/// The ratio fields (`*_vs_tcp`) of the CSV rows of `transport`, by column name.
fn csv_ratios(report: &RunReport, transport: Transport) -> Vec<(String, String)> {
    let csv = report::echo_csv(&report.results);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "transport").unwrap();
    let mut out = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{line}");
        if fields[column] != transport.to_string() {
            continue;
        }
        for (name, value) in header.iter().zip(&fields) {
            if name.ends_with("_vs_tcp") {
                out.push((name.to_string(), value.to_string()));
            }
        }
    }
    out
}

/// The `×tcp` cells of the Markdown rows of `transport`, across every table.
fn markdown_ratios(report: &RunReport, transport: Transport) -> Vec<String> {
    let md = report::markdown(report);
    let mut out = Vec::new();
    let mut header: Vec<String> = Vec::new();
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if cells.iter().all(|c| c.starts_with("---")) {
            continue;
        }
        if cells.iter().any(|c| c == "×tcp") {
            header = cells;
            continue;
        }
        if !cells.iter().any(|c| c == transport.label()) {
            continue;
        }
        for (name, value) in header.iter().zip(&cells) {
            if name == "×tcp" {
                out.push(value.clone());
            }
        }
    }
    out
}

/// The terminal table's rows of `transport`.
fn terminal_rows(report: &RunReport, transport: Transport) -> Vec<String> {
    report::terminal_tables(&report.results)
        .lines()
        .filter(|l| l.contains(transport.label()))
        .map(str::to_string)
        .collect()
}

/// A ratio as a number must be finite and above zero.
fn assert_real_ratio(what: &str, value: f64) {
    assert!(
        value.is_finite() && value > 0.0,
        "{what}: ratio {value} is not a real ratio"
    );
}

/// Checks that nothing in any output gives `transport` a ratio: every ratio is absent.
fn assert_no_ratio_anywhere(report: &RunReport, transport: Transport) {
    let json = json_ratios(report, transport);
    assert!(!json.is_empty(), "no JSON cells for {transport}");
    for (what, value) in &json {
        assert!(value.is_null(), "JSON {what} is {value}, expected null");
    }
    let csv = csv_ratios(report, transport);
    assert_eq!(csv.len(), 6 * SIZES.len(), "{csv:?}");
    for (name, value) in &csv {
        assert!(value.is_empty(), "CSV {name} is {value:?}, expected empty");
    }
    let md = markdown_ratios(report, transport);
    // Three ratios per echo row, one in the setup row.
    assert_eq!(md.len(), 3 * SIZES.len() + 1, "{md:?}");
    for value in &md {
        assert_eq!(value, NO_RATIO, "Markdown ×tcp cell: {md:?}");
    }
    let rows = terminal_rows(report, transport);
    assert_eq!(rows.len(), SIZES.len() + 1, "{rows:?}");
    for row in &rows {
        assert!(!row.contains('×'), "terminal row has a ratio: {row}");
        // The setup row starts with the transport; echo rows start with the size.
        let expected = if row.starts_with(transport.label()) {
            1
        } else {
            3
        };
        assert_eq!(
            row.matches(NO_RATIO).count(),
            expected,
            "terminal row: {row}"
        );
    }
    for (name, svg) in bench::charts::echo_charts(&report.results) {
        if name.contains("vs-tcp") {
            assert!(
                !svg.contains(transport.label()),
                "{name} has a line for {transport}"
            );
        }
    }
}

/// A run without raw TCP (`--transports ws`): no output anywhere carries a ratio.
#[test]
fn a_run_without_tcp_writes_no_ratio() {
    let echo = SIZES.iter().map(|&s| cell(Transport::Ws, s, figures(20.0)));
    let report = report(echo.collect(), vec![setup(Transport::Ws, 100.0)]);
    assert_no_ratio_anywhere(&report, Transport::Ws);
}

/// Raw TCP in the run but measured nothing (every request failed): its zeros are no
/// baseline, so the other transports get no ratio rather than `0.0` or `inf`.
#[test]
fn a_failed_tcp_baseline_writes_no_ratio() {
    let mut echo = Vec::new();
    for &size in &SIZES {
        echo.push(cell(Transport::Tcp, size, failed()));
        echo.push(cell(Transport::Ws, size, figures(20.0)));
    }
    let setups = vec![setup(Transport::Tcp, 0.0), setup(Transport::Ws, 100.0)];
    let report = report(echo, setups);
    assert_no_ratio_anywhere(&report, Transport::Ws);
}

/// A transport that measured nothing beside a good baseline: its ratios are absent too, not
/// `0.00×` (zero latency would read as infinitely fast).
#[test]
fn a_failed_transport_gets_no_ratio() {
    let mut echo = Vec::new();
    for &size in &SIZES {
        echo.push(cell(Transport::Tcp, size, figures(16.0)));
        echo.push(cell(Transport::Ws, size, failed()));
    }
    let setups = vec![setup(Transport::Tcp, 80.0), setup(Transport::Ws, 0.0)];
    let report = report(echo, setups);
    assert_no_ratio_anywhere(&report, Transport::Ws);
}

/// With a baseline, every output carries the ratio, and it is the right number (so the
/// tests above cannot pass by dropping every ratio).
#[test]
fn a_run_with_tcp_writes_every_ratio() {
    let mut echo = Vec::new();
    for &size in &SIZES {
        echo.push(cell(Transport::Tcp, size, figures(16.0)));
        echo.push(cell(Transport::Ws, size, figures(20.0)));
    }
    let setups = vec![setup(Transport::Tcp, 80.0), setup(Transport::Ws, 100.0)];
    let report = report(echo, setups);

    for (what, value) in json_ratios(&report, Transport::Ws) {
        let value = value
            .as_f64()
            .unwrap_or_else(|| panic!("JSON {what} is {value}"));
        assert_real_ratio(&what, value);
        if what.ends_with(".p50") || what.starts_with("setup") {
            assert!((value - 1.25).abs() < 1e-9, "JSON {what} is {value}");
        }
    }
    for (name, value) in csv_ratios(&report, Transport::Ws) {
        assert_real_ratio(&name, value.parse().unwrap());
        if name == "p50_vs_tcp" {
            assert_eq!(value, "1.250");
        }
    }
    let md = markdown_ratios(&report, Transport::Ws);
    assert_eq!(md.len(), 3 * SIZES.len() + 1, "{md:?}");
    for value in &md {
        let number = value.strip_suffix('×').unwrap_or_else(|| panic!("{md:?}"));
        assert_real_ratio("Markdown ×tcp", number.parse().unwrap());
    }
    for row in terminal_rows(&report, Transport::Ws) {
        assert!(row.contains("1.25×"), "terminal row: {row}");
        assert!(!row.contains(NO_RATIO), "terminal row: {row}");
    }
    let charts = bench::charts::echo_charts(&report.results);
    assert!(
        charts.iter().any(|(name, _)| name.contains("vs-tcp")),
        "no ×tcp chart"
    );
}
