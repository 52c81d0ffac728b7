//! Generative adversarial networks (Goodfellow et al. 2014): an implicit density model.
//!
//! The generator G turns noise z ~ N(0, I) into an image; the discriminator D gives the
//! probability that an image is real. They play the minimax game
//!     min_G max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))]
//! by alternating k gradient steps on D with one step on G. Early on D(G(z)) ≈ 0, where
//! log(1 − D) is flat, so G learns almost nothing; the non-saturating loss −log D(G(z)) has
//! the same fixed point and a steep gradient exactly there. Both are here, behind a toggle.
//!
//! Two architectures: the fully connected GAN of 2014, and a DCGAN (Radford et al. 2016):
//! transposed convolutions with BatchNorm + ReLU and a tanh output in G; strided
//! convolutions with LeakyReLU(0.2), BatchNorm except on the input layer, no pooling in D.
//! Everything works on logits l = D's pre-sigmoid output: log D = log σ(l) and
//! log(1 − D) = log σ(−l) are then exact and overflow-free.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{leaky_relu, log_sigmoid, relu, sigmoid, tanh};
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE};
use crate::train::{Pixels, Trainable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Radford et al. 2016: convolutional G and D.
    Dcgan,
    /// Goodfellow et al. 2014: multilayer perceptrons.
    Fc,
    /// The TensorFlow DCGAN tutorial's sizes (5×5 kernels, 256-128-64 channels): the benchmark's
    /// `dcgan_tf` workload, for comparing with other frameworks. Not offered in the page.
    DcganTf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    pub architecture: Architecture,
    /// Size of z.
    pub latent: usize,
    /// Minibatch standard deviation (Karras et al. 2018): D also sees how varied the batch is,
    /// so a generator that collapses onto a few digits is easy to catch.
    pub minibatch_std: bool,
}

impl GanConfig {
    pub fn dcgan() -> Self {
        GanConfig { architecture: Architecture::Dcgan, latent: 64, minibatch_std: false }
    }

    pub fn fc() -> Self {
        GanConfig { architecture: Architecture::Fc, ..Self::dcgan() }
    }

    pub fn dcgan_tf() -> Self {
        GanConfig { architecture: Architecture::DcganTf, latent: 100, minibatch_std: false }
    }

