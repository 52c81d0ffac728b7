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

// Weights made by the native trainer (see README); missing ones fall back to random weights.
async function fetchWeights(kind, latent) {
  const response = await fetch(`pretrained/${kind}-z${latent}.bpk`);
  if (!response.ok) return null;
  return new Uint8Array(await response.arrayBuffer());
}

// A drawing pad: white strokes on black; returns the picture as 28×28 intensities.
function drawingPad(canvas, onDone) {
  const ctx = canvas.getContext('2d');
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, canvas.width, canvas.height); };
  clear();
  let drawing = false;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; };
  canvas.onpointerdown = (e) => { drawing = true; canvas.setPointerCapture(e.pointerId); ctx.beginPath(); ctx.moveTo(...at(e)); };
  canvas.onpointermove = (e) => {
    if (!drawing) return;
    ctx.strokeStyle = '#fff'; ctx.lineWidth = 18; ctx.lineCap = 'round'; ctx.lineJoin = 'round';
    ctx.lineTo(...at(e)); ctx.stroke();
  };
  canvas.onpointerup = () => {
    drawing = false;
    const small = new OffscreenCanvas(28, 28).getContext('2d');
    small.drawImage(canvas, 0, 0, 28, 28);
    const rgba = small.getImageData(0, 0, 28, 28).data;
    onDone(Float32Array.from({ length: 784 }, (_, i) => rgba[4 * i] / 255));
  };
  return clear;
}

const guarded = (f) => async (...args) => { try { return await f(...args); } catch (e) { message(e.message ?? String(e)); } };

// The Train/Pause and Step buttons and the status line: the same for every lab.
// apply() pushes the inputs to the lab; describe(status) is the model's part of the status line.
function wireTraining(lab, prefix, { apply, describe, onUpdate = () => {}, afterStep = async () => {} }) {
  const train = $(`${prefix}-train`), step = $(`${prefix}-step`), line = $(`${prefix}-status`);
  lab.onUpdate((s) => {
    const st = s.status.state;
    train.textContent = st === 'running' ? 'Pause' : 'Train';
    step.disabled = st === 'running';
    line.classList.toggle('diverged', st === 'diverged');
    line.textContent = st === 'diverged' ? s.status.message
      : `${st} · step ${s.step} · epoch ${s.epoch} · ${s.elapsed_s.toFixed(1)} s · ${Math.round(s.images_per_s)} img/s · ${describe(s)}`;
    onUpdate(s);
  });
  train.onclick = guarded(async () => {
    if (lab.status().status.state === 'running') return lab.pause();
    await apply();
    lab.start();
  });
  step.onclick = guarded(async () => {
    step.disabled = true;
    try { await apply(); await lab.step(); await afterStep(); } finally { step.disabled = false; }
  });
}

async function setupVae(app) {
  let lab;
  try {
    lab = app.vaeLab({
      chart: $('vae-chart'), klChart: $('vae-kl-chart'), reconstructions: $('vae-reconstructions'), samples: $('vae-samples'),
      manifold: $('vae-manifold'), scatter: $('vae-scatter'), hover: $('vae-hover'),
      interpolation: $('vae-interpolation'), drawn: $('vae-drawn'),
    });
  } catch (e) {
    message(`VAE lab unavailable: ${e.message ?? e}`);
    return null;
  }
  $('vae').hidden = false;
  const applySettings = () => {
    lab.setSettings(Number($('vae-batch').value), Number($('vae-lr').value), Number($('vae-seed').value));
    lab.setBeta(Number($('vae-beta').value));
  };
  $('vae-beta').onchange = guarded(() => lab.setBeta(Number($('vae-beta').value)));
  wireTraining(lab, 'vae', {
    apply: applySettings,
    describe: (s) => {
      const m = s.train ? s.names.map((n, i) => `${n} ${s.train[i].toFixed(2)}`).join('  ') : '';
      return m + (s.test ? `  test −ELBO ${s.test[0].toFixed(2)}` : '');
    },
  });
  const reset = guarded(async () => {
    lab.pause();
    applySettings();
    const [kind, latent] = [$('vae-kind').value, Number($('vae-latent').value)];
    let weights;
    if ($('vae-from').value === 'pretrained') {
      weights = await fetchWeights(kind, latent);
      if (!weights) message(`No pretrained ${kind === 'vae' ? 'VAE' : 'autoencoder'} with latent size ${latent}: starting from random weights.`, 'warn');
    }
    lab.reset(kind, latent, weights ?? undefined);
    $('vae-dim-a').value = 0; $('vae-dim-b').value = 1;
    $('vae-dim-a').max = $('vae-dim-b').max = latent - 1;
    await lab.draw();
  });
  $('vae-reset').onclick = reset;
  const dims = guarded(() => lab.setDims(Number($('vae-dim-a').value), Number($('vae-dim-b').value)));
  $('vae-dim-a').onchange = dims; $('vae-dim-b').onchange = dims;
  const ends = guarded(() => lab.interpolate(Number($('vae-from-digit').value), Number($('vae-to-digit').value)));
  $('vae-from-digit').onchange = ends; $('vae-to-digit').onchange = ends;
  const scatter = $('vae-scatter');
  const hover = guarded(async (e) => {
    if (e.type === 'pointermove' && e.pointerType !== 'mouse' && !e.buttons) return;
    const r = scatter.getBoundingClientRect();
    const z = await lab.hover((e.clientX - r.left) * scatter.width / r.width, (e.clientY - r.top) * scatter.height / r.height);
    if (z) $('vae-hover-z').textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
  });
  scatter.onpointermove = hover; scatter.onpointerdown = hover;
  const clearPad = drawingPad($('vae-pad'), guarded(async (pixels) => {
    const r = await lab.encodeDrawing(pixels);
    $('vae-drawn-info').textContent = `−ELBO ${r.negative_elbo.toFixed(1)} nats (reconstruction ${r.reconstruction.toFixed(1)} + KL ${r.kl.toFixed(1)})`;
  }));
  $('vae-pad-clear').onclick = clearPad;
  await reset();
  return lab;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) return null;
  return new Uint8Array(await response.arrayBuffer());
}

