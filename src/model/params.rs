//! Where a model's parameters live (paper §3.1): counted from the safetensors header,
//! and predicted from config.json by the paper's formulas
//! `N_vocab = 2VD` (`VD` when tied), `N_FFN = 3LDI`, `N_attention = 2LD²(1 + 1/H)`
//! with H = heads / kv heads. The formulas leave out norms and biases and assume
//! heads × head_dim = D; [`Breakdown::explain`] says how much each of those accounts for.

use std::collections::BTreeMap;

use serde::Serialize;

use super::config::ModelConfig;
use super::names::Part;
use super::safetensors::TensorIndex;

/// Parameters per [`Part`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    /// The input embedding (`V × D`).
    pub embedding: u64,
    /// The untied output projection (`V × D`; 0 when tied).
    pub lm_head: u64,
    /// FFN gate/up/down projections.
    pub ffn: u64,
    /// Attention q/k/v/o projections (and their biases, when counted).
    pub attention: u64,
    /// Norm weights (every RMSNorm, q/k norms, the final norm).
    pub norms: u64,
    /// Tensors outside the parts above (vision towers, …).
    pub other: u64,
}

impl ParamCounts {
    /// Counts every tensor of a checkpoint by its name.
    pub fn from_index(index: &TensorIndex) -> Self {
        let mut c = Self::default();
        for t in index.tensors() {
            *c.get_mut(Part::of(&t.name)) += t.numel();
        }
        c
    }

    /// The count of one part.
    pub fn get(&self, part: Part) -> u64 {
        match part {
            Part::Embedding => self.embedding,
            Part::LmHead => self.lm_head,
            Part::Ffn => self.ffn,
            Part::Attention => self.attention,
            Part::Norms => self.norms,
            Part::Other => self.other,
        }
    }

    fn get_mut(&mut self, part: Part) -> &mut u64 {
        match part {
            Part::Embedding => &mut self.embedding,
            Part::LmHead => &mut self.lm_head,
            Part::Ffn => &mut self.ffn,
            Part::Attention => &mut self.attention,
            Part::Norms => &mut self.norms,
            Part::Other => &mut self.other,
        }
    }

    /// Embedding plus lm_head: the paper's vocab parameters.
    pub fn vocab(&self) -> u64 {
        self.embedding + self.lm_head
    }

    /// All parameters.
    pub fn total(&self) -> u64 {
        Part::ALL.iter().map(|&p| self.get(p)).sum()
    }
}

/// The paper's formulas applied to a config, plus the exact counts of what they omit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Predicted {
    /// Eq. 1, 2 and 3 of the paper (norms and `other` are 0: the formulas have none).
    pub paper: ParamCounts,
    /// Attention projections counted exactly from heads × head_dim (differs from
    /// eq. 3 when heads × head_dim ≠ hidden size, as in Gemma-3).
    pub attention_exact: u64,
    /// q/k/v biases (Qwen2), not in eq. 3.
    pub attention_bias: u64,
    /// Norm weights (RMSNorm per layer, final norm, Gemma's q/k norms).
    pub norms: u64,
}

impl Predicted {
    /// Applies the formulas to `cfg`.
    pub fn from_config(cfg: &ModelConfig) -> Self {
        let (v, d, i, l) = (cfg.vocab_size as u64, cfg.hidden_size as u64, cfg.intermediate_size as u64, cfg.num_layers as u64);
        let (q, kv) = (cfg.q_dim() as u64, cfg.kv_dim() as u64);
        let h = cfg.num_heads as f64 / cfg.num_kv_heads as f64;
        let paper = ParamCounts {
            embedding: v * d,
            lm_head: if cfg.tie_word_embeddings { 0 } else { v * d },
            ffn: 3 * l * d * i,
            attention: (2.0 * (l * d * d) as f64 * (1.0 + 1.0 / h)).round() as u64,
            norms: 0,
            other: 0,
        };
        let attention_bias = if cfg.qkv_bias() { l * (q + 2 * kv) } else { 0 };
        let qk_norms = if cfg.qk_norm() { 2 * cfg.head_dim as u64 } else { 0 };
        Self {
            paper,
            attention_exact: l * (2 * d * q + 2 * d * kv),
            attention_bias,
            norms: l * (cfg.norms_per_layer() as u64 * d + qk_norms) + d,
        }
    }
}

/// Counted vs predicted parameters and the explanation of every difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    /// Counted from the safetensors header.
    pub counted: ParamCounts,
    /// Predicted from config.json by the paper's formulas.
    pub predicted: Predicted,
}

impl Breakdown {
    /// Compares `index` against the formulas for `cfg`.
    pub fn new(cfg: &ModelConfig, index: &TensorIndex) -> Self {
        Self { counted: ParamCounts::from_index(index), predicted: Predicted::from_config(cfg) }
    }

