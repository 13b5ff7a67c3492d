//! Paper step 2, the rare set S: which vocabulary rows go. By default the highest-id
//! regular tokens (BPE ids follow merge order, so high ids are rare), or the tokens
//! least frequent in the user's own calibration text; special and byte tokens always
//! stay, and the merge table stays closed ([`crate::tokenizer::surgery::Vocab::keep`]).

use std::collections::HashMap;

use serde::Serialize;
use tokenizers::Tokenizer;

use crate::error::{CalibError, Error, Result};
use crate::model::ModelConfig;
use crate::tokenizer::TokenizerFile;

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

/// How often each token occurs in `text` (tokenized without special tokens).
pub fn token_counts(tok: &Tokenizer, text: &str) -> Result<HashMap<u32, u64>> {
    let mut counts = HashMap::new();
    crate::tokenizer::encode_plain_chunks(tok, text, &mut |ids| {
        for id in ids {
            *counts.entry(id).or_insert(0u64) += 1;
        }
        true
    })?;
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
    let tokenizer = tokenizer.ok_or_else(|| Error::missing_tokenizer("vocabulary pruning rewrites it"))?;
    let vocab = tokenizer.vocab.as_ref().map_err(|e| Error::from(e.clone()))?;
    let frequency = match rare_by {
        RareBy::Id => None,
        RareBy::Freq => {
            let (tok, text) = text.ok_or(CalibError::FrequencyNeedsText)?;
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
