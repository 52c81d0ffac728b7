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
//!
//! Stabilisers the lecture names, each a switch: spectral normalisation of D's layers, packing
//! (D judges samples two at a time), minibatch std, feature matching as G's objective, and an
//! exponential moving average of G's weights for the pictures.
//!
//! The Wasserstein GAN (Arjovsky et al. 2017) changes the game: D becomes a critic with no
//! sigmoid, and E critic(x) − E critic(G(z)) estimates the Wasserstein-1 distance between the
//! data and G's samples — as long as the critic is 1-Lipschitz. Two ways to keep it so: clip
//! every weight to [−c, c] (the original), or penalise the critic's gradient norm away from 1
//! at points between real and fake samples (WGAN-GP, Gulrajani et al. 2017). Unlike the minimax
//! loss, the estimate falls as the samples improve.

use burn::module::{ModuleMapper, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{leaky_relu, log_sigmoid, relu, sigmoid, tanh};
use burn::tensor::module::{conv_transpose2d, conv2d, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE};
use crate::train::{Encoding, Pixels, Trainable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Radford et al. 2016: convolutional G and D.
    Dcgan,
    /// Goodfellow et al. 2014: multilayer perceptrons.
    Fc,
    /// The TensorFlow DCGAN tutorial's sizes (5×5 kernels, 256-128-64 channels): the benchmark's
    /// `dcgan_tf` workload, for comparing with other frameworks, and the page's larger DCGAN.
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
    /// Spectral normalisation (Miyato et al. 2018): each of D's weights is divided by its
    /// largest singular value, so no layer can stretch its input by more than 1 and D cannot
    /// turn arbitrarily sharp. Such a D has no BatchNorm.
    #[serde(default)]
    pub spectral_norm: bool,
    /// Packing (PacGAN, Lin et al. 2018): D judges `pack` samples at once, stacked as channels,
    /// so a pair of near-identical fakes (collapse) looks unlike a pair of real digits. 1: off.
    #[serde(default = "one")]
    pub pack: usize,
    /// The Wasserstein game: D is a critic (a score, no sigmoid, and no BatchNorm, which would make
    /// each score depend on the rest of the batch) and G maximises its score.
    #[serde(default)]
    pub wasserstein: bool,
}

fn one() -> usize {
    1
}

impl GanConfig {
    pub fn dcgan() -> Self {
        GanConfig { architecture: Architecture::Dcgan, latent: 64, minibatch_std: false, spectral_norm: false, pack: 1, wasserstein: false }
    }

    pub fn fc() -> Self {
        GanConfig { architecture: Architecture::Fc, ..Self::dcgan() }
    }

    pub fn dcgan_tf() -> Self {
        GanConfig { architecture: Architecture::DcganTf, latent: 100, ..Self::dcgan() }
    }

    /// Rejects combinations the networks cannot be built with.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=4).contains(&self.pack) {
            return Err(format!("packing {} samples is outside 1–4", self.pack));
        }
        if self.wasserstein && self.architecture == Architecture::DcganTf {
            return Err("the TF-tutorial DCGAN has no Wasserstein critic".into());
        }
        Ok(())
    }

    pub fn init(&self, device: &Device) -> Gan {
        // The initial weights, drawn in one turn of the device's random stream.
        crate::device::initialized(|| {
            let extra = self.minibatch_std as usize;
            let pack = self.pack.max(1);
            // One power-iteration vector per weighted layer of D, when spectrally normalised.
            let sn = |rows: &[usize]| -> Vec<SpectralNorm> {
                if self.spectral_norm { rows.iter().map(|&r| SpectralNorm::new(r, device)).collect() } else { Vec::new() }
            };
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
                        conv1: down(pack, D_CHANNELS[0]),
                        conv2: down(D_CHANNELS[0], D_CHANNELS[1]),
                        bn2: (!self.spectral_norm && !self.wasserstein).then(|| bn(D_CHANNELS[1])),
                        out: linear(D_CHANNELS[1] * 7 * 7 + extra, 1),
                        sn: sn(&[D_CHANNELS[0], D_CHANNELS[1], D_CHANNELS[1] * 7 * 7 + extra]),
                    }),
                },
                Architecture::DcganTf => {
                    // "same" padding for 5×5 kernels: 2 (plus one output row/column when doubling).
                    let up5 = |a, b, stride: usize| {
                        ConvTranspose2dConfig::new([a, b], [5, 5])
                            .with_stride([stride, stride])
                            .with_padding([2, 2])
                            .with_padding_out([stride - 1, stride - 1])
                            .init(device)
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
                            conv1: down5(pack, 64),
                            conv2: down5(64, 128),
                            out: linear(128 * 7 * 7 + extra, 1),
                            sn: sn(&[64, 128, 128 * 7 * 7 + extra]),
                        }),
                    }
                }
                Architecture::Fc => Gan {
                    generator: Generator::Fc(FcGenerator { hidden1: linear(self.latent, 256), hidden2: linear(256, 512), out: linear(512, PIXELS) }),
                    discriminator: Discriminator::Fc(FcDiscriminator {
                        hidden1: linear(pack * PIXELS, 512),
                        hidden2: linear(512, 256),
                        out: linear(256 + extra, 1),
                        sn: sn(&[pack * PIXELS, 512, 256 + extra]),
                    }),
                },
            }
        })
    }

    /// G and D with the weights in `bytes` (burnpack or half precision), and
    /// the running average of G when the file has one. The error says whether the file is
    /// damaged or does not fit this architecture.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<(Gan, Option<Generator>), String> {
        let what = format!("a {}", self.describe());
        let gan = self.init(device);
        // A generator of its own for the average: a clone of G would share G's BatchNorm state.
        let both = GanWithAverage { average: self.init(device).generator, gan: gan.clone() };
        if let Ok(both) = crate::train::load_weights(both, bytes.clone(), &what) {
            // The average lives off the autodiff graph (BatchNorm then uses its running statistics).
            return Ok((both.gan, Some(both.average.valid())));
        }
        Ok((crate::train::load_weights(gan, bytes, &what)?, None))
    }

    /// "DCGAN with spectral norm and minibatch std", for messages.
    pub fn describe(&self) -> String {
        let name = match self.architecture {
            Architecture::Dcgan => "DCGAN",
            Architecture::Fc => "fully connected GAN",
            Architecture::DcganTf => "TF-tutorial DCGAN",
        };
        let mut with = Vec::new();
        if self.spectral_norm {
            with.push("spectral norm".to_string());
        }
        if self.pack > 1 {
            with.push(format!("packing {}", self.pack));
        }
        if self.minibatch_std {
            with.push("minibatch std".to_string());
        }
        let name = if self.wasserstein { format!("Wasserstein {name}") } else { name.to_string() };
        if with.is_empty() { name } else { format!("{name} with {}", with.join(" and ")) }
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

/// A weights file of a GAN trained with a running average of G: both players and the average.
#[derive(Module, Debug)]
pub struct GanWithAverage {
    pub gan: Gan,
    pub average: Generator,
}

impl GanWithAverage {
    /// A GAN's weights file: G and D, with the running average of G when there is one (what
    /// the page and `eval` then draw from). The trainer, the page's Save and `eval --save-half`
    /// all write it here.
    pub fn file(gan: Gan, average: Option<Generator>, encoding: Encoding) -> Result<Vec<u8>, String> {
        match average {
            Some(average) => encoding.bytes(&GanWithAverage { gan, average }),
            None => encoding.bytes(&gan),
        }
    }
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
    sn: Vec<SpectralNorm>,
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
    /// None with spectral normalisation.
    bn2: Option<BatchNorm>,
    out: Linear,
    /// Spectral normalisation of conv1, conv2 and out; empty when off.
    sn: Vec<SpectralNorm>,
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
    sn: Vec<SpectralNorm>,
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
    /// One logit per judged input of `x` ([batch, 784] in [−1, 1]): per image, or per group of
    /// `pack` consecutive images when packing. D(x) = σ(logit).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let features = self.features(x);
        let (out, sn) = match self {
            Discriminator::Dcgan(d) => (&d.out, &d.sn),
            Discriminator::Fc(d) => (&d.out, &d.sn),
            Discriminator::Tf(d) => (&d.out, &d.sn),
        };
        // The output layer's width says whether this D was built with minibatch std.
        let [expected, _] = out.weight.dims();
        let features = if expected > features.dims()[1] { with_minibatch_std(features) } else { features };
        linear_with(out, normalised(sn, 2, out.weight.val()), features).squeeze_dim(1)
    }

    /// D's last hidden layer, one row per judged input: what feature matching compares.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.packed(x);
        let n = x.dims()[0];
        let pack = self.pack();
        match self {
            Discriminator::Dcgan(d) => {
                let h = leaky_relu(conv_with(&d.conv1, normalised(&d.sn, 0, d.conv1.weight.val()), x.reshape([n, pack, SIDE, SIDE])), 0.2);
                let h = conv_with(&d.conv2, normalised(&d.sn, 1, d.conv2.weight.val()), h);
                let h = leaky_relu(
                    match &d.bn2 {
                        Some(bn) => bn.forward(h),
                        None => h,
                    },
                    0.2,
                );
                h.reshape([n, D_CHANNELS[1] * 7 * 7])
            }
            Discriminator::Fc(d) => {
                let h = leaky_relu(linear_with(&d.hidden1, normalised(&d.sn, 0, d.hidden1.weight.val()), x), 0.2);
                leaky_relu(linear_with(&d.hidden2, normalised(&d.sn, 1, d.hidden2.weight.val()), h), 0.2)
            }
            Discriminator::Tf(d) => {
                let h = leaky_relu(conv_with(&d.conv1, normalised(&d.sn, 0, d.conv1.weight.val()), x.reshape([n, pack, SIDE, SIDE])), 0.3);
                let h = leaky_relu(conv_with(&d.conv2, normalised(&d.sn, 1, d.conv2.weight.val()), h), 0.3);
                h.reshape([n, 128 * 7 * 7])
            }
        }
    }

    /// ∂ score / ∂ input for each judged input ([batch / pack, pack · 784]), written out layer by
    /// layer as the chain rule gives it — backwards through the output layer, each LeakyReLU
    /// (slope 1 or 0.2) and each strided convolution (its transpose). burn differentiates once,
    /// so the gradient penalty needs this gradient as an ordinary expression of D's weights,
    /// which autodiff can then differentiate. Only for a critic (no BatchNorm); with minibatch std
    /// the batch's spread is held fixed, so this is each sample's own gradient.
    pub fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.packed(x);
        let n = x.dims()[0];
        let pack = self.pack();
        // LeakyReLU(a) and its slope at a.
        let leaky = |a: Tensor<2>| (leaky_relu(a.clone(), 0.2), a.greater_elem(0.0).float() * 0.8 + 0.2);
        let leaky4 = |a: Tensor<4>| (leaky_relu(a.clone(), 0.2), a.greater_elem(0.0).float() * 0.8 + 0.2);
        match self {
            Discriminator::Fc(d) => {
                let (w1, w2, w3) =
                    (normalised(&d.sn, 0, d.hidden1.weight.val()), normalised(&d.sn, 1, d.hidden2.weight.val()), normalised(&d.sn, 2, d.out.weight.val()));
                let (h1, slope1) = leaky(linear_with(&d.hidden1, w1.clone(), x));
                let (_, slope2) = leaky(linear_with(&d.hidden2, w2.clone(), h1));
                // Linear weights are [inputs, outputs]: back through a layer is a product with Wᵀ.
                let hidden = w2.dims()[1];
                let g2 = slope2 * w3.slice([0..hidden, 0..1]).transpose();
                let g1 = g2.matmul(w2.transpose()) * slope1;
                g1.matmul(w1.transpose())
            }
            Discriminator::Dcgan(d) => {
                assert!(d.bn2.is_none(), "a critic has no BatchNorm");
                let (w1, w2, w3) =
                    (normalised(&d.sn, 0, d.conv1.weight.val()), normalised(&d.sn, 1, d.conv2.weight.val()), normalised(&d.sn, 2, d.out.weight.val()));
                let (h1, slope1) = leaky4(conv_with(&d.conv1, w1.clone(), x.reshape([n, pack, SIDE, SIDE])));
                let (_, slope2) = leaky4(conv_with(&d.conv2, w2.clone(), h1));
                let features = D_CHANNELS[1] * 7 * 7;
                let g2 = slope2 * w3.slice([0..features, 0..1]).reshape([1, D_CHANNELS[1], 7, 7]);
                // Back through a stride-2 convolution: the transposed convolution with its weights.
                let back = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
                let g1 = conv_transpose2d(g2, w2, None, back.clone()) * slope1;
                conv_transpose2d(g1, w1, None, back).reshape([n, pack * PIXELS])
            }
            Discriminator::Tf(_) => panic!("the TF-tutorial DCGAN has no Wasserstein critic"),
        }
    }

    /// How many samples D judges at once (its first layer's input says).
    pub fn pack(&self) -> usize {
        match self {
            Discriminator::Dcgan(d) => d.conv1.weight.dims()[1],
            Discriminator::Tf(d) => d.conv1.weight.dims()[1],
            Discriminator::Fc(d) => d.hidden1.weight.dims()[0] / PIXELS,
        }
    }

    /// [batch, 784] → [batch / pack, pack · 784]: consecutive images side by side, one row per
    /// judged group (a batch smaller than a group is repeated; a remainder is left out).
    pub fn packed(&self, x: Tensor<2>) -> Tensor<2> {
        let pack = self.pack();
        let batch = x.dims()[0];
        let x = if batch < pack { x.repeat_dim(0, pack.div_ceil(batch)) } else { x };
        let n = x.dims()[0] / pack;
        x.slice([0..n * pack, 0..PIXELS]).reshape([n, pack * PIXELS])
    }

    /// One step of power iteration for every spectrally normalised layer (none: unchanged).
    /// Once per D update, so the estimate of each σ follows its slowly moving weight.
    pub fn power_iteration(self) -> Self {
        // Checked before building the matrices: this runs on every D update.
        if self.spectral_norms().is_empty() {
            return self;
        }
        let weights = self.weight_matrices();
        let step = |sn: Vec<SpectralNorm>| sn.into_iter().zip(weights).map(|(s, w)| s.step(w)).collect();
        match self {
            Discriminator::Dcgan(mut d) => {
                d.sn = step(d.sn);
                Discriminator::Dcgan(d)
            }
            Discriminator::Tf(mut d) => {
                d.sn = step(d.sn);
                Discriminator::Tf(d)
            }
            Discriminator::Fc(mut d) => {
                d.sn = step(d.sn);
                Discriminator::Fc(d)
            }
        }
    }

    /// The three weights D computes with, as matrices (a conv: one row per output channel):
    /// each divided by its estimated σ when spectrally normalised.
    pub fn effective_weights(&self) -> Vec<Tensor<2>> {
        let sn = self.spectral_norms();
        self.weight_matrices().into_iter().enumerate().map(|(i, w)| normalised(sn, i, w)).collect()
    }

    /// D's three weighted layers as matrices.
    fn weight_matrices(&self) -> [Tensor<2>; 3] {
        match self {
            Discriminator::Dcgan(d) => [matrix(d.conv1.weight.val()), matrix(d.conv2.weight.val()), d.out.weight.val()],
            Discriminator::Tf(d) => [matrix(d.conv1.weight.val()), matrix(d.conv2.weight.val()), d.out.weight.val()],
            Discriminator::Fc(d) => [d.hidden1.weight.val(), d.hidden2.weight.val(), d.out.weight.val()],
        }
    }

    /// The spectral norms of D's three layers (empty when off).
    fn spectral_norms(&self) -> &[SpectralNorm] {
        match self {
            Discriminator::Dcgan(d) => &d.sn,
            Discriminator::Tf(d) => &d.sn,
            Discriminator::Fc(d) => &d.sn,
        }
    }
}

