//! wasm-side tests that run inside headless Chromium (wasm-bindgen-test-runner):
//! browser Blob I/O feeding the same header parser, and the WebGPU adapter probe.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use compact::engine::gpu;
use compact::io::ByteSource;
use compact::io::web::BlobSource;
use compact::model::safetensors::{Dtype, Layout, TensorIndex, TensorSpec};
use compact::{Error, HeaderError};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

fn layout() -> Layout {
    let specs = vec![
        TensorSpec { name: "model.embed_tokens.weight".into(), dtype: Dtype::BF16, shape: vec![7, 3] },
        TensorSpec { name: "model.norm.weight".into(), dtype: Dtype::F32, shape: vec![3] },
    ];
    Layout::new(specs, &BTreeMap::from([("format".into(), "pt".into())])).unwrap()
}

#[wasm_bindgen_test]
async fn header_is_read_from_a_blob() {
    let l = layout();
    let mut bytes = l.header.clone();
    bytes.resize(l.file_len() as usize, 0xAB);
    let src = BlobSource::new("m.safetensors", blob(&bytes));
    assert_eq!(src.read_at(l.header.len() as u64, 2).await.unwrap(), [0xAB, 0xAB]);
    let idx = TensorIndex::read(&src).await.unwrap();
    assert_eq!(idx.get("model.embed_tokens.weight").unwrap().shape, [7, 3]);
    assert_eq!(idx.metadata["format"], "pt");
}

#[wasm_bindgen_test]
async fn truncated_blob_is_a_typed_error() {
    let l = layout();
    let src = BlobSource::new("cut.safetensors", blob(&l.header));
    match TensorIndex::read(&src).await {
        Err(Error::Header { kind: HeaderError::OffsetPastEnd { .. }, file }) => assert_eq!(file, "cut.safetensors"),
        other => panic!("expected OffsetPastEnd, got {other:?}"),
    }
    assert!(src.read_at(0, l.header.len() + 1).await.is_err());
}

#[wasm_bindgen_test]
async fn webgpu_adapter_is_found_and_sufficient() {
    let report = gpu::probe().await.expect("headless Chromium with --enable-unsafe-webgpu has an adapter");
    assert_eq!(report.backend, "WebGPU");
    assert!(report.shortfalls().is_empty(), "{:?}", report.shortfalls());
}

#[path = "common/kernel_cases.rs"]
mod cases;

#[wasm_bindgen_test]
async fn kernels_match_the_reference_on_webgpu() {
    let mut gpu = gpu::Gpu::new().await.expect("WebGPU device");
    wasm_bindgen_test::console_log!("adapter: {} → {:?} kernels", gpu.report.one_line(), gpu.style);
    cases::all(&mut gpu).await;
}

