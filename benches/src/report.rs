//! Writing a run out: a table for the terminal, and files for an instructor (JSON with
//! everything, CSV for a spreadsheet, Markdown for the book, plus the charts).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::LoadMode;
use crate::delivery::{DeliveryResult, Receiving};
use crate::machine::MachineInfo;
use crate::run::{EchoCell, RunConfig, RunResults};

/// A run with everything needed to reproduce and judge it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// When the run started (UTC, ISO 8601).
    pub started_at: String,
    /// The exact command line.
    pub command: String,
    /// The machine it ran on.
    pub machine: MachineInfo,
    /// What it measured.
    pub config: RunConfig,
    /// How the processes were placed: cores and runtime threads.
    pub placement: String,
    /// What it found.
    pub results: RunResults,
}

/// Formats microseconds with sensible precision: 3 significant digits below 100.
pub fn fmt_us(us: f64) -> String {
    if us == 0.0 {
        "-".into()
    } else if us < 10.0 {
        format!("{us:.2}")
    } else if us < 100.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

/// What a table shows where a figure has no raw-TCP baseline in the run: a dash, so an
/// absent ratio cannot be mistaken for a measured one (an empty cell reads as "forgot").
pub const NO_RATIO: &str = "—";

/// Formats a ratio to raw TCP: `1.19×`, or [`NO_RATIO`] when there is none.
fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{r:.2}×"),
        None => NO_RATIO.to_string(),
    }
}

