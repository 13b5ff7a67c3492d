//! `y = x Wᵀ` on the CPU: the reference forward's one heavy kernel, natively and in
//! the browser's CPU device.
//!
//! The classic packed layout (GotoBLAS / BLIS): the weight is copied once into panels of
//! `NR` output features laid out depth-major, so the micro-kernel reads one contiguous
//! row of `NR` weights per step and multiplies it by `MR` broadcast activations into
//! `MR × NR` register accumulators, over the whole depth without leaving registers.
//! A block of rows of `x` stays in L2 while every panel streams past it.
//!
//! Every output is summed in a fixed order: running sums over consecutive chunks of
//! [`CHUNK`] depth indices, `s = ((x₀w₀ + x₁w₁) + x₂w₂) + …`, and the chunks' sums
//! added in order (so the rounding error grows with `CHUNK + k / CHUNK`, not `k`: the
//! repair's second moments sum thousands of tokens), with a separate multiply and add
//! (no fused multiply-add: WebAssembly SIMD has none, and the browser's CPU device must
//! give the same bytes as the CLI). So the AVX2 kernel, the WebAssembly SIMD kernel and
//! the plain loop give identical results, whatever the blocking, the thread count or
//! the row count ([`sum_in_order`] is the definition). On CPUs with separate add and
//! multiply pipes (AMD Zen) this costs nothing against fused multiply-add.

/// Depth indices per running sum (see the module's notes).
const CHUNK: usize = 256;
/// Rows of `x` per micro-kernel call.
const MR: usize = 6;
/// Output features per packed panel: two AVX2 registers, four WebAssembly SIMD ones.
const NR: usize = 16;
/// Bytes of `x` one block of rows may take: the block stays in L2 while every panel
/// of the weight streams past it.
const ROW_BLOCK_BYTES: usize = 256 << 10;

/// `y = x Wᵀ`: `x` is `t × k`, `w` is `n × k` (a PyTorch Linear weight), `y` is `t × n`.
/// On the machine's cores (one thread on wasm): the weight is packed once (split by
/// panels), then the products are split by rows when there are enough for every core,
/// else by output features. Each output is summed in the one order of the module's
/// notes, so the split changes speed, never results.
pub fn matmul(x: &[f32], t: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
    assert_eq!((x.len(), w.len()), (t * k, n * k), "matmul operands");
    matmul_packed(x, t, &Packed::new(w, Layout::Rows(k), n, k))
}

/// [`matmul`] with `w` given as little-endian bf16 bytes (a checkpoint's own form).
pub fn matmul_bf16(x: &[f32], t: usize, w: &[u8], n: usize, k: usize) -> Vec<f32> {
    matmul_packed(x, t, &Packed::from_bf16(w, n, k))
}

/// [`matmul`] with a weight already packed (one kept between passes, say).
pub fn matmul_packed(x: &[f32], t: usize, packed: &Packed) -> Vec<f32> {
    let (n, k) = (packed.n, packed.k);
    assert_eq!(x.len(), t * k, "matmul operands");
    // A bf16 weight is widened a panel at a time for every block of rows; with many
    // more blocks than cores, widening it once (exactly) costs less.
    if let Panels::Bf16(p) = &packed.panels
        && t > WIDEN_BLOCKS * row_block(k) * crate::parallel::threads()
    {
        let mut wide = vec![0f32; p.len()];
        crate::parallel::for_rows(
            &mut wide,
            k * NR,
            |_| 1.0,
            |first, part| {
                for (w, &b) in part.iter_mut().zip(&p[first * k * NR..]) {
                    *w = f32::from_bits(u32::from(b) << 16);
                }
            },
        );
        return matmul_packed(x, t, &Packed { panels: Panels::F32(wide), n, k });
    }
    if t >= ROWS_PER_CORE * crate::parallel::threads() {
        let mut y = vec![0f32; t * n];
        crate::parallel::for_rows(
            &mut y,
            n,
            |_| 1.0,
            |first, part| {
                packed.times(&x[first * k..], k, part.len() / n, 0..n, part, n);
            },
        );
        return y;
    }
    let columns = |lo: usize, hi: usize| {
        let mut y = vec![0f32; t * (hi - lo)];
        packed.times(x, k, t, lo..hi, &mut y, hi - lo);
        y
    };
    if t * n * k < SPLIT_MACS {
        // Too small to pay for starting threads (generation's one row through most of a
        // layer's matrices): on the calling thread.
        return columns(0, n);
    }
    super::cpu::split_columns(t, n, 1, NR, columns)
}

