//! A small MNIST classifier: not a generative model, but the GAN lab's yardstick.
//!
//! A GAN has no likelihood to report, so its samples are judged by a classifier (Salimans et
//! al. 2016): the class histogram of generated digits shows mode collapse, the classifier
//! score exp(E_x KL(p(y|x) ‖ p(y))) is high when each sample is clearly one digit and all ten
//! digits appear, and the Fréchet distance compares the classifier's features of generated
//! and real digits as two Gaussians (Heusel et al. 2017).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, softmax};

use crate::data::SIDE;

/// Width of the feature layer the Fréchet distance compares.
pub const FEATURES: usize = 128;
pub const CLASSES: usize = 10;

/// conv5×5(16) → pool → conv5×5(32) → pool → 128 features → 10 logits. Inputs: intensities
/// in [0, 1], [batch, 784].
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    features: Linear,
    logits: Linear,
}

pub fn init(device: &Device) -> Classifier {
    // The initial weights, drawn in one turn of the device's random stream.
    crate::device::initialized(|| {
        let conv = |c_in, c_out| Conv2dConfig::new([c_in, c_out], [5, 5]).with_padding(PaddingConfig2d::Same).init(device);
        Classifier {
            conv1: conv(1, 16),
            conv2: conv(16, 32),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            features: LinearConfig::new(32 * 7 * 7, FEATURES).init(device),
            logits: LinearConfig::new(FEATURES, CLASSES).init(device),
        }
    })
}

/// The classifier with the weights in `bytes` (burnpack or half precision), or an error that
/// says what is wrong.
pub fn load(device: &Device, bytes: Vec<u8>) -> Result<Classifier, String> {
    crate::train::load_weights(init(device), bytes, "the classifier")
}

impl Classifier {
    /// The penultimate layer: what the Fréchet distance compares.
    pub fn features(&self, x: Tensor<2>) -> Tensor<2> {
        let batch = x.dims()[0];
        let h = x.reshape([batch, 1, SIDE, SIDE]);
        let h = self.pool.forward(relu(self.conv1.forward(h)));
        let h = self.pool.forward(relu(self.conv2.forward(h)));
        relu(self.features.forward(h.reshape([batch, 32 * 7 * 7])))
    }

    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.logits.forward(self.features(x))
    }

    /// p(y|x), [batch, 10].
    pub fn probs(&self, x: Tensor<2>) -> Tensor<2> {
        softmax(self.logits(x), 1)
    }
}

/// Cross-entropy −log p(label | x) per image.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<2>) -> Tensor<1> {
    -(log_softmax(logits, 1) * labels).sum_dim(1).squeeze_dim(1)
}

/// exp(E_x KL(p(y|x) ‖ p(y))), with p(y) the mean of p(y|x) over the samples. 1 when every
/// sample gets the same prediction, 10 when each is confidently one digit and the digits are
/// equally common. `probs` is [n · 10], row-major.
pub fn classifier_score(probs: &[f32]) -> f64 {
    let rows: Vec<&[f32]> = probs.chunks_exact(CLASSES).collect();
    let n = rows.len().max(1) as f64;
    let mut marginal = [0.0f64; CLASSES];
    for row in &rows {
        for (m, &p) in marginal.iter_mut().zip(row.iter()) {
            *m += p as f64 / n;
        }
    }
    let kl: f64 = rows.iter().map(|row| row.iter().zip(&marginal).filter(|(p, _)| **p > 0.0).map(|(&p, &m)| p as f64 * (p as f64 / m).ln()).sum::<f64>()).sum();
    (kl / n).exp()
}

/// The predicted class (argmax of p(y|x)) of each row of `probs` ([n · 10]).
pub fn predicted_classes(probs: &[f32]) -> impl Iterator<Item = usize> + '_ {
    probs.chunks_exact(CLASSES).map(|row| (0..CLASSES).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0))
}

/// The share of samples the classifier is unsure of: max p(y|x) below 0.9. A blurry or
/// ambiguous digit lowers the score even when the classes are balanced; this says how much.
pub fn unsure_share(probs: &[f32]) -> f64 {
    let rows = probs.chunks_exact(CLASSES);
    let n = rows.len().max(1) as f64;
    rows.filter(|row| row.iter().copied().fold(0.0f32, f32::max) < 0.9).count() as f64 / n
}

/// How many samples fall in each class.
pub fn class_histogram(probs: &[f32]) -> [usize; CLASSES] {
    let mut counts = [0; CLASSES];
    for class in predicted_classes(probs) {
        counts[class] += 1;
    }
    counts
}

/// Fraction of rows of `probs` whose predicted class is the label.
pub fn accuracy_of_probs(probs: &[f32], labels: &[u8]) -> f64 {
    let right = predicted_classes(probs).zip(labels).filter(|(p, l)| *p == **l as usize).count();
    right as f64 / labels.len().max(1) as f64
}

/// Fréchet distance between Gaussians fitted to two sets of feature rows (each [n · d]):
/// ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½). tr (Σ₁Σ₂)^½ = Σ √λ of Σ₁^½ Σ₂ Σ₁^½ (symmetric, so
/// a Jacobi eigen-solver suffices).
pub fn frechet_distance(a: &[f32], b: &[f32], d: usize) -> f64 {
    let (mu_a, cov_a) = mean_and_covariance(a, d);
    let (mu_b, cov_b) = mean_and_covariance(b, d);
    let mean_term: f64 = mu_a.iter().zip(&mu_b).map(|(x, y)| (x - y).powi(2)).sum();
    let sqrt_a = symmetric_sqrt(&cov_a, d);
    let m = matmul(&matmul(&sqrt_a, &cov_b, d), &sqrt_a, d);
    let (eigen, _) = jacobi_eigen(&m, d);
    let tr_sqrt: f64 = eigen.iter().map(|&l| l.max(0.0).sqrt()).sum();
    let trace = |c: &[f64]| (0..d).map(|i| c[i * d + i]).sum::<f64>();
    mean_term + trace(&cov_a) + trace(&cov_b) - 2.0 * tr_sqrt
}

