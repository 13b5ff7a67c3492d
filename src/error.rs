//! The library's errors. Every variant names the file or thing that is wrong; a caller
//! that can do something about it matches on a variant (never on a message), and
//! [`Error::hint`] says what the user can do, written once here for the CLI and the app.

use std::fmt;

/// Errors from every step of the pipeline: reading files, parsing formats, planning,
/// calibration, tokenizer surgery, the GPU.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{file}: {msg}")]
    Io {
        /// The file (or folder) as the user named it.
        file: String,
        /// What the operating system or browser said.
        msg: String,
    },

    /// A required file is not part of the model folder.
    #[error("{file} is missing from the model folder: {needed_for}")]
    MissingFile {
        /// The file's name in the folder.
        file: String,
        /// Which step needs it (and where it was looked for).
        needed_for: String,
    },

    /// A file exists but its content is not what its format requires.
    #[error("{file}: {msg}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong with it.
        msg: String,
    },

    /// A safetensors header violates the format; see [`HeaderError`].
    #[error("{file}: invalid safetensors header: {kind}")]
    Header {
        /// The safetensors file.
        file: String,
        /// The violation.
        kind: HeaderError,
    },

    /// The model's architecture (`model_type`) is not one this tool can prune.
    #[error(
        "unsupported architecture {arch:?} in config.json: supported are llama (SmolLM2, Llama-3.x), mistral, qwen2 (Qwen2.5), qwen3, phi3 and gemma3 / gemma3_text (Gemma-3)"
    )]
    Unsupported {
        /// The `model_type` found.
        arch: String,
    },

    /// No usable GPU, or the GPU failed; see [`GpuError`].
    #[error("GPU: {0}")]
    Gpu(#[from] GpuError),

    /// The asked-for sizes or kept sets are impossible for this model; see [`PlanError`].
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// The calibration text or window settings cannot be used; see [`CalibError`].
    #[error(transparent)]
    Calibration(#[from] CalibError),

    /// The tokenizer cannot be pruned as asked, or two tokenizers disagree; see
    /// [`TokenizerError`].
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),

    /// A token id is outside the model's vocabulary (tokenizer.json has more tokens
    /// than config.json's `vocab_size`).
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    TokenOutOfVocab {
        /// The id.
        id: u32,
        /// The model's vocabulary rows.
        vocab: usize,
    },

    /// The output folder exists and is not empty, and replacing it was not asked for.
    #[error("{dir} already exists and is not empty")]
    OutputExists {
        /// The folder.
        dir: String,
    },

    /// The output folder is the input folder, inside it, or contains it: writing it
    /// would replace the model being read.
    #[error("the output {out} is, is inside or contains the input folder {input}")]
    OutputOverlapsInput {
        /// The output as the user named it.
        out: String,
        /// The input folder, resolved.
        input: String,
    },

    /// The output folder is not empty and no earlier compact run wrote it, so even
    /// `--force` does not replace it.
    #[error("{dir} is not empty and was not written by compact")]
    OutputNotOurs {
        /// The folder.
        dir: String,
    },

    /// The output would not fit on the disk it is written to (checked before a run).
    #[error("the pruned model needs about {needed} MB of disk, but only {free} MB is free where it is written")]
    NoSpace {
        /// Megabytes the output needs.
        needed: u64,
        /// Megabytes free there.
        free: u64,
    },

    /// A file name longer than a zip archive can hold (64 KiB).
    #[error("the file name {name:?}… is too long for a zip archive ({bytes} bytes)")]
    ZipNameTooLong {
        /// The name's first characters.
        name: String,
        /// Its length in bytes.
        bytes: usize,
    },

    /// A configuration or tokenizer file is larger than any real one of its kind; it is
    /// refused before it is read (parsing it could take gigabytes).
    #[error("{file} is {bytes} bytes, over the {limit}-byte limit for a file of its kind")]
    FileTooLarge {
        /// The file.
        file: String,
        /// Its size.
        bytes: u64,
        /// The limit for its name ([`crate::io::size_limit`]).
        limit: u64,
    },

    /// Weights or activations hold NaN or infinite values: the numbers would mean nothing.
    #[error("{what} holds NaN or infinite values")]
    NonFinite {
        /// The tensor, layer or output, named.
        what: String,
        /// Whether the weights themselves hold them (else the forward pass overflowed).
        in_weights: bool,
    },

    /// An evaluation task this tool does not know.
    #[error("unknown task {name:?}; known: {known}")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// A browser Web Worker could not do its part of a step (what it reported: a file
    /// that cannot be read any more, memory, …).
    #[error("a Web Worker could not do its part: {0}")]
    Worker(String),

    /// A broken invariant inside compact (a bug: please report it).
    #[error("internal error (a bug in compact; please report it): {0}")]
    Internal(String),

    /// The user cancelled a long-running step.
    #[error("cancelled")]
    Cancelled,
}

