//! The compute engine: the model's forward pass with the COMPACT act² hook.
//!
//! - [`device`]: [`Device`], the one place that chooses between the GPU and the CPU
//!   reference, with calibration (importance), scoring and generation.
//! - [`gpu`]: the wgpu device (WebGPU in the browser, Vulkan / Metal / DX12 natively),
//!   its limits, buffers and the one asynchronous readback.
//! - [`pipelines`]: the pipeline cache a device owns (WGSL sources keyed by kernel).
//! - [`kernels`]: one dispatch function per WGSL entry point of `shaders/`.
//! - [`forward`]: calibration on the GPU, layer by layer over batches of windows.
//! - [`layerwise`]: the GPU pass a layer at a time over all windows, with the
//!   second moments of [`moments`] that the repair of a pruned FFN is fitted with.
//! - [`cpu`]: the same forward pass in plain Rust, the test oracle and no-GPU path;
//!   its matmul is the packed kernel of `gemm`.
//! - [`score`]: log-probabilities and top-1 tokens at chosen positions.
//! - [`bench`]: throughput measurements for `compact bench`.

pub mod bench;
pub mod cpu;
pub mod device;
pub mod forward;
mod gemm;
pub mod gpu;
pub mod kernels;
pub mod layerwise;
pub mod moments;
pub mod pipelines;
pub mod score;

pub use device::{Device, DeviceKind};
