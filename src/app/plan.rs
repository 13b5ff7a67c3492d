//! Step 3, the plan: a target-reduction slider and explicit V'/I' inputs, kept
//! consistent (the slider plans with the default policy; typed sizes move the slider
//! to the reduction they give), with the predicted parameters, file size and memory,
//! examples of the tokens that would go, and how much of the calibration text they
//! make up.

use leptos::prelude::*;

use super::{AppState, mb};
use crate::engine::forward::GpuMemory;
use crate::model::params::human;
use crate::prune::calib::{DEFAULT_SAMPLES, DEFAULT_SEQ_LEN};
use crate::prune::rare::{self, RareBy};
use crate::prune::{PrunePlan, Target};

/// Token strings of up to `n` of the removed ids, spread over the whole removed range.
fn examples(tok: &tokenizers::Tokenizer, rows: usize, kept: &[u32], n: usize) -> (usize, Vec<String>) {
    let removed: Vec<u32> = (0..rows as u32).filter(|id| kept.binary_search(id).is_err()).collect();
    let step = removed.len().div_ceil(n.max(1)).max(1);
    let shown = removed
        .iter()
        .step_by(step)
        .filter_map(|&id| crate::tokenizer::decode(tok, &[id]).ok().filter(|s| !s.is_empty()))
        .map(|s| format!("{s:?}"))
        .take(n)
        .collect();
    (removed.len(), shown)
}

/// What the run will write to disk, against what the browser lets this page store.
fn disk(bytes: u64, free: Option<u64>) -> String {
    match free {
        Some(f) if f < bytes => format!(
            "≈ {} written into the browser's private storage, but only {} is free there: free some disk space first",
            mb(bytes),
            mb(f)
        ),
        Some(f) => format!("≈ {} written into the browser's private storage ({} free)", mb(bytes), mb(f)),
        None => format!("≈ {} written into the browser's private storage", mb(bytes)),
    }
}

