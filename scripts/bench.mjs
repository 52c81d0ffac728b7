// The benchmark (not a test): the release page in headless Chromium, one JSON line per case.
//   node scripts/bench.mjs [steps] [--workloads vae_mlp,dcgan,dcgan_tf,pixelcnn,pixelrnn] [--epoch cpu|webgpu]
//                          [--gaps cpu|webgpu [seconds]]
//                          [--quality cpu|webgpu [seconds] [--labs vae,gan,pixelcnn] [--batches 32,64] [--lrs 0.001,0.003]]
//                          [--tfjs [rounds]] [--load [mbit] [latency_ms] [--load-backend cpu|auto|webgpu]]
// (build dist/ first: scripts/build.sh)
// Training steps of fixed workloads on each backend (in the page's worker), with the WebGPU
// calls per step (kernel launches = compute dispatches, uploads and their bytes, submissions:
// the worker counts them by wrapping those WebGPU methods, see www/worker.js), and PixelCNN
// sampling speed. --tfjs also runs TF.js 4.22 on vae_mlp and dcgan_tf in the same browser
// (scripts/bench-tfjs.mjs), `rounds` times interleaved with genlab's own, and prints the
// medians and genlab's ratio to TF.js (WebGPU to WebGPU, genlab's CPU path to TF.js's wasm).
// --epoch also trains the VAE lab from scratch for one epoch (469 steps of 128) and prints the
// held-out −ELBO. --gaps trains each lab from scratch with its default settings
// for `seconds` (60) on that backend and prints the gaps between animation frames on the page's
// thread (p50, p95, max), images/s, and the time from a Pause click to the status saying paused.
// --load serves dist/ over a simulated link (20 Mbit/s shared by all requests, 40 ms before each
// response; the wasm, scripts and JSON gzipped as a static host sends them) and prints the time
// from navigation to the first pretrained samples (the VAE lab's prior samples) and the bytes
// sent until then, with each file's bytes and finish time. (Chromium's own throttling does not
// reach a dedicated worker's fetches, so the link is simulated by the server.)
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../tests/e2e/serve.mjs';
import { tfjsBench } from './bench-tfjs.mjs';

// DIST=other/dist measures another build (e.g. an older commit's) the same way.
const dist = process.env.DIST ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const steps = Number(process.argv[2] ?? 20);
const arg = (name) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : null; };
// Both builds of the wasm: with WebGPU, and the CPU-only one the worker loads without it.
for (const wasm of readdirSync(dist).filter((f) => f.endsWith('_bg.wasm'))) {
  const bytes = readFileSync(join(dist, wasm));
  console.log(JSON.stringify({ wasm, raw_bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length }));
}

const server = await serve(dist);
const browser = await launch();
const open = async (backend) => {
  const page = await browser.newPage();
  page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning' || /shader|wgsl|validation|invalid/i.test(m.text())) && console.error('page:', m.type(), m.text().slice(0, 300)));
  await page.goto(server.url + (backend ? `?backend=${backend}` : ''));
  await page.waitForFunction(() => window.genlab?.ready && window.genlab.settled, null, { timeout: 900_000 });
  // And the training digits: they go to the device as they arrive, which is not a step's upload.
  await page.waitForFunction(() => /training and/.test(document.querySelector('#data-progress span')?.textContent), null, { timeout: 600_000 });
  return page;
};
const load = process.argv.includes('--load');
const gaps = arg('--gaps');
const quality_backend = arg('--quality');
const tfjs = process.argv.includes('--tfjs');
const only = arg('--workloads')?.split(',');
try {
  // --gaps, --quality and --tfjs measure that alone (--gaps also runs against pages from before the worker).
  if (tfjs) await compareWithTfjs(Number(arg('--tfjs')) || 1);
  else if (load) await loadOverLink(Number(arg('--load')) || 20, Number(process.argv[process.argv.indexOf('--load') + 2]) || 40);
  else if (!gaps && !quality_backend) await workloads();
  if (gaps) await frameGaps(gaps);
  if (quality_backend) await quality(quality_backend);
} finally {
  await browser.close();
  server.close();
}

