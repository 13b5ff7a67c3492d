//! Quantization of f32 rows into ggml types, the inverse of [`super::quant`].
//!
//! The formulas follow ggml's reference quantizers (`quantize_row_*_ref` in
//! ggml-quants.c, without an importance matrix) operation by operation: the same f32
//! products in the same order, C's `roundf` (half away from zero) where ggml rounds,
//! truncation where it casts, and f16 scales rounded to nearest even. So a tensor
//! quantized here has the bytes llama.cpp would write for it.

use half::{bf16, f16};

use super::quant::GgmlType;

/// The types this module writes.
pub const WRITABLE: [GgmlType; 10] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
];

/// Appends row `x` quantized as `ty` to `out`; `x.len()` must be a whole number of
/// `ty`'s blocks. Returns `false` for a type this module does not write.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) -> bool {
    match ty {
        GgmlType::F32 => x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => x.iter().for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
        GgmlType::BF16 => x.iter().for_each(|&v| out.extend_from_slice(&bf16::from_f32(v).to_le_bytes())),
        GgmlType::Q8_0 => x.chunks_exact(32).for_each(|b| q8_0(b, out)),
        GgmlType::Q4_0 => x.chunks_exact(32).for_each(|b| q4_0(b, out)),
        GgmlType::Q5_0 => x.chunks_exact(32).for_each(|b| q5_0(b, out)),
        GgmlType::Q5_1 => x.chunks_exact(32).for_each(|b| q5_1(b, out)),
        GgmlType::Q4K => x.chunks_exact(256).for_each(|b| q45_k(b, 15, out)),
        GgmlType::Q5K => x.chunks_exact(256).for_each(|b| q45_k(b, 31, out)),
        GgmlType::Q6K => x.chunks_exact(256).for_each(|b| q6_k(b, out)),
        _ => return false,
    }
    true
}

/// `quantize_row_q8_0_ref`: d = max|x| / 127, q = roundf(x / d).
fn q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

/// `quantize_row_q4_0_ref`: d = (the value of largest magnitude) / −8, q = min(15,
/// trunc(x / d + 8.5)), two weights a byte (j in the low nibble, j + 16 in the high).
fn q4_0(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_max(x) / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    let q = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
}

