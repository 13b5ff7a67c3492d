//! tokenizer.json read without a tree: the top level and the model section as raw JSON
//! slices of the file's bytes, and a BPE model's vocabulary and merges as strings
//! borrowed from them. A `serde_json::Value` of Gemma-3's 33 MB file takes 260 MB, and
//! the tokenizers library's own loader buffers its whole model section in a tree too;
//! this view takes about a tenth of the file, so the browser stays in its memory budget
//! at 262k tokens.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use tokenizers::Tokenizer;

use super::FILE;
use crate::error::{Error, Result};

/// A JSON string, borrowed from the file when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> std::result::Result<Self::Value, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The entries of a JSON object in file order, values left as raw JSON.
#[derive(Debug, Default)]
struct Entries<'a>(Vec<(Str<'a>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> std::result::Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(e) = m.next_entry::<Str<'de>, &'de RawValue>()? {
                    out.push(e);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Entries<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k.0 == key).map(|(_, v)| *v)
    }
}

/// `{token: id}` in file order.
struct TokenIds<'a>(Vec<(Str<'a>, u64)>);

impl<'de: 'a, 'a> Deserialize<'de> for TokenIds<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TokenIds<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of token ids")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> std::result::Result<Self::Value, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    let id =
                        m.next_value::<u64>().map_err(|e| de::Error::custom(format!("the id of {:?} is not an integer ({e})", k.0)))?;
                    out.push((k, id));
                }
                Ok(TokenIds(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A JSON array, its elements left as raw JSON.
struct RawItems<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for RawItems<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawItems<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> std::result::Result<Self::Value, S::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
                while let Some(v) = s.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(RawItems(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// How a merge is written: `"a b"` or `["a", "b"]` (files keep their own form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeForm {
    /// `"a b"`.
    Joined,
    /// `["a", "b"]`.
    Pair,
}

/// One merge rule: its two parts and how the file writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge<'a> {
    /// The left part.
    pub a: Cow<'a, str>,
    /// The right part.
    pub b: Cow<'a, str>,
    /// The file's form.
    pub form: MergeForm,
}

impl Serialize for Merge<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.form {
            MergeForm::Joined => s.collect_str(&format_args!("{} {}", self.a, self.b)),
            MergeForm::Pair => (&*self.a, &*self.b).serialize(s),
        }
    }
}

fn merge(raw: &RawValue) -> Result<Merge<'_>> {
    let text = raw.get();
    if text.starts_with('"') {
        let Str(s) = serde_json::from_str::<Str>(text).map_err(|e| Error::format(FILE, format!("merge {text}: {e}")))?;
        let joined = |(a, b): (&str, &str)| (a.len(), b.len());
        let (la, _) = s.split_once(' ').map(joined).ok_or_else(|| Error::format(FILE, format!("merge {text} is not \"a b\"")))?;
        let (a, b) = match s {
            Cow::Borrowed(s) => (Cow::Borrowed(&s[..la]), Cow::Borrowed(&s[la + 1..])),
            Cow::Owned(s) => (Cow::Owned(s[..la].to_string()), Cow::Owned(s[la + 1..].to_string())),
        };
        return Ok(Merge { a, b, form: MergeForm::Joined });
    }
    match serde_json::from_str::<Vec<Str>>(text) {
        Ok(p) if p.len() == 2 => {
            let mut p = p.into_iter();
            let (Some(Str(a)), Some(Str(b))) = (p.next(), p.next()) else { unreachable!("two parts") };
            Ok(Merge { a, b, form: MergeForm::Pair })
        }
        Ok(_) => Err(Error::format(FILE, format!("merge {text} is not a pair of strings"))),
        Err(_) => Err(Error::format(FILE, format!("merge {text} is neither \"a b\" nor [a, b]"))),
    }
}

/// A tokenizer.json, read as [`TokenizerJson::parse`] describes.
#[derive(Debug)]
pub struct TokenizerJson<'a> {
    top: Entries<'a>,
    model: Entries<'a>,
}

