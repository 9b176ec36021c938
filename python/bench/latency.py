"""Latency of a bundle run through the package (Session.run on numpy input, outputs
back as numpy arrays) against `kiln bench` on the same bundle, interleaved in rounds on
one machine. Usage: latency.py KILN_BIN ROUNDS MODEL.onnx...; prints per model the
median of each round, the ratio of the medians over the rounds, and the median of the
per-round ratios (each round's two measurements are adjacent in time, so it is the
figure least moved by other load on a shared machine)."""

import json
import subprocess
import sys
import tempfile
import time

import numpy as np

import kiln

ITERS, WARMUP = 20, 3


def package_ms(sess, feed):
    for _ in range(WARMUP):
        sess.run(None, feed)
    times = []
    for _ in range(ITERS):
        start = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def cli_ms(kiln_bin, bundle):
    out = subprocess.run(
        [kiln_bin, "bench", bundle, "--iters", str(ITERS), "--warmup", str(WARMUP), "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)["median_ms"]


def main():
    kiln_bin, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            bundle = f"{tmp}/m.kiln"
            sess = kiln.Session(model)
            sess.bundle.save(bundle)
            rng = np.random.default_rng(0)
            feed = {i.name: rng.standard_normal(i.shape).astype(i.dtype) for i in sess.get_inputs()}
            ours, theirs = [], []
            for _ in range(rounds):
                theirs.append(cli_ms(kiln_bin, bundle))
                ours.append(package_ms(sess, feed))
            ratio = np.median(ours) / np.median(theirs)
            per_round = np.median(np.array(ours) / np.array(theirs))
            print(f"{model}: package {np.round(ours, 2).tolist()} ms, kiln bench {np.round(theirs, 2).tolist()} ms, "
                  f"ratio of medians {ratio:.3f}, median of per-round ratios {per_round:.3f}")


if __name__ == "__main__":
    main()
