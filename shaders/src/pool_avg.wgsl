// Average pooling (N-d) over NC-spatial tensors: one invocation per output element.
// The divisor counts the taps inside the input, or with count_include_pad those
// inside the explicitly padded input (never the extra region ceil_mode adds); a
// window with no taps yields NaN. STORE applies a fused epilogue to `v` (or is `v`).

{{BINDINGS}}
const WG: u32 = {{WG}}u;
const TOTAL: u32 = {{TOTAL}}u;
const P: u32 = {{P}}u;
const PIN: u32 = {{PIN}}u;
const KK: u32 = {{KK}}u;
const RANK: u32 = {{RANK}}u;
const COUNT_INCLUDE_PAD: bool = {{COUNT_INCLUDE_PAD}};
const OUT_DIMS = {{OUT_DIMS}};
const IN_DIMS = {{IN_DIMS}};
const KERNEL = {{KERNEL}};
const STRIDES = {{STRIDES}};
const PADS = {{PADS}};
const PADDED_DIMS = {{PADDED_DIMS}};
const DILATIONS = {{DILATIONS}};
const IN_STRIDES = {{IN_STRIDES}};

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
    var sum = 0.0;
    var count = 0u;
    for (var k = 0u; k < KK; k++) {
        var krem = k;
        var off = 0u;
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
            }
        }
        if (inside) {
            sum += x[plane * PIN + off];
            count += 1u;
        }
    }
    if (COUNT_INCLUDE_PAD) {
        // Taps before the end of the padded input, per axis (all start inside it).
        count = 1u;
        for (var a = 0u; a < RANK; a++) {
            var n = 0u;
            for (var kc = 0u; kc < KERNEL[a]; kc++) {
                if (oc[a] * STRIDES[a] + kc * DILATIONS[a] < PADDED_DIMS[a]) {
                    n += 1u;
                }
            }
            count *= n;
        }
    }
    var v = bitcast<f32>(0x7fc00000u);
    if (count != 0u) {
        v = sum / f32(count);
    }
    y[t] = {{STORE}};
}
