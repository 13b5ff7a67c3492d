//! `tokenizer.json` and `tokenizer_config.json` rebuilt from a GGUF's `tokenizer.*`
//! metadata, in the structure of each family's published Hugging Face tokenizer.
//!
//! - `gpt2` vocabularies (byte-level BPE with a merge list) are rebuilt per
//!   `tokenizer.ggml.pre`: `smollm` (Digits split one per digit, then ByteLevel) and
//!   `qwen2` (NFC, Qwen's split regex, ByteLevel without its own regex).
//! - `llama` vocabularies of Gemma-3 (SentencePiece BPE with byte fallback) have no
//!   merge list in the GGUF: the merges are rebuilt from the piece scores the way
//!   transformers' `SentencePieceExtractor` does (see [`sentencepiece_merges`]).
//!
//! Control tokens (and user-defined ones) become added tokens with their original ids
//! (user-defined SentencePiece pieces get back the `▁` llama.cpp turned into spaces);
//! llama.cpp's `[PAD…]` filler entries at the end of the vocabulary are dropped (the
//! embedding keeps its rows).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use super::plan::{Family, Meta, SpecialIds};
use super::reader::{Header, Value};
use crate::error::{Error, Result};
use crate::tokenizer::sentencepiece;

/// llama.cpp's token types.
const NORMAL: i64 = 1;
const UNKNOWN: i64 = 2;
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;
const UNUSED: i64 = 5;
const BYTE: i64 = 6;

/// Qwen2's pre-tokenizer regex (as published in its tokenizer.json).
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The rebuilt tokenizer files.
#[derive(Debug, Clone)]
pub struct TokenizerFiles {
    /// `tokenizer.json`.
    pub tokenizer: Json,
    /// `tokenizer_config.json`.
    pub config: Json,
    /// Special token ids (also for config.json / generation_config.json).
    pub ids: SpecialIds,
    /// Tokens in the tokenizer (without llama.cpp's padding entries).
    pub n_tokens: usize,
    /// SentencePiece's `tokenizer.model`, for SentencePiece vocabularies (Gemma-3), as
    /// the published folders ship it beside tokenizer.json.
    pub sentencepiece: Option<Vec<u8>>,
}

/// The GGUF vocabulary.
struct GgufVocab {
    tokens: Vec<String>,
    types: Vec<i64>,
    scores: Option<Vec<f64>>,
}

impl GgufVocab {
    /// Tokens that make up the real vocabulary: trailing `[PAD<id>]` entries of type
    /// UNUSED are llama.cpp filler up to the embedding's row count.
    fn real_len(&self) -> usize {
        let mut n = self.tokens.len();
        while n > 0 && self.types[n - 1] == UNUSED && self.tokens[n - 1] == format!("[PAD{}]", n - 1) {
            n -= 1;
        }
        n
    }

    /// llama.cpp writes the `▁` of SentencePiece user-defined pieces (Gemma's runs of
    /// spaces) as plain spaces; SentencePiece pieces never contain a plain space, so
    /// this puts them back.
    fn restore_user_defined_spaces(&mut self) {
        for (t, &ty) in self.tokens.iter_mut().zip(&self.types) {
            if ty == USER_DEFINED && t.contains(' ') {
                *t = t.replace(' ', "\u{2581}");
            }
        }
    }

    fn is_added(&self, id: usize) -> bool {
        matches!(self.types[id], CONTROL | USER_DEFINED | UNKNOWN)
    }
}

fn strings(meta: &Meta, key: &str) -> Result<Vec<String>> {
    let arr = meta
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| Error::format(meta.file, format!("metadata {key:?} is missing or not an array")))?;
    arr.iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::format(meta.file, format!("metadata {key:?} is not an array of strings")))
}

