// The page's thread: builds each lab's section from what the lab describes, forwards every use of
// a control to the worker (worker.js), and puts what the worker sends on the page. No model runs
// here: this thread only draws pictures it is given and handles input, so it never freezes.
const $ = (id) => document.getElementById(id);
const t0 = performance.now();

function message(text, kind = 'error') {
  const div = document.createElement('div');
  div.className = `message ${kind}`;
  div.textContent = text;
  $('messages').append(div);
  return div;
}

// Anything that escapes becomes a message instead of a dead page.
addEventListener('error', (e) => message(`Unexpected error: ${e.message}`));
addEventListener('unhandledrejection', (e) => message(`Unexpected error: ${e.reason?.message ?? e.reason}`));

// The computing worker (worker.js). The link's backend goes to it at once, as its name: it picks
// which build of the wasm to download. (Not in the script's URL: served from the offline cache,
// the worker's location would lose the query.)
//
// A link that names no backend opens on the CPU-only build even where the browser offers WebGPU:
// 1.3 MB to download against 4.7 MB, so the first pictures come sooner. The build with WebGPU
// then opens behind it in a second worker and takes the labs over once it has opened them
// (`openBehind`, below) — unless it finds the CPU faster here, or a run has started meanwhile.
const asked = new URLSearchParams(location.search).get('backend') ?? '';
const opensBehind = ['', 'auto'].includes(asked.trim().toLowerCase()) && 'gpu' in navigator;
const waiting = new Map();
let nextId = 1;
// A worker that reported a failure (`failed`) answers nothing more: what is sent to it, or was
// waiting on it, is refused at once, quietly (the page already says why), so no button stays
// disabled waiting for it.
let stopped = null;
const stoppedError = Object.assign(new Error('the computing worker stopped'), { quiet: true });
let worker = startWorker(opensBehind ? 'cpu' : asked);

// A worker whose messages go to the page while it is the one in use, and to `behind` before.
function startWorker(name) {
  const w = new Worker('worker.js', { type: 'module', name });
  w.onmessage = ({ data }) => (w === worker ? handlers[data.type]?.(data) : behind?.hear(w, data));
  w.onerror = (e) => (w === worker
    ? message(`The computing worker could not start: ${e.message ?? 'see the console'}`)
    : behind?.drop(`The WebGPU build could not start (${e.message ?? 'see the console'}); the page stays on the CPU.`, 'warn'));
  return w;
}

// Sends an event to a worker (the one in use unless told); resolves with its reply, rejects with
// its error message. `coalesce`: a pointer move, of which only the last matters.
function send(event, { to = worker, coalesce = false } = {}) {
  const id = nextId++;
  if (to === worker) logForBehind(event, coalesce);
  return new Promise((resolve, reject) => {
    if (to === stopped) return reject(stoppedError);
    waiting.set(id, { resolve, reject, to });
    to.postMessage({ ...event, id });
  });
}

// Rejects every request still waiting on worker `w` with `error`.
function refuseWaiting(w, error) {
  for (const [id, { to, reject }] of waiting) if (to === w) { waiting.delete(id); reject(error); }
}

const report = (promise) => promise.catch((e) => e?.quiet || message(e.message ?? String(e)));
// Tests and benchmarks reach the page through this; `loseGpuForTest` destroys the worker's
// WebGPU device, as a driver reset would; `failWorkerForTest` makes the worker fail as a panic
// would (it reports `failed`, then answers nothing).
const genlab = {
  ready: false, settled: !opensBehind, labs: {}, send,
  loseGpuForTest: () => worker.postMessage({ type: 'test-lose-gpu' }),
  failWorkerForTest: () => worker.postMessage({ type: 'test-fail' }),
};
window.genlab = genlab;

// Element of `tag` with attributes and children.
function el(tag, attributes = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === undefined || v === false) continue;
    if (k === 'html') e.innerHTML = v;
    else if (k in e && k !== 'style' && k !== 'list') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children);
  return e;
}

