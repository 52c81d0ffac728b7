// End-to-end: what a teacher relies on — links that carry every setting, saved and loaded
// weights, keys, and a second visit without the network. The built page (dist/) in headless Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { serve, launch, drawn } from './serve.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
let server, browser;
before(async () => { server = await serve(dist); browser = await launch(); });
after(async () => { await browser?.close(); server?.close(); });

async function open(query) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.url + query);
  await page.waitForFunction(() => window.genlab?.ready, null, { timeout: 300_000 });
  return { page, errors };
}
const messages = (page) => page.$$eval('#messages .message', (ms) => ms.map((m) => m.textContent));
const values = (page) => page.evaluate(() => Object.fromEntries(Object.entries(window.genlab.labs).map(([id, lab]) => [id, lab.values()])));
const pixels = (page, id) => page.evaluate((id) => { const c = document.getElementById(id); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }, id);
// The bytes of the download a click starts.
async function downloaded(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: download.suggestedFilename(), bytes: await readFile(await download.path()) };
}

// A value other than the default for every linked control, valid for it.
function otherValues(specs) {
  const link = {};
  for (const spec of specs) {
    const controls = [...spec.controls, ...spec.figures.flatMap((f) => f.controls)].filter((c) => c.linked);
    for (const c of controls) {
      let v;
      if (c.input === 'select' || c.input === 'radio') v = c.options.map((o) => o[0]).find((o) => o !== c.value);
      else if (c.input === 'checkbox') v = String(!c.value);
      else if (c.name === 'lr') v = '0.000123'; // a rate that trains, unlike any default or trained rate
      else if (c.name === 'batch') v = '32';
      else v = String(c.value === c.min ? c.min + 1 : c.min);
      if (v !== undefined) link[`${spec.id}.${c.name}`] = v;
    }
  }
  return link;
}

test('a link with every control set round-trips: page → link → new page → the same controls', async () => {
  const { page: first, errors } = await open('?backend=cpu');
  const specs = await first.evaluate(() => Object.values(window.genlab.labs).map((l) => l.spec));
  const defaults = await values(first);
  await first.close();
  const link = otherValues(specs);
  const { page, errors: errors2 } = await open(`?backend=cpu&${new URLSearchParams(link)}`);
  const shown = await values(page);
  for (const [key, v] of Object.entries(link)) {
    const [lab, name] = key.split('.');
    assert.equal(shown[lab][name], v, `${key} shows the link's value`);
    assert.notEqual(defaults[lab][name], v, `${key} differs from its default`);
  }
  assert.deepEqual((await messages(page)).filter((m) => /link/.test(m)), [], 'no value refused');
  // Each lab's "copy link" gives a link that opens the same controls.
  const links = await page.evaluate(() => Object.values(window.genlab.labs).map((l) => l.link()));
  const merged = new URLSearchParams();
  for (const l of links) for (const [k, v] of new URL(l).searchParams) merged.set(k, v);
  assert.equal(merged.get('backend'), 'cpu');
  await page.close();
  const { page: again, errors: errors3 } = await open(`?${merged}`);
  assert.deepEqual(await values(again), shown);
  await again.close();
  assert.deepEqual([...errors, ...errors2, ...errors3], []);
});

test('training 20 steps from the same link twice gives the same curve; another seed does not', async () => {
  const run = async (seed) => {
    const { page } = await open(`?backend=cpu&vae.from=scratch&vae.seed=${seed}&vae.batch=32&vae.latent=20`);
    const curve = await page.evaluate(async () => {
      const lab = window.genlab.vae;
      for (let i = 0; i < 20; i++) await lab.send('step');
      return { step: lab.status().step, train: lab.status().train, test: lab.status().test };
    });
    await page.close();
    return curve;
  };
  const a = await run(5), b = await run(5), c = await run(6);
  assert.equal(a.step, 20);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.train, c.train);
});

