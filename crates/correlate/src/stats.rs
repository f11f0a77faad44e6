//! The statistics of docs/METHOD.md §6, written by hand and small: seeded moving-block bootstrap,
//! single change point in mean, placebo rank p-value. Quantiles and medians come from statrs
//! (Hyndman & Fan type 8, the median-unbiased definition).

use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::{Rng as _, SeedableRng};
use statrs::statistics::{Data, Median, OrderStatistics};

/// A seeded generator: the same seed gives the same numbers on every machine.
pub struct Rng(Pcg64Mcg);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(Pcg64Mcg::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2⁻⁶⁴·n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.0.next_u64()) * n as u128) >> 64) as usize
    }
}

/// A seed for one analysis, derived from the run's seed and what is analysed, so that one
/// event's numbers do not depend on which other events are in the file.
pub fn derive_seed(seed: u64, salt: i64, stream: u64) -> u64 {
    // SplitMix64 finaliser over the mixed inputs.
    let mut z = seed ^ (salt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.rotate_left(32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Quantile `q` (0..=1) of `xs`, Hyndman & Fan type 8; NaN if empty.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    Data::new(xs.to_vec()).quantile(q)
}

pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    Data::new(xs.to_vec()).median()
}

/// Moving-block bootstrap (Künsch 1989): each resample is `ceil(n / block)` blocks of `block`
/// consecutive items whose starts are drawn uniformly from the `n - block + 1` possible ones,
/// cut to `n` items. Returns `stat` of each of `reps` resamples (non-finite values dropped).
pub fn moving_block_bootstrap<T: Copy>(
    items: &[T],
    block: usize,
    reps: usize,
    rng: &mut Rng,
    mut stat: impl FnMut(&[T]) -> f64,
) -> Vec<f64> {
    let n = items.len();
    if n == 0 || reps == 0 {
        return Vec::new();
    }
    let block = block.clamp(1, n);
    let starts = n - block + 1;
    let mut buf: Vec<T> = Vec::with_capacity(n + block);
    let mut out = Vec::with_capacity(reps);
    for _ in 0..reps {
        buf.clear();
        while buf.len() < n {
            let s = rng.below(starts);
            buf.extend_from_slice(&items[s..s + block]);
        }
        buf.truncate(n);
        let v = stat(&buf);
        if v.is_finite() {
            out.push(v);
        }
    }
    out
}

/// Percentile interval of bootstrap replicates at `level` (0.95: 2.5% and 97.5%).
pub fn percentile_interval(reps: &[f64], level: f64) -> Option<(f64, f64)> {
    if reps.len() < 2 {
        return None;
    }
    let a = (1.0 - level) / 2.0;
    Some((quantile(reps, a), quantile(reps, 1.0 - a)))
}

/// A single change in mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChangePoint {
    /// Index of the first value after the change.
    pub split: usize,
    pub mean_before: f64,
    pub mean_after: f64,
    /// Between-segment sum of squares k(n−k)/n·(x̄₁ − x̄₂)²: how much of the variance the
    /// change explains.
    pub stat: f64,
}

/// Least-squares single change point in mean (the split that minimises the within-segment
/// sum of squares), with at least `min_seg` values on each side. `None` if too short.
pub fn change_point(xs: &[f64], min_seg: usize) -> Option<ChangePoint> {
    let n = xs.len();
    let min_seg = min_seg.max(1);
    if n < 2 * min_seg {
        return None;
    }
    let total: f64 = xs.iter().sum();
    let mut left = 0.0;
    let mut best: Option<ChangePoint> = None;
    for (k, x) in xs.iter().enumerate().take(n - min_seg) {
        left += x;
        let k1 = k + 1;
        if k1 < min_seg {
            continue;
        }
        let m1 = left / k1 as f64;
        let m2 = (total - left) / (n - k1) as f64;
        let stat = (k1 * (n - k1)) as f64 / n as f64 * (m1 - m2).powi(2);
        if best.is_none_or(|b| stat > b.stat) {
            best = Some(ChangePoint {
                split: k1,
                mean_before: m1,
                mean_after: m2,
                stat,
            });
        }
    }
    best
}

/// Direction of the effect a placebo test looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Large values are extreme (a drop).
    Upper,
    /// Small values are extreme (a rise, as a negative drop).
    Lower,
}

