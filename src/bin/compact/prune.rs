//! `compact prune`: builds the library's [`Request`] from the flags, opens the device
//! and the output folder, runs [`compact::prune::run`], and prints its events, a
//! one-screen summary and (with --report) a JSON report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use compact::engine::DeviceKind;
use compact::io::{DirFolder, DirOutput};
use compact::model::params::human;
use compact::progress::Cancel;
use compact::prune::calib::{self, CalibText};
use compact::prune::repair::{RepairMode, RepairReport};
use compact::prune::select::{self, Score};
use compact::prune::{Event, ImportanceFile, Model, Outcome, PrunePlan, RareBy, Request, Target};
use serde::Serialize;

/// Arguments of `compact prune`.
#[derive(clap::Args)]
pub struct PruneArgs {
    /// The input model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// The output folder (must not exist or be empty, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Target reduction of all parameters, e.g. 0.35 or 35%: V' and I' are chosen by
    /// the default policy (vocabulary first, down to a third of it, then FFN channels;
    /// see the README) and rounded to multiples of 64 and 32.
    #[arg(long, conflicts_with_all = ["vocab", "ffn"], value_parser = ratio)]
    pub ratio: Option<f64>,
    /// New vocabulary size V' (default: keep all).
    #[arg(long)]
    pub vocab: Option<usize>,
    /// New intermediate size I' (default: keep all).
    #[arg(long)]
    pub ffn: Option<usize>,
    /// How the rare set S is chosen: `id` removes the highest-id regular tokens (the
    /// paper: BPE ids follow merge order, so high ids are rare); `freq` removes the
    /// tokens least frequent in the calibration text.
    #[arg(long, value_enum, default_value_t = RareBy::Id)]
    pub rare_by: RareBy,
    /// Channel importance from a file written by --save-importance (no calibration).
    #[arg(long)]
    pub channels_from: Option<PathBuf>,
    /// The calibration text and windows.
    #[command(flatten)]
    pub calibration: CalibArgs,
    /// Count every position in the importance, rare tokens too (plain act², an ablation).
    #[arg(long)]
    pub no_mask: bool,
    /// How channels are ranked: `act2` (the paper) or `act2-weight` (act² × the squared
    /// norm of the channel's down_proj column: the energy it sends into the residual).
    #[arg(long, value_enum, default_value_t = Score::Act2)]
    pub score: Score,
    /// Repair the pruned FFN (beyond the paper; the default whenever channels are
    /// calibrated): the kept down_proj columns are refitted by least squares so that
    /// they stand in for the removed channels on the calibration text (calibration then
    /// runs a layer at a time).
    #[arg(long, conflicts_with = "channels_from")]
    pub repair: bool,
    /// COMPACT exactly as the paper: no repair, the kept down_proj columns as they are.
    #[arg(long, conflicts_with_all = ["repair", "repair_ridge", "repair_mode"])]
    pub no_repair: bool,
    /// The repair's ridge, relative to the mean second moment of the kept channels
    /// (default: 0.3 for the residual repair, 0.1 for the others).
    #[arg(long, conflicts_with = "channels_from")]
    pub repair_ridge: Option<f64>,
    /// What each layer's repair is fitted on: `residual` (the pruned and repaired
    /// layers' activations, fitted to bring the residual stream back onto the dense
    /// model's; three passes per layer), `sequential` (those activations, fitted to the
    /// layer's own output; two passes), `dense` (the dense model's; one pass).
    #[arg(long, value_enum, default_value_t = RepairMode::Residual, conflicts_with = "channels_from")]
    pub repair_mode: RepairMode,
    /// Where calibration runs; `gpu` falls back to the CPU (saying so) when no usable
    /// adapter is found.
    #[arg(long, alias = "backend", value_enum, default_value_t = DeviceKind::Gpu)]
    pub device: DeviceKind,
    /// Also write the channel importance (safetensors, F32 per layer) for --channels-from.
    #[arg(long)]
    pub save_importance: Option<PathBuf>,
    /// Write a JSON report: parameters by part, sizes, calibration, time per phase,
    /// peak memory, backend.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Replace a non-empty output folder (and GGUF files of the same names).
    #[arg(long)]
    pub force: bool,
    /// Also write the pruned model as GGUF for llama.cpp: one file per type
    /// (f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m, q4_0; comma-separated), OUT-TYPE.gguf beside the folder.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub gguf: Vec<compact::gguf::FileType>,
}

/// The calibration text and windows, for `prune` and `bakeoff`.
#[derive(clap::Args, Clone)]
pub struct CalibArgs {
    /// Calibration text for channel importance: `builtin` (the default; a public-domain
    /// play), `builtin-code` (Python source, for code models), a UTF-8 `.txt` file, or
    /// `.jsonl` with a "text" field per line. It is
    /// tokenized without special tokens; each window is the tokenizer's BOS (only if
    /// its post-processor adds one, e.g. Llama-3, Gemma-3) followed by consecutive
    /// text tokens, --seq-len tokens in all; the first --samples non-overlapping
    /// windows are used. Positions whose token is removed count with weight 0.
    #[arg(long, default_value = "builtin")]
    pub calib: String,
    /// Calibration windows N.
    #[arg(long, default_value_t = calib::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Tokens per calibration window L.
    #[arg(long, default_value_t = calib::DEFAULT_SEQ_LEN)]
    pub seq_len: usize,
}

