//! The forward pass on the GPU, layer by layer over batches of calibration windows,
//! with the masked act² importance accumulated on the device (paper eq. 5).
//!
//! For each batch of windows (as many as fit the activation budget and the binding
//! limit): the embedding rows are gathered on the CPU (the embedding matrix never
//! goes to the GPU), then every layer's weights are read from the checkpoint and
//! uploaded when the layer is reached (while the GPU still runs the previous layer),
//! or kept resident across batches when all layers fit the weight budget. The layer
//! is the same computation as [`super::cpu`] (the oracle): RMSNorm → q/k/v (+bias,
//! q/k norm) → RoPE → causal GQA attention → o_proj (→ post norm) → residual →
//! RMSNorm → gate/up → act(gate)·up = h → act² of h → down_proj (→ post norm) →
//! residual. Per window and layer the act² partial sums are f32 (Kahan); they are
//! read back once per batch and summed in f64.

use std::collections::BTreeMap;

use super::cpu::Logits;
use super::gpu::{Buffer, Gpu};
use super::kernels::{self, AttnShape, Matrix, Norm, Out, WeightType};
use crate::error::{Error, GpuError, Result};
use crate::io::ByteSource;
use crate::model::checkpoint::unsupported_dtype;
use crate::model::names::{self, EMBED, FINAL_NORM, LM_HEAD};
use crate::model::safetensors::{Dtype, TensorInfo};
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{self, Cancel, Progress, ProgressSink};

/// Calibration windows: `tokens.len() / t` windows of `t` positions each, every window
/// starting at position 0.
#[derive(Debug, Clone, Copy)]
pub struct Windows<'a> {
    /// Token ids of all windows, one window after the other.
    pub tokens: &'a [u32],
    /// Positions per window.
    pub t: usize,
    /// Per-position act² weights `w_i` (0 for rare tokens); `None` skips importance.
    pub act2_weights: Option<&'a [f32]>,
}

impl Windows<'_> {
    /// The number of windows.
    pub fn count(&self) -> usize {
        self.tokens.len() / self.t.max(1)
    }
}

/// How the GPU forward pass runs and what it returns besides importance.
#[derive(Debug, Clone)]
pub struct GpuOptions {
    /// Read back the residual stream after every layer (tests).
    pub keep_layer_outputs: bool,
    /// Logits of the last position of each window, of every position, or none.
    pub logits: Logits,
    /// With [`Logits::All`]: only these positions (indices into all windows' tokens,
    /// ascending), so scoring a few targets does not return every row.
    pub logit_positions: Option<Vec<usize>>,
    /// Bytes of activations one batch of windows may use.
    pub activation_budget: u64,
    /// Keep every layer's weights on the GPU across batches when they fit in this.
    pub weight_budget: u64,
    /// Keep the layers' weights on the GPU across calls too (when they fit the budget):
    /// several passes over one model (scoring, generation) then read and upload them
    /// once. A cache belongs to one model and one device.
    pub cache: Option<WeightCache>,
}

/// Layer weights kept on the GPU between calls of [`run`] (see [`GpuOptions::cache`]);
/// clones share the cache.
#[derive(Clone, Default)]
pub struct WeightCache(std::rc::Rc<std::cell::RefCell<Vec<LayerWeights>>>);

impl std::fmt::Debug for WeightCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeightCache({} layers)", self.0.borrow().len())
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            keep_layer_outputs: false,
            logits: Logits::None,
            logit_positions: None,
            activation_budget: ACTIVATION_BUDGET,
            weight_budget: 1 << 30,
            cache: None,
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunStats {
    /// Windows processed.
    pub windows: usize,
    /// Positions processed (windows × t).
    pub tokens: usize,
    /// Batches the windows were split into.
    pub batches: usize,
    /// Windows per batch (the last batch may hold fewer).
    pub windows_per_batch: usize,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// Positions processed per wall-clock second.
    pub tokens_per_second: f64,
    /// The most bytes of GPU buffers alive at once.
    pub peak_gpu_bytes: u64,
    /// Whether the layers' weights stayed on the GPU across batches.
    pub weights_resident: bool,
}

