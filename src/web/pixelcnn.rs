//! The PixelCNN lab's face: training controls from the shared loop, and PixelCNN's pictures —
//! completion of a half-hidden digit pixel by pixel, sampling from scratch, the next-pixel map,
//! the likelihood of the current digit pixel by pixel, and the receptive field of a pixel for the
//! plain and the gated network side by side.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::data::{PIXELS, SIDE};
use crate::models::pixelcnn::{Completion, PixelCnn, PixelCnnConfig, PixelCnnTrainer, bits_per_dim, set_sampled};
use crate::render::{Rgba, heat_color, image_grid};
use crate::rng::Rng;
use crate::train::{Pixels, Settings, Trainer, now_ms, prepare};

use super::lab::{Lab, Redraw, training_controls};
use super::{Shared, canvas_in, tensor, placeholder, put_rgba, read, to_js, yield_to_browser};

/// How unknown pixels look: a dim grey, neither ink nor paper.
const UNKNOWN: f32 = 0.3;
/// Work between two painted frames while sampling.
const FRAME_BUDGET_MS: f64 = 30.0;

#[wasm_bindgen]
pub struct PixelCnnLab {
    lab: Rc<Lab<PixelCnnTrainer>>,
    views: Rc<Views>,
    redraw: Redraw,
}

struct Views {
    shared: Rc<Shared>,
    canvases: [HtmlCanvasElement; 6],
    /// The digit the views look at (784 values, 0/1): a test digit or a drawing.
    current: RefCell<Vec<f32>>,
    /// Bumped to stop a running completion (a new one, Stop, or Reset).
    sampling: Cell<u64>,
    /// Untrained plain and gated networks: which inputs a logit depends on is a property of the
    /// architecture, so the receptive-field view needs no training.
    structure: [PixelCnn; 2],
    /// The pixel whose receptive field is shown.
    field_pixel: Cell<usize>,
}

enum Canvas {
    Completion,
    Samples,
    NextPixel,
    Contributions,
    FieldPlain,
    FieldGated,
}

training_controls!(PixelCnnLab);

#[wasm_bindgen]
impl PixelCnnLab {
    pub(crate) fn new(shared: Rc<Shared>, canvases: JsValue) -> Result<PixelCnnLab, JsError> {
        let device = shared.backend.device.clone().autodiff();
        let settings = Settings { batch_size: 64, lr: 1e-3, seed: 1 };
        let config = PixelCnnConfig::plain();
        let data = shared.data()?;
        let trainer = Trainer::new(PixelCnnTrainer::new(config, &device), settings, data.clone(), device.clone());
        let lab = Lab::new(trainer, vec![(canvas_in(&canvases, "chart")?, vec![0])]);
        let c = |k: &str| canvas_in(&canvases, k);
        let first = prepare(data.test.intensities(&[0]), Pixels::Binarized, &mut Rng::new(1));
        let views = Rc::new(Views {
            canvases: [c("completion")?, c("samples")?, c("nextPixel")?, c("contributions")?, c("fieldPlain")?, c("fieldGated")?],
            current: RefCell::new(first),
            sampling: Cell::new(0),
            structure: [PixelCnnConfig::plain().init(&device), PixelCnnConfig::gated().init(&device)],
            field_pixel: Cell::new(14 * SIDE + 14),
            shared,
        });
        placeholder(views.canvas(Canvas::Samples), "Press Sample from scratch: digits appear pixel by pixel.")?;
        let redraw: Redraw = {
            let (lab, views) = (lab.clone(), views.clone());
            Rc::new(move || {
                let (lab, views) = (lab.clone(), views.clone());
                Box::pin(async move { views.draw_maps(&lab).await })
            })
        };
        Ok(PixelCnnLab { lab, views, redraw })
    }

