//! Seeded model weights that need no download: every value comes from a counter-based
//! generator (splitmix64 of fnv1a64(tensor name) + element index, mapped to [-1, 1) in
//! f32, times a power of two), so any tool can rebuild the same model.
//! `tests/golden/make_family_golden.py` is the twin that builds the tiny models for
//! transformers; `examples/seeded_model.rs` writes 1B-scale folders for benchmarks.

use std::io::Write;
use std::path::Path;

use compact::model::ModelConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Element `i` of tensor `name`: a value in [-1, 1), exact in f32.
fn uniform(name: &str, i: u64) -> f32 {
    let seed = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3));
    let mut x = seed.wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    ((x >> 40) as f32) * 2f32.powi(-24) * 2.0 - 1.0
}

/// Elements `range` of tensor `name` of `shape` (`offset`: Gemma's norms, stored as w
/// for a (1 + w) scale): norms around 1 (or 0), biases small, embeddings ±0.5, matrices
/// near 1/√fan_in.
pub fn weight(name: &str, shape: &[usize], offset: bool, range: std::ops::Range<u64>) -> Vec<f32> {
    let norm = shape.len() == 1 && name.ends_with("norm.weight");
    let scale = if norm {
        0.25
    } else if shape.len() == 1 {
        0.125
    } else if name.contains("embed_tokens") || name == "lm_head.weight" {
        0.5
    } else {
        2f32.powi(-((shape[1] as f64).sqrt().log2().round_ties_even() as i32))
    };
    let base = if norm && !offset { 1.0 } else { 0.0 };
    range.map(|i| uniform(name, i) * scale + base).collect()
}

/// `n` ids below 256 (the tiny models' vocabulary), as the golden script makes them.
pub fn tiny_ids(n: usize) -> Vec<u32> {
    (0..n as u64).map(|i| (uniform("ids", i).abs() * 255.0) as u32).collect()
}

/// Writes `config` and a seeded model.safetensors (every tensor config.json implies,
/// f32 or bf16, streamed a few MB at a time) into `dir`. Returns the sha256 of the names
/// and f32 values in name order (no tied lm_head): what the golden script records.
pub fn write_model(dir: &Path, config: &Value, bf16: bool) -> std::io::Result<String> {
    write_sharded(dir, config, bf16, u64::MAX)
}

/// [`write_model`] in shards of at most `shard_bytes` of tensor data each, as
/// transformers saves large models: `model-0000i-of-0000n.safetensors` and
/// `model.safetensors.index.json` (one shard: `model.safetensors`, no index).
pub fn write_sharded(dir: &Path, config: &Value, bf16: bool, shard_bytes: u64) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(config)?)?;
    let cfg = ModelConfig::from_value(config.clone()).map_err(std::io::Error::other)?;
    let mut tensors = cfg.expected_tensors(!cfg.tie_word_embeddings);
    tensors.sort();
    let offset = cfg.norm_offset() != 0.0;
    let elem = if bf16 { 2 } else { 4 };
    let bytes_of = |shape: &[usize]| shape.iter().product::<usize>() as u64 * elem;
    // Consecutive tensors (in name order) fill a shard until the next would overflow it.
    let mut shards: Vec<Vec<(String, Vec<usize>)>> = vec![Vec::new()];
    let mut fill = 0u64;
    for (name, shape) in tensors {
        let len = bytes_of(&shape);
        if fill > 0 && fill.saturating_add(len) > shard_bytes {
            shards.push(Vec::new());
            fill = 0;
        }
        fill += len;
        shards.last_mut().expect("one shard").push((name, shape));
    }
    let n = shards.len();
    let file_name = |i: usize| if n == 1 { "model.safetensors".to_string() } else { format!("model-{:05}-of-{n:05}.safetensors", i + 1) };
    let mut digest = Sha256::new();
    let (mut weight_map, mut total) = (serde_json::Map::new(), 0u64);
    for (i, shard) in shards.iter().enumerate() {
        let (mut header, mut at) = (serde_json::Map::new(), 0u64);
        for (name, shape) in shard {
            let len = bytes_of(shape);
            let entry = serde_json::json!({"dtype": if bf16 { "BF16" } else { "F32" }, "shape": shape, "data_offsets": [at, at + len]});
            header.insert(name.clone(), entry);
            weight_map.insert(name.clone(), Value::from(file_name(i)));
            at += len;
        }
        total += at;
        let mut head = serde_json::to_vec(&header)?;
        head.resize(head.len().next_multiple_of(8), b' ');
        let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(file_name(i)))?);
        file.write_all(&(head.len() as u64).to_le_bytes())?;
        file.write_all(&head)?;
        for (name, shape) in shard {
            digest.update(name.as_bytes());
            let n = shape.iter().product::<usize>() as u64;
            for start in (0..n).step_by(1 << 20) {
                let values = weight(name, shape, offset, start..(start + (1 << 20)).min(n));
                let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                digest.update(&f32_bytes);
                if bf16 {
                    let bytes: Vec<u8> = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
                    file.write_all(&bytes)?;
                } else {
                    file.write_all(&f32_bytes)?;
                }
            }
        }
        file.flush()?;
    }
    if n > 1 {
        let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        std::fs::write(dir.join("model.safetensors.index.json"), serde_json::to_vec_pretty(&index)?)?;
    }
    Ok(digest.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// [`write_model`] in f32, for the tiny models the tests compare with transformers.
pub fn write_tiny_model(dir: &Path, config: &Value) -> String {
    write_model(dir, config, false).expect("write the tiny model")
}
