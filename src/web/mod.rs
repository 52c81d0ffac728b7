//! The web side, run inside a dedicated Web Worker (www/worker.js): the worker owns the device,
//! the data and every model, and the page's thread (www/main.js) only draws what it is sent and
//! forwards input. Messages are small: events in; status, text, and pictures out.
//!
//! Pictures leave as `ImageBitmap`s: each view draws on an `OffscreenCanvas` of the worker's own
//! ([`Surface`]) and transfers a bitmap of it, which the page puts on an ordinary canvas with one
//! `drawImage`. (Transferring the page's canvases themselves, `transferControlToOffscreen`, would
//! leave the page unable to read or resize them, and a worker's offscreen canvas shows its
//! drawing only when the worker's task ends: a long training step would hold a picture back.)

mod gan;
mod lab;
mod pixelcnn;
// The pace rule of the pictures at open, for the browser tests.
pub use pixelcnn::{UNASKED_BUDGET_MS, projected_sampling_ms};
pub mod spec;
mod vae;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{ImageData, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

use crate::data::{Dataset, Mnist};
use crate::device::{self, Backend, Choice};
use crate::render::{Rgba, image_grid};
use crate::rng::Rng;

use lab::AnyLab;
use spec::Event;

unsafe extern "C" {
    /// The linker-made function that runs static constructors (cubecl registers its IR types
    /// through `inventory`).
    fn __wasm_call_ctors();
}

/// Runs the static constructors, once. Calling them from an export marks the module as a
/// library ("reactor") for wasm-ld; otherwise it wraps *every* export in a call to them, which
/// measured 0.16 ms per call from JavaScript. Every instance runs this at instantiation (the
/// worker's too: wasm-bindgen's start function); browser tests call it first.
pub fn run_constructors() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| unsafe { __wasm_call_ctors() });
}

#[wasm_bindgen(start)]
fn start() {
    run_constructors();
}

/// Sends messages to the page: `post(message, transfer)`, the worker's `postMessage`.
#[derive(Clone)]
pub(crate) struct Outbox(js_sys::Function);

impl Outbox {
    fn post(&self, message: &JsValue, transfer: &js_sys::Array) {
        if let Err(e) = self.0.call2(&JsValue::NULL, message, transfer) {
            log::warn!("posting to the page failed: {e:?}");
        }
    }

    pub fn send(&self, message: serde_json::Value) {
        self.post(&to_js(&message), &js_sys::Array::new());
    }

    /// A message for the user: "error", "warn" or "info".
    pub fn message(&self, kind: &str, text: &str) {
        self.send(serde_json::json!({ "type": "message", "kind": kind, "text": text }));
    }

    /// New text for an info line of a lab.
    pub fn text(&self, lab: &str, name: &str, text: &str) {
        self.send(serde_json::json!({ "type": "text", "lab": lab, "name": name, "text": text }));
    }

    /// New properties of a lab's control (e.g. a slider's max and value).
    pub fn control(&self, lab: &str, name: &str, properties: serde_json::Value) {
        self.send(serde_json::json!({ "type": "control", "lab": lab, "name": name, "properties": properties }));
    }

    /// A file for the user to download (saved weights, curves): the page offers it by `name`.
    pub fn file(&self, name: &str, mime: &str, bytes: Vec<u8>) {
        let data = js_sys::Uint8Array::from(bytes.as_slice());
        let message = js_sys::Object::new();
        for (k, v) in [("type", JsValue::from("file")), ("name", name.into()), ("mime", mime.into()), ("bytes", data.clone().into())] {
            let _ = js_sys::Reflect::set(&message, &k.into(), &v);
        }
        self.post(&message, &js_sys::Array::of1(&data.buffer()));
    }

    fn bitmap(&self, lab: &str, name: &str, bitmap: web_sys::ImageBitmap) {
        let message = js_sys::Object::new();
        for (k, v) in [("type", JsValue::from("view")), ("lab", lab.into()), ("name", name.into()), ("bitmap", bitmap.clone().into())] {
            let _ = js_sys::Reflect::set(&message, &k.into(), &v);
        }
        self.post(&message, &js_sys::Array::of1(&bitmap));
    }
}

