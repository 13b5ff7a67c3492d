//! Reading a Hugging Face model folder without reading its weights: config.json,
//! the safetensors header(s), and the parameter distribution derived from them.

pub mod checkpoint;
pub mod config;
pub mod names;
pub mod params;
pub mod safetensors;

use std::collections::BTreeMap;

use serde::Serialize;

pub use checkpoint::{Checkpoint, RESIDENT_BUDGET};
pub use config::{Activation, Arch, ModelConfig, Rope, RopeScaling};
pub use names::Part;
pub use params::{Breakdown, ParamCounts, Predicted};
pub use safetensors::{Dtype, TensorIndex, TensorInfo};

use crate::error::{Error, Result};
use crate::io::{ByteSource, ModelFolder};

/// The weights file of a single-file checkpoint.
pub const WEIGHTS: &str = "model.safetensors";
/// The index of a sharded checkpoint.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// A model folder's configuration and tensor headers: everything but the weights.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The parsed config.json.
    pub config: ModelConfig,
    /// One index per safetensors file (one for a single-file checkpoint).
    pub shards: Vec<TensorIndex>,
    /// The folder's file name of each shard, in the order of `shards`.
    pub shard_files: Vec<String>,
    /// Bytes of all weight files together.
    pub weight_bytes: u64,
    /// Bytes actually read from the weight files (length prefixes and headers).
    pub header_bytes_read: u64,
    /// The token ids that end a generation: `eos_token_id` of generation_config.json
    /// when the folder has one, else of config.json (an int or a list in either).
    pub stop_tokens: Vec<u32>,
}

/// `eos_token_id` of a config: an int or a list; `None` when absent.
fn eos_ids(config: &serde_json::Value) -> Option<Vec<u32>> {
    match config.get("eos_token_id")? {
        serde_json::Value::Number(n) => Some(n.as_u64().map(|n| vec![n as u32]).unwrap_or_default()),
        serde_json::Value::Array(a) => Some(a.iter().filter_map(|v| v.as_u64()).map(|n| n as u32).collect()),
        _ => None,
    }
}

impl ModelInfo {
    /// Reads config.json and the safetensors header(s) of `folder`.
    pub async fn load(folder: &impl ModelFolder) -> Result<Self> {
        let cfg_src = folder.require("config.json", "every Hugging Face model folder has one").await?;
        let config = ModelConfig::from_json(&cfg_src.read_to_end().await?)?;

        let shard_names = match folder.open(WEIGHTS).await? {
            Some(_) => vec![WEIGHTS.to_string()],
            None => match folder.open(WEIGHTS_INDEX).await? {
                Some(idx) => shard_files(&idx.read_to_end().await?)?,
                None => {
                    return Err(Error::MissingFile {
                        file: WEIGHTS.into(),
                        needed_for: format!(
                            "the weights must be in safetensors format (model.safetensors or a sharded {WEIGHTS_INDEX}); looked in {}",
                            folder.describe()
                        ),
                    });
                }
            },
        };
        let mut shards = Vec::with_capacity(shard_names.len());
        let (mut weight_bytes, mut header_bytes_read) = (0, 0);
        for name in &shard_names {
            let src = folder.require(name, "it is listed in the weights index").await?;
            let index = TensorIndex::read(&src).await?;
            weight_bytes += src.len();
            header_bytes_read += index.data_start;
            shards.push(index);
        }
        let generation = match folder.open("generation_config.json").await? {
            Some(src) => serde_json::from_slice(&src.read_to_end().await?)
                .map_err(|e| Error::format("generation_config.json", format!("not valid JSON: {e}")))?,
            None => serde_json::Value::Null,
        };
        let stop_tokens = eos_ids(&generation).or_else(|| eos_ids(&config.raw)).unwrap_or_default();
        let info = Self { config, shards, shard_files: shard_names, weight_bytes, header_bytes_read, stop_tokens };
        if let Some((name, file)) = info.duplicate_tensor() {
            return Err(Error::format(file, format!("tensor {name:?} appears in more than one shard")));
        }
        Ok(info)
    }

    fn duplicate_tensor(&self) -> Option<(String, String)> {
        let mut seen = BTreeMap::new();
        for s in &self.shards {
            for t in s.tensors() {
                if seen.insert(t.name.as_str(), ()).is_some() {
                    return Some((t.name.clone(), s.file.clone()));
                }
            }
        }
        None
    }

