//! `compact`: the command-line shell over the library. Parses arguments, calls the
//! library, prints; the only place that blocks on a future.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::ExitCode;

    use anyhow::{Context, Result, bail};
    use clap::{Parser, Subcommand};
    use compact::engine::gpu;
    use compact::io::DirFolder;
    use compact::model::ModelInfo;
    use compact::serve::{self, ServeConfig};

    /// Prune small language models with COMPACT (vocabulary + FFN channels), on your own machine.
    #[derive(Parser)]
    #[command(name = "compact", version, about)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Show a model's architecture and where its parameters live. Reads config.json and
        /// only the safetensors header(s), never the weights.
        Inspect {
            /// A Hugging Face model folder (config.json + model.safetensors).
            dir: PathBuf,
            /// Print JSON instead of a table.
            #[arg(long)]
            json: bool,
        },
        /// Show the GPU adapter wgpu finds and the limits that matter for calibration
        /// (WGPU_BACKEND=vulkan|metal|dx12|gl selects a backend).
        Gpu {
            /// Print JSON instead of a line.
            #[arg(long)]
            json: bool,
        },
        /// Convert a GGUF file (llama, qwen2, gemma3) into a Hugging Face folder with bf16
        /// model.safetensors, tokenizer.json and configs.
        ImportGguf {
            /// The .gguf file.
            gguf: PathBuf,
            /// Output folder (created; must not exist or be empty).
            #[arg(long)]
            out: PathBuf,
        },
        /// Continue a prompt greedily on the CPU reference path (a quick "does it still work").
        Generate {
            /// A Hugging Face model folder.
            #[arg(long)]
            model: PathBuf,
            /// The text to continue.
            #[arg(long)]
            prompt: String,
            /// How many tokens to add at most.
            #[arg(long, default_value_t = 16)]
            max_tokens: usize,
        },
        /// Serve the web app and model folders on this machine only.
        Serve {
            /// The built app (Trunk's dist directory).
            #[arg(long, default_value = "dist")]
            dist: PathBuf,
            /// A directory of model folders, offered by the app's "demo model" button.
            #[arg(long)]
            models: Option<PathBuf>,
            /// Port (0 picks a free one).
            #[arg(long, env = "PORT", default_value_t = 8080)]
            port: u16,
            /// Address to bind.
            #[arg(long, default_value = "127.0.0.1")]
            host: String,
        },
    }

    pub fn main() -> ExitCode {
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }

    fn run(cli: Cli) -> Result<()> {
        match cli.command {
            Command::Inspect { dir, json } => {
                let folder = DirFolder::new(&dir)?;
                let info = pollster::block_on(ModelInfo::load(&folder))?;
                let summary = info.summary();
                if json {
                    println!("{}", serde_json::to_string_pretty(&summary)?);
                } else {
                    println!("{}\n", dir.display());
                    print!("{summary}");
                }
            }
            Command::Gpu { json } => {
                let report = pollster::block_on(gpu::probe())?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    println!("{}", report.one_line());
                    for s in report.shortfalls() {
                        println!("warning: {s}");
                    }
                }
            }
            Command::ImportGguf { gguf, out } => import_gguf(&gguf, &out)?,
            Command::Generate { model, prompt, max_tokens } => pollster::block_on(generate(&model, &prompt, max_tokens))?,
            Command::Serve { dist, models, port, host } => {
                if !dist.join("index.html").is_file() {
                    bail!("{} has no index.html: build the app first (make demo does)", dist.display());
                }
                let listener = TcpListener::bind((host.as_str(), port)).with_context(|| format!("cannot listen on {host}:{port}"))?;
                let addr = listener.local_addr()?;
                println!("compact: serving {} on http://{addr}/", dist.display());
                if let Some(m) = &models {
                    let names: Vec<_> = serve::list_models(m).into_iter().map(|m| m.name).collect();
                    println!("compact: demo models from {}: {}", m.display(), if names.is_empty() { "none".into() } else { names.join(", ") });
                }
                serve::run(listener, ServeConfig { dist, models })?;
            }
        }
        Ok(())
    }

    async fn generate(dir: &std::path::Path, prompt: &str, max_tokens: usize) -> Result<()> {
        use compact::engine::cpu;
        use compact::io::{ByteSource, ModelFolder};
        use compact::model::Checkpoint;
        let folder = DirFolder::new(dir)?;
        let info = ModelInfo::load(&folder).await?;
        let tok_src = folder.require(compact::tokenizer::FILE, "generation needs the tokenizer").await?;
        let tok = compact::tokenizer::load(&tok_src.read_to_end().await?)?;
        let ids = compact::tokenizer::encode(&tok, prompt)?;
        let ck = Checkpoint::open(&folder, &info).await?;
        let stop = eos_ids(&info.config.raw);
        let start = std::time::Instant::now();
        let new = cpu::generate_greedy(&info.config, &ck, &ids, max_tokens, &stop).await?;
        let secs = start.elapsed().as_secs_f64();
        println!("{prompt}\x1b[1m{}\x1b[0m", compact::tokenizer::decode(&tok, &new)?);
        eprintln!("{} prompt tokens, {} new tokens in {secs:.1} s (CPU reference, no KV cache)", ids.len(), new.len());
        Ok(())
    }

    /// eos_token_id from config.json: an int or a list.
    fn eos_ids(cfg: &serde_json::Value) -> Vec<u32> {
        match cfg.get("eos_token_id") {
            Some(serde_json::Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_u64()).map(|n| n as u32).collect(),
            _ => Vec::new(),
        }
    }

    fn import_gguf(gguf: &std::path::Path, out: &std::path::Path) -> Result<()> {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:30} [{bar:40}] {bytes}/{total_bytes} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
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
}
