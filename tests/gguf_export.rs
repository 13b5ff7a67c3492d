//! The GGUF writer against independent references:
//! - the fixtures' own GGUF files, written by llama.cpp's converter: our GGUF of the
//!   folder imported from each has the same tokenizer metadata (every token, type,
//!   merge and score, the special ids) and the same tensor names and shapes;
//! - the importer: a BF16 GGUF imports back into a folder byte-identical to the one it
//!   was written from (weights, config.json, tokenizer files);
//! - a pruned model written as Q8_0 by `compact prune --gguf`: its tensors dequantize
//!   to the pruned folder's within Q8_0's step, and its vocabulary is the pruned one.
//! - Llama-3 rope scaling: the `rope_freqs` divisors against the formula in f64.

mod common;

use std::path::Path;

use common::{compact, fixture, temp_dir};
use compact::gguf::{GgmlType, Header, Value, dequantize};

fn header(path: &Path) -> (Header, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    (Header::parse(&bytes).unwrap(), bytes)
}

fn cache_gguf(name: &str) -> std::path::PathBuf {
    fixture(name).parent().unwrap().parent().unwrap().join("gguf").join(format!("{name}.gguf"))
}

#[test]
fn bf16_round_trips_byte_for_byte_and_the_tokenizer_matches_llama_cpps() {
    let tmp = temp_dir("gguf-rt");
    for name in ["smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"] {
        let dir = fixture(name);
        let gguf = tmp.path().join(format!("{name}.gguf"));
        let (ok, _, err) = compact(&["gguf", dir.to_str().unwrap(), "--type", "bf16", "--out", gguf.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");

        // The tokenizer as llama.cpp's converter wrote it for the same model.
        let (ours, _) = header(&gguf);
        let (theirs, _) = header(&cache_gguf(name));
        for key in [
            "tokenizer.ggml.model",
            "tokenizer.ggml.pre",
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.merges",
            "tokenizer.ggml.scores",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id",
            "tokenizer.ggml.padding_token_id",
            "tokenizer.ggml.add_bos_token",
            "tokenizer.chat_template",
        ] {
            let (a, b) = (ours.get(key), theirs.get(key));
            let same = match (a, b) {
                (Some(Value::Array(x)), Some(Value::Array(y))) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p == q || p.as_i64().is_some_and(|n| Some(n) == q.as_i64()))
                }
                (Some(x), Some(y)) => x == y || x.as_u64().is_some_and(|n| Some(n) == y.as_u64()),
                (x, y) => x == y,
            };
            assert!(same, "{name}: {key} differs from llama.cpp's");
        }
        for t in &ours.tensors {
            let theirs = theirs.tensor(&t.name).unwrap_or_else(|| panic!("{name}: llama.cpp has no {}", t.name));
            assert_eq!(t.dims, theirs.dims, "{name}: {}", t.name);
        }

        // Imported back: the folder it was written from, byte for byte.
        let back = tmp.path().join(format!("{name}-back"));
        let (ok, _, err) = compact(&["import-gguf", gguf.to_str().unwrap(), "--out", back.to_str().unwrap()]);
        assert!(ok, "{name}: {err}");
        for f in
            ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "tokenizer.model"]
        {
            if dir.join(f).exists() {
                assert!(
                    std::fs::read(dir.join(f)).unwrap() == std::fs::read(back.join(f)).unwrap(),
                    "{name}: {f} changed in the round trip"
                );
            }
        }
        std::fs::remove_dir_all(&back).unwrap();
        std::fs::remove_file(&gguf).unwrap();
    }
}

