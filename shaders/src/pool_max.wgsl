// Max pooling (N-d) over NC-spatial tensors: one invocation per output element. The
// window is walked in row-major kernel order and the first maximum wins; a window
// entirely in padding yields the lowest value. Optionally writes the flattened index of the
// maximum (row-major, or column-major per image with storage_order = 1). STORE
// applies a fused epilogue to `best` (or is `best`).

{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TOTAL: u32 = {{TOTAL}}u;
const P: u32 = {{P}}u;
const PIN: u32 = {{PIN}}u;
const KK: u32 = {{KK}}u;
const RANK: u32 = {{RANK}}u;
const OUT_DIMS = {{OUT_DIMS}};
const IN_DIMS = {{IN_DIMS}};
const KERNEL = {{KERNEL}};
const STRIDES = {{STRIDES}};
const PADS = {{PADS}};
const DILATIONS = {{DILATIONS}};
const IN_STRIDES = {{IN_STRIDES}};
const INDEX_STRIDES = {{INDEX_STRIDES}};

{{HELPERS}}
@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = {{LINEAR_INDEX}};
    if (t >= TOTAL) {
        return;
    }
    let plane = t / P;
    var oc: array<u32, {{RANK}}>;
    var rem = t % P;
    for (var a = RANK; a > 0u; a--) {
        oc[a - 1u] = rem % OUT_DIMS[a - 1u];
        rem /= OUT_DIMS[a - 1u];
    }
    var best: {{T}} = {{LOWEST}};
    var best_index = 0u;
    var found = false;
    for (var k = 0u; k < KK; k++) {
        var krem = k;
        var off = 0u;
        var index = 0u;
        var inside = true;
        for (var a = RANK; a > 0u; a--) {
            let ax = a - 1u;
            let kc = krem % KERNEL[ax];
            krem /= KERNEL[ax];
            let c = i32(oc[ax] * STRIDES[ax] + kc * DILATIONS[ax]) - i32(PADS[ax]);
            if (c < 0 || c >= i32(IN_DIMS[ax])) {
                inside = false;
            } else {
                off += u32(c) * IN_STRIDES[ax];
                index += u32(c) * INDEX_STRIDES[ax];
            }
        }
        if (inside) {
            let v = x[plane * PIN + off];
            if (!found || v > best) {
                best = v;
                best_index = index;
                found = true;
            }
        }
    }
    y[t] = {{STORE}};
    {{STORE_INDEX}}
}
