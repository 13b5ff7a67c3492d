//! The bake-off: pruning methods side by side at the same sizes, written once for the
//! CLI's `compact bakeoff` and the app's bake-off step. At every target (V′, I′) it
//! prunes with COMPACT as in the paper, its ablations (plain act², the vocabulary alone
//! at equal parameters, the rare set by frequency), the weight-aware score, and each
//! with the repair of down_proj — every one through the library's [`job`](super::job)
//! — and scores the pruned model against the dense one on the built-in held-out text
//! (perplexity on the same tokens, top-1 agreement). The weight-aware score reuses the
//! paper's calibration at the same size (its act² weighed by down_proj); the other
//! methods calibrate with their own mask, rare set or repair.
//!
//! Where the pruned folders go, and what else is measured on them (zero-shot accuracy
//! in the CLI), is the shell's [`Workspace`].

use serde::Serialize;

use super::job::{self, Event, ImportanceFile, Model, Request};
use super::plan::{PrunePlan, Target};
use super::rare::RareBy;
use super::select::{self, Score};
use crate::engine::Device;
use crate::error::Result;
use crate::eval::{self, Scorer};
use crate::io::{ModelFolder, OutputFolder};
use crate::model::Checkpoint;
use crate::progress::{Cancel, Progress};

/// One pruning method of the bake-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// Its key in tables and on the command line ("compact", "weight+repair").
    pub key: &'static str,
    /// What the table calls it.
    pub title: &'static str,
    /// The vocabulary alone removes as many parameters as the target (the FFN stays whole).
    pub vocab_only: bool,
    /// Whether the common-token mask weighs calibration (the paper) or every position counts.
    pub mask: bool,
    /// How the rare set is chosen.
    pub rare_by: RareBy,
    /// How channels are ranked.
    pub score: Score,
    /// Whether down_proj is refitted (with the request's repair mode).
    pub repair: bool,
}

const fn method(key: &'static str, title: &'static str, mask: bool, rare_by: RareBy, score: Score, repair: bool) -> Method {
    Method { key, title, vocab_only: false, mask, rare_by, score, repair }
}

/// The methods, in the table's order.
pub const METHODS: [Method; 9] = [
    method("compact", "COMPACT (the paper)", true, RareBy::Id, Score::Act2, false),
    method("plain-act2", "plain act² (no common-token mask)", false, RareBy::Id, Score::Act2, false),
    Method {
        key: "vocab-only",
        title: "vocabulary only, equal parameters",
        vocab_only: true,
        mask: true,
        rare_by: RareBy::Id,
        score: Score::Act2,
        repair: false,
    },
    method("freq", "rare set by frequency", true, RareBy::Freq, Score::Act2, false),
    method("weight", "weight-aware score", true, RareBy::Id, Score::Act2Weight, false),
    method("compact+repair", "COMPACT + repair", true, RareBy::Id, Score::Act2, true),
    method("plain-act2+repair", "plain act² + repair", false, RareBy::Id, Score::Act2, true),
    method("freq+repair", "rare set by frequency + repair", true, RareBy::Freq, Score::Act2, true),
    method("weight+repair", "weight-aware score + repair", true, RareBy::Id, Score::Act2Weight, true),
];

/// The method with `key`, if there is one.
pub fn method_named(key: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.key == key)
}

impl Method {
    /// Whether this method is COMPACT's calibration weighed by down_proj afterwards
    /// (so the paper's calibration at the same size serves it).
    fn reweighs_paper(&self) -> bool {
        self.score == Score::Act2Weight && self.mask && self.rare_by == RareBy::Id && !self.repair && !self.vocab_only
    }

    /// The sizes this method prunes to at `plan`'s target: (V′, I′) for all but the
    /// vocabulary-only method, which removes as many parameters with the vocabulary
    /// alone; `None` when it cannot.
    pub fn sizes(&self, plan: &PrunePlan) -> Option<(usize, usize)> {
        if self.vocab_only { vocab_only_size(plan).map(|v| (v, plan.ffn.0)) } else { Some((plan.vocab.1, plan.ffn.1)) }
    }