/// Rank p-value of `observed` among placebo values: (1 + as extreme) / (1 + N), so it is never
/// below 1/(N+1). Returns (p, how many placebos were as extreme). `None` without placebos.
pub fn placebo_p(observed: f64, placebos: &[f64], tail: Tail) -> Option<(f64, usize)> {
    if placebos.is_empty() {
        return None;
    }
    let extreme = placebos
        .iter()
        .filter(|p| match tail {
            Tail::Upper => **p >= observed,
            Tail::Lower => **p <= observed,
        })
        .count();
    Some(((1 + extreme) as f64 / (1 + placebos.len()) as f64, extreme))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn quantiles_match_hyndman_fan_type_8() {
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        // R: quantile(1:10, c(.25, .5, .95), type = 8) = 2.916667 5.5 10 (capped at max).
        assert!(
            close(quantile(&x, 0.25), 2.916_666_7, 1e-6),
            "{}",
            quantile(&x, 0.25)
        );
        assert!(close(quantile(&x, 0.5), 5.5, 1e-12));
        assert!(close(median(&[1.0, 3.0, 2.0, 4.0]), 2.5, 1e-12));
        assert!(close(median(&[7.0]), 7.0, 1e-12));
        assert!(median(&[]).is_nan());
        // 95th percentile of 1..=100: (100 + 1/3)·0.95 + 1/3 = 95.65 → 95.65.
        let y: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!(
            close(quantile(&y, 0.95), 95.65, 1e-9),
            "{}",
            quantile(&y, 0.95)
        );
    }

    #[test]
    fn change_point_of_a_piecewise_constant_series() {
        let xs = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 4.0];
        let cp = change_point(&xs, 1).expect("long enough");
        assert_eq!(cp.split, 6);
        assert!(close(cp.mean_before, 1.0, 1e-12) && close(cp.mean_after, 4.0, 1e-12));
        // k(n-k)/n·Δ² = 6·4/10·9 = 21.6 = the total sum of squares (all variance explained).
        assert!(close(cp.stat, 21.6, 1e-9));
        // With alternating noise of ±0.5 the split stays.
        let noisy: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| x + if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        assert_eq!(change_point(&noisy, 2).map(|c| c.split), Some(6));
        // Too short for the minimum segment.
        assert_eq!(change_point(&[1.0, 2.0, 3.0], 2), None);
    }

    #[test]
    fn block_bootstrap_keeps_blocks_and_matches_the_textbook_variance() {
        let items: Vec<usize> = (0..30).collect();
        let mut rng = Rng::new(7);
        let mut checked = 0;
        moving_block_bootstrap(&items, 5, 200, &mut rng, |r| {
            assert_eq!(r.len(), 30);
            for chunk in r.chunks(5) {
                assert!(chunk.windows(2).all(|w| w[1] == w[0] + 1), "{chunk:?}");
            }
            checked += 1;
            0.0
        });
        assert_eq!(checked, 200);
        // Block length 1 is Efron's bootstrap: Var*(mean) = (1/n)·(1/n)Σ(x − x̄)².
        let x: Vec<f64> = (0..20).map(|i| f64::from(i * i % 7)).collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let expected = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n / n;
        let reps = moving_block_bootstrap(&x, 1, 40_000, &mut Rng::new(1), |r| {
            r.iter().sum::<f64>() / r.len() as f64
        });
        let m = reps.iter().sum::<f64>() / reps.len() as f64;
        let var = reps.iter().map(|v| (v - m).powi(2)).sum::<f64>() / reps.len() as f64;
        assert!((var / expected - 1.0).abs() < 0.05, "{var} vs {expected}");
        // A block as long as the series: every resample is the series.
        let whole = moving_block_bootstrap(&x, 20, 10, &mut Rng::new(3), |r| r[0] + r[19]);
        assert!(whole.iter().all(|v| close(*v, x[0] + x[19], 1e-12)));
    }

    #[test]
    fn same_seed_same_numbers() {
        let a: Vec<usize> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.below(1000)).collect()
        };
        let b: Vec<usize> = {
            let mut r = Rng::new(42);
            (0..5).map(|_| r.below(1000)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|v| *v < 1000));
        assert_ne!(derive_seed(1, 10, 0), derive_seed(1, 11, 0));
    }

    #[test]
    fn placebo_rank_p_value() {
        let placebos = [1.0, 2.0, 3.0, 4.0, 6.0];
        assert_eq!(placebo_p(5.0, &placebos, Tail::Upper), Some((2.0 / 6.0, 1)));
        assert_eq!(placebo_p(7.0, &placebos, Tail::Upper), Some((1.0 / 6.0, 0)));
        assert_eq!(placebo_p(2.0, &placebos, Tail::Lower), Some((3.0 / 6.0, 2)));
        assert_eq!(placebo_p(1.0, &[], Tail::Upper), None);
        // The percentile of a known sample: 95% interval of 1..=100 (type 8).
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        let (lo, hi) = percentile_interval(&s, 0.95).expect("interval");
        assert!(
            close(lo, 2.841_666_7, 1e-6) && close(hi, 98.158_333_3, 1e-6),
            "{lo} {hi}"
        );
    }
}
