//! Variational autoencoder (Kingma & Welling 2014) and, beside it, a plain autoencoder and the
//! adversarial autoencoder.
//!
//! Encoder q(z|x) = N(μ(x), σ²(x)), decoder p(x|z) = Bernoulli(sigmoid(logits(z))), prior N(0, I).
//! Training minimises −ELBO = E_q[−log p(x|z)] + KL(q(z|x) ‖ p(z)), in nats per image.
//! The autoencoder has no σ and no KL: its code is a point, so nothing shapes the latent space
//! into the prior, and decoding samples from N(0, I) gives garbage. The lecture's point.
//!
//! The adversarial autoencoder (Makhzani et al. 2016) keeps the plain autoencoder's point code
//! but replaces the KL term by a game: a discriminator on z tells samples of the prior N(0, I)
//! from codes of digits, and the encoder is trained to fool it, which pushes the aggregate
//! posterior q(z) — all the codes together — toward the prior, so prior samples decode to digits.
//!
//! Burda et al. (2015) sharpen the bound: with k samples z_i ~ q(z|x) and weights
//! w_i = p(x, z_i) / q(z_i|x), log (1/k) Σ w_i is still a lower bound on log p(x), tighter as k
//! grows (k = 1 is the ELBO). Trained on it, the model is the IWAE. Their networks are here too:
//! two tanh layers of 200 on each side and z of 50, and a second stochastic layer on top
//! (z1 → 100 → 100 → z2, with p(z1|z2) and q(z2|z1)).

use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, log_sigmoid, relu, sigmoid, tanh};
use serde::{Deserialize, Serialize};

use crate::data::PIXELS;
use crate::rng::Rng;
use crate::train::{Pixels, Trainable};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Size of z (of z1 with two stochastic layers): 2 for the manifold picture, 20 or 50 for likelihood.
    pub latent: usize,
    pub hidden: usize,
    /// false: a plain autoencoder on the same architecture.
    pub variational: bool,
    /// Weight on the KL term; 1 is the VAE (β-VAE otherwise).
    pub beta: f32,
    /// Hidden layers in each network: 1 (the lecture's MLP) or 2 (Burda et al.).
    #[serde(default = "one")]
    pub depth: usize,
    /// tanh hidden units (Burda et al.) instead of ReLU.
    #[serde(default)]
    pub tanh: bool,
    /// A second stochastic layer z2 on top of z: its hidden width and size (Burda et al.: 100, 50).
    #[serde(default)]
    pub top: Option<(usize, usize)>,
    /// Samples per digit in the training objective: 1 trains the ELBO, k > 1 the IWAE bound.
    #[serde(default = "one")]
    pub k: usize,
    /// An adversarial autoencoder: a plain autoencoder with a discriminator on z (its hidden width).
    #[serde(default)]
    pub adversarial: Option<usize>,
}

fn one() -> usize {
    1
}

impl VaeConfig {
    /// The trainer's and evaluator's `--arch` (mlp: the lecture's network, latent 20 unless
    /// given; burda1 / burda2: Burda et al.'s, latent 50 unless given).
    pub fn named(arch: &str, latent: Option<usize>) -> Result<Self, String> {
        let burda = |two_layers| VaeConfig { latent: latent.unwrap_or(50), ..VaeConfig::burda(two_layers) };
        match arch {
            "mlp" => Ok(VaeConfig::vae(latent.unwrap_or(20))),
            "ae" => Ok(VaeConfig::autoencoder(latent.unwrap_or(20))),
            "aae" => Ok(VaeConfig::adversarial(latent.unwrap_or(20))),
            "burda1" => Ok(burda(false)),
            "burda2" => Ok(burda(true)),
            other => Err(format!("--arch {other}: mlp, burda1, burda2, ae or aae")),
        }
    }

    pub fn vae(latent: usize) -> Self {
        VaeConfig { latent, hidden: 400, variational: true, beta: 1.0, depth: 1, tanh: false, top: None, k: 1, adversarial: None }
    }

    pub fn autoencoder(latent: usize) -> Self {
        VaeConfig { variational: false, ..Self::vae(latent) }
    }

    /// The autoencoder with a discriminator of two hidden layers of 256 on its code.
    pub fn adversarial(latent: usize) -> Self {
        VaeConfig { adversarial: Some(256), ..Self::autoencoder(latent) }
    }