fn numbers(meta: &Meta, key: &str, n: usize, f: impl Fn(&Value) -> Option<f64>) -> Result<Option<Vec<f64>>> {
    let Some(v) = meta.get(key) else { return Ok(None) };
    let arr = v.as_array().ok_or_else(|| Error::format(meta.file, format!("metadata {key:?} is not an array")))?;
    if arr.len() != n {
        return Err(Error::format(meta.file, format!("metadata {key:?} has {} entries for {n} tokens", arr.len())));
    }
    arr.iter()
        .map(&f)
        .collect::<Option<Vec<_>>>()
        .map(Some)
        .ok_or_else(|| Error::format(meta.file, format!("metadata {key:?} is not an array of numbers")))
}

fn special_id(meta: &Meta, key: &str, n: usize) -> Result<Option<u32>> {
    match meta.opt_usize(key)? {
        Some(id) if id < n => Ok(Some(id as u32)),
        Some(id) => Err(Error::format(meta.file, format!("metadata {key:?} = {id} is outside the {n}-token vocabulary"))),
        None => Ok(None),
    }
}

/// Rebuilds the tokenizer files of a `family` model from the GGUF `header` (`file`
/// names it in errors). `context` is the model's context length (`model_max_length`).
pub fn build(header: &Header, file: &str, family: Family, context: usize) -> Result<TokenizerFiles> {
    let meta = &Meta { header, file };
    let model = meta.opt_str("tokenizer.ggml.model")?.unwrap_or("");
    let tokens = strings(meta, "tokenizer.ggml.tokens")?;
    let n_all = tokens.len();
    let types = numbers(meta, "tokenizer.ggml.token_type", n_all, |v| v.as_i64().map(|x| x as f64))?
        .map(|t| t.into_iter().map(|x| x as i64).collect())
        .unwrap_or_else(|| vec![NORMAL; n_all]);
    let scores = numbers(meta, "tokenizer.ggml.scores", n_all, Value::as_f64)?;
    let mut vocab = GgufVocab { tokens, types, scores };
    if model == "llama" {
        vocab.restore_user_defined_spaces();
    }
    let n = vocab.real_len();

    let ids = SpecialIds {
        bos: special_id(meta, "tokenizer.ggml.bos_token_id", n)?,
        eos: special_id(meta, "tokenizer.ggml.eos_token_id", n)?,
        pad: special_id(meta, "tokenizer.ggml.padding_token_id", n)?,
        unk: special_id(meta, "tokenizer.ggml.unknown_token_id", n)?,
    };
    let add_bos = meta.opt_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false);
    let add_eos = meta.opt_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
    let pre = meta.opt_str("tokenizer.ggml.pre")?.unwrap_or("default");

    let unsupported = || {
        Error::format(
            file,
            format!(
                "tokenizer {model:?} with pre-tokenizer {pre:?} is not supported by the GGUF importer (supported: gpt2 with smollm or qwen2, llama (SentencePiece) of gemma3)"
            ),
        )
    };
    let mut sentencepiece = None;
    let (mut tokenizer, class) = match (model, family) {
        ("gpt2", _) => {
            let merges = strings(meta, "tokenizer.ggml.merges")?;
            let (pieces, class) = match pre {
                "smollm" => (byte_level_smollm(), "GPT2Tokenizer"),
                "qwen2" => (byte_level_qwen2(), "Qwen2Tokenizer"),
                _ => return Err(unsupported()),
            };
            (byte_level_tokenizer(&vocab, n, merges, pieces, pre == "qwen2"), class)
        }
        ("llama", Family::Gemma3) => {
            let scores =
                piece_scores(&vocab, n).ok_or_else(|| Error::format(file, "SentencePiece vocabulary without \"tokenizer.ggml.scores\""))?;
            let add_dummy_prefix = meta.opt_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(false);
            sentencepiece = Some(sentencepiece_model(&vocab, &scores, &ids, add_dummy_prefix));
            (gemma_tokenizer(&vocab, &scores, ids.unk, file)?, "GemmaTokenizer")
        }
        _ => return Err(unsupported()),
    };

    let added = added_tokens(&vocab, n);
    let post = post_processor(&vocab, &ids, add_bos, add_eos, pre);
    let obj = tokenizer.as_object_mut().expect("object");
    obj.insert("added_tokens".into(), Json::Array(added.clone()));
    obj.insert("post_processor".into(), post);
    let tokenizer = reorder(tokenizer);

    let name = |id: Option<u32>| id.map_or(Json::Null, |i| json!(vocab.tokens[i as usize]));
    let mut decoder = Map::new();
    for t in &added {
        let mut entry = t.as_object().expect("object").clone();
        let id = entry.remove("id").expect("id");
        decoder.insert(id.to_string(), Json::Object(entry).sorted());
    }
    let mut config = Map::new();
    config.insert("add_bos_token".into(), json!(add_bos));
    config.insert("add_eos_token".into(), json!(add_eos));
    if model == "gpt2" {
        config.insert("add_prefix_space".into(), json!(false));
    }
    config.insert("added_tokens_decoder".into(), Json::Object(decoder));
    config.insert("bos_token".into(), name(ids.bos));
    if let Some(t) = meta.opt_str("tokenizer.chat_template")? {
        config.insert("chat_template".into(), json!(t));
    }
    config.insert("clean_up_tokenization_spaces".into(), json!(false));
    config.insert("eos_token".into(), name(ids.eos));
    if pre == "qwen2" {
        config.insert("errors".into(), json!("replace"));
    }
    config.insert("model_max_length".into(), json!(context));
    config.insert("pad_token".into(), name(ids.pad));
    if family == Family::Gemma3 {
        config.insert("spaces_between_special_tokens".into(), json!(false));
    }
    config.insert("split_special_tokens".into(), json!(false));
    config.insert("tokenizer_class".into(), json!(class));
    config.insert("unk_token".into(), name(ids.unk));
    Ok(TokenizerFiles { tokenizer, config: Json::Object(config), ids, n_tokens: n, sentencepiece })
}

