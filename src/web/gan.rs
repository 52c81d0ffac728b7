//! The GAN lab's face: training controls from the shared loop, and the GAN's pictures — a
//! fixed-noise sample grid and its filmstrip across training, the generator-loss curves with
//! the batch marked, interpolation, vector arithmetic, and the mode-collapse meter.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::models::classifier::{self, Classifier, class_histogram, classifier_score};
use crate::models::gan::{GanConfig, GanOptions, GanTrainer, Generator, GeneratorLoss, interpolate, latent_arithmetic, mean_latent};
use crate::render::image_grid;
use crate::render::plots::{draw_class_histogram, draw_generator_losses};
use crate::rng::Rng;
use crate::train::{Settings, Trainer};

use super::lab::{Lab, Redraw, training_controls};
use super::{Shared, canvas_in, tensor, placeholder, put_rgba, read, to_js, yield_to_browser};

const GRID: usize = 64;
const FILMSTRIP_MAX: usize = 120;
const INTERPOLATION_ROWS: usize = 4;
const INTERPOLATION_STEPS: usize = 10;
const POOL: usize = 24;
const POOL_COLS: usize = 8;
const POOL_GAP: usize = 4;
const POOL_SCALE: usize = 2;
const NEIGHBOURS: usize = 5;
const METER_SAMPLES: usize = 1000;
const METER_EVERY_STEPS: u64 = 500;
const GROUP_COLORS: [[u8; 4]; 3] = [[79, 195, 247, 255], [229, 115, 115, 255], [129, 199, 132, 255]];

#[wasm_bindgen]
pub struct GanLab {
    lab: Rc<Lab<GanTrainer>>,
    views: Rc<Views>,
    redraw: Redraw,
}

struct Views {
    shared: Rc<Shared>,
    canvases: [HtmlCanvasElement; 7],
    /// The noise behind the sample grid: fixed, so the filmstrip shows the same z's learning.
    grid_noise: Vec<f32>,
    filmstrip: RefCell<Filmstrip>,
    interpolation_seed: Cell<u64>,
    pool: RefCell<Pool>,
    classifier: RefCell<Option<Classifier>>,
    meter_step: Cell<Option<u64>>,
    /// The last measurement: {histogram, score, step}.
    meter: RefCell<JsValue>,
}

/// Snapshots of the sample grid (intensities as bytes) with the step they were taken at.
#[derive(Default)]
struct Filmstrip {
    frames: Vec<(u64, Vec<u8>)>,
    every_steps: u64,
    /// The frame the user scrubbed to; None follows the newest.
    selected: Option<usize>,
}

/// Samples to click into groups A, B, C for vector arithmetic.
struct Pool {
    seed: u64,
    z: Vec<f32>,
    groups: Vec<Option<usize>>,
}

enum Canvas {
    Samples,
    LossCurves,
    Filmstrip,
    Interpolation,
    Pool,
    Arithmetic,
    Meter,
}

training_controls!(GanLab);

#[wasm_bindgen]
impl GanLab {
    pub(crate) fn new(shared: Rc<Shared>, canvases: JsValue) -> Result<GanLab, JsError> {
        let device = shared.backend.device.clone().autodiff();
        let settings = Settings { batch_size: 64, lr: 2e-4, seed: 1 };
        let config = GanConfig::dcgan();
        let trainer = Trainer::new(GanTrainer::new(config.clone(), &device), settings, shared.data()?, device);
        // Losses and probabilities live on different scales: a chart each.
        let lab = Lab::new(trainer, vec![(canvas_in(&canvases, "chart")?, vec![0, 1]), (canvas_in(&canvases, "probChart")?, vec![2, 3])]);
        let c = |k: &str| canvas_in(&canvases, k);
        let views = Rc::new(Views {
            shared,
            canvases: [c("samples")?, c("lossCurves")?, c("filmstrip")?, c("interpolation")?, c("pool")?, c("arithmetic")?, c("meter")?],
            grid_noise: Rng::new(2024).normals(GRID * config.latent),
            filmstrip: RefCell::new(Filmstrip { every_steps: 25, ..Filmstrip::default() }),
            interpolation_seed: Cell::new(1),
            pool: RefCell::new(Pool::new(1, config.latent)),
            classifier: RefCell::new(None),
            meter_step: Cell::new(None),
            meter: RefCell::new(JsValue::NULL),
        });
        let redraw: Redraw = {
            let (lab, views) = (lab.clone(), views.clone());
            Rc::new(move || {
                let (lab, views) = (lab.clone(), views.clone());
                Box::pin(async move { views.draw(&lab).await })
            })
        };
        Ok(GanLab { lab, views, redraw })
    }

