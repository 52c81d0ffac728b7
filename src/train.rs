//! The one training loop every model plugs into: start, pause, single step, reset; batches,
//! learning rate and seed; metrics streamed out in chunks; a stop on non-finite loss.
//!
//! A model implements [`Trainable`]: one optimizer step on a batch, returning its metrics as a
//! tensor that stays on the device. The loop queues steps in chunks and reads the metrics of a
//! whole chunk back at once, asynchronously: on WebGPU a read-back is the only time the page
//! waits for the GPU, and in the browser it must not block (a sync read panics there).

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::data::{Mnist, PIXELS, Sampler, binarize};
use crate::rng::Rng;

/// How a model wants its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// 0/1, resampled each batch (likelihood models: VAE, PixelCNN).
    Binarized,
    /// In [−1, 1] (GANs with a tanh generator).
    Signed,
}

/// What a model gives the training loop.
pub trait Trainable {
    /// Names of the values `step` returns, in order (the first is the loss that is plotted first).
    fn metric_names(&self) -> &'static [&'static str];
    fn pixels(&self) -> Pixels;
    /// One optimizer update on images [batch, 784]; returns the metrics, still on the device.
    fn step(&mut self, images: Tensor<2>, lr: f64) -> Tensor<1>;
    /// The same metrics on held-out images, without updating anything.
    fn evaluate(&self, images: Tensor<2>) -> Tensor<1>;
    /// Batches of images one step consumes (a GAN's k discriminator updates each want their own).
    fn batches_per_step(&self) -> usize {
        1
    }
    /// Model-specific facts for the page's status line (e.g. a GAN's update counts).
    fn summary(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Settings {
    /// Rejects values that would crash or silently do nothing; the message is shown as is.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=1024).contains(&self.batch_size) {
            return Err(format!("batch size {} is outside 1–1024", self.batch_size));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return Err(format!("learning rate {} is not in (0, 1]", self.lr));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", content = "message", rename_all = "lowercase")]
pub enum Status {
    Paused,
    Running,
    /// Stopped by a non-finite loss; the message says what happened and what to do.
    Diverged(String),
}

/// Metrics at one step.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub step: u64,
    pub values: Vec<f32>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub names: Vec<&'static str>,
    pub train: Vec<Point>,
    pub test: Vec<Point>,
    pub step: u64,
    pub epoch: usize,
    /// Seconds spent training (chunks only, not pauses).
    pub elapsed_s: f64,
    pub images_per_s: f64,
}

/// A chunk queued on the device, waiting to be read back.
pub struct Pending {
    /// Train metrics of each step, then (if `tested`) the test metrics, flattened.
    pub values: Tensor<1>,
    steps: usize,
    tested: bool,
    started_ms: f64,
}

/// How many held-out digits a test evaluation uses, and how often it runs.
const TEST_SIZE: usize = 1000;
const TEST_EVERY_STEPS: u64 = 200;
/// Wall time a chunk of steps aims for, and the CPU time after which a chunk stops queuing
/// (on the CPU backend a step runs synchronously, so this bounds how long the page freezes).
const CHUNK_TARGET_MS: f64 = 250.0;
const CPU_BUDGET_MS: f64 = 35.0;

pub struct Trainer<M> {
    pub model: M,
    pub settings: Settings,
    pub status: Status,
    pub history: History,
    device: Device,
    data: Arc<Mnist>,
    sampler: Sampler,
    rng: Rng,
    steps_per_chunk: usize,
}

impl<M: Trainable> Trainer<M> {
    /// `device` must have autodiff enabled (the model was built on it).
    pub fn new(model: M, settings: Settings, data: Arc<Mnist>, device: Device) -> Self {
        device.seed(settings.seed);
        let history = History { names: model.metric_names().to_vec(), ..History::default() };
        Trainer {
            sampler: Sampler::new(data.train.len()),
            rng: Rng::new(settings.seed),
            model,
            settings,
            status: Status::Paused,
            history,
            device,
            data,
            steps_per_chunk: 1,
        }
    }

    /// Starts over with `model` and the current settings.
    pub fn reset(&mut self, model: M) {
        *self = Trainer::new(model, self.settings.clone(), self.data.clone(), self.device.clone());
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The tensor of a step's training images, prepared the way the model wants them.
    pub fn next_batch(&mut self) -> Tensor<2> {
        let size = self.settings.batch_size * self.model.batches_per_step();
        let indices = self.sampler.batch(size, &mut self.rng);
        self.history.epoch = self.sampler.epoch;
        let pixels = self.model.pixels();
        let values = prepare(self.data.train.intensities(&indices), pixels, &mut self.rng);
        Tensor::from_data(TensorData::new(values, [indices.len(), PIXELS]), &self.device)
    }

    /// Queues steps until the chunk is full or `budget_ms` of this thread's time is used
    /// (`steps` overrides the chunk size, e.g. 1 for the Step button).
    pub fn queue(&mut self, steps: Option<usize>, now_ms: &dyn Fn() -> f64) -> Pending {
        let started_ms = now_ms();
        let max = steps.unwrap_or(self.steps_per_chunk);
        let mut metrics = Vec::with_capacity(max);
        // Stop early when one more step (as long as the last one) would overrun the budget.
        let mut last_step_ms = 0.0;
        while metrics.len() < max
            && (steps.is_some() || metrics.is_empty() || now_ms() - started_ms + last_step_ms <= CPU_BUDGET_MS)
        {
            let t = now_ms();
            let batch = self.next_batch();
            metrics.push(self.model.step(batch, self.settings.lr));
            self.history.step += 1;
            last_step_ms = now_ms() - t;
        }
        let steps = metrics.len();
        let tested = self.history.step / TEST_EVERY_STEPS != (self.history.step - steps as u64) / TEST_EVERY_STEPS
            || self.history.test.is_empty();
        if tested {
            metrics.push(self.evaluate_test());
        }
        Pending { values: Tensor::cat(metrics, 0), steps, tested, started_ms }
    }

    /// Test metrics on a fixed held-out slice (fresh binarization each time).
    pub fn evaluate_test(&mut self) -> Tensor<1> {
        let n = TEST_SIZE.min(self.data.test.len());
        let indices: Vec<usize> = (0..n).collect();
        let values = prepare(self.data.test.intensities(&indices), self.model.pixels(), &mut self.rng);
        self.model.evaluate(Tensor::from_data(TensorData::new(values, [n, PIXELS]), &self.device))
    }

    /// Records a chunk's read-back values. A non-finite value stops training with a message.
    pub fn record(&mut self, pending: &Pending, values: &[f32], now_ms: f64) -> Result<(), String> {
        let m = self.history.names.len();
        let first_step = self.history.step - pending.steps as u64;
        for (i, row) in values.chunks(m).enumerate() {
            let is_test = pending.tested && i == pending.steps;
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                let step = first_step + (i.min(pending.steps.saturating_sub(1)) as u64) + 1;
                let msg = format!(
                    "Training stopped at step {step}: the {} {} became {}. The weights are no longer usable: \
                     press Reset (a lower learning rate helps).",
                    if is_test { "test" } else { "training" },
                    self.history.names[j],
                    row[j]
                );
                self.status = Status::Diverged(msg.clone());
                return Err(msg);
            }
            let point = Point { step: if is_test { self.history.step } else { first_step + i as u64 + 1 }, values: row.to_vec() };
            if is_test { self.history.test.push(point) } else { self.history.train.push(point) }
        }
        let wall_ms = (now_ms - pending.started_ms).max(1e-3);
        self.history.elapsed_s += wall_ms / 1000.0;
        let rate = (pending.steps * self.settings.batch_size) as f64 / (wall_ms / 1000.0);
        self.history.images_per_s =
            if self.history.images_per_s == 0.0 { rate } else { 0.7 * self.history.images_per_s + 0.3 * rate };
        // Aim each chunk at CHUNK_TARGET_MS of wall time: more steps per read-back on a fast GPU.
        if wall_ms < CHUNK_TARGET_MS / 2.0 && pending.steps == self.steps_per_chunk {
            self.steps_per_chunk = (self.steps_per_chunk * 2).min(64);
        } else if wall_ms > CHUNK_TARGET_MS * 2.0 {
            self.steps_per_chunk = (self.steps_per_chunk / 2).max(1);
        }
        Ok(())
    }

    /// Runs `steps` steps to completion, reading back once (native programs and tests).
    pub fn run_blocking(&mut self, steps: usize) -> Result<(), String> {
        let clock = now_ms;
        let pending = self.queue(Some(steps), &clock);
        let values = pending.values.clone().into_data().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        self.record(&pending, &values, now_ms())
    }
}

/// Turns intensities into what the model trains on.
pub fn prepare(intensities: Vec<f32>, pixels: Pixels, rng: &mut Rng) -> Vec<f32> {
    match pixels {
        Pixels::Binarized => binarize(&intensities, rng),
        Pixels::Signed => intensities.into_iter().map(|p| p * 2.0 - 1.0).collect(),
    }
}

/// Milliseconds from an arbitrary start: the page's clock in the browser.
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1000.0
    }
}
