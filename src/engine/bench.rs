//! Throughput probes for the benchmark (`compact bench`): the adapter's own peak FMA
//! rate, measured with a register-only kernel, and the matmul kernel's rate at a given
//! shape, so the kernel can be reported as a fraction of what this adapter can do.

use super::gpu::Gpu;
use super::kernels::{self, Matrix, Out, WeightType};
use crate::error::Result;
use crate::progress;

/// Runs `record` (one submission) until it has taken at least `min_seconds` in all,
/// after one untimed warm-up (pipeline compilation); returns seconds per submission.
async fn time_it(gpu: &Gpu, min_seconds: f64, mut record: impl FnMut(&mut wgpu::CommandEncoder)) -> Result<f64> {
    let mut run = |reps: usize| {
        let mut enc = gpu.encoder();
        for _ in 0..reps {
            record(&mut enc);
        }
        gpu.submit(enc);
    };
    run(1);
    gpu.finish().await?;
    let mut reps = 1;
    loop {
        let t0 = progress::now();
        run(reps);
        gpu.finish().await?;
        let dt = progress::now() - t0;
        if dt >= min_seconds || reps >= 1 << 16 {
            return Ok(dt / reps as f64);
        }
        reps = (reps * 2).max((reps as f64 * min_seconds / dt.max(1e-6)).ceil() as usize);
    }
}

/// The adapter's measured peak f32 FMA rate in GFLOP/s (2 FLOPs per FMA).
pub async fn peak_gflops(gpu: &Gpu) -> Result<f64> {
    const GROUPS: u32 = 512;
    const ITERS: u32 = 2048;
    let out = gpu.storage("peak", GROUPS as u64 * 256 * 4)?;
    let mut flops = 0.0;
    let secs = time_it(gpu, 0.5, |enc| flops = kernels::peak(gpu, enc, &out, GROUPS, ITERS)).await?;
    Ok(flops / secs / 1e9)
}

/// The matmul kernel's rate in GFLOP/s for `m` rows times an `n × k` weight of `dtype`.
pub async fn matmul_gflops(gpu: &Gpu, m: usize, n: usize, k: usize, dtype: WeightType) -> Result<f64> {
    let x = gpu.upload_f32("x", &(0..m * k).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect::<Vec<_>>())?;
    let bytes: Vec<u8> = (0..n * k * dtype.size()).map(|i| if i % 2 == 1 { 0x3c } else { (i % 251) as u8 }).collect();
    let w = Matrix { buf: gpu.upload("w", &bytes)?, dtype, rows: n, cols: k };
    let y = gpu.storage("y", (m * n * 4) as u64)?;
    let secs = time_it(gpu, 0.3, |enc| kernels::matmul(gpu, enc, &x, m, &w, None, &y, Out { ldy: n, y_off: 0 })).await?;
    Ok(2.0 * (m * n * k) as f64 / secs / 1e9)
}

/// The attention kernel's rate in GFLOP/s for `windows` windows of `t` positions with
/// the given heads, counting the causal half of q·kᵀ and p·v (4·hd FLOPs per pair).
pub async fn attention_gflops(gpu: &Gpu, windows: usize, t: usize, heads: usize, kv_heads: usize, hd: usize) -> Result<f64> {
    let rows = windows * t;
    let fill = |n: usize| (0..n).map(|i| ((i % 89) as f32 - 44.0) / 89.0).collect::<Vec<_>>();
    let q = gpu.upload_f32("q", &fill(rows * heads * hd))?;
    let k = gpu.upload_f32("k", &fill(rows * kv_heads * hd))?;
    let v = gpu.upload_f32("v", &fill(rows * kv_heads * hd))?;
    let out = gpu.storage("out", (rows * heads * hd * 4) as u64)?;
    let shape = kernels::AttnShape { t, rows, heads, kv_heads, hd, scale: 1.0 / (hd as f32).sqrt(), window: None };
    kernels::attention(gpu, &mut gpu.encoder(), &q, &k, &v, &out, shape)?;
    let secs = time_it(gpu, 0.3, |enc| kernels::attention(gpu, enc, &q, &k, &v, &out, shape).expect("scratch allocated above")).await?;
    let pairs = (windows * heads * t * (t + 1) / 2) as f64;
    Ok(pairs * 4.0 * hd as f64 / secs / 1e9)
}

/// The CPU reference matmul (`y = x Wᵀ`, f32, all cores) in GFLOP/s for `t` rows times
/// an `n × k` weight, and the plain row-by-row [`cpu::dot`] loop on one core as the
/// baseline, timed in the same process on the same data (the best of three runs each).
pub fn cpu_matmul_gflops(t: usize, n: usize, k: usize) -> (f64, f64) {
    use super::cpu;
    let (x, w) = cpu_operands(t, n, k);
    let flops = 2.0 * (t * n * k) as f64;
    let best = |f: &dyn Fn() -> Vec<f32>| {
        (0..3)
            .map(|_| {
                let start = crate::progress::now();
                std::hint::black_box(f());
                crate::progress::now() - start
            })
            .fold(f64::MAX, f64::min)
    };
    let blocked = best(&|| cpu::matmul(&x, t, &w, n, k));
    let plain = best(&|| {
        (0..t).flat_map(|r| (0..n).map(move |o| (r, o))).map(|(r, o)| cpu::dot(&x[r * k..(r + 1) * k], &w[o * k..(o + 1) * k])).collect()
    });
    (flops / blocked / 1e9, flops / plain / 1e9)
}

/// Deterministic operands for the CPU probes: `t × k` activations and an `n × k` weight.
fn cpu_operands(t: usize, n: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let x = (0..t * k).map(|i| (i as f32 * 0.37).sin()).collect();
    let w = (0..n * k).map(|i| (i as f32 * 0.11).cos()).collect();
    (x, w)
}

/// The CPU reference matmul's rate in GFLOP/s for `t` rows times an `n × k` weight,
/// repeated until `min_seconds` have passed (one untimed warm-up first).
pub fn cpu_matmul_rate(t: usize, n: usize, k: usize, min_seconds: f64) -> f64 {
    let (x, w) = cpu_operands(t, n, k);
    std::hint::black_box(super::cpu::matmul(&x, t, &w, n, k));
    let start = crate::progress::now();
    let mut reps = 0u32;
    while reps == 0 || crate::progress::now() - start < min_seconds {
        std::hint::black_box(super::cpu::matmul(&x, t, &w, n, k));
        reps += 1;
    }
    2.0 * (t * n * k) as f64 * f64::from(reps) / (crate::progress::now() - start) / 1e9
}
