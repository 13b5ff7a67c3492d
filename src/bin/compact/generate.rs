//! `compact generate`: a greedy continuation of a prompt, stopping at the model's own
//! end-of-sequence ids (generation_config.json, else config.json).

use std::path::PathBuf;

use anyhow::Result;
use compact::engine::DeviceKind;
use compact::io::DirFolder;
use compact::model::Checkpoint;
use compact::progress::Cancel;
use compact::prune::Model;

/// Arguments of `compact generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// A Hugging Face model folder.
    #[arg(long)]
    model: PathBuf,
    /// The text to continue.
    #[arg(long)]
    prompt: String,
    /// How many tokens to add at most.
    #[arg(long, default_value_t = 16)]
    max_tokens: usize,
    /// Where the model runs (the CPU reference keeps a KV cache; the GPU path runs a
    /// full pass per token).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    device: DeviceKind,
    /// Read every layer's weights from the file for every token instead of keeping
    /// them in memory (up to 4 GiB) on the CPU: for a model larger than memory.
    #[arg(long)]
    stream: bool,
}

/// Runs `compact generate`.
pub async fn run(a: &GenerateArgs) -> Result<()> {
    let model = Model::open(a.model.display().to_string(), DirFolder::new(&a.model)?).await?;
    let tok = model.tokenizer("generation needs the tokenizer")?;
    let ids = compact::tokenizer::encode(tok, &a.prompt)?;
    let mut ck = Checkpoint::open(&model.folder, &model.info).await?;
    if !a.stream {
        ck.keep_resident(compact::model::RESIDENT_BUDGET);
    }
    let device = crate::open_device(a.device).await;
    let start = std::time::Instant::now();
    let new = device.generate(&model.info.config, &ck, &ids, a.max_tokens, &model.info.stop_tokens, &Cancel::default()).await?;
    let secs = start.elapsed().as_secs_f64();
    println!("{}\x1b[1m{}\x1b[0m", a.prompt, compact::tokenizer::decode(tok, &new)?);
    eprintln!("{} prompt tokens, {} new tokens in {secs:.1} s on {}", ids.len(), new.len(), device.name());
    Ok(())
}
