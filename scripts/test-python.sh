#!/usr/bin/env bash
# The Python package's tests (python/): builds the abi3 wheel with maturin (release),
# installs it into the test venv, and runs pytest on python/tests against the installed
# package and the kiln CLI of the same build. KILN_WHEEL lets a test install the wheel
# into a fresh venv too. Run by scripts/test.sh after `cargo test` (which builds the CLI);
# needs the venv of scripts/setup-test-data.sh. Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=${KILN_VENV:-$root/.venv}
py=$venv/bin/python
target=${CARGO_TARGET_DIR:-$root/target}
wheels=$target/wheels
export CARGO_TARGET_DIR=$target

start=$(date +%s)
rm -rf "$wheels"
"$venv/bin/maturin" build --release --quiet -m python/Cargo.toml -i "$py" --out "$wheels"
wheel=$(ls "$wheels"/kiln-*.whl)
"$py" -m pip install --quiet --force-reinstall --no-deps --disable-pip-version-check "$wheel"
cargo build --release --quiet --bin kiln
echo "test-python: built and installed $(basename "$wheel") in $(($(date +%s) - start)) s"
KILN_BIN=$target/release/kiln KILN_WHEEL=$wheel "$py" -m pytest -q -rs -p no:cacheprovider \
    python/tests "$@"
