// kiln elementwise kernel: one invocation per result element. Operand offsets follow
// numpy broadcasting (strides baked in by codegen); the result is written in order.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;

{{HELPERS}}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
{{OFFSETS}}
    {{DST}}[i] = {{EXPR}};
}
