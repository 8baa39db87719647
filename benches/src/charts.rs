//! SVG charts of a run, drawn with plotters, sized and labelled to go straight onto a slide.
//!
//! Three kinds of chart, each with the machine and the date of the run in a grey footer
//! (a number means little without the machine that produced it):
//!
//! - a line chart per metric (p50, p99, throughput, p50 ÷ raw TCP) against payload size, one
//!   line per transport, on log scales (16 B to 1 MiB spans five orders of magnitude), except
//!   the ratio, read off a linear axis from zero ("4× raw TCP");
//! - a bar chart of the one-connection medians, one panel per payload size with its own
//!   linear axis, one bar per transport, the spread over the repetitions as an error bar
//!   (cut at the top of the axis, with an arrow, when one slow repetition would squash the
//!   bars);
//! - a fan-out chart, [`fanout_chart`]: delivery latency against the number of subscribers,
//!   p50 solid and p99 dashed, one colour per server.
//!
//! What makes a chart readable is mostly its ticks. Every tick carries its unit ("20 µs",
//! "1.5 ms", "4 KiB", "12k/s", "1.2×"), chosen from the value or the axis range by the
//! `fmt_*` functions below, and log axes put their ticks at 1-2-5 steps or at powers of ten,
//! with the axis stretched to the ticks around the data so both ends are labelled.
//!
//! Text in the SVG is left to the viewer's font: plotters is built without its font
//! features, so the charts work on a fresh machine with no fonts installed. It cannot measure
//! labels either, so the label areas have fixed sizes chosen for the longest label we draw
//! ("WebSocket, Node ws", "2.17 ms"), and legends are laid out from an estimated width.
//! Where the labels would not fit side by side, they turn (bar values are written upwards)
//! or wrap (long legend labels).
//!
//! `cargo run --release -p bench --bin bench -- run --preset quick` writes them next to the
//! other result files; chapter 11 of the book shows them.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::config::LoadMode;
use crate::machine::MachineInfo;
use crate::report::RunReport;
use crate::run::{EchoCell, RunResults};
use crate::transport::Transport;

/// Width of every chart in pixels: fits a 16:9 slide and a 940-pixel browser window.
const WIDTH: u32 = 900;
/// Height of every chart in pixels.
const HEIGHT: u32 = 560;
/// The strip at the bottom that holds the footer.
const FOOTER_HEIGHT: u32 = 24;
/// The column on the right that holds the legend of the line charts: wide enough for
/// "WebSocket, Node ws" at 13 px next to its line sample.
const LEGEND_WIDTH: u32 = 178;
/// The longest legend line in that column; longer labels wrap at a space.
const LEGEND_CHARS: usize = 18;
/// More ticks than this on a log axis and it falls back to powers of ten only.
const MAX_LOG_TICKS: usize = 9;
/// How far above the tallest median of a bar panel an error bar may reach before it is cut
/// at the top of the axis: further than that, it is one slow repetition, not the spread.
const OUTLIER_REACH: f64 = 1.6;
/// The colour of error bars and of nothing else, so a test can count them.
const ERROR_BAR: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Footer and reference-line grey: visible, but quieter than the data.
const QUIET: RGBColor = RGBColor(0x70, 0x70, 0x70);
/// One colour per series, from Tableau 10: distinct on a projector, none of them garish.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xed, 0xc9, 0x48),
];

// ---------------------------------------------------------------------------------------
// Formatting numbers for ticks and labels
// ---------------------------------------------------------------------------------------

