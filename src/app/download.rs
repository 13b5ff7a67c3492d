//! Step 7: the pruned folder onto the user's disk: into a new subfolder of a folder they
//! pick (File System Access API, where the browser has it), as one `.zip` (stored, assembled by the
//! browser from the Blobs), or file by file. The names are the standard ones, so the
//! folder loads as is.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{AppState, mb};
use crate::gguf::FileType;
use crate::io::OutputFolder;
use crate::io::web::{BlobFolder, BlobOutput, zip_blob};
use crate::model::ModelInfo;

/// The download step.
#[component]
pub fn DownloadStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let Some(outcome) = state.outcome.get_untracked() else { return ().into_any() };
    let Some(session) = state.session() else { return ().into_any() };
    let base = format!("{}-compact-v{}-i{}", session.model.name, outcome.plan.vocab.1, outcome.plan.ffn.1);
    let message = RwSignal::new(None::<Result<String, String>>);
    let files = outcome.files.clone();
    let save_folder = {
        let (files, base) = (files.clone(), base.clone());
        move |_| {
            let names = js_sys::Array::new();
            let blobs = js_sys::Array::new();
            for f in &files {
                names.push(&f.name.as_str().into());
                blobs.push(&f.blob);
            }
            let base = base.clone();
            spawn_local(async move {
                message.set(Some(match super::js::save_to_directory(&base, names, blobs).await {
                    Ok(dir) => Ok(format!("Saved into the new folder {}.", dir.as_string().unwrap_or_default())),
                    Err(e) if super::js::message(&e).contains("abort") => return,
                    Err(e) => Err(super::js::message(&e)),
                }));
            });
        }
    };
    let save_zip = {
        let (files, base) = (files.clone(), base.clone());
        move |_| {
            let named: Vec<_> =
                files.iter().map(|f| crate::io::web::BlobFile { name: format!("{base}/{}", f.name), ..f.clone() }).collect();
            message.set(Some(match zip_blob(&named) {
                Ok(blob) => {
                    super::js::download_blob(&blob, &format!("{base}.zip"));
                    Ok(format!("Downloading {base}.zip ({}).", mb(blob.size() as u64)))
                }
                Err(e) => Err(e.to_string()),
            }));
        }
    };
    let importance = outcome.importance_file(&session.model.name).map(|bytes| {
        let save = move |_| {
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
            if let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence(&parts) {
                super::js::download_blob(&blob, "importance.safetensors");
            }
        };
        view! {
            <p class="hint">"Channel importance, for "<code>"compact prune --channels-from"</code>" or your own analysis: "
                <button id="save-importance" class="link" on:click=save>"importance.safetensors"</button></p>
        }
    });
    let gguf = gguf_section(outcome.folder(), base.clone());
    // A pruned vocabulary without SentencePiece's tokenizer.model (which the converter
    // reads instead) needs the converter's pre-tokenizer named from the dense model.
    let bpe_vocab_pruned = outcome.kept_tokens.is_some() && !files.iter().any(|f| f.name == crate::tokenizer::sentencepiece::FILE);
    let picker = super::js::has_directory_picker();
    view! {
        <section id="download" class="card" aria-labelledby="download-title">
            <h2 id="download-title">"7 · Download"</h2>
            <div class="buttons">
                {picker.then(|| view! { <button id="save-folder" class="button primary" on:click=save_folder>"Save into a folder…"</button> })}
                <button id="save-zip" class="button" class:primary=!picker on:click=save_zip>{format!("Download {base}.zip")}</button>
            </div>
            <ul class="files" id="files">
                {files.iter().map(|f| {
                    let blob = f.blob.clone();
                    let name = f.name.clone();
                    let click = move |_| super::js::download_blob(&blob, &name);
                    view! { <li><button class="link" data-file=f.name.clone() on:click=click>{f.name.clone()}</button>" · " {mb(f.blob.size() as u64)}</li> }
                }).collect_view()}
            </ul>
            {importance}
            {gguf}
            {move || message.get().map(|m| match m {
                Ok(t) => view! { <p id="download-status" class="ok" role="status">{t}</p> }.into_any(),
                Err(t) => view! { <p class="error" role="alert">{t}</p> }.into_any(),
            })}
            <p class="hint" id="interop">"A standard Hugging Face folder: it loads in transformers and vLLM, and llama.cpp's convert_hf_to_gguf.py converts it"
                {if bpe_vocab_pruned {
                    view! { " through compact's "<code>"scripts/tools/llama-cpp-convert.py --dense ORIGINAL_FOLDER"</code>
                        ": the converter recognises a byte-level BPE tokenizer by the ids it gives a test string, and pruning changed them." }.into_any()
                } else {
                    ".".into_any()
                }}</p>
        </section>
    }
    .into_any()
}