/// A picture of a lab: an offscreen canvas in the worker whose every drawing is sent to the page
/// canvas `<lab>-<name>`.
pub(crate) struct Surface {
    lab: &'static str,
    name: &'static str,
    canvas: OffscreenCanvas,
    out: Outbox,
}

impl Surface {
    pub fn new(lab: &'static str, name: &'static str, width: u32, height: u32, out: &Outbox) -> Result<Surface, String> {
        let canvas = OffscreenCanvas::new(width.max(1), height.max(1)).map_err(|e| format!("OffscreenCanvas: {e:?}"))?;
        Ok(Surface { lab, name, canvas, out: out.clone() })
    }

    /// Shows an RGBA picture (the canvas takes its size; CSS scales it for display).
    pub fn show(&self, image: &Rgba) -> Result<(), String> {
        self.show_with(image, |_| Ok(()))
    }

    /// Draws with the 2-D API (`draw` gets the canvas, at the size the lab declared), then shows it.
    pub fn paint(&self, draw: impl FnOnce(&OffscreenCanvas) -> Result<(), String>) -> Result<(), String> {
        draw(&self.canvas)?;
        self.publish()
    }

    /// Draws an RGBA picture, then more on top with the 2-D API (labels), then shows it.
    pub fn show_with(&self, image: &Rgba, overlay: impl FnOnce(&OffscreenCanvasRenderingContext2d) -> Result<(), String>) -> Result<(), String> {
        self.canvas.set_width(image.width as u32);
        self.canvas.set_height(image.height as u32);
        let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&image.pixels), image.width as u32, image.height as u32)
            .map_err(|e| format!("ImageData: {e:?}"))?;
        let ctx = self.context()?;
        ctx.put_image_data(&data, 0.0, 0.0).map_err(|e| format!("putImageData: {e:?}"))?;
        overlay(&ctx)?;
        self.publish()
    }

    /// A short message on an otherwise empty view.
    pub fn placeholder(&self, text: &str) -> Result<(), String> {
        self.canvas.set_width(560);
        self.canvas.set_height(60);
        let ctx = self.context()?;
        ctx.set_fill_style_str("#1e2127");
        ctx.fill_rect(0.0, 0.0, 560.0, 60.0);
        ctx.set_font("15px sans-serif");
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text(text, 12.0, 36.0).map_err(|e| format!("{e:?}"))?;
        self.publish()
    }

    fn context(&self) -> Result<OffscreenCanvasRenderingContext2d, String> {
        crate::render::chart::context(&self.canvas)
    }

    fn publish(&self) -> Result<(), String> {
        let bitmap = self.canvas.transfer_to_image_bitmap().map_err(|e| format!("transferToImageBitmap: {e:?}"))?;
        self.out.bitmap(self.lab, self.name, bitmap);
        Ok(())
    }
}

/// What every lab shares: the device, the data and the way to the page.
pub(crate) struct Shared {
    backend: RefCell<Backend>,
    /// Bumped when the device changes under the labs (WebGPU lost): each lab moves its model at
    /// its next action.
    device_generation: Cell<u32>,
    /// The digits on the host: the test split from the start, the training split once it arrived.
    data: RefCell<Arc<Mnist>>,
    /// The same digits on the device the labs train on (autodiff enabled), uploaded once.
    dataset: RefCell<Dataset>,
    /// Why the training digits will not come, if they failed to load.
    training_failed: RefCell<Option<String>>,
    pub out: Outbox,
}

/// Where the training digits are: the page loads them after the test digits the views need.
pub(crate) enum TrainingDigits {
    Arriving,
    Here,
    Failed(String),
}

impl Shared {
    pub fn device(&self) -> burn::tensor::Device {
        self.backend.borrow().device.clone()
    }

    pub fn dataset(&self) -> Dataset {
        self.dataset.borrow().clone()
    }

    pub fn data(&self) -> Arc<Mnist> {
        self.data.borrow().clone()
    }

