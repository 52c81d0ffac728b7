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
    fn metric_names(&self) -> &'static [&'static str] {
        &["-ELBO", "reconstruction", "KL"]
    }

    fn pixels(&self) -> Pixels {
        Pixels::Binarized
    }

    fn step(&mut self, x: Tensor<2>, lr: f64) -> Tensor<1> {
        let eps = Tensor::random([x.dims()[0], self.config.latent], Distribution::Normal(0.0, 1.0), &x.device());
        self.step_with_noise(x, eps, lr)
    }

    fn evaluate(&self, x: Tensor<2>) -> Tensor<1> {
        let model = self.model.valid();
        let x = x.without_autodiff();
        let eps = Tensor::random([x.dims()[0], self.config.latent], Distribution::Normal(0.0, 1.0), &x.device());
        let ElboTerms { reconstruction, kl } = model.elbo_terms(x, eps);
        metrics(reconstruction, kl)
    }
}
