// kiln row normalization (layer norm, instance norm, rms norm): each of ROWS contiguous
// rows of COUNT elements is normalized by its mean and 1/sqrt(variance + eps) (two
// passes: the mean, then the squared deviations; with CENTERED false the mean is 0, so
// the second pass is the mean square of RMS norm), then scaled and shifted. TPR lanes (a power
// of two) share a row through tree sums in workgroup memory; RPG rows per workgroup.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const RPG: u32 = WG / TPR;
const ROWS: u32 = {{ROWS}}u;
const COUNT: u32 = {{COUNT}}u;
const EPS: f32 = {{EPS}};
const CENTERED: bool = {{CENTERED}};

var<workgroup> partial: array<f32, WG>;

{{OFFSETS}}
// The sum of `v` over the TPR lanes of this row (call from uniform control flow).
fn row_sum(l: u32, lane: u32, first: u32, v: f32) -> f32 {
    partial[l] = v;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            partial[l] = partial[l] + partial[l + s];
        }
        workgroupBarrier();
    }
    let total = partial[first];
    workgroupBarrier();
    return total;
}

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
    let base = row * COUNT;

    var mean = 0.0;
    if CENTERED {
        var s = 0.0;
        if live {
            for (var k = lane; k < COUNT; k = k + TPR) {
                s = s + {{X}}[base + k];
            }
        }
        mean = row_sum(lid.x, lane, first, s) / f32(COUNT);
    }

    var q = 0.0;
    if live {
        for (var k = lane; k < COUNT; k = k + TPR) {
            let d = {{X}}[base + k] - mean;
            q = q + d * d;
        }
    }
    let inv = 1.0 / sqrt(row_sum(lid.x, lane, first, q) / f32(COUNT) + EPS);

    if live {
        for (var k = lane; k < COUNT; k = k + TPR) {
            let i = base + k;
            {{Y}}[i] = {{AFFINE}};
        }
{{STATS}}
    }
}
