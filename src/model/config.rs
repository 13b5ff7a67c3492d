//! `config.json` → [`ModelConfig`]: the sizes and switches the pruner and the forward
//! pass need, for the three supported families.
//!
//! Both dialects of config.json are read: the transformers 4.x form (`rope_theta`,
//! `rope_scaling`, Gemma's `rope_local_base_freq` / `sliding_window_pattern`) and the
//! 5.x form (`rope_parameters`, `layer_types`). The raw JSON is kept so an exporter can
//! write back the dialect it read.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The model families this tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// SmolLM2, Llama-3.2 (`model_type: llama`).
    Llama,
    /// Qwen2 / Qwen2.5 (`model_type: qwen2`).
    Qwen2,
    /// Gemma-3 text models (`model_type: gemma3_text`, or the text part of `gemma3`).
    Gemma3,
}

impl Arch {
    /// Maps a config `model_type` to a family.
    pub fn from_model_type(model_type: &str) -> Result<Self> {
        match model_type {
            "llama" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "gemma3" | "gemma3_text" => Ok(Arch::Gemma3),
            other => Err(Error::Unsupported { arch: other.to_string() }),
        }
    }

    /// Human-readable family name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma3 => "gemma3",
        }
    }

    /// Whether word embeddings are tied when config.json does not say
    /// (the transformers defaults of each config class).
    fn default_tied(self) -> bool {
        matches!(self, Arch::Gemma3)
    }
}

/// What the rest of the crate needs to know about a model, read from config.json.
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub arch: Arch,
    /// The `model_type` as written (e.g. `gemma3_text`).
    pub model_type: String,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub tie_word_embeddings: bool,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: Option<usize>,
    /// `torch_dtype` / `dtype` as declared, if any.
    pub torch_dtype: Option<String>,
    /// The JSON object the values came from (for Gemma-3 `gemma3`, its `text_config`).
    #[serde(skip)]
    pub raw: Value,
}

const FILE: &str = "config.json";

impl ModelConfig {
    /// Parses config.json text.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::format(FILE, format!("not valid JSON: {e}")))?;
        Self::from_value(root)
    }

    /// Parses an already-decoded config.json.
    pub fn from_value(root: Value) -> Result<Self> {
        if !root.is_object() {
            return Err(Error::format(FILE, "not a JSON object"));
        }
        let model_type = root
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::format(FILE, "no \"model_type\": is this a Hugging Face model folder?"))?
            .to_string();
        let arch = Arch::from_model_type(&model_type)?;
        // Multimodal Gemma-3 checkpoints keep the language model's settings in text_config.
        let c = match (arch, root.get("text_config")) {
            (Arch::Gemma3, Some(t)) if t.is_object() => t.clone(),
            _ => root.clone(),
        };

        let hidden_size = req(&c, "hidden_size")?;
        let num_heads = req(&c, "num_attention_heads")?;
        let num_kv_heads = opt(&c, "num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match opt(&c, "head_dim")? {
            Some(d) => d,
            None if num_heads > 0 && hidden_size % num_heads == 0 => hidden_size / num_heads,
            None => return Err(Error::format(FILE, "no head_dim and hidden_size is not a multiple of num_attention_heads")),
        };
        let tie_word_embeddings = c
            .get("tie_word_embeddings")
            .or_else(|| root.get("tie_word_embeddings"))
            .and_then(Value::as_bool)
            .unwrap_or(arch.default_tied());
        let cfg = Self {
            arch,
            model_type,
            hidden_size,
            intermediate_size: req(&c, "intermediate_size")?,
            num_layers: req(&c, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size: req(&c, "vocab_size")?,
            tie_word_embeddings,
            rms_norm_eps: c.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
            max_position_embeddings: opt(&c, "max_position_embeddings")?,
            torch_dtype: ["torch_dtype", "dtype"]
                .iter()
                .find_map(|k| c.get(*k).or_else(|| root.get(*k)).and_then(Value::as_str))
                .map(str::to_string),
            raw: c,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
        ] {
            if v == 0 {
                return Err(Error::format(FILE, format!("{name} is 0")));
            }
        }
        if self.num_heads % self.num_kv_heads != 0 {
            return Err(Error::format(
                FILE,
                format!(
                    "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                    self.num_heads, self.num_kv_heads
                ),
            ));
        }
        Ok(())
    }

    /// Width of the query projection (heads × head_dim).
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of each of the key and value projections (kv heads × head_dim).
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Whether q/k/v projections carry a bias (Qwen2).
    pub fn qkv_bias(&self) -> bool {
        self.raw.get("attention_bias").and_then(Value::as_bool).unwrap_or(self.arch == Arch::Qwen2)
    }

    /// Whether queries and keys are RMS-normalised per head (Gemma-3).
    pub fn qk_norm(&self) -> bool {
        self.arch == Arch::Gemma3
    }

    /// Norm weight vectors per decoder layer (Gemma-3 has four).
    pub fn norms_per_layer(&self) -> usize {
        if self.arch == Arch::Gemma3 { 4 } else { 2 }
    }
}

fn opt(c: &Value, key: &str) -> Result<Option<usize>> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n as usize))
            .ok_or_else(|| Error::format(FILE, format!("\"{key}\" is {v}, not a non-negative integer"))),
    }
}

fn req(c: &Value, key: &str) -> Result<usize> {
    opt(c, key)?.ok_or_else(|| Error::format(FILE, format!("\"{key}\" is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smollm2() -> Value {
        json!({"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
               "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
               "vocab_size": 49152, "tie_word_embeddings": true, "rms_norm_eps": 1e-5,
               "torch_dtype": "bfloat16"})
    }

    #[test]
    fn reads_llama() {
        let c = ModelConfig::from_value(smollm2()).unwrap();
        assert_eq!((c.arch, c.head_dim, c.q_dim(), c.kv_dim()), (Arch::Llama, 64, 576, 192));
        assert!(c.tie_word_embeddings && !c.qkv_bias() && !c.qk_norm());
        assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    }

    #[test]
    fn reads_gemma3_text_config_and_defaults() {
        let c = ModelConfig::from_value(json!({"model_type": "gemma3", "text_config": {
            "model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
            "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 256, "vocab_size": 262144}}))
        .unwrap();
        assert_eq!((c.arch, c.head_dim, c.norms_per_layer()), (Arch::Gemma3, 256, 4));
        assert!(c.tie_word_embeddings && c.qk_norm());
    }

    #[test]
    fn qwen2_has_qkv_bias() {
        let mut v = smollm2();
        v["model_type"] = json!("qwen2");
        assert!(ModelConfig::from_value(v).unwrap().qkv_bias());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut v = smollm2();
        v["model_type"] = json!("mistral");
        let e = ModelConfig::from_value(v).unwrap_err().to_string();
        assert!(e.contains("\"mistral\"") && e.contains("llama") && e.contains("qwen2") && e.contains("gemma3"), "{e}");

        let mut v = smollm2();
        v.as_object_mut().unwrap().remove("intermediate_size");
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("\"intermediate_size\" is missing"));

        let mut v = smollm2();
        v["num_key_value_heads"] = json!(4);
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("not a multiple"));

        let mut v = smollm2();
        v["hidden_size"] = json!("576");
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("not a non-negative integer"));

        assert!(ModelConfig::from_json(b"{oops").unwrap_err().to_string().contains("not valid JSON"));
        assert!(ModelConfig::from_json(b"{}").unwrap_err().to_string().contains("model_type"));
    }
}
