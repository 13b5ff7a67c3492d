//! Paper step 4, selection. What survives pruning ([`KeepSet`]) and how it is chosen from importance scores:
//! per layer the I' channels with the largest importance, the same I' in every layer,
//! kept in their original order (paper Algorithm 1).

use crate::error::{Error, PlanError, Result};
use crate::io::ByteSource;
use crate::model::names;
use crate::model::safetensors::TensorIndex;
use crate::model::{Checkpoint, Dtype, ModelConfig};

/// The tensor name of layer `l`'s importance vector in an importance file.
pub fn importance_name(l: usize) -> String {
    format!("model.layers.{l}.mlp.importance")
}

/// The largest importance file read (one f32 per FFN channel: 9 MB for a 70B model).
pub const MAX_IMPORTANCE_BYTES: u64 = 64 << 20;

/// Refuses an importance file `name` of `bytes` bytes over [`MAX_IMPORTANCE_BYTES`],
/// before it is read.
pub fn check_importance_size(name: &str, bytes: u64) -> Result<()> {
    if bytes > MAX_IMPORTANCE_BYTES {
        return Err(Error::FileTooLarge { file: name.to_string(), bytes, limit: MAX_IMPORTANCE_BYTES });
    }
    Ok(())
}

/// Reads an importance file: a safetensors file of F32 vectors
/// `model.layers.{i}.mlp.importance`, one per layer, each of length I.
pub async fn read_importance(src: &impl ByteSource, cfg: &ModelConfig) -> Result<Vec<Vec<f64>>> {
    let index = TensorIndex::read(src).await?;
    let mut out = Vec::with_capacity(cfg.num_layers);
    for l in 0..cfg.num_layers {
        let name = importance_name(l);
        let t = index.require(&name)?;
        if t.dtype != Dtype::F32 || t.shape != [cfg.intermediate_size as u64] {
            return Err(Error::format(
                src.name(),
                format!("{name} is {} {:?}; expected F32 [{}] (is it from another model?)", t.dtype, t.shape, cfg.intermediate_size),
            ));
        }
        let bytes = src.read_at(t.range.start, (t.range.end - t.range.start) as usize).await?;
        out.push(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect());
    }
    Ok(out)
}

/// An importance file (the format [`read_importance`] reads): one F32 tensor
/// `model.layers.{i}.mlp.importance` per layer, and `metadata` (model, calibration text
/// hash, N, L, V', …) in the header's `__metadata__`. Deterministic bytes.
pub fn importance_file(importance: &[Vec<f64>], metadata: &std::collections::BTreeMap<String, String>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("strings serialize"));
    let mut offset = 0usize;
    for (l, imp) in importance.iter().enumerate() {
        let end = offset + imp.len() * 4;
        header.insert(importance_name(l), serde_json::json!({ "dtype": "F32", "shape": [imp.len()], "data_offsets": [offset, end] }));
        offset = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON serializes");
    // Data starts 8-byte aligned, the header padded with spaces as the format allows.
    json.resize((8 + json.len()).next_multiple_of(8) - 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for imp in importance {
        out.extend(imp.iter().flat_map(|&v| (v as f32).to_le_bytes()));
    }
    out
}

/// Kept token ids and FFN channels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepSet {
    /// Kept vocabulary rows, ascending; `None` keeps all.
    pub tokens: Option<Vec<u32>>,
    /// Per layer, kept channels, ascending, the same count in every layer; `None` keeps all.
    pub channels: Option<Vec<Vec<u32>>>,
}

impl KeepSet {
    /// Checks the set against the model: ascending unique in-range ids, one channel
    /// list per layer, 0 < I' ≤ I in every layer.
    pub fn validate(&self, cfg: &ModelConfig) -> Result<()> {
        if let Some(t) = &self.tokens {
            check_sorted(t, cfg.vocab_size, "token ids")?;
            if t.is_empty() {
                return Err(PlanError::VocabOutOfRange { asked: 0, vocab: cfg.vocab_size }.into());
            }
        }
        if let Some(ch) = &self.channels {
            if ch.len() != cfg.num_layers {
                return Err(PlanError::LayerCount { lists: ch.len(), layers: cfg.num_layers }.into());
            }
            let n = ch[0].len();
            if n == 0 || n > cfg.intermediate_size {
                return Err(PlanError::FfnOutOfRange { asked: n, ffn: cfg.intermediate_size }.into());
            }
            for (l, c) in ch.iter().enumerate() {
                if c.len() != n {
                    return Err(PlanError::UnequalChannels { layer: l, kept: c.len(), first: n }.into());
                }
                check_sorted(c, cfg.intermediate_size, &format!("layer {l} channels"))?;
            }
        }
        Ok(())
    }

