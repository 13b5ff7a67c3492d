//! Where a model runs: the GPU engine ([`super::forward`] over [`super::gpu`]) or the
//! CPU reference ([`super::cpu`]). [`Device`] is the one place that chooses between
//! them; calibration, scoring and generation all go through it, in the CLI and the app.

use std::rc::Rc;

use serde::Serialize;

use super::gpu::Gpu;
use super::kernels::WeightType;
use super::score::{self, Scored, TokenScore};
use super::{cpu, forward};
use crate::error::{Error, Result};
use crate::io::ByteSource;
use crate::model::safetensors::Dtype;
use crate::model::{Checkpoint, ModelConfig};
use crate::progress::{Cancel, Progress, ProgressSink};

/// Which device a user asks for (the CLI's `--device`, the app's "Run on").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The GPU: WebGPU in the browser, Vulkan / Metal / DX12 natively.
    #[default]
    Gpu,
    /// The CPU reference forward (WebAssembly in the browser): slower, needs no GPU.
    Cpu,
}

/// An opened device. Cloning shares the GPU device (its pipelines and weight caches).
#[derive(Clone)]
pub enum Device {
    /// The GPU engine.
    Gpu(Rc<Gpu>),
    /// The CPU reference.
    Cpu,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// How reports name the CPU device.
pub const CPU_NAME: &str = "the CPU reference";

/// Bytes of FFN activations one CPU calibration pass may hold (it sets how many windows
/// share a pass; 64 MiB keeps the browser's wasm memory well under its budget).
const CPU_ACTIVATION_BYTES: usize = 64 << 20;

/// Tokens one CPU calibration pass runs at most: reading the weights once per 1024
/// tokens costs little next to the arithmetic, and progress stays frequent.
const CPU_PASS_TOKENS: usize = 1024;

/// Windows of `t` tokens one CPU calibration pass runs: up to [`CPU_PASS_TOKENS`], and
/// as many as keep the FFN activations (gate, up, product) in [`CPU_ACTIVATION_BYTES`].
pub fn cpu_windows_per_pass(cfg: &ModelConfig, windows: usize, t: usize) -> usize {
    let t = t.max(1);
    let fit = (CPU_ACTIVATION_BYTES / (t * cfg.intermediate_size.max(1) * 3 * 4)).min(CPU_PASS_TOKENS / t);
    fit.clamp(1, windows.max(1))
}

/// A device's measured speed, for telling users before a run how long it will take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    /// The matmul's rate at the model's FFN shape, in GFLOP/s.
    pub gflops: f64,
    /// Bytes per second read from the model's folder (timed on one of its files).
    pub read_bytes_per_second: f64,
    /// Web Workers that share the CPU device's calibration passes in the browser (1 on
    /// the GPU, and natively, where threads share each step and the rate counts them).
    pub workers: usize,
}

impl Throughput {
    /// Seconds for `flops` of arithmetic while `weight_bytes` of layer weights are read
    /// `passes` times, the passes shared by `shared_by` workers.
    pub fn seconds(&self, flops: f64, weight_bytes: u64, passes: usize, shared_by: usize) -> f64 {
        let alone = flops / (self.gflops * 1e9) + (weight_bytes as f64 * passes as f64) / self.read_bytes_per_second;
        alone / shared_by.clamp(1, passes.max(1)) as f64
    }
}

/// Windows per pass of a CPU calibration whose passes `workers` share:
/// [`cpu_windows_per_pass`], and few enough that every worker gets a pass.
pub fn cpu_windows_per_shared_pass(cfg: &ModelConfig, windows: usize, t: usize, workers: usize) -> usize {
    cpu_windows_per_pass(cfg, windows, t).min(windows.div_ceil(workers.max(1))).max(1)
}

impl Device {
    /// Opens the device `kind` names; a GPU that is missing or too small is an error.
    pub async fn open(kind: DeviceKind) -> Result<Self> {
        Ok(match kind {
            DeviceKind::Cpu => Device::Cpu,
            DeviceKind::Gpu => Device::Gpu(Rc::new(Gpu::new().await?)),
        })
    }

    /// Opens the device `kind` names, or the CPU reference when the GPU cannot be
    /// used, with the reason (for the caller to show).
    pub async fn open_or_cpu(kind: DeviceKind) -> (Self, Option<Error>) {
        match Self::open(kind).await {
            Ok(d) => (d, None),
            Err(e) => (Device::Cpu, Some(e)),
        }
    }

    /// Which kind of device this is.
    pub fn kind(&self) -> DeviceKind {
        match self {
            Device::Gpu(_) => DeviceKind::Gpu,
            Device::Cpu => DeviceKind::Cpu,
        }
    }

