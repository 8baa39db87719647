//! The charts an instructor puts on a slide: every tick carries its unit ("20 µs", "4 KiB",
//! "12k/s", "1.2×"), log axes tick at 1-2-5 steps or powers of ten, every chart names the
//! machine and the date in its footer, the bar chart draws one error bar per bar, and the
//! fan-out chart draws one line pair per server.
//!
//! Run with `cargo test -p bench --test charts`. The results are made up, so no server is
//! started; to look at the charts, open the SVGs a `bench run` writes in a browser.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bench::charts::{
    self, FanoutPoint, FanoutSeries, Footer, TimeUnit, fmt_bytes, fmt_count, fmt_latency,
    fmt_number, fmt_rate, fmt_ratio, linear_ticks, log_ticks,
};
use bench::config::{EchoSpec, LoadMode};
use bench::load::Figures;
use bench::machine::MachineInfo;
use bench::report::RunReport;
use bench::run::{self, EchoCell, RunConfig, RunResults};
use bench::stats::Latency;
use bench::transport::{Encoding, Transport};

/// The payload sizes of the made-up run: the quick preset's.
const SIZES: [usize; 5] = [16, 256, 4096, 64 * 1024, 1024 * 1024];

/// The CPU the made-up machine reports, looked for in every footer.
const CPU: &str = "Test CPU";

/// The colour the bar chart draws error bars in, and nothing else.
const ERROR_BAR_STROKE: &str = "stroke=\"#222222\"";

/// Figures of a transport that answers in `p50_us` at the median.
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
        errors: if p50_us > 0.0 { 0 } else { 1000 },
        throughput: if p50_us > 0.0 { 1e6 / p50_us } else { 0.0 },
        bytes_out_per_msg: 40.0,
        bytes_in_per_msg: 40.0,
        server_cpu_us_per_msg: None,
        client_cpu_us_per_msg: None,
    }
}

/// One closed-loop cell whose p50 spread over three repetitions is ±10 %.
fn cell(transport: Transport, size: usize, mode: LoadMode, p50_us: f64) -> EchoCell {
    let median = figures(p50_us);
    EchoCell {
        spec: EchoSpec {
            transport,
            encoding: Encoding::Proto,
            size,
            mode,
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
        },
        repetitions: vec![figures(p50_us * 0.9), median, figures(p50_us * 1.1)],
        median,
        p50_spread_us: (p50_us * 0.9, p50_us * 1.1),
        throughput_spread: (median.throughput * 0.9, median.throughput * 1.1),
        first_error: None,
        vs_tcp: None,
    }
}

/// The latency of `transport` at `size` in the made-up run: about what the design measured
/// at 64 B, growing with the payload.
fn made_up_p50(transport: Transport, size: usize) -> f64 {
    let base = match transport {
        Transport::Tcp => 17.0,
        Transport::Ws => 20.0,
        Transport::NodeWs => 26.0,
        Transport::Http1 => 30.0,
        Transport::Http2 => 68.0,
        Transport::GrpcUnary => 64.0,
        Transport::GrpcStream => 23.0,
    };
    base + size as f64 / 500.0
}

/// A report of every transport at every size in `modes`, ratios filled in as a run does.
fn report(modes: &[LoadMode]) -> RunReport {
    let mut echo = Vec::new();
    for &mode in modes {
        for size in SIZES {
            for transport in Transport::ALL {
                echo.push(cell(transport, size, mode, made_up_p50(transport, size)));
            }
        }
    }
    run::add_ratios(&mut echo);
    RunReport {
        started_at: "2026-12-03T13:45:12Z".into(),
        command: "cargo run --release -p bench -- run".into(),
        machine: MachineInfo {
            cpu_model: CPU.into(),
            cores: 2,
            kernel: "6.1.0-test".into(),
            os: "linux x86_64".into(),
            rustc: "rustc 1.91.0 (f8297e351 2025-10-28)".into(),
            profile: "release".into(),
            git_commit: "0123456789abcdef0123456789abcdef01234567-dirty".into(),
            hostname: "test".into(),
        },
        config: RunConfig {
            transports: Transport::ALL.to_vec(),
            encodings: vec![Encoding::Proto],
            sizes: SIZES.to_vec(),
            modes: modes.to_vec(),
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(1),
            repetitions: 3,
            setup_count: None,
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
            ..RunResults::default()
        },
    }
}