async function workloads() {
  // The default (auto) page: what it chose, and how long until the first picture.
  const page = await open(null);
  const auto = await page.evaluate(() => ({ first: Math.round(window.genlab.firstCanvasMs), backend: window.genlab.backend, badge: document.getElementById('badge').textContent }));
  console.log(JSON.stringify({ measure: 'page_load_to_first_canvas_ms', value: auto.first, auto_backend: auto.backend, badge: auto.badge }));
  await page.close();

  const { backends } = await genlabWorkloads(['vae_mlp', 'dcgan', 'dcgan_tf', 'pixelcnn', 'pixelrnn'].filter((w) => !only || only.includes(w)));
  // PixelCNN sampling speed on each backend: a full sample (784 pixel steps) and a half
  // completion (392), 4 images at once, the worker's own loop (pictures sent as it goes).
  for (const backend of only && !only.includes('pixelcnn') ? [] : backends) {
    const q = await open(backend);
    await q.fill('#pixelcnn-n', '4');
    await q.fill('#pixelcnn-row', '14');
    for (const [name, button, info] of [['pixelcnn_full_sample', 'sample', 'sample-info'], ['pixelcnn_half_completion', 'complete', 'completion-info']]) {
      await q.evaluate((b) => window.genlab.pixelcnn.send(b), button);
      const text = await q.textContent(`#pixelcnn-${info}`);
      const [pixels, ms, seconds] = text.match(/[\d.]+/g).map(Number);
      console.log(JSON.stringify({ measure: name, backend, images: 4, pixel_steps: pixels, ms_per_pixel_step: ms, seconds }));
    }
    await q.close();
  }
  const epoch = arg('--epoch');
  if (epoch) {
    const q = await open(epoch);
    await q.selectOption('#vae-latent', '20');
    await q.selectOption('#vae-from', 'scratch');
    await q.click('#vae-reset');
    await q.waitForFunction(() => window.genlab.vae.status().step === 0);
    // Time training, not pictures: on a slow GPU redrawing the views every second dominates.
    await q.evaluate(() => window.genlab.vae.send('live_views', { value: false }));
    const t = Date.now();
    await q.click('#vae-train');
    await q.waitForFunction(() => window.genlab.vae.status().step >= 469, null, { timeout: 3_600_000, polling: 20 });
    await q.evaluate(() => window.genlab.vae.send('pause'));
    const s = await q.evaluate(() => window.genlab.vae.status());
    const test = await q.evaluate(() => window.genlab.vae.send('evaluate'));
    console.log(JSON.stringify({ measure: 'vae_z20_one_epoch_from_scratch', backend: epoch, steps: s.step, seconds: Math.round((Date.now() - t) / 1000),
      test_negative_elbo: Number(test[0].toFixed(2)) }));
    await q.close();
  }
}

// genlab's training workloads on each backend the browser has, in one page; prints and returns them.
async function genlabWorkloads(workloads, results = []) {
  const p = await open('webgpu');
  const backends = (await p.evaluate(() => window.genlab.backend)) === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'];
  for (const workload of workloads) {
    for (const backend of backends) {
      const r = await p.evaluate((value) => window.genlab.send({ lab: 'app', control: 'bench', value }), { workload, backend, steps });
      const line = { framework: 'genlab', ...r, images_per_s: Number(r.images_per_s.toPrecision(3)), ms_per_step: Number(r.ms_per_step.toFixed(1)) };
      console.log(JSON.stringify(line));
      results.push(line);
    }
  }
  await p.close();
  return Object.assign(results, { backends });
}

// --tfjs [rounds]: genlab and TF.js on the same workloads, interleaved round by round.
async function compareWithTfjs(rounds) {
  const workloads = ['vae_mlp', 'dcgan_tf'].filter((w) => !only || only.includes(w));
  const all = [];
  for (let round = 0; round < rounds; round++) {
    await genlabWorkloads(workloads, all);
    for (const r of await tfjsBench(browser, workloads, steps)) {
      console.log(JSON.stringify(r));
      all.push(r);
    }
  }
  const median = (framework, backend, workload) => {
    const v = all.filter((r) => r.framework.startsWith(framework) && r.backend === backend && r.workload === workload && r.images_per_s)
      .map((r) => r.images_per_s).sort((a, b) => a - b);
    return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
  };
  for (const workload of workloads) {
    for (const [ours, theirs] of [['webgpu', 'webgpu'], ['cpu', 'wasm']]) {
      const a = median('genlab', ours, workload);
      const b = median('tfjs', theirs, workload);
      console.log(JSON.stringify({ measure: 'genlab_vs_tfjs', workload, rounds, genlab: ours, genlab_images_per_s: a, tfjs: theirs, tfjs_images_per_s: b,
        ratio: a && b ? Number((a / b).toFixed(2)) : null }));
    }
  }
}

