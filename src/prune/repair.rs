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

use super::select::{self, Score};
use crate::engine::Device;
use crate::engine::cpu::LayerByLayer;
use crate::engine::device::cpu_windows_per_pass;
use crate::engine::forward::ACTIVATION_BUDGET;
use crate::engine::layerwise::{GpuLayers, LayerMoments};
use crate::engine::moments::WeightedBatch;
pub use crate::engine::moments::{Cross, Gram};
use crate::error::{Error, Result};
use crate::io::{ByteSource, Spilled};
use crate::model::checkpoint::{decode, encode};
use crate::model::{Checkpoint, ModelConfig, names};
use crate::parallel::for_rows;
use crate::progress::{Cancel, Progress, ProgressSink, now};

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
///
/// Work: `d·|R|·|K|` for `W_R C_RK`, `|K|³/3` for the Cholesky factor of `C_KK + λI`
/// and `2·d·|K|²` for the solves, in f64, on every core natively.
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
    let (a, lambda) = factor_kept(gram, keep, rel_lambda)?;

    // M = W_R C_RK (d × k), a removed channel at a time.
    let mut m = vec![0f64; d * k];
    let c_rk: Vec<f64> = removed.iter().flat_map(|&r| keep.iter().map(move |&j| (r, j))).map(|(r, j)| gram.get(r, j)).collect();
    for_rows(
        &mut m,
        k,
        |_| 1.0,
        |first, rows| {
            for (o, row) in rows.chunks_exact_mut(k).enumerate() {
                let wo = &w[(first + o) * n..(first + o + 1) * n];
                for (b, &r) in removed.iter().enumerate() {
                    let f = f64::from(wo[r]);
                    if f != 0.0 {
                        row.iter_mut().zip(&c_rk[b * k..(b + 1) * k]).for_each(|(a, &c)| *a += f * c);
                    }
                }
            }
        },
    );
    drop(c_rk);

    // W_K' = W_K + M A⁻¹, a block of rows of M per pass over L.
    for_rows(&mut m, k, |_| 1.0, |_, rows| solve_rows(&a, k, rows));
    for (out, delta) in weights.iter_mut().zip(&m) {
        *out = (f64::from(*out) + delta) as f32;
    }
    if weights.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "the repaired down_proj".into(), in_weights: false });
    }
    Ok(Repaired { weights, lambda })
}

/// What a calibration with repair found and what the repair did.
#[derive(Debug)]
pub struct RepairedCalibration {
    /// Per layer, the scores channels were ranked by (act² or weighed, per [`Score`]).
    pub scores: Vec<Vec<f64>>,
    /// Per layer, the kept channels, ascending.
    pub channels: Vec<Vec<u32>>,
    /// Per layer, the repaired `down_proj` (`D × I'`) in the checkpoint's dtype, set
    /// aside outside memory until the export writes it.
    pub down: Vec<Spilled>,
    /// Figures for reports.
    pub report: RepairReport,
}

/// What the repair did and what it cost.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RepairReport {
    /// What each layer was fitted on and to.
    pub mode: RepairMode,
    /// The ridge relative to the mean of `C_KK`'s diagonal.
    pub rel_lambda: f64,
    /// Per layer, the ridge λ used.
    pub lambdas: Vec<f64>,
    /// Seconds spent summing the second moments (within calibration).
    pub gram_seconds: f64,
    /// Seconds spent solving.
    pub solve_seconds: f64,
    /// Bytes of one layer's second moment (held one layer at a time).
    pub gram_bytes: u64,
    /// Bytes of the repaired down_proj of all layers (set aside on disk, or in Blobs in
    /// the browser, until the export).
    pub down_bytes: u64,
}

/// How [`calibrate_and_repair`] chooses and refits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RepairOptions {
    /// Channels kept per layer (I').
    pub keep: usize,
    /// How channels are ranked.
    pub score: Score,
    /// The ridge relative to the mean of `C_KK`'s diagonal.
    pub rel_lambda: f64,
    /// What each layer is fitted on and to.
    pub mode: RepairMode,
}

