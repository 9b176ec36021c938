// Direct matrix-product engine: C[z, m, n] = epilogue(sum_k A(z, m, k) * B(z, k, n)),
// for products too thin to tile (depthwise convolution, a handful of output channels
// per group, matrix-vector products). Each invocation computes RM rows of one column
// (RM divides M), so each B element it reads serves RM outputs; neighbouring
// invocations take neighbouring columns. The lowering unrolls the RM accumulators
// (ACC_*); K is walked in KSTEP-long runs, integer accumulators flushed after each
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
const WG: u32 = {{WG}}u;

{{HELPERS}}

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{INIT}}    let t = {{LINEAR_INDEX}};
    if (t >= Z * MB * N) {
        return;
    }
    let n = t % N;
    let m0 = ((t / N) % MB) * RM;
    let z = t / (N * MB);
{{ACC_DECL}}    for (var k0 = 0u; k0 < K; k0 += KSTEP) {
        let k1 = min(k0 + KSTEP, K);
        for (var k = k0; k < k1; k++) {
            let b = load_b(z, k, n);
{{ACC_UPDATE}}        }
{{ACC_FLUSH}}    }
{{ACC_STORE}}}
