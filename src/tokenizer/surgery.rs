//! Vocabulary pruning of a BPE tokenizer.json, edited as JSON so the file keeps its
//! own layout (merges as `"a b"` strings or `["a", "b"]` pairs, key order, …).
//!
//! Rules (paper §3.2, DESIGN.md):
//! - never removed: added/special tokens wherever their id is, the 256 byte-level base
//!   characters (ByteLevel tokenizers) or the `<0x00>`…`<0xFF>` byte-fallback tokens,
//!   and the unknown token;
//! - the rare set S is the highest-id regular tokens (or, optionally, the least frequent
//!   on a given text, ties by id) until V' rows remain; embedding rows that no token
//!   uses (Qwen's padding rows) go first;
//! - S stays closed under merges: a token is only removed once no kept token is built
//!   from it by its best-ranked merge. In byte-level BPE merge parts always have lower
//!   ids, so this never changes the paper's choice; in SentencePiece-style vocabularies
//!   (Gemma) single characters can have high ids and must stay for the words they make;
//! - a merge survives only if both parts and their concatenation survive;
//! - kept ids are renumbered densely in their original order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde_json::Value;

use super::json::TokenizerJson;
use crate::error::{Error, Result, TokenizerError};

const FILE: &str = "tokenizer.json";

/// What a tokenizer.json holds that surgery must respect.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// Rows of the embedding matrix (config.json `vocab_size`, may exceed the tokenizer).
    pub rows: usize,
    /// Token string of each id the tokenizer knows (`None`: an unused row).
    pub tokens: Vec<Option<String>>,
    /// Ids that must never be removed.
    pub protected: HashSet<u32>,
    /// For each id, the two parts of the best-ranked merge that produces it.
    pub parts: Vec<Option<(u32, u32)>>,
}

impl Vocab {
    /// Reads the vocabulary of BPE tokenizer.json `bytes` for a model with `rows`
    /// embedding rows.
    pub fn from_bytes(bytes: &[u8], rows: usize) -> Result<Self> {
        Self::from_tokenizer(&TokenizerJson::parse(bytes)?, rows)
    }

    /// Reads the vocabulary of a BPE tokenizer.json for a model with `rows` embedding rows.
    pub fn from_tokenizer(tok: &TokenizerJson, rows: usize) -> Result<Self> {
        let kind = tok.model_type()?;
        if kind != "BPE" {
            return Err(Error::format(
                FILE,
                format!(
                    "vocabulary pruning supports BPE tokenizers; this one is {kind} (FFN-only pruning still works: keep the full vocabulary)"
                ),
            ));
        }
        let bpe = tok.bpe()?;
        let mut tokens: Vec<Option<String>> = vec![None; rows];
        let mut place = |id: u64, s: &str| -> Result<()> {
            let slot = tokens
                .get_mut(id as usize)
                .ok_or_else(|| Error::format(FILE, format!("token {s:?} has id {id}, outside the model's {rows} embedding rows")))?;
            if let Some(prev) = slot.as_ref().filter(|p| *p != s) {
                return Err(Error::format(FILE, format!("id {id} is used by both {prev:?} and {s:?}")));
            }
            *slot = Some(s.to_string());
            Ok(())
        };
        for (s, id) in &bpe.vocab {
            place(*id, s)?;
        }
        let mut protected = HashSet::new();
        for (id, content) in tok.added_tokens()? {
            place(id as u64, &content)?;
            protected.insert(id);
        }
        let byte_level = mentions_type(tok.section("pre_tokenizer")?.as_ref(), "ByteLevel")
            || mentions_type(tok.section("decoder")?.as_ref(), "ByteLevel");
        let byte_fallback = tok.model_field("byte_fallback")?.and_then(|v| v.as_bool()).unwrap_or(false);
        let byte_chars: HashSet<char> = byte_level_chars().into_iter().collect();
        let unk = tok.model_field("unk_token")?;
        let unk = unk.as_ref().and_then(Value::as_str);
        for (id, t) in tokens.iter().enumerate() {
            let Some(t) = t else { continue };
            let mut chars = t.chars();
            let single_byte_char = matches!((chars.next(), chars.next()), (Some(c), None) if byte_chars.contains(&c));
            if (byte_level && single_byte_char) || (byte_fallback && is_byte_fallback(t)) || Some(t.as_str()) == unk {
                protected.insert(id as u32);
            }
        }
        let ids: HashMap<&str, u32> = tokens.iter().enumerate().filter_map(|(i, t)| Some((t.as_deref()?, i as u32))).collect();
        let mut parts = vec![None; rows];
        let mut joined = String::new();
        for m in &bpe.merges {
            joined.clear();
            joined.push_str(&m.a);
            joined.push_str(&m.b);
            if let (Some(&ia), Some(&ib), Some(&ir)) = (ids.get(&*m.a), ids.get(&*m.b), ids.get(joined.as_str())) {
                parts[ir as usize].get_or_insert((ia, ib));
            }
        }
        Ok(Self { rows, tokens, protected, parts })
    }

