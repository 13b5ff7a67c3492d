//! `compact bakeoff`: the library's bake-off ([`compact::prune::bakeoff`]) with a
//! directory per method, zero-shot accuracy on the six tasks with `--limit`, a table
//! and `bakeoff.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use compact::engine::DeviceKind;
use compact::io::{DirFolder, DirOutput};
use compact::progress::Cancel;
use compact::prune::bakeoff::{self, Row, Scoring, Step, Workspace};
use compact::prune::{Event, Model, Request, Target, parse_ratio};

use crate::eval::EvalArgs;
use crate::prune::CalibArgs;

/// Arguments of `compact bakeoff`.
#[derive(clap::Args)]
pub struct BakeoffArgs {
    /// The dense model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Where the pruned folders and the JSON go (one subfolder per method).
    #[arg(long)]
    pub out: PathBuf,
    /// Target reductions of all parameters (0.35 or 35%; several, comma-separated, for
    /// a curve); or give --vocab and --ffn.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["vocab", "ffn"])]
    pub ratio: Vec<String>,
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
    /// Windows of held-out text for perplexity and agreement.
    #[arg(long, default_value_t = 8)]
    pub ppl_windows: usize,
    /// Tokens per held-out window.
    #[arg(long, default_value_t = 256)]
    pub ppl_seq_len: usize,
    /// Keep the pruned folders (by default each is removed once evaluated).
    #[arg(long)]
    pub keep: bool,
    /// Only these methods (comma-separated keys; see the table's first column).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// The CLI's workspace: a directory per method under `--out`, evaluated on the six
/// tasks with `--limit`, removed once measured unless `--keep`.
struct Dirs<'a> {
    args: &'a BakeoffArgs,
}

impl Dirs<'_> {
    fn dir(&self, key: &str) -> PathBuf {
        self.args.out.join(key)
    }
}

impl Workspace for Dirs<'_> {
    type Out = DirOutput;
    type Pruned = DirFolder;

    fn output(&mut self, key: &str) -> compact::Result<DirOutput> {
        DirOutput::new(self.dir(key), true, &[&self.args.model])
    }

    fn written(&mut self, key: &str) -> compact::Result<DirFolder> {
        DirFolder::new(self.dir(key))
    }

    async fn finish(&mut self, key: &str, row: &mut Row) -> compact::Result<()> {
        let dir = self.dir(key);
        if self.args.limit > 0 {
            let json = dir.with_extension("eval.json");
            let args = EvalArgs {
                model: dir.clone(),
                dense: None,
                tasks: compact::eval::TASKS.iter().map(|t| t.name.to_string()).collect(),
                limit: self.args.limit,
                data: None,
                ppl_windows: 1,
                ppl_seq_len: 32,
                device: self.args.device,
                json: Some(json.clone()),
                stream: false,
                save_requests: None,
            };
            let read = async {
                crate::eval::run(&args).await?;
                let e: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
                anyhow::Ok(
                    e["tasks"].as_array().map(|t| t.iter().filter_map(|x| x["model"]["acc"].as_f64()).sum::<f64>() / t.len().max(1) as f64),
                )
            };
            row.tasks_average = read.await.map_err(|e| compact::Error::io(json.display().to_string(), format!("{e:#}")))?;
        }
        if !self.args.keep {
            std::fs::remove_dir_all(&dir).map_err(|e| compact::Error::io(dir.display().to_string(), e))?;
        }
        Ok(())
    }
}

/// Runs `compact bakeoff`.
pub async fn run(a: &BakeoffArgs) -> Result<()> {
    let methods = bakeoff::methods(&a.only).map_err(|k| {
        let keys: Vec<_> = bakeoff::METHODS.iter().map(|m| m.key).collect();
        anyhow::anyhow!("--only: no method {k:?}; the methods are {}", keys.join(", "))
    })?;
    let model = Model::open(crate::prune::model_name(&a.model), DirFolder::new(&a.model)?).await?;
    anyhow::ensure!(
        !a.ratio.is_empty() || a.vocab.is_some() || a.ffn.is_some(),
        "give the sizes to compare at: --ratio (e.g. 35% or 20%,35%,50%), or --vocab and --ffn"
    );
    let targets: Vec<Target> = if a.ratio.is_empty() {
        vec![Target::Sizes { vocab: a.vocab, ffn: a.ffn }]
    } else {
        a.ratio.iter().map(|r| Ok(Target::Ratio(parse_ratio(r)?))).collect::<compact::Result<_>>()?
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
    let mut base = Request::new(targets[0]);
    (base.text, base.samples, base.seq_len) = (a.calibration.text()?, a.calibration.samples, a.calibration.seq_len);
    let device = crate::open_device(a.device).await;
    let scoring = Scoring { windows: a.ppl_windows, seq_len: a.ppl_seq_len };
    let bar = crate::bar("{msg:32} [{bar:40}] {pos}/{len} ({eta})");
    let mut steps = |s: Step| match s {
        Step::Started { method, plan, index, of } => bar.println(format!(
            "── {} at V′ {}, I′ {} ({:.1}% removed) · {}/{of} ──",
            method.title,
            plan.vocab.1,
            plan.ffn.1,
            100.0 * plan.reduction(),
            index + 1
        )),
        Step::Skipped(m, why) => bar.println(format!("{}: skipped, {why}", m.key)),
        Step::Job(Event::Note(n)) => bar.println(format!("note: {n}")),
        Step::Job(Event::Progress(_, p)) | Step::Scoring(_, p) => {
            bar.set_message(p.stage);
            bar.set_length(p.total);
            bar.set_position(p.done);
        }
        Step::Job(_) => {}
        Step::Done(r) => bar.println(format!(
            "{}: perplexity {:.2}, top-1 agreement {} in {:.0} s",
            r.method,
            r.perplexity,
            r.top1_agreement.map_or("—".into(), |g| format!("{:.1}%", 100.0 * g)),
            r.prune_seconds
        )),
    };
    let mut ws = Dirs { args: a };
    let rows = bakeoff::run(&model, &base, &methods, &targets, scoring, &device, &mut ws, &mut steps, &Cancel::default()).await?;
    bar.finish_and_clear();

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
