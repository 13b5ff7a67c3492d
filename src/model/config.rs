//! `config.json` → [`ModelConfig`]: the sizes and switches the pruner and the forward
//! pass need, for the three supported families.
//!
//! Both dialects of config.json are read: the transformers 4.x form (`rope_theta`,
//! `rope_scaling`, Gemma's `rope_local_base_freq` / `sliding_window_pattern`) and the
//! 5.x form (`rope_parameters`, `layer_types`). The raw JSON is kept so an exporter can
//! write back the dialect it read.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The most layers a config may declare (real models have up to ~130).
pub const MAX_LAYERS: usize = 1 << 12;

/// The model families this tool knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// SmolLM2, Llama-3.x (`model_type: llama`).
    Llama,
    /// Mistral (`model_type: mistral`): Llama's layout, with an optional sliding window
    /// on every layer.
    Mistral,
    /// Qwen2 / Qwen2.5 (`model_type: qwen2`).
    Qwen2,
    /// Qwen3 (`model_type: qwen3`): Qwen2 without q/k/v biases, with per-head q/k norms.
    Qwen3,
    /// Gemma-3 text models (`model_type: gemma3_text`, or the text part of `gemma3`).
    Gemma3,
    /// Phi-3 (`model_type: phi3`): Llama's computation with fused `qkv_proj` and
    /// `gate_up_proj` matrices, and an optional sliding window on every layer.
    Phi3,
}

impl Arch {
    /// Maps a config `model_type` to a family.
    pub fn from_model_type(model_type: &str) -> Result<Self> {
        match model_type {
            "llama" => Ok(Arch::Llama),
            "mistral" => Ok(Arch::Mistral),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            "gemma3" | "gemma3_text" => Ok(Arch::Gemma3),
            "phi3" => Ok(Arch::Phi3),
            other => Err(Error::Unsupported { arch: other.to_string() }),
        }
    }

    /// Human-readable family name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Mistral => "mistral",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
            Arch::Phi3 => "phi3",
        }
    }

    /// Whether word embeddings are tied when config.json does not say
    /// (the transformers defaults of each config class).
    fn default_tied(self) -> bool {
        matches!(self, Arch::Gemma3)
    }
}

/// What the rest of the crate needs to know about a model, read from config.json.
#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    /// The model family, from `model_type`.
    pub arch: Arch,
    /// The `model_type` as written (e.g. `gemma3_text`).
    pub model_type: String,
    /// Residual stream width `D` (`hidden_size`).
    pub hidden_size: usize,
    /// FFN channels per layer `I` (`intermediate_size`).
    pub intermediate_size: usize,
    /// Decoder layers `L` (`num_hidden_layers`).
    pub num_layers: usize,
    /// Query heads (`num_attention_heads`).
    pub num_heads: usize,
    /// Key/value heads (`num_key_value_heads`; `num_heads` when absent).
    pub num_kv_heads: usize,
    /// Values per attention head (`head_dim`, else `hidden_size / num_heads`).
    pub head_dim: usize,
    /// Vocabulary size `V`: rows of the embedding matrix.
    pub vocab_size: usize,
    /// Whether lm_head shares the embedding matrix (the family's default when absent).
    pub tie_word_embeddings: bool,
    /// RMSNorm ε (`rms_norm_eps`; 1e-6 when absent).
    pub rms_norm_eps: f64,
    /// The longest context the model supports, when given.
    pub max_position_embeddings: Option<usize>,
    /// `torch_dtype` / `dtype` as declared, if any.
    pub torch_dtype: Option<String>,
    /// The GLU activation of the FFN.
    pub activation: Activation,
    /// RoPE of full-attention layers.
    pub rope: Rope,
    /// RoPE of sliding-window layers (Gemma-3's local θ); `None` when all layers use [`Self::rope`].
    pub rope_local: Option<Rope>,
    /// Attention span of sliding-window layers.
    pub sliding_window: Option<usize>,
    /// Per layer: true for a sliding-window (local) layer.
    pub sliding_layers: Vec<bool>,
    /// Query scale: 1/√(query_pre_attn_scalar) for Gemma-3, 1/√head_dim otherwise.
    pub attn_scale: f32,
    /// The JSON object the values came from (for Gemma-3 `gemma3`, its `text_config`).
    #[serde(skip)]
    pub raw: Value,
}

