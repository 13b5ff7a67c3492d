//! tokenizer.json: encoding/decoding through the `tokenizers` crate (on every target),
//! and vocabulary surgery on the file as JSON ([`surgery`]) and on SentencePiece's
//! tokenizer.model ([`sentencepiece`]).

mod files;
pub mod sentencepiece;
pub mod surgery;

pub use files::prune_files;

use tokenizers::Tokenizer;

use crate::error::{Error, Result, TokenizerError};
use crate::io::{ByteSource, ModelFolder};
use crate::model::ModelConfig;
use surgery::Vocab;

/// The tokenizer file of a Hugging Face folder.
pub const FILE: &str = "tokenizer.json";

/// Parses tokenizer.json bytes.
pub fn load(bytes: &[u8]) -> Result<Tokenizer> {
    Tokenizer::from_bytes(bytes).map_err(|e| Error::format(FILE, format!("cannot be loaded: {e}")))
}

/// Encodes `text`, adding the special tokens the post-processor adds (e.g. Gemma's `<bos>`).
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tok.encode(text, true).map_err(|e| Error::format(FILE, format!("encoding failed: {e}")))?.get_ids().to_vec())
}

/// Encodes `text` without special tokens (calibration windows, evaluation pairs).
pub fn encode_plain(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tok.encode(text, false).map_err(|e| Error::format(FILE, format!("encoding failed: {e}")))?.get_ids().to_vec())
}

/// Decodes ids back to text (special tokens skipped).
pub fn decode(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
    tok.decode(ids, true).map_err(|e| Error::format(FILE, format!("decoding failed: {e}")))
}

/// A folder's tokenizer.json: its bytes, and its vocabulary when surgery supports it
/// (a BPE tokenizer), or why not.
pub struct TokenizerFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its vocabulary for surgery, or why surgery cannot prune it.
    pub vocab: std::result::Result<Vocab, TokenizerError>,
    /// The parsed tokenizer, on first use.
    parsed: std::cell::OnceCell<Tokenizer>,
}

impl TokenizerFile {
    /// Reads tokenizer.json, `Ok(None)` when the folder has none.
    pub async fn read(folder: &impl ModelFolder, cfg: &ModelConfig) -> Result<Option<Self>> {
        let Some(src) = folder.open(FILE).await? else { return Ok(None) };
        let bytes = src.read_to_end().await?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::format(FILE, format!("is not valid JSON: {e}")))?;
        let vocab = Vocab::from_tokenizer(&json, cfg.vocab_size).map_err(|e| TokenizerError::NotPrunable(e.to_string()));
        Ok(Some(Self { bytes, vocab, parsed: Default::default() }))
    }

    /// The tokenizer itself, for encoding text (parsed on first use, then kept).
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        if let Some(t) = self.parsed.get() {
            return Ok(t);
        }
        let t = load(&self.bytes)?;
        Ok(self.parsed.get_or_init(|| t))
    }

    /// The fewest vocabulary rows surgery can leave (all of them when it cannot prune
    /// this vocabulary).
    pub fn min_rows(&self, cfg: &ModelConfig) -> usize {
        self.vocab.as_ref().map_or(cfg.vocab_size, Vocab::min_rows)
    }
}
