//! The whole job, paper Algorithm 1 end to end, written once for the CLI and the app:
//! plan (V', I') → rare set S → calibration with the common-token mask → top-I'
//! channels → export. The shells build a [`Request`], open a [`Device`] and an output
//! folder, call [`run`], and show the [`Event`]s and the [`Outcome`].

use super::calib::{self, CalibText, Calibration};
use super::export::{self, ExportSummary, Replaced};
use super::plan::{PrunePlan, Target};
use super::rare::{self, RareBy};
use super::repair::{self, RepairReport};
use super::select::{self, KeepSet, Score};
use crate::engine::Device;
use crate::error::PlanError;
use crate::error::{Error, Result};
use crate::io::{MemSource, ModelFolder, OutputFolder};
use crate::model::names;
use crate::model::{Checkpoint, ModelInfo};
use crate::progress::{Cancel, Progress, now};
use crate::tokenizer::TokenizerFile;

/// A model folder opened for pruning: its header and config, and its tokenizer.json.
pub struct Model<F> {
    /// A short name ("smollm2-135m"), for importance files and output names.
    pub name: String,
    /// Where its files are.
    pub folder: F,
    /// config.json and the safetensors headers.
    pub info: ModelInfo,
    /// tokenizer.json, when the folder has one.
    pub tokenizer: Option<TokenizerFile>,
}

impl<F: ModelFolder> Model<F> {
    /// Reads config.json, the safetensors headers (checked against the config) and
    /// tokenizer.json; no weights.
    pub async fn open(name: impl Into<String>, folder: F) -> Result<Self> {
        let info = ModelInfo::load(&folder).await?;
        info.check_tensors()?;
        let tokenizer = TokenizerFile::read(&folder, &info.config).await?;
        Ok(Self { name: name.into(), folder, info, tokenizer })
    }

    /// The tokenizer, or a [`Error::MissingFile`] saying `needed_for` needs it.
    pub fn tokenizer(&self, needed_for: &str) -> Result<&tokenizers::Tokenizer> {
        match &self.tokenizer {
            Some(t) => t.tokenizer(),
            None => Err(Error::missing_tokenizer(format!("{needed_for} (looked in {})", self.folder.describe()))),
        }
    }
}

/// An importance file given instead of calibrating (written by an earlier run).
#[derive(Debug, Clone)]
pub struct ImportanceFile {
    /// How messages name it.
    pub name: String,
    /// Its bytes (a few hundred kB: one f32 per channel and layer).
    pub bytes: Vec<u8>,
}

/// What to prune and how: every option of the CLI's `prune` and of the app's run step.
#[derive(Debug, Clone)]
pub struct Request {
    /// The sizes, or the share of parameters to remove.
    pub target: Target,
    /// How the rare set S is chosen.
    pub rare_by: RareBy,
    /// The calibration text (for channel importance and for [`RareBy::Freq`]).
    pub text: CalibText,
    /// Calibration windows N.
    pub samples: usize,
    /// Tokens per window L.
    pub seq_len: usize,
    /// The common-token mask (the paper); `false` counts every position (plain act²,
    /// an ablation).
    pub mask: bool,
    /// Channel importance to reuse instead of calibrating.
    pub importance: Option<ImportanceFile>,
    /// How channels are ranked (the paper's act², or weighed by down_proj).
    pub score: Score,
    /// Refit the kept down_proj columns by least squares ([`repair`]): `Some(ridge)`
    /// with this ridge (relative to the mean diagonal of the kept channels' second
    /// moment), or the fit's own default ([`repair::RepairMode::default_ridge`]) for
    /// `Some(None)`; `None` slices them as the paper does.
    pub repair: Option<Option<f64>>,
    /// With repair: what each layer is fitted on and to.
    pub repair_mode: repair::RepairMode,
}

impl Request {
    /// The paper's defaults for `target`: rare set by id, the built-in text, 16 × 512
    /// tokens, the mask on.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            rare_by: RareBy::Id,
            text: CalibText::default(),
            samples: calib::DEFAULT_SAMPLES,
            seq_len: calib::DEFAULT_SEQ_LEN,
            mask: true,
            importance: None,
            score: Score::Act2,
            repair: None,
            repair_mode: repair::RepairMode::Residual,
        }
    }
}

/// The job's phases, for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The forward passes of calibration.
    Calibrating,
    /// Writing the pruned folder.
    Writing,
}

/// What the job tells its shell as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan, before any weight is read.
    Planned(&'a PrunePlan),
    /// Something the user should know that does not stop the job.
    Note(String),
    /// Calibration starts on `device`.
    Calibrating {
        /// The device's name.
        device: &'a str,
        /// The windows it runs on.
        windows: &'a calib::CalibWindows,
        /// The text's name.
        text: &'a str,
        /// Positions counted with weight 0.
        masked: usize,
    },
    /// Progress within a phase.
    Progress(Phase, Progress),
}