const FILE: &str = "config.json";

impl ModelConfig {
    /// Parses config.json text.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::format(FILE, format!("not valid JSON: {e}")))?;
        Self::from_value(root)
    }

    /// Parses an already-decoded config.json.
    pub fn from_value(root: Value) -> Result<Self> {
        if !root.is_object() {
            return Err(Error::format(FILE, "not a JSON object"));
        }
        let model_type = root
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::format(FILE, "no \"model_type\": is this a Hugging Face model folder?"))?
            .to_string();
        let arch = Arch::from_model_type(&model_type)?;
        // Multimodal Gemma-3 checkpoints keep the language model's settings in text_config.
        let c = match (arch, root.get("text_config")) {
            (Arch::Gemma3, Some(t)) if t.is_object() => t.clone(),
            _ => root.clone(),
        };

        let hidden_size = req(&c, "hidden_size")?;
        let num_heads = req(&c, "num_attention_heads")?;
        let num_kv_heads = opt(&c, "num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match opt(&c, "head_dim")? {
            Some(d) => d,
            None if num_heads > 0 && hidden_size % num_heads == 0 => hidden_size / num_heads,
            None => return Err(Error::format(FILE, "no head_dim and hidden_size is not a multiple of num_attention_heads")),
        };
        let tie_word_embeddings = c
            .get("tie_word_embeddings")
            .or_else(|| root.get("tie_word_embeddings"))
            .and_then(Value::as_bool)
            .unwrap_or(arch.default_tied());
        let num_layers = req(&c, "num_hidden_layers")?;
        // Checked before anything is sized by it (the sliding-layer list, below).
        if num_layers > MAX_LAYERS {
            return Err(Error::format(FILE, format!("num_hidden_layers is {num_layers}, more than any model has (at most {MAX_LAYERS})")));
        }
        let activation =
            Activation::parse(["hidden_activation", "hidden_act"].iter().find_map(|k| c.get(*k).and_then(Value::as_str)), arch)?;
        let (rope, rope_local) = Rope::parse(&c, arch)?;
        let sliding_layers = sliding_layers(&c, arch, num_layers)?;
        // Gemma3TextConfig's default window is 4096.
        let sliding_window = if sliding_layers.iter().any(|&s| s) { Some(opt(&c, "sliding_window")?.unwrap_or(4096)) } else { None };
        let attn_scale = match (arch, c.get("query_pre_attn_scalar").and_then(Value::as_f64)) {
            (Arch::Gemma3, Some(s)) if s > 0.0 => 1.0 / (s as f32).sqrt(),
            _ => 1.0 / (head_dim as f32).sqrt(),
        };
        let cfg = Self {
            arch,
            model_type,
            hidden_size,
            intermediate_size: req(&c, "intermediate_size")?,
            num_layers,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size: req(&c, "vocab_size")?,
            tie_word_embeddings,
            rms_norm_eps: c.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
            max_position_embeddings: opt(&c, "max_position_embeddings")?,
            torch_dtype: ["torch_dtype", "dtype"]
                .iter()
                .find_map(|k| c.get(*k).or_else(|| root.get(*k)).and_then(Value::as_str))
                .map(str::to_string),
            activation,
            rope,
            rope_local,
            sliding_window,
            sliding_layers,
            attn_scale,
            raw: c,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        // Sizes: positive, and within what real models have with a wide margin, so a
        // corrupt config cannot make anything reserve absurd amounts of memory.
        for (name, v, max) in [
            ("hidden_size", self.hidden_size, 1 << 17),
            ("intermediate_size", self.intermediate_size, 1 << 20),
            ("num_hidden_layers", self.num_layers, MAX_LAYERS),
            ("num_attention_heads", self.num_heads, 1 << 12),
            ("num_key_value_heads", self.num_kv_heads, 1 << 12),
            ("head_dim", self.head_dim, 1 << 12),
            ("vocab_size", self.vocab_size, 1 << 23),
        ] {
            if v == 0 {
                return Err(Error::format(FILE, format!("{name} is 0")));
            }
            if v > max {
                return Err(Error::format(FILE, format!("{name} is {v}, more than any model has (at most {max})")));
            }
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(Error::format(
                FILE,
                format!("rms_norm_eps is {}; it must be a small positive number such as 1e-6", self.rms_norm_eps),
            ));
        }
        for rope in std::iter::once(&self.rope).chain(&self.rope_local) {
            if !(rope.theta.is_finite() && rope.theta > 0.0) {
                return Err(Error::format(
                    FILE,
                    format!("rope_theta is {}; it must be positive (10000 or more in real models)", rope.theta),
                ));
            }
        }
        if self.raw.get("mlp_bias").and_then(Value::as_bool) == Some(true) {
            return Err(Error::format(
                FILE,
                "mlp_bias is true: FFN projections with biases are not supported (pruning would leave them unsliced)",
            ));
        }
        if self.arch != Arch::Qwen2 && self.qkv_bias() {
            return Err(Error::format(
                FILE,
                "attention_bias is true: only Qwen2's q/k/v biases are supported, not the o_proj bias it adds here",
            ));
        }
        if let Some(f) = self.raw.get("partial_rotary_factor").and_then(Value::as_f64).filter(|&f| f != 1.0) {
            return Err(Error::format(
                FILE,
                format!("partial_rotary_factor is {f}: rotary embeddings on part of each head are not supported (only 1.0)"),
            ));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return Err(Error::format(
                FILE,
                format!("num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", self.num_heads, self.num_kv_heads),
            ));
        }
        Ok(())
    }

    /// Every tensor this configuration's checkpoint must hold, with its shape (`lm_head`:
    /// whether it has a separate `lm_head.weight`). The checkpoint check and the GGUF
    /// importer both compare against it.
    pub fn expected_tensors(&self, lm_head: bool) -> Vec<(String, Vec<usize>)> {
        use super::names;
        let (d, i, v, q, kv, hd) = (self.hidden_size, self.intermediate_size, self.vocab_size, self.q_dim(), self.kv_dim(), self.head_dim);
        let mut want: Vec<(String, Vec<usize>)> = vec![(names::EMBED.into(), vec![v, d]), (names::FINAL_NORM.into(), vec![d])];
        if lm_head {
            want.push((names::LM_HEAD.into(), vec![v, d]));
        }
        let layer_norms: &[&str] = if self.norms_per_layer() == 4 {
            &["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]
        } else {
            &["input_layernorm", "post_attention_layernorm"]
        };
        for l in 0..self.num_layers {
            if self.fused() {
                want.push((names::attn(l, "qkv_proj", "weight"), vec![q + 2 * kv, d]));
            } else {
                want.push((names::attn(l, "q_proj", "weight"), vec![q, d]));
                want.push((names::attn(l, "k_proj", "weight"), vec![kv, d]));
                want.push((names::attn(l, "v_proj", "weight"), vec![kv, d]));
            }
            want.push((names::attn(l, "o_proj", "weight"), vec![d, q]));
            if self.qkv_bias() {
                want.push((names::attn(l, "q_proj", "bias"), vec![q]));
                want.push((names::attn(l, "k_proj", "bias"), vec![kv]));
                want.push((names::attn(l, "v_proj", "bias"), vec![kv]));
            }
            if self.qk_norm() {
                want.push((names::attn(l, "q_norm", "weight"), vec![hd]));
                want.push((names::attn(l, "k_norm", "weight"), vec![hd]));
            }
            for n in layer_norms {
                want.push((names::layer_norm(l, n), vec![d]));
            }
            if self.fused() {
                want.push((names::mlp(l, "gate_up_proj"), vec![2 * i, d]));
            } else {
                want.push((names::mlp(l, "gate_proj"), vec![i, d]));
                want.push((names::mlp(l, "up_proj"), vec![i, d]));
            }
            want.push((names::mlp(l, "down_proj"), vec![d, i]));
        }
        want
    }

    /// Whether the checkpoint stores q/k/v as one `qkv_proj` and gate/up as one
    /// `gate_up_proj` (Phi-3). The engine reads them through
    /// [`crate::model::Checkpoint`]'s unfused views; the export keeps the fused layout.
    pub fn fused(&self) -> bool {
        self.arch == Arch::Phi3
    }

    /// Width of the query projection (heads × head_dim).
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }

    /// Width of each of the key and value projections (kv heads × head_dim).
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Whether q/k/v projections carry a bias (Qwen2).
    pub fn qkv_bias(&self) -> bool {
        self.raw.get("attention_bias").and_then(Value::as_bool).unwrap_or(self.arch == Arch::Qwen2)
    }

    /// Whether queries and keys are RMS-normalised per head (Gemma-3, Qwen3).
    pub fn qk_norm(&self) -> bool {
        matches!(self.arch, Arch::Gemma3 | Arch::Qwen3)
    }

    /// RMSNorm weight offset: Gemma scales by (1 + w), the others by w.
    pub fn norm_offset(&self) -> f32 {
        if self.arch == Arch::Gemma3 { 1.0 } else { 0.0 }
    }

    /// Factor applied to the gathered embeddings (√hidden for Gemma-3).
    pub fn embed_scale(&self) -> f32 {
        if self.arch == Arch::Gemma3 { (self.hidden_size as f32).sqrt() } else { 1.0 }
    }

    /// The RoPE used by `layer`.
    pub fn rope_for(&self, layer: usize) -> &Rope {
        match (&self.rope_local, self.sliding_layers.get(layer)) {
            (Some(local), Some(true)) => local,
            _ => &self.rope,
        }
    }

    /// The attention span of `layer` (`None`: all earlier positions).
    pub fn window_for(&self, layer: usize) -> Option<usize> {
        if self.sliding_layers.get(layer) == Some(&true) { self.sliding_window } else { None }
    }

    /// Norm weight vectors per decoder layer (Gemma-3 has four).
    pub fn norms_per_layer(&self) -> usize {
        if self.arch == Arch::Gemma3 { 4 } else { 2 }
    }
}

