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

# The Python package's build and test tools (scripts/test-python.sh) and the browser test's
# driver (scripts/test-web.sh): pinned apart from the pins above, which also stamp the
# generated data.
tools=(maturin==1.16.0 pytest==9.2.0 selenium==4.50.0)
if ! "$py" -c "$check_pins" "${tools[@]}" 2>/dev/null; then
    echo "setup-test-data: installing ${tools[*]} into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
fi

# The real-weight models (a wheel from PyPI, see make-real-data.py): their own stamp, so the
# generated data above is not rewritten when only they change.
real_stamp=$( (cat "$root/scripts/make-real-data.py"; echo "${pins[*]}") | sha256sum | cut -d' ' -f1)
if ! { [ -f "$data/real/.stamp" ] && [ "$(cat "$data/real/.stamp")" = "$real_stamp" ]; }; then
    echo "setup-test-data: writing $data/real"
    rm -rf "$data/real"
    "$py" "$root/scripts/make-real-data.py" "$data"
    echo "$real_stamp" >"$data/real/.stamp"
fi

# The sentence-embedding encoder (a wheel from PyPI, see make-encoder-data.py): its own
# stamp, like real/.
enc_stamp=$( (cat "$root/scripts/make-encoder-data.py"; echo "${pins[*]}") | sha256sum | cut -d' ' -f1)
if ! { [ -f "$data/encoder/.stamp" ] && [ "$(cat "$data/encoder/.stamp")" = "$enc_stamp" ]; }; then
    echo "setup-test-data: writing $data/encoder"
    rm -rf "$data/encoder"
    "$py" "$root/scripts/make-encoder-data.py" "$data"
    echo "$enc_stamp" >"$data/encoder/.stamp"
fi

# The opset-23 transformer block (make-transformer-data.py): its own stamp, like real/.
tf_stamp=$( (cat "$root/scripts/make-transformer-data.py" "$root/scripts/testdata_io.py"; echo "${pins[*]}") \
    | sha256sum | cut -d' ' -f1)
if ! { [ -f "$data/transformer23/.stamp" ] && [ "$(cat "$data/transformer23/.stamp")" = "$tf_stamp" ]; }; then
    echo "setup-test-data: writing $data/transformer23"
    rm -rf "$data/transformer23"
    "$py" "$root/scripts/make-transformer-data.py" "$data"
    echo "$tf_stamp" >"$data/transformer23/.stamp"
fi

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
