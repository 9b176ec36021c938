#!/usr/bin/env bash
# Figures of kiln's sparsity and pruning (issue 12), on the GPU kiln picks:
#  1. sparse kernels: models whose 2048x2048 matmul weights are 90% zero in 4x4 blocks
#     or scattered (scripts/make-sparse-models.py), at --opt 2 against the same model with
#     --disable-set sparsity;
#  2. channel pruning: a ResNet-18 (scripts/make-resnet18.py, random weights) with
#     --prune channels:0.5 against the unpruned model (FLOPs from --report);
#  3. what each pruning mode costs in accuracy on real weights (real/cls, real/rec:
#     scripts/make-real-data.py), measured against the unpruned model on their test
#     sets, no budget and no fine-tuning.
# Latency: every bundle of a comparison benched in turn, ROUNDS times (interleaved, so a
# busy machine slows each variant alike); the median of the rounds' medians and ratios.
#
#   scripts/bench-sparse.sh [ROUNDS]     (needs the test data: scripts/setup-test-data.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${KILN_TEST_DATA:-$root/target/onnx-tests}
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
python=${KILN_VENV:-$root/target/venv}/bin/python
rounds=${1:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median_ms() {
    "$kiln" bench "$1" --iters "${2:-10}" --warmup 2 --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])'
}

# Benches the bundles "$@" interleaved; prints each one's median of medians and its
# ratio to the first.
compare() {
    : >"$tmp/times"
    for _ in $(seq "$rounds"); do
        for b in "$@"; do echo "$b $(median_ms "$b")" >>"$tmp/times"; done
    done
    python3 - "$tmp/times" "$@" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    b, ms = line.split()
    times.setdefault(b, []).append(float(ms))
base = statistics.median(times[sys.argv[2]])
for b in sys.argv[2:]:
    m = statistics.median(times[b])
    print(f"  {b.rsplit('/', 1)[-1]:28} {m:9.3f} ms  {base / m:5.2f}x faster than {sys.argv[2].rsplit('/', 1)[-1]}")
PY
}

echo "== sparse kernels (x[64,2048] -> matmul -> bias+relu -> matmul, 2048x2048 weights;"
echo "   x[1,C,28,28] -> conv -> relu -> conv: 1x1 with C=512, 3x3 with C=256)"
"$python" "$root/scripts/make-sparse-models.py" "$tmp" 2048 64 >/dev/null
for m in block90-2048 unstructured90-2048 conv-block90-512 conv3x3-block90-256; do
    "$kiln" compile "$tmp/$m.onnx" -o "$tmp/$m-dense.kiln" --disable-set sparsity >/dev/null
    "$kiln" compile "$tmp/$m.onnx" -o "$tmp/$m-sparse.kiln" >/dev/null
    echo " $m: kernels at --opt 2: $("$kiln" inspect "$tmp/$m-sparse.kiln" | grep '^sparse weights' || echo dense)"
    compare "$tmp/$m-dense.kiln" "$tmp/$m-sparse.kiln"
done

echo "== channel pruning (ResNet-18, 1x3x224x224, random weights)"
"$python" "$root/scripts/make-resnet18.py" "$tmp/resnet18.onnx" >/dev/null
"$kiln" compile "$tmp/resnet18.onnx" -o "$tmp/resnet18.kiln" >/dev/null
"$kiln" compile "$tmp/resnet18.onnx" -o "$tmp/resnet18-channels.kiln" --prune channels:0.5 --report |
    grep -E '^pruning' | sed 's/^/  /'
compare "$tmp/resnet18.kiln" "$tmp/resnet18-channels.kiln"

echo "== accuracy of each mode on real weights, against the unpruned model (no fine-tuning)"
for m in "cls|x=1x3x48x192" "rec|x=1x3x48x320"; do
    IFS='|' read -r name shape <<<"$m"
    cal="$tmp/cal-$name"
    for set in "$data/real/$name"/test_data_set_*; do
        mkdir -p "$cal/${set##*/}" && cp "$set/input_0.pb" "$cal/${set##*/}/"
    done
    for mode in magnitude:0.5 magnitude-global:0.5 blocks:4x4:0.5 2:4 channels:0.25 channels:0.5; do
        echo " $name --prune $mode:"
        "$kiln" compile "$data/real/$name/model.onnx" -o "$tmp/p.kiln" --shape "$shape" \
            --prune "$mode" --calibration "$cal" --report |
            grep -E "^pruning|^  output" | sed 's/^/  /'
    done
done
