//! PixelRNN (Row LSTM): causality by gradients and by flips, the triangular receptive field the
//! state-to-state convolution makes, the row-strip conditional, training and resuming.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS, SIDE, binarize};
use genlab::device::seeded;
use genlab::models::pixelrnn::{PixelRnn, PixelRnnConfig, PixelRnnTrainer};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainable, Trainer};

fn images(n: usize) -> Vec<f32> {
    let data = Mnist::fixture();
    binarize(&data.test.intensities(&(0..n).collect::<Vec<_>>()), &mut Rng::new(3))
}

fn model(hidden: usize, layers: usize) -> PixelRnn {
    let device = Device::flex().autodiff();
    seeded(&device, 5, || PixelRnnConfig { hidden, layers }.init(&device))
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Which pixels logit `i` depends on: the non-zero entries of its gradient.
fn seen_by(rnn: &PixelRnn, x: &[f32], i: usize) -> Vec<bool> {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, PIXELS]), &device).require_grad();
    let grads = rnn.logits(x.clone()).slice([0..1, i..i + 1]).sum().backward();
    x.grad(&grads).unwrap().into_data().iter::<f32>().map(|g| g != 0.0).collect()
}

/// Conditional i never depends on pixels i, i + 1, …, and does depend on its left neighbour and
/// the pixel above (two layers: the second's input-to-state mask must hold too).
#[test]
fn each_conditional_sees_only_pixels_before_it() {
    let rnn = model(8, 2);
    let x = images(1);
    for i in [0, 1, 29, 300, 405, 783] {
        let seen = seen_by(&rnn, &x, i);
        for (j, &s) in seen.iter().enumerate() {
            assert!(!(s && j >= i), "logit {i} depends on pixel {j}");
        }
        if i % SIDE > 0 {
            assert!(seen[i - 1], "logit {i} ignores its left neighbour");
        }
        if i >= SIDE {
            assert!(seen[i - SIDE], "logit {i} ignores the pixel above");
        }
    }
}

/// Flipping pixel i leaves every logit up to i exactly as it was and changes a later one.
#[test]
fn flipping_a_pixel_changes_only_later_conditionals() {
    let rnn = model(8, 2).valid();
    let device = Device::flex();
    let x = images(1);
    let logits = |x: &[f32]| host(rnn.logits(Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, PIXELS]), &device)));
    let before = logits(&x);
    for i in [0, 27, 28, 400, 782] {
        let mut flipped = x.clone();
        flipped[i] = 1.0 - flipped[i];
        let after = logits(&flipped);
        assert_eq!(before[..=i], after[..=i], "a conditional up to {i} moved");
        assert!(before[i + 1..].iter().zip(&after[i + 1..]).any(|(a, b)| a != b), "nothing after {i} noticed");
    }
}

/// The state-to-state convolution reads the row above, three columns wide: with one layer the
/// context of pixel (r, j) reaches column j + 2 + d in row r − d (the 7×7 first layer reaches
/// j + 3 in row r − 1; each row further up, the state adds one column) and no further. A state
/// that read two rows up, or a wider kernel, would widen the triangle.
#[test]
fn the_row_lstm_context_is_a_triangle_widening_one_column_per_row() {
    let rnn = model(8, 1);
    let (r, j) = (20, 8);
    let seen = seen_by(&rnn, &images(1), r * SIDE + j);
    for d in 1..=6 {
        let row = &seen[(r - d) * SIDE..(r - d + 1) * SIDE];
        let reach = row.iter().rposition(|&s| s).expect("the row above is seen");
        assert_eq!(reach, j + 2 + d, "row {} above: rightmost column seen", d);
    }
    // Every earlier row is in context (the recurrence carries it down).
    assert!((0..r).all(|row| seen[row * SIDE..(row + 1) * SIDE].iter().any(|&s| s)));
}

/// Sampling's conditional (one row of the network, the rows above carried as LSTM state) is the
/// full pass's at every pixel, visited in order or jumping down many rows at once (a completion
/// starts at the hidden row).
#[test]
fn the_carried_conditional_equals_the_full_pass() {
    let rnn = model(8, 2).valid();
    let device = Device::flex();
    let x = images(2);
    let full = host(burn::tensor::activation::sigmoid(rnn.logits(Tensor::<2>::from_data(TensorData::new(x.clone(), [2, PIXELS]), &device))));
    let mut every = rnn.row_carry(2, &device);
    let mut jumping = rnn.row_carry(2, &device);
    let mut worst = 0.0f32;
    for i in 0..PIXELS {
        let carried = host(rnn.carried_probs(&mut every, &x, 2, i, 1.0, &device));
        let jumped = [411, 412, 783].contains(&i).then(|| host(rnn.carried_probs(&mut jumping, &x, 2, i, 1.0, &device)));
        for b in 0..2 {
            worst = worst.max((carried[b] - full[b * PIXELS + i]).abs());
            if let Some(jumped) = &jumped {
                worst = worst.max((jumped[b] - full[b * PIXELS + i]).abs());
            }
        }
    }
    assert!(worst < 1e-6, "the carried conditional is {worst} from the full pass's");
}

fn trainer(seed: u64) -> Trainer<PixelRnnTrainer> {
    let device = Device::flex().autodiff();
    let rnn = seeded(&device, seed, || PixelRnnTrainer::new(PixelRnnConfig::small(), &device));
    Trainer::new(rnn, Settings { batch_size: 16, lr: 3e-3, seed: 4, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device)
}

#[test]
fn training_lowers_the_nll_and_resumes_exactly() {
    let mut t = trainer(1);
    t.run_blocking(40).unwrap();
    let h = &t.history.train;
    let (first, last) = (h[0].values[0], h[h.len() - 1].values[0]);
    assert!(first > 400.0 && last < 0.6 * first, "NLL {first} → {last}");

    let weights = |t: &Trainer<PixelRnnTrainer>| -> Vec<Vec<f32>> { t.model.tensors().into_iter().map(host).collect() };
    let mut unbroken = trainer(1);
    unbroken.run_blocking(10).unwrap();
    let mut first = trainer(1);
    first.run_blocking(5).unwrap();
    let bytes = first.checkpoint(&serde_json::Value::Null).unwrap();
    let mut resumed = trainer(2);
    resumed.resume(&bytes).unwrap();
    resumed.run_blocking(5).unwrap();
    assert_eq!(weights(&resumed), weights(&unbroken));
    // A file of another shape is refused by name.
    let bytes = t.model.weights().unwrap();
    let err = PixelRnnConfig { hidden: 16, layers: 2 }.load(&Device::flex(), bytes).unwrap_err();
    assert!(err.contains("PixelRNN with 2 Row LSTM layers"), "{err}");
}
