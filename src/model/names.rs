//! Hugging Face tensor names, shared by everything that reads or writes checkpoints,
//! and the classification of a tensor into the parameter groups of the paper (§3.1).

use serde::Serialize;

/// The input embedding matrix `[V, D]`.
pub const EMBED: &str = "model.embed_tokens.weight";
/// The untied output projection `[V, D]`.
pub const LM_HEAD: &str = "lm_head.weight";
/// The final norm.
pub const FINAL_NORM: &str = "model.norm.weight";

/// `model.layers.{layer}.mlp.{proj}.weight` for `proj` in gate_proj / up_proj / down_proj.
pub fn mlp(layer: usize, proj: &str) -> String {
    format!("model.layers.{layer}.mlp.{proj}.weight")
}

/// `model.layers.{layer}.self_attn.{proj}.{kind}` (kind: weight or bias).
pub fn attn(layer: usize, proj: &str, kind: &str) -> String {
    format!("model.layers.{layer}.self_attn.{proj}.{kind}")
}

/// `model.layers.{layer}.{norm}.weight`.
pub fn layer_norm(layer: usize, norm: &str) -> String {
    format!("model.layers.{layer}.{norm}.weight")
}

/// Where a tensor's parameters belong in the paper's accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The input embedding matrix.
    Embedding,
    /// The untied output projection.
    LmHead,
    /// The FFN (MLP) gate/up/down projections.
    Ffn,
    /// The attention q/k/v/o projections and their biases.
    Attention,
    /// Norm weights: every RMSNorm, the q/k norms and the final norm.
    Norms,
    /// Anything not covered by the above (vision towers, …); counted, never pruned.
    Other,
}

impl Part {
    /// All parts in display order.
    pub const ALL: [Part; 6] = [Part::Embedding, Part::LmHead, Part::Ffn, Part::Attention, Part::Norms, Part::Other];

    /// Display label.
    pub fn label(self) -> &'static str {
        match self {
            Part::Embedding => "embedding",
            Part::LmHead => "lm_head",
            Part::Ffn => "FFN",
            Part::Attention => "attention",
            Part::Norms => "norms",
            Part::Other => "other",
        }
    }

    /// Classifies a tensor by its Hugging Face name.
    pub fn of(name: &str) -> Part {
        let last = |s: &str| name.rsplit('.').nth(1) == Some(s);
        if name == EMBED {
            Part::Embedding
        } else if name == LM_HEAD {
            Part::LmHead
        } else if name.contains(".mlp.") {
            Part::Ffn
        } else if last("q_norm") || last("k_norm") || name.ends_with("norm.weight") {
            Part::Norms
        } else if name.contains(".self_attn.") {
            Part::Attention
        } else {
            Part::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_standard_names() {
        assert_eq!(Part::of(EMBED), Part::Embedding);
        assert_eq!(Part::of(LM_HEAD), Part::LmHead);
        assert_eq!(Part::of(&mlp(3, "down_proj")), Part::Ffn);
        assert_eq!(Part::of(&attn(0, "q_proj", "bias")), Part::Attention);
        assert_eq!(Part::of(&attn(0, "o_proj", "weight")), Part::Attention);
        assert_eq!(Part::of("model.layers.0.self_attn.q_norm.weight"), Part::Norms);
        assert_eq!(Part::of(&layer_norm(5, "pre_feedforward_layernorm")), Part::Norms);
        assert_eq!(Part::of(FINAL_NORM), Part::Norms);
        assert_eq!(Part::of("vision_tower.patch_embed.weight"), Part::Other);
    }
}