/// `0.35`, `35%`: the library's [`compact::prune::parse_ratio`], for clap.
fn ratio(s: &str) -> std::result::Result<f64, String> {
    compact::prune::parse_ratio(s).map_err(|e| e.to_string())
}

impl CalibArgs {
    /// The calibration text `--calib` names.
    pub fn text(&self) -> Result<CalibText> {
        calibration_text(&self.calib)
    }
}

/// What `--report` writes.
#[derive(Serialize)]
struct Report<'a> {
    model: String,
    out: String,
    plan: &'a PrunePlan,
    reduction: f64,
    rare_by: RareBy,
    calibration: Option<CalibReport>,
    score: Score,
    repair: Option<&'a RepairReport>,
    files: &'a [(String, u64)],
    seconds: &'a compact::prune::job::Phases,
    peak_resident_bytes: Option<u64>,
}

#[derive(Serialize)]
struct CalibReport {
    text: String,
    sha256: String,
    windows: usize,
    seq_len: usize,
    tokens: usize,
    masked_positions: usize,
    tokens_per_second: f64,
    backend: String,
    peak_gpu_bytes: Option<u64>,
}

impl CalibReport {
    fn of(o: &Outcome) -> Option<Self> {
        let (c, text, (device, peak)) = (o.calibration.as_ref()?, &o.text, o.device.clone()?);
        Some(Self {
            text: text.name.clone(),
            sha256: calib::sha256_hex(text.text.as_bytes()),
            windows: c.windows.count,
            seq_len: c.windows.seq_len,
            tokens: c.windows.tokens.len(),
            masked_positions: c.masked,
            tokens_per_second: c.tokens_per_second(),
            backend: device,
            peak_gpu_bytes: peak,
        })
    }
}

/// Calibration text: a built-in one by key, or a file.
fn calibration_text(arg: &str) -> Result<CalibText> {
    if let Some(b) = calib::builtin(arg) {
        return Ok(CalibText::builtin(b));
    }
    let path = Path::new(arg);
    let len = std::fs::metadata(path).with_context(|| format!("cannot read the calibration text {}", path.display()))?.len();
    calib::check_text_size(len)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the calibration text {}", path.display()))?;
    let name = path.display().to_string();
    Ok(CalibText { text: calib::text_from_bytes(&name, &bytes)?.into(), name })
}

/// The request the flags describe.
fn request(a: &PruneArgs) -> Result<Request> {
    let target = match a.ratio {
        Some(r) => Target::Ratio(r),
        None => Target::Sizes { vocab: a.vocab, ffn: a.ffn },
    };
    let importance = match &a.channels_from {
        Some(p) => {
            let name = p.display().to_string();
            let len = std::fs::metadata(p).with_context(|| format!("cannot read {name}"))?.len();
            select::check_importance_size(&name, len)?;
            Some(ImportanceFile { bytes: std::fs::read(p).with_context(|| format!("cannot read {name}"))?, name })
        }
        None => None,
    };
    Ok(Request {
        rare_by: a.rare_by,
        text: a.calibration.text()?,
        samples: a.calibration.samples,
        seq_len: a.calibration.seq_len,
        mask: !a.no_mask,
        importance,
        score: a.score,
        // On unless the paper's method is asked for or channels come from a file
        // (explicitly asked for with one, it is refused: it needs the calibration).
        repair: (!a.no_repair && (a.repair || a.channels_from.is_none())).then_some(a.repair_ridge),
        repair_mode: a.repair_mode,
        ..Request::new(target)
    })
}

