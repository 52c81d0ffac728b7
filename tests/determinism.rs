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
/// given sizes, cycled, on a clock that advances `tick_ms` each time it is read (0: no chunk runs
/// out of time), budgeted as on a GPU or not; returns every recorded training and held-out point,
/// and how many chunks it took.
fn run_in_chunks(sizes: &[usize], tick_ms: f64, on_gpu: bool) -> (Points, Points, usize) {
    let device = Device::flex().autodiff();
    let settings = Settings { batch_size: 16, lr: 1e-3, seed: 42, lr_decay: 1.0 };
    let model = seeded(&device, 42, || VaeTrainer::new(VaeConfig::vae(2), &device));
    let mut t = Trainer::new(model, settings, Arc::new(Mnist::fixture()), device);
    let time = std::cell::Cell::new(0.0);
    let clock = || {
        time.set(time.get() + tick_ms);
        time.get()
    };
    let mut chunks = 0;
    for &n in sizes.iter().cycle() {
        // The last step's evaluation may still be under way (a test point is due at step 400 only).
        if t.history.step >= 450 {
            break;
        }
        let pending = t.queue(Some(n.min(450 - t.history.step as usize)), on_gpu, &clock);
        let values = pending.values.clone().into_data().try_into_vec::<f32>().unwrap();
        t.record(&pending, &values, clock()).unwrap();
        chunks += 1;
    }
    let points = |s: &Series| s.iter().map(|p| (p.step, p.values.clone())).collect::<Points>();
    (points(&t.history.train), points(&t.history.test), chunks)
}

#[test]
fn one_seed_gives_one_run_whatever_the_chunk_sizes() {
    let (train_a, test_a, _) = run_in_chunks(&[1], 0.0, false);
    let (train_b, test_b, _) = run_in_chunks(&[7, 64, 3, 150], 0.0, false);
    // Each read of the clock 20 ms on: every chunk runs out of time after one piece of work, so
    // each evaluation of the fixture's 128 held-out digits is cut into 8 pieces of a batch (16).
    let (train_c, test_c, chunks) = run_in_chunks(&[64], 20.0, false);
    assert_eq!(Mnist::fixture().test.len(), 128);
    assert_eq!(chunks, 450 + 3 * 8);
    // As on a GPU, pieces only queued: an evaluation is queued whole, at step 0 in a chunk of its
    // own, later in the chunk of the step before it.
    let (train_d, test_d, chunks) = run_in_chunks(&[64], 20.0, true);
    assert_eq!(chunks, 450 + 1);
    assert_eq!((&train_a, &test_a), (&train_d, &test_d));
    assert_eq!(train_a.len(), 450);
    // Held out: before the first step, then after steps 200 and 400.
    assert_eq!(test_a.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 200, 400]);
    assert_eq!(train_a, train_b);
    assert_eq!(test_a, test_b);
    assert_eq!(train_a, train_c);
    assert_eq!(test_a, test_c);
    // The run trained: the held-out −ELBO fell.
    assert!(test_a[2].1[0] < test_a[0].1[0] - 50.0, "{test_a:?}");
}
