//! The CLI's calibration (paper Algorithm 1) on real SmolLM2-135M weights: the
//! importance it saves equals an independent CPU-reference computation on the same
//! windows and mask, the common-token mask removes exactly the rare positions'
//! contribution, and bad calibration input is refused with a clear message.

mod common;

use common::{block_on, compact, fixture, open};
use compact::engine::Device;
use compact::progress::{Cancel, Silent};
use compact::prune::calib;

const VOCAB: usize = 8192;

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

/// The kept ids the CLI uses for `--vocab VOCAB`.
fn kept(dir: &std::path::Path, vocab_size: usize) -> Vec<u32> {
    let tok = std::fs::read(dir.join("tokenizer.json")).unwrap();
    compact::tokenizer::surgery::Vocab::from_bytes(&tok, vocab_size).unwrap().keep(VOCAB, None).unwrap()
}

#[test]
fn cli_importance_matches_the_cpu_reference_and_the_mask_removes_rare_positions() {
    let dir = fixture("smollm2-135m");
    let tmp = std::env::temp_dir().join(format!("compact-calib-{}", std::process::id()));
    let imp_file = tmp.with_extension("safetensors");
    let (ok, _, err) = compact(&[
        "prune",
        "--model",
        dir.to_str().unwrap(),
        "--out",
        tmp.to_str().unwrap(),
        "--force",
        "--vocab",
        &VOCAB.to_string(),
        "--ffn",
        "1024",
        "--samples",
        "2",
        "--seq-len",
        "64",
        "--no-repair",
        "--save-importance",
        imp_file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (info, ck, tok) = open(&dir);
    let cfg = &info.config;
    let saved = block_on(compact::prune::select::read_importance(&compact::io::FileSource::open(&imp_file).unwrap(), cfg)).unwrap();

    let windows = calib::windows(&tok, calib::BUILTIN, 2, 64).unwrap();
    let keep = kept(&dir, cfg.vocab_size);
    let mask = calib::mask(&windows.tokens, Some(&keep));
    let rare = mask.iter().filter(|&&w| w == 0.0).count();
    assert!(rare > 0, "the windows must contain removed tokens for this test to mean anything");
    let run = |w: &[f32]| {
        block_on(Device::Cpu.importance(cfg, &ck, &windows.tokens, windows.seq_len, w, &mut Silent, &Cancel::default())).unwrap()
    };
    let reference = run(&mask);
    let worst = saved.iter().zip(&reference).map(|(a, b)| rel_l2(a, b)).fold(0.0, f64::max);
    eprintln!(
        "CLI (GPU) vs CPU reference: worst relative L2 {worst:.2e} over {} layers; {rare} of {} positions masked",
        cfg.num_layers,
        mask.len()
    );
    assert!(worst < 1e-3, "worst relative L2 {worst}");

    // act² is linear in the weights: unmasked − masked must be exactly the rare
    // positions' own contribution, and that contribution is not negligible.
    let unmasked = run(&vec![1.0; mask.len()]);
    let complement: Vec<f32> = mask.iter().map(|w| 1.0 - w).collect();
    let rare_only = run(&complement);
    for l in 0..cfg.num_layers {
        let diff: Vec<f64> = unmasked[l].iter().zip(&reference[l]).map(|(u, m)| u - m).collect();
        assert!(rel_l2(&diff, &rare_only[l]) < 1e-9, "layer {l}: the mask does not remove exactly the rare positions");
        assert!(rel_l2(&reference[l], &unmasked[l]) > 1e-6, "layer {l}: masking changed nothing");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_file(&imp_file);
}

#[test]
fn short_or_binary_calibration_text_is_refused() {
    let dir = fixture("smollm2-135m");
    let tmp = std::env::temp_dir().join(format!("compact-calib-bad-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let short = tmp.join("short.txt");
    std::fs::write(&short, "Only a few words here.").unwrap();
    let binary = tmp.join("weights.bin");
    std::fs::write(&binary, [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    let empty = tmp.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = tmp.join("out");
    for (file, expect) in [(&short, "tokens, fewer than one window of 64"), (&binary, "binary"), (&empty, "no text")] {
        let (ok, _, err) = compact(&[
            "prune",
            "--model",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--force",
            "--ffn",
            "1024",
            "--seq-len",
            "64",
            "--calib",
            file.to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
        assert!(!ok, "{} was accepted", file.display());
        assert!(err.contains(expect), "{}: {err}", file.display());
        assert!(!out.join("model.safetensors").exists(), "a refused run left output behind");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn default_calibration_stays_out_of_the_held_out_half() {
    // `compact eval` measures perplexity on the second half of the built-in text; the
    // default 16 × 512 calibration windows must come from the first half.
    for name in ["smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"] {
        let (_, _, tok) = open(&fixture(name));
        let w = calib::windows(&tok, calib::BUILTIN, calib::DEFAULT_SAMPLES, calib::DEFAULT_SEQ_LEN).unwrap();
        assert_eq!(w.count, calib::DEFAULT_SAMPLES, "{name}: the built-in text holds 16 windows");
        let first_half = tok.encode(&calib::BUILTIN[..calib::BUILTIN.len() - compact::eval::held_out_text().len()], false).unwrap().len();
        let used = w.count * (w.seq_len - w.bos.is_some() as usize);
        eprintln!("{name}: calibration uses {used} of the first half's {first_half} tokens ({} in all)", w.text_tokens);
        assert!(used <= first_half, "{name}: calibration reaches into the held-out half");
    }
}

#[test]
fn every_builtin_text_holds_the_default_windows() {
    for name in ["smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"] {
        let (_, _, tok) = open(&fixture(name));
        for b in &calib::BUILTINS {
            let w = calib::windows(&tok, b.text, calib::DEFAULT_SAMPLES, calib::DEFAULT_SEQ_LEN).unwrap();
            eprintln!("{name}, {}: {} tokens", b.key, w.text_tokens);
            assert_eq!(w.count, calib::DEFAULT_SAMPLES, "{name}, {}", b.key);
        }
    }
}

#[test]
fn importance_is_the_same_bytes_however_the_windows_are_grouped() {
    // The browser's CPU device gives groups of windows to its Web Workers and adds what
    // they send back; that must be the one-thread result bit for bit. Windows of 80
    // positions: the 64-row blocks of the sums do not line up with the windows.
    use compact::engine::cpu::{self, add_windows};
    let (info, ck, tok) = open(&fixture("smollm2-135m"));
    let cfg = &info.config;
    let w = calib::windows(&tok, calib::BUILTIN, 3, 80).unwrap();
    let weights: Vec<f32> = (0..w.tokens.len()).map(|i| if i % 5 == 2 { 0.0 } else { 1.0 }).collect();
    let usual = block_on(Device::Cpu.importance(cfg, &ck, &w.tokens, w.seq_len, &weights, &mut Silent, &Cancel::default())).unwrap();
    let t = w.seq_len;
    for split in [1, 2] {
        let mut total = vec![vec![0f64; cfg.intermediate_size]; cfg.num_layers];
        for (group, gw) in [(0, split), (split, 3)] {
            let (tokens, ws) = (&w.tokens[group * t..gw * t], &weights[group * t..gw * t]);
            let imp = block_on(cpu::group_importance(cfg, &ck, tokens, t, ws, &Cancel::default())).unwrap();
            assert_eq!(imp[0].len(), (gw - group) * cfg.intermediate_size, "one row of sums per window");
            total.iter_mut().zip(&imp).for_each(|(acc, per_window)| add_windows(acc, per_window));
        }
        assert_eq!(total, usual, "windows split {split} + {}: bit for bit", 3 - split);
    }
    assert!(usual.iter().flatten().any(|&v| v > 0.0));
}
