//! ggml tensor types and their dequantization to f32.
//!
//! Each quantized type packs a fixed number of weights (a block: 32, or 256 for the
//! "K" types) into a fixed number of bytes with one or two f16 scales. The formulas
//! follow ggml's reference dequantizers operation by operation (same f32 products in
//! the same order), so results are bit-identical to llama.cpp's and gguf-py's.

use half::{bf16, f16};

/// A ggml element type, as stored in a GGUF tensor info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float (ggml id 0).
    F32,
    /// IEEE half: 5-bit exponent, 10-bit mantissa (id 1).
    F16,
    /// bfloat16: 8-bit exponent, 7-bit mantissa (id 30).
    BF16,
    /// 4-bit, blocks of 32 with an f16 scale: 4.5 bits per weight (id 2).
    Q4_0,
    /// 4-bit, blocks of 32 with f16 scale and min: 5 bits per weight (id 3).
    Q4_1,
    /// 5-bit, blocks of 32 with an f16 scale: 5.5 bits per weight (id 6).
    Q5_0,
    /// 5-bit, blocks of 32 with f16 scale and min: 6 bits per weight (id 7).
    Q5_1,
    /// 8-bit, blocks of 32 with an f16 scale: 8.5 bits per weight (id 8).
    Q8_0,
    /// Q2_K: 2-bit k-quant, super-blocks of 256: 2.625 bits per weight (id 10).
    Q2K,
    /// Q3_K: 3-bit k-quant, super-blocks of 256: 3.4375 bits per weight (id 11).
    Q3K,
    /// Q4_K: 4-bit k-quant, super-blocks of 256: 4.5 bits per weight (id 12).
    Q4K,
    /// Q5_K: 5-bit k-quant, super-blocks of 256: 5.5 bits per weight (id 13).
    Q5K,
    /// Q6_K: 6-bit k-quant, super-blocks of 256: 6.5625 bits per weight (id 14).
    Q6K,
    /// A type this importer cannot dequantize (the ggml type id).
    Other(u32),
}

