// kiln strided copy: for each of N points of an iteration space, one word moves from
// src to dst at offsets codegen computes from baked-in strides (transpose, slice with
// any steps, expand, tile, one operand of concat, one result of split, depth/space).
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;

const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
{{OFFSETS}}
    dst[{{DST}}] = src[{{SRC}}];
}
