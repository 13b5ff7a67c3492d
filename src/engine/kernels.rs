//! The WGSL kernels (`shaders/*.wgsl`): one [`Kernel`] per entry point, pipelines
//! compiled on first use and cached, and one plain function per entry point that
//! records a dispatch with its `#[repr(C)]` params struct (mirrored by the WGSL
//! uniform struct at the top of each shader file).

use bytemuck::{Pod, Zeroable};

use super::gpu::{Buffer, Gpu};
use super::pipelines::Kernel;
pub use super::pipelines::{Style, WeightType};
use crate::error::Result;

/// Records one dispatch of `kernel`: `params` at binding 0, then `(binding, buffer)`.
fn dispatch<P: Pod>(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    kernel: Kernel,
    params: &P,
    buffers: &[(u32, &wgpu::Buffer)],
    groups: [u32; 3],
) {
    let (pipeline, layout) = gpu.pipelines.get(&gpu.device, kernel);
    let uniform = gpu.uniform(bytemuck::bytes_of(params));
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
    entries.extend(buffers.iter().map(|&(binding, b)| wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() }));
    let bind_group =
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(kernel.entry()), layout: &layout, entries: &entries });
    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel.entry()), timestamp_writes: None });
    pass.set_pipeline(&pipeline);
    pass.set_bind_group(0, &bind_group, &[]);
    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
}

/// Workgroup counts for `count` workgroups of a 1-D kernel, folded into two dimensions
/// so no dimension exceeds the 65,535 limit.
fn fold(count: usize) -> [u32; 3] {
    const MAX: usize = 65_535;
    let count = count.max(1);
    [count.min(MAX) as u32, count.div_ceil(MAX) as u32, 1]
}

/// A weight matrix (`rows × cols`, a Linear weight) resident on the GPU.
pub struct Matrix {
    /// The weights, row-major in `dtype` (2-byte types packed two per u32).
    pub buf: Buffer,
    /// Element type of the stored weights.
    pub dtype: WeightType,
    /// Rows: output features (`n` of the product).
    pub rows: usize,
    /// Columns: input features (`k` of the product).
    pub cols: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    ldy: u32,
    y_off: u32,
    has_bias: u32,
    ldx: u32,
    x_off: u32,
    ldw: u32,
    w_off: u32,
    x_bs: u32,
    w_bs: u32,
    y_bs: u32,
    causal: u32,
    _pad: [u32; 2],
}

/// Where a matmul writes: row stride `ldy` and column offset `y_off` in `y`.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Row stride of `y`, in f32 elements.
    pub ldy: usize,
    /// Column of `y` that receives the first output column, in elements.
    pub y_off: usize,
}

/// One operand of a [`Product`]: element (r, c) of batch z is `buf[off + z·batch +
/// r·ld + c]` (in elements of the operand's type).
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    /// The buffer holding the operand.
    pub buf: &'a wgpu::Buffer,
    /// Element offset of (0, 0) of batch 0.
    pub off: usize,
    /// Row stride, in elements.
    pub ld: usize,
    /// Stride between consecutive batches, in elements (0: every batch uses the same matrix).
    pub batch: usize,
}

impl<'a> Operand<'a> {
    /// A whole row-major matrix with rows of `ld` elements.
    pub fn rows(buf: &'a wgpu::Buffer, ld: usize) -> Self {
        Self { buf, off: 0, ld, batch: 0 }
    }
}

/// Causal structure a product may exploit (attention within a window); the result is
/// the same without it, only slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causal {
    /// No structure to exploit: every output is computed.
    None = 0,
    /// Outputs with column > row are not needed (q·kᵀ: masked by the softmax).
    SkipUpper = 1,
    /// x is zero at columns > row (p·v after a causal softmax).
    ZeroUpper = 2,
}

/// `batches` products `y = x · wᵀ (+ bias)` of `m × k` by `n × k`: the general form
/// behind [`matmul`] and the attention products of the `Lanes` style.
pub struct Product<'a> {
    /// Rows of `x` and of `y`.
    pub m: usize,
    /// Rows of `w`: columns of `y`.
    pub n: usize,
    /// The shared inner dimension: columns of `x` and of `w`.
    pub k: usize,
    /// Number of independent products (the dispatch's z dimension).
    pub batches: usize,
    /// Left operand, `m × k` f32.
    pub x: Operand<'a>,
    /// Right operand, `n × k` in `w_dtype` (used transposed).
    pub w: Operand<'a>,
    /// Element type of `w`.
    pub w_dtype: WeightType,
    /// Output, `m × n` f32.
    pub y: Operand<'a>,
    /// Optional bias of `n` f32 values added to every row of `y`.
    pub bias: Option<&'a Buffer>,
    /// Causal structure the kernel may exploit.
    pub causal: Causal,
}

