//! The bake-off, for classrooms: the pruning methods side by side at several sizes —
//! the library's bake-off ([`crate::prune::bakeoff`]) with each pruned folder held as
//! Blobs only while it is scored — shown as a table and a chart of top-1 agreement with
//! the dense model against the share of parameters removed.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::viz::line_chart;
use super::{AppState, CalibText, Session, shown};
use crate::engine::DeviceKind;
use crate::io::web::{BlobFolder, BlobOutput, Published};
use crate::progress::{Cancel, now};
use crate::prune::bakeoff::{self, METHODS, Row, Scoring, Step, Workspace};
use crate::prune::{Event, Phase, Request, Target, parse_ratio};

/// The browser's workspace: each method's folder in Blobs, dropped once scored.
#[derive(Default)]
struct Blobs {
    published: HashMap<String, Published>,
}

impl Workspace for Blobs {
    type Out = BlobOutput;
    type Pruned = BlobFolder;

    fn output(&mut self, key: &str) -> crate::Result<BlobOutput> {
        let (out, published) = BlobOutput::new();
        self.published.insert(key.to_string(), published);
        Ok(out)
    }

    fn written(&mut self, key: &str) -> crate::Result<BlobFolder> {
        let published = self.published.get(key).map(|p| p.borrow());
        Ok(BlobFolder::of_written(published.as_ref().and_then(|p| p.as_deref()).unwrap_or_default()))
    }

    async fn finish(&mut self, key: &str, _row: &mut Row) -> crate::Result<()> {
        self.published.remove(key);
        Ok(())
    }
}

/// The choices of one bake-off.
#[derive(Clone)]
struct Settings {
    sizes: Vec<f64>,
    methods: Vec<&'static str>,
    samples: usize,
    seq_len: usize,
    score_windows: usize,
    device: DeviceKind,
    text: CalibText,
}

/// Tokens per held-out window the pruned models are scored on.
const SCORE_SEQ_LEN: usize = 128;

/// Progress shown on the page.
#[derive(Clone, Default)]
struct Shown {
    run: String,
    stage: String,
    done: u64,
    total: u64,
}

/// Runs the bake-off on the session's model; rows and progress appear as they come.
async fn bake(
    state: AppState,
    s: &Session,
    set: Settings,
    show: RwSignal<Shown>,
    rows: RwSignal<Vec<Row>>,
    notes: RwSignal<Vec<String>>,
    cancel: &Cancel,
) -> crate::Result<()> {
    let targets: Vec<Target> = set.sizes.iter().map(|&r| Target::Ratio(r)).collect();
    let base = Request { text: set.text, samples: set.samples, seq_len: set.seq_len, ..Request::new(targets[0]) };
    let methods: Vec<_> = METHODS.iter().filter(|m| set.methods.contains(&m.key)).collect();
    let device = state.device(set.device).await?;
    let mut steps = |step: Step| match step {
        Step::Started { method, plan, index, of } => show.set(Shown {
            run: format!("{} at {:.0}% removed ({} of {of})", method.title, 100.0 * plan.reduction(), index + 1),
            ..Default::default()
        }),
        Step::Job(Event::Progress(phase, p)) => show.update(|sh| {
            let what = if phase == Phase::Calibrating { "calibrating" } else { "writing" };
            (sh.stage, sh.done, sh.total) = (format!("{what}: {}", p.stage), p.done, p.total);
        }),
        Step::Scoring(who, p) => show.update(|sh| {
            (sh.stage, sh.done, sh.total) = (format!("scoring the {who} model on held-out text"), p.done, p.total);
        }),
        Step::Job(Event::Note(n)) => notes.update(|v| {
            if !v.contains(&n) {
                v.push(n)
            }
        }),
        Step::Skipped(m, why) => notes.update(|v| v.push(format!("{}: skipped at one size, {why}", m.title))),
        Step::Done(r) => rows.update(|v| v.push(r.clone())),
        Step::Job(_) => {}
    };
    let scoring = Scoring { windows: set.score_windows, seq_len: SCORE_SEQ_LEN };
    bakeoff::run(&s.model, &base, &methods, &targets, scoring, &device, &mut Blobs::default(), &mut steps, cancel).await?;
    Ok(())
}

/// The methods ticked at first: the paper, its two main ablations, the weight-aware
/// score, and the paper with the repair.
const DEFAULT_METHODS: [&str; 5] = ["compact", "plain-act2", "vocab-only", "weight", "compact+repair"];

