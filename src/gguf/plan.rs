//! What a GGUF file becomes in a Hugging Face folder, decided from its header alone:
//! the family and hyper-parameters, `config.json` / `generation_config.json`, and for
//! every tensor its Hugging Face name, shape and the fix-up that undoes llama.cpp's
//! conversion.
//!
//! llama.cpp changes some weights when it writes a GGUF; the fix-ups reverse that:
//! - llama family: the rows of `q_proj` / `k_proj` are interleaved per head for its
//!   rope kernel; [`Transform::Unpermute`] puts them back (rows `2j + i` of a head
//!   return to `i · head_dim/2 + j`).
//! - Gemma-3: every RMSNorm weight is stored as `1 + w`; [`Transform::MinusOne`].
//! - Qwen2 and Gemma-3 q/k are stored as in the checkpoint.
//!
//! Everything here works on the parsed header only (no I/O), so it can run anywhere.

use serde_json::{Map, Value as Json, json};

use super::reader::{GgufTensor, Header, Value};
use crate::error::{Error, Result};
use crate::model::names;

/// The model families the importer converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `general.architecture = llama` (SmolLM2, Llama-2-style models).
    Llama,
    /// `qwen2` (Qwen2 / Qwen2.5).
    Qwen2,
    /// `qwen3` (Qwen3: per-head q/k norms, no q/k/v biases).
    Qwen3,
    /// `gemma3` (the Gemma-3 text models).
    Gemma3,
    /// `phi3` (Phi-3: fused `attn_qkv` and `ffn_up` = [gate; up]).
    Phi3,
}

impl Family {
    /// The family of a GGUF `general.architecture`.
    pub fn from_arch(arch: &str) -> Result<Self> {
        match arch {
            "llama" => Ok(Family::Llama),
            "qwen2" => Ok(Family::Qwen2),
            "qwen3" => Ok(Family::Qwen3),
            "gemma3" => Ok(Family::Gemma3),
            "phi3" => Ok(Family::Phi3),
            other => Err(Error::Unsupported { arch: other.to_string() }),
        }
    }

    /// The `general.architecture` string (also the metadata key prefix).
    pub fn arch(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Gemma3 => "gemma3",
            Family::Phi3 => "phi3",
        }
    }
}

/// A fix-up applied to a tensor's f32 values, row block by row block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Copy as is.
    None,
    /// Undo llama.cpp's rope row interleave within each head of `head_dim` rows.
    Unpermute {
        /// Rows per head (the model's head_dim); the interleave is undone within each.
        head_dim: usize,
    },
    /// Subtract 1 (Gemma norms are stored as 1 + w).
    MinusOne,
    /// llama.cpp's rope row interleave within each head (the GGUF writer's fix-up).
    Permute {
        /// Rows per head.
        head_dim: usize,
    },
    /// Add 1 (the GGUF writer's Gemma norms).
    PlusOne,
}

impl Transform {
    /// Rows that must be transformed together (a chunk must hold a multiple of them).
    pub fn row_group(self) -> usize {
        match self {
            Transform::Unpermute { head_dim } | Transform::Permute { head_dim } => head_dim,
            _ => 1,
        }
    }

    /// The fix-up that undoes this one.
    pub fn inverse(self) -> Self {
        match self {
            Transform::None => Transform::None,
            Transform::Unpermute { head_dim } => Transform::Permute { head_dim },
            Transform::Permute { head_dim } => Transform::Unpermute { head_dim },
            Transform::MinusOne => Transform::PlusOne,
            Transform::PlusOne => Transform::MinusOne,
        }
    }

