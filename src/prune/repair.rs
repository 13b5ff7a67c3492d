//! Training-free repair of a pruned FFN (beyond the paper): the kept columns of
//! `down_proj` are refitted by least squares so that they stand in, as well as a linear
//! map can on the calibration data, for the channels that were removed.
//!
//! With `h` the input of `down_proj` (the gated activation, I values per token), `C` its
//! mask-weighted second moment `Σ_t w_t h_t h_tᵀ` over the calibration tokens, `K` the
//! kept channels and `R` the removed ones, the output `W h = W_K h_K + W_R h_R` is best
//! approximated from `h_K` alone by
//!
//! `W_K' = W_K + W_R · C_RK · (C_KK + λI)⁻¹`
//!
//! (the closed form FLAP and SlimGPT-style methods use). `λ` is a ridge relative to the
//! mean of `C_KK`'s diagonal, so that channels the text never excites do not blow up.

use crate::error::{Error, Result};

/// The mask-weighted second moment `Σ_t w_t h_t h_tᵀ` of one layer's `down_proj` input,
/// accumulated in f64 (each token's product in f32, as importance is).
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    /// Channels (I).
    pub n: usize,
    /// The upper triangle row by row, `n·(n+1)/2` sums.
    upper: Vec<f64>,
}

impl Gram {
    /// An empty sum over `n` channels.
    pub fn new(n: usize) -> Self {
        Self { n, upper: vec![0.0; n * (n + 1) / 2] }
    }

    /// Adds the rows of `h` (`weights.len()` rows of `n` values) with their weights.
    pub fn add(&mut self, h: &[f32], weights: &[f32]) {
        let n = self.n;
        for (row, &w) in h.chunks_exact(n).zip(weights) {
            if w == 0.0 {
                continue;
            }
            let mut at = 0;
            for i in 0..n {
                let hi = w * row[i];
                let sums = &mut self.upper[at..at + n - i];
                for (s, &hj) in sums.iter_mut().zip(&row[i..]) {
                    *s += f64::from(hi * hj);
                }
                at += n - i;
            }
        }
    }

    /// Adds another sum over the same channels (batches, workers).
    pub fn merge(&mut self, other: &Gram) {
        self.upper.iter_mut().zip(&other.upper).for_each(|(a, b)| *a += b);
    }

    /// `C[i][j]` (symmetric).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        // Rows 0..i hold n + (n-1) + … + (n-i+1) = i·n − i(i−1)/2 entries.
        self.upper[i * self.n - i * i.saturating_sub(1) / 2 + (j - i)]
    }
}

/// A repaired `down_proj`: the kept columns, refitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired {
    /// `D × |K|` row-major, the kept channels in `keep`'s order.
    pub weights: Vec<f32>,
    /// The ridge λ used (absolute).
    pub lambda: f64,
}