/// Sorting a JSON object's keys (added_tokens_decoder entries are written sorted).
trait Sorted {
    fn sorted(self) -> Json;
}

impl Sorted for Json {
    fn sorted(self) -> Json {
        match self {
            Json::Object(m) => {
                let mut v: Vec<_> = m.into_iter().collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                Json::Object(v.into_iter().collect())
            }
            other => other,
        }
    }
}

/// The top-level keys in the order the `tokenizers` library writes them.
fn reorder(t: Json) -> Json {
    let Json::Object(mut m) = t else { return t };
    let mut out = Map::new();
    for k in ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model"] {
        out.insert(k.to_string(), m.remove(k).unwrap_or(Json::Null));
    }
    Json::Object(out)
}

fn added_tokens(vocab: &GgufVocab, n: usize) -> Vec<Json> {
    (0..n)
        .filter(|&i| vocab.is_added(i))
        .map(|i| {
            json!({
                "id": i,
                "content": vocab.tokens[i],
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": vocab.types[i] != USER_DEFINED,
            })
        })
        .collect()
}

/// Normalizer, pre-tokenizer and decoder of a byte-level tokenizer.
struct Pieces {
    normalizer: Json,
    pre_tokenizer: Json,
    decoder: Json,
}

fn byte_level(add_prefix_space: bool, trim_offsets: bool, use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": use_regex})
}

fn byte_level_smollm() -> Pieces {
    Pieces {
        normalizer: Json::Null,
        pre_tokenizer: json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level(false, true, true),
        ]}),
        decoder: byte_level(true, true, true),
    }
}

fn byte_level_qwen2() -> Pieces {
    Pieces {
        normalizer: json!({"type": "NFC"}),
        pre_tokenizer: json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_REGEX}, "behavior": "Isolated", "invert": false},
            byte_level(false, false, false),
        ]}),
        decoder: byte_level(false, false, false),
    }
}