/// Blocks of rows per core above which a bf16 weight is widened once, whole, rather
/// than a panel at a time for every block: widening a panel again is work in L1,
/// writing a whole widened weight (tens of MB for a vocabulary block) is memory traffic.
const WIDEN_BLOCKS: usize = 4;

/// Rows of `x` per block for a depth of `k`: [`ROW_BLOCK_BYTES`] of them, a whole
/// number of micro-kernel calls, 1 to 16 calls.
fn row_block(k: usize) -> usize {
    (ROW_BLOCK_BYTES / (4 * k.max(1)) / MR).clamp(1, 16) * MR
}

/// Multiply-adds below which a product of few rows stays on the calling thread (a
/// thread costs tens of microseconds to start; one row through a 576 × 1536 bf16 matrix
/// takes about a hundred).
const SPLIT_MACS: usize = 1 << 22;

/// Rows each core needs before [`matmul`] splits by rows.
const ROWS_PER_CORE: usize = 4 * MR;

/// `y[r·ldy + j] = Σ_d x[r·ldx + d] · w[j][d]` for `r < t`, `j < n`, `d < k`, on the
/// calling thread, each output summed in the one order ([`sum_in_order`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm(x: &[f32], ldx: usize, t: usize, w: &[f32], layout: Layout, n: usize, k: usize, y: &mut [f32], ldy: usize) {
    Packed::new(w, layout, n, k).times(x, ldx, t, 0..n, y, ldy);
}

/// `Σ_d x[d] · w[d]` in the order every output of [`matmul`] is summed in (the
/// module's notes), one value at a time: the definition the kernels are tested against.
pub fn sum_in_order(x: &[f32], w: &[f32]) -> f32 {
    x.chunks(CHUNK).zip(w.chunks(CHUNK)).map(|(x, w)| x.iter().zip(w).fold(0.0, |s, (a, b)| s + a * b)).fold(0.0, |t, s| t + s)
}

/// How the `n × k` values `w[j][d]` of a right-hand operand lie in memory.
#[derive(Debug, Clone, Copy)]
pub enum Layout {
    /// `w[j][d]` at `j · ld + d`: a Linear weight's rows (or attention's keys).
    Rows(usize),
    /// `w[j][d]` at `d · ld + j`: its transpose (attention's values).
    Cols(usize),
}

/// A right-hand operand in panels of [`NR`] output features, each `k × NR` values
/// depth-major (`panel[d · NR + j] = w[p·NR + j][d]`), zero past the last feature: the
/// micro-kernel reads one contiguous row of a panel per step.
#[derive(Debug)]
pub struct Packed {
    panels: Panels,
    n: usize,
    k: usize,
}

/// The values of a [`Packed`] operand. A bf16 weight stays bf16 (half the memory of
/// f32; widened exactly, a panel at a time, where it is used).
#[derive(Debug)]
enum Panels {
    F32(Vec<f32>),
    Bf16(Vec<u16>),
}

