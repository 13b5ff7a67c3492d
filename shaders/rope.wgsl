// Rotary position embedding, Hugging Face half-split layout: in each head of hd values,
// the pairs (j, j + hd/2) are rotated by the angle pos · inv_freq[j]. The cos/sin
// table is computed on the host in f64 (exact angles for any θ and scaling: default,
// linear, llama3; Gemma's local θ is simply another table).
//
// Bindings (group 0):
//   @binding(0) uniform      RopeParams
//   @binding(1) storage read cs : array<vec2<f32>>   (T × hd/2 of (cos, sin), position-major)
//   @binding(2) storage rw   x  : array<f32>         (rows × heads·hd, rotated in place)
// Row r holds position r % T (rows are whole windows of T positions).
//
// One invocation per (row, head, j < hd/2). Dispatch: ceil(rows·heads·hd/2 / 256)
// workgroups as (min(·, 65535), ceil(· / 65535), 1).

struct RopeParams {
    rows: u32,
    heads: u32,
    hd: u32,
    t: u32,
}

@group(0) @binding(0) var<uniform> p: RopeParams;
@group(0) @binding(1) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn rope(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half = p.hd / 2u;
    let idx = (wid.y * nwg.x + wid.x) * 256u + lid.x;
    if (idx >= p.rows * p.heads * half) {
        return;
    }
    let j = idx % half;
    let head = (idx / half) % p.heads;
    let row = idx / (half * p.heads);
    let pos = row % p.t;
    let c = cs[pos * half + j];
    let base = row * p.heads * p.hd + head * p.hd;
    let a = x[base + j];
    let b = x[base + j + half];
    x[base + j] = a * c.x - b * c.y;
    x[base + j + half] = b * c.x + a * c.y;
}
