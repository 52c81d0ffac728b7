//! NADE: causality, the O(HD) recursion against the direct computation, exact NLL as the sum of
//! the conditionals' cross-entropies, sampling from the model's own conditionals, training.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS, binarize};
use genlab::device::seeded;
use genlab::models::nade::{Nade, NadeConfig, NadeTrainer};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainer, module_tensors, with_tensors};

fn images(n: usize) -> Vec<f32> {
    let data = Mnist::fixture();
    binarize(&data.test.intensities(&(0..n).collect::<Vec<_>>()), &mut Rng::new(3))
}

/// A NADE with weights of a trained network's size: the initial ±0.01 ones, ×100. At ±0.01
/// every logit is within ~0.01 of 0, so a conditional that sees the wrong pixels would differ
/// from the right one by less than the checks' float noise.
fn model(hidden: usize) -> Nade {
    let device = Device::flex().autodiff();
    let nade = seeded(&device, 5, || NadeConfig { hidden }.init(&device));
    let scaled = module_tensors(&nade).into_iter().map(|t| t.into_data().iter::<f32>().map(|v| v * 100.0).collect()).collect();
    with_tensors(nade, scaled).unwrap()
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Conditional i depends on exactly the pixels before it: the gradient of logit i with respect
/// to the image is non-zero at every j < i and zero at j ≥ i.
#[test]
fn each_conditional_sees_exactly_the_pixels_before_it() {
    let device = Device::flex().autodiff();
    let nade = model(16);
    let x = Tensor::<2>::from_data(TensorData::new(images(1), [1, PIXELS]), &device).require_grad();
    for i in [0, 1, 2, 100, 405, 783] {
        let grads = nade.logits(x.clone()).slice([0..1, i..i + 1]).sum().backward();
        let seen: Vec<bool> = x.grad(&grads).unwrap().into_data().iter::<f32>().map(|g| g != 0.0).collect();
        for (j, &s) in seen.iter().enumerate() {
            assert_eq!(s, j < i, "logit {i} and pixel {j}");
        }
    }
}

/// The recursion a_{i+1} = a_i + W_i x_i (sampling's O(H) per pixel) gives the logits that the
/// cumulative sum over all pixels at once gives.
#[test]
fn the_running_sum_equals_the_direct_computation() {
    let device = Device::flex();
    let nade = model(32).valid();
    let x = Tensor::<2>::from_data(TensorData::new(images(3), [3, PIXELS]), &device);
    let direct = host(nade.logits(x.clone()));
    let (recursive, pixels) = nade.one_by_one(3, |i, _| x.clone().slice([0..3, i..i + 1]));
    assert_eq!(host(pixels), host(x));
    let worst = direct.iter().zip(host(recursive)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "largest difference {worst}");
    // An off-by-one pre-activation (pixel i seen by its own conditional) would move the logits
    // of ink pixels by about as much as the logits themselves.
    assert!(direct.iter().any(|l| l.abs() > 1.0));
}

/// The page's sampler (the running sum moved a few pixels at a time, as a completion does over
/// observed pixels) gives the conditionals of the direct computation.
#[test]
fn the_running_sampler_gives_the_direct_conditionals() {
    let device = Device::flex();
    let nade = model(32).valid();
    let x = images(2);
    let direct = host(nade.logits(Tensor::from_data(TensorData::new(x.clone(), [2, PIXELS]), &device)));
    let mut running = nade.running(2);
    for i in [0, 1, 5, 300, 301, 783] {
        let probs: Vec<f32> = nade.running_probs(&mut running, &x, 2, i, 1.0, &device).into_data().iter::<f32>().collect();
        for b in 0..2 {
            let p = 1.0 / (1.0 + (-direct[b * PIXELS + i]).exp());
            assert!((probs[b] - p).abs() < 1e-5, "pixel {i}, image {b}: {} vs {p}", probs[b]);
        }
    }
}

/// −log p(x) is the sum over pixels of −log p(x_i | x_<i), computed here on the host from the
/// logits.
#[test]
fn exact_nll_is_the_sum_of_the_conditionals_cross_entropies() {
    let device = Device::flex();
    let nade = model(24).valid();
    let x = images(4);
    let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [4, PIXELS]), &device);
    let logits = host(nade.logits(t.clone()));
    let nll: Vec<f32> = nade.nll(t).into_data().iter::<f32>().collect();
    for b in 0..4 {
        let mut sum = 0.0f64;
        for i in 0..PIXELS {
            let (l, v) = (logits[b * PIXELS + i] as f64, x[b * PIXELS + i] as f64);
            let p = 1.0 / (1.0 + (-l).exp());
            sum -= if v > 0.5 { p.ln() } else { (1.0 - p).ln() };
        }
        assert!((sum - nll[b] as f64).abs() < 1e-5 * sum, "image {b}: {sum} vs {}", nll[b]);
    }
}

/// Sampling draws each pixel from the model's own conditional: recomputing the logits of the
/// samples directly, x_i = [u_i < σ(l_i / T)] holds at every pixel.
#[test]
fn samples_follow_the_models_conditionals() {
    let device = Device::flex();
    let nade = model(16).valid();
    let mut rng = Rng::new(9);
    let u: Vec<f32> = (0..2 * PIXELS).map(|_| rng.uniform()).collect();
    for temperature in [1.0f32, 0.5] {
        let samples = host(nade.sample(Tensor::from_data(TensorData::new(u.clone(), [2, PIXELS]), &device), temperature));
        let logits = host(nade.logits(Tensor::from_data(TensorData::new(samples.clone(), [2, PIXELS]), &device)));
        let mismatches = (0..2 * PIXELS)
            .filter(|&k| {
                let p = 1.0 / (1.0 + (-logits[k] / temperature).exp());
                ((u[k] < p) as u8 as f32) != samples[k] && (u[k] - p).abs() > 1e-5
            })
            .count();
        assert_eq!(mismatches, 0, "temperature {temperature}");
        assert!(samples.contains(&1.0) && samples.contains(&0.0));
    }
}

/// A few hundred steps on the fixture lower the held-out NLL well below the start.
#[test]
fn training_lowers_the_nll() {
    let device = Device::flex().autodiff();
    let data = Arc::new(Mnist::fixture());
    let settings = Settings { batch_size: 32, lr: 3e-3, seed: 1, lr_decay: 1.0 };
    let nade = seeded(&device, 1, || NadeTrainer::new(NadeConfig { hidden: 32 }, &device));
    let mut trainer = Trainer::new(nade, settings, data, device);
    let before = trainer.evaluate_test().into_data().iter::<f32>().next().unwrap();
    trainer.run_blocking(200).unwrap();
    let after = trainer.evaluate_test().into_data().iter::<f32>().next().unwrap();
    assert!(before > 500.0, "random weights: {before}");
    assert!(after < 250.0, "after 200 steps: {before} → {after}");
}

/// The shipped NADE (epoch 13 of its run) models held-out digits: its record says 88.72 nats on
/// the 10k test digits; an untrained one sits near 784·log 2 ≈ 543.
#[test]
fn the_pretrained_nade_models_test_digits() {
    use genlab::models::nade::evaluate_split;
    let device = Device::flex();
    let data = Mnist::fixture();
    let nade = NadeConfig::paper().load(&device, std::fs::read("pretrained/nade.bpk").unwrap()).unwrap();
    let nll = evaluate_split(&nade, &data.test, 1, &mut Rng::new(3), &device);
    // Epoch 3 of the same run scored 100.52: the bar tells them apart.
    assert!(nll < 95.0, "test NLL {nll:.2} nats");
}
