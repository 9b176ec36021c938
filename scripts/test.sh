#!/usr/bin/env bash
# The test command: writes the test data if needed (scripts/setup-test-data.sh), runs every
# test of the workspace optimised (and, without arguments, the runtime's GPU tests again on
# the GL backend), then the Python package's pytest suite (scripts/test-python.sh) and the
# browser test (scripts/test-web.sh: the wasm package in headless Chromium), and
# prints the conformance figures. Extra arguments go to `cargo test` (e.g.
# `scripts/test.sh --test conformance -- --nocapture`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup-test-data.sh

# Missing test data is a failure here, never a silent skip.
export KILN_REQUIRE_DATA=1
# The conformance reports: node-core and node-quant per backend (the CPU, the GPU, the GPU
# through GL) and --opt level, the differential check of each backend; the same for
# node-all (CPU and GPU).
reports=(target/conformance-cpu-o0.txt target/conformance-cpu-o2.txt
    target/conformance-gpu-o0.txt target/conformance-gpu-o2.txt
    target/conformance-gl-o0.txt target/conformance-gl-o2.txt
    target/conformance-quant-cpu-o0.txt target/conformance-quant-cpu-o2.txt
    target/conformance-quant-gpu-o0.txt target/conformance-quant-gpu-o2.txt
    target/conformance-quant-gl-o0.txt target/conformance-quant-gl-o2.txt
    target/conformance-all-cpu-o0.txt target/conformance-all-cpu-o2.txt
    target/conformance-all-gpu-o0.txt target/conformance-all-gpu-o2.txt)
differentials=(target/conformance-cpu-differential.txt target/conformance-gpu-differential.txt
    target/conformance-gl-differential.txt
    target/conformance-quant-cpu-differential.txt target/conformance-quant-gpu-differential.txt
    target/conformance-quant-gl-differential.txt
    target/conformance-all-cpu-differential.txt target/conformance-all-gpu-differential.txt)
rm -f "${reports[@]}" "${differentials[@]}"
status=0
cargo test --workspace --release --no-fail-fast "$@" || status=$?
# The whole run also repeats the runtime crate's GPU tests (every kernel family against
# the CPU reference) on the GL backend: about a minute on llvmpipe. node-core and the
# random-weight models have GL tests of their own above.
if [ $# -eq 0 ]; then
    WGPU_BACKEND=gl cargo test --release -p kiln-runtime --no-fail-fast || status=$?
fi
# The Python package: its wheel built, installed and tested with pytest.
scripts/test-python.sh || status=$?
# kiln in the browser: the wasm package and demo page in headless Chromium.
scripts/test-web.sh || status=$?

for report in "${reports[@]}"; do
    if [ -f "$report" ]; then
        # GPU reports also say how many passing tests ran no dispatch (folded while compiling).
        folded=$(grep -m1 -o '^[0-9]* of the [0-9]* passing tests ran no GPU dispatch' "$report" || true)
        echo "$(head -n1 "$report" | cut -d: -f1): $(grep -m1 ' passed, ' "$report")${folded:+; $folded} (details: $report)"
    fi
done
for report in "${differentials[@]}"; do
    if [ -f "$report" ]; then
        echo "$(head -n1 "$report"); $(sed -n 2p "$report")"
    fi
done
exit $status
