//! Paper step 1, the plan. Sizing: which vocabulary size V' and intermediate size I' a pruning run targets,
//! and the parameter counts that follow, known before any weight is read.
//!
//! Pruning scales exactly two groups of tensors: the vocabulary rows (embedding, and
//! lm_head when it is not tied) by V'/V and the FFN (gate, up, down of every layer) by
//! I'/I; attention and norms stay. So the counts after pruning follow from the
//! header's counts before it, and a target reduction R of total parameters becomes a
//! choice of (V', I'), both rounded to hardware-friendly multiples (V' to 64, I' to 32).
//!
//! The default policy, [`Policy::VocabFirst`], removes vocabulary first, down to a
//! floor of a third of the rows, and then FFN channels; only when that is not enough
//! does vocabulary go below the floor. It follows the paper's sweeps (Table 6 and
//! Table 8: Qwen2.5-0.5B keeps 49536 ≈ V/3 rows at 20% and 35%, and its 35% sweep
//! peaks there) and our own sweep on SmolLM2-135M (README, "Choosing V' and I'").

use serde::Serialize;

use crate::error::{PlanError, Result};
use crate::model::ModelConfig;
use crate::model::params::ParamCounts;
use crate::tokenizer::TokenizerFile;

/// V' is rounded to a multiple of this.
pub const VOCAB_MULTIPLE: usize = 64;
/// I' is rounded to a multiple of this.
pub const FFN_MULTIPLE: usize = 32;

/// What to prune to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Remove this share of all parameters (0 < R < 1), split by the default policy.
    Ratio(f64),
    /// Explicit V' and I' (`None` keeps that part whole).
    Sizes {
        /// V'.
        vocab: Option<usize>,
        /// I'.
        ffn: Option<usize>,
    },
}

/// A share of parameters to remove as people write it: `0.35` or `35%`, strictly
/// between 0 and 1.
pub fn parse_ratio(s: &str) -> Result<f64> {
    let (num, per) = match s.trim().strip_suffix('%') {
        Some(p) => (p, 100.0),
        None => (s.trim(), 1.0),
    };
    match num.trim().parse::<f64>().map(|r| r / per) {
        Ok(r) if r > 0.0 && r < 1.0 => Ok(r),
        _ => Err(PlanError::NotARatio { given: s.trim().to_string() }.into()),
    }
}

/// How a target reduction is split between vocabulary and FFN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// Vocabulary down to `floor` × V first, then FFN channels, then the rest of the
    /// vocabulary.
    VocabFirst {
        /// The share of V kept before FFN channels go.
        floor: f64,
    },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::VocabFirst { floor: 1.0 / 3.0 }
    }
}

/// A pruning target and the parameters it leaves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunePlan {
    /// Vocabulary rows before and after (V, V').
    pub vocab: (usize, usize),
    /// Intermediate size before and after (I, I').
    pub ffn: (usize, usize),
    /// Parameters by part, before pruning.
    pub before: ParamCounts,
    /// Parameters by part, after pruning.
    pub after: ParamCounts,
}

impl PrunePlan {
    /// The plan for `target`: with a ratio, vocabulary is only planned down to what the
    /// tokenizer allows (nothing without a prunable tokenizer: FFN only).
    pub fn for_target(cfg: &ModelConfig, counts: &ParamCounts, target: Target, tokenizer: Option<&TokenizerFile>) -> Result<Self> {
        match target {
            Target::Ratio(r) => {
                let min_vocab = tokenizer.map_or(cfg.vocab_size, |t| t.min_rows(cfg));
                Self::from_ratio(cfg, counts, r, Policy::default(), min_vocab)
            }
            Target::Sizes { vocab, ffn } => Self::explicit(cfg, counts, vocab, ffn),
        }
    }

    /// The plan for explicit sizes `vocab` = V' and `ffn` = I' (`None` keeps that part).
    /// `counts` are the checkpoint's parameter counts (from its header).
    pub fn explicit(cfg: &ModelConfig, counts: &ParamCounts, vocab: Option<usize>, ffn: Option<usize>) -> Result<Self> {
        let (v, i) = (cfg.vocab_size, cfg.intermediate_size);
        let (v2, i2) = (vocab.unwrap_or(v), ffn.unwrap_or(i));
        if v2 == 0 || v2 > v {
            return Err(PlanError::VocabOutOfRange { asked: v2, vocab: v }.into());
        }
        if i2 == 0 || i2 > i {
            return Err(PlanError::FfnOutOfRange { asked: i2, ffn: i }.into());
        }
        let scale = |n: u64, num: usize, den: usize| n / den as u64 * num as u64;
        let after = ParamCounts {
            embedding: scale(counts.embedding, v2, v),
            lm_head: scale(counts.lm_head, v2, v),
            ffn: scale(counts.ffn, i2, i),
            ..counts.clone()
        };
        Ok(Self { vocab: (v, v2), ffn: (i, i2), before: counts.clone(), after })
    }

