//! `compact inspect` on the real SmolLM2-135M fixture, and on broken copies of it.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::fs;
use std::path::Path;

use common::{compact, fixture};
use serde_json::Value;

fn inspect_json(dir: &Path) -> Value {
    let (ok, out, err) = compact(&["inspect", dir.to_str().unwrap(), "--json"]);
    assert!(ok, "inspect failed: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn smollm2_real_counts() {
    let j = inspect_json(&fixture("smollm2-135m"));
    assert_eq!(j["arch"], "llama");
    assert_eq!((j["layers"].as_u64(), j["hidden_size"].as_u64(), j["intermediate_size"].as_u64()), (Some(30), Some(576), Some(1536)));
    assert_eq!(j["vocab_size"], 49152);
    assert_eq!(j["tied_embeddings"], true);
    assert_eq!(j["dtype"], "BF16");
    let c = &j["params"]["counted"];
    assert_eq!(c["embedding"], 49152 * 576, "28.3M embedding parameters");
    assert_eq!(c["lm_head"], 0);
    assert_eq!(c["ffn"], 3 * 30 * 576 * 1536);
    assert_eq!(c["attention"], 30 * (2 * 576 * 576 + 2 * 576 * 192));
    assert_eq!(c["norms"], 30 * 2 * 576 + 576);
    assert_eq!(j["total"], 134_515_008_u64, "134.5M parameters");
    // The paper's formulas agree exactly except for the norms, which they leave out.
    let p = &j["params"]["predicted"]["paper"];
    assert_eq!((&p["embedding"], &p["ffn"], &p["attention"]), (&c["embedding"], &c["ffn"], &c["attention"]));
    // Only the header was read: a few KB out of ~270 MB.
    assert!(j["header_bytes_read"].as_u64().unwrap() < 64 << 10, "{}", j["header_bytes_read"]);
    assert!(j["weight_bytes"].as_u64().unwrap() > 260_000_000);
}

#[test]
fn smollm2_table_is_readable() {
    let (ok, out, err) = compact(&["inspect", fixture("smollm2-135m").to_str().unwrap()]);
    assert!(ok, "{err}");
    for needle in ["architecture   llama", "tied", "embedding", "28311552", "134.5M", "norm weights: 35.1K (+35136)"] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

/// A copy of the fixture's small files plus a weights file made by `make_weights`.
fn broken_copy(make_weights: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> tempfile::TempDir {
    let src = fixture("smollm2-135m");
    let dir = tempfile::tempdir().unwrap();
    fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    // Only the header and a little data are needed to make the broken variants.
    let mut head = vec![0u8; 1 << 20];
    let f = fs::File::open(src.join("model.safetensors")).unwrap();
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut head, 0).unwrap();
    if let Some(bytes) = make_weights(&head) {
        fs::write(dir.path().join("model.safetensors"), bytes).unwrap();
    }
    dir
}

fn inspect_err(dir: &Path) -> String {
    let (ok, _, err) = compact(&["inspect", dir.to_str().unwrap()]);
    assert!(!ok, "inspect should fail on {}", dir.display());
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn truncated_weights_are_reported() {
    let dir = broken_copy(|head| Some(head.to_vec()));
    let err = inspect_err(dir.path());
    assert!(err.contains("model.safetensors") && err.contains("past the") && err.contains("truncated"), "{err}");
}

#[test]
fn missing_and_corrupt_files_are_reported() {
    let dir = broken_copy(|_| None);
    let err = inspect_err(dir.path());
    assert!(err.contains("model.safetensors is missing"), "{err}");

    let dir = broken_copy(|_| Some(b"this is not a safetensors file at all".to_vec()));
    let err = inspect_err(dir.path());
    assert!(err.contains("invalid safetensors header"), "{err}");

    let dir = broken_copy(|head| Some(head.to_vec()));
    fs::write(dir.path().join("config.json"), r#"{"model_type": "mamba"}"#).unwrap();
    let err = inspect_err(dir.path());
    assert!(err.contains("unsupported architecture \"mamba\"") && err.contains("qwen2"), "{err}");

    fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(inspect_err(dir.path()).contains("config.json is missing"));
}
