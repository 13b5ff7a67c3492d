//! Reading tensors out of a checkpoint one at a time (or a few rows at a time), as
//! f32, from whatever [`ByteSource`] holds the shards. Memory use is bounded by the
//! tensor (or rows) being read, never the model, unless an engine is let keep weights
//! between passes ([`Checkpoint::keep_resident`], within a budget).

use std::any::Any;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Dtype, ModelInfo, TensorInfo};
use crate::error::{Error, Result};
use crate::io::{ByteSource, ModelFolder};

/// The budget the CLI's generation, evaluation and benchmark give
/// [`Checkpoint::keep_resident`]: a model of up to ~2B bf16 parameters stays in
/// memory; a larger one keeps its first layers and streams the rest.
pub const RESIDENT_BUDGET: u64 = 4 << 30;

/// Open weight files plus their headers.
pub struct Checkpoint<S> {
    shards: Vec<S>,
    /// Tensor name → (shard, info).
    tensors: HashMap<String, (usize, TensorInfo)>,
    /// Forms of tensors an engine keeps between passes; see [`Checkpoint::keep_resident`].
    resident: Mutex<Resident>,
    /// The folder as a browser Web Worker can open it again ([`ModelFolder::share`]).
    #[cfg(target_arch = "wasm32")]
    shared: Option<wasm_bindgen::JsValue>,
}

/// What [`Checkpoint::derived`] keeps: up to `budget` bytes of engine-made values.
#[derive(Default)]
struct Resident {
    budget: u64,
    used: u64,
    kept: HashMap<String, Arc<dyn Any + Send + Sync>>,
}

impl<S: ByteSource> Checkpoint<S> {
    /// Opens the weight files `info` was read from.
    pub async fn open<F: ModelFolder<Source = S>>(folder: &F, info: &ModelInfo) -> Result<Self> {
        let mut shards = Vec::with_capacity(info.shard_files.len());
        let mut tensors = HashMap::new();
        for (i, (name, index)) in info.shard_files.iter().zip(&info.shards).enumerate() {
            let src = folder.require(name, "it was there when the model was loaded").await?;
            if src.len() != index.file_len {
                return Err(Error::format(name, "the file changed since its header was read"));
            }
            for t in index.tensors() {
                tensors.insert(t.name.clone(), (i, t.clone()));
            }
            shards.push(src);
        }
        if info.config.fused() {
            unfuse(&mut tensors, &info.config)?;
        }
        Ok(Self {
            shards,
            tensors,
            resident: Mutex::default(),
            #[cfg(target_arch = "wasm32")]
            shared: folder.share(),
        })
    }

    /// The folder these weights were opened from, as a browser Web Worker can open it
    /// (`None` when it lives only in this instance's memory).
    #[cfg(target_arch = "wasm32")]
    pub fn shared(&self) -> Option<&wasm_bindgen::JsValue> {
        self.shared.as_ref()
    }

    /// Lets an engine keep up to `budget` bytes of weights in memory between passes
    /// (in the form it computes with), instead of reading every tensor from the file at
    /// every pass. 0, the default, keeps nothing: memory stays one layer.
    pub fn keep_resident(&mut self, budget: u64) {
        self.resident().budget = budget;
    }

    /// The kept values (a panic elsewhere leaves them consistent: every update is one
    /// insertion with its count).
    fn resident(&self) -> MutexGuard<'_, Resident> {
        self.resident.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes of engine-made values kept so far.
    pub fn resident_bytes(&self) -> u64 {
        self.resident().used
    }

    /// The value an engine makes from tensor `name` with `make`: the kept one when an
    /// earlier pass made it, else made now and kept when `bytes` more stay within the
    /// budget of [`Checkpoint::keep_resident`].
    pub async fn derived<T: Any + Send + Sync>(
        &self,
        name: &str,
        bytes: u64,
        make: impl std::future::Future<Output = Result<T>>,
    ) -> Result<Arc<T>> {
        let found = self.resident().kept.get(name).cloned();
        if let Some(v) = found.and_then(|v| v.downcast::<T>().ok()) {
            return Ok(v);
        }
        let made = Arc::new(make.await?);
        let mut r = self.resident();
        if r.used + bytes <= r.budget {
            r.used += bytes;
            r.kept.insert(name.to_string(), made.clone());
        }
        Ok(made)
    }

    /// The shard and header entry of `name`.
    fn entry(&self, name: &str) -> Result<(usize, &TensorInfo)> {
        self.tensors
            .get(name)
            .map(|(s, t)| (*s, t))
            .ok_or_else(|| Error::format("model.safetensors", format!("tensor {name:?} is missing")))
    }

