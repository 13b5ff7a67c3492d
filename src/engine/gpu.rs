//! The GPU: finding an adapter and reporting the limits that decide how the engine
//! sizes its buffers and workgroups. The same code serves WebGPU in the browser and
//! Vulkan / Metal / DX12 natively (`WGPU_BACKEND` selects one, e.g. `vulkan`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::pipelines::{Pipelines, Style};
use crate::error::{Error, GpuError, Result};

/// The smallest limits the kernels are designed for (headless Chromium's SwiftShader
/// and the WebGPU spec defaults); an adapter below them cannot run calibration.
pub const REQUIRED: Requirements = Requirements {
    max_storage_binding: 128 << 20,
    max_buffer: 256 << 20,
    max_invocations_per_workgroup: 256,
    max_storage_buffers_per_stage: 8,
};

/// Minimum adapter limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Requirements {
    /// Largest storage buffer binding, in bytes.
    pub max_storage_binding: u64,
    /// Largest buffer, in bytes.
    pub max_buffer: u64,
    /// Most compute invocations in one workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Most storage buffers bound in one shader stage.
    pub max_storage_buffers_per_stage: u32,
}

/// What the adapter is and the limits that matter for calibration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterReport {
    /// The adapter's name, or [`UNNAMED_ADAPTER`] when it gives none.
    pub name: String,
    /// `WebGPU`, `Vulkan`, `Metal`, …
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (software), …
    pub device_type: String,
    /// Driver name and driver info joined by a space (may be empty).
    pub driver: String,
    /// Largest storage buffer binding, in bytes.
    pub max_storage_binding: u64,
    /// Largest buffer, in bytes.
    pub max_buffer: u64,
    /// Most compute invocations in one workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Most storage buffers bound in one shader stage.
    pub max_storage_buffers_per_stage: u32,
    /// Whether the adapter offers the `shader-f16` feature.
    pub shader_f16: bool,
    /// Subgroup sizes (min, max) when the adapter offers subgroup operations to wgpu.
    pub subgroups: Option<(u32, u32)>,
}

/// The report's name for an adapter that gives none (browsers often do not).
pub const UNNAMED_ADAPTER: &str = "unnamed adapter";

impl AdapterReport {
    /// Builds the report for `adapter`.
    pub fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        Self {
            name: if info.name.is_empty() { UNNAMED_ADAPTER.into() } else { info.name },
            backend: match info.backend {
                wgpu::Backend::BrowserWebGpu => "WebGPU".into(),
                wgpu::Backend::Gl => "OpenGL".into(),
                other => format!("{other:?}"),
            },
            device_type: format!("{:?}", info.device_type),
            driver: [info.driver, info.driver_info].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(" "),
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_buffer: limits.max_buffer_size,
            max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_storage_buffers_per_stage: limits.max_storage_buffers_per_shader_stage,
            shader_f16: adapter.features().contains(wgpu::Features::SHADER_F16),
            subgroups: adapter.features().contains(wgpu::Features::SUBGROUP).then_some((info.subgroup_min_size, info.subgroup_max_size)),
        }
    }

    /// The limits below [`REQUIRED`], each as a sentence; empty when the adapter suffices.
    pub fn shortfalls(&self) -> Vec<String> {
        let r = REQUIRED;
        let mut out = Vec::new();
        let mut check = |what: &str, have: u64, need: u64| {
            if have < need {
                out.push(format!("{what} is {have}, calibration needs at least {need}"));
            }
        };
        check("max storage buffer binding size", self.max_storage_binding, r.max_storage_binding);
        check("max buffer size", self.max_buffer, r.max_buffer);
        check("max invocations per workgroup", self.max_invocations_per_workgroup.into(), r.max_invocations_per_workgroup.into());
        check("max storage buffers per shader stage", self.max_storage_buffers_per_stage.into(), r.max_storage_buffers_per_stage.into());
        out
    }

    /// Whether the adapter is a CPU emulation (lavapipe, SwiftShader, WARP), not a GPU.
    pub fn is_software(&self) -> bool {
        let name = self.name.to_lowercase();
        self.device_type == "Cpu" || ["llvmpipe", "lavapipe", "swiftshader", "software", "warp"].iter().any(|s| name.contains(s))
    }

    /// One line for a status bar or a terminal.
    pub fn one_line(&self) -> String {
        format!(
            "{} ({}, {}) · max storage binding {} MiB · max buffer {} MiB · {} invocations/workgroup · shader-f16 {} · subgroups {}",
            self.name,
            self.backend,
            self.device_type,
            self.max_storage_binding >> 20,
            self.max_buffer >> 20,
            self.max_invocations_per_workgroup,
            if self.shader_f16 { "yes" } else { "no" },
            match self.subgroups {
                Some((lo, hi)) if lo == hi => format!("{lo} lanes"),
                Some((lo, hi)) => format!("{lo}–{hi} lanes"),
                None => "no".into(),
            },
        )
    }
}

