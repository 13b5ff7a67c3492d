//! The compute engine: the model's forward pass with the COMPACT act² hook.
//!
//! - [`gpu`]: the wgpu device (WebGPU in the browser, Vulkan / Metal / DX12 natively),
//!   its limits, buffers and the one asynchronous readback.
//! - [`kernels`]: the WGSL kernels of `shaders/`, one dispatch function per entry point.
//! - [`forward`]: calibration on the GPU, layer by layer over batches of windows.
//! - [`cpu`]: the same forward pass in plain Rust, the test oracle and no-GPU path.

pub mod bench;
pub mod cpu;
pub mod forward;
pub mod gpu;
pub mod kernels;
