// kiln gather along one axis: result (outer, k, inner) reads data (outer, indices[k], inner);
// negative indices count from the end. An out-of-range one is reported through the
// node's check words (CHECK; the run then fails) and clamped so the read stays in bounds.
// data_word(e) is element e of data as a 32-bit word (read, or decoded from packed words).
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const INNER: u32 = {{INNER}}u;
const EXTENT: u32 = {{EXTENT}}u;

{{DATA}}

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
    let j = bitcast<i32>({{INDICES}}[k]);
    var jj = j;
    if jj < 0 {
        jj = jj + i32(EXTENT);
    }
    if jj < 0 || jj >= i32(EXTENT) {
{{CHECK}}        jj = clamp(jj, 0, i32(EXTENT) - 1);
    }
    {{DST}}[i] = data_word((o * EXTENT + u32(jj)) * INNER + inner);
}
