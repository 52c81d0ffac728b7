//! The VAE lab's face: training controls from the shared loop, and the VAE's pictures —
//! reconstructions, prior samples, the 2-D manifold, the latent scatter (hover to decode),
//! interpolation, and a digit drawn by hand placed in latent space.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::data::{Mnist, PIXELS};
use crate::models::vae::{ElboTerms, Vae, VaeConfig, VaeTrainer, interpolate, manifold_latents};
use crate::render::image_grid;
use crate::render::scatter::{Frame, cross, ellipse, scatter};
use crate::rng::Rng;
use crate::train::{Pixels, Settings, Trainer, prepare};

use super::lab::{Lab, Redraw, training_controls};
use super::{Shared, canvas_in, tensor, put_rgba, read, to_js, yield_to_browser};

const SHOWN: usize = 10;
const SAMPLES: usize = 40;
const MANIFOLD: usize = 15;
const SCATTER_DIGITS: usize = 2000;
const SCATTER_SIZE: usize = 360;
const INTERPOLATION_STEPS: usize = 10;

#[wasm_bindgen]
pub struct VaeLab {
    lab: Rc<Lab<VaeTrainer>>,
    views: Rc<Views>,
    redraw: Redraw,
}

struct Views {
    shared: Rc<Shared>,
    canvases: [HtmlCanvasElement; 7],
    /// Latent dimensions shown by the manifold and the scatter.
    dims: Cell<(usize, usize)>,
    /// Test digits interpolated between.
    ends: Cell<(usize, usize)>,
    scatter: RefCell<ScatterState>,
    hover_busy: Cell<bool>,
    hover_next: Cell<Option<(f32, f32)>>,
}

#[derive(Default)]
struct ScatterState {
    points: Vec<(f32, f32)>,
    labels: Vec<u8>,
    frame: Option<Frame>,
    drawn: Option<((f32, f32), (f32, f32))>,
    hover: Option<(f32, f32)>,
}

enum Canvas {
    Reconstructions,
    Samples,
    Manifold,
    Scatter,
    Hover,
    Interpolation,
    Drawn,
}

training_controls!(VaeLab);

#[wasm_bindgen]
impl VaeLab {
    pub(crate) fn new(shared: Rc<Shared>, canvases: JsValue) -> Result<VaeLab, JsError> {
        let device = shared.backend.device.clone().autodiff();
        let settings = Settings { batch_size: 128, lr: 1e-3, seed: 1 };
        let model = VaeTrainer::new(VaeConfig::vae(2), &device);
        let trainer = Trainer::new(model, settings, shared.data()?, device);
        // −ELBO and reconstruction share a scale; the KL (a few nats) gets its own chart.
        let lab = Lab::new(trainer, vec![(canvas_in(&canvases, "chart")?, vec![0, 1]), (canvas_in(&canvases, "klChart")?, vec![2])]);
        let c = |k: &str| canvas_in(&canvases, k);
        let views = Rc::new(Views {
            shared,
            canvases: [c("reconstructions")?, c("samples")?, c("manifold")?, c("scatter")?, c("hover")?, c("interpolation")?, c("drawn")?],
            dims: Cell::new((0, 1)),
            ends: Cell::new((0, 1)),
            scatter: RefCell::new(ScatterState::default()),
            hover_busy: Cell::new(false),
            hover_next: Cell::new(None),
        });
        let redraw: Redraw = {
            let (lab, views) = (lab.clone(), views.clone());
            Rc::new(move || {
                let (lab, views) = (lab.clone(), views.clone());
                Box::pin(async move { views.draw(&lab).await })
            })
        };
        Ok(VaeLab { lab, views, redraw })
    }

    /// A fresh model: `kind` "vae" or "ae", `latent` its size; `weights` (burnpack bytes) to
    /// start from, or undefined for random weights. A wrong or damaged file is an error, and the
    /// current model stays.
    pub fn reset(&self, kind: &str, latent: usize, weights: Option<Vec<u8>>) -> Result<(), JsError> {
        if ![2, 8, 16, 20, 32].contains(&latent) {
            return Err(JsError::new(&format!("latent size {latent} is not offered (2, 8, 16, 20, 32)")));
        }
        let config = match kind {
            "vae" => VaeConfig::vae(latent),
            "ae" => VaeConfig::autoencoder(latent),
            other => return Err(JsError::new(&format!("unknown model '{other}'"))),
        };
        let device = self.lab.trainer.borrow().device().clone();
        let model = match weights {
            None => config.init(&device),
            Some(bytes) => config.load(&device, bytes).map_err(|e| JsError::new(&e))?,
        };
        self.lab.reset(VaeTrainer::from_model(config, model));
        let (d0, d1) = self.views.dims.get();
        if d0.max(d1) >= latent {
            self.views.dims.set((0, 1));
        }
        *self.views.scatter.borrow_mut() = ScatterState::default();
        Ok(())
    }

