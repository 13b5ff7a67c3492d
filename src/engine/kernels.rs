//! The WGSL kernels (`shaders/*.wgsl`): one [`Kernel`] per entry point, pipelines
//! compiled on first use and cached, and one plain function per entry point that
//! records a dispatch with its `#[repr(C)]` params struct (mirrored by the WGSL
//! uniform struct at the top of each shader file).

use std::cell::RefCell;
use std::collections::HashMap;

use bytemuck::{Pod, Zeroable};

use super::gpu::{Buffer, Gpu};

/// How a weight matrix is stored on the GPU: 2-byte types stay 2 bytes (two per u32)
/// and are unpacked in the shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightType {
    F32 = 0,
    BF16 = 1,
    F16 = 2,
}

impl WeightType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        if self == WeightType::F32 { 4 } else { 2 }
    }
}

/// Which variant of the heavy kernels (matmul, attention) suits the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Style {
    /// For GPUs: workgroup-memory tiles shared by 256 invocations.
    Tiled,
    /// For CPU-style adapters (lavapipe, SwiftShader) that run invocations as SIMD
    /// lanes: no barriers, the shared operand loaded uniformly across lanes.
    Lanes,
}

impl Style {
    /// The variant for an adapter: `COMPACT_KERNELS=tiled|lanes` (natively) decides if
    /// set; otherwise software adapters get [`Style::Lanes`].
    pub fn for_adapter(report: &super::gpu::AdapterReport) -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        match std::env::var("COMPACT_KERNELS").as_deref() {
            Ok("tiled") => return Style::Tiled,
            Ok("lanes") => return Style::Lanes,
            _ => {}
        }
        let name = report.name.to_lowercase();
        let software = ["llvmpipe", "lavapipe", "swiftshader", "software", "warp"].iter().any(|s| name.contains(s));
        if report.device_type == "Cpu" || software { Style::Lanes } else { Style::Tiled }
    }
}

/// One compute entry point (with its specialisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Matmul(WeightType, Style),
    Peak,
    NormInPlace,
    NormCopy,
    Add,
    Glu,
    Act2,
    Rope,
    Attention(Style),
}

impl Kernel {
    fn source(self) -> &'static str {
        match self {
            Kernel::Matmul(..) => include_str!("../../shaders/matmul.wgsl"),
            Kernel::Peak => include_str!("../../shaders/peak.wgsl"),
            Kernel::NormInPlace | Kernel::NormCopy => include_str!("../../shaders/norm.wgsl"),
            Kernel::Add | Kernel::Glu => include_str!("../../shaders/elementwise.wgsl"),
            Kernel::Act2 => include_str!("../../shaders/act2.wgsl"),
            Kernel::Rope => include_str!("../../shaders/rope.wgsl"),
            Kernel::Attention(_) => include_str!("../../shaders/attention.wgsl"),
        }
    }

    fn entry(self) -> &'static str {
        match self {
            Kernel::Matmul(_, Style::Tiled) => "matmul",
            Kernel::Matmul(_, Style::Lanes) => "matmul_lanes",
            Kernel::Peak => "peak",
            Kernel::NormInPlace => "norm_inplace",
            Kernel::NormCopy => "norm_copy",
            Kernel::Add => "add",
            Kernel::Glu => "glu",
            Kernel::Act2 => "act2",
            Kernel::Rope => "rope",
            Kernel::Attention(Style::Tiled) => "attention",
            Kernel::Attention(Style::Lanes) => "attention_lanes",
        }
    }
}

/// Compiled pipelines with their bind group layouts, one per [`Kernel`], built on
/// first use.
#[derive(Default)]
pub struct Pipelines {
    cache: RefCell<HashMap<Kernel, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>>,
}

impl Pipelines {
    fn get(&self, device: &wgpu::Device, kernel: Kernel) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        if let Some(p) = self.cache.borrow().get(&kernel) {
            return p.clone();
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.entry()),
            source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
        });
        let constants: Vec<(&str, f64)> = match kernel {
            Kernel::Matmul(t, _) => vec![("W_DTYPE", t as u32 as f64)],
            _ => Vec::new(),
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry()),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry()),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, zero_initialize_workgroup_memory: false },
            cache: None,
        });
        let entry = (pipeline.clone(), pipeline.get_bind_group_layout(0));
        self.cache.borrow_mut().insert(kernel, entry.clone());
        entry
    }
}

