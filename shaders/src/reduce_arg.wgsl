// kiln arg max / arg min along one axis: one invocation per result walks the COUNT
// elements of its row (outer, inner) and keeps the first (or last) best index.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const ROWS: u32 = {{ROWS}}u;
const COUNT: u32 = {{COUNT}}u;
const INNER: u32 = {{INNER}}u;

{{HELPERS}}
fn better(v: {{TYPE}}, best: {{TYPE}}) -> bool {
{{BETTER}}
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= ROWS {
        return;
    }
    let base = (i / INNER) * COUNT * INNER + i % INNER;
    var best = {{SRC}}[base];
    var at = 0u;
    for (var k = 1u; k < COUNT; k = k + 1u) {
        let v = {{SRC}}[base + k * INNER];
        if better(v, best) {
            best = v;
            at = k;
        }
    }
    {{DST}}[i] = i32(at);
}
