//! PixelCNN (van den Oord et al. 2016): an explicit, tractable density.
//!
//! The chain rule writes any p(x) exactly as Π_i p(x_i | x_<i), pixels in raster order. A
//! PixelCNN models every conditional with one network whose convolutions are *masked* so the
//! output at pixel i never sees pixels i, i+1, …: mask A (first layer) also hides the centre,
//! mask B (later layers) lets a pixel see its own features, which by then only describe x_<i.
//! Training is exact maximum likelihood, all 784 conditionals at once from the real image
//! (teacher forcing); sampling is sequential, one pixel per forward pass.
//!
//! Stacked masked 3×3 convolutions never see a wedge of pixels above and to the right (the
//! "blind spot"). The gated PixelCNN (van den Oord et al. 2016b) splits the network into a
//! vertical stack (all rows above) and a horizontal stack (the row so far), which removes it.

use burn::module::Param;
use burn::nn::Initializer;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use serde::{Deserialize, Serialize};

use crate::data::{PIXELS, SIDE};
use crate::models::vae::bernoulli_nll;
use crate::rng::Rng;
use crate::train::{ExactLikelihood, LikelihoodTrainer};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelCnnConfig {
    /// false: the original PixelCNN; true: gated, with vertical and horizontal stacks.
    pub gated: bool,
    /// Feature channels (the plain network's residual blocks work at half of 2·channels).
    pub channels: usize,
    /// Residual blocks (plain) or gated layers after the first layer.
    pub layers: usize,
}

impl PixelCnnConfig {
    pub fn plain() -> Self {
        PixelCnnConfig { gated: false, channels: 32, layers: 5 }
    }

    pub fn gated() -> Self {
        PixelCnnConfig { gated: true, ..Self::plain() }
    }

    /// Deep enough that a pixel's context covers the digit: 18 rows above. Plain: 15 residual
    /// blocks at 32 channels with a 16-channel bottleneck (the network of pytorch-generative's
    /// 81.45-nat PixelCNN); gated: 14 layers of 16 channels.
    pub fn deep(gated: bool) -> Self {
        if gated { PixelCnnConfig { gated, channels: 16, layers: 14 } } else { PixelCnnConfig { gated, channels: 16, layers: 15 } }
    }

    /// How many rows above a pixel its logit can depend on; sampling recomputes only that strip.
    /// Plain: the 7×7 first layer reaches 3 rows, every masked 3×3 one more. Gated: the first
    /// vertical stack spans rows r−3…r and the horizontal stack reads it shifted down a row, so
    /// 4, and every later layer adds one.
    pub fn rows_above(&self) -> usize {
        if self.gated { 4 + self.layers } else { 3 + self.layers }
    }

    pub fn init(&self, device: &Device) -> PixelCnn {
        // The initial weights, drawn in one turn of the device's random stream.
        crate::device::initialized(|| {
            let h = self.channels;
            if self.gated {
                PixelCnn::Gated(GatedPixelCnn {
                    first: GatedLayer::new(1, h, 7, true, device),
                    layers: (0..self.layers).map(|_| GatedLayer::new(h, h, 3, false, device)).collect(),
                    head1: conv(h, 2 * h, 1, 1, device),
                    head2: conv(2 * h, 1, 1, 1, device),
                })
            } else {
                PixelCnn::Plain(PlainPixelCnn {
                    first: MaskedConv::new(1, 2 * h, 7, false, device),
                    blocks: (0..self.layers)
                        .map(|_| ResidualBlock {
                            reduce: conv(2 * h, h, 1, 1, device),
                            masked: MaskedConv::new(h, h, 3, true, device),
                            expand: conv(h, 2 * h, 1, 1, device),
                        })
                        .collect(),
                    head1: MaskedConv::new(2 * h, 2 * h, 1, true, device),
                    head2: MaskedConv::new(2 * h, 1, 1, true, device),
                })
            }
        })
    }

    /// A model with the weights in `bytes` (burnpack or half precision); the error says what is wrong.
    pub fn load(&self, device: &Device, bytes: Vec<u8>) -> Result<PixelCnn, String> {
        let name = if self.gated { "a gated PixelCNN" } else { "a PixelCNN" };
        crate::train::load_weights(self.init(device), bytes, name)
    }
}

