//! The reference forward pass in plain Rust, f32, correctness first: the oracle the
//! GPU kernels are tested against and the path for machines without a GPU.
//!
//! Layer by layer over a batch of sequences (segments may continue a shared prefix, or
//! a [`KvCache`] for generation): each layer's weights are read from the checkpoint
//! when it is reached and dropped after it, so memory is one layer plus the
//! activations. Per family (see [`ModelConfig`]): RMSNorm with `w` or `1 + w` (Gemma),
//! embeddings × √D (Gemma), q/k/v biases (Qwen2), per-head q/k RMSNorm (Gemma),
//! RoPE in the Hugging Face half-split layout (default, linear, llama3 scaling;
//! Gemma's local θ on sliding-window layers), causal GQA attention with an optional
//! window, post-attention / post-FFN norms (Gemma), and the GLU FFN whose down_proj
//! input `h = act(x W_gate) ⊙ x W_up` gives the COMPACT importance
//! `I_k = Σ_i w_i h_ik²` (paper eq. 5).

use crate::error::{Error, Result};
use crate::io::ByteSource;
use crate::model::names::{self, EMBED, FINAL_NORM, LM_HEAD};
use crate::model::{Checkpoint, Dtype, ModelConfig};
use crate::progress::Cancel;
use std::sync::Arc;

use super::gemm::{Layout, Packed, gemm, matmul_packed};
pub use super::gemm::{matmul, matmul_bf16, sum_in_order};

/// Which logits a forward pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// No logits: only the hidden states (and importance or layer outputs when asked for).
    None,
    /// Only for the last position (generation).
    Last,
    /// For every position.
    All,
}

/// What to compute besides the final hidden states.
#[derive(Debug, Clone)]
pub struct ForwardOptions<'a> {
    /// Per-position weights `w_i` of the act² importance; `None` skips it.
    pub act2_weights: Option<&'a [f32]>,
    /// Keep the residual stream after every layer.
    pub keep_layer_outputs: bool,
    /// Which positions get logits: none, the last, or all.
    pub logits: Logits,
    /// Per layer, the FFN channels to keep; the others are zeroed (what pruning them
    /// must be equivalent to). `None` keeps all.
    pub ffn_keep: Option<&'a [Vec<u32>]>,
    /// Checked before every layer.
    pub cancel: Option<&'a Cancel>,
}

impl Default for ForwardOptions<'_> {
    fn default() -> Self {
        Self { act2_weights: None, keep_layer_outputs: false, logits: Logits::Last, ffn_keep: None, cancel: None }
    }
}

/// Results of one forward pass over `T` positions.
#[derive(Debug, Clone, Default)]
pub struct ForwardOutput {
    /// Per layer, the residual stream after it (`T × D`), when asked for.
    pub layer_outputs: Vec<Vec<f32>>,
    /// After the final norm, `T × D`.
    pub final_hidden: Vec<f32>,
    /// Per layer, `Σ_i w_i h_ik²` over each sequence's positions (`I` values per
    /// sequence, one sequence after the other), when asked for; [`add_windows`] totals them.
    pub importance: Vec<Vec<f64>>,
    /// `rows × V` logits (rows = 1 for [`Logits::Last`], T for [`Logits::All`]).
    pub logits: Vec<f32>,
}

/// Runs the model on `tokens` (one sequence, positions 0..T).
pub async fn forward<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    tokens: &[u32],
    opts: &ForwardOptions<'_>,
) -> Result<ForwardOutput> {
    forward_batch(cfg, ck, &[tokens], opts).await
}

/// Runs the model on several independent sequences at once (each from position 0):
/// every layer's weights are read once for all of them. Outputs are the sequences'
/// rows one after the other; [`Logits::Last`] gives one row per sequence, and the
/// act² weights and importance cover all rows.
pub async fn forward_batch<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    seqs: &[&[u32]],
    opts: &ForwardOptions<'_>,
) -> Result<ForwardOutput> {
    let segments: Vec<Segment> = seqs.iter().map(|&tokens| Segment { tokens, prefix: None }).collect();
    forward_segments(cfg, ck, &segments, opts).await
}

/// Adds the importance sums of consecutive windows (`windows × I` values, as
/// [`ForwardOutput::importance`] holds them per layer) into `total` (`I` values), one
/// window after the other: a calibration's sums are then the same bytes however its
/// windows were grouped into passes, or shared among threads and Web Workers.
pub fn add_windows(total: &mut [f64], per_window: &[f64]) {
    for window in per_window.chunks_exact(total.len().max(1)) {
        total.iter_mut().zip(window).for_each(|(a, b)| *a += b);
    }
}