    /// The new vocabulary size (rows kept).
    pub fn vocab_size(&self, cfg: &ModelConfig) -> usize {
        self.tokens.as_ref().map_or(cfg.vocab_size, Vec::len)
    }

    /// The new intermediate size.
    pub fn intermediate_size(&self, cfg: &ModelConfig) -> usize {
        self.channels.as_ref().map_or(cfg.intermediate_size, |c| c[0].len())
    }
}

fn check_sorted(ids: &[u32], bound: usize, what: &str) -> Result<()> {
    if let Some(w) = ids.windows(2).find(|w| w[0] >= w[1]) {
        return Err(PlanError::NotAscending { what: what.into(), prev: w[0], next: w[1] }.into());
    }
    if let Some(&last) = ids.last()
        && last as usize >= bound
    {
        return Err(PlanError::IdOutOfRange { what: what.into(), id: last, bound }.into());
    }
    Ok(())
}

/// The `keep` most important channels of each layer, in ascending channel order; ties
/// go to the lower channel index (deterministic).
pub fn top_channels(importance: &[Vec<f64>], keep: usize) -> Result<Vec<Vec<u32>>> {
    importance.iter().enumerate().map(|(l, imp)| top_of_layer(l, imp, keep)).collect()
}

/// The `keep` channels of layer `l` with the largest `scores`, ascending (ties to the
/// lower index).
pub fn top_of_layer(l: usize, scores: &[f64], keep: usize) -> Result<Vec<u32>> {
    if keep == 0 || keep > scores.len() {
        return Err(PlanError::FfnOutOfRange { asked: keep, ffn: scores.len() }.into());
    }
    if let Some(k) = scores.iter().position(|v| !v.is_finite()) {
        return Err(PlanError::NonFiniteImportance { layer: l, channel: k, value: scores[k] }.into());
    }
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
    let mut kept = order[..keep].to_vec();
    kept.sort_unstable();
    Ok(kept)
}

/// How FFN channels are ranked before the top I' of every layer are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Score {
    /// The paper: `Σ_i w_i h_ik²`, the common-token weighted act².
    #[default]
    Act2,
    /// act² × `‖W_down[:, k]‖²`: the energy channel k sends into the residual stream,
    /// not only how strongly it fires.
    Act2Weight,
    /// With repair only: channels removed one at a time, each the one whose output the
    /// repair of the others makes up for best (optimal brain surgeon on the second
    /// moments; [`crate::prune::repair::choose_obs`]).
    Obs,
}

impl Score {
    /// How options and reports name it.
    pub fn key(self) -> &'static str {
        match self {
            Score::Act2 => "act2",
            Score::Act2Weight => "act2-weight",
            Score::Obs => "obs",
        }
    }

    /// The score named `key` ([`Score::key`]).
    pub fn parse(key: &str) -> Option<Self> {
        [Score::Act2, Score::Act2Weight, Score::Obs].into_iter().find(|s| s.key() == key)
    }
}

/// Multiplies each channel's act² by the squared norm of its `down_proj` column
/// (`down` is `D × I` row-major): [`Score::Act2Weight`].
pub fn weigh_by_down(act2: &mut [f64], down: &[f32]) {
    let n = act2.len();
    let mut norms = vec![0f64; n];
    for row in down.chunks_exact(n) {
        norms.iter_mut().zip(row).for_each(|(s, &w)| *s += f64::from(w) * f64::from(w));
    }
    act2.iter_mut().zip(norms).for_each(|(a, s)| *a *= s);
}