    /// A fresh game: `architecture` "dcgan" or "fc", with or without minibatch std; `weights`
    /// (burnpack bytes of G and D) to start from, or undefined for random weights. A wrong or
    /// damaged file is an error, and the current model stays.
    pub fn reset(&self, architecture: &str, minibatch_std: bool, weights: Option<Vec<u8>>) -> Result<(), JsError> {
        let config = match architecture {
            "dcgan" => GanConfig { minibatch_std, ..GanConfig::dcgan() },
            "fc" => GanConfig { minibatch_std, ..GanConfig::fc() },
            other => return Err(JsError::new(&format!("unknown architecture '{other}' (dcgan or fc)"))),
        };
        let device = self.lab.trainer.borrow().device().clone();
        let gan = match weights {
            None => config.init(&device),
            Some(bytes) => config.load(&device, bytes).map_err(|e| JsError::new(&e))?,
        };
        let options = self.lab.trainer.borrow().model.options.clone();
        let mut model = GanTrainer::from_gan(config, gan);
        model.options = options;
        self.lab.reset(model);
        *self.views.filmstrip.borrow_mut() = Filmstrip { every_steps: 25, ..Filmstrip::default() };
        self.views.meter_step.set(None);
        *self.views.meter.borrow_mut() = JsValue::NULL;
        Ok(())
    }

    /// k discriminator updates per generator update, the generator's objective ("minimax" or
    /// "non-saturating") and D's learning rate; they take effect at the next step.
    #[wasm_bindgen(js_name = setOptions)]
    pub async fn set_options(&self, k: usize, generator_loss: &str, d_lr: f64) -> Result<(), JsError> {
        let generator_loss = match generator_loss {
            "minimax" => GeneratorLoss::Minimax,
            "non-saturating" => GeneratorLoss::NonSaturating,
            other => return Err(JsError::new(&format!("unknown generator loss '{other}'"))),
        };
        let options = GanOptions { k, generator_loss, d_lr };
        options.check().map_err(|e| JsError::new(&e))?;
        self.lab.trainer.borrow_mut().model.options = options;
        self.views.draw_loss_curves(&self.lab).await
    }

    /// The classifier that judges samples (burnpack bytes from pretrained/).
    #[wasm_bindgen(js_name = loadClassifier)]
    pub fn load_classifier(&self, weights: Vec<u8>) -> Result<(), JsError> {
        let model = classifier::load(&self.views.shared.backend.device, weights).map_err(|e| JsError::new(&e))?;
        *self.views.classifier.borrow_mut() = Some(model);
        Ok(())
    }

    /// Classifies 1000 generated digits: draws the histogram and returns {histogram, score}.
    pub async fn measure(&self) -> Result<JsValue, JsError> {
        self.views.measure(&self.lab).await
    }

    /// The last measurement ({histogram, score, step}), or null. The meter also runs by itself
    /// every 500 training steps.
    pub fn meter(&self) -> JsValue {
        self.views.meter.borrow().clone()
    }

    /// Shows filmstrip frame `index` (clamped; negative follows the newest). Returns
    /// {index, count, step}.
    #[wasm_bindgen(js_name = showFrame)]
    pub fn show_frame(&self, index: i32) -> Result<JsValue, JsError> {
        {
            let mut f = self.views.filmstrip.borrow_mut();
            f.selected = (index >= 0 && !f.frames.is_empty()).then(|| (index as usize).min(f.frames.len() - 1));
        }
        self.views.draw_filmstrip()
    }

    /// New random end points for the interpolation rows.
    #[wasm_bindgen(js_name = newInterpolation)]
    pub async fn new_interpolation(&self) -> Result<(), JsError> {
        self.views.interpolation_seed.set(self.views.interpolation_seed.get() + 1);
        self.views.draw_interpolation(&self.lab).await
    }

    /// New samples to pick from for vector arithmetic (the groups are emptied).
    #[wasm_bindgen(js_name = newPool)]
    pub async fn new_pool(&self) -> Result<(), JsError> {
        let (seed, latent) = (self.views.pool.borrow().seed + 1, self.latent());
        *self.views.pool.borrow_mut() = Pool::new(seed, latent);
        self.views.draw_pool(&self.lab).await?;
        self.views.draw_arithmetic(&self.lab).await
    }