/// Results of [`run`].
#[derive(Debug, Clone, Default)]
pub struct GpuOutput {
    /// Per layer, `Σ_i w_i h_ik²` over all windows (`I` values), when weights were given.
    pub importance: Vec<Vec<f64>>,
    /// Per layer, the residual stream after it (`windows·t × D`), when asked for.
    pub layer_outputs: Vec<Vec<f32>>,
    /// `rows × V`: one row per window ([`Logits::Last`]) or per position ([`Logits::All`]).
    pub logits: Vec<f32>,
    /// Figures of the run: sizes, timing, GPU memory.
    pub stats: RunStats,
}

/// One layer's weights on the GPU.
pub(super) struct LayerWeights {
    input_norm: Buffer,
    q: Matrix,
    k: Matrix,
    v: Matrix,
    o: Matrix,
    qkv_bias: Option<[Buffer; 3]>,
    qk_norm: Option<[Buffer; 2]>,
    post_attn_norm: Option<Buffer>,
    pre_ffn_norm: Buffer,
    gate: Matrix,
    up: Matrix,
    pub(super) down: Matrix,
    post_ffn_norm: Option<Buffer>,
}

impl LayerWeights {
    fn bytes(&self) -> u64 {
        let m = [&self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down].iter().map(|m| m.buf.size()).sum::<u64>();
        let vecs = [Some(&self.input_norm), Some(&self.pre_ffn_norm), self.post_attn_norm.as_ref(), self.post_ffn_norm.as_ref()];
        let extra = self.qkv_bias.iter().flatten().chain(self.qk_norm.iter().flatten()).map(|b| b.size()).sum::<u64>();
        m + vecs.iter().flatten().map(|b| b.size()).sum::<u64>() + extra
    }
}

/// Scratch buffers of one batch (`m` rows) besides its residual stream.
pub(super) struct Activations {
    pub(super) h: Buffer,
    pub(super) o: Buffer,
    q: Buffer,
    k: Buffer,
    v: Buffer,
    attn: Buffer,
    pub(super) gate: Buffer,
    pub(super) up: Buffer,
}

impl Activations {
    /// Scratch for `m` rows.
    pub(super) fn new(gpu: &Gpu, cfg: &ModelConfig, m: usize) -> Result<Self> {
        let f = |n: usize| (m * n * 4) as u64;
        Ok(Self {
            h: gpu.storage("normed", f(cfg.hidden_size))?,
            o: gpu.storage("projection", f(cfg.hidden_size))?,
            q: gpu.storage("q", f(cfg.q_dim()))?,
            k: gpu.storage("k", f(cfg.kv_dim()))?,
            v: gpu.storage("v", f(cfg.kv_dim()))?,
            attn: gpu.storage("attention", f(cfg.q_dim()))?,
            gate: gpu.storage("gate", f(cfg.intermediate_size))?,
            up: gpu.storage("up", f(cfg.intermediate_size))?,
        })
    }
}

/// The storage type of a weight tensor on the GPU.
pub fn weight_type(t: &TensorInfo) -> Result<WeightType> {
    match t.dtype {
        Dtype::BF16 => Ok(WeightType::BF16),
        Dtype::F16 => Ok(WeightType::F16),
        Dtype::F32 => Ok(WeightType::F32),
        _ => Err(unsupported_dtype(t)),
    }
}

/// Uploads rows `rows` of the 2-D weight `name` as they are stored (2-byte types stay 2 bytes).
async fn upload_rows<S: ByteSource>(gpu: &Gpu, ck: &Checkpoint<S>, name: &str, rows: std::ops::Range<usize>) -> Result<Matrix> {
    let info = ck.info(name)?;
    let dtype = weight_type(info)?;
    let cols = info.shape[1] as usize;
    let bytes = ck.raw_rows(name, rows.start as u64..rows.end as u64).await?;
    Ok(Matrix { buf: gpu.upload(name, &bytes)?, dtype, rows: rows.len(), cols })
}

async fn upload_matrix<S: ByteSource>(gpu: &Gpu, ck: &Checkpoint<S>, name: String, rows: usize, cols: usize) -> Result<Matrix> {
    ck.expect_shape(&name, &[rows, cols])?;
    upload_rows(gpu, ck, &name, 0..rows).await
}

async fn upload_vector<S: ByteSource>(gpu: &Gpu, ck: &Checkpoint<S>, name: String, len: usize) -> Result<Buffer> {
    ck.expect_shape(&name, &[len])?;
    gpu.upload_f32(&name, &ck.f32(&name).await?)
}

