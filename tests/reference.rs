//! The CPU reference forward against logits computed once by transformers (PyTorch,
//! f32) on the same converted weights: tests/golden/make_logits_golden.py.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{block_on, fixture, open};
use compact::engine::cpu::{self, ForwardOptions, Logits};
use serde_json::Value;

fn check_against_golden(name: &str) {
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(format!("tests/golden/{name}.logits.json")).unwrap()).unwrap();
    let (info, ck, tok) = open(&fixture(name));
    let ids: Vec<u32> = golden["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(compact::tokenizer::encode(&tok, golden["prompt"].as_str().unwrap()).unwrap(), ids, "tokenization");
    let out = block_on(cpu::forward(&info.config, &ck, &ids, &ForwardOptions { logits: Logits::All, ..Default::default() })).unwrap();
    let v = info.config.vocab_size;
    let probe: Vec<usize> = golden["probe_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let mut worst = 0f64;
    for (p, pos) in golden["positions"].as_array().unwrap().iter().enumerate() {
        let row = &out.logits[p * v..(p + 1) * v];
        let scale = row.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
        let mut pairs: Vec<(usize, f64)> =
            pos["top"].as_array().unwrap().iter().map(|t| (t[0].as_u64().unwrap() as usize, t[1].as_f64().unwrap())).collect();
        pairs.extend(probe.iter().zip(pos["probe"].as_array().unwrap()).map(|(&i, x)| (i, x.as_f64().unwrap())));
        for (i, want) in pairs {
            let err = (row[i] as f64 - want).abs() / scale.max(1e-6);
            worst = worst.max(err);
            assert!(err < 1e-3, "{name} position {p} id {i}: ours {} vs transformers {want} (relative {err:.2e})", row[i]);
        }
        assert_eq!(cpu::argmax(row), pos["top"][0][0].as_u64().unwrap() as usize, "{name} position {p}: top-1 differs");
    }
    eprintln!("{name}: worst relative logit difference vs transformers {worst:.2e}");
}

#[test]
fn smollm2_logits_match_transformers() {
    check_against_golden("smollm2-135m");
}

#[test]
fn smollm2_greedy_continuation_is_sensible() {
    let (info, ck, tok) = open(&fixture("smollm2-135m"));
    let ids = compact::tokenizer::encode(&tok, "The capital of France is").unwrap();
    let new = block_on(cpu::generate_greedy(&info.config, &ck, &ids, 3, &[])).unwrap();
    assert_eq!(compact::tokenizer::decode(&tok, &new).unwrap(), " Paris.\n");
}

#[test]
fn cached_steps_equal_passes_over_the_whole_sequence() {
    // Generation runs one token at a time against a KV cache; every step's logits must
    // be those of a forward pass over the whole sequence so far, to the bit (Gemma too:
    // q/k norms, per-layer RoPE bases, sliding-window layers).
    for name in ["smollm2-135m", "gemma3-270m"] {
        let (info, ck, tok) = open(&fixture(name));
        let cfg = &info.config;
        let ids = compact::tokenizer::encode(&tok, "The quick brown fox jumps over the lazy").unwrap();
        let opts = cpu::ForwardOptions::default();
        let mut cache = cpu::KvCache::default();
        let first = ids.len() - 3;
        let mut got = vec![block_on(cpu::forward_cached(cfg, &ck, &ids[..first], &mut cache, &opts)).unwrap().logits];
        for &id in &ids[first..] {
            got.push(block_on(cpu::forward_cached(cfg, &ck, &[id], &mut cache, &opts)).unwrap().logits);
        }
        assert_eq!(cache.len(cfg), ids.len());
        for (step, end) in (first..=ids.len()).enumerate() {
            let want = block_on(cpu::forward(cfg, &ck, &ids[..end], &opts)).unwrap().logits;
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert!(bits(&got[step]) == bits(&want), "{name}: step {step} (after {end} tokens) differs from the whole pass");
        }
    }
}

#[test]
fn weights_kept_in_memory_give_the_bytes_of_weights_read_from_the_file() {
    // Generation keeps the packed weights between tokens (bf16 stays bf16); streaming
    // reads and packs them again at every pass. Same logits, to the bit.
    let (info, ck, tok) = open(&fixture("smollm2-135m"));
    let (_, mut kept, _) = open(&fixture("smollm2-135m"));
    kept.keep_resident(compact::model::RESIDENT_BUDGET);
    let cfg = &info.config;
    let ids = compact::tokenizer::encode(&tok, "The quick brown fox jumps over the lazy").unwrap();
    let opts = cpu::ForwardOptions { logits: Logits::All, ..Default::default() };
    let want = block_on(cpu::forward(cfg, &ck, &ids, &opts)).unwrap().logits;
    for pass in 0..2 {
        let got = block_on(cpu::forward(cfg, &kept, &ids, &opts)).unwrap().logits;
        assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "pass {pass} differs");
    }
    assert_eq!(ck.resident_bytes(), 0);
    // Every matrix of the 30 layers and the tied output matrix, as bf16.
    let params = 30 * (2 * 576 * 576 + 2 * 192 * 576 + 3 * 576 * 1536) + 49152 * 576;
    assert_eq!(kept.resident_bytes(), 2 * params as u64);
}

#[test]
fn qwen2_logits_match_transformers() {
    check_against_golden("qwen2.5-0.5b");
}

#[test]
fn gemma3_logits_match_transformers() {
    check_against_golden("gemma3-270m");
}

#[test]
fn a_cancelled_forward_stops_with_cancelled() {
    let (info, ck, _) = open(&fixture("smollm2-135m"));
    let cancel = compact::progress::Cancel::default();
    cancel.cancel();
    let opts = ForwardOptions { cancel: Some(&cancel), ..Default::default() };
    let err = block_on(cpu::forward(&info.config, &ck, &[1, 2, 3], &opts)).unwrap_err();
    assert!(matches!(err, compact::Error::Cancelled), "{err}");
}