    /// The job's request for this method at sizes (V′, I′), from the shell's `base`
    /// (calibration text, windows, repair mode).
    pub fn request(&self, base: &Request, (vocab, ffn): (usize, usize)) -> Request {
        Request {
            target: Target::Sizes { vocab: Some(vocab), ffn: Some(ffn) },
            rare_by: self.rare_by,
            mask: self.mask,
            score: self.score,
            importance: None,
            repair: self.repair.then_some(None),
            ..base.clone()
        }
    }
}

/// The V″ that removes as many parameters as `plan` with the vocabulary alone (a
/// multiple of 64), or `None` when the vocabulary cannot shrink that far.
pub fn vocab_only_size(plan: &PrunePlan) -> Option<usize> {
    let v = plan.vocab.0 as u64;
    let per_row = (plan.before.embedding + plan.before.lm_head) / v.max(1);
    let removed = plan.before.total().saturating_sub(plan.after.total());
    let rows = removed.div_ceil(per_row.max(1));
    (rows < v).then(|| ((v - rows) / 64 * 64) as usize)
}

/// How the pruned models are scored against the dense one: windows of the built-in
/// held-out text ([`eval::held_out_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scoring {
    /// Windows.
    pub windows: usize,
    /// Tokens per window.
    pub seq_len: usize,
}

/// One method at one target: what it kept and how close it stayed to the dense model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The method's key.
    pub method: String,
    /// The method's title.
    pub title: String,
    /// The target reduction asked for (share of all parameters), when a ratio was given.
    pub target: Option<f64>,
    /// V′.
    pub vocab: usize,
    /// I′.
    pub ffn: usize,
    /// Parameters after pruning.
    pub params: u64,
    /// Share of all parameters removed.
    pub reduction: f64,
    /// Held-out perplexity of the pruned model.
    pub perplexity: f64,
    /// The dense model's, on the same tokens.
    pub dense_perplexity: Option<f64>,
    /// Share of positions where pruned and dense predict the same next token.
    pub top1_agreement: Option<f64>,
    /// Positions scored.
    pub tokens: usize,
    /// Mean zero-shot accuracy over the tasks the shell ran (the CLI with `--limit`).
    pub tasks_average: Option<f64>,
    /// Seconds the job took (calibration, repair, writing).
    pub prune_seconds: f64,
    /// Seconds of calibration, when this method ran its own (`None`: it reused the
    /// paper's, or kept the FFN whole).
    pub calibration_seconds: Option<f64>,
    /// Seconds of the repair (second moments and solves), when it ran.
    pub repair_seconds: Option<f64>,
}

/// Where a bake-off's pruned folders are written and read back: a directory per method
/// natively, Blobs in the browser.
#[allow(async_fn_in_trait)]
pub trait Workspace {
    /// The output folder a method is pruned into.
    type Out: OutputFolder;
    /// That folder once written, to read back.
    type Pruned: ModelFolder;
    /// An empty output for the method and target named `key`.
    fn output(&mut self, key: &str) -> Result<Self::Out>;
    /// The folder written into `output(key)`.
    fn written(&mut self, key: &str) -> Result<Self::Pruned>;
    /// The shell's own measurements of the pruned folder (into `row`), then its
    /// cleanup; called once the row is scored.
    async fn finish(&mut self, key: &str, row: &mut Row) -> Result<()>;
}