    /// Puts the pool sample under (x, y) (pool-canvas pixels) into group 0 (A), 1 (B) or 2 (C);
    /// clicking it again with the same group takes it out. Returns the group sizes [A, B, C].
    pub async fn pick(&self, x: f32, y: f32, group: usize) -> Result<Vec<usize>, JsError> {
        if group > 2 {
            return Err(JsError::new("group is 0 (A), 1 (B) or 2 (C)"));
        }
        let cell = (28 + POOL_GAP) * POOL_SCALE;
        let (col, row) = ((x.max(0.0) as usize) / cell, (y.max(0.0) as usize) / cell);
        let index = row * POOL_COLS + col;
        if col < POOL_COLS && index < POOL {
            let mut pool = self.views.pool.borrow_mut();
            pool.groups[index] = if pool.groups[index] == Some(group) { None } else { Some(group) };
        }
        self.views.draw_pool(&self.lab).await?;
        self.views.draw_arithmetic(&self.lab).await?;
        Ok(self.views.pool.borrow().sizes().to_vec())
    }

    /// Redraws every view now.
    pub async fn draw(&self) -> Result<(), JsError> {
        self.lab.draw_chart();
        self.views.draw(&self.lab).await
    }

    fn latent(&self) -> usize {
        self.lab.trainer.borrow().model.config.latent
    }
}

impl Pool {
    fn new(seed: u64, latent: usize) -> Pool {
        Pool { seed, z: Rng::new(1000 + seed).normals(POOL * latent), groups: vec![None; POOL] }
    }

    fn sizes(&self) -> [usize; 3] {
        let mut sizes = [0; 3];
        for g in self.groups.iter().flatten() {
            sizes[*g] += 1;
        }
        sizes
    }
}

impl Views {
    fn canvas(&self, c: Canvas) -> &HtmlCanvasElement {
        &self.canvases[c as usize]
    }

    fn device(&self) -> Device {
        self.shared.backend.device.clone()
    }

    fn generator(&self, lab: &Lab<GanTrainer>) -> (Generator, usize) {
        let t = lab.trainer.borrow();
        (t.model.gan.generator.valid(), t.model.config.latent)
    }

    /// Intensities of G(z) for `z` ([n · latent]).
    async fn sample(&self, generator: &Generator, z: Vec<f32>, latent: usize) -> Result<Vec<f32>, JsError> {
        let n = z.len() / latent;
        read(generator.sample(tensor(z, [n, latent], &self.device()))).await
    }

    /// Every view, a piece at a time with frames painted in between.
    async fn draw(&self, lab: &Lab<GanTrainer>) -> Result<(), JsError> {
        let (generator, latent) = self.generator(lab);
        let grid = self.sample(&generator, self.grid_noise.clone(), latent).await?;
        put_rgba(self.canvas(Canvas::Samples), &image_grid(&grid, 8, 2))?;
        self.snapshot(lab.trainer.borrow().history.step, &grid);
        self.draw_filmstrip()?;
        self.draw_loss_curves(lab).await?;
        yield_to_browser().await;
        self.draw_interpolation(lab).await?;
        yield_to_browser().await;
        self.draw_pool(lab).await?;
        self.draw_arithmetic(lab).await?;
        let step = lab.trainer.borrow().history.step;
        let due = self.meter_step.get().is_none_or(|s| step >= s + METER_EVERY_STEPS);
        if due && self.classifier.borrow().is_some() {
            yield_to_browser().await;
            self.measure(lab).await?;
        }
        Ok(())
    }

