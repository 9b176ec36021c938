// Resize (N-d): one invocation per output element. Per resized axis the host
// precomputes, for every output coordinate, TAPS_a input indices and weights
// (IDX_a / W_a; index -1 marks a coordinate outside the input, which yields the
// extrapolation value). The generated BODY sums the weighted taps over the resized
// axes (or copies the one tap of nearest mode) and stores the result.

{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TOTAL: u32 = {{TOTAL}}u;
const RANK: u32 = {{RANK}}u;
const OUT_DIMS = {{OUT_DIMS}};
const IN_STRIDES = {{IN_STRIDES}};
{{TABLES}}

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = {{LINEAR_INDEX}};
    if (t >= TOTAL) {
        return;
    }
    let extrapolation: f32 = {{EXTRAPOLATION}};
    var oc: array<u32, {{RANK}}>;
    var rem = t;
    for (var a = RANK; a > 0u; a--) {
        oc[a - 1u] = rem % OUT_DIMS[a - 1u];
        rem /= OUT_DIMS[a - 1u];
    }
{{BODY}}
}