/// Why a safetensors header was rejected. Each violation is its own variant so tests
/// (and callers) can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum HeaderError {
    #[error("the file is {len} bytes, shorter than the 8-byte header length prefix")]
    TooShort { len: u64 },
    #[error(
        "the header length prefix says {header_len} bytes but the file has only {available} after it (truncated or not a safetensors file)"
    )]
    LengthPastEnd { header_len: u64, available: u64 },
    #[error("the header length prefix ({header_len} bytes) is over the {limit}-byte limit (corrupt or not a safetensors file)")]
    LengthTooLarge { header_len: u64, limit: u64 },
    #[error("the header is not valid JSON: {msg}")]
    Json { msg: String },
    #[error("tensor {tensor:?}: {msg}")]
    Entry { tensor: String, msg: String },
    #[error("tensor {tensor:?} has unknown dtype {dtype:?}")]
    UnknownDtype { tensor: String, dtype: String },
    #[error("tensor {tensor:?}: shape {shape:?} × {dtype_size} bytes = {expected} bytes, but its data_offsets span {actual}")]
    SizeMismatch { tensor: String, shape: Vec<u64>, dtype_size: u64, expected: u128, actual: u64 },
    #[error("tensor {tensor:?}: data_offsets end at {end}, past the {data_len} bytes of tensor data (the file is truncated)")]
    OffsetPastEnd { tensor: String, end: u64, data_len: u64 },
    #[error("tensors {a:?} and {b:?} overlap in the data section")]
    Overlap { a: String, b: String },
}

/// The GPU is missing, too small, or failed. What to do about it is [`GpuError::hint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum GpuError {
    /// The browser has no WebGPU, or (with `api`) the API but no adapter.
    #[error("WebGPU is not available in this browser")]
    NoWebGpu {
        /// Whether the browser has the WebGPU API (then it offered no adapter).
        api: bool,
    },
    /// The native graphics stack (Vulkan, Metal, DX12) offered no adapter.
    #[error("no GPU adapter found ({detail})")]
    NoAdapter { detail: String },
    /// The adapter is below what calibration needs.
    #[error("{adapter} cannot run calibration: {}", shortfalls.join("; "))]
    BelowRequirements { adapter: String, shortfalls: Vec<String> },
    /// The adapter refused to open a device with the limits asked for.
    #[error("{adapter} refused a device with the limits calibration needs ({detail})")]
    DeviceRefused { adapter: String, detail: String },
    /// The driver or browser reset the device.
    #[error("the GPU device was lost ({detail})")]
    DeviceLost { detail: String },
    /// An allocation failed on the device.
    #[error("out of GPU memory ({detail})")]
    OutOfMemory { detail: String },
    /// One buffer would be larger than the device binds.
    #[error("{label} needs a {mib} MiB buffer but this GPU binds at most {cap_mib} MiB")]
    BufferTooLarge { label: String, mib: u64, cap_mib: u64 },
    /// The model's shape is outside what the kernels support.
    #[error("{0}")]
    UnsupportedShape(String),
    /// Work was submitted but the device stopped before it finished or was read back.
    #[error("{0}")]
    Stopped(String),
    /// A validation error from the driver: a bug in compact's GPU code.
    #[error("the GPU reported an error (a bug in compact; please report it): {0}")]
    Internal(String),
}

impl GpuError {
    /// What the user can do, if anything.
    pub fn hint(&self) -> Option<String> {
        let cpu = if cfg!(target_arch = "wasm32") { "choose the CPU device (WebAssembly)" } else { "use --device cpu" };
        Some(match self {
            GpuError::NoWebGpu { api } => format!(
                "use a current Chrome or Edge (113 or later), Firefox 141+ on Windows, or Safari 26+; on Linux, Chrome needs \
                 WebGPU enabled (chrome://flags/#enable-unsafe-webgpu). Or {cpu}: it needs no GPU. Your model never leaves \
                 this page either way.{}",
                if *api {
                    " (This browser has the WebGPU API but offered no adapter: it may be disabled or blocklisted for this GPU.)"
                } else {
                    ""
                }
            ),
            GpuError::NoAdapter { .. } => format!(
                "install a Vulkan driver (on Debian/Ubuntu without a GPU: apt-get install mesa-vulkan-drivers libvulkan1 \
                 for the lavapipe CPU driver) or {cpu}"
            ),
            GpuError::BelowRequirements { .. } | GpuError::DeviceRefused { .. } => format!("try another GPU or browser, or {cpu}"),
            GpuError::DeviceLost { .. } => "the driver or browser reset the GPU, often after running out of memory or a \
                long-running dispatch: try fewer or shorter calibration windows, close other GPU-heavy tabs or programs, and \
                reload"
                .into(),
            GpuError::OutOfMemory { .. } => "try fewer or shorter calibration windows, or close other GPU-heavy tabs or programs".into(),
            GpuError::BufferTooLarge { .. } => "use fewer or shorter calibration windows".into(),
            GpuError::UnsupportedShape(_) => cpu.to_string(),
            GpuError::Stopped(_) | GpuError::Internal(_) => return None,
        })
    }
}