    /// A fresh model: `variant` "plain" or "gated"; `weights` (burnpack bytes) to start from, or
    /// undefined for random weights. A wrong or damaged file is an error; the model stays.
    pub fn reset(&self, variant: &str, weights: Option<Vec<u8>>) -> Result<(), JsError> {
        let config = match variant {
            "plain" => PixelCnnConfig::plain(),
            "gated" => PixelCnnConfig::gated(),
            other => return Err(JsError::new(&format!("unknown PixelCNN variant '{other}' (plain or gated)"))),
        };
        let device = self.lab.trainer.borrow().device().clone();
        let model = match weights {
            None => config.init(&device),
            Some(bytes) => config.load(&device, bytes).map_err(|e| JsError::new(&e))?,
        };
        self.stop();
        self.lab.reset(PixelCnnTrainer::from_model(config, model));
        Ok(())
    }

    /// Looks at test digit `index` (binarized): redraws the next-pixel map and likelihood.
    /// Returns {nats, bits_per_dim}.
    #[wasm_bindgen(js_name = useTestDigit)]
    pub async fn use_test_digit(&self, index: usize) -> Result<JsValue, JsError> {
        let data = self.views.shared.data()?;
        if index >= data.test.len() {
            return Err(JsError::new(&format!("test digits are numbered 0 to {}", data.test.len() - 1)));
        }
        *self.views.current.borrow_mut() = prepare(data.test.intensities(&[index]), Pixels::Binarized, &mut Rng::new(index as u64));
        self.views.draw_maps(&self.lab).await?;
        self.views.likelihood(&self.lab).await
    }

    /// Looks at a drawn digit (784 intensities in [0, 1], thresholded at ½). Returns {nats, bits_per_dim}.
    #[wasm_bindgen(js_name = useDrawing)]
    pub async fn use_drawing(&self, pixels: Vec<f32>) -> Result<JsValue, JsError> {
        if pixels.len() != PIXELS || pixels.iter().any(|p| !p.is_finite()) {
            return Err(JsError::new(&format!("a drawing is 784 finite intensities, got {}", pixels.len())));
        }
        *self.views.current.borrow_mut() = pixels.iter().map(|&p| if p >= 0.5 { 1.0 } else { 0.0 }).collect();
        self.views.draw_maps(&self.lab).await?;
        self.views.likelihood(&self.lab).await
    }

    /// Hides the current digit from row `hide_from_row` down and completes it `n` times, pixel
    /// by pixel, animated. Returns {pixels, ms_per_pixel, total_ms, stopped}.
    pub async fn complete(&self, hide_from_row: usize, n: usize, temperature: f32, seed: f64) -> Result<JsValue, JsError> {
        if hide_from_row > SIDE {
            return Err(JsError::new(&format!("row {hide_from_row} is not in 0–{SIDE}")));
        }
        let observed: Vec<bool> = (0..PIXELS).map(|i| i / SIDE < hide_from_row).collect();
        let start = self.views.current.borrow().clone();
        self.views.run(&self.lab, Completion::new(&start, observed, check_n(n)?), temperature, seed, Canvas::Completion, Some(start)).await
    }

    /// Shows the current digit with rows from `hide_from_row` down hidden: what Complete will see.
    pub fn preview(&self, hide_from_row: usize) -> Result<(), JsError> {
        let x = self.views.current.borrow();
        let shown: Vec<f32> = x.iter().enumerate().map(|(i, &v)| if i / SIDE < hide_from_row { v } else { UNKNOWN }).collect();
        put_rgba(self.views.canvas(Canvas::Completion), &image_grid(&shown, 1, 0))
    }

    /// Samples `n` digits from nothing, pixel by pixel, animated.
    pub async fn sample(&self, n: usize, temperature: f32, seed: f64) -> Result<JsValue, JsError> {
        let completion = Completion::new(&vec![0.0; PIXELS], vec![false; PIXELS], check_n(n)?);
        self.views.run(&self.lab, completion, temperature, seed, Canvas::Samples, None).await
    }

    /// Stops a running completion or sampling after its current pixel.
    pub fn stop(&self) {
        self.views.sampling.set(self.views.sampling.get() + 1);
    }