impl Packed {
    /// Packs `w` (split by panels over the machine's cores).
    pub fn new(w: &[f32], layout: Layout, n: usize, k: usize) -> Self {
        let w_len = match layout {
            Layout::Rows(ld) => (n.max(1) - 1) * ld + k,
            Layout::Cols(ld) => (k.max(1) - 1) * ld + n,
        };
        assert!(w.len() >= w_len, "gemm weight");
        let panels = pack_panels(n, k, |j, d| match layout {
            Layout::Rows(ld) => w[j * ld + d],
            Layout::Cols(ld) => w[d * ld + j],
        });
        Self { panels: Panels::F32(panels), n, k }
    }

    /// Packs an `n × k` row-major weight given as little-endian bf16 bytes, as bf16.
    pub fn from_bf16(bytes: &[u8], n: usize, k: usize) -> Self {
        assert_eq!(bytes.len(), 2 * n * k, "bf16 weight");
        let panels = pack_panels(n, k, |j, d| {
            let at = 2 * (j * k + d);
            u16::from_le_bytes([bytes[at], bytes[at + 1]])
        });
        Self { panels: Panels::Bf16(panels), n, k }
    }

    /// `y[r·ldy + j − cols.start] = Σ_d x[r·ldx + d] · w[j][d]` for `r < t` and `j` in
    /// `cols` (`cols.start` a multiple of [`NR`]): blocks of rows that stay in L2, every
    /// panel streaming past a block, `MR` rows of the block per micro-kernel call.
    fn times(&self, x: &[f32], ldx: usize, t: usize, cols: std::ops::Range<usize>, y: &mut [f32], ldy: usize) {
        let (k, width) = (self.k, cols.len());
        if t == 0 || width == 0 {
            return;
        }
        assert!(cols.start.is_multiple_of(NR) && cols.end <= self.n, "gemm columns");
        assert!(x.len() >= (t - 1) * ldx + k && y.len() >= (t - 1) * ldy + width, "gemm operands");
        if let (1, Panels::Bf16(p)) = (t, &self.panels) {
            return row_bf16(&x[..k], k, &p[cols.start / NR * k * NR..], &mut y[..width]);
        }
        let block = row_block(k);
        let mut tile = [0f32; MR * NR];
        let mut wide = Vec::new();
        for b0 in (0..t).step_by(block) {
            let b1 = (b0 + block).min(t);
            for j0 in cols.clone().step_by(NR) {
                let at = j0 / NR * k * NR..(j0 / NR + 1) * k * NR;
                let panel: &[f32] = match &self.panels {
                    Panels::F32(p) => &p[at],
                    Panels::Bf16(p) => {
                        wide.clear();
                        wide.extend(p[at].iter().map(|&b| f32::from_bits(u32::from(b) << 16)));
                        &wide
                    }
                };
                let w = (cols.end - j0).min(NR);
                for r0 in (b0..b1).step_by(MR) {
                    let rows = (b1 - r0).min(MR);
                    let out = &mut y[r0 * ldy + j0 - cols.start..];
                    if w == NR {
                        micro(rows, &x[r0 * ldx..], ldx, k, panel, out, ldy);
                    } else {
                        // The last, partial panel: through a full-width tile.
                        micro(rows, &x[r0 * ldx..], ldx, k, panel, &mut tile, NR);
                        for r in 0..rows {
                            out[r * ldy..r * ldy + w].copy_from_slice(&tile[r * NR..r * NR + w]);
                        }
                    }
                }
            }
        }
    }
}

/// Panels one call of [`row_panels`] runs at once: their sums are independent, so their
/// chains of additions overlap.
const ROW_PANELS: usize = 4;

/// `y[j] = Σ_d x[d] · w[j][d]` for one row `x` of depth `k` and the `y.len()` features of
/// the bf16 `panels` (generation's every product): the weights are widened in
/// registers, never copied, and [`ROW_PANELS`] panels run at once. Each sum in the
/// module's one order, as [`micro`] makes it.
fn row_bf16(x: &[f32], k: usize, panels: &[u16], y: &mut [f32]) {
    let mut tile = [0f32; ROW_PANELS * NR];
    for (q, out) in y.chunks_mut(ROW_PANELS * NR).enumerate() {
        let m = out.len().div_ceil(NR);
        let src = &panels[q * ROW_PANELS * k * NR..][..m * k * NR];
        row_panels(m, x, k, src, &mut tile);
        out.copy_from_slice(&tile[..out.len()]);
    }
}

