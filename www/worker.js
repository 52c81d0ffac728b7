// The computing thread: one wasm instance that owns the device (WebGPU or the CPU), MNIST and
// every model. The page (main.js) sends it events; it sends back status, text and pictures.

let failedForTest = false;
const post = (message, transfer) => failedForTest || postMessage(message, transfer ?? []);
// A Rust panic or a lost wasm instance: the page says so instead of waiting forever.
addEventListener('error', (e) => post({ type: 'failed', message: e.message ?? String(e) }));
addEventListener('unhandledrejection', (e) => post({ type: 'failed', message: e.reason?.message ?? String(e.reason) }));

// Every WebGPU device burn asks for: its loss (a driver reset, a tab in the background too long,
// or the test hook below) moves the labs to the CPU instead of leaving them stuck.
const gpuDevices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    gpuDevices.push(device);
    device.lost.then(async (info) => {
      const app = await started;
      app.handle({ lab: 'app', control: 'gpu-lost', value: `${info.reason ?? 'lost'}: ${info.message || 'no message'}` }).catch(() => {});
    });
    return device;
  };
}

// Counts of the WebGPU calls that cost a round of work on the GPU side: compute dispatches (one
// per kernel launch), buffer uploads and their bytes, queue submissions. The benchmark reads them
// (src/web/mod.rs) to report launches per training step; an increment is nothing beside a launch.
self.gpuCalls = { dispatches: 0, uploads: 0, upload_bytes: 0, submits: 0 };
if (self.GPUComputePassEncoder) {
  const count = (proto, name, add) => {
    const call = proto[name];
    if (call) proto[name] = function (...args) { add(...args); return call.apply(this, args); };
  };
  count(GPUComputePassEncoder.prototype, 'dispatchWorkgroups', () => gpuCalls.dispatches++);
  count(GPUComputePassEncoder.prototype, 'dispatchWorkgroupsIndirect', () => gpuCalls.dispatches++);
  count(GPUQueue.prototype, 'writeBuffer', (_b, _o, data, _d, size) => {
    gpuCalls.uploads++;
    gpuCalls.upload_bytes += size ?? data.byteLength ?? 0;
  });
  count(GPUQueue.prototype, 'submit', () => gpuCalls.submits++);
}

// The first pictures need the bindings, the wasm and the test digits: all three downloads start
// now, side by side, rather than one waiting for another (the training digits come after them).
const TEST_DIGITS = 'data/mnist-test.bin.gz';
const TRAINING_DIGITS = 'data/mnist-train.bin.gz';
// Which build: the one with WebGPU when the link does not ask for the CPU and the browser offers
// a WebGPU adapter; otherwise the CPU-only build, a smaller download (the common case on
// students' laptops). The page passes the link's backend as this worker's name (main.js); the
// words for the CPU mirror `Choice::parse` (src/device.rs), which decides everything else.
const asked = (self.name ?? '').trim().toLowerCase();
const build = (async () => {
  if (asked === 'cpu' || asked === 'flex' || !self.navigator?.gpu) return 'genlab-cpu';
  try {
    return (await navigator.gpu.requestAdapter()) ? 'genlab' : 'genlab-cpu';
  } catch {
    return 'genlab-cpu';
  }
})();
const bindings = build.then((name) => import(`./${name}.js`));
const wasm = build.then((name) => fetch(new URL(`${name}_bg.wasm`, import.meta.url)));
const testDigits = fetch(TEST_DIGITS);
testDigits.catch(() => {}); // its failure is the app's message (App.open), not a worker failure

let started;
onmessage = async ({ data }) => {
  if (data.type === 'test-fail') {
    // As a panic in the wasm: the failure is reported, and nothing after it.
    post({ type: 'failed', message: 'a test stopped it' });
    failedForTest = true;
    return;
  }
  if (data.type === 'test-lose-gpu') {
    for (const device of gpuDevices) device.destroy();
    return;
  }
  if (data.type === 'start') {
    started = (async () => {
      // wasm-bindgen's start function runs the static constructors cubecl needs (see src/web/mod.rs).
      const { default: init, App } = await bindings;
      await init({ module_or_path: await wasm });
      const app = await App.start(self.name || undefined, post);
      post({ type: 'started', ...app.describe() });
      return app;
    })();
    const app = await started;
    try {
      // The test digits first (the pretrained views need only them), then the training digits.
      await app.open(TEST_DIGITS, testDigits, TRAINING_DIGITS, data.given);
    } catch (e) {
      post({ type: 'data-error', message: e.message ?? String(e) });
    }
    // What this worker fetched, for the page to keep for an offline visit (main.js).
    post({ type: 'fetched', urls: performance.getEntriesByType('resource').map((e) => e.name) });
    return;
  }
  const app = await started;
  try {
    post({ type: 'reply', id: data.id, value: await app.handle(data) });
  } catch (e) {
    post({ type: 'reply', id: data.id, error: e.message ?? String(e) });
  }
};
