//! The one training loop every model plugs into: start, pause, single step, reset; batches,
//! learning rate and seed; metrics streamed out in chunks; a stop on non-finite loss.
//!
//! A model implements [`Trainable`]: one optimizer step on a batch, returning its metrics as a
//! tensor that stays on the device. The loop queues steps in chunks and reads the metrics of a
//! whole chunk back at once, asynchronously: on WebGPU a read-back is the only time the page
//! waits for the GPU, and in the browser it must not block (a sync read panics there).

use std::sync::Arc;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Mnist, Sampler, binarize, binarize_tensor};
use crate::device::seeded;
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
    /// The same metrics on held-out images, without updating anything: means over the images,
    /// so those of a slice's pieces average to the slice's. `piece` numbers the pieces (0, 1, …):
    /// a model that draws noise here seeds it with that, so each piece gets draws of its own and
    /// every evaluation the same ones.
    fn evaluate(&self, images: Tensor<2>, piece: u64) -> Tensor<1>;
    /// Batches of images one step consumes (a GAN's k discriminator updates each want their own).
    fn batches_per_step(&self) -> usize {
        1
    }
    /// Model-specific facts for the page's status line (e.g. a GAN's update counts).
    fn summary(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// The model's float tensors (weights and running statistics, not the optimizer's state) in
    /// a fixed order, flattened: a copy of them read back to the host outlives a lost GPU.
    fn tensors(&self) -> Vec<Tensor<1>> {
        Vec::new()
    }
    /// Puts such values (same order and sizes) into the model, on the device it is on.
    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        if values.is_empty() { Ok(()) } else { Err("this model has no tensors to set".into()) }
    }
    /// Seeds the model's own random streams (the training loop calls it with the run's seed).
    fn seed(&mut self, _seed: u64) {}
    /// Everything a run needs to go on exactly where it stopped: the model's weights and every
    /// optimizer's state (Adam's moments and step count), as burnpack byte buffers.
    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        Err("this model cannot be checkpointed".into())
    }
    /// Puts back what [`save_state`](Trainable::save_state) gave.
    fn load_state(&mut self, _parts: Vec<Vec<u8>>) -> Result<(), String> {
        Err("this model cannot be checkpointed".into())
    }
    /// The weights as the native trainer writes them to pretrained/ (burnpack bytes the model's
    /// `load` reads): what the page's Save downloads.
    fn weights(&self) -> Result<Vec<u8>, String> {
        Err("this model cannot be saved".into())
    }
}

/// A weights file saved from the page: this line, the header's length (u64, little-endian), a
/// JSON header (the lab, the controls it was trained with, the step), then the burnpack bytes.
/// The header lets a file be refused by name in the wrong lab and restore the choice it needs.
const WEIGHTS_MAGIC: &[u8] = b"genlab weights 1\n";

/// `burnpack` with `header` in front (see [`WEIGHTS_MAGIC`]).
pub fn wrap_weights(header: &serde_json::Value, burnpack: &[u8]) -> Vec<u8> {
    let header = header.to_string().into_bytes();
    let mut bytes = WEIGHTS_MAGIC.to_vec();
    bytes.extend((header.len() as u64).to_le_bytes());
    bytes.extend(header);
    bytes.extend(burnpack);
    bytes
}

/// The header and the burnpack bytes of a [`wrap_weights`] file; a plain burnpack file (as the
/// native trainer writes) has no header. A damaged header is an error.
pub fn unwrap_weights(bytes: Vec<u8>) -> Result<(Option<serde_json::Value>, Vec<u8>), String> {
    let Some(rest) = bytes.strip_prefix(WEIGHTS_MAGIC) else { return Ok((None, bytes)) };
    let damaged = || "the weights file is damaged (its header is cut or garbled)".to_string();
    let len = u64::from_le_bytes(rest.get(..8).ok_or_else(damaged)?.try_into().unwrap());
    let end = usize::try_from(len).ok().and_then(|len| len.checked_add(8)).filter(|&end| end <= rest.len()).ok_or_else(damaged)?;
    let header: serde_json::Value = serde_json::from_slice(&rest[8..end]).map_err(|_| damaged())?;
    if !header.is_object() {
        return Err(damaged());
    }
    Ok((Some(header), rest[end..].to_vec()))
}