impl GgmlType {
    /// Every type that can be dequantized.
    pub const SUPPORTED: [GgmlType; 13] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2K,
        GgmlType::Q3K,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
    ];

    /// The type with ggml id `id`.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            10 => GgmlType::Q2K,
            11 => GgmlType::Q3K,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            30 => GgmlType::BF16,
            other => GgmlType::Other(other),
        }
    }

    /// The ggml type id.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q2K => 10,
            GgmlType::Q3K => 11,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
            GgmlType::Other(id) => id,
        }
    }

    /// ggml's name for the type (also for types that cannot be dequantized here).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::BF16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q2K => "Q2_K",
            GgmlType::Q3K => "Q3_K",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q5K => "Q5_K",
            GgmlType::Q6K => "Q6_K",
            GgmlType::Other(id) => match id {
                4 => "Q4_2",
                5 => "Q4_3",
                9 => "Q8_1",
                15 => "Q8_K",
                16 => "IQ2_XXS",
                17 => "IQ2_XS",
                18 => "IQ3_XXS",
                19 => "IQ1_S",
                20 => "IQ4_NL",
                21 => "IQ3_S",
                22 => "IQ2_S",
                23 => "IQ4_XS",
                24 => "I8",
                25 => "I16",
                26 => "I32",
                27 => "I64",
                28 => "F64",
                29 => "IQ1_M",
                34 => "TQ1_0",
                35 => "TQ2_0",
                39 => "MXFP4",
                _ => "unknown",
            },
        }
    }

    /// `(weights per block, bytes per block)`, for the types that can be dequantized.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q2K => (256, 84),
            GgmlType::Q3K => (256, 110),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q5K => (256, 176),
            GgmlType::Q6K => (256, 210),
            GgmlType::Other(_) => return None,
        })
    }

    /// True when [`dequantize`] handles this type.
    pub fn is_supported(self) -> bool {
        self.block().is_some()
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GgmlType::Other(id) => write!(f, "ggml type {} (id {id})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// The list of supported type names, for error messages.
pub fn supported_names() -> String {
    GgmlType::SUPPORTED.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

/// Dequantizes whole blocks of type `ty` from `src` into `dst`.
///
/// `src` must hold exactly `dst.len() / block` blocks; `dst.len()` must be a multiple
/// of the block size.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), String> {
    let (block, size) =
        ty.block().ok_or_else(|| format!("{ty} cannot be dequantized by this importer (supported: {})", supported_names()))?;
    let (block, size) = (block as usize, size as usize);
    if !dst.len().is_multiple_of(block) || src.len() != dst.len() / block * size {
        return Err(format!("{ty}: {} bytes for {} weights (expected {} bytes per {block} weights)", src.len(), dst.len(), size));
    }
    let blocks = src.chunks_exact(size).zip(dst.chunks_exact_mut(block));
    match ty {
        GgmlType::F32 => src.chunks_exact(4).zip(dst.iter_mut()).for_each(|(b, y)| *y = f32::from_le_bytes(b.try_into().unwrap())),
        GgmlType::F16 => src.chunks_exact(2).zip(dst.iter_mut()).for_each(|(b, y)| *y = half(b)),
        GgmlType::BF16 => {
            src.chunks_exact(2).zip(dst.iter_mut()).for_each(|(b, y)| *y = bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
        }
        GgmlType::Q4_0 => blocks.for_each(|(b, y)| q4_0(b, y)),
        GgmlType::Q4_1 => blocks.for_each(|(b, y)| q4_1(b, y)),
        GgmlType::Q5_0 => blocks.for_each(|(b, y)| q5_0(b, y)),
        GgmlType::Q5_1 => blocks.for_each(|(b, y)| q5_1(b, y)),
        GgmlType::Q8_0 => blocks.for_each(|(b, y)| q8_0(b, y)),
        GgmlType::Q2K => blocks.for_each(|(b, y)| q2_k(b, y)),
        GgmlType::Q3K => blocks.for_each(|(b, y)| q3_k(b, y)),
        GgmlType::Q4K => blocks.for_each(|(b, y)| q4_k(b, y)),
        GgmlType::Q5K => blocks.for_each(|(b, y)| q5_k(b, y)),
        GgmlType::Q6K => blocks.for_each(|(b, y)| q6_k(b, y)),
        GgmlType::Other(_) => unreachable!("no block layout"),
    }
    Ok(())
}

/// The little-endian f16 at the start of `b`, as f32.
fn half(b: &[u8]) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// `d`, 16 bytes of 4-bit values: `y = d · (q − 8)`; low nibbles are the first 16 weights.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half(b);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = d * ((q & 0x0F) as i32 - 8) as f32;
        y[j + 16] = d * ((q >> 4) as i32 - 8) as f32;
    }
}

/// `d`, `m`, 16 bytes of 4-bit values: `y = d · q + m`.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b), half(&b[2..]));
    for (j, &q) in b[4..20].iter().enumerate() {
        y[j] = d * (q & 0x0F) as f32 + m;
        y[j + 16] = d * (q >> 4) as f32 + m;
    }
}

/// The 5-bit values of a Q5 block: low nibbles from `qs`, fifth bits from `qh`.
fn five_bits(qh: u32, qs: &[u8], j: usize) -> (u8, u8) {
    let h0 = ((qh >> j) & 1) as u8;
    let h1 = ((qh >> (j + 16)) & 1) as u8;
    ((qs[j] & 0x0F) | (h0 << 4), (qs[j] >> 4) | (h1 << 4))
}

/// `d`, 32 high bits, 16 bytes of low nibbles: `y = d · (q − 16)`.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = half(b);
    let qh = u32::from_le_bytes(b[2..6].try_into().unwrap());
    for j in 0..16 {
        let (a, c) = five_bits(qh, &b[6..22], j);
        y[j] = d * (a as i32 - 16) as f32;
        y[j + 16] = d * (c as i32 - 16) as f32;
    }
}

