//! Step 4: calibrate on WebGPU and prune. The calibration text (built-in, a file, or
//! pasted), windows and rare-set rule are chosen here; the run reports progress per
//! layer and window (tokens/s, ETA), can be cancelled between dispatches, and writes
//! the pruned folder into Blobs the browser holds.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlInputElement;

use super::{AppState, CalibText, Outcome, Session, mb, shown};
use crate::engine::DeviceKind;
use crate::engine::device::Throughput;
use crate::io::ModelFolder;
use crate::io::web::BlobOutput;
use crate::progress::{Cancel, now};
use crate::prune::calib;
use crate::prune::repair;
use crate::prune::select::Score;
use crate::prune::{Event, ImportanceFile, Phase, PrunePlan, RareBy, Request, Target};

/// The choices of one run.
#[derive(Clone)]
struct Settings {
    samples: usize,
    seq_len: usize,
    rare_by: RareBy,
    mask: bool,
    score: Score,
    repair: Option<repair::RepairMode>,
    device: DeviceKind,
    text: CalibText,
    importance: Option<ImportanceFile>,
}

/// Progress shown on the page.
#[derive(Clone, Default)]
struct Shown {
    phase: String,
    stage: String,
    done: u64,
    total: u64,
    started: f64,
}

impl Shown {
    fn eta(&self) -> Option<f64> {
        (self.done > 0 && self.total > self.done).then(|| (now() - self.started) / self.done as f64 * (self.total - self.done) as f64)
    }
}

/// Runs the library's job on the session's model with the plan's sizes; `show` gets
/// every progress event.
async fn prune(
    state: AppState,
    s: &Session,
    plan: &PrunePlan,
    set: Settings,
    show: RwSignal<Shown>,
    cancel: &Cancel,
) -> crate::Result<Outcome> {
    let request = Request {
        rare_by: set.rare_by,
        text: set.text,
        samples: set.samples,
        seq_len: set.seq_len,
        mask: set.mask,
        importance: set.importance,
        score: set.score,
        repair: set.repair.map(|_| None),
        repair_mode: set.repair.unwrap_or_default(),
        ..Request::new(Target::Sizes { vocab: Some(plan.vocab.1), ffn: Some(plan.ffn.1) })
    };
    let device = state.device(set.device).await?;
    let (out, files) = BlobOutput::on_disk("run").await;
    let mut events = |e: Event| {
        let Event::Progress(phase, p) = e else { return };
        let phase = match phase {
            Phase::Calibrating => "calibrating",
            Phase::Writing => "writing the pruned folder",
        };
        show.update(|sh| {
            if sh.phase != phase {
                *sh = Shown { phase: phase.into(), started: now(), ..Default::default() };
            }
            sh.stage = p.stage;
            sh.done = p.done;
            sh.total = p.total;
        })
    };
    let job = crate::prune::run(&s.model, &request, &device, out, &mut events, cancel).await?;
    Ok(Outcome { job, files: files.take().unwrap_or_default() })
}

/// Bytes per second the browser writes the pruned folder at (reading the source file,
/// slicing rows, writing to the origin-private file system), as measured on the 2-core
/// test machine (`make bench`: 1.6 GB in 28 s): the estimate's rate for the writing.
const WRITE_BYTES_PER_SECOND: f64 = 55e6;

/// A duration for people: "40 s", "3 min", "1.5 h".
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{:.0} s", s.max(1.0)),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

/// What calibration will do, for the estimate: its arithmetic, and the layer weights it
/// reads how many times.
struct CalibWork {
    flops: f64,
    weight_bytes: u64,
    passes: usize,
    /// Workers sharing the passes (the CPU device's calibration without repair).
    shared_by: usize,
}