/// The gate activation of the gated FFN: `act(x W_gate) ⊙ x W_up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// SiLU (llama, qwen2).
    Silu,
    /// GELU with the tanh approximation (Gemma).
    GeluTanh,
}

impl Activation {
    fn parse(name: Option<&str>, arch: Arch) -> Result<Self> {
        match name {
            None if arch == Arch::Gemma3 => Ok(Activation::GeluTanh),
            None | Some("silu") | Some("swish") => Ok(Activation::Silu),
            Some("gelu_pytorch_tanh") | Some("gelu_tanh") | Some("gelu_new") => Ok(Activation::GeluTanh),
            Some(other) => Err(Error::format(FILE, format!("activation {other:?} is not supported (silu, gelu_pytorch_tanh)"))),
        }
    }

    /// Applies the activation to one value.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Silu => x / (1.0 + (-x).exp()),
            Activation::GeluTanh => {
                const C: f32 = 0.797_884_6; // √(2/π)
                0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
            }
        }
    }
}

/// Rotary position embedding parameters of one kind of layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rope {
    /// Base θ.
    pub theta: f64,
    /// How the frequencies are rescaled for long contexts.
    pub scaling: RopeScaling,
}

/// How the rotary frequencies are rescaled for long contexts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// No rescaling (`rope_type: default`).
    None,
    /// All frequencies divided by `factor`.
    Linear {
        /// The divisor of every frequency.
        factor: f64,
    },
    /// Llama-3's band-wise rescaling.
    Llama3 {
        /// The divisor of the low frequencies (long wavelengths).
        factor: f64,
        /// Wavelengths above `original_max_position_embeddings / low_freq_factor` are divided by `factor`.
        low_freq_factor: f64,
        /// Wavelengths below `original_max_position_embeddings / high_freq_factor` are kept as is.
        high_freq_factor: f64,
        /// The context length the model was pretrained with.
        original_max_position_embeddings: f64,
    },
}

