// kiln Unique in one workgroup over LEN slices (OUTER × INNER elements each, slice j
// the elements (o, j, i)): each lane finds its slices' first occurrences, then each
// distinct slice its place (ascending lexicographic order when SORTED, else order of
// first occurrence) and how often it occurs, then every slice its place (inverse) and the
// distinct slices are gathered into y. Lists and y past the distinct count are zeroed;
// lane 0 stores the count.
@group(0) @binding(0) var<storage, read> src: array<{{T}}>;
@group(0) @binding(1) var<storage, read_write> first: array<u32>;
@group(0) @binding(2) var<storage, read_write> place: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<{{T}}>;
@group(0) @binding(4) var<storage, read_write> indices: array<u32>;
@group(0) @binding(5) var<storage, read_write> inverse: array<u32>;
@group(0) @binding(6) var<storage, read_write> counts: array<u32>;
@group(0) @binding(7) var<storage, read_write> count: array<u32>;

const WG: u32 = {{WG}}u;
const OUTER: u32 = {{OUTER}}u;
const LEN: u32 = {{LEN}}u;
const INNER: u32 = {{INNER}}u;
const SORTED: bool = {{SORTED}};

var<workgroup> distinct: atomic<u32>;
var<workgroup> distinct_n: u32;

// Element e (in row-major order) of slice j.
fn at(j: u32, e: u32) -> {{T}} {
    return src[((e / INNER) * LEN + j) * INNER + e % INNER];
}

fn same(a: u32, b: u32) -> bool {
    for (var e = 0u; e < OUTER * INNER; e = e + 1u) {
        if at(a, e) != at(b, e) {
            return false;
        }
    }
    return true;
}

fn less(a: u32, b: u32) -> bool {
    for (var e = 0u; e < OUTER * INNER; e = e + 1u) {
        let p = at(a, e);
        let q = at(b, e);
        if p < q {
            return true;
        }
        if p > q {
            return false;
        }
    }
    return false;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
    if lane == 0u {
        atomicStore(&distinct, 0u);
    }
    workgroupBarrier();
    for (var j = lane; j < LEN; j = j + WG) {
        var f = j;
        for (var k = 0u; k < j; k = k + 1u) {
            if same(k, j) {
                f = k;
                break;
            }
        }
        first[j] = f;
        if f == j {
            atomicAdd(&distinct, 1u);
        }
    }
    storageBarrier();
    workgroupBarrier();
    for (var j = lane; j < LEN; j = j + WG) {
        if first[j] == j {
            var r = 0u;
            var n = 0u;
            for (var k = 0u; k < LEN; k = k + 1u) {
                if first[k] == j {
                    n = n + 1u;
                }
                if first[k] == k && k != j {
                    if (SORTED && less(k, j)) || (!SORTED && k < j) {
                        r = r + 1u;
                    }
                }
            }
            place[j] = r;
            indices[r] = j;
            counts[r] = n;
        }
    }
    storageBarrier();
    workgroupBarrier();
    if lane == 0u {
        distinct_n = atomicLoad(&distinct);
    }
    let d = workgroupUniformLoad(&distinct_n);
    for (var j = lane; j < LEN; j = j + WG) {
        inverse[j] = place[first[j]];
        if j >= d {
            indices[j] = 0u;
            counts[j] = 0u;
        }
    }
    for (var e = lane; e < OUTER * LEN * INNER; e = e + WG) {
        let r = (e / INNER) % LEN;
        var v = {{T}}(0);
        if r < d {
            v = src[((e / (INNER * LEN)) * LEN + indices[r]) * INNER + e % INNER];
        }
        y[e] = v;
    }
    if lane == 0u {
        count[0] = d;
    }
}
