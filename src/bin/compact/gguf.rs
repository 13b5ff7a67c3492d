//! `compact gguf`: a model folder (dense or pruned) → one GGUF file that llama.cpp,
//! ollama and LM Studio run as it is; also behind `compact prune --gguf`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use compact::gguf::FileType;
use compact::io::{DirFolder, FileOutput};
use compact::prune::Model;

/// Arguments of `compact gguf`.
#[derive(clap::Args)]
pub struct GgufArgs {
    /// A Hugging Face model folder (a pruned one, or any supported model).
    dir: PathBuf,
    /// The tensor type of the file's matrices (norms and biases stay f32).
    #[arg(long = "type", value_enum, default_value_t = FileType::Q8_0)]
    ty: FileType,
    /// The file to write (default: DIR-TYPE.gguf beside the folder).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

/// Runs `compact gguf`.
pub async fn run(a: &GgufArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| beside(&a.dir, a.ty));
    write(&a.dir, a.ty, &out, a.force).await
}

/// `DIR-TYPE.gguf` next to the folder `dir`.
pub fn beside(dir: &Path, ty: FileType) -> PathBuf {
    let name = dir.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    dir.with_file_name(format!("{name}-{}.gguf", ty.name()))
}

/// Writes the folder `dir` as a GGUF of type `ty` at `out`, staged and renamed into place.
pub async fn write(dir: &Path, ty: FileType, out: &Path, force: bool) -> Result<()> {
    let start = std::time::Instant::now();
    let name = dir.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let model = Model::open(name.clone(), DirFolder::new(dir)?).await?;
    let target = FileOutput::new(out, force, &[dir])?;
    let bar = crate::bar("{msg:30} [{bar:40}] {bytes}/{total_bytes} ({eta})");
    let mut progress = |p: compact::Progress| {
        bar.set_message(p.stage);
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let summary = compact::gguf::export::write(&model.folder, &model.info, &name, ty, target.sink()?, &mut progress).await?;
    target.commit()?;
    bar.finish_and_clear();
    println!(
        "{} → {} ({}): {} tensors, {} parameters, {} tokens, {:.1} MB in {:.1} s",
        dir.display(),
        out.display(),
        ty.name(),
        summary.tensors,
        summary.params,
        summary.vocab,
        summary.bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