/// Refits the kept columns `keep` (ascending) of the `d × n` row-major `down_proj`
/// weight `w` with the layer's second moment `gram` and ridge `rel_lambda` × the mean of
/// `C_KK`'s diagonal. With nothing removed the kept columns are returned unchanged.
pub fn repair_down(w: &[f32], d: usize, gram: &Gram, keep: &[usize], rel_lambda: f64) -> Result<Repaired> {
    let n = gram.n;
    if w.len() != d * n || keep.windows(2).any(|p| p[0] >= p[1]) || keep.last().is_some_and(|&k| k >= n) {
        return Err(Error::Internal(format!("repair: {} weights for {d} × {n}, or kept channels not ascending below {n}", w.len())));
    }
    let k = keep.len();
    let mut weights = slice_columns(w, n, keep);
    let removed: Vec<usize> = {
        let mut is_kept = vec![false; n];
        keep.iter().for_each(|&j| is_kept[j] = true);
        (0..n).filter(|&j| !is_kept[j]).collect()
    };
    if removed.is_empty() || k == 0 {
        return Ok(Repaired { weights, lambda: 0.0 });
    }
    let mean_diag = keep.iter().map(|&j| gram.get(j, j)).sum::<f64>() / k as f64;
    let lambda = rel_lambda * if mean_diag > 0.0 { mean_diag } else { 1.0 };
    // A = C_KK + λI, factored as L Lᵀ.
    let mut a: Vec<f64> = (0..k * k).map(|x| gram.get(keep[x / k], keep[x % k])).collect();
    (0..k).for_each(|i| a[i * k + i] += lambda);
    cholesky(&mut a, k)?;
    // Y = A⁻¹ C_KR (k × r), column by column of C_KR; then W_K' = W_K + W_R Yᵀ.
    let r = removed.len();
    let mut y = vec![0f64; k * r];
    let mut col = vec![0f64; k];
    for (b, &jr) in removed.iter().enumerate() {
        col.iter_mut().zip(keep).for_each(|(c, &jk)| *c = gram.get(jk, jr));
        solve_cholesky(&a, k, &mut col);
        (0..k).for_each(|i| y[i * r + b] = col[i]);
    }
    for row in 0..d {
        let wr: Vec<f64> = removed.iter().map(|&j| f64::from(w[row * n + j])).collect();
        for (i, out) in weights[row * k..(row + 1) * k].iter_mut().enumerate() {
            let delta: f64 = wr.iter().zip(&y[i * r..(i + 1) * r]).map(|(a, b)| a * b).sum();
            *out = (f64::from(*out) + delta) as f32;
        }
    }
    if weights.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "the repaired down_proj".into(), in_weights: false });
    }
    Ok(Repaired { weights, lambda })
}

/// Columns `keep` of the row-major matrix `w` with `n` columns: plain slicing.
pub fn slice_columns(w: &[f32], n: usize, keep: &[usize]) -> Vec<f32> {
    w.chunks_exact(n).flat_map(|row| keep.iter().map(|&j| row[j])).collect()
}

/// In-place Cholesky factorization of the `k × k` row-major `a` (lower triangle = L).
fn cholesky(a: &mut [f64], k: usize) -> Result<()> {
    for j in 0..k {
        let d = a[j * k + j] - (0..j).map(|p| a[j * k + p] * a[j * k + p]).sum::<f64>();
        if d <= 0.0 || !d.is_finite() {
            return Err(Error::Internal(format!("repair: C_KK + λI is not positive definite at channel {j}")));
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let s = a[i * k + j] - (0..j).map(|p| a[i * k + p] * a[j * k + p]).sum::<f64>();
            a[i * k + j] = s / d;
        }
    }
    Ok(())
}

