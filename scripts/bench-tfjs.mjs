// TF.js 4.22 on the project's benchmark workloads, for comparison (bench.mjs --tfjs runs it in
// the same browser, right after genlab's own figures). The networks, batch sizes, losses and
// optimizers are those of src/bench.rs:
//   vae_mlp  — encoder 784-400-(20 μ, 20 log σ²), decoder 20-400-784, ReLU, Bernoulli
//              likelihood, Adam 1e-3, batch 128; one step = one update;
//   dcgan_tf — the TensorFlow DCGAN tutorial's sizes (G dense 100→256·7·7, convT 5×5 128 /1,
//              64 /2, 1 /2 with BatchNorm and LeakyReLU 0.3, tanh; D conv 5×5/2 64, 128, dense 1),
//              Adam 1e-4, batch 64; one step = one D update + one G update.
// Written with TF.js's core ops (tf.variable, optimizer.minimize), as a user of the library
// would; the loss is read back once after the timed steps, as genlab reads once per chunk.
// WebGPU kernel launches are counted the way the page's worker counts its own (dispatch calls).
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../tests/e2e/serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@tensorflow');

const page_html = `<!doctype html><meta charset="utf-8"><title>TF.js bench</title>
<script src="tfjs/dist/tf.min.js"></script>
<script src="tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js"></script>
<script src="tfjs-backend-wasm/dist/tf-backend-wasm.min.js"></script>`;

// Counts compute dispatches, as www/worker.js does for genlab.
function countDispatches() {
  self.gpuCalls = { dispatches: 0 };
  if (self.GPUComputePassEncoder) {
    for (const name of ['dispatchWorkgroups', 'dispatchWorkgroupsIndirect']) {
      const call = GPUComputePassEncoder.prototype[name];
      if (call) GPUComputePassEncoder.prototype[name] = function (...a) { gpuCalls.dispatches++; return call.apply(this, a); };
    }
  }
}