// A drawing pad: white strokes on black; calls onDone with the picture as 28×28 intensities.
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
    onDone(Array.from({ length: 784 }, (_, i) => rgba[4 * i] / 255));
  };
  return clear;
}

// One control of a lab: its element, and how to read its value (null: it has none).
function control(lab, c) {
  const id = `${lab}-${c.name}`;
  const title = c.title || undefined;
  switch (c.input) {
    case 'select': {
      const select = el('select', { id }, ...c.options.map(([value, label]) => el('option', { value }, label)));
      select.value = c.value;
      return { element: el('label', { title }, `${c.label} `, select), input: select, value: () => select.value, on: 'change' };
    }
    case 'number': {
      const input = el('input', { id, type: 'number', min: c.min, max: c.max, step: c.step, value: c.value });
      return { element: el('label', { title }, `${c.label} `, input), input, value: () => input.value, on: 'change' };
    }
    case 'checkbox': {
      const input = el('input', { id, type: 'checkbox', checked: c.value, style: 'width:auto' });
      return { element: el('label', { title }, input, ` ${c.label}`), input, value: () => input.checked, on: 'change' };
    }
    case 'range': {
      const input = el('input', { id, type: 'range', min: c.min, max: c.max, value: c.value, style: 'width:8em' });
      const shown = el('span', { id: `${id}-value` }, String(c.value));
      input.addEventListener('input', () => { shown.textContent = input.value; });
      return { element: el('label', { title }, c.label ? `${c.label} ` : '', input, ' ', shown), input, value: () => input.value, on: 'input' };
    }
    case 'radio': {
      const inputs = c.options.map(([value]) => el('input', { type: 'radio', name: id, value, checked: value === c.value, style: 'width:auto' }));
      const labels = c.options.map(([, label, color], i) => el('label', {}, inputs[i], ' ', el('b', { style: `color:${color}` }, label)));
      return { element: el('span', { title }, ...labels), value: () => inputs.find((i) => i.checked)?.value ?? c.value };
    }
    case 'button':
      return { element: el('button', { id, className: c.primary ? 'primary' : undefined, title }, c.label), on: 'click' };
    case 'file': {
      // A button that opens the file picker; the chosen file's bytes go to the worker.
      const input = el('input', { id, type: 'file', accept: c.accept, style: 'display:none' });
      const button = el('button', { title, onclick: () => input.click() }, c.label);
      return { element: el('span', {}, button, input), input, on: 'file' };
    }
    case 'info':
      return { element: el('span', { id, className: 'status' }, c.value) };
    default:
      return { element: el('span', {}, `(unknown control ${c.input})`) };
  }
}

