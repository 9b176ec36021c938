// kiln elementwise kernel storing a narrow result: one invocation per 32-bit word of
// the result, computing the PER elements the word holds (BITS bits each, lowest
// first) and writing the whole word, so no two invocations share a word.
{{BINDINGS}}
const WG: u32 = {{WG}}u;
const N: u32 = {{N}}u;
const WORDS: u32 = {{WORDS}}u;
const PER: u32 = {{PER}}u;
const BITS: u32 = {{BITS}}u;

{{HELPERS}}
// The bits element `i` of the result stores (only the low BITS count).
fn k_element(i: u32) -> u32 {
{{OFFSETS}}
    return {{PACK}};
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = {{INDEX}};
    if w >= WORDS {
        return;
    }
    var word = 0u;
    for (var j = 0u; j < PER; j++) {
        let i = w * PER + j;
        if i < N {
            word |= extractBits(k_element(i), 0u, BITS) << (j * BITS);
        }
    }
    {{DST}}[w] = word;
}