/// The ranking scores of `score` from calibrated act² (per layer): act² itself, or
/// weighed by each layer's down_proj, read one layer at a time.
pub async fn scores<S: ByteSource>(score: Score, cfg: &ModelConfig, ck: &Checkpoint<S>, act2: Vec<Vec<f64>>) -> Result<Vec<Vec<f64>>> {
    match score {
        Score::Obs => Err(PlanError::ScoreNeedsRepair { score: score.key() }.into()),
        Score::Act2 => Ok(act2),
        Score::Act2Weight => {
            let mut out = act2;
            for (l, imp) in out.iter_mut().enumerate() {
                let name = names::mlp(l, "down_proj");
                ck.expect_shape(&name, &[cfg.hidden_size, cfg.intermediate_size])?;
                weigh_by_down(imp, &ck.f32(&name).await?);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_channels_keeps_the_largest_in_order() {
        let imp = vec![vec![0.5, 3.0, 1.0, 3.0, 0.1], vec![9.0, 0.0, 0.0, 0.0, 8.0]];
        assert_eq!(top_channels(&imp, 2).unwrap(), vec![vec![1, 3], vec![0, 4]]);
        assert_eq!(top_channels(&imp, 3).unwrap(), vec![vec![1, 2, 3], vec![0, 1, 4]], "ties go to the lower index");
        assert!(top_channels(&imp, 0).is_err());
        assert!(top_channels(&imp, 6).is_err());
        assert!(top_channels(&[vec![f64::NAN]], 1).is_err());
    }

    #[test]
    fn validate_names_the_problem() {
        let cfg = crate::model::ModelConfig::from_value(serde_json::json!({"model_type": "llama", "hidden_size": 8,
            "intermediate_size": 4, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}))
        .unwrap();
        let ok = KeepSet { tokens: Some(vec![0, 3, 9]), channels: Some(vec![vec![0, 2], vec![1, 3]]) };
        ok.validate(&cfg).unwrap();
        assert_eq!((ok.vocab_size(&cfg), ok.intermediate_size(&cfg)), (3, 2));
        let e = |k: KeepSet| match k.validate(&cfg).unwrap_err() {
            Error::Plan(p) => p,
            other => panic!("not a plan error: {other}"),
        };
        assert!(matches!(e(KeepSet { tokens: Some(vec![3, 3]), channels: None }), PlanError::NotAscending { prev: 3, next: 3, .. }));
        assert!(matches!(e(KeepSet { tokens: Some(vec![10]), channels: None }), PlanError::IdOutOfRange { id: 10, bound: 10, .. }));
        let unequal = e(KeepSet { tokens: None, channels: Some(vec![vec![0], vec![0, 1]]) });
        assert_eq!(unequal, PlanError::UnequalChannels { layer: 1, kept: 2, first: 1 });
        assert!(unequal.to_string().contains("same in every layer"));
        assert_eq!(e(KeepSet { tokens: None, channels: Some(vec![vec![], vec![]]) }), PlanError::FfnOutOfRange { asked: 0, ffn: 4 });
        assert_eq!(e(KeepSet { tokens: None, channels: Some(vec![vec![0]]) }), PlanError::LayerCount { lists: 1, layers: 2 });
    }

    #[test]
    fn importance_files_round_trip_with_metadata() {
        let cfg = crate::model::ModelConfig::from_value(serde_json::json!({"model_type": "llama", "hidden_size": 8,
            "intermediate_size": 3, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}))
        .unwrap();
        let imp = vec![vec![1.5, 0.25, 3.0], vec![0.0, 7.0, 2.0]];
        let meta = std::collections::BTreeMap::from([("model".to_string(), "tiny".to_string()), ("samples".into(), "16".into())]);
        let bytes = importance_file(&imp, &meta);
        assert_eq!(bytes, importance_file(&imp, &meta), "deterministic");
        let src = crate::io::MemSource::new("imp.safetensors", bytes.clone());
        assert_eq!(pollster::block_on(read_importance(&src, &cfg)).unwrap(), imp);
        let index = pollster::block_on(TensorIndex::read(&src)).unwrap();
        assert_eq!(index.metadata.get("samples").map(String::as_str), Some("16"));
        assert_eq!((bytes.len() - 24) % 8, 0, "data starts 8-byte aligned");
    }
}