/// A k×k convolution weight and bias, initialised like burn's Conv2d (Kaiming uniform).
#[derive(Module, Debug)]
pub struct Conv {
    weight: Param<Tensor<4>>,
    bias: Param<Tensor<1>>,
}

pub(crate) fn conv(c_in: usize, c_out: usize, kh: usize, kw: usize, device: &Device) -> Conv {
    let fan_in = c_in * kh * kw;
    let init = Initializer::KaimingUniform { gain: 1.0 / 3f64.sqrt(), fan_out_only: false };
    let bound = 1.0 / (fan_in as f64).sqrt();
    Conv {
        weight: init.init_with([c_out, c_in, kh, kw], Some(fan_in), Some(c_out * kh * kw), device),
        bias: Initializer::Uniform { min: -bound, max: bound }.init([c_out], device),
    }
}

impl Conv {
    pub(crate) fn weight(&self) -> Tensor<4> {
        self.weight.val()
    }

    /// Convolution with explicit (top, bottom, left, right) zero padding.
    pub(crate) fn forward_padded(&self, x: Tensor<4>, weight: Tensor<4>, pad: [usize; 4]) -> Tensor<4> {
        let options = ConvOptions::new_with_padding([1, 1], [(pad[0], pad[1]), (pad[2], pad[3])], [1, 1], 1);
        conv2d(x, weight, Some(self.bias.val()), options)
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, kh, kw] = self.weight.dims();
        self.forward_padded(x, self.weight.val(), [kh / 2, kh / 2, kw / 2, kw / 2])
    }
}

/// A k×k convolution whose weights are multiplied by a causal mask before use.
#[derive(Module, Debug)]
pub struct MaskedConv {
    conv: Conv,
    /// Mask B (the centre may be seen) or mask A (it may not).
    mask_b: bool,
}

/// The raster-order mask: rows above the centre, and the centre row left of the centre
/// (plus the centre itself for mask B). [k · k], row-major.
pub fn causal_mask(k: usize, mask_b: bool) -> Vec<f32> {
    let c = k / 2;
    (0..k * k)
        .map(|i| {
            let (r, col) = (i / k, i % k);
            let seen = r < c || (r == c && (col < c || (col == c && mask_b)));
            if seen { 1.0 } else { 0.0 }
        })
        .collect()
}

impl MaskedConv {
    pub(crate) fn new(c_in: usize, c_out: usize, k: usize, mask_b: bool, device: &Device) -> Self {
        MaskedConv { conv: conv(c_in, c_out, k, k, device), mask_b }
    }

    fn masked_weight(&self) -> Tensor<4> {
        let weight = self.conv.weight.val();
        let [_, _, k, _] = weight.dims();
        let mask = Tensor::<4>::from_data(TensorData::new(causal_mask(k, self.mask_b), [1, 1, k, k]), &weight.device());
        weight * mask
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, k, _] = self.conv.weight.dims();
        self.conv.forward_padded(x, self.masked_weight(), [k / 2, k / 2, k / 2, k / 2])
    }

    /// One output row from the k/2 + 1 input rows that end at it (the mask hides the rows below).
    pub(crate) fn forward_row(&self, rows: Tensor<4>) -> Tensor<4> {
        let weight = self.masked_weight();
        let [c_out, c_in, k, _] = weight.dims();
        self.conv.forward_padded(rows, weight.slice([0..c_out, 0..c_in, 0..k / 2 + 1, 0..k]), [0, 0, k / 2, k / 2])
    }
}

/// 1×1 (2h → h), masked 3×3 (h → h), 1×1 (h → 2h), added to the input: the paper's block.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    reduce: Conv,
    masked: MaskedConv,
    expand: Conv,
}

impl ResidualBlock {
    /// The masked conv's input: relu(1×1 reduce of relu(h)).
    fn reduced(&self, h: Tensor<4>) -> Tensor<4> {
        relu(self.reduce.forward(relu(h)))
    }