// Builds a lab's section from its spec and wires every control, canvas and pad to the worker.
function buildLab(spec) {
  const id = spec.id;
  const values = {};
  const linked = [];
  const fire = (name, extra = {}, options) => send({ lab: id, control: name, values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v()])), ...extra }, options);
  const wire = (c, made) => {
    if (made.value) values[c.name] = made.value;
    if (made.value && c.linked) linked.push(c.name);
    if (made.on === 'file') {
      made.input.addEventListener('change', async () => {
        const file = made.input.files[0];
        made.input.value = ''; // the same file chosen again is a new event
        if (file) report(fire(c.name, { value: file.name, file: new Uint8Array(await file.arrayBuffer()) }));
      });
    } else if (made.on === 'click') {
      made.element.addEventListener('click', () => {
        made.element.disabled = true;
        report(fire(c.name)).finally(() => { made.element.disabled = false; });
      });
    } else if (made.on && c.live) {
      made.input.addEventListener(made.on, () => report(fire(c.name)));
    }
    return made.element;
  };
  const controls = el('div', { className: 'controls' }, ...spec.controls.map((c) => wire(c, control(id, c))));
  const linkButton = el('button', { id: `${id}-link`, title: 'a link that opens the page with this lab\'s settings (same seed, same backend: the same curve)' }, 'Copy link');
  controls.append(linkButton);
  const status = el('div', { id: `${id}-status`, className: 'status' }, 'paused');
  const charts = el('div', { className: 'charts' }, ...spec.charts.map((c) =>
    el('canvas', { id: `${id}-${c.name}`, className: c.width < 500 ? 'chart small' : 'chart', width: c.width, height: c.height, 'aria-label': c.label })));
  const figures = spec.figures.map((f) => {
    const canvases = f.canvases.flatMap((c) => canvas(id, c, fire));
    const row = f.controls.map((c) => wire(c, control(id, c)));
    // The figure's first picture as a PNG file.
    const first = canvases[0];
    row.push(el('button', { className: 'small', title: 'download this picture as PNG', onclick: () => first.toBlob((b) => download(`genlab-${first.id}.png`, b)) }, 'PNG'));
    return el('figure', {}, ...canvases, el('div', { className: 'controls' }, ...row), el('figcaption', { html: f.caption }));
  });
  const section = el('section', { id },
    el('h2', {}, `${spec.title} `, el('small', {}, spec.family)),
    el('p', { className: 'caption', html: spec.caption }),
    controls, status, charts, el('div', { className: 'views' }, ...figures));
  $('labs').append(section);

  // Train/Pause and Step follow the worker's status; Pause shows at once (the worker stops
  // after the step in flight).
  const train = $(`${id}-train`), step = $(`${id}-step`);
  const lab = { spec, last: null, pausing: false, status: () => lab.last, send: (name, extra) => fire(name, extra) };
  // This lab's settings (and the backend) as a link to the page.
  lab.link = () => {
    const query = new URLSearchParams();
    if (genlab.backend) query.set('backend', genlab.backend);
    for (const name of linked) query.set(`${id}.${name}`, String(values[name]()));
    return `${location.origin}${location.pathname}?${query}`;
  };
  lab.values = () => Object.fromEntries(linked.map((name) => [name, String(values[name]())]));
  linkButton.onclick = async () => {
    const link = lab.link();
    history.replaceState(null, '', link);
    try {
      await navigator.clipboard.writeText(link);
      message(`Link copied: ${link}`, 'info');
    } catch {
      message(`The link (in the address bar too): ${link}`, 'info');
    }
  };
  train.addEventListener('click', () => {
    if (lab.last?.status.state !== 'running') return;
    lab.pausing = true;
    train.textContent = 'Train';
    status.textContent = status.textContent.replace(/^running/, 'paused');
  }, { capture: true });
  lab.show = (s) => {
    lab.last = s;
    const running = s.status.state === 'running' && !lab.pausing;
    if (s.status.state !== 'running') lab.pausing = false;
    train.textContent = running ? 'Pause' : 'Train';
    train.disabled = false;
    step.disabled = running;
    status.classList.toggle('diverged', s.status.state === 'diverged');
    status.textContent = lab.pausing ? s.line.replace(/^running/, 'paused') : s.line;
  };
  genlab.labs[id] = lab;
  genlab[id] = lab;
}

// A lab's canvas (and, for a drawing pad, its Clear button), with its pointer events.
function canvas(lab, c, fire) {
  const attributes = { id: `${lab}-${c.name}`, className: c.pixelated ? 'pixelated' : undefined, style: c.style || undefined, 'aria-label': c.label };
  if (c.width) Object.assign(attributes, { width: c.width, height: c.height });
  const e = el('canvas', attributes);
  const at = (ev) => { const r = e.getBoundingClientRect(); return { x: (ev.clientX - r.left) * e.width / r.width, y: (ev.clientY - r.top) * e.height / r.height }; };
  if (c.pointer === 'click') e.addEventListener('click', (ev) => report(fire(c.name, at(ev))));
  if (c.pointer === 'hover') {
    // One pointer event in flight; moves meanwhile replace the next one.
    let busy = false, next = null;
    const go = (p) => {
      busy = true;
      report(fire(c.name, p, { coalesce: true })).finally(() => { busy = false; if (next) { const n = next; next = null; go(n); } });
    };
    const move = (ev) => {
      if (ev.type === 'pointermove' && ev.pointerType !== 'mouse' && !ev.buttons) return;
      if (busy) next = at(ev); else go(at(ev));
    };
    e.addEventListener('pointermove', move);
    e.addEventListener('pointerdown', move);
  }
  if (c.pointer === 'draw') {
    const clear = drawingPad(e, (pixels) => report(fire(c.name, { pixels })));
    return [e, el('div', { className: 'controls' }, Object.assign(el('button', { id: `${lab}-${c.name}-clear` }, 'Clear'), { onclick: clear }))];
  }
  return [e];
}