#[test]
fn a_pruned_model_is_written_as_q8_0_in_the_same_run() {
    let tmp = temp_dir("gguf-prune");
    let out = tmp.path().join("pruned");
    let model = fixture("smollm2-135m");
    let args = ["--vocab", "8192", "--ffn", "1024", "--samples", "1", "--seq-len", "32", "--device", "cpu", "--gguf", "q8_0,f16"];
    let (ok, stdout, err) = compact(&[&["prune", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()][..], &args].concat());
    assert!(ok, "{err}");
    let q8 = tmp.path().join("pruned-Q8_0.gguf");
    assert!(stdout.contains("pruned-Q8_0.gguf") && tmp.path().join("pruned-F16.gguf").is_file(), "{stdout}");

    let (h, bytes) = header(&q8);
    let tokens = h.get("tokenizer.ggml.tokens").and_then(Value::as_array).unwrap();
    assert_eq!(tokens.len(), 8192);
    let tok: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("tokenizer.json")).unwrap()).unwrap();
    for (t, id) in tok["model"]["vocab"].as_object().unwrap() {
        assert_eq!(tokens[id.as_u64().unwrap() as usize].as_str(), Some(t.as_str()), "token {id}");
    }
    // Every matrix is Q8_0 and dequantizes to the pruned weights within half a step.
    let (info, ck, _) = common::open(&out);
    let down = h.tensor("blk.3.ffn_down.weight").unwrap();
    assert_eq!((down.ggml_type, down.dims.clone()), (GgmlType::Q8_0, vec![1024, 576]));
    let r = h.data_range(down).unwrap();
    let mut got = vec![0f32; 1024 * 576];
    dequantize(GgmlType::Q8_0, &bytes[r.start as usize..r.end as usize], &mut got).unwrap();
    let want = common::block_on(ck.f32("model.layers.3.mlp.down_proj.weight")).unwrap();
    for (block, (g, w)) in got.chunks(32).zip(want.chunks(32)).enumerate() {
        let step = w.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= step * 0.6 + f32::EPSILON, "block {block}: error {worst} over half a step {step} (and the f16 scale's rounding)");
    }
    assert_eq!(info.config.vocab_size, 8192);
    assert_eq!(h.tensor("blk.0.attn_norm.weight").unwrap().ggml_type, GgmlType::F32, "norms stay f32");
}

#[test]
fn llama3_rope_scaling_is_written_as_llama_cpps_rope_freqs() {
    let tmp = temp_dir("gguf-llama3");
    let (model, dir) = (fixture("smollm2-135m"), tmp.path().join("scaled"));
    std::fs::create_dir(&dir).unwrap();
    for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
        std::os::unix::fs::symlink(model.join(f), dir.join(f)).unwrap();
    }
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    config["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 256});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let gguf = tmp.path().join("scaled.gguf");
    let (ok, _, err) = compact(&["gguf", dir.to_str().unwrap(), "--type", "q8_0", "--out", gguf.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (h, bytes) = header(&gguf);
    assert_eq!(h.tensors[0].name, "rope_freqs.weight", "generated tensors come first, as in llama.cpp's converter");
    let t = &h.tensors[0];
    assert_eq!((t.ggml_type, t.dims.clone()), (GgmlType::F32, vec![32]));
    let r = h.data_range(t).unwrap();
    let divisors: Vec<f32> = bytes[r.start as usize..r.end as usize].chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    // SmolLM2's θ = 100000 over 64 dims: wavelengths from 2π to ~1.2M; below 256 / 4
    // kept, above 256 divided by 32, blended between.
    let theta = 100_000f64;
    for (i, d) in divisors.iter().enumerate() {
        let wavelen = 2.0 * std::f64::consts::PI * theta.powf(2.0 * i as f64 / 64.0);
        let want = if wavelen < 64.0 {
            1.0
        } else if wavelen > 256.0 {
            32.0
        } else {
            let smooth = (256.0 / wavelen - 1.0) / 3.0;
            1.0 / ((1.0 - smooth) / 32.0 + smooth)
        };
        assert!((*d as f64 - want).abs() <= 1e-5 * want, "frequency {i}: {d} against {want}");
    }
    assert!(h.get("llama.rope.scaling.type").is_none(), "llama3 scaling has no scaling type in llama.cpp");

    // The importer says why it cannot read the scaling back rather than dropping it.
    let (ok, _, err) = compact(&["import-gguf", gguf.to_str().unwrap(), "--out", tmp.path().join("back").to_str().unwrap()]);
    assert!(!ok && err.contains("rope_freqs"), "{err}");
}