    /// The weight β on the KL term (1 is the VAE); takes effect at the next step.
    #[wasm_bindgen(js_name = setBeta)]
    pub fn set_beta(&self, beta: f32) -> Result<(), JsError> {
        if !(beta.is_finite() && (0.0..=100.0).contains(&beta)) {
            return Err(JsError::new(&format!("β = {beta} is not in [0, 100]")));
        }
        self.lab.trainer.borrow_mut().model.config.beta = beta;
        Ok(())
    }

    /// Which two latent dimensions the manifold and scatter show.
    #[wasm_bindgen(js_name = setDims)]
    pub async fn set_dims(&self, a: usize, b: usize) -> Result<(), JsError> {
        let latent = self.lab.trainer.borrow().model.config.latent;
        if a >= latent || b >= latent || a == b {
            return Err(JsError::new(&format!("pick two different dimensions below {latent}")));
        }
        self.views.dims.set((a, b));
        self.views.scatter.borrow_mut().drawn = None;
        self.draw().await
    }

    /// Interpolates between test digits `a` and `b` (indices into the test set).
    pub async fn interpolate(&self, a: usize, b: usize) -> Result<(), JsError> {
        let n = self.views.shared.data()?.test.len();
        if a >= n || b >= n {
            return Err(JsError::new(&format!("test digits are numbered 0 to {}", n - 1)));
        }
        self.views.ends.set((a, b));
        self.views.draw_interpolation(&self.lab).await
    }

    /// Decodes the latent point under the pointer at (x, y), in scatter-canvas pixels.
    /// Returns the point as [z_a, z_b].
    pub async fn hover(&self, x: f32, y: f32) -> Result<JsValue, JsError> {
        self.views.hover(&self.lab, (x, y)).await
    }

    /// Encodes a drawn digit (784 intensities in [0, 1]): its posterior goes on the scatter, its
    /// reconstruction on the "drawn" canvas. Returns {mu, sigma, negative_elbo, reconstruction, kl}.
    #[wasm_bindgen(js_name = encodeDrawing)]
    pub async fn encode_drawing(&self, pixels: Vec<f32>) -> Result<JsValue, JsError> {
        self.views.encode_drawing(&self.lab, pixels).await
    }

    /// Redraws every view now.
    pub async fn draw(&self) -> Result<(), JsError> {
        self.lab.draw_chart();
        self.views.draw(&self.lab).await
    }
}

impl Views {
    fn canvas(&self, c: Canvas) -> &HtmlCanvasElement {
        &self.canvases[c as usize]
    }

    fn model(&self, lab: &Lab<VaeTrainer>) -> (Vae, usize) {
        let t = lab.trainer.borrow();
        (t.model.model.valid(), t.model.config.latent)
    }

    /// Draws every view. Each piece is its own task, with a frame painted in between, so the
    /// page stays smooth while training (encoding 2000 digits for the scatter is the big one).
    async fn draw(&self, lab: &Lab<VaeTrainer>) -> Result<(), JsError> {
        let data = self.shared.data()?;
        let device = self.shared.backend.device.clone();
        let (model, latent) = self.model(lab);
        let mut rng = Rng::new(7);
        let shown: Vec<usize> = (0..SHOWN.min(data.test.len())).collect();
        let mut pairs = prepare(data.test.intensities(&shown), Pixels::Binarized, &mut rng);
        let recon = model.decode_probs(model.encode(tensor(pairs.clone(), [shown.len(), PIXELS], &device)).mu);
        let samples = model.decode_probs(tensor(rng.normals(SAMPLES * latent), [SAMPLES, latent], &device));
        pairs.extend(read(recon).await?);
        put_rgba(self.canvas(Canvas::Reconstructions), &image_grid(&pairs, shown.len(), 2))?;
        put_rgba(self.canvas(Canvas::Samples), &image_grid(&read(samples).await?, 10, 2))?;
        yield_to_browser().await;

        let grid = manifold_latents(MANIFOLD, latent, self.dims.get());
        let manifold = model.decode_probs(tensor(grid, [MANIFOLD * MANIFOLD, latent], &device));
        put_rgba(self.canvas(Canvas::Manifold), &image_grid(&read(manifold).await?, MANIFOLD, 0))?;
        yield_to_browser().await;

        let n = SCATTER_DIGITS.min(data.test.len());
        let digits = prepare(data.test.intensities(&(0..n).collect::<Vec<_>>()), Pixels::Binarized, &mut Rng::new(8));
        let mut codes = Vec::with_capacity(n * latent);
        for part in digits.chunks(500 * PIXELS) {
            codes.extend(read(model.encode(tensor(part.to_vec(), [part.len() / PIXELS, PIXELS], &device)).mu).await?);
            yield_to_browser().await;
        }
        let (a, b) = self.dims.get();
        {
            let mut s = self.scatter.borrow_mut();
            s.points = codes.chunks(latent).map(|z| (z[a], z[b])).collect();
            s.labels = data.test.labels[..n].to_vec();
            s.frame = Some(Frame::around(&s.points, SCATTER_SIZE));
        }
        self.draw_scatter()?;
        self.draw_interpolation_with(&model, latent, &data).await
    }

