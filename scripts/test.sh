#!/usr/bin/env bash
# The test command: writes the test data if needed (scripts/setup-test-data.sh), runs every
# test of the workspace optimised, and prints the conformance figures. Extra arguments go to
# `cargo test` (e.g. `scripts/test.sh --test conformance -- --nocapture`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/setup-test-data.sh

# Missing test data is a failure here, never a silent skip.
export KILN_REQUIRE_DATA=1
rm -f target/conformance-cpu.txt target/conformance-quant-cpu.txt
status=0
cargo test --workspace --release --no-fail-fast "$@" || status=$?

for report in target/conformance-cpu.txt target/conformance-quant-cpu.txt; do
    if [ -f "$report" ]; then
        echo "$(head -n1 "$report" | cut -d: -f1): $(grep -m1 ' passed, ' "$report") (details: $report)"
    fi
done
exit $status