/// A weight as a matrix [first dimension, the rest]: for a conv, one row per output channel.
fn matrix<const D: usize>(w: Tensor<D>) -> Tensor<2> {
    let dims = w.dims();
    let rows = dims[0];
    w.reshape([rows, dims.iter().skip(1).product::<usize>()])
}

/// Layer `i`'s weight divided by its spectral norm when `sn` has one for it.
fn normalised<const D: usize>(sn: &[SpectralNorm], i: usize, w: Tensor<D>) -> Tensor<D> {
    match sn.get(i) {
        Some(s) => s.normalise(w),
        None => w,
    }
}

fn linear_with(layer: &Linear, weight: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
    linear(x, weight, layer.bias.as_ref().map(|b| b.val()))
}

fn conv_with(layer: &Conv2d, weight: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
    let ((top, bottom), (left, right)) = match layer.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((top, bottom), (left, right)),
        _ => ((0, 0), (0, 0)),
    };
    let options = ConvOptions::new_with_padding(layer.stride, [(top, bottom), (left, right)], layer.dilation, layer.groups);
    conv2d(x, weight, layer.bias.as_ref().map(|b| b.val()), options)
}

/// Spectral normalisation of one weight W (Miyato et al. 2018): W / σ(W), σ the largest
/// singular value, estimated by power iteration with a vector `u` kept between updates (not
/// trained): v = Wᵀu/‖Wᵀu‖, u = Wv/‖Wv‖, σ ≈ uᵀWv. The gradient flows through W, with u and v
/// held constant.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    u: Param<Tensor<1>>,
}

