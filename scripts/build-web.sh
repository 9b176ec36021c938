#!/usr/bin/env bash
# Builds kiln's browser package and demo into OUT (default $CARGO_TARGET_DIR/web-demo):
# the kiln-web crate for wasm32-unknown-unknown (release), wrapped by wasm-bindgen
# (--target web) into OUT/pkg; the demo page (web/demo); and the built-in example
# model compiled to OUT/example.kiln. Serve OUT with any static server, e.g.
#   python3 -m http.server -d "$OUT" 8000   and open http://localhost:8000/
# Installs what it needs the first time: the wasm32 target (rustup) and the
# wasm-bindgen CLI of the version Cargo.lock pins (into KILN_TOOLS, default
# ~/.cache/kiln/tools).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
out=${1:-$target/web-demo}
tools=${KILN_TOOLS:-$HOME/.cache/kiln/tools}

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "build-web: rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi
# The CLI must be the exact version of the wasm-bindgen crate the package links.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
bindgen=$tools/bin/wasm-bindgen
if ! { [ -x "$bindgen" ] && [ "$("$bindgen" --version | cut -d' ' -f2)" = "$want" ]; }; then
    echo "build-web: installing wasm-bindgen-cli $want into $tools"
    env -u CARGO_TARGET_DIR cargo install --quiet wasm-bindgen-cli --version "$want" --root "$tools"
fi

cargo build --release --quiet -p kiln-web --target wasm32-unknown-unknown
cargo build --release --quiet --bin kiln
rm -rf "$out"
mkdir -p "$out"
"$bindgen" --target web --out-dir "$out/pkg" \
    "$target/wasm32-unknown-unknown/release/kiln_web.wasm"
cp web/demo/index.html web/demo/demo.js web/demo/demo.css "$out/"
"$target/release/kiln" compile assets/example.onnx -o "$out/example.kiln" >/dev/null
echo "build-web: $out ($(du -k "$out/pkg/kiln_web_bg.wasm" | cut -f1) KiB of wasm)"
