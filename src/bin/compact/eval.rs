//! `compact eval`: zero-shot accuracy on the six log-likelihood tasks, perplexity on
//! held-out text, and top-1 agreement with the dense model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use compact::engine::{Device, DeviceKind};
use compact::eval::{self, Scored, Scorer, TaskResult, TokenScore};
use compact::io::DirFolder;
use compact::model::Checkpoint;
use compact::prune::Model;
use compact::prune::calib;
use serde::Serialize;

/// Arguments of `compact eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The model folder to evaluate (pruned or not).
    #[arg(long)]
    pub model: PathBuf,
    /// The dense model it was pruned from: evaluated the same way, and the baseline of
    /// top-1 agreement.
    #[arg(long)]
    pub dense: Option<PathBuf>,
    /// Tasks, comma-separated (hellaswag, winogrande, arc_challenge, arc_easy, piqa,
    /// boolq); `none` for perplexity and agreement only.
    #[arg(long, value_delimiter = ',', default_value = "hellaswag,winogrande,arc_challenge,arc_easy,piqa,boolq")]
    pub tasks: Vec<String>,
    /// Questions per task, the first ones of each file (0: all).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    /// Where scripts/fixtures/fetch-eval.sh put the request files.
    #[arg(long, env = "COMPACT_EVAL_DATA")]
    pub data: Option<PathBuf>,
    /// Windows of held-out text (the second half of the built-in calibration play) for
    /// perplexity and agreement.
    #[arg(long, default_value_t = 8)]
    pub ppl_windows: usize,
    /// Tokens per perplexity window.
    #[arg(long, default_value_t = 256)]
    pub ppl_seq_len: usize,
    /// Where the model runs; `gpu` falls back to the CPU (saying so).
    #[arg(long, alias = "backend", value_enum, default_value_t = DeviceKind::Gpu)]
    pub device: DeviceKind,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Read every layer's weights from the file at every pass instead of keeping them
    /// in memory (up to 4 GiB per model) on the CPU: for models larger than memory.
    #[arg(long)]
    pub stream: bool,
    /// Write the evaluated model's scoring requests as JSON lines (`task`, `tokens`,
    /// `targets`: the scored positions), so another harness can score the very same ones.
    #[arg(long)]
    pub save_requests: Option<PathBuf>,
}

/// One model, open for scoring.
struct Opened {
    model: Model<DirFolder>,
    ck: Checkpoint<compact::io::FileSource>,
    bos: Option<u32>,
}

impl Opened {
    async fn open(dir: &std::path::Path, stream: bool) -> Result<Self> {
        let model = Model::open(dir.display().to_string(), DirFolder::new(dir)?).await?;
        let bos = calib::bos_of(model.tokenizer("evaluation tokenizes text")?)?;
        let mut ck = Checkpoint::open(&model.folder, &model.info).await?;
        if !stream {
            ck.keep_resident(compact::model::RESIDENT_BUDGET);
        }
        Ok(Self { model, ck, bos })
    }

    fn scorer(&self) -> Scorer<'_, compact::io::FileSource> {
        Scorer { cfg: &self.model.info.config, ck: &self.ck, tok: self.tok() }
    }

    fn tok(&self) -> &tokenizers::Tokenizer {
        self.model.tokenizer("evaluation tokenizes text").expect("checked in open")
    }

    async fn score(&self, device: &Device, seqs: &[Scored], what: &str) -> Result<Vec<Vec<TokenScore>>> {
        let bar = crate::bar("{msg:32} [{bar:40}] {pos}/{len} ({eta})");
        bar.set_length(seqs.len() as u64);
        bar.set_message(what.to_string());
        let mut progress = |p: compact::Progress| bar.set_position(p.done);
        let out = device.score(&self.model.info.config, &self.ck, seqs, &mut progress, &Default::default()).await?;
        bar.finish_and_clear();
        Ok(out)
    }
}

#[derive(Serialize)]
struct Results {
    model: String,
    dense: Option<String>,
    limit: usize,
    tasks: Vec<TaskRow>,
    perplexity: Option<f64>,
    dense_perplexity: Option<f64>,
    perplexity_tokens: usize,
    top1_agreement: Option<f64>,
    /// Paragraphs of held-out text made of kept tokens that the pruned tokenizer
    /// re-encodes exactly as the dense one (with --dense).
    reencoded_paragraphs: Option<usize>,
    seconds: f64,
}

#[derive(Serialize)]
struct TaskRow {
    model: TaskResult,
    dense: Option<TaskResult>,
}