/// `d`, `m`, 32 high bits, 16 bytes of low nibbles: `y = d · q + m`.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b), half(&b[2..]));
    let qh = u32::from_le_bytes(b[4..8].try_into().unwrap());
    for j in 0..16 {
        let (a, c) = five_bits(qh, &b[8..24], j);
        y[j] = d * a as f32 + m;
        y[j + 16] = d * c as f32 + m;
    }
}

/// `d`, 32 signed bytes: `y = q · d`.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half(b);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = (q as i8) as f32 * d;
    }
}

/// 16 scale bytes (4-bit scale, 4-bit min), 64 bytes of 2-bit values, `d`, `dmin`.
fn q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[..16], &b[16..80]);
    let (d, dmin) = (half(&b[80..]), half(&b[82..]));
    for half_ in 0..2 {
        let q = &qs[half_ * 32..half_ * 32 + 32];
        for j in 0..4 {
            let shift = 2 * j;
            for part in 0..2 {
                let sc = scales[half_ * 8 + j * 2 + part];
                let dl = d * (sc & 0x0F) as f32;
                let ml = dmin * (sc >> 4) as f32;
                let out = &mut y[half_ * 128 + j * 32 + part * 16..][..16];
                for (l, o) in out.iter_mut().enumerate() {
                    *o = dl * ((q[part * 16 + l] >> shift) & 3) as f32 - ml;
                }
            }
        }
    }
}

/// 32 bytes of high bits, 64 bytes of 2-bit values, 12 bytes of 6-bit signed scales, `d`.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs, sc) = (&b[..32], &b[32..96], &b[96..108]);
    let d = half(&b[108..]);
    let scale = |i: usize| -> f32 {
        let low = if i < 8 { sc[i] & 0x0F } else { sc[i - 8] >> 4 };
        let high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        ((low | (high << 4)) as i8 - 32) as f32
    };
    for half_ in 0..2 {
        let q = &qs[half_ * 32..half_ * 32 + 32];
        for j in 0..4 {
            let shift = 2 * j;
            let bit = 1u8 << (half_ * 4 + j);
            for part in 0..2 {
                let dl = d * scale(half_ * 8 + j * 2 + part);
                let out = &mut y[half_ * 128 + j * 32 + part * 16..][..16];
                for (l, o) in out.iter_mut().enumerate() {
                    let k = part * 16 + l;
                    let low = ((q[k] >> shift) & 3) as i8;
                    let sub = if hmask[k] & bit != 0 { 0 } else { 4 };
                    *o = dl * (low - sub) as f32;
                }
            }
        }
    }
}

/// The 6-bit scale and min of sub-block `j` from the 12 packed bytes of Q4_K / Q5_K.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 { (q[j] & 63, q[j + 4] & 63) } else { ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)) }
}

