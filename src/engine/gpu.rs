//! The GPU: finding an adapter and reporting the limits that decide how the engine
//! sizes its buffers and workgroups. The same code serves WebGPU in the browser and
//! Vulkan / Metal / DX12 natively (`WGPU_BACKEND` selects one, e.g. `vulkan`).

use serde::Serialize;

use crate::error::{Error, Result};

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
    pub max_storage_binding: u64,
    pub max_buffer: u64,
    pub max_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_stage: u32,
}

/// What the adapter is and the limits that matter for calibration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterReport {
    pub name: String,
    /// `WebGPU`, `Vulkan`, `Metal`, …
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (software), …
    pub device_type: String,
    pub driver: String,
    pub max_storage_binding: u64,
    pub max_buffer: u64,
    pub max_invocations_per_workgroup: u32,
    pub max_storage_buffers_per_stage: u32,
    pub shader_f16: bool,
}

impl AdapterReport {
    /// Builds the report for `adapter`.
    pub fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let limits = adapter.limits();
        Self {
            name: if info.name.is_empty() { "unnamed adapter".into() } else { info.name },
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

    /// One line for a status bar or a terminal.
    pub fn one_line(&self) -> String {
        format!(
            "{} ({}, {}) · max storage binding {} MiB · max buffer {} MiB · {} invocations/workgroup · shader-f16 {}",
            self.name,
            self.backend,
            self.device_type,
            self.max_storage_binding >> 20,
            self.max_buffer >> 20,
            self.max_invocations_per_workgroup,
            if self.shader_f16 { "yes" } else { "no" },
        )
    }
}

/// What a user should do when there is no WebGPU.
pub const NO_WEBGPU_HELP: &str = "WebGPU is not available in this browser. Use a current Chrome or Edge (113 or later), \
Firefox 141+ on Windows, or Safari 26+; on Linux, Chrome needs WebGPU enabled (chrome://flags/#enable-unsafe-webgpu). \
Your model never leaves this page either way.";

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
        return Err(Error::Gpu(NO_WEBGPU_HELP.into()));
    }
    let options = wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() };
    instance().request_adapter(&options).await.map_err(|e| {
        Error::Gpu(if cfg!(target_arch = "wasm32") {
            format!("{NO_WEBGPU_HELP} (This browser has the WebGPU API but offered no adapter: it may be disabled or blocklisted for this GPU.)")
        } else {
            format!(
                "no GPU adapter found ({e}). Install a Vulkan driver (on Debian/Ubuntu without a GPU: \
                 apt-get install mesa-vulkan-drivers libvulkan1 for the lavapipe CPU driver) or use --backend cpu"
            )
        })
    })
}

/// Finds the adapter and reports what it offers.
pub async fn probe() -> Result<AdapterReport> {
    Ok(AdapterReport::of(&adapter().await?))
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