/// The text of every `<text>` element of an SVG.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest.find("</text>")?;
            Some(rest[start..end].trim().to_string())
        })
        .collect()
}

/// Whether `labels` hold `footer`: on one line, or on two (machine, then date) when long.
fn has_footer(labels: &[String], footer: &Footer) -> bool {
    labels.contains(&footer.text())
        || labels.contains(&footer.machine) && labels.contains(&format!("run {}", footer.date))
}

/// A label that is a bare number with decimals and no unit, like plotters' "100.000".
fn is_unitless_decimal(label: &str) -> bool {
    label.contains('.') && label.parse::<f64>().is_ok()
}

/// The chart called `name` among `charts`.
fn chart<'a>(charts: &'a [(String, String)], name: &str) -> &'a str {
    let names: Vec<&String> = charts.iter().map(|(n, _)| n).collect();
    charts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, svg)| svg.as_str())
        .unwrap_or_else(|| panic!("no {name} among {names:?}"))
}

const ONE_CONNECTION: LoadMode = LoadMode::Closed { concurrency: 1 };

/// 0, the 999 µs / 1 ms boundary, rounding across it, and each unit up to seconds.
#[test]
fn latency_labels_pick_their_unit() {
    assert_eq!(fmt_latency(0.0), "0");
    assert_eq!(fmt_latency(0.85), "850 ns");
    assert_eq!(fmt_latency(20.0), "20 µs");
    assert_eq!(fmt_latency(17.25), "17.3 µs");
    assert_eq!(fmt_latency(999.0), "999 µs");
    assert_eq!(fmt_latency(999.6), "1 ms");
    assert_eq!(fmt_latency(1000.0), "1 ms");
    assert_eq!(fmt_latency(1500.0), "1.5 ms");
    assert_eq!(fmt_latency(2_000_000.0), "2 s");
    assert_eq!(fmt_latency(f64::NAN), "0");
}

/// A linear axis shares one unit chosen from its range, with a bare "0" at the origin.
#[test]
fn a_linear_latency_axis_shares_one_unit() {
    assert_eq!(TimeUnit::for_value(800.0), TimeUnit::Micros);
    assert_eq!(TimeUnit::for_value(1500.0), TimeUnit::Millis);
    assert_eq!(TimeUnit::for_value(3e6), TimeUnit::Seconds);
    let ms = TimeUnit::Millis;
    let labels: Vec<String> = [0.0, 500.0, 1000.0, 1500.0]
        .iter()
        .map(|&us| ms.format(us))
        .collect();
    assert_eq!(labels, ["0", "0.5 ms", "1 ms", "1.5 ms"]);
}

/// Sizes in binary units, 1536 B as "1.5 KiB", and the unit switch at exactly 1024.
#[test]
fn size_labels_use_binary_units() {
    assert_eq!(fmt_bytes(0.0), "0 B");
    assert_eq!(fmt_bytes(16.0), "16 B");
    assert_eq!(fmt_bytes(1000.0), "1000 B");
    assert_eq!(fmt_bytes(1023.0), "1023 B");
    assert_eq!(fmt_bytes(1024.0), "1 KiB");
    assert_eq!(fmt_bytes(1536.0), "1.5 KiB");
    assert_eq!(fmt_bytes(4096.0), "4 KiB");
    assert_eq!(fmt_bytes(64.0 * 1024.0), "64 KiB");
    assert_eq!(fmt_bytes(1024.0 * 1024.0), "1 MiB");
}

