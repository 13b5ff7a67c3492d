//! Paper step 3, calibration. Calibration text → token windows and the common-token mask (paper Algorithm 1):
//! the text is tokenized without special tokens; each window is the tokenizer's BOS
//! (only when its post-processor adds one, e.g. Llama-3, Gemma-3) followed by
//! consecutive text tokens, `seq_len` tokens in all; the first N non-overlapping
//! windows are used. A position's act² counts with weight 0 when its token is in the
//! rare set S (about to be removed), 1 otherwise.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokenizers::Tokenizer;

use crate::engine::Device;
use crate::error::{CalibError, Error, Result};
use crate::io::ByteSource;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{Cancel, ProgressSink, now};

/// The built-in calibration text: Shakespeare's *As You Like It*, public domain (source
/// and licence in `data/calibration/SOURCE.md`).
pub const BUILTIN: &str = include_str!("../../data/calibration/as_you_like_it.txt");

/// How the built-in text is named in reports.
pub const BUILTIN_NAME: &str = "built-in text (Shakespeare, As You Like It; public domain)";

/// A calibration text that ships with the app and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// What `--calib` takes.
    pub key: &'static str,
    /// How reports name it.
    pub name: &'static str,
    /// A short label for buttons.
    pub label: &'static str,
    /// The text.
    pub text: &'static str,
}

/// The built-in texts: English prose (the default), and Python source for code models
/// (ten modules of the Python 3.11 standard library, PSF licence; source and licence
/// in `data/calibration/SOURCE.md`). Calibrate on text like the model's use: a code
/// model calibrated on a play loses what makes it write code.
pub const BUILTINS: [Builtin; 2] = [
    Builtin { key: "builtin", name: BUILTIN_NAME, label: "Built-in prose", text: BUILTIN },
    Builtin {
        key: "builtin-code",
        name: "built-in code (Python 3.11 standard library modules; PSF licence)",
        label: "Built-in code (Python)",
        text: include_str!("../../data/calibration/python_stdlib.py.txt"),
    },
];

/// A calibration text and how reports name it (a built-in, a file, pasted text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibText {
    /// How reports name it.
    pub name: String,
    /// The text.
    pub text: Arc<str>,
}

impl CalibText {
    /// A built-in text.
    pub fn builtin(b: &Builtin) -> Self {
        Self { name: b.name.into(), text: b.text.into() }
    }
}

impl Default for CalibText {
    fn default() -> Self {
        Self::builtin(&BUILTINS[0])
    }
}

/// The built-in text `--calib KEY` names, if any.
pub fn builtin(key: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.key == key)
}

/// Default number of windows (the paper found 16 samples enough).
pub const DEFAULT_SAMPLES: usize = 16;

/// Default tokens per window.
pub const DEFAULT_SEQ_LEN: usize = 512;

/// The largest calibration file read: far more text than any calibration uses (16
/// windows of 512 tokens are ~40 KB of English).
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Refuses a calibration file of `bytes` bytes over [`MAX_TEXT_BYTES`], before it is read.
pub fn check_text_size(bytes: u64) -> Result<()> {
    if bytes > MAX_TEXT_BYTES {
        return Err(CalibError::TextTooLarge { bytes, limit: MAX_TEXT_BYTES }.into());
    }
    Ok(())
}

/// Calibration text from a file's bytes: a `.jsonl` file gives the `text` field of
/// every line (joined by blank lines); anything else must be UTF-8 text.
pub fn text_from_bytes(name: &str, bytes: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::format(name, format!("is not UTF-8 text (is it a binary file?): invalid byte at offset {}", e.valid_up_to()))
    })?;
    if text.contains('\0') {
        return Err(Error::format(name, "contains NUL bytes: it looks like a binary file, not text"));
    }
    let text = if name.to_lowercase().ends_with(".jsonl") {
        let mut parts = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| Error::format(name, format!("line {} is not JSON: {e}", n + 1)))?;
            let field = value.get("text").and_then(|t| t.as_str());
            parts.push(field.ok_or_else(|| Error::format(name, format!("line {} has no string field \"text\"", n + 1)))?.to_string());
        }
        parts.join("\n\n")
    } else {
        text.to_string()
    };
    if text.trim().is_empty() {
        return Err(Error::format(name, "has no text to calibrate on"));
    }
    Ok(text)
}

/// The token the tokenizer's post-processor puts before a sequence (BOS), if any.
pub fn bos_of(tok: &Tokenizer) -> Result<Option<u32>> {
    let (plain, with) = (crate::tokenizer::encode_plain(tok, "a")?, crate::tokenizer::encode(tok, "a")?);
    Ok((with.len() > plain.len() && with[1..].starts_with(&plain)).then(|| with[0]))
}

