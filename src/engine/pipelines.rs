//! The pipeline cache a GPU device owns: the WGSL sources of `shaders/` keyed by one
//! [`Kernel`] per entry point (with its specialisation), compiled on first use. It
//! knows nothing of the device wrapper ([`super::gpu`]) or of the dispatch functions
//! ([`super::kernels`]), which both build on it.

use std::cell::RefCell;
use std::collections::HashMap;

/// How a weight matrix is stored on the GPU: 2-byte types stay 2 bytes (two per u32)
/// and are unpacked in the shader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightType {
    /// 32-bit IEEE float, 4 bytes.
    F32 = 0,
    /// bfloat16: 8-bit exponent, 7-bit mantissa; 2 bytes.
    BF16 = 1,
    /// IEEE half: 5-bit exponent, 10-bit mantissa; 2 bytes.
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
    /// set; otherwise software adapters (`software`) get [`Style::Lanes`].
    pub fn for_adapter(software: bool) -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        match std::env::var("COMPACT_KERNELS").as_deref() {
            Ok("tiled") => return Style::Tiled,
            Ok("lanes") => return Style::Lanes,
            _ => {}
        }
        if software { Style::Lanes } else { Style::Tiled }
    }
}

/// One compute entry point (with its specialisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `y = x · wᵀ (+ bias)` for a weight type, in one [`Style`].
    Matmul(WeightType, Style),
    /// The `Lanes` matmul with subgroup broadcasts of x.
    MatmulSubgroup(WeightType),
    /// The peak-FMA probe that measures the adapter's arithmetic throughput.
    Peak,
    /// RMSNorm of rows, in place.
    NormInPlace,
    /// RMSNorm of rows into another buffer.
    NormCopy,
    /// Elementwise `x += y` (the residual add).
    Add,
    /// Elementwise `x -= y` (the repair's target).
    Sub,
    /// `gate = act(gate) · up`: the FFN's GLU, the down_proj input.
    Glu,
    /// Per-window weighted act² sums `Σ_i w_i h_ik²` (the importance).
    Act2,
    /// Rows weighed by √w and transposed (the repair's second moments as products).
    WeighTranspose,
    /// Rotary position embedding, in place.
    Rope,
    /// Fused causal GQA attention, in one [`Style`].
    Attention(Style),
    /// v transposed per window and kv head, for attention as matmul products.
    TransposeV,
    /// Scaled causal (and sliding-window) softmax of attention score rows, in place.
    SoftmaxCausal,
}

impl Kernel {
    pub(super) fn source(self) -> &'static str {
        match self {
            Kernel::Matmul(..) => include_str!("../../shaders/matmul.wgsl"),
            Kernel::MatmulSubgroup(_) => {
                concat!(include_str!("../../shaders/matmul.wgsl"), include_str!("../../shaders/matmul_subgroup.wgsl"))
            }
            Kernel::Peak => include_str!("../../shaders/peak.wgsl"),
            Kernel::NormInPlace | Kernel::NormCopy => include_str!("../../shaders/norm.wgsl"),
            Kernel::Add | Kernel::Sub | Kernel::Glu => include_str!("../../shaders/elementwise.wgsl"),
            Kernel::Act2 => include_str!("../../shaders/act2.wgsl"),
            Kernel::WeighTranspose => include_str!("../../shaders/moments.wgsl"),
            Kernel::Rope => include_str!("../../shaders/rope.wgsl"),
            Kernel::Attention(_) | Kernel::TransposeV | Kernel::SoftmaxCausal => include_str!("../../shaders/attention.wgsl"),
        }
    }

    pub(super) fn entry(self) -> &'static str {
        match self {
            Kernel::Matmul(_, Style::Tiled) => "matmul",
            Kernel::Matmul(_, Style::Lanes) => "matmul_lanes",
            Kernel::MatmulSubgroup(_) => "matmul_lanes_sg",
            Kernel::Peak => "peak",
            Kernel::NormInPlace => "norm_inplace",
            Kernel::NormCopy => "norm_copy",
            Kernel::Add => "add",
            Kernel::Sub => "sub",
            Kernel::Glu => "glu",
            Kernel::Act2 => "act2",
            Kernel::WeighTranspose => "weigh_transpose",
            Kernel::Rope => "rope",
            Kernel::Attention(Style::Tiled) => "attention",
            Kernel::Attention(Style::Lanes) => "attention_lanes",
            Kernel::TransposeV => "transpose_v",
            Kernel::SoftmaxCausal => "softmax_causal",
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
    pub(super) fn get(&self, device: &wgpu::Device, kernel: Kernel) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        if let Some(p) = self.cache.borrow().get(&kernel) {
            return p.clone();
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.entry()),
            source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
        });
        let constants: Vec<(&str, f64)> = match kernel {
            Kernel::Matmul(t, _) | Kernel::MatmulSubgroup(t) => vec![("W_DTYPE", t as u32 as f64)],
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