/// What each layer's repair is fitted on and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RepairMode {
    /// The dense model's activations, to the layer's own output (one pass per layer).
    Dense,
    /// The activations of the pruned and repaired layers before it, to the layer's own
    /// output on them (two passes per layer).
    Sequential,
    /// The pruned model's activations, to the output that brings its residual stream
    /// back onto the dense model's after the layer: each layer also makes up for the
    /// error of the layers before it (three passes per layer, the dense stream kept
    /// beside the pruned one). Families with a norm after the FFN (Gemma) use
    /// [`RepairMode::Sequential`], whose target is linear in the weights. The default:
    /// the best agreement with the dense model.
    #[default]
    Residual,
}

impl RepairMode {
    /// How options and reports name it.
    pub fn key(self) -> &'static str {
        match self {
            RepairMode::Dense => "dense",
            RepairMode::Sequential => "sequential",
            RepairMode::Residual => "residual",
        }
    }

    /// The ridge used when none is asked for, relative to the mean of `C_KK`'s
    /// diagonal: the best of 10⁻⁴…1 on SmolLM2-135M's held-out perplexity and agreement
    /// (`scripts/paper/repair.sh`).
    pub fn default_ridge(self) -> f64 {
        match self {
            RepairMode::Dense | RepairMode::Sequential => 0.1,
            RepairMode::Residual => 0.3,
        }
    }

    /// Forward passes per layer over the calibration windows.
    pub fn passes(self) -> usize {
        match self {
            RepairMode::Dense => 1,
            RepairMode::Sequential => 2,
            RepairMode::Residual => 3,
        }
    }

    /// The mode named `key`.
    pub fn parse(key: &str) -> Option<Self> {
        [RepairMode::Dense, RepairMode::Sequential, RepairMode::Residual].into_iter().find(|m| m.key() == key)
    }
}

/// The passes a layer at a time, on the device calibration runs on.
enum Layers<'a, S> {
    Cpu(LayerByLayer<'a, S>),
    Gpu(Box<GpuLayers<'a, S>>),
}

impl<S: ByteSource> Layers<'_, S> {
    fn layer(&self) -> usize {
        match self {
            Layers::Cpu(run) => run.layer(),
            Layers::Gpu(run) => run.layer(),
        }
    }

    /// The next layer's act² and moments as `mode` fits it (over the pruned streams
    /// but for the dense fit, which moves on).
    async fn moments(&mut self, mode: RepairMode, (d, n): (usize, usize), cancel: &Cancel) -> Result<Option<LayerMoments>> {
        let run = match self {
            Layers::Gpu(run) => {
                return match mode {
                    RepairMode::Dense => run.next_layer(cancel).await,
                    RepairMode::Sequential => run.look_at_layer(cancel).await,
                    RepairMode::Residual => run.look_with_target(cancel).await,
                };
            }
            Layers::Cpu(run) => run,
        };
        let mut gram = Gram::new(n);
        let mut cross = (mode == RepairMode::Residual).then(|| Cross::new(d, n));
        let mut seconds = 0.0;
        let act2 = match mode {
            RepairMode::Residual => {
                let cross = cross.as_mut().expect("made for this mode");
                let sum = &mut |h: &[f32], w: &[f32], y: &[f32]| {
                    let t0 = now();
                    let batch = WeightedBatch::new(h, n, w);
                    gram.add_batch(&batch);
                    cross.add_batch(&batch, y, w);
                    seconds += now() - t0;
                };
                run.look_with_target(sum, cancel).await?
            }
            mode => {
                let sum = &mut |h: &[f32], w: &[f32]| {
                    let t0 = now();
                    gram.add(h, w);
                    seconds += now() - t0;
                };
                match mode {
                    RepairMode::Sequential => run.look_at_layer(sum, cancel).await?,
                    _ => run.next_layer(sum, cancel).await?,
                }
            }
        };
        Ok(act2.map(|act2| LayerMoments { act2, gram, cross, seconds }))
    }

    async fn advance_pruned(&mut self, keep: &[u32], down: &[f32], cancel: &Cancel) -> Result<()> {
        match self {
            Layers::Cpu(run) => run.advance_pruned(keep, down, cancel).await,
            Layers::Gpu(run) => run.advance_pruned(keep, down, cancel).await,
        }
    }
}

