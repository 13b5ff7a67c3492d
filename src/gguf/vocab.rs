//! The `tokenizer.*` metadata of a GGUF, from a Hugging Face folder's tokenizer files,
//! as llama.cpp's `convert_hf_to_gguf.py` derives it (the inverse of
//! [`super::tokenizer`]):
//!
//! - byte-level BPE (SmolLM2, Qwen2.5): `gpt2` with the vocabulary in id order, every
//!   id without a token as `[PAD{id}]` (unused), added tokens as control tokens when
//!   special or special-looking (`<|…|>`, `<pad>`, `<unused…>`), else user-defined; the
//!   merges as `"a b"`; the pre-tokenizer named from the tokenizer's own structure.
//! - SentencePiece BPE (Gemma-3): `llama` with the pieces, scores and types of
//!   `tokenizer.model`, added tokens from `added_tokens.json` and
//!   `tokenizer_config.json` (score −1000; user-defined ones with `▁` back to spaces).
//! - Special ids from `tokenizer_config.json`'s token strings, else config.json's ids;
//!   `add_bos_token` / `add_eos_token` and the chat template from tokenizer_config.json.

use serde_json::Value as Json;

use super::reader::Value;
use crate::error::{Error, Result};
use crate::tokenizer::sentencepiece;

const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// Qwen2's pre-tokenizer regex (the split `qwen2` stands for in llama.cpp).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Llama-3's pre-tokenizer regex (`llama-bpe`).
const LLAMA3_REGEX: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer files of a folder, as read.
pub struct TokenizerSources<'a> {
    /// tokenizer.json.
    pub tokenizer: &'a Json,
    /// tokenizer_config.json, if any.
    pub config: Option<&'a Json>,
    /// config.json (special ids when tokenizer_config.json has none).
    pub model_config: &'a Json,
    /// tokenizer.model (SentencePiece), if any.
    pub sentencepiece: Option<&'a [u8]>,
    /// added_tokens.json, if any.
    pub added_tokens: Option<&'a Json>,
}

const FILE: &str = crate::tokenizer::FILE;