async function setupGan(app) {
  let lab;
  try {
    lab = app.ganLab({
      chart: $('gan-chart'), probChart: $('gan-prob-chart'), samples: $('gan-samples'), lossCurves: $('gan-loss-curves'),
      filmstrip: $('gan-filmstrip'), interpolation: $('gan-interpolation'), pool: $('gan-pool'),
      arithmetic: $('gan-arithmetic'), meter: $('gan-meter'),
    });
  } catch (e) {
    message(`GAN lab unavailable: ${e.message ?? e}`);
    return null;
  }
  $('gan').hidden = false;
  const applySettings = async () => {
    lab.setSettings(Number($('gan-batch').value), Number($('gan-lr').value), Number($('gan-seed').value));
    await lab.setOptions(Number($('gan-k').value), $('gan-loss').value, Number($('gan-dlr').value));
  };
  for (const id of ['gan-loss', 'gan-k', 'gan-dlr']) $(id).onchange = guarded(applySettings);
  const scrub = $('gan-scrub');
  let following = true;
  const showFrame = (index) => {
    const f = lab.showFrame(index);
    if (!f) return;
    scrub.max = f.count - 1;
    if (following) scrub.value = f.count - 1;
    $('gan-frame').textContent = `frame ${f.index + 1} of ${f.count} · step ${f.step}`;
  };
  scrub.oninput = guarded(() => {
    following = Number(scrub.value) >= Number(scrub.max);
    showFrame(following ? -1 : Number(scrub.value));
  });
  const showMeter = () => {
    const r = lab.meter();
    if (!r) return;
    const least = Math.min(...r.histogram) / r.histogram.reduce((a, b) => a + b, 0);
    $('gan-meter-info').textContent = `step ${r.step} · score ${r.score.toFixed(2)} · rarest digit ${(100 * least).toFixed(1)} %`;
  };
  wireTraining(lab, 'gan', {
    apply: applySettings,
    describe: (s) => {
      const m = s.train ? s.names.map((n, i) => `${n} ${s.train[i].toFixed(3)}`).join('  ') : '';
      return `${m} · updates D ${s.model.updates.d} / G ${s.model.updates.g}`;
    },
    onUpdate: () => { if (following) showFrame(-1); showMeter(); },
    afterStep: async () => showFrame(following ? -1 : Number(scrub.value)),
  });
  $('gan-measure').onclick = guarded(async () => { await lab.measure(); showMeter(); });
  const reset = guarded(async () => {
    lab.pause();
    await applySettings();
    const arch = $('gan-arch').value;
    const mbstd = $('gan-mbstd').checked;
    let weights;
    if ($('gan-from').value === 'pretrained') {
      const name = `${arch === 'fc' ? 'fc-gan' : 'dcgan'}${mbstd ? '-mbstd' : ''}`;
      weights = await fetchBytes(`pretrained/${name}.bpk`);
      if (!weights) message(`No pretrained ${arch === 'fc' ? 'fully connected GAN' : 'DCGAN'}${mbstd ? ' with minibatch std' : ''}: starting from random weights.`, 'warn');
    }
    try {
      lab.reset(arch, mbstd, weights ?? undefined);
    } catch (e) {
      message(`Pretrained GAN not loaded: ${e.message ?? e}. Starting from random weights.`);
      lab.reset(arch, mbstd, undefined);
    }
    following = true;
    $('gan-meter-info').textContent = '';
    await lab.draw();
    showFrame(-1);
    showMeter();
  });
  $('gan-reset').onclick = reset;
  $('gan-new-interpolation').onclick = guarded(() => lab.newInterpolation());
  $('gan-new-pool').onclick = guarded(async () => { await lab.newPool(); $('gan-groups').textContent = 'A 0 · B 0 · C 0'; });
  const pool = $('gan-pool');
  pool.onclick = guarded(async (e) => {
    const r = pool.getBoundingClientRect();
    const group = Number(document.querySelector('input[name="gan-group"]:checked').value);
    const sizes = await lab.pick((e.clientX - r.left) * pool.width / r.width, (e.clientY - r.top) * pool.height / r.height, group);
    $('gan-groups').textContent = `A ${sizes[0]} · B ${sizes[1]} · C ${sizes[2]}`;
  });
  const classifier = await fetchBytes('pretrained/classifier.bpk');
  if (classifier) {
    try { lab.loadClassifier(classifier); } catch (e) { message(`Mode-collapse meter off: ${e.message ?? e}`); }
  } else {
    message('Mode-collapse meter off: pretrained/classifier.bpk is missing.', 'warn');
  }
  await reset();
  return lab;
}

