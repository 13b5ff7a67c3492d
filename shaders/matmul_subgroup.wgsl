// matmul_lanes_sg: `matmul_lanes` (matmul.wgsl) for software adapters that offer
// subgroups of at least 8 lanes (lavapipe natively). This file is appended to
// matmul.wgsl and uses its params, bindings (x, wq, bias, y) and helpers.
//
// In `matmul_lanes` every lane loads the same x values, and a software adapter pays a
// per-lane loop for each load. Here lane l of the 8-lane workgroup loads only x[r][k + l]
// and the others get it by subgroupBroadcast (a register move on a CPU), so an x row
// costs one scalar load per 8 k instead of two vec4 loads per lane. Each invocation
// owns 8 columns for 16 rows: per step of 8 k, 8 weight loads (16 bytes each) and 16
// x loads feed 1024 FMAs. Summation order equals `matmul_lanes`, so results match it
// bit for bit.
// Needs what `matmul_lanes` needs and a subgroup holding the whole workgroup (≥ 8 lanes).
// Dispatch: (ceil(n / 64), ceil(m / 16), batches).

// One k step's weights for the invocation's 8 columns, transposed: a[j] / b[j] hold
// columns c0..c0+3 / c0+4..c0+7 at k + j.
struct Cols {
    a0: vec4<f32>,
    b0: vec4<f32>,
    a1: vec4<f32>,
    b1: vec4<f32>,
    a2: vec4<f32>,
    b2: vec4<f32>,
    a3: vec4<f32>,
    b3: vec4<f32>,
    a4: vec4<f32>,
    b4: vec4<f32>,
    a5: vec4<f32>,
    b5: vec4<f32>,
    a6: vec4<f32>,
    b6: vec4<f32>,
    a7: vec4<f32>,
    b7: vec4<f32>,
}

fn cols(c0: u32, k: u32, wo: u32) -> Cols {
    let last = p.n - 1u;
    let w0 = weight8(min(c0 + 0u, last), k, wo);
    let w1 = weight8(min(c0 + 1u, last), k, wo);
    let w2 = weight8(min(c0 + 2u, last), k, wo);
    let w3 = weight8(min(c0 + 3u, last), k, wo);
    let w4 = weight8(min(c0 + 4u, last), k, wo);
    let w5 = weight8(min(c0 + 5u, last), k, wo);
    let w6 = weight8(min(c0 + 6u, last), k, wo);
    let w7 = weight8(min(c0 + 7u, last), k, wo);
    return Cols(
        vec4<f32>(w0.lo.x, w1.lo.x, w2.lo.x, w3.lo.x),
        vec4<f32>(w4.lo.x, w5.lo.x, w6.lo.x, w7.lo.x),
        vec4<f32>(w0.lo.y, w1.lo.y, w2.lo.y, w3.lo.y),
        vec4<f32>(w4.lo.y, w5.lo.y, w6.lo.y, w7.lo.y),
        vec4<f32>(w0.lo.z, w1.lo.z, w2.lo.z, w3.lo.z),
        vec4<f32>(w4.lo.z, w5.lo.z, w6.lo.z, w7.lo.z),
        vec4<f32>(w0.lo.w, w1.lo.w, w2.lo.w, w3.lo.w),
        vec4<f32>(w4.lo.w, w5.lo.w, w6.lo.w, w7.lo.w),
        vec4<f32>(w0.hi.x, w1.hi.x, w2.hi.x, w3.hi.x),
        vec4<f32>(w4.hi.x, w5.hi.x, w6.hi.x, w7.hi.x),
        vec4<f32>(w0.hi.y, w1.hi.y, w2.hi.y, w3.hi.y),
        vec4<f32>(w4.hi.y, w5.hi.y, w6.hi.y, w7.hi.y),
        vec4<f32>(w0.hi.z, w1.hi.z, w2.hi.z, w3.hi.z),
        vec4<f32>(w4.hi.z, w5.hi.z, w6.hi.z, w7.hi.z),
        vec4<f32>(w0.hi.w, w1.hi.w, w2.hi.w, w3.hi.w),
        vec4<f32>(w4.hi.w, w5.hi.w, w6.hi.w, w7.hi.w),
    );
}

// One row's two 4-column accumulators.
struct Acc {
    a: vec4<f32>,
    b: vec4<f32>,
}