    /// h plus the block's output, given the masked conv's output.
    fn add_to(&self, h: Tensor<4>, masked_out: Tensor<4>) -> Tensor<4> {
        h + self.expand.forward(relu(masked_out))
    }
}

#[derive(Module, Debug)]
pub struct PlainPixelCnn {
    first: MaskedConv,
    blocks: Vec<ResidualBlock>,
    head1: MaskedConv,
    head2: MaskedConv,
}

impl PlainPixelCnn {
    /// ReLU, 1×1, ReLU, 1×1 → one logit per pixel.
    fn head(&self, h: Tensor<4>) -> Tensor<4> {
        self.head2.forward(relu(self.head1.forward(relu(h))))
    }
}

/// One gated layer: v = vertical conv (rows at and above), h = horizontal conv (the row up to
/// here) + 1×1 of v shifted down a row (so h sees only rows strictly above through v);
/// each output is tanh(a) ⊙ σ(b) of its two halves; h keeps a residual path.
#[derive(Module, Debug)]
pub struct GatedLayer {
    vertical: Conv,
    horizontal: Conv,
    v_to_h: Conv,
    h_out: Conv,
    /// The first layer: h must not see the current pixel, and has no residual path.
    first: bool,
}

impl GatedLayer {
    fn new(c_in: usize, h: usize, k: usize, first: bool, device: &Device) -> Self {
        GatedLayer {
            vertical: conv(c_in, 2 * h, k / 2 + 1, k, device),
            horizontal: conv(c_in, 2 * h, 1, k / 2 + 1, device),
            v_to_h: conv(2 * h, 2 * h, 1, 1, device),
            h_out: conv(h, h, 1, 1, device),
            first,
        }
    }

    fn forward(&self, v: Tensor<4>, h: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        // Output row r of the vertical conv covers input rows r − kh + 1 … r.
        let v_feat = self.vertical_conv(v, self.vertical_rows() - 1);
        let h_next = self.horizontal(h, shift_down(v_feat.clone()));
        (gate(v_feat), h_next)
    }

    /// Rows the vertical conv reads per output row (4 in the first layer, 2 later).
    fn vertical_rows(&self) -> usize {
        self.vertical.weight.dims()[2]
    }

    /// The vertical stack's features before the gate, `pad_top` zero rows above the input.
    fn vertical_conv(&self, v: Tensor<4>, pad_top: usize) -> Tensor<4> {
        let kw = self.vertical.weight.dims()[3];
        self.vertical.forward_padded(v, self.vertical.weight.val(), [pad_top, 0, kw / 2, kw / 2])
    }

    /// The horizontal stack's next features from its input and the vertical features of the row
    /// above (`v_above`, already shifted down).
    fn horizontal(&self, h: Tensor<4>, v_above: Tensor<4>) -> Tensor<4> {
        let [_, _, _, hw] = self.horizontal.weight.dims();
        // Output column c covers columns c − hw + 1 … c; the first layer shifts its input right
        // by one so the current pixel is not among them.
        let h_in = if self.first { shift_right(h.clone()) } else { h.clone() };
        let h_feat = self.horizontal.forward_padded(h_in, self.horizontal.weight.val(), [0, 0, hw - 1, 0]);
        let h_gated = self.h_out.forward(gate(h_feat + self.v_to_h.forward(v_above)));
        if self.first { h_gated } else { h + h_gated }
    }
}

/// tanh(first half of the channels) ⊙ σ(second half), with tanh(a) written 2σ(2a) − 1: the same
/// function, but burn's CPU backend computes σ 2.5× faster than tanh (both element by element in
/// libm, tanh once more in the backward pass): the deep network trains a tenth faster on it.
fn gate(x: Tensor<4>) -> Tensor<4> {
    let halves = x.chunk(2, 1);
    (sigmoid(halves[0].clone() * 2.0) * 2.0 - 1.0) * sigmoid(halves[1].clone())
}

/// Moves a feature map down one row (zeros on top): row r then holds what was row r − 1.
fn shift_down(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let zeros = Tensor::zeros([b, c, 1, w], &x.device());
    Tensor::cat(vec![zeros, x.slice([0..b, 0..c, 0..h - 1, 0..w])], 2)
}