pub(super) async fn load_layer<S: ByteSource>(gpu: &Gpu, cfg: &ModelConfig, ck: &Checkpoint<S>, l: usize) -> Result<LayerWeights> {
    let (d, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (qd, kvd) = (cfg.q_dim(), cfg.kv_dim());
    let gemma = cfg.norms_per_layer() == 4;
    let qkv_bias = if cfg.qkv_bias() {
        Some([
            upload_vector(gpu, ck, names::attn(l, "q_proj", "bias"), qd).await?,
            upload_vector(gpu, ck, names::attn(l, "k_proj", "bias"), kvd).await?,
            upload_vector(gpu, ck, names::attn(l, "v_proj", "bias"), kvd).await?,
        ])
    } else {
        None
    };
    let qk_norm = if cfg.qk_norm() {
        Some([
            upload_vector(gpu, ck, format!("model.layers.{l}.self_attn.q_norm.weight"), hd).await?,
            upload_vector(gpu, ck, format!("model.layers.{l}.self_attn.k_norm.weight"), hd).await?,
        ])
    } else {
        None
    };
    let norm = |name: &str| upload_vector(gpu, ck, names::layer_norm(l, name), d);
    Ok(LayerWeights {
        input_norm: norm("input_layernorm").await?,
        q: upload_matrix(gpu, ck, names::attn(l, "q_proj", "weight"), qd, d).await?,
        k: upload_matrix(gpu, ck, names::attn(l, "k_proj", "weight"), kvd, d).await?,
        v: upload_matrix(gpu, ck, names::attn(l, "v_proj", "weight"), kvd, d).await?,
        o: upload_matrix(gpu, ck, names::attn(l, "o_proj", "weight"), d, qd).await?,
        qkv_bias,
        qk_norm,
        post_attn_norm: if gemma { Some(norm("post_attention_layernorm").await?) } else { None },
        pre_ffn_norm: norm(if gemma { "pre_feedforward_layernorm" } else { "post_attention_layernorm" }).await?,
        gate: upload_matrix(gpu, ck, names::mlp(l, "gate_proj"), i, d).await?,
        up: upload_matrix(gpu, ck, names::mlp(l, "up_proj"), i, d).await?,
        down: upload_matrix(gpu, ck, names::mlp(l, "down_proj"), d, i).await?,
        post_ffn_norm: if gemma { Some(norm("post_feedforward_layernorm").await?) } else { None },
    })
}

/// Bytes of the output projection read and uploaded at a time for logits: each chunk
/// passes through memory on its way to the GPU, and in the browser that memory is the
/// page's wasm heap (Gemma-3's 262k-row embedding is 604 MB).
const LOGIT_CHUNK_BYTES: u64 = if cfg!(target_arch = "wasm32") { 16 << 20 } else { 64 << 20 };

/// Bytes of activations the GPU path holds at most for one batch (the default
/// [`GpuOptions::activation_budget`]).
pub const ACTIVATION_BUDGET: u64 = 384 << 20;

/// What calibration on the GPU holds, before it runs: the layer weights (streamed one
/// layer at a time, but kept when they fit; the embedding stays in the file) and the
/// activations of one batch (capped by [`ACTIVATION_BUDGET`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    /// Bytes of every layer's weights (attention, FFN, norms) in the file's dtype.
    pub layer_weights: u64,
    /// Bytes of activations for the windows asked for, at most one batch's budget.
    pub activations: u64,
}

impl GpuMemory {
    /// The estimate for `windows` × `t` tokens of a model with `counts` parameters of
    /// `bytes_per_param` bytes.
    pub fn estimate(cfg: &ModelConfig, counts: &crate::model::params::ParamCounts, bytes_per_param: u64, windows: usize, t: usize) -> Self {
        let layer_weights = (counts.attention + counts.ffn + counts.norms) * bytes_per_param;
        let activations = (4 * row_floats(cfg).0 * t * windows) as u64;
        Self { layer_weights, activations: activations.min(ACTIVATION_BUDGET) }
    }
}

