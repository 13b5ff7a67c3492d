//! Step 6: dense and pruned side by side: greedy continuations of a prompt, and top-1
//! next-token agreement on the calibration text (as the pruned tokenizer splits it,
//! mapped to the dense ids), both run on the GPU (or the CPU when chosen there).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{AppState, Outcome, Session};
use crate::calib::Backend;
use crate::engine::{cpu, forward, gpu::Gpu};
use crate::eval::{self, Scored};
use crate::io::web::BlobFolder;
use crate::io::{ByteSource, ModelFolder};
use crate::model::{Checkpoint, ModelConfig, ModelInfo};
use crate::progress::{Cancel, Silent};

/// One side of the comparison: a model ready to run.
struct Side<S> {
    cfg: ModelConfig,
    ck: Checkpoint<S>,
    tok: tokenizers::Tokenizer,
}

async fn pruned_side(folder: &BlobFolder) -> crate::Result<Side<crate::io::web::BlobSource>> {
    let info = ModelInfo::load(folder).await?;
    let ck = Checkpoint::open(folder, &info).await?;
    let tok = crate::tokenizer::load(&folder.require(crate::tokenizer::FILE, "the pruned folder has one").await?.read_to_end().await?)?;
    Ok(Side { cfg: info.config, ck, tok })
}

async fn generate<S: ByteSource>(gpu: Option<&Gpu>, side: &Side<S>, prompt: &str, n: usize) -> crate::Result<String> {
    let ids = crate::tokenizer::encode(&side.tok, prompt)?;
    let stop: Vec<u32> = side.tok.token_to_id("<|endoftext|>").into_iter().chain(side.tok.token_to_id("<|im_end|>")).collect();
    let out = match gpu {
        Some(g) => forward::generate_greedy(g, &side.cfg, &side.ck, &ids, n, &stop, &Cancel::default()).await?,
        None => cpu::generate_greedy(&side.cfg, &side.ck, &ids, n, &stop).await?,
    };
    crate::tokenizer::decode(&side.tok, &out)
}

/// Greedy continuations of `prompt` by the dense and the pruned model.
async fn continuations(
    state: AppState,
    s: &Session,
    o: &Outcome,
    prompt: &str,
    n: usize,
    cpu_only: bool,
) -> crate::Result<(String, String)> {
    let gpu = if cpu_only { None } else { Some(state.gpu().await?) };
    let dense = Side {
        cfg: s.info.config.clone(),
        ck: Checkpoint::open(&s.folder, &s.info).await?,
        tok: s
            .tok
            .clone()
            .ok_or_else(|| crate::Error::MissingFile { file: crate::tokenizer::FILE.into(), hint: "generation needs it".into() })?,
    };
    let pruned = pruned_side(&o.folder()).await?;
    Ok((generate(gpu.as_deref(), &dense, prompt, n).await?, generate(gpu.as_deref(), &pruned, prompt, n).await?))
}

/// Top-1 agreement over `windows` × `t` tokens of the run's calibration text.
async fn agreement(state: AppState, s: &Session, o: &Outcome, windows: usize, t: usize, cpu_only: bool) -> crate::Result<(f64, usize)> {
    let gpu = if cpu_only { None } else { Some(state.gpu().await?) };
    let backend = gpu.as_deref().map_or(Backend::Cpu, Backend::Gpu);
    let pruned = pruned_side(&o.folder()).await?;
    let dense_tok = s
        .tok
        .as_ref()
        .ok_or_else(|| crate::Error::MissingFile { file: crate::tokenizer::FILE.into(), hint: "agreement needs it".into() })?;
    let w = crate::calib::windows(&pruned.tok, &o.text.text, windows, t)?;
    let seqs: Vec<Scored> = w.tokens.chunks_exact(w.seq_len).map(|x| Scored { tokens: x.to_vec(), targets: 1..x.len() }).collect();
    let map = eval::id_map(&pruned.tok, dense_tok)?;
    let mapped: Vec<Scored> =
        seqs.iter().map(|x| Scored { tokens: x.tokens.iter().map(|&id| map[id as usize]).collect(), targets: x.targets.clone() }).collect();
    let cancel = Cancel::default();
    let p = eval::score(&backend, &pruned.cfg, &pruned.ck, &seqs, &mut Silent, &cancel).await?;
    let dense_ck = Checkpoint::open(&s.folder, &s.info).await?;
    let d = eval::score(&backend, &s.info.config, &dense_ck, &mapped, &mut Silent, &cancel).await?;
    Ok((eval::agreement(&p, &d, &map), seqs.iter().map(|x| x.targets.len()).sum()))
}

/// The compare step.
#[component]
pub fn CompareStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let prompt = RwSignal::new(String::from("The capital of France is"));
    let tokens = RwSignal::new(12usize);
    let cpu_only = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let result = RwSignal::new(None::<Result<(String, String), String>>);
    let agree = RwSignal::new(None::<Result<(f64, usize), String>>);
    let run_generate = move |_| {
        let (Some(s), Some(o)) = (state.session(), state.outcome.get_untracked()) else { return };
        busy.set(true);
        result.set(None);
        spawn_local(async move {
            let r = continuations(state, &s, &o, &prompt.get_untracked(), tokens.get_untracked(), cpu_only.get_untracked()).await;
            result.set(Some(r.map_err(|e| e.to_string())));
            busy.set(false);
        });
    };
    let run_agreement = move |_| {
        let (Some(s), Some(o)) = (state.session(), state.outcome.get_untracked()) else { return };
        busy.set(true);
        agree.set(None);
        spawn_local(async move {
            let r = agreement(state, &s, &o, 2, 128, cpu_only.get_untracked()).await;
            agree.set(Some(r.map_err(|e| e.to_string())));
            busy.set(false);
        });
    };
    view! {
        <section id="compare" class="card" aria-labelledby="compare-title">
            <h2 id="compare-title">"6 · Compare dense and pruned"</h2>
            <div class="sizes">
                <label class="wide">"Prompt " <input id="prompt" type="text" prop:value=move || prompt.get() on:input=move |ev| prompt.set(event_target_value(&ev))/></label>
                <label>"New tokens " <input id="new-tokens" type="number" min="1" max="64" prop:value=move || tokens.get().to_string()
                    on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<usize>() { tokens.set(n.clamp(1, 64)) } }/></label>
                <label><input type="checkbox" prop:checked=move || cpu_only.get() on:change=move |ev| cpu_only.set(event_target_checked(&ev))/>" on the CPU"</label>
            </div>
            <div class="buttons">
                <button id="generate-button" class="button" on:click=run_generate disabled=move || busy.get()>"Generate with both"</button>
                <button id="agreement-button" class="button" on:click=run_agreement disabled=move || busy.get()>"Top-1 agreement on the calibration text"</button>
            </div>
            {move || busy.get().then(|| view! { <p class="hint" role="status">"Running…"</p> })}
            {move || result.get().map(|r| match r {
                Ok((dense, pruned)) => view! {
                    <div class="side-by-side" id="generations">
                        <div><h3>"dense"</h3><p class="generation" data-model="dense">{prompt.get_untracked()}<mark>{dense}</mark></p></div>
                        <div><h3>"pruned"</h3><p class="generation" data-model="pruned">{prompt.get_untracked()}<mark>{pruned}</mark></p></div>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
            {move || agree.get().map(|r| match r {
                Ok((a, n)) => view! { <p id="agreement" class="ok">{format!("The pruned model's top next token is the dense model's at {:.1}% of {n} positions of the calibration text.", 100.0 * a)}</p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
            })}
        </section>
    }
}