    /// Checks that every tensor the architecture needs is present with the shape
    /// config.json implies (pruning relies on both agreeing).
    pub fn check_tensors(&self) -> Result<()> {
        let c = &self.config;
        let want = c.expected_tensors(self.has_lm_head());
        let have: BTreeMap<&str, &TensorInfo> = self.tensors().map(|t| (t.name.as_str(), t)).collect();
        // Biases the forward pass and the slicing do not know would be silently wrong.
        if let Some(t) = self.tensors().find(|t| t.name.ends_with(".bias") && (t.name.contains(".mlp.") || t.name.contains(".o_proj."))) {
            return Err(Error::format(WEIGHTS, format!("tensor {:?}: FFN and o_proj biases are not supported", t.name)));
        }
        for (name, shape) in want {
            let t = have.get(name.as_str()).ok_or_else(|| {
                Error::format(
                    WEIGHTS,
                    format!("tensor {name:?} is missing (config.json describes a {} model with {} layers)", c.arch.name(), c.num_layers),
                )
            })?;
            if t.shape.iter().map(|&x| x as usize).ne(shape.iter().copied()) {
                return Err(Error::format(WEIGHTS, format!("tensor {name:?} has shape {:?} but config.json implies {shape:?}", t.shape)));
            }
            if !t.dtype.is_float() {
                return Err(Error::format(
                    WEIGHTS,
                    format!("tensor {name:?} is {}, not a float type (quantized checkpoints are not supported)", t.dtype),
                ));
            }
        }
        Ok(())
    }

    /// Every tensor of every shard.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorInfo> {
        self.shards.iter().flat_map(|s| s.tensors())
    }

    /// Counted vs predicted parameter distribution.
    pub fn breakdown(&self) -> Breakdown {
        let mut counted = ParamCounts::default();
        for s in &self.shards {
            let c = ParamCounts::from_index(s);
            counted.embedding += c.embedding;
            counted.lm_head += c.lm_head;
            counted.ffn += c.ffn;
            counted.attention += c.attention;
            counted.norms += c.norms;
            counted.other += c.other;
        }
        Breakdown { counted, predicted: Predicted::from_config(&self.config) }
    }

    /// The dtype holding the most parameters (what the weights are "in").
    pub fn dtype(&self) -> Option<Dtype> {
        let mut by = BTreeMap::new();
        for t in self.tensors() {
            *by.entry(t.dtype).or_insert(0u64) += t.numel();
        }
        by.into_iter().max_by_key(|&(_, n)| n).map(|(d, _)| d)
    }

    /// Bytes per parameter of [`Self::dtype`] (2 when the folder has no tensors): what
    /// sizes of files and reads are estimated with.
    pub fn bytes_per_param(&self) -> u64 {
        self.dtype().map_or(2, |d| d.size())
    }

    /// Whether the checkpoint has a separate lm_head (independent of what config says).
    pub fn has_lm_head(&self) -> bool {
        self.tensors().any(|t| t.name == names::LM_HEAD)
    }

    /// A serialisable summary: what `compact inspect --json` prints and the web page shows.
    pub fn summary(&self) -> ModelSummary {
        let c = &self.config;
        let b = self.breakdown();
        ModelSummary {
            arch: c.arch,
            model_type: c.model_type.clone(),
            layers: c.num_layers,
            hidden_size: c.hidden_size,
            intermediate_size: c.intermediate_size,
            vocab_size: c.vocab_size,
            heads: c.num_heads,
            kv_heads: c.num_kv_heads,
            head_dim: c.head_dim,
            tied_embeddings: !self.has_lm_head(),
            dtype: self.dtype().map(|d| d.as_str().to_string()),
            tensors: self.shards.iter().map(TensorIndex::len).sum(),
            weight_bytes: self.weight_bytes,
            header_bytes_read: self.header_bytes_read,
            total: b.counted.total(),
            explanation: b.explain(),
            params: b,
        }
    }
}

