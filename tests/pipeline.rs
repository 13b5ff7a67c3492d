//! `compact prune` as a user runs it on real SmolLM2-135M weights: a target ratio
//! becomes a plan printed before anything runs, the report matches the written folder,
//! --rare-by freq keeps the calibration text's tokens, and impossible sizes are refused
//! with a message that says what is possible, leaving nothing behind.

mod common;

use common::{compact, fixture, open, temp_dir};

#[test]
fn ratio_plans_first_and_the_report_matches_the_output() {
    let dir = fixture("smollm2-135m");
    let tmp = temp_dir("ratio");
    let (out, report) = (tmp.path().join("out"), tmp.path().join("report.json"));
    let (ok, stdout, err) = compact(&[
        "prune",
        "--model",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--ratio",
        "35%",
        "--samples",
        "1",
        "--seq-len",
        "64",
        "--backend",
        "cpu",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // The default policy: vocabulary to a third (49152 / 3 = 16384), then FFN channels.
    assert!(stdout.contains("V 49152 → 16384, I 1536 → "), "{stdout}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let reduction = r["reduction"].as_f64().unwrap();
    // At least the target; I' rounds down to a multiple of 32 (32 channels are 1.2% here).
    assert!((0.35..0.363).contains(&reduction), "{reduction}");
    let ffn = r["plan"]["ffn"][1].as_u64().unwrap() as usize;
    assert_eq!(ffn % 32, 0);
    assert_eq!(r["calibration"]["windows"], 1);
    assert!(r["calibration"]["masked_positions"].as_u64().unwrap() > 0, "the 16384-token vocabulary loses some of the text's tokens");
    assert!(r["seconds"]["calibration"].as_f64().unwrap() > 0.0);
    assert!(r["peak_resident_bytes"].as_u64().unwrap() > 0);

    // The folder is what the plan said.
    let (info, _, tok) = open(&out);
    assert_eq!((info.config.vocab_size, info.config.intermediate_size), (16384, ffn));
    assert_eq!(
        info.breakdown().counted.total(),
        r["plan"]["after"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>()
    );
    assert_eq!(tok.get_vocab_size(true), 16384);
}

#[test]
fn rare_by_frequency_keeps_the_calibration_texts_tokens() {
    let dir = fixture("smollm2-135m");
    let tmp = temp_dir("freq");
    let text = tmp.path().join("calib.txt");
    // Words whose tokens have high ids in SmolLM2's vocabulary (rare by id).
    let words = "Schwarzenegger photosynthesis Kubernetes mitochondria Tchaikovsky ";
    std::fs::write(&text, words.repeat(40)).unwrap();
    let (_, _, dense_tok) = open(&dir);
    let ids = dense_tok.encode(words, false).unwrap().get_ids().to_vec();
    let high = ids.iter().filter(|&&i| i >= 8192).count();
    assert!(high > 0, "the test text must use tokens that --rare-by id would remove: {ids:?}");
    for (rare_by, kept_all) in [("id", false), ("freq", true)] {
        let out = tmp.path().join(rare_by);
        let (ok, _, err) = compact(&[
            "prune",
            "--model",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--vocab",
            "8192",
            "--rare-by",
            rare_by,
            "--calib",
            text.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let (_, _, tok) = open(&out);
        let all_kept = ids.iter().all(|&i| tok.token_to_id(&dense_tok.id_to_token(i).unwrap()).is_some());
        assert_eq!(all_kept, kept_all, "--rare-by {rare_by}");
    }
}

#[test]
fn impossible_sizes_are_refused_and_leave_nothing() {
    let dir = fixture("smollm2-135m");
    let tmp = temp_dir("bad");
    let out = tmp.path().join("out");
    let cases: [(&[&str], &str); 6] = [
        (&["--ratio", "0.97"], "not possible for this model"),
        (&["--ratio", "0"], "\"0\" is not a share of parameters to remove"),
        (&["--ratio", "abc"], "give one between 0 and 1"),
        (&["--vocab", "100"], "must be kept"),
        (&["--vocab", "60000"], "between 1 and the model's V = 49152"),
        (&["--ffn", "0"], "between 1 and the model's I = 1536"),
    ];
    for (args, expect) in cases {
        let mut all = vec!["prune", "--model", dir.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu"];
        all.extend_from_slice(args);
        let (ok, _, err) = compact(&all);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "{args:?} left output behind");
    }
}