/// The asked-for sizes, kept sets or importance cannot be used for this model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum PlanError {
    /// V' outside 1..=V.
    #[error("V' = {asked} must be between 1 and the model's V = {vocab}")]
    VocabOutOfRange { asked: usize, vocab: usize },
    /// I' outside 1..=I.
    #[error("I' = {asked} must be between 1 and the model's I = {ffn}")]
    FfnOutOfRange { asked: usize, ffn: usize },
    /// A ratio outside (0, the most this model allows].
    #[error(
        "a reduction of {:.1}% is not possible for this model: choose more than 0% and at most {:.1}% (V' = {min_vocab}, the tokens that must stay, and I' = {min_ffn})",
        ratio * 100.0, most * 100.0
    )]
    RatioOutOfRange { ratio: f64, most: f64, min_vocab: usize, min_ffn: usize },
    /// A reduction written as something other than a share in (0, 1).
    #[error("{given:?} is not a share of parameters to remove: give one between 0 and 1, e.g. 0.35 or 35%")]
    NotARatio { given: String },
    /// A kept-id list that is not ascending and unique.
    #[error("{what} must be ascending and unique ({prev} then {next})")]
    NotAscending { what: String, prev: u32, next: u32 },
    /// A kept id out of range.
    #[error("{what}: {id} is out of range (< {bound})")]
    IdOutOfRange { what: String, id: u32, bound: usize },
    /// Channel lists for a different number of layers.
    #[error("channel lists for {lists} layers, the model has {layers}")]
    LayerCount { lists: usize, layers: usize },
    /// Layers that keep different numbers of channels.
    #[error("layer {layer} keeps {kept} channels, layer 0 keeps {first}: I' must be the same in every layer")]
    UnequalChannels { layer: usize, kept: usize, first: usize },
    /// Repair asked for with channels from an importance file: repair needs the
    /// calibration's second moments, which the file does not hold.
    #[error("repairing down_proj needs calibration; it cannot use channels from an importance file")]
    RepairNeedsCalibration,
    /// A channel score that is defined by the repair, asked for without it.
    #[error("the {score} channel score chooses channels for the repair: it needs repair on")]
    ScoreNeedsRepair { score: &'static str },
    /// Importance that is NaN or infinite (the weights hold NaN/Inf, or overflowed).
    #[error("importance of layer {layer}, channel {channel} is {value} (not finite)")]
    NonFiniteImportance { layer: usize, channel: usize, value: f64 },
}

impl PlanError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::NonFiniteImportance { .. } => {
                Some("check the weights for NaN or Inf values, or calibrate on fewer or shorter windows".into())
            }
            PlanError::RepairNeedsCalibration => Some("leave out the importance file to calibrate, or leave out the repair".into()),
            PlanError::ScoreNeedsRepair { .. } => Some("turn the repair on (--repair), or rank by act2 or act2-weight".into()),
            _ => None,
        }
    }
}

/// The calibration text or window settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum CalibError {
    /// Zero windows, or windows of fewer than 2 tokens.
    #[error("calibration needs at least 1 window of at least 2 tokens (asked for {samples} × {seq_len})")]
    NoWindows { samples: usize, seq_len: usize },
    /// The text is shorter than one window.
    #[error("the calibration text has {tokens} tokens, fewer than one window of {seq_len}{}", if *bos { " (BOS + text)" } else { "" })]
    TextTooShort { tokens: usize, seq_len: usize, bos: bool },
    /// The calibration file is larger than any calibration could use.
    #[error("the calibration file is {bytes} bytes, over the {limit}-byte limit")]
    TextTooLarge { bytes: u64, limit: u64 },
    /// Choosing the rare set by frequency needs a text to count in.
    #[error("choosing the rare tokens by frequency needs calibration text")]
    FrequencyNeedsText,
}

impl CalibError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            CalibError::TextTooShort { .. } => Some("use a longer text or fewer tokens per window".into()),
            CalibError::TextTooLarge { .. } => {
                Some("calibration uses a few hundred KB at most (windows × tokens per window): pass a sample of the text".into())
            }
            _ => None,
        }
    }
}