/// A byte-level BPE tokenizer.json (without added tokens and post-processor). Added
/// tokens after the last regular token (Qwen's) live only in `added_tokens`, as in
/// the published files; the others are also in the model vocabulary.
fn byte_level_tokenizer(vocab: &GgufVocab, n: usize, merges: Vec<String>, p: Pieces, qwen: bool) -> Json {
    let last_regular = (0..n).rev().find(|&i| !vocab.is_added(i)).map_or(0, |i| i + 1);
    let mut map = Map::new();
    for (i, t) in vocab.tokens[..last_regular].iter().enumerate() {
        map.entry(t.clone()).or_insert(json!(i));
    }
    let affix = if qwen { json!("") } else { Json::Null };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": p.normalizer,
        "pre_tokenizer": p.pre_tokenizer,
        "decoder": p.decoder,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": affix,
            "end_of_word_suffix": affix,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": map,
            "merges": merges,
        },
    })
}

fn post_processor(vocab: &GgufVocab, ids: &SpecialIds, add_bos: bool, add_eos: bool, pre: &str) -> Json {
    let template = || {
        let tok = |id: u32| vocab.tokens[id as usize].clone();
        let (bos, eos) = (ids.bos.filter(|_| add_bos), ids.eos.filter(|_| add_eos));
        let seq = |type_id: u32, letter: &str| {
            let mut s = Vec::new();
            if let Some(b) = bos {
                s.push(json!({"SpecialToken": {"id": tok(b), "type_id": type_id}}));
            }
            s.push(json!({"Sequence": {"id": letter, "type_id": type_id}}));
            if let Some(e) = eos {
                s.push(json!({"SpecialToken": {"id": tok(e), "type_id": type_id}}));
            }
            s
        };
        let mut pair = seq(0, "A");
        pair.extend(seq(1, "B"));
        let mut specials = Map::new();
        for id in bos.into_iter().chain(eos) {
            specials.insert(tok(id), json!({"id": tok(id), "ids": [id], "tokens": [tok(id)]}));
        }
        json!({"type": "TemplateProcessing", "single": seq(0, "A"), "pair": pair, "special_tokens": specials})
    };
    let byte = match pre {
        "smollm" => Some(byte_level(true, false, true)),
        "qwen2" => Some(byte_level(false, false, false)),
        _ => None,
    };
    match (byte, add_bos || add_eos) {
        (Some(b), false) => b,
        (Some(b), true) => json!({"type": "Sequence", "processors": [b, template()]}),
        (None, _) => template(),
    }
}

/// The scores of the first `n` pieces as SentencePiece has them: llama.cpp stores −1000
/// for control / user-defined pieces where SentencePiece has 0.
fn piece_scores(vocab: &GgufVocab, n: usize) -> Option<Vec<f64>> {
    let scores = vocab.scores.as_ref()?;
    Some((0..n).map(|i| if matches!(vocab.types[i], NORMAL | BYTE) { scores[i] } else { 0.0 }).collect())
}

/// The `tokenizer.model` of a SentencePiece vocabulary: the pieces with their scores and
/// types (GGUF's token types are SentencePiece's; the unknown piece is typed so).
fn sentencepiece_model(vocab: &GgufVocab, scores: &[f64], ids: &SpecialIds, add_dummy_prefix: bool) -> Vec<u8> {
    let pieces: Vec<sentencepiece::Piece<'_>> = (0..scores.len())
        .map(|i| {
            let kind = if ids.unk == Some(i as u32) { UNKNOWN } else { vocab.types[i] };
            (vocab.tokens[i].as_str(), scores[i] as f32, kind as u32)
        })
        .collect();
    let spec = sentencepiece::BpeSpec { unk: ids.unk, bos: ids.bos, eos: ids.eos, pad: ids.pad, add_dummy_prefix };
    sentencepiece::write_bpe(&pieces, &spec)
}