/// Rounds `x` to three significant digits, so that the unit is chosen from what will be
/// printed: 999.6 µs prints as "1 ms", not "1000 µs".
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(2 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// `x` with at most three significant digits and no trailing zeros: "1.5", "20", "999",
/// "0.25". Zero, and anything that is not a finite number, print as "0".
pub fn fmt_number(x: f64) -> String {
    let x = round_sig(x);
    if x == 0.0 || !x.is_finite() {
        return "0".into();
    }
    let decimals = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A latency given in microseconds, in the unit that suits it: "850 ns", "20 µs", "999 µs",
/// "1 ms", "1.5 ms", "2 s". Zero (an empty measurement) prints as "0".
pub fn fmt_latency(us: f64) -> String {
    let us = round_sig(us);
    if us <= 0.0 || !us.is_finite() {
        "0".into()
    } else if us < 1.0 {
        format!("{} ns", fmt_number(us * 1e3))
    } else {
        TimeUnit::for_value(us).format(us)
    }
}

/// A size in bytes, in binary units: "16 B", "1000 B", "1.5 KiB", "4 KiB", "1 MiB".
/// (`report::fmt_size` prints exact sizes for tables; a tick may fall between them.)
pub fn fmt_bytes(bytes: f64) -> String {
    const KIB: f64 = 1024.0;
    const MIB: f64 = KIB * 1024.0;
    const GIB: f64 = MIB * 1024.0;
    if !bytes.is_finite() || bytes <= 0.0 {
        return "0 B".into();
    }
    // Each unit is entered when the value would print as 1 of it, not 1024 of the smaller.
    if bytes.round() < KIB {
        format!("{} B", bytes.round())
    } else if bytes < MIB && round_sig(bytes / KIB) < KIB {
        format!("{} KiB", fmt_number(bytes / KIB))
    } else if bytes < GIB && round_sig(bytes / MIB) < KIB {
        format!("{} MiB", fmt_number(bytes / MIB))
    } else {
        format!("{} GiB", fmt_number(bytes / GIB))
    }
}

/// A count with a k or M suffix: "1", "500", "1k", "12k", "1.2M". For subscribers.
pub fn fmt_count(n: f64) -> String {
    let n = round_sig(n);
    if !n.is_finite() || n <= 0.0 {
        "0".into()
    } else if n < 1e3 {
        fmt_number(n)
    } else if n < 1e6 {
        format!("{}k", fmt_number(n / 1e3))
    } else {
        format!("{}M", fmt_number(n / 1e6))
    }
}

/// A rate per second: "850/s", "12k/s", "1.2M/s".
pub fn fmt_rate(per_second: f64) -> String {
    format!("{}/s", fmt_count(per_second))
}

/// A ratio: "1.2×", "0.5×", "10×".
pub fn fmt_ratio(ratio: f64) -> String {
    format!("{}×", fmt_number(ratio))
}

/// The unit of a linear latency axis, chosen once from the axis range so every tick of the
/// axis shares it ("0", "0.5 ms", "1 ms", "1.5 ms"; not "500 µs" next to "1 ms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Microseconds: the unit of one round trip on loopback.
    Micros,
    /// Milliseconds: large payloads, stalls, fan-out to thousands.
    Millis,
    /// Seconds: a server that has fallen behind.
    Seconds,
}

impl TimeUnit {
    /// The unit in which `us` microseconds prints with one to three digits before the point.
    pub fn for_value(us: f64) -> Self {
        let us = round_sig(us.abs());
        if us < 1e3 {
            TimeUnit::Micros
        } else if us < 1e6 {
            TimeUnit::Millis
        } else {
            TimeUnit::Seconds
        }
    }

    /// The symbol printed after the number.
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Micros => "µs",
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
        }
    }

    /// Microseconds per one of this unit.
    fn micros(self) -> f64 {
        match self {
            TimeUnit::Micros => 1.0,
            TimeUnit::Millis => 1e3,
            TimeUnit::Seconds => 1e6,
        }
    }

    /// `us` microseconds in this unit: "1.5 ms"; zero prints as "0".
    pub fn format(self, us: f64) -> String {
        if us == 0.0 {
            return "0".into();
        }
        format!("{} {}", fmt_number(us / self.micros()), self.symbol())
    }
}

/// Tick values for a log axis covering `lo..=hi` (both above zero): 1-2-5 steps
/// (10, 20, 50, 100, …) when that gives at most nine ticks, else powers of ten. The first
/// tick is at or below `lo` and the last at or above `hi`, so an axis drawn from the first
/// to the last tick is labelled at both ends. Empty if the bounds are not positive numbers.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return Vec::new();
    }
    let first = lo.log10().floor() as i32 - 1;
    let last = hi.log10().ceil() as i32 + 1;
    let steps: [&[f64]; 2] = [&[1.0, 2.0, 5.0], &[1.0]];
    let mut ticks = Vec::new();
    for mantissas in steps {
        let all: Vec<f64> = (first..=last)
            .flat_map(|exp| {
                mantissas
                    .iter()
                    .map(move |m| round_sig(m * 10f64.powi(exp)))
            })
            .collect();
        // Invariant: `all` runs from a decade below `lo` to one above `hi`, so both exist.
        let start = all.iter().rposition(|&t| t <= lo).unwrap_or(0);
        let end = all.iter().position(|&t| t >= hi).unwrap_or(all.len() - 1);
        ticks = all[start..=end].to_vec();
        if ticks.len() <= MAX_LOG_TICKS {
            break;
        }
    }
    ticks
}

