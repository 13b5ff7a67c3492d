// Element-wise kernels on flat f32 arrays of n values.
//
// Entry points and bindings (group 0):
//   add:  @binding(0) uniform EwParams, @binding(1) rw x : array<f32>, @binding(2) read y : array<f32>
//         x += y (the residual connection)
//   sub:  bindings as add; x -= y (the repair's target: the dense stream − the pruned one)
//   glu:  @binding(0) uniform EwParams, @binding(1) rw x : array<f32> (the gate projection),
//         @binding(2) read y : array<f32> (the up projection)
//         x = act(x) · y, act = SiLU (act = 0) or GELU-tanh (act = 1): the down_proj input h
//
// 256 invocations per workgroup; element index = (wid.y · nwg.x + wid.x) · 256 + lid.x.
// Dispatch: ceil(n / 256) workgroups as (min(·, 65535), ceil(· / 65535), 1).

struct EwParams {
    n: u32,
    act: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: EwParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

fn index(lid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * 256u + lid.x;
}

@compute @workgroup_size(256, 1, 1)
fn add(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(lid, wid, nwg);
    if (i < p.n) {
        x[i] = x[i] + y[i];
    }
}

@compute @workgroup_size(256, 1, 1)
fn sub(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(lid, wid, nwg);
    if (i < p.n) {
        x[i] = x[i] - y[i];
    }
}

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

fn gelu_tanh(v: f32) -> f32 {
    // tanh through exp, clamped: some implementations return NaN for tanh of large |u|.
    let u = clamp(0.7978846 * (v + 0.044715 * v * v * v), -15.0, 15.0);
    let e = exp(2.0 * u);
    return 0.5 * v * (1.0 + (e - 1.0) / (e + 1.0));
}

@compute @workgroup_size(256, 1, 1)
fn glu(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = index(lid, wid, nwg);
    if (i < p.n) {
        let g = x[i];
        let a = select(silu(g), gelu_tanh(g), p.act == 1u);
        x[i] = a * y[i];
    }
}
