//! The second moments the repair of a pruned FFN is fitted with (beyond the paper,
//! [`crate::prune::repair`]): `C = Σ_t w_t h_t h_tᵀ` of a layer's down_proj input
//! ([`Gram`]) and the cross moment `Σ_t w_t y_t h_tᵀ` with the outputs the FFN should
//! give ([`Cross`]). Each batch's products are f32 (on the CPU here, or on the GPU in
//! tiles that [`Gram::add_rows`] / [`Cross::add_rows`] take), the batches are summed
//! in f64.

use super::cpu::matmul;

/// Channels per block of the second moment's rows computed at once: a block times all
/// later channels is one matmul, and the f32 products stay a few MB.
const GRAM_BLOCK: usize = 128;

/// The mask-weighted second moment `Σ_t w_t h_t h_tᵀ` of one layer's `down_proj` input:
/// each batch's products summed in f32 (as importance is), the batches in f64.
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

    /// Bytes a sum over `n` channels holds.
    pub fn bytes(n: usize) -> u64 {
        (n * (n + 1) / 2 * 8) as u64
    }

    /// Adds one batch: the rows of `h` (`weights.len()` rows of `n` values) with their
    /// weights (rows of weight 0 are skipped; weights must not be negative).
    pub fn add(&mut self, h: &[f32], weights: &[f32]) {
        self.add_batch(&WeightedBatch::new(h, self.n, weights));
    }

    /// Adds one batch already transposed and weighed.
    pub(crate) fn add_batch(&mut self, b: &WeightedBatch) {
        // Σ_t w_t h_ti h_tj is the dot product of channels i and j of the transposed batch.
        let (n, g, t) = (self.n, &b.rows, b.t);
        if t == 0 {
            return;
        }
        for i0 in (0..n).step_by(GRAM_BLOCK) {
            let i1 = (i0 + GRAM_BLOCK).min(n);
            let block = matmul(&g[i0 * t..i1 * t], i1 - i0, &g[i0 * t..], n - i0, t);
            for i in i0..i1 {
                let at = self.row_start(i);
                let sums = &block[(i - i0) * (n - i0) + (i - i0)..(i - i0 + 1) * (n - i0)];
                self.upper[at..at + n - i].iter_mut().zip(sums).for_each(|(a, &b)| *a += f64::from(b));
            }
        }
    }

    /// Adds another sum over the same channels (batches, workers).
    pub fn merge(&mut self, other: &Gram) {
        self.upper.iter_mut().zip(&other.upper).for_each(|(a, b)| *a += b);
    }

    /// Where row `i` of the upper triangle starts: rows 0..i hold
    /// n + (n-1) + … + (n-i+1) = i·n − i(i−1)/2 entries.
    fn row_start(&self, i: usize) -> usize {
        i * self.n - i * i.saturating_sub(1) / 2
    }

    /// Adds a block of rows computed elsewhere (the GPU's tiles): rows `i0..i0 + r` of
    /// the sum over columns `i0..n`, row-major in `block` (`r · (n − i0)` values); the
    /// part below the diagonal is ignored.
    pub fn add_rows(&mut self, i0: usize, block: &[f32]) {
        let width = self.n - i0;
        for (r, row) in block.chunks_exact(width).enumerate() {
            let i = i0 + r;
            let at = self.row_start(i);
            self.upper[at..at + self.n - i].iter_mut().zip(&row[r..]).for_each(|(a, &b)| *a += f64::from(b));
        }
    }

    /// `C[i][j]` (symmetric).
    pub fn get(&self, i: usize, j: usize) -> f64 {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        self.upper[self.row_start(i) + (j - i)]
    }
}

/// A batch's rows whose weight is positive, transposed (`n` rows of `t`) and each
/// scaled by the square root of its weight: what both moments multiply.
pub(crate) struct WeightedBatch {
    rows: Vec<f32>,
    t: usize,
}

impl WeightedBatch {
    /// The rows of `h` (rows of `n` values) with `weights`.
    pub(crate) fn new(h: &[f32], n: usize, weights: &[f32]) -> Self {
        let kept: Vec<(usize, f32)> = weights.iter().enumerate().filter(|(_, w)| **w > 0.0).map(|(r, w)| (r, w.sqrt())).collect();
        let t = kept.len();
        let mut rows = vec![0f32; n * t];
        for (c, &(r, s)) in kept.iter().enumerate() {
            for (i, &v) in h[r * n..(r + 1) * n].iter().enumerate() {
                rows[i * t + c] = s * v;
            }
        }
        Self { rows, t }
    }
}

/// The mask-weighted cross moment `Σ_t w_t y_t h_tᵀ` (`D × I`) of the outputs a layer's
/// FFN should give (`y`, rows of D) and its down_proj inputs (`h`, rows of I): the
/// right-hand side of [`repair_to_target`]. Batches in f32, sums in f64, as [`Gram`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cross {
    /// Outputs (D).
    pub d: usize,
    /// Channels (I).
    pub n: usize,
    /// `d × n` sums, row-major.
    pub sums: Vec<f64>,
}

impl Cross {
    /// An empty sum of `d` outputs by `n` channels.
    pub fn new(d: usize, n: usize) -> Self {
        Self { d, n, sums: vec![0.0; d * n] }
    }

    /// Adds a block of rows computed elsewhere (the GPU's tiles): rows `o0..` of the
    /// `d × n` sum, row-major in `block`.
    pub fn add_rows(&mut self, o0: usize, block: &[f32]) {
        self.sums[o0 * self.n..][..block.len()].iter_mut().zip(block).for_each(|(a, &b)| *a += f64::from(b));
    }

    /// Adds one batch: `h` and `y` rows with their weights.
    pub fn add(&mut self, h: &[f32], y: &[f32], weights: &[f32]) {
        self.add_batch(&WeightedBatch::new(h, self.n, weights), y, weights);
    }

    /// Adds one batch whose `h` rows are already transposed and weighed.
    pub(crate) fn add_batch(&mut self, h: &WeightedBatch, y: &[f32], weights: &[f32]) {
        if h.t == 0 {
            return;
        }
        let yt = WeightedBatch::new(y, self.d, weights);
        let block = matmul(&yt.rows, self.d, &h.rows, self.n, h.t);
        self.sums.iter_mut().zip(block).for_each(|(a, b)| *a += f64::from(b));
    }
}