/// Channel importance `Σ_i w_i h_ik²` per layer and window over one group of
/// calibration windows of `t` tokens each (`tokens` one window after the other,
/// `weights` one per position): one [`forward_batch`] without logits, whose sums a
/// calibration totals with [`add_windows`] — on the page or on any of its Web Workers.
pub async fn group_importance<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    tokens: &[u32],
    t: usize,
    weights: &[f32],
    cancel: &Cancel,
) -> Result<Vec<Vec<f64>>> {
    let seqs: Vec<&[u32]> = tokens.chunks_exact(t.max(1)).collect();
    let opts = ForwardOptions { act2_weights: Some(weights), logits: Logits::None, cancel: Some(cancel), ..Default::default() };
    Ok(forward_batch(cfg, ck, &seqs, &opts).await?.importance)
}

/// One sequence of a batched forward pass. With a `prefix` (the index of an earlier
/// segment of the batch that has none itself), that segment's tokens come first: this
/// one's positions continue after it and its attention sees it, exactly as if the two
/// were one sequence, while the shared rows are computed once — several multiple-choice
/// continuations of one context cost the context once.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Token ids of this segment's own positions.
    pub tokens: &'a [u32],
    /// Index of an earlier segment (itself without a prefix) whose tokens come first.
    pub prefix: Option<usize>,
}

/// [`forward_batch`] over segments that may continue a shared prefix. Outputs are the
/// segments' own rows one after the other, bit-identical to those rows of a forward
/// pass over the prefix and the segment as one sequence.
pub async fn forward_segments<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    segments: &[Segment<'_>],
    opts: &ForwardOptions<'_>,
) -> Result<ForwardOutput> {
    run(cfg, ck, segments, None, opts).await
}

/// Keys and values (RoPE applied) of every position a sequence has seen, per layer, so
/// that generation runs one new token at a time instead of the whole sequence again.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<(Vec<f32>, Vec<f32>)>,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self, cfg: &ModelConfig) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.len() / cfg.kv_dim())
    }
}

/// Runs `tokens` as the continuation of the positions in `cache` (from position 0 when
/// it is empty) and appends their keys and values to it. Rows are bit-identical to the
/// same rows of [`forward`] over the whole sequence.
pub async fn forward_cached<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    tokens: &[u32],
    cache: &mut KvCache,
    opts: &ForwardOptions<'_>,
) -> Result<ForwardOutput> {
    cache.layers.resize_with(cfg.num_layers, Default::default);
    run(cfg, ck, &[Segment { tokens, prefix: None }], Some(cache), opts).await
}

async fn run<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    segments: &[Segment<'_>],
    mut cache: Option<&mut KvCache>,
    opts: &ForwardOptions<'_>,
) -> Result<ForwardOutput> {
    let d = cfg.hidden_size;
    let lens: Vec<usize> = segments.iter().map(|s| s.tokens.len()).collect();
    let t: usize = lens.iter().sum();
    if lens.is_empty() || lens.contains(&0) {
        return Err(Error::Internal("forward pass over an empty sequence".into()));
    }
    for (i, s) in segments.iter().enumerate() {
        if let Some(p) = s.prefix
            && (p >= i || segments[p].prefix.is_some())
        {
            return Err(Error::Internal(format!("segment {i} continues segment {p}, which is not an earlier segment without a prefix")));
        }
    }
    if let Some(w) = opts.act2_weights
        && w.len() != t
    {
        return Err(Error::Internal(format!("{} act² weights for {t} positions", w.len())));
    }
    let mut x = embed(cfg, ck, segments.iter().flat_map(|s| s.tokens)).await?;

    let mut out = ForwardOutput::default();
    for layer in 0..cfg.num_layers {
        if let Some(c) = opts.cancel {
            c.check()?;
        }
        let past = cache.as_mut().map(|c| &mut c.layers[layer]);
        let imp = layer_forward(cfg, ck, layer, &mut x, segments, past, opts, FfnTap::default()).await?;
        if let Some(imp) = imp {
            out.importance.push(imp);
        }
        if opts.keep_layer_outputs {
            out.layer_outputs.push(x.clone());
        }
    }
    let norm = ck.f32(FINAL_NORM).await?;
    rms_norm_rows(&mut x, &norm, cfg.rms_norm_eps as f32, cfg.norm_offset());
    out.logits = match opts.logits {
        Logits::None => Vec::new(),
        Logits::Last => {
            let ends = lens.iter().scan(0, |end, &n| {
                *end += n;
                Some(*end)
            });
            let last: Vec<f32> = ends.flat_map(|e| x[(e - 1) * d..e * d].iter().copied()).collect();
            logits(cfg, ck, &last).await?
        }
        Logits::All => logits(cfg, ck, &x).await?,
    };
    out.final_hidden = x;
    Ok(out)
}

/// The input rows of `ids`: their embeddings (× the family's scale).
async fn embed<S: ByteSource>(cfg: &ModelConfig, ck: &Checkpoint<S>, ids: impl Iterator<Item = &u32>) -> Result<Vec<f32>> {
    ck.expect_shape(EMBED, &[cfg.vocab_size, cfg.hidden_size])?;
    let scale = cfg.embed_scale();
    let mut x = Vec::new();
    for &id in ids {
        if id as usize >= cfg.vocab_size {
            return Err(Error::TokenOutOfVocab { id, vocab: cfg.vocab_size });
        }
        x.extend(ck.rows_f32(EMBED, id as u64..id as u64 + 1).await?.into_iter().map(|v| v * scale));
    }
    Ok(x)
}