    pub fn training_digits(&self) -> TrainingDigits {
        match (&*self.training_failed.borrow(), self.dataset.borrow().train.is_some()) {
            (_, true) => TrainingDigits::Here,
            (Some(e), false) => TrainingDigits::Failed(e.clone()),
            (None, false) => TrainingDigits::Arriving,
        }
    }

    /// The training digits arrived: every lab trains on them from its next step.
    fn add_training(&self, train: crate::data::Split) {
        let data = Arc::new(Mnist { train, test: self.data().test.clone() });
        *self.dataset.borrow_mut() = Dataset::new(data.clone(), &self.device().autodiff());
        *self.data.borrow_mut() = data;
    }

    pub fn is_gpu(&self) -> bool {
        self.backend.borrow().is_gpu
    }

    /// See [`Backend::quick`].
    pub fn is_quick(&self) -> bool {
        self.backend.borrow().quick
    }

    pub fn device_generation(&self) -> u32 {
        self.device_generation.get()
    }

    /// WebGPU stopped working (the device was lost, or a read-back failed): from now on every
    /// lab runs on the CPU. Says so once, and updates the badge.
    pub fn lose_gpu(&self, reason: &str) {
        if !self.is_gpu() {
            return;
        }
        let cpu = Backend { label: "CPU (flex) · WebGPU was lost".into(), ..Backend::cpu(None) };
        self.out.send(serde_json::json!({ "type": "backend", "backend": "cpu", "badge": cpu.label, "title": reason }));
        *self.dataset.borrow_mut() = Dataset::new(self.data(), &cpu.device.clone().autodiff());
        *self.backend.borrow_mut() = cpu;
        self.device_generation.set(self.device_generation.get() + 1);
        self.out.message("warn", &format!("WebGPU stopped working ({reason}): the labs go on on the CPU from their last good weights."));
    }
}

/// The worker's app: the device, the data, and the labs; `handle` takes the page's events.
#[wasm_bindgen]
pub struct App {
    backend: Backend,
    out: Outbox,
    notes: Vec<String>,
    data: RefCell<Option<Arc<Mnist>>>,
    shared: RefCell<Option<Rc<Shared>>>,
    labs: RefCell<Vec<Rc<dyn AnyLab>>>,
    /// The controls a link set, by lab.
    given: RefCell<serde_json::Map<String, serde_json::Value>>,
}

#[wasm_bindgen]
impl App {
    /// Starts the backend. `backend` is the `?backend=` URL parameter (auto, webgpu, cpu, or
    /// absent); `post(message, transfer)` sends to the page. Never fails: a bad parameter or a
    /// missing GPU becomes a note the page shows.
    pub async fn start(backend: Option<String>, post: js_sys::Function) -> App {
        console_error_panic_hook::set_once();
        // burn's and cubecl's own warnings (e.g. a shader that failed validation) go to the console.
        let _ = console_log::init_with_level(log::Level::Warn);
        let mut notes = Vec::new();
        let choice = Choice::parse(backend.as_deref()).unwrap_or_else(|e| {
            notes.push(e);
            Choice::Auto
        });
        let backend = device::init(choice, &crate::train::now_ms).await;
        notes.extend(backend.note.clone());
        App { notes, ..App::with_backend(backend, post) }
    }

    /// {backend: "webgpu" | "cpu", badge, title, notes}: what the page's badge and messages show.
    pub fn describe(&self) -> JsValue {
        to_js(&serde_json::json!({
            "backend": self.backend.name(), "badge": self.backend.label, "title": self.backend.timing,
            "notes": self.notes,
        }))
    }