    /// Applies the fix-up to `rows` (row-major, `row_len` values per row, a whole
    /// number of row groups), using `scratch` as needed.
    pub fn apply(self, rows: &mut [f32], row_len: usize, scratch: &mut Vec<f32>) {
        match self {
            Transform::None => {}
            Transform::MinusOne => rows.iter_mut().for_each(|v| *v -= 1.0),
            Transform::PlusOne => rows.iter_mut().for_each(|v| *v += 1.0),
            Transform::Unpermute { head_dim } | Transform::Permute { head_dim } => {
                let half = head_dim / 2;
                for head in rows.chunks_exact_mut(head_dim * row_len) {
                    scratch.clear();
                    scratch.extend_from_slice(head);
                    for i in 0..2 {
                        for j in 0..half {
                            let (hf, gguf) = ((i * half + j) * row_len, (2 * j + i) * row_len);
                            let (dst, src) = if matches!(self, Transform::Permute { .. }) { (gguf, hf) } else { (hf, gguf) };
                            head[dst..dst + row_len].copy_from_slice(&scratch[src..src + row_len]);
                        }
                    }
                }
            }
        }
    }
}

/// One tensor of the output checkpoint.
#[derive(Debug, Clone)]
pub struct OutTensor {
    /// Hugging Face name.
    pub name: String,
    /// Source tensor in the GGUF.
    pub source: GgufTensor,
    /// Hugging Face shape (outermost first).
    pub shape: Vec<u64>,
    /// Fix-up to apply.
    pub transform: Transform,
}

/// Model hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct Hparams {
    /// The model family, from `general.architecture`.
    pub family: Family,
    /// Decoder layers (`block_count`).
    pub layers: usize,
    /// Residual stream width (`embedding_length`).
    pub hidden: usize,
    /// FFN channels per layer (`feed_forward_length`).
    pub intermediate: usize,
    /// Query heads (`attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`attention.head_count_kv`, else `heads`).
    pub kv_heads: usize,
    /// Values per head (`attention.key_length`, else `hidden / heads`).
    pub head_dim: usize,
    /// RMSNorm ε (`attention.layer_norm_rms_epsilon`).
    pub rms_norm_eps: f64,
    /// RoPE base θ (`rope.freq_base`; 10000 when absent).
    pub rope_theta: f64,
    /// Context length (`context_length`).
    pub context: usize,
    /// Rows of the embedding matrix (the config's `vocab_size`).
    pub vocab_rows: usize,
    /// config.json's `rope_scaling` (linear or yarn), or null when none.
    pub rope_scaling: Json,
    /// Gemma-3's sliding window.
    pub sliding_window: Option<usize>,
    /// Whether q/k/v have biases.
    pub attention_bias: bool,
}

/// The whole conversion decided from the header.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// The hyper-parameters config.json is written from.
    pub hparams: Hparams,
    /// Whether lm_head is the embedding (no separate `lm_head.weight` is written).
    pub tied: bool,
    /// Output tensors in GGUF order.
    pub tensors: Vec<OutTensor>,
}

/// A metadata reader that names the file and key in its errors.
pub(crate) struct Meta<'a> {
    pub header: &'a Header,
    pub file: &'a str,
}

impl Meta<'_> {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.header.get(key)
    }

    fn bad(&self, key: &str, what: &str) -> Error {
        match self.get(key) {
            None => Error::format(self.file, format!("metadata {key:?} is missing")),
            Some(v) => Error::format(self.file, format!("metadata {key:?} is a {}, expected {what}", v.type_name())),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()).ok_or_else(|| self.bad(key, "a non-negative integer"))
    }

    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key).map(|_| self.usize(key)).transpose()
    }

    /// A float metadata value, printed as its shortest f32 decimal (1e-5, not
    /// 9.999999747378752e-06) since GGUF stores the checkpoint's values as f32.
    pub fn f32_as_f64(&self, key: &str) -> Result<f64> {
        let v = self.get(key).and_then(Value::as_f64).ok_or_else(|| self.bad(key, "a number"))?;
        Ok(shortest_f32(v))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.get(key).map(|v| v.as_str().ok_or_else(|| self.bad(key, "a string"))).transpose()
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key).map(|v| v.as_bool().ok_or_else(|| self.bad(key, "a bool"))).transpose()
    }
}

/// The f64 whose shortest decimal equals the shortest decimal of `v` as f32.
pub(crate) fn shortest_f32(v: f64) -> f64 {
    (v as f32).to_string().parse().unwrap_or(v)
}