fn unit(v: Tensor<1>) -> Tensor<1> {
    v.clone() / (v.square().sum().sqrt() + 1e-12)
}

impl SpectralNorm {
    pub fn new(rows: usize, device: &Device) -> Self {
        // A random start: a draw from the device's random stream, one thread at a time.
        crate::device::drawing(|| {
            let u = unit(Tensor::random([rows], Distribution::Normal(0.0, 1.0), device));
            SpectralNorm { u: Param::from_tensor(u).set_require_grad(false) }
        })
    }

    /// One power-iteration step on W ([rows, cols]).
    pub fn step(self, w: Tensor<2>) -> Self {
        let w = w.detach();
        let v = unit(w.clone().transpose().matmul(self.u.val().detach().unsqueeze_dim(1)).squeeze_dim(1));
        let u = unit(w.matmul(v.unsqueeze_dim(1)).squeeze_dim(1)).detach();
        SpectralNorm { u: self.u.map(|_| u) }
    }

    /// The estimate uᵀWv of W's largest singular value ([1]).
    pub fn sigma(&self, w: Tensor<2>) -> Tensor<1> {
        let u = self.u.val().detach();
        let v = unit(w.clone().detach().transpose().matmul(u.clone().unsqueeze_dim(1)).squeeze_dim(1));
        u.unsqueeze_dim::<2>(0).matmul(w).matmul(v.unsqueeze_dim(1)).reshape([1])
    }

