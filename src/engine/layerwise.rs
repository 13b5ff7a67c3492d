//! The GPU pass a layer at a time over all calibration windows, for the repair of a
//! pruned FFN (beyond the paper): every window goes through layer l before any goes
//! through l + 1, so that a layer's second moments over all windows are complete
//! before the next layer runs, and the next layer can read what the pruned and
//! repaired layers compute. The GPU twin of [`super::cpu::LayerByLayer`], built from
//! the same layer halves as [`super::forward::run`].
//!
//! The residual streams of all windows (and the dense model's beside them for the
//! residual fit) stay on the GPU when they fit the activation budget, one buffer per
//! batch; otherwise they are held in memory and each batch's is uploaded for its work
//! and read back after it. A layer's weights are uploaded once for all its passes.
//! The moments are products of each batch laid out channel-major and weighed by `√w`
//! ([`kernels::weigh_transpose`]): `C = H′ H′ᵀ` in row blocks of its upper triangle,
//! `Σ w y hᵀ = Y′ H′ᵀ`, each block read back and summed into [`Gram`] / [`Cross`] in
//! f64 (the batches' sums are f32, as on the CPU).

use super::forward::{self, Activations, LayerWeights};
use super::gpu::{Buffer, Gpu};
use super::kernels::{self, Causal, Matrix, Operand, Product, WeightType};
use super::moments::{Cross, Gram};
use crate::error::{Error, Result};
use crate::io::ByteSource;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{Cancel, now};

/// Bytes of one block of a moment read back at a time (it passes through memory on
/// its way into the f64 sums; in the browser that memory is the page's wasm heap).
const BLOCK_BYTES: u64 = 32 << 20;

/// GPU memory the repair's passes hold beyond a plain calibration, before they run,
/// over `tokens` calibration positions (with the dense model's stream too for the
/// residual fit, `dense_twin`): the streams (when they fit the activation budget, else
/// the slots one batch is loaded into), one batch's down_proj inputs and targets laid
/// out for the products, and the block moments are read back through.
pub fn extra_gpu_bytes(cfg: &ModelConfig, tokens: usize, dense_twin: bool) -> u64 {
    let budget = forward::ACTIVATION_BUDGET;
    let rows = (batch_budget(cfg, dense_twin, budget) / (4 * forward::row_floats(cfg).0 as u64)).clamp(1, tokens.max(1) as u64);
    let stream_row = stream_bytes(cfg, 1, dense_twin);
    let held = if streams_resident(cfg, tokens, dense_twin, budget) { stream_bytes(cfg, tokens, dense_twin) } else { rows * stream_row };
    held + rows * laid_out_floats(cfg, dense_twin) * 4 + BLOCK_BYTES
}

/// Floats per position a batch lays out for the products: its down_proj input (I)
/// and, with a dense twin, its target (D).
fn laid_out_floats(cfg: &ModelConfig, dense_twin: bool) -> u64 {
    (cfg.intermediate_size + if dense_twin { cfg.hidden_size } else { 0 }) as u64
}

/// The share of an activation `budget` a batch's own activations get (the rest is
/// what it lays out for the products).
fn batch_budget(cfg: &ModelConfig, dense_twin: bool, budget: u64) -> u64 {
    let per_row = forward::row_floats(cfg).0 as u64;
    budget * per_row / (per_row + laid_out_floats(cfg, dense_twin))
}

/// Bytes of the residual streams of `tokens` positions (and the dense model's).
fn stream_bytes(cfg: &ModelConfig, tokens: usize, dense_twin: bool) -> u64 {
    (tokens * cfg.hidden_size * 4 * if dense_twin { 2 } else { 1 }) as u64
}

/// Whether the streams of all `tokens` positions stay on the GPU: when they fit `budget`.
fn streams_resident(cfg: &ModelConfig, tokens: usize, dense_twin: bool, budget: u64) -> bool {
    stream_bytes(cfg, tokens, dense_twin) <= budget
}