// --quality cpu|webgpu [seconds] [--labs vae,gan,pixelcnn] [--batches 32,64] [--lrs 1e-3,3e-3]:
// time to quality. Each lab from scratch as a user runs it (pictures on), with the page's
// settings or each batch size × learning rate given (the GAN's is G's; D's stays): the VAE for
// `seconds` (60) at each latent size, then the held-out −ELBO of 1000 test digits; the DCGAN for
// twice that (120), then the classifier score of 1000 samples (the lab's meter); the PixelCNN for
// twice that, then the held-out NLL of 1000 test digits.
async function quality(backend) {
  const i = process.argv.indexOf('--quality');
  const seconds = Number(process.argv[i + 2]) || 60;
  const labs = arg('--labs')?.split(',') ?? ['vae', 'gan', 'pixelcnn'];
  // Settings to compare: every batch size × learning rate given (default: the page's).
  const variants = (arg('--batches')?.split(',') ?? [null]).flatMap((batch) => (arg('--lrs')?.split(',') ?? [null]).map((lr) => ({ batch, lr })));
  const train = async (lab, s, { batch, lr }, before = async () => {}) => {
    const q = await open(backend);
    await before(q);
    await q.selectOption(`#${lab}-from`, 'scratch');
    if (batch) await q.fill(`#${lab}-batch`, batch);
    if (lr) await q.fill(`#${lab}-lr`, lr);
    await q.click(`#${lab}-reset`);
    await q.waitForFunction((l) => window.genlab[l].status().step === 0, lab);
    await q.click(`#${lab}-train`);
    await q.waitForTimeout(s * 1000);
    await q.evaluate((l) => window.genlab[l].send('pause'), lab);
    await q.waitForFunction((l) => window.genlab[l].status().status.state === 'paused', lab);
    return [q, await q.evaluate((l) => window.genlab[l].status(), lab)];
  };
  const line = (measure, s, extra) => console.log(JSON.stringify({ measure, backend, batch: s.settings.batch_size, lr: s.settings.lr, steps: s.step,
    images_per_s: Math.round(s.step * s.settings.batch_size / s.elapsed_s), ...extra }));
  for (const v of variants) {
    for (const latent of labs.includes('vae') ? ['2', '20'] : []) {
      const [q, s] = await train('vae', seconds, v, (q) => q.selectOption('#vae-latent', latent));
      const test = await q.evaluate(() => window.genlab.vae.send('evaluate'));
      line(`vae_z${latent}_${seconds}s_from_scratch`, s, { test_negative_elbo: Number(test[0].toFixed(2)) });
      await q.close();
    }
    if (labs.includes('gan')) {
      const [q, s] = await train('gan', 2 * seconds, v);
      const m = await q.evaluate(() => window.genlab.gan.send('measure'));
      line(`dcgan_${2 * seconds}s_from_scratch`, s, { classifier_score: Number(m.score.toFixed(2)), rarest_digit: Number(m.rarest.toFixed(3)) });
      await q.close();
    }
    if (labs.includes('pixelcnn')) {
      const [q, s] = await train('pixelcnn', 2 * seconds, v);
      const test = await q.evaluate(() => window.genlab.pixelcnn.send('evaluate'));
      line(`pixelcnn_${2 * seconds}s_from_scratch`, s, { test_nll: Number(test[0].toFixed(2)) });
      await q.close();
    }
  }
}

