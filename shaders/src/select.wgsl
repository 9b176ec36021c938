// kiln data-dependent selection, pass 1 (NonZero, Compress): one workgroup finds the
// positions p < N where KEEP(src[p]) holds, in order. Each lane takes a contiguous chunk,
// counts its kept positions, a workgroup prefix sum gives each lane where its first one
// goes, and a second walk of the chunk calls WRITE(p, j) for the j-th kept position;
// positions from the count up to N call PAD(j). Lane 0 stores the count.
@group(0) @binding(0) var<storage, read> src: array<u32>;
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const CHUNK: u32 = (N + WG - 1u) / WG;

var<workgroup> sums: array<u32, {{WG}}>;

fn keep(p: u32) -> bool {
    let w = src[p];
    return {{KEEP}};
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
    let start = min(lane * CHUNK, N);
    let end = min(start + CHUNK, N);
    var mine = 0u;
    for (var p = start; p < end; p = p + 1u) {
        if keep(p) {
            mine = mine + 1u;
        }
    }
    sums[lane] = mine;
    workgroupBarrier();
    // Inclusive prefix sum over the lanes (Hillis-Steele).
    for (var off = 1u; off < WG; off = off * 2u) {
        var add = 0u;
        if lane >= off {
            add = sums[lane - off];
        }
        workgroupBarrier();
        sums[lane] = sums[lane] + add;
        workgroupBarrier();
    }
    var j = sums[lane] - mine;
    for (var p = start; p < end; p = p + 1u) {
        if keep(p) {
            {{WRITE}}
            j = j + 1u;
        }
    }
    let total = sums[WG - 1u];
    for (var k = total + lane; k < N; k = k + WG) {
        {{PAD}}
    }
    if lane == 0u {
        count[0] = total;
    }
}
