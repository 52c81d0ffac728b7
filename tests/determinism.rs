//! One seed, one run: the metrics of a training run do not depend on how its steps were cut
//! into chunks (the page cuts them by wall-clock time).
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use genlab::data::Mnist;
use genlab::device::seeded;
use genlab::models::vae::{VaeConfig, VaeTrainer};
use genlab::train::{Series, Settings, Trainer};

type Points = Vec<(u64, Vec<f32>)>;

/// Trains a VAE (its metrics depend on every random draw: the initial weights, the batches, their
/// binarization, the held-out digits' binarization and the noise for ε) for 450 steps in chunks of the
/// given sizes, cycled; returns every recorded training and held-out point.
fn run_in_chunks(sizes: &[usize]) -> (Points, Points) {
    let device = Device::flex().autodiff();
    let settings = Settings { batch_size: 16, lr: 1e-3, seed: 42, lr_decay: 1.0 };
    let model = seeded(&device, 42, || VaeTrainer::new(VaeConfig::vae(2), &device));
    let mut t = Trainer::new(model, settings, Arc::new(Mnist::fixture()), device);
    let no_clock = || 0.0;
    for &n in sizes.iter().cycle() {
        if t.history.step >= 450 {
            break;
        }
        let pending = t.queue(Some(n.min(450 - t.history.step as usize)), &no_clock);
        let values = pending.values.clone().into_data().try_into_vec::<f32>().unwrap();
        t.record(&pending, &values, 1.0).unwrap();
    }
    let points = |s: &Series| s.iter().map(|p| (p.step, p.values.clone())).collect::<Points>();
    (points(&t.history.train), points(&t.history.test))
}

#[test]
fn one_seed_gives_one_run_whatever_the_chunk_sizes() {
    let (train_a, test_a) = run_in_chunks(&[1]);
    let (train_b, test_b) = run_in_chunks(&[7, 64, 3, 150]);
    assert_eq!(train_a.len(), 450);
    // Held out: before the first step, then after steps 200 and 400.
    assert_eq!(test_a.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 200, 400]);
    assert_eq!(train_a, train_b);
    assert_eq!(test_a, test_b);
    // The run trained: the held-out −ELBO fell.
    assert!(test_a[2].1[0] < test_a[0].1[0] - 50.0, "{test_a:?}");
}