async function setupPixelCnn(app) {
  let lab;
  try {
    lab = app.pixelCnnLab({
      chart: $('pc-chart'), completion: $('pc-completion'), samples: $('pc-samples'), nextPixel: $('pc-next'),
      contributions: $('pc-contributions'), fieldPlain: $('pc-field-plain'), fieldGated: $('pc-field-gated'),
    });
  } catch (e) {
    message(`PixelCNN lab unavailable: ${e.message ?? e}`);
    return null;
  }
  $('pixelcnn').hidden = false;
  const applySettings = () => lab.setSettings(Number($('pc-batch').value), Number($('pc-lr').value), Number($('pc-seed').value));
  const showLikelihood = (r) => {
    if (r) $('pc-likelihood').textContent = `−log p(x) = ${r.nats.toFixed(1)} nats = ${r.bits_per_dim.toFixed(3)} bits/dim`;
  };
  wireTraining(lab, 'pc', {
    apply: applySettings,
    describe: (s) => (s.train ? `NLL ${s.train[0].toFixed(2)} nats · ${s.train[1].toFixed(4)} bits/dim` : '')
      + (s.test ? ` · test ${s.test[0].toFixed(2)} nats` : ''),
    afterStep: async () => showLikelihood(await lab.draw()),
  });
  const reset = guarded(async () => {
    lab.pause();
    applySettings();
    const variant = $('pc-variant').value;
    let weights;
    if ($('pc-from').value === 'pretrained') {
      weights = await fetchBytes(`pretrained/${variant === 'gated' ? 'gated-pixelcnn' : 'pixelcnn'}.bpk`);
      if (!weights) message(`No pretrained ${variant === 'gated' ? 'gated PixelCNN' : 'PixelCNN'}: starting from random weights.`, 'warn');
    }
    try {
      lab.reset(variant, weights ?? undefined);
    } catch (e) {
      message(`Pretrained PixelCNN not loaded: ${e.message ?? e}. Starting from random weights.`);
      lab.reset(variant, undefined);
    }
    showLikelihood(await lab.draw());
    preview();
  });
  $('pc-reset').onclick = reset;
  const preview = () => { $('pc-row-value').textContent = $('pc-row').value; lab.preview(Number($('pc-row').value)); };
  $('pc-digit').onchange = guarded(async () => { showLikelihood(await lab.useTestDigit(Number($('pc-digit').value))); preview(); });
  $('pc-row').oninput = guarded(preview);
  const run = (button, info, f) => guarded(async () => {
    button.disabled = true;
    try {
      const r = await f();
      $(info).textContent = `${r.pixels} pixel steps · ${r.ms_per_pixel.toFixed(1)} ms per step · ${(r.total_ms / 1000).toFixed(1)} s${r.stopped ? ' · stopped' : ''}`;
    } finally { button.disabled = false; }
  });
  const temperature = () => Number($('pc-temperature').value);
  let seed = 1;
  $('pc-complete').onclick = run($('pc-complete'), 'pc-completion-info',
    () => lab.complete(Number($('pc-row').value), Number($('pc-n').value), temperature(), seed++));
  $('pc-sample').onclick = run($('pc-sample'), 'pc-sample-info', () => lab.sample(Number($('pc-n').value), temperature(), seed++));
  $('pc-stop').onclick = () => lab.stop();
  const next = $('pc-next');
  next.onclick = guarded(async (e) => {
    const r = next.getBoundingClientRect();
    const counts = await lab.receptiveField((e.clientX - r.left) * 28 / r.width, (e.clientY - r.top) * 28 / r.height, 28);
    $('pc-field-info').textContent = `depends on ${counts[0]} pixels (PixelCNN) · ${counts[1]} pixels (gated)`;
  });
  const clearPad = drawingPad($('pc-pad'), guarded(async (pixels) => { showLikelihood(await lab.useDrawing(pixels)); preview(); }));
  $('pc-pad-clear').onclick = clearPad;
  await reset();
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
    bytes = await fetchWithProgress('data/mnist.bin.gz', (got, total) => {
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
  window.genlab.vae = await setupVae(app);
  window.genlab.gan = await setupGan(app);
  window.genlab.pixelcnn = await setupPixelCnn(app);
  window.genlab.ready = true;
}

main().catch((e) => message(`genlab failed to start: ${e.message ?? e}`));
