//! `compact eval`: zero-shot accuracy on the six log-likelihood tasks, perplexity on
//! held-out text, and top-1 agreement with the dense model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use compact::calib;
use compact::eval::{self, Scored, TaskResult, TokenScore};
use compact::io::{ByteSource, DirFolder, ModelFolder};
use compact::model::{Checkpoint, ModelInfo};
use serde::Serialize;

use crate::prune::{Backend, open_gpu};

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
    /// Where scripts/fetch-eval.sh put the request files.
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
    #[arg(long, value_enum, default_value_t = Backend::Gpu)]
    pub backend: Backend,
    /// Also write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One model, open for scoring.
struct Model {
    name: String,
    info: ModelInfo,
    folder: DirFolder,
    tok: tokenizers::Tokenizer,
    bos: Option<u32>,
}

impl Model {
    async fn open(dir: &std::path::Path) -> Result<Self> {
        let folder = DirFolder::new(dir)?;
        let info = ModelInfo::load(&folder).await?;
        info.check_tensors()?;
        let tok =
            compact::tokenizer::load(&folder.require(compact::tokenizer::FILE, "evaluation tokenizes text").await?.read_to_end().await?)?;
        let bos = calib::bos_of(&tok)?;
        Ok(Self { name: dir.display().to_string(), info, folder, tok, bos })
    }

    async fn score(&self, backend: &calib::Backend<'_>, seqs: &[Scored], what: &str) -> Result<Vec<Vec<TokenScore>>> {
        let ck = Checkpoint::open(&self.folder, &self.info).await?;
        let bar = crate::prune::bar("{msg:32} [{bar:40}] {pos}/{len} ({eta})");
        bar.set_length(seqs.len() as u64);
        bar.set_message(what.to_string());
        let mut progress = |p: compact::Progress| bar.set_position(p.done);
        let out = eval::score(backend, &self.info.config, &ck, seqs, &mut progress, &Default::default()).await?;
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
    let model = Model::open(&a.model).await?;
    let dense = match &a.dense {
        Some(d) => Some(Model::open(d).await?),
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
    let gpu = open_gpu(a.backend).await;
    let backend = gpu.as_ref().map_or(calib::Backend::Cpu, calib::Backend::Gpu);
    eprintln!("evaluating on {}", gpu.as_ref().map_or("the CPU reference".to_string(), |g| g.report.name.clone()));
    let limit = (a.limit > 0).then_some(a.limit);

    let mut rows = Vec::new();
    for task in &tasks {
        let path = data.join(format!("{}.jsonl", task.name));
        if !path.is_file() {
            bail!("{} is missing: run scripts/fetch-eval.sh (or pass --data DIR)", path.display());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let items = eval::parse_requests(&path.display().to_string(), &text, limit)?;
        let mut results = Vec::new();
        for m in std::iter::once(&model).chain(dense.as_ref()) {
            let seqs = eval::requests(&m.tok, m.bos, &items)?;
            let scores = m.score(&backend, &seqs, &format!("{} ({} choices)", task.name, seqs.len())).await?;
            results.push(eval::accuracy(task.name, &items, &scores));
        }
        let row = TaskRow { dense: results.get(1).cloned(), model: results.swap_remove(0) };
        print_row(task.title, &row);
        rows.push(row);
    }

    // Perplexity on held-out text as the evaluated model splits it; the dense model
    // reads the same tokens (mapped to its ids).
    let windows = calib::windows(&model.tok, eval::held_out_text(), a.ppl_windows, a.ppl_seq_len)?;
    let seqs: Vec<Scored> =
        windows.tokens.chunks_exact(windows.seq_len).map(|w| Scored { tokens: w.to_vec(), targets: 1..w.len() }).collect();
    let scores = model.score(&backend, &seqs, "perplexity").await?;
    let ppl = eval::perplexity(&scores);
    let (mut dense_ppl, mut agreement, mut reencoded) = (None, None, None);
    if let Some(d) = &dense {
        let (paragraphs, tokens) = eval::reencode_check(&model.tok, &d.tok, eval::held_out_text())?;
        println!(
            "tokenizer: {paragraphs} held-out paragraphs ({tokens} tokens) made of kept tokens re-encode exactly as with the dense tokenizer"
        );
        reencoded = Some(paragraphs);
        let map = eval::id_map(&model.tok, &d.tok)?;
        let mapped: Vec<Scored> = seqs
            .iter()
            .map(|s| Scored { tokens: s.tokens.iter().map(|&t| map[t as usize]).collect(), targets: s.targets.clone() })
            .collect();
        let dense_scores = d.score(&backend, &mapped, "perplexity (dense)").await?;
        dense_ppl = Some(eval::perplexity(&dense_scores));
        agreement = Some(eval::agreement(&scores, &dense_scores, &map));
    }
    let tokens = seqs.iter().map(|s| s.targets.len()).sum();
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
            model: model.name.clone(),
            dense: dense.as_ref().map(|d| d.name.clone()),
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