/// Rates, counts and ratios: k and M suffixes, the × sign, three significant digits.
#[test]
fn rates_counts_and_ratios_are_short() {
    assert_eq!(fmt_rate(850.0), "850/s");
    assert_eq!(fmt_rate(12_000.0), "12k/s");
    assert_eq!(fmt_rate(1_234_567.0), "1.23M/s");
    assert_eq!(fmt_rate(999_999.0), "1M/s");
    assert_eq!(fmt_count(1.0), "1");
    assert_eq!(fmt_count(5000.0), "5k");
    assert_eq!(fmt_ratio(1.2), "1.2×");
    assert_eq!(fmt_ratio(1.0), "1×");
    assert_eq!(fmt_ratio(0.25), "0.25×");
    assert_eq!(fmt_number(100.0), "100");
    assert_eq!(fmt_number(0.0), "0");
}

/// Log ticks fall on 1-2-5 steps that enclose the data, or on powers of ten when 1-2-5
/// would crowd the axis.
#[test]
fn log_ticks_are_1_2_5_or_powers_of_ten() {
    assert_eq!(log_ticks(15.0, 30.0), [10.0, 20.0, 50.0]);
    assert_eq!(log_ticks(20.0, 20.0), [20.0]);
    assert_eq!(
        log_ticks(17.0, 3000.0),
        [
            10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0
        ]
    );
    assert_eq!(log_ticks(12.0, 2e6), [10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7]);
    assert_eq!(log_ticks(0.9, 4.0), [0.5, 1.0, 2.0, 5.0]);
    assert!(log_ticks(0.0, 10.0).is_empty());
    assert!(log_ticks(10.0, f64::INFINITY).is_empty());
}

