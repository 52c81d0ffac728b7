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

use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{relu, sigmoid, tanh};
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE};
use crate::models::pixelcnn::{Conv, MaskedConv, conv};
use crate::models::vae::bernoulli_nll;
use crate::train::{ExactLikelihood, LikelihoodTrainer};

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

    /// A PixelRNN with the weights in `bytes` (burnpack or half precision); the error says what is wrong.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<PixelRnn, String> {
        let what = format!("a PixelRNN with {} Row LSTM layers of {} units", self.layers, self.hidden);
        crate::train::load_weights(self.init(device), bytes, &what)
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
    /// The input-to-state pre-activations of every row at once, [batch, 4h, rows, 28]: no
    /// recurrence is needed for this part.
    fn input_preactivations(&self, x: Tensor<4>) -> Tensor<4> {
        let mask = Tensor::<4>::from_data(TensorData::new(ROW_MASK.to_vec(), [1, 1, 1, 3]), &x.device());
        self.input_to_state.forward_padded(x, self.input_to_state.weight() * mask, [0, 0, 1, 1])
    }

    /// One row of the recurrence: that row's input-to-state pre-activations ([batch, 4h, 1, 28])
    /// and the row above's hidden state and cell give this row's (h, c).
    fn step(&self, from_input: Tensor<4>, state: Tensor<4>, cell: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let from_state = self.state_to_state.forward_padded(state, self.state_to_state.weight(), [0, 0, 1, 1]);
        let [o, f, i, g]: [Tensor<4>; 4] = (from_input + from_state).chunk(4, 1).try_into().expect("four gates");
        let cell = sigmoid(f) * cell + sigmoid(i) * tanh(g);
        (sigmoid(o) * tanh(cell.clone()), cell)
    }

    /// The layer's output for feature maps `x` ([batch, h, 28, 28]): every row's hidden state,
    /// computed top to bottom.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, h, rows, cols] = x.dims();
        let device = x.device();
        let from_input = self.input_preactivations(x);
        let (mut state, mut cell) = (Tensor::<4>::zeros([n, h, 1, cols], &device), Tensor::<4>::zeros([n, h, 1, cols], &device));
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            (state, cell) = self.step(from_input.clone().slice([0..n, 0..4 * h, r..r + 1, 0..cols]), state, cell);
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
        self.head(h)
    }

    /// ReLU, 1×1, ReLU, 1×1: features to one logit per pixel.
    fn head(&self, h: Tensor<4>) -> Tensor<4> {
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
}

/// What sampling carries down the image, as the Row LSTM itself does: each layer's hidden state
/// and cell after the rows above. A pixel then costs one row of the network, not the whole
/// image above it.
pub struct RowCarry {
    /// Rows 0 … row − 1 are in the carry.
    row: usize,
    /// Per layer, (h, c) of row `row − 1` ([batch, hidden, 1, 28] each; zeros above the image).
    states: Vec<(Tensor<4>, Tensor<4>)>,
}

/// Pixel rows top … top + rows − 1 of each image with rows above the image as zeros (what the
/// full pass's zero padding gives): [batch, 1, rows, 28].
fn pixel_rows(images: &[f32], batch: usize, top: isize, rows: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..batch)
        .flat_map(|b| {
            (top..top + rows as isize).flat_map(move |r| (0..SIDE).map(move |c| if r < 0 { 0.0 } else { images[b * PIXELS + r as usize * SIDE + c] }))
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, 1, rows, SIDE]), device)
}

impl PixelRnn {
    /// An empty carry, for sampling from the first row.
    pub fn row_carry(&self, batch: usize, device: &Device) -> RowCarry {
        let zeros = |layer: &RowLstm| Tensor::<4>::zeros([batch, layer.state_to_state.weight().dims()[1], 1, SIDE], device);
        RowCarry { row: 0, states: self.rows.iter().map(|l| (zeros(l), zeros(l))).collect() }
    }

    /// Row `row`'s logits ([batch, 28]) and each layer's (h, c) for it, from pixel rows
    /// row − 3 … row (the 7×7 mask-A layer reads no further) and the carry's row above.
    fn row_pass(&self, carry: &RowCarry, images: &[f32], batch: usize, row: usize, device: &Device) -> (Tensor<2>, Vec<(Tensor<4>, Tensor<4>)>) {
        let mut h = self.first.forward_row(pixel_rows(images, batch, row as isize - 3, 4, device));
        let mut states = Vec::with_capacity(self.rows.len());
        for (layer, (state, cell)) in self.rows.iter().zip(&carry.states) {
            let (state, cell) = layer.step(layer.input_preactivations(h.clone()), state.clone(), cell.clone());
            h = h + state.clone();
            states.push((state, cell));
        }
        (self.head(h).reshape([batch, SIDE]), states)
    }

    /// Logits of every pixel of row `row` ([batch, 28]) from that row of `images` and the rows
    /// above (through `carry`, which moves down as rows complete: rows between its row and
    /// `row` must be final in `images`).
    pub fn row_logits(&self, carry: &mut RowCarry, images: &[f32], batch: usize, row: usize, device: &Device) -> Tensor<2> {
        assert!(row >= carry.row, "the carry only moves down");
        while carry.row < row {
            carry.states = self.row_pass(carry, images, batch, carry.row, device).1;
            carry.row += 1;
        }
        self.row_pass(carry, images, batch, row, device).0
    }

    /// p(x_i = 1 | x_<i) for each image of `images` ([batch · 784]; pixels ≥ i are not read) at
    /// `temperature`, through the carry.
    pub fn carried_probs(&self, carry: &mut RowCarry, images: &[f32], batch: usize, i: usize, temperature: f32, device: &Device) -> Tensor<1> {
        let logits = self.row_logits(carry, images, batch, i / SIDE, device);
        sigmoid(logits.slice([0..batch, i % SIDE..i % SIDE + 1]).reshape([batch]) / temperature.max(1e-3))
    }
}

/// Exact test NLL in nats per image over a whole split, averaged over `binarizations` dynamic
/// binarizations drawn with `rng` (native evaluation; synchronous reads).
pub fn evaluate_split(model: &PixelRnn, split: &crate::data::Split, binarizations: usize, rng: &mut crate::rng::Rng, device: &Device) -> f64 {
    crate::train::exact_nll(|x| model.nll(x), split, binarizations, rng, device)
}

/// A PixelRNN with its optimizer: what the training loop drives.
pub type PixelRnnTrainer = LikelihoodTrainer<PixelRnn>;

impl ExactLikelihood for PixelRnn {
    type Config = PixelRnnConfig;
    const NAME: &'static str = "a PixelRNN's";
    // The shipped PixelRNN was trained with burn's default.
    const ADAM_EPSILON: f32 = 1e-5;

    fn init(config: &PixelRnnConfig, device: &Device) -> Self {
        config.init(device)
    }

    /// All 784 conditionals from the real image — but row after row.
    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        PixelRnn::nll(self, x)
    }
}
