//! NADE, the neural autoregressive distribution estimator (Larochelle & Murray 2011): an
//! explicit, tractable density, the lecture's first autoregressive model.
//!
//! The chain rule again: p(x) = Π_i p(x_i | x_<i), pixels in raster order. Each conditional is
//! a one-hidden-layer network of x_<i, and all 784 share one weight matrix W:
//!
//!   h_i = σ(c + W_{<i} x_{<i}),   p(x_i = 1 | x_<i) = σ(b_i + V_i · h_i).
//!
//! Sharing W makes the pre-activations a running sum, a_{i+1} = a_i + W_i x_i: every conditional
//! costs O(H) on top of the last, O(HD) for all of them, not O(HD²). Training computes all the
//! a_i at once (row by row, see `preactivations`); sampling walks the recursion pixel by pixel.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE as ROW};
use crate::models::vae::bernoulli_nll;
use crate::train::{ExactLikelihood, LikelihoodTrainer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NadeConfig {
    /// Hidden units H (the paper: 500).
    pub hidden: usize,
}

impl NadeConfig {
    pub fn paper() -> Self {
        NadeConfig { hidden: 500 }
    }

    pub fn init(&self, device: &Device) -> Nade {
        let h = self.hidden;
        crate::device::initialized(|| Nade {
            // Small uniform weights, zero biases (as in the paper's code).
            w: Initializer::Uniform { min: -0.01, max: 0.01 }.init([PIXELS, h], device),
            c: Initializer::Zeros.init([h], device),
            v: Initializer::Uniform { min: -0.01, max: 0.01 }.init([PIXELS, h], device),
            b: Initializer::Zeros.init([PIXELS], device),
        })
    }

    /// A NADE with the weights in `bytes` (burnpack or half precision); the error says whether
    /// the file is damaged or does not fit.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<Nade, String> {
        crate::train::load_weights(self.init(device), bytes, &format!("a NADE with {} hidden units", self.hidden))
    }
}

#[derive(Module, Debug)]
pub struct Nade {
    /// Row i is W_i, what pixel i adds to every later conditional's pre-activation: [784, H].
    w: Param<Tensor<2>>,
    /// The pre-activation before any pixel: [H].
    c: Param<Tensor<1>>,
    /// Row i reads conditional i's hidden layer: [784, H].
    v: Param<Tensor<2>>,
    /// [784].
    b: Param<Tensor<1>>,
}

impl Nade {
    /// Every conditional's pre-activation a_i = c + Σ_{d<i} W_d x_d at once, by blocks of one
    /// image row: [rows, batch, 28, H], pixel i at [i / 28, .., i % 28, ..]. Within a row a
    /// strictly lower-triangular mask picks the pixels before each one, and one batched matmul
    /// sums their columns of W; the rows above come in as a running sum of whole rows. Still
    /// O(HD) per image up to a factor of 28, but matmuls rather than a cumulative sum through a
    /// [batch, 784, H] tensor: a training step 1.8× faster on the CPU (batch 100, H 500).
    pub fn preactivations(&self, x: Tensor<2>) -> Tensor<4> {
        let [n, d] = x.dims();
        let h = self.c.dims()[0];
        let (rows, k) = (d / ROW, ROW);
        let device = x.device();
        let by_row = x.reshape([n, rows, k]).swap_dims(0, 1); // [rows, n, 28]
        let w = self.w.val().reshape([rows, k, h]);
        // x_d · [d < i] for each pixel i of a row and each d of the same row: [rows, n, 28, 28].
        let earlier = Tensor::<2>::ones([k, k], &device).tril(-1).reshape([1, 1, k, k]);
        let in_row = (by_row.clone().unsqueeze_dim::<4>(2) * earlier).reshape([rows, n * k, k]).matmul(w.clone());
        // Each row's whole contribution, summed over the rows above: [rows, n, H].
        let row_totals = by_row.matmul(w).cumsum(0);
        let above = Tensor::cat(vec![Tensor::zeros([1, n, h], &device), row_totals.slice([0..rows - 1, 0..n, 0..h])], 0);
        in_row.reshape([rows, n, k, h]) + (above + self.c.val().reshape([1, 1, h])).unsqueeze_dim(2)
    }