    /// The plan that removes at least `ratio` of all parameters (0 < ratio < the most
    /// achievable), splitting it by `policy`; `min_vocab` is the fewest rows the
    /// tokenizer allows (special and byte tokens).
    pub fn from_ratio(cfg: &ModelConfig, counts: &ParamCounts, ratio: f64, policy: Policy, min_vocab: usize) -> Result<Self> {
        let (v, i) = (cfg.vocab_size, cfg.intermediate_size);
        let (v_min, i_min) = smallest(cfg, min_vocab);
        let most = Self::max_reduction(cfg, counts, min_vocab)?;
        if !(ratio > 0.0 && ratio <= most) {
            return Err(PlanError::RatioOutOfRange { ratio, most, min_vocab: v_min, min_ffn: i_min }.into());
        }
        let total = counts.total();
        let need = (ratio * total as f64).ceil() as u64;
        let per_row = (counts.embedding + counts.lm_head) / v as u64;
        let per_channel = counts.ffn / i as u64;
        let Policy::VocabFirst { floor } = policy;
        let v_floor = round_up((floor * v as f64) as usize, VOCAB_MULTIPLE).clamp(v_min, v);

        // Rows to remove for `removed` parameters, rounded so at least that many go.
        let rows_for = |removed: u64, from: usize, lowest: usize| -> usize {
            let drop = removed.div_ceil(per_row.max(1)) as usize;
            round_down(from.saturating_sub(drop), VOCAB_MULTIPLE).max(lowest)
        };
        let vocab_at_floor = (v - v_floor) as u64 * per_row;
        let (v2, i2) = if need <= vocab_at_floor {
            (rows_for(need, v, v_floor), i)
        } else {
            let rest = need - vocab_at_floor;
            let drop = rest.div_ceil(per_channel.max(1)) as usize;
            let i2 = round_down(i.saturating_sub(drop), FFN_MULTIPLE).max(i_min);
            let ffn_removed = (i - i2) as u64 * per_channel;
            if vocab_at_floor + ffn_removed >= need { (v_floor, i2) } else { (rows_for(need - ffn_removed, v, v_min), i2) }
        };
        let plan = Self::explicit(cfg, counts, Some(v2), Some(i2))?;
        debug_assert!(plan.reduction() + 1e-12 >= ratio);
        Ok(plan)
    }

    /// The largest reduction any plan reaches: V' at the tokens that must stay
    /// (`min_vocab`, rounded up to a multiple of 64) and I' = 32.
    pub fn max_reduction(cfg: &ModelConfig, counts: &ParamCounts, min_vocab: usize) -> Result<f64> {
        let (v_min, i_min) = smallest(cfg, min_vocab);
        Ok(Self::explicit(cfg, counts, Some(v_min), Some(i_min))?.reduction())
    }

    /// Share of all parameters removed.
    pub fn reduction(&self) -> f64 {
        1.0 - self.after.total() as f64 / self.before.total().max(1) as f64
    }

    /// Bytes of model.safetensors' tensor data after pruning at `bytes_per_param`.
    pub fn file_bytes(&self, bytes_per_param: u64) -> u64 {
        self.after.total() * bytes_per_param
    }
}

/// The smallest V' and I' a plan may have.
fn smallest(cfg: &ModelConfig, min_vocab: usize) -> (usize, usize) {
    (round_up(min_vocab.max(1), VOCAB_MULTIPLE).min(cfg.vocab_size), FFN_MULTIPLE.min(cfg.intermediate_size))
}

fn round_up(n: usize, m: usize) -> usize {
    n.div_ceil(m) * m
}

