// Causal grouped-query attention over windows of T positions, with an optional
// sliding window (Gemma's local layers). Query head h reads kv head h / (H / KV).
// Row r is position i = r % T of window r / T and attends to the positions j ≤ i of
// its own window with i − j < window (window = 0: no limit).
//
// Bindings (group 0):
//   @binding(0) uniform      AttnParams
//   @binding(1) storage read q   : array<f32>   (rows × H·hd, already rotated)
//   @binding(2) storage read k   : array<f32>   (rows × KV·hd, already rotated)
//   @binding(3) storage read v   : array<f32>   (rows × KV·hd)
//   @binding(4) storage rw   out : array<f32>   (rows × H·hd)
//
// One workgroup of 64 invocations per (head, row). Keys are taken in chunks of 512
// scores kept in workgroup memory; an online softmax (running max and sum) joins the
// chunks, so any T works. Each invocation accumulates hd / 64 output dimensions
// (hd ≤ 256). Dispatch: (H, rows, 1). This is the kernel for GPUs; CPU-style adapters
// use `attention_lanes` at the end of this file.

struct AttnParams {
    t: u32,
    heads: u32,
    kv_heads: u32,
    hd: u32,
    scale: f32,
    window: u32,
    rows: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: AttnParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const CHUNK: u32 = 512u;
const MAX_HD: u32 = 256u;

var<workgroup> qs: array<f32, 256>;
var<workgroup> scores: array<f32, 512>;
var<workgroup> red: array<f32, 64>;

fn reduce_max(val: f32, lane: u32) -> f32 {
    red[lane] = val;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] = max(red[lane], red[lane + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(val: f32, lane: u32) -> f32 {
    red[lane] = val;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] = red[lane] + red[lane + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64, 1, 1)
fn attention(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lane = lid.x;
    let head = wid.x;
    let row = wid.y;
    let hd = p.hd;
    let g = head / (p.heads / p.kv_heads);
    let q_stride = p.heads * hd;
    let kv_stride = p.kv_heads * hd;
    let start = (row / p.t) * p.t; // first row of this window
    let i = row % p.t;
    var first = 0u;
    if (p.window != 0u && i + 1u > p.window) {
        first = i + 1u - p.window;
    }

    for (var d = lane; d < hd; d += WG) {
        qs[d] = q[row * q_stride + head * hd + d] * p.scale;
    }
    workgroupBarrier();

    var m = -3.0e38;
    var l = 0.0;
    var o = vec4<f32>(0.0); // dims lane, lane + 64, lane + 128, lane + 192
    for (var c0 = first; c0 <= i; c0 += CHUNK) {
        let cn = min(CHUNK, i + 1u - c0);
        var local_max = -3.0e38;
        for (var jj = lane; jj < cn; jj += WG) {
            let kb = (start + c0 + jj) * kv_stride + g * hd;
            var s = 0.0;
            for (var d = 0u; d < hd; d++) {
                s = fma(qs[d], k[kb + d], s);
            }
            scores[jj] = s;
            local_max = max(local_max, s);
        }
        let new_m = max(m, reduce_max(local_max, lane));
        let corr = exp(m - new_m);
        var local_sum = 0.0;
        for (var jj = lane; jj < cn; jj += WG) {
            let e = exp(scores[jj] - new_m);
            scores[jj] = e;
            local_sum += e;
        }
        l = l * corr + reduce_sum(local_sum, lane);
        o = o * corr;
        for (var jj = 0u; jj < cn; jj++) {
            let pj = scores[jj];
            let vb = (start + c0 + jj) * kv_stride + g * hd;
            for (var s = 0u; s < 4u; s++) {
                let d = lane + s * WG;
                if (d < hd) {
                    o[s] = fma(pj, v[vb + d], o[s]);
                }
            }
        }
        m = new_m;
        workgroupBarrier();
    }
    for (var s = 0u; s < 4u; s++) {
        let d = lane + s * WG;
        if (d < hd) {
            out[row * q_stride + head * hd + d] = o[s] / l;
        }
    }
}

// ---------------------------------------------------------------------------------
// attention_lanes: the same attention for CPU-style adapters (lavapipe, SwiftShader),
// which run invocations as SIMD lanes. One invocation per query row: the 64 rows of a
// workgroup belong to one window and head, so the key loop is the same for every lane
// and each k / v load is uniform (one load broadcast to all lanes); causal and sliding
// window limits are per-lane masks. Keys go in blocks of 16 with an online softmax.
// Same bindings and params as `attention`.
// Dispatch: (H, windows · ceil(T / 64), 1).

const BLOCK: u32 = 16u;

// k and v seen as vec4 arrays (16-byte loads; needs hd % 4 == 0, else the host uses
// `attention`).
@group(0) @binding(2) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> v4: array<vec4<f32>>;

@compute @workgroup_size(64, 1, 1)
fn attention_lanes(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let head = wid.x;
    let hd4 = p.hd / 4u;
    let g = head / (p.heads / p.kv_heads);
    let q_stride = p.heads * p.hd;
    let kv4_stride = p.kv_heads * hd4;
    let blocks = (p.t + 63u) / 64u;
    let start = (wid.y / blocks) * p.t; // first row of the window
    let i0 = (wid.y % blocks) * 64u; // first position of this workgroup
    let i = i0 + lid.x; // this lane's position (may be past the window: not live)
    let live = i < p.t;
    let row = start + min(i, p.t - 1u);

    // Keys any lane needs: [j_lo, j_hi], the same for all lanes.
    let j_hi = min(i0 + 63u, p.t - 1u);
    var j_lo = 0u;
    if (p.window != 0u && i0 + 1u > p.window) {
        j_lo = i0 + 1u - p.window;
    }

    var qv: array<vec4<f32>, 64>;
    var o: array<vec4<f32>, 64>;
    let qb = row * q_stride + head * p.hd;
    for (var d = 0u; d < hd4; d++) {
        qv[d] = vec4<f32>(q[qb + 4u * d], q[qb + 4u * d + 1u], q[qb + 4u * d + 2u], q[qb + 4u * d + 3u]) * p.scale;
        o[d] = vec4<f32>(0.0);
    }
    var m = -3.0e38;
    var l = 0.0;
    var s: array<f32, 16>;
    for (var jb = j_lo; jb <= j_hi; jb += BLOCK) {
        let jn = min(BLOCK, j_hi + 1u - jb);
        var bm = -3.0e38;
        for (var u = 0u; u < jn; u++) {
            let j = jb + u;
            let kb = (start + j) * kv4_stride + g * hd4;
            var acc = vec4<f32>(0.0);
            for (var d = 0u; d < hd4; d++) {
                acc = fma(qv[d], k4[kb + d], acc);
            }
            let visible = live && j <= i && (p.window == 0u || i - j < p.window);
            s[u] = select(-3.0e38, acc.x + acc.y + acc.z + acc.w, visible);
            bm = max(bm, s[u]);
        }
        let m_new = max(m, bm);
        let corr = exp(m - m_new);
        l = l * corr;
        for (var d = 0u; d < hd4; d++) {
            o[d] = o[d] * corr;
        }
        for (var u = 0u; u < jn; u++) {
            let pj = select(0.0, exp(s[u] - m_new), s[u] > -1.0e38);
            l += pj;
            let vb = (start + jb + u) * kv4_stride + g * hd4;
            for (var d = 0u; d < hd4; d++) {
                o[d] = fma(vec4<f32>(pj), v4[vb + d], o[d]);
            }
        }
        m = m_new;
    }
    if (live) {
        for (var d = 0u; d < hd4; d++) {
            let ov = o[d] / l;
            out[qb + 4u * d] = ov.x;
            out[qb + 4u * d + 1u] = ov.y;
            out[qb + 4u * d + 2u] = ov.z;
            out[qb + 4u * d + 3u] = ov.w;
        }
    }
}

// ---------------------------------------------------------------------------------
// Attention as two matmul products, for CPU-style adapters where the matmul kernels
// run near the adapter's peak and per-lane loads are dear (see `kernels::attention`):
//   s = q·kᵀ per (window, head) by the matmul kernel, into a T × T score block;
//   softmax_causal turns each row of s into probabilities in place (zero where masked);
//   out = s·v by the matmul kernel, with v transposed by transpose_v so that its
//   columns are the matmul's weight rows.
//
// transpose_v: `out` (binding 4) receives vᵀ per window and kv head:
//   out[((w·KV + g)·hd + d)·T + j] = v[(w·T + j)·KV·hd + g·hd + d] for p.rows rows.
// One invocation per element. Dispatch: fold(ceil(rows · KV · hd / 256)).
//
// softmax_causal: `out` (binding 4) holds p.rows rows of T scores (row r is position
// i = r % T of its window); each becomes softmax(scale · s) over the visible keys
// j ≤ i (and i − j < window when p.window > 0), 0 elsewhere. One invocation per row,
// an online max/sum (two reads per score). Dispatch: fold(ceil(rows / 64)).

@compute @workgroup_size(256, 1, 1)
fn transpose_v(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * 256u;
    let kvd = p.kv_heads * p.hd;
    if (e >= p.rows * kvd) {
        return;
    }
    let j = e % p.t;
    let d = (e / p.t) % p.hd;
    let wg = e / (p.t * p.hd); // window · KV + g
    let w = wg / p.kv_heads;
    let g = wg % p.kv_heads;
    out[e] = v[(w * p.t + j) * kvd + g * p.hd + d];
}

@compute @workgroup_size(64, 1, 1)
fn softmax_causal(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if (row >= p.rows) {
        return;
    }
    let i = row % p.t;
    let base = row * p.t;
    var first = 0u;
    if (p.window != 0u && i + 1u > p.window) {
        first = i + 1u - p.window;
    }
    var m = -3.0e38;
    var l = 0.0;
    for (var j = first; j <= i; j++) {
        let s = out[base + j] * p.scale;
        let m_new = max(m, s);
        l = l * exp(m - m_new) + exp(s - m_new);
        m = m_new;
    }
    let inv = 1.0 / l;
    for (var j = 0u; j < p.t; j++) {
        var pj = 0.0;
        if (j >= first && j <= i) {
            pj = exp(out[base + j] * p.scale - m) * inv;
        }
        out[base + j] = pj;
    }
}
