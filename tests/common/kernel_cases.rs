//! One body per WGSL kernel, checked against the plain-Rust reference on random inputs
//! of awkward sizes (not multiples of any tile or workgroup). Shared by the native
//! tests (lavapipe, `tests/kernels.rs`) and the browser tests (SwiftShader WebGPU,
//! `tests/browser.rs`).
#![allow(dead_code)]

use compact::engine::cpu;
use compact::engine::gpu::{Buffer, Gpu};
use compact::engine::kernels::{self, AttnShape, Matrix, Norm, Out, WeightType};
use compact::model::config::Activation;

/// Deterministic values in [-1, 1).
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Largest |a − b| over the largest |b| (1 when b is all zeros).
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Relative L2 error ‖a − b‖ / ‖b‖.
pub fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert!(got.iter().all(|v| v.is_finite()), "{what}: non-finite output");
    let e = rel_err(got, want);
    assert!(e <= tol, "{what}: relative error {e:e} > {tol:e}");
}

/// Encodes `values` as the weight type (bf16/f16 rounded) and returns the bytes and
/// the values the GPU will see.
fn encode(values: &[f32], t: WeightType) -> (Vec<u8>, Vec<f32>) {
    match t {
        WeightType::F32 => (values.iter().flat_map(|v| v.to_le_bytes()).collect(), values.to_vec()),
        WeightType::BF16 => {
            let h: Vec<half::bf16> = values.iter().map(|&v| half::bf16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
        WeightType::F16 => {
            let h: Vec<half::f16> = values.iter().map(|&v| half::f16::from_f32(v)).collect();
            (h.iter().flat_map(|v| v.to_bits().to_le_bytes()).collect(), h.iter().map(|v| v.to_f32()).collect())
        }
    }
}

async fn run(gpu: &Gpu, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
    let mut enc = gpu.encoder();
    record(&mut enc);
    gpu.submit(enc);
    gpu.finish().await.expect("GPU work");
}

async fn read(gpu: &Gpu, b: &Buffer, n: usize) -> Vec<f32> {
    gpu.read_f32(b, 0, n).await.expect("readback")
}

/// Matmul for every weight type on shapes that cut tiles, with and without bias, and
/// writing into a column window of a wider output.
pub async fn matmul(gpu: &Gpu) {
    for (i, &(m, n, k)) in [
        (37, 70, 45),
        (65, 129, 96),
        (1, 200, 576),
        (130, 3, 17),
        (3, 33, 50),
        (20, 600, 64),
        (9, 1030, 136),
        (37, 70, 576),
        (50, 72, 2056),
    ]
    .iter()
    .enumerate()
    {
        for t in [WeightType::BF16, WeightType::F16, WeightType::F32] {
            let x = random(m * k, 1 + i as u64);
            let (bytes, w) = encode(&random(n * k, 100 + i as u64), t);
            let bias = random(n, 200 + i as u64);
            let xb = gpu.upload_f32("x", &x).unwrap();
            let wm = Matrix { buf: gpu.upload("w", &bytes).unwrap(), dtype: t, rows: n, cols: k };
            let bb = gpu.upload_f32("bias", &bias).unwrap();
            // Output: n columns at offset 3 inside rows of n + 5.
            let ldy = n + 5;
            let y = gpu.upload_f32("y", &vec![7.0; m * ldy]).unwrap();
            run(gpu, |enc| kernels::matmul(gpu, enc, &xb, m, &wm, Some(&bb), &y, Out { ldy, y_off: 3 })).await;
            let got = read(gpu, &y, m * ldy).await;
            let mut want = cpu::matmul(&x, m, &w, n, k);
            for r in 0..m {
                for c in 0..n {
                    want[r * n + c] += bias[c];
                }
            }
            let got_cols: Vec<f32> = (0..m).flat_map(|r| got[r * ldy + 3..r * ldy + 3 + n].to_vec()).collect();
            assert_close(&format!("matmul {:?} (subgroups {}) {t:?} {m}×{n}×{k}", gpu.style, gpu.subgroups), &got_cols, &want, 2e-5);
            let untouched = (0..m).all(|r| got[r * ldy..r * ldy + 3].iter().chain(&got[r * ldy + 3 + n..(r + 1) * ldy]).all(|&v| v == 7.0));
            assert!(untouched, "matmul {t:?} wrote outside its column window");
        }
    }
}

/// RMSNorm, in place and copying, with the plain and Gemma (1 + w) forms.
pub async fn norm(gpu: &Gpu) {
    for (rows, n, offset) in [(5, 67, 0.0), (3, 576, 1.0), (2, 1000, 0.0)] {
        let x: Vec<f32> = random(rows * n, 7).iter().map(|v| v * 3.0).collect();
        let w = random(n, 8);
        let mut want = x.clone();
        cpu::rms_norm_rows(&mut want, &w, 1e-6, offset);
        let (xb, wb) = (gpu.upload_f32("x", &x).unwrap(), gpu.upload_f32("w", &w).unwrap());
        let dst = gpu.storage("dst", (rows * n * 4) as u64).unwrap();
        run(gpu, |enc| kernels::norm_copy(gpu, enc, &xb, &dst, rows, Norm { w: &wb, n, eps: 1e-6, offset })).await;
        assert_close(&format!("norm_copy {rows}×{n}"), &read(gpu, &dst, rows * n).await, &want, 1e-5);
        assert_eq!(read(gpu, &xb, rows * n).await, x, "norm_copy changed its input");
        run(gpu, |enc| kernels::norm_inplace(gpu, enc, &xb, rows, Norm { w: &wb, n, eps: 1e-6, offset })).await;
        assert_close(&format!("norm_inplace {rows}×{n}"), &read(gpu, &xb, rows * n).await, &want, 1e-5);
    }
}

/// RoPE over two windows (positions restart at each window).
pub async fn rope(gpu: &Gpu) {
    let (t, windows, heads, hd) = (7, 2, 3, 10);
    let rows = t * windows;
    let inv: Vec<f64> = (0..hd / 2).map(|j| 1.0 / 10000f64.powf(2.0 * j as f64 / hd as f64)).collect();
    let x = random(rows * heads * hd, 9);
    let table: Vec<f32> =
        (0..t).flat_map(|p| inv.iter().flat_map(move |f| [(p as f64 * f).cos() as f32, (p as f64 * f).sin() as f32])).collect();
    let mut want = Vec::new();
    for w in 0..windows {
        let mut part = x[w * t * heads * hd..(w + 1) * t * heads * hd].to_vec();
        cpu::rope(&mut part, t, 0, heads, hd, &inv);
        want.extend(part);
    }
    let (xb, tb) = (gpu.upload_f32("x", &x).unwrap(), gpu.upload_f32("table", &table).unwrap());
    run(gpu, |enc| kernels::rope(gpu, enc, &xb, &tb, rows, heads, hd, t)).await;
    assert_close("rope", &read(gpu, &xb, x.len()).await, &want, 1e-6);
}

/// Causal GQA attention: several windows, a sliding window, a window longer than the
/// kernel's 512-score chunk, and head_dim above the 64-lane workgroup; on `Lanes`
/// adapters the shapes with T and head_dim multiples of 8 run as products, one of them
/// with more windows than fit one chunk of scores.
pub async fn attention(gpu: &Gpu) {
    let cases = [
        (37, 2, 4, 2, 24, None),
        (37, 2, 4, 2, 24, Some(5)),
        (600, 1, 2, 1, 8, None),
        (9, 3, 2, 2, 130, Some(4)),
        (70, 2, 2, 1, 256, Some(20)),
        (40, 3, 4, 2, 64, None),
        (96, 2, 3, 1, 32, Some(20)),
        (16, 2, 2, 1, 256, Some(5)),
        (1448, 5, 2, 1, 8, None),
    ];
    for (t, windows, heads, kv, hd, window) in cases {
        let rows = t * windows;
        let q = random(rows * heads * hd, 11);
        let k = random(rows * kv * hd, 12);
        let v = random(rows * kv * hd, 13);
        let scale = 1.0 / (hd as f32).sqrt();
        let mut want = Vec::new();
        for w in 0..windows {
            let sl = |a: &[f32], width: usize| a[w * t * width..(w + 1) * t * width].to_vec();
            want.extend(cpu::attention(&sl(&q, heads * hd), &sl(&k, kv * hd), &sl(&v, kv * hd), t, 0, heads, kv, hd, scale, window));
        }
        let (qb, kb, vb) = (gpu.upload_f32("q", &q).unwrap(), gpu.upload_f32("k", &k).unwrap(), gpu.upload_f32("v", &v).unwrap());
        let out = gpu.storage("out", (rows * heads * hd * 4) as u64).unwrap();
        let shape = AttnShape { t, rows, heads, kv_heads: kv, hd, scale, window };
        run(gpu, |enc| kernels::attention(gpu, enc, &qb, &kb, &vb, &out, shape).unwrap()).await;
        assert_close(
            &format!("attention {:?} t={t} hd={hd} window={window:?}", gpu.style),
            &read(gpu, &out, want.len()).await,
            &want,
            2e-5,
        );
    }
}

/// The GLU (SiLU and GELU-tanh, including large inputs) and the residual add.
pub async fn elementwise(gpu: &Gpu) {
    let n = 1234;
    let g: Vec<f32> = random(n, 14).iter().map(|v| v * 30.0).collect();
    let u = random(n, 15);
    for act in [Activation::Silu, Activation::GeluTanh] {
        let (gb, ub) = (gpu.upload_f32("g", &g).unwrap(), gpu.upload_f32("u", &u).unwrap());
        run(gpu, |enc| kernels::glu(gpu, enc, &gb, &ub, n, act)).await;
        let want: Vec<f32> = g.iter().zip(&u).map(|(&a, &b)| act.apply(a) * b).collect();
        assert_close(&format!("glu {act:?}"), &read(gpu, &gb, n).await, &want, 1e-5);
    }
    let (xb, yb) = (gpu.upload_f32("x", &g).unwrap(), gpu.upload_f32("y", &u).unwrap());
    run(gpu, |enc| kernels::add(gpu, enc, &xb, &yb, n)).await;
    let want: Vec<f32> = g.iter().zip(&u).map(|(a, b)| a + b).collect();
    assert_eq!(read(gpu, &xb, n).await, want, "add");
}

/// The masked act² sums per window, against f64 sums; zero weights drop positions.
pub async fn act2(gpu: &Gpu) {
    let (windows, t, i_dim) = (3, 11, 300);
    let h: Vec<f32> = random(windows * t * i_dim, 16).iter().map(|v| v * 5.0).collect();
    let w: Vec<f32> = (0..windows * t).map(|i| if i % 4 == 1 { 0.0 } else { 1.0 }).collect();
    let (hb, wb) = (gpu.upload_f32("h", &h).unwrap(), gpu.upload_f32("w", &w).unwrap());
    let imp = gpu.upload_f32("imp", &vec![-1.0; 5 + windows * i_dim]).unwrap();
    run(gpu, |enc| kernels::act2(gpu, enc, &hb, &wb, &imp, windows, t, i_dim, 5)).await;
    let got = read(gpu, &imp, 5 + windows * i_dim).await;
    assert_eq!(&got[..5], &[-1.0; 5], "act2 wrote before its offset");
    let mut want = vec![0f32; windows * i_dim];
    for b in 0..windows {
        for k in 0..i_dim {
            want[b * i_dim + k] = (0..t).map(|i| w[b * t + i] as f64 * (h[(b * t + i) * i_dim + k] as f64).powi(2)).sum::<f64>() as f32;
        }
    }
    assert_close("act2", &got[5..], &want, 1e-6);
}

/// Every case above; matmul and attention in both variants (and the Lanes matmul with
/// and without subgroups where the adapter has them), whichever the adapter would pick.
pub async fn all(gpu: &mut Gpu) {
    let (picked, subgroups) = (gpu.style, gpu.subgroups);
    for style in [compact::engine::kernels::Style::Tiled, compact::engine::kernels::Style::Lanes] {
        gpu.style = style;
        matmul(gpu).await;
        attention(gpu).await;
    }
    if subgroups {
        // The Lanes matmul above used its subgroup variant; run the plain one too.
        gpu.subgroups = false;
        matmul(gpu).await;
    }
    (gpu.style, gpu.subgroups) = (picked, subgroups);
    norm(gpu).await;
    rope(gpu).await;
    elementwise(gpu).await;
    act2(gpu).await;
    too_large_buffer_is_refused(gpu);
}

/// The GPU's own limits reject an impossible buffer with a clear message.
pub fn too_large_buffer_is_refused(gpu: &Gpu) {
    let limit = gpu.limits.max_storage_buffer_binding_size;
    match gpu.storage("huge", limit + 4) {
        Err(e) => assert!(e.to_string().contains("MiB"), "{e}"),
        Ok(_) => panic!("a buffer over the binding limit was created"),
    }
}
