//! The JavaScript face: the page's app object and one lab object per model family.
//! Rust owns all the work; www/main.js only wires buttons and inputs to these methods.

mod gan;
mod lab;
mod pixelcnn;
mod vae;

pub use gan::GanLab;
pub use pixelcnn::PixelCnnLab;
pub use vae::VaeLab;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{HtmlCanvasElement, ImageData};

use crate::data::Mnist;
use crate::device::{self, Backend, Choice};
use crate::render::{Rgba, image_grid};
use crate::rng::Rng;

unsafe extern "C" {
    /// The linker-made function that runs static constructors (cubecl registers its IR types
    /// through `inventory`).
    fn __wasm_call_ctors();
}

/// Runs the static constructors, once. Calling them from an export marks the module as a
/// library ("reactor") for wasm-ld; otherwise it wraps *every* export in a call to them, which
/// measured 0.16 ms per call from JavaScript (15 ms per status update). The page runs this at
/// instantiation; browser tests call it first (wasm-bindgen-test does not run start functions).
pub fn run_constructors() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| unsafe { __wasm_call_ctors() });
}

#[wasm_bindgen(start)]
fn start() {
    run_constructors();
}

/// What every lab shares: the device and the data.
pub(crate) struct Shared {
    pub backend: Backend,
    pub data: RefCell<Option<Arc<Mnist>>>,
}

impl Shared {
    pub fn data(&self) -> Result<Arc<Mnist>, JsError> {
        self.data.borrow().clone().ok_or_else(|| JsError::new("MNIST is not loaded yet"))
    }
}

#[wasm_bindgen]
pub struct App {
    shared: Rc<Shared>,
    notes: Vec<String>,
}

impl App {
    /// An app on a backend chosen by the caller (browser tests use it to run on both backends).
    pub fn with_backend(backend: Backend) -> App {
        App { shared: Rc::new(Shared { backend, data: RefCell::new(None) }), notes: Vec::new() }
    }
}

#[wasm_bindgen]
impl App {
    /// Starts the backend. `backend` is the `?backend=` URL parameter (webgpu, cpu, or absent).
    /// Never fails: a bad parameter or a missing GPU becomes a note the page shows.
    pub async fn start(backend: Option<String>) -> App {
        console_error_panic_hook::set_once();
        // burn's and cubecl's own warnings (e.g. a shader that failed validation) go to the console.
        let _ = console_log::init_with_level(log::Level::Warn);
        let mut notes = Vec::new();
        let choice = Choice::parse(backend.as_deref()).unwrap_or_else(|e| {
            notes.push(e);
            Choice::Auto
        });
        let backend = device::init(choice).await;
        if let Some(note) = &backend.note {
            notes.push(format!("Running on the CPU: {note}."));
        }
        App { notes, ..App::with_backend(backend) }
    }

    /// The badge text, e.g. "WebGPU · SwiftShader Device" or "CPU (flex)".
    pub fn badge(&self) -> String {
        self.shared.backend.label.clone()
    }

    /// "webgpu" or "cpu".
    pub fn backend(&self) -> String {
        self.shared.backend.name().into()
    }

