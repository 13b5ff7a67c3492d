// Matrix multiply with 2-byte (or f32) weights: y = x · wᵀ (+ bias), f32 accumulation.
//
//   x  : m × k activations, f32: element (r, c) at x[x_off + r·ldx + c]
//   w  : n × k weights (a PyTorch Linear weight), W_DTYPE-packed: two bf16/f16 values
//        per u32 (element e is the low half of word e/2 when e is even), or f32 bits;
//        element (r, c) is element w_off + r·ldw + c
//   y  : output (r, c) goes to y[y_off + r·ldy + c], so the n columns of a weight chunk
//        can land inside a wider matrix (lm_head chunks, attention heads)
// Batches: workgroup z adds z·x_bs, z·w_bs and z·y_bs to the three offsets (attention
// runs one product per window this way). A plain Linear has ldx = ldw = k, offsets 0.
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
    ldx: u32,
    x_off: u32,
    ldw: u32,
    w_off: u32,
    x_bs: u32,
    w_bs: u32,
    y_bs: u32,
    // Causal products (the Lanes kernels only, for attention within a window):
    // 1 = skip workgroups whose columns all exceed their rows (q·kᵀ), 2 = stop the k loop
    // after the last row of the workgroup (p·v, p being zero there).
    causal: u32,
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