/// Weights in half precision, for files the page fetches as it opens: this line, then each of
/// the module's float tensors in [`module_tensors`] order as its element count (u64) and its
/// values as IEEE 754 binary16, little-endian. Half the bytes of burnpack's f32. Every float
/// tensor a module visits is there (burn visits running statistics as it does parameters).
const HALF_MAGIC: &[u8] = b"genlab half 1\n";

/// `module`'s weights as a [`HALF_MAGIC`] file (native: reads the tensors synchronously).
pub fn half_bytes<M: Module>(module: &M) -> Result<Vec<u8>, String> {
    let tensors = module_tensors(module);
    let mut out = HALF_MAGIC.to_vec();
    for t in tensors {
        let values = t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
        out.extend((values.len() as u64).to_le_bytes());
        out.extend(values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()));
    }
    Ok(out)
}

/// The tensors of a [`half_bytes`] file, as f32; `Ok(None)` when `bytes` is not one (a burnpack
/// file). A file cut short is an error.
pub fn half_tensors(bytes: &[u8]) -> Result<Option<Vec<Vec<f32>>>, String> {
    let Some(mut rest) = bytes.strip_prefix(HALF_MAGIC) else { return Ok(None) };
    let damaged = || "the half-precision weights file is cut short or damaged".to_string();
    let mut tensors = Vec::new();
    while !rest.is_empty() {
        let n = u64::from_le_bytes(rest.get(..8).ok_or_else(damaged)?.try_into().unwrap());
        let end = usize::try_from(n).ok().and_then(|n| n.checked_mul(2)).and_then(|b| b.checked_add(8)).filter(|&end| end <= rest.len()).ok_or_else(damaged)?;
        tensors.push(rest[8..end].chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect());
        rest = &rest[end..];
    }
    Ok(Some(tensors))
}

/// `module` with the weights of a file: burnpack (the trainer's, or a download from the page,
/// with its header) or half precision (the shipped files the page fetches as it opens). The
/// error says whether the file is damaged or does not fit `what` (e.g. "a VAE with latent size 2").
pub fn load_weights<M: Module>(module: M, bytes: Vec<u8>, what: &str) -> Result<M, String> {
    let (_, bytes) = unwrap_weights(bytes)?;
    let misfit = |e: String| format!("the weights do not fit {what} ({e})");
    if let Some(values) = half_tensors(&bytes)? {
        return with_tensors(module, values).map_err(misfit);
    }
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
        .map_err(|e| format!("the weights file is damaged or not a weights file ({e})"))?;
    module.try_load_record(record).map_err(|e| misfit(e.to_string()))
}

/// How a weights file stores a module: burnpack (the trainer's files, the page's Save) or
/// [`half_bytes`] (the shipped files the page fetches as it opens).
#[derive(Clone, Copy, Debug)]
pub enum Encoding {
    Burnpack,
    Half,
}

impl Encoding {
    pub fn bytes<M: Module>(self, module: &M) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Burnpack => module_bytes(module),
            Encoding::Half => half_bytes(module),
        }
    }
}

/// A module's weights as burnpack bytes (parameter ids included: the optimizer's state is
/// keyed by them).
pub fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>, String> {
    Ok(module.clone().into_record().into_bytes().map_err(|e| e.to_string())?.to_vec())
}

/// `module` with the weights of [`module_bytes`]; an error when they do not fit.
pub fn load_module_bytes<M: Module>(module: M, bytes: Vec<u8>) -> Result<M, String> {
    let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(|e| e.to_string())?;
    module.try_load_record(record).map_err(|e| e.to_string())
}

pub fn optimizer_bytes(optim: &burn::optim::ModuleOptimizer) -> Result<Vec<u8>, String> {
    Ok(optim.into_bytes().map_err(|e| e.to_string())?.to_vec())
}

pub fn load_optimizer_bytes(optim: burn::optim::ModuleOptimizer, bytes: Vec<u8>) -> Result<burn::optim::ModuleOptimizer, String> {
    optim.from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(|e| e.to_string())
}

/// How many values of `tensors` are not finite numbers (NaN or ±∞), in one read-back (async:
/// the page may be on WebGPU). A weights file full of NaN would otherwise load, draw black
/// pictures and turn the first training step's loss into NaN.
pub async fn count_non_finite(tensors: Vec<Tensor<1>>) -> Result<usize, String> {
    if tensors.is_empty() {
        return Ok(0);
    }
    let count = Tensor::cat(tensors, 0).is_finite().bool_not().float().sum();
    let data = count.into_data_async().await.map_err(|e| format!("{e:?}"))?;
    data.iter::<f32>().next().map(|n| n as usize).ok_or_else(|| "no value read back".to_string())
}

