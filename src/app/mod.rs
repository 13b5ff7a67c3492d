//! The browser app (leptos, client-side rendered). A thin shell: the run step calls the
//! library's job ([`crate::prune::run`]), the compare step the library's device and
//! evaluation; this module only holds UI state and renders it.
//!
//! Flow: pick a model → its card and parameter chart → plan V'/I' → calibrate on
//! WebGPU and prune into Blobs held by the browser → inspect channel importance →
//! compare dense and pruned → download the folder; beside them, a bake-off of the
//! methods at several sizes.
//!
//! Non-`Send` data (Blobs, the GPU device, the tokenizer) lives in `*_local` arena
//! slots, so the closures of the views capture only copyable handles.

mod bakeoff;
mod card;
mod compare;
mod download;
mod inspect;
mod js;
mod load;
mod plan;
mod run;
pub mod viz;

use std::rc::Rc;

use leptos::prelude::*;

use crate::engine::{Device, DeviceKind, gpu};
use crate::io::web::{BlobFile, BlobFolder, WebFolder};
use crate::model::ModelSummary;
use crate::prune::PrunePlan;
pub use crate::prune::calib::CalibText;

/// A model the page has opened: its header, its tokenizer, where its files are.
pub struct Session {
    /// Where it came from, for headings and messages.
    pub source: String,
    /// The model as the library's job takes it (its name is short: "smollm2-135m").
    pub model: crate::prune::Model<WebFolder>,
    /// Its parameters by part, for the card.
    pub summary: ModelSummary,
}

impl Session {
    /// The parsed tokenizer, when the folder has one.
    pub fn tok(&self) -> Option<&tokenizers::Tokenizer> {
        self.model.tokenizer.as_ref().and_then(|t| t.tokenizer().ok())
    }
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

/// The result of a pruning run: the library's outcome, and the new folder's files
/// held by the browser.
pub struct Outcome {
    /// What the job did.
    pub job: crate::prune::Outcome,
    /// The pruned folder's files.
    pub files: Vec<BlobFile>,
}

impl std::ops::Deref for Outcome {
    type Target = crate::prune::Outcome;
    fn deref(&self) -> &crate::prune::Outcome {
        &self.job
    }
}

impl Outcome {
    /// The pruned folder, readable like any picked folder.
    pub fn folder(&self) -> BlobFolder {
        BlobFolder::of_written(&self.files)
    }
}

/// An error as the page shows it: the message, then what to do (once).
pub fn shown(e: &crate::Error) -> String {
    match e.hint() {
        Some(h) => format!("{e}. {}", capitalized(&h)),
        None => e.to_string(),
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The page's shared state, all copyable handles.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The model being worked on.
    pub load: RwSignal<LoadState, LocalStorage>,
    /// The plan step's current plan.
    pub plan: RwSignal<Option<PrunePlan>>,
    /// The calibration text (built-in until the user gives one).
    pub text: RwSignal<CalibText>,
    /// The last run's result.
    pub outcome: RwSignal<Option<Rc<Outcome>>, LocalStorage>,
    /// The WebGPU device, opened on first use and shared by every step.
    pub gpu: StoredValue<Option<Rc<gpu::Gpu>>, LocalStorage>,
}

impl AppState {
    fn new() -> Self {
        Self {
            load: RwSignal::new_local(LoadState::Idle),
            plan: RwSignal::new(None),
            text: RwSignal::new(CalibText::default()),
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

    /// The device `kind` names; the WebGPU device is opened on first use and then
    /// shared by every step.
    pub async fn device(&self, kind: DeviceKind) -> crate::Result<Device> {
        if kind == DeviceKind::Cpu {
            return Ok(Device::Cpu);
        }
        if let Some(g) = self.gpu.get_value() {
            return Ok(Device::Gpu(g));
        }
        let g = Rc::new(gpu::Gpu::new().await?);
        self.gpu.set_value(Some(g.clone()));
        Ok(Device::Gpu(g))
    }
}

/// The device a step starts on: the CPU device where there is no WebGPU or where the
/// adapter is an emulation on the CPU (slower than the CPU device), WebGPU otherwise;
/// with the emulation's name (" (SwiftShader)", or empty when it has none) when that
/// is why.
pub async fn preferred_device() -> (DeviceKind, Option<String>) {
    match gpu::probe().await {
        Err(_) => (DeviceKind::Cpu, None),
        Ok(r) if r.is_software() => {
            (DeviceKind::Cpu, Some(if r.name == gpu::UNNAMED_ADAPTER { String::new() } else { format!(" ({})", r.name) }))
        }
        Ok(_) => (DeviceKind::Gpu, None),
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
                    <bakeoff::BakeoffStep/>
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
    let status = LocalResource::new(|| async { gpu::probe().await.map_err(|e| shown(&e)) });
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