/// One layer's statistics over all windows.
#[derive(Debug)]
pub struct LayerMoments {
    /// The act² importance `Σ_i w_i h_ik²` (I values).
    pub act2: Vec<f64>,
    /// The weighted second moment of the down_proj input.
    pub gram: Gram,
    /// With a target ([`GpuLayers::look_with_target`]): `Σ_i w_i y_i h_iᵀ`.
    pub cross: Option<Cross>,
    /// Seconds spent on the moments' products and their readback.
    pub seconds: f64,
}

/// A batch's residual stream: on the GPU, or in memory (uploaded into a slot for each
/// pass and read back after it).
enum Stream {
    Device(Buffer),
    Host(Vec<f32>),
}

impl Stream {
    /// The buffer the batch's work reads and writes: its own, or `slot` loaded with it.
    fn stage<'b>(&'b self, gpu: &Gpu, slot: Option<&'b Buffer>) -> Result<&'b Buffer> {
        match (self, slot) {
            (Stream::Device(b), _) => Ok(b),
            (Stream::Host(v), Some(slot)) => {
                gpu.queue.write_buffer(slot, 0, bytemuck::cast_slice(v));
                Ok(slot)
            }
            (Stream::Host(_), None) => Err(Error::Internal("a stream held in memory without a slot".into())),
        }
    }

    /// After the batch's work: a stream held in memory takes the slot's values back.
    async fn unstage(&mut self, gpu: &Gpu, slot: Option<&Buffer>) -> Result<()> {
        if let (Stream::Host(v), Some(slot)) = (self, slot) {
            *v = gpu.read_f32(slot, 0, v.len()).await?;
        }
        Ok(())
    }
}

/// One batch of windows: its residual stream (and the dense model's), its act²
/// weights and the buffer of its per-window act² sums.
struct Batch {
    x: Stream,
    dense: Option<Stream>,
    weights: Buffer,
    imp: Buffer,
    windows: usize,
}

/// Calibration windows run through the model a layer at a time on the GPU.
pub struct GpuLayers<'a, S> {
    gpu: &'a Gpu,
    cfg: &'a ModelConfig,
    ck: &'a Checkpoint<S>,
    t: usize,
    batches: Vec<Batch>,
    act: Activations,
    /// The down_proj inputs of a batch, channel-major and weighed (I × `ld`).
    h_t: Buffer,
    /// The target of a batch, likewise (D × `ld`), with a dense twin.
    y_t: Option<Buffer>,
    /// Rows of the largest batch, padded to a multiple of 8.
    ld: usize,
    /// With the streams in memory: the buffers a batch's stream and its dense twin are
    /// loaded into.
    slots: [Option<Buffer>; 2],
    block: Buffer,
    tables: (Vec<Buffer>, Vec<usize>),
    /// The next layer's weights, once loaded (for all its passes).
    weights: Option<LayerWeights>,
    /// Whether the streams are between the attention and the FFN of layer `next`.
    at_ffn: bool,
    next: usize,
}