    pub fn init(&self, device: &Device) -> Gan {
        let extra = self.minibatch_std as usize;
        let linear = |a, b| LinearConfig::new(a, b).init(device);
        let bn = |n| BatchNormConfig::new(n).init(device);
        // Stride-2 4×4 kernels with padding 1 halve (D) or double (G) the side: 28 ↔ 14 ↔ 7.
        let down = |a, b| Conv2dConfig::new([a, b], [4, 4]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device);
        let up = |a, b| ConvTranspose2dConfig::new([a, b], [4, 4]).with_stride([2, 2]).with_padding([1, 1]).init(device);
        match self.architecture {
            Architecture::Dcgan => Gan {
                generator: Generator::Dcgan(DcGenerator {
                    project: linear(self.latent, G_CHANNELS[0] * 7 * 7),
                    bn0: bn(G_CHANNELS[0]),
                    up1: up(G_CHANNELS[0], G_CHANNELS[1]),
                    bn1: bn(G_CHANNELS[1]),
                    up2: up(G_CHANNELS[1], 1),
                }),
                discriminator: Discriminator::Dcgan(DcDiscriminator {
                    conv1: down(1, D_CHANNELS[0]),
                    conv2: down(D_CHANNELS[0], D_CHANNELS[1]),
                    bn2: bn(D_CHANNELS[1]),
                    out: linear(D_CHANNELS[1] * 7 * 7 + extra, 1),
                }),
            },
            Architecture::DcganTf => {
                // "same" padding for 5×5 kernels: 2 (plus one output row/column when doubling).
                let up5 = |a, b, stride: usize| {
                    ConvTranspose2dConfig::new([a, b], [5, 5]).with_stride([stride, stride]).with_padding([2, 2]).with_padding_out([stride - 1, stride - 1]).init(device)
                };
                let down5 = |a, b| Conv2dConfig::new([a, b], [5, 5]).with_stride([2, 2]).with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2)).init(device);
                Gan {
                    generator: Generator::Tf(TfGenerator {
                        project: linear(self.latent, 256 * 7 * 7),
                        bn0: bn(256),
                        up1: up5(256, 128, 1),
                        bn1: bn(128),
                        up2: up5(128, 64, 2),
                        bn2: bn(64),
                        up3: up5(64, 1, 2),
                    }),
                    discriminator: Discriminator::Tf(TfDiscriminator {
                        conv1: down5(1, 64),
                        conv2: down5(64, 128),
                        out: linear(128 * 7 * 7 + extra, 1),
                    }),
                }
            }
            Architecture::Fc => Gan {
                generator: Generator::Fc(FcGenerator {
                    hidden1: linear(self.latent, 256),
                    hidden2: linear(256, 512),
                    out: linear(512, PIXELS),
                }),
                discriminator: Discriminator::Fc(FcDiscriminator {
                    hidden1: linear(PIXELS, 512),
                    hidden2: linear(512, 256),
                    out: linear(256 + extra, 1),
                }),
            },
        }
    }

    /// G and D with the weights in `bytes` (burnpack, as the native trainer writes them). The
    /// error says whether the file is damaged or does not fit this architecture.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<Gan, String> {
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| format!("the weights file is damaged or not a weights file ({e})"))?;
        self.init(device).try_load_record(record).map_err(|e| {
            format!("the weights do not fit a {:?} GAN{} ({e})", self.architecture, if self.minibatch_std { " with minibatch std" } else { "" })
        })
    }
}

/// Channels of G's 7×7 and 14×14 feature maps, and of D's 14×14 and 7×7 ones. Half these
/// train 4× faster but stalled at a classifier score of 6.5 after 10 epochs (see README).
const G_CHANNELS: [usize; 2] = [128, 64];
const D_CHANNELS: [usize; 2] = [64, 128];

/// Both players, saved and loaded together.
#[derive(Module, Debug)]
pub struct Gan {
    pub generator: Generator,
    pub discriminator: Discriminator,
}

#[derive(Module, Debug)]
pub enum Generator {
    Dcgan(DcGenerator),
    Fc(FcGenerator),
    Tf(TfGenerator),
}

#[derive(Module, Debug)]
pub enum Discriminator {
    Dcgan(DcDiscriminator),
    Fc(FcDiscriminator),
    Tf(TfDiscriminator),
}

/// The TensorFlow tutorial's G: dense → 256·7·7 → convT 5×5 128 → convT 5×5/2 64 → convT 5×5/2 1,
/// BatchNorm + LeakyReLU between, tanh out.
#[derive(Module, Debug)]
pub struct TfGenerator {
    project: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
    bn2: BatchNorm,
    up3: ConvTranspose2d,
}

/// The TensorFlow tutorial's D: conv 5×5/2 64 → conv 5×5/2 128 (LeakyReLU; its dropout left out) → dense 1.
#[derive(Module, Debug)]
pub struct TfDiscriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    out: Linear,
}

/// z → 7×7 → 14×14 → 28×28 through fractionally-strided (transposed) convolutions.
#[derive(Module, Debug)]
pub struct DcGenerator {
    project: Linear,
    bn0: BatchNorm,
    up1: ConvTranspose2d,
    bn1: BatchNorm,
    up2: ConvTranspose2d,
}

/// 28×28 → 14×14 → 7×7 by strided convolutions, then one logit.
#[derive(Module, Debug)]
pub struct DcDiscriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    bn2: BatchNorm,
    out: Linear,
}

#[derive(Module, Debug)]
pub struct FcGenerator {
    hidden1: Linear,
    hidden2: Linear,
    out: Linear,
}

