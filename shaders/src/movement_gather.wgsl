// kiln gather along one axis: result (outer, k, inner) reads data (outer, indices[k], inner);
// negative indices count from the end, out-of-range ones are clamped (the reference fails).
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const INNER: u32 = {{INNER}}u;
const EXTENT: u32 = {{EXTENT}}u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    let inner = i % INNER;
    let t = i / INNER;
    let k = t % K;
    let o = t / K;
    var j = bitcast<i32>({{INDICES}}[k]);
    if j < 0 {
        j = j + i32(EXTENT);
    }
    let jj = u32(clamp(j, 0, i32(EXTENT) - 1));
    {{DST}}[i] = {{DATA}}[(o * EXTENT + jj) * INNER + inner];
}