/// Sees a pass's down_proj inputs, their act² weights and the FFN outputs wanted
/// ([`LayerByLayer::look_with_target`]).
pub type TargetSink<'a> = dyn FnMut(&[f32], &[f32], &[f32]) + 'a;

/// Sees a pass's down_proj input rows.
type RowSink<'a> = dyn FnMut(&[f32]) + 'a;

/// What [`layer_forward`] does besides the layer: show the residual stream before the
/// FFN to `mid` and its down_proj inputs to `rows`, and run the FFN pruned to
/// `pruned = (kept channels, D × |kept| down_proj)`.
#[derive(Default)]
struct FfnTap<'a> {
    mid: Option<&'a mut RowSink<'a>>,
    rows: Option<&'a mut RowSink<'a>>,
    pruned: Option<(&'a [u32], &'a [f32])>,
}

/// Calibration a layer at a time: every window through layer 0, then every window
/// through layer 1, and so on, so that what a layer's FFN saw over all windows
/// (importance, and whatever a caller gathers from its down_proj inputs: the second
/// moments of [`crate::prune::repair`]) is complete before the next layer runs. It
/// holds the residual stream of all windows (N·T·D f32) and one pass's activations;
/// each layer's weights are read once per pass of `per_pass` windows.
pub struct LayerByLayer<'a, S> {
    cfg: &'a ModelConfig,
    ck: &'a Checkpoint<S>,
    tokens: &'a [u32],
    t: usize,
    weights: &'a [f32],
    per_pass: usize,
    x: Vec<f32>,
    /// The dense model's stream beside the pruned one ([`Self::with_dense_twin`]).
    dense: Option<Vec<f32>>,
    next: usize,
}

impl<'a, S: ByteSource> LayerByLayer<'a, S> {
    /// Windows of `t` tokens (`tokens` row-major) with act² weights `weights` (one per
    /// position), `per_pass` windows per pass; reads the embeddings.
    pub async fn new(
        cfg: &'a ModelConfig,
        ck: &'a Checkpoint<S>,
        tokens: &'a [u32],
        t: usize,
        weights: &'a [f32],
        per_pass: usize,
    ) -> Result<Self> {
        if t == 0 || tokens.is_empty() || !tokens.len().is_multiple_of(t) || weights.len() != tokens.len() {
            return Err(Error::Internal(format!("{} tokens and {} weights in windows of {t}", tokens.len(), weights.len())));
        }
        let x = embed(cfg, ck, tokens.iter()).await?;
        Ok(Self { cfg, ck, tokens, t, weights, per_pass: per_pass.max(1), x, dense: None, next: 0 })
    }

    /// Keeps the dense model's residual stream beside this one (another N·T·D f32), for
    /// [`Self::look_with_target`].
    pub fn with_dense_twin(mut self) -> Self {
        self.dense = Some(self.x.clone());
        self
    }

    /// With a dense twin: runs the next layer as the dense model on the twin (moving it
    /// on) and looks at it on this stream without moving on. `ffn_rows(h, w, target)`
    /// gets each pass's down_proj inputs on this stream, their act² weights, and the
    /// FFN outputs that would bring this stream back onto the dense one after the layer
    /// (`target` = the dense stream after it − this stream before the FFN; rows of D).
    /// Returns the importance on this stream, `None` after the last layer.
    pub async fn look_with_target(&mut self, ffn_rows: &mut TargetSink<'_>, cancel: &Cancel) -> Result<Option<Vec<f64>>> {
        let (cfg, ck, l, d, t) = (self.cfg, self.ck, self.next, self.cfg.hidden_size, self.t);
        let Some(dense) = self.dense.as_mut() else {
            return Err(Error::Internal("look_with_target without a dense twin".into()));
        };
        if l == cfg.num_layers {
            return Ok(None);
        }
        let mut total = vec![0f64; cfg.intermediate_size];
        for (start, segments, w) in passes(self.tokens, self.weights, t, self.per_pass) {
            cancel.check()?;
            let rows = start * d..(start + w.len()) * d;
            let plain = ForwardOptions { act2_weights: None, logits: Logits::None, ..Default::default() };
            layer_forward(cfg, ck, l, &mut dense[rows.clone()], &segments, None, &plain, FfnTap::default()).await?;
            let opts = ForwardOptions { act2_weights: Some(w), logits: Logits::None, ..Default::default() };
            let mut x = self.x[rows.clone()].to_vec();
            let (mut h, mut mid) = (Vec::new(), Vec::new());
            let imp = {
                let tap =
                    FfnTap { mid: Some(&mut |m: &[f32]| mid = m.to_vec()), rows: Some(&mut |a: &[f32]| h = a.to_vec()), pruned: None };
                layer_forward(cfg, ck, l, &mut x, &segments, None, &opts, tap).await?
            };
            add_windows(&mut total, &imp.unwrap_or_default());
            let target: Vec<f32> = dense[rows].iter().zip(&mid).map(|(a, b)| a - b).collect();
            ffn_rows(&h, w, &target);
        }
        Ok(Some(total))
    }