/// Calibration with repair a layer at a time, on `device` (the GPU's
/// [`GpuLayers`], or the CPU reference's [`LayerByLayer`]): for each layer, the act²
/// importance and the second moment `C` of its down_proj input over all windows, the
/// top channels by score, and `down_proj` refitted ([`repair_down`], on the CPU in
/// f64). Progress counts layers.
pub async fn calibrate_and_repair<S: ByteSource>(
    device: &Device,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    (tokens, t, weights): (&[u32], usize, &[f32]),
    opts: RepairOptions,
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<RepairedCalibration> {
    let (d, n, layers) = (cfg.hidden_size, cfg.intermediate_size, cfg.num_layers);
    let twin = opts.mode == RepairMode::Residual;
    let mut run = match device.gpu() {
        Some(gpu) => Layers::Gpu(Box::new(GpuLayers::new(gpu, cfg, ck, (tokens, t, weights), twin, ACTIVATION_BUDGET).await?)),
        None => {
            let per_pass = cpu_windows_per_pass(cfg, tokens.len() / t.max(1), t);
            let run = LayerByLayer::new(cfg, ck, tokens, t, weights, per_pass).await?;
            Layers::Cpu(if twin { run.with_dense_twin() } else { run })
        }
    };
    let on = if device.gpu().is_some() { "GPU" } else { "CPU" };
    let mut out = RepairedCalibration {
        scores: Vec::with_capacity(layers),
        channels: Vec::with_capacity(layers),
        down: Vec::with_capacity(layers),
        report: RepairReport { mode: opts.mode, rel_lambda: opts.rel_lambda, gram_bytes: Gram::bytes(n), ..Default::default() },
    };
    let start = now();
    while run.layer() < layers {
        let l = run.layer();
        let moments = run.moments(opts.mode, (d, n), cancel).await?;
        let LayerMoments { act2, gram, cross, seconds } = moments.ok_or_else(|| Error::Internal("calibration ended early".into()))?;
        out.report.gram_seconds += seconds;
        cancel.check()?;

        let t0 = now();
        let name = names::mlp(l, "down_proj");
        let info = ck.expect_shape(&name, &[d, n])?.clone();
        let w = ck.f32(&name).await?;
        let mut scores = act2;
        match opts.score {
            Score::Act2 => {}
            Score::Act2Weight => select::weigh_by_down(&mut scores, &w),
            Score::Obs => {
                // The removal order as the score: what went first scores lowest.
                let order = choose_obs(&w, d, &gram, opts.keep, opts.rel_lambda)?;
                let removed = n - opts.keep;
                order.iter().enumerate().for_each(|(step, &c)| scores[c] = step.min(removed) as f64);
            }
        }
        let kept = select::top_of_layer(l, &scores, opts.keep)?;
        let keep_idx: Vec<usize> = kept.iter().map(|&c| c as usize).collect();
        let repaired = match &cross {
            Some(c) => repair_to_target(&w, d, &gram, c, &keep_idx, opts.rel_lambda)?,
            None => repair_down(&w, d, &gram, &keep_idx, opts.rel_lambda)?,
        };
        drop((gram, cross));
        let bytes = encode(&info, &repaired.weights)?;
        out.report.down_bytes += bytes.len() as u64;
        out.report.lambdas.push(repaired.lambda);
        out.report.solve_seconds += now() - t0;
        if opts.mode != RepairMode::Dense {
            // The layer as it will be written (rounded to the checkpoint's dtype).
            run.advance_pruned(&kept, &decode(&info, &bytes)?, cancel).await?;
        }
        out.down.push(Spilled::new(&names::mlp(l, "down_proj"), bytes).await?);
        out.scores.push(scores);
        out.channels.push(kept);
        let rate = (tokens.len() * (l + 1)) as f64 / layers as f64 / (now() - start).max(1e-9);
        progress.report(Progress {
            stage: format!("layer {}/{layers} calibrated and repaired ({on}) · {rate:.0} tokens/s", l + 1),
            done: (l + 1) as u64,
            total: layers as u64,
        });
    }
    Ok(out)
}

/// The most memory repair holds at once beyond a plain calibration, in bytes, keeping
/// `keep` of the I channels over `tokens` positions stored `bytes_per_param` wide:
/// one layer's second moment and Cholesky factor (the surgeon's two n × n matrices
/// instead, with [`Score::Obs`]), the residual mode's dense stream and cross moment,
/// and one layer's repaired down_proj (the others are set aside until the export,
/// [`Spilled`]).
pub fn memory_bytes(cfg: &ModelConfig, keep: usize, tokens: usize, mode: RepairMode, score: Score, bytes_per_param: u64) -> u64 {
    let (n, d, k, t) = (cfg.intermediate_size as u64, cfg.hidden_size as u64, keep as u64, tokens as u64);
    let solve = if score == Score::Obs { (2 * n * n * 8).max(k * k * 8) } else { k * k * 8 };
    let residual = if mode == RepairMode::Residual { t * d * 4 + d * n * 8 } else { 0 };
    Gram::bytes(n as usize) + solve + d * k * 8 + residual + t * d * 4 + d * k * bytes_per_param
}

/// The arithmetic repair adds to calibration's own forward pass over `tokens`
/// positions, keeping `keep` of the I channels: the extra passes of `mode` (given the
/// pass's `calibration_flops`), the second moments (`tokens · I²`; the residual mode's
/// cross moments `2 · tokens · D · I`), `W_R C_RK`, the Cholesky factor and the solves;
/// for time estimates.
pub fn flops(cfg: &ModelConfig, keep: usize, tokens: usize, mode: RepairMode, calibration_flops: f64) -> f64 {
    let (n, d, k, t) = (cfg.intermediate_size as f64, cfg.hidden_size as f64, keep as f64, tokens as f64);
    let cross = if mode == RepairMode::Residual { 2.0 * t * d * n } else { 0.0 };
    let per_layer = t * n * n + cross + 2.0 * d * (n - k) * k + k * k * k / 3.0 * 2.0 + 4.0 * d * k * k;
    per_layer * cfg.num_layers as f64 + (mode.passes() - 1) as f64 * calibration_flops
}

/// Chooses the `keep` channels to keep with the repair in mind (optimal brain surgeon,
/// greedy): with `H = C + λI` over all channels (λ = `rel_lambda` × the mean of C's
/// diagonal), it removes one channel at a time — the one whose output
/// `‖W[:, j]‖² / H⁻¹_jj` the others make up for best — and lets the others take over
/// its share (`W −= W[:, j] H⁻¹[j, :] / H⁻¹_jj`, and `H⁻¹` updated to the channels
/// left), so each choice knows the repair that will follow. The first choice is the
/// weight-aware act² when channels are uncorrelated; correlated channels are not kept
/// twice. Returns the channels in the order they were removed (the kept ones last, in
/// ascending order).
///
/// Work: `n³` for `H⁻¹`, and `n² + 2·d·n` per removed channel, in f64 on every core.
pub fn choose_obs(w: &[f32], d: usize, gram: &Gram, keep: usize, rel_lambda: f64) -> Result<Vec<usize>> {
    let mut order = Vec::with_capacity(gram.n);
    let n = gram.n;
    if w.len() != d * n || keep == 0 || keep > n {
        return Err(Error::Internal(format!("choose_obs: {} weights for {d} × {n}, keeping {keep}", w.len())));
    }
    let mean = (0..n).map(|j| gram.get(j, j)).sum::<f64>() / n as f64;
    let lambda = rel_lambda * if mean > 0.0 { mean } else { 1.0 };
    let mut factor = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            factor[i * n + j] = gram.get(i, j);
        }
        factor[i * n + i] += lambda;
    }
    cholesky(&mut factor, n)?;
    let mut hinv = inverse_from_cholesky(&factor, n);
    drop(factor);
    // W channel-major (n × d), so that a channel's column is contiguous.
    let mut wt = vec![0f64; n * d];
    for (o, row) in w.chunks_exact(n).enumerate() {
        row.iter().enumerate().for_each(|(j, &v)| wt[j * d + o] = f64::from(v));
    }
    let mut norms: Vec<f64> = wt.chunks_exact(d).map(|c| c.iter().map(|v| v * v).sum()).collect();
    let mut alive = vec![true; n];
    for _ in keep..n {
        let j = (0..n)
            .filter(|&c| alive[c])
            .min_by(|&a, &b| (norms[a] / hinv[a * n + a]).total_cmp(&(norms[b] / hinv[b * n + b])).then(a.cmp(&b)))
            .expect("channels are left");
        alive[j] = false;
        order.push(j);
        let (hj, p) = (hinv[j * n..(j + 1) * n].to_vec(), hinv[j * n + j]);
        let wj = wt[j * d..(j + 1) * d].to_vec();
        let alive = &alive;
        for_rows(
            &mut wt,
            d,
            |c| alive[c] as u8 as f64,
            |first, rows| {
                for (o, col) in rows.chunks_exact_mut(d).enumerate() {
                    let c = first + o;
                    if alive[c] {
                        let f = hj[c] / p;
                        col.iter_mut().zip(&wj).for_each(|(v, &x)| *v -= f * x);
                    }
                }
            },
        );
        for_rows(
            &mut hinv,
            n,
            |c| alive[c] as u8 as f64,
            |first, rows| {
                for (o, row) in rows.chunks_exact_mut(n).enumerate() {
                    let c = first + o;
                    if alive[c] {
                        let f = hj[c] / p;
                        row.iter_mut().zip(&hj).for_each(|(v, &x)| *v -= f * x);
                    }
                }
            },
        );
        for c in (0..n).filter(|&c| alive[c]) {
            norms[c] = wt[c * d..(c + 1) * d].iter().map(|v| v * v).sum();
        }
    }
    order.extend((0..n).filter(|&c| alive[c]));
    Ok(order)
}

