//! The GPU forward pass on real weights against the CPU reference (itself checked
//! against transformers in tests/reference.rs): the residual stream after every layer,
//! the logits of each window's last position, and the masked act² importance.

#[path = "common/kernel_cases.rs"]
mod cases;
mod common;

use cases::rel_l2;
use common::{block_on, fixture, open};
use compact::engine::cpu::{self, ForwardOptions, Logits};
use compact::engine::forward::{self, GpuOptions, Windows};
use compact::engine::gpu::Gpu;
use compact::progress::{Cancel, Progress};

const TEXT: &str = include_str!("data/sample.txt");

/// The worst per-position relative L2 error between two `rows × d` matrices.
fn worst_row(a: &[f32], b: &[f32], d: usize) -> f64 {
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(x, y)| rel_l2(&x.iter().map(|&v| v as f64).collect::<Vec<_>>(), &y.iter().map(|&v| v as f64).collect::<Vec<_>>()))
        .fold(0.0, f64::max)
}

/// Checks `windows × t` tokens of the sample text on `model`; tokens with ids ≥
/// `rare_from` get act² weight 0.
fn check(model: &str, windows: usize, t: usize, rare_from: u32) {
    let (info, ck, tok) = open(&fixture(model));
    let cfg = &info.config;
    let ids = compact::tokenizer::encode(&tok, TEXT).unwrap();
    assert!(ids.len() >= windows * t, "{model}: the sample has {} tokens, {} needed", ids.len(), windows * t);
    let tokens = &ids[..windows * t];
    let weights: Vec<f32> = tokens.iter().map(|&id| if id >= rare_from { 0.0 } else { 1.0 }).collect();
    assert!(weights.contains(&0.0) && weights.contains(&1.0), "{model}: the mask should drop some positions and keep others");

    let gpu = block_on(Gpu::new()).expect("GPU adapter");
    // A small activation budget forces several batches, so batching and resident
    // weights are exercised too.
    let opts = GpuOptions { keep_layer_outputs: true, logits: Logits::Last, activation_budget: 1, ..Default::default() };
    let mut events = Vec::new();
    let got = block_on(forward::run(
        &gpu,
        cfg,
        &ck,
        Windows { tokens, t, act2_weights: Some(&weights) },
        &opts,
        &mut |p: Progress| events.push(p),
        &Cancel::default(),
    ))
    .unwrap();
    assert_eq!(got.stats.batches, windows, "{model}: one window per batch under a tiny budget");
    assert_eq!(events.len(), windows * cfg.num_layers);
    assert_eq!(events.last().map(|e| (e.done, e.total)), Some(((windows * cfg.num_layers) as u64, (windows * cfg.num_layers) as u64)));

    let d = cfg.hidden_size;
    let mut cpu_imp = vec![vec![0f64; cfg.intermediate_size]; cfg.num_layers];
    let mut worst_hidden = (0.0f64, 0);
    let mut worst_logits = 0f32;
    for w in 0..windows {
        let r = w * t..(w + 1) * t;
        let opts = ForwardOptions {
            act2_weights: Some(&weights[r.clone()]),
            keep_layer_outputs: true,
            logits: Logits::Last,
            ..Default::default()
        };
        let want = block_on(cpu::forward(cfg, &ck, &tokens[r.clone()], &opts)).unwrap();
        for (l, acc) in cpu_imp.iter_mut().enumerate() {
            let e = worst_row(&got.layer_outputs[l][r.start * d..r.end * d], &want.layer_outputs[l], d);
            if e > worst_hidden.0 {
                worst_hidden = (e, l);
            }
            acc.iter_mut().zip(&want.importance[l]).for_each(|(a, b)| *a += b);
        }
        let v = cfg.vocab_size;
        let gl = &got.logits[w * v..(w + 1) * v];
        let scale = want.logits.iter().fold(0f32, |m, x| m.max(x.abs()));
        worst_logits = worst_logits.max(gl.iter().zip(&want.logits).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale);
        assert_eq!(cpu::argmax(gl), cpu::argmax(&want.logits), "{model}: window {w} next token differs");
    }
    println!(
        "{model}: worst per-position relative error of the residual stream {:.2e} (layer {}); logits {worst_logits:.2e}",
        worst_hidden.0, worst_hidden.1
    );
    assert!(worst_hidden.0 < 1e-3, "{model}: hidden states differ by {:.2e} at layer {}", worst_hidden.0, worst_hidden.1);
    assert!(worst_logits < 1e-3, "{model}: logits differ by {worst_logits:.2e}");

    // Importance: relative L2 per layer, and the same top-I' channels at I' = 0.75·I
    // except for near-ties at the cut (reported).
    let keep = cfg.intermediate_size * 3 / 4;
    let gpu_top = compact::prune::select::top_channels(&got.importance, keep).unwrap();
    let cpu_top = compact::prune::select::top_channels(&cpu_imp, keep).unwrap();
    let mut worst_imp = 0f64;
    for l in 0..cfg.num_layers {
        let e = rel_l2(&got.importance[l], &cpu_imp[l]);
        worst_imp = worst_imp.max(e);
        assert!(e < 1e-3, "{model}: layer {l} importance differs by {e:.2e} (relative L2)");
        if gpu_top[l] != cpu_top[l] {
            let mut sorted = cpu_imp[l].clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let cut = sorted[keep - 1];
            let a: std::collections::BTreeSet<_> = gpu_top[l].iter().collect();
            let b: std::collections::BTreeSet<_> = cpu_top[l].iter().collect();
            for &&c in a.symmetric_difference(&b) {
                let margin = (cpu_imp[l][c as usize] - cut).abs() / cut;
                println!("{model}: layer {l} channel {c} is on different sides of the cut; its margin to the cut is {margin:.2e}");
                assert!(margin < 1e-3, "{model}: layer {l} channel {c} differs by {margin:.2e} from the cut: not a near-tie");
            }
        }
    }
    println!(
        "{model}: worst importance relative L2 {worst_imp:.2e}; peak GPU memory {:.1} MiB",
        got.stats.peak_gpu_bytes as f64 / 1048576.0
    );
}