/// Floating-point operations of calibrating on `windows` × `t` tokens: every layer's
/// projections (2 FLOPs per weight per token) and the causal attention (4 per head
/// dimension per query–key pair, window-limited where a layer slides). The logits are
/// never computed, so the embedding and `lm_head` do not count.
pub fn calibration_flops(cfg: &ModelConfig, counts: &crate::model::params::ParamCounts, windows: usize, t: usize) -> f64 {
    let projections = 2.0 * (counts.attention + counts.ffn) as f64 * (windows * t) as f64;
    let pairs: f64 = (0..cfg.num_layers)
        .map(|l| {
            let span = cfg.window_for(l).unwrap_or(t).min(t);
            // Query i sees min(i + 1, span) keys.
            (0..t).map(|i| (i + 1).min(span) as f64).sum::<f64>()
        })
        .sum();
    projections + 4.0 * (cfg.num_heads * cfg.head_dim) as f64 * pairs * windows as f64
}

/// f32 values per activation row, and the widest row (the binding limit applies to it).
pub(super) fn row_floats(cfg: &ModelConfig) -> (usize, usize) {
    let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
    (3 * d + 2 * cfg.q_dim() + 2 * cfg.kv_dim() + 2 * i, d.max(i).max(cfg.q_dim()))
}

/// How many windows of `t` positions one batch holds under `budget` bytes and the
/// device's binding limit (at least one; an error when even one does not fit).
pub fn windows_per_batch(gpu: &Gpu, cfg: &ModelConfig, t: usize, count: usize, budget: u64) -> Result<usize> {
    let (per_row, widest) = row_floats(cfg);
    let cap = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    let by_budget = budget / (t * per_row * 4) as u64;
    let by_binding = cap / (t * widest * 4) as u64;
    let by_rows = (65_535 / t) as u64;
    let n = by_budget.min(by_binding).min(by_rows).min(count as u64) as usize;
    if by_binding == 0 || by_rows == 0 {
        let label = format!("a window of {t} tokens");
        return Err(GpuError::BufferTooLarge { label, mib: ((t * widest * 4) >> 20) as u64, cap_mib: cap >> 20 }.into());
    }
    Ok(n.max(1))
}

/// (cos, sin) of position · inv_freq for `t` positions, computed in f64.
fn rope_table(inv_freq: &[f64], t: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(t * inv_freq.len() * 2);
    for pos in 0..t {
        for &f in inv_freq {
            let a = pos as f64 * f;
            out.push(a.cos() as f32);
            out.push(a.sin() as f32);
        }
    }
    out
}

/// Rope tables for `t` positions, one per distinct rotary configuration (Gemma: local
/// and global), and which one each layer uses.
pub(super) fn rope_tables(gpu: &Gpu, cfg: &ModelConfig, t: usize) -> Result<(Vec<Buffer>, Vec<usize>)> {
    let mut tables: Vec<Buffer> = Vec::new();
    let mut table_of_layer: Vec<usize> = Vec::with_capacity(cfg.num_layers);
    let mut seen: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    for l in 0..cfg.num_layers {
        let inv = cfg.rope_for(l).inv_freq(cfg.head_dim);
        let key: Vec<u64> = inv.iter().map(|f| f.to_bits()).collect();
        let index = match seen.get(&key) {
            Some(&i) => i,
            None => {
                tables.push(gpu.upload_f32("rope table", &rope_table(&inv, t))?);
                seen.insert(key, tables.len() - 1);
                tables.len() - 1
            }
        };
        table_of_layer.push(index);
    }
    Ok((tables, table_of_layer))
}

/// Greedy decoding on the GPU, as [`super::cpu::generate_greedy`]: appends up to
/// `max_new` arg-max tokens to `prompt`, stopping after any of `stop`; one full
/// forward pass per token (no KV cache), which is plenty for a side-by-side preview.
pub async fn generate_greedy<S: ByteSource>(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    cancel: &Cancel,
) -> Result<Vec<u32>> {
    let mut ids = prompt.to_vec();
    let opts = GpuOptions { logits: Logits::Last, cache: Some(WeightCache::default()), ..Default::default() };
    for _ in 0..max_new {
        cancel.check()?;
        let windows = Windows { tokens: &ids, t: ids.len(), act2_weights: None };
        let out = run(gpu, cfg, ck, windows, &opts, &mut crate::progress::Silent, cancel).await?;
        let next = super::score::next_token(&out.logits)?;
        ids.push(next);
        if stop.contains(&next) {
            break;
        }
    }
    Ok(ids[prompt.len()..].to_vec())
}

