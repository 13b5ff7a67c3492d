//! The browser app (leptos, client-side rendered). A thin shell: every step calls the
//! library; this module only holds UI state and renders it.
//!
//! Flow so far: the WebGPU status line, picking a model (folder, files, or the demo
//! model the server offers), and the model card with its parameter distribution.

mod card;
mod load;

use leptos::prelude::*;

use crate::engine::gpu;
use crate::model::ModelSummary;

/// What the page knows about the model being worked on.
#[derive(Debug, Clone)]
pub enum LoadState {
    /// Nothing picked yet.
    Idle,
    /// Reading the headers of the named source.
    Loading(String),
    /// Headers read.
    Loaded { source: String, summary: Box<ModelSummary> },
    /// Something was wrong; the message says what and what to do.
    Failed(String),
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let state = RwSignal::new(LoadState::Idle);
    view! {
        <header>
            <h1>"compact"</h1>
            <p class="tagline">
                "Prune a small language model on your own GPU: the rarest vocabulary and the least important FFN channels go, a standard model comes out. Nothing is uploaded."
            </p>
            <GpuStatus/>
        </header>
        <main>
            <load::Picker state=state/>
            {move || match state.get() {
                LoadState::Idle => view! { <p class="hint">"Pick a model folder (config.json, model.safetensors, tokenizer.json) or try the demo model."</p> }.into_any(),
                LoadState::Loading(src) => view! { <p class="hint" role="status">"Reading the headers of " {src} "…"</p> }.into_any(),
                LoadState::Failed(msg) => view! { <p id="error" class="error" role="alert">{msg}</p> }.into_any(),
                LoadState::Loaded { source, summary } => view! { <card::ModelCard source=source summary=*summary/> }.into_any(),
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