// Weight element e (flat element index into the buffer).
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
// outside the matrix; `wo` is the weights' offset.
fn weight4(r: u32, c: u32, wo: u32) -> vec4<f32> {
    if (r >= p.n || c >= p.k) {
        return vec4<f32>(0.0);
    }
    let e = wo + r * p.ldw + c;
    // Fast path: 2-byte weights, even k, stride and offset, so (c, c+1) and (c+2, c+3)
    // are whole words.
    if (W_DTYPE != 0u && ((p.k | p.ldw | wo) & 1u) == 0u) {
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

fn x4(r: u32, c: u32, xo: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (r < p.m) {
        let base = xo + r * p.ldx;
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
    let xo = p.x_off + wid.z * p.x_bs;
    let wo = p.w_off + wid.z * p.w_bs;
    let yo = p.y_off + wid.z * p.y_bs;
    // Loader role: tile row lr, columns lk..lk+3 of the k slice.
    let lr = t >> 2u;
    let lk = (t & 3u) * 4u;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        let xv = x4(row0 + lr, k0 + lk, xo);
        let wv = weight4(col0 + lr, k0 + lk, wo);
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
    store_row(r, c, acc0 + b, yo);
    store_row(r + 1u, c, acc1 + b, yo);
    store_row(r + 2u, c, acc2 + b, yo);
    store_row(r + 3u, c, acc3 + b, yo);
}

fn store_row(r: u32, c: u32, v: vec4<f32>, yo: u32) {
    if (r >= p.m) {
        return;
    }
    let base = yo + r * p.ldy;
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
// Needs k % 8 == 0, ldx and x_off multiples of 4, and ldw and w_off multiples of 8
// (4 for f32); the host uses `matmul` otherwise. Same params as `matmul` (plus
// `causal`); bindings 1 and 2 are the same buffers seen as vec4 arrays:
//   @binding(1) storage read xq : array<vec4<f32>>
//   @binding(2) storage read wq : array<vec4<u32>>
// Workgroups of 8 (64 columns), so narrow matrices waste few lanes.
// Dispatch: (ceil(n / 64), ceil(m / 8), batches).

@group(0) @binding(1) var<storage, read> xq: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> wq: array<vec4<u32>>;

// Weights k..k+7 of row r (r < n): lo = k..k+3, hi = k+4..k+7.
struct W8 {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

// `wo + r·ldw` must be a multiple of 8 (4 for f32).
fn weight8(r: u32, k: u32, wo: u32) -> W8 {
    if (W_DTYPE == 0u) {
        let i = (wo + r * p.ldw + k) / 4u;
        return W8(bitcast<vec4<f32>>(wq[i]), bitcast<vec4<f32>>(wq[i + 1u]));
    }
    let q = wq[(wo + r * p.ldw + k) / 8u];
    return W8(vec4<f32>(weight_pair(q.x), weight_pair(q.y)), vec4<f32>(weight_pair(q.z), weight_pair(q.w)));
}

// The loops over the 8 rows, 8 columns and 8 k values of a step are written out, so
// every value is a named register (llvmpipe keeps private arrays indexed by a loop
// variable in memory), and each step is 512 FMAs as outer products: row r's 4-column
// accumulator += x[r][k] · (w[c][k], …, w[c+3][k]).
@compute @workgroup_size(8, 1, 1)
fn matmul_lanes(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let c0 = (wid.x * 8u + lid.x) * 8u;
    let r0 = wid.y * 8u;
    let xo = p.x_off + wid.z * p.x_bs;
    let wo = p.w_off + wid.z * p.w_bs;
    let last = p.n - 1u;
    if (p.causal == 1u && wid.x * 64u > r0 + 7u) {
        return;
    }
    let k_end = causal_k_end(r0 + 8u);
    let x0 = (min(r0 + 0u, p.m - 1u) * p.ldx + xo) / 4u;
    let x1 = (min(r0 + 1u, p.m - 1u) * p.ldx + xo) / 4u;
    let x2 = (min(r0 + 2u, p.m - 1u) * p.ldx + xo) / 4u;
    let x3 = (min(r0 + 3u, p.m - 1u) * p.ldx + xo) / 4u;
    let x4 = (min(r0 + 4u, p.m - 1u) * p.ldx + xo) / 4u;
    let x5 = (min(r0 + 5u, p.m - 1u) * p.ldx + xo) / 4u;
    let x6 = (min(r0 + 6u, p.m - 1u) * p.ldx + xo) / 4u;
    let x7 = (min(r0 + 7u, p.m - 1u) * p.ldx + xo) / 4u;
    var acc0a = vec4<f32>(0.0);
    var acc0b = vec4<f32>(0.0);
    var acc1a = vec4<f32>(0.0);
    var acc1b = vec4<f32>(0.0);
    var acc2a = vec4<f32>(0.0);
    var acc2b = vec4<f32>(0.0);
    var acc3a = vec4<f32>(0.0);
    var acc3b = vec4<f32>(0.0);
    var acc4a = vec4<f32>(0.0);
    var acc4b = vec4<f32>(0.0);
    var acc5a = vec4<f32>(0.0);
    var acc5b = vec4<f32>(0.0);
    var acc6a = vec4<f32>(0.0);
    var acc6b = vec4<f32>(0.0);
    var acc7a = vec4<f32>(0.0);
    var acc7b = vec4<f32>(0.0);
    for (var k = 0u; k < k_end; k += 8u) {
        let w0 = weight8(min(c0 + 0u, last), k, wo);
        let w1 = weight8(min(c0 + 1u, last), k, wo);
        let w2 = weight8(min(c0 + 2u, last), k, wo);
        let w3 = weight8(min(c0 + 3u, last), k, wo);
        let w4 = weight8(min(c0 + 4u, last), k, wo);
        let w5 = weight8(min(c0 + 5u, last), k, wo);
        let w6 = weight8(min(c0 + 6u, last), k, wo);
        let w7 = weight8(min(c0 + 7u, last), k, wo);
        let a0 = vec4<f32>(w0.lo.x, w1.lo.x, w2.lo.x, w3.lo.x);
        let b0 = vec4<f32>(w4.lo.x, w5.lo.x, w6.lo.x, w7.lo.x);
        let a1 = vec4<f32>(w0.lo.y, w1.lo.y, w2.lo.y, w3.lo.y);
        let b1 = vec4<f32>(w4.lo.y, w5.lo.y, w6.lo.y, w7.lo.y);
        let a2 = vec4<f32>(w0.lo.z, w1.lo.z, w2.lo.z, w3.lo.z);
        let b2 = vec4<f32>(w4.lo.z, w5.lo.z, w6.lo.z, w7.lo.z);
        let a3 = vec4<f32>(w0.lo.w, w1.lo.w, w2.lo.w, w3.lo.w);
        let b3 = vec4<f32>(w4.lo.w, w5.lo.w, w6.lo.w, w7.lo.w);
        let a4 = vec4<f32>(w0.hi.x, w1.hi.x, w2.hi.x, w3.hi.x);
        let b4 = vec4<f32>(w4.hi.x, w5.hi.x, w6.hi.x, w7.hi.x);
        let a5 = vec4<f32>(w0.hi.y, w1.hi.y, w2.hi.y, w3.hi.y);
        let b5 = vec4<f32>(w4.hi.y, w5.hi.y, w6.hi.y, w7.hi.y);
        let a6 = vec4<f32>(w0.hi.z, w1.hi.z, w2.hi.z, w3.hi.z);
        let b6 = vec4<f32>(w4.hi.z, w5.hi.z, w6.hi.z, w7.hi.z);
        let a7 = vec4<f32>(w0.hi.w, w1.hi.w, w2.hi.w, w3.hi.w);
        let b7 = vec4<f32>(w4.hi.w, w5.hi.w, w6.hi.w, w7.hi.w);
        let q = k / 4u;
        let x0l = xq[x0 + q];
        let x0h = xq[x0 + q + 1u];
        acc0a = fma(vec4<f32>(x0l.x), a0, acc0a);
        acc0b = fma(vec4<f32>(x0l.x), b0, acc0b);
        acc0a = fma(vec4<f32>(x0l.y), a1, acc0a);
        acc0b = fma(vec4<f32>(x0l.y), b1, acc0b);
        acc0a = fma(vec4<f32>(x0l.z), a2, acc0a);
        acc0b = fma(vec4<f32>(x0l.z), b2, acc0b);
        acc0a = fma(vec4<f32>(x0l.w), a3, acc0a);
        acc0b = fma(vec4<f32>(x0l.w), b3, acc0b);
        acc0a = fma(vec4<f32>(x0h.x), a4, acc0a);
        acc0b = fma(vec4<f32>(x0h.x), b4, acc0b);
        acc0a = fma(vec4<f32>(x0h.y), a5, acc0a);
        acc0b = fma(vec4<f32>(x0h.y), b5, acc0b);
        acc0a = fma(vec4<f32>(x0h.z), a6, acc0a);
        acc0b = fma(vec4<f32>(x0h.z), b6, acc0b);
        acc0a = fma(vec4<f32>(x0h.w), a7, acc0a);
        acc0b = fma(vec4<f32>(x0h.w), b7, acc0b);
        let x1l = xq[x1 + q];
        let x1h = xq[x1 + q + 1u];
        acc1a = fma(vec4<f32>(x1l.x), a0, acc1a);
        acc1b = fma(vec4<f32>(x1l.x), b0, acc1b);
        acc1a = fma(vec4<f32>(x1l.y), a1, acc1a);
        acc1b = fma(vec4<f32>(x1l.y), b1, acc1b);
        acc1a = fma(vec4<f32>(x1l.z), a2, acc1a);
        acc1b = fma(vec4<f32>(x1l.z), b2, acc1b);
        acc1a = fma(vec4<f32>(x1l.w), a3, acc1a);
        acc1b = fma(vec4<f32>(x1l.w), b3, acc1b);
        acc1a = fma(vec4<f32>(x1h.x), a4, acc1a);
        acc1b = fma(vec4<f32>(x1h.x), b4, acc1b);
        acc1a = fma(vec4<f32>(x1h.y), a5, acc1a);
        acc1b = fma(vec4<f32>(x1h.y), b5, acc1b);
        acc1a = fma(vec4<f32>(x1h.z), a6, acc1a);
        acc1b = fma(vec4<f32>(x1h.z), b6, acc1b);
        acc1a = fma(vec4<f32>(x1h.w), a7, acc1a);
        acc1b = fma(vec4<f32>(x1h.w), b7, acc1b);
        let x2l = xq[x2 + q];
        let x2h = xq[x2 + q + 1u];
        acc2a = fma(vec4<f32>(x2l.x), a0, acc2a);
        acc2b = fma(vec4<f32>(x2l.x), b0, acc2b);
        acc2a = fma(vec4<f32>(x2l.y), a1, acc2a);
        acc2b = fma(vec4<f32>(x2l.y), b1, acc2b);
        acc2a = fma(vec4<f32>(x2l.z), a2, acc2a);
        acc2b = fma(vec4<f32>(x2l.z), b2, acc2b);
        acc2a = fma(vec4<f32>(x2l.w), a3, acc2a);
        acc2b = fma(vec4<f32>(x2l.w), b3, acc2b);
        acc2a = fma(vec4<f32>(x2h.x), a4, acc2a);
        acc2b = fma(vec4<f32>(x2h.x), b4, acc2b);
        acc2a = fma(vec4<f32>(x2h.y), a5, acc2a);
        acc2b = fma(vec4<f32>(x2h.y), b5, acc2b);
        acc2a = fma(vec4<f32>(x2h.z), a6, acc2a);
        acc2b = fma(vec4<f32>(x2h.z), b6, acc2b);
        acc2a = fma(vec4<f32>(x2h.w), a7, acc2a);
        acc2b = fma(vec4<f32>(x2h.w), b7, acc2b);
        let x3l = xq[x3 + q];
        let x3h = xq[x3 + q + 1u];
        acc3a = fma(vec4<f32>(x3l.x), a0, acc3a);
        acc3b = fma(vec4<f32>(x3l.x), b0, acc3b);
        acc3a = fma(vec4<f32>(x3l.y), a1, acc3a);
        acc3b = fma(vec4<f32>(x3l.y), b1, acc3b);
        acc3a = fma(vec4<f32>(x3l.z), a2, acc3a);
        acc3b = fma(vec4<f32>(x3l.z), b2, acc3b);
        acc3a = fma(vec4<f32>(x3l.w), a3, acc3a);
        acc3b = fma(vec4<f32>(x3l.w), b3, acc3b);
        acc3a = fma(vec4<f32>(x3h.x), a4, acc3a);
        acc3b = fma(vec4<f32>(x3h.x), b4, acc3b);
        acc3a = fma(vec4<f32>(x3h.y), a5, acc3a);
        acc3b = fma(vec4<f32>(x3h.y), b5, acc3b);
        acc3a = fma(vec4<f32>(x3h.z), a6, acc3a);
        acc3b = fma(vec4<f32>(x3h.z), b6, acc3b);
        acc3a = fma(vec4<f32>(x3h.w), a7, acc3a);
        acc3b = fma(vec4<f32>(x3h.w), b7, acc3b);
        let x4l = xq[x4 + q];
        let x4h = xq[x4 + q + 1u];
        acc4a = fma(vec4<f32>(x4l.x), a0, acc4a);
        acc4b = fma(vec4<f32>(x4l.x), b0, acc4b);
        acc4a = fma(vec4<f32>(x4l.y), a1, acc4a);
        acc4b = fma(vec4<f32>(x4l.y), b1, acc4b);
        acc4a = fma(vec4<f32>(x4l.z), a2, acc4a);
        acc4b = fma(vec4<f32>(x4l.z), b2, acc4b);
        acc4a = fma(vec4<f32>(x4l.w), a3, acc4a);
        acc4b = fma(vec4<f32>(x4l.w), b3, acc4b);
        acc4a = fma(vec4<f32>(x4h.x), a4, acc4a);
        acc4b = fma(vec4<f32>(x4h.x), b4, acc4b);
        acc4a = fma(vec4<f32>(x4h.y), a5, acc4a);
        acc4b = fma(vec4<f32>(x4h.y), b5, acc4b);
        acc4a = fma(vec4<f32>(x4h.z), a6, acc4a);
        acc4b = fma(vec4<f32>(x4h.z), b6, acc4b);
        acc4a = fma(vec4<f32>(x4h.w), a7, acc4a);
        acc4b = fma(vec4<f32>(x4h.w), b7, acc4b);
        let x5l = xq[x5 + q];
        let x5h = xq[x5 + q + 1u];
        acc5a = fma(vec4<f32>(x5l.x), a0, acc5a);
        acc5b = fma(vec4<f32>(x5l.x), b0, acc5b);
        acc5a = fma(vec4<f32>(x5l.y), a1, acc5a);
        acc5b = fma(vec4<f32>(x5l.y), b1, acc5b);
        acc5a = fma(vec4<f32>(x5l.z), a2, acc5a);
        acc5b = fma(vec4<f32>(x5l.z), b2, acc5b);
        acc5a = fma(vec4<f32>(x5l.w), a3, acc5a);
        acc5b = fma(vec4<f32>(x5l.w), b3, acc5b);
        acc5a = fma(vec4<f32>(x5h.x), a4, acc5a);
        acc5b = fma(vec4<f32>(x5h.x), b4, acc5b);
        acc5a = fma(vec4<f32>(x5h.y), a5, acc5a);
        acc5b = fma(vec4<f32>(x5h.y), b5, acc5b);
        acc5a = fma(vec4<f32>(x5h.z), a6, acc5a);
        acc5b = fma(vec4<f32>(x5h.z), b6, acc5b);
        acc5a = fma(vec4<f32>(x5h.w), a7, acc5a);
        acc5b = fma(vec4<f32>(x5h.w), b7, acc5b);
        let x6l = xq[x6 + q];
        let x6h = xq[x6 + q + 1u];
        acc6a = fma(vec4<f32>(x6l.x), a0, acc6a);
        acc6b = fma(vec4<f32>(x6l.x), b0, acc6b);
        acc6a = fma(vec4<f32>(x6l.y), a1, acc6a);
        acc6b = fma(vec4<f32>(x6l.y), b1, acc6b);
        acc6a = fma(vec4<f32>(x6l.z), a2, acc6a);
        acc6b = fma(vec4<f32>(x6l.z), b2, acc6b);
        acc6a = fma(vec4<f32>(x6l.w), a3, acc6a);
        acc6b = fma(vec4<f32>(x6l.w), b3, acc6b);
        acc6a = fma(vec4<f32>(x6h.x), a4, acc6a);
        acc6b = fma(vec4<f32>(x6h.x), b4, acc6b);
        acc6a = fma(vec4<f32>(x6h.y), a5, acc6a);
        acc6b = fma(vec4<f32>(x6h.y), b5, acc6b);
        acc6a = fma(vec4<f32>(x6h.z), a6, acc6a);
        acc6b = fma(vec4<f32>(x6h.z), b6, acc6b);
        acc6a = fma(vec4<f32>(x6h.w), a7, acc6a);
        acc6b = fma(vec4<f32>(x6h.w), b7, acc6b);
        let x7l = xq[x7 + q];
        let x7h = xq[x7 + q + 1u];
        acc7a = fma(vec4<f32>(x7l.x), a0, acc7a);
        acc7b = fma(vec4<f32>(x7l.x), b0, acc7b);
        acc7a = fma(vec4<f32>(x7l.y), a1, acc7a);
        acc7b = fma(vec4<f32>(x7l.y), b1, acc7b);
        acc7a = fma(vec4<f32>(x7l.z), a2, acc7a);
        acc7b = fma(vec4<f32>(x7l.z), b2, acc7b);
        acc7a = fma(vec4<f32>(x7l.w), a3, acc7a);
        acc7b = fma(vec4<f32>(x7l.w), b3, acc7b);
        acc7a = fma(vec4<f32>(x7h.x), a4, acc7a);
        acc7b = fma(vec4<f32>(x7h.x), b4, acc7b);
        acc7a = fma(vec4<f32>(x7h.y), a5, acc7a);
        acc7b = fma(vec4<f32>(x7h.y), b5, acc7b);
        acc7a = fma(vec4<f32>(x7h.z), a6, acc7a);
        acc7b = fma(vec4<f32>(x7h.z), b6, acc7b);
        acc7a = fma(vec4<f32>(x7h.w), a7, acc7a);
        acc7b = fma(vec4<f32>(x7h.w), b7, acc7b);
    }
    store8(r0, c0, p.y_off + wid.z * p.y_bs, array<vec4<f32>, 16>(acc0a, acc0b, acc1a, acc1b, acc2a, acc2b, acc3a, acc3b, acc4a, acc4b, acc5a, acc5b, acc6a, acc6b, acc7a, acc7b));
}

// The k loop's end for a workgroup whose rows end before `rows_end` (causal mode 2:
// columns of p past the last row are zero), rounded up to the 8-wide step.
fn causal_k_end(rows_end: u32) -> u32 {
    if (p.causal == 2u) {
        return min(p.k, (rows_end + 7u) / 8u * 8u);
    }
    return p.k;
}

// Stores the 8 × 8 block at rows r0.., columns c0.. (plus bias) at offset yo: row r's
// columns c0..c0+3 are acc[2r], c0+4..c0+7 are acc[2r + 1].
fn store8(r0: u32, c0: u32, yo: u32, acc: array<vec4<f32>, 16>) {
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
            store_row(r0 + r, c, acc[2u * r + h] + b, yo);
        }
    }
}
