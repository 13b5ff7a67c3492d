//! Repair of the pruned FFN (beyond the paper) on real SmolLM2-135M weights: calibration
//! a layer at a time gives exactly the importance of the usual pass; a repaired folder
//! differs from the sliced one in down_proj values only; and, run by the CPU reference
//! from the written files, the repaired model's layers reproduce the dense model's
//! outputs on the calibration windows better than plain slicing does.

mod common;

use common::{block_on, compact, fixture, open, open_weights};
use compact::engine::cpu::{self, ForwardOptions, LayerByLayer, Logits};
use compact::engine::{Device, device::cpu_windows_per_pass};
use compact::io::FileSource;
use compact::model::TensorIndex;
use compact::progress::{Cancel, Silent};
use compact::prune::calib;

const FFN: &str = "768";

fn windows() -> (calib::CalibWindows, Vec<f32>) {
    let (_, _, tok) = open(&fixture("smollm2-135m"));
    let w = calib::windows(&tok, calib::BUILTIN, 2, 64).unwrap();
    let weights = (0..w.tokens.len()).map(|i| if i % 7 == 3 { 0.0 } else { 1.0 }).collect();
    (w, weights)
}

#[test]
fn calibration_a_layer_at_a_time_is_the_usual_importance() {
    let (info, ck) = open_weights(&fixture("smollm2-135m"));
    let cfg = &info.config;
    let (w, weights) = windows();
    let usual = block_on(Device::Cpu.importance(cfg, &ck, &w.tokens, w.seq_len, &weights, &mut Silent, &Cancel::default())).unwrap();
    let per_pass = cpu_windows_per_pass(cfg, w.count, w.seq_len);
    let mut run = block_on(LayerByLayer::new(cfg, &ck, &w.tokens, w.seq_len, &weights, per_pass)).unwrap();
    let mut rows = 0;
    for (l, want) in usual.iter().enumerate() {
        let got = block_on(run.next_layer(&mut |h, _| rows += h.len() / cfg.intermediate_size, &Cancel::default())).unwrap().unwrap();
        assert_eq!(&got, want, "layer {l}: bit for bit");
    }
    assert_eq!(rows, cfg.num_layers * w.tokens.len(), "every layer shows every row");
    assert!(block_on(run.next_layer(&mut |_, _| {}, &Cancel::default())).unwrap().is_none());
}

/// Prunes SmolLM2 to I' = FFN on the test windows with `extra` flags; says whether
/// down_proj was repaired.
fn prune(out: &std::path::Path, extra: &[&str]) -> bool {
    let dir = fixture("smollm2-135m");
    let mut args = vec!["prune", "--model", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--force", "--ffn", FFN];
    args.extend(["--samples", "2", "--seq-len", "64", "--device", "cpu"]);
    args.extend(extra);
    let (ok, stdout, err) = compact(&args);
    assert!(ok, "{err}");
    stdout.contains("repair: down_proj refitted in every layer")
}

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn repaired_layers_reproduce_the_dense_outputs_better_than_slicing() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = ["plain", "dense", "sequential", "residual"].map(|k| tmp.path().join(k));
    let [plain, repaired, sequential, residual] = &dirs;
    // The repair is the default (residual fit); --no-repair is the paper's method.
    assert!(!prune(plain, &["--no-repair"]), "--no-repair repairs nothing");
    assert!(prune(repaired, &["--repair", "--repair-mode", "dense"]));
    assert!(prune(sequential, &["--repair-mode", "sequential"]));
    assert!(prune(residual, &[]), "the repair is on by default");

    // Fitted on the dense model, the same channels as the paper: a standard folder whose
    // only change is the values of down_proj.
    let header = |dir: &std::path::Path| block_on(TensorIndex::read(&FileSource::open(&dir.join("model.safetensors")).unwrap())).unwrap();
    let (hp, hr) = (header(plain), header(repaired));
    let bytes = |dir: &std::path::Path, t: &compact::model::TensorInfo| {
        let all = std::fs::read(dir.join("model.safetensors")).unwrap();
        all[t.range.start as usize..t.range.end as usize].to_vec()
    };
    assert_eq!(hp.tensors().len(), hr.tensors().len());
    let mut changed = 0;
    for (a, b) in hp.tensors().iter().zip(hr.tensors()) {
        assert_eq!((&a.name, a.dtype, &a.shape, &a.range), (&b.name, b.dtype, &b.shape, &b.range));
        let same = bytes(plain, a) == bytes(repaired, b);
        assert_eq!(same, !a.name.ends_with("mlp.down_proj.weight"), "{}", a.name);
        changed += !same as usize;
    }
    assert_eq!(changed, 30, "every layer's down_proj is refitted");

    // The objective, checked through the written files: the repaired model's layer
    // outputs on the calibration windows are closer to the dense model's.
    let (w, _) = windows();
    let seqs: Vec<&[u32]> = w.tokens.chunks_exact(w.seq_len).collect();
    let opts = ForwardOptions { keep_layer_outputs: true, logits: Logits::None, ..Default::default() };
    let layers = |dir: &std::path::Path| {
        let (info, ck) = open_weights(dir);
        block_on(cpu::forward_batch(&info.config, &ck, &seqs, &opts)).unwrap().layer_outputs
    };
    let dense = layers(&fixture("smollm2-135m"));
    let errors = |dir: &std::path::Path| layers(dir).iter().zip(&dense).map(|(a, b)| rel_l2(a, b)).collect::<Vec<_>>();
    let [e_plain, e_rep, e_seq, e_res] = [plain, repaired, sequential, residual].map(|d| errors(d));
    let last = dense.len() - 1;
    eprintln!(
        "relative L2 to dense, layer 0 / last: sliced {:.4} / {:.4}, dense-fit {:.4} / {:.4}, sequential {:.4} / {:.4}, residual {:.4} / {:.4}",
        e_plain[0], e_plain[last], e_rep[0], e_rep[last], e_seq[0], e_seq[last], e_res[0], e_res[last]
    );
    assert!(e_rep[0] < 0.8 * e_plain[0], "layer 0: repaired {} against sliced {}", e_rep[0], e_plain[0]);
    assert_eq!(e_seq[0], e_rep[0], "the first layer sees the same inputs either way");
    for (name, e) in [("dense-fit", &e_rep), ("sequential", &e_seq), ("residual", &e_res)] {
        assert!(e[last] < e_plain[last], "last layer: {name} {} against sliced {}", e[last], e_plain[last]);
    }
    assert!(e_res[last] < e_rep[last].min(e_seq[last]), "the residual repair brings the last layer closest: {e_res:?}");
}