    /// The header entry of `name`.
    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.entry(name).map(|(_, t)| t)
    }

    /// Whether the checkpoint has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Checks that `name` has exactly `shape` (so config.json and the weights agree).
    pub fn expect_shape(&self, name: &str, shape: &[usize]) -> Result<&TensorInfo> {
        let t = self.info(name)?;
        if t.shape.iter().map(|&d| d as usize).ne(shape.iter().copied()) {
            return Err(Error::format(
                "model.safetensors",
                format!("tensor {name:?} has shape {:?} but config.json implies {shape:?}", t.shape),
            ));
        }
        Ok(t)
    }

    /// The raw bytes of `name`; a float tensor holding NaN or Inf is an
    /// [`Error::NonFinite`] naming it (every weight the engine reads comes through here).
    pub async fn raw(&self, name: &str) -> Result<Vec<u8>> {
        let (shard, t) = self.entry(name)?;
        let bytes = self.shards[shard].read_at(t.range.start, (t.range.end - t.range.start) as usize).await?;
        check_finite(t, &bytes, 0)?;
        Ok(bytes)
    }

    /// `name` as f32, row-major.
    pub async fn f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.info(name)?;
        decode(t, &self.raw(name).await?)
    }

    /// Rows `rows` of the 2-D tensor `name` as f32 (one read).
    pub async fn rows_f32(&self, name: &str, rows: Range<u64>) -> Result<Vec<f32>> {
        let bytes = self.raw_rows(name, rows).await?;
        decode(self.info(name)?, &bytes)
    }

    /// The raw bytes of rows `rows` of the 2-D tensor `name` (one read).
    pub async fn raw_rows(&self, name: &str, rows: Range<u64>) -> Result<Vec<u8>> {
        let (shard, t) = self.entry(name)?;
        let [n, cols] = t.shape[..] else {
            return Err(Error::format("model.safetensors", format!("tensor {name:?} is not 2-D")));
        };
        if rows.start > rows.end || rows.end > n {
            return Err(Error::Internal(format!("rows {rows:?} of {name:?}, which has {n}")));
        }
        let row_bytes = cols * t.dtype.size();
        let bytes =
            self.shards[shard].read_at(t.range.start + rows.start * row_bytes, ((rows.end - rows.start) * row_bytes) as usize).await?;
        check_finite(t, &bytes, rows.start * cols)?;
        Ok(bytes)
    }
}

/// Adds the unfused views of Phi-3's fused matrices: q/k/v are row blocks of
/// `qkv_proj`, gate and up the two halves of `gate_up_proj` (transformers' `split` and
/// `chunk(2)`). Rows of a row-major matrix are contiguous, so each view is a byte range
/// inside the fused tensor's: nothing is copied.
fn unfuse(tensors: &mut HashMap<String, (usize, TensorInfo)>, cfg: &crate::model::ModelConfig) -> Result<()> {
    use crate::model::names;
    let (q, kv, i) = (cfg.q_dim() as u64, cfg.kv_dim() as u64, cfg.intermediate_size as u64);
    for l in 0..cfg.num_layers {
        let fused = [
            (
                names::attn(l, "qkv_proj", "weight"),
                vec![
                    (names::attn(l, "q_proj", "weight"), q),
                    (names::attn(l, "k_proj", "weight"), kv),
                    (names::attn(l, "v_proj", "weight"), kv),
                ],
            ),
            (names::mlp(l, "gate_up_proj"), vec![(names::mlp(l, "gate_proj"), i), (names::mlp(l, "up_proj"), i)]),
        ];
        for (name, parts) in fused {
            let (shard, t) =
                tensors.get(&name).cloned().ok_or_else(|| Error::format("model.safetensors", format!("tensor {name:?} is missing")))?;
            let cols = t.shape.get(1).copied().unwrap_or(0);
            let row_bytes = cols * t.dtype.size();
            let mut start = t.range.start;
            for (part, rows) in parts {
                let end = start + rows * row_bytes;
                let view = TensorInfo { name: part.clone(), dtype: t.dtype, shape: vec![rows, cols], range: start..end };
                tensors.insert(part, (shard, view));
                start = end;
            }
            if start != t.range.end {
                return Err(Error::format(
                    "model.safetensors",
                    format!("tensor {name:?} has shape {:?}, not the fused parts config.json implies", t.shape),
                ));
            }
        }
    }
    Ok(())
}

/// Fails when `bytes` (elements of `t` from element `first` on) hold a NaN or an
/// infinity: an all-ones exponent, checked on the raw bits.
fn check_finite(t: &TensorInfo, bytes: &[u8], first: u64) -> Result<()> {
    let bad = match t.dtype {
        Dtype::BF16 => bytes.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        Dtype::F16 => bytes.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        Dtype::F32 => bytes.chunks_exact(4).position(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000),
        _ => None,
    };
    match bad {
        Some(i) => Err(Error::NonFinite { what: format!("weight tensor {:?} (element {})", t.name, first + i as u64), in_weights: true }),
        None => Ok(()),
    }
}

/// Decodes little-endian `bytes` of `t`'s dtype to f32.
pub fn decode(t: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match t.dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()).collect(),
        _ => return Err(unsupported_dtype(t)),
    })
}

/// Encodes `values` as little-endian `t`'s dtype (round to nearest even): the inverse
/// of [`decode`], for weights that were computed rather than copied.
pub fn encode(t: &TensorInfo, values: &[f32]) -> Result<Vec<u8>> {
    Ok(match t.dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::BF16 => values.iter().flat_map(|&v| half::bf16::from_f32(v).to_bits().to_le_bytes()).collect(),
        Dtype::F16 => values.iter().flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes()).collect(),
        _ => return Err(unsupported_dtype(t)),
    })
}

/// The error for a weight whose dtype is not F32, BF16 or F16.
pub fn unsupported_dtype(t: &TensorInfo) -> Error {
    Error::format("model.safetensors", format!("tensor {:?} is {}; only F32, BF16 and F16 weights are supported", t.name, t.dtype))
}