/// The `tokenizer.*` key/values for a model with `rows` embedding rows.
pub fn metadata(src: &TokenizerSources, rows: usize) -> Result<Vec<(String, Value)>> {
    let model = src.tokenizer.get("model").ok_or_else(|| Error::format(FILE, "no \"model\" section"))?;
    if model.get("type").and_then(Json::as_str).unwrap_or("BPE") != "BPE" {
        return Err(Error::format(FILE, "only BPE tokenizers can be written to GGUF"));
    }
    let added: Vec<(usize, String, bool)> = src
        .tokenizer
        .get("added_tokens")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|a| Some((a.get("id")?.as_u64()? as usize, a.get("content")?.as_str()?.to_string(), a.get("special")?.as_bool()?)))
        .collect();
    let mut tokens: Vec<String> = (0..rows).map(|i| format!("[PAD{i}]")).collect();
    let mut types = vec![UNUSED; rows];
    let mut out = Vec::new();
    let byte_fallback = model.get("byte_fallback").and_then(Json::as_bool).unwrap_or(false);

    if let (Some(sp), true) = (src.sentencepiece, byte_fallback) {
        let mut scores = vec![-10000f32; rows];
        for (id, e) in sentencepiece::piece_entries(sp)?.into_iter().enumerate().take(rows) {
            tokens[id] = e.piece;
            scores[id] = e.score;
            types[id] = e.kind;
        }
        let overrides = src.added_tokens.and_then(Json::as_object).into_iter().flatten().filter_map(|(t, id)| Some((id.as_u64()?, t)));
        for (id, t) in overrides.filter(|&(id, _)| (id as usize) < rows) {
            tokens[id as usize] = t.clone();
            scores[id as usize] = -1000.0;
            types[id as usize] = USER_DEFINED;
        }
        for (id, content, special) in decoder_entries(src) {
            if id < rows {
                scores[id] = -1000.0;
                (tokens[id], types[id]) = added_token(&content, special);
            }
        }
        out.push(("tokenizer.ggml.model".to_string(), Value::String("llama".into())));
        out.push(("tokenizer.ggml.pre".to_string(), Value::String("default".into())));
        // llama.cpp assumes a leading space for SentencePiece vocabularies unless told.
        out.push(("tokenizer.ggml.add_space_prefix".to_string(), Value::Bool(sentencepiece::add_dummy_prefix(sp)?)));
        out.push(("tokenizer.ggml.tokens".to_string(), strings(tokens)));
        out.push(("tokenizer.ggml.scores".to_string(), Value::Array(scores.into_iter().map(Value::F32).collect())));
        out.push(("tokenizer.ggml.token_type".to_string(), Value::Array(types.into_iter().map(Value::I32).collect())));
    } else {
        let vocab = model.get("vocab").and_then(Json::as_object).ok_or_else(|| Error::format(FILE, "model.vocab is not an object"))?;
        for (t, id) in vocab {
            let id = id.as_u64().ok_or_else(|| Error::format(FILE, format!("id of {t:?} is not an integer")))? as usize;
            if id >= rows {
                return Err(Error::format(FILE, format!("token {t:?} has id {id}, outside the model's {rows} rows")));
            }
            (tokens[id], types[id]) = (t.clone(), NORMAL);
        }
        for (id, content, special) in &added {
            if *id < rows {
                (tokens[*id], types[*id]) = added_token(content, *special);
            }
        }
        let merges = model.get("merges").and_then(Json::as_array).map(Vec::as_slice).unwrap_or_default();
        let merges = merges
            .iter()
            .map(|m| match m {
                Json::String(s) => Ok(s.clone()),
                Json::Array(p) if p.len() == 2 && p.iter().all(Json::is_string) => {
                    Ok(format!("{} {}", p[0].as_str().unwrap_or_default(), p[1].as_str().unwrap_or_default()))
                }
                _ => Err(Error::format(FILE, format!("merge {m} is neither \"a b\" nor [a, b]"))),
            })
            .collect::<Result<Vec<String>>>()?;
        out.push(("tokenizer.ggml.model".to_string(), Value::String("gpt2".into())));
        out.push(("tokenizer.ggml.pre".to_string(), Value::String(pre_tokenizer(src.tokenizer)?.into())));
        out.push(("tokenizer.ggml.tokens".to_string(), strings(tokens)));
        out.push(("tokenizer.ggml.token_type".to_string(), Value::Array(types.into_iter().map(Value::I32).collect())));
        out.push(("tokenizer.ggml.merges".to_string(), strings(merges)));
    }

    // Special ids: tokenizer_config.json's strings (among the added tokens), else
    // config.json's ids.
    let id_of = |content: &str| added.iter().find(|(_, c, _)| c == content).map(|(id, ..)| *id);
    for (kind, key) in [("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"), ("pad", "padding_token_id")] {
        let named = src.config.and_then(|c| c.get(format!("{kind}_token"))).and_then(|v| match v {
            Json::String(s) => Some(s.as_str()),
            Json::Object(o) => o.get("content").and_then(Json::as_str),
            _ => None,
        });
        let id = named.and_then(id_of).or_else(|| {
            let v = src.model_config.get(format!("{kind}_token_id"))?;
            v.as_u64().or_else(|| v.as_array()?.first()?.as_u64()).map(|n| n as usize)
        });
        if let Some(id) = id.filter(|&id| id < rows) {
            out.push((format!("tokenizer.ggml.{key}"), Value::U32(id as u32)));
        }
    }
    for kind in ["bos", "eos"] {
        if let Some(b) = src.config.and_then(|c| c.get(format!("add_{kind}_token"))).and_then(Json::as_bool) {
            out.push((format!("tokenizer.ggml.add_{kind}_token"), Value::Bool(b)));
        }
    }
    let template = src.config.and_then(|c| c.get("chat_template")).and_then(|t| match t {
        Json::String(s) => Some(s.clone()),
        Json::Array(named) => {
            named.iter().find(|n| n.get("name").and_then(Json::as_str) == Some("default"))?.get("template")?.as_str().map(String::from)
        }
        _ => None,
    });
    if let Some(t) = template {
        out.push(("tokenizer.chat_template".to_string(), Value::String(t)));
    }
    Ok(out)
}