/// Tick values for a linear axis from zero to at least `max`: a step of 1, 2, 2.5 or 5
/// times a power of ten, giving at most five intervals. Empty if `max` is not above zero.
pub fn linear_ticks(max: f64) -> Vec<f64> {
    if !(max > 0.0 && max.is_finite()) {
        return Vec::new();
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let intervals = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=intervals)
        .map(|i| round_sig(i as f64 * step))
        .collect()
}

/// Ticks for a payload-size axis: the measured sizes themselves when there are few (they are
/// what the reader looks up), else powers of two spaced to keep at most eight.
fn size_ticks(sizes: &[f64]) -> Vec<f64> {
    let mut sizes: Vec<f64> = sizes.to_vec();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    if sizes.len() <= 8 {
        return sizes;
    }
    let lo = sizes[0].log2().floor() as i32;
    let hi = sizes[sizes.len() - 1].log2().ceil() as i32;
    let stride = ((hi - lo) as usize).div_ceil(7).max(1);
    (lo..=hi)
        .step_by(stride)
        .map(|exp| 2f64.powi(exp))
        .collect()
}

/// The units that appear among latency ticks, for the axis description: "µs" or "µs, ms".
fn units_of(ticks: &[f64]) -> String {
    let mut units: Vec<&str> = Vec::new();
    for &t in ticks {
        let unit = if t < 1.0 {
            "ns"
        } else {
            TimeUnit::for_value(t).symbol()
        };
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    units.join(", ")
}

// ---------------------------------------------------------------------------------------
// The footer
// ---------------------------------------------------------------------------------------

/// The grey line at the bottom of every chart: which machine produced the numbers, and when.
/// A chart copied onto a slide loses the files around it; the footer goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// CPU, cores, OS, kernel, compiler, build profile and commit, on one line.
    pub machine: String,
    /// The UTC date (and minute) the run started: "2026-12-03 13:45 UTC".
    pub date: String,
}

impl Footer {
    /// The footer of a run on `machine` that started at `started_at` (ISO 8601, UTC, as
    /// [`RunReport::started_at`] holds it).
    pub fn new(machine: &MachineInfo, started_at: &str) -> Self {
        // "rustc 1.91.0 (f8297e351 2025-10-28)": the version is enough on a slide.
        let rustc: Vec<&str> = machine.rustc.split_whitespace().take(2).collect();
        let commit = match machine.git_commit.strip_suffix("-dirty") {
            Some(commit) => format!("{}-dirty", short_commit(commit)),
            None => short_commit(&machine.git_commit).to_string(),
        };
        let machine = format!(
            "{} · {} cores · {} · kernel {} · {} · {} build · commit {}",
            machine.cpu_model,
            machine.cores,
            machine.os,
            machine.kernel,
            rustc.join(" "),
            machine.profile,
            commit
        );
        Self {
            machine,
            date: utc_date(started_at),
        }
    }

    /// The footer of `report`'s run.
    pub fn from_report(report: &RunReport) -> Self {
        Self::new(&report.machine, &report.started_at)
    }

    /// The text drawn: machine, then date.
    pub fn text(&self) -> String {
        format!("{} · run {}", self.machine, self.date)
    }
}