/// Linear ticks start at zero, step by 1, 2, 2.5 or 5 times a power of ten and reach the
/// maximum.
#[test]
fn linear_ticks_are_round_and_reach_the_top() {
    assert_eq!(linear_ticks(45.0), [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
    assert_eq!(
        linear_ticks(2400.0),
        [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0]
    );
    assert_eq!(linear_ticks(1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert!(linear_ticks(0.0).is_empty());
}

/// The footer names CPU, cores, kernel, compiler, build, commit and UTC date; odd dates pass.
#[test]
fn the_footer_names_the_machine_and_the_date() {
    let footer = Footer::from_report(&report(&[ONE_CONNECTION]));
    assert_eq!(footer.date, "2026-12-03 13:45 UTC");
    for part in [
        CPU,
        "2 cores",
        "kernel 6.1.0-test",
        "rustc 1.91.0",
        "release build",
    ] {
        assert!(footer.machine.contains(part), "{part} not in {footer:?}");
    }
    assert!(
        footer.machine.contains("commit 0123456789-dirty"),
        "{footer:?}"
    );
    assert!(!footer.machine.contains("f8297e351"), "{footer:?}");
    let unshaped = Footer::new(&report(&[ONE_CONNECTION]).machine, "µ-day");
    assert_eq!(unshaped.date, "µ-day");
}

/// Every chart of a run carries the footer; every axis label has a unit, never "100.000".
#[test]
fn every_chart_has_units_and_the_footer() {
    let report = report(&[ONE_CONNECTION, LoadMode::Closed { concurrency: 16 }]);
    let footer = Footer::from_report(&report);
    let charts = charts::run_charts(&report);
    for slug in ["closed-c-1-proto", "closed-c-16-proto"] {
        for metric in ["p50", "p99", "throughput", "p50-vs-tcp"] {
            chart(&charts, &format!("chart-{metric}-{slug}.svg"));
        }
    }
    chart(&charts, "chart-bars-p50-closed-1-proto.svg");
    assert!(
        !charts
            .iter()
            .any(|(name, _)| name.contains("bars") && name.contains("16")),
        "a bar chart for 16 connections: {:?}",
        charts.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, svg) in &charts {
        let labels = texts(svg);
        assert!(
            has_footer(&labels, &footer),
            "{name}: no footer in {labels:?}"
        );
        assert!(
            !labels.iter().any(|l| is_unitless_decimal(l)),
            "{name}: a label without a unit in {labels:?}"
        );
    }
    let p50 = texts(chart(&charts, "chart-p50-closed-c-1-proto.svg"));
    for label in ["16 B", "4 KiB", "64 KiB", "1 MiB", "20 µs", "1 ms"] {
        assert!(p50.contains(&label.to_string()), "no {label} in {p50:?}");
    }
    assert!(
        p50.iter().any(|l| l.contains("(µs, ms, log scale)")),
        "{p50:?}"
    );
    assert!(p50.iter().any(|l| l == "REST HTTP/2"), "{p50:?}");
    let rate = texts(chart(&charts, "chart-throughput-closed-c-1-proto.svg"));
    assert!(rate.iter().any(|l| l.ends_with("k/s")), "{rate:?}");
    let ratio = texts(chart(&charts, "chart-p50-vs-tcp-closed-c-1-proto.svg"));
    assert!(ratio.contains(&"1×".to_string()), "{ratio:?}");
}

/// The bar chart draws one bar, one error bar and one value per transport and size.
#[test]
fn the_bar_chart_has_one_error_bar_per_bar() {
    let report = report(&[ONE_CONNECTION]);
    let charts = charts::run_charts(&report);
    let svg = chart(&charts, "chart-bars-p50-closed-1-proto.svg");
    let bars = SIZES.len() * Transport::ALL.len();
    let error_bars = svg
        .split("<polyline")
        .skip(1)
        .filter(|tag| tag.contains(ERROR_BAR_STROKE))
        .count();
    assert_eq!(error_bars, bars, "{svg}");
    let labels = texts(svg);
    for size in ["16 B payload", "256 B payload", "1 MiB payload"] {
        assert!(
            labels.contains(&size.to_string()),
            "no {size} in {labels:?}"
        );
    }
    // The value written above each bar is its median, in the unit that suits it.
    let tcp_16 = fmt_latency(made_up_p50(Transport::Tcp, 16));
    assert_eq!(tcp_16, "17 µs");
    assert!(labels.contains(&tcp_16), "{labels:?}");
    let http2_1m = fmt_latency(made_up_p50(Transport::Http2, 1024 * 1024));
    assert_eq!(http2_1m, "2.17 ms");
    assert!(labels.contains(&http2_1m), "{labels:?}");
    for transport in Transport::ALL {
        assert!(labels.iter().any(|l| l == transport.label()), "{labels:?}");
    }
}

/// A transport whose every request failed gets "failed" in place of a bar and no error bar.
#[test]
fn a_failed_cell_is_marked_not_drawn() {
    let mut report = report(&[ONE_CONNECTION]);
    let failed = report
        .results
        .echo
        .iter_mut()
        .find(|c| c.spec.transport == Transport::Http2 && c.spec.size == 16)
        .unwrap();
    failed.median = figures(0.0);
    failed.p50_spread_us = (0.0, 0.0);
    let charts = charts::run_charts(&report);
    let svg = chart(&charts, "chart-bars-p50-closed-1-proto.svg");
    let error_bars = svg.matches(ERROR_BAR_STROKE).count();
    assert_eq!(error_bars, SIZES.len() * Transport::ALL.len() - 1);
    assert!(texts(svg).contains(&"failed".to_string()));
}

/// One slow repetition does not stretch its panel: the axis stays in µs, the bar is cut.
#[test]
fn an_outlier_repetition_is_cut_at_the_axis() {
    let mut report = report(&[ONE_CONNECTION]);
    report.results.echo.retain(|c| c.spec.size == 16);
    let stalled = report
        .results
        .echo
        .iter_mut()
        .find(|c| c.spec.transport == Transport::Tcp)
        .unwrap();
    stalled.p50_spread_us = (15.0, 2800.0);
    let charts = charts::run_charts(&report);
    let svg = chart(&charts, "chart-bars-p50-closed-1-proto.svg");
    let labels = texts(svg);
    assert!(labels.contains(&"100 µs".to_string()), "{labels:?}");
    assert!(!labels.iter().any(|l| l.ends_with(" ms")), "{labels:?}");
    assert_eq!(svg.matches(ERROR_BAR_STROKE).count(), Transport::ALL.len());
    assert!(
        svg.contains("fill=\"#222222\""),
        "no arrow on the cut error bar"
    );
    assert!(labels.contains(&"17 µs".to_string()), "{labels:?}");
}

/// A footer too long for one line (a long CPU name) is drawn on two, not cut off.
#[test]
fn a_long_footer_takes_two_lines() {
    let mut report = report(&[ONE_CONNECTION]);
    report.machine.cpu_model = "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz".into();
    let footer = Footer::from_report(&report);
    for (name, svg) in charts::run_charts(&report) {
        let labels = texts(&svg);
        assert!(!labels.contains(&footer.text()), "{name}: one line");
        assert!(labels.contains(&footer.machine), "{name}: {labels:?}");
        assert!(
            labels.contains(&"run 2026-12-03 13:45 UTC".to_string()),
            "{labels:?}"
        );
    }
}

/// Charts drawn from bare results have no machine to name, so no footer.
#[test]
fn bare_results_draw_no_footer() {
    let report = report(&[ONE_CONNECTION]);
    for (name, svg) in charts::echo_charts(&report.results) {
        assert!(!svg.contains(CPU), "{name} has a footer");
    }
}

/// The fan-out chart: a label and a p50 and a p99 line per server, subscriber ticks with k,
/// latency ticks with units, the footer; nothing to draw gives no chart.
#[test]
fn the_fanout_chart_draws_a_line_pair_per_server() {
    let footer = Footer::from_report(&report(&[ONE_CONNECTION]));
    let series: Vec<FanoutSeries> = [("WebSocket (lab-broadcast)", 1.0), ("Socket.IO", 3.0)]
        .iter()
        .map(|&(label, factor)| FanoutSeries {
            label: label.into(),
            points: [1, 10, 100, 1000, 5000]
                .iter()
                .map(|&subscribers| FanoutPoint {
                    subscribers,
                    p50_us: factor * (30.0 + subscribers as f64 * 2.0),
                    p99_us: factor * (60.0 + subscribers as f64 * 6.0),
                })
                .collect(),
        })
        .collect();
    let svg =
        charts::fanout_chart("Fan-out: one publish, N subscribers", &series, &footer).unwrap();
    let labels = texts(&svg);
    // The long label wraps onto two lines of the legend rather than running off the chart.
    for label in [
        "WebSocket",
        "(lab-broadcast)",
        "Socket.IO",
        "p50 (solid)",
        "p99 (dashed)",
        "1",
        "1k",
        "10k",
        "100 µs",
        "10 ms",
    ] {
        assert!(
            labels.contains(&label.to_string()),
            "no {label} in {labels:?}"
        );
    }
    assert!(has_footer(&labels, &footer), "{labels:?}");
    assert!(!labels.iter().any(|l| is_unitless_decimal(l)), "{labels:?}");
    assert!(
        labels
            .iter()
            .any(|l| l.contains("delivery latency (µs, ms")),
        "{labels:?}"
    );
    let empty = [FanoutSeries {
        label: "nobody".into(),
        points: vec![FanoutPoint {
            subscribers: 0,
            p50_us: 0.0,
            p99_us: 0.0,
        }],
    }];
    assert!(charts::fanout_chart("empty", &empty, &footer).is_none());
    assert!(charts::fanout_chart("none", &[], &footer).is_none());
}