/// Gemma-3's SentencePiece-style BPE with byte fallback, for the pieces that have
/// `scores` (from [`piece_scores`]).
fn gemma_tokenizer(vocab: &GgufVocab, scores: &[f64], unk: Option<u32>, file: &str) -> Result<Json> {
    let pieces = &vocab.tokens[..scores.len()];
    let merges = sentencepiece_merges(pieces, scores).map_err(|m| Error::format(file, m))?;
    let mut map = Map::new();
    for (i, t) in pieces.iter().enumerate() {
        map.entry(t.clone()).or_insert(json!(i));
    }
    let unk = unk.map_or(Json::Null, |u| json!(pieces[u as usize]));
    let merges: Vec<Json> = merges.into_iter().map(|(a, b)| json!([pieces[a], pieces[b]])).collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"},
        "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ]},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": unk,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": true,
            "byte_fallback": true,
            "ignore_merges": false,
            "vocab": map,
            "merges": merges,
        },
    }))
}

/// Longest piece [`sentencepiece_merges`] splits (real ones are under 100 bytes).
pub const MAX_PIECE_BYTES: usize = 1024;

/// Most merges [`sentencepiece_merges`] derives (Gemma-3's 262k pieces give 515k).
pub const MAX_MERGES: usize = 8 << 20;

/// BPE merges of a SentencePiece vocabulary, as transformers' `SentencePieceExtractor`
/// derives them: for every piece in id order, every split into two pieces that are
/// both in the vocabulary, ordered by the parts' ids; then all of them stably sorted
/// by (score of the merged piece, length of the left part, length of the right part),
/// descending. Returns pairs of piece ids.
///
/// Each split is looked up by a rolling hash of the piece's prefixes (then compared
/// byte for byte), so a piece costs time linear in its length; pieces over
/// [`MAX_PIECE_BYTES`] and more than [`MAX_MERGES`] merges are refused.
pub fn sentencepiece_merges(pieces: &[String], scores: &[f64]) -> std::result::Result<Vec<(usize, usize)>, String> {
    if let Some((i, p)) = pieces.iter().enumerate().find(|(_, p)| p.len() > MAX_PIECE_BYTES) {
        return Err(format!("token {i} is {} bytes long, over the {MAX_PIECE_BYTES}-byte limit for a vocabulary piece", p.len()));
    }
    let mut powers = vec![1u64; MAX_PIECE_BYTES + 1];
    for i in 1..powers.len() {
        powers[i] = mul_mod(powers[i - 1], HASH_BASE);
    }
    let mut by_hash: HashMap<(u64, usize), usize> = HashMap::with_capacity(pieces.len());
    let mut exact: HashMap<&[u8], usize> = HashMap::with_capacity(pieces.len());
    let mut prefix = Vec::with_capacity(MAX_PIECE_BYTES + 1);
    for (i, p) in pieces.iter().enumerate() {
        prefix_hashes(p.as_bytes(), &mut prefix);
        by_hash.entry((prefix[p.len()], p.len())).or_insert(i);
        exact.entry(p.as_bytes()).or_insert(i);
    }
    // The id of `bytes` (with prefix hashes `prefix`, at `start..end`) if it is a piece.
    let lookup = |bytes: &[u8], prefix: &[u64], start: usize, end: usize| -> Option<usize> {
        let h = sub_mod(prefix[end], mul_mod(prefix[start], powers[end - start]));
        let sub = &bytes[start..end];
        match by_hash.get(&(h, end - start)) {
            Some(&id) if pieces[id].as_bytes() == sub => Some(id),
            // Two pieces with one hash (never seen in real vocabularies): look up exactly.
            Some(_) => exact.get(sub).copied(),
            None => None,
        }
    };
    // (left, right, score of the merged piece, chars of left, chars of right)
    let mut merges: Vec<(usize, usize, f64, usize, usize)> = Vec::new();
    let mut local = Vec::new();
    for (piece, &score) in pieces.iter().zip(scores) {
        local.clear();
        let bytes = piece.as_bytes();
        prefix_hashes(bytes, &mut prefix);
        let mut left_chars = 0;
        let total_chars = piece.chars().count();
        for (at, _) in piece.char_indices().skip(1) {
            left_chars += 1;
            if let (Some(a), Some(b)) = (lookup(bytes, &prefix, 0, at), lookup(bytes, &prefix, at, bytes.len())) {
                local.push((a, b, score, left_chars, total_chars - left_chars));
            }
        }
        local.sort_by_key(|m| (m.0, m.1));
        merges.extend_from_slice(&local);
        if merges.len() > MAX_MERGES {
            return Err(format!("the vocabulary gives more than {MAX_MERGES} merges"));
        }
    }
    merges.sort_by(|x, y| y.2.partial_cmp(&x.2).unwrap_or(std::cmp::Ordering::Equal).then(y.3.cmp(&x.3)).then(y.4.cmp(&x.4)));
    Ok(merges.into_iter().map(|m| (m.0, m.1)).collect())
}

