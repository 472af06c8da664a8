//! Statistics of a paired comparison: a seeded bootstrap interval for the mean difference of
//! scores, and the exact McNemar test on pass/fail. Seeded so a report is reproducible.

/// `SplitMix64`: small, fast and good enough to resample indexes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift; the bias is negligible for our sizes).
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next()) * bound as u128) >> 64) as usize
    }
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The 95% percentile-bootstrap interval of the mean of `differences`.
pub fn bootstrap_interval(differences: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if differences.is_empty() || resamples == 0 {
        return (0.0, 0.0);
    }
    let mut random = SplitMix64(seed);
    let n = differences.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut sum = 0.0;
            for _ in 0..n {
                sum += differences[random.below(n)];
            }
            sum / n as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |quantile: f64| {
        let index = (quantile * (resamples - 1) as f64).round() as usize;
        means[index.min(resamples - 1)]
    };
    (at(0.025), at(0.975))
}

/// Two-sided exact McNemar p-value from the discordant counts: `b` pairs where only the
/// first passed, `c` where only the second did. A binomial test of min(b, c) at p = ½.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so large n does not underflow.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Scores are means of floats: a score equal to its threshold in decimal can fall a hair
/// below it in binary (0.1 + 0.2 < 0.3 + 1e-17). Every comparison with a floor allows this.
pub const SCORE_EPSILON: f64 = 1e-12;

/// Whether `value` reaches `floor`: a score its threshold, an interval's bound the tolerance,
/// a deploy's score the one before less the tolerance. The one place the rule lives.
pub fn reaches(value: f64, floor: f64) -> bool {
    value + SCORE_EPSILON >= floor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_is_reached_at_it_and_by_a_float_hair_below() {
        let table = [
            (0.8, 0.8, true),
            (0.1 + 0.2, 0.3, true),
            ((0.7 + 0.1) / 1.0, 0.8, true),
            (0.799_999, 0.8, false),
            (0.9, 0.8, true),
            (-0.05, -0.05, true),
            (-0.050_001, -0.05, false),
        ];
        for (value, floor, expected) in table {
            assert_eq!(reaches(value, floor), expected, "{value} vs {floor}");
        }
    }

    #[test]
    fn mcnemar_matches_the_binomial_table() {
        assert!((mcnemar_exact(0, 0) - 1.0).abs() < 1e-12);
        // b=1, c=9: 2 × (1 + 10) / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_exact(5, 5) - 1.0).abs() < 1e-12);
        assert!(mcnemar_exact(0, 20) < 2e-6);
        assert!(mcnemar_exact(4000, 4100) > 0.2);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let differences: Vec<f64> = (0..200).map(|i| f64::from(i % 7) / 10.0 - 0.2).collect();
        let first = bootstrap_interval(&differences, 2000, 7);
        assert_eq!(first, bootstrap_interval(&differences, 2000, 7));
        let center = mean(&differences);
        assert!(
            first.0 < center && center < first.1,
            "{first:?} around {center}"
        );
        assert!(first.1 - first.0 < 0.2);
        let constant = bootstrap_interval(&[0.5; 50], 100, 1);
        assert_eq!(constant, (0.5, 0.5));
    }
}