    /// The fewest rows a pruned model can have: every protected token.
    pub fn min_rows(&self) -> usize {
        self.protected.len()
    }

    /// Chooses which ids to keep so that `target` rows remain. `frequency`, when given,
    /// ranks regular tokens by count on the user's text (least frequent removed
    /// first, ties by higher id); otherwise the highest ids go, as in the paper.
    pub fn keep(&self, target: usize, frequency: Option<&HashMap<u32, u64>>) -> Result<Vec<u32>> {
        if target > self.rows {
            return Err(TokenizerError::TooManyRows { asked: target, rows: self.rows }.into());
        }
        if target < self.min_rows() {
            return Err(TokenizerError::BelowProtected { asked: target, min: self.min_rows() }.into());
        }
        // Removal order: unused rows (highest first), then regular tokens, rarest first.
        let mut unused: Vec<u32> = (0..self.rows as u32).filter(|&i| self.tokens[i as usize].is_none()).collect();
        unused.reverse();
        let mut regular: Vec<u32> =
            (0..self.rows as u32).filter(|i| self.tokens[*i as usize].is_some() && !self.protected.contains(i)).collect();
        match frequency {
            None => regular.sort_unstable_by(|a, b| b.cmp(a)),
            Some(f) => regular.sort_unstable_by_key(|&i| (f.get(&i).copied().unwrap_or(0), std::cmp::Reverse(i))),
        }
        // Remove in that order among the tokens no kept token is made of; removing a
        // token can free its parts, which then join the queue at their own rank.
        let order: Vec<u32> = unused.into_iter().chain(regular).collect();
        let mut rank = vec![usize::MAX; self.rows];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r;
        }
        let mut users = vec![0u32; self.rows];
        for &(a, b) in self.parts.iter().flatten() {
            users[a as usize] += 1;
            users[b as usize] += 1;
        }
        let mut queue: BinaryHeap<Reverse<usize>> =
            order.iter().filter(|&&id| users[id as usize] == 0).map(|&id| Reverse(rank[id as usize])).collect();
        let mut kept = vec![true; self.rows];
        let mut excess = self.rows - target;
        while excess > 0 {
            let Some(Reverse(r)) = queue.pop() else {
                return Err(TokenizerError::NotClosed { asked: target, smallest: target + excess }.into());
            };
            let id = order[r] as usize;
            kept[id] = false;
            excess -= 1;
            if let Some((a, b)) = self.parts[id] {
                for p in [a as usize, b as usize] {
                    users[p] -= 1;
                    if users[p] == 0 && rank[p] != usize::MAX {
                        queue.push(Reverse(rank[p]));
                    }
                }
            }
        }
        Ok((0..self.rows as u32).filter(|&i| kept[i as usize]).collect())
    }
}

fn mentions_type(v: Option<&Value>, ty: &str) -> bool {
    match v {
        Some(Value::Object(m)) => m.get("type").and_then(Value::as_str) == Some(ty) || m.values().any(|v| mentions_type(Some(v), ty)),
        Some(Value::Array(a)) => a.iter().any(|v| mentions_type(Some(v), ty)),
        _ => false,
    }
}

fn is_byte_fallback(t: &str) -> bool {
    t.len() == 6 && t.starts_with("<0x") && t.ends_with('>') && u8::from_str_radix(&t[3..5], 16).is_ok()
}