/// "GGUF for llama.cpp": the pruned folder written as one GGUF of the chosen type by
/// the library's writer, from the Blobs just made (a few MB of rows at a time, into a
/// Blob), with its expected size said before it starts.
fn gguf_section(folder: BlobFolder, base: String) -> impl IntoView {
    let ty = RwSignal::new(FileType::Q8_0);
    let status = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let info = LocalResource::new({
        let folder = folder.clone();
        move || {
            let folder = folder.clone();
            async move { ModelInfo::load(&folder).await.ok() }
        }
    });
    let expected = move || {
        info.get()
            .flatten()
            .and_then(|i| crate::gguf::export::expected_size(&i, ty.get()).ok())
            .map(|b| format!("about {}", mb(b)))
            .unwrap_or_default()
    };
    let write = move |_| {
        let Some(Some(info)) = info.get_untracked() else { return };
        let (folder, ty, name) = (folder.clone(), ty.get_untracked(), base.clone());
        busy.set(true);
        status.set(Some(Ok(format!("writing {}-{}.gguf…", name, ty.name()))));
        spawn_local(async move {
            let file = format!("{name}-{}.gguf", ty.name());
            let (mut out, published) = BlobOutput::on_disk("gguf").await;
            let mut progress = |p: crate::Progress| {
                status.set(Some(Ok(format!("writing {file}: {} of {}", mb(p.done), mb(p.total)))));
            };
            let result = async {
                let sink = out.create(&file).await?;
                let summary = crate::gguf::export::write(&folder, &info, &name, ty, sink, &mut progress).await?;
                out.commit().await?;
                Ok::<_, crate::Error>(summary)
            }
            .await;
            busy.set(false);
            match (result, published.borrow_mut().take().and_then(|mut f| f.pop())) {
                (Ok(s), Some(f)) => {
                    super::js::download_blob(&f.blob, &f.name);
                    let (on, workers) = match s.workers {
                        1 => ("on this page".to_string(), String::new()),
                        n => (format!("on {n} Web Workers"), format!(", each worker's at most {}", mb(crate::parallel::worker_memory()))),
                    };
                    let memory = format!("Wasm memory {}{workers}", mb(crate::io::web::wasm_memory()));
                    status.set(Some(Ok(format!(
                        "Downloading {} ({}, {} tensors, quantized {on}). {memory}.",
                        f.name,
                        mb(s.bytes),
                        s.tensors
                    ))));
                }
                (Err(e), _) => status.set(Some(Err(super::shown(&e)))),
                (Ok(_), None) => status.set(Some(Err("the GGUF was not written".into()))),
            }
        });
    };
    let on_type = move |ev: leptos::ev::Event| {
        if let Some(t) = FileType::parse(&event_target_value(&ev)) {
            ty.set(t);
        }
    };
    view! {
        <div class="gguf" id="gguf">
            <p class="hint">"For llama.cpp, ollama or LM Studio: one GGUF file, written here. "
                <label for="gguf-type">"Type "</label>
                <select id="gguf-type" on:change=on_type>
                    {FileType::ALL.iter().map(|t| view! {
                        <option value=t.name() selected=*t == FileType::Q8_0>{t.name()}</option>
                    }).collect_view()}
                </select>
                " " <span id="gguf-size">{expected}</span> " "
                <button id="gguf-button" class="button" on:click=write disabled=move || busy.get()>"Write GGUF"</button>
            </p>
            {move || status.get().map(|m| match m {
                Ok(t) => view! { <p id="gguf-status" class="ok" role="status">{t}</p> }.into_any(),
                Err(t) => view! { <p id="gguf-error" class="error" role="alert">{t}</p> }.into_any(),
            })}
        </div>
    }
}
