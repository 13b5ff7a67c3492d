//! `compact`: the command-line shell over the library. Parses arguments, calls the
//! library, prints; the only place that blocks on a future.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "compact/eval.rs"]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
#[path = "compact/prune.rs"]
mod prune;

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
        /// Prune a model (paper Algorithm 1): choose V' and I' (or --ratio), remove the
        /// rare vocabulary S, rank FFN channels by common-token act² on calibration text
        /// (positions whose token is in S count 0), keep the top I' per layer, and write a
        /// standard Hugging Face folder.
        Prune(crate::prune::PruneArgs),
        /// Zero-shot accuracy (ARC-E/C, PIQA, HellaSwag, WinoGrande, BoolQ; acc and
        /// acc_norm by log-likelihood), perplexity on held-out text and top-1 agreement
        /// with --dense. Data: scripts/fetch-eval.sh.
        Eval(crate::eval::EvalArgs),
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
        /// Measure this machine: the GPU's peak FMA rate, the matmul kernel at each model's
        /// shapes (and its share of that peak), and calibration tokens/s on the GPU
        /// against the CPU reference path.
        Bench {
            /// Model folders to benchmark (repeat the flag); their shapes and calibration.
            #[arg(long = "model")]
            models: Vec<PathBuf>,
            /// Calibration windows per model on the GPU.
            #[arg(long, default_value_t = 2)]
            windows: usize,
            /// Tokens per window.
            #[arg(long, default_value_t = 512)]
            seq_len: usize,
            /// Skip the CPU reference run (one window) used for the GPU/CPU ratio.
            #[arg(long)]
            no_cpu: bool,
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
            /// Let pages from other origins read the files (CORS); the wasm tests need it.
            #[arg(long)]
            cors: bool,
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
            Command::Prune(args) => pollster::block_on(crate::prune::run(&args))?,
            Command::Eval(args) => pollster::block_on(crate::eval::run(&args))?,
            Command::Generate { model, prompt, max_tokens } => pollster::block_on(generate(&model, &prompt, max_tokens))?,
            Command::Bench { models, windows, seq_len, no_cpu } => pollster::block_on(bench(&models, windows, seq_len, !no_cpu))?,
            Command::Serve { dist, models, port, host, cors } => {
                if !dist.join("index.html").is_file() {
                    bail!("{} has no index.html: build the app first (make demo does)", dist.display());
                }
                let listener = TcpListener::bind((host.as_str(), port)).with_context(|| format!("cannot listen on {host}:{port}"))?;
                let addr = listener.local_addr()?;
                println!("compact: serving {} on http://{addr}/", dist.display());
                if let Some(m) = &models {
                    let names: Vec<_> = serve::list_models(m).into_iter().map(|m| m.name).collect();
                    println!(
                        "compact: demo models from {}: {}",
                        m.display(),
                        if names.is_empty() { "none".into() } else { names.join(", ") }
                    );
                }
                serve::run(listener, ServeConfig { dist, models, cors })?;
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
        eprintln!("{} prompt tokens, {} new tokens in {secs:.1} s (CPU reference, KV cache)", ids.len(), new.len());
        Ok(())
    }

    async fn bench(models: &[PathBuf], windows: usize, seq_len: usize, with_cpu: bool) -> Result<()> {
        use compact::engine::bench::{attention_gflops, matmul_gflops, peak_gflops};
        use compact::engine::cpu::{self, ForwardOptions, Logits};
        use compact::engine::forward::{self, GpuOptions, Windows};
        use compact::engine::kernels::WeightType;
        use compact::io::{ByteSource, ModelFolder};
        use compact::model::Checkpoint;
        use compact::progress::{Cancel, Silent};

        let gpu = gpu::Gpu::new().await?;
        println!("adapter: {}", gpu.report.one_line());
        let peak = peak_gflops(&gpu).await?;
        println!("peak FMA throughput (register-only kernel): {peak:.1} GFLOP/s\n");
        const M: usize = 512;
        for dir in models {
            let folder = DirFolder::new(dir)?;
            let info = ModelInfo::load(&folder).await?;
            let cfg = &info.config;
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (d, i) = (cfg.hidden_size, cfg.intermediate_size);
            println!("{name}: matmul kernel, bf16 weights, {M} rows");
            let shapes = [
                ("q_proj", cfg.q_dim(), d),
                ("k_proj/v_proj", cfg.kv_dim(), d),
                ("o_proj", d, cfg.q_dim()),
                ("gate/up_proj", i, d),
                ("down_proj", d, i),
            ];
            let per_layer = [1.0, 2.0, 1.0, 2.0, 1.0];
            let (mut flops, mut secs) = (0.0, 0.0);
            for ((label, n, k), reps) in shapes.iter().zip(per_layer) {
                let g = matmul_gflops(&gpu, M, *n, *k, WeightType::BF16).await?;
                let f = 2.0 * (M * n * k) as f64 * reps;
                flops += f;
                secs += f / (g * 1e9);
                println!("  {label:14} {n:>5} × {k:<5} {g:8.1} GFLOP/s  {:5.1}% of peak", 100.0 * g / peak);
            }
            let layer = flops / secs / 1e9;
            println!("  {:14} {:13} {layer:8.1} GFLOP/s  {:5.1}% of peak", "one layer", "", 100.0 * layer / peak);
            if with_cpu {
                let (blocked, plain) = compact::engine::bench::cpu_matmul_gflops(M, i, d);
                println!(
                    "  CPU reference matmul, gate/up_proj: {blocked:.1} GFLOP/s ({:.1}× the row-by-row dot loop on one core, {plain:.1})",
                    blocked / plain
                );
                if blocked > peak {
                    println!(
                        "  note: this adapter's own FMA peak ({peak:.1} GFLOP/s) is below what the CPU reference's matmul reaches, so no kernel on it can make GPU calibration faster than the CPU path here"
                    );
                }
            }
            let g = attention_gflops(&gpu, 1, seq_len, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim).await?;
            println!(
                "  attention kernel, {} heads × {seq_len} positions: {g:.1} GFLOP/s  {:5.1}% of peak",
                cfg.num_heads,
                100.0 * g / peak
            );

            let tok = compact::tokenizer::load(&folder.require(compact::tokenizer::FILE, "benchmark text").await?.read_to_end().await?)?;
            let sample = compact::tokenizer::encode(&tok, include_str!("../../tests/data/sample.txt"))?;
            let tokens: Vec<u32> = sample.iter().cycle().take(windows * seq_len).copied().collect();
            let weights = vec![1f32; tokens.len()];
            let ck = Checkpoint::open(&folder, &info).await?;
            let run = forward::run(
                &gpu,
                cfg,
                &ck,
                Windows { tokens: &tokens, t: seq_len, act2_weights: Some(&weights) },
                &GpuOptions::default(),
                &mut Silent,
                &Cancel::default(),
            )
            .await?;
            let s = &run.stats;
            println!(
                "  calibration on the GPU: {windows} × {seq_len} tokens in {:.2} s = {:.0} tokens/s ({} batch(es), peak GPU memory {:.0} MiB, weights {:.0} MiB)",
                s.seconds,
                s.tokens_per_second,
                s.batches,
                s.peak_gpu_bytes as f64 / 1048576.0,
                info.weight_bytes as f64 / 1048576.0
            );
            if with_cpu {
                let t0 = std::time::Instant::now();
                let opts = ForwardOptions { act2_weights: Some(&weights[..seq_len]), logits: Logits::None, ..Default::default() };
                cpu::forward(cfg, &ck, &tokens[..seq_len], &opts).await?;
                let cpu_tps = seq_len as f64 / t0.elapsed().as_secs_f64();
                println!(
                    "  CPU reference:          1 × {seq_len} tokens in {:.2} s = {cpu_tps:.0} tokens/s → GPU/CPU {:.2}×",
                    t0.elapsed().as_secs_f64(),
                    s.tokens_per_second / cpu_tps
                );
            }
            println!();
        }
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
        let bar = crate::prune::bar("{msg:30} [{bar:40}] {bytes}/{total_bytes} ({eta})");
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
