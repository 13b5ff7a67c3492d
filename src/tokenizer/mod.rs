//! tokenizer.json: encoding/decoding through the `tokenizers` crate (on every target),
//! and vocabulary surgery on the file as JSON ([`surgery`]) and on SentencePiece's
//! tokenizer.model ([`sentencepiece`]).

mod files;
pub mod json;
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

/// Parses tokenizer.json bytes (a BPE model without a JSON tree: see [`json::build`]).
pub fn load(bytes: &[u8]) -> Result<Tokenizer> {
    json::build(bytes)
}

/// Refuses what makes the tokenizers library panic (or worse) instead of failing: a
/// BPE merge whose second part does not start with the `continuing_subword_prefix`
/// (found by fuzzing). [`json::build`] runs it on the merges it has parsed.
fn check_continuations(tok: &json::TokenizerJson, bpe: &json::Bpe) -> Result<()> {
    let Some(prefix) = tok.model_field("continuing_subword_prefix")?.and_then(|p| p.as_str().map(str::to_string)) else {
        return Ok(());
    };
    match bpe.merges.iter().find(|m| !prefix.is_empty() && !m.b.starts_with(&prefix)) {
        Some(m) => {
            Err(Error::format(FILE, format!("merge {:?} does not continue with the continuing_subword_prefix {prefix:?}", [&m.a, &m.b])))
        }
        None => Ok(()),
    }
}

/// Encodes `text`, adding the special tokens the post-processor adds (e.g. Gemma's `<bos>`).
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tok.encode(text, true).map_err(|e| Error::format(FILE, format!("encoding failed: {e}")))?.get_ids().to_vec())
}

/// Encodes `text` without special tokens (calibration windows, evaluation pairs).
pub fn encode_plain(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tok.encode(text, false).map_err(|e| Error::format(FILE, format!("encoding failed: {e}")))?.get_ids().to_vec())
}

/// Bytes of text encoded at a time by [`encode_plain_chunks`]: the tokenizer's
/// per-token bookkeeping (offsets, strings, masks) takes ~100 bytes a token, so whole
/// texts of many megabytes are never encoded in one call.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Encodes `text` without special tokens, [`CHUNK_BYTES`] at a time (each chunk ends at
/// a line break where there is one, else at whitespace), handing each chunk's ids to
/// `sink` until it returns `false`. Texts shorter than a chunk encode exactly as
/// [`encode_plain`] does; longer ones may differ only at the chunk seams.
pub fn encode_plain_chunks(tok: &Tokenizer, text: &str, sink: &mut dyn FnMut(Vec<u32>) -> bool) -> Result<()> {
    let mut rest = text;
    while !rest.is_empty() {
        let cut = chunk_end(rest, CHUNK_BYTES);
        let (chunk, tail) = rest.split_at(cut);
        rest = tail;
        if !sink(encode_plain(tok, chunk)?) {
            break;
        }
    }
    Ok(())
}

/// Where the first chunk of at most `max` bytes of `text` ends: after its last line
/// break, else after its last whitespace, else at a character boundary (all of `text`
/// when it is short enough).
fn chunk_end(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    match head.rfind('\n').or_else(|| head.rfind(char::is_whitespace)) {
        Some(i) if i > 0 => i + head[i..].chars().next().map_or(1, char::len_utf8),
        _ => end.max(1),
    }
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
        let vocab = Vocab::from_tokenizer(&json::TokenizerJson::parse(&bytes)?, cfg.vocab_size)
            .map_err(|e| TokenizerError::NotPrunable(e.to_string()));
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

#[cfg(test)]
mod tests {
    use super::{check_continuations, chunk_end, json};

    fn check_loadable(bytes: &[u8]) -> crate::Result<()> {
        let tok = json::TokenizerJson::parse(bytes)?;
        check_continuations(&tok, &tok.bpe()?)
    }

    #[test]
    fn merges_that_would_crash_the_tokenizers_library_are_refused() {
        let t = |merges: &str| {
            format!(r#"{{"model": {{"type": "BPE", "continuing_subword_prefix": "@@", "vocab": {{}}, "merges": {merges}}}}}"#)
        };
        assert!(check_loadable(t(r#"["a @@b"]"#).as_bytes()).is_ok());
        assert!(check_loadable(t(r#"["a b"]"#).as_bytes()).unwrap_err().to_string().contains("continuing_subword_prefix"));
        assert!(check_loadable(t(r#"[["a", "@"]]"#).as_bytes()).is_err());
        assert!(check_loadable(br#"{"model": {"type": "BPE", "vocab": {}, "merges": ["a b"]}}"#).is_ok());
    }

    #[test]
    fn chunks_end_at_line_breaks_then_spaces_then_characters() {
        assert_eq!(chunk_end("short", 10), 5);
        assert_eq!(chunk_end("ab\ncd ef gh", 8), 3);
        assert_eq!(chunk_end("abcd efgh", 7), 5);
        assert_eq!(chunk_end("ééééé", 5), 4, "never inside a character");
        assert_eq!(chunk_end("abcdefgh", 3), 3);
    }
}