/// Records one dispatch of `kernel`: `params` at binding 0, then `(binding, buffer)`.
fn dispatch<P: Pod>(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, kernel: Kernel, params: &P, buffers: &[(u32, &wgpu::Buffer)], groups: [u32; 3]) {
    let (pipeline, layout) = gpu.pipelines.get(&gpu.device, kernel);
    let uniform = gpu.uniform(bytemuck::bytes_of(params));
    let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
    entries.extend(buffers.iter().map(|&(binding, b)| wgpu::BindGroupEntry { binding, resource: b.as_entire_binding() }));
    let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(kernel.entry()),
        layout: &layout,
        entries: &entries,
    });
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
    pub buf: Buffer,
    pub dtype: WeightType,
    pub rows: usize,
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
    _pad: [u32; 2],
}

/// Where a matmul writes: row stride `ldy` and column offset `y_off` in `y`.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub ldy: usize,
    pub y_off: usize,
}

#[allow(clippy::too_many_arguments)]
/// `y[r, y_off + c] = Σ_k x[r, k] · w[c, k] (+ bias[c])` for `m` rows of `x`.
pub fn matmul(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, x: &Buffer, m: usize, w: &Matrix, bias: Option<&Buffer>, y: &Buffer, out: Out) {
    let params = MatmulParams {
        m: m as u32,
        n: w.rows as u32,
        k: w.cols as u32,
        ldy: out.ldy as u32,
        y_off: out.y_off as u32,
        has_bias: bias.is_some() as u32,
        _pad: [0; 2],
    };
    let bias = bias.unwrap_or(&gpu.dummy);
    // The lanes variant reads 16-byte vectors: rows of k % 8 == 0 values only.
    let style = if w.cols.is_multiple_of(8) { gpu.style } else { Style::Tiled };
    let groups = match style {
        Style::Tiled => [w.rows.div_ceil(64) as u32, m.div_ceil(64) as u32, 1],
        Style::Lanes => [w.rows.div_ceil(64) as u32, m.div_ceil(8) as u32, 1],
    };
    dispatch(gpu, enc, Kernel::Matmul(w.dtype, style), &params, &[(1, x), (2, &w.buf), (3, bias), (4, y)], groups);
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
    pub w: &'a Buffer,
    pub n: usize,
    pub eps: f32,
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
pub fn act2(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, h: &Buffer, weights: &Buffer, imp: &Buffer, windows: usize, t: usize, i_dim: usize, out_off: usize) {
    let params = Act2Params { i_dim: i_dim as u32, t: t as u32, out_off: out_off as u32, _pad: 0 };
    dispatch(gpu, enc, Kernel::Act2, &params, &[(1, h), (2, weights), (3, imp)], [i_dim.div_ceil(256) as u32, windows as u32, 1]);
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
    pub heads: usize,
    pub kv_heads: usize,
    pub hd: usize,
    pub scale: f32,
    /// Sliding window, if any.
    pub window: Option<usize>,
}

/// Causal GQA attention of each window: `out = softmax(q kᵀ · scale) v`.
pub fn attention(gpu: &Gpu, enc: &mut wgpu::CommandEncoder, q: &Buffer, k: &Buffer, v: &Buffer, out: &Buffer, s: AttnShape) {
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
    // The lanes variant reads k and v as 16-byte vectors: head_dim % 4 == 0 only.
    let style = if s.hd.is_multiple_of(4) { gpu.style } else { Style::Tiled };
    let rows = match style {
        Style::Tiled => s.rows,
        Style::Lanes => s.rows / s.t * s.t.div_ceil(64),
    };
    dispatch(gpu, enc, Kernel::Attention(style), &params, &[(1, q), (2, k), (3, v), (4, out)], [s.heads as u32, rows as u32, 1]);
}