/// The tokenizer cannot be pruned as asked, or two tokenizers disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)] // the fields are named by the messages
pub enum TokenizerError {
    /// Surgery supports this tokenizer's vocabulary only when it is BPE (and the like);
    /// the reason names what was found.
    #[error("{0}")]
    NotPrunable(String),
    /// V' above the model's rows.
    #[error("V' = {asked} is more than the model's {rows} vocabulary rows")]
    TooManyRows { asked: usize, rows: usize },
    /// V' below the tokens that must stay (special and byte tokens).
    #[error("V' = {asked} is below the {min} tokens that must be kept (special tokens and byte tokens); choose V' ≥ {min}")]
    BelowProtected { asked: usize, min: usize },
    /// V' would break the merge table's closure.
    #[error("V' = {asked} would remove tokens that kept tokens are built from; the smallest closed vocabulary here has {smallest} rows")]
    NotClosed { asked: usize, smallest: usize },
    /// A token that must stay (special, post-processor, config id) is in the rare set.
    #[error("{file}: {what} {id} would be removed")]
    WouldRemove { file: String, what: String, id: u32 },
    /// Two files of the folder describe different vocabularies.
    #[error("{a} and {b} disagree at kept id {id} ({piece:?} against {other:?}): they do not describe the same vocabulary")]
    Disagree { a: String, b: String, id: u32, piece: String, other: Option<String> },
    /// The pruned model's tokenizer is not derived from the dense one.
    #[error("{0}")]
    NotDerived(String),
    /// Re-encoding text of kept tokens gives different tokens.
    #[error("the pruned tokenizer splits {text:?} as {got:?}, the dense one as {want:?}, though every token is kept")]
    Reencode { text: String, got: Vec<String>, want: Vec<String> },
}

impl TokenizerError {
    /// What the user can do.
    pub fn hint(&self) -> Option<String> {
        match self {
            TokenizerError::NotPrunable(_) => Some("keep the vocabulary whole (prune FFN channels only)".into()),
            TokenizerError::Disagree { a, b, .. } => {
                Some(format!("remove {a} from the folder ({b} is enough for transformers) and try again"))
            }
            TokenizerError::NotDerived(_) => Some("is --dense the model it was pruned from?".into()),
            _ => None,
        }
    }
}

impl Error {
    /// A [`Error::Format`] for `file`.
    pub fn format(file: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Format { file: file.into(), msg: msg.to_string() }
    }

    /// An [`Error::Io`] for `file`.
    pub fn io(file: impl Into<String>, err: impl fmt::Display) -> Self {
        Error::Io { file: file.into(), msg: err.to_string() }
    }

    /// An [`Error::MissingFile`]: `file` is needed for `needed_for`.
    pub fn missing(file: impl Into<String>, needed_for: impl Into<String>) -> Self {
        Error::MissingFile { file: file.into(), needed_for: needed_for.into() }
    }

    /// tokenizer.json is missing and `needed_for` needs it.
    pub fn missing_tokenizer(needed_for: impl Into<String>) -> Self {
        Self::missing(crate::tokenizer::FILE, needed_for)
    }

    /// What the user can do about this error, if there is something: shown once,
    /// after the message, by the CLI and the app alike.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::MissingFile { file, .. } => {
                Some(format!("copy {file} into the folder from the model's original repository (it is published with the weights)"))
            }
            Error::Header { .. } => Some("download the file again: it is truncated or not a safetensors file".into()),
            Error::Gpu(e) => e.hint(),
            Error::Plan(e) => e.hint(),
            Error::Calibration(e) => e.hint(),
            Error::Tokenizer(e) => e.hint(),
            Error::TokenOutOfVocab { .. } => {
                Some("tokenizer.json and config.json seem to be from different models: check that they belong together".into())
            }
            Error::NoSpace { .. } => Some(if cfg!(target_arch = "wasm32") {
                "free some disk space (the browser keeps the output in its private storage until you save it), or prune more".into()
            } else {
                "free some disk space, or choose an --out on a disk with more room".into()
            }),
            Error::OutputExists { .. } => Some(if cfg!(target_arch = "wasm32") {
                "pick an empty folder".into()
            } else {
                "choose another --out, or pass --force to replace a folder an earlier compact run wrote".into()
            }),
            Error::OutputOverlapsInput { .. } => Some("write the pruned model to a new folder beside the model, not into it".into()),
            Error::OutputNotOurs { .. } => {
                Some("--force replaces only folders compact wrote: choose a new --out, or empty that folder yourself".into())
            }
            Error::ZipNameTooLong { .. } => Some("save into a folder instead".into()),
            Error::FileTooLarge { .. } => {
                Some("the largest real files of this kind are a fraction of the limit: is it the right file, and complete?".into())
            }
            Error::NonFinite { in_weights: true, .. } => {
                Some("the checkpoint is corrupt (or was saved from a diverged run): download or convert it again".into())
            }
            Error::NonFinite { in_weights: false, .. } => {
                Some("the activations overflowed f32: check the model with `compact generate` first; if it works there, report it".into())
            }
            _ => None,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