/// The plan step.
#[component]
pub fn PlanStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let Some(session) = state.session() else { return ().into_any() };
    let cfg = session.model.info.config.clone();
    let counts = session.model.info.breakdown().counted;
    let min_vocab = session.model.tokenizer.as_ref().map_or(cfg.vocab_size, |t| t.min_rows(&cfg));
    let most = PrunePlan::max_reduction(&cfg, &counts, min_vocab).unwrap_or(0.0);
    let bpp = session.model.info.bytes_per_param();
    let target = RwSignal::new(Target::Ratio(0.35f64.min(most)));
    let error = RwSignal::new(None::<String>);
    let (cfg2, counts2, cfg3) = (cfg.clone(), counts.clone(), cfg.clone());
    Effect::new(move |_| {
        let Some(s) = state.session() else { return };
        match PrunePlan::for_target(&cfg2, &counts2, target.get(), s.model.tokenizer.as_ref()) {
            Ok(p) => {
                error.set(None);
                state.plan.set(Some(p));
            }
            Err(e) => error.set(Some(super::shown(&e))),
        }
    });
    let reduction = move || state.plan.get().map_or(0.0, |p| p.reduction());
    let on_slider = move |ev: web_sys::Event| {
        if let Ok(pct) = event_target_value(&ev).parse::<f64>() {
            target.set(Target::Ratio((pct / 100.0).clamp(0.001, most)));
        }
    };
    let sizes = move || state.plan.get().map_or((cfg.vocab_size, cfg.intermediate_size), |p| (p.vocab.1, p.ffn.1));
    let set_size = move |vocab: bool, ev: web_sys::Event| {
        let Ok(n) = event_target_value(&ev).trim().parse::<usize>() else {
            error.set(Some("type a whole number".into()));
            return;
        };
        let (v, i) = sizes();
        target.set(if vocab { Target::Sizes { vocab: Some(n), ffn: Some(i) } } else { Target::Sizes { vocab: Some(v), ffn: Some(n) } });
    };

    // The tokens the plan removes (by id, as the paper does), and their share of the
    // calibration text.
    let kept = Memo::new(move |_| {
        let s = state.session()?;
        let v2 = state.plan.get()?.vocab.1;
        rare::kept_tokens(&s.model.info.config, s.model.tokenizer.as_ref(), v2, RareBy::Id, None).ok().flatten()
    });
    let counts = Memo::new(move |_| {
        let s = state.session()?;
        rare::token_counts(s.tok()?, &state.text.get().text).ok()
    });
    let removed_view = move || {
        let s = state.session()?;
        let tok = s.tok()?;
        let kept = kept.get()?;
        let (n, shown) = examples(tok, s.model.info.config.vocab_size, &kept, 24);
        let name = state.text.with(|t| t.name.clone());
        let lost = counts.with(|c| c.as_ref().map(|c| rare::lost_share(c, &kept)));
        Some(view! {
            <p id="removed-tokens"><strong>{format!("{n} tokens removed")}</strong>", for example: " <span class="tokens">{shown.join(" ")}</span></p>
            {lost.map(|l| view! {
                <p id="text-loss" class="hint">{format!("{:.2}% of the tokens of the calibration text ({}) are among them; the pruned tokenizer spells those with shorter tokens.", 100.0 * l, name)}</p>
            })}
        })
    };
    let summary = session.summary.clone();
    let free = LocalResource::new(crate::io::web::storage_free);
    let numbers = move || {
        let p = state.plan.get()?;
        let (b, a) = (p.before.total(), p.after.total());
        let memory = GpuMemory::estimate(&cfg3, &p.before, bpp, DEFAULT_SAMPLES, DEFAULT_SEQ_LEN);
        Some(view! {
            <table class="facts" id="plan-numbers">
                <tr><th scope="row">"parameters"</th><td data-fact="params-after">{format!("{} → {} ({:.1}% removed)", human(b), human(a), 100.0 * p.reduction())}</td></tr>
                <tr><th scope="row">"vocabulary V′"</th><td>{format!("{} → {}", p.vocab.0, p.vocab.1)}</td></tr>
                <tr><th scope="row">"FFN channels I′"</th><td>{format!("{} → {} in each of the {} layers", p.ffn.0, p.ffn.1, summary.layers)}</td></tr>
                <tr><th scope="row">"model.safetensors"</th><td>{format!("≈ {} (from {})", mb(p.file_bytes(bpp)), mb(b * bpp))}</td></tr>
                <tr><th scope="row">"disk"</th><td id="plan-disk">{disk(p.file_bytes(bpp), free.get().flatten())}</td></tr>
                <tr><th scope="row">"GPU memory"</th><td>{format!(
                    "≈ {} of layer weights (the embedding stays in the file) + ≤ {} of activations for {DEFAULT_SAMPLES} × {DEFAULT_SEQ_LEN} tokens + ≈ {} for the repair of down_proj",
                    mb(memory.layer_weights),
                    mb(memory.activations),
                    mb(crate::engine::layerwise::extra_gpu_bytes(&cfg3, DEFAULT_SAMPLES * DEFAULT_SEQ_LEN, true))
                )}</td></tr>
            </table>
        })
    };
    view! {
        <section id="plan" class="card" aria-labelledby="plan-title">
            <h2 id="plan-title">"3 · Plan"</h2>
            <label class="slider">
                "Remove "
                <strong id="plan-ratio">{move || format!("{:.1}%", 100.0 * reduction())}</strong>
                " of the parameters"
                <input id="ratio" type="range" min="0.5" max=format!("{:.1}", 100.0 * most) step="0.5"
                    prop:value=move || format!("{:.1}", 100.0 * reduction()) on:input=on_slider aria-label="target reduction in percent"/>
            </label>
            <div class="sizes">
                <label>"V′ (vocabulary) " <input id="vocab" type="number" min="1" step="64" prop:value=move || sizes().0.to_string() on:change=move |ev| set_size(true, ev)/></label>
                <label>"I′ (FFN channels) " <input id="ffn" type="number" min="1" step="32" prop:value=move || sizes().1.to_string() on:change=move |ev| set_size(false, ev)/></label>
            </div>
            <p class="hint">{format!(
                "The slider follows the default policy: vocabulary first, down to a third of it, then FFN channels (V′ in multiples of 64, I′ of 32). At most {:.1}% can go.",
                100.0 * most
            )}</p>
            {move || error.get().map(|e| view! { <p id="plan-error" class="error" role="alert">{e}</p> })}
            {numbers}
            {removed_view}
        </section>
    }
    .into_any()
}