/// `d`, `dmin`, 12 bytes of scales/mins, 128 bytes of 4-bit values.
fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b), half(&b[2..]));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for c in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * c, scales);
        let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
        let q = &qs[c * 32..c * 32 + 32];
        for l in 0..32 {
            y[c * 64 + l] = d1 * (q[l] & 0x0F) as f32 - m1;
            y[c * 64 + 32 + l] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// `d`, `dmin`, 12 bytes of scales/mins, 32 bytes of fifth bits, 128 bytes of nibbles.
fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b), half(&b[2..]));
    let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for c in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * c, scales);
        let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
        let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
        let q = &qs[c * 32..c * 32 + 32];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[c * 64 + l] = d1 * ((q[l] & 0x0F) + h1) as f32 - m1;
            y[c * 64 + 32 + l] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 signed scales, `d`.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = half(&b[208..]);
    for h in 0..2 {
        let ql = &b[h * 64..h * 64 + 64];
        let qh = &b[128 + h * 32..128 + h * 32 + 32];
        let sc = &b[192 + h * 8..192 + h * 8 + 8];
        let out = &mut y[h * 128..h * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_bits().to_le_bytes()
    }

    fn deq(ty: GgmlType, src: &[u8]) -> Vec<f32> {
        let (block, size) = ty.block().unwrap();
        let mut y = vec![0.0; src.len() / size as usize * block as usize];
        dequantize(ty, src, &mut y).unwrap();
        y
    }

    #[test]
    fn plain_float_types() {
        assert_eq!(deq(GgmlType::F32, &1.5f32.to_le_bytes()), [1.5]);
        assert_eq!(deq(GgmlType::F16, &f16b(-2.25)), [-2.25]);
        assert_eq!(deq(GgmlType::BF16, &bf16::from_f32(3.0).to_bits().to_le_bytes()), [3.0]);
    }

    #[test]
    fn q4_0_nibbles_low_half_first() {
        let mut b = f16b(0.5).to_vec();
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let y = deq(GgmlType::Q4_0, &b);
        assert_eq!(y[0], -4.0);
        assert_eq!(y[15], 3.5);
        assert_eq!(y[16], 3.5);
        assert_eq!(y[31], -4.0);
    }

    #[test]
    fn q4_1_adds_the_minimum() {
        let mut b = [f16b(2.0), f16b(-1.0)].concat();
        b.extend([0x21u8; 16]);
        let y = deq(GgmlType::Q4_1, &b);
        assert_eq!((y[0], y[16]), (1.0, 3.0));
    }

    #[test]
    fn q5_high_bits_come_from_qh() {
        let mut b = f16b(1.0).to_vec();
        b.extend((1u32 | 1 << 16 | 1 << 31).to_le_bytes());
        b.extend([0u8; 16]);
        let y = deq(GgmlType::Q5_0, &b);
        assert_eq!((y[0], y[1], y[16], y[31]), (0.0, -16.0, 0.0, 0.0));
        let mut b = [f16b(1.0), f16b(0.5)].concat();
        b.extend((1u32 << 17).to_le_bytes());
        b.extend([0x10u8; 16]);
        let y = deq(GgmlType::Q5_1, &b);
        assert_eq!((y[0], y[16], y[17]), (0.5, 1.5, 17.5));
    }

    #[test]
    fn q8_0_is_signed() {
        let mut b = f16b(0.25).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let y = deq(GgmlType::Q8_0, &b);
        assert_eq!((y[0], y[16], y[31]), (-4.0, 0.0, 3.75));
    }

    #[test]
    fn q2_k_scales_and_mins_per_16() {
        let mut b = vec![0u8; 84];
        b[0] = 0x21; // sub-block 0: scale 1, min 2
        b[1] = 0x03; // sub-block 1: scale 3, min 0
        b[16] = 0b10_11; // weight 0: q = 3; weight 32 (shift 2): q = 2
        b[16 + 16] = 0b01; // weight 16: q = 1
        b[80..82].copy_from_slice(&f16b(1.0));
        b[82..84].copy_from_slice(&f16b(0.5));
        b[2] = 0x05; // sub-block 2 (weights 32..48): scale 5
        let y = deq(GgmlType::Q2K, &b);
        assert_eq!(y[0], 3.0 - 1.0);
        assert_eq!(y[1], -1.0);
        assert_eq!(y[16], 3.0);
        assert_eq!(y[32], 10.0);
    }

    #[test]
    fn q3_k_six_bit_scales_and_inverted_high_bit() {
        let mut b = vec![0u8; 110];
        b[96] = 0x01 | 0x20; // scale 0 low = 1, scale 8 low = 2
        b[104] = 0x02 | 0x04; // scale 0 high = 2 (→ 33 − 32 = 1), scale 4 high = 1
        b[108..110].copy_from_slice(&f16b(1.0));
        b[0] = 1; // weight 0 has its high bit: no −4
        b[32] = 0b10;
        let y = deq(GgmlType::Q3K, &b);
        assert_eq!(y[0], 2.0, "scale 1 × q 2");
        assert_eq!(y[1], -4.0 * 1.0, "no high bit: q = 0 − 4");
        assert_eq!(y[128], (2 - 32) as f32 * -4.0, "scale 8 = 2 − 32");
    }

    #[test]
    fn q4_k_and_q5_k_scale_unpacking() {
        let mut b = vec![0u8; 144];
        b[0..2].copy_from_slice(&f16b(1.0));
        b[2..4].copy_from_slice(&f16b(1.0));
        b[4] = 0xC0 | 2; // sub-block 0: scale 2; top bits feed scale 4
        b[8] = 3; // sub-block 0 min 3
        b[12] = 0x51; // sub-block 4: scale 1 | (3 << 4) = 49, min 5
        b[16] = 0x21;
        b[16 + 64] = 0x04;
        let y = deq(GgmlType::Q4K, &b);
        assert_eq!(y[0], 2.0 * 1.0 - 3.0);
        assert_eq!(y[32], 0.0, "sub-block 1: scale 0 min 0");
        assert_eq!(y[128], 49.0 * 4.0 - 5.0);
        let mut b5 = vec![0u8; 176];
        b5[..16].copy_from_slice(&b[..16]);
        b5[16] = 0b01; // weight 0 fifth bit
        b5[48] = 0x21;
        let y = deq(GgmlType::Q5K, &b5);
        assert_eq!(y[0], 2.0 * 17.0 - 3.0);
    }

    #[test]
    fn q6_k_layout() {
        let mut b = vec![0u8; 210];
        b[208..210].copy_from_slice(&f16b(0.5));
        b[192] = 2; // scale for weights 0..16
        b[194] = (-1i8) as u8; // scale for weights 32..48
        b[0] = 0x3F; // low nibble 15 (weight 0), high nibble 3 (weight 64)
        b[128] = 0b0000_0011; // weight 0 high bits 3 → q = 63 − 32
        let y = deq(GgmlType::Q6K, &b);
        assert_eq!(y[0], 0.5 * 2.0 * 31.0);
        assert_eq!(y[32], -0.5 * -32.0, "d · scale(−1) · q(−32)");
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Random blocks of every type, dequantized by gguf-py (tests/golden/make_gguf_golden.py).
    #[test]
    fn matches_gguf_py_bit_for_bit() {
        let golden: serde_json::Value = serde_json::from_str(include_str!("../../tests/golden/quant_blocks.json")).unwrap();
        for ty in GgmlType::SUPPORTED.into_iter().filter(|&t| t != GgmlType::F32) {
            let entry = &golden[ty.name()];
            let src = unhex(entry["bytes"].as_str().unwrap_or_else(|| panic!("no golden for {ty}")));
            let want: Vec<u32> =
                unhex(entry["f32_le"].as_str().unwrap()).chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
            let got: Vec<u32> = deq(ty, &src).iter().map(|v| v.to_bits()).collect();
            assert_eq!(got.len(), want.len(), "{ty}");
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!("{ty}: value {i} is {} but gguf-py gives {}", f32::from_bits(got[i]), f32::from_bits(want[i]));
            }
        }
    }

    #[test]
    fn wrong_sizes_and_unknown_types_are_errors() {
        let mut y = vec![0.0; 32];
        assert!(dequantize(GgmlType::Q4_0, &[0; 17], &mut y).is_err());
        let e = dequantize(GgmlType::from_id(16), &[0; 66], &mut y).unwrap_err();
        assert!(e.contains("IQ2_XXS") && e.contains("supported"), "{e}");
        assert_eq!(GgmlType::from_id(99).to_string(), "ggml type unknown (id 99)");
    }
}
