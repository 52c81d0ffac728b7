//! PixelRNN with Row LSTM layers (van den Oord et al. 2016a): an explicit, tractable density,
//! the lecture's first pixel model.
//!
//! The same chain rule as PixelCNN, p(x) = Π_i p(x_i | x_<i), but the context is carried by a
//! recurrence down the image: a Row LSTM keeps one hidden row, and row r's state is computed
//! from row r − 1's state (a 1×3 convolution along the row, the *state-to-state* part) and from
//! row r's input features (a 1×3 convolution masked so a pixel sees only itself and its left
//! neighbour, the *input-to-state* part). The gates are an LSTM's:
//!
//!   [o, f, i, g] = σ/tanh(K_ss ⊛ h_{r−1} + K_is ⊛ x_r),  c_r = f ⊙ c_{r−1} + i ⊙ g,  h_r = o ⊙ tanh(c_r).
//!
//! Each row waits for the one above, so even training takes 28 sequential steps per image, where
//! a PixelCNN computes every conditional at once: the reason PixelCNN exists. The receptive field
//! is a triangle that widens by one column per row above and per layer.
//!
//! As in the paper: a 7×7 convolution with mask A first (pixel features that see only x_<i),
//! Row LSTM layers with residual connections, then ReLU and 1×1 convolutions to one logit per
//! pixel.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{relu, sigmoid, tanh};
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE};
use crate::models::pixelcnn::{Conv, MaskedConv, conv};
use crate::models::vae::bernoulli_nll;
use crate::train::{Pixels, Trainable};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelRnnConfig {
    /// Channels of the hidden state h (and of the features between layers).
    pub hidden: usize,
    /// Row LSTM layers.
    pub layers: usize,
}

impl PixelRnnConfig {
    /// Small enough to train in the page: one Row LSTM layer of 16 units.
    pub fn small() -> Self {
        PixelRnnConfig { hidden: 16, layers: 1 }
    }

    pub fn init(&self, device: &Device) -> PixelRnn {
        let h = self.hidden;
        crate::device::initialized(|| PixelRnn {
            first: MaskedConv::new(1, h, 7, false, device),
            rows: (0..self.layers).map(|_| RowLstm { input_to_state: conv(h, 4 * h, 1, 3, device), state_to_state: conv(h, 4 * h, 1, 3, device) }).collect(),
            head1: conv(h, h, 1, 1, device),
            head2: conv(h, 1, 1, 1, device),
        })
    }

    /// A PixelRNN with the weights in `bytes` (burnpack); the error says what is wrong.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<PixelRnn, String> {
        let (_, bytes) = crate::train::unwrap_weights(bytes)?;
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| format!("the weights file is damaged or not a weights file ({e})"))?;
        self.init(device)
            .try_load_record(record)
            .map_err(|e| format!("the weights do not fit a PixelRNN with {} Row LSTM layers of {} units ({e})", self.layers, self.hidden))
    }
}

#[derive(Module, Debug)]
pub struct PixelRnn {
    /// 7×7, mask A: features of x_<i at every pixel.
    first: MaskedConv,
    rows: Vec<RowLstm>,
    head1: Conv,
    head2: Conv,
}

/// One Row LSTM layer: h → 4h gate pre-activations from the row's input and the row above's state.
#[derive(Module, Debug)]
pub struct RowLstm {
    /// 1×3 along the row, its right tap masked off: a pixel reads its own features and its left
    /// neighbour's (which by now describe only pixels before it).
    input_to_state: Conv,
    /// 1×3 along the row above's hidden state.
    state_to_state: Conv,
}

/// The input-to-state mask: left neighbour and centre, not the right neighbour.
const ROW_MASK: [f32; 3] = [1.0, 1.0, 0.0];

impl RowLstm {
    /// The layer's output for feature maps `x` ([batch, h, 28, 28]): every row's hidden state,
    /// computed top to bottom.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, h, rows, cols] = x.dims();
        let device = x.device();
        let mask = Tensor::<4>::from_data(TensorData::new(ROW_MASK.to_vec(), [1, 1, 1, 3]), &device);
        // The input-to-state part needs no recurrence: all rows in one convolution.
        let from_input = self.input_to_state.forward_padded(x, self.input_to_state.weight() * mask, [0, 0, 1, 1]);
        let (mut state, mut cell) = (Tensor::<4>::zeros([n, h, 1, cols], &device), Tensor::<4>::zeros([n, h, 1, cols], &device));
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            let from_state = self.state_to_state.forward_padded(state, self.state_to_state.weight(), [0, 0, 1, 1]);
            let gates = from_input.clone().slice([0..n, 0..4 * h, r..r + 1, 0..cols]) + from_state;
            let [o, f, i, g]: [Tensor<4>; 4] = gates.chunk(4, 1).try_into().expect("four gates");
            cell = sigmoid(f) * cell + sigmoid(i) * tanh(g);
            state = sigmoid(o) * tanh(cell.clone());
            out.push(state.clone());
        }
        Tensor::cat(out, 2)
    }
}