impl Rope {
    /// Reads the global and (for Gemma-3) local RoPE from either config dialect:
    /// 4.x (`rope_theta`, `rope_scaling`, `rope_local_base_freq`) or 5.x
    /// (`rope_parameters`, keyed by layer type for Gemma-3).
    fn parse(c: &Value, arch: Arch) -> Result<(Rope, Option<Rope>)> {
        let default_theta = if arch == Arch::Gemma3 { 1_000_000.0 } else { 10_000.0 };
        if let Some(p) = c.get("rope_parameters").filter(|p| p.is_object()) {
            if let Some(full) = p.get("full_attention") {
                let global = Rope::from_params(full, default_theta)?;
                let local = p.get("sliding_attention").map(|l| Rope::from_params(l, 10_000.0)).transpose()?;
                return Ok((global, local));
            }
            return Ok((Rope::from_params(p, default_theta)?, None));
        }
        let theta = c.get("rope_theta").and_then(Value::as_f64).unwrap_or(default_theta);
        let scaling = match c.get("rope_scaling") {
            None | Some(Value::Null) => RopeScaling::None,
            Some(s) => RopeScaling::parse(s)?,
        };
        let local = (arch == Arch::Gemma3)
            .then(|| Rope { theta: c.get("rope_local_base_freq").and_then(Value::as_f64).unwrap_or(10_000.0), scaling: RopeScaling::None });
        Ok((Rope { theta, scaling }, local))
    }

