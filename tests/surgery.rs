//! Exact model surgery on the real SmolLM2-135M fixture: vocabulary pruning, FFN
//! channel pruning, round trips, and bad inputs — each checked against the dense model.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{block_on, fixture, open};
use compact::engine::cpu::{self, ForwardOptions, Logits};
use compact::io::{DirFolder, DirOutput};
use compact::model::ModelInfo;
use compact::progress::Silent;
use compact::prune::KeepSet;
use compact::prune::export::export;
use compact::prune::select::top_channels;
use compact::tokenizer::sentencepiece;
use compact::tokenizer::surgery::{Vocab, remap};
use serde_json::Value;

const PARAGRAPH: &str = "The people of the city said that they would make a new school for the children. \
It was a good day, and the sun was in the sky when the man and his family came home from the long walk.";

fn json(dir: &Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

fn prune_to(src: &Path, keep: &KeepSet) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pruned");
    let folder = DirFolder::new(src).unwrap();
    block_on(async {
        let info = ModelInfo::load(&folder).await.unwrap();
        export(&folder, &info, keep, &Default::default(), None, DirOutput::new(&out, false, &[]).unwrap(), &mut Silent).await.unwrap();
    });
    tmp
}

fn vocab_keep(dir: &Path, v: usize) -> Vec<u32> {
    let (info, _, _) = open(dir);
    Vocab::from_bytes(&std::fs::read(dir.join("tokenizer.json")).unwrap(), info.config.vocab_size).unwrap().keep(v, None).unwrap()
}

#[test]
fn vocab_only_pruning_to_16384_is_exact_on_kept_tokens() {
    check_vocab_pruning("smollm2-135m", 16384);
}

/// SentencePiece-style BPE with byte fallback, where single characters have high ids.
#[test]
fn gemma3_vocab_pruning_is_exact_on_kept_tokens() {
    check_vocab_pruning("gemma3-270m", 65536);
}

/// Qwen's special tokens sit at the top of the vocabulary, above 271 unused rows.
#[test]
fn qwen2_vocab_pruning_is_exact_on_kept_tokens() {
    check_vocab_pruning("qwen2.5-0.5b", 49536);
}