impl<'a, S: ByteSource> GpuLayers<'a, S> {
    /// Windows of `t` tokens (`tokens` row-major) with act² weights `weights` (one per
    /// position); with `dense_twin`, the dense model's stream is kept beside the pruned
    /// one ([`Self::look_with_target`]); a batch of windows holds at most `budget`
    /// bytes of activations ([`forward::ACTIVATION_BUDGET`]), and the streams stay on
    /// the GPU when all of them fit in `budget` too. Reads the embeddings.
    pub async fn new(
        gpu: &'a Gpu,
        cfg: &'a ModelConfig,
        ck: &'a Checkpoint<S>,
        (tokens, t, weights): (&[u32], usize, &[f32]),
        dense_twin: bool,
        budget: u64,
    ) -> Result<Self> {
        if t == 0 || tokens.is_empty() || !tokens.len().is_multiple_of(t) || weights.len() != tokens.len() {
            return Err(Error::Internal(format!("{} tokens and {} weights in windows of {t}", tokens.len(), weights.len())));
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= cfg.vocab_size) {
            return Err(Error::TokenOutOfVocab { id: bad, vocab: cfg.vocab_size });
        }
        forward::check_model(cfg, ck)?;
        let (d, n) = (cfg.hidden_size, cfg.intermediate_size);
        let count = tokens.len() / t;
        let cap = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
        let mut per_batch = forward::windows_per_batch(gpu, cfg, t, count, batch_budget(cfg, dense_twin, budget))?;
        while per_batch > 1 && ((per_batch * t).next_multiple_of(8) * n * 4) as u64 > cap {
            per_batch -= 1;
        }
        let ld = (per_batch * t).next_multiple_of(8);
        let resident = streams_resident(cfg, tokens.len(), dense_twin, budget);
        let slot = |label| if resident { Ok(None) } else { gpu.storage(label, (per_batch * t * d * 4) as u64).map(Some) };
        let slots = [slot("residual")?, if dense_twin { slot("dense residual")? } else { None }];
        let stream = |label, x: &[f32]| if resident { gpu.upload_f32(label, x).map(Stream::Device) } else { Ok(Stream::Host(x.to_vec())) };
        let mut batches = Vec::with_capacity(count.div_ceil(per_batch));
        for w0 in (0..count).step_by(per_batch) {
            let nb = per_batch.min(count - w0);
            let rows = w0 * t..(w0 + nb) * t;
            let x = forward::embed_rows(cfg, ck, &tokens[rows.clone()]).await?;
            batches.push(Batch {
                dense: if dense_twin { Some(stream("dense residual", &x)?) } else { None },
                x: stream("residual", &x)?,
                weights: gpu.upload_f32("act² weights", &weights[rows])?,
                imp: gpu.storage("importance", (nb * n * 4) as u64)?,
                windows: nb,
            });
        }
        Ok(Self {
            gpu,
            cfg,
            ck,
            t,
            batches,
            act: Activations::new(gpu, cfg, per_batch * t)?,
            h_t: gpu.storage("down_proj inputs, channel-major", (n * ld * 4) as u64)?,
            y_t: if dense_twin { Some(gpu.storage("targets, channel-major", (d * ld * 4) as u64)?) } else { None },
            ld,
            slots,
            // A small budget reads the moments back in small blocks too (tests).
            block: gpu.storage("moment block", BLOCK_BYTES.min(budget.max(1 << 20)).min(cap))?,
            tables: forward::rope_tables(gpu, cfg, t)?,
            weights: None,
            at_ffn: false,
            next: 0,
        })
    }

    /// Batches the windows are split into.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// The layer the next call runs.
    pub fn layer(&self) -> usize {
        self.next
    }

    /// Runs every window through the next layer and returns its moments, `None` after
    /// the last layer (the dense fit: the streams stay the dense model's).
    pub async fn next_layer(&mut self, cancel: &Cancel) -> Result<Option<LayerMoments>> {
        let moments = self.moments(false, true, cancel).await?;
        if moments.is_some() {
            self.finish_layer();
        }
        Ok(moments)
    }

    /// The moments of the next layer on these streams, which stop before its FFN:
    /// [`Self::advance_pruned`] finishes the layer with the FFN as it will be.
    pub async fn look_at_layer(&mut self, cancel: &Cancel) -> Result<Option<LayerMoments>> {
        self.moments(false, false, cancel).await
    }

    /// With a dense twin: runs the next layer as the dense model on the twin, then
    /// [`Self::look_at_layer`] with the cross moment of the FFN outputs that would bring
    /// these streams back onto the dense one (the dense stream after the layer − this
    /// stream before the FFN).
    pub async fn look_with_target(&mut self, cancel: &Cancel) -> Result<Option<LayerMoments>> {
        if self.y_t.is_none() {
            return Err(Error::Internal("look_with_target without a dense twin".into()));
        }
        self.moments(true, false, cancel).await
    }