const progress = $('data-progress');
const handlers = {
  started(m) {
    handlers.backend(m);
    for (const note of m.notes) message(note, 'warn');
  },
  backend(m) {
    genlab.backendMessage = m;
    const badge = $('badge');
    badge.textContent = m.badge;
    badge.title = m.title ?? '';
    badge.classList.toggle('cpu', m.backend === 'cpu');
    const toggle = $('backend-toggle');
    toggle.textContent = m.backend === 'cpu' ? 'use WebGPU' : 'use CPU';
    toggle.href = m.backend === 'cpu' ? '?backend=webgpu' : '?backend=cpu';
    genlab.backend = m.backend;
  },
  progress(m) {
    progress.querySelector('.bar').style.width = m.total ? `${(100 * m.got / m.total).toFixed(1)}%` : '50%';
    const what = m.split === 'train' ? 'training digits' : 'test digits';
    progress.querySelector('span').textContent = `loading MNIST ${what}… ${(m.got / 1e6).toFixed(1)} MB`;
  },
  data(m) {
    progress.querySelector('.bar').style.width = '100%';
    progress.querySelector('span').textContent = `MNIST: ${m.summary}`;
    $('digits-shuffle').disabled = false;
  },
  'data-error'(m) {
    progress.querySelector('span').textContent = 'MNIST could not be loaded';
    message(`Could not load MNIST: ${m.message}`);
  },
  lab(m) { buildLab(m.spec); addDemos(m.spec); addToMap(m.spec); },
  status(m) {
    genlab.labs[m.lab]?.show(m.status);
    if (ranHere(m.lab, m.status) && behind) {
      behind.drop('A run started on the CPU before the WebGPU build was ready, so it stays on the CPU (nothing is lost). "use WebGPU" at the top reopens the page on WebGPU.', 'info');
    }
    const figure = $(`map-${m.lab}`);
    if (figure) figure.textContent = m.status.headline ?? 'train or measure to see its figure';
  },
  view(m) {
    const c = m.lab === 'app' ? $(m.name) : $(`${m.lab}-${m.name}`);
    if (c) {
      if (c.width !== m.bitmap.width || c.height !== m.bitmap.height) Object.assign(c, { width: m.bitmap.width, height: m.bitmap.height });
      c.getContext('2d').drawImage(m.bitmap, 0, 0);
      // When each picture first appeared (the load benchmark reads it).
      (genlab.drawnAt ??= {})[c.id] ??= performance.now();
      if (m.name === 'digits' && genlab.firstCanvasMs === undefined) {
        genlab.firstCanvasMs = performance.now() - t0;
        $('load-time').textContent = `first canvas ${Math.round(genlab.firstCanvasMs)} ms after load`;
      }
    }
    m.bitmap.close();
  },
  text(m) { const e = $(`${m.lab}-${m.name}`); if (e) e.textContent = m.text; },
  control(m) {
    const e = $(`${m.lab}-${m.name}`);
    if (!e) {
      // A radio group has no element of its own: check the input with that value.
      for (const r of document.getElementsByName(`${m.lab}-${m.name}`)) r.checked = r.value === String(m.properties.value);
      return;
    }
    Object.assign(e, m.properties);
    const shown = $(`${m.lab}-${m.name}-value`);
    if (shown) shown.textContent = e.value;
  },
  message(m) { message(m.text, m.kind); },
  file(m) { download(m.name, new Blob([m.bytes], { type: m.mime })); },
  // What the worker fetched (the wasm, MNIST, the weights): kept for the next visit, offline.
  // The WebGPU build starts behind only now, so that its download leaves the link to the
  // training digits.
  fetched(m) {
    keepForOffline(m.urls);
    if (opensBehind && !genlab.settled && !behind) openBehind();
  },
  reply(m) {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error === undefined) w?.resolve(m.value); else w?.reject(new Error(m.error));
  },
  ready() {
    genlab.ready = true;
    $('compare-measure').disabled = $('compare-speed').disabled = false;
    // A demo from the link runs where the labs will stay: after the WebGPU build took over.
    settled.then(runDemoFromLink);
  },
  failed(m) {
    message(`The computing worker stopped: ${m.message}. Reload the page to start again.`);
    stopped = worker;
    refuseWaiting(worker, stoppedError);
  },
};

