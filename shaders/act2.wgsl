// The COMPACT importance (paper eq. 5): per window b and FFN channel k,
//   imp[out_off + b · I + k] = Σ_{i < T} w[b·T + i] · h[(b·T + i) · I + k]²
// where h is the down_proj input (T positions per window, I channels) and w_i is 0 for
// positions whose token is in the rare set (1 otherwise; any weight works).
// Each invocation owns one (window, channel) and sums its T terms with Kahan
// compensation, so the per-window f32 partial is exact to a few ulps; the host sums
// the partials of all windows and layers in f64, so precision does not degrade with
// the number of calibration tokens.
//
// Bindings (group 0):
//   @binding(0) uniform      Act2Params
//   @binding(1) storage read h   : array<f32>   (windows · T × I)
//   @binding(2) storage read w   : array<f32>   (windows · T)
//   @binding(3) storage rw   imp : array<f32>   (written at out_off + b · I + k)
//
// Dispatch: (ceil(I / 256), windows, 1).

struct Act2Params {
    i_dim: u32,
    t: u32,
    out_off: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Act2Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> imp: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn act2(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let k = gid.x;
    if (k >= p.i_dim) {
        return;
    }
    let b = wid.y;
    var sum = 0.0;
    var comp = 0.0;
    for (var i = 0u; i < p.t; i++) {
        let row = b * p.t + i;
        let wi = w[row];
        if (wi != 0.0) {
            let v = h[row * p.i_dim + k];
            let term = wi * v * v - comp;
            let next = sum + term;
            comp = (next - sum) - term;
            sum = next;
        }
    }
    imp[p.out_off + b * p.i_dim + k] = sum;
}
