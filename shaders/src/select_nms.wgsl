// kiln NonMaxSuppression in one workgroup, batch by batch and class by class as ONNX
// defines it. Each lane ranks some candidate boxes (score above the threshold when there
// is one) by descending score, lower index first on ties, into `order`; then the
// candidates are visited in that order, the lanes checking one against the kept boxes in
// parallel, and lane 0 keeps it (a `(batch, class, box)` row) unless one suppresses it,
// up to K per class. Rows past the total are zeroed; lane 0 stores the total. IoU is
// computed in f32 in the reference's order.
@group(0) @binding(0) var<storage, read> boxes: array<f32>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> iou_threshold: array<f32>;
@group(0) @binding(3) var<storage, read> score_threshold: array<f32>;
@group(0) @binding(4) var<storage, read_write> order: array<u32>;
@group(0) @binding(5) var<storage, read_write> kept: array<u32>;
@group(0) @binding(6) var<storage, read_write> dst: array<u32>;
@group(0) @binding(7) var<storage, read_write> count: array<u32>;

const WG: u32 = {{WG}}u;
const BATCHES: u32 = {{BATCHES}}u;
const CLASSES: u32 = {{CLASSES}}u;
const N: u32 = {{N}}u;
const K: u32 = {{K}}u;
const ROWS: u32 = BATCHES * CLASSES * K;
const CENTER: bool = {{CENTER}};
const USE_SCORE: bool = {{USE_SCORE}};

var<workgroup> candidates: atomic<u32>;
var<workgroup> candidate_n: u32;
var<workgroup> suppressed: atomic<u32>;
var<workgroup> kept_n: u32;
var<workgroup> total: u32;

fn span(a: f32, b: f32) -> vec2<f32> {
    if a >= b {
        return vec2<f32>(b, a);
    }
    return vec2<f32>(a, b);
}

// The box at `base` along x (axis 0) or y (axis 1): its low and high ends.
fn extent(base: u32, axis: u32) -> vec2<f32> {
    if CENTER {
        let half = boxes[base + 2u + axis] / 2.0;
        return vec2<f32>(boxes[base + axis] - half, boxes[base + axis] + half);
    }
    if axis == 0u {
        return span(boxes[base + 1u], boxes[base + 3u]);
    }
    return span(boxes[base], boxes[base + 2u]);
}

fn suppresses(a: u32, b: u32, threshold: f32) -> bool {
    let ax = extent(a, 0u);
    let bx = extent(b, 0u);
    let ix0 = max(ax.x, bx.x);
    let ix1 = min(ax.y, bx.y);
    if ix1 <= ix0 {
        return false;
    }
    let ay = extent(a, 1u);
    let by = extent(b, 1u);
    let iy0 = max(ay.x, by.x);
    let iy1 = min(ay.y, by.y);
    if iy1 <= iy0 {
        return false;
    }
    let inter = (ix1 - ix0) * (iy1 - iy0);
    if inter <= 0.0 {
        return false;
    }
    let area_a = (ax.y - ax.x) * (ay.y - ay.x);
    let area_b = (bx.y - bx.x) * (by.y - by.x);
    let joint = area_a + area_b - inter;
    if area_a <= 0.0 || area_b <= 0.0 || joint <= 0.0 {
        return false;
    }
    return inter / joint > threshold;
}

fn is_candidate(s: f32, threshold: f32) -> bool {
    return !USE_SCORE || s > threshold;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lane: u32) {
    let iou = iou_threshold[0];
    let threshold = score_threshold[0];
    if lane == 0u {
        total = 0u;
        atomicStore(&suppressed, 0u);
    }
    for (var pair = 0u; pair < BATCHES * CLASSES; pair = pair + 1u) {
        let b = pair / CLASSES;
        let sbase = pair * N;
        let bbase = b * N * 4u;
        if lane == 0u {
            atomicStore(&candidates, 0u);
            kept_n = 0u;
        }
        workgroupBarrier();
        for (var i = lane; i < N; i = i + WG) {
            let s = scores[sbase + i];
            if is_candidate(s, threshold) {
                var rank = 0u;
                for (var j = 0u; j < N; j = j + 1u) {
                    let t = scores[sbase + j];
                    if is_candidate(t, threshold) && (t > s || (t == s && j < i)) {
                        rank = rank + 1u;
                    }
                }
                order[rank] = i;
                atomicAdd(&candidates, 1u);
            }
        }
        storageBarrier();
        workgroupBarrier();
        if lane == 0u {
            candidate_n = atomicLoad(&candidates);
        }
        let n = workgroupUniformLoad(&candidate_n);
        for (var r = 0u; r < n; r = r + 1u) {
            let kn = workgroupUniformLoad(&kept_n);
            if kn >= K {
                break;
            }
            let i = order[r];
            for (var q = lane; q < kn; q = q + WG) {
                if suppresses(bbase + i * 4u, bbase + kept[q] * 4u, iou) {
                    atomicStore(&suppressed, 1u);
                }
            }
            workgroupBarrier();
            if lane == 0u {
                if atomicLoad(&suppressed) == 0u {
                    kept[kn] = i;
                    let row = (total + kn) * 3u;
                    dst[row] = b;
                    dst[row + 1u] = pair % CLASSES;
                    dst[row + 2u] = i;
                    kept_n = kn + 1u;
                }
                atomicStore(&suppressed, 0u);
            }
            storageBarrier();
            workgroupBarrier();
        }
        if lane == 0u {
            total = total + kept_n;
        }
        workgroupBarrier();
    }
    let t = workgroupUniformLoad(&total);
    for (var k = t * 3u + lane; k < ROWS * 3u; k = k + WG) {
        dst[k] = 0u;
    }
    if lane == 0u {
        count[0] = t;
    }
}