/// The value of largest magnitude (the first of equal ones), 0 for none.
fn signed_max(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// `quantize_row_q5_0_ref`: as Q4_0 with d = max / −16 and 5-bit levels, the fifth
/// bits gathered in a 32-bit word.
fn q5_0(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_max(x) / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let q = |v: f32| ((v * id + 16.5) as i8).min(31) as u8;
    five_bits(f16::from_f32(d), None, (0..32).map(|j| q(x[j])), out);
}

/// `quantize_row_q5_1_ref`: d = (max − min) / 31 and an f16 min, levels
/// trunc((x − min) / d + 0.5).
fn q5_1(x: &[f32], out: &mut Vec<u8>) {
    let (min, max) = x.iter().fold((f32::MAX, -f32::MAX), |(lo, hi), &v| (if v < lo { v } else { lo }, if v > hi { v } else { hi }));
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    five_bits(f16::from_f32(d), Some(f16::from_f32(min)), x.iter().map(|&v| ((v - min) * id + 0.5) as u8), out);
}

/// Writes a Q5_0 / Q5_1 block: scale (and min), the 32 fifth bits, then the low
/// nibbles of weights j and j + 16 in byte j.
fn five_bits(d: f16, m: Option<f16>, levels: impl Iterator<Item = u8>, out: &mut Vec<u8>) {
    let levels: Vec<u8> = levels.collect();
    let qh = levels.iter().enumerate().fold(0u32, |qh, (j, &l)| qh | (((l as u32 & 0x10) >> 4) << j));
    out.extend_from_slice(&d.to_le_bytes());
    if let Some(m) = m {
        out.extend_from_slice(&m.to_le_bytes());
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend((0..16).map(|j| (levels[j] & 0x0f) | ((levels[j + 16] & 0x0f) << 4)));
}

/// Values below this count as zero (ggml's `GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round half to even through the float adder (|v| < 2^22).
fn nearest_int(v: f32) -> i32 {
    ((v + 12_582_912.0).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// An f16 scale as stored, and its value as ggml reads it back.
fn f16_rt(v: f32) -> (f16, f32) {
    let h = f16::from_f32(v);
    (h, h.to_f32())
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL)`: a symmetric scale and levels
/// `L` in `0..2·nmax`, refined over 18 nearby scales by weighted (x²) least squares.
fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let quant = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let mut iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (i, &v) in x.iter().enumerate() {
        let l = quant(iscale, v);
        levels[i] = (l + nmax) as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        (sumlx, suml2) = (0.0, 0.0);
        for &v in x {
            let l = quant(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (i, &v) in x.iter().enumerate() {
                levels[i] = (nmax + quant(iscale, v)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_qkx2_quants(32, nmax, x, weights, L, &min, Laux, rmin, rdelta, nstep, false)`:
/// an asymmetric scale and min with levels in `0..=nmax`, refined over `nstep + 1`
/// scales by weighted least squares. Returns (scale, −min).
fn make_qkx2_quants(nmax: i32, x: &[f32], weights: &[f32], levels: &mut [u8], rmin: f32, rdelta: f32, nstep: i32) -> (f32, f32) {
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..x.len() {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..x.len() {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        let diff = scale * levels[i] as f32 + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    let mut aux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..x.len() {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            aux[i] = l as u8;
            let (w, l) = (weights[i], l as f32);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for i in 0..x.len() {
                let diff = this_scale * aux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if cur_error < best_error {
                levels[..x.len()].copy_from_slice(&aux[..x.len()]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `quantize_row_q4_K_ref` (`nmax` 15) and `quantize_row_q5_K_ref` (`nmax` 31): eight
/// sub-blocks of 32 with 6-bit scales and mins under two f16 super-scales.
fn q45_k(x: &[f32], nmax: i32, out: &mut Vec<u8>) {
    let (mut levels, mut scales, mut mins) = ([0u8; 256], [0f32; 8], [0f32; 8]);
    let (rmin, nstep) = if nmax == 15 { (-1.0, 20) } else { (-0.5, 15) };
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let sub = &x[32 * j..32 * j + 32];
        let sum_x2 = sub.iter().fold(0f32, |s, v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|l| av_x + sub[l].abs());
        (scales[j], mins[j]) = make_qkx2_quants(nmax, sub, &weights, &mut levels[32 * j..32 * j + 32], rmin, 0.1, nstep);
        max_scale = if scales[j] > max_scale { scales[j] } else { max_scale };
        max_min = if mins[j] > max_min { mins[j] } else { max_min };
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d, d_val) = f16_rt(max_scale / 63.0);
    let (dmin, dmin_val) = f16_rt(max_min / 63.0);
    for j in 0..8 {
        let (sc, m) = if j < 4 {
            (packed[j] & 63, packed[j + 4] & 63)
        } else {
            ((packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4), (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4))
        };
        let d = d_val * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_val * m as f32;
        for i in 0..32 {
            levels[32 * j + i] = nearest_int((x[32 * j + i] + dm) / d).clamp(0, nmax) as u8;
        }
    }
    out.extend_from_slice(&d.to_le_bytes());
    out.extend_from_slice(&dmin.to_le_bytes());
    out.extend_from_slice(&packed);
    if nmax == 31 {
        let mut qh = [0u8; 32];
        for (n, (m1, m2)) in (0..256).step_by(64).zip([(1u8, 2u8), (4, 8), (16, 32), (64, 128)]) {
            for j in 0..32 {
                qh[j] |= if levels[n + j] > 15 { m1 } else { 0 } | if levels[n + j + 32] > 15 { m2 } else { 0 };
            }
        }
        out.extend_from_slice(&qh);
    }
    for n in (0..256).step_by(64) {
        out.extend((0..32).map(|l| (levels[n + l] & 0xf) | ((levels[n + l + 32] & 0xf) << 4)));
    }
}

/// `quantize_row_q6_K_ref`: sixteen sub-blocks of 16 with signed 8-bit scales under
/// one f16 super-scale, 6-bit levels split into low nibbles and high pairs.
fn q6_k(x: &[f32], out: &mut Vec<u8>) {
    let (mut levels, mut scales) = ([0i8; 256], [0f32; 16]);
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for ib in 0..16 {
        let scale = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut levels[16 * ib..16 * ib + 16]);
        scales[ib] = scale;
        if scale.abs() > max_abs_scale {
            max_abs_scale = scale.abs();
            max_scale = scale;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out.extend_from_slice(&[0u8; 210]);
        return;
    }
    let iscale = -128.0 / max_scale;
    let (d, d_val) = f16_rt(1.0 / iscale);
    let q_scales: [i8; 16] = std::array::from_fn(|ib| nearest_int(iscale * scales[ib]).min(127) as i8);
    for j in 0..16 {
        let d = d_val * q_scales[j] as f32;
        if d == 0.0 {
            continue;
        }
        for i in 0..16 {
            levels[16 * j + i] = (nearest_int(x[16 * j + i] / d).clamp(-32, 31) + 32) as i8;
        }
    }
    let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
    for (half, j) in (0..256).step_by(128).enumerate() {
        let (ql, qh) = (&mut ql[64 * half..64 * half + 64], &mut qh[32 * half..32 * half + 32]);
        for l in 0..32 {
            let q = |o: usize| levels[j + l + o] as u8;
            ql[l] = (q(0) & 0xf) | ((q(64) & 0xf) << 4);
            ql[l + 32] = (q(32) & 0xf) | ((q(96) & 0xf) << 4);
            qh[l] = (q(0) >> 4) | ((q(32) >> 4) << 2) | ((q(64) >> 4) << 4) | ((q(96) >> 4) << 6);
        }
    }
    out.extend_from_slice(&ql);
    out.extend_from_slice(&qh);
    out.extend(q_scales.iter().map(|&s| s as u8));
    out.extend_from_slice(&d.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::quant::dequantize;

    fn sample(seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..256)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((s >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    }

    #[test]
    fn every_writable_type_round_trips_through_the_dequantizer_within_its_step() {
        let x = sample(7);
        for (ty, tol) in [
            (GgmlType::F32, 0.0),
            (GgmlType::F16, 1e-4),
            (GgmlType::BF16, 1e-3),
            (GgmlType::Q8_0, 1e-3),
            (GgmlType::Q4_0, 0.0126),
            (GgmlType::Q6K, 3e-3),
            (GgmlType::Q5K, 6e-3),
            (GgmlType::Q4K, 0.0126),
        ] {
            let mut bytes = Vec::new();
            assert!(quantize_row(ty, &x, &mut bytes));
            let (block, size) = ty.block().unwrap();
            assert_eq!(bytes.len() as u64, 256 / block * size, "{ty}");
            let mut back = vec![0f32; 256];
            dequantize(ty, &bytes, &mut back).unwrap();
            let worst = x.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            // Q4_0: up to one step (0.1 / 8) where the clamp at 15 cuts the side opposite the largest value.
            assert!(worst <= tol, "{ty}: worst error {worst}");
        }
    }

    /// Every row of tests/golden/quantize.json (ggml's reference quantizers, run by
    /// tests/golden/make_quantize_golden.py) quantizes to exactly ggml's bytes.
    #[test]
    fn bit_identical_to_ggmls_reference_quantizers() {
        let golden: serde_json::Value =
            serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/quantize.json"))).unwrap();
        let hex = |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
        let rows = golden["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 12);
        for row in rows {
            let x: Vec<f32> = hex(row["f32"].as_str().unwrap()).chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            assert_eq!(row["bytes"].as_object().unwrap().len(), 7, "every quantized type has goldens");
            for (name, want) in row["bytes"].as_object().unwrap() {
                let ty = WRITABLE.into_iter().find(|t| t.name() == name).unwrap();
                let mut got = Vec::new();
                assert!(quantize_row(ty, &x, &mut got));
                let want = hex(want.as_str().unwrap());
                let first = got.iter().zip(&want).position(|(a, b)| a != b);
                assert!(got == want, "{name} of row {}: first differing byte {first:?}", row["name"]);
            }
        }
    }

    #[test]
    fn zeros_and_edge_values_follow_the_reference() {
        let mut out = Vec::new();
        q8_0(&[0.0; 32], &mut out);
        assert_eq!(out, [0u8; 34], "d = 0, id = 0");
        let mut x = [0f32; 32];
        x[3] = -1.0;
        x[4] = 0.5;
        out.clear();
        q4_0(&x, &mut out);
        // d = −1 / −8 = 0.125; x = −1 → trunc(−8 + 8.5) = 0; 0.5 → trunc(4 + 8.5) = 12; 0 → 8.
        assert_eq!(f16::from_le_bytes([out[0], out[1]]).to_f32(), 0.125);
        assert_eq!(out[2 + 3], 0x80);
        assert_eq!(out[2 + 4], 0x8c);
        assert_eq!(out[2], 0x88);
    }
}