/// The BPE parts of the model section.
pub struct Bpe<'a> {
    /// `model.vocab` in file order.
    pub vocab: Vec<(Cow<'a, str>, u64)>,
    /// `model.merges` in file order.
    pub merges: Vec<Merge<'a>>,
}

/// An entry of `added_tokens`, as far as surgery needs it.
#[derive(Deserialize)]
struct Added {
    id: u64,
    content: String,
}

impl<'a> TokenizerJson<'a> {
    /// Reads the top level and the model section of tokenizer.json `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::format(FILE, format!("is not valid JSON: {e}")))?;
        let top: Entries = serde_json::from_str(text).map_err(|e| Error::format(FILE, format!("is not valid JSON: {e}")))?;
        let model = match top.get("model") {
            Some(m) => serde_json::from_str(m.get()).map_err(|_| Error::format(FILE, "\"model\" is not an object"))?,
            None => return Err(Error::format(FILE, "no \"model\" section")),
        };
        Ok(Self { top, model })
    }

    /// A top-level section as a JSON tree (the small ones: pre_tokenizer, decoder, …).
    pub fn section(&self, key: &str) -> Result<Option<Value>> {
        self.top.get(key).map(|r| serde_json::from_str(r.get()).map_err(|e| Error::format(FILE, format!("{key}: {e}")))).transpose()
    }

    /// A field of the model section as a JSON tree (`type`, `unk_token`, …).
    pub fn model_field(&self, key: &str) -> Result<Option<Value>> {
        self.model.get(key).map(|r| serde_json::from_str(r.get()).map_err(|e| Error::format(FILE, format!("model.{key}: {e}")))).transpose()
    }

    /// The model's type (`BPE` when the file does not say).
    pub fn model_type(&self) -> Result<String> {
        Ok(self.model_field("type")?.and_then(|t| t.as_str().map(str::to_string)).unwrap_or_else(|| "BPE".into()))
    }

    /// The BPE vocabulary and merges (an error when they are missing or malformed).
    pub fn bpe(&self) -> Result<Bpe<'a>> {
        let vocab = self.model.get("vocab").ok_or_else(|| Error::format(FILE, "model.vocab is not an object"))?;
        let TokenIds(vocab) = serde_json::from_str(vocab.get()).map_err(|e| Error::format(FILE, format!("model.vocab: {e}")))?;
        let merges = self.model.get("merges").and_then(|m| serde_json::from_str::<RawItems>(m.get()).ok()).ok_or_else(|| {
            Error::format(FILE, "model.merges is missing or not a list: the tokenizers library cannot load this BPE tokenizer")
        })?;
        let merges = merges.0.into_iter().map(merge).collect::<Result<Vec<_>>>()?;
        Ok(Bpe { vocab: vocab.into_iter().map(|(k, id)| (k.0, id)).collect(), merges })
    }

    /// `(id, content)` of each entry of `added_tokens`.
    pub fn added_tokens(&self) -> Result<Vec<(u32, String)>> {
        let Some(raw) = self.top.get("added_tokens") else { return Ok(Vec::new()) };
        let added: Vec<Added> = serde_json::from_str(raw.get()).map_err(|e| Error::format(FILE, format!("added_tokens: {e}")))?;
        added
            .into_iter()
            .map(|a| {
                u32::try_from(a.id)
                    .map(|id| (id, a.content))
                    .map_err(|_| Error::format(FILE, format!("added token id {} is too large", a.id)))
            })
            .collect()
    }

    /// Writes the file again, pretty-printed as [`crate::io::json_bytes`] does, with
    /// `edit` giving the new value of any top-level section (`None`: unchanged) and the
    /// model's vocabulary and merges replaced by `vocab` and `merges`.
    pub fn write(
        &self,
        edit: &mut dyn FnMut(&str, &RawValue) -> Result<Option<Value>>,
        vocab: &[(&str, u32)],
        merges: &[&Merge],
    ) -> Result<Vec<u8>> {
        let as_value =
            |key: &str, r: &RawValue| serde_json::from_str::<Value>(r.get()).map_err(|e| Error::format(FILE, format!("{key}: {e}")));
        let mut top = Vec::with_capacity(self.top.0.len());
        for (k, raw) in &self.top.0 {
            let v = if k.0 == "model" {
                let mut model = Vec::with_capacity(self.model.0.len());
                for (mk, mraw) in &self.model.0 {
                    model.push(match &*mk.0 {
                        "vocab" => (mk, Out::Vocab(vocab)),
                        "merges" => (mk, Out::Merges(merges)),
                        _ => (mk, Out::Value(as_value(&mk.0, mraw)?)),
                    });
                }
                Out::Object(model)
            } else {
                Out::Value(match edit(&k.0, raw)? {
                    Some(v) => v,
                    None => as_value(&k.0, raw)?,
                })
            };
            top.push((k, v));
        }
        let mut bytes = serde_json::to_vec_pretty(&Out::Object(top)).map_err(|e| Error::format(FILE, format!("cannot be written: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// What [`TokenizerJson::write`] serializes: small sections as trees, the big lists
/// straight from slices.
enum Out<'x, 'a> {
    Value(Value),
    Object(Vec<(&'x Str<'a>, Out<'x, 'a>)>),
    Vocab(&'x [(&'x str, u32)]),
    Merges(&'x [&'x Merge<'a>]),
}

impl Serialize for Out<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Out::Value(v) => v.serialize(s),
            Out::Object(entries) => s.collect_map(entries.iter().map(|(k, v)| (&*k.0, v))),
            Out::Vocab(v) => s.collect_map(v.iter().map(|(k, id)| (k, id))),
            Out::Merges(m) => s.collect_seq(m.iter()),
        }
    }
}