impl ImportPlan {
    /// Decides the conversion of the GGUF whose header is `header` (`file` names it in
    /// errors). `tie_output` is asked, only when the file has both `output.weight` and
    /// `token_embd.weight`, whether they hold the same matrix (see the native importer).
    pub fn new(header: &Header, file: &str, tie_output: impl FnOnce(&GgufTensor, &GgufTensor) -> Result<bool>) -> Result<Self> {
        let meta = Meta { header, file };
        let arch =
            meta.opt_str("general.architecture")?.ok_or_else(|| Error::format(file, "metadata \"general.architecture\" is missing"))?;
        let family = Family::from_arch(arch)?;
        let hp = hparams(&meta, family)?;

        let embed = header.tensor("token_embd.weight").ok_or_else(|| Error::format(file, "tensor \"token_embd.weight\" is missing"))?;
        let tied = match header.tensor("output.weight") {
            None => true,
            Some(out) if out.dims == embed.dims => tie_output(out, embed)?,
            Some(_) => false,
        };
        if header.tensor("rope_freqs.weight").is_some() {
            return Err(Error::format(
                file,
                "the model uses llama3-style rope scaling (a rope_freqs tensor), which the GGUF importer cannot turn back into config.json yet",
            ));
        }

        let mut tensors = Vec::with_capacity(header.tensors.len());
        for t in &header.tensors {
            if t.name == "output.weight" && tied {
                continue;
            }
            let (name, transform) = hf_name(&t.name, &hp)
                .ok_or_else(|| Error::format(file, format!("tensor {:?} has no Hugging Face counterpart for {arch} models", t.name)))?;
            if !t.ggml_type.is_supported() {
                return Err(Error::format(
                    file,
                    format!(
                        "tensor {:?} has type {}, which the importer cannot dequantize (supported: {})",
                        t.name,
                        t.ggml_type,
                        super::quant::supported_names()
                    ),
                ));
            }
            header.data_range(t).map_err(|m| Error::format(file, m))?;
            let shape = t.hf_shape();
            if let Transform::Unpermute { head_dim } = transform
                && (!shape[0].is_multiple_of(head_dim as u64) || !head_dim.is_multiple_of(2))
            {
                return Err(Error::format(file, format!("tensor {:?}: {} rows are not whole heads of {head_dim}", t.name, shape[0])));
            }
            tensors.push(OutTensor { name, source: t.clone(), shape, transform });
        }
        let expect = hp.vocab_rows as u64;
        if embed.dims.get(1) != Some(&expect) || embed.dims[0] != hp.hidden as u64 {
            return Err(Error::format(file, format!("token_embd.weight has dims {:?}, expected [{}, {expect}]", embed.dims, hp.hidden)));
        }
        Ok(ImportPlan { hparams: hp, tied, tensors })
    }

    /// Parameters in the output checkpoint.
    pub fn params(&self) -> u64 {
        self.tensors.iter().map(|t| t.shape.iter().product::<u64>()).sum()
    }
}

fn hparams(meta: &Meta, family: Family) -> Result<Hparams> {
    let a = family.arch();
    let k = |s: &str| format!("{a}.{s}");
    let hidden = meta.usize(&k("embedding_length"))?;
    let heads = meta.usize(&k("attention.head_count"))?;
    if heads == 0 {
        return Err(Error::format(meta.file, "attention.head_count is 0"));
    }
    let kv_heads = meta.opt_usize(&k("attention.head_count_kv"))?.unwrap_or(heads);
    let head_dim = match meta.opt_usize(&k("attention.key_length"))? {
        Some(d) => d,
        None => hidden / heads,
    };
    let embed =
        meta.header.tensor("token_embd.weight").ok_or_else(|| Error::format(meta.file, "tensor \"token_embd.weight\" is missing"))?;
    let vocab_rows = embed.dims.get(1).copied().unwrap_or(0) as usize;
    let rope_scaling = match meta.opt_str(&k("rope.scaling.type"))? {
        None | Some("none") => Json::Null,
        Some(kind @ ("linear" | "yarn")) => {
            let factor = meta.f32_as_f64(&k("rope.scaling.factor"))?;
            let mut m = Map::new();
            m.insert("rope_type".into(), json!(kind));
            m.insert("type".into(), json!(kind));
            m.insert("factor".into(), json!(factor));
            if let Some(orig) = meta.opt_usize(&k("rope.scaling.original_context_length"))? {
                m.insert("original_max_position_embeddings".into(), json!(orig));
            }
            Json::Object(m)
        }
        Some(other) => {
            return Err(Error::format(meta.file, format!("rope scaling type {other:?} is not supported")));
        }
    };
    let attention_bias = meta.header.tensor("blk.0.attn_q.bias").is_some();
    Ok(Hparams {
        family,
        layers: meta.usize(&k("block_count"))?,
        hidden,
        intermediate: meta.usize(&k("feed_forward_length"))?,
        heads,
        kv_heads,
        head_dim,
        rms_norm_eps: meta.f32_as_f64(&k("attention.layer_norm_rms_epsilon"))?,
        rope_theta: match meta.get(&k("rope.freq_base")) {
            Some(_) => meta.f32_as_f64(&k("rope.freq_base"))?,
            None => 10_000.0,
        },
        context: meta.usize(&k("context_length"))?,
        vocab_rows,
        rope_scaling,
        sliding_window: meta.opt_usize(&k("attention.sliding_window"))?,
        attention_bias,
    })
}

