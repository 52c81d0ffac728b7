//! Fixed workloads for comparing backends (and other frameworks): images/s of whole training
//! steps (forward + backward + update), built from the project's own model code.

use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Serialize;

use crate::data::PIXELS;
use crate::models::gan::{GanConfig, GanTrainer};
use crate::models::pixelcnn::{PixelCnnConfig, PixelCnnTrainer};
use crate::models::pixelrnn::{PixelRnnConfig, PixelRnnTrainer};
use crate::models::vae::{VaeConfig, VaeTrainer};
use crate::rng::Rng;
use crate::train::Trainable;

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub backend: String,
    pub workload: String,
    pub batch: usize,
    pub steps: usize,
    pub images_per_s: f64,
    pub ms_per_step: f64,
    /// WebGPU calls per timed step, where the caller can count them (see [`GpuCalls`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_step: Option<GpuCalls>,
}

/// Running totals of WebGPU calls (the page's worker counts them by wrapping the API): kernel
/// launches, buffer uploads from the host and their bytes, queue submissions.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct GpuCalls {
    pub dispatches: f64,
    pub uploads: f64,
    pub upload_bytes: f64,
    pub submits: f64,
}

impl GpuCalls {
    fn per_step(after: GpuCalls, before: GpuCalls, steps: usize) -> GpuCalls {
        let per = |a: f64, b: f64| ((a - b) / steps as f64 * 10.0).round() / 10.0;
        GpuCalls {
            dispatches: per(after.dispatches, before.dispatches),
            uploads: per(after.uploads, before.uploads),
            upload_bytes: per(after.upload_bytes, before.upload_bytes),
            submits: per(after.submits, before.submits),
        }
    }
}

impl BenchResult {
    pub fn with_backend(mut self, backend: &str) -> Self {
        self.backend = backend.into();
        self
    }
}

pub const WORKLOADS: &[&str] = &["vae_mlp", "dcgan", "dcgan_tf", "pixelcnn", "pixelrnn"];

/// Runs `steps` timed steps of `workload` after 3 warm-up steps (which compile shaders); `calls`
/// gives the WebGPU call totals so far, where they are counted.
pub async fn run(workload: &str, device: Device, steps: usize, now_ms: &dyn Fn() -> f64, calls: &dyn Fn() -> Option<GpuCalls>) -> Result<BenchResult, String> {
    let device = device.autodiff();
    let built = crate::device::seeded(&device, 7, || -> Result<(usize, f64, Box<dyn Trainable>), String> {
        Ok(match workload {
            // encoder 784-400-(20 μ, 20 log σ²), decoder 20-400-784, Adam 1e-3, batch 128
            "vae_mlp" => (128, 1e-3, Box::new(VaeTrainer::new(VaeConfig::vae(20), &device))),
            // the GAN lab's DCGAN (G: 64→128·7·7, convT 64, convT 1; D: conv 64, conv 128, dense 1),
            // Adam 2e-4 β1 0.5, batch 64; one step = one D update + one G update
            "dcgan" => (64, 2e-4, Box::new(GanTrainer::new(GanConfig::dcgan(), &device))),
            // the TensorFlow DCGAN tutorial's sizes (G dense 100→256·7·7, convT 5×5 128, 64, 1; D conv
            // 5×5/2 64, 128, dense 1), Adam 1e-4, batch 64; one D update + one G update
            "dcgan_tf" => {
                let mut gan = GanTrainer::new(GanConfig::dcgan_tf(), &device);
                gan.options.d_lr = 1e-4;
                (64, 1e-4, Box::new(gan))
            }
            // the PixelCNN lab's plain network (PixelCnnConfig::plain()), Adam 1e-3, batch 64
            "pixelcnn" => (64, 1e-3, Box::new(PixelCnnTrainer::new(PixelCnnConfig::plain(), &device))),
            // the PixelCNN lab's PixelRNN (PixelRnnConfig::small(): 7×7 mask A, one Row LSTM layer of
            // 16 units), Adam 1e-3, batch 64: 28 rows one after the other where PixelCNN does all at once
            "pixelrnn" => (64, 1e-3, Box::new(PixelRnnTrainer::new(PixelRnnConfig::small(), &device))),
            other => return Err(format!("unknown workload '{other}' (known: {})", WORKLOADS.join(", "))),
        })
    });
    let (batch, lr, mut trainer) = built?;
    let mut rng = Rng::new(1);
    // Binary pixels, mapped to [−1, 1] for a GAN.
    let signed = matches!(trainer.pixels(), crate::train::Pixels::Signed);
    let images: Vec<f32> = (0..batch * PIXELS)
        .map(|_| match (rng.uniform() < 0.2, signed) {
            (true, _) => 1.0,
            (false, true) => -1.0,
            (false, false) => 0.0,
        })
        .collect();
    let x = Tensor::<2>::from_data(TensorData::new(images, [batch, PIXELS]), &device);
    let timed = |n: usize, trainer: &mut Box<dyn Trainable>| {
        let start = now_ms();
        let mut last = None;
        for _ in 0..n {
            last = Some(trainer.step(x.clone(), lr));
        }
        (start, last)
    };
    let (_, warm) = timed(3, &mut trainer);
    read(warm).await?;
    let before = calls();
    let (start, last) = timed(steps.max(1), &mut trainer);
    read(last).await?;
    let ms = now_ms() - start;
    let per_step = before.zip(calls()).map(|(b, a)| GpuCalls::per_step(a, b, steps.max(1)));
    Ok(BenchResult {
        backend: String::new(),
        workload: workload.into(),
        batch,
        steps: steps.max(1),
        images_per_s: (steps.max(1) * batch) as f64 / (ms / 1000.0),
        ms_per_step: ms / steps.max(1) as f64,
        per_step,
    })
}

async fn read(t: Option<Tensor<1>>) -> Result<(), String> {
    let data = t.ok_or("no steps")?.into_data_async().await.map_err(|e| format!("{e:?}"))?;
    let values = data.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    if values.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(format!("non-finite loss {values:?}")) }
}