    fn from_params(p: &Value, default_theta: f64) -> Result<Rope> {
        let theta = p.get("rope_theta").and_then(Value::as_f64).unwrap_or(default_theta);
        Ok(Rope { theta, scaling: RopeScaling::parse(p)? })
    }

    /// The inverse frequencies 1/θ^(2i/d) for i < d/2, rescaled.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f64> {
        let half = head_dim / 2;
        (0..half)
            .map(|i| {
                let f = 1.0 / self.theta.powf(2.0 * i as f64 / head_dim as f64);
                match self.scaling {
                    RopeScaling::None => f,
                    RopeScaling::Linear { factor } => f / factor,
                    RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings: old } => {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    }
                }
            })
            .collect()
    }
}

impl RopeScaling {
    /// Llama-3's per-frequency divisors (1 for the high frequencies, `factor` for the
    /// low, a smooth blend between) for `head_dim / 2` frequencies of base `theta`: the
    /// `rope_freqs` tensor llama.cpp reads instead of the config's parameters. Computed
    /// in f32, as llama.cpp's converter does, so the files agree; `None` for the other
    /// scalings.
    pub fn llama3_divisors(&self, theta: f64, head_dim: usize) -> Option<Vec<f32>> {
        let RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings: old } = *self else {
            return None;
        };
        let (factor, low, high, old) = (factor as f32, low_freq_factor as f32, high_freq_factor as f32, old as f32);
        let (low_wavelen, high_wavelen) = (old / low, old / high);
        let divisors = (0..head_dim / 2)
            .map(|i| {
                let freq = 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32);
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth = (old / wavelen - low) / (high - low);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                }
            })
            .collect();
        Some(divisors)
    }

    fn parse(s: &Value) -> Result<Self> {
        let kind = s.get("rope_type").or_else(|| s.get("type")).and_then(Value::as_str).unwrap_or("default");
        let num =
            |k: &str| s.get(k).and_then(Value::as_f64).ok_or_else(|| Error::format(FILE, format!("rope scaling {kind:?} needs \"{k}\"")));
        match kind {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear { factor: num("factor")? }),
            "llama3" => Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")?,
            }),
            other => Err(Error::format(FILE, format!("rope scaling {other:?} is not supported (default, linear, llama3)"))),
        }
    }
}

/// Which layers use sliding-window attention: a `layer_types` list where config.json
/// has one (every family in transformers 5.x, some in 4.x); otherwise each family's
/// own rule: Gemma-3's `sliding_window_pattern` (every n-th layer is global),
/// Mistral's window on every layer when `sliding_window` is set, Qwen's from layer
/// `max_window_layers` on when `use_sliding_window` is true; none for Llama.
fn sliding_layers(c: &Value, arch: Arch, n: usize) -> Result<Vec<bool>> {
    let window = !matches!(c.get("sliding_window"), None | Some(Value::Null));
    if let Some(types) = c.get("layer_types").and_then(Value::as_array) {
        if types.len() != n {
            return Err(Error::format(FILE, format!("layer_types has {} entries for {n} layers", types.len())));
        }
        return types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                _ => Err(Error::format(FILE, format!("unknown layer type {t}"))),
            })
            .collect();
    }
    match arch {
        Arch::Gemma3 => {}
        Arch::Mistral | Arch::Phi3 => return Ok(vec![window; n]),
        Arch::Qwen2 | Arch::Qwen3 => {
            let on = window && c.get("use_sliding_window").and_then(Value::as_bool) == Some(true);
            let from = opt(c, "max_window_layers")?.unwrap_or(n);
            return Ok((0..n).map(|i| on && i >= from).collect());
        }
        Arch::Llama => return Ok(vec![false; n]),
    }
    let pattern =
        ["sliding_window_pattern", "_sliding_window_pattern"].iter().find_map(|k| c.get(*k).and_then(Value::as_u64)).unwrap_or(6) as usize;
    Ok((0..n).map(|i| pattern == 0 || (i + 1) % pattern != 0).collect())
}