#[test]
fn smollm2_matches_the_reference() {
    check("smollm2-135m", 4, 128, 16384);
}

#[test]
fn qwen2_matches_the_reference() {
    check("qwen2.5-0.5b", 2, 64, 1000);
}

#[test]
fn gemma3_matches_the_reference() {
    check("gemma3-270m", 2, 96, 4000);
}

#[test]
fn cancel_stops_between_layers() {
    let (info, ck, _) = open(&fixture("smollm2-135m"));
    let gpu = block_on(Gpu::new()).unwrap();
    let cancel = Cancel::default();
    let c = cancel.clone();
    let tokens = vec![1u32; 32];
    let mut on_progress = |p: Progress| {
        if p.done == 3 {
            c.cancel();
        }
    };
    let r = block_on(forward::run(
        &gpu,
        &info.config,
        &ck,
        Windows { tokens: &tokens, t: 32, act2_weights: None },
        &GpuOptions::default(),
        &mut on_progress,
        &cancel,
    ));
    assert!(matches!(r, Err(compact::Error::Cancelled)), "{r:?}");
}

/// Greedy decoding on the GPU (the web app's side-by-side preview) picks the same
/// tokens as the CPU reference.
#[test]
fn gpu_greedy_generation_matches_the_reference() {
    let (info, ck, tok) = open(&fixture("smollm2-135m"));
    let cfg = &info.config;
    let prompt = compact::tokenizer::encode(&tok, "The capital of France is").unwrap();
    let gpu = block_on(Gpu::new()).expect("GPU adapter");
    let got = block_on(forward::generate_greedy(&gpu, cfg, &ck, &prompt, 6, &[], &Cancel::default())).unwrap();
    let want = block_on(cpu::generate_greedy(cfg, &ck, &prompt, 6, &[])).unwrap();
    assert_eq!(got, want, "GPU {:?} vs CPU {:?}", compact::tokenizer::decode(&tok, &got), compact::tokenizer::decode(&tok, &want));
    assert_eq!(got.len(), 6);
}

/// The relative L2 distance of two f64 vectors.
fn rel64(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    (num / b.iter().map(|y| y * y).sum::<f64>()).sqrt()
}

/// The repair's passes a layer at a time on the GPU against the CPU reference's, in
/// each fit: act², the second moment and (residual fit) the cross moment of every
/// layer, with both sides advanced through the same pruned FFN, so later layers
/// compare the same computation. With the default budget the streams stay on the GPU
/// in one batch; a tiny one makes one window a batch, holds the streams in memory and
/// reads the second moment back in blocks of rows. Gemma-3 (norms after attention and
/// FFN, GELU, sliding windows) in the fit it runs.
#[test]
fn repair_moments_a_layer_at_a_time_match_the_reference() {
    use compact::prune::repair::RepairMode;
    check_moments("smollm2-135m", &[RepairMode::Dense, RepairMode::Sequential, RepairMode::Residual]);
    check_moments("gemma3-270m", &[RepairMode::Sequential]);
}