/// A module's float tensors, as [`Trainable::tensors`] wants them.
pub fn module_tensors<M: Module>(module: &M) -> Vec<Tensor<1>> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]).detach());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// `module` with its float tensors replaced by `values`, in [`module_tensors`] order, each on
/// the device its tensor was on; an error when the counts or sizes differ.
pub fn with_tensors<M: Module>(module: M, values: Vec<Vec<f32>>) -> Result<M, String> {
    struct Put(std::vec::IntoIter<Vec<f32>>, Option<String>);
    impl ModuleMapper for Put {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let next = self.0.next();
            param.map(|old| {
                let shape = old.shape();
                match next {
                    Some(v) if v.len() == shape.num_elements() => {
                        let grad = old.is_require_grad();
                        Tensor::from_data(TensorData::new(v, shape), &old.device()).set_require_grad(grad)
                    }
                    _ => {
                        self.1.get_or_insert_with(|| "the saved tensors do not fit the model".into());
                        old
                    }
                }
            })
        }
    }
    let mut put = Put(values.into_iter(), None);
    let module = module.map(&mut put);
    match (put.1, put.0.next()) {
        (None, None) => Ok(module),
        _ => Err("the saved tensors do not fit the model".into()),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    /// The learning rate is multiplied by this after every step (1: constant).
    #[serde(default = "constant_lr")]
    pub lr_decay: f64,
}

fn constant_lr() -> f64 {
    1.0
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
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(format!("learning-rate decay {} is not in (0, 1]", self.lr_decay));
        }
        Ok(())
    }

    /// The learning rate of the step after `steps` steps.
    pub fn lr_at(&self, steps: u64) -> f64 {
        self.lr * self.lr_decay.powf(steps as f64)
    }

    /// These settings with the rate after `steps` steps set to `lr`; the decay goes on from it.
    /// A resumed run's change of schedule (a lower rate once the curve has flattened).
    pub fn with_rate_from(&self, steps: u64, lr: f64) -> Settings {
        Settings { lr: lr / self.lr_decay.powf(steps as f64), ..self.clone() }
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

/// The most points a curve keeps: past it, neighbours are averaged in pairs (see [`Series`]), so
/// a two-hour run costs the chart what a two-minute one does.
pub const MAX_POINTS: usize = 2048;

/// A curve of metrics with a bounded number of points. Each point averages `stride` consecutive
/// recorded values (1 at first); when the curve is full, pairs of points merge and the stride
/// doubles, so it always spans the whole run at an even resolution.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Series {
    pub points: Vec<Point>,
    #[serde(skip)]
    stride: usize,
    /// Values recorded since the last point, summed, and how many.
    #[serde(skip)]
    pending: Option<(Point, usize)>,
}

impl Series {
    pub fn push(&mut self, point: Point) {
        let stride = self.stride.max(1);
        let (mut sum, n) = match self.pending.take() {
            None => (point, 1),
            Some((mut sum, n)) => {
                sum.values.iter_mut().zip(&point.values).for_each(|(s, v)| *s += v);
                sum.step = point.step;
                (sum, n + 1)
            }
        };
        if n < stride {
            self.pending = Some((sum, n));
            return;
        }
        sum.values.iter_mut().for_each(|v| *v /= n as f32);
        self.points.push(sum);
        if self.points.len() >= MAX_POINTS {
            self.points = self.points.chunks(2).map(average).collect();
            self.stride = stride * 2;
        }
    }

    /// How many recorded values each point averages.
    pub fn stride(&self) -> usize {
        self.stride.max(1)
    }
}

impl std::ops::Deref for Series {
    type Target = [Point];
    fn deref(&self) -> &[Point] {
        &self.points
    }
}