/// Moves a feature map right one column (zeros on the left).
fn shift_right(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let zeros = Tensor::zeros([b, c, h, 1], &x.device());
    Tensor::cat(vec![zeros, x.slice([0..b, 0..c, 0..h, 0..w - 1])], 3)
}

#[derive(Module, Debug)]
pub struct GatedPixelCnn {
    first: GatedLayer,
    layers: Vec<GatedLayer>,
    head1: Conv,
    head2: Conv,
}

impl GatedPixelCnn {
    /// ReLU, 1×1, ReLU, 1×1 on the horizontal stack → one logit per pixel.
    fn head(&self, h: Tensor<4>) -> Tensor<4> {
        self.head2.forward(relu(self.head1.forward(relu(h))))
    }
}

#[derive(Module, Debug)]
pub enum PixelCnn {
    Plain(PlainPixelCnn),
    Gated(GatedPixelCnn),
}

impl PixelCnn {
    /// Logits of p(x_i = 1 | x_<i) for every pixel, from images [batch, 1, rows, 28] (0/1). Any
    /// number of rows: sampling passes a strip.
    pub fn logits_map(&self, x: Tensor<4>) -> Tensor<4> {
        // Inputs centred on 0 (x − ½) train better; the mask makes this harmless.
        let x = x - 0.5;
        match self {
            PixelCnn::Plain(net) => {
                let mut h = net.first.forward(x);
                for block in &net.blocks {
                    let inner = block.reduced(h.clone());
                    h = block.add_to(h, block.masked.forward(inner));
                }
                net.head(h)
            }
            PixelCnn::Gated(net) => {
                let (mut v, mut h) = net.first.forward(x.clone(), x);
                for layer in &net.layers {
                    (v, h) = layer.forward(v, h);
                }
                net.head(h)
            }
        }
    }

    /// Logits for images [batch, 784].
    pub fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let batch = x.dims()[0];
        self.logits_map(x.reshape([batch, 1, SIDE, SIDE])).reshape([batch, PIXELS])
    }

    /// −log p(x) in nats per image: the sum over pixels of the binary cross-entropy of each
    /// conditional — exact, no bound.
    pub fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        bernoulli_nll(self.logits(x.clone()), x)
    }
}

/// Nats per image → bits per pixel (dimension).
pub fn bits_per_dim(nats: f64) -> f64 {
    nats / (PIXELS as f64 * std::f64::consts::LN_2)
}

/// Sampling state for a batch of images being completed pixel by pixel.
pub struct Completion {
    /// Current images, [batch · 784], 0/1.
    pub images: Vec<f32>,
    /// Pixels that were given and must not change (per pixel, shared by the batch).
    pub observed: Vec<bool>,
    /// The next pixel to consider, in raster order.
    pub next: usize,
    pub batch: usize,
}

impl Completion {
    /// `batch` copies of `start` (784 values in [0, 1], binarized at ½) with `observed` kept.
    pub fn new(start: &[f32], observed: Vec<bool>, batch: usize) -> Completion {
        let one: Vec<f32> = start.iter().zip(&observed).map(|(&p, &o)| if o && p >= 0.5 { 1.0 } else { 0.0 }).collect();
        Completion { images: one.repeat(batch), observed, next: 0, batch }
    }

    pub fn done(&self) -> bool {
        (self.next..PIXELS).all(|i| self.observed[i])
    }
}

impl PixelCnn {
    /// Samples the next unobserved pixel of every image in `c`: one row through the network,
    /// the rows above from `cache` (made by `row_cache` for this completion); `temperature`
    /// divides the logit. Returns the pixel index sampled, or None when complete. Synchronous
    /// read (native).
    pub fn sample_next(&self, c: &mut Completion, cache: &mut RowCache, temperature: f32, rng: &mut Rng, device: &Device) -> Option<usize> {
        let i = (c.next..PIXELS).find(|&i| !c.observed[i])?;
        let probs = self.cached_probs(cache, &c.images, c.batch, i, temperature, device).into_data().iter::<f32>().collect::<Vec<_>>();
        set_sampled(c, i, &probs, rng);
        Some(i)
    }