fn check_vocab_pruning(model: &str, v: usize) {
    let dense_dir = fixture(model);
    let keep = vocab_keep(&dense_dir, v);
    assert_eq!(keep.len(), v);
    let tmp = prune_to(&dense_dir, &KeepSet { tokens: Some(keep.clone()), channels: None });
    let pruned_dir = tmp.path().join("pruned");
    let map = remap(&keep);

    let (dinfo, dck, dtok) = open(&dense_dir);
    let (pinfo, pck, ptok) = open(&pruned_dir);
    assert_eq!(pinfo.config.vocab_size, v);
    assert_eq!(pinfo.summary().params.counted.embedding, (v * dinfo.config.hidden_size) as u64);

    // Re-encoding: a paragraph of kept tokens tokenizes to the same strings.
    let dense_ids = compact::tokenizer::encode(&dtok, PARAGRAPH).unwrap();
    assert!(dense_ids.iter().all(|i| map.contains_key(i)), "the test paragraph must use kept tokens only");
    let enc_d = dtok.encode(PARAGRAPH, true).unwrap();
    let enc_p = ptok.encode(PARAGRAPH, true).unwrap();
    assert_eq!(enc_d.get_tokens(), enc_p.get_tokens());
    let pruned_ids: Vec<u32> = enc_p.get_ids().to_vec();
    assert_eq!(pruned_ids, dense_ids.iter().map(|i| map[i]).collect::<Vec<_>>());
    assert_eq!(ptok.decode(&pruned_ids, false).unwrap(), dtok.decode(&dense_ids, false).unwrap());

    // Special tokens keep their strings, and every file agrees on their ids.
    let (dt, pt) = (json(&dense_dir, "tokenizer.json"), json(&pruned_dir, "tokenizer.json"));
    let ptc = json(&pruned_dir, "tokenizer_config.json");
    for (a, b) in dt["added_tokens"].as_array().unwrap().iter().zip(pt["added_tokens"].as_array().unwrap()) {
        assert_eq!(a["content"], b["content"]);
        let new = map[&(a["id"].as_u64().unwrap() as u32)];
        assert_eq!(b["id"], new);
        assert_eq!(ptok.id_to_token(new).as_deref(), a["content"].as_str());
        assert_eq!(ptc["added_tokens_decoder"][new.to_string()]["content"], a["content"]);
    }
    for file in ["config.json", "generation_config.json"] {
        let (d, p) = (json(&dense_dir, file), json(&pruned_dir, file));
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
            if let Some(old) = d[key].as_u64() {
                let new = p[key].as_u64().unwrap() as u32;
                assert_eq!(ptok.id_to_token(new), dtok.id_to_token(old as u32), "{file} {key}");
            }
        }
    }

    // SentencePiece's tokenizer.model (Gemma) names the same tokens at the same ids.
    if dense_dir.join(sentencepiece::FILE).exists() {
        let pieces = sentencepiece::pieces(&std::fs::read(pruned_dir.join(sentencepiece::FILE)).unwrap()).unwrap();
        let dense_pieces = sentencepiece::pieces(&std::fs::read(dense_dir.join(sentencepiece::FILE)).unwrap()).unwrap();
        assert_eq!(pieces.len(), keep.iter().filter(|&&i| (i as usize) < dense_pieces.len()).count());
        for (new, piece) in pieces.iter().enumerate() {
            assert_eq!(ptok.id_to_token(new as u32).as_deref(), Some(piece.as_str()), "id {new}");
            assert_eq!(&dense_pieces[keep[new] as usize], piece);
        }
    }

    // The model: logits at kept ids equal the dense model's, hidden states identical.
    let opts = ForwardOptions { logits: Logits::All, ..Default::default() };
    let d = block_on(cpu::forward(&dinfo.config, &dck, &dense_ids, &opts)).unwrap();
    let p = block_on(cpu::forward(&pinfo.config, &pck, &pruned_ids, &opts)).unwrap();
    assert_eq!(d.final_hidden, p.final_hidden, "hidden states must be bit-identical");
    let (dv, pv) = (dinfo.config.vocab_size, v);
    let mut worst = 0f32;
    for pos in 0..dense_ids.len() {
        for (new, &old) in keep.iter().enumerate() {
            worst = worst.max((d.logits[pos * dv + old as usize] - p.logits[pos * pv + new]).abs());
        }
    }
    assert!(worst < 1e-4, "max |Δlogit| at kept ids = {worst}");
}

#[test]
fn ffn_pruning_equals_zeroing_the_channels() {
    let dense_dir = fixture("smollm2-135m");
    let (info, ck, tok) = open(&dense_dir);
    let ids = compact::tokenizer::encode(&tok, PARAGRAPH).unwrap();
    let weights = vec![1f32; ids.len()];
    let act2 = ForwardOptions { act2_weights: Some(&weights), logits: Logits::None, ..Default::default() };
    let importance = block_on(cpu::forward(&info.config, &ck, &ids, &act2)).unwrap().importance;
    let channels = top_channels(&importance, 1024).unwrap();
    let tmp = prune_to(&dense_dir, &KeepSet { tokens: None, channels: Some(channels.clone()) });
    let (pinfo, pck, _) = open(&tmp.path().join("pruned"));
    assert_eq!(pinfo.config.intermediate_size, 1024);
    assert_eq!(pinfo.summary().params.counted.ffn, 3 * 30 * 576 * 1024);

    let zeroed = ForwardOptions { logits: Logits::All, ffn_keep: Some(&channels), ..Default::default() };
    let d = block_on(cpu::forward(&info.config, &ck, &ids, &zeroed)).unwrap();
    let p = block_on(cpu::forward(&pinfo.config, &pck, &ids, &ForwardOptions { logits: Logits::All, ..Default::default() })).unwrap();
    let scale = d.logits.iter().fold(0f32, |m, x| m.max(x.abs()));
    let worst = d.logits.iter().zip(&p.logits).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst / scale < 1e-5, "max |Δlogit| = {worst} (scale {scale})");
}