    /// Fetches the test digits, opens the labs with the controls a link set (`given`: `{lab:
    /// {control: value}}`, or undefined) — their pretrained views need nothing more — then fetches
    /// the training digits, which Train waits for. Progress messages as each file arrives. Missing
    /// or damaged test digits are an error naming the problem, and the labs stay closed; missing
    /// training digits are a message, and only training waits in vain. `test_download`: the
    /// worker's `fetch(test_url)`, started beside the wasm's download (undefined: fetched here).
    pub async fn open(&self, test_url: String, test_download: Option<js_sys::Promise>, train_url: String, given: JsValue) -> Result<String, JsError> {
        *self.given.borrow_mut() = if given.is_undefined() || given.is_null() {
            Default::default()
        } else {
            serde_wasm_bindgen::from_value(given).unwrap_or_else(|e| {
                self.out.message("warn", &format!("The link's settings could not be read ({e}); the defaults are used."));
                Default::default()
            })
        };
        let test = match test_download {
            Some(started) => Ok(Download::started(&test_url, started)),
            None => Download::start(&test_url),
        };
        let test = self.read_split(test, "test").await.map_err(|e| JsError::new(&e))?;
        let summary = self.open_with(Mnist { train: crate::data::Split::empty(), test }, None).await;
        let shared = self.shared.borrow().clone().expect("open_with shares the data");
        match self.read_split(Download::start(&train_url), "train").await {
            Ok(train) => {
                shared.add_training(train);
                let data = shared.data();
                *self.data.borrow_mut() = Some(data.clone());
                let summary = format!("{} training and {} test digits", data.train.len(), data.test.len());
                self.out.send(serde_json::json!({ "type": "data", "summary": summary }));
            }
            Err(e) => {
                self.out.message("error", &format!("The training digits could not be loaded ({e}): the pretrained models and their pictures work; training needs them — reload the page to try again."));
                *shared.training_failed.borrow_mut() = Some(e);
            }
        }
        Ok(summary)
    }

    /// One split's asset, with progress messages naming it.
    async fn read_split(&self, download: Result<Download, String>, name: &'static str) -> Result<crate::data::Split, String> {
        let download = download?;
        let url = download.url.clone();
        let out = self.out.clone();
        let bytes = download
            .bytes(&move |got, total| {
                out.send(serde_json::json!({ "type": "progress", "split": name, "got": got, "total": total }));
            })
            .await?
            .ok_or_else(|| format!("{url}: not found"))?;
        crate::data::Split::from_asset(&bytes, name).map_err(|e| e.to_string())
    }

    /// Opens the labs on a gzipped MNIST asset already in memory.
    #[wasm_bindgen(js_name = openAsset)]
    pub async fn open_asset(&self, bytes: &[u8]) -> Result<String, JsError> {
        let mnist = Mnist::from_asset(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(self.open_with(mnist, None).await)
    }

    /// Handles one event from the page ({lab, control, values, x, y, pixels, value}); the error
    /// is a message for the user. Events for the app itself have lab "app".
    pub async fn handle(&self, event: JsValue) -> Result<JsValue, JsError> {
        // A file's bytes travel as a Uint8Array beside the event's fields.
        let file = js_sys::Reflect::get(&event, &"file".into()).ok().and_then(|f| f.dyn_into::<js_sys::Uint8Array>().ok()).map(|f| f.to_vec());
        let mut event: Event = serde_wasm_bindgen::from_value(event).map_err(|e| JsError::new(&format!("a malformed event: {e}")))?;
        event.file = file.unwrap_or_default();
        if event.lab == "app" {
            return self.handle_app(event).await.map(|v| to_js(&v)).map_err(|e| JsError::new(&e));
        }
        let lab = self.labs.borrow().iter().find(|l| l.id() == event.lab).cloned();
        let lab = lab.ok_or_else(|| JsError::new(&format!("no lab '{}' (is MNIST loaded?)", event.lab)))?;
        lab.handle(event).await.map(|v| to_js(&v)).map_err(|e| JsError::new(&e))
    }
}

impl App {
    /// An app on a backend chosen by the caller (browser tests run on both).
    pub fn with_backend(backend: Backend, post: js_sys::Function) -> App {
        App {
            backend,
            out: Outbox(post),
            notes: Vec::new(),
            data: RefCell::new(None),
            shared: RefCell::new(None),
            labs: RefCell::new(Vec::new()),
            given: RefCell::default(),
        }
    }