/// One point for several: their mean, at the last one's step.
fn average(points: &[Point]) -> Point {
    let n = points.len() as f32;
    let mut values = vec![0.0; points[0].values.len()];
    for p in points {
        values.iter_mut().zip(&p.values).for_each(|(s, v)| *s += v / n);
    }
    Point { step: points[points.len() - 1].step, values }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct History {
    pub names: Vec<&'static str>,
    pub train: Series,
    pub test: Series,
    pub step: u64,
    pub epoch: usize,
    /// Seconds spent training (chunks only, not pauses).
    pub elapsed_s: f64,
    pub images_per_s: f64,
}

/// A chunk queued on the device, waiting to be read back.
pub struct Pending {
    /// The metrics of each row, flattened.
    pub values: Tensor<1>,
    /// What each row of `values` is, in order.
    rows: Vec<Row>,
    steps: usize,
    started_ms: f64,
}

impl Pending {
    /// Training steps in the chunk (none when it only evaluated held-out digits).
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// A row of a chunk's metrics: a training step's, or a held-out evaluation's, at a step; or an
/// unfinished evaluation's sum, read back only so that the chunk waits for the device's work.
#[derive(Clone, Copy, Debug)]
enum Row {
    Train(u64),
    Test(u64),
    Unfinished,
}

/// How many held-out digits a test evaluation uses, and how often it runs.
const TEST_SIZE: usize = 1000;
const TEST_EVERY_STEPS: u64 = 200;

/// A held-out evaluation under way, a batch-sized piece of the slice at a time (no longer than a
/// step, so the page stays as responsive as while training). Training waits for it: its point
/// is the model at the step it began.
struct Evaluation {
    /// Digits per piece, fixed when it began, and the first digit not yet evaluated.
    piece_size: usize,
    next: usize,
    /// The binarization's seed (piece i uses seed + i): one draw of the test stream per
    /// evaluation, however it is cut up.
    seed: u64,
    /// Σ metrics × digits so far, on the device.
    sum: Option<Tensor<1>>,
}

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
    data: Dataset,
    sampler: Sampler,
    /// Batches, and the seed of each batch's binarization (drawn on the device).
    rng: Rng,
    /// The held-out digits' binarization seeds: a stream of its own, so evaluating never shifts
    /// the training batches.
    test_rng: Rng,
    evaluation: Option<Evaluation>,
    steps_per_chunk: usize,
}

impl<M: Trainable> Trainer<M> {
    /// `device` must have autodiff enabled (the model was built on it). Uploads the data to it.
    pub fn new(model: M, settings: Settings, data: Arc<Mnist>, device: Device) -> Self {
        let data = Dataset::new(data, &device);
        Self::with_dataset(model, settings, data, device)
    }

    /// The same with data already on `device` (shared by several trainers).
    pub fn with_dataset(mut model: M, settings: Settings, data: Dataset, device: Device) -> Self {
        model.seed(settings.seed);
        let history = History { names: model.metric_names().to_vec(), ..History::default() };
        Trainer {
            sampler: Sampler::new(data.host.train.len()),
            rng: Rng::new(settings.seed),
            test_rng: Rng::new(settings.seed ^ 0x7e57_7e57),
            model,
            settings,
            status: Status::Paused,
            history,
            device,
            data,
            evaluation: None,
            steps_per_chunk: 1,
        }
    }

    /// Starts over with `model` and the current settings.
    pub fn reset(&mut self, model: M) {
        *self = Trainer::with_dataset(model, self.settings.clone(), self.data.clone(), self.device.clone());
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Goes on with `model` on `device`, with `data` there (the GPU was lost): history, settings,
    /// batches and status stay as they are.
    pub fn move_to(&mut self, model: M, device: Device, data: Dataset) {
        self.model = model;
        self.device = device;
        self.set_data(data);
        // Its sum so far lived on the lost device: the evaluation starts over (same seed).
        if let Some(e) = &mut self.evaluation {
            e.next = 0;
            e.sum = None;
        }
    }

    /// Whether the training digits are here (the page loads the test digits first).
    pub fn has_training_digits(&self) -> bool {
        self.data.train.is_some()
    }

    /// Goes on with `data`: the same digits on another device, or with the training digits that
    /// arrived after the test digits (batches then start from a fresh epoch).
    pub fn set_data(&mut self, data: Dataset) {
        if self.sampler.len() != data.host.train.len() {
            self.sampler = Sampler::new(data.host.train.len());
        }
        self.data = data;
    }

    /// The tensor of a step's training images, prepared the way the model wants them: gathered
    /// on the device from their indices (the only upload), binarized there.
    pub fn next_batch(&mut self) -> Tensor<2> {
        let size = self.settings.batch_size * self.model.batches_per_step();
        let indices = self.sampler.batch(size, &mut self.rng);
        self.history.epoch = self.sampler.epoch;
        let train = self.data.train.as_ref().expect("training waits for the training digits (Lab::training_digits)");
        let intensities = train.intensities(&indices);
        prepare_tensor(intensities, self.model.pixels(), self.rng.next_u64())
    }

    /// Queues steps until the chunk is full or `CPU_BUDGET_MS` of this thread's time is used
    /// (the page's Train; `most` caps the steps, e.g. 1 for its Step button). The held-out digits
    /// are evaluated before the first step and after every `TEST_EVERY_STEPS`-th, a piece at a
    /// time within the budget; `on_gpu`, where pieces are only queued here (the device computes
    /// them while the worker answers), all in one chunk: a wait for the device costs more than
    /// queuing them (on SwiftShader, seconds a wait). Where evaluations fall, and so every random
    /// draw, does not depend on how the run is cut into chunks.
    pub fn queue(&mut self, most: Option<usize>, on_gpu: bool, now_ms: &dyn Fn() -> f64) -> Pending {
        let pieces_ms = if on_gpu { f64::INFINITY } else { CPU_BUDGET_MS };
        self.fill(most.unwrap_or(self.steps_per_chunk), CPU_BUDGET_MS, pieces_ms, now_ms)
    }

    /// Queues exactly `steps` steps and every evaluation they call for, whatever the time.
    pub fn queue_steps(&mut self, steps: usize, now_ms: &dyn Fn() -> f64) -> Pending {
        self.fill(steps, f64::INFINITY, f64::INFINITY, now_ms)
    }

    fn fill(&mut self, most: usize, steps_ms: f64, pieces_ms: f64, now_ms: &dyn Fn() -> f64) -> Pending {
        let most = most.max(1); // a chunk always does something: there is always a row to read
        let started_ms = now_ms();
        if self.history.step == 0 && self.history.test.is_empty() && self.evaluation.is_none() {
            self.begin_evaluation();
        }
        let mut metrics = Vec::new();
        let mut rows = Vec::new();
        let mut done = 0;
        // Stop when one more piece of work (as long as the last one) would overrun the budget.
        let mut last_ms = None;
        let budget_ms = |evaluating: bool| if evaluating { pieces_ms } else { steps_ms };
        while last_ms.is_none_or(|last| now_ms() - started_ms + last <= budget_ms(self.evaluation.is_some())) {
            let t = now_ms();
            if self.evaluation.is_some() {
                if let Some(test) = self.evaluate_piece() {
                    metrics.push(test);
                    rows.push(Row::Test(self.history.step));
                }
            } else if done < most {
                let batch = self.next_batch();
                metrics.push(self.model.step(batch, self.settings.lr_at(self.history.step)));
                self.history.step += 1;
                rows.push(Row::Train(self.history.step));
                done += 1;
                if self.history.step.is_multiple_of(TEST_EVERY_STEPS) {
                    self.begin_evaluation();
                }
            } else {
                break;
            }
            last_ms = Some(now_ms() - t);
        }
        if let Some(sum) = self.evaluation.as_ref().and_then(|e| e.sum.clone()) {
            metrics.push(sum);
            rows.push(Row::Unfinished);
        }
        Pending { values: Tensor::cat(metrics, 0), rows, steps: done, started_ms }
    }

    fn begin_evaluation(&mut self) {
        let piece_size = self.settings.batch_size.max(1);
        self.evaluation = Some(Evaluation { piece_size, next: 0, seed: self.test_rng.next_u64(), sum: None });
    }

    /// Evaluates the next piece of the evaluation under way; at its last, ends it and returns
    /// the slice's metrics.
    fn evaluate_piece(&mut self) -> Option<Tensor<1>> {
        let n = self.test_digits();
        let e = self.evaluation.as_mut().expect("an evaluation is under way");
        let digits = e.next..(e.next + e.piece_size).min(n);
        let piece = (e.next / e.piece_size) as u64;
        let images = prepare_tensor(self.data.test.range(digits.clone()), self.model.pixels(), e.seed.wrapping_add(piece));
        let weighted = self.model.evaluate(images, piece) * digits.len() as f32;
        let sum = match e.sum.take() {
            None => weighted,
            Some(sum) => sum + weighted,
        };
        e.next += digits.len();
        if e.next < n {
            e.sum = Some(sum);
            return None;
        }
        self.evaluation = None;
        Some(sum / n as f32)
    }

    /// How far the held-out evaluation under way has got: (digits done, digits in all).
    pub fn evaluating(&self) -> Option<(usize, usize)> {
        self.evaluation.as_ref().map(|e| (e.next, self.test_digits()))
    }

    /// How many held-out digits an evaluation covers (the fixture has fewer than `TEST_SIZE`).
    fn test_digits(&self) -> usize {
        TEST_SIZE.min(self.data.test.len())
    }

    /// Test metrics on the held-out slice now, in one go (what the training loop's evaluation
    /// would give, without drawing from its stream).
    pub fn evaluate_test(&mut self) -> Tensor<1> {
        let (running, rng) = (self.evaluation.take(), self.test_rng.clone());
        self.begin_evaluation();
        let metrics = loop {
            if let Some(metrics) = self.evaluate_piece() {
                break metrics;
            }
        };
        (self.evaluation, self.test_rng) = (running, rng);
        metrics
    }

    /// Records a chunk's read-back values. A non-finite value stops training with a message.
    pub fn record(&mut self, pending: &Pending, values: &[f32], now_ms: f64) -> Result<(), String> {
        let m = self.history.names.len();
        for (row, kind) in values.chunks(m).zip(&pending.rows) {
            let (step, is_test) = match *kind {
                Row::Train(step) => (step, false),
                Row::Test(step) => (step, true),
                Row::Unfinished => continue,
            };
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
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
            let point = Point { step, values: row.to_vec() };
            if is_test { self.history.test.push(point) } else { self.history.train.push(point) }
        }
        let wall_ms = (now_ms - pending.started_ms).max(1e-3);
        self.history.elapsed_s += wall_ms / 1000.0;
        if pending.steps == 0 {
            return Ok(()); // only held-out pieces: neither a rate nor a chunk size to learn from
        }
        let rate = (pending.steps * self.settings.batch_size) as f64 / (wall_ms / 1000.0);
        self.history.images_per_s = if self.history.images_per_s == 0.0 { rate } else { 0.7 * self.history.images_per_s + 0.3 * rate };
        // Aim each chunk at CHUNK_TARGET_MS of wall time: more steps per read-back on a fast GPU.
        if wall_ms < CHUNK_TARGET_MS / 2.0 && pending.steps == self.steps_per_chunk {
            self.steps_per_chunk = (self.steps_per_chunk * 2).min(64);
        } else if wall_ms > CHUNK_TARGET_MS * 2.0 {
            self.steps_per_chunk = (self.steps_per_chunk / 2).max(1);
        }
        Ok(())
    }

    /// Runs `steps` steps to completion, reading back once per chunk (native programs and tests).
    pub fn run_blocking(&mut self, steps: usize) -> Result<(), String> {
        let clock = now_ms;
        let end = self.history.step + steps as u64;
        while self.history.step < end {
            let pending = self.queue_steps((end - self.history.step) as usize, &clock);
            let values = pending.values.clone().into_data().try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
            self.record(&pending, &values, now_ms())?;
        }
        Ok(())
    }
}

/// What a checkpoint holds besides the model's own state: where the loop is.
#[derive(Serialize, Deserialize)]
struct LoopState {
    settings: Settings,
    step: u64,
    epoch: usize,
    elapsed_s: f64,
    sampler: Sampler,
    rng: Rng,
    test_rng: Rng,
    /// Byte lengths of the model's state parts, which follow the header in order.
    parts: Vec<usize>,
    /// The caller's notes (configuration, per-epoch figures).
    log: serde_json::Value,
}

const CHECKPOINT_MAGIC: &[u8] = b"genlab checkpoint 1\n";

impl<M: Trainable> Trainer<M> {
    /// A checkpoint: the model's and optimizers' state, the batch order and random streams, and
    /// `log`. [`resume`](Trainer::resume) from it continues exactly as if never stopped (every
    /// draw on the device is seeded from these host streams).
    pub fn checkpoint(&self, log: &serde_json::Value) -> Result<Vec<u8>, String> {
        let parts = self.model.save_state()?;
        let state = LoopState {
            settings: self.settings.clone(),
            step: self.history.step,
            epoch: self.history.epoch,
            elapsed_s: self.history.elapsed_s,
            sampler: self.sampler.clone(),
            rng: self.rng.clone(),
            test_rng: self.test_rng.clone(),
            parts: parts.iter().map(Vec::len).collect(),
            log: log.clone(),
        };
        let header = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
        let mut bytes = CHECKPOINT_MAGIC.to_vec();
        bytes.extend((header.len() as u64).to_le_bytes());
        bytes.extend(header);
        parts.iter().for_each(|p| bytes.extend(p));
        Ok(bytes)
    }

    /// Goes on from a [`checkpoint`](Trainer::checkpoint) (its settings replace the current
    /// ones); returns its `log`. On error nothing has changed.
    pub fn resume(&mut self, bytes: &[u8]) -> Result<serde_json::Value, String> {
        let damaged = || "the checkpoint is damaged or not a checkpoint".to_string();
        let rest = bytes.strip_prefix(CHECKPOINT_MAGIC).ok_or_else(damaged)?;
        let len = u64::from_le_bytes(rest.get(..8).ok_or_else(damaged)?.try_into().unwrap()) as usize;
        let header = rest.get(8..8 + len).ok_or_else(damaged)?;
        let state: LoopState = serde_json::from_slice(header).map_err(|_| damaged())?;
        let mut at = 8 + len;
        let mut parts = Vec::new();
        for &n in &state.parts {
            parts.push(rest.get(at..at + n).ok_or_else(damaged)?.to_vec());
            at += n;
        }
        if at != rest.len() || state.sampler.len() != self.data.host.train.len() {
            return Err(damaged());
        }
        self.model.load_state(parts)?;
        self.settings = state.settings;
        self.history = History { names: self.history.names.clone(), step: state.step, epoch: state.epoch, elapsed_s: state.elapsed_s, ..History::default() };
        self.sampler = state.sampler;
        self.rng = state.rng;
        self.test_rng = state.test_rng;
        self.evaluation = None;
        Ok(state.log)
    }
}

/// The first `n` digits of `split` in chunks of 500, binarized from `rng`: each chunk's summed
/// −log p(x) by `nll` (an exact-likelihood model's), still on the device. The native evaluator
/// reads them at once, the page without blocking: the same digits and binarization either way.
pub fn nll_sums<'a>(
    nll: impl Fn(Tensor<2>) -> Tensor<1> + 'a,
    split: &'a crate::data::Split,
    n: usize,
    rng: &'a mut crate::rng::Rng,
    device: &'a Device,
) -> impl Iterator<Item = Tensor<1>> + 'a {
    let n = n.min(split.len());
    (0..n).step_by(500).map(move |start| {
        let chunk: Vec<usize> = (start..(start + 500).min(n)).collect();
        let x = prepare(split.intensities(&chunk), Pixels::Binarized, rng);
        nll(Tensor::<2>::from_data(burn::tensor::TensorData::new(x, [chunk.len(), crate::data::PIXELS]), device)).sum()
    })
}

