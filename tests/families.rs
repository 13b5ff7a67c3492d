//! Every supported family against transformers, without downloading a weight: tiny
//! models (2-3 layers, hidden 64, vocabulary 256) whose configs exercise what makes
//! each family itself (Llama-3 rope scaling, Mistral's and Gemma-3's sliding windows
//! shorter than the input, Qwen2's biases, Qwen3's q/k norms with heads × head_dim ≠
//! hidden, Gemma-3's offsets and local RoPE), built here with the same seeded values
//! as `tests/golden/make_family_golden.py` builds them for transformers (the weights'
//! sha256 proves it). The CPU reference's logits at every position and its act²
//! importance must equal transformers' (PyTorch f32) ones, and each model pruned by
//! `compact prune` must give the dense model's logits with the removed channels zeroed.

#[path = "common/kernel_cases.rs"]
mod cases;
mod common;

use cases::{rel_err, rel_l2};
use common::{block_on, compact, open_weights, temp_dir, tiny_ids, write_byte_tokenizer, write_tiny_model};
use compact::engine::cpu::{self, ForwardOptions, Logits};
use compact::model::{Checkpoint, ModelInfo};
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(&std::fs::read_to_string("tests/golden/families.json").unwrap()).unwrap()
}

/// The family's tiny model written into `dir`, checked to be the golden's, and opened.
fn build(name: &str, g: &Value, dir: &std::path::Path) -> (ModelInfo, Checkpoint<compact::io::FileSource>) {
    let sha = write_tiny_model(dir, &g["config"]);
    assert_eq!(sha, g["weights_sha256"].as_str().unwrap(), "{name}: the seeded weights differ from the golden script's");
    open_weights(dir)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn cpu_reference_equals_transformers_on_every_family() {
    let all = golden();
    let tmp = temp_dir("families");
    let families = all["families"].as_object().unwrap();
    assert!(families.len() >= 6, "the golden covers {} families", families.len());
    for (name, g) in families {
        let (info, ck) = build(name, g, &tmp.path().join(name));
        let ids: Vec<u32> = g["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(ids, tiny_ids(ids.len()), "{name}: ids");
        let weights: Vec<f32> = floats(&g["position_weights"]).iter().map(|&w| w as f32).collect();
        let opts = ForwardOptions { logits: Logits::All, act2_weights: Some(&weights), ..Default::default() };
        let out = block_on(cpu::forward(&info.config, &ck, &ids, &opts)).unwrap();

        let v = info.config.vocab_size;
        let mut worst = 0f64;
        for (p, want) in g["logits"].as_array().unwrap().iter().enumerate() {
            let want = floats(want);
            let row = &out.logits[p * v..(p + 1) * v];
            let scale = want.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-6);
            for (i, (a, b)) in row.iter().zip(&want).enumerate() {
                let err = (*a as f64 - b).abs() / scale;
                worst = worst.max(err);
                assert!(err < 1e-5, "{name} position {p} id {i}: ours {a} vs transformers {b}");
            }
        }
        let act2 = &out.importance;
        let mut worst_act2 = 0f64;
        for (l, want) in g["act2"].as_array().unwrap().iter().enumerate() {
            let want = floats(want);
            let rel = rel_l2(&act2[l], &want);
            worst_act2 = worst_act2.max(rel);
            assert!(rel < 1e-5, "{name} layer {l}: act² relative L2 {rel:.2e}");
        }
        eprintln!("{name}: worst logit difference {worst:.1e} of the row's largest, act² relative L2 {worst_act2:.1e}");
    }
}

#[test]
fn every_family_prunes_to_the_dense_model_without_the_removed_channels() {
    let all = golden();
    let tmp = temp_dir("families-prune");
    for (name, g) in all["families"].as_object().unwrap() {
        let dir = tmp.path().join(name);
        let (info, ck) = build(name, g, &dir);
        write_byte_tokenizer(&dir);
        let out = tmp.path().join(format!("{name}-pruned"));
        // The paper's method: the kept channels' weights are the dense ones, sliced.
        let args = ["--ffn", "96", "--samples", "2", "--seq-len", "16", "--device", "cpu", "--no-repair"];
        let (ok, _, err) = compact(&[&["prune", "--model", dir.to_str().unwrap(), "--out", out.to_str().unwrap()][..], &args].concat());
        assert!(ok, "{name}: {err}");
        let (p_info, p_ck) = open_weights(&out);
        assert_eq!(p_info.config.intermediate_size, 96, "{name}");

        // The kept channels, found by their gate rows (the seeded rows are all distinct).
        let keep: Vec<Vec<u32>> = (0..info.config.num_layers)
            .map(|l| {
                let gate = format!("model.layers.{l}.mlp.gate_proj.weight");
                let (dense, kept) = (block_on(ck.f32(&gate)).unwrap(), block_on(p_ck.f32(&gate)).unwrap());
                let d = info.config.hidden_size;
                let ids: Vec<u32> =
                    kept.chunks(d).map(|row| dense.chunks(d).position(|r| r == row).expect("a kept row is a dense row") as u32).collect();
                assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name} layer {l}: channels keep their order");
                ids
            })
            .collect();
        let ids = tiny_ids(16);
        let all_logits = |opts: &ForwardOptions| block_on(cpu::forward(&info.config, &ck, &ids, opts)).unwrap().logits;
        let want = all_logits(&ForwardOptions { logits: Logits::All, ffn_keep: Some(&keep), ..Default::default() });
        let got = block_on(cpu::forward(&p_info.config, &p_ck, &ids, &ForwardOptions { logits: Logits::All, ..Default::default() }))
            .unwrap()
            .logits;
        let worst = rel_err(&got, &want);
        assert!(worst <= 1e-5, "{name}: pruned logits differ from the dense model without those channels by {worst:.1e} of the largest");
        let dense = all_logits(&ForwardOptions { logits: Logits::All, ..Default::default() });
        assert!(dense != want, "{name}: removing channels changed nothing, so this test would prove nothing");
    }
}

#[test]
fn gpu_forward_equals_the_cpu_reference_on_every_family() {
    use compact::engine::forward::{self, GpuOptions, Windows};
    let all = golden();
    let tmp = temp_dir("families-gpu");
    let gpu = block_on(compact::engine::gpu::Gpu::new()).expect("GPU adapter");
    for (name, g) in all["families"].as_object().unwrap() {
        let (info, ck) = build(name, g, &tmp.path().join(name));
        let cfg = &info.config;
        let ids = tiny_ids(16);
        let weights: Vec<f32> = floats(&g["position_weights"]).iter().map(|&w| w as f32).collect();
        let opts = GpuOptions { logits: Logits::Last, ..Default::default() };
        let windows = Windows { tokens: &ids, t: ids.len(), act2_weights: Some(&weights) };
        let got = block_on(forward::run(&gpu, cfg, &ck, windows, &opts, &mut |_| {}, &compact::progress::Cancel::default()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = block_on(cpu::forward(
            cfg,
            &ck,
            &ids,
            &ForwardOptions { act2_weights: Some(&weights), logits: Logits::Last, ..Default::default() },
        ))
        .unwrap();
        let worst = rel_err(&got.logits, &want.logits);
        assert!(worst < 1e-4, "{name}: GPU logits differ from the CPU reference's by {worst:.1e} of the largest");
        for l in 0..cfg.num_layers {
            let rel = rel_l2(&got.importance[l], &want.importance[l]);
            assert!(rel < 1e-4, "{name} layer {l}: GPU act² differs by {rel:.1e}");
        }
        eprintln!("{name}: GPU logits within {worst:.1e} of the CPU reference's");
    }
}
