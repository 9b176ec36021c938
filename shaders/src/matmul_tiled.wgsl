// Tiled matrix-product engine: C[z, m, n] = epilogue(sum_k A(z, m, k) * B(z, k, n)).
//
// Each workgroup computes a BM x BN tile of one batch entry z (workgroup_id.z, plus
// Z0); each invocation computes TM x TN outputs (rows lid.y + i*WY, columns
// lid.x + j*WX, so neighbouring invocations store neighbouring columns). K is walked in
// BK-wide steps staged through workgroup memory. The lowering supplies the operand
// gathers `load_a`, `load_b` and the `store` of a finished value (which applies the
// epilogue), so matmul, implicit-GEMM conv and conv-transpose share this engine.

{{BINDINGS}}
const M: u32 = {{M}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WX: u32 = {{WX}}u;
const WY: u32 = {{WY}}u;
const BK: u32 = {{BK}}u;
const BM: u32 = WY * TM;
const BN: u32 = WX * TN;
const WG: u32 = WX * WY;

// tile_a is stored k-major ([BK][BM]) so the inner loop reads rows contiguously.
var<workgroup> tile_a: array<{{T}}, {{BM_BK}}>;
var<workgroup> tile_b: array<{{T}}, {{BK_BN}}>;

{{HELPERS}}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
{{INIT}}    let z = wid.z;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    var acc: array<{{T}}, {{TM_TN}}>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = {{ZERO}};
    }
{{TOTAL_DECL}}    for (var kt = 0u; kt < K; kt += BK) {
        for (var e = li; e < BM * BK; e += WG) {
            let r = e / BK;
            let c = e % BK;
            var v = {{ZERO}};
            if (m0 + r < M && kt + c < K) {
                v = load_a(z, m0 + r, kt + c);
            }
            tile_a[c * BM + r] = v;
        }
        for (var e = li; e < BK * BN; e += WG) {
            let r = e / BN;
            let c = e % BN;
            var v = {{ZERO}};
            if (kt + r < K && n0 + c < N) {
                v = load_b(z, kt + r, n0 + c);
            }
            tile_b[e] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<{{T}}, {{TM}}>;
            var bv: array<{{T}}, {{TN}}>;
            for (var i = 0u; i < TM; i++) {
                av[i] = tile_a[kk * BM + lid.y + i * WY];
            }
            for (var j = 0u; j < TN; j++) {
                bv[j] = tile_b[kk * BN + lid.x + j * WX];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = {{FMA}}(av[i], bv[j], acc[i * TN + j]);
                }
            }
        }
{{FLUSH}}        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + lid.y + i * WY;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + lid.x + j * WX;
            if (m < M && n < N) {
                store(z, m, n, {{RESULT}}[i * TN + j]);
            }
        }
    }
{{FINISH}}}
