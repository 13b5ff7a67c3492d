//! Entry points for fuzzing the four hand-written parsers: each takes arbitrary bytes,
//! runs the parser (and what consumes its result), and panics only when an invariant
//! breaks; each returns whether the input went all the way through (a valid file),
//! which the seed test checks. `fuzz/` drives them with libFuzzer (`scripts/dev/fuzz.sh`); the native test
//! `tests/fuzz_seeds.rs` replays the checked-in seeds and every crash found so far
//! through them on every `make test`.

use std::collections::BTreeMap;

use crate::gguf::{Header, ImportPlan};
use crate::model::safetensors::{Layout, TensorIndex, TensorSpec};
use crate::tokenizer::{sentencepiece, surgery};

/// A safetensors file: `bytes` is the whole file (length prefix, header, data). A
/// header that parses describes tensors inside the file that do not overlap, and the
/// writer's header for the same tensors parses back to the same names, types and shapes.
pub fn safetensors_header(bytes: &[u8]) -> bool {
    let Some(prefix) = bytes.get(..8) else { return false };
    let n = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
    let Some(header) = usize::try_from(n).ok().and_then(|n| bytes.get(8..8usize.checked_add(n)?)) else { return false };
    let Ok(index) = TensorIndex::parse("fuzz.safetensors", bytes.len() as u64, header) else { return false };
    let mut end = index.data_start;
    for t in index.tensors() {
        assert!(t.range.end <= bytes.len() as u64 && t.range.start <= t.range.end, "{t:?} outside the file");
        if !t.range.is_empty() {
            assert!(t.range.start >= end, "{t:?} overlaps the tensor before it");
            end = t.range.end;
        }
    }
    let specs_of = |index: &TensorIndex| -> Vec<TensorSpec> {
        index.tensors().iter().map(|t| TensorSpec { name: t.name.clone(), dtype: t.dtype, shape: t.shape.clone() }).collect()
    };
    let specs = specs_of(&index);
    let Ok(layout) = Layout::new(specs.clone(), &index.metadata) else { return false };
    let again = TensorIndex::parse("fuzz.safetensors", layout.file_len(), &layout.header[8..]).expect("our own header parses");
    let named = |ts: &[TensorSpec]| ts.iter().map(|t| (t.name.clone(), (t.dtype, t.shape.clone()))).collect::<BTreeMap<_, _>>();
    let back = specs_of(&again);
    assert_eq!(named(&specs), named(&back), "the written header says something else");
    assert_eq!(again.metadata, index.metadata);
    true
}

/// A GGUF header: parsed, every tensor's data range computed, then the import plan and
/// the tokenizer rebuilt from it, as `compact import-gguf` does before writing.
pub fn gguf_header(bytes: &[u8]) -> bool {
    let Ok(header) = Header::parse(bytes) else { return false };
    for t in &header.tensors {
        let _ = header.data_range(t);
    }
    let Ok(plan) = ImportPlan::new(&header, "fuzz.gguf", |_, _| Ok(false)) else { return false };
    crate::gguf::tokenizer::build(&header, "fuzz.gguf", plan.hparams.family, plan.hparams.context).is_ok()
}

/// A SentencePiece `tokenizer.model`: when its pieces parse, pruning it while keeping
/// every piece gives back the same pieces, and keeping every other piece gives those.
pub fn sentencepiece_model(bytes: &[u8]) -> bool {
    let Ok(pieces) = sentencepiece::pieces(bytes) else { return false };
    let all: Vec<u32> = (0..pieces.len() as u32).collect();
    let Ok(same) = sentencepiece::prune(bytes, &all) else { return false };
    assert_eq!(sentencepiece::pieces(&same).expect("our own output parses"), pieces);
    // Every other piece: refused when that removes a special piece, else exactly those.
    let half: Vec<u32> = all.iter().copied().step_by(2).collect();
    if let Ok(out) = sentencepiece::prune(bytes, &half) {
        let want: Vec<String> = pieces.iter().step_by(2).cloned().collect();
        assert_eq!(sentencepiece::pieces(&out).expect("our own output parses"), want);
    }
    true
}

/// tokenizer.json surgery: the first two bytes choose the embedding rows and V', the
/// rest is the file. When surgery accepts the vocabulary and V', the kept ids are
/// ascending and in range, and when the tokenizers library loads the dense file it
/// loads the pruned one too.
pub fn tokenizer_surgery(bytes: &[u8]) -> bool {
    let [rows, target, json @ ..] = bytes else { return false };
    let Ok(tok) = crate::tokenizer::json::TokenizerJson::parse(json) else { return false };
    let rows = *rows as usize + 1;
    let Ok(vocab) = surgery::Vocab::from_tokenizer(&tok, rows) else { return false };
    let Ok(keep) = vocab.keep((*target as usize).min(rows), None) else { return false };
    assert!(keep.windows(2).all(|w| w[0] < w[1]) && keep.last().is_none_or(|&k| (k as usize) < rows), "{keep:?}");
    let dense_loads = crate::tokenizer::load(json).is_ok();
    let Ok(pruned) = surgery::prune_tokenizer(&tok, &keep) else { return false };
    if dense_loads && let Err(e) = crate::tokenizer::load(&pruned.bytes) {
        panic!("the dense tokenizer loads but the pruned one does not: {e}\n{}", String::from_utf8_lossy(&pruned.bytes));
    }
    dense_loads
}
