// kiln softmax / log-softmax along one axis: each of ROWS rows holds COUNT elements at
// row_base(row) + k * STRIDE. TPR lanes share a row (tree reductions in workgroup
// memory): the row maximum, then the sum of exp(x - max), then the results.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const RPG: u32 = WG / TPR;
const ROWS: u32 = {{ROWS}}u;
const COUNT: u32 = {{COUNT}}u;
const STRIDE: u32 = {{STRIDE}}u;

var<workgroup> partial: array<f32, WG>;

{{HELPERS}}
{{ROW_BASE}}
@compute @workgroup_size(WG)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let lane = lid.x % TPR;
    let first = lid.x - lane;
    let row = (wid.x + wid.y * nwg.x) * RPG + lid.x / TPR;
    let live = row < ROWS;
    var base = 0u;
    if live {
        base = row_base(row);
    }

    // Row maximum (NaN propagates).
    var m = bitcast<f32>(0xff800000u);
    if live {
        for (var k = lane; k < COUNT; k = k + TPR) {
            m = k_max(m, {{SRC}}[base + k * STRIDE]);
        }
    }
    partial[lid.x] = m;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            partial[lid.x] = k_max(partial[lid.x], partial[lid.x + s]);
        }
        workgroupBarrier();
    }
    m = partial[first];
    workgroupBarrier();

    // Sum of exp(x - max).
    var sum = 0.0;
    if live {
        for (var k = lane; k < COUNT; k = k + TPR) {
            sum = sum + exp({{SRC}}[base + k * STRIDE] - m);
        }
    }
    partial[lid.x] = sum;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            partial[lid.x] = partial[lid.x] + partial[lid.x + s];
        }
        workgroupBarrier();
    }
    sum = partial[first];

    if live {
        for (var k = lane; k < COUNT; k = k + TPR) {
            let at = base + k * STRIDE;
            let d = {{SRC}}[at] - m;
            {{DST}}[at] = {{RESULT}};
        }
    }
}