    /// The GPU, if this is one.
    pub fn gpu(&self) -> Option<&Gpu> {
        match self {
            Device::Gpu(g) => Some(g),
            Device::Cpu => None,
        }
    }

    /// The adapter's name, or [`CPU_NAME`].
    pub fn name(&self) -> String {
        self.gpu().map_or_else(|| CPU_NAME.to_string(), |g| g.report.name.clone())
    }

    /// The name reports give the device after a calibration: [`Self::name`], and in the
    /// browser the Web Workers that shared the CPU device's work.
    pub async fn described(&self) -> String {
        if self.gpu().is_some() {
            return self.name();
        }
        match crate::parallel::workers().await {
            n if n > 1 => format!("{CPU_NAME} on {n} Web Workers"),
            _ => self.name(),
        }
    }

    /// The most GPU buffer bytes alive at once during the last run (GPU only).
    pub fn peak_bytes(&self) -> Option<u64> {
        self.gpu().map(Gpu::peak_bytes)
    }

    /// This device's matmul rate in GFLOP/s at the model's FFN shape (a batch of rows
    /// times up to 1024 rows of the `hidden`-wide weight, stored as `dtype` on the GPU),
    /// measured in about half a second.
    async fn matmul_gflops(&self, cfg: &ModelConfig, dtype: Option<Dtype>) -> Result<f64> {
        const ROWS: usize = 128;
        let (n, k) = (cfg.intermediate_size.min(1024), cfg.hidden_size);
        match self {
            Device::Gpu(gpu) => {
                let w = match dtype {
                    Some(Dtype::F32) => WeightType::F32,
                    Some(Dtype::F16) => WeightType::F16,
                    _ => WeightType::BF16,
                };
                let rate = super::bench::matmul_gflops(gpu, ROWS, n, k, w).await;
                gpu.reset_peak();
                rate
            }
            Device::Cpu => Ok(super::bench::cpu_matmul_rate(ROWS, n, k, 0.3)),
        }
    }

    /// What a time estimate divides by, measured here: the matmul rate at the model's
    /// shapes, and how fast `sample` (a file of the model's folder — the app passes
    /// tokenizer.json, so that nothing but headers and the tokenizer is read before a
    /// run) is read, up to 16 MB of it.
    pub async fn throughput<S: ByteSource>(&self, cfg: &ModelConfig, dtype: Option<Dtype>, sample: &S) -> Result<Throughput> {
        const PROBE_BYTES: u64 = 16 << 20;
        let len = sample.len().min(PROBE_BYTES);
        let start = crate::progress::now();
        let bytes = sample.read_at(0, len as usize).await?;
        let read = bytes.len().max(1) as f64 / (crate::progress::now() - start).max(1e-6);
        drop(bytes);
        let workers = if self.gpu().is_some() { 1 } else { crate::parallel::workers().await };
        Ok(Throughput { gflops: self.matmul_gflops(cfg, dtype).await?, read_bytes_per_second: read, workers })
    }

    /// How many times calibration reads every layer's weights for `windows` windows of
    /// `t` tokens: once per pass of the CPU reference (its passes shared by `workers`);
    /// once on the GPU, which keeps the layers it has read when they fit.
    pub fn weight_passes(&self, cfg: &ModelConfig, windows: usize, t: usize, workers: usize) -> usize {
        match self {
            Device::Gpu(_) => 1,
            Device::Cpu => windows.div_ceil(cpu_windows_per_shared_pass(cfg, windows, t, workers)),
        }
    }

