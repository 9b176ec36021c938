#!/usr/bin/env bash
# Runs kiln's cargo-fuzz targets (fuzz/, nightly only) for a given time each.
#
#   scripts/fuzz.sh TARGET|all SECONDS [LIBFUZZER_FLAG...]   fuzz one target, or each in turn
#   scripts/fuzz.sh seeds                                     (re)build the seed corpora only
#   scripts/fuzz.sh list                                      the targets
#
# Targets: onnx_import (ONNX decode + import + canonicalize), ir_parse (IR text parser
# and its print/parse round trip), bundle_read (bundle reader + the plan checks).
# Seeds are generated, never committed: ONNX node-test and light models from the test
# data, IR text from the insta snapshots and `kiln dump --full-constants`, bundles (and
# their bare manifests) from `kiln compile` of a few node tests. A crash, timeout or OOM
# leaves its input in fuzz/artifacts/TARGET/ and makes the script exit non-zero.
#
#   KILN_TEST_DATA        the test data (default: <repo>/target/onnx-tests, as scripts/test.sh)
#   KILN_FUZZ_TARGET_DIR  the fuzz build (default: <repo>/fuzz/target)
#   KILN_BIN              a built kiln binary for the IR and bundle seeds (default: built
#                         with `cargo build --release --bin kiln` in CARGO_TARGET_DIR)
#   KILN_FUZZ_RSS_MB      libFuzzer's memory limit per input (default 2048)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
data=${KILN_TEST_DATA:-$root/target/onnx-tests}
fuzz_target_dir=${KILN_FUZZ_TARGET_DIR:-$root/fuzz/target}
rss=${KILN_FUZZ_RSS_MB:-2048}
targets=(onnx_import ir_parse bundle_read)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The largest input each target is fed (the light models are up to ~80 KB).
max_len() {
    case $1 in
    onnx_import) echo 131072 ;;
    ir_parse) echo 65536 ;;
    bundle_read) echo 262144 ;;
    esac
}

kiln_bin() {
    if [ -n "${KILN_BIN:-}" ]; then
        echo "$KILN_BIN"
        return
    fi
    cargo build --release --quiet --bin kiln >&2
    echo "${CARGO_TARGET_DIR:-$root/target}/release/kiln"
}

# A few small node tests whose IR dumps and bundles seed ir_parse and bundle_read:
# convolutions, products, normalisations, reductions, data movement, integer ops.
seed_tests=(
    test_conv_with_strides_padding test_convtranspose test_gemm_all_attributes
    test_matmul_3d test_layer_normalization_2d_axis0_expanded test_batchnorm_example
    test_softmax_example test_reduce_mean_default_axes_keepdims_example test_argmax_default_axis_example
    test_maxpool_2d_pads test_averagepool_2d_default test_gather_0 test_gather_elements_0
    test_slice test_concat_2d_axis_0 test_split_equal_parts_1d_opset18 test_transpose_all_permutations_1
    test_reshape_reordered_all_dims test_expand_dim_changed test_where_example test_cast_FLOAT_to_FLOAT16
    test_resize_upsample_scales_linear test_constant_pad test_tile test_top_k test_cumsum_1d test_mod_int64_fmod
    test_div_int8 test_gelu_tanh_1_expanded test_attention_3d test_einsum_batch_matmul test_depthtospace_example
)

