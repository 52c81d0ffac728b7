// The benchmark (not a test): the release page in headless Chromium, one JSON line per case.
//   node scripts/bench.mjs [steps] [--epoch cpu|webgpu] [--workloads vae_mlp,dcgan,dcgan_tf,pixelcnn]
// (build dist/ first: scripts/build.sh)
// It also times PixelCNN sampling (full sample, half completion) on each backend.
// --epoch also trains the VAE lab from scratch for one epoch (469 steps of 128) on that backend
// and prints the held-out −ELBO (1000 test digits) and the time it took (views not redrawn meanwhile).
import { readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, launch } from '../tests/e2e/serve.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const steps = Number(process.argv[2] ?? 20);
const wasm = readdirSync(dist).find((f) => f.endsWith('_bg.wasm'));
const bytes = readFileSync(join(dist, wasm));
console.log(JSON.stringify({ wasm, raw_bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length }));

const server = await serve(dist);
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(server.url);
  await page.waitForFunction(() => window.genlab?.ready, null, { timeout: 300_000 });
  const first = await page.evaluate(() => Math.round(window.genlab.firstCanvasMs));
  const backendOnPage = await page.evaluate(() => window.genlab.app.backend());
  console.log(JSON.stringify({ measure: 'page_load_to_first_canvas_ms', value: first, backend: backendOnPage }));
  const backends = backendOnPage === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'];
  const workloads = process.argv.indexOf('--workloads');
  const only = workloads > 0 ? process.argv[workloads + 1].split(',') : null;
  for (const workload of ['vae_mlp', 'dcgan', 'dcgan_tf'].filter((w) => !only || only.includes(w))) {
    for (const backend of backends) {
      const r = await page.evaluate(([w, b, n]) => window.genlab.app.bench(w, b, n), [workload, backend, steps]);
      console.log(JSON.stringify({ ...r, images_per_s: Math.round(r.images_per_s), ms_per_step: Number(r.ms_per_step.toFixed(1)) }));
    }
  }
  // PixelCNN sampling speed on each backend: a full sample (784 pixel steps) and a half
  // completion (392), 4 images at once, the page's own loop (animation frames included).
  for (const backend of only && !only.includes('pixelcnn') ? [] : backends) {
    const p = await browser.newPage();
    await p.goto(server.url + `?backend=${backend}`);
    await p.waitForFunction(() => window.genlab?.ready, null, { timeout: 300_000 });
    for (const [name, call] of [['pixelcnn_full_sample', (l) => l.sample(4, 1, 1)], ['pixelcnn_half_completion', (l) => l.complete(14, 4, 1, 1)]]) {
      const r = await p.evaluate(`(${call.toString()})(window.genlab.pixelcnn)`);
      console.log(JSON.stringify({ measure: name, backend, images: 4, pixel_steps: r.pixels, ms_per_pixel_step: Number(r.ms_per_pixel.toFixed(2)), seconds: Number((r.total_ms / 1000).toFixed(1)) }));
    }
    await p.close();
  }
  const epoch = process.argv.indexOf('--epoch');
  if (epoch > 0) {
    const backend = process.argv[epoch + 1];
    const p = await browser.newPage();
    await p.goto(server.url + `?backend=${backend}`);
    await p.waitForFunction(() => window.genlab?.ready, null, { timeout: 300_000 });
    await p.selectOption('#vae-latent', '20');
    await p.selectOption('#vae-from', 'scratch');
    await p.click('#vae-reset');
    await p.waitForFunction(() => window.genlab.vae.status().step === 0);
    // Time training, not pictures: on a slow GPU redrawing the views every second dominates.
    await p.evaluate(() => window.genlab.vae.setLiveViews(false));
    const t = Date.now();
    await p.click('#vae-train');
    await p.waitForFunction(() => window.genlab.vae.status().step >= 469, null, { timeout: 3_600_000, polling: 20 });
    await p.evaluate(() => window.genlab.vae.pause());
    const s = await p.evaluate(() => window.genlab.vae.status());
    const test = await p.evaluate(() => window.genlab.vae.evaluate());
    console.log(JSON.stringify({ measure: 'vae_z20_one_epoch_from_scratch', backend, steps: s.step, seconds: Math.round((Date.now() - t) / 1000),
      test_negative_elbo: Number(test[0].toFixed(2)) }));
  }
} finally {
  await browser.close();
  server.close();
}