test('bad link values are messages, their defaults stay, the page runs', async () => {
  const { page, errors } = await open('?backend=cpu&vae.batch=0&vae.kind=nope&vae.lr=abc&vae.seed=1.5&vae.bogus=1&vae.train=1&nolab.x=1&stray=1');
  const shown = await messages(page);
  for (const expected of [/batch 0 is outside 1–1024/, /kind 'nope' is not one of/, /lr 'abc' is not a number/, /seed 1.5 is not a whole number/,
    /no setting 'bogus'/, /no setting 'train'/, /a lab 'nolab'/, /'stray' is not a setting/]) {
    assert.ok(shown.some((m) => expected.test(m)), `${expected} in ${JSON.stringify(shown)}`);
  }
  const v = (await values(page)).vae;
  assert.deepEqual([v.batch, v.kind, v.seed], ['128', 'vae', '1']);
  assert.ok(await drawn(page, 'vae-samples'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('saved weights load back to the same pictures in each lab; a wrong or damaged file is refused by name', async () => {
  const { page, errors } = await open('?backend=cpu');
  const views = { vae: 'vae-samples', gan: 'gan-samples', pixelcnn: 'pixelcnn-next' };
  const saved = {};
  for (const [lab, view] of Object.entries(views)) {
    const before = await pixels(page, view);
    saved[lab] = await downloaded(page, `#${lab}-save`);
    assert.match(saved[lab].name, new RegExp(`^genlab-${lab}-step0\\.bpk$`));
    // Random weights, then the saved file: the pictures come back.
    await page.selectOption(`#${lab}-from`, 'scratch');
    await page.click(`#${lab}-reset`);
    await page.waitForFunction((id) => !document.getElementById(id).disabled, `${lab}-reset`);
    assert.notDeepEqual(await pixels(page, view), before, `${lab}: random weights draw other pictures`);
    const count = (await messages(page)).length;
    await page.setInputFiles(`#${lab}-load`, { name: saved[lab].name, mimeType: 'application/octet-stream', buffer: saved[lab].bytes });
    await page.waitForFunction((n) => document.querySelectorAll('#messages .message').length > n, count, { timeout: 120_000 });
    assert.match((await messages(page)).at(-1), /loaded genlab-.*saved at step 0/);
    assert.deepEqual(await pixels(page, view), before, `${lab}: the loaded weights draw the saved pictures`);
  }
  // The GAN's file in the VAE lab, a damaged file, an empty one, one holding a NaN: named
  // errors, the VAE unchanged.
  const vae = await pixels(page, 'vae-samples');
  const cut = saved.vae.bytes.subarray(0, 40);
  const garbage = Buffer.from('this is not a weights file at all');
  // The shipped VAE (half precision: a 14-byte line, then each tensor's count as a u64 and its
  // values as f16) with its first value made NaN (f16 0x7E00).
  const nan = Buffer.from(await readFile(join(dist, 'pretrained', 'vae-z2.bpk')));
  assert.equal(nan.subarray(0, 14).toString(), 'genlab half 1\n');
  nan.writeUInt16LE(0x7e00, 22);
  for (const [file, expected] of [[{ name: 'gan.bpk', buffer: saved.gan.bytes }, /gan.bpk holds weights of the Generative adversarial network \(and the Wasserstein GAN\) lab, not of the Variational autoencoder \(and the adversarial autoencoder\); the current model is kept/],
    [{ name: 'cut.bpk', buffer: cut }, /cut.bpk: the weights file is damaged .*the current model is kept/],
    [{ name: 'junk.bpk', buffer: garbage }, /junk.bpk was not loaded: the weights file is damaged or not a weights file.*the current model is kept/],
    [{ name: 'empty.bpk', buffer: Buffer.alloc(0) }, /^empty.bpk is empty; the current model is kept$/],
    [{ name: 'nan.bpk', buffer: nan }, /^nan.bpk holds a value that is not a number \(NaN or infinity\); the current model is kept$/]]) {
    const count = (await messages(page)).length;
    await page.setInputFiles('#vae-load', { ...file, mimeType: 'application/octet-stream' });
    await page.waitForFunction((n) => document.querySelectorAll('#messages .message').length > n, count);
    assert.match((await messages(page)).at(-1), expected);
    assert.deepEqual(await pixels(page, 'vae-samples'), vae);
  }
  // The curves as CSV.
  await page.evaluate(async () => { for (let i = 0; i < 3; i++) await window.genlab.vae.send('step'); });
  const csv = await downloaded(page, '#vae-csv');
  const rows = csv.bytes.toString().trim().split('\n');
  assert.equal(rows[0], 'split,step,-ELBO,reconstruction,KL');
  assert.deepEqual(rows.filter((r) => r.startsWith('train,')).map((r) => r.split(',')[1]), ['1', '2', '3']);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a computing worker that fails says so once, and leaves no button waiting on it', async () => {
  const { page, errors } = await open('?backend=cpu');
  const count = (await messages(page)).length;
  // A sample in flight when the worker fails (as a panic would: it reports, then answers nothing).
  await page.click('#pixelcnn-sample');
  assert.ok(await page.evaluate(() => document.getElementById('pixelcnn-sample').disabled));
  await page.evaluate(() => window.genlab.failWorkerForTest());
  await page.waitForFunction(() => !document.getElementById('pixelcnn-sample').disabled, null, { timeout: 10_000 });
  // A button pressed after it comes back too, and neither adds a message to the one that says why.
  await page.click('#vae-step');
  await page.waitForFunction(() => !document.getElementById('vae-step').disabled, null, { timeout: 10_000 });
  const shown = (await messages(page)).slice(count);
  assert.equal(shown.length, 1, JSON.stringify(shown));
  assert.match(shown[0], /^The computing worker stopped: a test stopped it\. Reload the page to start again\.$/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('keys drive the lab in view: s steps, space trains and pauses', async () => {
  const { page, errors } = await open('?backend=cpu');
  await page.evaluate(() => document.getElementById('vae').scrollIntoView());
  await page.keyboard.press('s');
  await page.waitForFunction(() => window.genlab.vae.status().step === 1);
  await page.keyboard.press(' ');
  await page.waitForFunction(() => window.genlab.vae.status().step >= 5);
  await page.keyboard.press(' ');
  await page.waitForFunction(() => window.genlab.vae.status().status.state === 'paused');
  assert.equal((await page.evaluate(() => window.genlab.gan.status())).step, 0, 'the GAN, not in view, did not move');
  await page.keyboard.press('p');
  assert.ok(await page.evaluate(() => document.body.classList.contains('projector')));
  assert.deepEqual(errors, []);
  await page.close();
});

test('after one visit, the page opens with the network gone: data grid and pretrained pictures', async () => {
  const { page, errors } = await open('?backend=cpu');
  await page.waitForFunction(() => window.genlab.offline > 0, null, { timeout: 60_000 });
  await page.context().setOffline(true);
  await page.reload();
  await page.waitForFunction(() => window.genlab?.ready, null, { timeout: 300_000 });
  assert.ok(await drawn(page, 'digits'), 'the MNIST grid, offline');
  for (const view of ['vae-samples', 'gan-samples', 'pixelcnn-next']) assert.ok(await drawn(page, view), `${view}, offline`);
  assert.deepEqual((await messages(page)).filter((m) => /could not|not loaded|No pretrained/i.test(m)), []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the map shows each lab\'s figure; each demo link sets its controls, runs, and shows its note; a bogus demo is a message', async () => {
  const { page, errors } = await open('?backend=cpu');
  await page.waitForFunction(() => /classifier score \d/.test(document.getElementById('map-gan').textContent), null, { timeout: 120_000 });
  assert.match(await page.textContent('#map-vae'), /^−log p\(x\) ≤ \d+\.\d nats \(IW bound, k = 50\)$/);
  assert.match(await page.textContent('#map-pixelcnn'), /^test NLL \d+\.\d nats \(its training record\)$/);
  for (const [path, lab] of [[['explicit density', 'tractable density'], 'pixelcnn'], [['explicit density', 'approximate density'], 'vae'], [['implicit density'], 'gan']]) {
    const selector = `#map-tree ${path.map((p) => `li[data-name="${p}"]`).join(' ')} a[href="#${lab}"]`;
    assert.ok(await page.$(selector), `${lab} under ${path.join(' → ')}`);
  }

  const list = await page.evaluate(() => Object.values(window.genlab.labs).flatMap((l) => l.spec.demos.map((d) => ({ ...d, lab: l.spec.id }))));
  assert.ok(list.length >= 10, `${list.length} demos`);
  for (const demo of list) {
    const before = (await messages(page)).length;
    await page.evaluate(async (name) => {
      const changed = new Promise((resolve) => addEventListener('hashchange', resolve, { once: true }));
      location.hash = `demo=${name}`;
      await changed;
      await window.genlab.demo;
    }, demo.name);
    const shown = (await values(page))[demo.lab];
    for (const [name, value] of demo.set) assert.equal(shown[name], value, `${demo.name}: ${name}`);
    assert.match(await page.textContent(`#${demo.lab} .demo-note`), new RegExp(demo.title.replace(/[()]/g, '.')));
    assert.deepEqual((await messages(page)).slice(before).filter((m) => !/goes on|loaded/.test(m)), [], `${demo.name}: no message`);
    if (demo.then.includes('train')) {
      await page.waitForFunction((lab) => window.genlab.labs[lab].status().step > 0, demo.lab, { timeout: 120_000 });
      await page.evaluate((lab) => window.genlab.labs[lab].send('pause'), demo.lab);
    }
    if (demo.then.includes('measure-bounds')) {
      assert.match(await page.textContent('#vae-bounds-info'), /k = 50/);
      assert.match(await page.textContent('#map-vae'), /IW bound, k = 50/);
    }
    assert.ok(await drawn(page, `${demo.lab}-chart`), `${demo.name}: chart`);
    // A demo that picks a network runs on it (the choice takes effect at Reset).
    if (demo.name === 'pixelrnn') assert.match(await page.textContent('#pixelcnn-sample-info'), /Row LSTM/);
  }
  await page.click(`#pixelcnn .demo-note .close`);
  assert.equal(await page.$('#pixelcnn .demo-note'), null, 'the note closes');
  await page.evaluate(() => { location.hash = 'demo=nope'; });
  await page.waitForFunction(() => [...document.querySelectorAll('#messages .message')].some((m) => /There is no demo 'nope'/.test(m.textContent)));
  assert.deepEqual(errors, []);
  await page.close();
});

// The native evaluator's figure (the same model file, digits, binarization and noise).
function nativeEval(args) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const out = execFileSync('cargo', ['run', '--release', '--quiet', '--bin', 'eval', '--', ...args], { cwd: root, encoding: 'utf8', timeout: 1_800_000 });
  return JSON.parse(out.trim().split('\n').at(-1));
}

test('the comparison panel measures every loaded model; its VAE and PixelCNN figures agree with the native eval', async () => {
  const { page, errors } = await open('?backend=cpu');
  const rows = await page.evaluate(() => window.genlab.compare(50));
  const figure = (lab, measure, model = '') => rows.find((r) => r.lab === lab && r.measure.includes(measure) && r.model.includes(model))?.ours;
  const vae = nativeEval(['vae', '--weights', 'pretrained/vae-z2.bpk', '--latent', '2', '--k', '50', '--images', '1000', '--seed', '1']);
  const plain = nativeEval(['pixelcnn', '--weights', 'pretrained/pixelcnn.bpk', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  const gated = nativeEval(['gated-pixelcnn', '--weights', 'pretrained/gated-pixelcnn.bpk', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  const deep = nativeEval(['pixelcnn', '--weights', 'pretrained/pixelcnn-deep.bpk', '--channels', '16', '--layers', '15', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  const deepGated = nativeEval(['gated-pixelcnn', '--weights', 'pretrained/gated-pixelcnn-deep.bpk', '--channels', '16', '--layers', '14', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  const nade = nativeEval(['nade', '--weights', 'pretrained/nade.bpk', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  const rnn = nativeEval(['pixelrnn', '--weights', 'pretrained/pixelrnn.bpk', '--images', '1000', '--binarizations', '1', '--seed', '1']);
  console.log(JSON.stringify({ measure: 'compare_panel_vs_native', rows, native: { vae: [vae.test_negative_elbo_nats, vae.test_negative_iwae_bound_nats], plain: plain.test_nll_nats, gated: gated.test_nll_nats, deep: deep.test_nll_nats, deepGated: deepGated.test_nll_nats, nade: nade.test_nll_nats, pixelrnn: rnn.test_nll_nats } }));
  // The issue asks for 0.5 nats; the same digits, binarization and noise agree to rounding.
  const close = (ours, native, what) => assert.ok(Math.abs(ours - native) <= 0.05, `${what}: page ${ours}, native ${native}`);
  close(figure('vae', '−ELBO'), vae.test_negative_elbo_nats, 'VAE −ELBO');
  close(figure('vae', 'k = 50'), vae.test_negative_iwae_bound_nats, 'VAE bound, k = 50');
  // Each exact-likelihood network by its whole name ("gated PixelCNN" is also in "deep gated PixelCNN").
  const network = (name) => rows.find((r) => r.lab === 'pixelcnn' && r.measure.includes('exact') && r.model.split(' (')[0] === name)?.ours;
  close(network('plain PixelCNN'), plain.test_nll_nats, 'plain PixelCNN');
  close(network('gated PixelCNN'), gated.test_nll_nats, 'gated PixelCNN');
  close(network('deep PixelCNN'), deep.test_nll_nats, 'deep PixelCNN');
  close(network('deep gated PixelCNN'), deepGated.test_nll_nats, 'deep gated PixelCNN');
  close(network('NADE'), nade.test_nll_nats, 'NADE');
  close(network('PixelRNN, Row LSTM'), rnn.test_nll_nats, 'PixelRNN');
  assert.ok(figure('gan', 'classifier score') > 5, 'the GAN is judged');
  // Every pretrained GAN beside the loaded one (the TF tutorial's DCGAN, the Wasserstein GAN and
  // the collapsed fully connected GAN among them): the collapse shows as a low score.
  const gans = rows.filter((r) => r.lab === 'gan' && r.measure.includes('classifier score'));
  assert.equal(gans.length, 6, gans.map((r) => r.model).join('; '));
  assert.ok(figure('gan', 'classifier score', 'Wasserstein DCGAN') > 4, 'the Wasserstein GAN is judged');
  assert.ok(figure('gan', 'classifier score', 'TF-tutorial DCGAN') > 5, 'the TF tutorial\'s DCGAN is judged');
  assert.ok(figure('gan', 'classifier score', 'fully connected GAN (pretrained)') < figure('gan', 'classifier score', 'fully connected GAN with minibatch std'), 'collapse scores lower');
  assert.ok(figure('gan', 'Fréchet') > 0);
  assert.equal(await page.$$eval('#compare-table tbody tr', (r) => r.length), rows.length);
  // Speed on the CPU (WebGPU here is SwiftShader: minutes per step).
  const speed = await page.evaluate(() => window.genlab.speed(['cpu']));
  // PixelRNN's training speed beside PixelCNN's, on the same backend.
  assert.deepEqual(speed.map((r) => `${r.lab} ${r.workload}`).sort(), ['gan dcgan', 'pixelcnn pixelcnn', 'pixelcnn pixelrnn', 'vae vae_mlp']);
  assert.ok(speed.every((r) => r.images_per_s > 0));
  assert.deepEqual(errors, []);
  await page.close();
});
