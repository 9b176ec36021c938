// Packed 8-bit matrix-product engine: C[z, m, n] = epilogue(sum_k (A(z, m, k) - ZA(z, m))
// * (B(z, k, n) - ZB(z, n))), exact in i32 (wrapping as the reference's i32 result does).
//
// The tiled engine's shape (BM x BN tiles, TM x TN outputs per invocation), but each
// workgroup-memory word holds four consecutive k of one row of A or one column of B as
// signed bytes, and each step multiplies four pairs at once with dot4I8Packed. The
// lowering supplies `load_a` / `load_b` returning values in -128..=127 (unsigned types
// and their zero points shifted down by 128, which changes no difference) and the zero
// points `zero_a(z, m)`, `zero_b(z, n)` in the same domain. Zero points are not
// subtracted before packing (a difference of two 8-bit values needs 9 bits):
// sum (a - za)(b - zb) = sum ab - zb * sum a - za * sum b + K * za * zb, where the sums
// of a row of A and of a column of B are dot products with 0x01010101, accumulated only
// where the other operand's zero point is not a literal 0 (SUMS, CORRECT). Positions
// past K pack as 0 and add nothing to any sum.

{{BINDINGS}}
const M: u32 = {{M}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WX: u32 = {{WX}}u;
const WY: u32 = {{WY}}u;
// Words of k per tile step; each word holds 4 values of k.
const BW: u32 = {{BW}}u;
const BM: u32 = WY * TM;
const BN: u32 = WX * TN;
const WG: u32 = WX * WY;
const ONES: u32 = 0x01010101u;

// tile_a is stored k-major ([BW][BM]) so the inner loop reads rows contiguously.
var<workgroup> tile_a: array<u32, {{BM_BW}}>;
var<workgroup> tile_b: array<u32, {{BW_BN}}>;

{{HELPERS}}

// Elements k..k+3 of row m of A as four signed bytes, 0 past K.
fn pack_a(z: u32, m: u32, k: u32) -> u32 {
    var w = 0u;
    for (var i = 0u; i < 4u; i++) {
        if (k + i < K) {
            w |= (u32(load_a(z, m, k + i)) & 0xFFu) << (8u * i);
        }
    }
    return w;
}

// Elements k..k+3 of column n of B as four signed bytes, 0 past K.
fn pack_b(z: u32, k: u32, n: u32) -> u32 {
    var w = 0u;
    for (var i = 0u; i < 4u; i++) {
        if (k + i < K) {
            w |= (u32(load_b(z, k + i, n)) & 0xFFu) << (8u * i);
        }
    }
    return w;
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
    var acc: array<i32, {{TM_TN}}>;
    var sum_a: array<i32, {{TM}}>;
    var sum_b: array<i32, {{TN}}>;
    for (var kt = 0u; kt < K; kt += 4u * BW) {
        for (var e = li; e < BM * BW; e += WG) {
            let r = e / BW;
            let c = e % BW;
            var v = 0u;
            if (m0 + r < M) {
                v = pack_a(z, m0 + r, kt + 4u * c);
            }
            tile_a[c * BM + r] = v;
        }
        for (var e = li; e < BW * BN; e += WG) {
            let r = e / BN;
            let c = e % BN;
            var v = 0u;
            if (n0 + c < N) {
                v = pack_b(z, kt + 4u * r, n0 + c);
            }
            tile_b[e] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BW; kk++) {
            var av: array<u32, {{TM}}>;
            var bv: array<u32, {{TN}}>;
            for (var i = 0u; i < TM; i++) {
                av[i] = tile_a[kk * BM + lid.y + i * WY];
            }
            for (var j = 0u; j < TN; j++) {
                bv[j] = tile_b[kk * BN + lid.x + j * WX];
            }
{{SUMS}}            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] += dot4I8Packed(av[i], bv[j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let m = m0 + lid.y + i * WY;
        for (var j = 0u; j < TN; j++) {
            let n = n0 + lid.x + j * WX;
            if (m < M && n < N) {
                store(z, m, n, acc[i * TN + j]{{CORRECT}});
            }
        }
    }
{{FINISH}}}