/// The Hugging Face name and fix-up of GGUF tensor `name`, or `None` when unknown.
fn hf_name(name: &str, hp: &Hparams) -> Option<(String, Transform)> {
    hf_name_of(name, hp.family, hp.layers, hp.head_dim)
}

/// The llama.cpp name of every Hugging Face tensor of a `family` model with `layers`
/// layers, and the fix-up that turns the Hugging Face values into llama.cpp's: the
/// inverse of the importer's table, built from it so the two cannot disagree.
pub fn gguf_names(family: Family, layers: usize, head_dim: usize) -> std::collections::HashMap<String, (String, Transform)> {
    const BASES: [&str; 14] = [
        "attn_qkv",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "attn_norm",
        "ffn_norm",
        "post_attention_norm",
        "post_ffw_norm",
        "attn_q_norm",
        "attn_k_norm",
    ];
    let globals = ["token_embd.weight", "output_norm.weight", "output.weight"].map(String::from);
    let per_layer = (0..layers).flat_map(|l| BASES.iter().flat_map(move |b| ["weight", "bias"].map(|k| format!("blk.{l}.{b}.{k}"))));
    globals
        .into_iter()
        .chain(per_layer)
        .filter_map(|g| hf_name_of(&g, family, layers, head_dim).map(|(hf, t)| (hf, (g, t.inverse()))))
        .collect()
}

fn hf_name_of(name: &str, family: Family, layers: usize, head_dim: usize) -> Option<(String, Transform)> {
    let gemma = family == Family::Gemma3;
    let qk_norm = gemma || family == Family::Qwen3;
    let norm = if gemma { Transform::MinusOne } else { Transform::None };
    match name {
        "token_embd.weight" => return Some((names::EMBED.to_string(), Transform::None)),
        "output_norm.weight" => return Some((names::FINAL_NORM.to_string(), norm)),
        "output.weight" => return Some((names::LM_HEAD.to_string(), Transform::None)),
        _ => {}
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    if layer >= layers {
        return None;
    }
    let (base, kind) = rest.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let rope_rows = match family {
        Family::Llama => Transform::Unpermute { head_dim },
        _ => Transform::None,
    };
    let phi3 = family == Family::Phi3;
    let (hf, transform) = match (base, kind) {
        ("attn_qkv", "weight") if phi3 => (names::attn(layer, "qkv_proj", "weight"), Transform::None),
        ("ffn_up", "weight") if phi3 => (names::mlp(layer, "gate_up_proj"), Transform::None),
        ("attn_q", _) => (names::attn(layer, "q_proj", kind), rope_rows),
        ("attn_k", _) => (names::attn(layer, "k_proj", kind), rope_rows),
        ("attn_v", _) => (names::attn(layer, "v_proj", kind), Transform::None),
        ("attn_output", _) => (names::attn(layer, "o_proj", kind), Transform::None),
        ("ffn_gate", "weight") => (names::mlp(layer, "gate_proj"), Transform::None),
        ("ffn_up", "weight") => (names::mlp(layer, "up_proj"), Transform::None),
        ("ffn_down", "weight") => (names::mlp(layer, "down_proj"), Transform::None),
        ("attn_norm", "weight") => (names::layer_norm(layer, "input_layernorm"), norm),
        ("ffn_norm", "weight") if gemma => (names::layer_norm(layer, "pre_feedforward_layernorm"), norm),
        ("ffn_norm", "weight") => (names::layer_norm(layer, "post_attention_layernorm"), norm),
        ("post_attention_norm", "weight") if gemma => (names::layer_norm(layer, "post_attention_layernorm"), norm),
        ("post_ffw_norm", "weight") if gemma => (names::layer_norm(layer, "post_feedforward_layernorm"), norm),
        ("attn_q_norm", "weight") if qk_norm => (names::attn(layer, "q_norm", "weight"), norm),
        ("attn_k_norm", "weight") if qk_norm => (names::attn(layer, "k_norm", "weight"), norm),
        _ => return None,
    };
    Some((hf, transform))
}

/// Special token ids from the tokenizer metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecialIds {
    /// Beginning-of-sequence token id.
    pub bos: Option<u32>,
    /// End-of-sequence token id.
    pub eos: Option<u32>,
    /// Padding token id.
    pub pad: Option<u32>,
    /// Unknown-token id.
    pub unk: Option<u32>,
}

