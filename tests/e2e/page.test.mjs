// End-to-end: the built page (dist/) in headless Chromium, as a user sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { serve, launch, drawn } from './serve.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
let server, browser;
before(async () => { server = await serve(dist); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

// A fresh page. Its wasm runs in a Web Worker, so requests are routed for the whole browser
// context (a page's own routes may miss a worker's fetches). The init script counts wasm
// instances made on the page's thread: the design says none.
async function open(query = '', { route, routes = {}, init } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (route) await page.context().route('**/data/mnist-test.bin.gz', route);
  for (const [pattern, handler] of Object.entries(routes)) await page.context().route(pattern, handler);
  // Which build of the wasm the worker downloads (with WebGPU, or the CPU-only one).
  const wasms = [];
  await page.context().route('**/*_bg.wasm', (r) => { wasms.push(new URL(r.request().url()).pathname.split('/').pop()); return r.continue(); });
  if (init) await page.addInitScript(init);
  await page.addInitScript(() => {
    window.pageWasmInstances = 0;
    for (const name of ['instantiate', 'instantiateStreaming']) {
      const original = WebAssembly[name];
      WebAssembly[name] = (...args) => { window.pageWasmInstances++; return original.apply(WebAssembly, args); };
    }
  });
  await page.goto(server.url + query);
  return { page, errors, wasms };
}

// Records the gaps between animation frames on the page's thread into window.gaps.
const recordFrameGaps = (page) => page.evaluate(() => {
  window.gaps = [];
  let last = performance.now();
  const tick = (t) => { window.gaps.push(t - last); last = t; if (window.gaps.length < 100000) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
});
const frameGaps = async (page) => {
  const gaps = await page.evaluate(() => window.gaps.slice(5).sort((a, b) => a - b));
  return { frames: gaps.length, p50: Math.round(gaps[Math.floor(gaps.length * 0.5)]), p95: Math.round(gaps[Math.floor(gaps.length * 0.95)]), max: Math.round(gaps[gaps.length - 1]) };
};

const ready = (page) => page.waitForFunction(() => window.genlab?.ready, null, { timeout: 600_000 }); // SwiftShader compiles every shader at open (minutes when the cores are busy)


test('CPU: data grid, then the VAE trains with a live chart and pictures', async () => {
  const { page, errors, wasms } = await open('?backend=cpu');
  await ready(page);
  assert.match(await page.textContent('#badge'), /CPU/);
  assert.deepEqual(wasms, ['genlab-cpu_bg.wasm'], 'the CPU-only build, alone');
  assert.ok(await drawn(page, 'digits'), 'the MNIST grid is drawn');
  assert.equal(await page.isVisible('#vae'), true);
  assert.ok(await drawn(page, 'vae-samples'), 'prior samples drawn before training');

  // Record the gaps between animation frames while training: the page must stay responsive.
  await recordFrameGaps(page);
  await page.click('#vae-train');
  await page.waitForFunction(() => window.genlab.vae.status().step >= 100, null, { timeout: 120_000 });
  await page.click('#vae-train'); // pause
  await page.waitForFunction(() => window.genlab.vae.status().status.state === 'paused');
  const s = await page.evaluate(() => window.genlab.vae.status());
  console.log(JSON.stringify({ measure: 'frame_gap_ms_during_cpu_training_vae', ...await frameGaps(page), images_per_s: Math.round(s.images_per_s) }));
  // It continues the pretrained VAE (about 147 nats held out): the curve stays there. Weights
  // lost to a restart would read ~543 (784·log 2) at first and still above 200 after 100 steps.
  assert.ok(s.train[0] > 100 && s.train[0] < 170, `−ELBO ${s.train[0]}`);
  assert.ok(Number.isFinite(s.images_per_s) && s.images_per_s > 0);
  assert.match(await page.textContent('#vae-status'), /paused · step \d+/);
  assert.ok(await drawn(page, 'vae-chart'));
  assert.ok(await drawn(page, 'vae-kl-chart'));
  assert.ok(await drawn(page, 'vae-reconstructions'));
  // A paused lab stays paused.
  const step = s.step;
  await page.waitForTimeout(500);
  assert.equal(await page.evaluate(() => window.genlab.vae.status().step), step);
  assert.deepEqual(errors, []);
  await page.close();
});

test('VAE views: manifold, latent scatter with hover, interpolation, a drawn digit', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  for (const id of ['vae-reconstructions', 'vae-samples', 'vae-manifold', 'vae-scatter', 'vae-interpolation']) {
    assert.ok(await drawn(page, id), `${id} is drawn`);
  }
  // Hover over the scatter decodes that point.
  await page.locator('#vae-scatter').scrollIntoViewIfNeeded();
  const box = await page.locator('#vae-scatter').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.6);
  await page.waitForFunction(() => document.getElementById('vae-hover-z').textContent.startsWith('z = ('));
  assert.ok(await drawn(page, 'vae-hover'));
  // Draw a "1" on the pad: its −ELBO and reconstruction appear.
  await page.locator('#vae-pad').scrollIntoViewIfNeeded();
  const pad = await page.locator('#vae-pad').boundingBox();
  await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height * 0.15);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height * (0.15 + 0.07 * i));
  await page.mouse.up();
  await page.waitForFunction(() => document.getElementById('vae-drawn-info').textContent.includes('nats'));
  const elbo = Number((await page.textContent('#vae-drawn-info')).match(/−ELBO ([\d.]+)/)[1]);
  assert.ok(elbo > 0 && elbo < 2000, `−ELBO of the drawing ${elbo}`);
  assert.ok(await drawn(page, 'vae-drawn'));
  // Other latent dimensions than exist are refused with a message.
  await page.fill('#vae-dim-a', '7');
  await page.dispatchEvent('#vae-dim-a', 'change');
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /pick two different dimensions below 2/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('VAE: the bound tightens from k = 1 to 5 to 50; two stochastic layers train on the IWAE bound', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  // The pretrained VAE opens with its bounds measured.
  await page.waitForFunction(() => /k = 50/.test(document.getElementById('vae-bounds-info').textContent), null, { timeout: 60_000 });
  const bounds = async () => (await page.textContent('#vae-bounds-info')).match(/k = \d+: ([\d.]+)/g).map((m) => Number(m.split(': ')[1]));
  const [b1, b5, b50] = await bounds();
  assert.ok(b1 > b5 && b5 > b50, `−log p̂ for k = 1, 5, 50: ${b1}, ${b5}, ${b50}`);
  assert.ok(await drawn(page, 'vae-bounds'));
  // Burda's pretrained VAE: Train would continue at the rate its training ended with (its record
  // says 1e-4; the page's from-scratch 3e-3 undoes it), the latent select it ignores is off, and
  // the manifold runs along two of its active units.
  await page.selectOption('#vae-kind', 'burda1');
  await page.click('#vae-reset');
  await page.waitForFunction(() => window.genlab.vae.status().model?.config?.latent === 50 && /of 50/.test(document.getElementById('vae-units').textContent), null, { timeout: 120_000 });
  assert.equal(await page.inputValue('#vae-lr'), '0.0001');
  assert.equal((await page.evaluate(() => window.genlab.vae.status())).settings.lr, 0.0001);
  assert.ok(await page.isDisabled('#vae-latent'));
  const units = await page.textContent('#vae-units');
  const active = Number(units.match(/(\d+) units active/)[1]);
  assert.ok(active >= 2 && active < 50, units);
  assert.notEqual(`${await page.inputValue('#vae-dim-a')},${await page.inputValue('#vae-dim-b')}`, '0,1', units);
  // Burda's two-stochastic-layer VAE from scratch, trained on the k = 5 bound: a step is finite;
  // random weights train at the from-scratch rate again.
  await page.selectOption('#vae-kind', 'burda2');
  await page.selectOption('#vae-from', 'scratch');
  await page.click('#vae-reset');
  await page.waitForFunction(() => window.genlab.vae.status().model?.config?.top, null, { timeout: 60_000 });
  assert.equal(await page.inputValue('#vae-lr'), '0.003');
  await page.selectOption('#vae-objective', '5');
  await page.click('#vae-step');
  await page.waitForFunction(() => window.genlab.vae.status().step === 1, null, { timeout: 60_000 });
  const s = await page.evaluate(() => window.genlab.vae.status());
  assert.equal(s.model.config.k, 5);
  assert.ok(s.train.every(Number.isFinite), `metrics ${s.train}`);
  await page.click('#vae-measure-bounds');
  await page.waitForFunction(() => /step 1$/.test(document.getElementById('vae-bounds-info').textContent), null, { timeout: 60_000 });
  const [c1, c5, c50] = await bounds();
  assert.ok(c1 > c5 && c5 > c50, `untrained two-layer VAE: ${c1}, ${c5}, ${c50}`);
  assert.ok(await drawn(page, 'vae-samples'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('WebGPU (forced): the badge names it and Step trains one step in the worker', async () => {
  const { page, errors, wasms } = await open('?backend=webgpu');
  await ready(page);
  assert.match(await page.textContent('#badge'), /WebGPU/);
  assert.deepEqual(wasms, ['genlab_bg.wasm'], 'the build with WebGPU, alone');
  // The first step compiles every shader (tens of seconds on SwiftShader, the CI's software GPU).
  for (const n of [1, 2]) {
    await page.click('#vae-step', { timeout: 180_000 });
    await page.waitForFunction((n) => window.genlab.vae.status().step === n, n, { timeout: 180_000 });
  }
  const s = await page.evaluate(() => window.genlab.vae.status());
  assert.ok(s.train.every(Number.isFinite) && s.train[0] > 100, JSON.stringify(s.train));
  assert.ok(await drawn(page, 'vae-chart'));
  // A GPU the page did not time (here a software one, where 784 pixel steps take minutes) does
  // not sample at open: the PixelCNN figures wait for their buttons.
  assert.equal(await page.textContent('#pixelcnn-sample-info'), '');
  assert.equal(await page.textContent('#pixelcnn-completion-info'), '');
  assert.deepEqual(errors, []);
  await page.close();
});

// A link without a backend, in a browser that offers WebGPU (SwiftShader here): the CPU-only
// build opens the page, the build with WebGPU opens behind it. Waits for that to settle.
const settled = (page, timeout = 300_000) => page.waitForFunction(() => window.genlab?.settled, null, { timeout });

test('no backend in the link: the page opens on the CPU-only build; the WebGPU build behind it, timed slower here, is dropped', async () => {
  const { page, errors, wasms } = await open('');
  await ready(page);
  assert.deepEqual(wasms.slice(0, 1), ['genlab-cpu_bg.wasm'], 'the CPU-only build first');
  assert.ok(await drawn(page, 'vae-samples'), 'pictures from the CPU-only build');
  await settled(page);
  // (The offline cache fetches them again afterwards.)
  assert.deepEqual([...new Set(wasms)], ['genlab-cpu_bg.wasm', 'genlab_bg.wasm'], 'then the build with WebGPU');
  // "auto" timed both in the second worker: SwiftShader loses, the badge says so, the page stays.
  assert.match(await page.textContent('#badge'), /^CPU \(flex\) · .* \(WebGPU .*\)$/);
  assert.equal(await page.evaluate(() => window.genlab.backend), 'cpu');
  await page.click('#vae-step');
  await page.waitForFunction(() => window.genlab.vae.status().step >= 1, null, { timeout: 60_000 });
  assert.doesNotMatch(await page.textContent('#messages'), /moved to it|stopped|could not/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('no backend in the link: the WebGPU build catches up with what was done on the CPU and takes the labs over', async () => {
  const { page, errors, wasms } = await open('', { init: () => { window.genlabTestBehind = 'webgpu'; } });
  await ready(page);
  await page.waitForFunction(() => /^CPU.*WebGPU opening/.test(document.getElementById('badge').textContent));
  // Done on the CPU before WebGPU is ready: a fresh VAE from seed 7 (a reset, not a run).
  await page.selectOption('#vae-from', 'scratch');
  await page.fill('#vae-seed', '7');
  await page.click('#vae-reset');
  await page.waitForFunction(() => window.genlab.vae.status().settings.seed === 7);
  await settled(page, 900_000); // on SwiftShader the second worker takes minutes to open the labs
  assert.deepEqual([...new Set(wasms)], ['genlab-cpu_bg.wasm', 'genlab_bg.wasm']);
  assert.match(await page.textContent('#messages'), /WebGPU is ready: the labs moved to it/);
  assert.match(await page.textContent('#badge'), /WebGPU/);
  assert.equal(await page.evaluate(() => window.genlab.backend), 'webgpu');
  // The WebGPU worker got the reset: its VAE is the fresh one from seed 7, and Step trains it there.
  const s = await page.evaluate(() => window.genlab.vae.status());
  assert.equal(s.settings.seed, 7);
  assert.equal(s.step, 0);
  await page.click('#vae-step', { timeout: 180_000 });
  await page.waitForFunction(() => window.genlab.vae.status().step === 1, null, { timeout: 180_000 });
  const after = await page.evaluate(() => window.genlab.vae.status());
  assert.ok(after.train.every(Number.isFinite) && after.train[0] > 400, `an untrained VAE's −ELBO: ${after.train}`);
  assert.ok(await drawn(page, 'vae-samples') && await drawn(page, 'digits'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('no backend in the link: a run started on the CPU before the WebGPU build is ready stays on the CPU', async () => {
  const { page, errors } = await open('', { init: () => { window.genlabTestBehind = 'webgpu'; } });
  await ready(page);
  await page.waitForFunction(() => /WebGPU opening/.test(document.getElementById('badge').textContent));
  await page.click('#vae-step');
  await page.waitForFunction(() => window.genlab.vae.status().step === 1, null, { timeout: 60_000 });
  await settled(page);
  assert.match(await page.textContent('#messages'), /stays on the CPU/);
  assert.match(await page.textContent('#badge'), /^CPU/);
  assert.equal(await page.evaluate(() => window.genlab.backend), 'cpu');
  // The run goes on where it is.
  await page.click('#vae-step');
  await page.waitForFunction(() => window.genlab.vae.status().step === 2, null, { timeout: 60_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('WebGPU lost in the middle of training: the run goes on on the CPU from its last good weights', async () => {
  const { page, errors } = await open('?backend=webgpu');
  await ready(page);
  assert.match(await page.textContent('#badge'), /WebGPU/);
  await page.click('#vae-train');
  await page.waitForFunction(() => window.genlab.vae.status().step >= 2, null, { timeout: 300_000 });
  const before = await page.evaluate(() => window.genlab.vae.status());
  // What a driver reset does: the worker's GPUDevice is destroyed under the running lab.
  await page.evaluate(() => window.genlab.loseGpuForTest());
  await page.waitForFunction(() => /WebGPU stopped working/.test(document.getElementById('messages').textContent), null, { timeout: 120_000 });
  await page.waitForFunction(() => /CPU/.test(document.getElementById('badge').textContent));
  // Still training, now on the CPU, and fast: many more steps, all finite.
  await page.waitForFunction((n) => window.genlab.vae.status().step >= n + 30, before.step, { timeout: 120_000 });
  const after = await page.evaluate(() => window.genlab.vae.status());
  assert.equal(after.status.state, 'running');
  // From the pretrained weights it had reached (~147 nats), not from random ones (~543 at first).
  assert.ok(after.train.every(Number.isFinite) && after.train[0] < 170, JSON.stringify(after.train));
  assert.match(await page.textContent('#messages'), /Variational autoencoder \(and the adversarial autoencoder\) goes on on the CPU from its weights at step \d+/);
  // The curves kept the run: their points from before the loss are still there.
  assert.ok(after.points > before.points && before.points >= 2, `points ${before.points} → ${after.points}`);
  await page.click('#vae-train');
  await page.waitForFunction(() => window.genlab.vae.status().status.state === 'paused', null, { timeout: 30_000 });
  assert.ok(await drawn(page, 'vae-chart') && await drawn(page, 'vae-samples'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bad URL parameter is a message, and the page still works', async () => {
  const { page, errors } = await open('?backend=%3Cb%3Equantum');
  await ready(page);
  assert.match(await page.textContent('#messages'), /Unknown backend '<b>quantum'/);
  assert.ok(await drawn(page, 'digits'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('DCGAN trains in the worker: the page never runs a step, keeps painting, Pause and the scrubber respond', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  await page.selectOption('#gan-from', 'scratch');
  await page.click('#gan-reset');
  await page.waitForFunction(() => window.genlab.gan.status().step === 0);
  await recordFrameGaps(page);
  await page.click('#gan-train');
  // A DCGAN step on the CPU takes ~0.6 s: before the worker, each one froze the page that long.
  await page.waitForFunction(() => window.genlab.gan.status().step >= 8, null, { timeout: 120_000, polling: 100 });
  // The scrubber answers while the worker trains: back to the first frame.
  await page.locator('#gan-scrub').fill('0');
  await page.waitForFunction(() => /^frame 1 of/.test(document.getElementById('gan-frame').textContent), null, { timeout: 10_000 });
  // Pause shows within one frame (the worker stops after the step in flight).
  const pause = await page.evaluate(async () => {
    const button = document.getElementById('gan-train');
    const t = performance.now();
    button.click();
    await new Promise(requestAnimationFrame);
    return { text: button.textContent, status: document.getElementById('gan-status').textContent, ms: performance.now() - t };
  });
  assert.equal(pause.text, 'Train');
  assert.match(pause.status, /^paused/);
  await page.waitForFunction(() => window.genlab.gan.status().status.state === 'paused', null, { timeout: 30_000 });
  const gaps = await frameGaps(page);
  const s = await page.evaluate(() => window.genlab.gan.status());
  console.log(JSON.stringify({ measure: 'frame_gap_ms_during_cpu_training_dcgan', ...gaps, images_per_s: Math.round(s.images_per_s), pause_to_paused_ms: Math.round(pause.ms) }));
  // No wasm on the page's thread, so no training step can run there; the steps ran in the worker.
  assert.equal(await page.evaluate(() => window.pageWasmInstances), 0);
  assert.ok(s.step >= 8 && s.train.every(Number.isFinite));
  // The longest gap between painted frames stays well under one DCGAN step.
  assert.ok(gaps.max < 400, `the page froze for ${gaps.max} ms`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('truncated MNIST is a clear message, not a crash', async () => {
  const full = await readFile(join(dist, 'data', 'mnist-test.bin.gz'));
  const { page, errors } = await open('?backend=cpu', {
    route: (r) => r.fulfill({ status: 200, body: full.subarray(0, 100_000), contentType: 'application/octet-stream' }),
  });
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /Could not load MNIST: MNIST data is truncated/);
  assert.match(await page.textContent('#badge'), /CPU/);
  assert.equal(await page.isVisible('#vae'), false);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the pretrained views draw before the training digits arrive; Train waits for them', async () => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const { page, errors } = await open('?backend=cpu', { routes: { '**/data/mnist-train.bin.gz': async (r) => { await held; await r.continue(); } } });
  await ready(page);
  // Drawn from the test digits and the pretrained weights alone.
  for (const id of ['digits', 'vae-samples', 'gan-samples', 'pixelcnn-next']) assert.ok(await drawn(page, id), `${id} is drawn`);
  assert.match(await page.textContent('#data-progress'), /10000 test digits; the training digits are on their way/);
  await page.click('#vae-train');
  await page.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => /training starts when the training digits have arrived/.test(m.textContent)));
  assert.equal(await page.evaluate(() => window.genlab.vae.status().step), 0, 'no step without training digits');
  release();
  await page.waitForFunction(() => window.genlab.vae.status().step > 0, null, { timeout: 120_000 });
  assert.match(await page.textContent('#data-progress'), /60000 training and 10000 test digits/);
  await page.click('#vae-train'); // pause
  assert.deepEqual(errors, []);
  await page.close();
});

test('training digits that fail to load are a message; the views work and Train says why', async () => {
  const full = await readFile(join(dist, 'data', 'mnist-train.bin.gz'));
  const { page, errors } = await open('?backend=cpu', {
    routes: { '**/data/mnist-train.bin.gz': (r) => r.fulfill({ status: 200, body: full.subarray(0, 100_000), contentType: 'application/octet-stream' }) },
  });
  await ready(page);
  await page.waitForFunction(() => /The training digits could not be loaded \(MNIST data is truncated/.test(document.getElementById('messages').textContent));
  assert.ok(await drawn(page, 'vae-samples'));
  await page.click('#vae-train');
  await page.waitForFunction(() => /Training needs the training digits, which could not be loaded/.test(document.getElementById('messages').textContent));
  assert.equal(await page.evaluate(() => window.genlab.vae.status().status.state), 'paused');
  // The pictures still answer.
  await page.evaluate(() => window.genlab.pixelcnn.send('sample'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bad learning rate is refused with a message', async () => {
  const { page } = await open('?backend=cpu');
  await ready(page);
  await page.fill('#vae-lr', '-3');
  await page.click('#vae-train');
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /learning rate -3 is not in \(0, 1\]/);
  assert.equal(await page.evaluate(() => window.genlab.vae.status().status.state), 'paused');
  await page.close();
});

test('β = 0 trains without the KL pull; a negative β is refused', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  await page.fill('#vae-beta', '-1');
  await page.dispatchEvent('#vae-beta', 'change');
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /β = -1 is not in \[0, 100\]/);
  await page.fill('#vae-beta', '0');
  await page.click('#vae-train');
  await page.waitForFunction(() => window.genlab.vae.status().step >= 150, null, { timeout: 120_000 });
  await page.click('#vae-train');
  // Without the KL term in the loss, the posterior drifts from the prior: KL grows from the pretrained value.
  const kl = await page.evaluate(() => window.genlab.vae.status().train[2]);
  console.log(JSON.stringify({ measure: 'kl_after_150_steps_beta_0', kl }));
  assert.ok(kl > 7.5, `KL after 150 steps at β = 0: ${kl}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('NaN during training pauses with a message; Reset recovers', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  await page.fill('#vae-lr', '1'); // Adam at lr 1 sends log σ² to overflow within a few steps
  await page.click('#vae-train');
  await page.waitForFunction(() => window.genlab.vae.status().status.state === 'diverged', null, { timeout: 60_000 });
  assert.match(await page.textContent('#vae-status'), /Training stopped at step \d+: the (training|test) -ELBO became (NaN|inf)/);
  assert.equal(await page.textContent('#vae-train'), 'Train');
  await page.fill('#vae-lr', '0.001');
  await page.click('#vae-reset');
  await page.waitForFunction(() => window.genlab.vae.status().status.state === 'paused');
  await page.click('#vae-step');
  await page.waitForFunction(() => window.genlab.vae.status().step === 1, null, { timeout: 60_000 });
  assert.ok(await page.evaluate(() => window.genlab.vae.status().train.every(Number.isFinite)));
  assert.deepEqual(errors, []);
  await page.close();
});

test('GAN: pretrained views, k D-steps, loss toggle, vector arithmetic, filmstrip, meter', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  assert.equal(await page.isVisible('#gan'), true);
  for (const id of ['gan-samples', 'gan-loss-curves', 'gan-filmstrip', 'gan-interpolation', 'gan-pool', 'gan-meter', 'gan-arithmetic']) {
    assert.ok(await drawn(page, id), `${id} is drawn`);
  }
  // The pretrained DCGAN, judged by the classifier at load: many distinct, recognisable digits.
  await page.waitForFunction(() => document.getElementById('gan-meter-info').textContent.includes('score'));
  const score = Number((await page.textContent('#gan-meter-info')).match(/score ([\d.]+)/)[1]);
  console.log(JSON.stringify({ measure: 'pretrained_dcgan_meter_score_1000', score }));
  assert.ok(score > 6, `pretrained DCGAN scores ${score}`); // random weights score ≈ 1; the pretrained ≈ 7 (README)

  // Minimax objective and k = 3: one Step is three D updates and one G update.
  await page.selectOption('#gan-loss', 'minimax');
  await page.fill('#gan-k', '3');
  await page.click('#gan-step');
  await page.waitForFunction(() => window.genlab.gan.status().step === 1, null, { timeout: 60_000 });
  const s = await page.evaluate(() => window.genlab.gan.status());
  assert.deepEqual([s.model.updates.d, s.model.updates.g], [3, 1]);
  assert.equal(s.model.options.generator_loss, 'minimax');
  assert.match(await page.textContent('#gan-status'), /updates D 3 \/ G 1/);
  assert.ok(s.train.every(Number.isFinite));
  assert.ok(await drawn(page, 'gan-chart') && await drawn(page, 'gan-prob-chart'));

  // Vector arithmetic: one sample into each of A, B, C.
  await page.locator('#gan-pool').scrollIntoViewIfNeeded();
  const box = await page.locator('#gan-pool').boundingBox();
  for (const [group, col] of [[0, 0], [1, 1], [2, 2]]) {
    await page.check(`input[name="gan-group"][value="${group}"]`);
    await page.mouse.click(box.x + box.width * (col + 0.5) / 8, box.y + box.height / 6);
  }
  await page.waitForFunction(() => document.getElementById('gan-groups').textContent === 'A 1 · B 1 · C 1');
  assert.ok(await drawn(page, 'gan-arithmetic'));

  // Train a little, pause; the filmstrip gained frames and scrubs back to the first.
  await page.fill('#gan-k', '1');
  await page.click('#gan-train');
  await page.waitForFunction(() => window.genlab.gan.status().step >= 60, null, { timeout: 120_000 });
  await page.click('#gan-train');
  await page.waitForFunction(() => window.genlab.gan.status().status.state === 'paused');
  await page.locator('#gan-scrub').fill('0');
  await page.waitForFunction(() => /^frame 1 of/.test(document.getElementById('gan-frame').textContent));
  assert.match(await page.textContent('#gan-frame'), /frame 1 of ([2-9]|\d\d+) · step 0/);
  await page.click('#gan-measure');
  await page.waitForFunction(() => /step [1-9]\d*/.test(document.getElementById('gan-meter-info').textContent));
  // The average of G: switched off, the sample grid comes from the raw G; on, from the average
  // (other pixels); off again, the raw G's grid exactly.
  const grid = () => page.evaluate(() => {
    const c = document.getElementById('gan-samples');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)).join(',');
  });
  const until = async (ok, what) => {
    for (let i = 0; i < 300; i++) {
      const g = await grid();
      if (ok(g)) return g;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the sample grid never ${what}`);
  };
  const before = await grid();
  await page.uncheck('#gan-average');
  const raw = await until((g) => g !== before, 'changed to the raw G');
  await page.check('#gan-average');
  await until((g) => g !== raw, 'changed to the average of G');
  await page.uncheck('#gan-average');
  await until((g) => g === raw, 'came back to the raw G');
  await page.check('#gan-average');
  // A bad k is refused with a message, and nothing changes.
  await page.fill('#gan-k', '0');
  await page.dispatchEvent('#gan-k', 'change');
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /k = 0 discriminator steps is outside 1–10/);
  assert.equal(await page.evaluate(() => window.genlab.gan.status().model.options.k), 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test('GAN stabilisers: spectral norm and packing from scratch, feature matching, each a switch', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  // The defaults: spectral norm and packing on (the pretrained DCGAN's).
  assert.ok(await page.isChecked('#gan-sn') && await page.isChecked('#gan-pack'));
  await page.selectOption('#gan-from', 'scratch');
  await page.click('#gan-reset');
  await page.waitForFunction(() => window.genlab.gan.status().model?.config?.pack === 2, null, { timeout: 60_000 });
  const config = (await page.evaluate(() => window.genlab.gan.status())).model.config;
  assert.equal(config.spectral_norm, true);
  await page.selectOption('#gan-loss', 'feature-matching');
  await page.click('#gan-step');
  await page.waitForFunction(() => window.genlab.gan.status().step === 1, null, { timeout: 60_000 });
  const s = await page.evaluate(() => window.genlab.gan.status());
  assert.equal(s.model.options.generator_loss, 'feature-matching');
  assert.ok(s.train.every(Number.isFinite), `metrics ${s.train}`);
  assert.ok(await drawn(page, 'gan-samples'));
  // No pretrained file for this choice: a message, and random weights.
  await page.check('#gan-mbstd');
  await page.selectOption('#gan-from', 'pretrained');
  await page.click('#gan-reset');
  await page.waitForFunction(() => /No pretrained DCGAN with spectral norm and packing 2 and minibatch std/.test(document.getElementById('messages').textContent), null, { timeout: 60_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a damaged GAN weights file is a message; the GAN lab runs on random weights', async () => {
  const { page, errors } = await open('?backend=cpu', {
    routes: { '**/pretrained/dcgan-sn-pack2.bpk': (r) => r.fulfill({ status: 200, body: Buffer.from('not weights at all'), contentType: 'application/octet-stream' }) },
  });
  await ready(page);
  assert.match(await page.textContent('#messages'), /Pretrained DCGAN with spectral norm and packing 2 not loaded: the weights file is damaged/);
  assert.ok(await drawn(page, 'gan-samples'));
  await page.click('#gan-step');
  await page.waitForFunction(() => window.genlab.gan.status().step === 1, null, { timeout: 60_000 });
  assert.deepEqual(errors, []);
  await page.close();
});

test('PixelCNN: likelihood, completion that keeps the top rows, receptive fields, stop, bad input', async () => {
  const { page, errors } = await open('?backend=cpu');
  await ready(page);
  assert.equal(await page.isVisible('#pixelcnn'), true);
  // The lab opens on the paper's two figures: completions of a test digit's hidden half, then
  // four samples from scratch, made in the worker as the page opens.
  await page.waitForFunction(() => /^784 pixel steps/.test(document.getElementById('pixelcnn-sample-info').textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent('#pixelcnn-completion-info'), /^392 pixel steps .* s$/);
  assert.match(await page.textContent('#pixelcnn-sample-info'), /^784 pixel steps .* s$/);
  for (const id of ['pixelcnn-completion', 'pixelcnn-next', 'pixelcnn-contributions', 'pixelcnn-field-plain', 'pixelcnn-field-gated', 'pixelcnn-samples']) {
    assert.ok(await drawn(page, id), `${id} is drawn`);
  }
  assert.match(await page.textContent('#pixelcnn-likelihood'), /−log p\(x\) = [\d.]+ nats = [\d.]+ bits\/dim/);
  // Complete the bottom two rows of test digit 7, four times.
  await page.fill('#pixelcnn-digit', '7');
  await page.dispatchEvent('#pixelcnn-digit', 'change');
  await page.fill('#pixelcnn-row', '26');
  await page.click('#pixelcnn-complete');
  await page.waitForFunction(() => /^56 pixel steps/.test(document.getElementById('pixelcnn-completion-info').textContent), null, { timeout: 120_000 });
  const info = await page.textContent('#pixelcnn-completion-info');
  console.log(JSON.stringify({ measure: 'pixelcnn_completion_cpu', info }));
  assert.match(info, /^56 pixel steps \(one row through the network, the rows above from the row cache\) · [\d.]+ ms per step/);
  // The observed rows of every completion equal the source's.
  const same = await page.evaluate(() => {
    const c = document.getElementById('pixelcnn-completion');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const px = (x, y) => d[4 * (y * c.width + x)];
    for (let k = 1; k <= 4; k++) for (let y = 0; y < 26; y++) for (let x = 0; x < 28; x++) if (px(x, y) !== px(k * 30 + x, y)) return false;
    return true;
  });
  assert.ok(same, 'observed pixels unchanged in the completions');
  // The views' redraw (as while training) keeps the finished completions.
  const completionPixels = () => page.evaluate(() => {
    const c = document.getElementById('pixelcnn-completion');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join();
  });
  const completed = await completionPixels();
  await page.evaluate(() => window.genlab.pixelcnn.send('draw'));
  assert.equal(await completionPixels(), completed, 'a redraw replaced the completions with the preview');
  // A new digit while a completion runs (16 of them from row 4: seconds): the run ends, and the
  // figure keeps the new digit's preview instead of the old digit's completions going on over it.
  await page.fill('#pixelcnn-row', '4');
  await page.fill('#pixelcnn-n', '16');
  await page.click('#pixelcnn-complete');
  await page.waitForFunction(() => document.getElementById('pixelcnn-completion-info').textContent.startsWith('sampling'));
  await page.waitForTimeout(300);
  await page.fill('#pixelcnn-digit', '8');
  await page.dispatchEvent('#pixelcnn-digit', 'change');
  await page.waitForFunction(() => document.getElementById('pixelcnn-completion-info').textContent === '');
  await page.waitForTimeout(300);
  const preview = await completionPixels();
  await page.waitForTimeout(3000);
  assert.equal(await completionPixels(), preview, 'the old completion went on drawing over the new digit');
  assert.equal(await page.textContent('#pixelcnn-completion-info'), '');
  await page.fill('#pixelcnn-n', '4');
  // Receptive field of a clicked pixel: the gated network sees more.
  await page.locator('#pixelcnn-next').scrollIntoViewIfNeeded();
  const box = await page.locator('#pixelcnn-next').boundingBox();
  await page.mouse.click(box.x + box.width * 0.6, box.y + box.height * 0.5);
  await page.waitForFunction(() => /depends on \d+ pixels/.test(document.getElementById('pixelcnn-field-info').textContent));
  const [plain, gated] = (await page.textContent('#pixelcnn-field-info')).match(/\d+/g).map(Number);
  assert.ok(gated > plain && plain > 0, `receptive fields ${plain} vs ${gated}`);
  // Sampling from scratch can be stopped.
  await page.click('#pixelcnn-sample');
  await page.waitForTimeout(300);
  await page.click('#pixelcnn-stop');
  await page.waitForFunction(() => document.getElementById('pixelcnn-sample-info').textContent.includes('stopped'), null, { timeout: 60_000 });
  // A bad temperature is refused with a message.
  await page.fill('#pixelcnn-temperature', '0');
  await page.click('#pixelcnn-complete');
  await page.waitForSelector('.message.error');
  assert.match(await page.textContent('#messages'), /temperature 0 is not in \[0.05, 5\]/);
  // Training starts with the held-out evaluation (1000 digits through the deep network: ~17 s
  // on this machine's CPU). Paused during it, the worker stops after the piece in flight (a
  // batch), so the page's next question is answered at once, not after the evaluation.
  const emptyChart = await page.locator('#pixelcnn-chart').screenshot();
  await page.click('#pixelcnn-train');
  await page.waitForTimeout(1500);
  await page.click('#pixelcnn-train');
  const asked = Date.now();
  await page.waitForFunction(() => window.genlab.pixelcnn.status().status.state === 'paused', null, { timeout: 60_000 });
  const before = await page.textContent('#pixelcnn-likelihood');
  await page.fill('#pixelcnn-digit', '3');
  await page.dispatchEvent('#pixelcnn-digit', 'change');
  await page.waitForFunction((t) => document.getElementById('pixelcnn-likelihood').textContent !== t, before, { timeout: 60_000 });
  const answered = Date.now() - asked;
  const paused = await page.evaluate(() => window.genlab.pixelcnn.status());
  console.log(JSON.stringify({ measure: 'pixelcnn_pause_during_evaluation_ms', answered }));
  assert.equal(paused.step, 0);
  assert.equal(paused.test, null, 'paused before the evaluation ended');
  assert.match(await page.textContent('#pixelcnn-status'), /^paused · step 0 · held-out digits \d+\/1000 ·/);
  assert.ok(answered < 8000, `paused during the evaluation, the page waited ${answered} ms for an answer`);
  // The still empty chart says what it waits for (not "Press Train or Step").
  assert.ok(!(await page.locator('#pixelcnn-chart').screenshot()).equals(emptyChart), 'the chart during the evaluation is the one before Train');
  // One training step works: it finishes the evaluation first (the curve's point at step 0).
  await page.click('#pixelcnn-step');
  await page.waitForFunction(() => window.genlab.pixelcnn.status().step === 1, null, { timeout: 60_000 });
  assert.ok(await page.evaluate(() => window.genlab.pixelcnn.status().train.every(Number.isFinite)));
  assert.ok((await page.evaluate(() => window.genlab.pixelcnn.status().test)).every(Number.isFinite));
  // Train would continue the deep gated network at the rate its training had reached, the deep
  // plain one at its own; the small plain network's record names none, so the page's rate comes
  // back with it, not the last network's.
  assert.equal(await page.inputValue('#pixelcnn-lr'), '0.00022');
  // Reset through the lab's send, which resolves once the worker has loaded the weights and drawn
  // (a click's effect can only be waited for by a change, and the Step's redraw is a change too).
  const reset = (variant) => page.selectOption('#pixelcnn-variant', variant).then(() => page.evaluate(() => window.genlab.pixelcnn.send('reset')));
  await reset('deep');
  assert.equal(await page.inputValue('#pixelcnn-lr'), '0.00031');
  await reset('plain');
  assert.equal(await page.inputValue('#pixelcnn-lr'), '0.001');
  // The gated network opens on its own pretrained weights (no "random weights" warning) and
  // models the digit far better than chance (784 · ln 2 ≈ 543 nats).
  const plainNats = await page.textContent('#pixelcnn-likelihood');
  await reset('gated');
  assert.notEqual(await page.textContent('#pixelcnn-likelihood'), plainNats);
  assert.doesNotMatch(await page.textContent('#messages'), /random weights|not loaded/);
  const nats = Number((await page.textContent('#pixelcnn-likelihood')).match(/= ([\d.]+) nats/)[1]);
  assert.ok(nats < 200, `gated PixelCNN: −log p(x) = ${nats} nats`);
  assert.deepEqual(errors, []);
  await page.close();
});