    /// Messages for the user gathered at start (bad URL parameter, why the CPU is used).
    pub fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    /// Parses the gzipped MNIST asset; the error names what is wrong with it.
    pub fn load_mnist(&self, bytes: &[u8]) -> Result<String, JsError> {
        let mnist = Mnist::from_asset(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        let summary = format!("{} training and {} test digits", mnist.train.len(), mnist.test.len());
        *self.shared.data.borrow_mut() = Some(Arc::new(mnist));
        Ok(summary)
    }

    /// Loads the small fixture built into the binary (tests, and a fallback for demos offline).
    pub fn load_fixture(&self) {
        *self.shared.data.borrow_mut() = Some(Arc::new(Mnist::fixture()));
    }

    /// Draws `count` random training digits with their labels.
    pub fn draw_digits(&self, canvas: &HtmlCanvasElement, count: usize, seed: u32) -> Result<(), JsError> {
        let data = self.shared.data()?;
        let mut rng = Rng::new(seed as u64);
        let indices: Vec<usize> = (0..count.clamp(1, 200)).map(|_| rng.below(data.train.len())).collect();
        let cols = 16;
        let scale = 3;
        let grid = image_grid(&data.train.intensities(&indices), cols, 2).scaled(scale);
        put_rgba(canvas, &grid)?;
        let ctx = crate::render::chart::context(canvas).map_err(|e| JsError::new(&e))?;
        ctx.set_font("bold 13px sans-serif");
        ctx.set_fill_style_str("#ffd54f");
        for (k, &i) in indices.iter().enumerate() {
            let (x, y) = ((k % cols) * 30 * scale, (k / cols) * 30 * scale);
            ctx.fill_text(&data.train.labels[i].to_string(), x as f64 + 3.0, y as f64 + 14.0).ok();
        }
        Ok(())
    }

    #[wasm_bindgen(js_name = ganLab)]
    pub fn gan_lab(&self, canvases: JsValue) -> Result<GanLab, JsError> {
        GanLab::new(self.shared.clone(), canvases)
    }

    #[wasm_bindgen(js_name = pixelCnnLab)]
    pub fn pixelcnn_lab(&self, canvases: JsValue) -> Result<PixelCnnLab, JsError> {
        PixelCnnLab::new(self.shared.clone(), canvases)
    }

    #[wasm_bindgen(js_name = vaeLab)]
    pub fn vae_lab(&self, canvases: JsValue) -> Result<VaeLab, JsError> {
        VaeLab::new(self.shared.clone(), canvases)
    }

    /// The benchmark: trains `workload` for `steps` steps on `backend` ("webgpu" or "cpu") and
    /// returns {backend, workload, batch, images_per_s, ms_per_step}.
    pub async fn bench(&self, workload: String, backend: String, steps: usize) -> Result<JsValue, JsError> {
        let device = match backend.as_str() {
            "cpu" => burn::tensor::Device::flex(),
            "webgpu" if self.shared.backend.is_gpu => self.shared.backend.device.clone(),
            other => return Err(JsError::new(&format!("backend '{other}' is not available here"))),
        };
        let result = crate::bench::run(&workload, device, steps, &crate::train::now_ms)
            .await
            .map_err(|e| JsError::new(&e))?;
        Ok(to_js(&result.with_backend(&backend)))
    }
}

/// Puts an RGBA picture on a canvas, resizing the canvas to it (CSS scales it for display).
pub(crate) fn put_rgba(canvas: &HtmlCanvasElement, image: &Rgba) -> Result<(), JsError> {
    canvas.set_width(image.width as u32);
    canvas.set_height(image.height as u32);
    let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&image.pixels), image.width as u32, image.height as u32)
        .map_err(|e| JsError::new(&format!("ImageData: {e:?}")))?;
    let ctx = crate::render::chart::context(canvas).map_err(|e| JsError::new(&e))?;
    ctx.put_image_data(&data, 0.0, 0.0).map_err(|e| JsError::new(&format!("putImageData: {e:?}")))
}

/// A short message on an otherwise empty view.
pub(crate) fn placeholder(canvas: &HtmlCanvasElement, text: &str) -> Result<(), JsError> {
    canvas.set_width(560);
    canvas.set_height(60);
    let ctx = crate::render::chart::context(canvas).map_err(|e| JsError::new(&e))?;
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, 560.0, 60.0);
    ctx.set_font("15px sans-serif");
    ctx.set_fill_style_str("#9aa0a6");
    ctx.fill_text(text, 12.0, 36.0).map_err(|e| JsError::new(&format!("{e:?}")))
}

/// A canvas named `key` in a JS object of canvases.
pub(crate) fn canvas_in(obj: &JsValue, key: &str) -> Result<HtmlCanvasElement, JsError> {
    js_sys::Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.dyn_into::<HtmlCanvasElement>().ok())
        .ok_or_else(|| JsError::new(&format!("missing canvas '{key}'")))
}

/// Lets the browser paint a frame and handle input before the next piece of work: waits for
/// the next animation frame (or 100 ms, for hidden tabs), then for a fresh task after the paint.
pub(crate) async fn yield_to_browser() {
    let Some(window) = web_sys::window() else { return };
    let frame = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window.request_animation_frame(&resolve);
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 100);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(frame).await;
    let after_paint = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(after_paint).await;
}

/// A [rows, cols] tensor of `values` on `device`.
pub(crate) fn tensor(values: Vec<f32>, shape: [usize; 2], device: &burn::tensor::Device) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}

/// Reads a float tensor back without blocking the page.
pub(crate) async fn read(tensor: burn::tensor::Tensor<2>) -> Result<Vec<f32>, JsError> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("reading from the device failed: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| JsError::new(&format!("{e:?}")))
}

/// A plain JS object (not a Map) for any serializable value.
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

