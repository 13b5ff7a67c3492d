//! `compact eval` on real SmolLM2-135M weights: the GPU scorer's log-likelihoods equal
//! an independent computation from the CPU reference's full logits, the CPU scorer
//! (several sequences per pass) equals it too, and a model compared with itself agrees
//! everywhere while a pruned one does not.

mod common;

use common::{block_on, compact, eval_data, fixture, open, temp_dir};
use compact::engine::Device;
use compact::engine::cpu::{self, ForwardOptions, Logits};
use compact::engine::score::shared_prefixes;
use compact::eval::{self, Scored};
use compact::progress::{Cancel, Silent};

/// log p(target) of every scored position, from full CPU logits of one sequence at a time.
fn reference(cfg: &compact::model::ModelConfig, ck: &compact::model::Checkpoint<compact::io::FileSource>, s: &Scored) -> Vec<f64> {
    let out = block_on(cpu::forward(cfg, ck, &s.tokens, &ForwardOptions { logits: Logits::All, ..Default::default() })).unwrap();
    let v = cfg.vocab_size;
    s.targets
        .clone()
        .map(|p| {
            let row: Vec<f64> = out.logits[(p - 1) * v..p * v].iter().map(|&x| x as f64).collect();
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            row[s.tokens[p] as usize] - max - row.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
        })
        .collect()
}

#[test]
fn gpu_and_batched_cpu_scores_match_the_reference_logits() {
    let dir = fixture("smollm2-135m");
    let (info, ck, tok) = open(&dir);
    let cfg = &info.config;
    let text = std::fs::read_to_string(eval_data().join("arc_easy.jsonl")).unwrap();
    let items = eval::parse_requests("arc_easy", &text, Some(3)).unwrap();
    let seqs = eval::requests(&tok, compact::prune::calib::bos_of(&tok).unwrap(), &items).unwrap();
    assert!(seqs.len() >= 9 && seqs.iter().any(|s| s.tokens.len() % 8 != 0), "varied lengths exercise the padding");
    let groups = shared_prefixes(&seqs);
    assert!(groups.iter().any(|(r, shared)| r.len() > 1 && *shared > 0), "the choices of an item share their context: {groups:?}");
    let expect: Vec<Vec<f64>> = seqs.iter().map(|s| reference(cfg, &ck, s)).collect();
    let gpu = block_on(Device::open(compact::engine::DeviceKind::Gpu)).expect("a GPU adapter (lavapipe here)");
    for (name, device) in [("GPU", gpu), ("CPU", Device::Cpu)] {
        let got = block_on(device.score(cfg, &ck, &seqs, &mut Silent, &Cancel::default())).unwrap();
        let worst =
            got.iter().flatten().zip(expect.iter().flatten()).map(|(g, e)| (g.logprob - e).abs() / e.abs().max(1.0)).fold(0.0, f64::max);
        eprintln!("{name} scorer vs reference log-likelihoods: worst relative error {worst:.2e}");
        assert!(worst < 1e-3, "{name}: {worst}");
        if name == "CPU" {
            // Batching and shared contexts change which rows are computed together,
            // never the arithmetic of any row.
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for (g, e) in got.iter().zip(&expect) {
                assert_eq!(bits(&g.iter().map(|t| t.logprob).collect::<Vec<_>>()), bits(e), "CPU scorer vs one sequence at a time");
            }
        }
    }
}

#[test]
fn cli_reports_accuracy_perplexity_and_agreement() {
    let dir = fixture("smollm2-135m");
    let tmp = temp_dir("eval");
    let (pruned, json) = (tmp.path().join("pruned"), tmp.path().join("eval.json"));
    let (ok, _, err) = compact(&["prune", "--model", dir.to_str().unwrap(), "--out", pruned.to_str().unwrap(), "--vocab", "8192"]);
    assert!(ok, "{err}");
    let run = |model: &std::path::Path| {
        let (ok, stdout, err) = compact(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--dense",
            dir.to_str().unwrap(),
            "--tasks",
            "winogrande",
            "--limit",
            "2",
            "--ppl-windows",
            "1",
            "--ppl-seq-len",
            "64",
            "--backend",
            "cpu",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        (stdout, serde_json::from_slice::<serde_json::Value>(&std::fs::read(&json).unwrap()).unwrap())
    };
    let (stdout, same) = run(&dir);
    assert!(stdout.contains("WiGr") && stdout.contains("top-1 agreement"), "{stdout}");
    assert_eq!(same["top1_agreement"], 1.0, "a model agrees with itself");
    assert_eq!(same["perplexity"], same["dense_perplexity"]);
    assert_eq!(same["tasks"][0]["model"], same["tasks"][0]["dense"]);
    let (_, pruned) = run(&pruned);
    let agreement = pruned["top1_agreement"].as_f64().unwrap();
    assert!(agreement < 1.0 && agreement > 0.5, "vocabulary pruning alone keeps most top-1 tokens: {agreement}");
    assert!(pruned["perplexity"].as_f64().unwrap() > 1.0);
}

#[test]
fn missing_data_and_unknown_tasks_are_explained() {
    let dir = fixture("smollm2-135m");
    let tmp = temp_dir("eval-bad");
    let (ok, _, err) = compact(&["eval", "--model", dir.to_str().unwrap(), "--tasks", "mmlu"]);
    assert!(!ok && err.contains("unknown task \"mmlu\"") && err.contains("arc_easy"), "{err}");
    let (ok, _, err) = compact(&["eval", "--model", dir.to_str().unwrap(), "--tasks", "piqa", "--data", tmp.path().to_str().unwrap()]);
    assert!(!ok && err.contains("fetch-eval.sh"), "{err}");
}
