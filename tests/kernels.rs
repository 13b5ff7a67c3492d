//! Every WGSL kernel against the plain-Rust reference on the native adapter (lavapipe
//! here; `WGPU_BACKEND` picks one). The same bodies run in headless Chromium from
//! tests/browser.rs.

#[path = "common/kernel_cases.rs"]
mod cases;
mod common;

use common::block_on;
use compact::engine::gpu::Gpu;

fn gpu() -> Gpu {
    block_on(Gpu::new()).expect("a GPU adapter (make test installs lavapipe)")
}

#[test]
fn kernels_match_the_reference() {
    block_on(cases::all(&mut gpu()));
}

#[test]
fn impossible_limits_are_a_clear_error() {
    block_on(async {
        let adapter = compact::engine::gpu::adapter().await.unwrap();
        let mut limits = adapter.limits();
        limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.saturating_mul(4).max(u64::MAX / 2);
        let err = Gpu::from_adapter(&adapter, Some(limits)).await.err().expect("the adapter cannot grant 4× its limits");
        assert!(matches!(&err, compact::Error::Gpu(compact::error::GpuError::DeviceRefused { .. })), "{err}");
        assert!(err.to_string().contains("refused a device"), "{err}");
        assert!(err.hint().is_some_and(|h| h.contains("try another GPU")), "{:?}", err.hint());
    });
}