// Runs in the page: one workload on one TF.js backend.
async function runInPage({ workload, backend, steps }) {
  const tf = self.tf;
  tf.wasm.setWasmPaths(new URL('tfjs-backend-wasm/dist/', location.href).href);
  if (!(await tf.setBackend(backend))) return { error: `TF.js backend ${backend} is not available` };
  await tf.ready();
  const glorot = (shape) => tf.variable(tf.randomUniform(shape, -Math.sqrt(6 / (shape.at(-1) + shape.at(-2))), Math.sqrt(6 / (shape.at(-1) + shape.at(-2)))));
  const zeros = (shape) => tf.variable(tf.zeros(shape));
  const ones = (shape) => tf.variable(tf.ones(shape));
  // Binary pixels (a fifth of them ink), as src/bench.rs makes them.
  const pixels = (batch, signed) => tf.tidy(() => {
    const ink = tf.randomUniform([batch, 784]).less(0.2).toFloat();
    return signed ? ink.mul(2).sub(1) : ink;
  });
  let batch, step, vars;
  if (workload === 'vae_mlp') {
    batch = 128;
    const x = pixels(batch, false);
    const w = { e1: glorot([784, 400]), eb1: zeros([400]), mu: glorot([400, 20]), mub: zeros([20]), lv: glorot([400, 20]), lvb: zeros([20]),
      d1: glorot([20, 400]), db1: zeros([400]), d2: glorot([400, 784]), db2: zeros([784]) };
    const opt = tf.train.adam(1e-3);
    step = () => opt.minimize(() => {
      const h = tf.relu(tf.matMul(x, w.e1).add(w.eb1));
      const mu = tf.matMul(h, w.mu).add(w.mub);
      const logvar = tf.matMul(h, w.lv).add(w.lvb);
      const z = mu.add(tf.exp(logvar.mul(0.5)).mul(tf.randomNormal([batch, 20])));
      const logits = tf.matMul(tf.relu(tf.matMul(z, w.d1).add(w.db1)), w.d2).add(w.db2);
      // −log p(x|z) of Bernoulli pixels, from the logits: softplus(l) − x·l.
      const rec = tf.softplus(logits).sub(x.mul(logits)).sum();
      const kl = tf.sum(tf.exp(logvar).add(mu.square()).sub(1).sub(logvar)).mul(0.5);
      return rec.add(kl).div(batch);
    }, true);
    vars = Object.values(w);
  } else if (workload === 'dcgan_tf') {
    batch = 64;
    const real = pixels(batch, true);
    const bn = (c) => ({ gamma: ones([c]), beta: zeros([c]) });
    const batchNorm = (h, p) => {
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      return tf.batchNorm(h, mean, variance, p.beta, p.gamma, 1e-5);
    };
    const lrelu = (h) => tf.leakyRelu(h, 0.3);
    const g = { dense: glorot([100, 7 * 7 * 256]), denseb: zeros([7 * 7 * 256]), bn0: bn(256),
      up1: glorot([5, 5, 128, 256]), up1b: zeros([128]), bn1: bn(128),
      up2: glorot([5, 5, 64, 128]), up2b: zeros([64]), bn2: bn(64),
      up3: glorot([5, 5, 1, 64]), up3b: zeros([1]) };
    const d = { c1: glorot([5, 5, 1, 64]), c1b: zeros([64]), c2: glorot([5, 5, 64, 128]), c2b: zeros([128]),
      out: glorot([7 * 7 * 128, 1]), outb: zeros([1]) };
    const generate = (z) => {
      let h = tf.matMul(z, g.dense).add(g.denseb).reshape([batch, 7, 7, 256]);
      h = lrelu(batchNorm(h, g.bn0));
      h = lrelu(batchNorm(tf.conv2dTranspose(h, g.up1, [batch, 7, 7, 128], 1, 'same').add(g.up1b), g.bn1));
      h = lrelu(batchNorm(tf.conv2dTranspose(h, g.up2, [batch, 14, 14, 64], 2, 'same').add(g.up2b), g.bn2));
      return tf.tanh(tf.conv2dTranspose(h, g.up3, [batch, 28, 28, 1], 2, 'same').add(g.up3b));
    };
    const judge = (x) => {
      let h = lrelu(tf.conv2d(x, d.c1, 2, 'same').add(d.c1b));
      h = lrelu(tf.conv2d(h, d.c2, 2, 'same').add(d.c2b));
      return tf.matMul(h.reshape([x.shape[0], 7 * 7 * 128]), d.out).add(d.outb);
    };
    const bce = (labels, logits) => tf.losses.sigmoidCrossEntropy(labels, logits);
    const gVars = [g.dense, g.denseb, g.bn0.gamma, g.bn0.beta, g.up1, g.up1b, g.bn1.gamma, g.bn1.beta, g.up2, g.up2b, g.bn2.gamma, g.bn2.beta, g.up3, g.up3b];
    const dVars = Object.values(d);
    const dOpt = tf.train.adam(1e-4, 0.5);
    const gOpt = tf.train.adam(1e-4, 0.5);
    const x = real.reshape([batch, 28, 28, 1]);
    step = () => {
      const dLoss = dOpt.minimize(() => {
        const fake = generate(tf.randomNormal([batch, 100]));
        return bce(tf.ones([batch, 1]), judge(x)).add(bce(tf.zeros([batch, 1]), judge(fake)));
      }, true, dVars);
      dLoss.dispose();
      return gOpt.minimize(() => bce(tf.ones([batch, 1]), judge(generate(tf.randomNormal([batch, 100])))), true, gVars);
    };
    vars = [...gVars, ...dVars];
  } else {
    return { error: `TF.js has no version of workload ${workload}` };
  }
  const run = async (n) => {
    let last;
    for (let i = 0; i < n; i++) {
      last?.dispose();
      last = step();
    }
    const value = (await last.data())[0];
    last.dispose();
    return value;
  };
  try {
    await run(3);
    const before = self.gpuCalls.dispatches;
    const t = performance.now();
    const loss = await run(steps);
    const ms = performance.now() - t;
    if (!Number.isFinite(loss)) return { error: `non-finite loss ${loss}` };
    const dispatches = backend === 'webgpu' ? Math.round((self.gpuCalls.dispatches - before) / steps * 10) / 10 : undefined;
    return { images_per_s: steps * batch / (ms / 1000), ms_per_step: ms / steps, batch, per_step: dispatches === undefined ? undefined : { dispatches } };
  } catch (e) {
    return { error: String(e.message ?? e).slice(0, 200) };
  } finally {
    vars.forEach((v) => v.dispose());
  }
}

/// Runs the workloads on TF.js's WebGPU and wasm backends in `browser`; one result object each.
export async function tfjsBench(browser, workloads, steps) {
  const server = await serve(root);
  const results = [];
  try {
    for (const workload of workloads) {
      for (const backend of ['webgpu', 'wasm']) {
        // A fresh page each: one backend's state never slows another's.
        const page = await browser.newPage();
        await page.addInitScript(countDispatches);
        await page.route('**/bench.html', (route) => route.fulfill({ contentType: 'text/html', body: page_html }));
        await page.goto(server.url + 'bench.html');
        await page.waitForFunction(() => self.tf?.wasm);
        const r = await page.evaluate(runInPage, { workload, backend, steps });
        results.push({ framework: 'tfjs 4.22', backend, workload, steps, ...r,
          ...(r.images_per_s ? { images_per_s: Number(r.images_per_s.toPrecision(3)), ms_per_step: Number(r.ms_per_step.toFixed(1)) } : {}) });
        await page.close();
      }
    }
  } finally {
    server.close();
  }
  return results;
}