/// The 256 printable characters GPT-2's byte-level encoding maps bytes to.
pub fn byte_level_chars() -> Vec<char> {
    let mut out = Vec::with_capacity(256);
    let mut extra = 0;
    for b in 0u32..256 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        out.push(if printable {
            char::from_u32(b).expect("latin-1")
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("shifted")
        });
    }
    out
}

/// Old id → new id for the kept ids (dense, in original order).
pub fn remap(keep: &[u32]) -> HashMap<u32, u32> {
    keep.iter().enumerate().map(|(new, &old)| (old, new as u32)).collect()
}

/// A tokenizer.json rewritten for the kept ids, and the token strings the other
/// tokenizer files are checked against.
pub struct PrunedTokenizer {
    /// The new file (pretty-printed, ending in a newline).
    pub bytes: Vec<u8>,
    /// `model.vocab` of the new file: (new id, token).
    pub vocab: Vec<(u32, String)>,
    /// `added_tokens` of the new file: (new id, content).
    pub added: Vec<(u32, String)>,
}

/// Rewrites a tokenizer.json for the kept ids: vocab, merges (closed, in the file's
/// own format), added_tokens and post-processor ids.
pub fn prune_tokenizer(tok: &TokenizerJson, keep: &[u32]) -> Result<PrunedTokenizer> {
    let map = remap(keep);
    let bpe = tok.bpe()?;
    let vocab: Vec<(&str, u32)> = bpe.vocab.iter().filter_map(|(t, id)| Some((&**t, *map.get(&u32::try_from(*id).ok()?)?))).collect();
    let kept: HashSet<&str> = vocab.iter().map(|(t, _)| *t).collect();
    let merges: Vec<_> = bpe.merges.iter().filter(|m| merge_survives(&kept, &m.a, &m.b)).collect();
    let mut added = Vec::new();
    let mut edit = |key: &str, raw: &serde_json::value::RawValue| -> Result<Option<Value>> {
        let mut v: Value = serde_json::from_str(raw.get()).map_err(|e| Error::format(FILE, format!("{key}: {e}")))?;
        match key {
            "added_tokens" => {
                for t in v.as_array_mut().into_iter().flatten() {
                    let old = t.get("id").and_then(Value::as_u64).ok_or_else(|| Error::format(FILE, "an added token has no id"))? as u32;
                    let new = *map.get(&old).ok_or_else(|| TokenizerError::WouldRemove {
                        file: FILE.into(),
                        what: "added token".into(),
                        id: old,
                    })?;
                    t["id"] = Value::from(new);
                    if let Some(c) = t.get("content").and_then(Value::as_str) {
                        added.push((new, c.to_string()));
                    }
                }
            }
            "post_processor" => remap_post_processor(&mut v, &map)?,
            _ => return Ok(None),
        }
        Ok(Some(v))
    };
    let bytes = tok.write(&mut edit, &vocab, &merges)?;
    let vocab = vocab.into_iter().map(|(t, id)| (id, t.to_string())).collect();
    Ok(PrunedTokenizer { bytes, vocab, added })
}

/// Post-processors name special tokens with ids: TemplateProcessing's
/// `special_tokens.*.ids`, Bert/Roberta's `sep`/`cls` pairs, Sequence's children.
fn remap_post_processor(pp: &mut Value, map: &HashMap<u32, u32>) -> Result<()> {
    let re = |v: &mut Value| -> Result<()> {
        let old = v.as_u64().ok_or_else(|| Error::format(FILE, format!("post_processor id {v} is not an integer")))? as u32;
        *v = Value::from(*map.get(&old).ok_or_else(|| TokenizerError::WouldRemove {
            file: FILE.into(),
            what: "post_processor token".into(),
            id: old,
        })?);
        Ok(())
    };
    match pp {
        Value::Object(m) => {
            if let Some(Value::Object(specials)) = m.get_mut("special_tokens") {
                for s in specials.values_mut() {
                    if let Some(Value::Array(ids)) = s.get_mut("ids") {
                        ids.iter_mut().try_for_each(re)?;
                    }
                }
            }
            for key in ["sep", "cls"] {
                if let Some(Value::Array(pair)) = m.get_mut(key)
                    && let Some(id) = pair.get_mut(1)
                {
                    re(id)?;
                }
            }
            if let Some(Value::Array(children)) = m.get_mut("processors") {
                for c in children {
                    remap_post_processor(c, map)?;
                }
            }
        }
        Value::Null => {}
        _ => return Err(Error::format(FILE, "post_processor is not an object")),
    }
    Ok(())
}

