//! `compact prune`: paper Algorithm 1 end to end: plan (V', I'), rare set S, common-token
//! calibration, top-I' channels, export; a one-screen summary and a JSON report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use compact::calib;
use compact::engine::gpu;
use compact::io::{DirFolder, DirOutput, FileSource, ModelFolder};
use compact::model::params::human;
use compact::model::{Checkpoint, ModelInfo};
use compact::pipeline::{self, RareBy, Target, TokenizerFile};
use compact::plan::PrunePlan;
use compact::prune::{KeepSet, read_importance, top_channels};
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
    #[arg(long, conflicts_with_all = ["vocab", "ffn"], value_parser = parse_ratio)]
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
    /// Count every position in the importance, rare tokens too (plain act², an ablation).
    #[arg(long)]
    pub no_mask: bool,
    /// Where calibration runs; `gpu` falls back to the CPU (saying so) when no usable
    /// adapter is found.
    #[arg(long, value_enum, default_value_t = Backend::Gpu)]
    pub backend: Backend,
    /// Also write the channel importance (safetensors, F32 per layer) for --channels-from.
    #[arg(long)]
    pub save_importance: Option<PathBuf>,
    /// Write a JSON report: parameters by part, sizes, calibration, time per phase,
    /// peak memory, backend.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Replace a non-empty output folder.
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Gpu,
    Cpu,
}

/// `0.35`, `35%`.
fn parse_ratio(s: &str) -> std::result::Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p, 0.01),
        None => (s, 1.0),
    };
    let r = num.trim().parse::<f64>().map_err(|_| format!("{s:?} is not a number (use 0.35 or 35%)"))? * scale;
    if !(r > 0.0 && r < 1.0) {
        return Err(format!("{s} is outside (0, 1): give the share of parameters to remove, e.g. 0.35 or 35%"));
    }
    Ok(r)
}