/// Runs the model over `windows` on the GPU: importance (when act² weights are given),
/// and optionally the layer outputs and logits. Progress is reported after every
/// layer of every batch; `cancel` is checked between layers.
pub async fn run<S: ByteSource>(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    windows: Windows<'_>,
    opts: &GpuOptions,
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<GpuOutput> {
    let (t, d, i_dim, layers) = (windows.t, cfg.hidden_size, cfg.intermediate_size, cfg.num_layers);
    let count = windows.count();
    if t == 0 || count == 0 || windows.tokens.len() != count * t {
        return Err(Error::Internal(format!("{} tokens do not make whole windows of {t}", windows.tokens.len())));
    }
    if let Some(w) = windows.act2_weights
        && w.len() != windows.tokens.len()
    {
        return Err(Error::Internal(format!("{} act² weights for {} positions", w.len(), windows.tokens.len())));
    }
    if let Some(&bad) = windows.tokens.iter().find(|&&id| id as usize >= cfg.vocab_size) {
        return Err(Error::TokenOutOfVocab { id: bad, vocab: cfg.vocab_size });
    }
    check_model(cfg, ck)?;

    let start = progress::now();
    gpu.reset_peak();
    let per_batch = windows_per_batch(gpu, cfg, t, count, opts.activation_budget)?;
    let batches = count.div_ceil(per_batch);
    let mut out =
        GpuOutput { importance: vec![vec![0f64; i_dim]; if windows.act2_weights.is_some() { layers } else { 0 }], ..Default::default() };
    if opts.keep_layer_outputs {
        out.layer_outputs = vec![Vec::with_capacity(count * t * d); layers];
    }

    let (tables, table_of_layer) = rope_tables(gpu, cfg, t)?;

    let mut resident: Vec<LayerWeights> = opts.cache.as_ref().map(|c| std::mem::take(&mut *c.0.borrow_mut())).unwrap_or_default();
    if resident.len() > layers {
        return Err(Error::Internal(format!("a weight cache of {} layers used for a model of {layers}", resident.len())));
    }
    let mut keep_resident = !resident.is_empty();
    for batch in 0..batches {
        cancel.check()?;
        let w0 = batch * per_batch;
        let nb = per_batch.min(count - w0);
        let m = nb * t;
        let at = BatchPos { w0, nb, count, layers, t };
        let rows = w0 * t..w0 * t + m;
        let x = gpu.upload_f32("residual", &embed_rows(cfg, ck, &windows.tokens[rows.clone()]).await?)?;
        let act = Activations::new(gpu, cfg, m)?;
        let act2 = match windows.act2_weights {
            Some(w) => {
                Some((gpu.upload_f32("act² weights", &w[rows.clone()])?, gpu.storage("importance", (layers * nb * i_dim * 4) as u64)?))
            }
            None => None,
        };

        // The last layer's weights when they are not kept: alive until its GPU work is done.
        let mut previous: Option<LayerWeights> = None;
        for l in 0..layers {
            cancel.check()?;
            // Read this layer's weights while the GPU still runs the previous one.
            let loaded = if l < resident.len() { None } else { Some(load_layer(gpu, cfg, ck, l).await?) };
            if l > 0 {
                gpu.finish().await?;
                layer_done(&mut out, gpu, &x, opts.keep_layer_outputs, l - 1, at, d, start, progress).await?;
            }
            let lw = loaded.as_ref().unwrap_or_else(|| &resident[l]);
            if batch == 0 && l == 0 && resident.is_empty() {
                let reused = batches > 1 || opts.cache.is_some();
                keep_resident = reused && lw.bytes() * layers as u64 <= opts.weight_budget;
            }
            let mut enc = gpu.encoder();
            let imp = act2.as_ref().map(|(w, imp)| (w, imp, l * nb * i_dim));
            encode_layer(gpu, &mut enc, cfg, l, lw, (&x, &act), (m, nb, t), &tables[table_of_layer[l]], imp)?;
            gpu.submit(enc);
            match loaded {
                Some(w) if keep_resident => resident.push(w),
                w => previous = w,
            }
        }
        gpu.finish().await?;
        drop(previous);
        layer_done(&mut out, gpu, &x, opts.keep_layer_outputs, layers - 1, at, d, start, progress).await?;

        if let Some((_, imp)) = &act2 {
            let partial = gpu.read_f32(imp, 0, layers * nb * i_dim).await?;
            for (l, acc) in out.importance.iter_mut().enumerate() {
                for b in 0..nb {
                    let p = &partial[(l * nb + b) * i_dim..][..i_dim];
                    acc.iter_mut().zip(p).for_each(|(a, &v)| *a += v as f64);
                }
            }
        }
        if opts.logits != Logits::None {
            let picked: Vec<usize> = match (opts.logits, &opts.logit_positions) {
                (Logits::Last, _) => (0..nb).map(|b| b * t + t - 1).collect(),
                (_, Some(ps)) => ps.iter().filter(|p| rows.contains(p)).map(|p| p - rows.start).collect(),
                _ => (0..m).collect(),
            };
            if !picked.is_empty() {
                out.logits.extend(final_logits(gpu, cfg, ck, &x, m, &picked).await?);
            }
        }
    }
    if let Some(c) = &opts.cache
        && keep_resident
    {
        *c.0.borrow_mut() = resident;
    }
    let seconds = progress::now() - start;
    out.stats = RunStats {
        windows: count,
        tokens: count * t,
        batches,
        windows_per_batch: per_batch,
        seconds,
        tokens_per_second: (count * t) as f64 / seconds.max(1e-9),
        peak_gpu_bytes: gpu.peak_bytes(),
        weights_resident: keep_resident,
    };
    Ok(out)
}

/// What the GPU layers need of a model: a head_dim the attention kernel takes, and the
/// embedding rows the streams start from.
pub(super) fn check_model<S: ByteSource>(cfg: &ModelConfig, ck: &Checkpoint<S>) -> Result<()> {
    if cfg.head_dim > 256 || cfg.head_dim % 2 == 1 {
        return Err(GpuError::UnsupportedShape(format!(
            "head_dim {} is not supported by the GPU attention kernel (even, at most 256)",
            cfg.head_dim
        ))
        .into());
    }
    ck.expect_shape(EMBED, &[cfg.vocab_size, cfg.hidden_size])?;
    Ok(())
}

/// Where a batch is: its first window, its windows, all windows, layers, window length.
#[derive(Debug, Clone, Copy)]
struct BatchPos {
    w0: usize,
    nb: usize,
    count: usize,
    layers: usize,
    t: usize,
}

/// After layer `l` of a batch finished: its output read back when asked for, progress
/// reported (windows·layers done, tokens/s).
#[allow(clippy::too_many_arguments)]
async fn layer_done(
    out: &mut GpuOutput,
    gpu: &Gpu,
    x: &Buffer,
    keep: bool,
    l: usize,
    at: BatchPos,
    d: usize,
    start: f64,
    progress: &mut dyn ProgressSink,
) -> Result<()> {
    if keep {
        out.layer_outputs[l].extend(gpu.read_f32(x, 0, at.nb * at.t * d).await?);
    }
    let done = at.w0 * at.layers + (l + 1) * at.nb;
    let tokens_per_second = (done * at.t) as f64 / at.layers as f64 / (progress::now() - start).max(1e-9);
    progress.report(Progress {
        stage: format!(
            "layer {}/{} · windows {}–{} of {} · {tokens_per_second:.0} tokens/s",
            l + 1,
            at.layers,
            at.w0 + 1,
            at.w0 + at.nb,
            at.count
        ),
        done: done as u64,
        total: (at.count * at.layers) as u64,
    });
    Ok(())
}

/// Records one decoder layer over `m = nb · t` rows of `x` (updated in place), and
/// the act² partial sums of its down_proj input when `imp` is given.
#[allow(clippy::too_many_arguments)]
pub(super) fn encode_layer(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    cfg: &ModelConfig,
    l: usize,
    lw: &LayerWeights,
    (x, act): (&Buffer, &Activations),
    (m, nb, t): (usize, usize, usize),
    rope: &Buffer,
    imp: Option<(&Buffer, &Buffer, usize)>,
) -> Result<()> {
    encode_attention(gpu, enc, cfg, l, lw, (x, act), (m, t), rope)?;
    encode_ffn_in(gpu, enc, cfg, lw, (x, act), (m, nb, t), imp);
    encode_ffn_out(gpu, enc, cfg, lw, &lw.down, (x, act), m);
    Ok(())
}

/// The attention half of layer `l` over `m` rows of `x`, windows of `t`: `x` becomes
/// the stream the FFN reads.
#[allow(clippy::too_many_arguments)]
pub(super) fn encode_attention(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    cfg: &ModelConfig,
    l: usize,
    lw: &LayerWeights,
    (x, act): (&Buffer, &Activations),
    (m, t): (usize, usize),
    rope: &Buffer,
) -> Result<()> {
    let (d, hd) = (cfg.hidden_size, cfg.head_dim);
    let (qd, kvd) = (cfg.q_dim(), cfg.kv_dim());
    let out = |n: usize| Out { ldy: n, y_off: 0 };
    let bias = |i: usize| lw.qkv_bias.as_ref().map(|b| &b[i]);

    kernels::norm_copy(gpu, enc, x, &act.h, m, Norm::of(cfg, &lw.input_norm, d));
    kernels::matmul(gpu, enc, &act.h, m, &lw.q, bias(0), &act.q, out(qd));
    kernels::matmul(gpu, enc, &act.h, m, &lw.k, bias(1), &act.k, out(kvd));
    kernels::matmul(gpu, enc, &act.h, m, &lw.v, bias(2), &act.v, out(kvd));
    if let Some([qn, kn]) = &lw.qk_norm {
        kernels::norm_inplace(gpu, enc, &act.q, m * cfg.num_heads, Norm::of(cfg, qn, hd));
        kernels::norm_inplace(gpu, enc, &act.k, m * cfg.num_kv_heads, Norm::of(cfg, kn, hd));
    }
    kernels::rope(gpu, enc, &act.q, rope, m, cfg.num_heads, hd, t);
    kernels::rope(gpu, enc, &act.k, rope, m, cfg.num_kv_heads, hd, t);
    let shape =
        AttnShape { t, rows: m, heads: cfg.num_heads, kv_heads: cfg.num_kv_heads, hd, scale: cfg.attn_scale, window: cfg.window_for(l) };
    kernels::attention(gpu, enc, &act.q, &act.k, &act.v, &act.attn, shape)?;
    kernels::matmul(gpu, enc, &act.attn, m, &lw.o, None, &act.o, out(d));
    if let Some(w) = &lw.post_attn_norm {
        kernels::norm_inplace(gpu, enc, &act.o, m, Norm::of(cfg, w, d));
    }
    kernels::add(gpu, enc, x, &act.o, m * d);
    Ok(())
}

/// The FFN up to the down_proj input `h` (left in `act.gate`) over `m = nb · t` rows
/// of `x`, with its act² partial sums when `imp` is given (weights, sums, offset).
pub(super) fn encode_ffn_in(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    cfg: &ModelConfig,
    lw: &LayerWeights,
    (x, act): (&Buffer, &Activations),
    (m, nb, t): (usize, usize, usize),
    imp: Option<(&Buffer, &Buffer, usize)>,
) {
    let (d, i_dim) = (cfg.hidden_size, cfg.intermediate_size);
    let out = Out { ldy: i_dim, y_off: 0 };
    kernels::norm_copy(gpu, enc, x, &act.h, m, Norm::of(cfg, &lw.pre_ffn_norm, d));
    kernels::matmul(gpu, enc, &act.h, m, &lw.gate, None, &act.gate, out);
    kernels::matmul(gpu, enc, &act.h, m, &lw.up, None, &act.up, out);
    kernels::glu(gpu, enc, &act.gate, &act.up, m * i_dim, cfg.activation);
    if let Some((w, imp, off)) = imp {
        kernels::act2(gpu, enc, &act.gate, w, imp, nb, t, i_dim, off);
    }
}

/// The rest of the FFN from `h` in `act.gate`: `down` (the layer's, or a pruned and
/// repaired stand-in of the same shape), its post norm, the residual add into `x`.
pub(super) fn encode_ffn_out(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    cfg: &ModelConfig,
    lw: &LayerWeights,
    down: &Matrix,
    (x, act): (&Buffer, &Activations),
    m: usize,
) {
    let d = cfg.hidden_size;
    kernels::matmul(gpu, enc, &act.gate, m, down, None, &act.o, Out { ldy: d, y_off: 0 });
    if let Some(w) = &lw.post_ffn_norm {
        kernels::norm_inplace(gpu, enc, &act.o, m, Norm::of(cfg, w, d));
    }
    kernels::add(gpu, enc, x, &act.o, m * d);
}

/// The embedding rows of `tokens` (× the family's embedding scale), gathered on the
/// CPU: one read per distinct id.
pub(super) async fn embed_rows<S: ByteSource>(cfg: &ModelConfig, ck: &Checkpoint<S>, tokens: &[u32]) -> Result<Vec<f32>> {
    let d = cfg.hidden_size;
    let scale = cfg.embed_scale();
    let mut rows: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
    for &id in tokens {
        if let std::collections::btree_map::Entry::Vacant(e) = rows.entry(id) {
            let row = ck.rows_f32(EMBED, id as u64..id as u64 + 1).await?;
            e.insert(row.into_iter().map(|v| v * scale).collect());
        }
    }
    let mut x = Vec::with_capacity(tokens.len() * d);
    tokens.iter().for_each(|id| x.extend_from_slice(&rows[id]));
    Ok(x)
}

/// Logits of rows `picked` of the residual stream `x` (`m × D`): the final norm on the
/// GPU, then the output matrix (lm_head, or the tied embedding) streamed in chunks of
/// rows that fit a binding, each chunk's logits read back before the next is uploaded.
pub(crate) async fn final_logits<S: ByteSource>(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    x: &Buffer,
    m: usize,
    picked: &[usize],
) -> Result<Vec<f32>> {
    let (d, v) = (cfg.hidden_size, cfg.vocab_size);
    let rows = picked.len();
    let name = if ck.contains(LM_HEAD) { LM_HEAD } else { EMBED };
    ck.expect_shape(name, &[v, d])?;
    let norm = upload_vector(gpu, ck, FINAL_NORM.to_string(), d).await?;
    let h = gpu.storage("final hidden", (rows * d * 4) as u64)?;
    let mut enc = gpu.encoder();
    for (r, &p) in picked.iter().enumerate() {
        debug_assert!(p < m);
        enc.copy_buffer_to_buffer(x, (p * d * 4) as u64, &h, (r * d * 4) as u64, (d * 4) as u64);
    }
    kernels::norm_inplace(gpu, &mut enc, &h, rows, Norm::of(cfg, &norm, d));
    gpu.submit(enc);

    let elem = weight_type(ck.info(name)?)?.size();
    let cap = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size).min(LOGIT_CHUNK_BYTES) as usize;
    let chunk = (cap / (d * elem)).min(cap / (rows * 4).max(1)).clamp(1, v);
    let mut logits = vec![0f32; rows * v];
    for c0 in (0..v).step_by(chunk) {
        let c1 = (c0 + chunk).min(v);
        let w = upload_rows(gpu, ck, name, c0..c1).await?;
        let y = gpu.storage("logits", (rows * (c1 - c0) * 4) as u64)?;
        let mut enc = gpu.encoder();
        kernels::matmul(gpu, &mut enc, &h, rows, &w, None, &y, Out { ldy: c1 - c0, y_off: 0 });
        gpu.submit(enc);
        let part = gpu.read_f32(&y, 0, rows * (c1 - c0)).await?;
        for r in 0..rows {
            logits[r * v + c0..r * v + c1].copy_from_slice(&part[r * (c1 - c0)..(r + 1) * (c1 - c0)]);
        }
    }
    Ok(logits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ParamCounts;

    #[test]
    fn calibration_flops_count_projections_and_the_attention_span() {
        // Two layers of Mistral with a 3-position sliding window on both: query i sees
        // min(i + 1, 3) keys, so 8 positions make 1 + 2 + 3·6 = 21 pairs per head.
        let cfg = ModelConfig::from_value(serde_json::json!({"model_type": "mistral", "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
            "vocab_size": 32, "sliding_window": 3}))
        .unwrap();
        let counts = ParamCounts { embedding: 256, attention: 1000, ffn: 3000, norms: 50, ..Default::default() };
        let (windows, t) = (3, 8);
        let projections = 2.0 * 4000.0 * 24.0;
        let attention = 4.0 * (2 * 4) as f64 * 21.0 * 2.0 * 3.0;
        assert_eq!(calibration_flops(&cfg, &counts, windows, t), projections + attention);
        // Without the window every query sees all earlier positions: 36 pairs.
        let full = ModelConfig { sliding_layers: vec![false; 2], ..cfg };
        assert_eq!(calibration_flops(&full, &counts, windows, t), projections + 4.0 * 8.0 * 36.0 * 2.0 * 3.0);
    }
}