/// Runs `compact prune`.
pub async fn run(a: &PruneArgs) -> Result<()> {
    let request = request(a)?;
    let model = Model::open(model_name(&a.model), DirFolder::new(&a.model)?).await?;
    for (flag, path) in [("--report", &a.report), ("--save-importance", &a.save_importance)] {
        if let Some(p) = path {
            check_output_file(flag, p, &a.model)?;
        }
    }
    let ggufs: Vec<_> = a.gguf.iter().map(|&ty| (ty, crate::gguf::beside(&a.out, ty))).collect();
    for (_, path) in &ggufs {
        anyhow::ensure!(
            a.force || !path.exists(),
            "{} already exists: choose another --out, or pass --force to replace it",
            path.display()
        );
    }
    let out = DirOutput::new(&a.out, a.force, &[&a.model])?;
    let device = crate::open_device(a.device).await;
    let bpp = model.info.bytes_per_param();
    let bar = crate::bar("{msg:24} [{bar:40}] {pos}/{len} ({eta})");
    let mut events = |e: Event| match e {
        Event::Planned(plan) => print_plan(&a.model, plan, bpp),
        Event::Note(n) => eprintln!("note: {n}"),
        Event::Calibrating { device, windows, text, masked } => eprintln!(
            "calibrating on {device}: {} × {} tokens of {text}{}, {masked} positions masked (removed tokens)",
            windows.count,
            windows.seq_len,
            if windows.bos.is_some() { " (BOS first)" } else { "" },
        ),
        Event::Progress(_, p) => {
            bar.set_message(p.stage);
            bar.set_length(p.total);
            bar.set_position(p.done);
        }
    };
    let outcome = compact::prune::run(&model, &request, &device, out, &mut events, &Cancel::default()).await?;
    bar.finish_and_clear();

    let s = &outcome.seconds;
    println!(
        "\nwrote {} in {:.1} s (plan {:.1} s, calibration {:.1} s, export {:.1} s)",
        a.out.display(),
        s.total,
        s.plan,
        s.calibration,
        s.export
    );
    for (name, size) in &outcome.export.files {
        println!("  {name:28} {:>10.1} MB", *size as f64 / 1e6);
    }
    if !outcome.export.skipped.is_empty() {
        println!(
            "left out: {} (the dense weights in another format; they would contradict the pruned config.json)",
            outcome.export.skipped.join(", ")
        );
    }
    let calibration = CalibReport::of(&outcome);
    if let Some(c) = &calibration {
        println!("calibration: {} × {} tokens at {:.0} tokens/s on {}", c.windows, c.seq_len, c.tokens_per_second, c.backend);
    }
    if let Some(r) = &outcome.repair {
        println!(
            "repair: down_proj refitted in every layer ({} fit, ridge {} × mean diagonal); second moments {:.1} s ({:.0} MB a layer), solves {:.1} s",
            r.mode.key(),
            r.rel_lambda,
            r.gram_seconds,
            r.gram_bytes as f64 / 1e6,
            r.solve_seconds
        );
    }
    if let Some(path) = &a.save_importance {
        match outcome.importance_file(&model.name) {
            Some(bytes) => {
                std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("importance written to {}", path.display());
            }
            None => eprintln!("note: no calibration ran, so there is no importance to write to {}", path.display()),
        }
    }
    let peak = peak_resident_bytes();
    if let Some(p) = peak {
        println!("peak resident memory: {:.0} MiB", p as f64 / 1048576.0);
    }
    if let Some(path) = &a.report {
        let report = Report {
            model: a.model.display().to_string(),
            out: a.out.display().to_string(),
            plan: &outcome.plan,
            reduction: outcome.plan.reduction(),
            rare_by: a.rare_by,
            calibration,
            score: outcome.score,
            repair: outcome.repair.as_ref(),
            files: &outcome.export.files,
            seconds: &outcome.seconds,
            peak_resident_bytes: peak,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("report: {}", path.display());
    }
    for (ty, path) in &ggufs {
        crate::gguf::write(&a.out, *ty, path, a.force).await?;
    }
    Ok(())
}

/// A file the run writes besides the folder: not inside the model folder, and into a
/// folder that exists (checked before anything is written).
fn check_output_file(flag: &str, path: &Path, model: &Path) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(parent.is_dir(), "{flag} {}: the folder {} does not exist", path.display(), parent.display());
    let (dir, model) = (parent.canonicalize()?, model.canonicalize()?);
    anyhow::ensure!(
        !dir.starts_with(&model),
        "{flag} {} is inside the model folder {}: write it elsewhere, so the model stays as it was",
        path.display(),
        model.display()
    );
    Ok(())
}

/// The folder's own name: how importance files name the model.
pub fn model_name(dir: &Path) -> String {
    dir.file_name().map_or(dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The plan, before anything runs: parameters by part, before → after.
fn print_plan(dir: &Path, plan: &PrunePlan, bytes_per_param: u64) {
    let (b, a) = (&plan.before, &plan.after);
    println!("{}: V {} → {}, I {} → {}", dir.display(), plan.vocab.0, plan.vocab.1, plan.ffn.0, plan.ffn.1);
    println!("  {:<12} {:>10} {:>10} {:>8}", "parameters", "before", "after", "removed");
    let rows = [
        ("embedding", b.embedding, a.embedding),
        ("lm_head", b.lm_head, a.lm_head),
        ("FFN", b.ffn, a.ffn),
        ("attention", b.attention, a.attention),
        ("norms", b.norms, a.norms),
    ];
    for (label, x, y) in rows.into_iter().chain(std::iter::once(("total", b.total(), a.total()))) {
        if x == 0 && label == "lm_head" {
            println!("  {label:<12} {:>10} {:>10}", "(tied)", "(tied)");
            continue;
        }
        println!("  {label:<12} {:>10} {:>10} {:>7.1}%", human(x), human(y), 100.0 * (1.0 - y as f64 / x.max(1) as f64));
    }
    println!(
        "  model.safetensors ≈ {:.0} MB (from {:.0} MB)\n",
        plan.file_bytes(bytes_per_param) as f64 / 1e6,
        (b.total() * bytes_per_param) as f64 / 1e6
    );
}

/// The most resident memory this process has used (Linux: VmHWM).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}