fn percent(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// The bake-off step.
#[component]
pub fn BakeoffStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let sizes = RwSignal::new(String::from("20%, 35%, 50%"));
    let methods = RwSignal::new(DEFAULT_METHODS.to_vec());
    let samples = RwSignal::new(4usize);
    let seq_len = RwSignal::new(128usize);
    let score_windows = RwSignal::new(2usize);
    let device = RwSignal::new(DeviceKind::Gpu);
    spawn_local(async move { device.set(super::preferred_device().await.0) });
    let running = RwSignal::new(None::<Cancel>);
    let show = RwSignal::new(Shown::default());
    let rows = RwSignal::new(Vec::<Row>::new());
    let notes = RwSignal::new(Vec::<String>::new());
    let error = RwSignal::new(None::<String>);
    let took = RwSignal::new(None::<f64>);

    let start = move |_| {
        let Some(s) = state.session() else { return };
        let parsed: crate::Result<Vec<f64>> = sizes.get().split(',').filter(|p| !p.trim().is_empty()).map(parse_ratio).collect();
        let sizes = match parsed {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => return error.set(Some("Give at least one size, e.g. 20%, 35%, 50%.".into())),
            Err(e) => return error.set(Some(shown(&e))),
        };
        if methods.with(Vec::is_empty) {
            return error.set(Some("Tick at least one method.".into()));
        }
        let set = Settings {
            sizes,
            methods: methods.get(),
            samples: samples.get(),
            seq_len: seq_len.get(),
            score_windows: score_windows.get(),
            device: device.get(),
            text: state.text.get(),
        };
        let cancel = Cancel::default();
        running.set(Some(cancel.clone()));
        error.set(None);
        rows.set(Vec::new());
        notes.set(Vec::new());
        took.set(None);
        show.set(Shown { run: "opening the device".into(), ..Default::default() });
        spawn_local(async move {
            let t0 = now();
            match bake(state, &s, set, show, rows, notes, &cancel).await {
                Ok(()) => took.set(Some(now() - t0)),
                Err(crate::Error::Cancelled) => error.set(Some("Cancelled; the rows so far stay below.".into())),
                Err(e) => error.set(Some(shown(&e))),
            }
            running.set(None);
        });
    };
    let stop = move |_| {
        if let Some(c) = running.get_untracked() {
            c.cancel();
        }
    };

    let progress = move || {
        running.get()?;
        let sh = show.get();
        Some(view! {
            <div id="bakeoff-progress" role="status" aria-live="polite">
                <progress max=sh.total.max(1).to_string() value=sh.done.to_string()></progress>
                <p>{format!("{} · {}", sh.run, sh.stage)}</p>
            </div>
        })
    };
    let table = move || {
        let rows = rows.get();
        (!rows.is_empty()).then(|| {
            let body = rows
                .iter()
                .map(|r| {
                    view! {
                        <tr data-method=r.method.clone() data-target=r.target.map(|t| format!("{t}")).unwrap_or_default()>
                            <td>{r.title.clone()}</td>
                            <td>{format!("{:.1}%", 100.0 * r.reduction)}</td>
                            <td>{r.vocab}</td>
                            <td>{r.ffn}</td>
                            <td>{format!("{:.1} M", r.params as f64 / 1e6)}</td>
                            <td data-ppl=r.perplexity.to_string()>{format!("{:.2}", r.perplexity)}{r.dense_perplexity.map(|d| format!(" ({d:.2})"))}</td>
                            <td data-agreement=r.top1_agreement.map(|a| a.to_string()).unwrap_or_default()>{percent(r.top1_agreement)}</td>
                            <td>{format!("{:.1}", r.prune_seconds)}</td>
                        </tr>
                    }
                })
                .collect_view();
            let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
            view! {
                <div class="scroll"><table class="facts" id="bakeoff-table">
                    <tr>
                        <th scope="col">"method"</th><th scope="col">"removed"</th><th scope="col">"V′"</th><th scope="col">"I′"</th>
                        <th scope="col">"parameters"</th><th scope="col">"perplexity (dense)"</th><th scope="col">"top-1 agreement"</th><th scope="col">"seconds"</th>
                    </tr>
                    {body}
                </table></div>
                <details><summary>"The rows as JSON"</summary><pre id="bakeoff-json">{json}</pre></details>
            }
        })
    };
    let chart = move || {
        let rows = rows.get();
        if rows.is_empty() {
            return None;
        }
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for r in &rows {
            let point = (r.reduction, r.top1_agreement.unwrap_or(f64::NAN));
            match series.iter_mut().find(|(name, _)| *name == r.title) {
                Some((_, pts)) => pts.push(point),
                None => series.push((r.title.clone(), vec![point])),
            }
        }
        let c = line_chart(&series, 640.0, 300.0);
        let (left, top, right, bottom) = c.area;
        let lines = c
            .series
            .iter()
            .map(|l| {
                let dots = l.points.iter().map(|&(x, y)| view! { <circle cx=x cy=y r=3.5 fill=l.color.clone()/> }).collect_view();
                view! {
                    <g class="series" data-name=l.name.clone()>
                        <polyline points=l.svg_points() fill="none" stroke=l.color.clone() stroke-width="2"/>
                        {dots}
                    </g>
                }
            })
            .collect_view();
        let x_ticks = c
            .x_ticks
            .iter()
            .map(|(x, label)| view! { <text x=*x y=bottom + 16.0 text-anchor="middle" class="value small">{label.clone()}</text> })
            .collect_view();
        let y_ticks = c
            .y_ticks
            .iter()
            .map(|(y, label)| {
                view! {
                    <line x1=left x2=right y1=*y y2=*y class="grid"/>
                    <text x=left - 6.0 y=y + 4.0 text-anchor="end" class="value small">{label.clone()}</text>
                }
            })
            .collect_view();
        let legend = c
            .series
            .iter()
            .map(|l| view! { <li><span class="swatch" style=format!("background:{}", l.color)></span>{l.name.clone()}</li> })
            .collect_view();
        Some(view! {
            <figure id="bakeoff-chart">
                <svg viewBox=format!("0 0 {} {}", c.size.0, c.size.1) role="img" aria-label="top-1 agreement against the share of parameters removed">
                    {y_ticks}
                    <line x1=left x2=left y1=top y2=bottom class="axis"/>
                    <line x1=left x2=right y1=bottom y2=bottom class="axis"/>
                    {x_ticks}
                    <text x=(left + right) / 2.0 y=c.size.1 - 4.0 text-anchor="middle" class="label">"parameters removed"</text>
                    {lines}
                </svg>
                <figcaption>"Top-1 agreement with the dense model on held-out text, by share of parameters removed."</figcaption>
                <ul class="legend">{legend}</ul>
            </figure>
        })
    };

    view! {
        <section id="bakeoff" class="card" aria-labelledby="bakeoff-title">
            <h2 id="bakeoff-title">"Bake-off: the methods side by side"</h2>
            <p class="hint">
                "Each method prunes the model at each size and is scored against the dense model on held-out text (top-1 agreement and perplexity on the same tokens). \
                 The calibration text is the one chosen above; the weight-aware score reuses the paper's calibration at the same size; a repair runs on the device chosen here, a layer at a time. \
                 Nothing is kept but the figures."
            </p>
            <div class="sizes">
                <label class="wide">"Shares of parameters to remove "
                    <input id="bakeoff-sizes" type="text" prop:value=move || sizes.get() on:input=move |ev| sizes.set(event_target_value(&ev))/></label>
                <label>"Calibration windows " <input id="bakeoff-samples" type="number" min="1" prop:value=move || samples.get().to_string()
                    on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<usize>() { samples.set(n.max(1)) } }/></label>
                <label>"Tokens per window " <input id="bakeoff-seq-len" type="number" min="2" prop:value=move || seq_len.get().to_string()
                    on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<usize>() { seq_len.set(n.max(2)) } }/></label>
                <label>{format!("Held-out windows ({SCORE_SEQ_LEN} tokens) ")} <input id="bakeoff-score-windows" type="number" min="1" prop:value=move || score_windows.get().to_string()
                    on:change=move |ev| { if let Ok(n) = event_target_value(&ev).parse::<usize>() { score_windows.set(n.max(1)) } }/></label>
                <label>"Run on "
                    <select id="bakeoff-device" on:change=move |ev| device.set(if event_target_value(&ev) == "cpu" { DeviceKind::Cpu } else { DeviceKind::Gpu })
                        prop:value=move || if device.get() == DeviceKind::Cpu { "cpu" } else { "webgpu" }>
                        <option value="webgpu">"WebGPU"</option>
                        <option value="cpu">"CPU (WebAssembly)"</option>
                    </select>
                </label>
            </div>
            <fieldset id="bakeoff-methods">
                <legend>"Methods"</legend>
                {METHODS.iter().map(|m| {
                    let key = m.key;
                    view! {
                        <label>
                            <input type="checkbox" data-method=key prop:checked=move || methods.with(|v| v.contains(&key))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    methods.update(|v| {
                                        v.retain(|k| *k != key);
                                        if on { v.push(key) }
                                    });
                                }/>
                            {format!(" {} ", m.title)}
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <div class="buttons">
                <button id="bakeoff-button" class="button primary" on:click=start disabled=move || running.get().is_some()>"Run the bake-off"</button>
                <button id="bakeoff-cancel" class="button" on:click=stop disabled=move || running.get().is_none()>"Cancel"</button>
            </div>
            {progress}
            {move || error.get().map(|e| view! { <p id="bakeoff-error" class="error" role="alert">{e}</p> })}
            {move || (!notes.with(Vec::is_empty)).then(|| view! { <ul class="hint" id="bakeoff-notes">{notes.get().into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul> })}
            {move || took.get().map(|t| view! { <p id="bakeoff-done" class="ok" role="status">{format!("{} runs in {t:.0} s.", rows.with(Vec::len))}</p> })}
            {chart}
            {table}
        </section>
    }
}
