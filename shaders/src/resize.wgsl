// Resize (N-d): one invocation per output element. Per resized axis the host
// precomputes, for every output coordinate, TAPS input indices and weights and binds
// them as one table `tbl` of u32 words (an i32 index, -1 for a coordinate outside the
// input, which yields the extrapolation value; then, when blending, the f32 weight's
// bits). COORDS splits the output index into per-axis coordinates `oc0, oc1, ...`;
// BODY sums the weighted taps over the resized axes (or copies the one tap of nearest
// mode) and stores the result. Both are generated with literal strides and offsets.

{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TOTAL: u32 = {{TOTAL}}u;

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = {{LINEAR_INDEX}};
    if (t >= TOTAL) {
        return;
    }
    let extrapolation: f32 = {{EXTRAPOLATION}};
{{COORDS}}{{BODY}}
}