/// Exact −log p(x) in nats per image over a whole split, averaged over `binarizations` draws
/// of its dynamic binarization (synchronous reads: native evaluation).
pub fn exact_nll(nll: impl Fn(Tensor<2>) -> Tensor<1>, split: &crate::data::Split, binarizations: usize, rng: &mut crate::rng::Rng, device: &Device) -> f64 {
    let mut sum = 0.0f64;
    for _ in 0..binarizations.max(1) {
        sum += nll_sums(&nll, split, split.len(), rng, device).map(|t| t.into_scalar::<f32>() as f64).sum::<f64>();
    }
    sum / (split.len() * binarizations.max(1)) as f64
}

/// A model of exact likelihood (NADE, PixelCNN, PixelRNN): −log p(x) of each binarized image,
/// all 784 conditionals in one pass from the real image. They all train the same way —
/// maximum likelihood — so one [`LikelihoodTrainer`] drives each of them.
pub trait ExactLikelihood: Module {
    type Config: Clone;
    /// What a refused checkpoint is said not to be ("a NADE's").
    const NAME: &'static str;
    /// Adam's ε for this model (the PixelRNN was trained with burn's default, 1e-5).
    const ADAM_EPSILON: f32 = 1e-8;
    fn init(config: &Self::Config, device: &Device) -> Self;
    /// −log p(x) in nats, one per image of x [batch, 784] (0/1 pixels).
    fn nll(&self, x: Tensor<2>) -> Tensor<1>;
}

