//! Writing the pruned model folder through an [`OutputFolder`]: model.safetensors
//! streamed tensor by tensor (embedding / lm_head rows, gate / up rows, down columns;
//! everything else copied bit for bit, same dtypes, `__metadata__` kept), the
//! rewritten config.json / tokenizer.json / tokenizer_config.json /
//! generation_config.json (and, when the folder has them, the slow tokenizers'
//! vocab.json / merges.txt / added_tokens.json and SentencePiece's tokenizer.model),
//! and every other file of the input copied unchanged.
//!
//! Memory is bounded by one read block ([`BLOCK_BYTES`]) plus one tensor's kept rows
//! for column slicing; the output is the same bytes for the same inputs.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::{ByteSink, ByteSource, ModelFolder, OutputFolder, Spilled};
use crate::model::names::{EMBED, LM_HEAD};
use crate::model::safetensors::{Layout, TensorSpec};
use crate::model::{ModelInfo, TensorInfo, WEIGHTS, WEIGHTS_INDEX};
use crate::progress::{Progress, ProgressSink};
use crate::prune::KeepSet;
use crate::tokenizer::surgery;

/// Largest single read while slicing or copying a tensor.
pub const BLOCK_BYTES: u64 = 16 << 20;

/// How one tensor is carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slice {
    Copy,
    /// Keep these rows of a 2-D tensor.
    Rows(Vec<u32>),
    /// Keep these columns of a 2-D tensor.
    Cols(Vec<u32>),
}

fn mlp_layer(name: &str, proj: &str) -> Option<usize> {
    name.strip_prefix("model.layers.")?.strip_suffix(&format!(".mlp.{proj}.weight"))?.parse().ok()
}

fn slice_for(name: &str, keep: &KeepSet, intermediate: usize) -> Slice {
    if let Some(tokens) = keep.tokens.as_ref().filter(|_| name == EMBED || name == LM_HEAD) {
        return Slice::Rows(tokens.clone());
    }
    if let Some(ch) = &keep.channels {
        if let Some(l) = mlp_layer(name, "gate_proj").or_else(|| mlp_layer(name, "up_proj")) {
            return Slice::Rows(ch[l].clone());
        }
        // Phi-3's fused [gate; up]: the same channels in both halves.
        if let Some(l) = mlp_layer(name, "gate_up_proj") {
            return Slice::Rows(ch[l].iter().copied().chain(ch[l].iter().map(|&c| c + intermediate as u32)).collect());
        }
        if let Some(l) = mlp_layer(name, "down_proj") {
            return Slice::Cols(ch[l].clone());
        }
    }
    Slice::Copy
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Each output file with its size in bytes.
    pub files: Vec<(String, u64)>,
    /// Parameters in the output.
    pub params: u64,
    /// Files of the input left out: the weights in another format (see [`other_weights`]).
    pub skipped: Vec<String>,
}

