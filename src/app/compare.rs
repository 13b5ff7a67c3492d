//! Step 6: dense and pruned side by side: greedy continuations of a prompt, and top-1
//! next-token agreement on the calibration text (as the pruned tokenizer splits it,
//! mapped to the dense ids), both run on the GPU (or the CPU when chosen there).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{AppState, Outcome, Session, shown};
use crate::engine::{Device, DeviceKind};
use crate::eval::{self, Scorer};
use crate::io::ModelFolder;
use crate::model::Checkpoint;
use crate::progress::Cancel;
use crate::prune::Model;

/// Bytes of weights each compared model keeps in the page's memory on the CPU device:
/// SmolLM2-135M and Gemma-3-270M whole (bf16), a larger model its first layers, so two
/// models stay well inside what a browser gives one page's WebAssembly memory.
const PAGE_RESIDENT_BUDGET: u64 = 600 << 20;

/// One side of the comparison: a model (borrowed: the session's, or the pruned folder
/// opened once) with its weights open.
struct Side<'a, F: ModelFolder> {
    model: &'a Model<F>,
    ck: Checkpoint<F::Source>,
}

impl<'a, F: ModelFolder> Side<'a, F> {
    /// Opens the weights; on the CPU device up to [`PAGE_RESIDENT_BUDGET`] of them stay
    /// in memory once read, so every token after the first reads no Blob.
    async fn open(model: &'a Model<F>) -> crate::Result<Self> {
        let mut ck = Checkpoint::open(&model.folder, &model.info).await?;
        ck.keep_resident(PAGE_RESIDENT_BUDGET);
        Ok(Self { model, ck })
    }

    fn scorer(&self, needed_for: &str) -> crate::Result<Scorer<'_, F::Source>> {
        Ok(Scorer { cfg: &self.model.info.config, ck: &self.ck, tok: self.model.tokenizer(needed_for)? })
    }

    /// A greedy continuation that stops at the model's own end-of-sequence ids.
    async fn generate(&self, device: &Device, prompt: &str, n: usize) -> crate::Result<Generation> {
        let tok = self.model.tokenizer("generation needs it")?;
        let stop = &self.model.info.stop_tokens;
        let ids = crate::tokenizer::encode(tok, prompt)?;
        let t0 = crate::progress::now();
        let out = device.generate(&self.model.info.config, &self.ck, &ids, n, stop, &Cancel::default()).await?;
        let seconds = crate::progress::now() - t0;
        let stopped = out.last().is_some_and(|t| stop.contains(t));
        Ok(Generation { text: crate::tokenizer::decode(tok, &out)?, stop: stop.clone(), tokens: out.len(), stopped, seconds })
    }
}

/// The device the compare step runs on.
async fn device(state: AppState, cpu_only: bool) -> crate::Result<Device> {
    state.device(if cpu_only { DeviceKind::Cpu } else { DeviceKind::Gpu }).await
}

/// A continuation and where it could stop.
#[derive(Clone)]
struct Generation {
    text: String,
    /// The model's own end-of-sequence ids.
    stop: Vec<u32>,
    /// New tokens.
    tokens: usize,
    /// Whether it ended on one of `stop`.
    stopped: bool,
    /// Seconds the generation took (the prompt's pass, then one pass per new token,
    /// reading the weights from the file each time).
    seconds: f64,
}

impl Generation {
    fn stop_ids(&self) -> String {
        self.stop.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
    }

    fn tokens_per_second(&self) -> f64 {
        self.tokens as f64 / self.seconds.max(1e-9)
    }
}

/// The pruned model's own speed next to the dense one's, for the page.
fn speed(dense: &Generation, pruned: &Generation, device: &str) -> String {
    format!(
        "On {device}: dense {} tokens in {:.1} s ({:.2} tokens/s), pruned {} in {:.1} s ({:.2} tokens/s): the pruned model generates {:.2}× as fast.",
        dense.tokens,
        dense.seconds,
        dense.tokens_per_second(),
        pruned.tokens,
        pruned.seconds,
        pruned.tokens_per_second(),
        pruned.tokens_per_second() / dense.tokens_per_second().max(1e-9)
    )
}