    /// Opens one lab (or all) on the small fixture built into the binary (tests).
    pub async fn open_fixture(&self, only: Option<&str>) -> String {
        self.open_with(Mnist::fixture(), only).await
    }

    async fn open_with(&self, mnist: Mnist, only: Option<&str>) -> String {
        let summary = match mnist.train.len() {
            0 => format!("{} test digits; the training digits are on their way", mnist.test.len()),
            n => format!("{n} training and {} test digits", mnist.test.len()),
        };
        let data = Arc::new(mnist);
        *self.data.borrow_mut() = Some(data.clone());
        self.out.send(serde_json::json!({ "type": "data", "summary": summary }));
        if let Err(e) = self.draw_digits(1) {
            self.out.message("error", &format!("The MNIST grid could not be drawn: {e}"));
        }
        let dataset = RefCell::new(Dataset::new(data.clone(), &self.backend.device.clone().autodiff()));
        let shared = Rc::new(Shared {
            backend: RefCell::new(self.backend.clone()),
            device_generation: Cell::new(0),
            data: RefCell::new(data),
            dataset,
            training_failed: RefCell::new(None),
            out: self.out.clone(),
        });
        *self.shared.borrow_mut() = Some(shared.clone());
        let mut given = std::mem::take(&mut *self.given.borrow_mut());
        for (id, open) in lab::all() {
            let mine = given.remove(id).and_then(|v| v.as_object().cloned()).unwrap_or_default();
            if only.is_some_and(|only| only != id) {
                continue;
            }
            match open(&shared) {
                Ok(lab) => {
                    self.labs.borrow_mut().push(lab.clone());
                    lab.open(mine).await;
                }
                Err(e) => self.out.message("error", &e),
            }
        }
        if only.is_none() {
            for id in given.keys() {
                self.out.message("warn", &format!("The link names a lab '{id}' this page does not have; its settings are ignored."));
            }
        }
        self.out.send(serde_json::json!({ "type": "ready" }));
        summary
    }

    async fn handle_app(&self, event: Event) -> Result<serde_json::Value, String> {
        match event.control.as_str() {
            "digits" => self.draw_digits(event.value.as_u64().unwrap_or(1)).map(|_| serde_json::Value::Null),
            "bench" => {
                let field = |k: &str| event.value.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                let steps = event.value.get("steps").and_then(|v| v.as_u64()).unwrap_or(20) as usize;
                let (workload, backend) = (field("workload"), field("backend"));
                let device = match backend.as_str() {
                    "cpu" => burn::tensor::Device::flex(),
                    "webgpu" => self.backend.gpu.clone().ok_or("WebGPU is not available here")?,
                    other => return Err(format!("backend '{other}' is not available here")),
                };
                let calls = || (backend == "webgpu").then(gpu_calls).flatten();
                let result = crate::bench::run(&workload, device, steps, &crate::train::now_ms, &calls).await?;
                Ok(serde_json::to_value(result.with_backend(&backend)).unwrap_or_default())
            }
            // The comparison panel: every lab's model measured on the same test digits.
            "compare" => {
                let k = event.value.get("k").and_then(|v| v.as_u64()).unwrap_or(50) as usize;
                let digits = event.value.get("digits").and_then(|v| v.as_u64()).unwrap_or(1000) as usize;
                if !(1..=5000).contains(&k) || !(1..=10_000).contains(&digits) {
                    return Err(format!("k = {k} or {digits} digits is out of range (k 1–5000, digits 1–10 000)"));
                }
                let mut rows = Vec::new();
                // A copy of the list: a borrow held across the awaits would refuse a lab opening meanwhile.
                let labs = self.labs.borrow().clone();
                for lab in labs {
                    let id = lab.id();
                    match lab.compare(k, digits).await {
                        Ok(r) => rows.extend(r),
                        Err(e) => self.out.message("warn", &format!("Compare: {id}: {e}")),
                    }
                }
                Ok(serde_json::Value::from(rows))
            }
            // Each lab's training speed on each backend this page has (or those asked for).
            "speed" => {
                let asked: Vec<String> =
                    event.value.get("backends").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_else(|| vec!["cpu".into(), "webgpu".into()]);
                let mut rows = Vec::new();
                for backend in asked {
                    let device = match backend.as_str() {
                        "cpu" => burn::tensor::Device::flex(),
                        "webgpu" => match self.backend.gpu.clone() {
                            Some(gpu) => gpu,
                            None => continue,
                        },
                        other => return Err(format!("backend '{other}' is not available here")),
                    };
                    let labs = self.labs.borrow().clone();
                    for lab in labs {
                        for workload in lab.bench() {
                            let calls = || (backend == "webgpu").then(gpu_calls).flatten();
                            let result = crate::bench::run(workload, device.clone(), 3, &crate::train::now_ms, &calls).await?;
                            let launches = result.per_step.map(|c| c.dispatches);
                            rows.push(serde_json::json!({ "lab": lab.id(), "backend": backend, "workload": workload, "images_per_s": result.images_per_s.round(), "launches_per_step": launches }));
                            yield_now().await;
                        }
                    }
                }
                Ok(serde_json::Value::from(rows))
            }
            // The worker saw its WebGPU device lost (worker.js watches `GPUDevice.lost`).
            "gpu-lost" => {
                let reason = event.value.as_str().unwrap_or("the device was lost").to_string();
                if let Some(shared) = self.shared.borrow().clone() {
                    shared.lose_gpu(&reason);
                }
                for lab in self.labs.borrow().clone() {
                    lab.follow_device();
                }
                Ok(serde_json::Value::Null)
            }
            other => Err(format!("unknown command '{other}'")),
        }
    }