/// The first ten hex digits of a commit: enough to find it, short enough for a footer.
fn short_commit(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

/// "2026-12-03T13:45:12Z" → "2026-12-03 13:45 UTC"; anything else is kept as it is.
fn utc_date(iso: &str) -> String {
    match (iso.get(..10), iso.get(10..11), iso.get(11..16)) {
        (Some(day), Some("T"), Some(time)) if iso.ends_with('Z') => format!("{day} {time} UTC"),
        _ => iso.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// The charts of a run
// ---------------------------------------------------------------------------------------

/// Every chart of a run, footer included, as `(file name, SVG text)`: what
/// `report::write_files` writes next to the other result files.
pub fn run_charts(report: &RunReport) -> Vec<(String, String)> {
    charts_of(&report.results, Some(&Footer::from_report(report)))
}

/// The same charts drawn from bare results, without a footer: for results built by hand,
/// which have no machine or date to show. A run writes [`run_charts`] instead.
pub fn echo_charts(results: &RunResults) -> Vec<(String, String)> {
    charts_of(results, None)
}

/// What to plot against payload size from each cell, and how to name it.
struct Metric {
    /// Part of the file name.
    slug: &'static str,
    /// The start of the chart's title, which goes on to name the group.
    title: &'static str,
    /// What the y axis measures, without its unit.
    axis: &'static str,
    /// How its ticks are formatted.
    scale: Scale,
    /// The value of a cell.
    value: fn(&EchoCell) -> Option<f64>,
}

/// The kinds of value a y axis can hold, each with its own tick format.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// Microseconds.
    Latency,
    /// Per second.
    Rate,
    /// A ratio to raw TCP.
    Ratio,
}

impl Scale {
    /// The tick label of `y`.
    fn format(self, y: f64) -> String {
        match self {
            Scale::Latency => fmt_latency(y),
            Scale::Rate => fmt_rate(y),
            Scale::Ratio => fmt_ratio(y),
        }
    }

    /// The unit named in the axis description, given the ticks drawn.
    fn unit(self, ticks: &[f64]) -> String {
        match self {
            Scale::Latency => units_of(ticks),
            Scale::Rate => "requests/s".into(),
            Scale::Ratio => "×".into(),
        }
    }
}

const METRICS: [Metric; 4] = [
    Metric {
        slug: "p50",
        title: "Echo p50 latency by payload size",
        axis: "p50 round-trip latency",
        scale: Scale::Latency,
        value: |c| positive(c.median.latency.p50_us),
    },
    Metric {
        slug: "p99",
        title: "Echo p99 latency by payload size",
        axis: "p99 round-trip latency",
        scale: Scale::Latency,
        value: |c| positive(c.median.latency.p99_us),
    },
    Metric {
        slug: "throughput",
        title: "Echo throughput by payload size",
        axis: "throughput",
        scale: Scale::Rate,
        value: |c| positive(c.median.throughput),
    },
    Metric {
        slug: "p50-vs-tcp",
        title: "Echo p50 latency relative to raw TCP",
        axis: "p50 latency ÷ raw TCP's",
        scale: Scale::Ratio,
        value: |c| c.vs_tcp.and_then(|r| r.p50).and_then(positive),
    },
];

fn positive(x: f64) -> Option<f64> {
    (x > 0.0 && x.is_finite()).then_some(x)
}

/// The line charts of every (load mode, encoding) group with at least one measured value,
/// then the bar chart of every closed-loop, one-connection group.
fn charts_of(results: &RunResults, footer: Option<&Footer>) -> Vec<(String, String)> {
    let mut groups: Vec<(String, Vec<&EchoCell>)> = Vec::new();
    for cell in results.echo.iter() {
        let key = format!("{} {}", cell.spec.mode.label(), cell.spec.encoding);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cells)) => cells.push(cell),
            None => groups.push((key, vec![cell])),
        }
    }
    let mut charts = Vec::new();
    for (key, cells) in &groups {
        let slug = slug(key);
        for metric in &METRICS {
            if let Some(svg) =
                line_chart(&format!("{}, {key}", metric.title), metric, cells, footer)
            {
                charts.push((format!("chart-{}-{slug}.svg", metric.slug), svg));
            }
        }
    }
    for (_, cells) in &groups {
        let one_connection = cells
            .first()
            .is_some_and(|c| c.spec.mode == LoadMode::Closed { concurrency: 1 });
        if !one_connection {
            continue;
        }
        let encoding = cells[0].spec.encoding;
        let title = format!("Echo over one connection, {encoding}: median p50 per transport");
        if let Some(svg) = bar_chart(&title, cells, footer) {
            charts.push((format!("chart-bars-p50-closed-1-{encoding}.svg"), svg));
        }
    }
    charts
}

/// `closed c=1 proto` → `closed-c-1-proto`: a file-name part.
fn slug(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The colour of `transport`, the same in every chart of a run.
fn transport_color(transport: Transport) -> RGBColor {
    let index = Transport::ALL
        .iter()
        .position(|t| *t == transport)
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// Draws into a fresh SVG string; a chart is never worth failing a run for, so an error is
/// logged and gives `None`.
fn render(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), Box<dyn std::error::Error>>,
) -> Option<String> {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root).and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => Some(svg),
        Err(err) => {
            tracing::warn!(%err, chart = title, "could not draw a chart");
            None
        }
    }
}

/// Fills `root` white, draws the title on top and the footer at the bottom, and returns the
/// area left between them.
fn frame<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    title: &str,
    footer: Option<&Footer>,
) -> Result<DrawingArea<SVGBackend<'a>, Shift>, Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (body, bottom) = root.split_vertically(HEIGHT - FOOTER_HEIGHT);
    if let Some(footer) = footer {
        let style = |size: u32| {
            ("sans-serif", size)
                .into_font()
                .color(&QUIET)
                .pos(Pos::new(HPos::Left, VPos::Center))
        };
        // About 6 px a character at 11 px in a wide font: a long CPU name splits the footer
        // into the machine and the date, on two lines.
        let text = footer.text();
        if text.chars().count() * 6 <= WIDTH as usize - 24 {
            bottom.draw(&Text::new(text, (12, FOOTER_HEIGHT as i32 / 2), style(11)))?;
        } else {
            bottom.draw(&Text::new(footer.machine.clone(), (12, 6), style(10)))?;
            let date = format!("run {}", footer.date);
            bottom.draw(&Text::new(date, (12, 18), style(10)))?;
        }
    }
    let (top, body) = body.split_vertically(40);
    let style = ("sans-serif", 21)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    top.draw(&Text::new(title, (WIDTH as i32 / 2, 22), style))?;
    Ok(body)
}

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
enum Swatch {
    /// A solid line with a dot: a p50 line or a transport.
    Line(RGBColor),
    /// A dashed line: the p99 of the fan-out chart.
    Dashed(RGBColor),
}

