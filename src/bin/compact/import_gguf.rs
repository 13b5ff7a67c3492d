//! `compact import-gguf`: a GGUF file → a Hugging Face folder (bf16 model.safetensors,
//! tokenizer.json, configs).

use std::path::Path;

use anyhow::Result;

/// Runs `compact import-gguf`.
pub fn run(gguf: &Path, out: &Path) -> Result<()> {
    let bar = crate::bar("{msg:30} [{bar:40}] {bytes}/{total_bytes} ({eta})");
    let start = std::time::Instant::now();
    let summary = compact::gguf::import(gguf, out, &mut |stage, done, total| {
        bar.set_message(stage.to_string());
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let s = summary?;
    println!(
        "{} → {}: {} ({} tensors, {} parameters, {} tokens, {}), {:.1} MB in {:.1} s",
        gguf.display(),
        out.display(),
        s.architecture,
        s.tensors,
        s.params,
        s.tokenizer_tokens,
        if s.tied_embeddings { "tied embeddings" } else { "separate lm_head" },
        s.bytes_written as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
