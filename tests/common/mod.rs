//! Shared helpers for the native integration tests: where the converted model
//! fixtures live. A missing fixture fails the test with the command that makes it;
//! nothing is skipped silently.
#![allow(dead_code)]

pub mod seeded;
#[allow(unused_imports)]
pub use seeded::{tiny_ids, write_tiny_model};

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

/// A published tokenizer (`scripts/fixtures/fetch-tokenizers.sh NAME` fetches it).
pub fn tokenizer_dir(name: &str) -> PathBuf {
    let dir = cache().join("tokenizers").join(name);
    assert!(
        dir.join("tokenizer.json").is_file(),
        "tokenizer {name} is missing at {}: run `scripts/fixtures/fetch-tokenizers.sh` (make test does)",
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
    let (info, ck) = open_weights(dir);
    let folder = DirFolder::new(dir).unwrap();
    let tok_bytes = block_on(async { folder.require("tokenizer.json", "test").await.unwrap().read_to_end().await.unwrap() });
    (info, ck, compact::tokenizer::load(&tok_bytes).unwrap())
}

/// Loads a model folder's info and opens its checkpoint (no tokenizer needed).
pub fn open_weights(dir: &std::path::Path) -> (compact::model::ModelInfo, compact::model::Checkpoint<compact::io::FileSource>) {
    let folder = compact::io::DirFolder::new(dir).unwrap();
    block_on(async {
        let info = compact::model::ModelInfo::load(&folder).await.unwrap();
        let ck = compact::model::Checkpoint::open(&folder, &info).await.unwrap();
        (info, ck)
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