    /// Highlights the input pixels the logit of the pixel under (x, y) (next-pixel-map canvas
    /// pixels) depends on, for the plain and the gated PixelCNN. Returns the counts [plain, gated].
    #[wasm_bindgen(js_name = receptiveField)]
    pub async fn receptive_field(&self, x: f32, y: f32, canvas_size: f32) -> Result<Vec<usize>, JsError> {
        let cell = (canvas_size / SIDE as f32).max(1e-3);
        let (col, row) = ((x / cell).floor(), (y / cell).floor());
        if !(0.0..SIDE as f32).contains(&col) || !(0.0..SIDE as f32).contains(&row) {
            return Err(JsError::new("click inside the picture"));
        }
        self.views.field_pixel.set(row as usize * SIDE + col as usize);
        self.views.receptive_field().await
    }

    /// Redraws the chart, the next-pixel map, the receptive fields and the likelihood; returns
    /// {nats, bits_per_dim}.
    pub async fn draw(&self) -> Result<JsValue, JsError> {
        self.lab.draw_chart();
        self.views.draw_maps(&self.lab).await?;
        self.views.receptive_field().await?;
        self.views.likelihood(&self.lab).await
    }
}

fn check_n(n: usize) -> Result<usize, JsError> {
    if (1..=16).contains(&n) { Ok(n) } else { Err(JsError::new(&format!("{n} completions: choose 1–16"))) }
}

impl Views {
    fn canvas(&self, c: Canvas) -> &HtmlCanvasElement {
        &self.canvases[c as usize]
    }

    fn device(&self) -> Device {
        self.shared.backend.device.clone()
    }

    fn model(&self, lab: &Lab<PixelCnnTrainer>) -> (PixelCnn, PixelCnnConfig) {
        let t = lab.trainer.borrow();
        (t.model.model.valid(), t.model.config.clone())
    }

    /// The next-pixel map p(x_i = 1 | x_<i) and each pixel's −log p(x_i | x_<i) for the
    /// current digit: one forward pass gives all 784 conditionals.
    async fn draw_maps(&self, lab: &Lab<PixelCnnTrainer>) -> Result<(), JsError> {
        let (model, _) = self.model(lab);
        let x = self.current.borrow().clone();
        let probs = read(burn::tensor::activation::sigmoid(model.logits(tensor(x.clone(), [1, PIXELS], &self.device())))).await?;
        put_rgba(self.canvas(Canvas::NextPixel), &heat_map(&probs, |p| heat_color(p)))?;
        let nats: Vec<f32> = probs.iter().zip(&x).map(|(&p, &v)| -(if v > 0.5 { p } else { 1.0 - p }).max(1e-7).ln()).collect();
        // Colour scale: 0 nats dark, ≥ 4 nats (a pixel the model found very surprising) bright.
        put_rgba(self.canvas(Canvas::Contributions), &heat_map(&nats, |n| heat_color(n / 4.0)))
    }

    async fn likelihood(&self, lab: &Lab<PixelCnnTrainer>) -> Result<JsValue, JsError> {
        let (model, _) = self.model(lab);
        let x = self.current.borrow().clone();
        let nats = read(model.nll(tensor(x, [1, PIXELS], &self.device())).unsqueeze()).await?[0] as f64;
        Ok(to_js(&serde_json::json!({ "nats": nats, "bits_per_dim": bits_per_dim(nats) })))
    }

