//! Calibration text → token windows and the common-token mask (paper Algorithm 1):
//! the text is tokenized without special tokens; each window is the tokenizer's BOS
//! (only when its post-processor adds one, e.g. Llama-3, Gemma-3) followed by
//! consecutive text tokens, `seq_len` tokens in all; the first N non-overlapping
//! windows are used. A position's act² counts with weight 0 when its token is in the
//! rare set S (about to be removed), 1 otherwise.

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// The built-in calibration text: Shakespeare's *As You Like It*, public domain (source
/// and licence in `data/calibration/SOURCE.md`).
pub const BUILTIN: &str = include_str!("../data/calibration/as_you_like_it.txt");

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
        text: include_str!("../data/calibration/python_stdlib.py.txt"),
    },
];

/// The built-in text `--calib KEY` names, if any.
pub fn builtin(key: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.key == key)
}

/// Default number of windows (the paper found 16 samples enough).
pub const DEFAULT_SAMPLES: usize = 16;

/// Default tokens per window.
pub const DEFAULT_SEQ_LEN: usize = 512;

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
    pub tokens: Vec<u32>,
    pub seq_len: usize,
    pub windows: usize,
    /// The BOS put at the start of every window, if the tokenizer adds one.
    pub bos: Option<u32>,
    /// Tokens in the whole text (without special tokens).
    pub text_tokens: usize,
}

/// The first `samples` non-overlapping windows of `seq_len` tokens of `text` (fewer
/// when the text is shorter: check [`CalibWindows::windows`]).
pub fn windows(tok: &Tokenizer, text: &str, samples: usize, seq_len: usize) -> Result<CalibWindows> {
    if samples == 0 || seq_len < 2 {
        return Err(Error::Invalid(format!("calibration needs at least 1 window of at least 2 tokens (asked for {samples} × {seq_len})")));
    }
    let ids = crate::tokenizer::encode_plain(tok, text)?;
    let bos = bos_of(tok)?;
    let per = seq_len - bos.is_some() as usize;
    let available = ids.len() / per;
    if available == 0 {
        return Err(Error::Invalid(format!(
            "the calibration text has {} tokens, fewer than one window of {seq_len}{}; use a longer text or a smaller --seq-len",
            ids.len(),
            if bos.is_some() { " (BOS + text)" } else { "" }
        )));
    }
    let n = samples.min(available);
    let mut tokens = Vec::with_capacity(n * seq_len);
    for w in ids.chunks_exact(per).take(n) {
        tokens.extend(bos);
        tokens.extend_from_slice(w);
    }
    Ok(CalibWindows { tokens, seq_len, windows: n, bos, text_tokens: ids.len() })
}

/// The act² weight of every position: 0 where the token is not kept (rare set S), 1
/// elsewhere; all 1 when the vocabulary is not pruned. `kept` is ascending.
pub fn mask(tokens: &[u32], kept: Option<&[u32]>) -> Vec<f32> {
    tokens.iter().map(|t| if kept.is_none_or(|k| k.binary_search(t).is_ok()) { 1.0 } else { 0.0 }).collect()
}

/// Where calibration runs.
pub enum Backend<'a> {
    /// The GPU engine (WebGPU or native).
    Gpu(&'a crate::engine::gpu::Gpu),
    /// The CPU reference forward, a few windows per pass (the no-GPU path).
    Cpu,
}

/// Bytes of FFN activations one CPU calibration pass may hold (it sets how many windows
/// share a pass; 64 MiB keeps the browser's wasm memory well under its budget).
const CPU_ACTIVATION_BYTES: usize = 64 << 20;

/// Tokens one CPU calibration pass runs at most: reading the weights once per 1024
/// tokens costs little next to the arithmetic, and progress stays frequent.
const CPU_PASS_TOKENS: usize = 1024;

/// Per layer, `Σ_i w_i h_ik²` over every window (`I` values each), with `w` from
/// [`mask`]; progress as (windows·layers) done on the GPU, windows done on the CPU.
pub async fn importance<S: crate::io::ByteSource>(
    backend: &Backend<'_>,
    cfg: &crate::model::ModelConfig,
    ck: &crate::model::Checkpoint<S>,
    windows: &CalibWindows,
    weights: &[f32],
    progress: &mut dyn crate::ProgressSink,
    cancel: &crate::progress::Cancel,
) -> Result<Vec<Vec<f64>>> {
    use crate::engine::{cpu, forward};
    let t = windows.seq_len;
    match backend {
        Backend::Gpu(gpu) => {
            let w = forward::Windows { tokens: &windows.tokens, t, act2_weights: Some(weights) };
            Ok(forward::run(gpu, cfg, ck, w, &forward::GpuOptions::default(), progress, cancel).await?.importance)
        }
        Backend::Cpu => {
            // Several windows per pass, so each layer's weights are read once for all
            // of them: up to CPU_PASS_TOKENS, and as many as keep the FFN activations
            // (gate, up, product) in budget.
            let fit = (CPU_ACTIVATION_BYTES / (t * cfg.intermediate_size * 3 * 4)).min(CPU_PASS_TOKENS / t);
            let per_pass = fit.clamp(1, windows.windows.max(1));
            let mut total = vec![vec![0f64; cfg.intermediate_size]; cfg.num_layers];
            let mut done = 0;
            for (group, w) in windows.tokens.chunks(per_pass * t).zip(weights.chunks(per_pass * t)) {
                cancel.check()?;
                let seqs: Vec<&[u32]> = group.chunks_exact(t).collect();
                let opts =
                    cpu::ForwardOptions { act2_weights: Some(w), logits: cpu::Logits::None, cancel: Some(cancel), ..Default::default() };
                for (acc, imp) in total.iter_mut().zip(cpu::forward_batch(cfg, ck, &seqs, &opts).await?.importance) {
                    acc.iter_mut().zip(imp).for_each(|(a, b)| *a += b);
                }
                done += seqs.len();
                progress.report(crate::Progress { stage: "calibrating (CPU)".into(), done: done as u64, total: windows.windows as u64 });
            }
            Ok(total)
        }
    }
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