/// Tensor name → raw bytes, for bit-for-bit comparisons.
fn tensor_bytes(dir: &Path) -> HashMap<String, Vec<u8>> {
    let (info, ck, _) = open(dir);
    info.tensors().map(|t| (t.name.clone(), block_on(ck.raw(&t.name)).unwrap())).collect()
}

#[test]
fn keeping_everything_reproduces_the_tensors_bit_for_bit() {
    let dense_dir = fixture("smollm2-135m");
    let dense = tensor_bytes(&dense_dir);
    let all: Vec<Vec<u32>> = (0..30).map(|_| (0..1536).collect()).collect();
    for keep in [KeepSet::default(), KeepSet { tokens: None, channels: Some(all) }] {
        let tmp = prune_to(&dense_dir, &keep);
        let out = tmp.path().join("pruned");
        assert_eq!(tensor_bytes(&out), dense);
        assert_eq!(json(&out, "tokenizer.json"), json(&dense_dir, "tokenizer.json"));
        let meta = |d: &Path| block_on(ModelInfo::load(&DirFolder::new(d).unwrap())).unwrap().shards[0].metadata.clone();
        assert_eq!(meta(&out), meta(&dense_dir), "__metadata__ is kept");
    }
}

#[test]
fn output_is_deterministic() {
    let dense_dir = fixture("smollm2-135m");
    let keep = KeepSet { tokens: Some(vocab_keep(&dense_dir, 8000)), channels: Some((0..30).map(|l| (l..l + 512).collect()).collect()) };
    let (a, b) = (prune_to(&dense_dir, &keep), prune_to(&dense_dir, &keep));
    for file in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        let (x, y) =
            (std::fs::read(a.path().join("pruned").join(file)).unwrap(), std::fs::read(b.path().join("pruned").join(file)).unwrap());
        assert!(x == y, "{file} differs between two runs");
    }
}

/// A folder as published, with the slow tokenizers' vocab.json / merges.txt /
/// added_tokens.json beside tokenizer.json: they are pruned to the same vocabulary.
#[test]
fn slow_tokenizer_files_are_pruned_with_the_vocabulary() {
    let dense_dir = fixture("smollm2-135m");
    let folder = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::os::unix::fs::symlink(dense_dir.join(f), folder.path().join(f)).unwrap();
    }
    let tok = json(&dense_dir, "tokenizer.json");
    let merge_line = |m: &Value| match m {
        Value::String(s) => s.clone(),
        Value::Array(p) => format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()),
        other => panic!("merge {other}"),
    };
    let merges_txt = |t: &Value| {
        let lines: Vec<String> = t["model"]["merges"].as_array().unwrap().iter().map(merge_line).collect();
        format!("#version: 0.2\n{}\n", lines.join("\n"))
    };
    std::fs::write(folder.path().join("vocab.json"), tok["model"]["vocab"].to_string()).unwrap();
    std::fs::write(folder.path().join("merges.txt"), merges_txt(&tok)).unwrap();
    let added: serde_json::Map<String, Value> =
        tok["added_tokens"].as_array().unwrap().iter().map(|t| (t["content"].as_str().unwrap().to_string(), t["id"].clone())).collect();
    std::fs::write(folder.path().join("added_tokens.json"), Value::Object(added).to_string()).unwrap();
    // The dense weights in another format are left out; other files are copied.
    std::fs::write(folder.path().join("pytorch_model.bin"), b"dense weights").unwrap();
    std::fs::write(folder.path().join("README.md"), b"# the model card").unwrap();

    let keep = vocab_keep(&dense_dir, 16384);
    let tmp = prune_to(folder.path(), &KeepSet { tokens: Some(keep), channels: None });
    let pruned = tmp.path().join("pruned");
    let pt = json(&pruned, "tokenizer.json");
    assert_eq!(json(&pruned, "vocab.json"), pt["model"]["vocab"]);
    let merges = std::fs::read_to_string(pruned.join("merges.txt")).unwrap();
    assert_eq!(merges, merges_txt(&pt));
    assert!(merges.lines().count() < merges_txt(&tok).lines().count(), "merges of removed tokens go");
    for t in pt["added_tokens"].as_array().unwrap() {
        assert_eq!(json(&pruned, "added_tokens.json")[t["content"].as_str().unwrap()], t["id"]);
    }
    assert!(!pruned.join("pytorch_model.bin").exists());
    assert_eq!(std::fs::read(pruned.join("README.md")).unwrap(), b"# the model card");
}

