// kiln ScatterND: result element i (row = i / INNER of the data viewed as rows of INNER)
// starts as the data element and folds in, in tuple order, the update element of every
// index tuple naming its row (COMBINE of acc and b). Negative indices count from the
// end; an out-of-range one is reported through the node's check words (CHECK; the run
// then fails) and matches no row. One invocation per result element.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const INNER: u32 = {{INNER}}u;
const U: u32 = {{U}}u;
const M: u32 = {{M}}u;
var<private> EXTENTS: array<i32, {{M}}> = array<i32, {{M}}>({{EXTENTS}});

{{HELPERS}}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    let row = i / INNER;
    let o = i % INNER;
    var acc: {{ACC}} = {{DATA}}[i];
    for (var u = 0u; u < U; u = u + 1u) {
        var t = 0u;
        var ok = true;
        for (var c = 0u; c < M; c = c + 1u) {
            let raw = bitcast<i32>({{INDICES}}[u * M + c]);
            let d = EXTENTS[c];
            var j = raw;
            if j < 0 {
                j = j + d;
            }
            if j < 0 || j >= d {
{{CHECK}}                ok = false;
                j = 0;
            }
            t = t * u32(d) + u32(j);
        }
        if ok && t == row {
            let b = {{UPDATES}}[u * INNER + o];
            acc = {{COMBINE}};
        }
    }
    {{DST}}[i] = acc;
}
