//! Writes a model folder with seeded bf16 weights and a real tokenizer, for benchmarks
//! at the published shapes of models whose weights are not available here
//! (`scripts/fixtures/make-seeded-models.sh` runs it):
//!
//!   cargo run --release --example seeded_model -- CONFIG.json TOKENIZER_DIR OUT_DIR [SHARD_GB]
//!
//! With SHARD_GB the weights are split into shards of at most that many GB, with
//! `model.safetensors.index.json`, as transformers saves large models.
//!
//! The weights are the counter-based values of `tests/common/seeded.rs`: the same
//! folder on every machine, streamed to disk a few MB at a time.

#[allow(dead_code)]
#[path = "../tests/common/seeded.rs"]
mod seeded;

use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (config, tokenizer, out, shard) = match &args[..] {
        [c, t, o] => (c, t, o, u64::MAX),
        [c, t, o, gb] => match gb.to_str().and_then(|g| g.parse::<f64>().ok()).filter(|g| *g > 0.0) {
            Some(g) => (c, t, o, (g * 1e9) as u64),
            None => usage(),
        },
        _ => usage(),
    };
    let run = || -> std::io::Result<()> {
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(config)?)?;
        let mut partial = out.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_dir_all(&partial);
        seeded::write_sharded(&partial, &config, true, shard)?;
        for f in ["tokenizer.json", "tokenizer_config.json", "tokenizer.model"] {
            if tokenizer.join(f).is_file() {
                std::fs::copy(tokenizer.join(f), partial.join(f))?;
            }
        }
        std::fs::rename(&partial, out)
    };
    if let Err(e) = run() {
        eprintln!("seeded_model: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: seeded_model CONFIG.json TOKENIZER_DIR OUT_DIR [SHARD_GB]");
    std::process::exit(2);
}
