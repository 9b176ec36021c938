// kiln bitcast: each element's bits read as another type of the same width. Every
// element is one 32-bit word on the GPU (floats as f32, f16 values included; narrow
// integers sign- or zero-extended; bool 0/1), so the word is reduced to the source's
// bits (TO_BITS), then widened as the result type stores them (FROM_BITS).
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
    let w = src[i];
    let b = {{TO_BITS}};
    dst[i] = {{FROM_BITS}};
}