/// Rewrites tokenizer_config.json: `added_tokens_decoder` is keyed by id.
pub fn prune_tokenizer_config(cfg: &Value, map: &HashMap<u32, u32>) -> Result<Value> {
    let mut out = cfg.clone();
    if let Some(Value::Object(dec)) = out.get_mut("added_tokens_decoder") {
        let mut new = BTreeMap::new();
        for (k, v) in dec.iter() {
            let old: u32 =
                k.parse().map_err(|_| Error::format("tokenizer_config.json", format!("added_tokens_decoder key {k:?} is not an id")))?;
            let n = map.get(&old).ok_or_else(|| TokenizerError::WouldRemove { file: FILE.into(), what: "added token".into(), id: old })?;
            new.insert(*n, v.clone());
        }
        *dec = new.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    }
    Ok(out)
}

/// Rewrites the token ids of config.json / generation_config.json (`bos_token_id`,
/// `eos_token_id`, `pad_token_id`, `decoder_start_token_id`; int or list, also
/// inside `text_config`) and, with `vocab_size`, the vocabulary size.
pub fn remap_config_ids(cfg: &Value, map: &HashMap<u32, u32>, vocab_size: Option<usize>, file: &str) -> Result<Value> {
    let mut out = cfg.clone();
    fn fix(obj: &mut Value, map: &HashMap<u32, u32>, vocab_size: Option<usize>, file: &str) -> Result<()> {
        let Some(m) = obj.as_object_mut() else { return Ok(()) };
        for key in ["bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"] {
            let one = |v: &Value| -> Result<Value> {
                let old = v.as_u64().ok_or_else(|| Error::format(file, format!("{key} {v} is not an id")))? as u32;
                map.get(&old)
                    .map(|&n| Value::from(n))
                    .ok_or_else(|| TokenizerError::WouldRemove { file: file.into(), what: key.to_string(), id: old }.into())
            };
            match m.get(key) {
                Some(Value::Array(a)) => {
                    let new = a.iter().map(one).collect::<Result<Vec<_>>>()?;
                    m.insert(key.into(), Value::Array(new));
                }
                Some(v @ Value::Number(_)) => {
                    let new = one(v)?;
                    m.insert(key.into(), new);
                }
                _ => {}
            }
        }
        if let (Some(v), true) = (vocab_size, m.contains_key("vocab_size")) {
            m.insert("vocab_size".into(), Value::from(v));
        }
        if let Some(t) = m.get_mut("text_config") {
            fix(t, map, vocab_size, file)?;
        }
        Ok(())
    }
    fix(&mut out, map, vocab_size, file)?;
    Ok(out)
}

/// The rule for every merge list: a merge survives only if both parts and their
/// concatenation are among the `kept` token strings.
fn merge_survives(kept: &HashSet<&str>, a: &str, b: &str) -> bool {
    kept.contains(a) && kept.contains(b) && kept.contains(format!("{a}{b}").as_str())
}

/// Rewrites a `{token: id}` file for the kept ids: the slow tokenizers' `vocab.json`
/// (entries whose token is removed are dropped) or `added_tokens.json` (`strict`: every
/// entry names a protected token, so a removed one is an error).
pub fn prune_token_map(map_json: &Value, map: &HashMap<u32, u32>, file: &str, strict: bool) -> Result<Value> {
    let entries = map_json.as_object().ok_or_else(|| Error::format(file, "is not a {token: id} object"))?;
    let mut out = serde_json::Map::new();
    for (token, id) in entries {
        let old = id.as_u64().ok_or_else(|| Error::format(file, format!("the id of {token:?} is {id}, not an integer")))? as u32;
        match map.get(&old) {
            Some(&new) => {
                out.insert(token.clone(), Value::from(new));
            }
            None if strict => {
                return Err(TokenizerError::WouldRemove { file: file.into(), what: format!("token {token:?}"), id: old }.into());
            }
            None => {}
        }
    }
    Ok(Value::Object(out))
}

