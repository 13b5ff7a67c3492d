//! Step 5: where the importance is. A heatmap with one row per layer and that layer's
//! channels sorted from most to least important (log scale), the I′ cut-off drawn as a
//! line; and per layer, the share of its importance the removed channels carried.

use leptos::html::Canvas;
use leptos::prelude::*;
use wasm_bindgen::{Clamped, JsCast};

use super::AppState;
use super::viz::{ROW, heatmap, removed_shares};

/// The inspect step.
#[component]
pub fn InspectStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    let Some(outcome) = state.outcome.get_untracked() else { return ().into_any() };
    let Some(cal) = outcome.calibration.as_ref() else {
        return view! {
            <section id="inspect" class="card"><h2>"5 · Inspect"</h2><p class="hint">"The FFN was not pruned, so no channel importance was computed."</p></section>
        }
        .into_any();
    };
    let importance = cal.importance.clone();
    let (i, i2) = outcome.plan.ffn;
    let width = i.min(768);
    let height = ROW * importance.len();
    let pixels = heatmap(&importance, width);
    Effect::new(move |_| {
        let Some(c) = canvas.get() else { return };
        let Ok(Some(ctx)) = c.get_context("2d") else { return };
        let ctx: web_sys::CanvasRenderingContext2d = ctx.unchecked_into();
        if let Ok(img) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&pixels), width as u32, height as u32) {
            let _ = ctx.put_image_data(&img, 0.0, 0.0);
        }
        let x = (width * i2 / i) as f64 + 0.5;
        ctx.set_stroke_style_str("#ffffff");
        ctx.set_line_width(2.0);
        ctx.begin_path();
        ctx.move_to(x, 0.0);
        ctx.line_to(x, height as f64);
        ctx.stroke();
    });
    let shares: Vec<(usize, f64)> =
        removed_shares(&importance, outcome.channels.as_deref().unwrap_or_default()).into_iter().enumerate().collect();
    let worst = shares.iter().copied().fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    view! {
        <section id="inspect" class="card" aria-labelledby="inspect-title">
            <h2 id="inspect-title">"5 · Inspect channel importance"</h2>
            <figure>
                <canvas node_ref=canvas id="heatmap" width=width.to_string() height=height.to_string()
                    role="img" aria-label=format!("channel importance of {} layers, each sorted; the white line is the cut-off at I′ = {i2}", importance.len())></canvas>
                <figcaption>{format!(
                    "One row per layer (layer 0 at the top), channels sorted from most to least important, colour = log importance (common-token act², dark to bright between the 1st and 99th percentile). Right of the white line: the {} channels each layer loses (I′ = {i2} of {i}).",
                    i - i2
                )}</figcaption>
            </figure>
            <details>
                <summary>{format!("Share of importance removed, by layer (most: layer {}, {:.2}%)", worst.0, 100.0 * worst.1)}</summary>
                <table class="facts" id="layer-shares">
                    <tr><th scope="col">"layer"</th><th scope="col">"channels removed"</th><th scope="col">"importance removed"</th></tr>
                    {shares.into_iter().map(|(l, s)| view! { <tr><td>{l}</td><td>{i - i2}</td><td>{format!("{:.2}%", 100.0 * s)}</td></tr> }).collect_view()}
                </table>
            </details>
        </section>
    }
    .into_any()
}
