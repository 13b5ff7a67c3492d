//! Step 7: the pruned folder onto the user's disk: into a new subfolder of a folder they
//! pick (File System Access API, where the browser has it), as one `.zip` (stored, assembled by the
//! browser from the Blobs), or file by file. The names are the standard ones, so the
//! folder loads as is.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{AppState, mb};
use crate::io::web::zip_blob;

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