    /// Burda et al.'s networks: 784-200-200-z50 (tanh) and back; with `two_layers`, z1 of 50 and
    /// a second stochastic layer 50-100-100-z2 (50) on top.
    pub fn burda(two_layers: bool) -> Self {
        VaeConfig { latent: 50, hidden: 200, depth: 2, tanh: true, top: two_layers.then_some((100, 50)), ..Self::vae(50) }
    }

    pub fn check(&self) -> Result<(), String> {
        if !(1..=2).contains(&self.depth) {
            return Err(format!("{} hidden layers: 1 or 2", self.depth));
        }
        if !(1..=5000).contains(&self.k) {
            return Err(format!("k = {} samples is outside 1–5000", self.k));
        }
        if self.top.is_some() && !self.variational {
            return Err("a second stochastic layer needs a variational model".into());
        }
        if self.adversarial.is_some() && self.variational {
            return Err("an adversarial autoencoder's code is a point: it is not variational".into());
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Vae {
        // The initial weights, drawn in one turn of the device's random stream.
        crate::device::initialized(|| {
            let linear = |a, b| LinearConfig::new(a, b).init(device);
            let second = |width| (self.depth > 1).then(|| linear(width, width));
            Vae {
                hidden: linear(PIXELS, self.hidden),
                hidden2: second(self.hidden),
                mu: linear(self.hidden, self.latent),
                log_var: self.variational.then(|| linear(self.hidden, self.latent)),
                dec_hidden: linear(self.latent, self.hidden),
                dec_hidden2: second(self.hidden),
                dec_out: linear(self.hidden, PIXELS),
                top: self.top.map(|(width, z2)| TopLayer {
                    up: [linear(self.latent, width), linear(width, width)],
                    mu: linear(width, z2),
                    log_var: linear(width, z2),
                    down: [linear(z2, width), linear(width, width)],
                    prior_mu: linear(width, self.latent),
                    prior_log_var: linear(width, self.latent),
                }),
                prior_critic: self.adversarial.map(|width| PriorCritic { hidden: [linear(self.latent, width), linear(width, width)], out: linear(width, 1) }),
                tanh: self.tanh,
            }
        })
    }
}

impl VaeConfig {
    /// A model with the weights in `bytes` (burnpack or half precision), checked against this
    /// architecture. The error says whether the file is damaged or does not fit.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<Vae, String> {
        let name = match (self.variational, self.top.is_some(), self.depth > 1) {
            (false, _, _) if self.adversarial.is_some() => "an adversarial autoencoder",
            (false, _, _) => "an autoencoder",
            (true, true, _) => "a two-stochastic-layer VAE",
            (true, false, true) => "a VAE with two hidden layers",
            (true, false, false) => "a VAE",
        };
        crate::train::load_weights(self.init(device), bytes, &format!("{name} with latent size {}", self.latent))
    }
}

/// MLP encoder 784-h(-h)-(z μ, z log σ²) and decoder z-h(-h)-784, ReLU or tanh; optionally a
/// second stochastic layer on top.
#[derive(Module, Debug)]
pub struct Vae {
    hidden: Linear,
    hidden2: Option<Linear>,
    mu: Linear,
    /// None for the plain autoencoder.
    log_var: Option<Linear>,
    dec_hidden: Linear,
    dec_hidden2: Option<Linear>,
    dec_out: Linear,
    top: Option<TopLayer>,
    /// The adversarial autoencoder's discriminator on z.
    prior_critic: Option<PriorCritic>,
    tanh: bool,
}

/// D(z) of the adversarial autoencoder: the probability that z came from the prior rather than
/// from the encoder. LeakyReLU(0.2) MLP, one logit.
#[derive(Module, Debug)]
pub struct PriorCritic {
    hidden: [Linear; 2],
    out: Linear,
}

/// D's loss in the adversarial autoencoder, per row: −log D(z) − log(1 − D(E(x))) — prior
/// samples z are the real data, the encoder's codes E(x) the fakes (the GAN's discriminator loss).
pub fn prior_critic_loss(critic: &PriorCritic, prior: Tensor<2>, codes: Tensor<2>) -> Tensor<1> {
    crate::models::gan::discriminator_loss(critic.forward(prior), critic.forward(codes))
}

/// The encoder's adversarial loss, per row: −log D(E(x)), the non-saturating loss of fooling D —
/// the term that takes the KL's place.
pub fn fooling_loss(critic: &PriorCritic, codes: Tensor<2>) -> Tensor<1> {
    crate::models::gan::non_saturating_loss(critic.forward(codes))
}

impl PriorCritic {
    /// D's logits, one per row of z.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<1> {
        let h = leaky_relu(self.hidden[0].forward(z), 0.2);
        let h = leaky_relu(self.hidden[1].forward(h), 0.2);
        self.out.forward(h).squeeze_dim(1)
    }
}

