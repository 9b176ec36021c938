// kiln's browser demo: loads the wasm package, shows the adapter, runs a bundle on
// seeded random inputs, and shows the outputs and the latency. `window.kilnDemo`
// exposes the same runs to scripts (the headless-browser test drives it).
import init, { Kiln } from "./pkg/kiln_web.js";

const $ = (id) => document.getElementById(id);
let kiln = null;

// mulberry32: a small seeded generator, so a run's inputs can be reproduced.
function generator(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One typed array per input port: floats uniform in [-1, 1), integers in [0, 10).
function randomInputs(ports, seed) {
  const next = generator(seed);
  return ports.map((port) => {
    const n = port.shape.reduce((a, b) => a * b, 1);
    if (port.dtype.startsWith("f") || port.dtype === "bf16") {
      return Float32Array.from({ length: n }, () => next() * 2 - 1);
    }
    if (port.dtype === "bool") return Uint8Array.from({ length: n }, () => (next() < 0.5 ? 0 : 1));
    return Int32Array.from({ length: n }, () => Math.floor(next() * 10));
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// Loads `bytes`, runs once to warm up and `runs` times timed; returns what a script
// needs to check the run: the inputs, the outputs and the times.
async function runBundle(bytes, runs = 10, seed = 1) {
  const t0 = performance.now();
  const model = await kiln.load(bytes);
  const loadMs = performance.now() - t0;
  const inputs = randomInputs(model.inputs(), seed);
  const outputs = await model.run(inputs);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await model.run(inputs);
    times.push(performance.now() - t);
  }
  const result = {
    model: model.name, kernels: model.kernels, dispatches: model.dispatches,
    adapter: window.kilnDemo.adapter, loadMs, medianMs: median(times), runs,
    inputs: model.inputs().map((p, i) => ({ ...p, data: Array.from(inputs[i]) })),
    outputs: outputs.map((o) => ({ ...o, data: Array.from(o.data) })),
  };
  model.free(); // its device and buffers now, not whenever the collector runs
  return result;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function cells(row, values) {
  for (const v of values) row.insertCell().textContent = v;
}

function show(result) {
  $("model").textContent =
    `${result.model}: ${result.kernels} kernels, ${result.dispatches} dispatches`;
  const timing = $("timing");
  timing.replaceChildren();
  cells(timing.insertRow(), ["adapter", result.adapter]);
  cells(timing.insertRow(), ["load (device, constants, kernels)", `${result.loadMs.toFixed(1)} ms`]);
  cells(timing.insertRow(), [`latency (median of ${result.runs} runs)`, `${result.medianMs.toFixed(2)} ms`]);
  const body = $("outputs").tBodies[0];
  body.replaceChildren();
  for (const o of result.outputs) {
    const d = o.data;
    const fmt = (x) => (Number.isInteger(x) ? String(x) : x.toPrecision(5));
    cells(body.insertRow(), [
      o.name, o.dtype, `[${o.shape.join(", ")}]`,
      d.length ? fmt(Math.min(...d)) : "", d.length ? fmt(Math.max(...d)) : "",
      d.slice(0, 6).map(fmt).join(", ") + (d.length > 6 ? ", …" : ""),
    ]);
  }
  $("result").hidden = false;
}

async function guarded(what, work) {
  const status = $("status");
  status.className = "";
  status.textContent = `${what}…`;
  document.body.dataset.state = "running";
  try {
    const result = await work();
    show(result);
    status.textContent = `${what}: done.`;
    document.body.dataset.state = "done";
    return result;
  } catch (e) {
    status.className = "error";
    status.textContent = `${what}: ${e.message ?? e}`;
    document.body.dataset.state = "error";
    throw e;
  }
}

const runs = () => Math.max(1, Number($("runs").value) || 10);

window.kilnDemo = {
  // For scripts: run the bundle at `url` (shown on the page like a click would).
  runUrl: (url, n = runs(), seed = 1) =>
    guarded(`running ${url}`, async () => runBundle(await fetchBytes(url), n, seed)),
};

async function start() {
  await init();
  try {
    kiln = await Kiln.create();
  } catch (e) {
    $("adapter").className = "error";
    $("adapter").textContent =
      `No WebGPU adapter: ${e.message ?? e}. kiln needs a browser with WebGPU ` +
      "(Chromium: --enable-unsafe-webgpu on Linux; see web/README.md).";
    document.body.dataset.state = "error";
    return;
  }
  // The browser names its adapter here (wgpu's description of it is often empty).
  const info = (await navigator.gpu.requestAdapter())?.info ?? {};
  const named = [info.vendor, info.architecture, info.description].filter((s) => s).join(" ");
  window.kilnDemo.adapter = `${named || "unnamed adapter"} (${kiln.adapter.trim()})`;
  $("adapter").textContent = `Adapter: ${window.kilnDemo.adapter}`;
  window.kilnDemo.kiln = kiln;
  $("run-example").disabled = false;
  $("pick").disabled = false;
  $("run-example").onclick = () =>
    window.kilnDemo.runUrl("example.kiln").catch(() => {});
  $("pick").onchange = (event) => {
    const file = event.target.files[0];
    if (!file) return;
    guarded(`running ${file.name}`, async () =>
      runBundle(new Uint8Array(await file.arrayBuffer()), runs())).catch(() => {});
  };
  document.body.dataset.state = "ready";
}

start().catch((e) => {
  $("status").className = "error";
  $("status").textContent = `The kiln package did not start: ${e.message ?? e}`;
  document.body.dataset.state = "error";
});