/// Draws legend entries top to bottom into `area`, which is beside the plot, never on it.
fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    entries: &[(String, Swatch)],
) -> Result<(), Box<dyn std::error::Error>> {
    let style = ("sans-serif", 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = 30;
    for (label, swatch) in entries {
        match *swatch {
            Swatch::Line(color) => {
                area.draw(&PathElement::new(
                    vec![(8, y), (34, y)],
                    color.stroke_width(2),
                ))?;
                area.draw(&Circle::new((21, y), 3, color.filled()))?;
            }
            Swatch::Dashed(color) => {
                area.draw(&DashedPathElement::new(
                    vec![(8, y), (34, y)],
                    5,
                    3,
                    color.stroke_width(2),
                ))?;
            }
        }
        // A long label ("WebSocket (lab-broadcast)") goes on two lines rather than off the
        // edge of the chart.
        for line in wrap(label, LEGEND_CHARS) {
            area.draw(&Text::new(line, (42, y), style.clone()))?;
            y += 16;
        }
        y += 8;
    }
    Ok(())
}

/// `label` cut at spaces into lines of at most `max` characters (a longer word keeps its
/// own line).
fn wrap(label: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in label.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The width of `text` at 13 px, estimated (plotters is built without fonts to measure it)
/// from a wide sans-serif: about 7.2 px a character.
fn text_width(text: &str) -> i32 {
    (text.chars().count() as f64 * 7.2).ceil() as i32
}

/// An axis whose ticks are exactly the ones given, on a log or a linear scale. plotters'
/// own axes pick their ticks themselves (hence its "100.000"), and its `with_key_points`
/// wrapper cannot take a label formatter on a linear axis; this one does both.
struct Axis {
    /// Log or linear.
    log: bool,
    /// The values at the two ends.
    range: std::ops::Range<f64>,
    /// Where the ticks, labels and grid lines go.
    ticks: Vec<f64>,
}

impl Axis {
    /// A log axis from the first tick to the last; `None` without two distinct positive
    /// ticks.
    fn log(ticks: Vec<f64>) -> Option<Self> {
        let (lo, hi) = (*ticks.first()?, *ticks.last()?);
        (lo > 0.0 && hi > lo).then_some(Self {
            log: true,
            range: lo..hi,
            ticks,
        })
    }

    /// A log axis over `range` with ticks that need not be at its ends.
    fn log_over(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Option<Self> {
        (range.start > 0.0 && range.end > range.start).then_some(Self {
            log: true,
            range,
            ticks,
        })
    }

    /// A linear axis from the first tick to the last (or over `range` without ticks).
    fn linear(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        let range = match (ticks.first(), ticks.last()) {
            (Some(&lo), Some(&hi)) if hi > lo => lo..hi,
            _ => range,
        };
        Self {
            log: false,
            range,
            ticks,
        }
    }

    /// Where `value` lies between the two ends, 0 to 1.
    fn fraction(&self, value: f64) -> f64 {
        let (lo, hi) = (self.range.start, self.range.end);
        if self.log {
            let value = value.max(lo);
            (value.ln() - lo.ln()) / (hi.ln() - lo.ln())
        } else {
            (value - lo) / (hi - lo)
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = f64::from(limit.1 - limit.0);
        limit.0 + (self.fraction(*value) * span).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Bold grid lines at the ticks; no light lines in between.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// The y axis of a line chart of `scale` over `lo..=hi`: ratios up to 10× on a linear axis
/// from zero (an instructor reads "4× raw TCP" off it directly), everything else on log
/// ticks.
fn value_axis(scale: Scale, lo: f64, hi: f64) -> Option<Axis> {
    if scale == Scale::Ratio && hi <= 10.0 {
        let ticks = linear_ticks(hi * 1.1);
        return (!ticks.is_empty()).then(|| Axis::linear(0.0..hi, ticks));
    }
    Axis::log(log_ticks(lo / 1.1, hi * 1.1))
}

/// A log-log chart of `metric` against payload size, one line per transport; `None` when
/// there is nothing to draw.
fn line_chart(
    title: &str,
    metric: &Metric,
    cells: &[&EchoCell],
    footer: Option<&Footer>,
) -> Option<String> {
    let mut series: Vec<(Transport, Vec<(f64, f64)>)> = Vec::new();
    for cell in cells {
        let Some(y) = (metric.value)(cell) else {
            continue;
        };
        let point = (cell.spec.size as f64, y);
        match series.iter_mut().find(|(t, _)| *t == cell.spec.transport) {
            Some((_, points)) => points.push(point),
            None => series.push((cell.spec.transport, vec![point])),
        }
    }
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.clone()).collect();
    let (x_lo, x_hi) = crate::stats::min_max(points.iter().map(|p| p.0))?;
    let (y_lo, y_hi) = crate::stats::min_max(points.iter().map(|p| p.1))?;
    let x_axis = Axis::log_over(
        x_lo / 1.5..x_hi * 1.5,
        size_ticks(&points.iter().map(|p| p.0).collect::<Vec<_>>()),
    )?;
    let y_axis = value_axis(metric.scale, y_lo, y_hi)?;
    let y_desc = format!(
        "{} ({}{})",
        metric.axis,
        metric.scale.unit(&y_axis.ticks),
        if y_axis.log { ", log scale" } else { "" }
    );
    let scale = metric.scale;
    render(title, |root| {
        let body = frame(root, title, footer)?;
        let (plot, side) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(12)
            .margin_right(24)
            .margin_top(8)
            .margin_bottom(8)
            .x_label_area_size(52)
            .y_label_area_size(86)
            .build_cartesian_2d(x_axis, y_axis)?;
        chart
            .configure_mesh()
            .x_desc("payload size (B, KiB, MiB; log scale)")
            .y_desc(y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .x_label_formatter(&|x| fmt_bytes(*x))
            .y_label_formatter(&|y| scale.format(*y))
            .draw()?;
        if scale == Scale::Ratio {
            // The floor every ratio is measured against.
            chart.draw_series(std::iter::once(DashedPathElement::new(
                vec![(x_lo / 1.5, 1.0), (x_hi * 1.5, 1.0)],
                6,
                4,
                QUIET.stroke_width(1),
            )))?;
        }
        let mut entries = Vec::new();
        for (transport, points) in &series {
            let color = transport_color(*transport);
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            entries.push((transport.label().to_string(), Swatch::Line(color)));
        }
        legend(&side, &entries)
    })
}

/// The bar chart of one-connection medians: one panel per payload size, each with its own
/// linear axis from zero (bars on a log axis would hide the differences they are there to
/// show), one bar per transport with its min..max over the repetitions as an error bar and
/// its value written above.
fn bar_chart(title: &str, cells: &[&EchoCell], footer: Option<&Footer>) -> Option<String> {
    let mut sizes: Vec<usize> = cells.iter().map(|c| c.spec.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut transports: Vec<Transport> = Vec::new();
    for transport in Transport::ALL {
        if cells.iter().any(|c| c.spec.transport == transport) {
            transports.push(transport);
        }
    }
    if sizes.is_empty() || transports.is_empty() {
        return None;
    }
    let repetitions = cells.iter().map(|c| c.repetitions.len()).max().unwrap_or(0);
    let subtitle = format!(
        "error bars: the fastest and the slowest p50 of {repetitions} repetitions (▲: beyond the axis)"
    );
    render(title, |root| {
        let body = frame(root, title, footer)?;
        let rows = bar_legend_rows(&transports);
        let (key, grid) = body.split_vertically(30 + 22 * rows.len() as u32);
        let note = ("sans-serif", 13)
            .into_font()
            .color(&QUIET)
            .pos(Pos::new(HPos::Center, VPos::Center));
        key.draw(&Text::new(subtitle.as_str(), (WIDTH as i32 / 2, 8), note))?;
        bar_legend(&key, &rows)?;
        let cols = sizes.len().min(3);
        let rows = sizes.len().div_ceil(cols);
        let panels = grid.split_evenly((rows, cols));
        for (panel, &size) in panels.iter().zip(&sizes) {
            let in_panel: Vec<&EchoCell> = transports
                .iter()
                .filter_map(|t| {
                    cells
                        .iter()
                        .copied()
                        .find(|c| c.spec.size == size && c.spec.transport == *t)
                })
                .collect();
            bar_panel(panel, size, &transports, &in_panel)?;
        }
        Ok(())
    })
}

/// How the bar chart's legend is laid out: rows of `(transport, x)` under the title, as
/// many rows as it takes to fit the labels across the chart.
fn bar_legend_rows(transports: &[Transport]) -> Vec<Vec<(Transport, i32)>> {
    const GAP: i32 = 28;
    let entry = |t: Transport| 17 + text_width(t.label());
    let mut rows: Vec<Vec<Transport>> = vec![Vec::new()];
    let mut used = 0;
    for &transport in transports {
        let width = entry(transport) + GAP;
        if used + width > WIDTH as i32 - 24 && used > 0 {
            rows.push(Vec::new());
            used = 0;
        }
        used += width;
        // Invariant: `rows` starts with one row and only grows.
        rows.last_mut().expect("a row").push(transport);
    }
    rows.into_iter()
        .map(|row| {
            let total: i32 = row.iter().map(|&t| entry(t) + GAP).sum::<i32>() - GAP;
            let mut x = (WIDTH as i32 - total) / 2;
            row.into_iter()
                .map(|t| {
                    let at = x;
                    x += entry(t) + GAP;
                    (t, at)
                })
                .collect()
        })
        .collect()
}

/// The legend of the bar chart: coloured squares and names under the title, `rows` as
/// [`bar_legend_rows`] laid them out.
fn bar_legend(
    area: &DrawingArea<SVGBackend, Shift>,
    rows: &[Vec<(Transport, i32)>],
) -> Result<(), Box<dyn std::error::Error>> {
    let style = ("sans-serif", 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (r, row) in rows.iter().enumerate() {
        let y = 32 + 22 * r as i32;
        for &(transport, x) in row {
            let color = transport_color(transport);
            area.draw(&Rectangle::new(
                [(x, y - 6), (x + 12, y + 6)],
                color.filled(),
            ))?;
            area.draw(&Text::new(transport.label(), (x + 17, y), style.clone()))?;
        }
    }
    Ok(())
}

/// One panel of the bar chart: the transports' p50 at one payload size.
fn bar_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    size: usize,
    transports: &[Transport],
    cells: &[&EchoCell],
) -> Result<(), Box<dyn std::error::Error>> {
    // The axis follows the medians: one slow repetition (a stall on a busy machine) must not
    // squash every bar of the panel to a sliver. Error bars reaching past `reach` are cut at
    // the top of the axis and end in an arrow instead of a cap.
    let tallest = cells
        .iter()
        .map(|c| c.median.latency.p50_us)
        .fold(0.0, f64::max);
    let reach = tallest * OUTLIER_REACH;
    let tops = cells
        .iter()
        .map(|c| c.median.latency.p50_us.max(c.p50_spread_us.1.min(reach)));
    let top = tops.fold(0.0, f64::max);
    // Headroom for the value written upwards above the tallest error bar: about 50 px of
    // text in a plot about 180 px tall.
    let ticks = linear_ticks(if top > 0.0 { top * 1.4 } else { 1.0 });
    let y_max = ticks.last().copied().unwrap_or(1.0);
    let unit = TimeUnit::for_value(y_max);
    let n = transports.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{} payload", fmt_bytes(size as f64)),
            ("sans-serif", 15),
        )
        .margin(6)
        .margin_right(12)
        .x_label_area_size(6)
        .y_label_area_size(78)
        .build_cartesian_2d(
            Axis::linear(0.0..n, Vec::new()),
            Axis::linear(0.0..y_max, ticks),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(format!("p50 ({})", unit.symbol()))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 13))
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .y_label_formatter(&|y| unit.format(*y))
        .draw()?;
    // Written upwards: six bars share about 230 px, too narrow for "2.11 ms" side by side.
    let value_style = ("sans-serif", 12)
        .into_font()
        .transform(FontTransform::Rotate270)
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for cell in cells {
        let Some(slot) = transports.iter().position(|t| *t == cell.spec.transport) else {
            continue;
        };
        let (left, mid, right) = (slot as f64 + 0.14, slot as f64 + 0.5, slot as f64 + 0.86);
        let p50 = cell.median.latency.p50_us;
        if p50 <= 0.0 {
            // Every request failed: say so where the bar would be.
            chart.draw_series(std::iter::once(
                EmptyElement::at((mid, 0.0)) + Text::new("failed", (0, -6), value_style.clone()),
            ))?;
            continue;
        }
        let color = transport_color(cell.spec.transport);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(left, 0.0), (right, p50)],
            color.filled(),
        )))?;
        let (lo, hi) = cell.p50_spread_us;
        let cap = 0.12;
        let mut error_bar = vec![(mid - cap, lo), (mid + cap, lo), (mid, lo)];
        let label = fmt_latency(p50);
        if hi <= y_max {
            error_bar.extend([(mid, hi), (mid - cap, hi), (mid + cap, hi)]);
            chart.draw_series(std::iter::once(PathElement::new(
                error_bar,
                ERROR_BAR.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((mid, hi.max(p50)))
                    + Text::new(label, (0, -6), value_style.clone()),
            ))?;
        } else {
            // Off the axis: the line runs to the top and ends in an arrow; the value moves
            // beside the line so the two do not cross.
            error_bar.push((mid, y_max));
            chart.draw_series(std::iter::once(PathElement::new(
                error_bar,
                ERROR_BAR.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(TriangleMarker::new(
                (mid, y_max),
                4,
                ERROR_BAR.filled(),
            )))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((mid, p50)) + Text::new(label, (9, -6), value_style.clone()),
            ))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------------------

/// One server's fan-out results: what one line pair of [`fanout_chart`] shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutSeries {
    /// The server, as the legend names it ("WebSocket (lab-broadcast)", "Socket.IO").
    pub label: String,
    /// Its measurements, one per subscriber count.
    pub points: Vec<FanoutPoint>,
}

/// Delivery latency of one publish to `subscribers` subscribers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FanoutPoint {
    /// How many subscribers each publish reached.
    pub subscribers: usize,
    /// Median delivery latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile delivery latency, microseconds: the subscriber served last.
    pub p99_us: f64,
}

/// Delivery latency against subscribers, both on log scales: per series a solid p50 line and
/// a dashed p99 line of the same colour. Points with no subscribers or no latency are left
/// out; `None` when nothing is left to draw. The caller names the file.
pub fn fanout_chart(title: &str, series: &[FanoutSeries], footer: &Footer) -> Option<String> {
    let usable = |p: &&FanoutPoint| p.subscribers > 0 && positive(p.p50_us).is_some();
    let lines: Vec<(&str, Vec<FanoutPoint>)> = series
        .iter()
        .map(|s| {
            let mut points: Vec<FanoutPoint> = s.points.iter().filter(usable).copied().collect();
            points.sort_by_key(|p| p.subscribers);
            (s.label.as_str(), points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    let all = || lines.iter().flat_map(|(_, points)| points.iter());
    let (x_lo, x_hi) = crate::stats::min_max(all().map(|p| p.subscribers as f64))?;
    let latencies = all()
        .flat_map(|p| [p.p50_us, p.p99_us])
        .filter(|&v| v > 0.0);
    let (y_lo, y_hi) = crate::stats::min_max(latencies)?;
    let mut x_ticks = log_ticks(x_lo, x_hi);
    if x_ticks.len() < 2 {
        // One subscriber count on a 1-2-5 tick: an axis needs a second tick to have a length.
        x_ticks = log_ticks(x_lo, x_hi * 2.0);
    }
    let x_axis = Axis::log(x_ticks)?;
    let y_axis = Axis::log(log_ticks(y_lo / 1.1, y_hi * 1.1))?;
    let y_desc = format!("delivery latency ({}, log scale)", units_of(&y_axis.ticks));
    render(title, |root| {
        let body = frame(root, title, Some(footer))?;
        let (plot, side) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin_left(12)
            .margin_right(24)
            .margin_top(8)
            .margin_bottom(8)
            .x_label_area_size(52)
            .y_label_area_size(86)
            .build_cartesian_2d(x_axis, y_axis)?;
        chart
            .configure_mesh()
            .x_desc("subscribers per publish (log scale)")
            .y_desc(y_desc)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .x_label_formatter(&|x| fmt_count(*x))
            .y_label_formatter(&|y| fmt_latency(*y))
            .draw()?;
        let mut entries = Vec::new();
        for (i, (label, points)) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let p50 = points.iter().map(|p| (p.subscribers as f64, p.p50_us));
            let p99 = points
                .iter()
                .filter(|p| p.p99_us > 0.0)
                .map(|p| (p.subscribers as f64, p.p99_us));
            chart.draw_series(LineSeries::new(p50.clone(), color.stroke_width(2)))?;
            chart.draw_series(p50.map(|p| Circle::new(p, 3, color.filled())))?;
            chart.draw_series(DashedLineSeries::new(
                p99.collect::<Vec<_>>(),
                7,
                4,
                color.stroke_width(2),
            ))?;
            entries.push((label.to_string(), Swatch::Line(color)));
        }
        entries.push(("p50 (solid)".into(), Swatch::Line(QUIET)));
        entries.push(("p99 (dashed)".into(), Swatch::Dashed(QUIET)));
        legend(&side, &entries)
    })
}
