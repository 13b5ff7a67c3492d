//! wasm-side tests that run inside headless Chromium (wasm-bindgen-test-runner):
//! browser Blob I/O feeding the same header parser, and the WebGPU adapter probe.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use compact::engine::gpu;
use compact::io::ByteSource;
use compact::io::web::BlobSource;
use compact::model::safetensors::{Dtype, Layout, TensorIndex, TensorSpec};
use compact::{Error, HeaderError};
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