    /// p(x_i = 1 | x_<i) for each image, computed on the strip of rows pixel i depends on.
    pub fn pixel_probs(&self, images: &[f32], batch: usize, i: usize, rows_above: usize, temperature: f32, device: &Device) -> Tensor<1> {
        sigmoid(self.pixel_logits(images, batch, i, rows_above, device) / temperature.max(1e-3))
    }

    /// The logit of pixel i for each image, from a forward pass over rows i − `rows_above` … i
    /// only: the same value as the full pass when `rows_above` is the network's reach.
    pub fn pixel_logits(&self, images: &[f32], batch: usize, i: usize, rows_above: usize, device: &Device) -> Tensor<1> {
        let (row, col) = (i / SIDE, i % SIDE);
        let top = row.saturating_sub(rows_above);
        let rows = row + 1 - top;
        let strip: Vec<f32> = (0..batch).flat_map(|b| images[b * PIXELS + top * SIDE..b * PIXELS + (row + 1) * SIDE].to_vec()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(strip, [batch, 1, rows, SIDE]), device);
        self.logits_map(x).slice([0..batch, 0..1, rows - 1..rows, col..col + 1]).reshape([batch])
    }
}

/// What sampling keeps between pixel steps. While row r is sampled nothing above it changes, and
/// neither does anything the network computed there, so a pixel step runs only row r through
/// the network and reads the rows above from here: one row per layer instead of a strip of up
/// to `rows_above` + 1 rows.
/// - Plain: each block's masked 3×3 conv reads its input one row up (`above`, per block); the
///   first layer reads pixels, which are at hand.
/// - Gated: only the vertical stack carries information down. The horizontal stack of row r
///   reads each layer's vertical features of row r − 1 (`v_feat`); computing those for the next
///   row needs each later layer's vertical input one row up (`above`).
pub struct RowCache {
    /// The rows above this one are in the cache.
    row: usize,
    above: Vec<Tensor<4>>,
    v_feat: Vec<Tensor<4>>,
}

/// Pixel rows top … top + rows − 1 of each image, centred (x − ½) as the network's input, with
/// rows above the image as zeros (what the full pass's zero padding gives): [batch, 1, rows, 28].
fn centred_rows(images: &[f32], batch: usize, top: isize, rows: usize, device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..batch)
        .flat_map(|b| {
            (top..top + rows as isize).flat_map(move |r| (0..SIDE).map(move |c| if r < 0 { 0.0 } else { images[b * PIXELS + r as usize * SIDE + c] - 0.5 }))
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [batch, 1, rows, SIDE]), device)
}

impl PixelCnn {
    /// An empty cache, for sampling from the first row: zero context, as the full pass pads.
    pub fn row_cache(&self, batch: usize, device: &Device) -> RowCache {
        let zeros = |channels: usize| Tensor::<4>::zeros([batch, channels, 1, SIDE], device);
        match self {
            PixelCnn::Plain(net) => RowCache { row: 0, above: net.blocks.iter().map(|b| zeros(b.reduce.weight.dims()[0])).collect(), v_feat: Vec::new() },
            PixelCnn::Gated(net) => {
                let layers = std::iter::once(&net.first).chain(&net.layers);
                RowCache {
                    row: 0,
                    above: net.layers.iter().map(|l| zeros(l.vertical.weight.dims()[1])).collect(),
                    v_feat: layers.map(|l| zeros(l.vertical.weight.dims()[0])).collect(),
                }
            }
        }
    }

    /// Logits of every pixel of row `row` for each image ([batch, 28]), from that row of
    /// `images` and the rows above (through `cache`, which moves down as rows complete: rows
    /// between its row and `row` must be final in `images`).
    pub fn row_logits(&self, cache: &mut RowCache, images: &[f32], batch: usize, row: usize, device: &Device) -> Tensor<2> {
        assert!(row >= cache.row, "the cache only moves down");
        while cache.row < row {
            self.row_pass(cache, images, batch, device);
        }
        let r = row as isize;
        let logits = match self {
            PixelCnn::Plain(net) => plain_row(net, centred_rows(images, batch, r - 3, 4, device), &cache.above).0,
            PixelCnn::Gated(net) => {
                let mut h = net.first.horizontal(centred_rows(images, batch, r, 1, device), cache.v_feat[0].clone());
                for (layer, v_above) in net.layers.iter().zip(&cache.v_feat[1..]) {
                    h = layer.horizontal(h, v_above.clone());
                }
                net.head(h)
            }
        };
        logits.reshape([batch, SIDE])
    }