/// Seconds by phase.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Phases {
    /// Planning and choosing the rare set.
    pub plan: f64,
    /// Calibration (or reading the importance file).
    pub calibration: f64,
    /// Writing the folder.
    pub export: f64,
    /// The whole job.
    pub total: f64,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// The plan it carried out.
    pub plan: PrunePlan,
    /// Kept token ids (ascending), `None` when the vocabulary stayed whole.
    pub kept_tokens: Option<Vec<u32>>,
    /// Kept channels of every layer, `None` when the FFN stayed whole.
    pub channels: Option<Vec<Vec<u32>>>,
    /// The calibration, when one ran.
    pub calibration: Option<Calibration>,
    /// The run's calibration text (what calibration ran on, when it ran; agreement
    /// is measured on it).
    pub text: CalibText,
    /// Vocabulary rows the mask kept (V when the mask was off).
    pub mask_vocab: usize,
    /// The device calibration ran on, and its peak GPU buffer bytes.
    pub device: Option<(String, Option<u64>)>,
    /// What the repair of down_proj did, when it ran.
    pub repair: Option<RepairReport>,
    /// The files written, the parameters, the input files left out.
    pub export: ExportSummary,
    /// How channels were ranked (what an importance file of this run holds).
    pub score: Score,
    /// Seconds by phase.
    pub seconds: Phases,
}

impl Outcome {
    /// The importance file of this run's calibration (see [`select::importance_file`]),
    /// with `model` as the model's name in its metadata.
    pub fn importance_file(&self, model: &str) -> Option<Vec<u8>> {
        let c = self.calibration.as_ref()?;
        let mut metadata = c.metadata(model, &self.text.name, &self.text.text, self.mask_vocab);
        metadata.insert("score".into(), self.score.key().into());
        Some(select::importance_file(&c.importance, &metadata))
    }
}