/// What a bake-off tells its shell as it goes.
#[derive(Debug)]
pub enum Step<'a> {
    /// A method starts at a target: the `index`-th run of `of` in all.
    Started {
        /// The method.
        method: &'a Method,
        /// The plan of the target.
        plan: &'a PrunePlan,
        /// Runs before this one.
        index: usize,
        /// Runs in all.
        of: usize,
    },
    /// A method was left out at a target, and why.
    Skipped(&'a Method, String),
    /// An event of the job pruning it.
    Job(Event<'a>),
    /// Scoring against the dense model ("model" or "dense").
    Scoring(&'a str, Progress),
    /// A row is complete.
    Done(&'a Row),
}

/// The key of a method at the `t`-th of `targets` targets: its own key when there is
/// one target, else suffixed with the target ("compact@35%").
pub fn run_key(method: &Method, target: &Target, targets: usize) -> String {
    match (targets, target) {
        (1, _) => method.key.to_string(),
        (_, Target::Ratio(r)) => format!("{}@{:.0}%", method.key, 100.0 * r),
        (_, Target::Sizes { vocab, ffn }) => {
            format!("{}@{}x{}", method.key, vocab.map_or("V".into(), |v| v.to_string()), ffn.map_or("I".into(), |i| i.to_string()))
        }
    }
}

/// Runs `methods` at every one of `targets` on `model`, each pruned with `base`'s
/// calibration settings on `device` into `ws` and scored against the dense model.
/// Returns the rows in order (target by target, method by method); a method that
/// cannot reach a target (the vocabulary alone, too deep) is skipped with a
/// [`Step::Skipped`].
#[allow(clippy::too_many_arguments)]
pub async fn run<F: ModelFolder, W: Workspace>(
    model: &Model<F>,
    base: &Request,
    methods: &[&Method],
    targets: &[Target],
    scoring: Scoring,
    device: &Device,
    ws: &mut W,
    steps: &mut dyn FnMut(Step),
    cancel: &Cancel,
) -> Result<Vec<Row>> {
    let cfg = &model.info.config;
    let counts = model.info.breakdown().counted;
    let dense_ck = Checkpoint::open(&model.folder, &model.info).await?;
    let dense = Scorer { cfg, ck: &dense_ck, tok: model.tokenizer("the bake-off scores the dense model")? };
    // A vocabulary below the tokens that must stay leaves a method out at a target, not
    // the whole bake-off.
    let must_stay = model.tokenizer.as_ref().map_or(0, |t| t.min_rows(cfg));
    let of = targets.len() * methods.len();
    let mut rows = Vec::with_capacity(of);
    for (t, target) in targets.iter().enumerate() {
        let plan = PrunePlan::for_target(cfg, &counts, *target, model.tokenizer.as_ref())?;
        // The paper's act² at this size, for the weight-aware score.
        let mut paper: Option<Vec<Vec<f64>>> = None;
        for (i, m) in methods.iter().enumerate() {
            cancel.check()?;
            let Some(sizes) = m.sizes(&plan) else {
                steps(Step::Skipped(m, "the vocabulary alone cannot remove as many parameters".into()));
                continue;
            };
            if sizes.0 < must_stay {
                steps(Step::Skipped(m, format!("the vocabulary alone would go below the {must_stay} tokens that must stay")));
                continue;
            }
            steps(Step::Started { method: m, plan: &plan, index: t * methods.len() + i, of });
            let mut request = m.request(base, sizes);
            if let (true, Some(act2)) = (m.reweighs_paper(), &paper) {
                let weighed = select::scores(Score::Act2Weight, cfg, &dense_ck, act2.clone()).await?;
                let bytes = select::importance_file(&weighed, &Default::default());
                request.importance = Some(ImportanceFile { name: "the paper's calibration weighed by down_proj".into(), bytes });
            }
            let key = run_key(m, target, targets.len());
            let outcome = job::run(model, &request, device, ws.output(&key)?, &mut |e| steps(Step::Job(e)), cancel).await?;
            if m.key == "compact" {
                paper = outcome.calibration.as_ref().map(|c| c.importance.clone());
            }
            let pruned = Model::open(key.clone(), ws.written(&key)?).await?;
            let ck = Checkpoint::open(&pruned.folder, &pruned.info).await?;
            let scorer = Scorer { cfg: &pruned.info.config, ck: &ck, tok: pruned.tokenizer("the bake-off scores the pruned model")? };
            let c = eval::compare(
                device,
                &scorer,
                Some(&dense),
                eval::held_out_text(),
                scoring.windows,
                scoring.seq_len,
                &mut |who, p| steps(Step::Scoring(who, p)),
                cancel,
            )
            .await?;
            let mut row = Row {
                method: m.key.into(),
                title: m.title.into(),
                target: match target {
                    Target::Ratio(r) => Some(*r),
                    Target::Sizes { .. } => None,
                },
                vocab: sizes.0,
                ffn: sizes.1,
                params: outcome.plan.after.total(),
                reduction: outcome.plan.reduction(),
                perplexity: c.perplexity,
                dense_perplexity: c.dense_perplexity,
                top1_agreement: c.agreement,
                tokens: c.tokens,
                tasks_average: None,
                prune_seconds: outcome.seconds.total,
                calibration_seconds: outcome.calibration.as_ref().map(|c| c.seconds),
                repair_seconds: outcome.repair.as_ref().map(|r| r.gram_seconds + r.solve_seconds),
            };
            drop((ck, pruned));
            ws.finish(&key, &mut row).await?;
            steps(Step::Done(&row));
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The methods named by `keys` (all of them when empty), in the table's order, or the
/// first unknown key.
pub fn methods(keys: &[String]) -> std::result::Result<Vec<&'static Method>, String> {
    if let Some(bad) = keys.iter().find(|k| method_named(k).is_none()) {
        return Err(bad.clone());
    }
    Ok(METHODS.iter().filter(|m| keys.is_empty() || keys.iter().any(|k| k == m.key)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, ParamCounts};

    /// A small Llama: tied 4096 × 64 embedding, 2 layers of I = 256.
    fn small() -> (ModelConfig, ParamCounts) {
        let cfg = ModelConfig::from_value(serde_json::json!({"model_type": "llama", "hidden_size": 64, "intermediate_size": 256,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 4096,
            "tie_word_embeddings": true}))
        .unwrap();
        let counts =
            ParamCounts { embedding: 4096 * 64, lm_head: 0, ffn: 2 * 3 * 64 * 256, attention: 2 * 4 * 64 * 64, norms: 5 * 64, other: 0 };
        (cfg, counts)
    }

    #[test]
    fn vocabulary_only_removes_at_least_as_much_as_the_target() {
        let (cfg, counts) = small();
        let plan = PrunePlan::explicit(&cfg, &counts, Some(3072), Some(192)).unwrap();
        let v = vocab_only_size(&plan).unwrap();
        assert_eq!(v % 64, 0);
        let alone = PrunePlan::explicit(&cfg, &counts, Some(v), None).unwrap();
        assert!(alone.after.total() <= plan.after.total());
        // 64 rows more would not remove enough.
        let short = PrunePlan::explicit(&cfg, &counts, Some(v + 64), None).unwrap();
        assert!(short.after.total() > plan.after.total());
        // Removing more than the embedding holds cannot be done with the vocabulary alone.
        let deep = PrunePlan::explicit(&cfg, &counts, Some(64), Some(8)).unwrap();
        assert_eq!(vocab_only_size(&deep), None);
    }

    #[test]
    fn requests_follow_the_method() {
        let base = Request { samples: 3, seq_len: 17, ..Request::new(Target::Ratio(0.5)) };
        let r = method_named("weight+repair").unwrap().request(&base, (1000, 100));
        assert_eq!(r.target, Target::Sizes { vocab: Some(1000), ffn: Some(100) });
        assert_eq!((r.samples, r.seq_len, r.score, r.mask), (3, 17, Score::Act2Weight, true));
        assert_eq!(r.repair, Some(None), "the fit's own default ridge");
        let r = method_named("plain-act2").unwrap().request(&base, (1000, 100));
        assert_eq!((r.mask, r.repair), (false, None));
        assert!(method_named("weight").unwrap().reweighs_paper());
        assert!(!method_named("weight+repair").unwrap().reweighs_paper());
        assert_eq!(methods(&["freq".into(), "compact".into()]).unwrap().iter().map(|m| m.key).collect::<Vec<_>>(), ["compact", "freq"]);
        assert_eq!(methods(&["nope".into()]).unwrap_err(), "nope");
        assert_eq!(methods(&[]).unwrap().len(), METHODS.len());
    }

    #[test]
    fn keys_name_the_target_when_there_are_several() {
        let m = method_named("compact+repair").unwrap();
        assert_eq!(run_key(m, &Target::Ratio(0.35), 1), "compact+repair");
        assert_eq!(run_key(m, &Target::Ratio(0.35), 2), "compact+repair@35%");
        assert_eq!(run_key(m, &Target::Sizes { vocab: Some(16384), ffn: None }, 2), "compact+repair@16384xI");
    }
}