/// What the page says before a run: how long calibration (its FLOPs and weight reads at
/// the device's measured rates) and writing will take.
fn estimate(calib: Option<CalibWork>, th: Throughput, device: &str, write_bytes: u64) -> String {
    let write = write_bytes as f64 / WRITE_BYTES_PER_SECOND;
    match calib {
        Some(c) => {
            let secs = th.seconds(c.flops, c.weight_bytes, c.passes, c.shared_by);
            let times = if c.passes == 1 { String::new() } else { format!(" {}×", c.passes) };
            let shared = match c.shared_by.min(c.passes) {
                ..=1 => String::new(),
                n => format!(", shared by {n} Web Workers"),
            };
            format!(
                "Before you start: about {} in all. Calibration ≈ {:.0} GFLOP at {:.1} GFLOP/s and reading {}{times} of layer weights at {}/s{shared} \
                 (the matmul measured just now on {device}, the reads on the folder's tokenizer.json): ≈ {}; then writing ≈ {}: ≈ {}.",
                duration(secs + write),
                c.flops / 1e9,
                th.gflops,
                mb(c.weight_bytes),
                mb(th.read_bytes_per_second as u64),
                duration(secs),
                mb(write_bytes),
                duration(write)
            )
        }
        None => format!(
            "Before you start: about {}, writing ≈ {} (no calibration: the FFN is kept whole or ranked by the importance file).",
            duration(write),
            mb(write_bytes)
        ),
    }
}

fn number(ev: &web_sys::Event, min: usize) -> Option<usize> {
    event_target_value(ev).trim().parse::<usize>().ok().filter(|&n| n >= min)
}