    /// p(x_i = 1 | x_<i) for each image through the cache (the cached twin of `pixel_probs`).
    pub fn cached_probs(&self, cache: &mut RowCache, images: &[f32], batch: usize, i: usize, temperature: f32, device: &Device) -> Tensor<1> {
        let logits = self.row_logits(cache, images, batch, i / SIDE, device);
        sigmoid(logits.slice([0..batch, i % SIDE..i % SIDE + 1]).reshape([batch]) / temperature.max(1e-3))
    }

    /// Row `cache.row` is final: computes what the rows below need from it, and moves down.
    fn row_pass(&self, cache: &mut RowCache, images: &[f32], batch: usize, device: &Device) {
        let r = cache.row as isize;
        match self {
            PixelCnn::Plain(net) => cache.above = plain_row(net, centred_rows(images, batch, r - 3, 4, device), &cache.above).1,
            PixelCnn::Gated(net) => {
                let kh = net.first.vertical_rows();
                let v_feat = net.first.vertical_conv(centred_rows(images, batch, r + 1 - kh as isize, kh, device), 0);
                let mut v = gate(v_feat.clone());
                let mut feats = vec![v_feat];
                for (layer, above) in net.layers.iter().zip(cache.above.iter_mut()) {
                    let v_feat = layer.vertical_conv(Tensor::cat(vec![above.clone(), v.clone()], 2), 0);
                    *above = v;
                    v = gate(v_feat.clone());
                    feats.push(v_feat);
                }
                cache.v_feat = feats;
            }
        }
        cache.row += 1;
    }
}

/// One row of the plain network: pixel rows r − 3 … r in, that row's logits out, with each
/// block's masked-conv input at row r (what the next row reads as `above`).
fn plain_row(net: &PlainPixelCnn, pixels: Tensor<4>, above: &[Tensor<4>]) -> (Tensor<4>, Vec<Tensor<4>>) {
    let mut h = net.first.forward_row(pixels);
    let mut inputs = Vec::with_capacity(net.blocks.len());
    for (block, above) in net.blocks.iter().zip(above) {
        let inner = block.reduced(h.clone());
        h = block.add_to(h, block.masked.forward_row(Tensor::cat(vec![above.clone(), inner.clone()], 2)));
        inputs.push(inner);
    }
    (net.head(h), inputs)
}

/// Writes Bernoulli draws with probabilities `probs` (one per image) into pixel `i`.
pub fn set_sampled(c: &mut Completion, i: usize, probs: &[f32], rng: &mut Rng) {
    for (b, p) in probs.iter().enumerate() {
        c.images[b * PIXELS + i] = if rng.uniform() < *p { 1.0 } else { 0.0 };
    }
    c.next = i + 1;
}

/// A PixelCNN with its optimizer: what the training loop drives.
pub type PixelCnnTrainer = LikelihoodTrainer<PixelCnn>;

impl ExactLikelihood for PixelCnn {
    type Config = PixelCnnConfig;
    const NAME: &'static str = "a PixelCNN's";

    fn init(config: &PixelCnnConfig, device: &Device) -> Self {
        config.init(device)
    }

    /// All 784 conditionals in parallel from the real image (teacher forcing).
    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        PixelCnn::nll(self, x)
    }
}

/// Exact test NLL in nats per image over a whole split, averaged over `binarizations` dynamic
/// binarizations drawn with `rng` (native evaluation; synchronous reads).
pub fn evaluate_split(model: &PixelCnn, split: &crate::data::Split, binarizations: usize, rng: &mut Rng, device: &Device) -> f64 {
    crate::train::exact_nll(|x| model.nll(x), split, binarizations, rng, device)
}