/// An exact-likelihood model with its optimizer: what the training loop drives.
pub struct LikelihoodTrainer<M: ExactLikelihood> {
    pub config: M::Config,
    pub model: M,
    optim: burn::optim::ModuleOptimizer,
}

impl<M: ExactLikelihood> LikelihoodTrainer<M> {
    pub fn new(config: M::Config, device: &Device) -> Self {
        let model = M::init(&config, device);
        Self::from_model(config, model)
    }

    pub fn from_model(config: M::Config, model: M) -> Self {
        let optim = burn::optim::AdamConfig::new().with_epsilon(M::ADAM_EPSILON).init();
        LikelihoodTrainer { config, model, optim }
    }
}

/// [NLL in nats, bits/dim], batch means.
fn likelihood_metrics(nll: Tensor<1>) -> Tensor<1> {
    let nats = nll.mean().detach();
    Tensor::cat(vec![nats.clone(), nats / (crate::data::PIXELS as f32 * std::f32::consts::LN_2)], 0)
}

impl<M: ExactLikelihood> Trainable for LikelihoodTrainer<M> {
    fn metric_names(&self) -> &'static [&'static str] {
        &["NLL (nats)", "bits/dim"]
    }

    fn pixels(&self) -> Pixels {
        Pixels::Binarized
    }

    /// Maximum likelihood: the mean −log p(x) of the batch, every conditional at once.
    fn step(&mut self, x: Tensor<2>, lr: f64) -> Tensor<1> {
        let nll = self.model.nll(x);
        let grads = burn::optim::GradientsParams::from_grads(nll.clone().mean().backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        likelihood_metrics(nll)
    }

    fn evaluate(&self, x: Tensor<2>, _piece: u64) -> Tensor<1> {
        likelihood_metrics(self.model.valid().nll(x.without_autodiff()))
    }

    fn tensors(&self) -> Vec<Tensor<1>> {
        // valid() first: it merges running statistics (BatchNorm keeps them per thread).
        module_tensors(&self.model.valid())
    }

    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.model = with_tensors(self.model.clone(), values)?;
        Ok(())
    }

    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        Ok(vec![module_bytes(&self.model)?, optimizer_bytes(&self.optim)?])
    }

    fn load_state(&mut self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        let [model, optim]: [Vec<u8>; 2] = parts.try_into().map_err(|_| format!("the checkpoint is not {}", M::NAME))?;
        let model = load_module_bytes(self.model.clone(), model)?;
        self.optim = load_optimizer_bytes(self.optim.clone(), optim)?;
        self.model = model;
        Ok(())
    }

    fn weights(&self) -> Result<Vec<u8>, String> {
        module_bytes(&self.model.valid())
    }
}

