"""kiln in headless Chromium: the demo page (web/demo, built by scripts/build-web.sh) runs
the example and the random-weight squeezenet bundles on the browser's WebGPU, and each
output matches the native run of the same bundle on the same inputs (relative L2 <= 1e-5).

Also compiles every distinct kernel of the shader portability test (node-core and model
plans, tests/portability.rs) with Chromium's WGSL compiler, Tint, which is stricter than
naga in places.

Run by scripts/test-web.sh, which builds the demo into KILN_WEB_DEMO, compiles the
squeezenet bundle and copies the kernel list next to it, and sets KILN_BIN. Leaves the page's screenshot and the
latencies (browser and native, same machine) in KILN_WEB_DEMO as artefacts.
"""

import functools
import http.server
import json
import os
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

DEMO = Path(os.environ["KILN_WEB_DEMO"])
KILN = os.environ["KILN_BIN"]
CHROMIUM = os.environ.get("KILN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KILN_CHROMEDRIVER", "/usr/bin/chromedriver")
# WebGPU is behind --enable-unsafe-webgpu on Linux; --enable-features=Vulkan gives it
# a Vulkan device (here a CPU one). --no-sandbox: CI runs as root.
FLAGS = ["--headless=new", "--enable-unsafe-webgpu", "--enable-features=Vulkan",
         "--no-sandbox", "--window-size=1100,900"]
NUMPY = {"f32": np.float32, "f16": np.float16, "i32": np.int32, "i64": np.int64,
         "u32": np.uint32, "bool": np.bool_, "i8": np.int8, "u8": np.uint8}
TOLERANCE = 1e-5


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(DEMO)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def page(server):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(900)
    try:
        driver.get(server)
        WebDriverWait(driver, 120).until(
            lambda d: d.execute_script("return document.body.dataset.state") in ("ready", "error"))
        if driver.execute_script("return document.body.dataset.state") == "error":
            text = driver.execute_script(
                "return document.getElementById('adapter').textContent + ' ' + "
                "document.getElementById('status').textContent")
            pytest.fail(f"the demo page did not start: {text}")
        yield driver
    finally:
        driver.quit()


def run_in_browser(driver, url):
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.kilnDemo.runUrl(arguments[0], 10).then(done, e => done({error: String(e.message ?? e)}));",
        url)
    assert "error" not in result, f"{url} in the browser: {result['error']}"
    return result


def run_native(bundle, inputs, tmp):
    args = []
    for i, port in enumerate(inputs):
        path = tmp / f"input_{i}.npy"
        np.save(path, np.array(port["data"], dtype=NUMPY[port["dtype"]]).reshape(port["shape"]))
        args += ["--input", f"{port['name']}={path}"]
    out = tmp / "native"
    subprocess.run([KILN, "run", str(bundle), *args, "--output-dir", str(out)],
                   check=True, capture_output=True, text=True)
    return [np.load(out / f"output_{i}.npy") for i in range(len(list(out.glob("output_*.npy"))))]


def native_latency(bundle):
    report = subprocess.run([KILN, "bench", str(bundle), "--json", "--iters", "10"],
                            check=True, capture_output=True, text=True)
    return json.loads(report.stdout)["median_ms"]


def test_bad_input_rejects_with_one_clear_error(page):
    answers = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const kiln = window.kilnDemo.kiln;
          const bytes = new Uint8Array(await (await fetch("example.kiln")).arrayBuffer());
          const out = {};
          const attempt = async (key, work) => {
            try { await work(); out[key] = "no error"; } catch (e) { out[key] = e.message ?? String(e); }
          };
          await attempt("truncated", () => kiln.load(bytes.slice(0, 100)));
          const flipped = bytes.slice();
          flipped[flipped.length - 1] ^= 0xff;
          await attempt("corrupted", () => kiln.load(flipped));
          const model = await kiln.load(bytes);
          const n = model.inputs()[0].shape.reduce((a, b) => a * b, 1);
          await attempt("count", () => model.run([]));
          await attempt("length", () => model.run([new Float32Array(n + 1)]));
          await attempt("type", () => model.run(["not an array"]));
          const outputs = await model.run([new Float32Array(n).fill(0.5)]);
          out.after = outputs.length;
          model.free();
          return out;
        })().then(done, e => done({ error: String(e.message ?? e) }));
        """)
    assert "error" not in answers, answers.get("error")
    for key in ["truncated", "corrupted", "count", "length", "type"]:
        assert answers[key] != "no error", f"{key}: accepted"
        assert "unreachable" not in answers[key], f"{key}: the wasm module trapped"
    assert "bundle" in answers["truncated"] or "truncated" in answers["truncated"], answers
    assert "checksum" in answers["corrupted"], answers
    assert "expected 1 inputs, got 0" in answers["count"], answers
    assert "elements" in answers["length"], answers
    assert "typed array" in answers["type"], answers
    assert answers["after"] >= 1  # the model still runs after the rejected calls


def test_every_kernel_compiles_in_the_browser(page):
    script = (Path(__file__).parent / "check_kernels.js").read_text()
    result = page.execute_async_script(script, "portability-kernels.json")
    assert "error" not in result, result.get("error")
    assert result["count"] > 1000, f"only {result['count']} kernels listed"
    problems = [f"{p['label']}: {p['message']}" for p in result["problems"]]
    (DEMO / "kernels.json").write_text(json.dumps(
        {"count": result["count"], "problems": len(problems)}))
    assert not problems, f"{len(problems)} of {result['count']} kernels do not compile " \
        "in the browser:\n" + "\n".join(problems[:20])


def relative_l2(got, want):
    want = want.astype(np.float64).ravel()
    got = np.asarray(got, dtype=np.float64).ravel()
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


@pytest.mark.parametrize("name", ["example", "squeezenet"])
def test_bundle_matches_native_run(page, name, tmp_path):
    bundle = DEMO / f"{name}.kiln"
    result = run_in_browser(page, f"{name}.kiln")
    native = run_native(bundle, result["inputs"], tmp_path)
    assert len(result["outputs"]) == len(native) > 0
    for got, want in zip(result["outputs"], native):
        assert list(got["shape"]) == list(want.shape), got["name"]
        # A check that can fail: the outputs are not all one value.
        assert np.ptp(want) > 0, f"{got['name']}: the native output is constant"
        error = relative_l2(got["data"], want)
        assert error <= TOLERANCE, f"{name} {got['name']}: relative L2 {error:.3g} > {TOLERANCE}"
    page.save_screenshot(str(DEMO / f"screenshot-{name}.png"))
    figures = {"bundle": name, "adapter_browser": result["adapter"],
               "browser_median_ms": result["medianMs"], "browser_load_ms": result["loadMs"],
               "native_median_ms": native_latency(bundle), "max_relative_l2": max(
                   relative_l2(g["data"], w) for g, w in zip(result["outputs"], native))}
    (DEMO / f"latency-{name}.json").write_text(json.dumps(figures, indent=1))
