// Peak FMA throughput probe: every invocation runs `iters` rounds of eight independent
// vec4 fused multiply-adds on registers (no memory traffic), so the adapter's
// arithmetic peak is measured, not its bandwidth. FLOPs = invocations · iters · 64.
//
// Bindings (group 0):
//   @binding(0) uniform      PeakParams { iters }
//   @binding(1) storage rw   out : array<f32>   (one value per invocation, keeps the work live)
//
// Dispatch: (groups, 1, 1) with 256 invocations each.

struct PeakParams {
    iters: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: PeakParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = f32(gid.x) * 1e-9;
    var a0 = vec4<f32>(s, s + 1.0, s + 2.0, s + 3.0);
    var a1 = a0 + 0.1;
    var a2 = a0 + 0.2;
    var a3 = a0 + 0.3;
    var a4 = a0 + 0.4;
    var a5 = a0 + 0.5;
    var a6 = a0 + 0.6;
    var a7 = a0 + 0.7;
    let m = vec4<f32>(0.9999);
    let c = vec4<f32>(1e-4);
    for (var i = 0u; i < p.iters; i++) {
        a0 = fma(a0, m, c);
        a1 = fma(a1, m, c);
        a2 = fma(a2, m, c);
        a3 = fma(a3, m, c);
        a4 = fma(a4, m, c);
        a5 = fma(a5, m, c);
        a6 = fma(a6, m, c);
        a7 = fma(a7, m, c);
    }
    let sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    out[gid.x] = sum.x + sum.y + sum.z + sum.w;
}
