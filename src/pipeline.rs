//! Paper Algorithm 1 as steps the CLI and the web app share: read the tokenizer, plan
//! (V', I'), choose the rare set S, calibrate with the common-token mask, keep the
//! top-I' channels of every layer; [`crate::export`] then writes the folder.
//!
//! Each step is a plain function so a UI can show its result before the next one runs
//! (the plan before any weight is read, the removed tokens before calibration).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::ProgressSink;
use crate::calib::{self, CalibWindows};
use crate::error::{Error, Result};
use crate::io::{ByteSource, ModelFolder};
use crate::model::params::ParamCounts;
use crate::model::{Checkpoint, ModelConfig};
use crate::plan::{Policy, PrunePlan};
use crate::progress::Cancel;
use crate::tokenizer::surgery::Vocab;

/// What to prune to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Remove this share of all parameters (0 < R < 1), split by the default policy.
    Ratio(f64),
    /// Explicit V' and I' (`None` keeps that part whole).
    Sizes { vocab: Option<usize>, ffn: Option<usize> },
}

/// How the rare set S is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum RareBy {
    /// The highest-id regular tokens (the paper: BPE ids follow merge order, so high
    /// ids are rare).
    #[default]
    Id,
    /// The tokens least frequent in the calibration text.
    Freq,
}

/// A folder's tokenizer.json: its bytes, and its vocabulary when surgery supports it
/// (a BPE tokenizer), or why not.
pub struct TokenizerFile {
    pub bytes: Vec<u8>,
    pub vocab: std::result::Result<Vocab, Error>,
}

impl TokenizerFile {
    /// Reads tokenizer.json, `Ok(None)` when the folder has none.
    pub async fn read(folder: &impl ModelFolder, cfg: &ModelConfig) -> Result<Option<Self>> {
        let Some(src) = folder.open(crate::tokenizer::FILE).await? else { return Ok(None) };
        let bytes = src.read_to_end().await?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::format(crate::tokenizer::FILE, format!("is not valid JSON: {e}")))?;
        let vocab = Vocab::from_tokenizer(&json, cfg.vocab_size);
        Ok(Some(Self { bytes, vocab }))
    }

    /// The tokenizer itself, for encoding text.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        crate::tokenizer::load(&self.bytes)
    }

    /// The fewest vocabulary rows surgery can leave (all of them when it cannot prune
    /// this vocabulary).
    pub fn min_rows(&self, cfg: &ModelConfig) -> usize {
        self.vocab.as_ref().map_or(cfg.vocab_size, Vocab::min_rows)
    }
}

/// The plan for `target`: with a ratio, vocabulary is only planned down to what the
/// tokenizer allows (nothing without a prunable tokenizer: FFN only).
pub fn plan(cfg: &ModelConfig, counts: &ParamCounts, target: Target, tokenizer: Option<&TokenizerFile>) -> Result<PrunePlan> {
    match target {
        Target::Ratio(r) => {
            let min_vocab = tokenizer.map_or(cfg.vocab_size, |t| t.min_rows(cfg));
            PrunePlan::from_ratio(cfg, counts, r, Policy::default(), min_vocab)
        }
        Target::Sizes { vocab, ffn } => PrunePlan::explicit(cfg, counts, vocab, ffn),
    }
}

/// How often each token occurs in `text` (tokenized without special tokens).
pub fn token_counts(tok: &Tokenizer, text: &str) -> Result<HashMap<u32, u64>> {
    let mut counts = HashMap::new();
    for id in crate::tokenizer::encode_plain(tok, text)? {
        *counts.entry(id).or_insert(0u64) += 1;
    }
    Ok(counts)
}