// The build with WebGPU, opening behind the CPU-only one (`opensBehind`). It opens the labs with
// their settings now, is sent every event the labs got since the page opened, and keeps what it
// would draw. When it has opened (and has the training digits) and the CPU worker has answered
// everything, it takes over: its pictures go up, the CPU worker ends. It is dropped instead when
// the browser has no adapter, when "auto" finds the CPU faster here (it times both), or when a
// run starts on the CPU before it is ready: a run is never moved or lost.
let behind = null;
// Every event sent since the page opened, for the build behind to catch up with; emptied (a
// loaded file's bytes with it) and no longer kept once that is settled.
const backlog = [];
let settle;
const settled = new Promise((resolve) => { settle = () => { genlab.settled = true; backlog.length = 0; resolve(); }; });
if (!opensBehind) settle();
function logForBehind(event, coalesce) {
  if (genlab.settled || (event.lab === 'app' && event.control !== 'digits')) return; // measurements stay as shown
  const last = backlog.at(-1);
  if (coalesce && last?.coalesce && last.event.lab === event.lab && last.event.control === event.control) backlog.pop();
  backlog.push({ event, coalesce });
}
// The step each lab opened at: a lab that runs, or whose step moved (not back to 0, a reset), ran here.
const openedAt = {};
function ranHere(lab, s) {
  openedAt[lab] ??= s.step;
  return s.status.state === 'running' || (s.step !== openedAt[lab] && s.step > 0);
}

async function openBehind() {
  if (!genlab.ready) return settle(); // the labs did not open (no test digits): nothing to take over
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) {
    message('Running on the CPU: this browser offers no WebGPU adapter.', 'warn');
    return settle();
  }
  if (Object.values(genlab.labs).some((lab) => lab.last && ranHere(lab.spec.id, lab.last))) {
    return settle(); // a run already started on the CPU: it stays there
  }
  // Tests name the backend here: on a software adapter "auto" always finds the CPU faster.
  const w = startWorker(self.genlabTestBehind ?? asked);
  const kept = new Map(); // its latest picture, text, control and status, by what they go to
  let started = null, moving = false;
  $('badge').textContent += ' · WebGPU opening…';
  behind = {
    hear(from, m) {
      if (behind?.worker !== from) return;
      switch (m.type) {
        case 'started':
          started = m;
          for (const note of m.notes) message(note, 'warn');
          if (m.backend !== 'webgpu') behind.drop(null, null, m); // "auto" timed both: the CPU is faster here
          break;
        case 'reply': handlers.reply(m); break;
        case 'view': kept.get(`view ${m.lab} ${m.name}`)?.bitmap.close(); kept.set(`view ${m.lab} ${m.name}`, m); break;
        case 'text': kept.set(`text ${m.lab} ${m.name}`, m); break;
        case 'status': kept.set(`status ${m.lab}`, m); break;
        case 'control': {
          const key = `control ${m.lab} ${m.name}`;
          kept.set(key, { ...m, properties: { ...kept.get(key)?.properties, ...m.properties } });
          break;
        }
        case 'backend': started = m; break;
        case 'fetched': keepForOffline(m.urls); catchUp(); break; // opened, the training digits in
        case 'failed': behind.drop(`The WebGPU build stopped (${m.message}); the page stays on the CPU.`, 'warn'); break;
        case 'data-error': behind.drop(`The WebGPU build could not load MNIST (${m.message}); the page stays on the CPU.`, 'warn'); break;
        default: break; // the data's progress, the labs' sections, messages: the page has them from the CPU worker
      }
    },
    drop(text, kind, badge) {
      if (behind?.worker !== w) return;
      behind = null;
      w.terminate();
      for (const m of kept.values()) m.bitmap?.close();
      refuseWaiting(w, new Error('dropped'));
      handlers.backend(badge ?? genlab.backendMessage);
      if (text) message(text, kind);
      settle();
    },
    worker: w,
  };
  // Then everything the labs were sent, in order, until the CPU worker has nothing in flight.
  async function catchUp() {
    if (moving) return;
    moving = true;
    while (behind?.worker === w) {
      const next = backlog.shift();
      if (next) {
        await send(next.event, { to: w }).catch(() => {});
      } else if ([...waiting.values()].some(({ to }) => to === worker)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      } else {
        const old = worker;
        worker = w;
        behind = null;
        handlers.backend(started);
        for (const m of kept.values()) handlers[m.type](m);
        old.terminate();
        message('WebGPU is ready: the labs moved to it.', 'info');
        settle();
      }
    }
  }
  w.postMessage({ type: 'start', given: Object.fromEntries(Object.values(genlab.labs).map((lab) => [lab.spec.id, lab.values()])) });
}