fn mean_and_covariance(rows: &[f32], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (rows.len() / d).max(2) as f64;
    let mut mu = vec![0.0; d];
    for row in rows.chunks_exact(d) {
        for (m, &x) in mu.iter_mut().zip(row) {
            *m += x as f64 / n;
        }
    }
    let mut cov = vec![0.0; d * d];
    for row in rows.chunks_exact(d) {
        let c: Vec<f64> = row.iter().zip(&mu).map(|(&x, m)| x as f64 - m).collect();
        for i in 0..d {
            for j in i..d {
                cov[i * d + j] += c[i] * c[j] / (n - 1.0);
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[i * d + j] = cov[j * d + i];
        }
    }
    (mu, cov)
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// V diag(√λ) Vᵀ of a symmetric positive semi-definite matrix.
fn symmetric_sqrt(m: &[f64], d: usize) -> Vec<f64> {
    let (eigen, v) = jacobi_eigen(m, d);
    let mut out = vec![0.0; d * d];
    for (k, l) in eigen.iter().enumerate() {
        let s = l.max(0.0).sqrt();
        for i in 0..d {
            for j in 0..d {
                out[i * d + j] += v[i * d + k] * s * v[j * d + k];
            }
        }
    }
    out
}

/// Eigenvalues and eigenvectors (columns of V) of a symmetric matrix by cyclic Jacobi rotations.
pub fn jacobi_eigen(m: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = m.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d).flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * d + j].powi(2)).sum();
        let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                // The smaller root of t² + 2θt − 1 = 0: the rotation of at most 45°.
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// The classifier with its optimizer, for the training loop (labels ride along as a one-hot
/// block after the pixels: [batch, 784 + 10]).
pub struct ClassifierTrainer {
    pub model: Classifier,
    optim: ModuleOptimizer,
}

impl ClassifierTrainer {
    pub fn new(device: &Device) -> Self {
        ClassifierTrainer { model: init(device), optim: AdamConfig::new().init() }
    }

    pub fn step_labeled(&mut self, x: Tensor<2>, labels: Tensor<2>, lr: f64) -> Tensor<1> {
        let loss = cross_entropy(self.model.logits(x), labels).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        loss.detach()
    }
}

/// Fraction of `x` whose argmax matches `labels` (indices).
pub fn accuracy(model: &Classifier, x: Tensor<2>, labels: &[u8]) -> f64 {
    let predicted: Vec<i64> = model.logits(x).argmax(1).into_data().iter::<i64>().collect();
    let right = predicted.iter().zip(labels).filter(|(p, l)| **p == **l as i64).count();
    right as f64 / labels.len().max(1) as f64
}

/// p(y|x) for every image of a split, [n · 10] (native evaluation and tests).
pub fn probs_of_split(model: &Classifier, split: &crate::data::Split, device: &Device) -> Vec<f32> {
    use burn::tensor::TensorData;
    let mut out = Vec::with_capacity(split.len() * CLASSES);
    for chunk in (0..split.len()).collect::<Vec<_>>().chunks(1000) {
        let x = Tensor::<2>::from_data(TensorData::new(split.intensities(chunk), [chunk.len(), crate::data::PIXELS]), device);
        out.extend(model.probs(x).into_data().iter::<f32>());
    }
    out
}

/// p(y|x) and the features of `images` (intensities, [n · 784]), in batches of 1000.
pub fn probs_and_features(model: &Classifier, images: &[f32], device: &Device) -> (Vec<f32>, Vec<f32>) {
    use burn::tensor::TensorData;
    let (mut probs, mut features) = (Vec::new(), Vec::new());
    for part in images.chunks(1000 * crate::data::PIXELS) {
        let x = Tensor::<2>::from_data(TensorData::new(part.to_vec(), [part.len() / crate::data::PIXELS, crate::data::PIXELS]), device);
        features.extend(model.features(x.clone()).into_data().iter::<f32>());
        probs.extend(model.probs(x).into_data().iter::<f32>());
    }
    (probs, features)
}

/// The classifier's verdict on a set of generated digits.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub classifier_score: f64,
    pub class_histogram: [usize; CLASSES],
    pub smallest_class_fraction: f64,
    /// Max p(y|x) < 0.9.
    pub unsure_share: f64,
    /// Fréchet distance between the classifier features of the samples and of `reference`.
    pub frechet_distance: f64,
}

/// Judges `images` ([n · 784] intensities) against reference features (e.g. the test set's).
pub fn judge(model: &Classifier, images: &[f32], reference_features: &[f32], device: &Device) -> Verdict {
    let (probs, features) = probs_and_features(model, images, device);
    let histogram = class_histogram(&probs);
    let n = (probs.len() / CLASSES).max(1) as f64;
    let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
    Verdict {
        classifier_score: round(classifier_score(&probs), 3),
        class_histogram: histogram,
        smallest_class_fraction: round(*histogram.iter().min().unwrap_or(&0) as f64 / n, 4),
        unsure_share: round(unsure_share(&probs), 4),
        frechet_distance: round(frechet_distance(&features, reference_features, FEATURES), 3),
    }
}