/// The second stochastic layer: q(z2|z1) = N(μ, σ²) from z1 through two hidden layers, and the
/// prior of z1 becomes p(z1|z2) = N(prior μ, prior σ²) from z2 through two more; p(z2) = N(0, I).
#[derive(Module, Debug)]
pub struct TopLayer {
    up: [Linear; 2],
    mu: Linear,
    log_var: Linear,
    down: [Linear; 2],
    prior_mu: Linear,
    prior_log_var: Linear,
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
    fn act(&self, x: Tensor<2>) -> Tensor<2> {
        if self.tanh { tanh(x) } else { relu(x) }
    }

    /// One or two hidden layers.
    fn trunk(&self, first: &Linear, second: &Option<Linear>, x: Tensor<2>) -> Tensor<2> {
        let h = self.act(first.forward(x));
        match second {
            Some(layer) => self.act(layer.forward(h)),
            None => h,
        }
    }

    /// The adversarial autoencoder's D(z); `None` for the other models.
    pub fn prior_critic(&self) -> Option<&PriorCritic> {
        self.prior_critic.as_ref()
    }

    pub fn encode(&self, x: Tensor<2>) -> Posterior {
        let h = self.trunk(&self.hidden, &self.hidden2, x);
        Posterior { mu: self.mu.forward(h.clone()), log_var: self.log_var.as_ref().map(|l| l.forward(h)) }
    }