#[derive(Module, Debug)]
pub struct FcDiscriminator {
    hidden1: Linear,
    hidden2: Linear,
    out: Linear,
}

impl Generator {
    /// Images in [−1, 1], [batch, 784].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let batch = z.dims()[0];
        let x = match self {
            Generator::Dcgan(g) => {
                let h = g.project.forward(z).reshape([batch, G_CHANNELS[0], 7, 7]);
                let h = relu(g.bn0.forward(h));
                let h = relu(g.bn1.forward(g.up1.forward(h)));
                g.up2.forward(h).reshape([batch, PIXELS])
            }
            Generator::Fc(g) => {
                let h = relu(g.hidden1.forward(z));
                g.out.forward(relu(g.hidden2.forward(h)))
            }
            Generator::Tf(g) => {
                let h = g.project.forward(z).reshape([batch, 256, 7, 7]);
                let h = leaky_relu(g.bn0.forward(h), 0.3);
                let h = leaky_relu(g.bn1.forward(g.up1.forward(h)), 0.3);
                let h = leaky_relu(g.bn2.forward(g.up2.forward(h)), 0.3);
                g.up3.forward(h).reshape([batch, PIXELS])
            }
        };
        tanh(x)
    }

    /// Images as intensities in [0, 1], for pictures and the classifier.
    pub fn sample(&self, z: Tensor<2>) -> Tensor<2> {
        (self.forward(z) + 1.0) * 0.5
    }
}

impl Discriminator {
    /// One logit per image of `x` ([batch, 784] in [−1, 1]); D(x) = σ(logit).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let batch = x.dims()[0];
        let (features, out) = match self {
            Discriminator::Dcgan(d) => {
                let h = leaky_relu(d.conv1.forward(x.reshape([batch, 1, SIDE, SIDE])), 0.2);
                let h = leaky_relu(d.bn2.forward(d.conv2.forward(h)), 0.2);
                (h.reshape([batch, D_CHANNELS[1] * 7 * 7]), &d.out)
            }
            Discriminator::Fc(d) => {
                let h = leaky_relu(d.hidden1.forward(x), 0.2);
                (leaky_relu(d.hidden2.forward(h), 0.2), &d.out)
            }
            Discriminator::Tf(d) => {
                let h = leaky_relu(d.conv1.forward(x.reshape([batch, 1, SIDE, SIDE])), 0.3);
                let h = leaky_relu(d.conv2.forward(h), 0.3);
                (h.reshape([batch, 128 * 7 * 7]), &d.out)
            }
        };
        // The output layer's width says whether this D was built with minibatch std.
        let [expected, _] = out.weight.dims();
        let features = if expected > features.dims()[1] { with_minibatch_std(features) } else { features };
        out.forward(features).squeeze_dim(1)
    }
}

/// Appends one feature: the standard deviation of each feature across the batch, averaged.
/// A batch of near-identical samples (mode collapse) gets a value no real batch has.
pub fn with_minibatch_std(features: Tensor<2>) -> Tensor<2> {
    let [batch, _] = features.dims();
    let centred = features.clone() - features.clone().mean_dim(0);
    let std = (centred.square().mean_dim(0) + 1e-8).sqrt().mean();
    Tensor::cat(vec![features, std.unsqueeze::<2>().repeat_dim(0, batch)], 1)
}

/// D's loss: −log D(x) − log(1 − D(G(z))), per image pair — binary cross-entropy with real
/// labelled 1 and fake 0. Arguments are D's logits.
pub fn discriminator_loss(real_logits: Tensor<1>, fake_logits: Tensor<1>) -> Tensor<1> {
    -log_sigmoid(real_logits) - log_sigmoid(-fake_logits)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorLoss {
    /// The game as written: G minimises log(1 − D(G(z))). Saturates when D wins.
    Minimax,
    /// G minimises −log D(G(z)): same goal, strong gradient where samples are bad.
    NonSaturating,
}

/// log(1 − D(G(z))), to be minimised by G; from D's logits on generated images.
pub fn minimax_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    log_sigmoid(-fake_logits)
}