    fn draw_scatter(&self) -> Result<(), JsError> {
        let s = self.scatter.borrow();
        let Some(frame) = s.frame else { return Ok(()) };
        let mut img = scatter(&s.points, &s.labels, frame);
        if let Some((mu, sigma)) = s.drawn {
            for k in [1.0, 2.0] {
                ellipse(&mut img, frame, mu, (k * sigma.0, k * sigma.1), [255, 255, 255, 255]);
            }
            cross(&mut img, frame, mu, [255, 255, 255, 255]);
        }
        if let Some(z) = s.hover {
            cross(&mut img, frame, z, [255, 213, 79, 255]);
        }
        put_rgba(self.canvas(Canvas::Scatter), &img)
    }

    async fn draw_interpolation(&self, lab: &Lab<VaeTrainer>) -> Result<(), JsError> {
        let (model, latent) = self.model(lab);
        let data = self.shared.data()?;
        self.draw_interpolation_with(&model, latent, &data).await
    }

    /// Row: digit a, decoded points on the line between their means, digit b.
    async fn draw_interpolation_with(&self, model: &Vae, latent: usize, data: &Mnist) -> Result<(), JsError> {
        let device = self.shared.backend.device.clone();
        let (a, b) = self.ends.get();
        let x = prepare(data.test.intensities(&[a, b]), Pixels::Binarized, &mut Rng::new(9));
        let mu = read(model.encode(tensor(x.clone(), [2, PIXELS], &device)).mu).await?;
        let line = interpolate(&mu[..latent], &mu[latent..], INTERPOLATION_STEPS);
        let decoded = read(model.decode_probs(tensor(line, [INTERPOLATION_STEPS, latent], &device))).await?;
        let mut row = x[..PIXELS].to_vec();
        row.extend(decoded);
        row.extend_from_slice(&x[PIXELS..]);
        put_rgba(self.canvas(Canvas::Interpolation), &image_grid(&row, INTERPOLATION_STEPS + 2, 2))
    }

    async fn hover(&self, lab: &Lab<VaeTrainer>, px: (f32, f32)) -> Result<JsValue, JsError> {
        let Some(frame) = self.scatter.borrow().frame else { return Ok(JsValue::NULL) };
        let z2 = frame.to_latent(px);
        // One decode at a time; a move that arrives meanwhile replaces the waiting one.
        if self.hover_busy.replace(true) {
            self.hover_next.set(Some(z2));
            return Ok(to_js(&[z2.0, z2.1]));
        }
        let mut next = Some(z2);
        while let Some(z2) = next {
            let (model, latent) = self.model(lab);
            let (a, b) = self.dims.get();
            let mut z = vec![0.0; latent];
            (z[a], z[b]) = z2;
            let image = read(model.decode_probs(tensor(z, [1, latent], &self.shared.backend.device))).await;
            match image {
                Ok(image) => put_rgba(self.canvas(Canvas::Hover), &image_grid(&image, 1, 0))?,
                Err(e) => {
                    self.hover_busy.set(false);
                    return Err(e);
                }
            }
            self.scatter.borrow_mut().hover = Some(z2);
            self.draw_scatter()?;
            next = self.hover_next.take();
        }
        self.hover_busy.set(false);
        Ok(to_js(&[z2.0, z2.1]))
    }

    async fn encode_drawing(&self, lab: &Lab<VaeTrainer>, pixels: Vec<f32>) -> Result<JsValue, JsError> {
        if pixels.len() != PIXELS || pixels.iter().any(|p| !p.is_finite()) {
            return Err(JsError::new(&format!("a drawing is 784 finite intensities, got {}", pixels.len())));
        }
        let device = self.shared.backend.device.clone();
        let (model, latent) = self.model(lab);
        // Pen strokes are near-binary; the model was trained on binary digits.
        let x: Vec<f32> = pixels.iter().map(|&p| if p >= 0.5 { 1.0 } else { 0.0 }).collect();
        let xt = tensor(x.clone(), [1, PIXELS], &device);
        let posterior = model.encode(xt.clone());
        let samples = 32;
        let eps = tensor(Rng::new(10).normals(samples * latent), [samples, latent], &device);
        let ElboTerms { reconstruction, kl } = model.elbo_terms(xt.repeat_dim(0, samples), eps);
        let terms = Tensor::cat(vec![reconstruction.mean(), kl.mean()], 0).unsqueeze::<2>();
        let mu = read(posterior.mu.clone()).await?;
        let sigma = match posterior.log_var {
            Some(lv) => read((lv * 0.5).exp()).await?,
            None => vec![0.0; latent],
        };
        let recon = read(model.decode_probs(posterior.mu)).await?;
        let terms = read(terms).await?;
        let mut pair = x;
        pair.extend(recon);
        put_rgba(self.canvas(Canvas::Drawn), &image_grid(&pair, 2, 2))?;
        let (a, b) = self.dims.get();
        self.scatter.borrow_mut().drawn = Some(((mu[a], mu[b]), (sigma[a], sigma[b])));
        self.draw_scatter()?;
        Ok(to_js(&serde_json::json!({
            "mu": mu, "sigma": sigma,
            "reconstruction": terms[0], "kl": terms[1], "negative_elbo": terms[0] + terms[1],
        })))
    }
}