    /// Bernoulli logits of p(x|z).
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.dec_out.forward(self.trunk(&self.dec_hidden, &self.dec_hidden2, z))
    }

    /// q(z2|z1) of the second stochastic layer.
    fn encode_top(&self, top: &TopLayer, z1: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = self.act(top.up[1].forward(self.act(top.up[0].forward(z1))));
        (top.mu.forward(h.clone()), top.log_var.forward(h))
    }

    /// p(z1|z2): the prior of z1 given z2.
    fn prior_of_z1(&self, top: &TopLayer, z2: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = self.act(top.down[1].forward(self.act(top.down[0].forward(z2))));
        (top.prior_mu.forward(h.clone()), top.prior_log_var.forward(h))
    }

    /// z1 for z2 ~ N(0, I) at the mean of p(z1|z2) (two stochastic layers), or z itself:
    /// what prior samples decode (`z` holds the top layer's values).
    pub fn from_prior(&self, z: Tensor<2>) -> Tensor<2> {
        match &self.top {
            Some(top) => self.prior_of_z1(top, z).0,
            None => z,
        }
    }

    /// Size of the noise a prior sample starts from: z2's with two stochastic layers, else z's.
    pub fn prior_size(&self) -> usize {
        match &self.top {
            Some(top) => top.mu.weight.dims()[1],
            None => self.latent(),
        }
    }

    /// Sets the decoder's output bias to the logit of each pixel's mean over the training digits,
    /// so training starts from the average digit instead of grey (Burda et al.).
    pub fn with_output_bias(mut self, mean_pixels: &[f32]) -> Self {
        let logits: Vec<f32> = mean_pixels.iter().map(|&p| p.clamp(1e-3, 1.0 - 1e-3)).map(|p| (p / (1.0 - p)).ln()).collect();
        if let Some(bias) = self.dec_out.bias.take() {
            let device = bias.val().device();
            self.dec_out.bias = Some(bias.map(|_| Tensor::from_data(burn::tensor::TensorData::new(logits, [PIXELS]), &device)));
        }
        self
    }

    /// Pixel probabilities of p(x|z), for pictures.
    pub fn decode_probs(&self, z: Tensor<2>) -> Tensor<2> {
        sigmoid(self.decode(z))
    }

    /// The loss terms for binary images `x` with reparameterization noise `eps` ~ N(0, I):
    /// z = μ + σ·ε keeps the sample differentiable in μ and σ.
    /// With two stochastic layers `eps` also holds z2's noise (columns after z's), and the KL is
    /// log q(z1|x) − log p(z1|z2) at the sampled z's plus KL(q(z2|z1) ‖ N(0, I)) in closed form.
    pub fn elbo_terms(&self, x: Tensor<2>, eps: Tensor<2>) -> ElboTerms {
        if self.top.is_some() {
            let t = self.log_terms(x, eps);
            let top = t.top.expect("two stochastic layers");
            return ElboTerms { reconstruction: -t.log_px_z, kl: t.log_q - t.log_prior + top.kl };
        }
        let latent = self.latent();
        let eps = eps.clone().slice([0..eps.dims()[0], 0..latent]);
        let Posterior { mu, log_var } = self.encode(x.clone());
        let (z, kl) = match log_var {
            Some(log_var) => {
                let z = reparameterize(mu.clone(), log_var.clone(), eps);
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

    /// Noise values per sample: z's, plus z2's with a top layer.
    pub fn noise_size(&self) -> usize {
        self.latent() + self.top.as_ref().map_or(0, |t| t.mu.weight.dims()[1])
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

/// z = μ + σ·ε: a sample of N(μ, σ²) that stays differentiable in μ and σ.
fn reparameterize(mu: Tensor<2>, log_var: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
    mu + (log_var * 0.5).exp() * eps
}

/// log q(z) at z = μ + σ·ε, per row: log N(ε; 0, I) − ½ Σ log σ² (change of variables).
fn log_posterior(log_var: Tensor<2>, eps: Tensor<2>) -> Tensor<1> {
    log_standard_normal(eps) - log_var.sum_dim(1).squeeze_dim(1) * 0.5
}

/// log N(v; μ, σ²) summed over the last dimension, per row.
fn log_normal(v: Tensor<2>, mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let d = v.dims()[1] as f32;
    let z = (v - mu) * (log_var.clone() * -0.5).exp();
    (z.square().sum_dim(1).squeeze_dim(1) + log_var.sum_dim(1).squeeze_dim(1)) * -0.5 - 0.5 * d * (std::f32::consts::TAU).ln()
}

/// The log densities at one sample (per row): log p(x|z), log p(z) (p(z1|z2) with a top layer),
/// log q(z|x), and the top layer's.
struct LogTerms {
    log_px_z: Tensor<1>,
    log_prior: Tensor<1>,
    log_q: Tensor<1>,
    top: Option<TopTerms>,
}

/// log q(z2|z1) and log p(z2) at the sample, and KL(q(z2|z1) ‖ N(0, I)) in closed form.
struct TopTerms {
    log_q: Tensor<1>,
    log_prior: Tensor<1>,
    kl: Tensor<1>,
}

impl Vae {
    /// The log densities for one sample per row of `x` (noise `eps`: z's, then z2's).
    fn log_terms(&self, x: Tensor<2>, eps: Tensor<2>) -> LogTerms {
        let [rows, _] = eps.dims();
        let latent = self.latent();
        let Posterior { mu, log_var } = self.encode(x.clone());
        let log_var = log_var.expect("importance weights need a variational encoder");
        let eps1 = eps.clone().slice([0..rows, 0..latent]);
        let z = reparameterize(mu, log_var.clone(), eps1.clone());
        let log_px_z = -bernoulli_nll(self.decode(z.clone()), x);
        let log_q = log_posterior(log_var, eps1);
        match &self.top {
            None => LogTerms { log_px_z, log_prior: log_standard_normal(z), log_q, top: None },
            Some(top) => {
                let (mu2, log_var2) = self.encode_top(top, z.clone());
                let eps2 = eps.slice([0..rows, latent..latent + mu2.dims()[1]]);
                let z2 = reparameterize(mu2.clone(), log_var2.clone(), eps2.clone());
                let log_q2 = log_posterior(log_var2.clone(), eps2);
                let (prior_mu, prior_log_var) = self.prior_of_z1(top, z2.clone());
                let top = TopTerms { log_q: log_q2, log_prior: log_standard_normal(z2), kl: kl_to_standard_normal(mu2, log_var2) };
                LogTerms { log_px_z, log_prior: log_normal(z, prior_mu, prior_log_var), log_q, top: Some(top) }
            }
        }
    }

    /// log w_i = log p(x, z_i) − log q(z_i|x) for `k` samples z_i ~ q(z|x) of each image:
    /// returns [images, k]. `eps` holds the noise, [images · k, noise size], image-major.
    pub fn log_importance_weights(&self, x: Tensor<2>, eps: Tensor<2>, k: usize) -> Tensor<2> {
        self.tempered_log_weights(x, eps, k, 1.0)
    }

    /// log p(x|z_i) + β (log p(z_i) − log q(z_i|x)): the log weights with the prior and
    /// posterior terms scaled by β (KL warm-up; β = 1 gives the true weights).
    pub fn tempered_log_weights(&self, x: Tensor<2>, eps: Tensor<2>, k: usize, beta: f32) -> Tensor<2> {
        let [n, pixels] = x.dims();
        // Each image k times: [n, 784] → [n·k, 784], image-major like `eps`.
        let x = x.unsqueeze_dim::<3>(1).repeat_dim(1, k).reshape([n * k, pixels]);
        let t = self.log_terms(x, eps);
        let (mut log_prior, mut log_q) = (t.log_prior, t.log_q);
        if let Some(top) = t.top {
            log_prior = log_prior + top.log_prior;
            log_q = log_q + top.log_q;
        }
        (t.log_px_z + (log_prior - log_q) * beta).reshape([n, k])
    }
}

/// How far codes ([n · latent], row by row) are from N(0, I) in their first two moments:
/// ‖mean‖² + ‖covariance − I‖²_F. 0 for the prior itself (up to sampling); what the adversarial
/// autoencoder's discriminator drives down and a plain autoencoder's codes ignore.
pub fn prior_moment_distance(codes: &[f32], latent: usize) -> f64 {
    let n = codes.len() / latent;
    let at = |i: usize, j: usize| codes[i * latent + j] as f64;
    let mean: Vec<f64> = (0..latent).map(|j| (0..n).map(|i| at(i, j)).sum::<f64>() / n as f64).collect();
    let mut distance = mean.iter().map(|m| m * m).sum::<f64>();
    for a in 0..latent {
        for b in 0..latent {
            let cov = (0..n).map(|i| (at(i, a) - mean[a]) * (at(i, b) - mean[b])).sum::<f64>() / n as f64;
            distance += (cov - if a == b { 1.0 } else { 0.0 }).powi(2);
        }
    }
    distance
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
    /// KL warm-up: β rises linearly from 0 to `config.beta` over this many steps (0: no warm-up).
    pub warmup_steps: u64,
    /// Optimizer steps taken (the warm-up's clock).
    pub steps: u64,
    /// Where the reparameterization noise comes from (seeded by the training loop).
    noise_rng: Rng,
    /// The adversarial autoencoder's other two phases: Adam for its discriminator on z, and for
    /// the encoder fooling it.
    optim_critic: ModuleOptimizer,
    optim_encoder: ModuleOptimizer,
    /// Their learning rate, as a fraction of the reconstruction's.
    pub adversarial_lr: f64,
}

const NOISE_SEED: u64 = 0xE95;

impl VaeTrainer {
    /// A fresh model; `device` should have autodiff enabled.
    pub fn new(config: VaeConfig, device: &Device) -> Self {
        let model = config.init(device);
        Self::from_model(config, model)
    }

    pub fn from_model(config: VaeConfig, model: Vae) -> Self {
        // The discriminator's Adam as DCGAN's: β1 = 0.5 (see models::gan).
        let (optim_critic, optim_encoder) = (AdamConfig::new().with_beta_1(0.5).init(), AdamConfig::new().with_beta_1(0.5).init());
        VaeTrainer {
            config,
            model,
            optim: adam(1e-8),
            warmup_steps: 0,
            steps: 0,
            noise_rng: Rng::new(NOISE_SEED),
            optim_critic,
            optim_encoder,
            adversarial_lr: ADVERSARIAL_LR,
        }
    }

    /// Adam with this ε (Burda et al. use 1e-4: a larger ε damps steps of rarely-moving weights).
    pub fn with_adam_epsilon(mut self, epsilon: f32) -> Self {
        self.optim = adam(epsilon);
        self
    }

    /// ε ~ N(0, I), `samples` noise vectors per image of `x`, drawn on the host from the trainer's
    /// own stream (the same noise on every backend; a checkpoint carries the stream).
    fn noise(&mut self, x: &Tensor<2>, samples: usize) -> Tensor<2> {
        self.noise_rng.normal_tensor([x.dims()[0] * samples, self.model.noise_size()], &x.device())
    }

    /// The KL weight at the current step: `config.beta`, reached linearly over the warm-up.
    pub fn beta_now(&self) -> f32 {
        let ramp = if self.warmup_steps == 0 { 1.0 } else { (self.steps as f64 / self.warmup_steps as f64).min(1.0) as f32 };
        self.config.beta * ramp
    }

    /// One step with given noise (tests use it to compare backends on identical inputs):
    /// `eps` has `config.k` rows per image. k = 1 minimises −ELBO = reconstruction + β·KL;
    /// k > 1 the negative IWAE bound −log (1/k) Σ w_i (β tempers the weights during warm-up).
    pub fn step_with_noise(&mut self, x: Tensor<2>, eps: Tensor<2>, lr: f64) -> Tensor<1> {
        if self.model.prior_critic.is_some() {
            return self.adversarial_step(x, eps, lr);
        }
        let beta = self.beta_now();
        let k = self.config.k;
        let (loss, metrics) = if k == 1 {
            let ElboTerms { reconstruction, kl } = self.model.elbo_terms(x, eps);
            (reconstruction.clone() + kl.clone() * beta, metrics(reconstruction, kl))
        } else {
            let [n, _] = x.dims();
            let d = eps.dims()[1];
            // The curves stay −ELBO, reconstruction and KL (of each digit's first sample), whatever
            // the objective: the k-sample bound of held-out digits is its own figure.
            let first = eps.clone().reshape([n, k, d]).slice([0..n, 0..1, 0..d]).reshape([n, d]);
            let ElboTerms { reconstruction, kl } = self.model.elbo_terms(x.clone(), first);
            let bound = iwae_bound(self.model.tempered_log_weights(x, eps, k, beta));
            (-bound, metrics(reconstruction, kl))
        };
        let grads = GradientsParams::from_grads(loss.mean().backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.steps += 1;
        metrics
    }
}

/// The adversarial autoencoder's game runs at this fraction of the reconstruction's learning rate.
pub const ADVERSARIAL_LR: f64 = 0.5;

impl VaeTrainer {
    /// One step of the adversarial autoencoder (Makhzani et al. 2016) in its three phases, `prior`
    /// holding a sample of N(0, I) per digit: encoder and decoder descend the reconstruction
    /// error; D learns to tell prior samples (real) from codes (fake) — the GAN's discriminator
    /// loss; the encoder alone descends β·(−log D(E(x))), the non-saturating loss of fooling D: the
    /// adversarial term in place of the KL. Each phase has its own Adam: the reconstruction sums
    /// 784 pixels, and in one loss it would drown the adversarial term. The two adversarial phases
    /// step at half the learning rate: at the full rate D and encoder chase each other around the
    /// code space and the decoder, chasing both, reconstructs worse epoch by epoch; at a tenth the
    /// reconstruction wins and the codes spread far past the prior.
    /// Returns [reconstruction + adversarial, reconstruction, adversarial], batch means.
    pub fn adversarial_step(&mut self, x: Tensor<2>, prior: Tensor<2>, lr: f64) -> Tensor<1> {
        // One prior sample per digit (more rows come when the IWAE objective is chosen: unused).
        let (n, latent) = (x.dims()[0], self.model.latent());
        let prior = prior.slice([0..n, 0..latent]);
        let reconstruction = bernoulli_nll(self.model.decode(self.model.encode(x.clone()).mu), x.clone());
        let grads = GradientsParams::from_grads(reconstruction.clone().mean().backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);

        let critic = self.model.prior_critic.as_ref().expect("an adversarial autoencoder");
        let codes = self.model.encode(x.clone()).mu.detach();
        let d_loss = prior_critic_loss(critic, prior, codes).mean();
        let grads = GradientsParams::from_grads(d_loss.backward(), critic);
        self.model = self.optim_critic.step(lr * self.adversarial_lr, self.model.clone(), grads);

        // D as it now is, held fixed: its weights get no gradient from being fooled.
        let critic = self.model.prior_critic.clone().expect("an adversarial autoencoder").no_grad();
        let adversarial = fooling_loss(&critic, self.model.encode(x).mu);
        let grads = GradientsParams::from_grads((adversarial.clone().mean() * self.beta_now()).backward(), &self.model);
        self.model = self.optim_encoder.step(lr * self.adversarial_lr, self.model.clone(), grads);
        self.steps += 1;
        metrics(reconstruction, adversarial)
    }
}

fn adam(epsilon: f32) -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(epsilon).init()
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
        if self.config.adversarial.is_some() {
            &["reconstruction + adversarial", "reconstruction", "adversarial −log D(z)"]
        } else {
            &["-ELBO", "reconstruction", "KL"]
        }
    }

    fn seed(&mut self, seed: u64) {
        self.noise_rng = Rng::new(seed ^ NOISE_SEED);
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({ "config": self.config, "beta": self.beta_now(), "warmup_steps": self.warmup_steps })
    }

    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        use crate::train::{module_bytes, optimizer_bytes};
        let clock = serde_json::to_vec(&(self.steps, self.warmup_steps, &self.noise_rng)).map_err(|e| e.to_string())?;
        Ok(vec![module_bytes(&self.model)?, optimizer_bytes(&self.optim)?, clock, optimizer_bytes(&self.optim_critic)?, optimizer_bytes(&self.optim_encoder)?])
    }

    fn weights(&self) -> Result<Vec<u8>, String> {
        crate::train::module_bytes(&self.model.valid())
    }

    fn load_state(&mut self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        use crate::train::{load_module_bytes, load_optimizer_bytes};
        // Checkpoints older than the adversarial autoencoder lack its two optimizers.
        let mut parts = parts.into_iter();
        let (Some(model), Some(optim), Some(clock)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("the checkpoint is not a VAE's".into());
        };
        let adversarial: Vec<Vec<u8>> = parts.collect();
        let model = load_module_bytes(self.model.clone(), model)?;
        let optim = load_optimizer_bytes(self.optim.clone(), optim)?;
        match <[Vec<u8>; 2]>::try_from(adversarial) {
            Ok([critic, encoder]) => {
                self.optim_critic = load_optimizer_bytes(self.optim_critic.clone(), critic)?;
                self.optim_encoder = load_optimizer_bytes(self.optim_encoder.clone(), encoder)?;
            }
            Err(rest) if rest.is_empty() => {}
            Err(_) => return Err("the checkpoint is not a VAE's".into()),
        }
        let (steps, warmup_steps, noise_rng): (u64, u64, Rng) = serde_json::from_slice(&clock).map_err(|e| e.to_string())?;
        (self.model, self.optim, self.steps, self.warmup_steps, self.noise_rng) = (model, optim, steps, warmup_steps, noise_rng);
        Ok(())
    }

    fn pixels(&self) -> Pixels {
        Pixels::Binarized
    }

    fn step(&mut self, x: Tensor<2>, lr: f64) -> Tensor<1> {
        // The adversarial autoencoder's noise is its prior sample; the VAE's, its ε.
        let eps = self.noise(&x, self.config.k);
        self.step_with_noise(x, eps, lr)
    }

    /// −ELBO, reconstruction and KL of held-out digits (one z each; the same noise every time,
    /// each piece its own, so the curve moves only with the weights).
    fn evaluate(&self, x: Tensor<2>, piece: u64) -> Tensor<1> {
        let x = x.without_autodiff();
        let eps = Rng::new(NOISE_SEED ^ 0x7E57 ^ piece).normal_tensor([x.dims()[0], self.model.noise_size()], &x.device());
        let model = self.model.valid();
        if let Some(critic) = &model.prior_critic {
            let codes = model.encode(x.clone()).mu;
            return metrics(bernoulli_nll(model.decode(codes.clone()), x), fooling_loss(critic, codes));
        }
        let ElboTerms { reconstruction, kl } = model.elbo_terms(x, eps);
        metrics(reconstruction, kl)
    }
}

/// Held-out evaluation over a whole split, dynamically binarized with `rng`, in batches:
/// mean −ELBO (one z per image) and, when `k` > 0, the mean negative importance-weighted
/// bound −log p̂(x) with `k` samples. Nats per image.
pub fn evaluate_split(model: &Vae, split: &crate::data::Split, k: usize, rng: &mut crate::rng::Rng, device: &Device) -> (f64, Option<f64>) {
    let (mut elbo_sum, mut iwae_sum) = (0.0f64, 0.0f64);
    for (elbo, iwae) in bound_sums(model, split, split.len(), k, rng, device) {
        elbo_sum += scalar(elbo);
        iwae_sum += iwae.map_or(0.0, scalar);
    }
    let n = split.len() as f64;
    (elbo_sum / n, (k > 0).then(|| iwae_sum / n))
}

/// The first `n` digits of `split` in the chunks [`evaluate_split`] takes them, each binarized
/// and given its noise from `rng` in one fixed order: per chunk, the summed −ELBO and (k > 0) the
/// summed −(k-sample bound), as tensors still on the device. The native evaluator reads them at
/// once, the page without blocking — the same digits, binarizations and noise, so the same figure.
pub fn bound_sums<'a>(
    model: &'a Vae,
    split: &'a crate::data::Split,
    n: usize,
    k: usize,
    rng: &'a mut crate::rng::Rng,
    device: &'a Device,
) -> impl Iterator<Item = (Tensor<1>, Option<Tensor<1>>)> + 'a {
    use crate::train::{Pixels, prepare};
    use burn::tensor::TensorData;
    let latent = model.noise_size();
    let batch = 20_000usize.checked_div(k).map_or(500, |b| b.clamp(1, 500));
    let n = n.min(split.len());
    (0..n).step_by(batch).map(move |start| {
        let chunk: Vec<usize> = (start..(start + batch).min(n)).collect();
        let m = chunk.len();
        let x = prepare(split.intensities(&chunk), Pixels::Binarized, rng);
        let x = Tensor::<2>::from_data(TensorData::new(x, [m, PIXELS]), device);
        let eps = rng.normal_tensor([m, latent], device);
        let ElboTerms { reconstruction, kl } = model.elbo_terms(x.clone(), eps);
        let elbo = reconstruction.sum() + kl.sum();
        let iwae = (k > 0).then(|| {
            let eps = rng.normal_tensor([m * k, latent], device);
            -iwae_bound(model.log_importance_weights(x, eps, k)).sum()
        });
        (elbo, iwae)
    })
}

