//! Shared helpers for the native integration tests: where the converted model
//! fixtures live. A missing fixture fails the test with the command that makes it;
//! nothing is skipped silently.
#![allow(dead_code)]

use std::path::PathBuf;

/// `$COMPACT_CACHE`, or `~/.cache/compact` (as `scripts/dev/env.sh` sets it).
fn cache() -> PathBuf {
    std::env::var_os("COMPACT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/compact"))
}

/// The folder of a converted fixture model (`scripts/fixtures/fetch-model.sh NAME` makes it).
pub fn fixture(name: &str) -> PathBuf {
    let dir = cache().join("models").join(name);
    assert!(
        dir.join("config.json").is_file() && dir.join("model.safetensors").is_file(),
        "fixture {name} is missing at {}: run `scripts/fixtures/fetch-model.sh {name}` (make test does)",
        dir.display()
    );
    dir
}

/// Runs the `compact` CLI with `args`; returns (success, stdout, stderr).
pub fn compact(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_compact")).args(args).output().expect("run compact");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Polls a future to completion on this thread (native files never wait).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Loads a model folder: its info, an open checkpoint, and its tokenizer.
pub fn open(
    dir: &std::path::Path,
) -> (compact::model::ModelInfo, compact::model::Checkpoint<compact::io::FileSource>, tokenizers::Tokenizer) {
    use compact::io::{ByteSource, DirFolder, ModelFolder};
    let folder = DirFolder::new(dir).unwrap();
    block_on(async {
        let info = compact::model::ModelInfo::load(&folder).await.unwrap();
        let ck = compact::model::Checkpoint::open(&folder, &info).await.unwrap();
        let tok_bytes = folder.require("tokenizer.json", "test").await.unwrap().read_to_end().await.unwrap();
        (info, ck, compact::tokenizer::load(&tok_bytes).unwrap())
    })
}

/// The folder of the evaluation request files (`scripts/fixtures/fetch-eval.sh` makes it).
pub fn eval_data() -> PathBuf {
    let dir = cache().join("eval");
    assert!(
        dir.join("arc_easy.jsonl").is_file(),
        "evaluation data is missing at {}: run `scripts/fixtures/fetch-eval.sh` (make test does)",
        dir.display()
    );
    dir
}

/// A fresh empty temporary folder, removed when the value is dropped.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("compact-{tag}-")).tempdir().expect("temp dir")
}

/// A value in [-1, 1) for element `i` of tensor `name` (exact in f32): splitmix64 of
/// fnv1a64(name) + (i + 1) · golden ratio. `tests/golden/make_family_golden.py` is the
/// twin that builds the same model for transformers.
fn tiny_uniform(name: &str, i: u64) -> f32 {
    let seed = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3));
    let mut x = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((x >> 40) as f32) * 2f32.powi(-24) * 2.0 - 1.0
}

/// The value of tiny-model tensor `name` of `shape` (`offset`: Gemma's norms, stored
/// as w for a (1 + w) scale).
pub fn tiny_weight(name: &str, shape: &[usize], offset: bool) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let scale = if shape.len() == 1 && name.ends_with("norm.weight") {
        0.25
    } else if shape.len() == 1 {
        0.125
    } else if name.contains("embed_tokens") || name == "lm_head.weight" {
        0.5
    } else {
        2f32.powi(-((shape[1] as f64).sqrt().log2().round_ties_even() as i32))
    };
    let base = if shape.len() == 1 && name.ends_with("norm.weight") && !offset { 1.0 } else { 0.0 };
    (0..n as u64).map(|i| tiny_uniform(name, i) * scale + base).collect()
}

/// `n` ids below 256 (the tiny models' vocabulary), as the golden script makes them.
pub fn tiny_ids(n: usize) -> Vec<u32> {
    (0..n as u64).map(|i| (tiny_uniform("ids", i).abs() * 255.0) as u32).collect()
}

/// Writes a tiny model folder for `config` (config.json and an f32 model.safetensors
/// with [`tiny_weight`] values) into `dir`; returns the sha256 of the weights as the
/// golden script computes it (names and data in name order, no tied lm_head).
pub fn write_tiny_model(dir: &std::path::Path, config: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(config).unwrap()).unwrap();
    let cfg = compact::model::ModelConfig::from_value(config.clone()).unwrap();
    let mut tensors = cfg.expected_tensors(!cfg.tie_word_embeddings);
    tensors.sort();
    let offset = cfg.norm_offset() != 0.0;
    let (mut header, mut data, mut digest) = (serde_json::Map::new(), Vec::new(), Sha256::new());
    for (name, shape) in &tensors {
        let bytes: Vec<u8> = tiny_weight(name, shape, offset).iter().flat_map(|v| v.to_le_bytes()).collect();
        digest.update(name.as_bytes());
        digest.update(&bytes);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]}),
        );
        data.extend_from_slice(&bytes);
    }
    let mut head = serde_json::to_vec(&header).unwrap();
    head.resize(head.len().next_multiple_of(8), b' ');
    let mut file = (head.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&head);
    file.extend_from_slice(&data);
    std::fs::write(dir.join("model.safetensors"), file).unwrap();
    digest.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A byte-level tokenizer.json of 256 tokens (one per byte, GPT-2's byte-to-character
/// map) and no merges: the tiny models' tokenizer.
pub fn write_byte_tokenizer(dir: &std::path::Path) {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256;
    let vocab: serde_json::Map<String, serde_json::Value> = (0..256u32)
        .map(|b| {
            let c = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            (char::from_u32(c).unwrap().to_string(), serde_json::json!(b))
        })
        .collect();
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []}
    });
    std::fs::write(dir.join("tokenizer.json"), serde_json::to_vec(&tok).unwrap()).unwrap();
}
