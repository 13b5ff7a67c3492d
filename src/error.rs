//! The library's one error type. Every variant names the file or thing that is wrong
//! and, where there is one, what the user can do about it.

use std::fmt;

/// Errors from every step of the pipeline: reading files, parsing formats, the GPU.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{file}: {msg}")]
    Io { file: String, msg: String },

    /// A required file is not part of the model folder.
    #[error("{file} is missing from the model folder: {hint}")]
    MissingFile { file: String, hint: String },

    /// A file exists but its content is not what its format requires.
    #[error("{file}: {msg}")]
    Format { file: String, msg: String },

    /// A safetensors header violates the format; see [`HeaderError`].
    #[error("{file}: invalid safetensors header: {kind}")]
    Header { file: String, kind: HeaderError },

    /// The model's architecture (`model_type`) is not one this tool can prune.
    #[error(
        "unsupported architecture {arch:?} in config.json: supported are llama (SmolLM2, Llama-3.2), qwen2 (Qwen2.5) and gemma3 / gemma3_text (Gemma-3)"
    )]
    Unsupported { arch: String },

    /// No usable GPU, or the GPU failed.
    #[error("GPU: {0}")]
    Gpu(String),

    /// The user asked for something impossible (a ratio out of range, …).
    #[error("{0}")]
    Invalid(String),

    /// The user cancelled a long-running step.
    #[error("cancelled")]
    Cancelled,
}

/// Why a safetensors header was rejected. Each violation is its own variant so tests
/// (and callers) can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

impl Error {
    /// A [`Error::Format`] for `file`.
    pub fn format(file: impl Into<String>, msg: impl fmt::Display) -> Self {
        Error::Format { file: file.into(), msg: msg.to_string() }
    }

    /// An [`Error::Io`] for `file`.
    pub fn io(file: impl Into<String>, err: impl fmt::Display) -> Self {
        Error::Io { file: file.into(), msg: err.to_string() }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
