//! Turning recorded latencies into the numbers a slide shows.
//!
//! Latencies are recorded in an HdrHistogram in nanoseconds with 3 significant digits: every
//! value from 1 ns to 60 s is kept within 0.1%, in a fixed few tens of KiB, so recording
//! costs a few nanoseconds and no sample is dropped or averaged away. Percentiles and the
//! maximum come from the whole histogram, never from a sample.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency a histogram can hold: anything slower is recorded as 60 s.
pub const MAX_RECORDABLE_NS: u64 = 60_000_000_000;

/// A fresh latency histogram (nanoseconds, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // Invariant: the bounds are constants that hdrhistogram accepts (low 1, high ≥ 2, 3 digits).
    Histogram::new_with_bounds(1, MAX_RECORDABLE_NS, 3).expect("valid histogram bounds")
}

/// Records `ns`, clamping to the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, ns: u64) {
    histogram.saturating_record(ns.clamp(1, MAX_RECORDABLE_NS));
}

/// The latency figures of one measurement, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// The slowest request.
    pub max_us: f64,
    /// The mean, for comparison with tools that only print it.
    pub mean_us: f64,
}

impl Latency {
    /// Reads the figures off a histogram in nanoseconds (all zero if it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// The median of some values (the middle one, or the mean of the two middle ones); `None`
/// for no values.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The smallest and largest of some values.
pub fn min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|x| x.is_finite())
        .fold(None, |acc, x| match acc {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        })
}

/// The slope of the least-squares line through `points` (x, y): how fast y grows per unit
/// of x, with every point weighing the same, so one noisy sample moves it little. `None` for
/// fewer than two points or when every x is the same.
pub fn least_squares_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            record(&mut h, us * 1000);
        }
        let l = Latency::from_histogram(&h);
        assert!((l.p50_us - 500.0).abs() < 1.0);
        assert!((l.max_us - 1000.0).abs() < 1.0);
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(min_max([3.0, 1.0, 2.0]), Some((1.0, 3.0)));
    }

    #[test]
    fn slopes() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((least_squares_slope(&line).unwrap() - 3.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 5.0), (3.0, 6.0), (4.0, 5.5)];
        assert!(least_squares_slope(&flat).unwrap().abs() < 0.2);
        assert_eq!(least_squares_slope(&[(1.0, 2.0)]), None);
        assert_eq!(least_squares_slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }
}