/// Builds the tokenizer from the parsed file: a BPE model from the borrowed vocabulary
/// and merges (through the library's builder, with the file's options), the other
/// sections through the library's own deserializers, then the added tokens as its
/// loader adds them; merges the library would crash on are refused first. Other model
/// types go through [`Tokenizer::from_bytes`].
pub fn build(bytes: &[u8]) -> Result<Tokenizer> {
    use tokenizers::models::bpe::BPE;
    let loading = |e: &dyn fmt::Display| Error::format(FILE, format!("cannot be loaded: {e}"));
    let json = TokenizerJson::parse(bytes)?;
    if json.model_type()? != "BPE" {
        return Tokenizer::from_bytes(bytes).map_err(|e| loading(&e));
    }
    let bpe = json.bpe()?;
    super::check_continuations(&json, &bpe)?;
    let vocab: tokenizers::models::bpe::Vocab = bpe
        .vocab
        .iter()
        .map(|(k, id)| u32::try_from(*id).map(|id| (k.to_string(), id)).map_err(|_| loading(&format!("id {id} of {k:?} is too large"))))
        .collect::<Result<_>>()?;
    let merges: Vec<(String, String)> = bpe.merges.iter().map(|m| (m.a.to_string(), m.b.to_string())).collect();
    drop(bpe);
    let field = |key: &str| json.model_field(key).map(|v| v.filter(|v| !v.is_null()));
    let str_field = |key: &str| -> Result<Option<String>> {
        field(key)?.map(|v| v.as_str().map(str::to_string).ok_or_else(|| loading(&format!("model.{key} is not a string")))).transpose()
    };
    let bool_field = |key: &str| -> Result<Option<bool>> {
        field(key)?.map(|v| v.as_bool().ok_or_else(|| loading(&format!("model.{key} is not true or false")))).transpose()
    };
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges);
    if let Some(d) = field("dropout")? {
        builder = builder.dropout(d.as_f64().ok_or_else(|| loading(&"model.dropout is not a number"))? as f32);
    }
    if let Some(u) = str_field("unk_token")? {
        builder = builder.unk_token(u);
    }
    if let Some(p) = str_field("continuing_subword_prefix")? {
        builder = builder.continuing_subword_prefix(p);
    }
    if let Some(s) = str_field("end_of_word_suffix")? {
        builder = builder.end_of_word_suffix(s);
    }
    if let Some(b) = bool_field("fuse_unk")? {
        builder = builder.fuse_unk(b);
    }
    if let Some(b) = bool_field("byte_fallback")? {
        builder = builder.byte_fallback(b);
    }
    if let Some(b) = bool_field("ignore_merges")? {
        builder = builder.ignore_merges(b);
    }
    let model = builder.build().map_err(|e| loading(&e))?;

    // The rest of the file with an empty model, through the library's loader; then the
    // real model, and the added tokens again so they find their ids in it.
    let mut rest = serde_json::Map::new();
    for (k, raw) in &json.top.0 {
        let v = if k.0 == "model" {
            serde_json::json!({"type": "BPE", "vocab": {}, "merges": []})
        } else {
            serde_json::from_str(raw.get()).map_err(|e| loading(&e))?
        };
        rest.insert(k.0.to_string(), v);
    }
    let added = rest.insert("added_tokens".into(), Value::Array(Vec::new()));
    let mut tok = Tokenizer::from_bytes(serde_json::to_vec(&rest).map_err(|e| loading(&e))?).map_err(|e| loading(&e))?;
    tok.with_model(model);
    if let Some(added) = added {
        #[derive(Deserialize)]
        struct WithId {
            #[serde(flatten)]
            token: tokenizers::AddedToken,
        }
        let tokens: Vec<WithId> = serde_json::from_value(added).map_err(|e| loading(&e))?;
        tok.add_tokens(tokens.into_iter().map(|t| t.token)).map_err(|e| loading(&e))?;
    }
    Ok(tok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_both_forms_and_escapes() {
        let bytes = br#"{"model": {"type": "BPE", "vocab": {"a": 0, "b\u0020": 1}, "merges": ["a b", ["a", "b "]]}, "x": [1, 2]}"#;
        let j = TokenizerJson::parse(bytes).unwrap();
        let bpe = j.bpe().unwrap();
        assert_eq!(bpe.vocab, [(Cow::Borrowed("a"), 0), (Cow::Owned("b ".into()), 1)]);
        assert!(matches!(bpe.vocab[0].0, Cow::Borrowed(_)), "plain strings are borrowed");
        assert_eq!((&*bpe.merges[0].a, &*bpe.merges[0].b, bpe.merges[0].form), ("a", "b", MergeForm::Joined));
        assert_eq!((&*bpe.merges[1].a, &*bpe.merges[1].b, bpe.merges[1].form), ("a", "b ", MergeForm::Pair));
        assert_eq!(j.section("x").unwrap(), Some(serde_json::json!([1, 2])));
    }

    #[test]
    fn malformed_parts_are_named() {
        let err = |s: &str| TokenizerJson::parse(s.as_bytes()).and_then(|j| j.bpe().map(|_| ())).unwrap_err().to_string();
        assert!(err("{}").contains("no \"model\""));
        assert!(err(r#"{"model": []}"#).contains("not an object"));
        assert!(err(r#"{"model": {"vocab": {"a": "x"}, "merges": []}}"#).contains("not an integer"));
        assert!(err(r#"{"model": {"vocab": {}}}"#).contains("model.merges"));
        assert!(err(r#"{"model": {"vocab": {}, "merges": ["ab"]}}"#).contains("is not \"a b\""));
        assert!(err(r#"{"model": {"vocab": {}, "merges": [["a"]]}}"#).contains("pair of strings"));
        assert!(err(r#"{"model": {"vocab": {}, "merges": [3]}}"#).contains("neither"));
        assert!(err("{oops").contains("not valid JSON"));
    }
}