/// `A⁻¹` (full, row-major) from the Cholesky factor of `A` ([`cholesky`]): row i is
/// `e_i A⁻¹`, a forward substitution that starts at i and a back substitution, rows
/// spread over every core.
fn inverse_from_cholesky(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0f64; n * n];
    let cost = |i: usize| ((n - i) * (n - i) / 2 + n * n / 2) as f64;
    for_rows(&mut inv, n, cost, |first, rows| {
        for (o, row) in rows.chunks_exact_mut(n).enumerate() {
            let i = first + o;
            row[i] = 1.0 / l[i * n + i];
            for j in i + 1..n {
                row[j] = -dot64(&l[j * n + i..j * n + j], &row[i..j]) / l[j * n + j];
            }
            for j in (0..n).rev() {
                let x = row[j] / l[j * n + j];
                row[j] = x;
                row[..j].iter_mut().zip(&l[j * n..j * n + j]).for_each(|(y, &c)| *y -= x * c);
            }
        }
    });
    inv
}

/// The Cholesky factor of `A = C_KK + λI` (lower triangle, row-major, |K|²) and λ
/// (`rel_lambda` × the mean of `C_KK`'s diagonal).
fn factor_kept(gram: &Gram, keep: &[usize], rel_lambda: f64) -> Result<(Vec<f64>, f64)> {
    let k = keep.len();
    let mean_diag = keep.iter().map(|&j| gram.get(j, j)).sum::<f64>() / k.max(1) as f64;
    let lambda = rel_lambda * if mean_diag > 0.0 { mean_diag } else { 1.0 };
    let mut a = vec![0f64; k * k];
    for (i, &ki) in keep.iter().enumerate() {
        for (j, &kj) in keep[..=i].iter().enumerate() {
            a[i * k + j] = gram.get(ki, kj);
        }
        a[i * k + i] += lambda;
    }
    cholesky(&mut a, k)?;
    Ok((a, lambda))
}