    /// One sentence per source of difference between the header and the formulas,
    /// or a single line saying they agree.
    pub fn explain(&self) -> Vec<String> {
        let (c, p) = (&self.counted, &self.predicted);
        let mut out = Vec::new();
        let diff = c.total() as i128 - p.paper.total() as i128;
        if diff == 0 {
            out.push("the header agrees exactly with the paper's formulas".into());
            return out;
        }
        out.push(format!("header total − formula total = {diff:+} parameters:"));
        if p.attention_exact != p.paper.attention {
            out.push(format!(
                "  attention: eq. 3 assumes heads × head_dim = hidden; here it is {} exactly from heads × head_dim ({:+})",
                human(p.attention_exact),
                p.attention_exact as i128 - p.paper.attention as i128
            ));
        }
        if p.attention_bias > 0 {
            out.push(format!("  q/k/v biases: {} (+{}), not in eq. 3", human(p.attention_bias), p.attention_bias));
        }
        if c.norms > 0 {
            out.push(format!("  norm weights: {} (+{}), not in any formula", human(c.norms), c.norms));
        }
        if c.other > 0 {
            out.push(format!("  other tensors: {} (+{}), outside the paper's groups", human(c.other), c.other));
        }
        let explained =
            p.attention_exact as i128 - p.paper.attention as i128 + p.attention_bias as i128 + c.norms as i128 + c.other as i128;
        if explained != diff {
            let rest = diff - explained;
            let mut parts = BTreeMap::new();
            for part in [Part::Embedding, Part::LmHead, Part::Ffn] {
                let d = c.get(part) as i128 - p.paper.get(part) as i128;
                if d != 0 {
                    parts.insert(part.label(), d);
                }
            }
            let d = c.attention as i128 - (p.attention_exact + p.attention_bias) as i128;
            if d != 0 {
                parts.insert("attention", d);
            }
            out.push(format!(
                "  unexplained: {rest:+} — the header's tensors do not match config.json's sizes ({})",
                parts.iter().map(|(k, v)| format!("{k} {v:+}")).collect::<Vec<_>>().join(", ")
            ));
        }
        out
    }
}

/// `134.5M`, `28.3M`, `1.24B`, `576`.
pub fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2}B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::safetensors::{Dtype, Layout, TensorSpec};

    fn tiny_cfg(extra: serde_json::Value) -> ModelConfig {
        let mut v = serde_json::json!({"model_type": "llama", "hidden_size": 8, "intermediate_size": 12,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "vocab_size": 10, "tie_word_embeddings": true});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        ModelConfig::from_value(v).unwrap()
    }

    fn index_for(cfg: &ModelConfig) -> TensorIndex {
        let (d, i, v) = (cfg.hidden_size as u64, cfg.intermediate_size as u64, cfg.vocab_size as u64);
        let (q, kv) = (cfg.q_dim() as u64, cfg.kv_dim() as u64);
        let mut specs = vec![(crate::model::names::EMBED.to_string(), vec![v, d]), ("model.norm.weight".into(), vec![d])];
        for l in 0..cfg.num_layers {
            for (p, s) in [("q_proj", vec![q, d]), ("k_proj", vec![kv, d]), ("v_proj", vec![kv, d]), ("o_proj", vec![d, q])] {
                specs.push((format!("model.layers.{l}.self_attn.{p}.weight"), s));
            }
            if cfg.qkv_bias() {
                for (p, n) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                    specs.push((format!("model.layers.{l}.self_attn.{p}.bias"), vec![n]));
                }
            }
            for (p, s) in [("gate_proj", vec![i, d]), ("up_proj", vec![i, d]), ("down_proj", vec![d, i])] {
                specs.push((format!("model.layers.{l}.mlp.{p}.weight"), s));
            }
            for n in ["input_layernorm", "post_attention_layernorm"] {
                specs.push((format!("model.layers.{l}.{n}.weight"), vec![d]));
            }
        }
        let specs = specs.into_iter().map(|(name, shape)| TensorSpec { name, dtype: Dtype::BF16, shape }).collect();
        let layout = Layout::new(specs, &Default::default()).unwrap();
        TensorIndex::parse("t", layout.file_len(), &layout.header[8..]).unwrap()
    }

    #[test]
    fn formulas_match_a_llama_header_up_to_norms() {
        let cfg = tiny_cfg(serde_json::json!({}));
        let b = Breakdown::new(&cfg, &index_for(&cfg));
        assert_eq!(b.counted.embedding, 80);
        assert_eq!(b.counted.ffn, 3 * 2 * 8 * 12);
        // H = 2: 2·L·D²·(1 + 1/2) = 2·2·64·1.5 = 384 = L·(2·D·q + 2·D·kv) with q = 8, kv = 4.
        assert_eq!(b.counted.attention, 384);
        assert_eq!(b.predicted.paper.attention, 384);
        assert_eq!(b.counted.norms, b.predicted.norms);
        let text = b.explain().join("\n");
        assert!(text.contains("norm weights") && !text.contains("unexplained"), "{text}");
    }

    #[test]
    fn biases_are_explained_and_mismatches_flagged() {
        let cfg = tiny_cfg(serde_json::json!({"model_type": "qwen2"}));
        let b = Breakdown::new(&cfg, &index_for(&cfg));
        assert_eq!(b.predicted.attention_bias, 2 * (8 + 4 + 4));
        let text = b.explain().join("\n");
        assert!(text.contains("q/k/v biases") && !text.contains("unexplained"), "{text}");

        let llama = tiny_cfg(serde_json::json!({}));
        let bigger = tiny_cfg(serde_json::json!({"intermediate_size": 16}));
        let b = Breakdown::new(&bigger, &index_for(&llama));
        let text = b.explain().join("\n");
        assert!(text.contains("unexplained: -192") && text.contains("FFN -192"), "{text}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(134_515_008), "134.5M");
        assert_eq!(human(1_235_814_400), "1.24B");
        assert_eq!(human(576), "576");
    }
}
