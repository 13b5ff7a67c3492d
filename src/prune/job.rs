//! The whole job, paper Algorithm 1 end to end, written once for the CLI and the app:
//! plan (V', I') → rare set S → calibration with the common-token mask → top-I'
//! channels → export. The shells build a [`Request`], open a [`Device`] and an output
//! folder, call [`run`], and show the [`Event`]s and the [`Outcome`].

use super::calib::{self, CalibText, Calibration};
use super::export::{self, ExportSummary};
use super::plan::{PrunePlan, Target};
use super::rare::{self, RareBy};
use super::select::{self, KeepSet};
use crate::engine::Device;
use crate::error::{Error, Result};
use crate::io::{MemSource, ModelFolder, OutputFolder};
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
    /// The files written, the parameters, the input files left out.
    pub export: ExportSummary,
    /// Seconds by phase.
    pub seconds: Phases,
}

impl Outcome {
    /// The importance file of this run's calibration (see [`select::importance_file`]),
    /// with `model` as the model's name in its metadata.
    pub fn importance_file(&self, model: &str) -> Option<Vec<u8>> {
        let c = self.calibration.as_ref()?;
        Some(select::importance_file(&c.importance, &c.metadata(model, &self.text.name, &self.text.text, self.mask_vocab)))
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

    // Channel importance, then the top I' channels of every layer.
    let t0 = now();
    let (mut calibration, mut device_used) = (None, None);
    let channels = match &request.importance {
        _ if i2 == cfg.intermediate_size => None,
        Some(file) => {
            let importance = select::read_importance(&MemSource::new(file.name.clone(), file.bytes.clone()), cfg).await?;
            Some(select::top_channels(&importance, i2)?)
        }
        None => {
            let tok = tok.expect("needs_text when channels are calibrated");
            let c = calibration.insert(calibrate(model, request, tok, mask_kept, device, events, cancel).await?);
            device_used = Some((device.name(), device.peak_bytes()));
            Some(select::top_channels(&c.importance, i2)?)
        }
    };
    seconds.calibration = now() - t0;
    cancel.check()?;

    // The pruned folder, streamed from the source files.
    let t0 = now();
    let keep = KeepSet { tokens: kept_tokens, channels };
    let progress = &mut |p| events(Event::Progress(Phase::Writing, p));
    let export = export::export(&model.folder, &model.info, &keep, Some(plan.after.total()), out, progress).await?;
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
        export,
        seconds,
    })
}

/// Calibration: windows of the request's text, weights from the mask (`kept`), the
/// forward passes on `device`.
async fn calibrate<F: ModelFolder>(
    model: &Model<F>,
    request: &Request,
    tok: &tokenizers::Tokenizer,
    kept: Option<&[u32]>,
    device: &Device,
    events: &mut dyn FnMut(Event),
    cancel: &Cancel,
) -> Result<Calibration> {
    let name = &request.text.name;
    let (windows, weights) = calib::prepare_windows(tok, &request.text.text, request.samples, request.seq_len, kept)?;
    if windows.count < request.samples {
        events(Event::Note(format!(
            "{name} has {} tokens, enough for {} of the {} windows asked for",
            windows.text_tokens, windows.count, request.samples
        )));
    }
    let masked = weights.iter().filter(|&&w| w == 0.0).count();
    events(Event::Calibrating { device: &device.name(), windows: &windows, text: name, masked });
    let ck = Checkpoint::open(&model.folder, &model.info).await?;
    let cfg = &model.info.config;
    calib::calibrate(device, cfg, &ck, windows, &weights, &mut |p| events(Event::Progress(Phase::Calibrating, p)), cancel).await
}