/// −log D(G(z)), to be minimised by G.
pub fn non_saturating_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    -log_sigmoid(fake_logits)
}

impl GeneratorLoss {
    pub fn of(self, fake_logits: Tensor<1>) -> Tensor<1> {
        match self {
            GeneratorLoss::Minimax => minimax_loss(fake_logits),
            GeneratorLoss::NonSaturating => non_saturating_loss(fake_logits),
        }
    }
}

/// How the game is played; can change between steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanOptions {
    /// Discriminator updates per generator update.
    pub k: usize,
    pub generator_loss: GeneratorLoss,
    /// D's Adam learning rate; G's is the training loop's.
    pub d_lr: f64,
}

impl Default for GanOptions {
    fn default() -> Self {
        GanOptions { k: 1, generator_loss: GeneratorLoss::NonSaturating, d_lr: 2e-4 }
    }
}

impl GanOptions {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=10).contains(&self.k) {
            return Err(format!("k = {} discriminator steps is outside 1–10", self.k));
        }
        if !(self.d_lr.is_finite() && self.d_lr > 0.0 && self.d_lr <= 1.0) {
            return Err(format!("discriminator learning rate {} is not in (0, 1]", self.d_lr));
        }
        Ok(())
    }
}

/// Adam as DCGAN trains it: β1 = 0.5 (momentum of 0.9 oscillates in the two-player game).
fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_beta_1(0.5).with_epsilon(1e-8).init()
}

/// A GAN with its two optimizers: what the training loop drives.
pub struct GanTrainer {
    pub config: GanConfig,
    pub options: GanOptions,
    pub gan: Gan,
    optim_d: ModuleOptimizer,
    optim_g: ModuleOptimizer,
    /// Optimizer updates so far (tests check k : 1).
    pub d_updates: u64,
    pub g_updates: u64,
    /// D(G(z)) for each sample of the last generator update (the loss-curve plot marks them).
    pub last_fake_probs: Option<Tensor<1>>,
}

impl GanTrainer {
    pub fn new(config: GanConfig, device: &Device) -> Self {
        let gan = config.init(device);
        Self::from_gan(config, gan)
    }

    pub fn from_gan(config: GanConfig, gan: Gan) -> Self {
        GanTrainer {
            config,
            options: GanOptions::default(),
            gan,
            optim_d: adam(),
            optim_g: adam(),
            d_updates: 0,
            g_updates: 0,
            last_fake_probs: None,
        }
    }

    pub fn noise(&self, batch: usize, device: &Device) -> Tensor<2> {
        Tensor::random([batch, self.config.latent], Distribution::Normal(0.0, 1.0), device)
    }

    /// One discriminator update on real images and G(z): ascend log D(x) + log(1 − D(G(z))).
    /// Returns [D loss, D(x)] as batch means.
    pub fn d_update(&mut self, real: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
        // G is not updated here: detach its output so no gradient flows into it.
        let fake = self.gan.generator.forward(z).detach();
        let real_logits = self.gan.discriminator.forward(real);
        let fake_logits = self.gan.discriminator.forward(fake);
        let loss = discriminator_loss(real_logits.clone(), fake_logits).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.gan.discriminator);
        self.gan.discriminator = self.optim_d.step(self.options.d_lr, self.gan.discriminator.clone(), grads);
        self.d_updates += 1;
        Tensor::cat(vec![loss.detach(), sigmoid(real_logits).mean().detach()], 0)
    }

    /// One generator update with the chosen objective; D's weights stay as they are.
    /// Returns [G loss, D(G(z))] as batch means.
    pub fn g_update(&mut self, z: Tensor<2>, lr: f64) -> Tensor<1> {
        let fake_logits = self.gan.discriminator.forward(self.gan.generator.forward(z));
        let loss = self.options.generator_loss.of(fake_logits.clone()).mean();
        // The backward pass also reaches D's weights; only G's gradients are applied.
        let grads = GradientsParams::from_grads(loss.backward(), &self.gan.generator);
        self.gan.generator = self.optim_g.step(lr, self.gan.generator.clone(), grads);
        self.g_updates += 1;
        let probs = sigmoid(fake_logits).detach();
        self.last_fake_probs = Some(probs.clone());
        Tensor::cat(vec![loss.detach(), probs.mean()], 0)
    }
}

