//! The VAE lab's face: training controls from the shared loop, and the VAE's pictures.

use std::rc::Rc;

use burn::prelude::*;
use burn::tensor::TensorData;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::data::PIXELS;
use crate::models::vae::{VaeConfig, VaeTrainer};
use crate::render::image_grid;
use crate::rng::Rng;
use crate::train::{Settings, Trainer, prepare};

use super::lab::{Lab, Redraw};
use super::{Shared, canvas_in, put_rgba, read};

/// Digits shown in the reconstruction view, and samples in the prior view.
const SHOWN: usize = 10;
const SAMPLES: usize = 40;

#[wasm_bindgen]
pub struct VaeLab {
    lab: Rc<Lab<VaeTrainer>>,
    shared: Rc<Shared>,
    views: Rc<Views>,
    redraw: Redraw,
}

struct Views {
    reconstructions: HtmlCanvasElement,
    samples: HtmlCanvasElement,
}

#[wasm_bindgen]
impl VaeLab {
    pub(crate) fn new(shared: Rc<Shared>, canvases: JsValue) -> Result<VaeLab, JsError> {
        let device = shared.backend.device.clone().autodiff();
        let settings = Settings { batch_size: 128, lr: 1e-3, seed: 1 };
        let model = VaeTrainer::new(VaeConfig::vae(2), &device);
        let trainer = Trainer::new(model, settings, shared.data()?, device);
        let lab = Lab::new(trainer, canvas_in(&canvases, "chart")?, vec![0, 1, 2]);
        let views = Rc::new(Views {
            reconstructions: canvas_in(&canvases, "reconstructions")?,
            samples: canvas_in(&canvases, "samples")?,
        });
        let redraw: Redraw = {
            let (lab, views, shared) = (lab.clone(), views.clone(), shared.clone());
            Rc::new(move || {
                let (lab, views, shared) = (lab.clone(), views.clone(), shared.clone());
                Box::pin(async move { views.draw(&lab, &shared).await })
            })
        };
        Ok(VaeLab { lab, shared, views, redraw })
    }

    pub fn start(&self) {
        self.lab.start(self.redraw.clone());
    }

    pub fn pause(&self) {
        self.lab.pause();
    }

    pub async fn step(&self) -> Result<(), JsError> {
        self.lab.step(&self.redraw).await
    }

    /// A fresh model: `kind` is "vae" or "ae", `latent` its size.
    pub fn reset(&self, kind: &str, latent: usize) -> Result<(), JsError> {
        if ![2, 8, 16, 20, 32].contains(&latent) {
            return Err(JsError::new(&format!("latent size {latent} is not offered (2, 8, 16, 20, 32)")));
        }
        let config = match kind {
            "vae" => VaeConfig::vae(latent),
            "ae" => VaeConfig::autoencoder(latent),
            other => return Err(JsError::new(&format!("unknown model '{other}'"))),
        };
        let device = self.lab.trainer.borrow().device().clone();
        self.lab.reset(VaeTrainer::new(config, &device));
        Ok(())
    }

    #[wasm_bindgen(js_name = setSettings)]
    pub fn set_settings(&self, batch_size: usize, lr: f64, seed: f64) -> Result<(), JsError> {
        if !(seed.is_finite() && seed >= 0.0) {
            return Err(JsError::new(&format!("seed {seed} must be a whole number ≥ 0")));
        }
        self.lab.set_settings(Settings { batch_size, lr, seed: seed as u64 })
    }

    #[wasm_bindgen(js_name = onUpdate)]
    pub fn on_update(&self, f: js_sys::Function) {
        self.lab.on_update(f);
    }

    pub fn status(&self) -> JsValue {
        self.lab.status()
    }

    /// Redraws every view now.
    pub async fn draw(&self) -> Result<(), JsError> {
        self.lab.draw_chart();
        self.views.draw(&self.lab, &self.shared).await
    }
}

impl Views {
    async fn draw(&self, lab: &Lab<VaeTrainer>, shared: &Shared) -> Result<(), JsError> {
        let data = shared.data()?;
        // Build every tensor first, then read back: no borrow is held across an await.
        let (recon, samples, originals) = {
            let trainer = lab.trainer.borrow();
            let model = trainer.model.model.valid();
            let device = shared.backend.device.clone();
            let mut rng = Rng::new(7);
            let indices: Vec<usize> = (0..SHOWN.min(data.test.len())).collect();
            let x = prepare(data.test.intensities(&indices), crate::train::Pixels::Binarized, &mut rng);
            let x_t = Tensor::<2>::from_data(TensorData::new(x.clone(), [indices.len(), PIXELS]), &device);
            let recon = model.decode_probs(model.encode(x_t).mu);
            let latent = trainer.model.config.latent;
            let z = Tensor::<2>::from_data(TensorData::new(rng.normals(SAMPLES * latent), [SAMPLES, latent]), &device);
            (recon, model.decode_probs(z), x)
        };
        let recon = read(recon).await?;
        let samples = read(samples).await?;
        let mut pairs = originals;
        pairs.extend_from_slice(&recon);
        put_rgba(&self.reconstructions, &image_grid(&pairs, SHOWN, 2))?;
        put_rgba(&self.samples, &image_grid(&samples, 10, 2))?;
        Ok(())
    }
}