// acc += x[r][k..k+8] (lane j holds x[r][k + j] in `xs`) times the step's weights.
fn row_step(xs: f32, w: Cols, acc: ptr<function, Acc>) {
    let x0 = vec4<f32>(subgroupBroadcast(xs, 0u));
    (*acc).a = fma(x0, w.a0, (*acc).a);
    (*acc).b = fma(x0, w.b0, (*acc).b);
    let x1 = vec4<f32>(subgroupBroadcast(xs, 1u));
    (*acc).a = fma(x1, w.a1, (*acc).a);
    (*acc).b = fma(x1, w.b1, (*acc).b);
    let x2 = vec4<f32>(subgroupBroadcast(xs, 2u));
    (*acc).a = fma(x2, w.a2, (*acc).a);
    (*acc).b = fma(x2, w.b2, (*acc).b);
    let x3 = vec4<f32>(subgroupBroadcast(xs, 3u));
    (*acc).a = fma(x3, w.a3, (*acc).a);
    (*acc).b = fma(x3, w.b3, (*acc).b);
    let x4 = vec4<f32>(subgroupBroadcast(xs, 4u));
    (*acc).a = fma(x4, w.a4, (*acc).a);
    (*acc).b = fma(x4, w.b4, (*acc).b);
    let x5 = vec4<f32>(subgroupBroadcast(xs, 5u));
    (*acc).a = fma(x5, w.a5, (*acc).a);
    (*acc).b = fma(x5, w.b5, (*acc).b);
    let x6 = vec4<f32>(subgroupBroadcast(xs, 6u));
    (*acc).a = fma(x6, w.a6, (*acc).a);
    (*acc).b = fma(x6, w.b6, (*acc).b);
    let x7 = vec4<f32>(subgroupBroadcast(xs, 7u));
    (*acc).a = fma(x7, w.a7, (*acc).a);
    (*acc).b = fma(x7, w.b7, (*acc).b);
}

@compute @workgroup_size(8, 1, 1)
fn matmul_lanes_sg(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let c0 = (wid.x * 8u + lid.x) * 8u;
    let r0 = wid.y * 16u;
    let l8 = lane & 7u;
    let xo = p.x_off + wid.z * p.x_bs + l8;
    let wo = p.w_off + wid.z * p.w_bs;
    let yo = p.y_off + wid.z * p.y_bs;
    if (p.causal == 1u && wid.x * 64u > r0 + 15u) {
        return;
    }
    let k_end = causal_k_end(r0 + 16u);
    // The rows are written out so each accumulator is a named register (llvmpipe keeps
    // private arrays indexed by a loop variable in memory). Rows past m repeat row m-1.
    let x0 = min(r0 + 0u, p.m - 1u) * p.ldx + xo;
    let x1 = min(r0 + 1u, p.m - 1u) * p.ldx + xo;
    let x2 = min(r0 + 2u, p.m - 1u) * p.ldx + xo;
    let x3 = min(r0 + 3u, p.m - 1u) * p.ldx + xo;
    let x4 = min(r0 + 4u, p.m - 1u) * p.ldx + xo;
    let x5 = min(r0 + 5u, p.m - 1u) * p.ldx + xo;
    let x6 = min(r0 + 6u, p.m - 1u) * p.ldx + xo;
    let x7 = min(r0 + 7u, p.m - 1u) * p.ldx + xo;
    let x8 = min(r0 + 8u, p.m - 1u) * p.ldx + xo;
    let x9 = min(r0 + 9u, p.m - 1u) * p.ldx + xo;
    let x10 = min(r0 + 10u, p.m - 1u) * p.ldx + xo;
    let x11 = min(r0 + 11u, p.m - 1u) * p.ldx + xo;
    let x12 = min(r0 + 12u, p.m - 1u) * p.ldx + xo;
    let x13 = min(r0 + 13u, p.m - 1u) * p.ldx + xo;
    let x14 = min(r0 + 14u, p.m - 1u) * p.ldx + xo;
    let x15 = min(r0 + 15u, p.m - 1u) * p.ldx + xo;
    var acc0 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc1 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc2 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc3 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc4 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc5 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc6 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc7 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc8 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc9 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc10 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc11 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc12 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc13 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc14 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var acc15 = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var k = 0u; k < k_end; k += 8u) {
        let w = cols(c0, k, wo);
        row_step(x[x0 + k], w, &acc0);
        row_step(x[x1 + k], w, &acc1);
        row_step(x[x2 + k], w, &acc2);
        row_step(x[x3 + k], w, &acc3);
        row_step(x[x4 + k], w, &acc4);
        row_step(x[x5 + k], w, &acc5);
        row_step(x[x6 + k], w, &acc6);
        row_step(x[x7 + k], w, &acc7);
        row_step(x[x8 + k], w, &acc8);
        row_step(x[x9 + k], w, &acc9);
        row_step(x[x10 + k], w, &acc10);
        row_step(x[x11 + k], w, &acc11);
        row_step(x[x12 + k], w, &acc12);
        row_step(x[x13 + k], w, &acc13);
        row_step(x[x14 + k], w, &acc14);
        row_step(x[x15 + k], w, &acc15);
    }
    store8(r0, c0, yo, array<vec4<f32>, 16>(acc0.a, acc0.b, acc1.a, acc1.b, acc2.a, acc2.b, acc3.a, acc3.b, acc4.a, acc4.b, acc5.a, acc5.b, acc6.a, acc6.b, acc7.a, acc7.b));
    store8(r0 + 8u, c0, yo, array<vec4<f32>, 16>(acc8.a, acc8.b, acc9.a, acc9.b, acc10.a, acc10.b, acc11.a, acc11.b, acc12.a, acc12.b, acc13.a, acc13.b, acc14.a, acc14.b, acc15.a, acc15.b));
}