/// Greedy continuations of `prompt` by the dense and the pruned model, each stopping
/// at its own end-of-sequence ids, and the device's name.
async fn continuations(
    state: AppState,
    s: &Session,
    o: &Outcome,
    prompt: &str,
    n: usize,
    cpu_only: bool,
) -> crate::Result<(Generation, Generation, String)> {
    let device = device(state, cpu_only).await?;
    let pruned = Model::open("pruned", o.folder()).await?;
    let (dense, pruned) = (Side::open(&s.model).await?, Side::open(&pruned).await?);
    // One token from each first, untimed, so that neither timed run pays for setting up
    // the device's kernels or reading its weights the first time.
    dense.generate(&device, prompt, 1).await?;
    pruned.generate(&device, prompt, 1).await?;
    Ok((dense.generate(&device, prompt, n).await?, pruned.generate(&device, prompt, n).await?, device.name()))
}

/// Top-1 agreement over `windows` × `t` tokens of the run's calibration text.
async fn agreement(state: AppState, s: &Session, o: &Outcome, windows: usize, t: usize, cpu_only: bool) -> crate::Result<(f64, usize)> {
    let device = device(state, cpu_only).await?;
    let pruned = Model::open("pruned", o.folder()).await?;
    let (dense, pruned) = (Side::open(&s.model).await?, Side::open(&pruned).await?);
    let (p, d) = (pruned.scorer("agreement needs it")?, dense.scorer("agreement needs it")?);
    let c = eval::compare(&device, &p, Some(&d), &o.text.text, windows, t, &mut |_, _| {}, &Cancel::default()).await?;
    Ok((c.agreement.unwrap_or_default(), c.tokens))
}

/// The compare step.
#[component]
pub fn CompareStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let prompt = RwSignal::new(String::from("The capital of France is"));
    let tokens = RwSignal::new(12usize);
    let cpu_only = RwSignal::new(false);
    // As in the run step: the CPU device where WebGPU is missing or an emulation.
    spawn_local(async move { cpu_only.set(super::preferred_device().await.0 == DeviceKind::Cpu) });
    let busy = RwSignal::new(false);
    let result = RwSignal::new(None::<Result<(Generation, Generation, String), String>>);
    let agree = RwSignal::new(None::<Result<(f64, usize), String>>);
    let run_generate = move |_| {
        let (Some(s), Some(o)) = (state.session(), state.outcome.get_untracked()) else { return };
        busy.set(true);
        result.set(None);
        spawn_local(async move {
            let r = continuations(state, &s, &o, &prompt.get_untracked(), tokens.get_untracked(), cpu_only.get_untracked()).await;
            result.set(Some(r.map_err(|e| shown(&e))));
            busy.set(false);
        });
    };
    let run_agreement = move |_| {
        let (Some(s), Some(o)) = (state.session(), state.outcome.get_untracked()) else { return };
        busy.set(true);
        agree.set(None);
        spawn_local(async move {
            let r = agreement(state, &s, &o, 2, 128, cpu_only.get_untracked()).await;
            agree.set(Some(r.map_err(|e| shown(&e))));
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
                <label><input id="compare-cpu" type="checkbox" prop:checked=move || cpu_only.get() on:change=move |ev| cpu_only.set(event_target_checked(&ev))/>" on the CPU"</label>
            </div>
            <div class="buttons">
                <button id="generate-button" class="button" on:click=run_generate disabled=move || busy.get()>"Generate with both"</button>
                <button id="agreement-button" class="button" on:click=run_agreement disabled=move || busy.get()>"Top-1 agreement on the calibration text"</button>
            </div>
            {move || busy.get().then(|| view! { <p class="hint" role="status">"Running…"</p> })}
            {move || result.get().map(|r| match r {
                Ok((dense, pruned, device)) => view! {
                    <div class="side-by-side" id="generations">
                        <div><h3>"dense"</h3><p class="generation" data-model="dense" data-stop=dense.stop_ids() data-tokens=dense.tokens data-stopped=dense.stopped.to_string()>{prompt.get_untracked()}<mark>{dense.text.clone()}</mark></p></div>
                        <div><h3>"pruned"</h3><p class="generation" data-model="pruned" data-stop=pruned.stop_ids() data-tokens=pruned.tokens data-stopped=pruned.stopped.to_string()>{prompt.get_untracked()}<mark>{pruned.text.clone()}</mark></p></div>
                    </div>
                    <p id="generation-speed" class="hint" data-dense=dense.tokens_per_second().to_string() data-pruned=pruned.tokens_per_second().to_string()>{speed(&dense, &pruned, &device)}</p>
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