// Offers `blob` as a file named `name`.
function download(name, blob) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// The link's settings: `?backend=cpu&vae.latent=20&gan.k=2` → {vae: {latent: '20'}, gan: {k: '2'}}.
// The worker checks each value against its control; a key that names nothing is a message.
const query = new URLSearchParams(location.search);
const given = {};
for (const [key, value] of query) {
  const dot = key.indexOf('.');
  if (dot > 0) (given[key.slice(0, dot)] ??= {})[key.slice(dot + 1)] = value;
  else if (!['backend', 'projector'].includes(key)) message(`The link's '${key}' is not a setting of this page; it is ignored.`, 'warn');
}

// Keyboard, for the lab in view: space Train/Pause, s Step, r Reset; p the projector's large type.
function labInView() {
  const middle = innerHeight / 2;
  const sections = [...document.querySelectorAll('#labs > section')];
  return sections.find((s) => { const r = s.getBoundingClientRect(); return r.top <= middle && r.bottom >= middle; })
    ?? sections.find((s) => { const r = s.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; });
}
addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest?.('input, select, textarea')) return;
  if (e.key === 'p') return toggleProjector();
  const button = { ' ': 'train', s: 'step', r: 'reset' }[e.key];
  const section = button && labInView();
  if (!section) return;
  e.preventDefault();
  const target = $(`${section.id}-${button}`);
  if (target && !target.disabled) target.click();
});
function toggleProjector() {
  document.body.classList.toggle('projector');
  $('projector').setAttribute('aria-pressed', document.body.classList.contains('projector'));
}
$('projector').onclick = toggleProjector;
if (query.get('projector') === '1') toggleProjector();

// Offline after one visit: a service worker (sw.js) keeps the page, the wasm, MNIST and the
// weights this visit fetched, and serves them when the network is gone.
const serviceWorker = 'serviceWorker' in navigator
  ? navigator.serviceWorker.register('sw.js').then(() => navigator.serviceWorker.ready).catch((e) => { console.warn('service worker:', e); return null; })
  : Promise.resolve(null);
async function keepForOffline(workerUrls) {
  const registration = await serviceWorker;
  if (!registration?.active) return;
  const urls = [location.href, ...performance.getEntriesByType('resource').map((e) => e.name), ...workerUrls];
  const channel = new MessageChannel();
  const answer = new Promise((resolve) => { channel.port1.onmessage = (e) => resolve(e.data); });
  registration.active.postMessage({ type: 'cache', urls }, [channel.port2]);
  const { cached } = await answer;
  genlab.offline = cached;
  $('offline').textContent = ` · available offline (${cached} files kept)`;
}

