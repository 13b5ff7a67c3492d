//! Vocabulary pruning of a SentencePiece `tokenizer.model` (Gemma, Llama-2-style
//! folders ship one beside tokenizer.json). Tools that read it instead of tokenizer.json
//! — the slow tokenizers, llama.cpp's converter — must see the pruned vocabulary too.
//!
//! The file is a protobuf `ModelProto` (sentencepiece_model.proto): repeated `pieces`
//! (field 1; a piece's index is its id), `trainer_spec` (2), `normalizer_spec` (3),
//! `self_test_data` (4), `denormalizer_spec` (5). Pruning keeps the pieces of the kept
//! ids in order, sets `trainer_spec.vocab_size` and the `unk/bos/eos/pad_id` fields to
//! the new numbering, drops `self_test_data` (its expected pieces describe the old
//! vocabulary) and copies every other field byte for byte. Only the protobuf wire
//! format is needed, so this is a small reader and writer rather than a dependency.

use std::collections::HashMap;

use crate::error::{Error, Result, TokenizerError};

/// The SentencePiece model file of a Hugging Face folder.
pub const FILE: &str = "tokenizer.model";

const PIECES: u32 = 1;
const TRAINER_SPEC: u32 = 2;
const SELF_TEST_DATA: u32 = 4;
const PIECE_STRING: u32 = 1;
const VOCAB_SIZE: u32 = 4;
const SPECIAL_IDS: [u32; 4] = [40, 41, 42, 43]; // unk_id, bos_id, eos_id, pad_id

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// One field of a message: its number, wire type, the whole encoded field (tag
/// included) and its value (the payload for LEN fields, the number for VARINT).
struct Field<'a> {
    number: u32,
    wire: u8,
    raw: &'a [u8],
    payload: &'a [u8],
    value: u64,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::format(FILE, format!("is not a SentencePiece model: {msg}"))
}

fn varint(b: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at).ok_or_else(|| bad("a number runs past the end"))?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("a number is longer than 10 bytes"))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn fields(b: &[u8]) -> Result<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let start = at;
        let tag = varint(b, &mut at)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        let (payload, value) = match wire {
            VARINT => (&b[at..at], varint(b, &mut at)?),
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                let p = b.get(at..at + n).ok_or_else(|| bad(format!("field {number} runs past the end")))?;
                at += n;
                (p, 0)
            }
            LEN => {
                let n = varint(b, &mut at)? as usize;
                let p = at.checked_add(n).and_then(|end| b.get(at..end)).ok_or_else(|| bad(format!("field {number} runs past the end")))?;
                at += n;
                (p, 0)
            }
            w => return Err(bad(format!("field {number} has the unsupported wire type {w}"))),
        };
        out.push(Field { number, wire, raw: &b[start..at], payload, value });
    }
    Ok(out)
}

fn put_varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    put_varint(out, u64::from(number) << 3 | u64::from(VARINT));
    put_varint(out, v);
}

fn put_len_field(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    put_varint(out, u64::from(number) << 3 | u64::from(LEN));
    put_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// The piece strings of a `tokenizer.model`, in id order.
pub fn pieces(model: &[u8]) -> Result<Vec<String>> {
    piece_fields(&fields(model)?)?
        .into_iter()
        .map(|f| {
            let s = fields(f.payload)?
                .into_iter()
                .find(|p| p.number == PIECE_STRING && p.wire == LEN)
                .ok_or_else(|| bad("a piece has no string"))?;
            String::from_utf8(s.payload.to_vec()).map_err(|_| bad("a piece is not UTF-8"))
        })
        .collect()
}

/// Whether the model's normalizer adds a space before the text (`add_dummy_prefix` of
/// `normalizer_spec`; SentencePiece's default is true).
pub fn add_dummy_prefix(model: &[u8]) -> Result<bool> {
    for f in fields(model)?.iter().filter(|f| f.number == 3 && f.wire == LEN) {
        if let Some(p) = fields(f.payload)?.iter().find(|p| p.number == 3 && p.wire == VARINT) {
            return Ok(p.value != 0);
        }
    }
    Ok(true)
}

/// The `pieces` fields of a model, in id order; a field 1 that is not a message makes
/// the file invalid (counting it or not would shift every id after it).
fn piece_fields<'a, 'b>(fs: &'b [Field<'a>]) -> Result<Vec<&'b Field<'a>>> {
    fs.iter()
        .filter(|f| f.number == PIECES)
        .map(|f| if f.wire == LEN { Ok(f) } else { Err(bad(format!("field {PIECES} (a piece) has wire type {}, not a message", f.wire))) })
        .collect()
}