/// The ids kept when the vocabulary shrinks to `v2` rows (ascending), or `None` when
/// it stays whole. [`RareBy::Freq`] counts tokens in `text` (the calibration text and
/// its tokenizer).
pub fn kept_tokens(
    cfg: &ModelConfig,
    tokenizer: Option<&TokenizerFile>,
    v2: usize,
    rare_by: RareBy,
    text: Option<(&Tokenizer, &str)>,
) -> Result<Option<Vec<u32>>> {
    if v2 >= cfg.vocab_size {
        return Ok(None);
    }
    let tokenizer = tokenizer
        .ok_or_else(|| Error::MissingFile { file: crate::tokenizer::FILE.into(), hint: "vocabulary pruning rewrites it".into() })?;
    let vocab = tokenizer.vocab.as_ref().map_err(|e| Error::Invalid(e.to_string()))?;
    let frequency = match rare_by {
        RareBy::Id => None,
        RareBy::Freq => {
            let (tok, text) = text.ok_or_else(|| Error::Invalid("--rare-by freq needs calibration text".into()))?;
            Some(token_counts(tok, text)?)
        }
    };
    vocab.keep(v2, frequency.as_ref()).map(Some)
}

/// The share of `counts`' token occurrences whose token is not in `kept`: how much of
/// the user's text the pruned vocabulary has to spell with other tokens.
pub fn lost_share(counts: &HashMap<u32, u64>, kept: &[u32]) -> f64 {
    let total: u64 = counts.values().sum();
    let lost: u64 = counts.iter().filter(|(id, _)| kept.binary_search(id).is_err()).map(|(_, n)| n).sum();
    lost as f64 / total.max(1) as f64
}

/// Channel importance and what it was computed from.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Per layer, `Σ_i w_i h_ik²` (I values each).
    pub importance: Vec<Vec<f64>>,
    /// The windows it ran on.
    pub windows: CalibWindows,
    /// Positions whose token is removed (weight 0).
    pub masked: usize,
    /// Wall time of the forward passes.
    pub seconds: f64,
}

impl Calibration {
    /// Calibration tokens per second.
    pub fn tokens_per_second(&self) -> f64 {
        self.windows.tokens.len() as f64 / self.seconds.max(1e-9)
    }

    /// The `__metadata__` of an importance file: what it was computed from.
    pub fn metadata(&self, model: &str, text_name: &str, text: &str, vocab_kept: usize) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("model".to_string(), model.to_string()),
            ("calibration".to_string(), text_name.to_string()),
            ("calibration_sha256".to_string(), sha256_hex(text.as_bytes())),
            ("samples".to_string(), self.windows.windows.to_string()),
            ("seq_len".to_string(), self.windows.seq_len.to_string()),
            ("vocab_kept".to_string(), vocab_kept.to_string()),
            ("masked_positions".to_string(), self.masked.to_string()),
        ])
    }
}

/// Lower-case hex SHA-256 of `bytes` (calibration text fingerprints in reports).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The calibration windows of `text` and their act² weights (0 where the token is not
/// in `kept`; all 1 with `kept = None`, plain act²). Fails when the text is shorter
/// than one window.
pub fn prepare_windows(
    tok: &Tokenizer,
    text: &str,
    samples: usize,
    seq_len: usize,
    kept: Option<&[u32]>,
) -> Result<(CalibWindows, Vec<f32>)> {
    let windows = calib::windows(tok, text, samples, seq_len)?;
    let weights = calib::mask(&windows.tokens, kept);
    Ok((windows, weights))
}

/// Runs the forward passes of calibration on `backend` and returns channel importance.
pub async fn calibrate<S: ByteSource>(
    backend: &calib::Backend<'_>,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    windows: CalibWindows,
    weights: &[f32],
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<Calibration> {
    let start = crate::progress::now();
    let importance = calib::importance(backend, cfg, ck, &windows, weights, progress, cancel).await?;
    let masked = weights.iter().filter(|&&w| w == 0.0).count();
    Ok(Calibration { importance, windows, masked, seconds: crate::progress::now() - start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_share_counts_occurrences_not_types() {
        let counts = HashMap::from([(1, 8), (7, 2)]);
        assert_eq!(lost_share(&counts, &[1, 2, 3]), 0.2);
        assert_eq!(lost_share(&counts, &[1, 7]), 0.0);
        assert_eq!(lost_share(&HashMap::new(), &[1]), 0.0);
    }
}