/// Whether a file of the input folder holds the model's weights in a format other than
/// the safetensors that is pruned (`pytorch_model.bin` beside `model.safetensors`, a
/// `consolidated.safetensors`, GGUF, ONNX, TensorFlow, Flax, and their index files).
/// Copied unchanged they would be the dense model under the pruned config, so the
/// export leaves them out and says so.
pub fn other_weights(name: &str) -> bool {
    const SUFFIXES: [&str; 10] = [".bin", ".pth", ".pt", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx", ".onnx_data", ".safetensors"];
    let base = name.strip_suffix(".index.json").unwrap_or(name);
    SUFFIXES.iter().any(|s| base.ends_with(s))
}

/// Tensors whose pruned values were computed rather than sliced (the repaired
/// down_proj): name → the bytes, in the tensor's dtype, of its pruned shape, set aside.
pub type Replaced = BTreeMap<String, Spilled>;

/// Writes the pruned folder for `keep` into `out` and commits it, with the tensors in
/// `replaced` written from their bytes instead of sliced. `expect_params`, when given,
/// is the parameter count the plan predicted: a layout with another count is an
/// [`Error::Internal`] before anything is written.
pub async fn export<F: ModelFolder, O: OutputFolder>(
    folder: &F,
    info: &ModelInfo,
    keep: &KeepSet,
    replaced: &Replaced,
    expect_params: Option<u64>,
    mut out: O,
    progress: &mut impl ProgressSink,
) -> Result<ExportSummary> {
    let cfg = &info.config;
    info.check_tensors()?;
    keep.validate(cfg)?;
    let map = keep.tokens.as_deref().map(surgery::remap);
    let mut files = Vec::new();

    // Small files first: a bad tokenizer fails before gigabytes are written.
    let mut small_files: Vec<(String, Vec<u8>)> = Vec::new();
    let config = crate::io::read_json(folder, "config.json").await?.expect("ModelInfo::load read it");
    let mut config = match &map {
        Some(m) => surgery::remap_config_ids(&config, m, Some(keep.vocab_size(cfg)), "config.json")?,
        None => config,
    };
    set_intermediate_size(&mut config, keep.intermediate_size(cfg));
    small_files.push(("config.json".into(), crate::io::json_bytes(&config)));
    if let Some(keep_ids) = keep.tokens.as_deref() {
        small_files.extend(crate::tokenizer::prune_files(folder, keep_ids).await?);
    }

    // model.safetensors, streamed.
    let mut sources = Vec::with_capacity(info.shard_files.len());
    for name in &info.shard_files {
        sources.push(folder.require(name, "it was there when the model was loaded").await?);
    }
    let mut specs = Vec::new();
    let mut slices: BTreeMap<String, (usize, TensorInfo, Slice)> = BTreeMap::new();
    for (shard, index) in info.shards.iter().enumerate() {
        for t in index.tensors() {
            let slice = slice_for(&t.name, keep, cfg.intermediate_size);
            let mut shape = t.shape.clone();
            match &slice {
                Slice::Copy => {}
                Slice::Rows(r) | Slice::Cols(r) if shape.len() != 2 => {
                    return Err(Error::format(
                        &index.file,
                        format!("tensor {:?} should be 2-D to slice {} entries, it is {shape:?}", t.name, r.len()),
                    ));
                }
                Slice::Rows(r) => {
                    check_bound(t, r, shape[0])?;
                    shape[0] = r.len() as u64;
                }
                Slice::Cols(c) => {
                    check_bound(t, c, shape[1])?;
                    shape[1] = c.len() as u64;
                }
            }
            if let Some(bytes) = replaced.get(&t.name)
                && bytes.len() != shape.iter().product::<u64>() * t.dtype.size()
            {
                return Err(Error::Internal(format!("{} replacement bytes for {:?} of shape {shape:?}", bytes.len(), t.name)));
            }
            specs.push(TensorSpec { name: t.name.clone(), dtype: t.dtype, shape });
            slices.insert(t.name.clone(), (shard, t.clone(), slice));
        }
    }
    let metadata = info.shards.first().map(|s| s.metadata.clone()).unwrap_or_default();
    let layout = Layout::new(specs, &metadata)?;
    let params: u64 = layout.tensors.iter().map(|(spec, _)| spec.shape.iter().product::<u64>()).sum();
    if let Some(want) = expect_params.filter(|&w| w != params) {
        return Err(Error::Internal(format!("the export would write {params} parameters, the plan predicted {want}")));
    }
    let total = layout.file_len();
    let mut sink = out.create(WEIGHTS).await?;
    sink.write(&layout.header).await?;
    let mut written = layout.header.len() as u64;
    for (spec, range) in &layout.tensors {
        let (shard, t, slice) = &slices[&spec.name];
        let n = match replaced.get(&spec.name) {
            Some(spilled) => {
                let bytes = spilled.read().await?;
                sink.write(&bytes).await?;
                bytes.len() as u64
            }
            None => write_tensor(&sources[*shard], t, slice, &mut sink).await?,
        };
        debug_assert_eq!(n, range.end - range.start);
        written += n;
        progress.report(Progress { stage: format!("writing {WEIGHTS}"), done: written, total });
    }
    sink.finish().await?;
    files.push((WEIGHTS.to_string(), total));

    for (name, bytes) in &small_files {
        let mut s = out.create(name).await?;
        s.write(bytes).await?;
        s.finish().await?;
        files.push((name.clone(), bytes.len() as u64));
    }
    // Everything else, unchanged (chat templates, special_tokens_map.json, licences, …).
    let rewritten: Vec<&str> = small_files.iter().map(|(n, _)| n.as_str()).collect();
    let mut skipped = Vec::new();
    for name in folder.list().await? {
        let weights = name == WEIGHTS || name == WEIGHTS_INDEX || info.shard_files.contains(&name);
        if weights || rewritten.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        if other_weights(&name) {
            skipped.push(name);
            continue;
        }
        let src = folder.require(&name, "it was listed a moment ago").await?;
        let mut s = out.create(&name).await?;
        copy_range(&src, 0, src.len(), &mut s).await?;
        s.finish().await?;
        files.push((name, src.len()));
    }
    out.commit().await?;
    files.sort();
    Ok(ExportSummary { files, params, skipped })
}

fn check_bound(t: &TensorInfo, ids: &[u32], bound: u64) -> Result<()> {
    match ids.last() {
        Some(&last) if last as u64 >= bound => {
            Err(Error::format("model.safetensors", format!("tensor {:?} has {bound} rows/columns, cannot keep index {last}", t.name)))
        }
        _ => Ok(()),
    }
}

fn set_intermediate_size(config: &mut Value, i: usize) {
    let target = match config.get_mut("text_config") {
        Some(t) if t.get("intermediate_size").is_some() => t,
        _ => config,
    };
    if let Some(m) = target.as_object_mut() {
        m.insert("intermediate_size".into(), Value::from(i));
    }
}

async fn copy_range<S: ByteSource>(src: &S, start: u64, len: u64, sink: &mut impl ByteSink) -> Result<()> {
    let mut pos = start;
    while pos < start + len {
        let n = BLOCK_BYTES.min(start + len - pos);
        sink.write(&src.read_at(pos, n as usize).await?).await?;
        pos += n;
    }
    Ok(())
}

/// Writes `t` sliced by `slice`; returns the bytes written.
async fn write_tensor<S: ByteSource>(src: &S, t: &TensorInfo, slice: &Slice, sink: &mut impl ByteSink) -> Result<u64> {
    let elem = t.dtype.size();
    match slice {
        Slice::Copy => {
            copy_range(src, t.range.start, t.range.end - t.range.start, sink).await?;
            Ok(t.range.end - t.range.start)
        }
        Slice::Rows(rows) | Slice::Cols(rows) => {
            let (n_rows, n_cols) = (t.shape[0], t.shape[1]);
            let row_bytes = n_cols * elem;
            let block_rows = (BLOCK_BYTES / row_bytes.max(1)).max(1);
            let cols = matches!(slice, Slice::Cols(_));
            let mut written = 0;
            let mut next = 0usize; // index into `rows` (row slicing)
            let mut start = 0u64;
            while start < n_rows {
                let end = (start + block_rows).min(n_rows);
                let first = next;
                while !cols && next < rows.len() && (rows[next] as u64) < end {
                    next += 1;
                }
                if cols || next > first {
                    let bytes = src.read_at(t.range.start + start * row_bytes, ((end - start) * row_bytes) as usize).await?;
                    let mut out = Vec::new();
                    if cols {
                        for row in bytes.chunks_exact(row_bytes as usize) {
                            for &c in rows {
                                out.extend_from_slice(&row[(c as u64 * elem) as usize..((c as u64 + 1) * elem) as usize]);
                            }
                        }
                    } else {
                        for &r in &rows[first..next] {
                            let off = ((r as u64 - start) * row_bytes) as usize;
                            out.extend_from_slice(&bytes[off..off + row_bytes as usize]);
                        }
                    }
                    sink.write(&out).await?;
                    written += out.len() as u64;
                }
                start = end;
            }
            Ok(written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_in_other_formats_are_recognised() {
        for name in [
            "pytorch_model.bin",
            "pytorch_model-00001-of-00002.bin",
            "pytorch_model.bin.index.json",
            "consolidated.safetensors",
            "consolidated.00.pth",
            "tf_model.h5",
            "flax_model.msgpack",
            "model.gguf",
            "model.onnx",
            "model.safetensors.index.json",
        ] {
            assert!(other_weights(name), "{name}");
        }
        for name in
            ["config.json", "tokenizer.model", "merges.txt", "README.md", "LICENSE", "chat_template.jinja", "special_tokens_map.json"]
        {
            assert!(!other_weights(name), "{name}");
        }
    }

    #[test]
    fn slices_follow_the_tensor_names() {
        let keep = KeepSet { tokens: Some(vec![0, 2]), channels: Some(vec![vec![1], vec![0]]) };
        assert_eq!(slice_for(EMBED, &keep, 2), Slice::Rows(vec![0, 2]));
        assert_eq!(slice_for(LM_HEAD, &keep, 2), Slice::Rows(vec![0, 2]));
        assert_eq!(slice_for("model.layers.1.mlp.up_proj.weight", &keep, 2), Slice::Rows(vec![0]));
        assert_eq!(slice_for("model.layers.0.mlp.down_proj.weight", &keep, 2), Slice::Cols(vec![1]));
        assert_eq!(slice_for("model.layers.0.self_attn.q_proj.weight", &keep, 2), Slice::Copy);
        assert_eq!(slice_for("model.layers.0.mlp.down_proj.bias", &keep, 2), Slice::Copy);
        assert_eq!(slice_for(EMBED, &KeepSet::default(), 2), Slice::Copy);
        assert_eq!(slice_for("model.layers.0.mlp.gate_up_proj.weight", &keep, 2), Slice::Rows(vec![1, 3]), "both halves");
    }
}
