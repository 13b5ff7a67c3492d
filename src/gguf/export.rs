//! A Hugging Face folder (dense or pruned) written as one GGUF file that llama.cpp
//! runs as it is: the metadata llama.cpp reads for the family, the tokenizer
//! ([`super::vocab`]), and every tensor under llama.cpp's name and layout (the
//! importer's table, inverted: [`super::plan::gguf_names`]), quantized row by row
//! ([`super::quantize`]) and streamed: the header first, then a few megabytes of rows
//! at a time, never a whole tensor more than once and never the model.
//!
//! Tensor types follow llama.cpp for the chosen output type: norms and biases (1-D)
//! stay F32; matrices take the file's type (its converter's `--outtype`), or for the
//! quantized types the type `llama-quantize` would pick for each ([`FileType`]).

use serde::Serialize;

use super::plan::{Family, Transform, gguf_names};
use super::quant::GgmlType;
use super::reader::Value;
use super::vocab::{self, TokenizerSources};
use super::writer::{GgufLayout, TensorEntry, padding};
use crate::error::{Error, Result};
use crate::io::{ByteSink, ByteSource, ModelFolder, read_json};
use crate::model::config::{Arch, RopeScaling};
use crate::model::{Checkpoint, ModelInfo};
use crate::parallel::{RowQuantizer, Ticket};
use crate::progress::{Progress, ProgressSink};

/// The GGUF output types: llama.cpp's `--outtype` names for the plain ones, and
/// `llama-quantize`'s file types (with its per-tensor mixes) for the quantized ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[allow(non_camel_case_types)]
pub enum FileType {
    /// 32-bit floats: exact, 4 bytes a weight.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "f32"))]
    F32,
    /// IEEE half: 2 bytes a weight.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "f16"))]
    F16,
    /// bfloat16 (exact for bf16 checkpoints): 2 bytes a weight.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "bf16"))]
    BF16,
    /// 8-bit blocks of 32 with an f16 scale: 8.5 bits a weight, near-lossless.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "q8_0"))]
    Q8_0,
    /// 6-bit k-quant: 6.56 bits a weight.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "q6_k"))]
    Q6_K,
    /// 5-bit k-quant mix (attn_v and some ffn_down in Q6_K): about 5.7 bits a weight.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "q5_k_m"))]
    Q5_K_M,
    /// 4-bit k-quant mix (attn_v and some ffn_down in Q6_K): about 4.9 bits a weight,
    /// the usual choice for edge devices.
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "q4_k_m"))]
    Q4_K_M,
    /// 4-bit blocks of 32: 4.5 bits a weight (the output in Q6_K).
    #[cfg_attr(not(target_arch = "wasm32"), value(name = "q4_0"))]
    Q4_0,
}

impl FileType {
    /// Every output type.
    pub const ALL: [FileType; 8] =
        [FileType::F32, FileType::F16, FileType::BF16, FileType::Q8_0, FileType::Q6_K, FileType::Q5_K_M, FileType::Q4_K_M, FileType::Q4_0];