/// One piece of a `tokenizer.model`: its string, score and SentencePiece type
/// (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; the numbering
/// llama.cpp's token types share).
#[derive(Debug, Clone, PartialEq)]
pub struct PieceEntry {
    /// The piece.
    pub piece: String,
    /// Its score (log-probability for unigram models, merge rank for BPE).
    pub score: f32,
    /// Its type.
    pub kind: i32,
}

/// Every piece of a `tokenizer.model` with its score and type, in id order.
pub fn piece_entries(model: &[u8]) -> Result<Vec<PieceEntry>> {
    piece_fields(&fields(model)?)?
        .into_iter()
        .map(|f| {
            let mut e = PieceEntry { piece: String::new(), score: 0.0, kind: 1 };
            for p in fields(f.payload)? {
                match (p.number, p.wire) {
                    (PIECE_STRING, LEN) => e.piece = String::from_utf8(p.payload.to_vec()).map_err(|_| bad("a piece is not UTF-8"))?,
                    (2, 5) => e.score = f32::from_le_bytes(p.payload.try_into().expect("4 bytes")),
                    (3, VARINT) => e.kind = p.value as i32,
                    _ => {}
                }
            }
            Ok(e)
        })
        .collect()
}

/// Rewrites a `tokenizer.model` for the kept ids (sorted, as from the surgery); ids
/// beyond the model's pieces (tokens added on top of it) are skipped.
pub fn prune(model: &[u8], keep: &[u32]) -> Result<Vec<u8>> {
    let fs = fields(model)?;
    let n_pieces = piece_fields(&fs)?.len();
    let kept: Vec<u32> = keep.iter().copied().filter(|&id| (id as usize) < n_pieces).collect();
    let map = super::surgery::remap(&kept);
    let mut out = Vec::with_capacity(model.len());
    let mut id = 0u32;
    for f in &fs {
        match f.number {
            PIECES => {
                if map.contains_key(&id) {
                    out.extend_from_slice(f.raw);
                }
                id += 1;
            }
            TRAINER_SPEC if f.wire == LEN => put_len_field(&mut out, TRAINER_SPEC, &trainer_spec(f.payload, &map, kept.len())?),
            SELF_TEST_DATA => {}
            _ => out.extend_from_slice(f.raw),
        }
    }
    Ok(out)
}

/// `vocab_size` becomes the kept piece count; a special id that is set (≥ 0) must be kept.
fn trainer_spec(spec: &[u8], map: &HashMap<u32, u32>, vocab: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(spec.len());
    for f in fields(spec)? {
        if f.wire == VARINT && f.number == VOCAB_SIZE {
            put_varint_field(&mut out, f.number, vocab as u64);
        } else if f.wire == VARINT && SPECIAL_IDS.contains(&f.number) && (f.value as i64 as i32) >= 0 {
            // int32 fields: negative values (pad_id = -1, "none") are 10-byte varints.
            let old = f.value as u32;
            let new =
                map.get(&old).ok_or_else(|| TokenizerError::WouldRemove { file: FILE.into(), what: "special piece".into(), id: old })?;
            put_varint_field(&mut out, f.number, u64::from(*new));
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Ok(out)
}

/// What a BPE `tokenizer.model` holds besides its pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpeSpec {
    /// Ids of the unknown, begin, end and padding pieces, when the model has them.
    pub unk: Option<u32>,
    /// See `unk`.
    pub bos: Option<u32>,
    /// See `unk`.
    pub eos: Option<u32>,
    /// See `unk`.
    pub pad: Option<u32>,
    /// Whether a space is put before the text (SentencePiece's `add_dummy_prefix`).
    pub add_dummy_prefix: bool,
}

/// One piece: its string, score (merge priority) and SentencePiece type (1 normal,
/// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte — GGUF's token types).
pub type Piece<'a> = (&'a str, f32, u32);

