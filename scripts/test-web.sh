#!/usr/bin/env bash
# kiln in the browser, tested: builds the demo (scripts/build-web.sh) into
# $CARGO_TARGET_DIR/web-demo, compiles the random-weight squeezenet next to it, and runs
# web/tests (pytest + selenium) driving Debian's headless Chromium over the page. Prints
# the browser's and the native latency of each bundle; the page's screenshots stay in
# the demo folder; every kernel of the portability test is compiled there by Chromium's
# Tint. Needs the venv and test data of scripts/setup-test-data.sh, and the
# chromium and chromium-driver packages. Extra arguments go to pytest.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=${KILN_VENV:-$root/.venv}
data=${KILN_TEST_DATA:-$root/target/onnx-tests}
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
demo=$target/web-demo

start=$(date +%s)
scripts/build-web.sh "$demo"
"$target/release/kiln" compile "$data/light-random/squeezenet/model.onnx" \
    -o "$demo/squeezenet.kiln" >/dev/null
# Every distinct kernel of the node-core and model plans, as the portability test lists
# them (it runs in `cargo test`; run here when its list is missing).
kernels=$root/target/portability-kernels.json
[ -f "$kernels" ] || cargo test --release --quiet --test portability >/dev/null
cp "$kernels" "$demo/"
echo "test-web: built the demo in $(($(date +%s) - start)) s"
KILN_BIN=$target/release/kiln KILN_WEB_DEMO=$demo "$venv/bin/python" -m pytest -q -rs \
    -p no:cacheprovider web/tests "$@"
# The figures the test left: latencies per bundle, and the kernels Chromium compiled.
"$venv/bin/python" - "$demo" <<'EOF2'
import glob, json, os, sys
demo = sys.argv[1]
for path in sorted(glob.glob(os.path.join(demo, "latency-*.json"))):
    f = json.load(open(path))
    print("test-web: %s: browser %.2f ms (%s), native %.2f ms, relative L2 %.2g"
          % (f["bundle"], f["browser_median_ms"], f["adapter_browser"], f["native_median_ms"],
             f["max_relative_l2"]))
kernels = os.path.join(demo, "kernels.json")
if os.path.exists(kernels):
    k = json.load(open(kernels))
    print("test-web: %d distinct kernels compiled by Chromium, %d problems" % (k["count"], k["problems"]))
EOF2
echo "test-web: screenshots in $demo"