fn round_down(n: usize, m: usize) -> usize {
    n / m * m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen2.5-0.5B's counts: tied 151936 × 896 embedding, 24 layers of I = 4864.
    fn qwen() -> (ModelConfig, ParamCounts) {
        let cfg = ModelConfig::from_value(serde_json::json!({"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
            "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
            "tie_word_embeddings": true}))
        .unwrap();
        let (d, l) = (896u64, 24u64);
        let counts = ParamCounts {
            embedding: 151936 * d,
            lm_head: 0,
            ffn: l * 3 * d * 4864,
            attention: l * (2 * d * 896 + 2 * d * 128 + 896 + 2 * 128),
            norms: l * 2 * d + d,
            other: 0,
        };
        (cfg, counts)
    }

    #[test]
    fn ratios_as_people_write_them() {
        assert_eq!(parse_ratio("35%").unwrap(), 0.35);
        assert_eq!(parse_ratio(" 0.2 ").unwrap(), 0.2);
        for bad in ["0", "100%", "1.5", "x", "", "-3%"] {
            let e = parse_ratio(bad).unwrap_err();
            assert!(matches!(e, crate::Error::Plan(PlanError::NotARatio { .. })), "{bad}: {e}");
        }
    }

    #[test]
    fn paper_table_8_sizes_give_its_table_2_counts() {
        let (cfg, counts) = qwen();
        assert_eq!(counts.total(), 494_032_768, "Qwen2.5-0.5B has 494M parameters");
        for (v, i, millions, ratio) in [(99968, 4736, 439, 11.13), (49536, 4736, 394, 20.24), (49536, 3456, 311, 37.04)] {
            let p = PrunePlan::explicit(&cfg, &counts, Some(v), Some(i)).unwrap();
            assert_eq!((p.after.total() as f64 / 1e6).round() as u64, millions, "V' = {v}, I' = {i}");
            // The paper's ratios come from its rounded millions: 1 − 439/494 = 11.13%.
            let rounded = 100.0 * (1.0 - millions as f64 / 494.0);
            assert!((rounded - ratio).abs() < 0.005, "{rounded:.2}% vs {ratio}%");
            assert!((p.reduction() * 100.0 - ratio).abs() < 0.1, "V' = {v}, I' = {i}: {:.2}%", p.reduction() * 100.0);
        }
    }

    #[test]
    fn ratio_takes_vocabulary_to_a_third_then_ffn() {
        let (cfg, counts) = qwen();
        for r in [0.05, 0.10, 0.20, 0.35, 0.5, 0.6] {
            let p = PrunePlan::from_ratio(&cfg, &counts, r, Policy::default(), 300).unwrap();
            let (v2, i2) = (p.vocab.1, p.ffn.1);
            assert_eq!((v2 % 64, i2 % 32), (0, 0));
            assert!(p.reduction() >= r && p.reduction() < r + 0.005, "{r}: {}", p.reduction());
            if i2 < 4864 && r < 0.6 {
                assert_eq!(v2, 50688, "{r}: vocabulary goes to the floor before any channel");
            }
        }
        // At the paper's 20% the rule lands on the paper's I' (its V' is 49536).
        let p = PrunePlan::from_ratio(&cfg, &counts, 0.20, Policy::default(), 300).unwrap();
        assert_eq!((p.vocab.1, p.ffn.1), (50688, 4736));
        let p = PrunePlan::from_ratio(&cfg, &counts, 0.10, Policy::default(), 300).unwrap();
        assert_eq!(p.ffn.1, 4864, "10% comes from the vocabulary alone");
    }

    #[test]
    fn impossible_ratios_say_what_is_possible() {
        let (cfg, counts) = qwen();
        for r in [0.0, -0.1, 0.99, f64::NAN] {
            let e = PrunePlan::from_ratio(&cfg, &counts, r, Policy::default(), 300).unwrap_err().to_string();
            assert!(e.contains("not possible") && e.contains("at most"), "{e}");
        }
        let most = PrunePlan::explicit(&cfg, &counts, Some(320), Some(32)).unwrap().reduction();
        let p = PrunePlan::from_ratio(&cfg, &counts, most, Policy::default(), 300).unwrap();
        assert_eq!((p.vocab.1, p.ffn.1), (320, 32));
        assert!(PrunePlan::explicit(&cfg, &counts, Some(151937), None).unwrap_err().to_string().contains("between 1 and"));
        assert!(PrunePlan::explicit(&cfg, &counts, None, Some(0)).unwrap_err().to_string().contains("between 1 and"));
    }
}