/// A wgpu instance for this platform: WebGPU in the browser; natively every backend,
/// or the one named by `WGPU_BACKEND`.
pub fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if cfg!(target_arch = "wasm32") {
        desc.backends = wgpu::Backends::BROWSER_WEBGPU;
    }
    wgpu::Instance::new(desc)
}

/// Finds the preferred (high-performance) adapter.
pub async fn adapter() -> Result<wgpu::Adapter> {
    #[cfg(target_arch = "wasm32")]
    if !browser_has_webgpu() {
        return Err(GpuError::NoWebGpu { api: false }.into());
    }
    let options = wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    instance().request_adapter(&options).await.map_err(|e| {
        if cfg!(target_arch = "wasm32") { GpuError::NoWebGpu { api: true } } else { GpuError::NoAdapter { detail: e.to_string() } }.into()
    })
}

/// Finds the adapter and reports what it offers.
pub async fn probe() -> Result<AdapterReport> {
    Ok(AdapterReport::of(&adapter().await?))
}

/// A device ready for the engine's kernels: the one wgpu wrapper used by the browser
/// (WebGPU) and natively (Vulkan / Metal / DX12). Tracks the bytes of live buffers
/// (for the high-water mark) and turns device loss and uncaptured errors into
/// [`GpuError`]s at the next wait.
pub struct Gpu {
    /// The wgpu device the kernels run on.
    pub device: wgpu::Device,
    /// The device's queue: submissions, uploads and read-backs.
    pub queue: wgpu::Queue,
    /// The adapter and its limits.
    pub report: AdapterReport,
    /// The device's limits (the adapter's own).
    pub limits: wgpu::Limits,
    /// The kernel variant used for matmul and attention (public so tests and
    /// benchmarks can run both).
    pub style: Style,
    /// Whether the `Lanes` matmul may use its subgroup variant (the device has
    /// subgroups of at least 8 lanes; public so tests can run both).
    pub subgroups: bool,
    pub(crate) pipelines: Pipelines,
    /// A 16-byte buffer bound where a kernel's optional input is absent.
    pub(crate) dummy: Buffer,
    /// Reusable scratch buffers by purpose (attention scores, vᵀ), grown on demand.
    scratch: std::cell::RefCell<std::collections::HashMap<&'static str, std::rc::Rc<Buffer>>>,
    memory: Arc<Memory>,
    failure: Arc<Mutex<Option<GpuError>>>,
}

#[derive(Default)]
struct Memory {
    live: AtomicU64,
    peak: AtomicU64,
}

/// A storage buffer whose bytes count toward [`Gpu::peak_bytes`] while it lives.
pub struct Buffer {
    buf: wgpu::Buffer,
    memory: Arc<Memory>,
}

impl std::ops::Deref for Buffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.buf
    }
}

impl Buffer {
    /// A storage buffer of `size` bytes, counted as live in `memory`.
    fn new(device: &wgpu::Device, memory: &Arc<Memory>, label: &str, size: u64) -> Self {
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let live = memory.live.fetch_add(size, Ordering::Relaxed) + size;
        memory.peak.fetch_max(live, Ordering::Relaxed);
        Self { buf, memory: memory.clone() }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.memory.live.fetch_sub(self.buf.size(), Ordering::Relaxed);
    }
}

