//! Variational autoencoder (Kingma & Welling 2014) and, beside it, a plain autoencoder.
//!
//! Encoder q(z|x) = N(μ(x), σ²(x)), decoder p(x|z) = Bernoulli(sigmoid(logits(z))), prior N(0, I).
//! Training minimises −ELBO = E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)), in nats per image.
//! The autoencoder has no σ and no KL: its code is a point, so nothing shapes the latent space
//! into the prior, and decoding samples from N(0, I) gives garbage. The lecture's point.

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::Distribution;
use serde::{Deserialize, Serialize};

use crate::data::PIXELS;
use crate::train::{Pixels, Trainable};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Size of z: 2 for the manifold picture, 20 for likelihood.
    pub latent: usize,
    pub hidden: usize,
    /// false: a plain autoencoder on the same architecture.
    pub variational: bool,
    /// Weight on the KL term; 1 is the VAE (β-VAE otherwise).
    pub beta: f32,
}

impl VaeConfig {
    pub fn vae(latent: usize) -> Self {
        VaeConfig { latent, hidden: 400, variational: true, beta: 1.0 }
    }

    pub fn autoencoder(latent: usize) -> Self {
        VaeConfig { variational: false, ..Self::vae(latent) }
    }

    pub fn init(&self, device: &Device) -> Vae {
        Vae {
            hidden: LinearConfig::new(PIXELS, self.hidden).init(device),
            mu: LinearConfig::new(self.hidden, self.latent).init(device),
            log_var: self.variational.then(|| LinearConfig::new(self.hidden, self.latent).init(device)),
            dec_hidden: LinearConfig::new(self.latent, self.hidden).init(device),
            dec_out: LinearConfig::new(self.hidden, PIXELS).init(device),
        }
    }
}

impl VaeConfig {
    /// A model with the weights in `bytes` (burnpack, as the native trainer writes them), checked
    /// against this architecture. The error says whether the file is damaged or does not fit.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<Vae, String> {
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| format!("the weights file is damaged or not a weights file ({e})"))?;
        let name = if self.variational { "a VAE" } else { "an autoencoder" };
        self.init(device)
            .try_load_record(record)
            .map_err(|e| format!("the weights do not fit {name} with latent size {} ({e})", self.latent))
    }
}

/// MLP encoder 784-h-(z μ, z log σ²) and decoder z-h-784 with ReLU.
#[derive(Module, Debug)]
pub struct Vae {
    hidden: Linear,
    mu: Linear,
    /// None for the plain autoencoder.
    log_var: Option<Linear>,
    dec_hidden: Linear,
    dec_out: Linear,
}

/// The encoder's answer for a batch: the posterior's mean and log-variance.
pub struct Posterior {
    pub mu: Tensor<2>,
    /// None for the autoencoder, whose code is the point μ.
    pub log_var: Option<Tensor<2>>,
}

/// Per-image loss terms, in nats.
pub struct ElboTerms {
    /// −log p(x|z) for the sampled z.
    pub reconstruction: Tensor<1>,
    /// KL(q(z|x) ‖ N(0, I)); zero for the autoencoder.
    pub kl: Tensor<1>,
}

impl Vae {
    pub fn encode(&self, x: Tensor<2>) -> Posterior {
        let h = relu(self.hidden.forward(x));
        Posterior { mu: self.mu.forward(h.clone()), log_var: self.log_var.as_ref().map(|l| l.forward(h)) }
    }

    /// Bernoulli logits of p(x|z).
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.dec_out.forward(relu(self.dec_hidden.forward(z)))
    }

    /// Pixel probabilities of p(x|z), for pictures.
    pub fn decode_probs(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode(z))
    }

    /// The loss terms for binary images `x` with reparameterization noise `eps` ~ N(0, I):
    /// z = μ + σ·ε keeps the sample differentiable in μ and σ.
    pub fn elbo_terms(&self, x: Tensor<2>, eps: Tensor<2>) -> ElboTerms {
        let Posterior { mu, log_var } = self.encode(x.clone());
        let (z, kl) = match log_var {
            Some(log_var) => {
                let z = mu.clone() + (log_var.clone() * 0.5).exp() * eps;
                (z, kl_to_standard_normal(mu, log_var))
            }
            None => {
                let batch = mu.dims()[0];
                (mu.clone(), Tensor::zeros([batch], &mu.device()))
            }
        };
        ElboTerms { reconstruction: bernoulli_nll(self.decode(z), x), kl }
    }

    pub fn latent(&self) -> usize {
        self.mu.weight.dims()[1]
    }

    pub fn is_variational(&self) -> bool {
        self.log_var.is_some()
    }
}

