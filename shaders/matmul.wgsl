// Matrix multiply with 2-byte (or f32) weights: y = x · wᵀ (+ bias), f32 accumulation.
//
//   x  : m × k activations, f32, row-major
//   w  : n × k weights (a PyTorch Linear weight), W_DTYPE-packed: two bf16/f16 values
//        per u32 (element e is the low half of word e/2 when e is even), or f32 bits
//   y  : rows of stride `ldy`; output column c of row r goes to y[r·ldy + y_off + c], so
//        the n columns of a weight chunk can land inside a wider matrix (lm_head chunks)
//
// Bindings (group 0):
//   @binding(0) uniform      MatmulParams
//   @binding(1) storage read x    : array<f32>
//   @binding(2) storage read w    : array<u32>
//   @binding(3) storage read bias : array<f32>   (n values; unread when has_bias = 0)
//   @binding(4) storage rw   y    : array<f32>
//
// Tiling: a 16 × 16 workgroup (256 invocations, the WebGPU minimum) computes a 64 × 64
// output tile; each invocation owns a 4 × 4 register block. The k loop stages a
// 64 × 16 slice of x and of w in workgroup memory, transposed so that the inner loop
// reads one vec4 of x rows and one vec4 of w rows per step (16 FMAs per 2 loads).
// Any m, n, k work: tiles are bounds-checked (zeros outside).
// Dispatch: (ceil(n / 64), ceil(m / 64), 1). This is the kernel for GPUs; CPU-style
// adapters use `matmul_lanes` at the end of this file.

// 0 = f32, 1 = bf16, 2 = f16 (pipeline-overridable; one pipeline per weight dtype).
override W_DTYPE: u32 = 1u;

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    ldy: u32,
    y_off: u32,
    has_bias: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TILE: u32 = 64u;
const BK: u32 = 16u;

// [BK][TILE / 4] vec4s: element (kk, row) is xs[kk * 16 + row / 4][row % 4].
var<workgroup> xs: array<vec4<f32>, 256>;
var<workgroup> ws: array<vec4<f32>, 256>;

fn half_to_f32(bits: u32) -> f32 {
    if (W_DTYPE == 1u) {
        return bitcast<f32>(bits << 16u);
    }
    return unpack2x16float(bits).x;
}

// Weight element e (flat index into the n × k matrix).
fn weight(e: u32) -> f32 {
    if (W_DTYPE == 0u) {
        return bitcast<f32>(w[e]);
    }
    let word = w[e >> 1u];
    return half_to_f32(select(word & 0xffffu, word >> 16u, (e & 1u) == 1u));
}

// Both halves of one packed word.
fn weight_pair(word: u32) -> vec2<f32> {
    if (W_DTYPE == 1u) {
        return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
    }
    return unpack2x16float(word);
}

// Four consecutive weights of row `r` from column `c` (c is a multiple of 4), zero
// outside the matrix.
fn weight4(r: u32, c: u32) -> vec4<f32> {
    if (r >= p.n || c >= p.k) {
        return vec4<f32>(0.0);
    }
    let e = r * p.k + c;
    // Fast path: 2-byte weights, even k, so (c, c+1) and (c+2, c+3) are whole words.
    if (W_DTYPE != 0u && (p.k & 1u) == 0u) {
        let lo = weight_pair(w[e >> 1u]);
        var hi = vec2<f32>(0.0);
        if (c + 2u < p.k) {
            hi = weight_pair(w[(e >> 1u) + 1u]);
        }
        return vec4<f32>(lo, hi);
    }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (c + j < p.k) {
            v[j] = weight(e + j);
        }
    }
    return v;
}

fn x4(r: u32, c: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (r < p.m) {
        let base = r * p.k;
        for (var j = 0u; j < 4u; j++) {
            if (c + j < p.k) {
                v[j] = x[base + c + j];
            }
        }
    }
    return v;
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    // Loader role: tile row lr, columns lk..lk+3 of the k slice.
    let lr = t >> 2u;
    let lk = (t & 3u) * 4u;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        let xv = x4(row0 + lr, k0 + lk);
        let wv = weight4(col0 + lr, k0 + lk);
        let slot = lr >> 2u;
        let lane = lr & 3u;
        for (var j = 0u; j < 4u; j++) {
            xs[(lk + j) * 16u + slot][lane] = xv[j];
            ws[(lk + j) * 16u + slot][lane] = wv[j];
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = xs[kk * 16u + ty];
            let b = ws[kk * 16u + tx];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }

    let c = col0 + tx * 4u;
    var b = vec4<f32>(0.0);
    if (p.has_bias != 0u) {
        for (var j = 0u; j < 4u; j++) {
            if (c + j < p.n) {
                b[j] = bias[c + j];
            }
        }
    }
    let r = row0 + ty * 4u;
    store_row(r, c, acc0 + b);
    store_row(r + 1u, c, acc1 + b);
    store_row(r + 2u, c, acc2 + b);
    store_row(r + 3u, c, acc3 + b);
}