/// What `--report` writes.
#[derive(Serialize)]
struct Report {
    model: String,
    out: String,
    plan: PrunePlan,
    reduction: f64,
    rare_by: RareBy,
    calibration: Option<CalibReport>,
    files: Vec<(String, u64)>,
    seconds: Phases,
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

#[derive(Serialize, Default)]
struct Phases {
    plan: f64,
    calibration: f64,
    export: f64,
    total: f64,
}

/// Calibration text: its name in reports and the text.
fn calibration_text(arg: &str) -> Result<(String, String)> {
    if let Some(b) = calib::builtin(arg) {
        return Ok((b.name.to_string(), b.text.to_string()));
    }
    let path = Path::new(arg);
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the calibration text {}", path.display()))?;
    Ok((path.display().to_string(), calib::text_from_bytes(&path.display().to_string(), &bytes)?))
}

pub async fn run(a: &PruneArgs) -> Result<()> {
    let start = Instant::now();
    let mut phases = Phases::default();
    let folder = DirFolder::new(&a.model)?;
    let info = ModelInfo::load(&folder).await?;
    info.check_tensors()?;
    let cfg = &info.config;
    let counts = info.breakdown().counted;

    // Plan: sizes first, from the header alone (and the tokenizer's protected tokens).
    let vocab_pruned = a.ratio.is_some() || a.vocab.is_some_and(|v| v != cfg.vocab_size);
    let tokenizer = TokenizerFile::read(&folder, cfg).await?;
    if vocab_pruned && tokenizer.is_none() {
        bail!("{}", missing_tokenizer(&folder, "vocabulary pruning rewrites it"));
    }
    if let (Some(t), Some(_)) = (&tokenizer, a.ratio)
        && let Err(e) = &t.vocab
    {
        eprintln!("note: {e}; planning FFN-only pruning");
    }
    let target = match a.ratio {
        Some(r) => Target::Ratio(r),
        None => Target::Sizes { vocab: a.vocab, ffn: a.ffn },
    };
    let plan = pipeline::plan(cfg, &counts, target, tokenizer.as_ref())?;
    print_plan(&a.model, &plan, info.dtype().map_or(2, |d| d.size()));
    let out_folder = DirOutput::new(&a.out, a.force)?;
    phases.plan = start.elapsed().as_secs_f64();

    // The calibration text is needed for channel importance and for --rare-by freq.
    let (v2, i2) = (plan.vocab.1, plan.ffn.1);
    let needs_channels = i2 < cfg.intermediate_size && a.channels_from.is_none();
    let needs_text = needs_channels || (a.rare_by == RareBy::Freq && v2 < cfg.vocab_size);
    let text = if needs_text { Some(calibration_text(&a.calib)?) } else { None };
    let tok = match (needs_text, &tokenizer) {
        (true, Some(t)) => Some(t.tokenizer()?),
        (true, None) => bail!("{}", missing_tokenizer(&folder, "calibration tokenizes text")),
        _ => None,
    };
    let tokens = pipeline::kept_tokens(cfg, tokenizer.as_ref(), v2, a.rare_by, tok.as_ref().zip(text.as_ref().map(|(_, t)| t.as_str())))?;

    let mut calib_report = None;
    let channels = if i2 < cfg.intermediate_size {
        let t0 = Instant::now();
        let importance = if let Some(file) = &a.channels_from {
            read_importance(&FileSource::open(file)?, cfg).await?
        } else {
            let (name, text) = text.as_ref().expect("loaded above");
            let kept = if a.no_mask { None } else { tokens.as_deref() };
            let (imp, report) = calibrate(a, &folder, &info, tok.as_ref().expect("loaded above"), name, text, kept).await?;
            calib_report = Some(report);
            imp
        };
        phases.calibration = t0.elapsed().as_secs_f64();
        Some(top_channels(&importance, i2)?)
    } else {
        None
    };

    let t0 = Instant::now();
    let keep = KeepSet { tokens, channels };
    let bar = bar("{msg:24} [{bar:40}] {bytes}/{total_bytes} ({eta})");
    let mut progress = |p: compact::Progress| {
        bar.set_message(p.stage);
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let summary = compact::export::export(&folder, &info, &keep, out_folder, &mut progress).await?;
    bar.finish_and_clear();
    phases.export = t0.elapsed().as_secs_f64();
    phases.total = start.elapsed().as_secs_f64();
    if summary.params != plan.after.total() {
        bail!("internal: the export wrote {} parameters, the plan predicted {}", summary.params, plan.after.total());
    }

    let peak = peak_resident_bytes();
    println!(
        "\nwrote {} in {:.1} s (plan {:.1} s, calibration {:.1} s, export {:.1} s)",
        a.out.display(),
        phases.total,
        phases.plan,
        phases.calibration,
        phases.export
    );
    for (name, size) in &summary.files {
        println!("  {name:28} {:>10.1} MB", *size as f64 / 1e6);
    }
    if !summary.skipped.is_empty() {
        println!(
            "left out: {} (the dense weights in another format; they would contradict the pruned config.json)",
            summary.skipped.join(", ")
        );
    }
    if let Some(c) = &calib_report {
        println!("calibration: {} × {} tokens at {:.0} tokens/s on {}", c.windows, c.seq_len, c.tokens_per_second, c.backend);
    }
    if let Some(p) = peak {
        println!("peak resident memory: {:.0} MiB", p as f64 / 1048576.0);
    }
    if let Some(path) = &a.report {
        let report = Report {
            model: a.model.display().to_string(),
            out: a.out.display().to_string(),
            reduction: plan.reduction(),
            plan,
            rare_by: a.rare_by,
            calibration: calib_report,
            files: summary.files.clone(),
            seconds: phases,
            peak_resident_bytes: peak,
        };
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(())
}

fn missing_tokenizer(folder: &DirFolder, why: &str) -> compact::Error {
    compact::Error::MissingFile { file: compact::tokenizer::FILE.into(), hint: format!("{why} (looked in {})", folder.describe()) }
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

/// A progress bar in the CLI's one style.
pub fn bar(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar
}

/// Channel importance by calibration (the common-token mask is the complement of
/// `kept`), with a progress bar; saved when asked.
async fn calibrate(
    a: &PruneArgs,
    folder: &DirFolder,
    info: &ModelInfo,
    tok: &tokenizers::Tokenizer,
    name: &str,
    text: &str,
    kept: Option<&[u32]>,
) -> Result<(Vec<Vec<f64>>, CalibReport)> {
    let cfg = &info.config;
    let (windows, weights) =
        pipeline::prepare_windows(tok, text, a.samples, a.seq_len, kept).map_err(|e| anyhow::anyhow!("calibration text {name}: {e}"))?;
    if windows.windows < a.samples {
        eprintln!("note: {name} has {} tokens, enough for {} of the {} windows asked for", windows.text_tokens, windows.windows, a.samples);
    }
    let masked = weights.iter().filter(|&&w| w == 0.0).count();
    let gpu = open_gpu(a.backend).await;
    let backend = gpu.as_ref().map_or(calib::Backend::Cpu, calib::Backend::Gpu);
    let device = gpu.as_ref().map_or("the CPU reference".to_string(), |g| g.report.name.clone());
    eprintln!(
        "calibrating on {device}: {} × {} tokens of {name}{}, {masked} positions masked (removed tokens)",
        windows.windows,
        windows.seq_len,
        if windows.bos.is_some() { " (BOS first)" } else { "" },
    );
    let ck = Checkpoint::open(folder, info).await?;
    let bar = bar("{msg:24} [{bar:40}] {pos}/{len} ({eta})");
    let mut progress = |p: compact::Progress| {
        bar.set_message(p.stage);
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let calibration = pipeline::calibrate(&backend, cfg, &ck, windows, &weights, &mut progress, &Default::default()).await?;
    bar.finish_and_clear();
    let (importance, windows) = (calibration.importance.clone(), &calibration.windows);
    let sha256 = pipeline::sha256_hex(text.as_bytes());
    if let Some(path) = &a.save_importance {
        let dir = &a.model;
        let model = dir.file_name().map_or(dir.display().to_string(), |n| n.to_string_lossy().into_owned());
        let meta = calibration.metadata(&model, name, text, kept.map_or(cfg.vocab_size, <[u32]>::len));
        std::fs::write(path, compact::prune::importance_file(&importance, &meta))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("importance written to {}", path.display());
    }
    let report = CalibReport {
        text: name.to_string(),
        sha256,
        windows: windows.windows,
        seq_len: windows.seq_len,
        tokens: windows.tokens.len(),
        masked_positions: calibration.masked,
        tokens_per_second: calibration.tokens_per_second(),
        backend: device,
        peak_gpu_bytes: gpu.as_ref().map(|g| g.peak_bytes()),
    };
    Ok((importance, report))
}

/// The GPU when asked for and usable; otherwise `None`, saying why.
pub async fn open_gpu(backend: Backend) -> Option<gpu::Gpu> {
    match backend {
        Backend::Cpu => None,
        Backend::Gpu => match gpu::Gpu::new().await {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("no usable GPU ({e}); running on the CPU reference instead (much slower)");
                None
            }
        },
    }
}

/// The most resident memory this process has used (Linux: VmHWM).
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}
