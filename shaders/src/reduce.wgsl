// kiln row reduction: each of ROWS rows (one per result element) combines COUNT
// elements at row_base(row) + elem_off(k). TPR lanes (a power of two) share a row:
// each folds a strided part, then a tree in workgroup memory; RPG rows per workgroup.
// A row may be split into CHUNKS chunks of CHUNK elements, each reduced by a row of
// its own (row · CHUNKS + chunk) into a partial result that a second pass combines.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const RPG: u32 = WG / TPR;
const ROWS: u32 = {{ROWS}}u;
const COUNT: u32 = {{COUNT}}u;
const CHUNKS: u32 = {{CHUNKS}}u;
const CHUNK: u32 = {{CHUNK}}u;

var<workgroup> partial: array<{{ACC}}, WG>;

{{HELPERS}}
{{ROW_BASE}}
{{ELEM_OFF}}
fn combine(a: {{ACC}}, b: {{ACC}}) -> {{ACC}} {
    return {{COMBINE}};
}

@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = lid.x % TPR;
    let row = (wid.x + wid.y * nwg.x) * RPG + lid.x / TPR;
    let live = row < ROWS * CHUNKS;
    var acc: {{ACC}} = {{INIT}};
    if live {
        let base = row_base(row / CHUNKS);
        let first = (row % CHUNKS) * CHUNK;
        let end = min(first + CHUNK, COUNT);
        for (var k = first + lane; k < end; k = k + TPR) {
            let x = {{SRC}}[base + elem_off(k)];
            acc = combine(acc, {{LOAD}});
        }
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            partial[lid.x] = combine(partial[lid.x], partial[lid.x + s]);
        }
        workgroupBarrier();
    }
    if live && lane == 0u {
        let r = partial[lid.x];
        {{STORE}}
    }
}