    /// The layer [`Self::next_layer`] runs next.
    pub fn layer(&self) -> usize {
        self.next
    }

    /// Runs every window through the next layer and returns its importance
    /// `Σ_i w_i h_ik²`, or `None` after the last layer. `ffn_rows(h, w)` sees each pass's
    /// down_proj inputs (`w.len()` rows of I) with their act² weights.
    pub async fn next_layer(&mut self, ffn_rows: &mut dyn FnMut(&[f32], &[f32]), cancel: &Cancel) -> Result<Option<Vec<f64>>> {
        let imp = self.pass(true, ffn_rows, None, cancel).await?;
        self.next += imp.is_some() as usize;
        Ok(imp)
    }

    /// [`Self::next_layer`] without moving on: the stream stays before the layer, for
    /// [`Self::advance_pruned`] to run it again with the FFN as it will be.
    pub async fn look_at_layer(&mut self, ffn_rows: &mut dyn FnMut(&[f32], &[f32]), cancel: &Cancel) -> Result<Option<Vec<f64>>> {
        self.pass(false, ffn_rows, None, cancel).await
    }

    /// Runs every window through the next layer with its FFN pruned to the channels
    /// `keep` and the `D × |keep|` down_proj `down`, and moves on: later layers see
    /// what the pruned model computes.
    pub async fn advance_pruned(&mut self, keep: &[u32], down: &[f32], cancel: &Cancel) -> Result<()> {
        if self.pass(true, &mut |_, _| {}, Some((keep, down)), cancel).await?.is_some() {
            self.next += 1;
        }
        Ok(())
    }

    async fn pass(
        &mut self,
        advance: bool,
        ffn_rows: &mut dyn FnMut(&[f32], &[f32]),
        pruned: Option<(&[u32], &[f32])>,
        cancel: &Cancel,
    ) -> Result<Option<Vec<f64>>> {
        let (cfg, l, d, t) = (self.cfg, self.next, self.cfg.hidden_size, self.t);
        if l == cfg.num_layers {
            return Ok(None);
        }
        let mut total = vec![0f64; cfg.intermediate_size];
        for (start, segments, w) in passes(self.tokens, self.weights, t, self.per_pass) {
            cancel.check()?;
            let opts = ForwardOptions { act2_weights: Some(w), logits: Logits::None, ..Default::default() };
            let rows = start * d..(start + w.len()) * d;
            let mut copy;
            let x = if advance {
                &mut self.x[rows]
            } else {
                copy = self.x[rows].to_vec();
                &mut copy[..]
            };
            let tap = FfnTap { mid: None, rows: Some(&mut |h: &[f32]| ffn_rows(h, w)), pruned };
            let imp = layer_forward(cfg, self.ck, l, x, &segments, None, &opts, tap).await?;
            add_windows(&mut total, &imp.unwrap_or_default());
        }
        Ok(Some(total))
    }
}

/// The passes over windows of `t` tokens, `per_pass` windows each: every pass's first
/// position, its windows, and their act² weights.
fn passes<'a>(tokens: &'a [u32], weights: &'a [f32], t: usize, per_pass: usize) -> Vec<(usize, Vec<Segment<'a>>, &'a [f32])> {
    let pass = per_pass * t;
    (0..tokens.len())
        .step_by(pass)
        .zip(tokens.chunks(pass))
        .map(|(start, group)| {
            let segments = group.chunks_exact(t).map(|tokens| Segment { tokens, prefix: None }).collect();
            (start, segments, &weights[start..start + group.len()])
        })
        .collect()
}

/// Greedy decoding on the reference path: appends up to `max_new` arg-max tokens to
/// `prompt`, stopping after any of `stop`. The prompt runs once, then one token per
/// step against a [`KvCache`] (each step still streams every layer's weights).
pub async fn generate_greedy<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
) -> Result<Vec<u32>> {
    let mut cache = KvCache::default();
    let (mut new, mut input) = (Vec::new(), prompt.to_vec());
    while new.len() < max_new {
        let out = forward_cached(cfg, ck, &input, &mut cache, &ForwardOptions::default()).await?;
        let next = super::score::next_token(&out.logits)?;
        new.push(next);
        if stop.contains(&next) {
            break;
        }
        input = vec![next];
    }
    Ok(new)
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0
}

