//! The model card: architecture at a glance and an SVG bar chart of where the
//! parameters live, counted from the header next to the paper's formula, and what the
//! current plan leaves of each part.

use leptos::prelude::*;

use super::AppState;
use crate::model::params::{ParamCounts, human};
use crate::model::{ModelSummary, Part};

/// Card + chart for the loaded model.
#[component]
pub fn ModelCard() -> impl IntoView {
    let state = expect_context::<AppState>();
    let Some(session) = state.session() else { return ().into_any() };
    let (source, s) = (session.source.clone(), session.summary.clone());
    let rows: Vec<(&str, String)> = vec![
        ("architecture", format!("{} ({})", s.arch.name(), s.model_type)),
        ("layers", s.layers.to_string()),
        ("hidden size", s.hidden_size.to_string()),
        ("intermediate size", s.intermediate_size.to_string()),
        ("vocabulary", s.vocab_size.to_string()),
        ("attention", format!("{} heads, {} kv heads, head_dim {}", s.heads, s.kv_heads, s.head_dim)),
        ("embeddings", if s.tied_embeddings { "tied".into() } else { "untied (separate lm_head)".into() }),
        ("weights", format!("{} · {} tensors · {:.1} MB", s.dtype.clone().unwrap_or_default(), s.tensors, s.weight_bytes as f64 / 1e6)),
        ("parameters", format!("{} ({})", human(s.total), s.total)),
    ];
    let vocab_share = 100.0 * s.params.counted.vocab() as f64 / s.total.max(1) as f64;
    let chart = s.clone();
    view! {
        <section id="model-card" class="card" aria-labelledby="card-title">
            <h2 id="card-title">"2 · " {source}</h2>
            <table class="facts">
                {rows.into_iter().map(|(k, v)| view! { <tr><th scope="row">{k}</th><td data-fact=k>{v}</td></tr> }).collect_view()}
            </table>
            <p class="insight">
                {format!("{vocab_share:.1}% of the parameters are vocabulary (embedding + lm_head). ")}
                "In small models the vocabulary is a large share — which is why COMPACT prunes the rarest tokens as well as FFN channels."
            </p>
            {move || view! { <ParamChart summary=chart.clone() planned=state.plan.get().map(|p| p.after)/> }}
            <details>
                <summary>"Header vs. the paper's formulas"</summary>
                <ul class="explain">{s.explanation.iter().map(|l| view! { <li>{l.clone()}</li> }).collect_view()}</ul>
            </details>
            <p class="hint">{format!("Read {} bytes of headers out of {:.1} MB of weights.", s.header_bytes_read, s.weight_bytes as f64 / 1e6)}</p>
        </section>
    }
    .into_any()
}

/// Horizontal bars, one per parameter group: counted (filled), the paper's formula
/// (outline) and, with a plan, what pruning leaves (hatched, below).
#[component]
fn ParamChart(summary: ModelSummary, planned: Option<ParamCounts>) -> impl IntoView {
    let p = &summary.params;
    let parts: Vec<Part> = Part::ALL.into_iter().filter(|&pt| pt != Part::Other || p.counted.other > 0).collect();
    let max = parts.iter().map(|&pt| p.counted.get(pt).max(p.predicted.paper.get(pt))).max().unwrap_or(1).max(1) as f64;
    let total = p.counted.total().max(1) as f64;
    let (label_w, bar_w, row_h) = (90.0, 400.0, if planned.is_some() { 46.0 } else { 34.0 });
    let height = row_h * parts.len() as f64 + 24.0;
    let bars = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let y = 8.0 + i as f64 * row_h;
            let counted = p.counted.get(part);
            let formula = match part {
                Part::Norms | Part::Other => None,
                _ => Some(p.predicted.paper.get(part)),
            };
            let w = bar_w * counted as f64 / max;
            let class = match part {
                Part::Embedding | Part::LmHead => "bar vocab",
                Part::Ffn => "bar ffn",
                Part::Attention => "bar attn",
                _ => "bar other",
            };
            let text = format!("{} · {:.1}%", human(counted), 100.0 * counted as f64 / total);
            let after = planned.as_ref().map(|a| a.get(part));
            view! {
                <g data-part=part.label() data-count=counted.to_string()>
                    <text x=label_w - 8.0 y=y + 17.0 text-anchor="end" class="label">{part.label()}</text>
                    <rect x=label_w y=y + 4.0 width=w.max(0.5) height=18 class=class><title>{format!("{}: {counted} parameters", part.label())}</title></rect>
                    {formula.map(|f| view! {
                        <rect x=label_w y=y + 2.0 width=(bar_w * f as f64 / max).max(0.5) height=22 class="formula"><title>{format!("paper formula: {f}")}</title></rect>
                    })}
                    <text x=label_w + w + 6.0 y=y + 17.0 class="value">{text}</text>
                    {after.map(|n| view! {
                        <rect x=label_w y=y + 27.0 width=(bar_w * n as f64 / max).max(0.5) height=10 class="bar planned" data-after=n.to_string()><title>{format!("after pruning: {n} parameters")}</title></rect>
                        <text x=label_w + bar_w * n as f64 / max + 6.0 y=y + 36.0 class="value small">{format!("after: {}", human(n))}</text>
                    })}
                </g>
            }
        })
        .collect_view();
    view! {
        <figure id="param-chart">
            <svg viewBox=format!("0 0 640 {height}") role="img" aria-label="parameters by part">
                {bars}
            </svg>
            <figcaption>"Filled: counted from the safetensors header. Outline: the paper's formulas (2VD or VD tied, 3LDI, 2LD²(1 + 1/H))." {planned.is_some().then_some(" Thin bar: what the plan below leaves.")}</figcaption>
        </figure>
    }
}