/// Formats a payload size: `16 B`, `4 KiB`, `1 MiB`.
pub fn fmt_size(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size.is_multiple_of(1 << 10) {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// Formats a rate with thousands separated by a thin space.
fn fmt_rate(rate: f64) -> String {
    let n = rate.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A table: a header and rows of cells, rendered aligned for a terminal or as Markdown.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    fn terminal(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i < 2 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut out = line(&self.header);
        out.push('\n');
        out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out.push('\n');
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("| {} |\n", self.header.join(" | "));
        let align: Vec<&str> = (0..self.header.len())
            .map(|i| if i < 2 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "|{}|", align.join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

/// The echo cells grouped by (mode, encoding), each group a table.
fn echo_tables(results: &RunResults) -> Vec<(String, Table)> {
    let mut groups: Vec<(String, Table)> = Vec::new();
    for cell in &results.echo {
        let title = format!(
            "Echo, {}, {} encoding",
            cell.spec.mode.label(),
            cell.spec.encoding
        );
        if groups.last().is_none_or(|(t, _)| *t != title) {
            let open = matches!(cell.spec.mode, LoadMode::Open { .. });
            let rate_col = if open { "achieved/s" } else { "req/s" };
            groups.push((
                title,
                Table::new(&[
                    "size",
                    "transport",
                    "p50 µs",
                    "×tcp",
                    "p99 µs",
                    "×tcp",
                    "p99.9 µs",
                    "max µs",
                    rate_col,
                    "×tcp",
                    "p50 spread µs",
                    "B/msg out+in",
                    "srv CPU µs/msg",
                    "errors",
                ]),
            ));
        }
        if let Some((_, table)) = groups.last_mut() {
            table.push(echo_row(cell));
        }
    }
    groups
}

fn echo_row(cell: &EchoCell) -> Vec<String> {
    let m = &cell.median;
    let r = cell.vs_tcp.unwrap_or_default();
    vec![
        fmt_size(cell.spec.size),
        cell.spec.transport.label().to_string(),
        fmt_us(m.latency.p50_us),
        fmt_ratio(r.p50),
        fmt_us(m.latency.p99_us),
        fmt_ratio(r.p99),
        fmt_us(m.latency.p999_us),
        fmt_us(m.latency.max_us),
        fmt_rate(m.throughput),
        fmt_ratio(r.throughput),
        format!(
            "{}–{}",
            fmt_us(cell.p50_spread_us.0),
            fmt_us(cell.p50_spread_us.1)
        ),
        format!("{:.0}+{:.0}", m.bytes_out_per_msg, m.bytes_in_per_msg),
        m.server_cpu_us_per_msg.map(fmt_us).unwrap_or_default(),
        m.errors.to_string(),
    ]
}

fn other_tables(results: &RunResults) -> Vec<(String, Table)> {
    let mut tables = Vec::new();
    if !results.setup.is_empty() {
        let mut t = Table::new(&[
            "transport",
            "",
            "p50 µs",
            "×tcp",
            "p99 µs",
            "max µs",
            "per second",
            "B out+in",
            "errors",
        ]);
        for s in &results.setup {
            let f = &s.figures;
            t.push(vec![
                s.transport.label().into(),
                String::new(),
                fmt_us(f.latency.p50_us),
                fmt_ratio(s.p50_vs_tcp),
                fmt_us(f.latency.p99_us),
                fmt_us(f.latency.max_us),
                fmt_rate(f.throughput),
                format!("{:.0}+{:.0}", f.bytes_out_per_msg, f.bytes_in_per_msg),
                f.errors.to_string(),
            ]);
        }
        tables.push((
            "Connection setup (new connection + handshake + first 16 B echo)".to_string(),
            t,
        ));
    }
    if !results.push.is_empty() {
        let mut t = Table::new(&[
            "push",
            "size",
            "p50 µs",
            "p99 µs",
            "max µs",
            "updates/s",
            "B in/update",
            "errors",
        ]);
        for p in &results.push {
            let f = &p.figures;
            t.push(vec![
                p.kind.label().into(),
                fmt_size(p.size as usize),
                fmt_us(f.latency.p50_us),
                fmt_us(f.latency.p99_us),
                fmt_us(f.latency.max_us),
                fmt_rate(f.throughput),
                format!("{:.0}", f.bytes_in_per_msg),
                f.errors.to_string(),
            ]);
        }
        tables.push((
            "Server push (creation on the server → arrival at the client)".to_string(),
            t,
        ));
    }
    if !results.memory.is_empty() {
        let mut t = Table::new(&[
            "transport",
            "",
            "connections",
            "RSS before KiB",
            "RSS after KiB",
            "KiB/connection",
        ]);
        for m in &results.memory {
            match &m.figures {
                Some(f) => t.push(vec![
                    m.transport.label().into(),
                    String::new(),
                    format!("{}/{}", f.ok, f.connections),
                    (f.rss_before / 1024).to_string(),
                    (f.rss_after / 1024).to_string(),
                    format!("{:.1}", f.bytes_per_connection / 1024.0),
                ]),
                None => t.push(vec![
                    m.transport.label().into(),
                    m.error.clone().unwrap_or_default(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]),
            }
        }
        tables.push(("Server memory per idle connection".to_string(), t));
    }
    if !results.ack.is_empty() {
        let mut t = Table::new(&[
            "size",
            "server",
            "p50 µs",
            "p99 µs",
            "max µs",
            "acks/s",
            "srv CPU µs/ack",
            "errors",
        ]);
        for a in &results.ack {
            let f = &a.figures;
            t.push(vec![
                fmt_size(a.size),
                a.server.label().into(),
                fmt_us(f.latency.p50_us),
                fmt_us(f.latency.p99_us),
                fmt_us(f.latency.max_us),
                fmt_rate(f.throughput),
                f.server_cpu_us_per_msg.map(fmt_us).unwrap_or_default(),
                f.errors.to_string(),
            ]);
        }
        tables.push((
            "Request and acknowledgement, one connection, one request at a time".to_string(),
            t,
        ));
    }
    for (title, rows) in [
        (
            "Rooms: one room of N members, a message to the room reaches each",
            &results.rooms,
        ),
        (
            "Fan-out: one publish reaches every subscriber",
            &results.fanout,
        ),
    ] {
        if !rows.is_empty() {
            tables.push((title.to_string(), delivery_table(rows)));
        }
    }
    let floors: Vec<&DeliveryResult> = results
        .fanout
        .iter()
        .filter(|r| r.floor_pass.is_some())
        .collect();
    if !floors.is_empty() {
        let mut t = Table::new(&["subscribers", "pass p50", "p99", "max", "per write"]);
        for r in floors {
            let pass = r.floor_pass.unwrap_or_default();
            t.push(vec![
                r.spec.receivers.to_string(),
                fmt_duration_us(pass.p50_us),
                fmt_duration_us(pass.p99_us),
                fmt_duration_us(pass.max_us),
                fmt_duration_us(pass.p50_us / r.spec.receivers as f64),
            ]);
        }
        tables.push((
            format!(
                "The floor's server: one pass writing a {}-byte frame to every subscriber, one thread",
                crate::floor::FRAME_LEN
            ),
            t,
        ));
    }
    if !results.batching.is_empty() {
        let mut t = Table::new(&[
            "window",
            "broadcasts",
            "frames delivered",
            "update latency p50",
            "p99",
            "max",
            "updates missing",
        ]);
        for b in &results.batching {
            t.push(vec![
                format!("{} ms", b.window_ms),
                b.broadcasts.to_string(),
                b.frames.to_string(),
                fmt_duration_us(b.latency.p50_us),
                fmt_duration_us(b.latency.p99_us),
                fmt_duration_us(b.latency.max_us),
                b.missing.to_string(),
            ]);
        }
        let first = &results.batching[0];
        tables.push((
            format!(
                "Batching: {} subscribers, {} updates/s, the broadcast lab's scaling way",
                first.receivers, first.update_rate
            ),
            t,
        ));
    }
    tables
}

/// A latency in µs, written in ms from a millisecond up: the fan-out tables span both.
pub fn fmt_duration_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// The rows of a rooms or fan-out workload, each with its ratios to Socket.IO's row for the
/// same number of receivers (the comparison the course's goals are stated in).
fn delivery_table(rows: &[DeliveryResult]) -> Table {
    let mut t = Table::new(&[
        "receivers",
        "server",
        "KiB/idle conn",
        "×sio",
        "latency p50",
        "p99",
        "×sio",
        "max",
        "missing",
        "burst deliveries/s",
        "×sio",
        "srv CPU µs/delivery",
        "missing",
        "client cores busy",
    ]);
    for r in rows {
        let sio = rows
            .iter()
            .find(|o| o.server == Receiving::SocketIo && o.spec.receivers == r.spec.receivers);
        let vs = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => format!("{:.2}×", a / b),
            _ => NO_RATIO.to_string(),
        };
        t.push(vec![
            r.spec.receivers.to_string(),
            r.server.label().into(),
            r.idle_bytes_per_conn
                .map(|b| format!("{:.1}", b / 1024.0))
                .unwrap_or_default(),
            vs(
                r.idle_bytes_per_conn,
                sio.and_then(|s| s.idle_bytes_per_conn),
            ),
            fmt_duration_us(r.latency.p50_us),
            fmt_duration_us(r.latency.p99_us),
            vs(Some(r.latency.p99_us), sio.map(|s| s.latency.p99_us)),
            fmt_duration_us(r.latency.max_us),
            r.latency_expected
                .saturating_sub(r.latency_received)
                .to_string(),
            format!("{:.0}", r.burst_per_second),
            vs(Some(r.burst_per_second), sio.map(|s| s.burst_per_second)),
            r.server_cpu_us_per_delivery
                .map(|c| format!("{c:.2}"))
                .unwrap_or_default(),
            r.burst_expected
                .saturating_sub(r.burst_received)
                .to_string(),
        ]);
    }
    t
}

/// The tables for the terminal.
pub fn terminal_tables(results: &RunResults) -> String {
    let mut out = String::new();
    for (title, table) in echo_tables(results)
        .into_iter()
        .chain(other_tables(results))
    {
        let _ = write!(out, "\n{title}\n{}", table.terminal());
    }
    for why in &results.skipped {
        let _ = writeln!(out, "\nskipped: {why}");
    }
    out
}

/// The Markdown report: machine, command, then every table.
pub fn markdown(report: &RunReport) -> String {
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Comparison harness results\n");
    let _ = writeln!(out, "- Started: {}", report.started_at);
    let _ = writeln!(out, "- Command: `{}`", report.command);
    let _ = writeln!(
        out,
        "- Machine: {} ({} cores), kernel {}, {}",
        m.cpu_model, m.cores, m.kernel, m.os
    );
    let _ = writeln!(out, "- Build: {}, {}", m.rustc, m.profile);
    let _ = writeln!(out, "- Commit: {}", m.git_commit);
    let _ = writeln!(out, "- Placement: {}", report.placement);
    let _ = writeln!(
        out,
        "- Each figure is the median of {} repetitions of {:.1} s (after {:.1} s of warm-up); \
         latencies in microseconds; ×tcp is the ratio to raw TCP in the same run ({NO_RATIO} \
         where raw TCP has no figure to compare with); bytes counted at the client's socket.",
        report.config.repetitions,
        report.config.duration.as_secs_f64(),
        report.config.warmup.as_secs_f64()
    );
    for (title, table) in echo_tables(&report.results)
        .into_iter()
        .chain(other_tables(&report.results))
    {
        let _ = write!(out, "\n## {title}\n\n{}", table.markdown());
    }
    if !report.results.skipped.is_empty() {
        let _ = writeln!(out, "\n## Skipped\n");
        for why in &report.results.skipped {
            let _ = writeln!(out, "- {why}");
        }
    }
    out
}

/// One CSV row per echo cell, with every figure and ratio.
pub fn echo_csv(results: &RunResults) -> String {
    let mut out = String::from(
        "mode,concurrency_or_connections,target_rate,encoding,size_bytes,transport,\
         p50_us,p90_us,p99_us,p999_us,max_us,mean_us,throughput,throughput_min,throughput_max,\
         p50_min_us,p50_max_us,ok,errors,bytes_out_per_msg,bytes_in_per_msg,\
         server_cpu_us_per_msg,client_cpu_us_per_msg,\
         p50_vs_tcp,p99_vs_tcp,p999_vs_tcp,throughput_vs_tcp,bytes_vs_tcp,server_cpu_vs_tcp\n",
    );
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_default();
    for c in &results.echo {
        let (mode, conns, rate) = match c.spec.mode {
            LoadMode::Closed { concurrency } => ("closed", concurrency, String::new()),
            LoadMode::Open { rate, connections } => ("open", connections, rate.to_string()),
        };
        let m = &c.median;
        let r = c.vs_tcp;
        let _ = writeln!(
            out,
            "{mode},{conns},{rate},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.1},{:.1},{:.3},{:.3},{},{},{:.1},{:.1},{},{},{},{},{},{},{},{}",
            c.spec.encoding,
            c.spec.size,
            c.spec.transport,
            m.latency.p50_us,
            m.latency.p90_us,
            m.latency.p99_us,
            m.latency.p999_us,
            m.latency.max_us,
            m.latency.mean_us,
            m.throughput,
            c.throughput_spread.0,
            c.throughput_spread.1,
            c.p50_spread_us.0,
            c.p50_spread_us.1,
            m.ok,
            m.errors,
            m.bytes_out_per_msg,
            m.bytes_in_per_msg,
            opt(m.server_cpu_us_per_msg),
            opt(m.client_cpu_us_per_msg),
            opt(r.and_then(|r| r.p50)),
            opt(r.and_then(|r| r.p99)),
            opt(r.and_then(|r| r.p999)),
            opt(r.and_then(|r| r.throughput)),
            opt(r.and_then(|r| r.bytes_per_msg)),
            opt(r.and_then(|r| r.server_cpu)),
        );
    }
    out
}

/// Writes `report.json`, `echo.csv`, `results.md`, `machine.json`, `command.txt` and the
/// charts into `dir` (created if needed). Returns the files written.
pub fn write_files(report: &RunReport, dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut write = |name: &str, contents: &[u8]| -> std::io::Result<()> {
        std::fs::write(dir.join(name), contents)?;
        written.push(name.to_string());
        Ok(())
    };
    write("report.json", pretty(report).as_bytes())?;
    write("machine.json", pretty(&report.machine).as_bytes())?;
    write("command.txt", format!("{}\n", report.command).as_bytes())?;
    write("echo.csv", echo_csv(&report.results).as_bytes())?;
    write("results.md", markdown(report).as_bytes())?;
    for (name, svg) in crate::charts::run_charts(report) {
        write(&name, svg.as_bytes())?;
    }
    Ok(written)
}

/// Pretty JSON of a report part.
fn pretty<T: Serialize>(value: &T) -> String {
    // Invariant: our report types contain only numbers, strings, lists and maps.
    serde_json::to_string_pretty(value).expect("the report serializes to JSON")
}