/// −log Bernoulli(x | sigmoid(logits)) summed over pixels, per image:
/// −[x log σ(l) + (1 − x) log σ(−l)] = softplus(l) − x·l, with softplus(l) = −log σ(−l) in
/// burn's overflow-safe form (whose gradient, σ(l) − x, is smooth even at l = 0).
pub fn bernoulli_nll(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let per_pixel = -log_sigmoid(-logits.clone()) - x * logits;
    per_pixel.sum_dim(1).squeeze_dim(1)
}

/// KL(N(μ, σ²) ‖ N(0, I)) in closed form, summed over latent dimensions, per image:
/// ½ Σ (μ² + σ² − 1 − log σ²).
pub fn kl_to_standard_normal(mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    ((mu.square() + log_var.clone().exp() - 1.0 - log_var) * 0.5).sum_dim(1).squeeze_dim(1)
}

/// log N(v; 0, I) summed over the last dimension, per row: −½ Σ v² − (d/2) log 2π.
fn log_standard_normal(v: Tensor<2>) -> Tensor<1> {
    let d = v.dims()[1] as f32;
    (v.square().sum_dim(1).squeeze_dim(1) * -0.5) - 0.5 * d * (std::f32::consts::TAU).ln()
}

impl Vae {
    /// log w_i = log p(x, z_i) − log q(z_i|x) for `k` samples z_i ~ q(z|x) of each image:
    /// returns [images, k]. `eps` holds the noise, [images · k, latent], image-major.
    pub fn log_importance_weights(&self, x: Tensor<2>, eps: Tensor<2>, k: usize) -> Tensor<2> {
        let [n, pixels] = x.dims();
        let latent = self.latent();
        let Posterior { mu, log_var } = self.encode(x.clone());
        let log_var = log_var.expect("importance weights need a variational encoder");
        // Repeat each image's posterior k times: [n, latent] → [n·k, latent].
        let repeat = |t: Tensor<2>| t.unsqueeze_dim::<3>(1).repeat_dim(1, k).reshape([n * k, latent]);
        let (mu, log_var) = (repeat(mu), repeat(log_var));
        let z = mu + (log_var.clone() * 0.5).exp() * eps.clone();
        let x = x.unsqueeze_dim::<3>(1).repeat_dim(1, k).reshape([n * k, pixels]);
        let log_px_z = -bernoulli_nll(self.decode(z.clone()), x);
        // log q(z|x) = log N(ε; 0, I) − ½ Σ log σ²  (change of variables z = μ + σ ε)
        let log_q = log_standard_normal(eps) - log_var.sum_dim(1).squeeze_dim(1) * 0.5;
        (log_px_z + log_standard_normal(z) - log_q).reshape([n, k])
    }
}

/// The importance-weighted bound (Burda et al. 2015) per image, from log weights [images, k]:
/// log (1/k) Σ_i w_i, computed stably as max + log Σ exp(log w − max) − log k.
pub fn iwae_bound(log_weights: Tensor<2>) -> Tensor<1> {
    let k = log_weights.dims()[1] as f32;
    let max = log_weights.clone().max_dim(1).detach();
    let sum = (log_weights - max.clone()).exp().sum_dim(1);
    (max + sum.log() - k.ln()).squeeze_dim(1)
}

/// A VAE with its optimizer: what the training loop drives.
pub struct VaeTrainer {
    pub config: VaeConfig,
    pub model: Vae,
    optim: ModuleOptimizer,
}

impl VaeTrainer {
    /// A fresh model; `device` should have autodiff enabled.
    pub fn new(config: VaeConfig, device: &Device) -> Self {
        let model = config.init(device);
        Self::from_model(config, model)
    }

    pub fn from_model(config: VaeConfig, model: Vae) -> Self {
        VaeTrainer { config, model, optim: AdamConfig::new().with_epsilon(1e-8).init() }
    }

    /// ε ~ N(0, I), one latent vector per image of `x`, on its device.
    fn noise(&self, x: &Tensor<2>) -> Tensor<2> {
        Tensor::random([x.dims()[0], self.config.latent], Distribution::Normal(0.0, 1.0), &x.device())
    }