    /// `count` random training digits (test digits while those are on their way) with their
    /// labels on the page's data canvas.
    fn draw_digits(&self, seed: u64) -> Result<(), String> {
        let data = self.data.borrow().clone().ok_or("MNIST is not loaded yet")?;
        let split = if data.train.is_empty() { &data.test } else { &data.train };
        let mut rng = Rng::new(seed);
        let (count, cols, scale) = (48, 16, 3);
        let indices: Vec<usize> = (0..count).map(|_| rng.below(split.len())).collect();
        let grid = image_grid(&split.intensities(&indices), cols, 2).scaled(scale);
        let surface = Surface::new("app", "digits", 1, 1, &self.out)?;
        surface.show_with(&grid, |ctx| {
            ctx.set_font("bold 13px sans-serif");
            ctx.set_fill_style_str("#ffd54f");
            for (k, &i) in indices.iter().enumerate() {
                let (x, y) = ((k % cols) * 30 * scale, (k / cols) * 30 * scale);
                ctx.fill_text(&split.labels[i].to_string(), x as f64 + 3.0, y as f64 + 14.0).map_err(|e| format!("{e:?}"))?;
            }
            Ok(())
        })
    }
}

/// Fetches `url` from the worker (or page), reporting progress; `Ok(None)` when it is not there
/// (404), an error for a network failure.
pub(crate) async fn fetch_bytes(url: &str, progress: &dyn Fn(usize, usize)) -> Result<Option<Vec<u8>>, String> {
    Download::start(url)?.bytes(progress).await
}

/// A download on its way: the request goes out when this is made (a JS promise runs at once), so
/// files the first pictures need share the link instead of waiting for each other.
pub(crate) struct Download {
    url: String,
    response: js_sys::Promise,
}

impl Download {
    pub fn start(url: &str) -> Result<Download, String> {
        use js_sys::Reflect;
        let global = js_sys::global();
        let fetch: js_sys::Function = Reflect::get(&global, &"fetch".into()).map_err(|_| "no fetch here")?.dyn_into().map_err(|_| "no fetch here")?;
        let response = fetch.call1(&global, &url.into()).map_err(|e| format!("{url}: {}", js_message(&e)))?;
        Ok(Download::started(url, response.into()))
    }

    /// A download the worker's script started before the wasm was running (`fetch(url)`).
    pub fn started(url: &str, response: js_sys::Promise) -> Download {
        // A failure nobody awaits (a record fetched beside weights that failed) is not the worker's
        // failure: a handler marks the promise handled; `bytes` still sees the error.
        IGNORE.with(|ignore| {
            let _ = response.catch(ignore);
        });
        Download { url: url.to_string(), response }
    }

