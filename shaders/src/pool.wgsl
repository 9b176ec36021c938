// Pooling (N-d) over NC-spatial tensors: one invocation per output element `t`.
// Codegen writes the walk per spatial axis with literal bounds: COORDS splits `t`
// into the output coordinates and `base`, the offset of its input plane; WINDOW
// visits the window's taps that lie inside the input in row-major kernel order,
// running the reduction's tap code at each flat input offset `off`; STATE declares
// the reduction's accumulators and RESULT turns them into `v`. STORE applies a fused
// epilogue to `v` (or is `v`); EXTRA stores any further result (max-pool indices).

{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TOTAL: u32 = {{TOTAL}}u;

{{HELPERS}}
@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = {{LINEAR_INDEX}};
    if (t >= TOTAL) {
        return;
    }
{{COORDS}}{{STATE}}{{WINDOW}}{{RESULT}}    y[t] = {{STORE}};
{{EXTRA}}}
