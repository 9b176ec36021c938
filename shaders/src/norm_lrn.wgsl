// kiln local response normalization across channels of an N × C × ... tensor:
// y = x / (bias + alpha / size * Σ x[c']²)^beta over c' in [c - LO, c + HI] ∩ [0, C);
// STORE applies a fused epilogue to `v` (or is `v`).
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const C: u32 = {{C}}u;
const S: u32 = {{S}}u;
const LO: u32 = {{LO}}u;
const HI: u32 = {{HI}}u;
const BIAS: f32 = {{BIAS}};
const ALPHA_OVER_SIZE: f32 = {{ALPHA_OVER_SIZE}};
const BETA: f32 = {{BETA}};

{{HELPERS}}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    let c = (i / S) % C;
    let base = i - c * S;
    let lo = select(0u, c - LO, c >= LO);
    let hi = min(c + HI, C - 1u);
    var sq = 0.0;
    for (var ch = lo; ch <= hi; ch = ch + 1u) {
        let v = {{X}}[base + ch * S];
        sq = sq + v * v;
    }
    let v = {{X}}[i] / pow(BIAS + ALPHA_OVER_SIZE * sq, BETA);
    {{Y}}[i] = {{STORE}};
}
