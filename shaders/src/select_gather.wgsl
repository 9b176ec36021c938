// kiln Compress, pass 2: result element (outer, j, inner) is the operand's slice
// sel[j] along the axis where j is below the count pass 1 stored, zero past it. One
// invocation per result element; elements move as 32-bit words.
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> sel: array<u32>;
@group(0) @binding(2) var<storage, read> count: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const BOUND: u32 = {{BOUND}}u;
const LEN: u32 = {{LEN}}u;
const INNER: u32 = {{INNER}}u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = {{INDEX}};
    if e >= N {
        return;
    }
    let inner = e % INNER;
    let j = (e / INNER) % BOUND;
    let outer = e / (INNER * BOUND);
    var w = 0u;
    if j < count[0] {
        w = src[(outer * LEN + sel[j]) * INNER + inner];
    }
    dst[e] = w;
}