/// Calibration inside the browser: SmolLM2-135M read over HTTP with Range requests,
/// 2 windows × 64 tokens on WebGPU, against the CPU reference run in the same wasm
/// (the native tests tie that reference to the native GPU path and to transformers).
#[wasm_bindgen_test]
async fn calibration_in_the_browser_matches_the_reference() {
    use compact::engine::cpu::{self, ForwardOptions, Logits};
    use compact::engine::forward::{self, GpuOptions, Windows};
    use compact::io::ModelFolder;
    use compact::io::web::HttpFolder;
    use compact::model::{Checkpoint, ModelInfo};
    use compact::progress::{Cancel, Silent};

    let Some(base) = option_env!("COMPACT_TEST_MODELS") else {
        panic!("COMPACT_TEST_MODELS is not set: run through scripts/dev/test-wasm.sh, which serves the fixtures");
    };
    let folder = HttpFolder::new(format!("{base}/smollm2-135m"));
    let info = ModelInfo::load(&folder).await.unwrap();
    let cfg = &info.config;
    let ck = Checkpoint::open(&folder, &info).await.unwrap();
    let tok_bytes = folder.require("tokenizer.json", "test").await.unwrap().read_to_end().await.unwrap();
    let tok = compact::tokenizer::load(&tok_bytes).unwrap();
    let ids = compact::tokenizer::encode(&tok, include_str!("data/sample.txt")).unwrap();
    let (windows, t) = (2, 64);
    let tokens = &ids[..windows * t];
    let weights: Vec<f32> = tokens.iter().map(|&id| if id >= 16384 { 0.0 } else { 1.0 }).collect();

    let gpu = gpu::Gpu::new().await.unwrap();
    let t0 = js_sys::Date::now();
    let out = forward::run(
        &gpu,
        cfg,
        &ck,
        Windows { tokens, t, act2_weights: Some(&weights) },
        &GpuOptions::default(),
        &mut Silent,
        &Cancel::default(),
    )
    .await
    .unwrap();
    let gpu_ms = js_sys::Date::now() - t0;

    let mut want = vec![vec![0f64; cfg.intermediate_size]; cfg.num_layers];
    for w in 0..windows {
        let opts = ForwardOptions { act2_weights: Some(&weights[w * t..(w + 1) * t]), logits: Logits::None, ..Default::default() };
        let r = cpu::forward(cfg, &ck, &tokens[w * t..(w + 1) * t], &opts).await.unwrap();
        want.iter_mut().zip(r.importance).for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y));
    }
    let worst = out.importance.iter().zip(&want).map(|(g, c)| cases::rel_l2(g, c)).fold(0f64, f64::max);
    let memory = wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length();
    wasm_bindgen_test::console_log!(
        "browser calibration: {windows}×{t} tokens in {:.1} s on {:?} kernels; worst importance relative L2 {worst:.2e}; peak GPU buffers {:.1} MiB; wasm memory {:.1} MiB",
        gpu_ms / 1000.0,
        gpu.style,
        out.stats.peak_gpu_bytes as f64 / 1048576.0,
        memory as f64 / 1048576.0
    );
    assert!(worst < 1e-3, "importance differs by {worst:.2e}");
    assert!(memory < 256 << 20, "wasm memory grew to {memory} bytes");
}

/// The CPU reference in wasm (the app's device when there is no WebGPU): the packed
/// matmul (WebAssembly SIMD here) sums every output in the one order the native kernels
/// use, and its throughput is printed next to the plain dot loop's (build with
/// --release for meaningful figures).
#[wasm_bindgen_test]
fn cpu_matmul_in_wasm_is_exact_and_timed() {
    use compact::engine::cpu;
    // Partial row tiles and panels, and a depth of two chunks.
    let (t, n, k) = (7, 133, 300);
    let x: Vec<f32> = (0..t * k).map(|i| (i as f32 * 0.37).sin()).collect();
    let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
    let y = cpu::matmul(&x, t, &w, n, k);
    for r in 0..t {
        for o in 0..n {
            let want = cpu::sum_in_order(&x[r * k..(r + 1) * k], &w[o * k..(o + 1) * k]);
            assert_eq!(y[r * n + o].to_bits(), want.to_bits(), "({r}, {o})");
        }
    }
    // One row against bf16 weights (generation's products): widened in registers.
    let (n, k) = (200, 700);
    let bf16: Vec<u8> = (0..n * k).flat_map(|i| (((i as f32 * 0.013).cos().to_bits() >> 16) as u16).to_le_bytes()).collect();
    let wide: Vec<f32> = bf16.chunks_exact(2).map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)).collect();
    let row: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
    let row = &row[..];
    let y = cpu::matmul_bf16(row, 1, &bf16, n, k);
    for o in 0..n {
        assert_eq!(y[o].to_bits(), cpu::sum_in_order(row, &wide[o * k..(o + 1) * k]).to_bits(), "bf16 row at {o}");
    }
    let (blocked, plain) = compact::engine::bench::cpu_matmul_gflops(64, 1536, 576);
    console_log!("wasm CPU matmul 64 × 1536 × 576: {blocked:.2} GFLOP/s, plain dot loop {plain:.2} GFLOP/s");
}