    pub fn normalise<const D: usize>(&self, w: Tensor<D>) -> Tensor<D> {
        let sigma = self.sigma(matrix(w.clone()));
        w / sigma.reshape([1usize; D])
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

/// The critic's loss (Arjovsky et al. 2017), per pair: critic(G(z)) − critic(x). Minimising its
/// mean maximises E critic(x) − E critic(G(z)), the critic's estimate of the Wasserstein-1
/// distance between data and samples. Arguments are the critic's scores.
pub fn critic_loss(real_scores: Tensor<1>, fake_scores: Tensor<1>) -> Tensor<1> {
    fake_scores - real_scores
}

/// G's loss in the Wasserstein game: −critic(G(z)), to be minimised.
pub fn wasserstein_generator_loss(fake_scores: Tensor<1>) -> Tensor<1> {
    -fake_scores
}

/// The gradient penalty of WGAN-GP, per judged input: (‖∇ critic(x̂)‖ − 1)², from the gradients
/// ([inputs, values]) at points x̂ between real and fake samples.
pub fn gradient_penalty(gradients: Tensor<2>) -> Tensor<1> {
    (gradient_norms(gradients) - 1.0).square()
}

/// ‖g‖ per row (with a tiny floor so its gradient stays finite at 0).
pub fn gradient_norms(gradients: Tensor<2>) -> Tensor<1> {
    (gradients.square().sum_dim(1) + 1e-12).sqrt().squeeze_dim(1)
}

/// How the critic is kept 1-Lipschitz; can change between steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lipschitz {
    /// WGAN-GP: λ = 10 times the gradient penalty is added to the critic's loss.
    #[default]
    GradientPenalty,
    /// The original WGAN: after every critic update each weight is clipped to [−0.01, 0.01].
    Clipping,
}

/// λ of WGAN-GP and the clipping bound c of WGAN, as in the papers.
pub const PENALTY_WEIGHT: f32 = 10.0;
pub const CLIP: f32 = 0.01;

/// D with every trained weight clipped to [−c, c] (the power-iteration vectors are left alone).
pub fn clipped(d: Discriminator, c: f32) -> Discriminator {
    struct Clip(f32);
    impl ModuleMapper for Clip {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let c = self.0;
            param.map(|w| if w.is_require_grad() { w.detach().clamp(-c, c).detach().require_grad() } else { w })
        }
    }
    d.map(&mut Clip(c))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorLoss {
    /// The game as written: G minimises log(1 − D(G(z))). Saturates when D wins.
    Minimax,
    /// G minimises −log D(G(z)): same goal, strong gradient where samples are bad.
    NonSaturating,
    /// Feature matching (Salimans et al. 2016): G matches the mean of D's last hidden features
    /// on real digits instead of fooling D's verdict, a target that does not move to wherever
    /// D is currently weakest, so G has less reason to hop between modes.
    FeatureMatching,
}

/// log(1 − D(G(z))), to be minimised by G; from D's logits on generated images.
pub fn minimax_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    log_sigmoid(-fake_logits)
}