    /// Keeps a frame every `every_steps` steps; when full, drops every other frame and doubles
    /// the interval, so the strip always spans the whole run.
    fn snapshot(&self, step: u64, grid: &[f32]) {
        let mut f = self.filmstrip.borrow_mut();
        if let Some((last, _)) = f.frames.last() {
            if step < last + f.every_steps {
                return;
            }
        }
        f.frames.push((step, grid.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()));
        if f.frames.len() > FILMSTRIP_MAX {
            let kept: Vec<_> = f.frames.drain(..).enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, x)| x).collect();
            f.frames = kept;
            f.every_steps *= 2;
            f.selected = None;
        }
    }

    fn draw_filmstrip(&self) -> Result<JsValue, JsError> {
        let f = self.filmstrip.borrow();
        let Some(last) = f.frames.len().checked_sub(1) else { return Ok(JsValue::NULL) };
        let index = f.selected.unwrap_or(last).min(last);
        let (step, bytes) = &f.frames[index];
        let images: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
        put_rgba(self.canvas(Canvas::Filmstrip), &image_grid(&images, 8, 2))?;
        Ok(to_js(&serde_json::json!({ "index": index, "count": f.frames.len(), "step": step })))
    }

    async fn draw_loss_curves(&self, lab: &Lab<GanTrainer>) -> Result<(), JsError> {
        let (probs, minimax) = {
            let t = lab.trainer.borrow();
            (t.model.last_fake_probs.clone(), t.model.options.generator_loss == GeneratorLoss::Minimax)
        };
        let probs = match probs {
            Some(p) => read(p.unsqueeze()).await?,
            None => Vec::new(),
        };
        draw_generator_losses(self.canvas(Canvas::LossCurves), &probs, minimax).map_err(|e| JsError::new(&e))
    }

    /// Rows from one random z to another, as in the DCGAN paper's figure: smooth changes mean
    /// G learned a smooth map, not a lookup table of training digits.
    async fn draw_interpolation(&self, lab: &Lab<GanTrainer>) -> Result<(), JsError> {
        let (generator, latent) = self.generator(lab);
        let mut rng = Rng::new(500 + self.interpolation_seed.get());
        let mut z = Vec::with_capacity(INTERPOLATION_ROWS * INTERPOLATION_STEPS * latent);
        for _ in 0..INTERPOLATION_ROWS {
            let (a, b) = (rng.normals(latent), rng.normals(latent));
            z.extend(interpolate(&a, &b, INTERPOLATION_STEPS));
        }
        let images = self.sample(&generator, z, latent).await?;
        put_rgba(self.canvas(Canvas::Interpolation), &image_grid(&images, INTERPOLATION_STEPS, 2))
    }

    async fn draw_pool(&self, lab: &Lab<GanTrainer>) -> Result<(), JsError> {
        let (generator, latent) = self.generator(lab);
        let z = self.pool.borrow().z.clone();
        let images = self.sample(&generator, z, latent).await?;
        let mut img = image_grid(&images, POOL_COLS, POOL_GAP).scaled(POOL_SCALE);
        let cell = (28 + POOL_GAP) * POOL_SCALE;
        for (i, g) in self.pool.borrow().groups.iter().enumerate() {
            if let Some(g) = g {
                let (x, y) = ((i % POOL_COLS) * cell, (i / POOL_COLS) * cell);
                img.outline(x, y, 28 * POOL_SCALE, 28 * POOL_SCALE, 3, GROUP_COLORS[*g]);
            }
        }
        put_rgba(self.canvas(Canvas::Pool), &img)
    }

    /// decode(mean A), decode(mean B), decode(mean C), then decode(mean A − mean B + mean C)
    /// and a few neighbours of it (the DCGAN paper adds noise of scale 0.25 the same way).
    async fn draw_arithmetic(&self, lab: &Lab<GanTrainer>) -> Result<(), JsError> {
        let (generator, latent) = self.generator(lab);
        let groups = {
            let pool = self.pool.borrow();
            let group = |k| -> Vec<Vec<f32>> {
                pool.groups.iter().enumerate().filter(|(_, g)| **g == Some(k)).map(|(i, _)| pool.z[i * latent..(i + 1) * latent].to_vec()).collect()
            };
            [group(0), group(1), group(2)]
        };
        let canvas = self.canvas(Canvas::Arithmetic);
        let result = match latent_arithmetic(&groups[0], &groups[1], &groups[2], latent) {
            Ok(result) => result,
            Err(why) => return placeholder(canvas, &why),
        };
        let mut z: Vec<f32> = groups.iter().flat_map(|g| mean_latent(g, latent)).collect();
        z.extend(&result);
        let mut rng = Rng::new(77);
        for _ in 0..NEIGHBOURS {
            z.extend(result.iter().map(|v| v + 0.25 * rng.normal()));
        }
        let images = self.sample(&generator, z, latent).await?;
        put_rgba(canvas, &image_grid(&images, 4 + NEIGHBOURS, 2))
    }

    /// The mode-collapse meter: the classifier's labels for 1000 samples of G.
    async fn measure(&self, lab: &Lab<GanTrainer>) -> Result<JsValue, JsError> {
        let Some(classifier) = self.classifier.borrow().clone() else {
            return Err(JsError::new("the classifier is not loaded yet"));
        };
        let (generator, latent) = self.generator(lab);
        let step = lab.trainer.borrow().history.step;
        let mut rng = Rng::new(4242);
        let mut probs = Vec::with_capacity(METER_SAMPLES * 10);
        for _ in 0..METER_SAMPLES / 250 {
            let x = generator.sample(tensor(rng.normals(250 * latent), [250, latent], &self.device()));
            probs.extend(read(classifier.probs(x)).await?);
            yield_to_browser().await;
        }
        let histogram = class_histogram(&probs);
        let score = classifier_score(&probs);
        draw_class_histogram(self.canvas(Canvas::Meter), &histogram, score).map_err(|e| JsError::new(&e))?;
        self.meter_step.set(Some(step));
        let result = to_js(&serde_json::json!({ "histogram": histogram, "score": score, "step": step }));
        *self.meter.borrow_mut() = result.clone();
        Ok(result)
    }
}
