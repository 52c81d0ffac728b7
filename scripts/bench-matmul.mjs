// One matmul, the VAE's largest ([128, 784] × [784, 400], the bench's vae_mlp encoder layer), on
// the browser's WebGPU adapter: TF.js 4.22's own kernel against hand-written WGSL kernels of the
// usual designs. It answers one question for issue 11: on this adapter, is there a matmul kernel
// fast enough that a training step could run at 2× TF.js's, when both are bound by their matmuls?
//   node scripts/bench-matmul.mjs [rounds]      (default 3; medians of `rounds`, 10 launches each)
// Every kernel's result is checked against a CPU product first (worst relative error printed).
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../tests/e2e/serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@tensorflow');
const rounds = Number(process.argv[2] ?? 3);

const page_html = `<!doctype html><meta charset="utf-8"><title>matmul bench</title>
<script src="tfjs/dist/tf.min.js"></script>
<script src="tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js"></script>`;

// Runs in the page.
async function runInPage({ rounds }) {
  const [M, K, N] = [128, 784, 400];
  const head = (bVec) => `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<${bVec ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> c: array<${bVec ? 'vec4<f32>' : 'f32'}>;`;
  const kernels = {
    // One output per invocation.
    'naive, 16×16 workgroup': [head(false) + `
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let n = g.x; let m = g.y;
  if (m >= ${M}u || n >= ${N}u) { return; }
  var s = 0.0;
  for (var k = 0u; k < ${K}u; k++) { s += a[m * ${K}u + k] * b[k * ${N}u + n]; }
  c[m * ${N}u + n] = s;
}`, [Math.ceil(N / 16), Math.ceil(M / 16)]],
    // Register tiles: 4 rows × 8 columns per invocation, B and C as vec4, no shared memory.
    'registers 4×8, 8×8 workgroup': [head(true) + `
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let n4 = g.x * 2u; let m0 = g.y * 4u;
  if (m0 >= ${M}u || n4 >= ${N / 4}u) { return; }
  var acc: array<array<vec4<f32>, 2>, 4>;
  for (var k = 0u; k < ${K}u; k++) {
    let b0 = b[k * ${N / 4}u + n4]; let b1 = b[k * ${N / 4}u + n4 + 1u];
    for (var i = 0u; i < 4u; i++) {
      let av = a[(m0 + i) * ${K}u + k];
      acc[i][0] += av * b0; acc[i][1] += av * b1;
    }
  }
  for (var i = 0u; i < 4u; i++) {
    c[(m0 + i) * ${N / 4}u + n4] = acc[i][0]; c[(m0 + i) * ${N / 4}u + n4 + 1u] = acc[i][1];
  }
}`, [Math.ceil(N / 8 / 8), Math.ceil(M / 4 / 8)]],
    // Shared-memory tiles, the design of TF.js's packed vec4 kernel: 32×32 output tile per
    // 8×8 workgroup, each invocation 4 rows × one vec4, K in steps of 32.
    'shared tiles 32×32, 8×8 workgroup': [head(true) + `
var<workgroup> ta: array<array<f32, 32>, 32>;
var<workgroup> tb: array<array<vec4<f32>, 8>, 32>;
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) w: vec3<u32>) {
  let row0 = w.y * 32u + l.y * 4u; let col4 = w.x * 8u + l.x;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < ${K}u; k0 += 32u) {
    for (var i = 0u; i < 4u; i++) {
      let r = l.y * 4u + i; let gm = w.y * 32u + r;
      for (var j = 0u; j < 4u; j++) {
        let kk = l.x * 4u + j; let gk = k0 + kk;
        ta[r][kk] = select(0.0, a[min(gm, ${M - 1}u) * ${K}u + min(gk, ${K - 1}u)], gm < ${M}u && gk < ${K}u);
      }
      let gk = k0 + r;
      tb[r][l.x] = select(vec4<f32>(0.0), b[min(gk, ${K - 1}u) * ${N / 4}u + min(col4, ${N / 4 - 1}u)], gk < ${K}u && col4 < ${N / 4}u);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 32u; kk++) {
      let bv = tb[kk][l.x];
      for (var i = 0u; i < 4u; i++) { acc[i] += ta[l.y * 4u + i][kk] * bv; }
    }
    workgroupBarrier();
  }
  if (col4 < ${N / 4}u) {
    for (var i = 0u; i < 4u; i++) { if (row0 + i < ${M}u) { c[(row0 + i) * ${N / 4}u + col4] = acc[i]; } }
  }
}`, [Math.ceil(N / 32), Math.ceil(M / 32)]],
  };

  await tf.setBackend('webgpu');
  await tf.ready();
  const device = tf.backend().device;
  const info = (await navigator.gpu.requestAdapter())?.info;
  const adapter = info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : '';
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const A = Float32Array.from({ length: M * K }, random), B = Float32Array.from({ length: K * N }, random);
  const ref = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) ref[m * N + n] += A[m * K + k] * B[k * N + n];
  const error = (v) => v.reduce((e, x, i) => Math.max(e, Math.abs(x - ref[i]) / Math.abs(ref[i])), 0);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const upload = (data) => { const b = device.createBuffer({ size: data.byteLength, usage }); device.queue.writeBuffer(b, 0, data); return b; };
  const [ga, gb, gc] = [upload(A), upload(B), device.createBuffer({ size: M * N * 4, usage })];
  const readC = async () => {
    const r = device.createBuffer({ size: M * N * 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const e = device.createCommandEncoder();
    e.copyBufferToBuffer(gc, 0, r, 0, M * N * 4);
    device.queue.submit([e.finish()]);
    await r.mapAsync(GPUMapMode.READ);
    const v = new Float32Array(r.getMappedRange().slice(0));
    r.destroy();
    return v;
  };
  const reps = 10;
  const timings = {};
  const errors = {};
  const record = (name, ms) => (timings[name] ??= []).push(ms);
  const pipelines = {};
  for (const [name, [code, groups]] of Object.entries(kernels)) {
    const module = device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    const bad = info.messages.filter((m) => m.type === 'error');
    if (bad.length) return { error: `${name}: ${bad.map((m) => m.message).join('; ')}` };
    const pipe = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bind = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: [ga, gb, gc].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    pipelines[name] = async (n) => {
      const e = device.createCommandEncoder();
      for (let r = 0; r < n; r++) {
        const p = e.beginComputePass();
        p.setPipeline(pipe);
        p.setBindGroup(0, bind);
        p.dispatchWorkgroups(...groups);
        p.end();
      }
      device.queue.submit([e.finish()]);
      await device.queue.onSubmittedWorkDone();
    };
    await pipelines[name](1);
    errors[name] = error(await readC());
  }
  const ta = tf.tensor2d(A, [M, K]), tb = tf.tensor2d(B, [K, N]);
  const first = tf.matMul(ta, tb);
  errors['TF.js tf.matMul'] = error(await first.data());
  first.dispose();
  for (let round = 0; round < rounds; round++) {
    let t0 = performance.now();
    let c;
    for (let r = 0; r < reps; r++) { c?.dispose(); c = tf.matMul(ta, tb); }
    await c.data();
    record('TF.js tf.matMul', (performance.now() - t0) / reps);
    c.dispose();
    for (const [name, go] of Object.entries(pipelines)) {
      t0 = performance.now();
      await go(reps);
      record(name, (performance.now() - t0) / reps);
    }
  }
  return { adapter, timings, errors };
}

const server = await serve(root);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.route('**/bench.html', (route) => route.fulfill({ contentType: 'text/html', body: page_html }));
  await page.goto(server.url + 'bench.html');
  const result = await page.evaluate(runInPage, { rounds });
  if (result.error) throw new Error(result.error);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const tfjs = median(result.timings['TF.js tf.matMul']);
  console.log(`adapter: ${result.adapter || '(no description)'}; [128, 784] × [784, 400], median of ${rounds} rounds of 10 launches`);
  for (const [name, ms] of Object.entries(result.timings)) {
    console.log(JSON.stringify({ kernel: name, ms_per_matmul: +median(ms).toFixed(1), rounds: ms.map((x) => +x.toFixed(1)), vs_tfjs: +(tfjs / median(ms)).toFixed(2), max_rel_error: +result.errors[name].toExponential(1) }));
  }
} finally {
  await browser.close();
  server.close();
}
