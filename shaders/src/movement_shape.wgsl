// kiln shape: one invocation writes the operand's (static) dims.
@group(0) @binding(0) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(1)
fn main() {
{{STORES}}
}
