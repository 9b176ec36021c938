#!/usr/bin/env bash
# Latency of kiln's quantization modes against f32, on the GPU kiln picks: each model is
# compiled once per mode (--opt 2), then `kiln bench` runs every bundle in turn, ROUNDS
# times (interleaved, so a busy machine slows every variant alike); prints the median of
# the rounds' medians per bundle and its ratio to the f32 bundle.
#
#   scripts/bench-quantize.sh [ROUNDS]     (needs the test data: scripts/setup-test-data.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${KILN_TEST_DATA:-$root/target/onnx-tests}
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
rounds=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# model name, file, --shape, calibration folder (w8a8)
models=(
    "cls|$data/real/cls/model.onnx|x=1x3x48x192|$data/real/cls"
    "rec|$data/real/rec/model.onnx|x=1x3x48x320|$data/real/rec"
    "bert|$data/quant/bert-f32/model.onnx||$data/quant/bert-f32"
    "minilm|$data/encoder/minilm/model.onnx||$data/encoder/minilm"
)
modes=(f32 w8 w4 f16 w8a8)
for m in "${models[@]}"; do
    IFS='|' read -r name file shape cal <<<"$m"
    for mode in "${modes[@]}"; do
        args=(compile "$file" -o "$tmp/$name-$mode.kiln")
        [ -n "$shape" ] && args+=(--shape "$shape")
        [ "$mode" != f32 ] && args+=(--quantize "$mode" --calibration "$cal")
        "$kiln" "${args[@]}" >/dev/null
    done
done
for r in $(seq "$rounds"); do
    for m in "${models[@]}"; do
        name=${m%%|*}
        for mode in "${modes[@]}"; do
            ms=$("$kiln" bench "$tmp/$name-$mode.kiln" --iters 20 --json 2>/dev/null |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')
            echo "$name $mode $ms" >>"$tmp/times"
        done
    done
done
python3 - "$tmp/times" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, mode, ms = line.split()
    times.setdefault((name, mode), []).append(float(ms))
for (name, mode), v in times.items():
    base = statistics.median(times[(name, "f32")])
    med = statistics.median(v)
    print(f"{name:5} {mode:5} {med:9.2f} ms  {med / base:.2f}x f32")
PY
