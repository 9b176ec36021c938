// kiln fused attention: out[z, s, :] = softmax(q[z, s, :] · kt[z] · SCALE + mask[z, s, :]) · v[z]
// in one kernel. Each workgroup takes R = WG / TPR query rows of one batch entry; TPR
// lanes (a power of two) share a row. A row's T scores live in workgroup memory: the
// lanes compute them (scaled, masked) and their maximum, replace them by exp(score -
// max) and sum them, then each lane produces output columns e = lane, lane + TPR, ...
// STORE applies a fused epilogue to `value` (or is `value`) for output element `idx`.
// OFFSETS supplies q_batch/k_batch/v_batch and the strides of q, kt and v along their
// last two axes (Q_S, Q_D, K_D, K_T, V_T, V_E), and o_at(z, s, e), the result offset:
// row-major, or through a folded transpose.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TPR: u32 = {{TPR}}u;
const R: u32 = WG / TPR;
const Z: u32 = {{Z}}u;
const S: u32 = {{S}}u;
const T: u32 = {{T}}u;
const D: u32 = {{D}}u;
const E: u32 = {{E}}u;
const BLOCKS: u32 = {{BLOCKS}}u;
const SCALE: f32 = {{SCALE}};

var<workgroup> p: array<f32, {{R_T}}>;
var<workgroup> partial: array<f32, WG>;

{{HELPERS}}
{{OFFSETS}}
// The maximum (or with `add` the sum) of `v` over the TPR lanes of this row; call
// from uniform control flow.
fn row_combine(l: u32, lane: u32, first: u32, v: f32, add: bool) -> f32 {
    partial[l] = v;
    workgroupBarrier();
    for (var s = TPR / 2u; s > 0u; s = s / 2u) {
        if lane < s {
            if add {
                partial[l] = partial[l] + partial[l + s];
            } else {
                partial[l] = k_max(partial[l], partial[l + s]);
            }
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
    let r = lid.x / TPR;
    let block = wid.x + wid.y * nwg.x;
    let z = block / BLOCKS;
    let s = (block % BLOCKS) * R + r;
    let live = z < Z && s < S;
    let row = r * T;
    var qo = 0u;
    var ko = 0u;
    var vo = 0u;
    if live {
        qo = q_batch(z) + s * Q_S;
        ko = k_batch(z);
        vo = v_batch(z);
    }

    // Scaled, masked scores and their maximum (NaN propagates).
    var m = bitcast<f32>(0xff800000u);
    if live {
        for (var t = lane; t < T; t = t + TPR) {
            var acc = 0.0;
            for (var d = 0u; d < D; d = d + 1u) {
                acc = fma({{Q}}[qo + d * Q_D], {{K}}[ko + d * K_D + t * K_T], acc);
            }
            let score = acc * SCALE + {{MASK}};
            p[row + t] = score;
            m = k_max(m, score);
        }
    }
    m = row_combine(lid.x, lane, first, m, false);

    // exp(score - max) in place, and its sum.
    var sum = 0.0;
    if live {
        for (var t = lane; t < T; t = t + TPR) {
            let e = exp(p[row + t] - m);
            p[row + t] = e;
            sum = sum + e;
        }
    }
    // The barriers inside also make every lane's p entries visible to the row.
    sum = row_combine(lid.x, lane, first, sum, true);

    if live {
        for (var e = lane; e < E; e = e + TPR) {
            var acc = 0.0;
            for (var t = 0u; t < T; t = t + 1u) {
                acc = fma(p[row + t], {{V}}[vo + t * V_T + e * V_E], acc);
            }
            let value = acc / sum;
            let idx = (z * S + s) * E + e;
            {{OUT}}[o_at(z, s, e)] = {{STORE}};
        }
    }
}