/// `c[q·NR + j] = Σ_d a[d] · panels[q·depth·NR + d·NR + j]` for `q < count ≤
/// ROW_PANELS` consecutive bf16 panels, each sum in the module's order.
fn row_panels(count: usize, a: &[f32], depth: usize, panels: &[u16], c: &mut [f32]) {
    assert!(count <= ROW_PANELS && a.len() >= depth && panels.len() >= count * depth * NR && c.len() >= count * NR);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the bounds are asserted above.
        unsafe {
            match count {
                4 => row_bf16_avx2::<4>(a, depth, panels, c),
                3 => row_bf16_avx2::<3>(a, depth, panels, c),
                2 => row_bf16_avx2::<2>(a, depth, panels, c),
                _ => row_bf16_avx2::<1>(a, depth, panels, c),
            }
        }
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // Two panels at a time: eight accumulators, as in `micro`.
        for q in (0..count).step_by(2) {
            let (p, c) = (&panels[q * depth * NR..], &mut c[q * NR..]);
            if count - q >= 2 { row_bf16_simd128::<2>(a, depth, p, c) } else { row_bf16_simd128::<1>(a, depth, p, c) }
        }
        #[allow(clippy::needless_return)]
        return;
    }
    #[allow(unreachable_code)]
    for (panel, c) in panels.chunks_exact(depth * NR).zip(c.chunks_exact_mut(NR)).take(count) {
        let wide: Vec<f32> = panel.iter().map(|&b| f32::from_bits(u32::from(b) << 16)).collect();
        micro(1, a, depth, depth, &wide, c, NR);
    }
}

/// [`row_panels`] for `P` panels in AVX2 registers: two accumulators of eight outputs
/// per panel, the bf16 weights widened by interleaving them with zeros.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_bf16_avx2<const P: usize>(a: &[f32], depth: usize, panels: &[u16], c: &mut [f32]) {
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_add_ps, _mm256_broadcast_ss, _mm256_castsi256_ps, _mm256_loadu_si256, _mm256_mul_ps,
        _mm256_permute2f128_ps, _mm256_setzero_ps, _mm256_setzero_si256, _mm256_storeu_ps, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16,
    };
    let (a, b, c) = (a.as_ptr(), panels.as_ptr(), c.as_mut_ptr());
    let stride = depth * NR;
    // SAFETY: the caller asserted `P ≤ ROW_PANELS`, `panels.len() ≥ P · depth · NR`,
    // `a.len() ≥ depth` and `c.len() ≥ P · NR`.
    unsafe {
        let zero = _mm256_setzero_si256();
        // Interleaving with zeros puts each bf16 in the high half of a 32-bit lane,
        // which is its f32 — outputs 0–3 and 8–11 in one register, 4–7 and 12–15 in
        // the other (the interleave works within 128-bit halves); put back at the end.
        let mut total: [[__m256; 2]; P] = [[_mm256_setzero_ps(); 2]; P];
        for d0 in (0..depth).step_by(CHUNK) {
            let mut acc: [[__m256; 2]; P] = [[_mm256_setzero_ps(); 2]; P];
            for d in d0..(d0 + CHUNK).min(depth) {
                let av = _mm256_broadcast_ss(&*a.add(d));
                for (q, acc) in acc.iter_mut().enumerate() {
                    let raw = _mm256_loadu_si256(b.add(q * stride + d * NR) as *const __m256i);
                    let lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, raw));
                    let hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, raw));
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(av, lo));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(av, hi));
                }
            }
            for (t, a) in total.iter_mut().zip(&acc) {
                *t = [_mm256_add_ps(t[0], a[0]), _mm256_add_ps(t[1], a[1])];
            }
        }
        for (q, t) in total.iter().enumerate() {
            _mm256_storeu_ps(c.add(q * NR), _mm256_permute2f128_ps(t[0], t[1], 0x20));
            _mm256_storeu_ps(c.add(q * NR + 8), _mm256_permute2f128_ps(t[0], t[1], 0x31));
        }
    }
}