#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let dense_dir = fixture("smollm2-135m");
    let (info, _, _) = open(&dense_dir);
    let vocab = Vocab::from_bytes(&std::fs::read(dense_dir.join("tokenizer.json")).unwrap(), 49152).unwrap();
    let e = vocab.keep(100, None).unwrap_err().to_string();
    assert!(e.contains("below the") && e.contains("must be kept"), "{e}");
    assert!(matches!(
        top_channels(&vec![vec![1.0; 1536]; 30], 0),
        Err(compact::Error::Plan(compact::error::PlanError::FfnOutOfRange { asked: 0, ffn: 1536 }))
    ));
    assert!(top_channels(&vec![vec![1.0; 1536]; 30], 1537).is_err());
    let too_many = KeepSet { tokens: None, channels: Some(vec![(0..1537).collect(); 30]) };
    assert!(too_many.validate(&info.config).is_err());

    // An existing non-empty output folder needs --force.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "x").unwrap();
    let e = DirOutput::new(tmp.path(), false, &[]).err().unwrap();
    assert!(matches!(e, compact::Error::OutputExists { .. }) && e.to_string().contains("already exists and is not empty"), "{e}");
    assert!(e.hint().is_some_and(|h| h.contains("--force")), "{:?}", e.hint());

    // Failing exports leave no output folder behind.
    let fail = |dir: &Path, keep: KeepSet| -> compact::Error {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("pruned");
        let folder = DirFolder::new(dir).unwrap();
        let e = block_on(async {
            let info = ModelInfo::load(&folder).await?;
            export(&folder, &info, &keep, &Default::default(), None, DirOutput::new(&target, false, &[])?, &mut Silent).await
        })
        .unwrap_err();
        assert!(std::fs::read_dir(out.path()).unwrap().next().is_none(), "something was left in the output: {e}");
        e
    };
    let broken = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "generation_config.json"] {
        std::os::unix::fs::symlink(dense_dir.join(f), broken.path().join(f)).unwrap();
    }
    let e = fail(broken.path(), KeepSet { tokens: Some(vocab_keep(&dense_dir, 16384)), channels: None });
    assert!(e.to_string().contains("tokenizer.json is missing"), "{e}");

    // A tokenizer.model that does not describe tokenizer.json's vocabulary.
    std::os::unix::fs::symlink(dense_dir.join("tokenizer.json"), broken.path().join("tokenizer.json")).unwrap();
    let tokens: Vec<String> = (0..49152).map(|i| format!("piece{i}")).collect();
    let pieces: Vec<sentencepiece::Piece<'_>> = tokens.iter().map(|t| (t.as_str(), 0.0, 1)).collect();
    let spec = sentencepiece::BpeSpec { unk: None, bos: None, eos: None, pad: None, add_dummy_prefix: false };
    std::fs::write(broken.path().join(sentencepiece::FILE), sentencepiece::write_bpe(&pieces, &spec)).unwrap();
    let e = fail(broken.path(), KeepSet { tokens: Some(vocab_keep(&dense_dir, 16384)), channels: None });
    assert!(e.to_string().contains("tokenizer.model and tokenizer.json disagree at kept id 0"), "{e}");
    assert!(e.hint().is_some_and(|h| h.contains("remove tokenizer.model")), "{:?}", e.hint());
    std::fs::remove_file(broken.path().join(sentencepiece::FILE)).unwrap();
    std::fs::remove_file(broken.path().join("tokenizer.json")).unwrap();

    let mut cfg = json(&dense_dir, "config.json");
    cfg["intermediate_size"] = 2048.into();
    std::fs::remove_file(broken.path().join("config.json")).unwrap();
    std::fs::write(broken.path().join("config.json"), cfg.to_string()).unwrap();
    let e = fail(broken.path(), KeepSet::default()).to_string();
    assert!(e.contains("gate_proj") && e.contains("config.json implies [2048, 576]"), "{e}");

    cfg["intermediate_size"] = 1536.into();
    cfg["num_hidden_layers"] = 31.into();
    std::fs::write(broken.path().join("config.json"), cfg.to_string()).unwrap();
    let e = fail(broken.path(), KeepSet::default()).to_string();
    assert!(e.contains("model.layers.30") && e.contains("is missing"), "{e}");
}

