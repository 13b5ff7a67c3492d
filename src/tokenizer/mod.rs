//! tokenizer.json: encoding/decoding through the `tokenizers` crate (on every target),
//! and vocabulary surgery on the file as JSON ([`surgery`]) and on SentencePiece's
//! tokenizer.model ([`sentencepiece`]).

pub mod sentencepiece;
pub mod surgery;

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

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