    /// Finishes the layer [`Self::look_at_layer`] looked at with its FFN pruned to the
    /// channels `keep` (ascending) and the `D × |keep|` down_proj `down`: later layers
    /// see what the pruned model computes.
    pub async fn advance_pruned(&mut self, keep: &[u32], down: &[f32], cancel: &Cancel) -> Result<()> {
        let (gpu, cfg) = (self.gpu, self.cfg);
        let (d, n) = (cfg.hidden_size, cfg.intermediate_size);
        if !self.at_ffn || down.len() != d * keep.len() || keep.iter().any(|&c| c as usize >= n) {
            return Err(Error::Internal(format!("advance_pruned: {} values for {d} × {} kept channels", down.len(), keep.len())));
        }
        // The pruned FFN as a full-width down_proj whose removed columns are zero: the
        // removed channels' h still runs but adds nothing.
        let mut full = vec![0f32; d * n];
        for (row, kept) in full.chunks_exact_mut(n).zip(down.chunks_exact(keep.len().max(1))) {
            keep.iter().zip(kept).for_each(|(&c, &v)| row[c as usize] = v);
        }
        let pruned = Matrix { buf: gpu.upload_f32("pruned down_proj", &full)?, dtype: WeightType::F32, rows: d, cols: n };
        drop(full);
        let lw = self.weights.as_ref().ok_or_else(|| Error::Internal("advance_pruned before a look".into()))?;
        for b in &mut self.batches {
            cancel.check()?;
            let m = b.windows * self.t;
            let x = b.x.stage(gpu, self.slots[0].as_ref())?;
            let mut enc = gpu.encoder();
            forward::encode_ffn_in(gpu, &mut enc, cfg, lw, (x, &self.act), (m, b.windows, self.t), None);
            forward::encode_ffn_out(gpu, &mut enc, cfg, lw, &pruned, (x, &self.act), m);
            gpu.submit(enc);
            b.x.unstage(gpu, self.slots[0].as_ref()).await?;
        }
        gpu.finish().await?;
        self.finish_layer();
        Ok(())
    }

    fn finish_layer(&mut self) {
        self.weights = None;
        self.at_ffn = false;
        self.next += 1;
    }