/// Rewrites the slow tokenizers' `merges.txt` (a `#version` line, then one `a b` merge
/// per line) with the rule of [`prune_tokenizer`]: a merge survives only if both parts
/// and their concatenation are among the `kept` token strings.
pub fn prune_merges_txt(text: &str, kept: &HashSet<&str>) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let keep = if line.starts_with("#version") || line.is_empty() {
            true
        } else {
            let (a, b) =
                line.split_once(' ').ok_or_else(|| Error::format("merges.txt", format!("line {} {line:?} is not \"a b\"", i + 1)))?;
            merge_survives(kept, a, b)
        };
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vocab(tok: &Value, rows: usize) -> Result<Vocab> {
        Vocab::from_bytes(&serde_json::to_vec(tok).unwrap(), rows)
    }

    /// The pruned file, parsed back.
    fn prune(tok: &Value, keep: &[u32]) -> Value {
        let bytes = serde_json::to_vec(tok).unwrap();
        serde_json::from_slice(&prune_tokenizer(&TokenizerJson::parse(&bytes).unwrap(), keep).unwrap().bytes).unwrap()
    }

    /// A tiny ByteLevel BPE: bytes would normally be all 256; here a few plus merges.
    fn tiny() -> Value {
        json!({
            "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 7, "content": "<pad>", "special": true}],
            "pre_tokenizer": {"type": "ByteLevel"},
            "post_processor": {"type": "TemplateProcessing", "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]}}},
            "model": {"type": "BPE", "vocab": {"<s>": 0, "a": 1, "b": 2, "ab": 3, "abb": 4, "ba": 5, "bab": 6, "<pad>": 7},
                      "merges": ["a b", "ab b", "b a", "ba b"]}
        })
    }

    #[test]
    fn protects_specials_and_bytes_and_removes_highest_regular_ids() {
        let v = vocab(&tiny(), 9).unwrap();
        assert_eq!(v.tokens[8], None, "row 8 is unused");
        let mut p: Vec<_> = v.protected.iter().copied().collect();
        p.sort();
        assert_eq!(p, [0, 1, 2, 7], "specials and the byte chars a, b");
        assert_eq!(v.keep(6, None).unwrap(), [0, 1, 2, 3, 4, 7], "row 8 first, then ids 6 and 5");
        assert!(v.keep(3, None).unwrap_err().to_string().contains("below the 4 tokens"));
        assert!(v.keep(10, None).is_err());
        let freq = HashMap::from([(3, 5), (4, 0), (5, 9), (6, 1)]);
        assert_eq!(v.keep(6, Some(&freq)).unwrap(), [0, 1, 2, 3, 5, 7], "least frequent (4, then 6) go first");
    }

    #[test]
    fn parts_of_kept_tokens_are_kept_even_with_high_ids() {
        // SentencePiece-style: the character "c" has the highest id but builds "ac".
        let t = json!({
            "added_tokens": [{"id": 0, "content": "<s>", "special": true}],
            "model": {"type": "BPE", "byte_fallback": true,
                      "vocab": {"<s>": 0, "a": 1, "ac": 2, "b": 3, "ab": 4, "c": 5},
                      "merges": [["a", "c"], ["a", "b"]]}
        });
        let v = vocab(&t, 6).unwrap();
        assert_eq!(v.parts[2], Some((1, 5)));
        assert_eq!(v.keep(4, None).unwrap(), [0, 1, 2, 5], "ab and b go; c stays for ac");
        assert_eq!(v.keep(2, None).unwrap(), [0, 1], "with ac gone, c (the higher id) goes before a");
        assert_eq!(v.keep(1, None).unwrap(), [0]);
        // A protected token made of regular ones pins them.
        let mut pinned = t.clone();
        pinned["added_tokens"] = json!([{"id": 0, "content": "<s>"}, {"id": 2, "content": "ac"}]);
        let v = vocab(&pinned, 6).unwrap();
        assert_eq!(v.keep(4, None).unwrap(), [0, 1, 2, 5]);
        assert!(v.keep(3, None).unwrap_err().to_string().contains("smallest closed vocabulary here has 4 rows"));
    }

    #[test]
    fn a_bpe_without_merges_is_refused_as_it_cannot_load() {
        let mut t = json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
            "pre_tokenizer": null, "post_processor": null, "decoder": null,
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}});
        let loads = |t: &Value| tokenizers::Tokenizer::from_bytes(serde_json::to_vec(t).unwrap()).is_ok();
        assert!(loads(&t));
        t["model"].as_object_mut().unwrap().remove("merges");
        assert!(!loads(&t), "the oracle: the library refuses it");
        assert!(vocab(&t, 3).unwrap_err().to_string().contains("model.merges"));
    }

    #[test]
    fn merges_stay_closed_and_ids_are_dense() {
        let keep = [0, 1, 2, 3, 5, 7];
        let out = prune(&tiny(), &keep);
        assert_eq!(out["model"]["vocab"], json!({"<s>": 0, "a": 1, "b": 2, "ab": 3, "ba": 4, "<pad>": 5}));
        assert_eq!(out["model"]["merges"], json!(["a b", "b a"]), "merges producing removed tokens are gone");
        assert_eq!(out["added_tokens"][1]["id"], 5);
        assert_eq!(out["post_processor"]["special_tokens"]["<s>"]["ids"], json!([0]));

        let mut pairs = tiny();
        pairs["model"]["merges"] = json!([["a", "b"], ["ab", "b"], ["b", "a"], ["ba", "b"]]);
        let out = prune(&pairs, &keep);
        assert_eq!(out["model"]["merges"], json!([["a", "b"], ["b", "a"]]), "pair format is kept");
    }

    #[test]
    fn slow_tokenizer_files_agree_with_the_pruned_tokenizer_json() {
        let keep = [0, 1, 2, 3, 5, 7];
        let map = remap(&keep);
        let pruned = prune(&tiny(), &keep);
        let vocab = prune_token_map(&tiny()["model"]["vocab"], &map, "vocab.json", false).unwrap();
        assert_eq!(vocab, pruned["model"]["vocab"]);
        let kept: HashSet<&str> = vocab.as_object().unwrap().keys().map(String::as_str).collect();
        let merges = prune_merges_txt("#version: 0.2\na b\nab b\nb a\nba b\n", &kept).unwrap();
        let want: Vec<&str> = pruned["model"]["merges"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(merges, format!("#version: 0.2\n{}\n", want.join("\n")));
        assert!(prune_merges_txt("#version: 0.2\nab\n", &kept).unwrap_err().to_string().contains("line 2"));
        let added = json!({"<s>": 0, "<pad>": 7});
        assert_eq!(prune_token_map(&added, &map, "added_tokens.json", true).unwrap(), json!({"<s>": 0, "<pad>": 5}));
        let err = prune_token_map(&json!({"bab": 6}), &map, "added_tokens.json", true).unwrap_err();
        assert!(err.to_string().contains("would be removed"), "{err}");
    }

    #[test]
    fn configs_are_remapped() {
        let map = remap(&[0, 1, 2, 3, 5, 7]);
        let cfg = json!({"vocab_size": 9, "bos_token_id": 0, "eos_token_id": [7, 0], "pad_token_id": null});
        let out = remap_config_ids(&cfg, &map, Some(6), "config.json").unwrap();
        assert_eq!(out, json!({"vocab_size": 6, "bos_token_id": 0, "eos_token_id": [5, 0], "pad_token_id": null}));
        let tc = json!({"added_tokens_decoder": {"0": {"content": "<s>"}, "7": {"content": "<pad>"}}});
        let out = prune_tokenizer_config(&tc, &map).unwrap();
        assert_eq!(out["added_tokens_decoder"], json!({"0": {"content": "<s>"}, "5": {"content": "<pad>"}}));
        let bad = json!({"eos_token_id": 4});
        assert!(remap_config_ids(&bad, &map, None, "generation_config.json").unwrap_err().to_string().contains("would be removed"));
    }

    #[test]
    fn non_bpe_is_a_clear_error() {
        let t = json!({"model": {"type": "Unigram", "vocab": []}});
        let e = vocab(&t, 3).unwrap_err().to_string();
        assert!(e.contains("BPE") && e.contains("Unigram") && e.contains("FFN-only"), "{e}");
    }

    #[test]
    fn byte_level_alphabet_has_256_distinct_chars() {
        let chars = byte_level_chars();
        assert_eq!(chars.iter().collect::<HashSet<_>>().len(), 256);
        assert_eq!((chars[b' ' as usize], chars[b'a' as usize]), ('Ġ', 'a'));
    }
}