/// [`row_panels`] for `P` panels in WebAssembly SIMD: four accumulators of four
/// outputs per panel, the bf16 weights widened by interleaving them with zeros.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn row_bf16_simd128<const P: usize>(a: &[f32], depth: usize, panels: &[u16], c: &mut [f32]) {
    use std::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, i16x8_shuffle, u16x8_splat, v128, v128_load, v128_store};
    assert!(panels.len() >= P * depth * NR && a.len() >= depth && c.len() >= P * NR);
    let (b, c, stride) = (panels.as_ptr(), c.as_mut_ptr(), depth * NR);
    // SAFETY: bounds asserted just above; wasm loads and stores need no alignment.
    unsafe {
        let zero = u16x8_splat(0);
        let mut total = [[f32x4_splat(0.0); 4]; P];
        for d0 in (0..depth).step_by(CHUNK) {
            let mut acc = [[f32x4_splat(0.0); 4]; P];
            for (d, &ad) in a.iter().enumerate().take((d0 + CHUNK).min(depth)).skip(d0) {
                let av = f32x4_splat(ad);
                for (q, acc) in acc.iter_mut().enumerate() {
                    let at = b.add(q * stride + d * NR);
                    let (r0, r1) = (v128_load(at as *const v128), v128_load(at.add(8) as *const v128));
                    // Each bf16 in the high half of a 32-bit lane: its f32.
                    let w = [
                        i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(r0, zero),
                        i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(r0, zero),
                        i16x8_shuffle::<8, 0, 9, 1, 10, 2, 11, 3>(r1, zero),
                        i16x8_shuffle::<12, 4, 13, 5, 14, 6, 15, 7>(r1, zero),
                    ];
                    for (v, wv) in acc.iter_mut().zip(w) {
                        *v = f32x4_add(*v, f32x4_mul(av, wv));
                    }
                }
            }
            for (t, a) in total.iter_mut().zip(&acc) {
                for (t, &a) in t.iter_mut().zip(a) {
                    *t = f32x4_add(*t, a);
                }
            }
        }
        for (q, acc) in total.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                v128_store(c.add(q * NR + 4 * h) as *mut v128, v);
            }
        }
    }
}

/// Panels of `n` features × `k` depth holding `value(j, d)` (zero past feature `n`),
/// filled on the machine's cores for large operands.
fn pack_panels<T: Copy + Default + Send>(n: usize, k: usize, value: impl Fn(usize, usize) -> T + Sync) -> Vec<T> {
    let mut panels = vec![T::default(); n.div_ceil(NR) * k * NR];
    let fill = |first: usize, part: &mut [T]| {
        for (p, panel) in part.chunks_exact_mut(k * NR).enumerate() {
            let j0 = (first + p) * NR;
            for j in 0..(n - j0).min(NR) {
                for d in 0..k {
                    panel[d * NR + j] = value(j0 + j, d);
                }
            }
        }
    };
    if k > 0 && n * k >= PARALLEL_PACK {
        crate::parallel::for_rows(&mut panels, k * NR, |_| 1.0, fill);
    } else if k > 0 {
        fill(0, &mut panels);
    }
    panels
}

/// Weights smaller than this are packed on the calling thread.
const PARALLEL_PACK: usize = 1 << 16;