    /// The next layer's act² and moments over every batch (`target`: the cross moment
    /// too, after the dense twin ran the layer). `whole`: the streams run the whole
    /// dense layer; otherwise they stop before the FFN.
    async fn moments(&mut self, target: bool, whole: bool, cancel: &Cancel) -> Result<Option<LayerMoments>> {
        let (gpu, cfg, t, l) = (self.gpu, self.cfg, self.t, self.next);
        let (d, n) = (cfg.hidden_size, cfg.intermediate_size);
        if l == cfg.num_layers {
            return Ok(None);
        }
        if self.at_ffn {
            return Err(Error::Internal("a layer looked at twice: advance_pruned finishes it".into()));
        }
        if self.weights.is_none() {
            self.weights = Some(forward::load_layer(gpu, cfg, self.ck, l).await?);
        }
        let lw = self.weights.as_ref().expect("loaded above");
        let rope = &self.tables.0[self.tables.1[l]];
        let mut out = LayerMoments { act2: vec![0f64; n], gram: Gram::new(n), cross: target.then(|| Cross::new(d, n)), seconds: 0.0 };
        let (act, h_t, y_t, slots) = (&self.act, &self.h_t, self.y_t.as_ref(), &self.slots);
        for b in &mut self.batches {
            cancel.check()?;
            let (nb, m) = (b.windows, b.windows * t);
            let x = b.x.stage(gpu, slots[0].as_ref())?;
            let dense = match (target, &b.dense) {
                (true, Some(s)) => Some(s.stage(gpu, slots[1].as_ref())?),
                _ => None,
            };
            let mut enc = gpu.encoder();
            if let Some(dense) = dense {
                forward::encode_layer(gpu, &mut enc, cfg, l, lw, (dense, act), (m, nb, t), rope, None)?;
            }
            forward::encode_attention(gpu, &mut enc, cfg, l, lw, (x, act), (m, t), rope)?;
            forward::encode_ffn_in(gpu, &mut enc, cfg, lw, (x, act), (m, nb, t), Some((&b.weights, &b.imp, 0)));
            kernels::weigh_transpose(gpu, &mut enc, &act.gate, &b.weights, h_t, m, n, self.ld);
            if let (Some(dense), Some(y_t)) = (dense, y_t) {
                enc.copy_buffer_to_buffer(dense, 0, &act.o, 0, (m * d * 4) as u64);
                kernels::sub(gpu, &mut enc, &act.o, x, m * d);
                kernels::weigh_transpose(gpu, &mut enc, &act.o, &b.weights, y_t, m, d, self.ld);
            }
            if whole {
                forward::encode_ffn_out(gpu, &mut enc, cfg, lw, &lw.down, (x, act), m);
            }
            gpu.submit(enc);
            let partial = gpu.read_f32(&b.imp, 0, nb * n).await?;
            for window in partial.chunks_exact(n) {
                out.act2.iter_mut().zip(window).for_each(|(a, &v)| *a += f64::from(v));
            }
            b.x.unstage(gpu, slots[0].as_ref()).await?;
            if let (true, Some(s)) = (target, b.dense.as_mut()) {
                s.unstage(gpu, slots[1].as_ref()).await?;
            }
            let t0 = now();
            let gram = &mut out.gram;
            products(gpu, &self.block, self.ld, (h_t, n), (h_t, n), true, &mut |r0, block| gram.add_rows(r0, block)).await?;
            if let (Some(cross), Some(y_t)) = (out.cross.as_mut(), y_t) {
                products(gpu, &self.block, self.ld, (y_t, d), (h_t, n), false, &mut |r0, block| cross.add_rows(r0, block)).await?;
            }
            out.seconds += now() - t0;
        }
        self.at_ffn = !whole;
        Ok(Some(out))
    }
}

/// `a′ · b′ᵀ` of two channel-major batches (`rows × ld` each), a block of rows at a time
/// through `block`, each block read back and handed to `sink(first row, block)`; with
/// `upper` (a Gram) the block's columns start at its first row.
async fn products(
    gpu: &Gpu,
    block: &Buffer,
    ld: usize,
    (a, a_rows): (&Buffer, usize),
    (b, b_rows): (&Buffer, usize),
    upper: bool,
    sink: &mut dyn FnMut(usize, &[f32]),
) -> Result<()> {
    let floats = (block.size() / 4) as usize;
    let mut r0 = 0;
    while r0 < a_rows {
        let c0 = if upper { r0 } else { 0 };
        let cols = b_rows - c0;
        // Blocks of at most an eighth of a Gram's rows: each block computes its square
        // below the diagonal too, so smaller blocks waste less.
        let most = if upper { a_rows.div_ceil(8).next_multiple_of(64) } else { a_rows };
        let rows = (floats / cols).min(most).clamp(1, a_rows - r0);
        let mut enc = gpu.encoder();
        let x = Operand { buf: a, off: r0 * ld, ld, batch: 0 };
        let w = Operand { buf: b, off: c0 * ld, ld, batch: 0 };
        let y = Operand::rows(block, cols);
        let (m, n, k, w_dtype) = (rows, cols, ld, WeightType::F32);
        kernels::product(gpu, &mut enc, &Product { m, n, k, batches: 1, x, w, w_dtype, y, bias: None, causal: Causal::None });
        gpu.submit(enc);
        sink(r0, &gpu.read_f32(block, 0, rows * cols).await?);
        r0 += rows;
    }
    Ok(())
}
