//! SVG charts of a run, drawn with plotters: latency and throughput against payload size,
//! one line per transport, on log scales (16 B to 1 MiB spans five orders of magnitude).
//!
//! Text in the SVG is left to the viewer's font: plotters is built without its font
//! features, so it estimates label sizes instead of measuring them with a font file. That
//! keeps the charts working on a fresh machine with no fonts installed, at the price of
//! slightly approximate label placement.

use plotters::prelude::*;

use crate::report::fmt_size;
use crate::run::{EchoCell, RunResults};
use crate::transport::Transport;

/// One chart: what to plot from each cell and how to name it.
struct Metric {
    /// Part of the file name.
    slug: &'static str,
    /// The y axis.
    axis: &'static str,
    /// The value of a cell.
    value: fn(&EchoCell) -> Option<f64>,
}

const METRICS: [Metric; 4] = [
    Metric {
        slug: "p50",
        axis: "p50 latency (µs)",
        value: |c| positive(c.median.latency.p50_us),
    },
    Metric {
        slug: "p99",
        axis: "p99 latency (µs)",
        value: |c| positive(c.median.latency.p99_us),
    },
    Metric {
        slug: "throughput",
        axis: "requests per second",
        value: |c| positive(c.median.throughput),
    },
    Metric {
        slug: "p50-vs-tcp",
        axis: "p50 latency ÷ raw TCP",
        value: |c| c.vs_tcp.and_then(|r| r.p50).and_then(positive),
    },
];

fn positive(x: f64) -> Option<f64> {
    (x > 0.0 && x.is_finite()).then_some(x)
}

/// Every chart of the echo results, as `(file name, SVG text)`: one per metric and per
/// group of (load mode, encoding) that has at least two payload sizes.
pub fn echo_charts(results: &RunResults) -> Vec<(String, String)> {
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
        let slug: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        for metric in &METRICS {
            if let Some(svg) = line_chart(&format!("Echo, {key}"), metric, cells) {
                charts.push((format!("chart-{}-{slug}.svg", metric.slug), svg));
            }
        }
    }
    charts
}

/// A log-log chart of `metric` against payload size, one line per transport; `None` when
/// there is nothing to draw or drawing fails (a chart is never worth failing a run for).
fn line_chart(title: &str, metric: &Metric, cells: &[&EchoCell]) -> Option<String> {
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
    let points = || series.iter().flat_map(|(_, p)| p.iter().copied());
    let (x_lo, x_hi) = min_max(points().map(|p| p.0))?;
    let (y_lo, y_hi) = min_max(points().map(|p| p.1))?;
    let mut svg = String::new();
    let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (x_lo / 1.6..x_hi * 1.6).log_scale(),
                (y_lo / 1.6..y_hi * 1.6).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("payload size")
            .y_desc(metric.axis)
            .x_label_formatter(&|x| fmt_size(x.round() as usize))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .draw()?;
        for (i, (transport, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(transport.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => Some(svg),
        Err(err) => {
            tracing::warn!(%err, chart = title, "could not draw a chart");
            None
        }
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    crate::stats::min_max(values)
}