    /// Samples every unobserved pixel in raster order, a frame painted every ~30 ms of work.
    async fn run(
        &self,
        lab: &Lab<PixelCnnTrainer>,
        mut c: Completion,
        temperature: f32,
        seed: f64,
        canvas: Canvas,
        source: Option<Vec<f32>>,
    ) -> Result<JsValue, JsError> {
        if !(temperature.is_finite() && (0.05..=5.0).contains(&temperature)) {
            return Err(JsError::new(&format!("temperature {temperature} is not in [0.05, 5]")));
        }
        let run = self.sampling.get() + 1;
        self.sampling.set(run);
        let (model, config) = self.model(lab);
        let device = self.device();
        let mut rng = Rng::new(if seed.is_finite() { seed.abs() as u64 } else { 1 });
        let canvas = self.canvas(canvas);
        let draw = |c: &Completion| {
            let mut images = source.as_ref().map(|s| s.iter().zip(&c.observed).map(|(&v, &o)| if o { v } else { UNKNOWN }).collect::<Vec<_>>()).unwrap_or_default();
            for b in 0..c.batch {
                images.extend((0..PIXELS).map(|i| if c.observed[i] || i < c.next { c.images[b * PIXELS + i] } else { UNKNOWN }));
            }
            put_rgba(canvas, &image_grid(&images, c.batch + source.is_some() as usize, 2))
        };
        draw(&c)?;
        let (mut pixels, mut compute_ms, started) = (0usize, 0.0, now_ms());
        let mut frame_start = now_ms();
        while let Some(i) = (c.next..PIXELS).find(|&i| !c.observed[i]) {
            if self.sampling.get() != run {
                return Ok(to_js(&serde_json::json!({ "pixels": pixels, "ms_per_pixel": compute_ms / pixels.max(1) as f64, "total_ms": now_ms() - started, "stopped": true })));
            }
            let t = now_ms();
            let probs = model.pixel_probs(&c.images, c.batch, i, config.rows_above(), temperature, &device);
            let probs = read(probs.unsqueeze()).await?;
            set_sampled(&mut c, i, &probs, &mut rng);
            compute_ms += now_ms() - t;
            pixels += 1;
            if now_ms() - frame_start > FRAME_BUDGET_MS {
                draw(&c)?;
                yield_to_browser().await;
                frame_start = now_ms();
            }
        }
        c.next = PIXELS;
        draw(&c)?;
        Ok(to_js(&serde_json::json!({ "pixels": pixels, "ms_per_pixel": compute_ms / pixels.max(1) as f64, "total_ms": now_ms() - started, "stopped": false })))
    }

    /// Gradient of logit i with respect to the input, for both architectures: its non-zero
    /// entries are the pixels the logit depends on.
    async fn receptive_field(&self) -> Result<Vec<usize>, JsError> {
        let i = self.field_pixel.get();
        let device = self.device().autodiff();
        let x = self.current.borrow().clone();
        let mut counts = Vec::new();
        for (model, canvas) in self.structure.iter().zip([Canvas::FieldPlain, Canvas::FieldGated]) {
            let input = tensor(x.clone(), [1, PIXELS], &device).require_grad();
            let logit = model.logits(input.clone()).slice([0..1, i..i + 1]).sum();
            let grads = logit.backward();
            let grad = input.grad(&grads).ok_or_else(|| JsError::new("no gradient reached the input"))?;
            let seen: Vec<bool> = read(grad).await?.iter().map(|g| *g != 0.0).collect();
            counts.push(seen.iter().filter(|s| **s).count());
            let mut img = Rgba::new(SIDE, SIDE, [0, 0, 0, 255]);
            for j in 0..PIXELS {
                let ink = x[j] > 0.5;
                let color = match (j == i, seen[j], ink) {
                    (true, _, _) => [239, 83, 80, 255],
                    (false, true, true) => [129, 212, 250, 255],
                    (false, true, false) => [21, 101, 192, 255],
                    (false, false, true) => [90, 90, 90, 255],
                    (false, false, false) => [25, 25, 25, 255],
                };
                img.set(j % SIDE, j / SIDE, color);
            }
            put_rgba(self.canvas(canvas), &img)?;
        }
        Ok(counts)
    }
}

/// A 28×28 picture of per-pixel values through a colour map.
fn heat_map(values: &[f32], color: impl Fn(f32) -> [u8; 4]) -> Rgba {
    let mut img = Rgba::new(SIDE, SIDE, [0, 0, 0, 255]);
    for (i, &v) in values.iter().enumerate().take(PIXELS) {
        img.set(i % SIDE, i / SIDE, color(v));
    }
    img
}
