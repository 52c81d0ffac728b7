// The page's thin face: wires buttons and inputs to the Rust objects, shows messages.
// All computation and drawing happens in Rust (src/web).
const $ = (id) => document.getElementById(id);
const t0 = performance.now();

function message(text, kind = 'error') {
  const div = document.createElement('div');
  div.className = `message ${kind}`;
  div.textContent = text;
  $('messages').append(div);
  return div;
}

// Anything that escapes (including a Rust panic) becomes a message instead of a dead page.
addEventListener('error', (e) => message(`Unexpected error: ${e.message}`));
addEventListener('unhandledrejection', (e) => message(`Unexpected error: ${e.reason?.message ?? e.reason}`));

const wasmReady = () => window.wasmBindings
  ? Promise.resolve(window.wasmBindings)
  : new Promise((resolve) => addEventListener('TrunkApplicationStarted', () => resolve(window.wasmBindings), { once: true }));

async function fetchWithProgress(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received, total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
  return bytes;
}

function setupVae(app) {
  let lab;
  try {
    lab = app.vaeLab({ chart: $('vae-chart'), reconstructions: $('vae-reconstructions'), samples: $('vae-samples') });
  } catch (e) {
    message(`VAE lab unavailable: ${e.message ?? e}`);
    return null;
  }
  $('vae').hidden = false;
  const train = $('vae-train');
  const guard = (f) => async () => { try { await f(); } catch (e) { message(e.message ?? String(e)); } };
  const applySettings = () => lab.setSettings(Number($('vae-batch').value), Number($('vae-lr').value), Number($('vae-seed').value));
  lab.onUpdate((s) => {
    const st = s.status.state;
    train.textContent = st === 'running' ? 'Pause' : 'Train';
    $('vae-step').disabled = st === 'running';
    const el = $('vae-status');
    el.classList.toggle('diverged', st === 'diverged');
    if (st === 'diverged') { el.textContent = s.status.message; return; }
    const m = s.train ? s.names.map((n, i) => `${n} ${s.train[i].toFixed(2)}`).join('  ') : '';
    const test = s.test ? `  test −ELBO ${s.test[0].toFixed(2)}` : '';
    el.textContent = `${st} · step ${s.step} · epoch ${s.epoch} · ${s.elapsed_s.toFixed(1)} s · ${Math.round(s.images_per_s)} img/s · ${m}${test}`;
  });
  train.onclick = guard(() => {
    if (lab.status().status.state === 'running') return lab.pause();
    applySettings();
    lab.start();
  });
  $('vae-step').onclick = guard(async () => {
    $('vae-step').disabled = true;
    try { applySettings(); await lab.step(); } finally { $('vae-step').disabled = false; }
  });
  $('vae-reset').onclick = guard(async () => {
    lab.pause();
    applySettings();
    lab.reset($('vae-kind').value, Number($('vae-latent').value));
    await lab.draw();
  });
  guard(() => lab.draw())();
  return lab;
}

async function main() {
  const bindings = await wasmReady();
  const params = new URLSearchParams(location.search);
  const app = await bindings.App.start(params.get('backend'));
  const badge = $('badge');
  badge.textContent = app.badge();
  badge.classList.toggle('cpu', app.backend() === 'cpu');
  const toggle = $('backend-toggle');
  toggle.textContent = app.backend() === 'cpu' ? 'use WebGPU' : 'use CPU';
  toggle.href = app.backend() === 'cpu' ? '?backend=webgpu' : '?backend=cpu';
  for (const note of app.notes()) message(note, 'warn');
  window.genlab = { app, bindings };

  const progress = $('data-progress');
  let bytes;
  try {
    bytes = await fetchWithProgress(params.get('data') ?? 'data/mnist.bin.gz', (got, total) => {
      progress.querySelector('.bar').style.width = total ? `${(100 * got / total).toFixed(1)}%` : '50%';
      progress.querySelector('span').textContent = `loading MNIST… ${(got / 1e6).toFixed(1)} MB`;
    });
    progress.querySelector('span').textContent = `MNIST: ${app.load_mnist(bytes)}`;
  } catch (e) {
    progress.querySelector('span').textContent = 'MNIST could not be loaded';
    message(`Could not load MNIST: ${e.message ?? e}`);
    return;
  }
  progress.querySelector('.bar').style.width = '100%';
  let seed = 1;
  const drawDigits = () => app.draw_digits($('digits'), 48, seed++);
  drawDigits();
  $('load-time').textContent = `first canvas ${Math.round(performance.now() - t0)} ms after load`;
  window.genlab.firstCanvasMs = performance.now() - t0;
  $('digits-shuffle').disabled = false;
  $('digits-shuffle').onclick = drawDigits;
  window.genlab.vae = setupVae(app);
  window.genlab.ready = true;
}

main().catch((e) => message(`genlab failed to start: ${e.message ?? e}`));
