// The repair's second moments (beyond the paper) are matmul products of batches laid
// out channel-major and weighed; this kernel lays them out:
//   out[c · ld_out + r] = √w[r] · x[r · cols + c]   for r < rows, c < cols
//   out[c · ld_out + r] = 0                         for rows ≤ r < ld_out
// so that Σ_r w_r a_r b_rᵀ is the product a′ · b′ᵀ of two outputs, which the matmul
// kernels compute (ld_out pads the inner dimension to their vector width).
//
// Bindings (group 0):
//   @binding(0) uniform      TransposeParams
//   @binding(1) storage read x   : array<f32>   (rows × cols, row-major: a row per token)
//   @binding(2) storage read w   : array<f32>   (rows: a weight per token, ≥ 0)
//   @binding(3) storage rw   out : array<f32>   (cols × ld_out: a row per channel)
//
// 16 × 16 tiles through workgroup memory, so that reads and writes are both along rows.
// Dispatch: (ceil(ld_out / 16), ceil(cols / 16), 1).

struct TransposeParams {
    rows: u32,
    cols: u32,
    ld_out: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: TransposeParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> tile: array<array<f32, 17>, 16>;

@compute @workgroup_size(16, 16, 1)
fn weigh_transpose(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let r0 = wid.x * 16u;
    let c0 = wid.y * 16u;
    let r = r0 + lid.y;
    let c = c0 + lid.x;
    var v = 0.0;
    if (r < p.rows && c < p.cols) {
        v = sqrt(max(w[r], 0.0)) * x[r * p.cols + c];
    }
    tile[lid.y][lid.x] = v;
    workgroupBarrier();
    let oc = c0 + lid.y;
    let orow = r0 + lid.x;
    if (oc < p.cols && orow < p.ld_out) {
        out[oc * p.ld_out + orow] = tile[lid.x][lid.y];
    }
}
