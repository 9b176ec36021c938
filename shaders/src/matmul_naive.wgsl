// Direct (one output per invocation) matrix-product engine:
// C[z, m, n] = epilogue(sum_k A(z, m, k) * B(z, k, n)), for products too thin to
// tile (depthwise convolution, a handful of output channels per group). Same
// `load_a` / `load_b` / `store` hooks as the tiled engine.

{{BINDINGS}}
const M: u32 = {{M}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const Z: u32 = {{Z}}u;
const WG: u32 = {{WG}}u;

{{HELPERS}}

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = {{LINEAR_INDEX}};
    if (t >= Z * M * N) {
        return;
    }
    let n = t % N;
    let m = (t / N) % M;
    let z = t / (N * M);
    var acc = 0.0;
    for (var k = 0u; k < K; k++) {
        acc = fma(load_a(z, m, k), load_b(z, k, n), acc);
    }
    store(z, m, n, acc);
}
