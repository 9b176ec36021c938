// kiln pad: each result element reads the source element its per-axis mapping picks
// (constant, reflect, edge or wrap; negative pads crop first), or the fill value.
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
{{VALUE_BINDING}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    var inside = true;
    var s = 0u;
    var r = i;
{{AXES}}
    if inside {
        dst[i] = src[s];
    } else {
        dst[i] = {{FILL}};
    }
}
