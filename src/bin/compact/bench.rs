//! `compact bench`: this machine's GPU peak FMA rate, the matmul and attention kernels
//! at each model's shapes (and their share of that peak), and calibration tokens/s on
//! the GPU against the CPU reference; with `--device cpu`, the CPU path's own figures
//! (which scripts/bench/bench-cpu.sh sets beside torch's).

use std::path::PathBuf;

use anyhow::Result;
use compact::engine::gpu;
use compact::io::DirFolder;
use compact::model::ModelInfo;

/// Runs `compact bench`.
pub async fn run(models: &[PathBuf], windows: usize, seq_len: usize, with_cpu: bool) -> Result<()> {
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
        println!("  attention kernel, {} heads × {seq_len} positions: {g:.1} GFLOP/s  {:5.1}% of peak", cfg.num_heads, 100.0 * g / peak);

        let tok = compact::tokenizer::load(&folder.require(compact::tokenizer::FILE, "benchmark text").await?.read_to_end().await?)?;
        let sample = compact::tokenizer::encode(&tok, include_str!("../../../tests/data/sample.txt"))?;
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

/// A short prompt for the generation figure.
const PROMPT: &str = "The capital of France is";
/// Tokens generated for the generation figure.
const NEW_TOKENS: usize = 32;

/// What `compact bench --device cpu` measured on one model (and the ids it used).
#[derive(serde::Serialize)]
struct CpuFigures {
    model: String,
    threads: usize,
    matmul_gflops: f64,
    calibration_windows: Vec<Vec<u32>>,
    calibration_tokens_per_second: f64,
    prompt_ids: Vec<u32>,
    generated_ids: Vec<u32>,
    /// The first run: the model's opening and first reading, then generation.
    with_load_seconds: f64,
    generation_seconds: f64,
}

/// Runs `compact bench --device cpu`: per model, the CPU matmul at the gate/up shape,
/// calibration of `windows × seq_len` tokens of the built-in text (every position
/// weighted, as a plain hook would), and greedy generation of 32 tokens after a short
/// prompt, with the model's opening timed apart.
pub async fn run_cpu(models: &[PathBuf], windows: usize, seq_len: usize, json_dir: Option<&std::path::Path>) -> Result<()> {
    use compact::engine::Device;
    use compact::model::Checkpoint;
    use compact::progress::{Cancel, Silent};
    use compact::prune::{Model, calib};

    let threads = compact::parallel::threads();
    println!("CPU path, {threads} thread(s)\n");
    for dir in models {
        let model = Model::open(dir.display().to_string(), DirFolder::new(dir)?).await?;
        let (cfg, tok) = (&model.info.config, model.tokenizer("the benchmark tokenizes text")?);
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (gflops, _) = compact::engine::bench::cpu_matmul_gflops(512, cfg.intermediate_size, cfg.hidden_size);
        println!("{name}: CPU matmul, gate/up_proj, 512 rows: {gflops:.1} GFLOP/s");

        // Calibration as `compact prune` runs it: every layer streamed from the file.
        let ck = Checkpoint::open(&model.folder, &model.info).await?;
        let text = calib::CalibText::default();
        let w = calib::windows(tok, &text.text, windows, seq_len)?;
        let weights = vec![1f32; w.tokens.len()];
        let t0 = std::time::Instant::now();
        Device::Cpu.importance(cfg, &ck, &w.tokens, seq_len, &weights, &mut Silent, &Cancel::default()).await?;
        let calib_tps = w.tokens.len() as f64 / t0.elapsed().as_secs_f64();
        println!("  calibration: {} × {seq_len} tokens at {calib_tps:.0} tokens/s", w.count);
        drop(ck);

        // Generation as `compact generate` runs it: the weights kept in memory once read.
        // The first run pays the model's opening and first reading; the second does not.
        let prompt = compact::tokenizer::encode(tok, PROMPT)?;
        let t0 = std::time::Instant::now();
        let mut ck = Checkpoint::open(&model.folder, &model.info).await?;
        ck.keep_resident(compact::model::RESIDENT_BUDGET);
        Device::Cpu.generate(cfg, &ck, &prompt, NEW_TOKENS, &[], &Cancel::default()).await?;
        let with_load = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let new = Device::Cpu.generate(cfg, &ck, &prompt, NEW_TOKENS, &[], &Cancel::default()).await?;
        let gen_seconds = t0.elapsed().as_secs_f64();
        println!(
            "  generation: {} tokens after a {}-token prompt at {:.2} tokens/s ({:.2} with the model's opening and first reading; {:.0} MiB kept)",
            new.len(),
            prompt.len(),
            new.len() as f64 / gen_seconds,
            new.len() as f64 / with_load,
            ck.resident_bytes() as f64 / 1048576.0
        );
        println!("  {PROMPT}\x1b[1m{}\x1b[0m\n", compact::tokenizer::decode(tok, &new)?);
        if let Some(out) = json_dir {
            let figures = CpuFigures {
                model: name.clone(),
                threads,
                matmul_gflops: gflops,
                calibration_windows: w.tokens.chunks(seq_len).map(<[u32]>::to_vec).collect(),
                calibration_tokens_per_second: calib_tps,
                prompt_ids: prompt,
                generated_ids: new,
                with_load_seconds: with_load,
                generation_seconds: gen_seconds,
            };
            std::fs::create_dir_all(out)?;
            std::fs::write(out.join(format!("{name}.cpu-bench.json")), serde_json::to_vec(&figures)?)?;
        }
    }
    Ok(())
}