/// Records `p` with the adapter's matmul variant (the `Lanes` ones need 16-byte aligned
/// rows; other shapes use the tiled kernel).
pub fn product(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, p: &Product) {
    let params = MatmulParams {
        m: p.m as u32,
        n: p.n as u32,
        k: p.k as u32,
        ldy: p.y.ld as u32,
        y_off: p.y.off as u32,
        has_bias: p.bias.is_some() as u32,
        ldx: p.x.ld as u32,
        x_off: p.x.off as u32,
        ldw: p.w.ld as u32,
        w_off: p.w.off as u32,
        x_bs: p.x.batch as u32,
        w_bs: p.w.batch as u32,
        y_bs: p.y.batch as u32,
        causal: p.causal as u32,
        _pad: [0; 2],
    };
    let bias = p.bias.unwrap_or(&gpu.dummy);
    let per_vec = 16 / p.w_dtype.size();
    let lanes_fit = p.k.is_multiple_of(8)
        && [p.x.ld, p.x.off, p.x.batch].iter().all(|v| v.is_multiple_of(4))
        && [p.w.ld, p.w.off, p.w.batch].iter().all(|v| v.is_multiple_of(per_vec));
    let style = if lanes_fit { gpu.style } else { Style::Tiled };
    let n = p.n.div_ceil(64) as u32;
    let z = p.batches as u32;
    let (kernel, groups) = match style {
        Style::Tiled => (Kernel::Matmul(p.w_dtype, style), [n, p.m.div_ceil(64) as u32, z]),
        Style::Lanes if gpu.subgroups => (Kernel::MatmulSubgroup(p.w_dtype), [n, p.m.div_ceil(16) as u32, z]),
        Style::Lanes => (Kernel::Matmul(p.w_dtype, style), [n, p.m.div_ceil(8) as u32, z]),
    };
    dispatch(gpu, enc, kernel, &params, &[(1, p.x.buf), (2, p.w.buf), (3, bias), (4, p.y.buf)], groups);
}

#[allow(clippy::too_many_arguments)]
/// `y[r, y_off + c] = Σ_k x[r, k] · w[c, k] (+ bias[c])` for `m` rows of `x`.
pub fn matmul(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, m: usize, w: &Matrix, bias: Option<&Buffer>, y: &Buffer, out: Out) {
    let (n, k) = (w.rows, w.cols);
    product(
        gpu,
        enc,
        &Product {
            m,
            n,
            k,
            batches: 1,
            x: Operand::rows(x, k),
            w: Operand::rows(&w.buf, k),
            w_dtype: w.dtype,
            y: Operand { buf: y, off: out.y_off, ld: out.ldy, batch: 0 },
            bias,
            causal: Causal::None,
        },
    );
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PeakParams {
    iters: u32,
    _pad: [u32; 3],
}

/// The peak-FMA probe: `groups` workgroups of 256 invocations, `iters` rounds each;
/// returns its FLOP count.
pub fn peak(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, out: &Buffer, groups: u32, iters: u32) -> f64 {
    dispatch(gpu, enc, Kernel::Peak, &PeakParams { iters, _pad: [0; 3] }, &[(1, out)], [groups, 1, 1]);
    groups as f64 * 256.0 * iters as f64 * 64.0
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    n: u32,
    rows: u32,
    eps: f32,
    offset: f32,
}

/// An RMSNorm: its weight (`n` f32 values), ε, and the offset added to the weight
/// (0, or 1 for Gemma's `1 + w`).
#[derive(Clone, Copy)]
pub struct Norm<'a> {
    /// The norm weight: `n` f32 values.
    pub w: &'a Buffer,
    /// Values per row (the normalised dimension).
    pub n: usize,
    /// ε added to the mean square before the square root.
    pub eps: f32,
    /// Added to every weight: 0, or 1 for Gemma's `1 + w`.
    pub offset: f32,
}

impl<'a> Norm<'a> {
    /// The model's RMSNorm (its ε and weight offset) with weight `w` of `n` values.
    pub fn of(cfg: &crate::model::ModelConfig, w: &'a Buffer, n: usize) -> Self {
        Self { w, n, eps: cfg.rms_norm_eps as f32, offset: cfg.norm_offset() }
    }
}

/// RMSNorm of `rows` rows of `norm.n` values of `x`, in place.
pub fn norm_inplace(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, rows: usize, norm: Norm) {
    let params = NormParams { n: norm.n as u32, rows: rows as u32, eps: norm.eps, offset: norm.offset };
    dispatch(gpu, enc, Kernel::NormInPlace, &params, &[(1, norm.w), (2, x)], fold(rows));
}

