// kiln sparse product y = a · B, B stored sparse (blocks by column, or N of every M
// along k). Invocation (g, u) computes rows g·TM .. g·TM + TM of column unit u (a
// column of blocks, or one column): the lanes of a workgroup share u, so every lane
// walks the same stored weights (uniform loads) and reads its own rows of a.
// ROWS (with the row bases clamped into range), ACC, LOOP and STORE are generated
// for the format, unrolled over the thread's rows and the block's columns.
{{BINDINGS}}
{{HELPERS}}
const ROWS: u32 = {{ROWS}}u;
const K: u32 = {{K}}u;
const N: u32 = {{N}}u;
const GROUPS: u32 = {{GROUPS}}u;
const UNITS: u32 = {{UNITS}}u;
const TM: u32 = {{TM}}u;

@compute @workgroup_size({{WGX}}, {{WGY}}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    let u = gid.y;
    if g >= GROUPS || u >= UNITS {
        return;
    }
    let m0 = g * TM;
{{ROW_BASES}}
{{ACC}}
{{LOOP}}
{{STORE}}
}