    /// Channel importance `Σ_i w_i h_ik²` per layer (I values each) over windows of `t`
    /// tokens (`tokens` row-major, `weights` one per position); progress as
    /// (windows·layers) on the GPU, windows on the CPU.
    #[allow(clippy::too_many_arguments)]
    pub async fn importance<S: ByteSource>(
        &self,
        cfg: &ModelConfig,
        ck: &Checkpoint<S>,
        tokens: &[u32],
        t: usize,
        weights: &[f32],
        progress: &mut dyn ProgressSink,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<f64>>> {
        match self {
            Device::Gpu(gpu) => {
                let w = forward::Windows { tokens, t, act2_weights: Some(weights) };
                Ok(forward::run(gpu, cfg, ck, w, &forward::GpuOptions::default(), progress, cancel).await?.importance)
            }
            Device::Cpu => {
                // Several windows per pass, so each layer's weights are read once for all
                // of them: up to CPU_PASS_TOKENS, and as many as keep the FFN activations
                // (gate, up, product) in budget — and at least as many passes as there
                // are workers to share them (the page's Web Workers in the browser, the
                // threads natively). The windows' sums are added in order, wherever they
                // were computed.
                let windows = tokens.len() / t.max(1);
                let sharing = if cfg!(target_arch = "wasm32") { crate::parallel::workers().await } else { crate::parallel::threads() };
                let per_pass = cpu_windows_per_shared_pass(cfg, windows, t, sharing);
                let groups: Vec<(&[u32], &[f32])> = tokens.chunks(per_pass * t).zip(weights.chunks(per_pass * t)).collect();
                let mut total = vec![vec![0f64; cfg.intermediate_size]; cfg.num_layers];
                let mut done = 0;
                let mut add = |imp: Vec<Vec<f64>>, group_windows: usize| {
                    for (acc, imp) in total.iter_mut().zip(imp) {
                        cpu::add_windows(acc, &imp);
                    }
                    done += group_windows;
                    progress.report(Progress { stage: "calibrating (CPU)".into(), done: done as u64, total: windows as u64 });
                };
                // In the browser, the groups go to the page's Web Workers (each opens the
                // model's files itself) when there are several of both.
                #[cfg(target_arch = "wasm32")]
                if let Some(folder) = ck.shared().filter(|_| groups.len() > 1) {
                    let shape = (cfg.num_layers, cfg.intermediate_size);
                    if crate::parallel::importance_on_workers(folder, &groups, t, shape, &mut add, cancel).await? {
                        return Ok(total);
                    }
                }
                // Otherwise here: natively whole groups at once on the threads (so no
                // core waits through another's single-threaded steps), on the page one
                // after the other.
                let group = |g: usize| {
                    let (group, w) = groups[g];
                    async move {
                        cancel.check()?;
                        cpu::group_importance(cfg, ck, group, t, w, cancel).await
                    }
                };
                crate::parallel::jobs_in_order(groups.len(), group, |g, imp| {
                    add(imp, groups[g].0.len() / t);
                    Ok(())
                })
                .await?;
                Ok(total)
            }
        }
    }

    /// Scores every sequence (log-probability of each target, and the top-1 token);
    /// progress counts sequences.
    pub async fn score<S: ByteSource>(
        &self,
        cfg: &ModelConfig,
        ck: &Checkpoint<S>,
        seqs: &[Scored],
        progress: &mut dyn ProgressSink,
        cancel: &Cancel,
    ) -> Result<Vec<Vec<TokenScore>>> {
        score::check(seqs)?;
        match self {
            Device::Gpu(gpu) => score::on_gpu(gpu, cfg, ck, seqs, progress, cancel).await,
            Device::Cpu => score::on_cpu(cfg, ck, seqs, progress, cancel).await,
        }
    }

    /// Greedy decoding: up to `max_new` arg-max tokens after `prompt`, stopping after
    /// any of `stop` (see [`crate::model::ModelInfo::stop_tokens`]).
    pub async fn generate<S: ByteSource>(
        &self,
        cfg: &ModelConfig,
        ck: &Checkpoint<S>,
        prompt: &[u32],
        max_new: usize,
        stop: &[u32],
        cancel: &Cancel,
    ) -> Result<Vec<u32>> {
        match self {
            Device::Gpu(gpu) => forward::generate_greedy(gpu, cfg, ck, prompt, max_new, stop, cancel).await,
            Device::Cpu => cpu::generate_greedy(cfg, ck, prompt, max_new, stop).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm2() -> ModelConfig {
        let json = br#"{"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
            "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152}"#;
        ModelConfig::from_json(json).unwrap()
    }

    #[test]
    fn workers_get_a_pass_each_and_the_estimate_shares_them() {
        let cfg = smollm2();
        // Alone: two 512-token windows per pass (CPU_PASS_TOKENS), one 64-token pass.
        assert_eq!(cpu_windows_per_shared_pass(&cfg, 8, 512, 1), 2);
        assert_eq!(cpu_windows_per_shared_pass(&cfg, 2, 64, 1), 2);
        // Shared: never fewer passes than workers while there are windows for them.
        assert_eq!(cpu_windows_per_shared_pass(&cfg, 2, 64, 2), 1);
        assert_eq!(cpu_windows_per_shared_pass(&cfg, 8, 128, 4), 2);
        assert_eq!(cpu_windows_per_shared_pass(&cfg, 1, 64, 8), 1);
        assert_eq!(Device::Cpu.weight_passes(&cfg, 8, 128, 4), 4);
        assert_eq!(Device::Cpu.weight_passes(&cfg, 8, 128, 1), 1);

        let th = Throughput { gflops: 10.0, read_bytes_per_second: 1e8, workers: 2 };
        let alone = th.seconds(100e9, 100_000_000, 4, 1);
        assert_eq!(alone, 10.0 + 4.0);
        assert_eq!(th.seconds(100e9, 100_000_000, 4, 2), alone / 2.0);
        // More workers than passes: the passes are the limit.
        assert_eq!(th.seconds(100e9, 100_000_000, 1, 8), th.seconds(100e9, 100_000_000, 1, 1));
    }
}