fn store_row(r: u32, c: u32, v: vec4<f32>) {
    if (r >= p.m) {
        return;
    }
    let base = r * p.ldy + p.y_off;
    for (var j = 0u; j < 4u; j++) {
        if (c + j < p.n) {
            y[base + c + j] = v[j];
        }
    }
}

// ---------------------------------------------------------------------------------
// matmul_lanes: the same product for CPU-style adapters (lavapipe, SwiftShader), which
// run invocations as SIMD lanes and pay per lane for every storage load. No workgroup
// memory and no barriers; loads are 16 bytes wide (8 bf16/f16 or 4 f32 weights, 4 x
// values) and each loaded value feeds 8 FMAs: invocation c owns 8 output columns for
// 8 rows (the rows are the same across the workgroup, so x loads are uniform).
// Needs k % 8 == 0 (the host uses `matmul` otherwise). Same params as `matmul`;
// bindings 1 and 2 are the same buffers seen as vec4 arrays:
//   @binding(1) storage read xq : array<vec4<f32>>
//   @binding(2) storage read wq : array<vec4<u32>>
// Workgroups of 8 (64 columns), so narrow matrices waste few lanes.
// Dispatch: (ceil(n / 64), ceil(m / 8), 1).

@group(0) @binding(1) var<storage, read> xq: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> wq: array<vec4<u32>>;

// Weights k0..k0+7 of row r (r < n) as two vec4s.
fn weight8(r: u32, k0: u32) -> array<vec4<f32>, 2> {
    if (W_DTYPE == 0u) {
        let i = (r * p.k + k0) / 4u;
        return array<vec4<f32>, 2>(bitcast<vec4<f32>>(wq[i]), bitcast<vec4<f32>>(wq[i + 1u]));
    }
    let q = wq[(r * p.k + k0) / 8u];
    return array<vec4<f32>, 2>(vec4<f32>(weight_pair(q.x), weight_pair(q.y)), vec4<f32>(weight_pair(q.z), weight_pair(q.w)));
}

@compute @workgroup_size(8, 1, 1)
fn matmul_lanes(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c0 = (wid.x * 8u + lid.x) * 8u;
    let r0 = wid.y * 8u;
    let k4 = p.k / 4u;
    var acc: array<vec4<f32>, 16>; // row r: columns c0..c0+3 in acc[2r], c0+4..c0+7 in acc[2r+1]
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < p.k; k0 += 8u) {
        var lo: array<vec4<f32>, 8>;
        var hi: array<vec4<f32>, 8>;
        for (var j = 0u; j < 8u; j++) {
            let w8 = weight8(min(c0 + j, p.n - 1u), k0);
            lo[j] = w8[0];
            hi[j] = w8[1];
        }
        for (var r = 0u; r < 8u; r++) {
            let xi = min(r0 + r, p.m - 1u) * k4 + k0 / 4u;
            let xl = xq[xi];
            let xh = xq[xi + 1u];
            acc[2u * r] += vec4<f32>(
                dot(xl, lo[0]) + dot(xh, hi[0]),
                dot(xl, lo[1]) + dot(xh, hi[1]),
                dot(xl, lo[2]) + dot(xh, hi[2]),
                dot(xl, lo[3]) + dot(xh, hi[3]),
            );
            acc[2u * r + 1u] += vec4<f32>(
                dot(xl, lo[4]) + dot(xh, hi[4]),
                dot(xl, lo[5]) + dot(xh, hi[5]),
                dot(xl, lo[6]) + dot(xh, hi[6]),
                dot(xl, lo[7]) + dot(xh, hi[7]),
            );
        }
    }
    for (var h = 0u; h < 2u; h++) {
        let c = c0 + 4u * h;
        var b = vec4<f32>(0.0);
        if (p.has_bias != 0u) {
            for (var j = 0u; j < 4u; j++) {
                if (c + j < p.n) {
                    b[j] = bias[c + j];
                }
            }
        }
        for (var r = 0u; r < 8u; r++) {
            store_row(r0 + r, c, acc[2u * r + h] + b);
        }
    }
}
