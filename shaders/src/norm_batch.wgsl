// kiln inference batch norm: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c]
// over axis 1 of an N × C × ... tensor (S elements per image and channel); STORE
// applies a fused epilogue to `v` (or is `v`).
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const C: u32 = {{C}}u;
const S: u32 = {{S}}u;
const EPS: f32 = {{EPS}};

{{HELPERS}}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = {{INDEX}};
    if i >= N {
        return;
    }
    let c = (i / S) % C;
    let inv = 1.0 / sqrt({{VAR}}[c] + EPS);
    let v = ({{X}}[i] - {{MEAN}}[c]) * inv * {{SCALE}}[c] + {{BIAS}}[c];
    {{Y}}[i] = {{STORE}};
}