/// The distinct shard file names listed by a `model.safetensors.index.json`.
fn shard_files(index_json: &[u8]) -> Result<Vec<String>> {
    let v: serde_json::Value =
        serde_json::from_slice(index_json).map_err(|e| Error::format(WEIGHTS_INDEX, format!("not valid JSON: {e}")))?;
    let map = v.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| Error::format(WEIGHTS_INDEX, "no \"weight_map\" object"))?;
    let mut files: Vec<String> = map.values().filter_map(|f| f.as_str().map(str::to_string)).collect();
    if files.len() != map.len() {
        return Err(Error::format(WEIGHTS_INDEX, "a weight_map value is not a file name"));
    }
    if let Some(bad) = files.iter().find(|f| f.contains('/') || f.contains('\\') || f.starts_with('.')) {
        return Err(Error::format(WEIGHTS_INDEX, format!("shard name {bad:?} is not a plain file name")));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// What a person wants to know about a model at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// The model family.
    pub arch: Arch,
    /// The `model_type` as written in config.json.
    pub model_type: String,
    /// Decoder layers.
    pub layers: usize,
    /// Residual stream width `D`.
    pub hidden_size: usize,
    /// FFN channels per layer `I`.
    pub intermediate_size: usize,
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Values per attention head.
    pub head_dim: usize,
    /// True when the checkpoint has no separate lm_head.
    pub tied_embeddings: bool,
    /// The dtype holding the most parameters (`BF16`, …); `None` without tensors.
    pub dtype: Option<String>,
    /// Number of tensors over all shards.
    pub tensors: usize,
    /// Bytes of all weight files together.
    pub weight_bytes: u64,
    /// Bytes actually read from the weight files (length prefixes and headers).
    pub header_bytes_read: u64,
    /// All parameters, counted from the headers.
    pub total: u64,
    /// Counted vs predicted parameters per part.
    pub params: Breakdown,
    /// One sentence per difference between the counts and the paper's formulas.
    pub explanation: Vec<String>,
}

impl std::fmt::Display for ModelSummary {
    /// The terminal view of `compact inspect`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use params::human;
        let p = &self.params;
        writeln!(f, "architecture   {} (model_type {})", self.arch.name(), self.model_type)?;
        writeln!(f, "layers         {}", self.layers)?;
        writeln!(f, "hidden         {}", self.hidden_size)?;
        writeln!(f, "intermediate   {}", self.intermediate_size)?;
        writeln!(f, "vocab          {}", self.vocab_size)?;
        writeln!(f, "attention      {} heads, {} kv heads, head_dim {}", self.heads, self.kv_heads, self.head_dim)?;
        writeln!(
            f,
            "embeddings     {}",
            if self.tied_embeddings { "tied (lm_head shares the embedding)" } else { "untied (separate lm_head)" }
        )?;
        writeln!(
            f,
            "weights        {} in {} tensors, {:.1} MB ({} header bytes read)",
            self.dtype.as_deref().unwrap_or("no tensors"),
            self.tensors,
            self.weight_bytes as f64 / 1e6,
            self.header_bytes_read
        )?;
        writeln!(f)?;
        writeln!(f, "{:<12} {:>14} {:>8} {:>14}", "parameters", "counted", "share", "paper formula")?;
        let total = p.counted.total().max(1);
        for part in Part::ALL {
            let c = p.counted.get(part);
            let pred = match part {
                Part::Norms | Part::Other => "—".to_string(),
                _ => p.predicted.paper.get(part).to_string(),
            };
            if part == Part::Other && c == 0 {
                continue;
            }
            writeln!(f, "{:<12} {:>14} {:>7.1}% {:>14}  {}", part.label(), c, 100.0 * c as f64 / total as f64, pred, human(c))?;
        }
        writeln!(
            f,
            "{:<12} {:>14} {:>7.1}% {:>14}  {}",
            "total",
            p.counted.total(),
            100.0,
            p.predicted.paper.total(),
            human(p.counted.total())
        )?;
        writeln!(f)?;
        for line in &self.explanation {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_list_is_deduplicated_and_safe() {
        let j = br#"{"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"}}"#;
        assert_eq!(shard_files(j).unwrap(), ["m-1.safetensors", "m-2.safetensors"]);
        assert!(shard_files(br#"{"weight_map": {"a": "../x"}}"#).is_err());
        assert!(shard_files(br#"{"weight_map": {"a": 3}}"#).is_err());
        assert!(shard_files(b"{}").is_err());
    }
}
