//! Latency summaries: nearest-rank percentiles over a sorted `Vec` of microseconds (no
//! histogram crate; a few million samples sort in well under a second).
use serde::Serialize;

/// p50/p90/p99/max (and the mean) of a set of durations, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// Sorts `micros` in place and summarizes it; an empty set gives all zeros.
    pub fn of_micros(micros: &mut [u32]) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let sum: u64 = micros.iter().map(|&v| u64::from(v)).sum();
        let ms = |v: u32| f64::from(v) / 1000.0;
        Self {
            n: micros.len(),
            p50_ms: ms(percentile(micros, 0.50)),
            p90_ms: ms(percentile(micros, 0.90)),
            p99_ms: ms(percentile(micros, 0.99)),
            max_ms: ms(micros[micros.len() - 1]),
            mean_ms: sum as f64 / micros.len() as f64 / 1000.0,
        }
    }
}

/// Nearest-rank percentile of a sorted, non-empty slice (`q` in 0..=1).
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Saturating conversion of a duration to whole microseconds.
pub fn micros(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().map(|x| x * 1000).collect();
        let s = Summary::of_micros(&mut v);
        assert_eq!(s.n, 100);
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p90_ms, 90.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(Summary::of_micros(&mut []).n, 0);
    }
}
