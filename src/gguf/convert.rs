//! The native importer: a GGUF file in, a Hugging Face folder out.
//!
//! The header is read in growing prefixes; then each tensor is read with positioned
//! reads in chunks of whole rows, dequantized to f32, fixed up (see [`super::plan`]),
//! rounded to bf16 and appended to `model.safetensors`, so memory stays at a few
//! chunks whatever the model's size. Every file is written under a temporary name in
//! the output folder and renamed only once all of them are complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use half::bf16;
use serde_json::Value as Json;

use super::plan::{ImportPlan, OutTensor, config_json, generation_config_json};
use super::reader::{GgufTensor, Header, ParseError};
use super::{quant, tokenizer};
use crate::error::{Error, Result};
use crate::io::{DirOutput, OutputFolder};
use crate::model::safetensors::{Dtype, Layout, TensorSpec};

/// First read of the header; it grows (doubling) until the header fits.
const FIRST_READ: u64 = 8 << 20;
/// f32 values per conversion chunk (16 MiB).
const CHUNK_VALUES: usize = 4 << 20;
/// Relative RMS difference under which `output.weight` counts as a requantized copy of
/// the embedding (4- to 8-bit quantization noise is a few percent; a separately
/// trained lm_head differs by more than 100 %).
const TIE_TOLERANCE: f64 = 0.1;

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The GGUF `general.architecture`.
    pub architecture: String,
    /// Tensors written to model.safetensors.
    pub tensors: usize,
    /// Parameters written.
    pub params: u64,
    /// Bytes written across all files.
    pub bytes_written: u64,
    /// Tokens in the rebuilt tokenizer.
    pub tokenizer_tokens: usize,
    /// Whether lm_head is tied to the embedding.
    pub tied_embeddings: bool,
}