/// Calibration windows: `windows` rows of `seq_len` token ids, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalibWindows {
    /// `count` × `seq_len` token ids.
    pub tokens: Vec<u32>,
    /// Tokens per window (L).
    pub seq_len: usize,
    /// Windows (N).
    pub count: usize,
    /// The BOS put at the start of every window, if the tokenizer adds one.
    pub bos: Option<u32>,
    /// Tokens of the text that were read (without special tokens): all of them when it
    /// is shorter than the windows asked for.
    pub text_tokens: usize,
}

/// The first `samples` non-overlapping windows of `seq_len` tokens of `text` (fewer
/// when the text is shorter: check [`CalibWindows::count`]).
pub fn windows(tok: &Tokenizer, text: &str, samples: usize, seq_len: usize) -> Result<CalibWindows> {
    if samples == 0 || seq_len < 2 {
        return Err(CalibError::NoWindows { samples, seq_len }.into());
    }
    let bos = bos_of(tok)?;
    let per = seq_len - bos.is_some() as usize;
    // Only as much of the text as the windows use is tokenized.
    let need = samples.saturating_mul(per);
    let mut ids = Vec::new();
    crate::tokenizer::encode_plain_chunks(tok, text, &mut |chunk| {
        ids.extend(chunk);
        ids.len() < need
    })?;
    let available = ids.len() / per;
    if available == 0 {
        return Err(CalibError::TextTooShort { tokens: ids.len(), seq_len, bos: bos.is_some() }.into());
    }
    let n = samples.min(available);
    let mut tokens = Vec::with_capacity(n * seq_len);
    for w in ids.chunks_exact(per).take(n) {
        tokens.extend(bos);
        tokens.extend_from_slice(w);
    }
    Ok(CalibWindows { tokens, seq_len, count: n, bos, text_tokens: ids.len() })
}

/// The act² weight of every position: 0 where the token is not kept (rare set S), 1
/// elsewhere; all 1 when the vocabulary is not pruned. `kept` is ascending.
pub fn mask(tokens: &[u32], kept: Option<&[u32]>) -> Vec<f32> {
    tokens.iter().map(|t| if kept.is_none_or(|k| k.binary_search(t).is_ok()) { 1.0 } else { 0.0 }).collect()
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
            ("samples".to_string(), self.windows.count.to_string()),
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
    let windows = windows(tok, text, samples, seq_len)?;
    let weights = mask(&windows.tokens, kept);
    Ok((windows, weights))
}

/// Runs the forward passes of calibration on `device` and returns channel importance.
pub async fn calibrate<S: ByteSource>(
    device: &Device,
    cfg: &ModelConfig,
    ck: &Checkpoint<S>,
    windows: CalibWindows,
    weights: &[f32],
    progress: &mut dyn ProgressSink,
    cancel: &Cancel,
) -> Result<Calibration> {
    let start = now();
    let importance = device.importance(cfg, ck, &windows.tokens, windows.seq_len, weights, progress, cancel).await?;
    let masked = weights.iter().filter(|&&w| w == 0.0).count();
    Ok(Calibration { importance, windows, masked, seconds: now() - start })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_takes_text_fields_and_rejects_bad_lines() {
        let t = text_from_bytes("c.jsonl", b"{\"text\": \"one\"}\n\n{\"text\": \"two\", \"id\": 3}\n").unwrap();
        assert_eq!(t, "one\n\ntwo");
        let e = text_from_bytes("c.jsonl", b"{\"text\": \"one\"}\nnot json\n").unwrap_err().to_string();
        assert!(e.contains("line 2 is not JSON"), "{e}");
        let e = text_from_bytes("c.jsonl", b"{\"body\": \"one\"}\n").unwrap_err().to_string();
        assert!(e.contains("no string field \"text\""), "{e}");
    }

    #[test]
    fn empty_and_binary_files_are_refused() {
        assert!(text_from_bytes("e.txt", b"  \n").unwrap_err().to_string().contains("no text"));
        assert!(text_from_bytes("b.bin", &[0x50, 0x4b, 0x03, 0x04, 0xff, 0xfe]).unwrap_err().to_string().contains("not UTF-8"));
        assert!(text_from_bytes("b.bin", b"PK\0\0abc").unwrap_err().to_string().contains("binary"));
    }

    #[test]
    fn mask_zeroes_removed_tokens_only() {
        assert_eq!(mask(&[1, 5, 9, 2], Some(&[1, 2, 9])), vec![1.0, 0.0, 1.0, 1.0]);
        assert_eq!(mask(&[1, 5], None), vec![1.0, 1.0]);
    }

    #[test]
    fn builtin_texts_are_found_by_key() {
        assert_eq!(builtin("builtin").map(|b| b.text), Some(BUILTIN));
        assert!(builtin("builtin-code").is_some_and(|b| b.text.contains("def heappush(")));
        assert!(builtin("calib.txt").is_none());
    }
}