/// `dst = RMSNorm(src)` over `rows` rows of `norm.n` values.
pub fn norm_copy(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, src: &Buffer, dst: &Buffer, rows: usize, norm: Norm) {
    let params = NormParams { n: norm.n as u32, rows: rows as u32, eps: norm.eps, offset: norm.offset };
    dispatch(gpu, enc, Kernel::NormCopy, &params, &[(1, norm.w), (3, src), (4, dst)], fold(rows));
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EwParams {
    n: u32,
    act: u32,
    _pad: [u32; 2],
}

/// `x += y` over `n` values.
pub fn add(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, y: &Buffer, n: usize) {
    dispatch(gpu, enc, Kernel::Add, &EwParams { n: n as u32, act: 0, _pad: [0; 2] }, &[(1, x), (2, y)], fold(n.div_ceil(256)));
}

/// `x -= y` over `n` values.
pub fn sub(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, y: &Buffer, n: usize) {
    dispatch(gpu, enc, Kernel::Sub, &EwParams { n: n as u32, act: 0, _pad: [0; 2] }, &[(1, x), (2, y)], fold(n.div_ceil(256)));
}

/// `gate = act(gate) · up` over `n` values (the down_proj input).
pub fn glu(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, gate: &Buffer, up: &Buffer, n: usize, activation: crate::model::config::Activation) {
    let act = match activation {
        crate::model::config::Activation::Silu => 0,
        crate::model::config::Activation::GeluTanh => 1,
    };
    dispatch(gpu, enc, Kernel::Glu, &EwParams { n: n as u32, act, _pad: [0; 2] }, &[(1, gate), (2, up)], fold(n.div_ceil(256)));
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Act2Params {
    i_dim: u32,
    t: u32,
    out_off: u32,
    _pad: u32,
}

/// Per window of `t` rows of `h` (`windows·t × i_dim`), `Σ_i w_i h_ik²` written to
/// `imp[out_off + window · i_dim + k]`.
#[allow(clippy::too_many_arguments)]
pub fn act2(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    h: &Buffer,
    weights: &Buffer,
    imp: &Buffer,
    windows: usize,
    t: usize,
    i_dim: usize,
    out_off: usize,
) {
    let params = Act2Params { i_dim: i_dim as u32, t: t as u32, out_off: out_off as u32, _pad: 0 };
    dispatch(gpu, enc, Kernel::Act2, &params, &[(1, h), (2, weights), (3, imp)], [i_dim.div_ceil(256) as u32, windows as u32, 1]);
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TransposeParams {
    rows: u32,
    cols: u32,
    ld_out: u32,
    _pad: u32,
}

/// `out[c · ld_out + r] = √w[r] · x[r · cols + c]` for the `rows × cols` matrix `x`,
/// and 0 for `rows ≤ r < ld_out`: a batch channel-major and weighed, so that its
/// weighted second moments are [`product`]s.
#[allow(clippy::too_many_arguments)]
pub fn weigh_transpose(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    x: &Buffer,
    w: &Buffer,
    out: &Buffer,
    rows: usize,
    cols: usize,
    ld_out: usize,
) {
    let params = TransposeParams { rows: rows as u32, cols: cols as u32, ld_out: ld_out as u32, _pad: 0 };
    let groups = [ld_out.div_ceil(16) as u32, cols.div_ceil(16) as u32, 1];
    dispatch(gpu, enc, Kernel::WeighTranspose, &params, &[(1, x), (2, w), (3, out)], groups);
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RopeParams {
    rows: u32,
    heads: u32,
    hd: u32,
    t: u32,
}

/// Rotates `rows` rows of `heads` heads of `hd` values in place; `table` holds
/// (cos, sin) for `t` positions × hd/2 frequencies.
#[allow(clippy::too_many_arguments)]
pub fn rope(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, table: &Buffer, rows: usize, heads: usize, hd: usize, t: usize) {
    let params = RopeParams { rows: rows as u32, heads: heads as u32, hd: hd as u32, t: t as u32 };
    dispatch(gpu, enc, Kernel::Rope, &params, &[(1, table), (2, x)], fold((rows * heads * hd / 2).div_ceil(256)));
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AttnParams {
    t: u32,
    heads: u32,
    kv_heads: u32,
    hd: u32,
    scale: f32,
    window: u32,
    rows: u32,
    _pad: u32,
}

/// Shapes of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    /// Positions per window.
    pub t: usize,
    /// Rows in all (whole windows).
    pub rows: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (GQA: each serves `heads / kv_heads` query heads).
    pub kv_heads: usize,
    /// Values per head (head_dim).
    pub hd: usize,
    /// Multiplier of q·kᵀ before the softmax (1/√head_dim unless the family says otherwise).
    pub scale: f32,
    /// Sliding window, if any.
    pub window: Option<usize>,
}

/// Causal GQA attention of each window: `out = softmax(q kᵀ · scale) v`.
///
/// On `Lanes` adapters (head_dim and T multiples of 8) it runs as matmul products
/// per head over a chunk of windows (scores, causal softmax, scores · v), because there
/// the matmul kernels reach a large share of the adapter's peak while a fused kernel
/// pays a per-lane cost for every k and v load. GPUs use the fused kernel.
pub fn attention(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, q: &Buffer, k: &Buffer, v: &Buffer, out: &Buffer, s: AttnShape) -> Result<()> {
    let params = AttnParams {
        t: s.t as u32,
        heads: s.heads as u32,
        kv_heads: s.kv_heads as u32,
        hd: s.hd as u32,
        scale: s.scale,
        window: s.window.unwrap_or(0) as u32,
        rows: s.rows as u32,
        _pad: 0,
    };
    let score_bytes = (s.t * s.t * 4) as u64;
    let cap = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    if gpu.style == Style::Lanes && s.hd.is_multiple_of(8) && s.t.is_multiple_of(8) && score_bytes <= cap {
        return attention_by_products(gpu, enc, (q, k, v, out), s, params);
    }
    // The lanes variant reads k and v as 16-byte vectors: head_dim % 4 == 0 only.
    let style = if s.hd.is_multiple_of(4) { gpu.style } else { Style::Tiled };
    let rows = match style {
        Style::Tiled => s.rows,
        Style::Lanes => s.rows / s.t * s.t.div_ceil(64),
    };
    dispatch(gpu, enc, Kernel::Attention(style), &params, &[(1, q), (2, k), (3, v), (4, out)], [s.heads as u32, rows as u32, 1]);
    Ok(())
}

/// Bytes of attention scores computed at once (whole windows of one head).
const SCORE_BUDGET: u64 = 32 << 20;

/// [`attention`] as products: vᵀ once, then per chunk of windows and per head the
/// scores, their causal softmax in place, and scores · v into the head's columns.
fn attention_by_products(
    gpu: &Gpu,
    enc: &mut wgpu::CommandEncoder,
    (q, k, v, out): (&Buffer, &Buffer, &Buffer, &Buffer),
    s: AttnShape,
    params: AttnParams,
) -> Result<()> {
    let (t, hd) = (s.t, s.hd);
    let windows = s.rows / t;
    let (qd, kvd) = (s.heads * hd, s.kv_heads * hd);
    let per_chunk = ((SCORE_BUDGET / (t * t * 4) as u64) as usize).clamp(1, windows);
    let scores = gpu.scratch("attention scores", (per_chunk * t * t * 4) as u64)?;
    let vt = gpu.scratch("attention v transposed", (s.rows * kvd * 4) as u64)?;
    dispatch(gpu, enc, Kernel::TransposeV, &params, &[(3, v), (4, &vt)], fold((s.rows * kvd).div_ceil(256)));
    let group = s.heads / s.kv_heads;
    for w0 in (0..windows).step_by(per_chunk) {
        let nb = per_chunk.min(windows - w0);
        let chunk_params = AttnParams { rows: (nb * t) as u32, ..params };
        let block = Operand { buf: &scores, off: 0, ld: t, batch: t * t };
        for h in 0..s.heads {
            let g = h / group;
            let head_cols = Operand { buf: q, off: w0 * t * qd + h * hd, ld: qd, batch: t * qd };
            let keys = Operand { buf: k, off: w0 * t * kvd + g * hd, ld: kvd, batch: t * kvd };
            let (m, n, batches, bias, w_dtype) = (t, t, nb, None, WeightType::F32);
            product(gpu, enc, &Product { m, n, k: hd, batches, x: head_cols, w: keys, w_dtype, y: block, bias, causal: Causal::SkipUpper });
            dispatch(gpu, enc, Kernel::SoftmaxCausal, &chunk_params, &[(4, &scores)], fold((nb * t).div_ceil(64)));
            let values = Operand { buf: &vt, off: (w0 * s.kv_heads + g) * hd * t, ld: t, batch: kvd * t };
            let y = Operand { buf: out, ..head_cols };
            product(gpu, enc, &Product { m, n: hd, k: t, batches, x: block, w: values, w_dtype, y, bias, causal: Causal::ZeroUpper });
        }
    }
    Ok(())
}
