//! # compact
//!
//! Prunes small decoder-only language models with COMPACT (arXiv 2509.06836): the
//! rarest vocabulary and the least important FFN channels (by common-token act²) are
//! removed, and the result is a standard Hugging Face model folder.
//!
//! The same library runs natively (the `compact` CLI) and in the browser (the
//! `compact-web` app over WebGPU); both only call [`prune::run`]. Module map, in
//! data-flow order (ARCHITECTURE.md has the whole picture):
//!
//! | module | what |
//! |---|---|
//! | [`io`] | byte ranges from files, browser Blobs, HTTP; model folders; outputs |
//! | [`model`] | config.json, safetensors headers, checkpoints, parameter counts |
//! | [`tokenizer`] | tokenizer.json loading, vocabulary surgery, the tokenizer files pruned together |
//! | [`prune`] | the paper's steps (plan, rare set, calibration, selection, export) and the job |
//! | [`engine`] | the forward pass on a [`engine::Device`]: GPU (wgpu) or CPU reference |
//! | [`eval`] | zero-shot accuracy, perplexity, top-1 agreement |
//! | [`gguf`] | GGUF both ways: import to a folder (native), write a folder as GGUF |
//! | [`parallel`] | CPU work over every core: threads natively, Web Workers in the browser |
//! | [`progress`] | progress events and cancellation |
//! | [`error`] | the typed errors and their hints |
//! | `app` | the leptos web app (wasm32 only) |

#![warn(missing_docs)]

pub mod engine;
pub mod error;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
pub mod gguf;
pub mod io;
pub mod model;
pub mod parallel;
pub mod progress;
pub mod prune;
pub mod tokenizer;

#[cfg(target_arch = "wasm32")]
pub mod app;

/// The app's pictures are plain data: their unit tests run natively too.
#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "app/viz.rs"]
mod app_viz;

pub use error::{Error, HeaderError, Result};
pub use progress::{Progress, ProgressSink};