/// The rolling hash: polynomial in [`HASH_BASE`] modulo the Mersenne prime 2^61 − 1.
const HASH_MOD: u64 = (1 << 61) - 1;
const HASH_BASE: u64 = 1_000_003;

fn mul_mod(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) % HASH_MOD as u128) as u64
}

fn sub_mod(a: u64, b: u64) -> u64 {
    (a + HASH_MOD - b) % HASH_MOD
}

/// `out[i]` = hash of `bytes[..i]`.
fn prefix_hashes(bytes: &[u8], out: &mut Vec<u64>) {
    out.clear();
    out.push(0);
    for &b in bytes {
        let last = *out.last().expect("starts with 0");
        out.push((mul_mod(last, HASH_BASE) + b as u64 + 1) % HASH_MOD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_scores_then_lengths_then_ids() {
        let p: Vec<String> = ["a", "b", "c", "ab", "bc", "abc", "ca"].iter().map(|s| s.to_string()).collect();
        let s = [0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -1.0];
        let m = sentencepiece_merges(&p, &s).unwrap();
        let named: Vec<(&str, &str)> = m.iter().map(|&(a, b)| (p[a].as_str(), p[b].as_str())).collect();
        // "ab" (−1) and "ca" (−1) keep id order; "abc" splits as ab+c before a+bc (longer left first).
        assert_eq!(named, [("a", "b"), ("c", "a"), ("b", "c"), ("ab", "c"), ("a", "bc")]);
    }

    #[test]
    fn long_pieces_cost_linear_time_and_hostile_ones_are_refused() {
        // Every prefix of a 1000-byte run is a piece: 500k merges, found without
        // hashing each split's halves from scratch.
        let p: Vec<String> = (1..=1000).map(|n| "a".repeat(n)).collect();
        let m = sentencepiece_merges(&p, &vec![0.0; p.len()]).unwrap();
        assert_eq!(m.len(), (1..=1000).map(|n| n - 1).sum::<usize>());
        let long = vec!["x".repeat(MAX_PIECE_BYTES + 1)];
        assert!(sentencepiece_merges(&long, &[0.0]).unwrap_err().contains("limit"));
    }

    #[test]
    fn llama_cpp_padding_is_not_part_of_the_vocabulary() {
        let v = GgufVocab {
            tokens: vec!["a".into(), "<s>".into(), "[PAD2]".into(), "[PAD3]".into()],
            types: vec![NORMAL, CONTROL, UNUSED, UNUSED],
            scores: None,
        };
        assert_eq!(v.real_len(), 2);
        let added = added_tokens(&v, 2);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0]["content"], "<s>");
        assert_eq!(added[0]["special"], true);
    }
}