/// Solves `L Lᵀ x = b` in place with the factor from [`cholesky`].
fn solve_cholesky(l: &[f64], k: usize, b: &mut [f64]) {
    for i in 0..k {
        let s = b[i] - (0..i).map(|p| l[i * k + p] * b[p]).sum::<f64>();
        b[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let s = b[i] - (i + 1..k).map(|p| l[p * k + i] * b[p]).sum::<f64>();
        b[i] = s / l[i * k + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n as u64)
            .map(|i| {
                let x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                ((x >> 40) as f32) * 2f32.powi(-23) - 1.0
            })
            .collect()
    }

    /// A layer: `d × n` weights, `t` activation rows with weights (some 0: masked).
    fn layer(d: usize, n: usize, t: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Gram) {
        let w = values(d * n, 1);
        // Correlated channels, as real activations are: h = base mixed.
        let base = values(t * n, 2);
        let h: Vec<f32> = (0..t * n).map(|x| base[x] + 0.5 * base[(x / n) * n + (x % n + 1) % n]).collect();
        let weights: Vec<f32> = (0..t).map(|r| if r % 5 == 3 { 0.0 } else { 1.0 }).collect();
        let mut g = Gram::new(n);
        g.add(&h, &weights);
        (w, h, weights, g)
    }

    #[test]
    fn the_gram_sum_is_the_weighted_second_moment() {
        let (_, h, weights, g) = layer(3, 7, 20);
        for i in 0..7 {
            for j in 0..7 {
                let want: f64 = (0..20).map(|r| f64::from(weights[r] * h[r * 7 + i] * h[r * 7 + j])).sum();
                assert!((g.get(i, j) - want).abs() < 1e-5 * want.abs().max(1.0), "({i}, {j})");
            }
        }
        let mut twice = g.clone();
        twice.merge(&g);
        assert_eq!(twice.get(2, 5), 2.0 * g.get(2, 5));
    }

    /// The closed form by an independent route: Gauss–Jordan inversion of C_KK + λI.
    fn reference(w: &[f32], d: usize, n: usize, g: &Gram, keep: &[usize], lambda: f64) -> Vec<f64> {
        let k = keep.len();
        let removed: Vec<usize> = (0..n).filter(|j| !keep.contains(j)).collect();
        let mut m: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                let mut row: Vec<f64> = keep.iter().map(|&j| g.get(keep[i], j)).collect();
                row[i] += lambda;
                row.extend((0..k).map(|c| if c == i { 1.0 } else { 0.0 }));
                row
            })
            .collect();
        for c in 0..k {
            let p = (c..k).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs())).unwrap();
            m.swap(c, p);
            let pivot = m[c][c];
            m[c].iter_mut().for_each(|v| *v /= pivot);
            for r in 0..k {
                if r != c {
                    let f = m[r][c];
                    let pivot_row = m[c].clone();
                    m[r].iter_mut().zip(&pivot_row).for_each(|(v, p)| *v -= f * p);
                }
            }
        }
        let inv = |i: usize, j: usize| m[i][k + j];
        let mut out = vec![0f64; d * k];
        for row in 0..d {
            for a in 0..k {
                let mut v = f64::from(w[row * n + keep[a]]);
                for &jr in &removed {
                    let c_rk_inv: f64 = (0..k).map(|b| g.get(jr, keep[b]) * inv(b, a)).sum();
                    v += f64::from(w[row * n + jr]) * c_rk_inv;
                }
                out[row * k + a] = v;
            }
        }
        out
    }

    #[test]
    fn repair_equals_a_reference_solve() {
        let (d, n) = (5, 12);
        let (w, _, _, g) = layer(d, n, 40);
        let keep = [0, 2, 3, 5, 8, 9, 11];
        let r = repair_down(&w, d, &g, &keep, 1e-3).unwrap();
        let want = reference(&w, d, n, &g, &keep, r.lambda);
        for (a, b) in r.weights.iter().zip(&want) {
            assert!((f64::from(*a) - b).abs() <= 1e-5 * b.abs().max(1e-3), "{a} vs {b}");
        }
    }

    #[test]
    fn nothing_removed_changes_nothing_and_a_huge_ridge_is_plain_slicing() {
        let (d, n) = (4, 9);
        let (w, _, _, g) = layer(d, n, 30);
        let all: Vec<usize> = (0..n).collect();
        assert_eq!(repair_down(&w, d, &g, &all, 1e-3).unwrap().weights, w, "bit for bit");
        let keep = [1, 4, 6, 7];
        let sliced = slice_columns(&w, n, &keep);
        let r = repair_down(&w, d, &g, &keep, 1e12).unwrap();
        for (a, b) in r.weights.iter().zip(&sliced) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn repair_fits_the_calibration_outputs_better_than_slicing() {
        // The objective itself: Σ_t w_t ‖W h_t − W' h_K,t‖² on the calibration rows.
        let (d, n, t) = (6, 16, 64);
        let (w, h, weights, g) = layer(d, n, t);
        let keep: Vec<usize> = (0..n).filter(|j| j % 3 != 1).collect();
        let err = |wk: &[f32]| -> f64 {
            (0..t)
                .map(|r| {
                    let row = &h[r * n..(r + 1) * n];
                    (0..d)
                        .map(|o| {
                            let full: f64 = (0..n).map(|j| f64::from(w[o * n + j]) * f64::from(row[j])).sum();
                            let kept: f64 =
                                keep.iter().enumerate().map(|(a, &j)| f64::from(wk[o * keep.len() + a]) * f64::from(row[j])).sum();
                            f64::from(weights[r]) * (full - kept).powi(2)
                        })
                        .sum::<f64>()
                })
                .sum()
        };
        let sliced = slice_columns(&w, n, &keep);
        let repaired = repair_down(&w, d, &g, &keep, 1e-6).unwrap().weights;
        let (before, after) = (err(&sliced), err(&repaired));
        assert!(after < 0.5 * before, "repair {after} against slicing {before}");
    }
}
