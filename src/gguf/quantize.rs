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
pub const WRITABLE: [GgmlType; 5] = [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0];

/// Appends row `x` quantized as `ty` to `out`; `x.len()` must be a whole number of
/// `ty`'s blocks. Returns `false` for a type this module does not write.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) -> bool {
    match ty {
        GgmlType::F32 => x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        GgmlType::F16 => x.iter().for_each(|&v| out.extend_from_slice(&f16::from_f32(v).to_le_bytes())),
        GgmlType::BF16 => x.iter().for_each(|&v| out.extend_from_slice(&bf16::from_f32(v).to_le_bytes())),
        GgmlType::Q8_0 => x.chunks_exact(32).for_each(|b| q8_0(b, out)),
        GgmlType::Q4_0 => x.chunks_exact(32).for_each(|b| q4_0(b, out)),
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
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    let q = |v: f32| ((v * id + 8.5) as i8).min(15) as u8;
    out.extend((0..16).map(|j| q(x[j]) | (q(x[j + 16]) << 4)));
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
        for (ty, tol) in
            [(GgmlType::F32, 0.0), (GgmlType::F16, 1e-4), (GgmlType::BF16, 1e-3), (GgmlType::Q8_0, 1e-3), (GgmlType::Q4_0, 0.0126)]
        {
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