    /// The logits of p(x_i = 1 | x_<i) for every pixel, [batch, 784] (teacher forcing: all from
    /// the real x_<i).
    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, d] = x.dims();
        let h = self.c.dims()[0];
        let hidden = sigmoid(self.preactivations(x));
        let v = self.v.val().reshape([d / ROW, 1, ROW, h]);
        let by_row = (hidden * v).sum_dim(3).reshape([d / ROW, n, ROW]); // [rows, n, 28]
        by_row.swap_dims(0, 1).reshape([n, d]) + self.b.val().unsqueeze_dim(0)
    }

    /// −log p(x) in nats per image: the sum of each conditional's binary cross-entropy — exact.
    pub fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        bernoulli_nll(self.logits(x.clone()), x)
    }

    /// The recursion a_{i+1} = a_i + W_i x_i, one pixel after the other from a = c: `choose(i,
    /// logit_i)` gives pixel i ([batch, 1]) once its logit is known. Returns every logit and every
    /// pixel, [batch, 784] each. O(H) per pixel: the trick that makes NADE cheap.
    pub fn one_by_one(&self, batch: usize, mut choose: impl FnMut(usize, Tensor<2>) -> Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let h = self.c.dims()[0];
        let (w, v, b) = (self.w.val(), self.v.val(), self.b.val());
        let mut a = self.c.val().unsqueeze_dim::<2>(0).repeat_dim(0, batch);
        let (mut logits, mut pixels) = (Vec::with_capacity(PIXELS), Vec::with_capacity(PIXELS));
        for i in 0..PIXELS {
            let v_i = v.clone().slice([i..i + 1, 0..h]);
            let logit = sigmoid(a.clone()).matmul(v_i.transpose()) + b.clone().slice([i..i + 1]).unsqueeze_dim(0);
            let x_i = choose(i, logit.clone());
            a = a + x_i.clone().matmul(w.clone().slice([i..i + 1, 0..h]));
            logits.push(logit);
            pixels.push(x_i);
        }
        (Tensor::cat(logits, 1), Tensor::cat(pixels, 1))
    }

    /// Samples, pixel by pixel: x_i = [u_i < σ(logit_i / temperature)] for uniforms u [batch,
    /// 784] (drawn by the caller, so a seed fixes the samples on every backend). One graph, read
    /// back once.
    pub fn sample(&self, uniforms: Tensor<2>, temperature: f32) -> Tensor<2> {
        let n = uniforms.dims()[0];
        let (_, pixels) = self.one_by_one(n, |i, logit| {
            let u = uniforms.clone().slice([0..n, i..i + 1]);
            u.lower(sigmoid(logit / temperature)).float()
        });
        pixels
    }
}

/// Sampling state of the recursion for a batch of images: the running pre-activation a after
/// the pixels before `next` ([batch, H]).
pub struct Running {
    a: Tensor<2>,
    next: usize,
}

impl Nade {
    pub fn running(&self, batch: usize) -> Running {
        Running { a: self.c.val().unsqueeze_dim::<2>(0).repeat_dim(0, batch), next: 0 }
    }

    /// p(x_i = 1 | x_<i) for each image ([batch]) at `temperature`: the running sum first takes
    /// in pixels next..i of `images` ([batch · 784], final by now) — one column of W each, the
    /// O(H) per pixel of NADE — then one hidden layer gives the conditional.
    pub fn running_probs(&self, r: &mut Running, images: &[f32], batch: usize, i: usize, temperature: f32, device: &Device) -> Tensor<1> {
        assert!(i >= r.next, "the running sum only moves forward");
        let h = self.c.dims()[0];
        if i > r.next {
            let k = i - r.next;
            let seen: Vec<f32> = (0..batch).flat_map(|b| images[b * PIXELS + r.next..b * PIXELS + i].iter().copied()).collect();
            let seen = Tensor::<2>::from_data(burn::tensor::TensorData::new(seen, [batch, k]), device);
            r.a = r.a.clone() + seen.matmul(self.w.val().slice([r.next..i, 0..h]));
            r.next = i;
        }
        let logit = sigmoid(r.a.clone()).matmul(self.v.val().slice([i..i + 1, 0..h]).transpose()) + self.b.val().slice([i..i + 1]).unsqueeze_dim(0);
        sigmoid(logit / temperature.max(1e-3)).reshape([batch])
    }
}

/// Exact test NLL in nats per image over a whole split, averaged over `binarizations` dynamic
/// binarizations drawn with `rng` (native evaluation; synchronous reads).
pub fn evaluate_split(model: &Nade, split: &crate::data::Split, binarizations: usize, rng: &mut crate::rng::Rng, device: &Device) -> f64 {
    crate::train::exact_nll(|x| model.nll(x), split, binarizations, rng, device)
}

/// A NADE with its optimizer: what the training loop drives.
pub type NadeTrainer = LikelihoodTrainer<Nade>;

impl ExactLikelihood for Nade {
    type Config = NadeConfig;
    const NAME: &'static str = "a NADE's";

    fn init(config: &NadeConfig, device: &Device) -> Self {
        config.init(device)
    }

    /// All 784 conditionals at once from the real image.
    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        Nade::nll(self, x)
    }
}