/// `c[r·ldc + j] = Σ_d a[r·lda + d] · panel[d·NR + j]` for `r < rows ≤ MR` and
/// `j < NR`, each sum in the module's order (a multiply, then an add).
#[inline]
#[allow(clippy::too_many_arguments)]
fn micro(rows: usize, a: &[f32], lda: usize, depth: usize, panel: &[f32], c: &mut [f32], ldc: usize) {
    assert!(rows <= MR && panel.len() >= depth * NR && a.len() >= (rows - 1) * lda + depth && c.len() >= (rows - 1) * ldc + NR);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above); the bounds are asserted above.
        unsafe {
            match rows {
                6 => micro_avx2::<6>(a, lda, depth, panel, c, ldc),
                5 => micro_avx2::<5>(a, lda, depth, panel, c, ldc),
                4 => micro_avx2::<4>(a, lda, depth, panel, c, ldc),
                3 => micro_avx2::<3>(a, lda, depth, panel, c, ldc),
                2 => micro_avx2::<2>(a, lda, depth, panel, c, ldc),
                _ => micro_avx2::<1>(a, lda, depth, panel, c, ldc),
            }
        }
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // Two rows at a time: eight accumulators and four weight vectors fit the
        // sixteen registers a browser's x86 code has.
        for r in (0..rows).step_by(2) {
            let (a, c) = (&a[r * lda..], &mut c[r * ldc..]);
            if rows - r >= 2 { micro_simd128::<2>(a, lda, depth, panel, c, ldc) } else { micro_simd128::<1>(a, lda, depth, panel, c, ldc) }
        }
        #[allow(clippy::needless_return)]
        return;
    }
    #[allow(unreachable_code)]
    for r in 0..rows {
        let mut total = [0f32; NR];
        for d0 in (0..depth).step_by(CHUNK) {
            let mut sum = [0f32; NR];
            for d in d0..(d0 + CHUNK).min(depth) {
                let av = a[r * lda + d];
                for (o, &wv) in sum.iter_mut().zip(&panel[d * NR..(d + 1) * NR]) {
                    *o += av * wv;
                }
            }
            total.iter_mut().zip(sum).for_each(|(t, s)| *t += s);
        }
        c[r * ldc..r * ldc + NR].copy_from_slice(&total);
    }
}

/// [`micro`] for `R` rows in AVX2 registers: `R × 2` accumulators of eight outputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn micro_avx2<const R: usize>(a: &[f32], lda: usize, depth: usize, panel: &[f32], c: &mut [f32], ldc: usize) {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let (a, b, c) = (a.as_ptr(), panel.as_ptr(), c.as_mut_ptr());
    // SAFETY: the caller asserted `R ≤ MR`, `panel.len() ≥ depth · NR`, that row
    // `R − 1` of `a` has `depth` values and row `R − 1` of `c` has NR.
    unsafe {
        let mut total: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
        for d0 in (0..depth).step_by(CHUNK) {
            let mut acc: [[__m256; 2]; R] = [[_mm256_setzero_ps(); 2]; R];
            for d in d0..(d0 + CHUNK).min(depth) {
                let w0 = _mm256_loadu_ps(b.add(d * NR));
                let w1 = _mm256_loadu_ps(b.add(d * NR + 8));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*a.add(r * lda + d));
                    acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(av, w0));
                    acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(av, w1));
                }
            }
            for (t, a) in total.iter_mut().zip(&acc) {
                *t = [_mm256_add_ps(t[0], a[0]), _mm256_add_ps(t[1], a[1])];
            }
        }
        for (r, acc) in total.iter().enumerate() {
            _mm256_storeu_ps(c.add(r * ldc), acc[0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), acc[1]);
        }
    }
}

