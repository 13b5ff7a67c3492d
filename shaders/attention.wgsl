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
// (hd ≤ 256). Dispatch: (H, rows, 1).

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