impl PixelRnn {
    /// Logits of p(x_i = 1 | x_<i) as a map, [batch, 1, 28, 28], from images [batch, 1, 28, 28].
    pub fn logits_map(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.first.forward(x);
        for layer in &self.rows {
            // Residual connections between layers, as in the paper.
            h = h.clone() + layer.forward(h);
        }
        self.head2.forward(relu(self.head1.forward(relu(h))))
    }

    /// Logits for every pixel, [batch, 784], teacher forcing from the real x_<i.
    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        self.logits_map(x.reshape([n, 1, SIDE, SIDE])).reshape([n, PIXELS])
    }

    /// −log p(x) in nats per image: exact, the sum of the 784 conditionals' cross-entropies.
    pub fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        bernoulli_nll(self.logits(x.clone()), x)
    }

    /// p(x_i = 1 | x_<i) for each image of `images` ([batch · 784]; pixels ≥ i are not read) at
    /// `temperature`: the rows down to pixel i's through the whole network.
    pub fn pixel_probs(&self, images: &[f32], batch: usize, i: usize, temperature: f32, device: &Device) -> Tensor<1> {
        let rows = i / SIDE + 1;
        let strip: Vec<f32> = (0..batch).flat_map(|b| images[b * PIXELS..b * PIXELS + rows * SIDE].iter().copied()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(strip, [batch, 1, rows, SIDE]), device);
        let logits = self.logits_map(x).slice([0..batch, 0..1, rows - 1..rows, i % SIDE..i % SIDE + 1]).reshape([batch]);
        sigmoid(logits / temperature.max(1e-3))
    }
}

/// Exact test NLL in nats per image over a whole split, averaged over `binarizations` dynamic
/// binarizations drawn with `rng` (native evaluation; synchronous reads).
pub fn evaluate_split(model: &PixelRnn, split: &crate::data::Split, binarizations: usize, rng: &mut crate::rng::Rng, device: &Device) -> f64 {
    crate::train::exact_nll(|x| model.nll(x), split, binarizations, rng, device)
}

/// A PixelRNN with its optimizer: what the training loop drives.
pub struct PixelRnnTrainer {
    pub config: PixelRnnConfig,
    pub model: PixelRnn,
    optim: ModuleOptimizer,
}

impl PixelRnnTrainer {
    pub fn new(config: PixelRnnConfig, device: &Device) -> Self {
        let model = config.init(device);
        Self::from_model(config, model)
    }

    pub fn from_model(config: PixelRnnConfig, model: PixelRnn) -> Self {
        PixelRnnTrainer { config, model, optim: AdamConfig::new().init() }
    }
}

/// [NLL in nats, bits/dim], batch means.
fn metrics(nll: Tensor<1>) -> Tensor<1> {
    let nats = nll.mean().detach();
    Tensor::cat(vec![nats.clone(), nats / (PIXELS as f32 * std::f32::consts::LN_2)], 0)
}

impl Trainable for PixelRnnTrainer {
    fn metric_names(&self) -> &'static [&'static str] {
        &["NLL (nats)", "bits/dim"]
    }

    fn pixels(&self) -> Pixels {
        Pixels::Binarized
    }

    /// Maximum likelihood over all 784 conditionals from the real image — but row after row.
    fn step(&mut self, x: Tensor<2>, lr: f64) -> Tensor<1> {
        let nll = self.model.nll(x);
        let grads = GradientsParams::from_grads(nll.clone().mean().backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        metrics(nll)
    }

    fn evaluate(&self, x: Tensor<2>) -> Tensor<1> {
        metrics(self.model.valid().nll(x.without_autodiff()))
    }

    fn weights(&self) -> Result<Vec<u8>, String> {
        crate::train::module_bytes(&self.model.valid())
    }

    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        Ok(vec![crate::train::module_bytes(&self.model)?, crate::train::optimizer_bytes(&self.optim)?])
    }

    fn load_state(&mut self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        let [model, optim]: [Vec<u8>; 2] = parts.try_into().map_err(|_| "the checkpoint is not a PixelRNN's".to_string())?;
        let model = crate::train::load_module_bytes(self.model.clone(), model)?;
        self.optim = crate::train::load_optimizer_bytes(self.optim.clone(), optim)?;
        self.model = model;
        Ok(())
    }

    fn tensors(&self) -> Vec<Tensor<1>> {
        crate::train::module_tensors(&self.model.valid())
    }

    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.model = crate::train::with_tensors(self.model.clone(), values)?;
        Ok(())
    }
}