/// Turns intensities on the device into what the model trains on, binarizing with noise drawn
/// there from the device's random stream seeded with `seed` (each batch gets its seed from the
/// run's host stream, so a resumed run draws what an unbroken one does).
pub fn prepare_tensor(intensities: Tensor<2>, pixels: Pixels, seed: u64) -> Tensor<2> {
    match pixels {
        Pixels::Binarized => {
            let device = intensities.device();
            let uniform = seeded(&device, seed, || Tensor::random(intensities.shape(), burn::tensor::Distribution::Uniform(0.0, 1.0), &device));
            binarize_tensor(intensities, uniform)
        }
        Pixels::Signed => intensities.mul_scalar(2.0).sub_scalar(1.0),
    }
}

/// Turns intensities into what the model trains on.
pub fn prepare(intensities: Vec<f32>, pixels: Pixels, rng: &mut Rng) -> Vec<f32> {
    match pixels {
        Pixels::Binarized => binarize(&intensities, rng),
        Pixels::Signed => intensities.into_iter().map(|p| p * 2.0 - 1.0).collect(),
    }
}

/// Milliseconds from an arbitrary start: `performance.now()` in the browser (page or worker).
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        thread_local! {
            static PERFORMANCE: Option<web_sys::Performance> = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
                .ok()
                .and_then(|p| p.dyn_into().ok());
        }
        PERFORMANCE.with(|p| p.as_ref().map_or(0.0, |p| p.now()))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1000.0
    }
}