/// Burda et al.'s schedule: stage i = 0, 1, 2, … runs 3^i epochs at `burda_lr(i)`. The stage of
/// (1-based) `epoch`.
pub fn burda_stage(epoch: usize) -> usize {
    let (mut stage, mut end) = (0, 1);
    while epoch > end {
        stage += 1;
        end += 3usize.pow(stage as u32);
    }
    stage
}

/// The learning rate of stage i: 1e-3 · 10^(−i/7).
pub fn burda_lr(stage: usize) -> f64 {
    1e-3 * 10f64.powf(-(stage as f64) / 7.0)
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

/// A unit is active when its [`unit_activity`] is above this (Burda et al. 2015, §5.2).
pub const ACTIVE_UNIT: f32 = 0.01;

/// How much each latent unit is used: the variance over digits of its posterior mean,
/// Cov_x(E_q[z|x]) (Burda et al. 2015, §5.2; active above [`ACTIVE_UNIT`]). `codes` holds
/// the means μ(x) of several digits, `latent` values each. A unit the KL term switched off has
/// μ ≈ 0 for every digit; a manifold drawn along it shows one digit.
pub fn unit_activity(codes: &[f32], latent: usize) -> Vec<f32> {
    let n = (codes.len() / latent).max(1) as f32;
    (0..latent)
        .map(|j| {
            let mean = codes.iter().skip(j).step_by(latent).sum::<f32>() / n;
            codes.iter().skip(j).step_by(latent).map(|z| (z - mean) * (z - mean)).sum::<f32>() / n
        })
        .collect()
}

/// The two most active units (see [`unit_activity`]), the lower index first.
pub fn most_active_pair(activity: &[f32]) -> (usize, usize) {
    let mut order: Vec<usize> = (0..activity.len()).collect();
    order.sort_by(|&a, &b| activity[b].total_cmp(&activity[a]).then(a.cmp(&b)));
    let (a, b) = (order[0], order.get(1).copied().unwrap_or(order[0]));
    (a.min(b), a.max(b))
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