/// −log D(G(z)), to be minimised by G.
pub fn non_saturating_loss(fake_logits: Tensor<1>) -> Tensor<1> {
    -log_sigmoid(fake_logits)
}

/// ‖mean f(x) − mean f(G(z))‖², f = D's last hidden layer ([1]). The real side is a constant
/// target: the gradient reaches G only.
pub fn feature_matching_loss(real_features: Tensor<2>, fake_features: Tensor<2>) -> Tensor<1> {
    let target = real_features.detach().mean_dim(0);
    (target - fake_features.mean_dim(0)).square().sum()
}

impl GeneratorLoss {
    /// G's loss per sample from D's logits on fakes, and — for feature matching — D's features
    /// on a real batch and on the fakes. Returns a loss to be averaged.
    pub fn of(self, fake_logits: Tensor<1>, features: impl FnOnce() -> (Tensor<2>, Tensor<2>)) -> Tensor<1> {
        match self {
            GeneratorLoss::Minimax => minimax_loss(fake_logits),
            GeneratorLoss::NonSaturating => non_saturating_loss(fake_logits),
            GeneratorLoss::FeatureMatching => {
                let (real, fake) = features();
                feature_matching_loss(real, fake)
            }
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
    /// The Wasserstein game's Lipschitz constraint (unused in the others).
    #[serde(default)]
    pub lipschitz: Lipschitz,
}

impl Default for GanOptions {
    fn default() -> Self {
        GanOptions { k: 1, generator_loss: GeneratorLoss::NonSaturating, d_lr: 2e-4, lipschitz: Lipschitz::GradientPenalty }
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

/// How fast the average of G's weights forgets: 0.999 per G update, i.e. roughly the last
/// thousand updates (with a warm-up, below, so a fresh run's average is not its initial G).
pub const EMA_DECAY: f64 = 0.999;

/// The decay used at G update `t` (from 0): min(EMA_DECAY, (1 + t) / (10 + t)).
pub fn ema_decay_at(t: u64) -> f64 {
    EMA_DECAY.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// avg ← d·avg + (1 − d)·new, for every float tensor (weights and BatchNorm statistics).
pub fn ema_update<M: Module>(avg: M, new: &M, decay: f64) -> M {
    struct Blend(std::vec::IntoIter<Tensor<1>>, f64);
    impl ModuleMapper for Blend {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let new = self.0.next().expect("the same module");
            let d = self.1;
            param.map(|old| {
                let shape = old.shape();
                (old * d + new.reshape(shape) * (1.0 - d)).detach()
            })
        }
    }
    avg.map(&mut Blend(crate::train::module_tensors(new).into_iter(), decay))
}

const NOISE_SEED: u64 = 0x6A4;

/// A GAN with its two optimizers: what the training loop drives.
pub struct GanTrainer {
    pub config: GanConfig,
    pub options: GanOptions,
    pub gan: Gan,
    /// The running average of G's weights (off the autodiff graph); None until the first G
    /// update. The pictures, meter and evaluation can use it instead of G.
    pub ema: Option<Generator>,
    /// Updates folded into the average (its warm-up clock).
    pub ema_updates: u64,
    optim_d: ModuleOptimizer,
    optim_g: ModuleOptimizer,
    /// Optimizer updates so far (tests check k : 1).
    pub d_updates: u64,
    pub g_updates: u64,
    /// D's verdict on each sample of the last generator update, for the loss-curve plot: D(G(z))
    /// in the classifier game, the critic's score critic(G(z)) in the Wasserstein game.
    pub last_fake_outputs: Option<Tensor<1>>,
    /// Where the training noise comes from (seeded by the training loop).
    noise_rng: crate::rng::Rng,
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
            ema: None,
            ema_updates: 0,
            optim_d: adam(),
            optim_g: adam(),
            d_updates: 0,
            g_updates: 0,
            last_fake_outputs: None,
            noise_rng: crate::rng::Rng::new(NOISE_SEED),
        }
    }

    /// z ~ N(0, I), [batch, latent]: drawn on the host from the trainer's own stream and
    /// uploaded, so a seed gives the same noise on every backend and a checkpoint carries it.
    pub fn noise(&mut self, batch: usize, device: &Device) -> Tensor<2> {
        self.noise_rng.normal_tensor([batch, self.config.latent], device)
    }

    /// One discriminator update on real images and G(z): ascend log D(x) + log(1 − D(G(z))).
    /// Returns [D loss, D(x)] as batch means.
    pub fn d_update(&mut self, real: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
        self.gan.discriminator = self.gan.discriminator.clone().power_iteration();
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

    /// One critic update of the Wasserstein game: descend E critic(G(z)) − E critic(x), plus the
    /// gradient penalty at random points on the lines between real and fake samples, or followed
    /// by clipping the weights. Returns [critic loss, Wasserstein estimate, mean ‖∇ critic‖].
    pub fn critic_update(&mut self, real: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
        self.gan.discriminator = self.gan.discriminator.clone().power_iteration();
        let fake = self.gan.generator.forward(z).detach();
        let critic = &self.gan.discriminator;
        let (real_scores, fake_scores) = (critic.forward(real.clone()), critic.forward(fake.clone()));
        let estimate = real_scores.clone().mean() - fake_scores.clone().mean();
        let mut loss = critic_loss(real_scores, fake_scores).mean();
        // x̂ = ε x + (1 − ε) G(z), ε ~ U(0, 1) per sample, drawn on the host like the noise.
        let batch = real.dims()[0];
        let eps: Vec<f32> = (0..batch).map(|_| self.noise_rng.uniform()).collect();
        let eps = Tensor::<1>::from_floats(eps.as_slice(), &real.device()).reshape([batch, 1]);
        let between = real.detach() * eps.clone() + fake * (eps.neg() + 1.0);
        let gradients = critic.input_gradient(between);
        if self.options.lipschitz == Lipschitz::GradientPenalty {
            loss = loss + gradient_penalty(gradients.clone()).mean() * PENALTY_WEIGHT;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.gan.discriminator);
        let critic = self.optim_d.step(self.options.d_lr, self.gan.discriminator.clone(), grads);
        self.gan.discriminator = if self.options.lipschitz == Lipschitz::Clipping { clipped(critic, CLIP) } else { critic };
        self.d_updates += 1;
        Tensor::cat(vec![loss.detach(), estimate.detach(), gradient_norms(gradients).mean().detach()], 0)
    }

    /// One generator update with the chosen objective (`real`: a batch for feature matching);
    /// D's weights stay as they are. Returns [G loss, D(G(z))] as batch means.
    pub fn g_update(&mut self, z: Tensor<2>, real: Tensor<2>, lr: f64) -> Tensor<1> {
        let fake = self.gan.generator.forward(z);
        let d = &self.gan.discriminator;
        let fake_logits = d.forward(fake.clone());
        let loss = if self.config.wasserstein {
            wasserstein_generator_loss(fake_logits.clone()).mean()
        } else {
            self.options.generator_loss.of(fake_logits.clone(), || (d.features(real), d.features(fake))).mean()
        };
        // The backward pass also reaches D's weights; only G's gradients are applied.
        let grads = GradientsParams::from_grads(loss.backward(), &self.gan.generator);
        self.gan.generator = self.optim_g.step(lr, self.gan.generator.clone(), grads);
        let current = self.gan.generator.valid();
        self.ema = Some(match self.ema.take() {
            None => current,
            Some(avg) => ema_update(avg, &current, ema_decay_at(self.ema_updates)),
        });
        self.ema_updates += 1;
        self.g_updates += 1;
        let probs = sigmoid(fake_logits.clone()).detach();
        self.last_fake_outputs = Some(if self.config.wasserstein { fake_logits.detach() } else { probs.clone() });
        Tensor::cat(vec![loss.detach(), probs.mean()], 0)
    }
}

/// What a step reports in the classifier game and in the Wasserstein game.
const GAN_METRICS: &[&str] = &["D loss", "G loss", "D(x)", "D(G(z))"];
const WGAN_METRICS: &[&str] = &["critic loss", "G loss", "W estimate", "‖∇critic‖"];

/// [critic loss, G loss, Wasserstein estimate, mean gradient norm] from the critic's three and
/// the first of G's.
fn wgan_metrics(critic: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
    Tensor::cat(vec![critic.clone().slice([0..1]), g.slice([0..1]), critic.slice([1..3])], 0)
}

/// [D loss, G loss, D(x), D(G(z))].
fn metrics(d: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
    let d = d.reshape([2, 1]);
    let g = g.reshape([2, 1]);
    // rows: [D loss, G loss], [D(x), D(G(z))]
    Tensor::cat(vec![d, g], 1).reshape([4])
}

impl GanTrainer {
    /// Goes on with an average of G read from a file: at the full decay, no warm-up (it already
    /// averages a whole run).
    pub fn with_average(mut self, average: Option<Generator>) -> Self {
        self.ema_updates = if average.is_some() { 10_000 } else { 0 };
        self.ema = average;
        self
    }

    /// The generator the pictures use: the running average when asked for and there is one.
    pub fn picture_generator(&self, averaged: bool) -> Generator {
        match (&self.ema, averaged) {
            (Some(ema), true) => ema.clone(),
            _ => self.gan.generator.valid(),
        }
    }
}

impl Trainable for GanTrainer {
    fn seed(&mut self, seed: u64) {
        self.noise_rng = crate::rng::Rng::new(seed ^ NOISE_SEED);
    }

    /// G and D, both optimizers, the average of G, the update counts and the noise stream.
    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        use crate::train::{module_bytes, optimizer_bytes};
        let ema = match &self.ema {
            Some(g) => module_bytes(g)?,
            None => Vec::new(),
        };
        let counts = serde_json::to_vec(&(self.d_updates, self.g_updates, &self.noise_rng, self.ema_updates)).map_err(|e| e.to_string())?;
        Ok(vec![module_bytes(&self.gan)?, optimizer_bytes(&self.optim_d)?, optimizer_bytes(&self.optim_g)?, ema, counts])
    }

    /// G and D, and the running average of G when there is one (as the native trainer saves).
    fn weights(&self) -> Result<Vec<u8>, String> {
        GanWithAverage::file(self.gan.valid(), self.ema.clone(), Encoding::Burnpack)
    }

    fn load_state(&mut self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        use crate::train::{load_module_bytes, load_optimizer_bytes};
        let [gan, optim_d, optim_g, ema, counts]: [Vec<u8>; 5] = parts.try_into().map_err(|_| "the checkpoint is not a GAN's".to_string())?;
        let gan = load_module_bytes(self.gan.clone(), gan)?;
        let ema = if ema.is_empty() {
            None
        } else {
            // A generator of its own (not a copy of G, which would share G's BatchNorm state),
            // on the device G's values live on, off the autodiff graph.
            let device = crate::train::module_tensors(&gan.generator.valid()).first().map(|t| t.device()).ok_or("the GAN has no weights")?;
            Some(load_module_bytes(self.config.init(&device).generator, ema)?)
        };
        let optim_d = load_optimizer_bytes(self.optim_d.clone(), optim_d)?;
        let optim_g = load_optimizer_bytes(self.optim_g.clone(), optim_g)?;
        // [D updates, G updates, noise stream, average's updates]; checkpoints before the last
        // field had an average as old as G's updates.
        let counts: Vec<serde_json::Value> = serde_json::from_slice(&counts).map_err(|e| e.to_string())?;
        let count = |i: usize| counts.get(i).and_then(|v| v.as_u64());
        let (Some(d_updates), Some(g_updates)) = (count(0), count(1)) else { return Err("the checkpoint's update counts are damaged".into()) };
        let noise_rng: crate::rng::Rng =
            counts.get(2).cloned().and_then(|v| serde_json::from_value(v).ok()).ok_or("the checkpoint's noise stream is damaged")?;
        (self.gan, self.ema, self.optim_d, self.optim_g) = (gan, ema, optim_d, optim_g);
        (self.d_updates, self.g_updates, self.noise_rng, self.ema_updates) = (d_updates, g_updates, noise_rng, count(3).unwrap_or(g_updates));
        Ok(())
    }

    fn tensors(&self) -> Vec<Tensor<1>> {
        // valid() first: it merges running statistics (BatchNorm keeps them per thread).
        crate::train::module_tensors(&self.gan.valid())
    }

    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.gan = crate::train::with_tensors(self.gan.clone(), values)?;
        Ok(())
    }

    fn metric_names(&self) -> &'static [&'static str] {
        if self.config.wasserstein { WGAN_METRICS } else { GAN_METRICS }
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
        let mut last_real = None;
        for real in images.chunk(k, 0) {
            let z = self.noise(batch, &device);
            d_metrics = Some(if self.config.wasserstein { self.critic_update(real.clone(), z) } else { self.d_update(real.clone(), z) });
            last_real = Some(real);
        }
        let z = self.noise(batch, &device);
        let g_metrics = self.g_update(z, last_real.expect("k ≥ 1"), lr);
        let d_metrics = d_metrics.expect("k ≥ 1");
        if self.config.wasserstein { wgan_metrics(d_metrics, g_metrics) } else { metrics(d_metrics, g_metrics) }
    }

    fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "config": self.config, "options": self.options,
            "updates": { "d": self.d_updates, "g": self.g_updates },
        })
    }

    fn evaluate(&self, images: Tensor<2>, piece: u64) -> Tensor<1> {
        let images = images.without_autodiff();
        let batch = images.dims()[0];
        let gan = self.gan.valid();
        // The same z at every evaluation (each piece its own): the held-out curve then moves only
        // with the weights.
        let z = crate::rng::Rng::new(NOISE_SEED ^ 0xE7A1 ^ piece).normal_tensor([batch, self.config.latent], &images.device());
        let fake = gan.generator.forward(z);
        let d = &gan.discriminator;
        let real_logits = d.forward(images.clone());
        let fake_logits = d.forward(fake.clone());
        if self.config.wasserstein {
            // The critic's loss without its penalty, and the gradient norm halfway between.
            let estimate = real_logits.clone().mean() - fake_logits.clone().mean();
            let norm = gradient_norms(d.input_gradient((images + fake) * 0.5)).mean();
            let critic = Tensor::cat(vec![critic_loss(real_logits, fake_logits.clone()).mean(), estimate, norm], 0);
            return wgan_metrics(critic, wasserstein_generator_loss(fake_logits).mean());
        }
        let d_loss = discriminator_loss(real_logits.clone(), fake_logits.clone()).mean();
        let g_loss = self.options.generator_loss.of(fake_logits.clone(), || (d.features(images), d.features(fake))).mean();
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