/// `rows × V` logits of final hidden states `h` (`rows × D`), streaming the output
/// matrix (lm_head, or the embedding when tied) in blocks of rows.
pub async fn logits<S: ByteSource>(cfg: &ModelConfig, ck: &Checkpoint<S>, h: &[f32]) -> Result<Vec<f32>> {
    let (d, v) = (cfg.hidden_size, cfg.vocab_size);
    let rows = h.len() / d;
    let name = if ck.contains(LM_HEAD) { LM_HEAD } else { EMBED };
    ck.expect_shape(name, &[v, d])?;
    let mut out = vec![0f32; rows * v];
    const BLOCK: usize = 8192;
    for start in (0..v).step_by(BLOCK) {
        let end = (start + BLOCK).min(v);
        let block = matmul_packed(h, rows, &*weight(ck, name, Some(start..end), end - start, d).await?);
        for r in 0..rows {
            out[r * v + start..r * v + end].copy_from_slice(&block[r * (end - start)..(r + 1) * (end - start)]);
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn layer_forward<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    l: usize,
    x: &mut [f32],
    segments: &[Segment<'_>],
    cache: Option<&mut (Vec<f32>, Vec<f32>)>,
    opts: &ForwardOptions<'_>,
    ffn: FfnTap<'_>,
) -> Result<Option<Vec<f64>>> {
    let (act2_weights, ffn_keep) = (opts.act2_weights, opts.ffn_keep.map(|k| k[l].as_slice()));
    let (d, i_dim, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (q_dim, kv_dim) = (cfg.q_dim(), cfg.kv_dim());
    let (eps, off) = (cfg.rms_norm_eps as f32, cfg.norm_offset());
    let gemma = cfg.norms_per_layer() == 4;
    let t = x.len() / d;
    let load = |name: String, shape: Vec<usize>| async move {
        ck.expect_shape(&name, &shape)?;
        ck.f32(&name).await
    };

    // Attention block.
    let mut h = x.to_vec();
    rms_norm_rows(&mut h, &load(names::layer_norm(l, "input_layernorm"), vec![d]).await?, eps, off);
    let mut q = matmul_packed(&h, t, &*weight(ck, &names::attn(l, "q_proj", "weight"), None, q_dim, d).await?);
    let mut k = matmul_packed(&h, t, &*weight(ck, &names::attn(l, "k_proj", "weight"), None, kv_dim, d).await?);
    let mut v = matmul_packed(&h, t, &*weight(ck, &names::attn(l, "v_proj", "weight"), None, kv_dim, d).await?);
    if cfg.qkv_bias() {
        add_bias(&mut q, &load(names::attn(l, "q_proj", "bias"), vec![q_dim]).await?);
        add_bias(&mut k, &load(names::attn(l, "k_proj", "bias"), vec![kv_dim]).await?);
        add_bias(&mut v, &load(names::attn(l, "v_proj", "bias"), vec![kv_dim]).await?);
    }
    if cfg.qk_norm() {
        rms_norm_rows(&mut q, &load(format!("model.layers.{l}.self_attn.q_norm.weight"), vec![hd]).await?, eps, off);
        rms_norm_rows(&mut k, &load(format!("model.layers.{l}.self_attn.k_norm.weight"), vec![hd]).await?, eps, off);
    }
    let inv_freq = cfg.rope_for(l).inv_freq(hd);
    let (window, heads, kv_heads, scale) = (cfg.window_for(l), cfg.num_heads, cfg.num_kv_heads, cfg.attn_scale);
    let a = match cache {
        // One segment continuing the cached positions.
        Some((past_k, past_v)) => {
            let past = past_k.len() / kv_dim;
            rope(&mut q, t, past, heads, hd, &inv_freq);
            rope(&mut k, t, past, kv_heads, hd, &inv_freq);
            past_k.extend_from_slice(&k);
            past_v.extend_from_slice(&v);
            attention(&q, past_k, past_v, t, past, heads, kv_heads, hd, scale, window)
        }
        None => {
            let mut a = Vec::with_capacity(t * q_dim);
            let starts: Vec<usize> = segments.iter().scan(0, |r, s| Some(std::mem::replace(r, *r + s.tokens.len()))).collect();
            for (s, &r0) in segments.iter().zip(&starts) {
                // Rows of the prefix (already rotated: it is an earlier segment), then our own.
                let n = s.tokens.len();
                let (p0, past) = s.prefix.map_or((r0, 0), |p| (starts[p], segments[p].tokens.len()));
                rope(&mut q[r0 * q_dim..(r0 + n) * q_dim], n, past, heads, hd, &inv_freq);
                rope(&mut k[r0 * kv_dim..(r0 + n) * kv_dim], n, past, kv_heads, hd, &inv_freq);
                let rows = |m: &[f32]| [&m[p0 * kv_dim..(p0 + past) * kv_dim], &m[r0 * kv_dim..(r0 + n) * kv_dim]].concat();
                let (k, v) = (rows(&k), rows(&v));
                a.extend(attention(&q[r0 * q_dim..(r0 + n) * q_dim], &k, &v, n, past, heads, kv_heads, hd, scale, window));
            }
            a
        }
    };
    let mut o = matmul_packed(&a, t, &*weight(ck, &names::attn(l, "o_proj", "weight"), None, d, q_dim).await?);
    if gemma {
        rms_norm_rows(&mut o, &load(names::layer_norm(l, "post_attention_layernorm"), vec![d]).await?, eps, off);
    }
    add_into(x, &o);

    // FFN block.
    if let Some(f) = ffn.mid {
        f(x);
    }
    let mut h = x.to_vec();
    let pre = if gemma { "pre_feedforward_layernorm" } else { "post_attention_layernorm" };
    rms_norm_rows(&mut h, &load(names::layer_norm(l, pre), vec![d]).await?, eps, off);
    let gate = matmul_packed(&h, t, &*weight(ck, &names::mlp(l, "gate_proj"), None, i_dim, d).await?);
    let up = matmul_packed(&h, t, &*weight(ck, &names::mlp(l, "up_proj"), None, i_dim, d).await?);
    let mut act = gate;
    let activation = cfg.activation;
    crate::parallel::for_rows(
        &mut act,
        i_dim,
        |_| 1.0,
        |first, rows| {
            for (a, &u) in rows.iter_mut().zip(&up[first * i_dim..]) {
                *a = activation.apply(*a) * u;
            }
        },
    );
    if let Some(keep) = ffn_keep {
        let mut kept = vec![false; i_dim];
        keep.iter().for_each(|&c| kept[c as usize] = true);
        for row in act.chunks_exact_mut(i_dim) {
            row.iter_mut().zip(&kept).filter(|(_, k)| !**k).for_each(|(a, _)| *a = 0.0);
        }
    }
    let importance = act2_weights.map(|w| {
        // Each segment's rows in blocks of IMPORTANCE_ROWS, summed on the cores, then each
        // segment's blocks in order: the same bytes whatever the number of cores and
        // whatever other segments share the pass.
        let mut spans = Vec::new();
        let mut per_segment = Vec::with_capacity(segments.len());
        let mut start = 0;
        for s in segments {
            let end = start + s.tokens.len();
            let before = spans.len();
            spans.extend((start..end).step_by(IMPORTANCE_ROWS).map(|r0| r0..(r0 + IMPORTANCE_ROWS).min(end)));
            per_segment.push(spans.len() - before);
            start = end;
        }
        let mut blocks = vec![0f64; spans.len() * i_dim];
        crate::parallel::for_rows(
            &mut blocks,
            i_dim,
            |_| 1.0,
            |first, sums| {
                for (sum, rows) in sums.chunks_exact_mut(i_dim).zip(&spans[first..]) {
                    for (row, &wi) in act[rows.start * i_dim..rows.end * i_dim].chunks_exact(i_dim).zip(&w[rows.clone()]) {
                        if wi != 0.0 {
                            for (acc, &a) in sum.iter_mut().zip(row) {
                                *acc += wi as f64 * (a as f64) * (a as f64);
                            }
                        }
                    }
                }
            },
        );
        let mut imp = vec![0f64; segments.len() * i_dim];
        let mut blocks = blocks.chunks_exact(i_dim);
        for (seg, &n) in imp.chunks_exact_mut(i_dim).zip(&per_segment) {
            for sum in blocks.by_ref().take(n) {
                seg.iter_mut().zip(sum).for_each(|(a, b)| *a += b);
            }
        }
        imp
    });
    if let Some(f) = ffn.rows {
        f(&act);
    }
    let mut down = match ffn.pruned {
        None => matmul_packed(&act, t, &*weight(ck, &names::mlp(l, "down_proj"), None, d, i_dim).await?),
        Some((keep, w)) => {
            let kept: Vec<f32> = act.chunks_exact(i_dim).flat_map(|row| keep.iter().map(|&c| row[c as usize])).collect();
            matmul(&kept, t, w, d, keep.len())
        }
    };
    if gemma {
        rms_norm_rows(&mut down, &load(names::layer_norm(l, "post_feedforward_layernorm"), vec![d]).await?, eps, off);
    }
    add_into(x, &down);
    Ok(importance)
}

/// RMSNorm of each row of `x` (row length = `w.len()`): `x / rms(x) · (offset + w)`.
pub fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32, offset: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let ms = row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / row.len() as f64;
        let inv = 1.0 / ((ms as f32) + eps).sqrt();
        for (v, &g) in row.iter_mut().zip(w) {
            *v = *v * inv * (offset + g);
        }
    }
}

fn add_bias(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        add_into(row, b);
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Rotates each head of `x` (`T × heads·hd`, positions `start..start + T`) in the
/// half-split layout: pairs (j, j + hd/2) are rotated by position · inv_freq[j].
pub fn rope(x: &mut [f32], t: usize, start: usize, heads: usize, hd: usize, inv_freq: &[f64]) {
    let half = hd / 2;
    for row in 0..t {
        let pos = start + row;
        let angles: Vec<(f32, f32)> = inv_freq
            .iter()
            .map(|&f| {
                let a = pos as f64 * f;
                (a.cos() as f32, a.sin() as f32)
            })
            .collect();
        for h in 0..heads {
            let base = row * heads * hd + h * hd;
            for (j, &(c, s)) in angles.iter().enumerate() {
                let (a, b) = (x[base + j], x[base + j + half]);
                x[base + j] = a * c - b * s;
                x[base + j + half] = b * c + a * s;
            }
        }
    }
}

/// Causal grouped-query attention of `T` queries at positions `past..past + T` over
/// keys at `0..past + T`. `q` is `T × H·hd`, `k`/`v` are `(past + T) × KV·hd`; query
/// head h reads kv head h / (H/KV). With a window w, position i sees j when i − j < w.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    t: usize,
    past: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
    scale: f32,
    window: Option<usize>,
) -> Vec<f32> {
    // Heads are independent: each worker takes a contiguous range of them (same
    // arithmetic per head, so the result does not depend on the number of workers).
    split_columns(t, heads, hd, 1, |h0, h1| {
        let mut part = vec![0f32; t * (h1 - h0) * hd];
        for h in h0..h1 {
            attention_head(q, k, v, t, past, heads, kv_heads, hd, scale, window, h, &mut part, h - h0, h1 - h0);
        }
        part
    })
}

/// One head of [`attention`], written into `out` (rows of `of` heads, this one at `slot`).
#[allow(clippy::too_many_arguments)]
fn attention_head(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    t: usize,
    past: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
    scale: f32,
    window: Option<usize>,
    h: usize,
    out: &mut [f32],
    slot: usize,
    of: usize,
) {
    let g = h / (heads / kv_heads);
    let (q_stride, kv_stride) = (heads * hd, kv_heads * hd);
    // Blocks of queries: the scores of a block against every key it may see (from the
    // window's start for its first query to its last query's position) in one matrix
    // product, a softmax per row over the keys that row sees, and the weighted values
    // in a second product (the keys a row may not see weigh exactly 0).
    let mut p = Vec::new();
    for i0 in (0..t).step_by(ATTENTION_BLOCK) {
        let rows = (t - i0).min(ATTENTION_BLOCK);
        let first = |pos: usize| window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let (lo, hi) = (first(past + i0), past + i0 + rows);
        let n = hi - lo;
        p.resize(rows * n, 0.0);
        gemm(&q[i0 * q_stride + h * hd..], q_stride, rows, &k[lo * kv_stride + g * hd..], Layout::Rows(kv_stride), n, hd, &mut p, n);
        for (r, row) in p.chunks_exact_mut(n).enumerate() {
            let pos = past + i0 + r;
            let seen = first(pos) - lo..pos + 1 - lo;
            let mut max = f32::NEG_INFINITY;
            for s in &mut row[seen.clone()] {
                *s *= scale;
                max = max.max(*s);
            }
            let mut sum = 0f32;
            for s in &mut row[seen.clone()] {
                *s = (*s - max).exp();
                sum += *s;
            }
            row[seen.clone()].iter_mut().for_each(|s| *s /= sum);
            row[..seen.start].fill(0.0);
            row[seen.end..].fill(0.0);
        }
        let o = &mut out[(i0 * of + slot) * hd..];
        gemm(&p, n, rows, &v[lo * kv_stride + g * hd..], Layout::Cols(kv_stride), hd, n, o, of * hd);
    }
}

/// Rows per block of the importance sums in [`layer_forward`].
const IMPORTANCE_ROWS: usize = 64;

/// Queries per block of [`attention_head`]: the keys past a block's last query that
/// its first rows cannot see are computed and then weighted 0.
const ATTENTION_BLOCK: usize = 48;

/// The weight `name` (or its rows `rows`), `n × k`, packed for the matmul: kept
/// between passes when the checkpoint keeps weights resident, read from the file
/// otherwise. bf16 weights stay bf16.
async fn weight<S: ByteSource>(
    ck: &Checkpoint<S>,
    name: &str,
    rows: Option<std::ops::Range<usize>>,
    n: usize,
    k: usize,
) -> Result<Arc<Packed>> {
    let t = if rows.is_none() { ck.expect_shape(name, &[n, k])? } else { ck.info(name)? };
    let bf16 = t.dtype == Dtype::BF16;
    let key = rows.as_ref().map_or_else(|| name.to_string(), |r| format!("{name}[{}..{}]", r.start, r.end));
    let bytes = (n * k * if bf16 { 2 } else { 4 }) as u64;
    ck.derived(&key, bytes, async {
        let range = rows.clone().map_or(0..n as u64, |r| r.start as u64..r.end as u64);
        Ok(if bf16 {
            Packed::from_bf16(&ck.raw_rows(name, range).await?, n, k)
        } else {
            Packed::new(&ck.rows_f32(name, range).await?, Layout::Rows(k), n, k)
        })
    })
    .await
}

/// Dot product with eight independent accumulators summed in a fixed order (the
/// benchmark's plain row-by-row baseline).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Runs `part(lo, hi)` for contiguous ranges of `0..n` (cut at multiples of `align`)
/// on the machine's cores (one thread on wasm) and assembles their results: each part
/// is `t` rows of `(hi − lo) · unit` values, the whole `t` rows of `n · unit`.
pub(super) fn split_columns(t: usize, n: usize, unit: usize, align: usize, part: impl Fn(usize, usize) -> Vec<f32> + Sync) -> Vec<f32> {
    let threads = crate::parallel::threads().min(n.max(1));
    let per = n.div_ceil(threads).next_multiple_of(align);
    let parts: Vec<(usize, usize, Vec<f32>)> = if threads <= 1 {
        vec![(0, n, part(0, n))]
    } else {
        let part = &part;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| (i * per, ((i + 1) * per).min(n)))
                .filter(|(lo, hi)| lo < hi)
                .map(|(lo, hi)| (lo, hi, s.spawn(move || part(lo, hi))))
                .collect();
            handles.into_iter().map(|(lo, hi, h)| (lo, hi, h.join().expect("CPU worker"))).collect()
        })
    };
    let width = n * unit;
    let mut out = vec![0f32; t * width];
    for (lo, hi, p) in parts {
        let w = (hi - lo) * unit;
        for r in 0..t {
            out[r * width + lo * unit..r * width + hi * unit].copy_from_slice(&p[r * w..(r + 1) * w]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_split_over_workers_equals_one_pass() {
        let (t, heads, kv_heads, hd) = (5, 6, 2, 4);
        let f = |n: usize, s: f32| (0..n).map(|i| (i as f32 * s).sin()).collect::<Vec<f32>>();
        let (q, k, v) = (f(t * heads * hd, 0.3), f(t * kv_heads * hd, 0.7), f(t * kv_heads * hd, 1.1));
        let got = attention(&q, &k, &v, t, 0, heads, kv_heads, hd, 0.5, Some(3));
        let mut want = vec![0f32; t * heads * hd];
        for h in 0..heads {
            attention_head(&q, &k, &v, t, 0, heads, kv_heads, hd, 0.5, Some(3), h, &mut want, h, heads);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn attention_after_a_prefix_is_the_tail_of_one_pass() {
        let (t, past, heads, kv_heads, hd) = (3, 5, 4, 2, 4);
        let f = |n: usize, s: f32| (0..n).map(|i| (i as f32 * s).sin()).collect::<Vec<f32>>();
        let n = past + t;
        let (q, k, v) = (f(n * heads * hd, 0.3), f(n * kv_heads * hd, 0.7), f(n * kv_heads * hd, 1.1));
        for window in [None, Some(3)] {
            let full = attention(&q, &k, &v, n, 0, heads, kv_heads, hd, 0.5, window);
            let tail = attention(&q[past * heads * hd..], &k, &v, t, past, heads, kv_heads, hd, 0.5, window);
            assert_eq!(tail, full[past * heads * hd..], "window {window:?}");
        }
    }

    #[test]
    fn rope_from_a_start_position_is_the_tail_of_one_pass() {
        let (t, start, heads, hd) = (2, 3, 2, 4);
        let inv = [0.9, 0.1];
        let mut full: Vec<f32> = (0..(start + t) * heads * hd).map(|i| (i as f32 * 0.5).cos()).collect();
        let mut tail = full[start * heads * hd..].to_vec();
        rope(&mut full, start + t, 0, heads, hd, &inv);
        rope(&mut tail, t, start, heads, hd, &inv);
        assert_eq!(tail, full[start * heads * hd..]);
    }

    #[test]
    fn attention_is_causal_and_windowed() {
        // One head, hd = 2: with identical keys, attention averages the visible values.
        let (t, hd) = (4, 2);
        let q = vec![0f32; t * hd];
        let k = vec![0f32; t * hd];
        let v: Vec<f32> = (0..t).flat_map(|i| [i as f32, 0.0]).collect();
        let full = attention(&q, &k, &v, t, 0, 1, 1, hd, 1.0, None);
        assert_eq!((0..t).map(|i| full[i * hd]).collect::<Vec<_>>(), [0.0, 0.5, 1.0, 1.5]);
        let win = attention(&q, &k, &v, t, 0, 1, 1, hd, 1.0, Some(2));
        assert_eq!((0..t).map(|i| win[i * hd]).collect::<Vec<_>>(), [0.0, 0.5, 1.5, 2.5]);
    }

    #[test]
    fn rope_rotates_pairs_half_apart() {
        let mut x = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]; // T = 2, hd = 4
        rope(&mut x, 2, 0, 1, 4, &[std::f64::consts::FRAC_PI_2, 0.0]);
        assert_eq!(&x[..4], &[1.0, 0.0, 0.0, 0.0], "position 0 is not rotated");
        assert!((x[4]).abs() < 1e-6 && (x[6] - 1.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn rms_norm_with_gemma_offset() {
        let mut x = vec![3.0, 4.0];
        rms_norm_rows(&mut x, &[0.0, 1.0], 0.0, 1.0);
        let r = (12.5f32).sqrt();
        assert!((x[0] - 3.0 / r).abs() < 1e-6 && (x[1] - 8.0 / r).abs() < 1e-6);
    }
}
