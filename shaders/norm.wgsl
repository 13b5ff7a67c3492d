// RMSNorm over rows: y = x / sqrt(mean(x²) + eps) · (offset + w). offset is 0 for
// llama / qwen2 and 1 for Gemma's (1 + w). Also used per head for Gemma's q/k norm
// (rows of head_dim).
//
// Entry points and bindings (group 0):
//   norm_inplace:  @binding(0) uniform NormParams, @binding(1) read w : array<f32> (n),
//                  @binding(2) rw x : array<f32> (rows × n, normalised in place)
//   norm_copy:     @binding(0), @binding(1) as above, @binding(3) read src : array<f32>,
//                  @binding(4) rw dst : array<f32> (dst = norm(src); src is unchanged)
//
// One workgroup of 256 invocations per row; squares are summed in a strided loop and
// a tree reduction. Dispatch: rows as (min(rows, 65535), ceil(rows / 65535), 1).

struct NormParams {
    n: u32,
    rows: u32,
    eps: f32,
    offset: f32,
}

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> src: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

const WG: u32 = 256u;
var<workgroup> partial: array<f32, 256>;

// The 1 / rms factor of a row, from this invocation's strided sum of squares.
fn inv_rms(sq: f32, lane: u32) -> f32 {
    partial[lane] = sq;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            partial[lane] += partial[lane + s];
        }
        workgroupBarrier();
    }
    let ms = partial[0] / f32(p.n);
    return 1.0 / sqrt(ms + p.eps);
}

@compute @workgroup_size(256, 1, 1)
fn norm_inplace(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.n;
    var sq = 0.0;
    for (var i = lid.x; i < p.n; i += WG) {
        let v = x[base + i];
        sq = fma(v, v, sq);
    }
    let inv = inv_rms(sq, lid.x);
    for (var i = lid.x; i < p.n; i += WG) {
        x[base + i] = x[base + i] * inv * (p.offset + w[i]);
    }
}

@compute @workgroup_size(256, 1, 1)
fn norm_copy(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.y * nwg.x + wid.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.n;
    var sq = 0.0;
    for (var i = lid.x; i < p.n; i += WG) {
        let v = src[base + i];
        sq = fma(v, v, sq);
    }
    let inv = inv_rms(sq, lid.x);
    for (var i = lid.x; i < p.n; i += WG) {
        dst[base + i] = src[base + i] * inv * (p.offset + w[i]);
    }
}
