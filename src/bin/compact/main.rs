//! `compact`: the command-line shell over the library, one file per command. Parses
//! arguments, calls the library, prints; the only place that blocks on a future.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cli::main()
}

/// The CPU path allocates and frees buffers of a few MiB for every product of every
/// layer; glibc's defaults hand them back to the kernel at once (an `munmap`, or a trim
/// of the heap's top), so each was faulted in and zeroed again — a fifth of
/// calibration's time on SmolLM2-135M. Keep up to 64 MiB free at the heap's top and
/// serve blocks up to 32 MiB from the heap (the largest mmap threshold glibc accepts).
#[cfg(not(target_arch = "wasm32"))]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod bakeoff;
#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod generate;
#[cfg(not(target_arch = "wasm32"))]
mod gguf;
#[cfg(not(target_arch = "wasm32"))]
mod import_gguf;
#[cfg(not(target_arch = "wasm32"))]
mod inspect;
#[cfg(not(target_arch = "wasm32"))]
mod prune;
#[cfg(not(target_arch = "wasm32"))]
mod serve;

/// A progress bar in the CLI's one style.
#[cfg(not(target_arch = "wasm32"))]
fn bar(template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar
}

/// The device asked for, or the CPU reference with a note when the GPU cannot be used.
#[cfg(not(target_arch = "wasm32"))]
async fn open_device(kind: compact::engine::DeviceKind) -> compact::engine::Device {
    let (device, why) = compact::engine::Device::open_or_cpu(kind).await;
    if let Some(e) = why {
        eprintln!("no usable GPU ({e}); running on the CPU reference instead (much slower)");
    }
    device
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use anyhow::Result;
    use clap::{Parser, Subcommand};

    use crate::{bakeoff, bench, eval, generate, gguf, import_gguf, inspect, prune, serve};

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
        /// Convert a GGUF file (llama, qwen2, qwen3, gemma3) into a Hugging Face folder with bf16
        /// model.safetensors, tokenizer.json and configs.
        ImportGguf {
            /// The .gguf file.
            gguf: PathBuf,
            /// Output folder (created; must not exist or be empty).
            #[arg(long)]
            out: PathBuf,
        },
        /// Write a model folder (a pruned one, or any supported model) as one GGUF file
        /// that llama.cpp, ollama and LM Studio run as it is: f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m or q4_0.
        Gguf(gguf::GgufArgs),
        /// Prune a model (paper Algorithm 1): choose V' and I' (or --ratio), remove the
        /// rare vocabulary S, rank FFN channels by common-token act² on calibration text
        /// (positions whose token is in S count 0), keep the top I' per layer, and write a
        /// standard Hugging Face folder.
        Prune(prune::PruneArgs),
        /// Zero-shot accuracy (ARC-E/C, PIQA, HellaSwag, WinoGrande, BoolQ; acc and
        /// acc_norm by log-likelihood), perplexity on held-out text and top-1 agreement
        /// with --dense. Data: scripts/fixtures/fetch-eval.sh.
        Eval(eval::EvalArgs),
        /// Compare the methods at the same sizes: COMPACT, its ablations (plain act², the
        /// vocabulary alone at equal parameters, the rare set by frequency), the
        /// weight-aware score, and each with the least-squares repair of down_proj —
        /// held-out perplexity and top-1 agreement against the dense model, and zero-shot
        /// accuracy with --limit.
        Bakeoff(bakeoff::BakeoffArgs),
        /// Continue a prompt greedily (a quick "does it still work"); stops at the model's
        /// own end-of-sequence ids.
        Generate(generate::GenerateArgs),
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
            /// `cpu`: the CPU path alone — its matmul rate, calibration of `--windows`
            /// windows and greedy generation — with no GPU needed.
            #[arg(long, value_enum, default_value_t = compact::engine::DeviceKind::Gpu)]
            device: compact::engine::DeviceKind,
            /// With `--device cpu`: write each model's calibration windows, prompt and
            /// figures as NAME.cpu-bench.json here (the torch baseline reads the same ids).
            #[arg(long)]
            json_dir: Option<PathBuf>,
        },
        /// Serve the web app and model folders on this machine only.
        Serve(serve::ServeArgs),
    }

    pub fn main() -> ExitCode {
        // Ctrl-C or a kill: remove what is being staged, so no half-written output stays.
        let _ = ctrlc::set_handler(|| {
            if compact::io::remove_staging() > 0 {
                eprintln!("interrupted: the partly written output was removed, nothing was left behind");
            }
            std::process::exit(130);
        });
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                // The library's advice, written once there (the app shows the same).
                if let Some(hint) = e.chain().find_map(|c| c.downcast_ref::<compact::Error>()).and_then(compact::Error::hint) {
                    eprintln!("hint: {hint}");
                }
                ExitCode::FAILURE
            }
        }
    }

    fn run(cli: Cli) -> Result<()> {
        match cli.command {
            Command::Inspect { dir, json } => inspect::run(&dir, json),
            Command::Gpu { json } => inspect::gpu(json),
            Command::ImportGguf { gguf, out } => import_gguf::run(&gguf, &out),
            Command::Prune(args) => pollster::block_on(prune::run(&args)),
            Command::Gguf(args) => pollster::block_on(gguf::run(&args)),
            Command::Eval(args) => pollster::block_on(eval::run(&args)),
            Command::Bakeoff(args) => pollster::block_on(bakeoff::run(&args)),
            Command::Generate(args) => pollster::block_on(generate::run(&args)),
            Command::Bench { models, windows, seq_len, device: compact::engine::DeviceKind::Cpu, json_dir, .. } => {
                pollster::block_on(bench::run_cpu(&models, windows, seq_len, json_dir.as_deref()))
            }
            Command::Bench { models, windows, seq_len, no_cpu, .. } => pollster::block_on(bench::run(&models, windows, seq_len, !no_cpu)),
            Command::Serve(args) => serve::command(args),
        }
    }
}
