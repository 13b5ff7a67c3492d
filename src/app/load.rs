//! Picking a model: a folder picker, a multi-file picker, drag-and-drop of a folder or
//! files, the demo models the serving machine lists at `models/index.json`, and a
//! model on any web server (a Hugging Face–style `{base}/{repo}/resolve/main/{file}`
//! layout). Only headers and the tokenizer are read here.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;

use super::{AppState, LoadState, Session};
use crate::io::ByteSource;
use crate::io::web::{BlobFolder, HttpFolder, HttpSource, WebFolder};

/// A model folder offered by the server, with its files.
#[derive(Debug, Clone, Deserialize)]
struct DemoModel {
    name: String,
    #[serde(default)]
    files: Vec<DemoFile>,
}

#[derive(Debug, Clone, Deserialize)]
struct DemoFile {
    name: String,
}

/// The demo models the server offers (none when it offers no list).
async fn demo_models() -> Vec<DemoModel> {
    let Ok(Some(src)) = HttpSource::open("models/index.json").await else { return Vec::new() };
    let Ok(bytes) = src.read_to_end().await else { return Vec::new() };
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Reads the header, config and tokenizer of `folder`.
async fn open_session(name: String, source: String, folder: WebFolder) -> crate::Result<Session> {
    let model = crate::prune::Model::open(name, folder).await?;
    if let Some(t) = &model.tokenizer {
        t.tokenizer()?;
    }
    let summary = model.info.summary();
    Ok(Session { source, model, summary })
}

/// Opens `folder` into the page's state, replacing any earlier model and results.
fn load(state: AppState, name: String, source: String, folder: WebFolder) {
    state.load.set(LoadState::Loading(source.clone()));
    state.outcome.set(None);
    state.plan.set(None);
    spawn_local(async move {
        state.load.set(match open_session(name, source, folder).await {
            Ok(s) => LoadState::Loaded(Rc::new(s)),
            Err(e) => LoadState::Failed(super::shown(&e)),
        });
    });
}

/// The folder name of a picked folder (from `webkitRelativePath`), else "model".
fn folder_name(files: &[web_sys::File]) -> String {
    files
        .iter()
        .filter_map(|f| js_sys::Reflect::get(f, &"webkitRelativePath".into()).ok()?.as_string())
        .find_map(|p| p.split_once('/').map(|(dir, _)| dir.to_string()))
        .unwrap_or_else(|| "model".into())
}

fn open_files(state: AppState, files: Vec<web_sys::File>, what: &str) {
    if files.is_empty() {
        return;
    }
    let name = folder_name(&files);
    let folder = BlobFolder::from_files(files);
    load(state, name, what.to_string(), WebFolder::Blobs(folder));
}

fn picked(ev: &web_sys::Event) -> Vec<web_sys::File> {
    let input: HtmlInputElement = event_target(ev);
    let Some(list) = input.files() else { return Vec::new() };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// The ways to pick a model.
#[component]
pub fn Picker() -> impl IntoView {
    let state = expect_context::<AppState>();
    let demos = LocalResource::new(demo_models);
    let on_pick = move |ev: web_sys::Event| open_files(state, picked(&ev), "the selected files");
    let dragging = RwSignal::new(false);
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        let Some(dt) = ev.data_transfer() else { return };
        let promise = super::js::dropped_files(&dt);
        spawn_local(async move {
            match JsFuture::from(promise).await {
                Ok(list) => {
                    let files: Vec<web_sys::File> = js_sys::Array::from(&list).iter().filter_map(|f| f.dyn_into().ok()).collect();
                    open_files(state, files, "the dropped files");
                }
                Err(e) => state.load.set(LoadState::Failed(format!("The dropped files could not be read: {}", super::js::message(&e)))),
            }
        });
    };
    let (base, repo) = (RwSignal::new(String::from("https://huggingface.co")), RwSignal::new(String::new()));
    let on_url = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let url = crate::io::hub_folder_url(&base.get(), &repo.get());
        let name = repo.get().rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("model").to_string();
        load(state, name, url.clone(), WebFolder::Http(HttpFolder::new(url)));
    };
    view! {
        <section class="picker" aria-labelledby="pick-title">
            <h2 id="pick-title">"1 · Pick a model"</h2>
            <div
                id="drop-zone"
                class="drop-zone"
                class:dragging=move || dragging.get()
                on:dragover=move |ev: web_sys::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
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
                        let files: Vec<String> = m.files.iter().map(|f| f.name.clone()).collect();
                        let click = move |_| {
                            let base = format!("models/{name}");
                            let folder = if files.is_empty() { HttpFolder::new(base) } else { HttpFolder::listed(base, files.clone()) };
                            load(state, name.clone(), format!("demo model {name}"), WebFolder::Http(folder))
                        };
                        view! { <button class="button demo" data-model=m.name.clone() on:click=click>"Demo model: " {m.name.clone()}</button> }
                    }).collect_view())}
                </div>
                <p class="hint">"…or drop a model folder or its files here."</p>
            </div>
            <details class="from-url">
                <summary>"From a URL"</summary>
                <form on:submit=on_url>
                    <label>"Server " <input id="url-base" type="url" prop:value=move || base.get() on:input=move |ev| base.set(event_target_value(&ev))/></label>
                    <label>"Model " <input id="url-repo" type="text" placeholder="HuggingFaceTB/SmolLM2-135M" prop:value=move || repo.get() on:input=move |ev| repo.set(event_target_value(&ev))/></label>
                    <button class="button" type="submit">"Open"</button>
                    <p class="hint">"Files are read with HTTP Range requests ({server}/{model}/resolve/main/{file}, or {server}/{file} with no model): only the parts needed are fetched. The server must allow this page's origin (CORS)."</p>
                </form>
            </details>
            <p class="hint">"Files are read inside this tab; nothing is uploaded. Weights are streamed a layer at a time, never read whole."</p>
        </section>
    }
}