/// Refits the kept columns `keep` of the `d × n` `down_proj` `w` to outputs `y` other
/// than the layer's own (see [`Cross`]): `W_K' = (Σ y h_Kᵀ + λ W_K)(C_KK + λI)⁻¹`, the
/// ridge pulling toward the dense columns. With `y = W h` it is [`repair_down`].
pub fn repair_to_target(w: &[f32], d: usize, gram: &Gram, cross: &Cross, keep: &[usize], rel_lambda: f64) -> Result<Repaired> {
    let n = gram.n;
    if w.len() != d * n || (cross.d, cross.n) != (d, n) || keep.is_empty() || keep.windows(2).any(|p| p[0] >= p[1]) {
        return Err(Error::Internal(format!("repair_to_target: {} weights for {d} × {n}, or bad kept channels", w.len())));
    }
    let k = keep.len();
    let (a, lambda) = factor_kept(gram, keep, rel_lambda)?;
    let mut rhs: Vec<f64> = (0..d)
        .flat_map(|o| keep.iter().map(move |&j| (o, j)))
        .map(|(o, j)| cross.sums[o * n + j] + lambda * f64::from(w[o * n + j]))
        .collect();
    for_rows(&mut rhs, k, |_| 1.0, |_, rows| solve_rows(&a, k, rows));
    let weights: Vec<f32> = rhs.iter().map(|&v| v as f32).collect();
    if weights.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "the repaired down_proj".into(), in_weights: false });
    }
    Ok(Repaired { weights, lambda })
}