/// [D loss, G loss, D(x), D(G(z))].
fn metrics(d: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
    let d = d.reshape([2, 1]);
    let g = g.reshape([2, 1]);
    // rows: [D loss, G loss], [D(x), D(G(z))]
    Tensor::cat(vec![d, g], 1).reshape([4])
}

impl Trainable for GanTrainer {
    fn tensors(&self) -> Vec<Tensor<1>> {
        // valid() first: it merges running statistics (BatchNorm keeps them per thread).
        crate::train::module_tensors(&self.gan.valid())
    }

    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.gan = crate::train::with_tensors(self.gan.clone(), values)?;
        Ok(())
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["D loss", "G loss", "D(x)", "D(G(z))"]
    }

    fn pixels(&self) -> Pixels {
        Pixels::Signed
    }

    /// k real batches per step: one for each discriminator update.
    fn batches_per_step(&self) -> usize {
        self.options.k
    }

    /// The lecture's algorithm: k discriminator updates (each on a fresh real batch and fresh
    /// noise), then one generator update.
    fn step(&mut self, images: Tensor<2>, lr: f64) -> Tensor<1> {
        let device = images.device();
        let k = self.options.k;
        let batch = images.dims()[0] / k;
        let mut d_metrics = None;
        for real in images.chunk(k, 0) {
            let z = self.noise(batch, &device);
            d_metrics = Some(self.d_update(real, z));
        }
        let z = self.noise(batch, &device);
        let g_metrics = self.g_update(z, lr);
        metrics(d_metrics.expect("k ≥ 1"), g_metrics)
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "config": self.config, "options": self.options,
            "updates": { "d": self.d_updates, "g": self.g_updates },
        })
    }

    fn evaluate(&self, images: Tensor<2>) -> Tensor<1> {
        let images = images.without_autodiff();
        let batch = images.dims()[0];
        let gan = self.gan.valid();
        let fake = gan.generator.forward(self.noise(batch, &images.device()));
        let real_logits = gan.discriminator.forward(images);
        let fake_logits = gan.discriminator.forward(fake);
        let d_loss = discriminator_loss(real_logits.clone(), fake_logits.clone()).mean();
        let g_loss = self.options.generator_loss.of(fake_logits.clone()).mean();
        metrics(Tensor::cat(vec![d_loss, sigmoid(real_logits).mean()], 0), Tensor::cat(vec![g_loss, sigmoid(fake_logits).mean()], 0))
    }
}

/// Points on the straight line from `a` to `b` in latent space, `steps` of them, ends included.
pub use crate::models::vae::interpolate;

/// The vector-arithmetic query of the DCGAN paper: mean(A) − mean(B) + mean(C) of latent
/// vectors (each group a list of z's of length `latent`).
pub fn latent_arithmetic(a: &[Vec<f32>], b: &[Vec<f32>], c: &[Vec<f32>], latent: usize) -> Result<Vec<f32>, String> {
    let mean = |group: &[Vec<f32>], name: &str| {
        if group.is_empty() { Err(format!("group {name} is empty: click a few samples into it")) } else { Ok(mean_latent(group, latent)) }
    };
    let (a, b, c) = (mean(a, "A")?, mean(b, "B")?, mean(c, "C")?);
    Ok((0..latent).map(|i| a[i] - b[i] + c[i]).collect())
}

/// The mean of a non-empty group of latent vectors.
pub fn mean_latent(group: &[Vec<f32>], latent: usize) -> Vec<f32> {
    (0..latent).map(|i| group.iter().map(|z| z[i]).sum::<f32>() / group.len() as f32).collect()
}