/// Converts the GGUF file `gguf` into a Hugging Face model folder `out_dir`
/// (config.json, generation_config.json, model.safetensors in bf16, tokenizer.json,
/// tokenizer_config.json, and for SentencePiece vocabularies tokenizer.model).
/// `progress(stage, done, total)` is called as work proceeds.
pub fn import(gguf: &Path, out_dir: &Path, progress: &mut dyn FnMut(&str, u64, u64)) -> Result<ImportSummary> {
    let name = gguf.display().to_string();
    let file = File::open(gguf).map_err(|e| Error::io(&name, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(&name, e))?.len();
    let src = Source { file, name: &name, len: file_len };

    progress("reading GGUF header", 0, 1);
    let header = src.header()?;
    let plan = ImportPlan::new(&header, &name, |out, embed| src.same_matrix(&header, out, embed))?;
    for t in &plan.tensors {
        let range = header.data_range(&t.source).map_err(|m| Error::format(&name, m))?;
        if range.end > file_len {
            return Err(Error::format(
                &name,
                format!("tensor {:?} ends at byte {} but the file has {file_len} bytes (truncated?)", t.source.name, range.end),
            ));
        }
    }
    let tok = tokenizer::build(&header, &name, plan.hparams.family, plan.hparams.context)?;
    let config = config_json(&plan, &tok.ids);
    check_complete(&plan, &config, &name)?;
    progress("reading GGUF header", 1, 1);

    let mut out = Staged::new(out_dir, gguf)?;
    let result = (|| -> Result<u64> {
        let mut bytes = 0;
        bytes += out.json("config.json", &config)?;
        bytes += out.json("generation_config.json", &generation_config_json(&tok.ids))?;
        bytes += out.json("tokenizer.json", &tok.tokenizer)?;
        bytes += out.json("tokenizer_config.json", &tok.config)?;
        if let Some(model) = &tok.sentencepiece {
            bytes += out.bytes(crate::tokenizer::sentencepiece::FILE, model)?;
        }
        bytes += write_safetensors(&src, &header, &plan, &mut out, progress)?;
        out.commit()?;
        Ok(bytes)
    })();
    // On an error the staged folder is dropped with `out`: nothing is left behind.
    let bytes_written = result?;
    Ok(ImportSummary {
        architecture: plan.hparams.family.arch().to_string(),
        tensors: plan.tensors.len(),
        params: plan.params(),
        bytes_written,
        tokenizer_tokens: tok.n_tokens,
        tied_embeddings: plan.tied,
    })
}

/// Checks, before anything is written, that the plan writes every tensor the
/// config.json it writes describes, with that shape: a GGUF missing a layer's tensor
/// must not become a folder that fails to load.
fn check_complete(plan: &ImportPlan, config: &Json, file: &str) -> Result<()> {
    let cfg = crate::model::ModelConfig::from_value(config.clone())?;
    let have: std::collections::HashMap<&str, &[u64]> = plan.tensors.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
    for (name, shape) in cfg.expected_tensors(!plan.tied) {
        match have.get(name.as_str()) {
            None => return Err(Error::format(file, format!("has no tensor for {name} (the model has {} layers)", cfg.num_layers))),
            Some(got) if got.iter().map(|&d| d as usize).ne(shape.iter().copied()) => {
                return Err(Error::format(file, format!("the tensor for {name} has shape {got:?}, the model's sizes imply {shape:?}")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The GGUF file being read.
struct Source<'a> {
    file: File,
    name: &'a str,
    len: u64,
}

impl Source<'_> {
    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::format(self.name, format!("truncated: {len} bytes at offset {offset} are past the end of the file"))
            } else {
                Error::io(self.name, e)
            }
        })?;
        Ok(buf)
    }

    fn header(&self) -> Result<Header> {
        let mut want = FIRST_READ.min(self.len);
        loop {
            let prefix = self.read(0, want as usize)?;
            match Header::parse(&prefix) {
                Ok(h) => return Ok(h),
                Err(ParseError::Invalid(m)) => return Err(Error::format(self.name, m)),
                Err(ParseError::NeedMore(n)) if n > self.len || want == self.len => {
                    return Err(Error::format(
                        self.name,
                        format!("truncated or corrupt GGUF: the header needs at least {n} bytes but the file has {}", self.len),
                    ));
                }
                Err(ParseError::NeedMore(n)) => want = n.max(want.saturating_mul(2)).min(self.len),
            }
        }
    }

    /// Reads rows `rows` of tensor `t` (rows of `dims[0]` values) as f32.
    fn rows(&self, header: &Header, t: &GgufTensor, rows: std::ops::Range<u64>, out: &mut Vec<f32>) -> Result<()> {
        let range = header.data_range(t).map_err(|m| Error::format(self.name, m))?;
        let row_len = t.dims[0];
        let row_bytes = (range.end - range.start) / (t.numel() / row_len).max(1);
        let bytes = self.read(range.start + rows.start * row_bytes, ((rows.end - rows.start) * row_bytes) as usize)?;
        out.resize(((rows.end - rows.start) * row_len) as usize, 0.0);
        quant::dequantize(t.ggml_type, &bytes, out).map_err(|m| Error::format(self.name, format!("tensor {:?}: {m}", t.name)))
    }

    /// Whether `a` and `b` (same dims) hold the same matrix up to quantization noise.
    fn same_matrix(&self, header: &Header, a: &GgufTensor, b: &GgufTensor) -> Result<bool> {
        for t in [a, b] {
            if !t.ggml_type.is_supported() {
                return Ok(false);
            }
            let r = header.data_range(t).map_err(|m| Error::format(self.name, m))?;
            if r.end > self.len {
                return Err(Error::format(self.name, format!("tensor {:?} is past the end of the file (truncated?)", t.name)));
            }
        }
        let row_len = a.dims[0] as usize;
        let n_rows = a.numel() / a.dims[0].max(1);
        let step = (CHUNK_VALUES / row_len.max(1)).max(1) as u64;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let (mut diff, mut norm) = (0f64, 0f64);
        let mut r = 0;
        while r < n_rows {
            let end = (r + step).min(n_rows);
            self.rows(header, a, r..end, &mut x)?;
            self.rows(header, b, r..end, &mut y)?;
            for (&p, &q) in x.iter().zip(&y) {
                diff += (p as f64 - q as f64).powi(2);
                norm += (q as f64).powi(2);
            }
            r = end;
        }
        Ok(norm > 0.0 && (diff / norm).sqrt() < TIE_TOLERANCE)
    }
}

/// The output folder, staged beside its target (see [`DirOutput`]) and renamed into
/// place whole by [`Staged::commit`]; dropped uncommitted, it leaves nothing behind.
struct Staged {
    out: Option<DirOutput>,
}

impl Staged {
    fn new(dir: &Path, input: &Path) -> Result<Self> {
        Ok(Self { out: Some(DirOutput::new(dir, false, &[input])?) })
    }

    /// Creates the staged file for `name`.
    fn create(&mut self, name: &str) -> Result<(File, String)> {
        let path = self.out.as_ref().expect("not committed yet").staged(name);
        let shown = path.display().to_string();
        let f = File::create(&path).map_err(|e| Error::io(&shown, e))?;
        Ok((f, shown))
    }

    fn json(&mut self, name: &str, v: &Json) -> Result<u64> {
        let mut text = serde_json::to_vec_pretty(v).expect("JSON values serialize");
        text.push(b'\n');
        self.bytes(name, &text)
    }

    fn bytes(&mut self, name: &str, bytes: &[u8]) -> Result<u64> {
        let (f, shown) = self.create(name)?;
        let mut w = BufWriter::new(f);
        w.write_all(bytes).and_then(|_| w.flush()).map_err(|e| Error::io(&shown, e))?;
        Ok(bytes.len() as u64)
    }

    fn commit(&mut self) -> Result<()> {
        pollster::block_on(self.out.take().expect("committed once").commit())
    }
}

fn write_safetensors(
    src: &Source,
    header: &Header,
    plan: &ImportPlan,
    out: &mut Staged,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<u64> {
    let specs = plan.tensors.iter().map(|t| TensorSpec { name: t.name.clone(), dtype: Dtype::BF16, shape: t.shape.clone() }).collect();
    let metadata = [("format".to_string(), "pt".to_string())].into_iter().collect();
    let layout = Layout::new(specs, &metadata)?;
    let total = layout.file_len();
    let (f, shown) = out.create("model.safetensors")?;
    let mut w = BufWriter::with_capacity(8 << 20, f);
    let io = |e: std::io::Error| Error::io(&shown, e);
    w.write_all(&layout.header).map_err(io)?;
    let mut pos = layout.header.len() as u64;
    let stage = "writing model.safetensors";
    progress(stage, pos, total);

    let by_name: std::collections::HashMap<&str, &OutTensor> = plan.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let (mut values, mut scratch, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for (spec, range) in &layout.tensors {
        debug_assert_eq!(pos, range.start);
        let t = by_name[spec.name.as_str()];
        let row_len = t.source.dims[0] as usize;
        let n_rows = t.source.numel() / t.source.dims[0].max(1);
        let group = t.transform.row_group() as u64;
        let step = ((CHUNK_VALUES / row_len.max(1)) as u64 / group).max(1) * group;
        let mut r = 0;
        while r < n_rows {
            let end = (r + step).min(n_rows);
            src.rows(header, &t.source, r..end, &mut values)?;
            t.transform.apply(&mut values, row_len, &mut scratch);
            bytes.clear();
            bytes.extend(values.iter().flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes()));
            w.write_all(&bytes).map_err(io)?;
            pos += bytes.len() as u64;
            progress(stage, pos, total);
            r = end;
        }
        if pos != range.end {
            return Err(Error::Internal(format!("tensor {} wrote up to byte {pos}, expected {}", spec.name, range.end)));
        }
    }
    w.flush().map_err(io)?;
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::super::reader::tests::Builder;
    use super::*;
    use std::path::PathBuf;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn q8_block(d: f32, q: impl Fn(usize) -> i8) -> Vec<u8> {
        let mut b = half::f16::from_f32(d).to_bits().to_le_bytes().to_vec();
        b.extend((0..32).map(|i| q(i) as u8));
        b
    }

    /// A one-layer llama (hidden 32, 2 heads of 16, 1 kv head) in Q8_0 whose weight
    /// row r holds 0.5 · (r − column).
    fn tiny_llama() -> Vec<u8> {
        tiny_llama_without("")
    }

    /// [`tiny_llama`] without the layer tensor `skip` (`""`: complete).
    fn tiny_llama_without(skip: &str) -> Vec<u8> {
        let hidden = 32u64;
        let f32s = |n: usize, v: f32| (0..n).flat_map(|_| v.to_le_bytes()).collect::<Vec<u8>>();
        let q8 = |rows: u64| (0..rows).flat_map(|r| q8_block(0.5, move |i| (r as i64 - i as i64) as i8)).collect::<Vec<u8>>();
        let mut b = Builder::default()
            .kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", 1)
            .kv_u32("llama.context_length", 64)
            .kv_u32("llama.embedding_length", hidden as u32)
            .kv_u32("llama.feed_forward_length", 32)
            .kv_u32("llama.attention.head_count", 2)
            .kv_u32("llama.attention.head_count_kv", 1)
            .kv_f32("llama.rope.freq_base", 10000.0)
            .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
            .kv_str("tokenizer.ggml.model", "gpt2")
            .kv_str("tokenizer.ggml.pre", "smollm")
            .kv_strs("tokenizer.ggml.tokens", &["<|endoftext|>", "a", "b", "ab"])
            .kv_i32s("tokenizer.ggml.token_type", &[3, 1, 1, 1])
            .kv_strs("tokenizer.ggml.merges", &["a b"])
            .kv_u32("tokenizer.ggml.eos_token_id", 0)
            .tensor("token_embd.weight", &[hidden, 4], 8, &q8(4))
            .tensor("output_norm.weight", &[hidden], 0, &f32s(32, 1.0));
        for (name, rows) in
            [("attn_q", 32), ("attn_k", 16), ("attn_v", 16), ("attn_output", 32), ("ffn_gate", 32), ("ffn_up", 32), ("ffn_down", 32)]
        {
            if name != skip {
                b = b.tensor(&format!("blk.0.{name}.weight"), &[hidden, rows], 8, &q8(rows));
            }
        }
        b.tensor("blk.0.attn_norm.weight", &[hidden], 0, &f32s(32, 2.0))
            .tensor("blk.0.ffn_norm.weight", &[hidden], 0, &f32s(32, 3.0))
            .build()
    }

    #[test]
    fn imports_a_tiny_llama() {
        let dir = tempfile::tempdir().unwrap();
        let gguf = write(dir.path(), "m.gguf", &tiny_llama());
        let out = dir.path().join("out");
        let mut events = 0;
        let s = import(&gguf, &out, &mut |_, _, _| events += 1).unwrap();
        assert!(events > 2);
        assert_eq!((s.architecture.as_str(), s.tensors, s.tied_embeddings, s.tokenizer_tokens), ("llama", 11, true, 4));
        let cfg: Json = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["num_key_value_heads"], 1);
        assert_eq!(cfg["head_dim"], 16);
        assert_eq!(cfg["rms_norm_eps"], 1e-5);
        let st = std::fs::read(out.join("model.safetensors")).unwrap();
        let n = u64::from_le_bytes(st[..8].try_into().unwrap());
        let idx = crate::model::TensorIndex::parse("m", st.len() as u64, &st[8..8 + n as usize]).unwrap();
        let k = idx.get("model.layers.0.self_attn.k_proj.weight").unwrap();
        assert_eq!(k.shape, [16, 32]);
        let row = |r: u64, c: u64| {
            let at = (k.range.start + (r * 32 + c) * 2) as usize;
            bf16::from_bits(u16::from_le_bytes([st[at], st[at + 1]])).to_f32()
        };
        // GGUF row r holds 0.5·(r − c); HF row 1 is GGUF row 2 (2j + i with j = 1, i = 0).
        assert_eq!(row(1, 0), 0.5 * 2.0);
        assert_eq!(row(8, 0), 0.5 * 1.0, "HF row 8 = i 1, j 0 = GGUF row 1");
        assert!(idx.get("lm_head.weight").is_none());
        assert!(std::fs::read_dir(&out).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".partial")));
    }

    #[test]
    fn bad_inputs_are_format_errors_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let full = tiny_llama();
        let out = dir.path().join("out");
        let run = |bytes: &[u8]| import(&write(dir.path(), "x.gguf", bytes), &out, &mut |_, _, _| {});
        let msg = |r: Result<ImportSummary>| match r {
            Err(Error::Format { msg, .. }) => msg,
            other => panic!("expected a format error, got {other:?}"),
        };
        assert!(msg(run(b"PK\x03\x04 not a gguf")).contains("not a GGUF"));
        assert!(msg(run(&full[..100])).contains("truncated"));
        assert!(msg(run(&full[..full.len() - 10])).contains("truncated"));
        assert!(msg(run(b"")).contains("truncated"));
        assert!(!out.join("model.safetensors").exists());
        if out.exists() {
            assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no partial files");
        }
    }

    #[test]
    fn a_missing_layer_tensor_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let e = import(&write(dir.path(), "x.gguf", &tiny_llama_without("ffn_up")), &out, &mut |_, _, _| {}).unwrap_err();
        assert!(e.to_string().contains("model.layers.0.mlp.up_proj.weight"), "{e}");
        assert!(!out.exists(), "nothing written");
    }

    #[test]
    fn unknown_quant_type_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = tiny_llama();
        // Retype blk.0.ffn_down.weight (the last Q8_0 tensor) to IQ2_XXS (16).
        let name = b"blk.0.ffn_down.weight";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
        let ty = at + 4 + 2 * 8;
        bytes[ty..ty + 4].copy_from_slice(&16u32.to_le_bytes());
        let e = import(&write(dir.path(), "x.gguf", &bytes), &dir.path().join("o"), &mut |_, _, _| {}).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("IQ2_XXS") && s.contains("blk.0.ffn_down.weight") && s.contains("Q4_K"), "{s}");
    }

    #[test]
    fn unsupported_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = Builder::default().kv_str("general.architecture", "mamba").build();
        let e = import(&write(dir.path(), "x.gguf", &bytes), &dir.path().join("o"), &mut |_, _, _| {}).unwrap_err();
        assert!(matches!(e, Error::Unsupported { ref arch } if arch == "mamba"), "{e}");
    }
}
