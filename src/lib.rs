//! # compact
//!
//! Prunes small decoder-only language models with COMPACT (arXiv 2509.06836): the
//! rarest vocabulary and the least important FFN channels (by common-token act²) are
//! removed, and the result is a standard Hugging Face model folder.
//!
//! The same library runs natively (the `compact` CLI) and in the browser (the
//! `compact-web` app over WebGPU). Module map, in data-flow order:
//!
//! | module | what |
//! |---|---|
//! | [`io`] | byte ranges from files, browser Blobs, HTTP; model folders |
//! | [`model`] | config.json, safetensors headers, parameter distribution |
//! | [`plan`] | target reduction → V' and I', and the parameter counts that follow |
//! | [`pipeline`] | Algorithm 1 step by step: tokenizer, plan, rare set, calibration |
//! | [`tokenizer`] | tokenizer.json loading and vocabulary surgery |
//! | [`calib`] | calibration text → token windows and the common-token mask |
//! | [`gguf`] | GGUF → Hugging Face folder import (native) |
//! | [`engine`] | the forward pass: CPU reference and GPU (wgpu: WebGPU / Vulkan / Metal / DX12) |
//! | [`prune`] | kept token and channel sets, channel importance files |
//! | [`export`] | the pruned folder, streamed from the source files |
//! | [`eval`] | zero-shot multiple-choice accuracy, perplexity, top-1 agreement |
//! | [`progress`] | progress events for the CLI and the UI |
//! | [`viz`] | the web app's pictures as data (importance heatmap) |
//! | `app` | the leptos web app (wasm32 only) |

pub mod calib;
pub mod engine;
pub mod error;
pub mod eval;
pub mod export;
pub mod gguf;
pub mod io;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod prune;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
pub mod tokenizer;
pub mod viz;

#[cfg(target_arch = "wasm32")]
pub mod app;

pub use error::{Error, HeaderError, Result};
pub use progress::{Progress, ProgressSink};