fn check_moments(model: &str, modes: &[compact::prune::repair::RepairMode]) {
    use compact::engine::cpu::LayerByLayer;
    use compact::engine::layerwise::GpuLayers;
    use compact::engine::moments::{Cross, Gram};
    use compact::prune::repair::{RepairMode, slice_columns};

    let (info, ck, tok) = open(&fixture(model));
    let cfg = &info.config;
    let (d, n, t) = (cfg.hidden_size, cfg.intermediate_size, 32);
    let ids = compact::tokenizer::encode(&tok, TEXT).unwrap();
    let tokens = &ids[..3 * t];
    let weights: Vec<f32> = tokens.iter().enumerate().map(|(i, _)| if i % 5 == 2 { 0.0 } else { 1.0 }).collect();
    let gpu = block_on(Gpu::new()).expect("GPU adapter");
    let cancel = Cancel::default();
    let layers = 3;
    for (mode, budget) in modes.iter().flat_map(|&m| [(m, 1), (m, forward::ACTIVATION_BUDGET)]) {
        let twin = mode == RepairMode::Residual;
        let mut g = block_on(GpuLayers::new(&gpu, cfg, &ck, (tokens, t, &weights), twin, budget)).unwrap();
        assert_eq!(g.batches(), if budget == 1 { 3 } else { 1 }, "one window per batch under a tiny budget");
        let c = block_on(LayerByLayer::new(cfg, &ck, tokens, t, &weights, 2)).unwrap();
        let mut c = if twin { c.with_dense_twin() } else { c };
        for l in 0..layers {
            let (mut gram, mut cross) = (Gram::new(n), Cross::new(d, n));
            let want = match mode {
                RepairMode::Dense => block_on(c.next_layer(&mut |h, w| gram.add(h, w), &cancel)),
                RepairMode::Sequential => block_on(c.look_at_layer(&mut |h, w| gram.add(h, w), &cancel)),
                RepairMode::Residual => block_on(c.look_with_target(
                    &mut |h, w, y| {
                        gram.add(h, w);
                        cross.add(h, y, w);
                    },
                    &cancel,
                )),
            };
            let want = want.unwrap().unwrap();
            let got = match mode {
                RepairMode::Dense => block_on(g.next_layer(&cancel)),
                RepairMode::Sequential => block_on(g.look_at_layer(&cancel)),
                RepairMode::Residual => block_on(g.look_with_target(&cancel)),
            };
            let got = got.unwrap().unwrap();
            let upper = |m: &Gram| (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).map(|(i, j)| m.get(i, j)).collect::<Vec<_>>();
            let (e_act2, e_gram) = (rel64(&got.act2, &want), rel64(&upper(&got.gram), &upper(&gram)));
            let e_cross = got.cross.as_ref().map(|x| rel64(&x.sums, &cross.sums));
            println!(
                "{model} {mode:?} budget {budget} layer {l}: act² {e_act2:.2e}, second moment {e_gram:.2e}, cross moment {:.2e}",
                e_cross.unwrap_or(0.0)
            );
            assert!(e_act2 < 2e-5 && e_gram < 2e-5, "{mode:?} layer {l}: act² {e_act2:.2e}, second moment {e_gram:.2e}");
            assert_eq!(got.cross.is_some(), twin);
            if let Some(e) = e_cross {
                assert!(e < 2e-5, "{mode:?} layer {l}: cross moment {e:.2e}");
            }
            if mode != RepairMode::Dense {
                // The same pruned FFN on both sides: the top half of the channels by
                // the CPU's act², down_proj sliced.
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| want[b].total_cmp(&want[a]).then(a.cmp(&b)));
                let mut keep: Vec<usize> = order[..n / 2].to_vec();
                keep.sort_unstable();
                let w = block_on(ck.f32(&compact::model::names::mlp(l, "down_proj"))).unwrap();
                let down = slice_columns(&w, n, &keep);
                let keep: Vec<u32> = keep.iter().map(|&k| k as u32).collect();
                block_on(c.advance_pruned(&keep, &down, &cancel)).unwrap();
                block_on(g.advance_pruned(&keep, &down, &cancel)).unwrap();
            }
        }
    }
}