/// [`micro`] for `R` rows in WebAssembly SIMD: `R × 4` accumulators of four outputs.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn micro_simd128<const R: usize>(a: &[f32], lda: usize, depth: usize, panel: &[f32], c: &mut [f32], ldc: usize) {
    use std::arch::wasm32::{f32x4_add, f32x4_mul, f32x4_splat, v128, v128_load, v128_store};
    assert!(panel.len() >= depth * NR && a.len() >= (R - 1) * lda + depth && c.len() >= (R - 1) * ldc + NR);
    let (b, c) = (panel.as_ptr(), c.as_mut_ptr());
    // SAFETY: bounds asserted just above; wasm loads and stores need no alignment.
    unsafe {
        let mut total = [[f32x4_splat(0.0); 4]; R];
        for d0 in (0..depth).step_by(CHUNK) {
            let mut acc = [[f32x4_splat(0.0); 4]; R];
            for d in d0..(d0 + CHUNK).min(depth) {
                let w = [0, 1, 2, 3].map(|h| v128_load(b.add(d * NR + 4 * h) as *const v128));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = f32x4_splat(a[r * lda + d]);
                    for (v, &wv) in acc.iter_mut().zip(&w) {
                        *v = f32x4_add(*v, f32x4_mul(av, wv));
                    }
                }
            }
            for (t, a) in total.iter_mut().zip(&acc) {
                for (t, &a) in t.iter_mut().zip(a) {
                    *t = f32x4_add(*t, a);
                }
            }
        }
        for (r, acc) in total.iter().enumerate() {
            for (h, &v) in acc.iter().enumerate() {
                v128_store(c.add(r * ldc + 4 * h) as *mut v128, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operands(t: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..t * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
        (x, w)
    }

    #[test]
    fn every_output_is_summed_in_the_one_order() {
        // Partial register blocks (t mod 6) and panels (n mod 16), enough rows to split
        // by rows, a depth past the row block's budget, a one-row call.
        for (t, n, k) in [(7, 133, 29), (13, 300, 600), (1, 17, 257), (6, 16, 256), (100, 40, 3000)] {
            let (x, w) = operands(t, n, k);
            let y = matmul(&x, t, &w, n, k);
            for r in 0..t {
                for o in 0..n {
                    let want = sum_in_order(&x[r * k..(r + 1) * k], &w[o * k..(o + 1) * k]);
                    assert_eq!(y[r * n + o].to_bits(), want.to_bits(), "{t}×{n}×{k} at ({r}, {o})");
                }
            }
        }
    }

    #[test]
    fn a_row_gives_the_same_bytes_alone_or_among_others() {
        let (t, n, k) = (11, 70, 300);
        let (x, w) = operands(t, n, k);
        let all = matmul(&x, t, &w, n, k);
        for r in 0..t {
            assert_eq!(matmul(&x[r * k..(r + 1) * k], 1, &w, n, k), all[r * n..(r + 1) * n]);
        }
    }

    #[test]
    fn one_row_against_bf16_weights_is_summed_in_the_one_order() {
        // Whole groups of panels, a partial group, a partial last panel; depths under
        // and over a chunk.
        for (n, k) in [(64, 256), (70, 300), (16, 1), (133, 29), (200, 700)] {
            let (x, w) = operands(1, n, k);
            let bf16: Vec<u8> = w.iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect();
            let wide: Vec<f32> = w.iter().map(|v| f32::from_bits(v.to_bits() & 0xffff_0000)).collect();
            let y = matmul_bf16(&x, 1, &bf16, n, k);
            for o in 0..n {
                let want = sum_in_order(&x, &wide[o * k..(o + 1) * k]);
                assert_eq!(y[o].to_bits(), want.to_bits(), "{n}×{k} at {o}");
            }
        }
    }

    #[test]
    fn a_transposed_operand_gives_the_same_bytes() {
        let (t, n, k) = (9, 21, 35);
        let (x, w) = operands(t, n, k);
        let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
        let mut y = vec![0f32; t * n];
        gemm(&x, k, t, &wt, Layout::Cols(n), n, k, &mut y, n);
        assert_eq!(y, matmul(&x, t, &w, n, k));
    }
}
