//! The browser app (leptos, client-side rendered). A thin shell: every step calls the
//! library ([`crate::pipeline`], [`crate::export`], the GPU engine); this module only
//! holds UI state and renders it.
//!
//! Flow: pick a model → its card and parameter chart → plan V'/I' → calibrate on
//! WebGPU and prune into Blobs held by the browser → inspect channel importance →
//! compare dense and pruned → download the folder.
//!
//! Non-`Send` data (Blobs, the GPU device, the tokenizer) lives in `*_local` arena
//! slots, so the closures of the views capture only copyable handles.

mod card;
mod compare;
mod download;
mod inspect;
mod js;
mod load;
mod plan;
mod run;

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use crate::engine::gpu;
use crate::io::web::{BlobFile, BlobFolder, WebFolder};
use crate::model::{ModelInfo, ModelSummary};
use crate::pipeline::{Calibration, TokenizerFile};
use crate::plan::PrunePlan;

/// A model the page has opened: its header, its tokenizer, where its files are.
pub struct Session {
    /// A short name for the output ("smollm2-135m").
    pub name: String,
    /// Where it came from, for headings and messages.
    pub source: String,
    pub folder: WebFolder,
    pub info: ModelInfo,
    pub summary: ModelSummary,
    pub tokenizer: Option<TokenizerFile>,
    pub tok: Option<tokenizers::Tokenizer>,
}

/// What the page knows about the model being worked on.
#[derive(Clone)]
pub enum LoadState {
    /// Nothing picked yet.
    Idle,
    /// Reading the headers of the named source.
    Loading(String),
    /// Headers and tokenizer read.
    Loaded(Rc<Session>),
    /// Something was wrong; the message says what and what to do.
    Failed(String),
}

/// The result of a pruning run: what was removed, why, and the new folder.
pub struct Outcome {
    pub plan: PrunePlan,
    /// Kept token ids (ascending), `None` when the vocabulary stayed whole.
    pub kept: Option<Vec<u32>>,
    pub calibration: Option<Calibration>,
    /// The calibration text the run used.
    pub text: CalibText,
    /// Kept channels of every layer, when the FFN was pruned.
    pub channels: Option<Vec<Vec<u32>>>,
    /// The pruned folder's files, held by the browser.
    pub files: Vec<BlobFile>,
    /// Input files left out: the weights in another format ([`crate::export::other_weights`]).
    pub skipped: Vec<String>,
    /// Seconds spent writing the folder.
    pub export_seconds: f64,
    /// Seconds of the whole run (calibration's own time is in `calibration`).
    pub total_seconds: f64,
}

impl Outcome {
    /// The pruned folder, readable like any picked folder.
    pub fn folder(&self) -> BlobFolder {
        let mut f = BlobFolder::default();
        for file in &self.files {
            f.add(file.name.clone(), file.blob.clone());
        }
        f
    }
}

/// Calibration text: where it came from and the text.
#[derive(Clone, PartialEq)]
pub struct CalibText {
    pub name: String,
    pub text: Arc<str>,
}

impl CalibText {
    fn builtin(b: &crate::calib::Builtin) -> Self {
        Self { name: b.name.into(), text: b.text.into() }
    }
}

/// The page's shared state, all copyable handles.
#[derive(Clone, Copy)]
pub struct AppState {
    pub load: RwSignal<LoadState, LocalStorage>,
    pub plan: RwSignal<Option<PrunePlan>>,
    /// The calibration text (built-in until the user gives one).
    pub text: RwSignal<CalibText>,
    pub outcome: RwSignal<Option<Rc<Outcome>>, LocalStorage>,
    /// The WebGPU device, opened on first use and shared by every step.
    pub gpu: StoredValue<Option<Rc<gpu::Gpu>>, LocalStorage>,
}

impl AppState {
    fn new() -> Self {
        Self {
            load: RwSignal::new_local(LoadState::Idle),
            plan: RwSignal::new(None),
            text: RwSignal::new(CalibText::builtin(&crate::calib::BUILTINS[0])),
            outcome: RwSignal::new_local(None),
            gpu: StoredValue::new_local(None),
        }
    }

    /// The loaded model, if any.
    pub fn session(&self) -> Option<Rc<Session>> {
        match self.load.get() {
            LoadState::Loaded(s) => Some(s),
            _ => None,
        }
    }

    /// The WebGPU device, opened now if it was not yet.
    pub async fn gpu(&self) -> crate::Result<Rc<gpu::Gpu>> {
        if let Some(g) = self.gpu.get_value() {
            return Ok(g);
        }
        let g = Rc::new(gpu::Gpu::new().await?);
        self.gpu.set_value(Some(g.clone()));
        Ok(g)
    }
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    view! {
        <header>
            <h1>"compact"</h1>
            <p class="tagline">
                "Prune a small language model on your own GPU: the rarest vocabulary and the least important FFN channels go, a standard model comes out. Nothing is uploaded."
            </p>
            <GpuStatus/>
        </header>
        <main>
            <load::Picker/>
            {move || match state.load.get() {
                LoadState::Idle => view! { <p class="hint">"Pick a model folder (config.json, model.safetensors, tokenizer.json) or try the demo model."</p> }.into_any(),
                LoadState::Loading(src) => view! { <p class="hint" role="status">"Reading the headers of " {src} "…"</p> }.into_any(),
                LoadState::Failed(msg) => view! { <p id="error" class="error" role="alert">{msg}</p> }.into_any(),
                LoadState::Loaded(_) => view! {
                    <card::ModelCard/>
                    <plan::PlanStep/>
                    <run::RunStep/>
                    {move || state.outcome.get().map(|_| view! {
                        <inspect::InspectStep/>
                        <compare::CompareStep/>
                        <download::DownloadStep/>
                    })}
                }.into_any(),
            }}
        </main>
        <footer>
            <a href="https://arxiv.org/abs/2509.06836">"COMPACT: Common-token Optimized Model Pruning Across Channels and Tokens"</a>
        </footer>
    }
}

/// The WebGPU adapter and its limits, or why there is none.
#[component]
fn GpuStatus() -> impl IntoView {
    let status = LocalResource::new(|| async { gpu::probe().await.map_err(|e| e.to_string()) });
    view! {
        <p id="gpu-status" class="gpu-status" role="status">
            {move || match status.get() {
                None => view! { <span>"Looking for a WebGPU adapter…"</span> }.into_any(),
                Some(Ok(r)) => {
                    let short = r.shortfalls();
                    view! {
                        <span class="ok">"GPU: " {r.one_line()}</span>
                        {(!short.is_empty()).then(|| view! { <span class="warn">" — too small for calibration: " {short.join("; ")}</span> })}
                    }.into_any()
                }
                Some(Err(e)) => view! { <span class="error">{e}</span> }.into_any(),
            }}
        </p>
    }
}

/// A file or memory size for the page: kB below a megabyte, MB above.
pub fn mb(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.1} kB", bytes as f64 / 1e3) } else { format!("{:.1} MB", bytes as f64 / 1e6) }
}