#[test]
fn repair_refuses_channels_from_an_importance_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("smollm2-135m");
    let imp = tmp.path().join("imp.safetensors");
    std::fs::write(&imp, b"unused").unwrap();
    let (ok, _, err) = compact(&[
        "prune",
        "--model",
        dir.to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
        "--ffn",
        FFN,
        "--repair",
        "--channels-from",
        imp.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--channels-from"), "{err}");
    assert!(!tmp.path().join("o").exists(), "nothing written");
    // So is a repair option with channels from a file (there is no repair to set).
    let (ok, _, err) = compact(&[
        "prune",
        "--model",
        dir.to_str().unwrap(),
        "--out",
        tmp.path().join("o").to_str().unwrap(),
        "--repair-mode",
        "dense",
        "--channels-from",
        imp.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--channels-from"), "{err}");
    // Asking for the repair and for the paper's method at once is refused too.
    let (ok, _, err) =
        compact(&["prune", "--model", dir.to_str().unwrap(), "--out", tmp.path().join("o").to_str().unwrap(), "--repair", "--no-repair"]);
    assert!(!ok && err.contains("--no-repair"), "{err}");
}

#[test]
fn the_bakeoff_refuses_what_it_cannot_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("smollm2-135m");
    let out = tmp.path().join("bakeoff");
    let base = ["bakeoff", "--model", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--device", "cpu"];
    for (extra, expect) in [
        (&[][..], "give the sizes to compare at"),
        (&["--ratio", "35%", "--only", "compact,nope"][..], "--only: no method \"nope\""),
        (&["--ratio", "20%,1.5"][..], "\"1.5\" is not a share of parameters to remove"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (ok, _, err) = compact(&args);
        assert!(!ok && err.contains(expect), "{extra:?}: {err}");
        assert!(!out.exists(), "{extra:?}: nothing written");
    }
}

#[test]
fn the_bakeoff_compares_methods_at_the_same_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("smollm2-135m");
    let out = tmp.path().join("bakeoff");
    let (ok, stdout, err) = compact(&[
        "bakeoff",
        "--model",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--vocab",
        "32768",
        "--ffn",
        "1344",
        "--samples",
        "2",
        "--seq-len",
        "64",
        "--device",
        "cpu",
        "--ppl-windows",
        "2",
        "--only",
        "compact,vocab-only,weight,compact+repair",
    ]);
    assert!(ok, "{err}");
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("bakeoff.json")).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(keys, ["compact", "vocab-only", "weight", "compact+repair"], "{stdout}");
    let params = |i: usize| rows[i]["params"].as_u64().unwrap();
    // The vocabulary alone removes as many parameters, to within one block of 64 rows.
    assert_eq!((rows[1]["ffn"].as_u64(), rows[1]["vocab"].as_u64()), (Some(1536), Some(15488)));
    assert!(params(1) <= params(0) && params(0) - params(1) < 64 * 576, "{} against {}", params(1), params(0));
    for (i, r) in rows.iter().enumerate() {
        assert!(r["perplexity"].as_f64().unwrap().is_finite() && r["top1_agreement"].as_f64().is_some(), "{r}");
        if i != 1 {
            assert_eq!(params(i), params(0), "the same sizes");
        }
    }
    // The weight-aware score reuses the paper's calibration: its run calibrated nothing.
    assert!(rows[0]["calibration_seconds"].as_f64().is_some() && rows[2]["calibration_seconds"].is_null(), "{:?}", rows);
    assert!(rows[3]["repair_seconds"].as_f64().is_some() && rows[0]["repair_seconds"].is_null());
    assert!(!out.join("compact").exists(), "the pruned folders are removed once evaluated");
}
