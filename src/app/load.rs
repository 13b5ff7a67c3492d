//! Picking a model: a folder picker, a multi-file picker, and the demo models the
//! serving machine lists at `models/index.json`. Only headers are read here.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use web_sys::HtmlInputElement;

use super::LoadState;
use crate::io::web::{FileListFolder, HttpFolder, HttpSource};
use crate::io::{ByteSource, ModelFolder};
use crate::model::ModelInfo;

/// A model folder offered by the server.
#[derive(Debug, Clone, Deserialize)]
struct DemoModel {
    name: String,
}

/// The demo models the server offers (none when it offers no list).
async fn demo_models() -> Vec<DemoModel> {
    let Ok(Some(src)) = HttpSource::open("models/index.json").await else { return Vec::new() };
    let Ok(bytes) = src.read_to_end().await else { return Vec::new() };
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Reads `folder`'s headers into `state`.
fn load(state: RwSignal<LoadState>, source: String, folder: impl ModelFolder + 'static) {
    state.set(LoadState::Loading(source.clone()));
    spawn_local(async move {
        state.set(match ModelInfo::load(&folder).await {
            Ok(info) => LoadState::Loaded { source, summary: Box::new(info.summary()) },
            Err(e) => LoadState::Failed(e.to_string()),
        });
    });
}

fn picked(ev: &web_sys::Event) -> Option<FileListFolder> {
    let input: HtmlInputElement = event_target(ev);
    let list = input.files()?;
    let files = (0..list.length()).filter_map(|i| list.get(i));
    let folder = FileListFolder::new(files);
    (!folder.names().is_empty()).then_some(folder)
}

/// The three ways to pick a model.
#[component]
pub fn Picker(state: RwSignal<LoadState>) -> impl IntoView {
    let demos = LocalResource::new(demo_models);
    let on_pick = move |ev: web_sys::Event| {
        if let Some(folder) = picked(&ev) {
            load(state, "the selected files".into(), folder);
        }
    };
    view! {
        <section class="picker" aria-labelledby="pick-title">
            <h2 id="pick-title">"1 · Pick a model"</h2>
            <div class="buttons">
                <label class="button">
                    "Choose model folder…"
                    <input id="pick-folder" type="file" prop:webkitdirectory=true multiple=true on:change=on_pick/>
                </label>
                <label class="button">
                    "Choose files…"
                    <input id="pick-files" type="file" multiple=true on:change=on_pick/>
                </label>
                {move || demos.get().map(|list| list.iter().map(|m| {
                    let name = m.name.clone();
                    let click = move |_| load(state, format!("demo model {name}"), HttpFolder::new(format!("models/{name}")));
                    view! { <button class="button demo" data-model=m.name.clone() on:click=click>"Demo model: " {m.name.clone()}</button> }
                }).collect_view())}
            </div>
            <p class="hint">"Files are read inside this tab; for now only config.json and the header of model.safetensors (a few kilobytes) are read."</p>
        </section>
    }
}