fn id(v: Option<u32>) -> Json {
    v.map_or(Json::Null, |i| json!(i))
}

/// `config.json` in the transformers 4.x dialect of the family.
pub fn config_json(plan: &ImportPlan, ids: &SpecialIds) -> Json {
    let hp = &plan.hparams;
    let mut c = Map::new();
    let mut put = |k: &str, v: Json| {
        c.insert(k.to_string(), v);
    };
    // Every family's keys, then each family's own; written in key order.
    put("attention_dropout", json!(0.0));
    put("bos_token_id", id(ids.bos));
    put("eos_token_id", id(ids.eos));
    put("hidden_size", json!(hp.hidden));
    put("initializer_range", json!(0.02));
    put("intermediate_size", json!(hp.intermediate));
    put("max_position_embeddings", json!(hp.context));
    put("num_attention_heads", json!(hp.heads));
    put("num_hidden_layers", json!(hp.layers));
    put("num_key_value_heads", json!(hp.kv_heads));
    put("pad_token_id", id(ids.pad));
    put("rms_norm_eps", json!(hp.rms_norm_eps));
    put("rope_scaling", hp.rope_scaling.clone());
    put("rope_theta", json!(hp.rope_theta));
    put("tie_word_embeddings", json!(plan.tied));
    put("torch_dtype", json!("bfloat16"));
    put("use_cache", json!(true));
    put("vocab_size", json!(hp.vocab_rows));
    match hp.family {
        Family::Llama => {
            put("architectures", json!(["LlamaForCausalLM"]));
            put("attention_bias", json!(hp.attention_bias));
            put("head_dim", json!(hp.head_dim));
            put("hidden_act", json!("silu"));
            put("mlp_bias", json!(false));
            put("model_type", json!("llama"));
            put("pretraining_tp", json!(1));
        }
        Family::Qwen2 | Family::Qwen3 => {
            let qwen3 = hp.family == Family::Qwen3;
            put("architectures", json!([if qwen3 { "Qwen3ForCausalLM" } else { "Qwen2ForCausalLM" }]));
            if qwen3 {
                put("attention_bias", json!(hp.attention_bias));
                put("head_dim", json!(hp.head_dim));
            }
            put("hidden_act", json!("silu"));
            put("max_window_layers", json!(hp.layers));
            put("model_type", json!(hp.family.arch()));
            put("sliding_window", json!(hp.context));
            put("use_sliding_window", json!(false));
        }
        Family::Gemma3 => {
            // Not in the GGUF; the values of every released Gemma-3 text model. The query
            // scale follows llama.cpp: hidden/heads for the 27B (62 layers), else head_dim.
            const SLIDING_WINDOW_PATTERN: usize = 6;
            const ROPE_LOCAL_BASE_FREQ: f64 = 10_000.0;
            let query_pre_attn_scalar = if hp.layers == 62 { hp.hidden / hp.heads } else { hp.head_dim };
            let layer_types: Vec<&str> = (0..hp.layers)
                .map(|i| if (i + 1) % SLIDING_WINDOW_PATTERN == 0 { "full_attention" } else { "sliding_attention" })
                .collect();
            put("architectures", json!(["Gemma3ForCausalLM"]));
            put("attention_bias", json!(hp.attention_bias));
            put("attn_logit_softcapping", Json::Null);
            put("final_logit_softcapping", Json::Null);
            put("head_dim", json!(hp.head_dim));
            put("hidden_activation", json!("gelu_pytorch_tanh"));
            put("layer_types", json!(layer_types));
            put("model_type", json!("gemma3_text"));
            put("query_pre_attn_scalar", json!(query_pre_attn_scalar));
            put("rope_local_base_freq", json!(ROPE_LOCAL_BASE_FREQ));
            put("sliding_window", json!(hp.sliding_window.unwrap_or(512)));
            put("sliding_window_pattern", json!(SLIDING_WINDOW_PATTERN));
            put("use_bidirectional_attention", json!(false));
        }
        Family::Phi3 => {
            put("architectures", json!(["Phi3ForCausalLM"]));
            put("attention_bias", json!(false));
            put("hidden_act", json!("silu"));
            put("model_type", json!("phi3"));
            put("original_max_position_embeddings", json!(hp.context));
            put("sliding_window", hp.sliding_window.filter(|&w| w > 0).map_or(Json::Null, |w| json!(w)));
        }
    }
    c.sort_keys();
    Json::Object(c)
}

