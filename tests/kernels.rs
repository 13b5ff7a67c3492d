//! Every WGSL kernel against the plain-Rust reference on the native adapter (lavapipe
//! here; `WGPU_BACKEND` picks one). The same bodies run in headless Chromium from
//! tests/browser.rs.

mod common;
#[path = "common/kernel_cases.rs"]
mod cases;

use common::block_on;
use compact::engine::gpu::Gpu;
use compact::engine::kernels::Style;

fn gpu() -> Gpu {
    block_on(Gpu::new()).expect("a GPU adapter (make test installs lavapipe)")
}

#[test]
fn kernels_match_the_reference() {
    let mut gpu = gpu();
    block_on(async {
        // Both variants of the heavy kernels, whichever this adapter would pick.
        for style in [Style::Tiled, Style::Lanes] {
            gpu.style = style;
            cases::matmul(&gpu).await;
            cases::attention(&gpu).await;
        }
        cases::norm(&gpu).await;
        cases::rope(&gpu).await;
        cases::elementwise(&gpu).await;
        cases::act2(&gpu).await;
    });
    cases::too_large_buffer_is_refused(&gpu);
}

#[test]
fn impossible_limits_are_a_clear_error() {
    block_on(async {
        let adapter = compact::engine::gpu::adapter().await.unwrap();
        let mut limits = adapter.limits();
        limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.saturating_mul(4).max(u64::MAX / 2);
        let err = Gpu::from_adapter(&adapter, Some(limits)).await.err().expect("the adapter cannot grant 4× its limits");
        let msg = err.to_string();
        assert!(msg.contains("refused a device") && msg.contains("try another GPU"), "{msg}");
    });
}
