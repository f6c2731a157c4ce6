//! Medians of runs, latency percentiles (an HDR histogram) and ratios.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The median of `values` (mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// `value / reference`, or `None` when either is missing, not finite or
/// the reference is not positive.
pub(crate) fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    let (v, r) = (value?, reference?);
    (v.is_finite() && r.is_finite() && r > 0.0).then(|| v / r)
}

/// Latencies in microseconds, 1 µs to 1 h, three significant digits.
pub(crate) struct Latencies(Histogram<u64>);

impl Latencies {
    pub(crate) fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"))
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds `other`'s samples (the histograms share their bounds).
    pub(crate) fn merge(&mut self, other: &Self) {
        self.0.add(&other.0).expect("same bounds");
    }

    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// The `p`-th percentile (0..=100) in milliseconds: the smallest
    /// recorded value that at least `p` % of the samples do not exceed
    /// (the top of its histogram bucket: at most 0.1 % above it).
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        // Nearest rank, computed here: `value_at_quantile(0.999)` of 1000
        // samples would round up to rank 1000 (0.999 * 1000 > 999 in f64).
        let n = self.0.len() as f64;
        let rank = ((p / 100.0) * n - 1e-9).ceil().clamp(1.0, n);
        self.0.value_at_quantile((rank - 0.5) / n) as f64 / 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_ms() {
        let mut l = Latencies::new();
        assert!(l.percentile_ms(50.0).is_nan());
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.len(), 1000);
        // Three significant digits: within 0.1 % of the exact rank.
        let close = |got: f64, want: f64| got >= want && got <= want * 1.001;
        assert!(
            close(l.percentile_ms(50.0), 500.0),
            "{}",
            l.percentile_ms(50.0)
        );
        assert!(
            close(l.percentile_ms(99.0), 990.0),
            "{}",
            l.percentile_ms(99.0)
        );
        assert!(
            close(l.percentile_ms(99.9), 999.0),
            "{}",
            l.percentile_ms(99.9)
        );
        assert!(close(l.percentile_ms(100.0), 1000.0));
    }

    #[test]
    fn one_slow_sample_in_a_thousand_shows_only_at_the_top() {
        let mut l = Latencies::new();
        for _ in 0..999 {
            l.record(Duration::from_micros(200));
        }
        l.record(Duration::from_millis(300));
        assert!((l.percentile_ms(99.9) - 0.2).abs() < 1e-3);
        assert!((l.percentile_ms(100.0) - 300.0).abs() < 0.5);
        // Sub-microsecond and huge values are clamped, not dropped.
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(10_000));
        assert_eq!(l.len(), 1002);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(Some(50.0), Some(200.0)), Some(0.25));
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(Some(f64::NAN), Some(1.0)), None);
    }
}