/// `generation_config.json`: the special token ids.
pub fn generation_config_json(ids: &SpecialIds) -> Json {
    let mut c = Map::new();
    c.insert("_from_model_config".into(), json!(true));
    for (k, v) in [("bos_token_id", ids.bos), ("eos_token_id", ids.eos), ("pad_token_id", ids.pad)] {
        if let Some(v) = v {
            c.insert(k.into(), json!(v));
        }
    }
    Json::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen3_names_its_q_k_norms_as_llama_cpp_does() {
        let names = gguf_names(Family::Qwen3, 2, 128);
        assert_eq!(names["model.layers.1.self_attn.q_norm.weight"], ("blk.1.attn_q_norm.weight".into(), Transform::None));
        assert_eq!(names["model.layers.0.self_attn.k_norm.weight"], ("blk.0.attn_k_norm.weight".into(), Transform::None));
        assert_eq!(names["model.layers.0.self_attn.q_proj.weight"].1, Transform::None, "no rope permutation outside llama");
        assert!(!gguf_names(Family::Qwen2, 2, 64).contains_key("model.layers.0.self_attn.q_norm.weight"));
    }

    #[test]
    fn unpermute_inverts_llama_cpp_interleave() {
        // Two heads of head_dim 4, rows of length 2: llama.cpp stores row 2j+i of a
        // head where the checkpoint has row i*2+j.
        let hf: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let mut gguf = vec![0.0; 16];
        for h in 0..2 {
            for i in 0..2 {
                for j in 0..2 {
                    for c in 0..2 {
                        gguf[(h * 4 + 2 * j + i) * 2 + c] = hf[(h * 4 + i * 2 + j) * 2 + c];
                    }
                }
            }
        }
        let mut scratch = Vec::new();
        Transform::Unpermute { head_dim: 4 }.apply(&mut gguf, 2, &mut scratch);
        assert_eq!(gguf, hf);
    }

    #[test]
    fn minus_one_and_shortest_f32() {
        let mut v = vec![1.5, 0.0];
        Transform::MinusOne.apply(&mut v, 2, &mut Vec::new());
        assert_eq!(v, [0.5, -1.0]);
        assert_eq!(shortest_f32(9.999999747378752e-06), 1e-5);
        assert_eq!(shortest_f32(1e6), 1e6);
    }
}