fn strings(v: Vec<String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// tokenizer_config.json's `added_tokens_decoder`, as (id, content, special).
fn decoder_entries(src: &TokenizerSources) -> Vec<(usize, String, bool)> {
    let Some(map) = src.config.and_then(|c| c.get("added_tokens_decoder")).and_then(Json::as_object) else { return Vec::new() };
    map.iter()
        .filter_map(|(id, t)| {
            Some((id.parse().ok()?, t.get("content")?.as_str()?.to_string(), t.get("special").and_then(Json::as_bool).unwrap_or(false)))
        })
        .collect()
}

/// An added token's text and type: control when special or special-looking, else
/// user-defined with `▁` written as a space (llama.cpp pre-normalizes them).
fn added_token(content: &str, special: bool) -> (String, i32) {
    if special || looks_special(content) { (content.to_string(), CONTROL) } else { (content.replace('\u{2581}', " "), USER_DEFINED) }
}

/// llama.cpp's `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<\u{ff5c}") && t.ends_with("\u{ff5c}>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// llama.cpp's name for a byte-level tokenizer's pre-tokenizer, told from its structure
/// (llama.cpp itself hashes the ids of a test string, which pruning changes).
fn pre_tokenizer(tok: &Json) -> Result<&'static str> {
    let pre = tok.get("pre_tokenizer").unwrap_or(&Json::Null);
    let parts: Vec<&Json> = match pre.get("type").and_then(Json::as_str) {
        Some("Sequence") => pre.get("pretokenizers").and_then(Json::as_array).map(|a| a.iter().collect()).unwrap_or_default(),
        _ => vec![pre],
    };
    let kind = |p: &Json| p.get("type").and_then(Json::as_str).unwrap_or_default().to_string();
    let regex = |p: &Json| p.get("pattern").and_then(|r| r.get("Regex")).and_then(Json::as_str).map(String::from);
    let digits = parts.iter().any(|p| kind(p) == "Digits" && p.get("individual_digits").and_then(Json::as_bool) == Some(true));
    match parts.iter().find(|p| kind(p) == "Split").and_then(|p| regex(p)) {
        Some(r) if r == QWEN2_REGEX => Ok("qwen2"),
        Some(r) if r == LLAMA3_REGEX => Ok("llama-bpe"),
        None if digits && parts.iter().any(|p| kind(p) == "ByteLevel") => Ok("smollm"),
        _ => Err(Error::format(
            FILE,
            "its pre-tokenizer is not one llama.cpp knows by a name compact can tell (supported: SmolLM2's, Qwen2's and Llama-3's)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_tokens_are_typed_as_llama_cpp_types_them() {
        assert_eq!(added_token("<|im_start|>", false), ("<|im_start|>".into(), CONTROL));
        assert_eq!(added_token("<tool_call>", false), ("<tool_call>".into(), USER_DEFINED));
        assert_eq!(added_token("\u{2581}\u{2581}x", false), ("  x".into(), USER_DEFINED));
        assert_eq!(added_token("<eos>", true).1, CONTROL);
    }

    #[test]
    fn pre_tokenizers_are_named_by_structure() {
        let smollm = json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false}]}});
        assert_eq!(pre_tokenizer(&smollm).unwrap(), "smollm");
        let qwen = json!({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}}, {"type": "ByteLevel"}]}});
        assert_eq!(pre_tokenizer(&qwen).unwrap(), "qwen2");
        assert!(pre_tokenizer(&json!({"pre_tokenizer": {"type": "Whitespace"}})).is_err());
    }
}