    /// The whole body; `Ok(None)` for a 404.
    pub async fn bytes(self, progress: &dyn Fn(usize, usize)) -> Result<Option<Vec<u8>>, String> {
        use js_sys::{Reflect, Uint8Array};
        use wasm_bindgen_futures::JsFuture;
        let url = &self.url;
        let failed = |e: JsValue| format!("{url}: {}", js_message(&e));
        let response: web_sys::Response = JsFuture::from(self.response).await.map_err(failed)?.dyn_into().map_err(failed)?;
        if response.status() == 404 {
            return Ok(None);
        }
        if !response.ok() {
            return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
        }
        let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        let Some(body) = response.body() else { return Ok(Some(Vec::new())) };
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().dyn_into().map_err(|o: js_sys::Object| failed(o.into()))?;
        let mut bytes = Vec::with_capacity(total);
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
            if Reflect::get(&chunk, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
                break;
            }
            let value: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(failed)?.dyn_into().map_err(failed)?;
            let at = bytes.len();
            bytes.resize(at + value.length() as usize, 0);
            value.copy_to(&mut bytes[at..]);
            progress(bytes.len(), total);
        }
        Ok(Some(bytes))
    }
}

/// A JS error's message, or its debug form.
pub(crate) fn js_message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

thread_local! {
    /// A promise handler that does nothing (see [`Download::started`]).
    static IGNORE: Closure<dyn FnMut(JsValue)> = Closure::new(|_| {});
}

thread_local! {
    /// One message channel, kept for the worker's life: posting to it queues a task with no delay
    /// (a timer chain gets clamped to 4 ms per link).
    static YIELD: (web_sys::MessageChannel, Rc<RefCell<VecDeque<js_sys::Function>>>) = {
        let channel = web_sys::MessageChannel::new().expect("MessageChannel");
        let waiting: Rc<RefCell<VecDeque<js_sys::Function>>> = Rc::default();
        let queue = waiting.clone();
        let wake = Closure::<dyn FnMut()>::new(move || {
            if let Some(resolve) = queue.borrow_mut().pop_front() {
                let _ = resolve.call0(&JsValue::NULL);
            }
        });
        channel.port1().set_onmessage(Some(wake.as_ref().unchecked_ref()));
        wake.forget();
        (channel, waiting)
    };
}

/// Lets the worker take the page's messages (Pause, Stop, a pointer) before the next piece of work.
pub(crate) async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        YIELD.with(|(channel, waiting)| {
            waiting.borrow_mut().push_back(resolve);
            let _ = channel.port2().post_message(&JsValue::NULL);
        });
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Resolves after `ms` milliseconds (a timer, so waiting costs no work).
pub(crate) async fn sleep_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Ok(set_timeout) = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
            let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from(ms));
        } else {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A [rows, cols] tensor of `values` on `device`.
pub(crate) fn tensor(values: Vec<f32>, shape: [usize; 2], device: &burn::tensor::Device) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}

/// Reads a float tensor back without blocking (a sync read panics on WebGPU).
pub(crate) async fn read(tensor: burn::tensor::Tensor<2>) -> Result<Vec<f32>, String> {
    tensor.into_data_async().await.map_err(|e| format!("reading from the device failed: {e:?}"))?.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))
}

/// A plain JS object (not a Map) for any serializable value.
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

/// The worker's WebGPU call totals (`self.gpuCalls`, kept by worker.js), if it counts them.
fn gpu_calls() -> Option<crate::bench::GpuCalls> {
    let counts = js_sys::Reflect::get(&js_sys::global(), &"gpuCalls".into()).ok()?;
    let get = |k: &str| js_sys::Reflect::get(&counts, &k.into()).ok().and_then(|v| v.as_f64());
    Some(crate::bench::GpuCalls { dispatches: get("dispatches")?, uploads: get("uploads")?, upload_bytes: get("upload_bytes")?, submits: get("submits")? })
}