/// A sharded copy of SmolLM2 (two safetensors files + model.safetensors.index.json)
/// reads, runs and prunes exactly like the single file.
#[test]
fn sharded_checkpoints_read_and_prune_like_single_files() {
    use compact::model::safetensors::{Layout, TensorSpec};
    let dense_dir = fixture("smollm2-135m");
    let (info, ck, tok) = open(&dense_dir);
    let sharded = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
        std::fs::copy(dense_dir.join(f), sharded.path().join(f)).unwrap();
    }
    let names: Vec<_> = info.tensors().map(|t| t.name.clone()).collect();
    let mut weight_map = serde_json::Map::new();
    for (i, part) in names.chunks(names.len() / 2 + 1).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let specs = part
            .iter()
            .map(|n| {
                let t = ck.info(n).unwrap();
                TensorSpec { name: n.clone(), dtype: t.dtype, shape: t.shape.clone() }
            })
            .collect();
        let layout = Layout::new(specs, &info.shards[0].metadata).unwrap();
        let mut bytes = layout.header.clone();
        for (spec, _) in &layout.tensors {
            bytes.extend(block_on(ck.raw(&spec.name)).unwrap());
            weight_map.insert(spec.name.clone(), file.clone().into());
        }
        std::fs::write(sharded.path().join(&file), bytes).unwrap();
    }
    std::fs::write(
        sharded.path().join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": weight_map}).to_string(),
    )
    .unwrap();

    let (sinfo, sck, _) = open(sharded.path());
    assert_eq!(sinfo.shards.len(), 2);
    assert_eq!(sinfo.summary().total, info.summary().total);
    let ids = compact::tokenizer::encode(&tok, PARAGRAPH).unwrap();
    let a = block_on(cpu::forward(&info.config, &ck, &ids, &ForwardOptions::default())).unwrap();
    let b = block_on(cpu::forward(&sinfo.config, &sck, &ids, &ForwardOptions::default())).unwrap();
    assert_eq!(a.logits, b.logits);

    let keep = KeepSet { tokens: Some(vocab_keep(&dense_dir, 16384)), channels: Some((0..30).map(|l| (l..l + 512).collect()).collect()) };
    let (x, y) = (prune_to(&dense_dir, &keep), prune_to(sharded.path(), &keep));
    assert_eq!(tensor_bytes(&x.path().join("pruned")), tensor_bytes(&y.path().join("pruned")));
    assert!(!y.path().join("pruned/model.safetensors.index.json").exists(), "the output is one file");
}
