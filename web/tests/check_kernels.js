// Run by test_browser.py on the demo page (execute_async_script): compiles every kernel
// of `arguments[0]` (a URL of [{label, wgsl}]) with the browser's own WGSL compiler
// (Chromium's Tint) and answers {count, problems: [{label, message}]}.
const [url, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const kernels = await (await fetch(url)).json();
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice({ requiredFeatures: [...adapter.features] });
  const problems = [];
  for (const { label, wgsl } of kernels) {
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: wgsl });
    const info = await module.getCompilationInfo();
    const scoped = await device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === "error")
      .map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
    if (scoped) errors.push(scoped.message);
    if (errors.length) problems.push({ label, message: errors.join("; ") });
  }
  device.destroy();
  return { count: kernels.length, problems };
})().then(done, (e) => done({ error: String(e.message ?? e) }));
