// Direct matrix-product engine: C[z, m, n] = epilogue(sum_k A(z, m, k) * B(z, k, n)),
// for products too thin to tile (depthwise convolution, a handful of output channels
// per group, matrix-vector products). Each invocation computes RM rows of CW
// consecutive columns (RM divides M, CW divides N), so each B element it reads serves
// RM outputs; neighbouring invocations take neighbouring columns. CW is 1, or 4 where
// the op reads a row of B four columns to a word (`load_b4`, returning a vec4: an
// 8-bit operand stored packed), and then each A element serves four columns too;
// likewise k advances KW = 4 at a time where the op reads a row of A four elements to a
// word (`load_a4`). The lowering unrolls the RM accumulators and the KW steps
// (ACC_UPDATE); K is walked in KSTEP-long runs, integer accumulators flushed after each
// (ACC_FLUSH). Same `load_a` / `load_b` / `store` hooks as the tiled engine.

{{BINDINGS}}
const M: u32 = {{M}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
// K steps between the integer accumulators' flushes (K for f32 accumulators).
const KSTEP: u32 = {{KSTEP}};
const Z: u32 = {{Z}}u;
const RM: u32 = {{RM}}u;
const MB: u32 = M / RM;
const CW: u32 = {{CW}}u;
const NW: u32 = N / CW;
const KW: u32 = {{KW}}u;
const WG: u32 = {{WG}}u;

{{HELPERS}}

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{INIT}}    let t = {{LINEAR_INDEX}};
    if (t >= Z * MB * NW) {
        return;
    }
    let n = (t % NW) * CW;
    let m0 = ((t / NW) % MB) * RM;
    let z = t / (NW * MB);
{{ACC_DECL}}    for (var k0 = 0u; k0 < K; k0 += KSTEP) {
        let k1 = min(k0 + KSTEP, K);
        for (var k = k0; k < k1; k += KW) {
{{ACC_UPDATE}}        }
{{ACC_FLUSH}}    }
{{ACC_STORE}}{{FINISH}}}