build_seeds() {
    if [ ! -f "$data/.stamp" ]; then
        echo "fuzz: no test data in $data (run scripts/setup-test-data.sh, or set KILN_TEST_DATA)" >&2
        exit 1
    fi
    local seeds=$root/fuzz/seeds
    rm -rf "$seeds"
    mkdir -p "$seeds"/{onnx_import,ir_parse,bundle_read}

    # onnx_import: every node test model, the light models, the CLI's broken models.
    for m in "$data"/node/*/model.onnx; do
        cp "$m" "$seeds/onnx_import/$(basename "$(dirname "$m")").onnx"
    done
    for m in "$data"/light/*/model.onnx; do
        cp "$m" "$seeds/onnx_import/light_$(basename "$(dirname "$m")").onnx"
    done
    for m in "$data"/cli/*.onnx; do
        [ -f "$m" ] && cp "$m" "$seeds/onnx_import/cli_$(basename "$m")"
    done

    # ir_parse: each graph of the insta snapshots (header stripped, one file per
    # `// after PASS` section), and dumps of node tests and squeezenet after every pass.
    split_graphs() { # FILE PREFIX: one seed per graph in an IR text (or snapshot) file
        awk -v out="$seeds/ir_parse/$2" '
            NR == 1 && /^---$/ { header = 1; next }
            header { if (/^---$/) header = 0; next }
            /^\/\/ after / || n == 0 { n++; f = out "_" n ".txt" }
            { print > f }' "$1"
    }
    for s in ir/tests/snapshots/*.snap tests/snapshots/models__dumps__*.snap; do
        grep -q '^graph ' "$s" && split_graphs "$s" "snap_$(basename "$s" .snap)"
    done
    local kiln
    kiln=$(kiln_bin)
    local tmp
    tmp=$(mktemp -d)
    for t in "${seed_tests[@]}"; do
        local m=$data/node/$t/model.onnx
        [ -f "$m" ] || continue
        "$kiln" dump "$m" --after all --full-constants >"$tmp/dump.txt" 2>/dev/null &&
            split_graphs "$tmp/dump.txt" "dump_$t"
        for opt in 0 2; do
            "$kiln" compile "$m" --opt $opt -o "$seeds/bundle_read/${t}_o$opt.kiln" >/dev/null 2>&1 || true
        done
    done
    if [ -f "$data/light/squeezenet/model.onnx" ]; then
        "$kiln" dump "$data/light/squeezenet/model.onnx" --after all --full-constants >"$tmp/dump.txt" 2>/dev/null &&
            split_graphs "$tmp/dump.txt" dump_squeezenet
    fi
    rm -rf "$tmp"

    # bundle_read: the bare manifests too (the target wraps them into bundles), so
    # mutations of the JSON are not all lost to the header's lengths.
    for b in "$seeds"/bundle_read/*.kiln; do
        [ -f "$b" ] || continue
        local len
        len=$(od -An -t u8 -j 16 -N 8 "$b" | tr -d ' ')
        tail -c +41 "$b" | head -c "$len" >"${b%.kiln}.json"
    done
    for t in "${targets[@]}"; do
        echo "fuzz: $(find "$seeds/$t" -type f | wc -l) seeds for $t"
    done
}

run_target() { # TARGET SECONDS [FLAGS...]
    local t=$1 secs=$2
    shift 2
    local corpus=$root/fuzz/corpus/$t seeds=$root/fuzz/seeds/$t
    mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
    local dict=()
    [ -f "$root/fuzz/dict/$t.dict" ] && dict=("-dict=$root/fuzz/dict/$t.dict")
    echo "fuzz: $t for ${secs}s"
    # -timeout: a single input over 10 s is a hang; -rss_limit_mb: an input that
    # makes the process grow past it is an unbounded allocation.
    cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$fuzz_target_dir" "$t" "$corpus" "$seeds" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb="$rss" -malloc_limit_mb="$rss" \
        -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$root/fuzz/artifacts/$t/" \
        "${dict[@]}" "$@"
}

[ $# -ge 1 ] || usage
case $1 in
list)
    printf '%s\n' "${targets[@]}"
    exit 0
    ;;
seeds)
    build_seeds
    exit 0
    ;;
esac
[ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || usage
which=$1 secs=$2
shift 2
case $which in
all) run=("${targets[@]}") ;;
onnx_import | ir_parse | bundle_read) run=("$which") ;;
*) usage ;;
esac
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: needs the nightly toolchain and cargo-fuzz (rustup toolchain install nightly; cargo install cargo-fuzz --locked)" >&2
    exit 1
fi
[ -d "$root/fuzz/seeds/${run[0]}" ] || build_seeds
failed=()
for t in "${run[@]}"; do
    run_target "$t" "$secs" "$@" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${run[*]}: no crash in ${secs}s each"
