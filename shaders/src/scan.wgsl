// kiln cumulative sum / product along one axis: result (outer, k, inner) combines the
// operand's (outer, t, inner) for the scan positions t before k (EXCLUSIVE) or up to it,
// counting from the end when REVERSE, in scan order (the reference's order, so a float
// scan rounds exactly as the reference does). One invocation per result element.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const EXTENT: u32 = {{EXTENT}}u;
const INNER: u32 = {{INNER}}u;
const REVERSE: bool = {{REVERSE}};
const EXCLUSIVE: bool = {{EXCLUSIVE}};

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    let inner = i % INNER;
    let k = (i / INNER) % EXTENT;
    let base = (i / (INNER * EXTENT)) * EXTENT * INNER + inner;
    // The scan position of k and how many elements it combines.
    var p = k;
    if REVERSE {
        p = EXTENT - 1u - k;
    }
    var count = p + 1u;
    if EXCLUSIVE {
        count = p;
    }
    var acc: {{ACC}} = {{INIT}};
    for (var t = 0u; t < count; t = t + 1u) {
        var at = t;
        if REVERSE {
            at = EXTENT - 1u - t;
        }
        let b = {{SRC}}[base + at * INNER];
        acc = {{COMBINE}};
    }
    {{DST}}[i] = {{FINISH}};
}