/// Columns `keep` of the row-major matrix `w` with `n` columns: plain slicing.
pub fn slice_columns(w: &[f32], n: usize, keep: &[usize]) -> Vec<f32> {
    w.chunks_exact(n).flat_map(|row| keep.iter().map(|&j| row[j])).collect()
}

/// `Σ a_i b_i` in eight lanes (so that it vectorizes), then the lanes and the tail.
fn dot64(a: &[f64], b: &[f64]) -> f64 {
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    let mut lanes = [0f64; 8];
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// Columns per panel of the blocked Cholesky factorization.
const PANEL: usize = 64;

/// In-place Cholesky factorization of the `k × k` row-major `a` (its lower triangle is
/// read and becomes L): right-looking by panels of [`PANEL`] columns, each panel's
/// update of the rows below spread over every core.
fn cholesky(a: &mut [f64], k: usize) -> Result<()> {
    for p0 in (0..k).step_by(PANEL) {
        let p1 = (p0 + PANEL).min(k);
        // The diagonal block, then the panel's rows below it.
        for i in p0..p1 {
            for j in p0..=i {
                let s = a[i * k + j] - dot64(&a[i * k + p0..i * k + j], &a[j * k + p0..j * k + j]);
                if i == j {
                    if s <= 0.0 || !s.is_finite() {
                        return Err(Error::Internal(format!("repair: C_KK + λI is not positive definite at channel {j}")));
                    }
                    a[i * k + i] = s.sqrt();
                } else {
                    a[i * k + j] = s / a[j * k + j];
                }
            }
        }
        let diag: Vec<f64> = (p0..p1).flat_map(|i| a[i * k + p0..i * k + p1].to_vec()).collect();
        let w = p1 - p0;
        let below = &mut a[p1 * k..];
        for_rows(
            below,
            k,
            |_| 1.0,
            |_, rows| {
                for row in rows.chunks_exact_mut(k) {
                    for j in 0..w {
                        let s = row[p0 + j] - dot64(&row[p0..p0 + j], &diag[j * w..j * w + j]);
                        row[p0 + j] = s / diag[j * w + j];
                    }
                }
            },
        );
        // The trailing update A22 −= L21 L21ᵀ (lower triangle), rows over the cores.
        let panel: Vec<f64> = (p1..k).flat_map(|i| a[i * k + p0..i * k + p1].to_vec()).collect();
        for_rows(
            &mut a[p1 * k..],
            k,
            |r| (r + 1) as f64,
            |first, rows| {
                for (o, row) in rows.chunks_exact_mut(k).enumerate() {
                    let i = first + o;
                    let li = &panel[i * w..(i + 1) * w];
                    for j in 0..=i {
                        row[p1 + j] -= dot64(li, &panel[j * w..(j + 1) * w]);
                    }
                }
            },
        );
    }
    Ok(())
}

/// Rows of `m` (each `k` long) become `m A⁻¹` with `A = L Lᵀ` from [`cholesky`]: a
/// forward and a back substitution per row, [`SOLVE_ROWS`] rows per pass over L.
fn solve_rows(l: &[f64], k: usize, m: &mut [f64]) {
    for block in m.chunks_mut(SOLVE_ROWS * k) {
        // L y = m, row i of L at a time.
        for i in 0..k {
            let li = &l[i * k..i * k + i];
            for row in block.chunks_exact_mut(k) {
                row[i] = (row[i] - dot64(li, &row[..i])) / l[i * k + i];
            }
        }
        // Lᵀ x = y: x_i, then its share taken out of the rows above.
        for i in (0..k).rev() {
            let li = &l[i * k..i * k + i];
            for row in block.chunks_exact_mut(k) {
                let x = row[i] / l[i * k + i];
                row[i] = x;
                row[..i].iter_mut().zip(li).for_each(|(y, &c)| *y -= x * c);
            }
        }
    }
}

/// Rows of `M` solved per pass over the Cholesky factor.
const SOLVE_ROWS: usize = 8;

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
    fn repair_equals_a_reference_solve_across_panels_and_blocks() {
        // More channels than a Gram block and kept channels over several Cholesky panels.
        let (d, n) = (3, 200);
        let (w, h, weights, g) = layer(d, n, 50);
        let mut naive = Gram::new(n);
        for (row, &wt) in h.chunks_exact(n).zip(&weights) {
            let mut one = Gram::new(n);
            one.add(row, &[wt]);
            naive.merge(&one);
        }
        for (i, j) in [(0, 0), (5, 199), (130, 131), (199, 199), (127, 128)] {
            assert!((g.get(i, j) - naive.get(i, j)).abs() <= 1e-4 * naive.get(i, j).abs().max(1.0), "({i}, {j})");
        }
        let keep: Vec<usize> = (0..n).filter(|j| j % 4 != 2).collect();
        let r = repair_down(&w, d, &g, &keep, 1e-2).unwrap();
        let want = reference(&w, d, n, &g, &keep, r.lambda);
        for (a, b) in r.weights.iter().zip(&want) {
            assert!((f64::from(*a) - b).abs() <= 1e-5 * b.abs().max(1e-3), "{a} vs {b}");
        }
    }

    #[test]
    fn the_surgeon_drops_a_duplicated_channel_that_act2_keeps() {
        // Channel 1 copies channel 0 (both strong): act² keeps both, but once either is
        // kept the repair makes up for the other exactly, so the surgeon drops one and
        // keeps a channel that carries something of its own.
        let (d, n, t) = (4, 6, 40);
        let base = values(t * n, 7);
        let h: Vec<f32> =
            (0..t * n).map(|x| if x % n == 1 { 3.0 * base[x - 1] } else { base[x] * if x % n == 0 { 3.0 } else { 1.0 } }).collect();
        let w = values(d * n, 8);
        let weights = vec![1.0; t];
        let mut g = Gram::new(n);
        g.add(&h, &weights);
        let order = choose_obs(&w, d, &g, 4, 1e-6).unwrap();
        let kept: Vec<usize> = order[2..].to_vec();
        assert!(!(kept.contains(&0) && kept.contains(&1)), "removal order {order:?}");
        let act2: Vec<f64> = (0..n).map(|j| g.get(j, j)).collect();
        let by_act2 = super::super::select::top_of_layer(0, &act2, 4).unwrap();
        assert!(by_act2.contains(&0) && by_act2.contains(&1), "{by_act2:?}");
        // The surgeon's set is repaired to a smaller calibration error than act²'s.
        let err = |keep: &[usize]| {
            let wk = repair_down(&w, d, &g, keep, 1e-6).unwrap().weights;
            (0..t)
                .map(|r| {
                    (0..d)
                        .map(|o| {
                            let full: f64 = (0..n).map(|j| f64::from(w[o * n + j] * h[r * n + j])).sum();
                            let part: f64 = keep.iter().enumerate().map(|(a, &j)| f64::from(wk[o * keep.len() + a] * h[r * n + j])).sum();
                            (full - part).powi(2)
                        })
                        .sum::<f64>()
                })
                .sum::<f64>()
        };
        let mut obs_kept = kept.clone();
        obs_kept.sort_unstable();
        let act2_kept: Vec<usize> = by_act2.iter().map(|&c| c as usize).collect();
        assert!(err(&obs_kept) < err(&act2_kept), "{} against {}", err(&obs_kept), err(&act2_kept));
        // Keeping everything removes nothing.
        assert_eq!(choose_obs(&w, d, &g, n, 1e-6).unwrap(), (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn the_inverse_from_the_factor_is_the_inverse() {
        let (_, _, _, g) = layer(2, 150, 200);
        let n = g.n;
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                a[i * n + j] = g.get(i, j);
            }
            a[i * n + i] += 0.5;
        }
        cholesky(&mut a, n).unwrap();
        let inv = inverse_from_cholesky(&a, n);
        for i in [0, 7, 64, 149] {
            for j in [0, 3, 100, 149] {
                let prod: f64 = (0..n).map(|k| (g.get(i, k) + if i == k { 0.5 } else { 0.0 }) * inv[k * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((prod - want).abs() < 1e-9, "({i}, {j}): {prod}");
            }
        }
    }

    #[test]
    fn fitting_to_the_layers_own_output_is_the_plain_repair() {
        let (d, n, t) = (5, 40, 90);
        let (w, h, weights, g) = layer(d, n, t);
        let y: Vec<f32> = h.chunks_exact(n).flat_map(|row| (0..d).map(|o| (0..n).map(|j| w[o * n + j] * row[j]).sum::<f32>())).collect();
        let mut cross = Cross::new(d, n);
        cross.add(&h, &y, &weights);
        let keep: Vec<usize> = (0..n).filter(|j| j % 3 != 0).collect();
        let a = repair_down(&w, d, &g, &keep, 0.1).unwrap();
        let b = repair_to_target(&w, d, &g, &cross, &keep, 0.1).unwrap();
        assert_eq!(a.lambda, b.lambda);
        // Within f32 rounding of the moments: relative to each value, or to the
        // weights' RMS for values near zero.
        let rms = (a.weights.iter().map(|x| x * x).sum::<f32>() / a.weights.len() as f32).sqrt();
        for (x, y) in a.weights.iter().zip(&b.weights) {
            assert!((x - y).abs() <= 1e-4 * x.abs().max(rms), "{x} vs {y} (RMS {rms})");
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