/// Runs the job on `model` with `request`, calibrating on `device` and writing into
/// `out` (committed only when everything succeeded). `events` hears the plan, notes,
/// and progress; `cancel` stops it between dispatches.
pub async fn run<F: ModelFolder, O: OutputFolder>(
    model: &Model<F>,
    request: &Request,
    device: &Device,
    out: O,
    events: &mut dyn FnMut(Event),
    cancel: &Cancel,
) -> Result<Outcome> {
    let start = now();
    let mut seconds = Phases::default();
    let cfg = &model.info.config;
    let counts = model.info.breakdown().counted;

    // Plan: sizes first, from the header alone (and the tokenizer's protected tokens).
    let vocab_pruned = match request.target {
        Target::Ratio(_) => true,
        Target::Sizes { vocab, .. } => vocab.is_some_and(|v| v != cfg.vocab_size),
    };
    if vocab_pruned && model.tokenizer.is_none() {
        model.tokenizer("vocabulary pruning rewrites it")?;
    }
    if let (Some(Err(e)), Target::Ratio(_)) = (model.tokenizer.as_ref().map(|t| &t.vocab), request.target) {
        events(Event::Note(format!("{e}; planning FFN-only pruning")));
    }
    if request.score == Score::Obs && request.repair.is_none() {
        return Err(PlanError::ScoreNeedsRepair { score: request.score.key() }.into());
    }
    let plan = PrunePlan::for_target(cfg, &counts, request.target, model.tokenizer.as_ref())?;
    events(Event::Planned(&plan));
    // The output must fit where it goes: found out now, not after calibration.
    let needed = plan.file_bytes(model.info.bytes_per_param()) + model.tokenizer.as_ref().map_or(0, |t| t.bytes.len() as u64);
    if let Some(free) = out.free_bytes().await
        && free < needed
    {
        return Err(Error::NoSpace { needed: needed.div_ceil(1_000_000), free: free / 1_000_000 });
    }

    // The rare set S. The calibration text is needed for channel importance and for
    // choosing S by frequency.
    let (v2, i2) = (plan.vocab.1, plan.ffn.1);
    let needs_channels = i2 < cfg.intermediate_size && request.importance.is_none();
    let needs_text = needs_channels || (request.rare_by == RareBy::Freq && v2 < cfg.vocab_size);
    let tok = if needs_text { Some(model.tokenizer("calibration tokenizes text")?) } else { None };
    let text = tok.map(|t| (t, &*request.text.text));
    let kept_tokens = rare::kept_tokens(cfg, model.tokenizer.as_ref(), v2, request.rare_by, text)?;
    // The common-token mask keeps what the vocabulary keeps; without it, every position counts.
    let mask_kept = kept_tokens.as_deref().filter(|_| request.mask);
    let mask_vocab = mask_kept.map_or(cfg.vocab_size, <[u32]>::len);
    seconds.plan = now() - start;

    // Channel importance, then the top I' channels of every layer (and, with repair,
    // their refitted down_proj).
    let t0 = now();
    let (mut calibration, mut device_used, mut repair_report) = (None, None, None);
    let mut replaced = Replaced::new();
    let channels = match &request.importance {
        // The FFN kept whole: nothing to rank, nothing to repair.
        _ if i2 == cfg.intermediate_size => None,
        Some(_) if request.repair.is_some() => return Err(PlanError::RepairNeedsCalibration.into()),
        Some(file) => {
            let importance = select::read_importance(&MemSource::new(file.name.clone(), file.bytes.clone()), cfg).await?;
            Some(select::top_channels(&importance, i2)?)
        }
        None => {
            let tok = tok.expect("needs_text when channels are calibrated");
            let (windows, weights) = windows(request, tok, mask_kept, events)?;
            let ck = Checkpoint::open(&model.folder, &model.info).await?;
            let start = now();
            let (c, channels) = match request.repair {
                None => {
                    events(Event::Calibrating {
                        device: &device.name(),
                        windows: &windows,
                        text: &request.text.name,
                        masked: masked(&weights),
                    });
                    let sink = &mut |p| events(Event::Progress(Phase::Calibrating, p));
                    let mut c = calib::calibrate(device, cfg, &ck, windows, &weights, sink, cancel).await?;
                    device_used = Some((device.described().await, device.peak_bytes()));
                    c.importance = select::scores(request.score, cfg, &ck, c.importance).await?;
                    let channels = select::top_channels(&c.importance, i2)?;
                    (c, channels)
                }
                Some(ridge) => {
                    events(Event::Calibrating {
                        device: &device.name(),
                        windows: &windows,
                        text: &request.text.name,
                        masked: masked(&weights),
                    });
                    let mut mode = request.repair_mode;
                    if mode == repair::RepairMode::Residual && cfg.norms_per_layer() == 4 {
                        events(Event::Note(
                            "with a norm after the FFN (Gemma) the repair fits each layer to its own output (sequential) rather than back onto the dense stream (residual)".into(),
                        ));
                        mode = repair::RepairMode::Sequential;
                    }
                    let rel_lambda = ridge.unwrap_or(mode.default_ridge());
                    let sink = &mut |p| events(Event::Progress(Phase::Calibrating, p));
                    let data = (&windows.tokens[..], windows.seq_len, &weights[..]);
                    let opts = repair::RepairOptions { keep: i2, score: request.score, rel_lambda, mode };
                    let r = repair::calibrate_and_repair(device, cfg, &ck, data, opts, sink, cancel).await?;
                    device_used = Some((device.described().await, device.peak_bytes()));
                    for (l, bytes) in r.down.into_iter().enumerate() {
                        replaced.insert(names::mlp(l, "down_proj"), bytes);
                    }
                    repair_report = Some(r.report);
                    let masked = masked(&weights);
                    (Calibration { importance: r.scores, windows, masked, seconds: now() - start }, r.channels)
                }
            };
            calibration = Some(c);
            Some(channels)
        }
    };
    seconds.calibration = now() - t0;
    cancel.check()?;

    // The pruned folder, streamed from the source files.
    let t0 = now();
    let keep = KeepSet { tokens: kept_tokens, channels };
    let progress = &mut |p| events(Event::Progress(Phase::Writing, p));
    let export = export::export(&model.folder, &model.info, &keep, &replaced, Some(plan.after.total()), out, progress).await?;
    seconds.export = now() - t0;
    seconds.total = now() - start;
    let text = request.text.clone();
    Ok(Outcome {
        plan,
        kept_tokens: keep.tokens,
        channels: keep.channels,
        calibration,
        text,
        mask_vocab,
        device: device_used,
        repair: repair_report,
        score: request.score,
        export,
        seconds,
    })
}

/// The calibration windows of the request's text and their act² weights from the
/// mask (`kept`), with a note when the text is shorter than asked for.
fn windows(
    request: &Request,
    tok: &tokenizers::Tokenizer,
    kept: Option<&[u32]>,
    events: &mut dyn FnMut(Event),
) -> Result<(calib::CalibWindows, Vec<f32>)> {
    let (windows, weights) = calib::prepare_windows(tok, &request.text.text, request.samples, request.seq_len, kept)?;
    if windows.count < request.samples {
        events(Event::Note(format!(
            "{} has {} tokens, enough for {} of the {} windows asked for",
            request.text.name, windows.text_tokens, windows.count, request.samples
        )));
    }
    Ok((windows, weights))
}

/// Positions counted with weight 0.
fn masked(weights: &[f32]) -> usize {
    weights.iter().filter(|&&w| w == 0.0).count()
}