    /// One step with given noise (tests use it to compare backends on identical inputs).
    pub fn step_with_noise(&mut self, x: Tensor<2>, eps: Tensor<2>, lr: f64) -> Tensor<1> {
        let ElboTerms { reconstruction, kl } = self.model.elbo_terms(x, eps);
        let loss = reconstruction.clone() + kl.clone() * self.config.beta;
        let metrics = metrics(reconstruction, kl);
        let grads = GradientsParams::from_grads(loss.mean().backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        metrics
    }
}

/// [−ELBO, reconstruction, KL], batch means, detached from the graph.
fn metrics(reconstruction: Tensor<1>, kl: Tensor<1>) -> Tensor<1> {
    let rec = reconstruction.mean().detach();
    let kl = kl.mean().detach();
    Tensor::cat(vec![rec.clone() + kl.clone(), rec, kl], 0)
}

impl Trainable for VaeTrainer {
    fn tensors(&self) -> Vec<Tensor<1>> {
        // valid() first: it merges running statistics (BatchNorm keeps them per thread).
        crate::train::module_tensors(&self.model.valid())
    }

    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.model = crate::train::with_tensors(self.model.clone(), values)?;
        Ok(())
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["-ELBO", "reconstruction", "KL"]
    }

    fn pixels(&self) -> Pixels {
        Pixels::Binarized
    }

    fn step(&mut self, x: Tensor<2>, lr: f64) -> Tensor<1> {
        let eps = self.noise(&x);
        self.step_with_noise(x, eps, lr)
    }

    fn evaluate(&self, x: Tensor<2>) -> Tensor<1> {
        let x = x.without_autodiff();
        let eps = self.noise(&x);
        let ElboTerms { reconstruction, kl } = self.model.valid().elbo_terms(x, eps);
        metrics(reconstruction, kl)
    }
}

/// Held-out evaluation over a whole split, dynamically binarized with `rng`, in batches:
/// mean −ELBO (one z per image) and, when `k` > 0, the mean negative importance-weighted
/// bound −log p̂(x) with `k` samples. Nats per image.
pub fn evaluate_split(model: &Vae, split: &crate::data::Split, k: usize, rng: &mut crate::rng::Rng, device: &Device) -> (f64, Option<f64>) {
    use crate::train::{Pixels, prepare};
    use burn::tensor::TensorData;
    let latent = model.latent();
    let batch = if k > 0 { (20_000 / k).clamp(1, 500) } else { 500 };
    let (mut elbo_sum, mut iwae_sum) = (0.0f64, 0.0f64);
    let indices: Vec<usize> = (0..split.len()).collect();
    for chunk in indices.chunks(batch) {
        let n = chunk.len();
        let x = prepare(split.intensities(chunk), Pixels::Binarized, rng);
        let x = Tensor::<2>::from_data(TensorData::new(x, [n, PIXELS]), device);
        let eps = Tensor::<2>::from_data(TensorData::new(rng.normals(n * latent), [n, latent]), device);
        let ElboTerms { reconstruction, kl } = model.elbo_terms(x.clone(), eps);
        elbo_sum += scalar(reconstruction.sum() + kl.sum());
        if k > 0 {
            let eps = Tensor::<2>::from_data(TensorData::new(rng.normals(n * k * latent), [n * k, latent]), device);
            iwae_sum -= scalar(iwae_bound(model.log_importance_weights(x, eps, k)).sum());
        }
    }
    let n = split.len() as f64;
    (elbo_sum / n, (k > 0).then(|| iwae_sum / n))
}

/// Synchronous read: native programs only (a browser must read asynchronously).
fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().iter::<f32>().next().unwrap_or(f32::NAN) as f64
}

/// The 2-D manifold picture (Kingma & Welling, fig. 4): an n×n grid of latent points at the
/// quantiles (i + ½)/n of N(0, 1) along latent dimensions `dims`, the others 0; row-major from
/// the top (z2 decreasing down the rows, as on a plot). Returns [n·n · latent] values.
pub fn manifold_latents(n: usize, latent: usize, dims: (usize, usize)) -> Vec<f32> {
    let q: Vec<f32> = (0..n).map(|i| crate::rng::normal_quantile((i as f64 + 0.5) / n as f64) as f32).collect();
    let mut z = vec![0.0; n * n * latent];
    for row in 0..n {
        for col in 0..n {
            let k = (row * n + col) * latent;
            z[k + dims.0] = q[col];
            z[k + dims.1] = q[n - 1 - row];
        }
    }
    z
}

/// Points on the straight line from `a` to `b` in latent space, `steps` of them, ends included.
pub fn interpolate(a: &[f32], b: &[f32], steps: usize) -> Vec<f32> {
    (0..steps)
        .flat_map(|i| {
            let t = i as f32 / (steps.max(2) - 1) as f32;
            a.iter().zip(b).map(move |(a, b)| a + t * (b - a))
        })
        .collect()
}