    /// The type most of the file's matrices take.
    pub fn ggml(self) -> GgmlType {
        match self {
            FileType::F32 => GgmlType::F32,
            FileType::F16 => GgmlType::F16,
            FileType::BF16 => GgmlType::BF16,
            FileType::Q8_0 => GgmlType::Q8_0,
            FileType::Q6_K => GgmlType::Q6K,
            FileType::Q5_K_M => GgmlType::Q5K,
            FileType::Q4_K_M => GgmlType::Q4K,
            FileType::Q4_0 => GgmlType::Q4_0,
        }
    }

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_*`).
    pub fn id(self) -> u32 {
        match self {
            FileType::F32 => 0,
            FileType::F16 => 1,
            FileType::Q4_0 => 2,
            FileType::Q8_0 => 7,
            FileType::Q4_K_M => 15,
            FileType::Q5_K_M => 17,
            FileType::Q6_K => 18,
            FileType::BF16 => 32,
        }
    }

    /// The name used in file names (`model-Q4_K_M.gguf`).
    pub fn name(self) -> &'static str {
        match self {
            FileType::Q4_K_M => "Q4_K_M",
            FileType::Q5_K_M => "Q5_K_M",
            other => other.ggml().name(),
        }
    }

    /// The type named `s` (any case: `q8_0`, `Q4_K_M`, `f16`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The type of matrix `name` (llama.cpp's name; `cols` its row length) in a file of
    /// this type: llama-quantize's choice for the quantized types
    /// (`llama_tensor_get_type` without an importance matrix: the output, or the
    /// embedding when it doubles as the output, in Q6_K; in the _M mixes attn_v (a
    /// fused attn_qkv counts as one) and ffn_down of the layers `use_more_bits` picks in
    /// Q6_K; rows that are not whole blocks fall back to a 32-block type, then F16).
    /// `counters` counts the attn_v and ffn_down matrices seen so far in file order, as
    /// llama-quantize does.
    fn matrix_type(self, name: &str, cols: u64, tied: bool, layers: usize, counters: &mut (usize, usize)) -> GgmlType {
        if matches!(self, FileType::F32 | FileType::F16 | FileType::BF16) {
            return self.ggml();
        }
        let blocks = |t: GgmlType| cols.is_multiple_of(t.block().map_or(1, |(b, _)| b));
        let more_bits = |i: usize| i < layers / 8 || i >= 7 * layers / 8 || (i as i64 - (layers / 8) as i64) % 3 == 2;
        let mixed = matches!(self, FileType::Q4_K_M | FileType::Q5_K_M);
        let mut ty = self.ggml();
        if name == "output.weight" || (tied && name == "token_embd.weight") {
            if !blocks(ty) {
                ty = GgmlType::Q8_0;
            } else if ty != GgmlType::Q8_0 {
                ty = GgmlType::Q6K;
            }
        } else if name.ends_with(".attn_v.weight") || name.ends_with(".attn_qkv.weight") {
            // llama-quantize counts a fused qkv (Phi-3) as an attn_v.
            if mixed && more_bits(counters.0) {
                ty = GgmlType::Q6K;
            }
            counters.0 += 1;
        } else if name.ends_with(".ffn_down.weight") {
            if mixed && more_bits(counters.1) {
                ty = GgmlType::Q6K;
            }
            counters.1 += 1;
        }
        if !blocks(ty) {
            ty = match ty {
                GgmlType::Q4K => GgmlType::Q5_0,
                GgmlType::Q5K => GgmlType::Q5_1,
                GgmlType::Q6K => GgmlType::Q8_0,
                other => other,
            };
            if !blocks(ty) {
                ty = GgmlType::F16;
            }
        }
        ty
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct GgufSummary {
    /// Tensors written.
    pub tensors: usize,
    /// Parameters written.
    pub params: u64,
    /// File size.
    pub bytes: u64,
    /// Tokens in the vocabulary (the embedding's rows).
    pub vocab: usize,
    /// The most threads (natively) or Web Workers (in the browser) that quantized one
    /// part (1 where nothing was split: the plain float types).
    pub workers: usize,
}

/// The byte size of the GGUF [`write`] would write, from the header alone (for the
/// page to say before writing).
pub fn expected_size(info: &ModelInfo, ty: FileType) -> Result<u64> {
    let entries = tensor_entries(info, ty)?;
    let data: u64 = entries.iter().map(|(e, _)| e.byte_len().map(|l| l.next_multiple_of(32))).sum::<Result<u64>>()?;
    // The header is dominated by the vocabulary; a few hundred bytes a token is generous.
    Ok(data + 64 * info.config.vocab_size as u64)
}

/// Writes the model in `folder` (its header already read into `info`) as a GGUF of
/// type `ty` named `name` into `sink`, reporting bytes written.
pub async fn write<F: ModelFolder>(
    folder: &F,
    info: &ModelInfo,
    name: &str,
    ty: FileType,
    mut sink: impl ByteSink,
    progress: &mut impl ProgressSink,
) -> Result<GgufSummary> {
    info.check_tensors()?;
    let cfg = &info.config;
    let mut metadata = vec![
        ("general.architecture".to_string(), Value::String(family(info)?.arch().into())),
        ("general.type".to_string(), Value::String("model".into())),
        ("general.name".to_string(), Value::String(name.into())),
    ];
    metadata.extend(hparams(info)?);
    metadata.push(("general.file_type".to_string(), Value::U32(ty.id())));
    metadata.push(("general.quantization_version".to_string(), Value::U32(2)));

    let tokenizer =
        read_json(folder, crate::tokenizer::FILE).await?.ok_or_else(|| Error::missing_tokenizer("a GGUF holds the tokenizer"))?;
    let tokenizer_config = read_json(folder, "tokenizer_config.json").await?;
    let model_config = read_json(folder, "config.json").await?.unwrap_or_default();
    let added_tokens = read_json(folder, "added_tokens.json").await?;
    let sentencepiece = match folder.open(crate::tokenizer::sentencepiece::FILE).await? {
        Some(src) => Some(src.read_to_end().await?),
        None => None,
    };
    let sources = TokenizerSources {
        tokenizer: &tokenizer,
        config: tokenizer_config.as_ref(),
        model_config: &model_config,
        sentencepiece: sentencepiece.as_deref(),
        added_tokens: added_tokens.as_ref(),
    };
    metadata.extend(vocab::metadata(&sources, cfg.vocab_size)?);

    let entries = tensor_entries(info, ty)?;
    let layout = GgufLayout::new(&metadata, &entries.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>())?;
    let total = layout.file_len();
    sink.write(&layout.header).await?;
    let mut written = layout.header.len() as u64;
    let ck = Checkpoint::open(folder, info).await?;
    let quantizer = RowQuantizer::new().await;
    let mut scratch = Vec::new();
    let mut params = 0;
    // One part in flight: the next rows are read while the last are quantized (on the
    // browser's workers; natively `submit` has already done the work).
    let mut in_flight: Option<Ticket> = None;
    let stage = format!("writing {} GGUF", ty.name());
    for (i, (entry, source)) in entries.iter().enumerate() {
        match source {
            Source::Values(values) => {
                let ticket = quantizer.submit(entry.ty, values.clone(), values.len())?;
                written += drain(&mut sink, in_flight.replace(ticket)).await?;
            }
            Source::Checkpoint(hf, transform) => {
                let shape = &ck.info(hf)?.shape;
                let (n_rows, row_len) = match shape[..] {
                    [n, cols] => (n as usize, cols as usize),
                    _ => (1, shape.iter().product::<u64>() as usize),
                };
                // 16 MB of f32 rows at a time (fewer, larger reads: the browser's Blob reads
                // cost more than the quantizing), in whole row groups (a head for the permute).
                let group = transform.row_group();
                let chunk = ((16 << 20) / (row_len * 4)).max(1).div_ceil(group) * group;
                for start in (0..n_rows).step_by(chunk) {
                    let end = (start + chunk).min(n_rows);
                    let mut rows = if shape.len() == 2 { ck.rows_f32(hf, start as u64..end as u64).await? } else { ck.f32(hf).await? };
                    transform.apply(&mut rows, row_len, &mut scratch);
                    let ticket = quantizer.submit(entry.ty, rows, row_len)?;
                    written += drain(&mut sink, in_flight.replace(ticket)).await?;
                    progress.report(Progress { stage: stage.clone(), done: written, total });
                }
                params += shape.iter().product::<u64>();
            }
        }
        written += drain(&mut sink, in_flight.take()).await?;
        if i + 1 < entries.len() {
            let pad = padding(layout.lengths[i]);
            sink.write(&vec![0; pad]).await?;
            written += pad as u64;
        }
    }
    sink.finish().await?;
    if written != total {
        return Err(Error::Internal(format!("wrote {written} bytes of a {total}-byte GGUF")));
    }
    Ok(GgufSummary { tensors: entries.len(), params, bytes: total, vocab: cfg.vocab_size, workers: quantizer.used() })
}

/// Writes a finished part's bytes (if any) into `sink`, returning how many.
async fn drain(sink: &mut impl ByteSink, ticket: Option<Ticket>) -> Result<u64> {
    let Some(ticket) = ticket else { return Ok(0) };
    let bytes = ticket.bytes().await?;
    sink.write(&bytes).await?;
    Ok(bytes.len() as u64)
}

/// The llama.cpp family of a model.
fn family(info: &ModelInfo) -> Result<Family> {
    Ok(match info.config.arch {
        // llama.cpp's converter writes Mistral as llama (without its sliding window).
        Arch::Llama | Arch::Mistral => Family::Llama,
        Arch::Qwen2 => Family::Qwen2,
        Arch::Qwen3 => Family::Qwen3,
        Arch::Gemma3 => Family::Gemma3,
        Arch::Phi3 => Family::Phi3,
    })
}

/// The `{arch}.*` hyper-parameters llama.cpp reads.
fn hparams(info: &ModelInfo) -> Result<Vec<(String, Value)>> {
    let c = &info.config;
    let f = family(info)?;
    let a = f.arch();
    let mut m = vec![
        (format!("{a}.block_count"), Value::U32(c.num_layers as u32)),
        (format!("{a}.context_length"), Value::U32(c.max_position_embeddings.unwrap_or(2048) as u32)),
        (format!("{a}.embedding_length"), Value::U32(c.hidden_size as u32)),
        (format!("{a}.feed_forward_length"), Value::U32(c.intermediate_size as u32)),
        (format!("{a}.attention.head_count"), Value::U32(c.num_heads as u32)),
        (format!("{a}.attention.head_count_kv"), Value::U32(c.num_kv_heads as u32)),
        (format!("{a}.rope.freq_base"), Value::F32(c.rope.theta as f32)),
        (format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(c.rms_norm_eps as f32)),
    ];
    match f {
        Family::Llama => {
            m.push((format!("{a}.vocab_size"), Value::U32(c.vocab_size as u32)));
            m.push((format!("{a}.rope.dimension_count"), Value::U32(c.head_dim as u32)));
        }
        Family::Gemma3 => {
            m.push((format!("{a}.attention.key_length"), Value::U32(c.head_dim as u32)));
            m.push((format!("{a}.attention.value_length"), Value::U32(c.head_dim as u32)));
            if let Some(w) = c.sliding_window {
                m.push((format!("{a}.attention.sliding_window"), Value::U32(w as u32)));
            }
        }
        Family::Qwen2 | Family::Qwen3 => {}
        Family::Phi3 => {
            let original = c.raw.get("original_max_position_embeddings").and_then(serde_json::Value::as_u64);
            let context = c.max_position_embeddings.unwrap_or(4096) as u64;
            m.push((format!("{a}.rope.scaling.original_context_length"), Value::U32(original.unwrap_or(context) as u32)));
            m.push((format!("{a}.rope.dimension_count"), Value::U32(c.head_dim as u32)));
            // llama.cpp tells Phi-4 (no window) from Phi-3 by a zero here.
            m.push((format!("{a}.attention.sliding_window"), Value::U32(c.sliding_window.unwrap_or(0) as u32)));
        }
    }
    if f != Family::Gemma3 && c.head_dim * c.num_heads != c.hidden_size {
        m.push((format!("{a}.attention.key_length"), Value::U32(c.head_dim as u32)));
        m.push((format!("{a}.attention.value_length"), Value::U32(c.head_dim as u32)));
    }
    match &c.rope.scaling {
        RopeScaling::None => {}
        RopeScaling::Linear { factor } => {
            m.push((format!("{a}.rope.scaling.type"), Value::String("linear".into())));
            m.push((format!("{a}.rope.scaling.factor"), Value::F32(*factor as f32)));
        }
        // llama.cpp reads Llama-3's scaling as a `rope_freqs` tensor ([`tensor_entries`]).
        RopeScaling::Llama3 { .. } => {}
    }
    Ok(m)
}

/// Where a tensor's values come from.
enum Source {
    /// The checkpoint's tensor of this Hugging Face name, with the fix-up to llama.cpp's
    /// layout.
    Checkpoint(String, Transform),
    /// Values made from the config (Llama-3's `rope_freqs`).
    Values(Vec<f32>),
}

/// Every tensor of the file in write order (llama.cpp's converter's: generated tensors
/// first), with where its values come from.
fn tensor_entries(info: &ModelInfo, ty: FileType) -> Result<Vec<(TensorEntry, Source)>> {
    let c = &info.config;
    let names = gguf_names(family(info)?, c.num_layers, c.head_dim);
    let tied = !info.has_lm_head();
    let mut counters = (0, 0);
    let generated = c.rope.scaling.llama3_divisors(c.rope.theta, c.head_dim).map(|divisors| {
        let entry = TensorEntry { name: "rope_freqs.weight".into(), dims: vec![divisors.len() as u64], ty: GgmlType::F32 };
        Ok((entry, Source::Values(divisors)))
    });
    let from_checkpoint = c.expected_tensors(!tied).into_iter().map(|(hf, shape)| {
        let (gguf, transform) = names.get(&hf).cloned().ok_or_else(|| Error::Internal(format!("no llama.cpp name for {hf}")))?;
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        let ty = match shape.len() {
            1 => GgmlType::F32,
            _ => ty.matrix_type(&gguf, dims[0], tied, c.num_layers, &mut counters),
        };
        Ok((TensorEntry { name: gguf, dims, ty }, Source::Checkpoint(hf, transform)))
    });
    generated.into_iter().chain(from_checkpoint).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama-quantize's Q4_K_M mix on 8 layers: attn_v (or Phi-3's fused attn_qkv, which
    /// it counts as one) and ffn_down in Q6_K where `use_more_bits` says, Q4_K elsewhere.
    #[test]
    fn q4_k_m_counts_a_fused_qkv_as_attn_v() {
        let mut counters = (0, 0);
        let types: Vec<GgmlType> =
            (0..8).map(|l| FileType::Q4_K_M.matrix_type(&format!("blk.{l}.attn_qkv.weight"), 2048, false, 8, &mut counters)).collect();
        let want = [0, 3, 6, 7];
        for (l, t) in types.iter().enumerate() {
            assert_eq!(*t, if want.contains(&l) { GgmlType::Q6K } else { GgmlType::Q4K }, "layer {l}");
        }
        assert_eq!(counters, (8, 0));
        let up = FileType::Q4_K_M.matrix_type("blk.0.ffn_up.weight", 2048, false, 8, &mut counters);
        assert_eq!(up, GgmlType::Q4K, "the fused gate_up stays in the file's type");
    }
}