async function frameGaps(gaps) {
  {
    const i = process.argv.indexOf('--gaps');
    const seconds = Number(process.argv[i + 2]) || 60;
    for (const lab of ['vae', 'gan', 'pixelcnn']) {
      const q = await open(gaps);
      // (Pages before the worker named the PixelCNN's elements pc-…: the same bench measures both.)
      const at = (await q.$(`#${lab}-from`)) ? lab : 'pc';
      await q.selectOption(`#${at}-from`, 'scratch');
      await q.click(`#${at}-reset`);
      await q.waitForFunction((l) => window.genlab[l].status().step === 0, lab);
      await q.evaluate(() => {
        window.gaps = [];
        let last = performance.now();
        const tick = (t) => { window.gaps.push(t - last); last = t; requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
      });
      await q.click(`#${at}-train`);
      await q.waitForTimeout(seconds * 1000);
      // Pause: time until the button shows it, and until the worker's status says paused.
      const pause = await q.evaluate(async ([l, at]) => {
        const t = performance.now();
        document.getElementById(`${at}-train`).click();
        await new Promise(requestAnimationFrame);
        const shown = performance.now() - t;
        while (window.genlab[l].status().status.state !== 'paused') await new Promise((r) => setTimeout(r, 5));
        return { shown, paused: performance.now() - t };
      }, [lab, at]);
      const r = await q.evaluate((l) => {
        const g = window.gaps.slice(5).sort((a, b) => a - b);
        const at = (f) => Math.round(g[Math.min(g.length - 1, Math.floor(g.length * f))]);
        const s = window.genlab[l].status();
        // images/s over the whole training time (the loop's own figure is a moving average).
        const trained = Math.round(s.step * s.settings.batch_size / s.elapsed_s);
        return { frames: g.length, p50: at(0.5), p95: at(0.95), max: Math.round(g[g.length - 1]), images_per_s: trained, steps: s.step, train_s: Number(s.elapsed_s.toFixed(1)) };
      }, lab);
      console.log(JSON.stringify({ measure: 'frame_gaps_while_training_from_scratch', lab, backend: gaps, seconds, ...r,
        pause_shown_ms: Math.round(pause.shown), pause_to_paused_ms: Math.round(pause.paused) }));
      await q.close();
    }
  }
}

// dist/ over a slow link: `mbit` Mbit/s shared by every response (sent in 16 kB pieces, each
// waiting for the link), `latency` ms before each response starts; compressible files gzipped.
async function slowServer(mbit, latency) {
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  let linkFreeAt = 0;
  const sent = [];
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };
  const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
  const server = createServer(async (req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    if (path.endsWith('/')) path += 'index.html';
    let body;
    try { body = await readFile(join(dist, path)); } catch { res.writeHead(404).end(); return; }
    const type = types[extname(path)];
    const headers = { 'content-type': type ?? 'application/octet-stream' };
    if (type) { body = gzipSync(body, { level: 6 }); headers['content-encoding'] = 'gzip'; }
    headers['content-length'] = body.length;
    await sleep(latency);
    res.writeHead(200, headers);
    for (let at = 0; at < body.length; at += 16384) {
      const piece = body.subarray(at, at + 16384);
      const start = Math.max(Date.now(), linkFreeAt);
      linkFreeAt = start + piece.length / bytesPerMs;
      await sleep(linkFreeAt - Date.now());
      res.write(piece);
    }
    res.end();
    sent.push({ path, bytes: body.length, done: Date.now() });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, sent, close: () => server.close() };
}

async function loadOverLink(mbit, latency) {
  const slow = await slowServer(mbit, latency);
  const page = await browser.newPage();
  const started = Date.now();
  // `--load-backend auto`: the link names no backend (in a browser with WebGPU the CPU-only build
  // opens the page and the WebGPU build follows behind it).
  const backend = arg('--load-backend') ?? 'cpu';
  await page.goto(slow.url + (backend === 'auto' ? '' : `?backend=${backend}`));
  await page.waitForFunction(() => window.genlab?.drawnAt?.['vae-samples'] !== undefined, null, { timeout: 600_000 });
  const firstSamples = await page.evaluate(() => performance.timeOrigin + window.genlab.drawnAt['vae-samples']);
  await page.waitForFunction(() => /training and/.test(document.getElementById('data-progress').textContent), null, { timeout: 600_000 });
  const before = slow.sent.filter((s) => s.done <= firstSamples);
  console.log(JSON.stringify({
    measure: 'load_over_link', mbit, latency_ms: latency, backend,
    first_pretrained_samples_ms: Math.round(firstSamples - started),
    bytes_before_first_samples: before.reduce((a, s) => a + s.bytes, 0),
    all_bytes: slow.sent.reduce((a, s) => a + s.bytes, 0),
    training_digits_ms: Date.now() - started,
    files: slow.sent.map((s) => ({ path: s.path, bytes: s.bytes, done_ms: s.done - started, before_samples: s.done <= firstSamples })),
  }));
  await page.close();
  slow.close();
}
