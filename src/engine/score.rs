//! Scoring token sequences: for chosen positions, the log-probability of the token
//! there and the model's own top-1 token. Zero-shot accuracy, perplexity and top-1
//! agreement ([`crate::eval`]) are all built on it; [`super::Device::score`] runs it
//! on the GPU or the CPU reference.

use std::ops::Range;

use super::{cpu, forward, gpu::Gpu};
use crate::error::{Error, Result};
use crate::io::ByteSource;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{Cancel, Progress, ProgressSink};

/// A token sequence and the positions scored: for every `p` in `targets`, the
/// log-probability of `tokens[p]` given `tokens[..p]` (so `targets.start ≥ 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    /// The whole sequence.
    pub tokens: Vec<u32>,
    /// The positions scored.
    pub targets: Range<usize>,
}

impl Scored {
    /// Every position after the first: how perplexity and agreement read a window.
    pub fn window(tokens: &[u32]) -> Self {
        Self { tokens: tokens.to_vec(), targets: 1..tokens.len() }
    }
}

/// A scored position: the target's log-probability and the model's own top token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    /// log p(target | context).
    pub logprob: f64,
    /// The arg-max token at that position.
    pub top1: u32,
}

/// From one row of logits: log-softmax at `target`, and the arg-max.
pub fn score_row(logits: &[f32], target: u32) -> Result<TokenScore> {
    let top1 = next_token(logits)?;
    let max = logits[top1 as usize] as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    Ok(TokenScore { logprob: logits[target as usize] as f64 - max - sum.ln(), top1 })
}

/// The greedy next token of a row of logits: the first largest one, or an error when a
/// logit is NaN or infinite (the arg-max of NaN would silently be token 0).
pub fn next_token(logits: &[f32]) -> Result<u32> {
    if let Some(i) = logits.iter().position(|l| !l.is_finite()) {
        return Err(Error::NonFinite { what: format!("the model's output (logit of token {i})"), in_weights: false });
    }
    Ok(cpu::argmax(logits) as u32)
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

/// Checks every sequence's targets: at least one token of context, inside the sequence.
pub(super) fn check(seqs: &[Scored]) -> Result<()> {
    match seqs.iter().find(|s| s.targets.start == 0 || s.targets.end > s.tokens.len()) {
        Some(s) => Err(Error::Internal(format!("targets {:?} of a {}-token sequence", s.targets, s.tokens.len()))),
        None => Ok(()),
    }
}

/// Reports `n` more sequences scored.
fn report(done: &mut u64, n: usize, total: usize, progress: &mut dyn ProgressSink) {
    *done += n as u64;
    progress.report(Progress { stage: "scoring".into(), done: *done, total: total as u64 });
}

/// Scores every sequence on the CPU reference (targets [`check`]ed); progress counts
/// sequences.
pub(super) async fn on_cpu<S: ByteSource>(
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    seqs: &[Scored],
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<Vec<Vec<TokenScore>>> {
    let mut out: Vec<Vec<TokenScore>> = vec![Vec::new(); seqs.len()];
    let (v, d, mut done) = (cfg.vocab_size, cfg.hidden_size, 0u64);
    // Several sequences per pass (each layer's weights are read once for all), a
    // context shared by consecutive sequences computed once, then logits only for the
    // rows that predict a target. Natively the passes run on the threads at once.
    let groups = shared_prefixes(seqs);
    let cost = |(r, shared): &(Range<usize>, usize)| shared + r.clone().map(|i| seqs[i].targets.end - 1 - shared).sum::<usize>();
    // As many passes as CPU_CALL_TOKENS needs, rounded up to a multiple of the
    // threads, each filled up to an even share of the tokens, so the threads finish
    // together (whole groups only: where they do not pack evenly, one more pass).
    let all: usize = groups.iter().map(cost).sum();
    let threads = crate::parallel::threads();
    let per_pass = all.div_ceil(all.div_ceil(CPU_CALL_TOKENS).next_multiple_of(threads).max(1));
    let mut passes = Vec::new();
    let mut g = 0;
    while g < groups.len() {
        let (mut end, mut tokens) = (g + 1, cost(&groups[g]));
        while end < groups.len() && tokens + cost(&groups[end]) <= per_pass {
            tokens += cost(&groups[end]);
            end += 1;
        }
        passes.push(&groups[g..end]);
        g = end;
    }
    let pass = |p: usize| {
        let groups = passes[p];
        async move {
            cancel.check()?;
            // Segments of the pass, and for every sequence its first own row.
            let (mut segments, mut own, mut row) = (Vec::new(), Vec::new(), 0);
            for (r, shared) in groups {
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
                for (r, &target) in t.iter().enumerate() {
                    scores.push(score_row(&logits[r * v..(r + 1) * v], target)?);
                }
            }
            let mut next = scores.into_iter();
            Ok(own
                .iter()
                .map(|&(i, ..)| (i, next.by_ref().take(seqs[i].targets.len()).collect()))
                .collect::<Vec<(usize, Vec<TokenScore>)>>())
        }
    };
    crate::parallel::jobs_in_order(passes.len(), pass, |p, scored| {
        for (i, scores) in scored {
            out[i] = scores;
        }
        let groups = passes[p];
        report(&mut done, groups[groups.len() - 1].0.end - groups[0].0.start, seqs.len(), progress);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Scores every sequence on the GPU (targets [`check`]ed); progress counts sequences.
pub(super) async fn on_gpu<S: ByteSource>(
    gpu: &Gpu,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    seqs: &[Scored],
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<Vec<Vec<TokenScore>>> {
    let mut out: Vec<Vec<TokenScore>> = vec![Vec::new(); seqs.len()];
    let (v, mut done) = (cfg.vocab_size, 0u64);
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
            out[i] = s
                .targets
                .clone()
                .map(|p| score_row(&logits[(row + p - s.targets.start) * v..][..v], s.tokens[p]))
                .collect::<Result<_>>()?;
            row += s.targets.len();
        }
        report(&mut done, group.len(), seqs.len(), progress);
        k = end;
    }
    Ok(out)
}
