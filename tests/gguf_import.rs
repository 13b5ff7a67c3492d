//! The GGUF importer against independent references (tests/golden/*.json, made by
//! tests/golden/make_gguf_golden.py with gguf-py, transformers and sentencepiece):
//! every checked weight bit for bit, config values, token ids of fixed texts, and the
//! ids of every special token.
//!
//! The converted models come from `scripts/fixtures/fetch-model.sh NAME` (in
//! `$COMPACT_CACHE/models`, default ~/.cache/compact/models). A missing model fails the
//! test with that instruction: these are the fixtures every other test relies on.
#![cfg(not(target_arch = "wasm32"))]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn model_dir(name: &str) -> PathBuf {
    let cache = std::env::var_os("COMPACT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/compact"));
    let dir = cache.join("models").join(name);
    assert!(
        dir.join(".imported").is_file(),
        "the converted model {name} is missing from {}: run `scripts/fixtures/fetch-model.sh {name}` first",
        dir.display()
    );
    dir
}

fn golden(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn json(dir: &std::path::Path, file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn check_config(name: &str) {
    let dir = model_dir(name);
    let g = golden(name);
    let cfg = json(&dir, "config.json");
    for (k, want) in g["config"].as_object().unwrap() {
        if k == "unk_token_id" {
            continue; // not a config.json field
        }
        let got = &cfg[k];
        match (want.as_f64(), got.as_f64()) {
            (Some(w), Some(v)) if want.is_f64() || got.is_f64() => {
                assert!((w - v).abs() <= 1e-6 * w.abs(), "{name} config {k}: {v} vs transformers {w}")
            }
            _ => assert_eq!(got, want, "{name} config {k}"),
        }
    }
    assert_eq!(cfg["torch_dtype"], "bfloat16");
    let parsed = compact::model::ModelConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap())
        .unwrap_or_else(|e| panic!("{name}: our own config reader rejects config.json: {e}"));
    assert_eq!(parsed.vocab_size as u64, g["config"]["vocab_size"].as_u64().unwrap());
    let gen_cfg = json(&dir, "generation_config.json");
    for k in ["bos_token_id", "eos_token_id", "pad_token_id"] {
        assert_eq!(gen_cfg[k], g["config"][k], "{name} generation_config {k}");
    }
}

fn check_tokenizer(name: &str, bos_prepended: Option<u32>) {
    let dir = model_dir(name);
    let g = golden(name);
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
        .unwrap_or_else(|e| panic!("{name}: tokenizer.json does not load: {e}"));
    for t in g["tokenizer"]["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        let want: Vec<u32> = t["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let enc = tok.encode(text, false).unwrap();
        assert_eq!(enc.get_ids(), want.as_slice(), "{name}: ids of {text:?}");
        let with = tok.encode(text, true).unwrap();
        let mut expect = want.clone();
        if let Some(b) = bos_prepended {
            expect.insert(0, b);
        }
        assert_eq!(with.get_ids(), expect.as_slice(), "{name}: special tokens added to {text:?}");
        assert_eq!(tok.decode(&want, false).unwrap(), text, "{name}: decode round trip");
    }

    let t = &g["tokenizer"];
    for pair in t["added_sample"].as_array().unwrap() {
        let (id, content) = (pair[0].as_u64().unwrap() as u32, pair[1].as_str().unwrap());
        assert_eq!(tok.id_to_token(id).as_deref(), Some(content), "{name}: token {id}");
        assert_eq!(tok.token_to_id(content), Some(id), "{name}: id of {content:?}");
    }
    let file = json(&dir, "tokenizer.json");
    let added = file["added_tokens"].as_array().unwrap();
    assert_eq!(added.len() as u64, t["added_count"].as_u64().unwrap(), "{name}: added tokens");
    let tc = json(&dir, "tokenizer_config.json");
    let decoder = tc["added_tokens_decoder"].as_object().unwrap();
    assert_eq!(decoder.len(), added.len());
    for a in added {
        assert_eq!(decoder[&a["id"].to_string()]["content"], a["content"]);
    }
    let cfg = json(&dir, "config.json");
    for (key, id_key) in [("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("pad_token", "pad_token_id")] {
        let id = cfg[id_key].as_u64().unwrap() as u32;
        assert_eq!(tc[key].as_str(), tok.id_to_token(id).as_deref(), "{name}: {key}");
    }
}

/// The safetensors header of `dir/model.safetensors` and the file.
fn safetensors(dir: &std::path::Path) -> (File, u64, Value) {
    let f = File::open(dir.join("model.safetensors")).unwrap();
    let mut len = [0u8; 8];
    f.read_exact_at(&mut len, 0).unwrap();
    let n = u64::from_le_bytes(len);
    let mut header = vec![0u8; n as usize];
    f.read_exact_at(&mut header, 8).unwrap();
    (f, 8 + n, serde_json::from_slice(&header).unwrap())
}

fn check_weights(name: &str) {
    let dir = model_dir(name);
    let g = golden(name);
    let (f, data_start, header) = safetensors(&dir);
    assert_eq!(header["__metadata__"]["format"], "pt");
    let cfg = json(&dir, "config.json");
    let tied = cfg["tie_word_embeddings"].as_bool().unwrap();
    assert_eq!(header.get("lm_head.weight").is_none(), tied, "{name}: lm_head present iff untied");
    for t in g["tensors"].as_array().unwrap() {
        let hf = t["hf_name"].as_str().unwrap();
        let entry = &header[hf];
        assert_eq!(entry["dtype"], "BF16", "{name} {hf}");
        assert_eq!(entry["shape"], t["shape"], "{name} {hf}");
        let (b, e) = (entry["data_offsets"][0].as_u64().unwrap(), entry["data_offsets"][1].as_u64().unwrap());
        let mut bytes = vec![0u8; (e - b) as usize];
        f.read_exact_at(&mut bytes, data_start + b).unwrap();
        let values: Vec<f32> = bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect();

        // Each sampled gguf-py value, rounded to bf16, is exactly what we stored.
        for s in t["samples"].as_array().unwrap() {
            let (i, want) = (s[0].as_u64().unwrap() as usize, s[1].as_f64().unwrap() as f32);
            let want_bf16 = half::bf16::from_f32(want).to_f32();
            assert_eq!(values[i].to_bits(), want_bf16.to_bits(), "{name} {hf}[{i}]: {} vs gguf-py {want}", values[i]);
        }
        // Order-sensitive and plain sums, for a readable diagnosis when the hash differs.
        let (mut sum, mut sumsq, mut wsum) = (0f64, 0f64, 0f64);
        for (i, &v) in values.iter().enumerate() {
            let v = v as f64;
            sum += v;
            sumsq += v * v;
            wsum += v * ((i % 1009) + 1) as f64;
        }
        let tol = |k: &str| 1e-9 * t[k].as_f64().unwrap() + 1e-12;
        assert!((sum - t["bf16_sum"].as_f64().unwrap()).abs() <= tol("abs_sum"), "{name} {hf}: sum {sum} vs {}", t["bf16_sum"]);
        assert!(
            (sumsq - t["bf16_sumsq"].as_f64().unwrap()).abs() <= tol("bf16_sumsq"),
            "{name} {hf}: sum of squares {sumsq} vs {}",
            t["bf16_sumsq"]
        );
        assert!(
            (wsum - t["bf16_wsum"].as_f64().unwrap()).abs() <= tol("bf16_abs_wsum"),
            "{name} {hf}: position-weighted sum {wsum} vs {} (row order: q/k permutation?)",
            t["bf16_wsum"]
        );
        // Every value, bit for bit.
        let hash = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(hash, t["bf16_sha256"].as_str().unwrap(), "{name} {hf}: bf16 bytes differ from gguf-py's values");
    }
}

#[test]
fn smollm2_config() {
    check_config("smollm2-135m");
    let cfg = json(&model_dir("smollm2-135m"), "config.json");
    assert_eq!(cfg["model_type"], "llama");
    assert_eq!(cfg["tie_word_embeddings"], true);
}

#[test]
fn smollm2_tokenizer() {
    check_tokenizer("smollm2-135m", None);
    let file = json(&model_dir("smollm2-135m"), "tokenizer.json");
    assert_eq!(file["pre_tokenizer"]["pretokenizers"][0]["type"], "Digits", "SmolLM2 splits digits one by one");
    let tok = tokenizers::Tokenizer::from_file(model_dir("smollm2-135m").join("tokenizer.json")).unwrap();
    assert_eq!(tok.get_vocab_size(true), 49152);
}

#[test]
fn smollm2_weights() {
    check_weights("smollm2-135m");
}

#[test]
fn qwen2_config() {
    check_config("qwen2.5-0.5b");
    let cfg = json(&model_dir("qwen2.5-0.5b"), "config.json");
    assert_eq!(cfg["model_type"], "qwen2");
    assert_eq!(cfg["vocab_size"], 151936, "embedding rows stay");
    assert_eq!(cfg["use_sliding_window"], false);
}

#[test]
fn qwen2_tokenizer() {
    check_tokenizer("qwen2.5-0.5b", None);
    let dir = model_dir("qwen2.5-0.5b");
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    assert_eq!(tok.get_vocab_size(true), 151665, "llama.cpp's [PAD] entries are dropped");
    assert_eq!(json(&dir, "tokenizer.json")["normalizer"]["type"], "NFC");
}

#[test]
fn qwen2_weights() {
    check_weights("qwen2.5-0.5b");
}

#[test]
fn gemma3_config() {
    check_config("gemma3-270m");
    let cfg = json(&model_dir("gemma3-270m"), "config.json");
    assert_eq!(cfg["model_type"], "gemma3_text");
    assert_eq!(cfg["query_pre_attn_scalar"], 256);
    assert_eq!(cfg["rope_local_base_freq"], 10000.0);
    assert_eq!(cfg["sliding_window_pattern"], 6);
    let types = cfg["layer_types"].as_array().unwrap();
    assert_eq!(types.len(), 18);
    assert_eq!(types[5], "full_attention");
    assert_eq!(types[4], "sliding_attention");
}

#[test]
fn gemma3_tokenizer() {
    check_tokenizer("gemma3-270m", Some(2));
    let file = json(&model_dir("gemma3-270m"), "tokenizer.json");
    assert_eq!(file["model"]["byte_fallback"], true);
    // The merge list equals transformers' SentencePiece reconstruction, pair for pair.
    let merges = file["model"]["merges"].as_array().unwrap();
    let want = &golden("gemma3-270m")["tokenizer"]["merges"];
    assert_eq!(merges.len() as u64, want["count"].as_u64().unwrap());
    assert_eq!(&merges[..5], want["first"].as_array().unwrap().as_slice());
    let text: Vec<String> = merges.iter().map(|m| format!("{}\t{}", m[0].as_str().unwrap(), m[1].as_str().unwrap())).collect();
    assert_eq!(format!("{:x}", Sha256::digest(text.join("\n"))), want["sha256"].as_str().unwrap(), "merge order");
    // SentencePiece's tokenizer.model, as published folders have it: the same pieces at the same ids.
    let model = std::fs::read(model_dir("gemma3-270m").join("tokenizer.model")).unwrap();
    let pieces = compact::tokenizer::sentencepiece::pieces(&model).unwrap();
    let vocab = file["model"]["vocab"].as_object().unwrap();
    assert_eq!(pieces.len(), vocab.len());
    assert!(pieces.iter().enumerate().all(|(i, p)| vocab[p.as_str()] == i), "piece order");
}

#[test]
fn gemma3_weights() {
    check_weights("gemma3-270m");
}
