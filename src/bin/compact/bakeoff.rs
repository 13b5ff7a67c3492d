//! `compact bakeoff`: the methods side by side at the same sizes (V′, I′) — COMPACT as in
//! the paper, its ablations (plain act², the vocabulary alone at equal parameters, the
//! rare set by frequency), the weight-aware score, and each with the repair — every
//! one pruned through the library's job and evaluated as `compact eval` does (held-out
//! perplexity and top-1 agreement against the dense model; zero-shot accuracy with
//! `--limit`). The weight-aware score reuses the paper's calibration (its act² weighed
//! by down_proj); the others calibrate with their own mask or repair.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use compact::engine::DeviceKind;
use compact::io::DirFolder;
use compact::model::Checkpoint;
use compact::prune::select::{self, Score};
use compact::prune::{Model, PrunePlan, RareBy, Target};
use serde::Serialize;

use crate::eval::EvalArgs;
use crate::prune::{CalibArgs, PruneArgs};

/// Arguments of `compact bakeoff`.
#[derive(clap::Args)]
pub struct BakeoffArgs {
    /// The dense model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Where the pruned folders and the JSON go (one subfolder per method).
    #[arg(long)]
    pub out: PathBuf,
    /// Target reduction of all parameters (0.35 or 35%); or give --vocab and --ffn.
    #[arg(long, conflicts_with_all = ["vocab", "ffn"])]
    pub ratio: Option<String>,
    /// V′.
    #[arg(long)]
    pub vocab: Option<usize>,
    /// I′.
    #[arg(long)]
    pub ffn: Option<usize>,
    /// The calibration text and windows, as for `compact prune`.
    #[command(flatten)]
    pub calibration: CalibArgs,
    /// Also zero-shot accuracy on the six tasks, this many questions each (0: none).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Where the models run.
    #[arg(long, value_enum, default_value_t = DeviceKind::Gpu)]
    pub device: DeviceKind,
    /// Windows of held-out text (256 tokens each) for perplexity and agreement.
    #[arg(long, default_value_t = 8)]
    pub ppl_windows: usize,
    /// Keep the pruned folders (by default each is removed once evaluated).
    #[arg(long)]
    pub keep: bool,
    /// Only these methods (comma-separated keys; see the table's first column).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// One method of the bake-off.
struct Method {
    key: &'static str,
    title: &'static str,
    vocab_only: bool,
    no_mask: bool,
    rare_by: RareBy,
    score: Score,
    repair: bool,
}

const fn method(key: &'static str, title: &'static str, no_mask: bool, rare_by: RareBy, score: Score, repair: bool) -> Method {
    Method { key, title, vocab_only: false, no_mask, rare_by, score, repair }
}

/// The methods, in the table's order.
const METHODS: [Method; 9] = [
    method("compact", "COMPACT (the paper)", false, RareBy::Id, Score::Act2, false),
    method("plain-act2", "plain act² (no common-token mask)", true, RareBy::Id, Score::Act2, false),
    Method {
        key: "vocab-only",
        title: "vocabulary only, equal parameters",
        vocab_only: true,
        no_mask: false,
        rare_by: RareBy::Id,
        score: Score::Act2,
        repair: false,
    },
    method("freq", "rare set by frequency", false, RareBy::Freq, Score::Act2, false),
    method("weight", "weight-aware score", false, RareBy::Id, Score::Act2Weight, false),
    method("compact+repair", "COMPACT + repair", false, RareBy::Id, Score::Act2, true),
    method("plain-act2+repair", "plain act² + repair", true, RareBy::Id, Score::Act2, true),
    method("freq+repair", "rare set by frequency + repair", false, RareBy::Freq, Score::Act2, true),
    method("weight+repair", "weight-aware score + repair", false, RareBy::Id, Score::Act2Weight, true),
];

/// One row of the result.
#[derive(Serialize)]
struct Row {
    method: String,
    title: String,
    vocab: usize,
    ffn: usize,
    params: u64,
    reduction: f64,
    perplexity: f64,
    dense_perplexity: Option<f64>,
    top1_agreement: Option<f64>,
    tasks_average: Option<f64>,
    prune_seconds: f64,
}

/// The V″ that removes as many parameters as `plan` with the vocabulary alone (a
/// multiple of 64), or `None` when the vocabulary cannot shrink that far.
fn vocab_only_size(plan: &PrunePlan) -> Option<usize> {
    let v = plan.vocab.0 as u64;
    let per_row = (plan.before.embedding + plan.before.lm_head) / v.max(1);
    let removed = plan.before.total().saturating_sub(plan.after.total());
    let rows = removed.div_ceil(per_row.max(1));
    (rows < v).then(|| ((v - rows) / 64 * 64) as usize)
}

fn prune_args(a: &BakeoffArgs, out: &Path, vocab: usize, ffn: Option<usize>, m: &Method) -> PruneArgs {
    PruneArgs {
        model: a.model.clone(),
        out: out.to_path_buf(),
        ratio: None,
        vocab: Some(vocab),
        ffn,
        rare_by: m.rare_by,
        channels_from: None,
        calibration: a.calibration.clone(),
        no_mask: m.no_mask,
        score: m.score,
        repair: m.repair,
        repair_ridge: None,
        repair_mode: Default::default(),
        device: a.device,
        save_importance: None,
        report: Some(out.with_extension("report.json")),
        force: true,
        gguf: Vec::new(),
    }
}

/// Runs `compact bakeoff`.
pub async fn run(a: &BakeoffArgs) -> Result<()> {
    let model = Model::open(crate::prune::model_name(&a.model), DirFolder::new(&a.model)?).await?;
    let target = match &a.ratio {
        Some(r) => Target::Ratio(crate::prune::parse_ratio(r).map_err(anyhow::Error::msg)?),
        None => Target::Sizes { vocab: a.vocab, ffn: a.ffn },
    };
    let cfg = &model.info.config;
    let plan = PrunePlan::for_target(cfg, &model.info.breakdown().counted, target, model.tokenizer.as_ref())?;
    let (v2, i2) = (plan.vocab.1, plan.ffn.1);
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    println!("bake-off at V′ {v2}, I′ {i2} ({:.1}% of the parameters removed)\n", 100.0 * plan.reduction());

    let mut rows: Vec<Row> = Vec::new();
    let paper_importance = a.out.join("compact.importance.safetensors");
    for m in METHODS.iter().filter(|m| a.only.is_empty() || a.only.iter().any(|k| k == m.key)) {
        let dir = a.out.join(m.key);
        let (vocab, ffn) = if m.vocab_only {
            match vocab_only_size(&plan) {
                Some(v) => (v, None),
                None => {
                    println!("{}: skipped, the vocabulary alone cannot remove as many parameters", m.key);
                    continue;
                }
            }
        } else {
            (v2, Some(i2))
        };
        let mut args = prune_args(a, &dir, vocab, ffn, m);
        if m.key == "compact" {
            args.save_importance = Some(paper_importance.clone());
        } else if m.key == "weight" && paper_importance.is_file() {
            // The paper's calibration, weighed by down_proj: no second calibration.
            let file = compact::io::FileSource::open(&paper_importance)?;
            let act2 = select::read_importance(&file, cfg).await?;
            let ck = Checkpoint::open(&model.folder, &model.info).await?;
            let weighed = select::scores(Score::Act2Weight, cfg, &ck, act2).await?;
            let path = a.out.join("weight.importance.safetensors");
            std::fs::write(&path, select::importance_file(&weighed, &Default::default()))?;
            args.channels_from = Some(path);
        }
        println!("── {} ──", m.title);
        crate::prune::run(&args).await?;
        let json = dir.with_extension("eval.json");
        let tasks = if a.limit > 0 { "hellaswag,winogrande,arc_challenge,arc_easy,piqa,boolq" } else { "none" };
        crate::eval::run(&EvalArgs {
            model: dir.clone(),
            dense: Some(a.model.clone()),
            tasks: tasks.split(',').map(String::from).collect(),
            limit: a.limit,
            data: None,
            ppl_windows: a.ppl_windows,
            ppl_seq_len: 256,
            device: a.device,
            json: Some(json.clone()),
        })
        .await?;
        let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.with_extension("report.json"))?)?;
        let tasks = e["tasks"].as_array().filter(|t| !t.is_empty());
        rows.push(Row {
            method: m.key.into(),
            title: m.title.into(),
            vocab,
            ffn: ffn.unwrap_or(plan.ffn.0),
            params: r["plan"]["after"].as_object().map_or(0, |o| o.values().filter_map(|v| v.as_u64()).sum()),
            reduction: r["reduction"].as_f64().unwrap_or_default(),
            perplexity: e["perplexity"].as_f64().unwrap_or(f64::NAN),
            dense_perplexity: e["dense_perplexity"].as_f64(),
            top1_agreement: e["top1_agreement"].as_f64(),
            tasks_average: tasks.map(|t| t.iter().filter_map(|x| x["model"]["acc"].as_f64()).sum::<f64>() / t.len() as f64),
            prune_seconds: r["seconds"]["total"].as_f64().unwrap_or_default(),
        });
        if !a.keep {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }

    println!(
        "\n{:20} {:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8}",
        "method", "V′", "I′", "removed", "ppl", "(dense)", "agree", "tasks", "prune s"
    );
    for r in &rows {
        let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}", 100.0 * v));
        println!(
            "{:20} {:>7} {:>6} {:>7.1}% {:>8.2} {:>8} {:>7} {:>7} {:>8.1}",
            r.method,
            r.vocab,
            r.ffn,
            100.0 * r.reduction,
            r.perplexity,
            r.dense_perplexity.map_or("—".into(), |d| format!("{d:.2}")),
            pct(r.top1_agreement),
            pct(r.tasks_average),
            r.prune_seconds
        );
    }
    let path = a.out.join("bakeoff.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows)? + "\n")?;
    println!("\nresults: {}", path.display());
    Ok(())
}