// The lecture's map: the taxonomy of generative models, built from each lab's family
// ("explicit, tractable density" → explicit density → tractable), each leaf a link to its lab
// with the figure of the model loaded there and the family's trade-off.
function addToMap(spec) {
  const [kind, detail] = spec.family.split(',').map((s) => s.trim());
  const branch = (parent, name) => {
    let li = [...parent.children].find((c) => c.dataset.name === name);
    if (!li) {
      li = el('li', { 'data-name': name }, el('span', { className: 'branch' }, name), el('ul'));
      parent.append(li);
    }
    return li.querySelector('ul');
  };
  let list = branch($('map-tree'), kind.endsWith('density') ? kind : `${kind} density`);
  if (detail) list = branch(list, detail);
  list.append(el('li', { className: 'leaf' }, el('a', { href: `#${spec.id}` }, spec.title), ': ',
    el('span', { id: `map-${spec.id}`, className: 'figure' }, '…'), el('div', { className: 'tradeoff' }, spec.tradeoff)));
}

// The lecture's demonstrations: each lab lists its own; `#demo=NAME` runs one (sets the lab's
// controls, presses its buttons) and shows what to watch beside the lab.
const demos = new Map();
function addDemos(spec) {
  for (const demo of spec.demos) {
    demos.set(demo.name, { ...demo, lab: spec.id });
    $('demo-list').append(el('li', {}, el('a', { href: `#demo=${demo.name}` }, demo.title)));
  }
  $('demos').hidden = demos.size === 0;
}
async function runDemo(name) {
  const demo = demos.get(name);
  if (!demo) return message(`There is no demo '${name}'. The demos: ${[...demos.keys()].join(', ')}.`, 'warn');
  const section = $(demo.lab);
  section.querySelector('.demo-note')?.remove();
  const note = el('div', { className: 'demo-note', role: 'note' },
    el('button', { className: 'small close', title: 'close', onclick: () => note.remove() }, '×'),
    el('b', {}, `${demo.title}. `), el('span', { html: demo.note }));
  section.querySelector('.controls').before(note);
  section.scrollIntoView({ behavior: 'smooth', block: 'start' });
  await report(genlab.labs[demo.lab].send('demo', { value: name }));
}
function runDemoFromLink() {
  const name = new URLSearchParams(location.hash.slice(1)).get('demo');
  if (name !== null) genlab.demo = runDemo(name);
}
addEventListener('hashchange', () => { if (genlab.ready) runDemoFromLink(); });

// The comparison panel: rows the worker measures, as tables.
function fillTable(id, rows, columns) {
  $(id).querySelector('tbody').replaceChildren(...rows.map((r) => el('tr', {}, ...columns.map((c) => el('td', {}, String(r[c] ?? '—'))))));
}
async function pressed(button, work) {
  button.disabled = true;
  try { await report(work()); } finally { button.disabled = false; }
}
genlab.compare = (k = Number($('compare-k').value)) => send({ lab: 'app', control: 'compare', value: { k, digits: 1000 } })
  .then((rows) => { fillTable('compare-table', rows, ['lab', 'model', 'measure', 'ours', 'paper']); return rows; });
genlab.speed = (backends) => send({ lab: 'app', control: 'speed', value: backends ? { backends } : {} })
  .then((rows) => { fillTable('speed-table', rows, ['lab', 'backend', 'workload', 'images_per_s', 'launches_per_step']); return rows; });
$('compare-measure').onclick = () => pressed($('compare-measure'), () => genlab.compare());
$('compare-speed').onclick = () => pressed($('compare-speed'), () => genlab.speed());

let digitsSeed = 1;
$('digits-shuffle').onclick = () => report(send({ lab: 'app', control: 'digits', value: ++digitsSeed }));
worker.postMessage({ type: 'start', given }); // the backend went as the worker's name
