// Tiled matrix-product engine with vec4 workgroup tiles: C[z, m, n] =
// epilogue(sum_k A(z, m, k) * B(z, k, n)).
//
// Each workgroup computes a BM x BN tile of one batch entry z (workgroup_id.z); each
// invocation computes a TM x TN block of outputs (rows m0 + lid.y*TM + i, columns
// n0 + lid.x*TN + j; TM = 4*RM, TN = 4*RN), so its operands in workgroup memory are
// RM + RN vec4s per step of k. The lowering unrolls the accumulator code (ACC_*).
// CPU Vulkan drivers (llvmpipe) access workgroup memory lane by lane, so one vec4 load
// in place of four scalar ones is most of the win. K is walked in BK-wide steps. The
// lowering supplies `load_a`, `load_b` and `store` (which applies the epilogue).

{{BINDINGS}}
const M: u32 = {{M}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const WX: u32 = {{WX}}u;
const WY: u32 = {{WY}}u;
const BK: u32 = {{BK}}u;
const RM: u32 = {{RM}}u;
const RN: u32 = {{RN}}u;
const BM4: u32 = WY * RM;
const BN4: u32 = WX * RN;
const BM: u32 = BM4 * 4u;
const BN: u32 = BN4 * 4u;
const WG: u32 = WX * WY;

// tile_a is stored k-major ([BK][BM/4] vec4s of four consecutive rows), tile_b
// [BK][BN/4] vec4s of four consecutive columns.
var<workgroup> tile_a: array<vec4<{{T}}>, {{BM_BK4}}>;
var<workgroup> tile_b: array<vec4<{{T}}>, {{BK_BN4}}>;

{{HELPERS}}

fn a_at(z: u32, m: u32, k: u32) -> {{T}} {
    if (m < M && k < K) {
        return load_a(z, m, k);
    }
    return {{ZERO}};
}

fn b_at(z: u32, k: u32, n: u32) -> {{T}} {
    if (k < K && n < N) {
        return load_b(z, k, n);
    }
    return {{ZERO}};
}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
{{INIT}}    let z = wid.z;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
{{ACC_DECL}}    for (var kt = 0u; kt < K; kt += BK) {
        for (var e = li; e < BM4 * BK; e += WG) {
            let c = e / BM4;
            let m = m0 + (e % BM4) * 4u;
            let k = kt + c;
            tile_a[e] = vec4<{{T}}>(a_at(z, m, k), a_at(z, m + 1u, k), a_at(z, m + 2u, k), a_at(z, m + 3u, k));
        }
        for (var e = li; e < BK * BN4; e += WG) {
            let k = kt + e / BN4;
            let n = n0 + (e % BN4) * 4u;
            tile_b[e] = vec4<{{T}}>(b_at(z, k, n), b_at(z, k, n + 1u), b_at(z, k, n + 2u), b_at(z, k, n + 3u));
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let ar = kk * BM4 + lid.y * RM;
            let br = kk * BN4 + lid.x * RN;
{{ACC_UPDATE}}        }
{{ACC_FLUSH}}        workgroupBarrier();
    }
    let mb = m0 + lid.y * RM * 4u;
    let nb = n0 + lid.x * RN * 4u;
{{ACC_STORE}}{{FINISH}}}