impl Gpu {
    /// Finds the preferred adapter and opens a device on it.
    pub async fn new() -> Result<Self> {
        Self::from_adapter(&adapter().await?, None).await
    }

    /// Opens a device on `adapter` with `limits` (default: everything the adapter
    /// offers). Fails with a clear message when the adapter is below [`REQUIRED`] or
    /// cannot grant `limits`.
    pub async fn from_adapter(adapter: &wgpu::Adapter, limits: Option<wgpu::Limits>) -> Result<Self> {
        let report = AdapterReport::of(adapter);
        let short = report.shortfalls();
        if !short.is_empty() {
            return Err(GpuError::BelowRequirements { adapter: report.name, shortfalls: short }.into());
        }
        let limits = limits.unwrap_or_else(|| adapter.limits());
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let desc = wgpu::DeviceDescriptor {
            label: Some("compact"),
            required_limits: limits.clone(),
            required_features: features,
            ..Default::default()
        };
        let (device, queue) = adapter
            .request_device(&desc)
            .await
            .map_err(|e| Error::from(GpuError::DeviceRefused { adapter: report.name.clone(), detail: e.to_string() }))?;
        let failure = Arc::new(Mutex::new(None::<GpuError>));
        let lost = failure.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if reason != wgpu::DeviceLostReason::Destroyed {
                lost.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(GpuError::DeviceLost { detail: msg });
            }
        });
        let uncaptured = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let err = match &e {
                wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory { detail: e.to_string() },
                _ => GpuError::Internal(e.to_string()),
            };
            uncaptured.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(err);
        }));
        let memory = Arc::new(Memory::default());
        let dummy = Buffer::new(&device, &memory, "dummy", 16);
        let style = Style::for_adapter(report.is_software());
        // `COMPACT_SUBGROUPS=off` (natively) measures the Lanes kernels without them.
        let allowed = cfg!(target_arch = "wasm32") || std::env::var("COMPACT_SUBGROUPS").as_deref() != Ok("off");
        let subgroups = allowed && features.contains(wgpu::Features::SUBGROUP) && report.subgroups.is_some_and(|(lo, _)| lo >= 8);
        Ok(Self {
            device,
            queue,
            report,
            limits,
            style,
            subgroups,
            pipelines: Pipelines::default(),
            dummy,
            scratch: Default::default(),
            memory,
            failure,
        })
    }

    /// A zeroed storage buffer of `bytes` (rounded up to 4, at least 16). Fails when it
    /// exceeds the device's buffer or binding limit.
    pub fn storage(&self, label: &str, bytes: u64) -> Result<Buffer> {
        let size = bytes.max(16).next_multiple_of(4);
        let cap = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if size > cap {
            return Err(GpuError::BufferTooLarge { label: label.into(), mib: size >> 20, cap_mib: cap >> 20 }.into());
        }
        Ok(Buffer::new(&self.device, &self.memory, label, size))
    }

    /// The scratch buffer for `purpose`, at least `bytes` long; its contents are
    /// whatever the last user left. Commands already recorded keep an outgrown buffer
    /// alive until they have run.
    pub(crate) fn scratch(&self, purpose: &'static str, bytes: u64) -> Result<std::rc::Rc<Buffer>> {
        let mut map = self.scratch.borrow_mut();
        if let Some(b) = map.get(purpose).filter(|b| b.size() >= bytes) {
            return Ok(b.clone());
        }
        map.remove(purpose);
        let b = std::rc::Rc::new(self.storage(purpose, bytes)?);
        map.insert(purpose, b.clone());
        Ok(b)
    }

    /// A storage buffer holding `bytes` (zero-padded to a multiple of 4).
    pub fn upload(&self, label: &str, bytes: &[u8]) -> Result<Buffer> {
        let buf = self.storage(label, bytes.len() as u64)?;
        let whole = bytes.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(&buf, 0, &bytes[..whole]);
        }
        if whole < bytes.len() {
            let mut tail = [0u8; 4];
            tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
            self.queue.write_buffer(&buf, whole as u64, &tail);
        }
        Ok(buf)
    }

    /// A storage buffer holding `values`.
    pub fn upload_f32(&self, label: &str, values: &[f32]) -> Result<Buffer> {
        self.upload(label, bytemuck::cast_slice(values))
    }

    /// A small uniform buffer with `bytes` (kernel parameters).
    pub(crate) fn uniform(&self, bytes: &[u8]) -> wgpu::Buffer {
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: bytes.len().next_multiple_of(16) as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, bytes);
        buf
    }

    /// A command encoder.
    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("compact") })
    }

    /// Submits `enc`'s commands.
    pub fn submit(&self, enc: wgpu::CommandEncoder) {
        self.queue.submit([enc.finish()]);
    }

    /// Waits (asynchronously) until all submitted work is done, then reports any
    /// device loss or GPU error since the last check.
    pub async fn finish(&self) -> Result<()> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.poll()?;
        let done = rx.await;
        self.check()?;
        done.map_err(|_| GpuError::Stopped("the GPU stopped before finishing its work".into()).into())
    }

    /// `len` f32 values of `buf` from element `offset`, read back asynchronously.
    pub async fn read_f32(&self, buf: &Buffer, offset: usize, len: usize) -> Result<Vec<f32>> {
        let bytes = (len * 4) as u64;
        if len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.encoder();
        enc.copy_buffer_to_buffer(buf, (offset * 4) as u64, &staging, 0, bytes);
        self.submit(enc);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.poll()?;
        let mapped = rx.await;
        self.check()?;
        match mapped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::Stopped(format!("reading results back from the GPU failed: {e}")).into()),
            Err(_) => return Err(GpuError::Stopped("the GPU stopped before results could be read back".into()).into()),
        }
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::from(GpuError::Stopped(format!("reading results back from the GPU failed: {e}"))))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        staging.unmap();
        Ok(out)
    }

    /// Natively, drives the device until submitted work is done (callbacks fire);
    /// in the browser the event loop does that and this returns at once.
    fn poll(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.check().err().unwrap_or_else(|| GpuError::Stopped(format!("waiting for the GPU failed: {e}")).into()))?;
        Ok(())
    }

    /// The first device loss or uncaptured GPU error, if any happened.
    pub fn check(&self) -> Result<()> {
        match self.failure.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(e) => Err(e.clone().into()),
            None => Ok(()),
        }
    }

    /// Bytes of buffers alive now.
    pub fn live_bytes(&self) -> u64 {
        self.memory.live.load(Ordering::Relaxed)
    }

    /// The most bytes of buffers alive at once since the last [`Gpu::reset_peak`].
    pub fn peak_bytes(&self) -> u64 {
        self.memory.peak.load(Ordering::Relaxed)
    }

    /// Starts a new high-water mark from what is alive now.
    pub fn reset_peak(&self) {
        self.memory.peak.store(self.live_bytes(), Ordering::Relaxed);
    }
}

#[cfg(target_arch = "wasm32")]
fn browser_has_webgpu() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .and_then(|nav| js_sys::Reflect::get(&nav, &JsValue::from_str("gpu")))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(binding: u64, inv: u32) -> AdapterReport {
        AdapterReport {
            name: "t".into(),
            backend: "Vulkan".into(),
            device_type: "Cpu".into(),
            driver: String::new(),
            max_storage_binding: binding,
            max_buffer: 1 << 30,
            max_invocations_per_workgroup: inv,
            max_storage_buffers_per_stage: 10,
            shader_f16: false,
            subgroups: None,
        }
    }

    #[test]
    fn shortfalls_name_each_limit() {
        assert!(report(128 << 20, 256).shortfalls().is_empty());
        let s = report(64 << 20, 128).shortfalls();
        assert_eq!(s.len(), 2);
        assert!(s[0].contains("storage buffer binding") && s[1].contains("invocations"), "{s:?}");
    }
}