/// The calibrate-and-prune step.
#[component]
pub fn RunStep() -> impl IntoView {
    let state = expect_context::<AppState>();
    let samples = RwSignal::new(calib::DEFAULT_SAMPLES);
    let seq_len = RwSignal::new(calib::DEFAULT_SEQ_LEN);
    let rare_by = RwSignal::new(RareBy::Id);
    let mask = RwSignal::new(true);
    let score = RwSignal::new(Score::Act2);
    // On by default: it closes most of the pruned FFN's gap to the dense model (README).
    let repair = RwSignal::new(true);
    let repair_mode = RwSignal::new(repair::RepairMode::default());
    let importance = RwSignal::new(None::<ImportanceFile>);
    let device = RwSignal::new(DeviceKind::Gpu);
    let running = RwSignal::new(None::<Cancel>);
    let show = RwSignal::new(Shown::default());
    let error = RwSignal::new(None::<String>);
    let paste = RwSignal::new(String::new());

    // No WebGPU, or a software adapter (an emulation on the CPU, slower than the CPU
    // device): the CPU device is chosen up front, and the page says why.
    let software = RwSignal::new(None::<String>);
    spawn_local(async move {
        let (kind, emulation) = super::preferred_device().await;
        device.set(kind);
        software.set(emulation);
    });

    let on_file = move |ev: web_sys::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|l| l.get(0)) else { return };
        spawn_local(async move {
            let name = file.name();
            let result = match calib::check_text_size(file.size() as u64) {
                Err(e) => Err(e),
                Ok(()) => match JsFuture::from(file.array_buffer()).await {
                    Ok(buf) => calib::text_from_bytes(&name, &js_sys::Uint8Array::new(&buf).to_vec()),
                    Err(e) => Err(crate::Error::io(&name, super::js::message(&e))),
                },
            };
            match result {
                Ok(text) => {
                    error.set(None);
                    state.text.set(CalibText { name, text: text.into() });
                }
                Err(e) => error.set(Some(shown(&e))),
            }
        });
    };
    let on_importance = move |ev: web_sys::Event| {
        let input: HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|l| l.get(0)) else {
            importance.set(None);
            return;
        };
        spawn_local(async move {
            let name = file.name();
            if let Err(e) = crate::prune::select::check_importance_size(&name, file.size() as u64) {
                error.set(Some(shown(&e)));
                importance.set(None);
                return;
            }
            match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => {
                    error.set(None);
                    importance.set(Some(ImportanceFile { name, bytes: js_sys::Uint8Array::new(&buf).to_vec() }));
                }
                Err(e) => error.set(Some(shown(&crate::Error::io(&name, super::js::message(&e))))),
            }
        });
    };
    let use_paste = move |_| {
        let text = paste.get();
        if text.trim().is_empty() {
            error.set(Some("The pasted text is empty.".into()));
            return;
        }
        error.set(None);
        state.text.set(CalibText { name: "pasted text".into(), text: text.into() });
    };
    let start = move |_| {
        let (Some(s), Some(plan)) = (state.session(), state.plan.get()) else { return };
        let cancel = Cancel::default();
        show.set(Shown {
            phase: "preparing".into(),
            stage: "tokenizing the calibration text, opening the GPU".into(),
            started: now(),
            ..Default::default()
        });
        running.set(Some(cancel.clone()));
        error.set(None);
        state.outcome.set(None);
        let set = Settings {
            samples: samples.get(),
            seq_len: seq_len.get(),
            rare_by: rare_by.get(),
            mask: mask.get(),
            score: score.get(),
            // The repair needs the calibration: channels from a file are sliced as they are.
            repair: (repair.get() && importance.with(Option::is_none)).then(|| repair_mode.get()),
            device: device.get(),
            text: state.text.get(),
            importance: importance.get(),
        };
        spawn_local(async move {
            match prune(state, &s, &plan, set, show, &cancel).await {
                Ok(o) => state.outcome.set(Some(Rc::new(o))),
                Err(crate::Error::Cancelled) => {
                    error.set(Some("Cancelled. Nothing was written; change the settings and run again.".into()))
                }
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

    // The device's speed, measured once per device kind with the model's own file.
    let rate = LocalResource::new(move || {
        let (kind, s) = (device.get(), state.session());
        async move {
            let s = s?;
            let dev = state.device(kind).await.ok()?;
            let sample = s.model.folder.open(crate::tokenizer::FILE).await.ok().flatten()?;
            let th = dev.throughput(&s.model.info.config, s.model.info.dtype(), &sample).await.ok()?;
            Some((th, dev, if kind == DeviceKind::Cpu { "the CPU device" } else { "WebGPU" }))
        }
    });
    let estimate_view = move || {
        let (th, dev, name) = rate.get().flatten()?;
        let s = state.session()?;
        let plan = state.plan.get()?;
        let info = &s.model.info;
        let bpp = info.bytes_per_param();
        let counts = info.breakdown().counted;
        let calibrates = plan.ffn.1 < plan.ffn.0 && importance.with(Option::is_none);
        let calib = calibrates.then(|| {
            let (cfg, n, t) = (&info.config, samples.get(), seq_len.get());
            let forward = crate::engine::forward::calibration_flops(cfg, &counts, n, t);
            let mode = repair_mode.get();
            let repair_flops = if repair.get() { repair::flops(cfg, plan.ffn.1, n * t, mode, forward) } else { 0.0 };
            // The repair runs on the page; calibration alone is shared by the CPU device's workers.
            let workers = if repair.get() { 1 } else { th.workers };
            CalibWork {
                flops: forward + repair_flops,
                weight_bytes: crate::engine::forward::GpuMemory::estimate(cfg, &counts, bpp, n, t).layer_weights,
                passes: dev.weight_passes(cfg, n, t, workers),
                shared_by: workers,
            }
        });
        Some(view! { <p id="run-estimate" class="hint">{estimate(calib, th, name, plan.file_bytes(bpp))}</p> })
    };

    let progress = move || {
        running.get()?;
        let sh = show.get();
        let eta = sh.eta().map(|s| format!(" · about {s:.0} s left")).unwrap_or_default();
        Some(view! {
            <div id="run-progress" role="status" aria-live="polite">
                <progress max=sh.total.max(1).to_string() value=sh.done.to_string()></progress>
                <p>{format!("{}: {}{eta}", sh.phase, sh.stage)}</p>
            </div>
        })
    };
    let finished = move || {
        let o = state.outcome.get()?;
        let bytes: u64 = o.files.iter().map(|f| f.blob.size() as u64).sum();
        let calib = o.calibration.as_ref().map(|c| {
            format!(
                "Calibration: {} × {} tokens ({} masked as removed tokens) on {} in {:.1} s, {:.0} tokens/s. ",
                c.windows.count,
                c.windows.seq_len,
                c.masked,
                o.device.as_ref().map_or(crate::engine::device::CPU_NAME, |(name, _)| name.as_str()),
                c.seconds,
                c.tokens_per_second()
            )
        });
        let gpu = o.device.as_ref().and_then(|(_, peak)| *peak).map(|p| format!("Peak GPU buffers {}. ", mb(p)));
        let repaired = o.repair.as_ref().map(|r| {
            format!(
                "Repair: down_proj refitted in every layer ({} fit, ridge {} × mean second moment): second moments {:.1} s ({} a layer), solves {:.1} s. ",
                r.mode.key(),
                r.rel_lambda,
                r.gram_seconds,
                mb(r.gram_bytes),
                r.solve_seconds
            )
        });
        Some(view! {
            <p id="run-done" class="ok" role="status">
                {format!("Pruned in {:.1} s: {} files, {} in all. ", o.seconds.total, o.files.len(), mb(bytes))}
                {calib}
                {repaired}
                {format!("Writing took {:.1} s. ", o.seconds.export)}
                {(!o.export.skipped.is_empty()).then(|| format!("Left out {} (the dense weights in another format). ", o.export.skipped.join(", ")))}
                {gpu}
                {format!("Wasm memory {}.", mb(crate::io::web::wasm_memory()))}
            </p>
        })
    };

    view! {
        <section id="run" class="card" aria-labelledby="run-title">
            <h2 id="run-title">"4 · Calibrate and prune"</h2>
            <fieldset>
                <legend>"Calibration text"</legend>
                <p>"Using: " <strong id="calib-name">{move || state.text.with(|t| t.name.clone())}</strong>
                    {move || state.text.with(|t| format!(" ({:.0} KB)", t.text.len() as f64 / 1e3))}</p>
                <div class="buttons">
                    {calib::BUILTINS.iter().map(|b| view! {
                        <button class="button" id=format!("calib-{}", b.key) on:click=move |_| state.text.set(CalibText::builtin(b))>{b.label}</button>
                    }).collect_view()}
                    <label class="button">"Text file (.txt, .jsonl)…" <input id="calib-file" type="file" accept=".txt,.jsonl,.md,text/plain" on:change=on_file/></label>
                </div>
                <textarea id="calib-paste" rows="3" placeholder="…or paste text here" aria-label="calibration text to paste"
                    prop:value=move || paste.get() on:input=move |ev| paste.set(event_target_value(&ev))></textarea>
                <button class="button" on:click=use_paste>"Use pasted text"</button>
            </fieldset>
            <div class="sizes">
                <label>"Windows " <input id="samples" type="number" min="1" prop:value=move || samples.get().to_string()
                    on:change=move |ev| { if let Some(n) = number(&ev, 1) { samples.set(n) } }/></label>
                <label>"Tokens per window " <input id="seq-len" type="number" min="2" prop:value=move || seq_len.get().to_string()
                    on:change=move |ev| { if let Some(n) = number(&ev, 2) { seq_len.set(n) } }/></label>
                <label>"Rare tokens by "
                    <select id="rare-by" on:change=move |ev| rare_by.set(if event_target_value(&ev) == "freq" { RareBy::Freq } else { RareBy::Id })>
                        <option value="id" selected=true>"id (the paper)"</option>
                        <option value="freq">"frequency in the text"</option>
                    </select>
                </label>
                <label>"Run on "
                    <select id="device" on:change=move |ev| device.set(if event_target_value(&ev) == "cpu" { DeviceKind::Cpu } else { DeviceKind::Gpu })
                        prop:value=move || if device.get() == DeviceKind::Cpu { "cpu" } else { "webgpu" }>
                        <option value="webgpu">"WebGPU"</option>
                        <option value="cpu">"CPU (WebAssembly; no GPU needed)"</option>
                    </select>
                </label>
                <label>"Positions "
                    <select id="mask" on:change=move |ev| mask.set(event_target_value(&ev) != "plain")
                        title="plain act² counts the positions of removed tokens too (an ablation)">
                        <option value="mask" selected=true>"common-token act² (paper)"</option>
                        <option value="plain">"plain act² (ablation)"</option>
                    </select>
                </label>
                <label>"Rank channels by "
                    <select id="score" on:change=move |ev| {
                            let s = Score::parse(&event_target_value(&ev)).unwrap_or_default();
                            score.set(s);
                            if s == Score::Obs {
                                repair.set(true);
                            }
                        }
                        title="act² × the squared norm of the channel's down_proj column: the energy it sends into the residual stream">
                        <option value="act2" selected=true>"act² (paper)"</option>
                        <option value="act2-weight">"act² × down_proj norm²"</option>
                        <option value="obs">"what the repair makes up for best (with repair)"</option>
                    </select>
                </label>
                <label title="Refit the kept down_proj columns by least squares so that they stand in for the removed channels on the calibration text. Runs a layer at a time on the device chosen above; the solves run on this computer's CPU.">
                    <input id="repair" type="checkbox" prop:checked=move || repair.get() disabled=move || importance.with(Option::is_some)
                        on:change=move |ev| repair.set(event_target_checked(&ev))/>
                    " Repair down_proj (beyond the paper; uncheck for the paper's method)"
                </label>
                <label>"Fit "
                    <select id="repair-mode" disabled=move || !repair.get()
                        on:change=move |ev| repair_mode.set(repair::RepairMode::parse(&event_target_value(&ev)).unwrap_or_default())
                        title="residual: on the pruned model, back onto the dense model's stream (3 passes); sequential: on the pruned model, to each layer's own output (2); dense: on the dense model (1)">
                        <option value="residual" selected=true>"back onto the dense stream (default)"</option>
                        <option value="sequential">"on the pruned layers"</option>
                        <option value="dense">"on the dense model"</option>
                    </select>
                </label>
                {move || repair.get().then(|| {
                    let (s, plan) = (state.session()?, state.plan.get()?);
                    let info = &s.model.info;
                    let bytes = repair::memory_bytes(&info.config, plan.ffn.1, samples.get() * seq_len.get(), repair_mode.get(), score.get(), info.bytes_per_param());
                    Some(view! {
                        <span id="repair-memory" class="hint">{format!(
                            "The repair runs a layer at a time (its solves on the CPU) and holds about {} more memory than calibration ({} of it one layer's second moment).",
                            mb(bytes),
                            mb(repair::Gram::bytes(info.config.intermediate_size))
                        )}</span>
                    })
                }).flatten()}
                <label class="button">"Importance file…"
                    <input id="importance-file" type="file" accept=".safetensors" on:change=on_importance/></label>
                {move || importance.with(|i| i.as_ref().map(|f| view! {
                    <span id="importance-name" class="hint">{format!("channels ranked by {} (no calibration)", f.name)}</span>
                }))}
            </div>
            {move || software.get().map(|name| {
                let choice = if device.get() == DeviceKind::Cpu {
                    "so the CPU device is chosen: it is faster on such machines"
                } else {
                    "and the CPU device is usually faster on such machines"
                };
                view! {
                    <p id="software-adapter" class="hint">{format!(
                        "This browser's WebGPU adapter{name} is an emulation on the CPU, {choice} \
                         (SmolLM2-135M on a 2-core test machine: 94 tokens/s on the CPU device, 4 on SwiftShader)."
                    )}</p>
                }
            })}
            <p class="hint">"The paper found 16 windows of 512 tokens enough. Windows start with the tokenizer's BOS when it adds one; positions whose token is removed do not count (the common-token mask)."</p>
            {estimate_view}
            <div class="buttons">
                <button id="run-button" class="button primary" on:click=start disabled=move || running.get().is_some() || state.plan.get().is_none()>"Calibrate and prune"</button>
                <button id="cancel-button" class="button" on:click=stop disabled=move || running.get().is_none()>"Cancel"</button>
            </div>
            {progress}
            {move || error.get().map(|e| view! { <p id="run-error" class="error" role="alert">{e}</p> })}
            {finished}
        </section>
    }
}