pub async fn run(a: &EvalArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let model = Opened::open(&a.model, a.stream).await?;
    let dense = match &a.dense {
        Some(d) => Some(Opened::open(d, a.stream).await?),
        None => None,
    };
    let tasks: Vec<eval::Task> =
        if a.tasks.iter().any(|t| t == "none") { Vec::new() } else { a.tasks.iter().map(|t| eval::task(t)).collect::<Result<_, _>>()? };
    let data = match &a.data {
        Some(d) => d.clone(),
        None => std::env::var_os("COMPACT_CACHE")
            .map_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/compact"), PathBuf::from)
            .join("eval"),
    };
    let device = crate::open_device(a.device).await;
    eprintln!("evaluating on {}", device.name());
    let limit = (a.limit > 0).then_some(a.limit);

    let mut rows = Vec::new();
    let mut saved = String::new();
    for task in &tasks {
        let path = data.join(format!("{}.jsonl", task.name));
        if !path.is_file() {
            bail!("{} is missing: run scripts/fixtures/fetch-eval.sh (or pass --data DIR)", path.display());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let items = eval::parse_requests(&path.display().to_string(), &text, limit)?;
        let mut results = Vec::new();
        for m in std::iter::once(&model).chain(dense.as_ref()) {
            let seqs = eval::requests(m.tok(), m.bos, &items)?;
            if std::ptr::eq(m, &model) && a.save_requests.is_some() {
                for r in &seqs {
                    let line = serde_json::json!({ "task": task.name, "tokens": r.tokens, "targets": [r.targets.start, r.targets.end] });
                    saved.push_str(&format!("{line}\n"));
                }
            }
            let scores = m.score(&device, &seqs, &format!("{} ({} choices)", task.name, seqs.len())).await?;
            results.push(eval::accuracy(task.name, &items, &scores));
        }
        let row = TaskRow { dense: results.get(1).cloned(), model: results.swap_remove(0) };
        print_row(task.title, &row);
        rows.push(row);
    }

    if let Some(path) = &a.save_requests {
        std::fs::write(path, saved).with_context(|| format!("cannot write {}", path.display()))?;
    }

    // Perplexity on held-out text as the evaluated model splits it; the dense model
    // reads the same tokens (mapped to its ids).
    let mut reencoded = None;
    if let Some(d) = &dense {
        let (paragraphs, tokens) = eval::reencode_check(model.tok(), d.tok(), eval::held_out_text())?;
        println!(
            "tokenizer: {paragraphs} held-out paragraphs ({tokens} tokens) made of kept tokens re-encode exactly as with the dense tokenizer"
        );
        reencoded = Some(paragraphs);
    }
    let bar = crate::bar("{msg:32} [{bar:40}] {pos}/{len} ({eta})");
    let mut progress = |which: &str, p: compact::Progress| {
        bar.set_message(format!("perplexity ({which})"));
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let dense_scorer = dense.as_ref().map(Opened::scorer);
    let text = eval::held_out_text();
    let c = eval::compare(
        &device,
        &model.scorer(),
        dense_scorer.as_ref(),
        text,
        a.ppl_windows,
        a.ppl_seq_len,
        &mut progress,
        &Default::default(),
    )
    .await?;
    bar.finish_and_clear();
    let (ppl, dense_ppl, agreement, tokens) = (c.perplexity, c.dense_perplexity, c.agreement, c.tokens);
    println!("perplexity on {tokens} held-out tokens: {ppl:.2}{}", dense_ppl.map_or(String::new(), |d| format!(" (dense {d:.2})")));
    if let Some(g) = agreement {
        println!("top-1 agreement with the dense model: {:.1}%", 100.0 * g);
    }
    if !rows.is_empty() {
        let mean =
            |f: &dyn Fn(&TaskRow) -> Option<f64>| -> Option<f64> { rows.iter().map(f).sum::<Option<f64>>().map(|s| s / rows.len() as f64) };
        let avg = mean(&|r| Some(r.model.acc)).unwrap_or_default();
        let dense_avg = mean(&|r| r.dense.as_ref().map(|d| d.acc));
        println!(
            "average acc {:.1}{}",
            100.0 * avg,
            dense_avg.map_or(String::new(), |d| format!(" (dense {:.1}: {:.1}% of it)", 100.0 * d, 100.0 * avg / d))
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("evaluated in {seconds:.0} s");
    if let Some(path) = &a.json {
        let results = Results {
            model: model.model.name.clone(),
            dense: dense.as_ref().map(|d| d.model.name.clone()),
            limit: a.limit,
            tasks: rows,
            perplexity: Some(ppl),
            dense_perplexity: dense_ppl,
            perplexity_tokens: tokens,
            top1_agreement: agreement,
            reencoded_paragraphs: reencoded,
            seconds,
        };
        std::fs::write(path, serde_json::to_string_pretty(&results)? + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn print_row(title: &str, r: &TaskRow) {
    let m = &r.model;
    print!("{title:<6} {:>4} questions  acc {:5.1}  acc_norm {:5.1}", m.items, 100.0 * m.acc, 100.0 * m.acc_norm);
    if let Some(d) = &r.dense {
        print!("   dense: acc {:5.1}  acc_norm {:5.1}", 100.0 * d.acc, 100.0 * d.acc_norm);
    }
    println!();
}