/// Writes a SentencePiece BPE `tokenizer.model` with byte fallback and the identity
/// normalizer that only escapes spaces as `▁` (Gemma's), as the GGUF importer rebuilds
/// it from a GGUF vocabulary.
pub fn write_bpe(pieces: &[Piece<'_>], spec: &BpeSpec) -> Vec<u8> {
    let mut out = Vec::new();
    for &(piece, score, kind) in pieces {
        let mut p = Vec::new();
        put_len_field(&mut p, PIECE_STRING, piece.as_bytes());
        put_varint(&mut p, 2 << 3 | 5);
        p.extend_from_slice(&score.to_le_bytes());
        put_varint_field(&mut p, 3, u64::from(kind));
        put_len_field(&mut out, PIECES, &p);
    }
    let mut t = Vec::new();
    put_varint_field(&mut t, 3, 2); // model_type: BPE
    put_varint_field(&mut t, VOCAB_SIZE, pieces.len() as u64);
    put_varint_field(&mut t, 35, 1); // byte_fallback
    let ids = [spec.unk, spec.bos, spec.eos, spec.pad];
    for (number, id) in SPECIAL_IDS.iter().zip(ids) {
        // int32 −1 ("none") is sign-extended to 64 bits on the wire.
        put_varint_field(&mut t, *number, id.map_or(u64::MAX, u64::from));
    }
    for (number, id) in [45, 46, 47, 48].into_iter().zip(ids) {
        if let Some(&(piece, ..)) = id.and_then(|i| pieces.get(i as usize)) {
            put_len_field(&mut t, number, piece.as_bytes()); // unk/bos/eos/pad_piece
        }
    }
    put_len_field(&mut out, TRAINER_SPEC, &t);
    let mut n = Vec::new();
    put_len_field(&mut n, 1, b"identity");
    put_varint_field(&mut n, 3, u64::from(spec.add_dummy_prefix));
    put_varint_field(&mut n, 4, 0); // remove_extra_whitespaces
    put_varint_field(&mut n, 5, 1); // escape_whitespaces
    put_len_field(&mut out, 3, &n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with these pieces (score −i, normal) plus self-test data to be dropped.
    fn model(pieces: &[&str], unk: u32, bos: u32, eos: u32) -> Vec<u8> {
        let p: Vec<Piece<'_>> = pieces.iter().enumerate().map(|(i, &s)| (s, -(i as f32), 1)).collect();
        let spec = BpeSpec { unk: Some(unk), bos: Some(bos), eos: Some(eos), pad: None, add_dummy_prefix: false };
        let mut m = write_bpe(&p, &spec);
        put_len_field(&mut m, SELF_TEST_DATA, b"\x0a\x00");
        m
    }

    fn spec_values(m: &[u8]) -> Vec<(u32, i64)> {
        let f = fields(m).unwrap().into_iter().find(|f| f.number == TRAINER_SPEC).unwrap();
        fields(f.payload).unwrap().iter().filter(|f| f.wire == VARINT).map(|f| (f.number, f.value as i64)).collect()
    }

    #[test]
    fn keeps_the_kept_pieces_and_renumbers_the_specials() {
        let m = model(&["<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "ab", "c"], 3, 2, 1);
        assert_eq!(pieces(&m).unwrap(), ["<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "ab", "c"]);
        let p = prune(&m, &[1, 2, 3, 4, 5, 7, 9]).unwrap();
        assert_eq!(pieces(&p).unwrap(), ["<eos>", "<bos>", "<unk>", "a", "b", "c"], "id 9 is beyond the model");
        assert_eq!(spec_values(&p), [(3, 2), (4, 6), (35, 1), (40, 2), (41, 1), (42, 0), (43, -1)]);
        let numbers: Vec<u32> = fields(&p).unwrap().iter().map(|f| f.number).filter(|&n| n != PIECES).collect();
        assert_eq!(numbers, [TRAINER_SPEC, 3], "normalizer kept, self-test data dropped");
        let spec = fields(&p).unwrap().into_iter().find(|f| f.number == TRAINER_SPEC).unwrap();
        let names: Vec<&[u8]> = fields(spec.payload).unwrap().iter().filter(|f| f.wire == LEN).map(|f| f.payload).collect();
        assert_eq!(names, [&b"<unk>"[..], b"<bos>", b"<eos>"], "the special pieces keep their strings");
        let all: Vec<u32> = (0..8).collect();
        let same = prune(&m, &all).unwrap();
        assert_eq!(pieces(&same).unwrap(), pieces(&m).unwrap());
        assert_eq!(same.len(), m.len() - 4, "only the self-test data goes");
    }

    #[test]
    fn a_removed_special_or_a_broken_file_is_a_clear_error() {
        let m = model(&["<unk>", "a", "b"], 0, 1, 2);
        assert!(prune(&m, &[0, 2]).unwrap_err().to_string().contains("special piece 1 would be removed"));
        for cut in [1, 5, m.len() - 1] {
            let err = prune(&m[..cut], &[0, 1, 2]).unwrap_err().to_string();
            assert!(err.contains("tokenizer.model") && err.contains("not a SentencePiece model"), "{cut}: {err}");
        }
        assert!(pieces(b"\x0b").unwrap_err().to_string().contains("wire type 3"));
    }
}