fn opt(c: &Value, key: &str) -> Result<Option<usize>> {
    match c.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| Error::format(FILE, format!("\"{key}\" is {v}, not a non-negative integer")))
        }
    }
}

fn req(c: &Value, key: &str) -> Result<usize> {
    opt(c, key)?.ok_or_else(|| Error::format(FILE, format!("\"{key}\" is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smollm2() -> Value {
        json!({"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
               "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
               "vocab_size": 49152, "tie_word_embeddings": true, "rms_norm_eps": 1e-5,
               "torch_dtype": "bfloat16"})
    }

    #[test]
    fn reads_llama() {
        let c = ModelConfig::from_value(smollm2()).unwrap();
        assert_eq!((c.arch, c.head_dim, c.q_dim(), c.kv_dim()), (Arch::Llama, 64, 576, 192));
        assert!(c.tie_word_embeddings && !c.qkv_bias() && !c.qk_norm());
        assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    }

    #[test]
    fn reads_gemma3_text_config_and_defaults() {
        let c = ModelConfig::from_value(json!({"model_type": "gemma3", "text_config": {
            "model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
            "num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 256, "vocab_size": 262144}}))
        .unwrap();
        assert_eq!((c.arch, c.head_dim, c.norms_per_layer()), (Arch::Gemma3, 256, 4));
        assert!(c.tie_word_embeddings && c.qk_norm());
        assert_eq!(c.activation, Activation::GeluTanh);
        // 4.x defaults: pattern 6 → layers 5, 11, 17 global; local θ 10⁴, global θ 10⁶.
        let globals: Vec<usize> = (0..18).filter(|&l| !c.sliding_layers[l]).collect();
        assert_eq!(globals, [5, 11, 17]);
        assert_eq!((c.rope_for(0).theta, c.rope_for(5).theta), (10_000.0, 1_000_000.0));
    }

    #[test]
    fn reads_both_dialects_of_gemma3_rope() {
        let base = json!({"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
            "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
            "vocab_size": 16, "sliding_window": 512, "query_pre_attn_scalar": 256});
        let mut v4 = base.clone();
        v4["rope_theta"] = json!(1e6);
        v4["rope_local_base_freq"] = json!(1e4);
        v4["sliding_window_pattern"] = json!(3);
        let mut v5 = base.clone();
        v5["layer_types"] = json!(["sliding_attention", "sliding_attention", "full_attention"]);
        v5["rope_parameters"] = json!({"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                       "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}});
        for v in [v4, v5] {
            let c = ModelConfig::from_value(v).unwrap();
            assert_eq!(c.sliding_layers, [true, true, false]);
            assert_eq!((c.window_for(0), c.window_for(2)), (Some(512), None));
            assert_eq!((c.rope_for(0).theta, c.rope_for(2).theta), (1e4, 1e6));
            assert_eq!(c.attn_scale, 1.0 / 16.0);
        }
    }

    /// SmolLM2's shape with Llama-3.2's RoPE (θ = 500000, llama3 scaling by 32).
    fn llama32_rope() -> ModelConfig {
        let mut v = smollm2();
        v["rope_theta"] = json!(500000.0);
        v["rope_scaling"] = json!({"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
        ModelConfig::from_value(v).unwrap()
    }

    #[test]
    fn llama3_rope_scaling_matches_the_reference_bands() {
        let c = llama32_rope();
        let plain = Rope { theta: 500000.0, scaling: RopeScaling::None }.inv_freq(64);
        let scaled = c.rope.inv_freq(64);
        assert_eq!(scaled[0], plain[0], "high frequencies are kept");
        assert!((scaled[31] - plain[31] / 32.0).abs() < 1e-18, "low frequencies are divided by the factor");
        assert!(scaled[20] < plain[20] && scaled[20] > plain[20] / 32.0 || scaled[20] == plain[20] / 32.0);
    }

    #[test]
    fn llama3_divisors_are_the_engines_scaling() {
        let c = llama32_rope();
        let divisors = c.rope.scaling.llama3_divisors(c.rope.theta, 64).unwrap();
        let plain = Rope { theta: 500000.0, scaling: RopeScaling::None }.inv_freq(64);
        let scaled = c.rope.inv_freq(64);
        assert_eq!(divisors.len(), 32);
        assert_eq!((divisors[0], divisors[31]), (1.0, 32.0));
        assert!(divisors.iter().any(|&d| d > 1.0 && d < 32.0), "a smooth band: {divisors:?}");
        for ((d, p), s) in divisors.iter().zip(&plain).zip(&scaled) {
            assert!((*d as f64 - p / s).abs() < 1e-5 * (p / s), "{d} against {}", p / s);
        }
        assert_eq!(RopeScaling::Linear { factor: 2.0 }.llama3_divisors(1e4, 64), None);
    }

    #[test]
    fn reads_qwen3_and_mistral() {
        let mut v = smollm2();
        v["model_type"] = json!("qwen3");
        v["head_dim"] = json!(128);
        let c = ModelConfig::from_value(v).unwrap();
        assert_eq!((c.arch, c.q_dim(), c.hidden_size), (Arch::Qwen3, 9 * 128, 576));
        assert!(c.qk_norm() && !c.qkv_bias() && c.norm_offset() == 0.0 && c.window_for(0).is_none());
        assert!(c.expected_tensors(false).iter().any(|(n, s)| n == "model.layers.0.self_attn.q_norm.weight" && s == &[128]));

        let mut v = smollm2();
        v["model_type"] = json!("mistral");
        v["sliding_window"] = json!(4096);
        let c = ModelConfig::from_value(v.clone()).unwrap();
        assert_eq!((c.arch, c.window_for(0), c.window_for(29)), (Arch::Mistral, Some(4096), Some(4096)));
        v["sliding_window"] = Value::Null;
        assert_eq!(ModelConfig::from_value(v).unwrap().window_for(0), None, "Mistral v0.2 and later: no window");

        // Qwen's window applies only with use_sliding_window, from max_window_layers on.
        let mut v = smollm2();
        v["model_type"] = json!("qwen2");
        v["sliding_window"] = json!(32768);
        v["max_window_layers"] = json!(28);
        assert_eq!(ModelConfig::from_value(v.clone()).unwrap().window_for(29), None);
        v["use_sliding_window"] = json!(true);
        let c = ModelConfig::from_value(v).unwrap();
        assert_eq!((c.window_for(27), c.window_for(28)), (None, Some(32768)));
    }

    #[test]
    fn qwen2_has_qkv_bias() {
        let mut v = smollm2();
        v["model_type"] = json!("qwen2");
        assert!(ModelConfig::from_value(v).unwrap().qkv_bias());
    }

    #[test]
    fn errors_name_the_problem() {
        let mut v = smollm2();
        v["model_type"] = json!("falcon");
        let e = ModelConfig::from_value(v).unwrap_err().to_string();
        assert!(e.contains("\"falcon\"") && e.contains("llama") && e.contains("qwen3") && e.contains("gemma3"), "{e}");

        let mut v = smollm2();
        v.as_object_mut().unwrap().remove("intermediate_size");
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("\"intermediate_size\" is missing"));

        let mut v = smollm2();
        v["num_key_value_heads"] = json!(4);
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("not a multiple"));

        let mut v = smollm2();
        v["hidden_size"] = json!("576");
        assert!(ModelConfig::from_value(v).unwrap_err().to_string().contains("not a non-negative integer"));

        assert!(ModelConfig::from_json(b"{oops").unwrap_err().to_string().contains("not valid JSON"));
        assert!(ModelConfig::from_json(b"{}").unwrap_err().to_string().contains("model_type"));
    }
}
