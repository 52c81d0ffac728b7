//! PixelCNN: masks, causality (plain and gated), the blind spot, exact NLL, strip sampling,
//! deterministic sampling, completion that keeps observed pixels, training, weights.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS, SIDE, binarize};
use genlab::device::seeded;
use genlab::models::pixelcnn::{Completion, PixelCnn, PixelCnnConfig, PixelCnnTrainer, bits_per_dim, causal_mask, evaluate_split};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainable, Trainer, module_tensors, with_tensors};

fn image(seed: u64) -> Vec<f32> {
    let data = Mnist::fixture();
    binarize(&data.test.intensities(&[seed as usize]), &mut Rng::new(seed))
}

/// Which input pixels the logit of pixel `i` depends on: the gradient of that logit with
/// respect to the image, non-zero entries.
fn depends_on(model: &PixelCnn, x: &[f32], i: usize) -> Vec<bool> {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, PIXELS]), &device).require_grad();
    let logit = model.logits(x.clone()).slice([0..1, i..i + 1]).sum();
    let grads = logit.backward();
    x.grad(&grads).unwrap().into_data().iter::<f32>().map(|g| g != 0.0).collect()
}

fn models() -> Vec<(&'static str, PixelCnnConfig, PixelCnn)> {
    let device = Device::flex().autodiff();
    [("plain", PixelCnnConfig::plain()), ("gated", PixelCnnConfig::gated())]
        .into_iter()
        .map(|(name, c)| (name, c.clone(), seeded(&device, 4, || c.init(&device))))
        .collect()
}

#[test]
fn masks_a_and_b() {
    assert_eq!(causal_mask(3, false), vec![1., 1., 1., 1., 0., 0., 0., 0., 0.]);
    assert_eq!(causal_mask(3, true), vec![1., 1., 1., 1., 1., 0., 0., 0., 0.]);
    let a7 = causal_mask(7, false);
    assert_eq!(a7.iter().sum::<f32>(), 24.0, "7×7 mask A: 3 rows of 7 and 3 to the left");
}

#[test]
fn logit_of_a_pixel_never_depends_on_it_or_later_pixels() {
    let x = image(1);
    for (name, _, model) in models() {
        for i in [0, 1, 27, 28, 29, 200, 405, 406, 783] {
            let seen = depends_on(&model, &x, i);
            if let Some(j) = (i..PIXELS).find(|&j| seen[j]) {
                panic!("{name}: logit {i} depends on pixel {j}");
            }
            if i % SIDE > 0 {
                assert!(seen[i - 1], "{name}: logit {i} must see its left neighbour");
            }
            if i >= SIDE {
                assert!(seen[i - SIDE], "{name}: logit {i} must see the pixel above");
            }
        }
    }
}

#[test]
fn changing_pixels_at_or_after_i_leaves_its_logit_unchanged() {
    let device = Device::flex();
    let x = image(2);
    for (name, _, model) in models() {
        let model = model.valid();
        let logits =
            |x: &[f32]| -> Vec<f32> { model.logits(Tensor::from_data(TensorData::new(x.to_vec(), [1, PIXELS]), &device)).into_data().iter::<f32>().collect() };
        let base = logits(&x);
        for i in [30, 300, 500] {
            let mut later = x.clone();
            for v in &mut later[i..] {
                *v = 1.0 - *v;
            }
            assert_eq!(logits(&later)[i], base[i], "{name}: flipping pixels {i}… changed logit {i}");
            let mut before = x.clone();
            before[i - 1] = 1.0 - before[i - 1];
            assert_ne!(logits(&before)[i], base[i], "{name}: flipping pixel {} did not change logit {i}", i - 1);
        }
    }
}

#[test]
fn the_gated_network_has_no_blind_spot() {
    let x = image(3);
    let i = 14 * SIDE + 10;
    let ms = models();
    let plain = depends_on(&ms[0].2, &x, i);
    let gated = depends_on(&ms[1].2, &x, i);
    // Pixels up to 4 rows above and anywhere from 8 left to 8 right: the gated stacks see all of
    // them; the plain stack misses a wedge to the upper right.
    let region: Vec<usize> = (10..14).flat_map(|r| (2..=18).map(move |c| r * SIDE + c)).collect();
    assert!(region.iter().all(|&j| gated[j]), "gated misses some of the rows above");
    let missed: Vec<(usize, usize)> = region.iter().filter(|&&j| !plain[j]).map(|&j| (j / SIDE, j % SIDE)).collect();
    assert!(!missed.is_empty(), "the plain PixelCNN should have a blind spot");
    assert!(missed.iter().all(|&(_, c)| c > 10), "the blind spot is to the right: {missed:?}");
}

#[test]
fn nll_is_the_sum_of_per_pixel_cross_entropies() {
    let device = Device::flex();
    let (_, _, model) = models().remove(1);
    let model = model.valid();
    let x = image(4);
    let xt = Tensor::<2>::from_data(TensorData::new(x.clone(), [1, PIXELS]), &device);
    let nll = model.nll(xt.clone()).into_scalar::<f32>() as f64;
    let logits: Vec<f32> = model.logits(xt).into_data().iter::<f32>().collect();
    let by_hand: f64 = logits
        .iter()
        .zip(&x)
        .map(|(&l, &v)| {
            let p = 1.0 / (1.0 + (-(l as f64)).exp());
            -(v as f64 * p.ln() + (1.0 - v as f64) * (1.0 - p).ln())
        })
        .sum();
    assert!((nll - by_hand).abs() < 1e-3 * by_hand, "{nll} vs {by_hand}");
    assert!((bits_per_dim(by_hand) - by_hand / (784.0 * 2f64.ln())).abs() < 1e-12);
}

/// The page's networks and the deep ones, one per variant each. Their initial weights are
/// tripled: at the initial scale the farthest row moves a logit by less than float rounding
/// (the influence shrinks with every layer), so no test could see a strip one row short.
fn all_depths() -> Vec<(String, PixelCnnConfig, PixelCnn)> {
    let device = Device::flex().autodiff();
    [PixelCnnConfig::plain(), PixelCnnConfig::gated(), PixelCnnConfig::deep(false), PixelCnnConfig::deep(true)]
        .into_iter()
        .map(|c| {
            let model = seeded(&device, 5, || c.init(&device));
            let tripled = module_tensors(&model).into_iter().map(|t| t.into_data().iter::<f32>().map(|v| 3.0 * v).collect()).collect();
            (format!("{c:?}"), c.clone(), with_tensors(model, tripled).unwrap())
        })
        .collect()
}

#[test]
fn a_logit_reaches_exactly_rows_above_rows_up() {
    let x = image(1);
    for (name, config, model) in all_depths() {
        let reach = config.rows_above();
        assert!(reach < 27, "{name}: the test needs a row beyond the reach");
        // The bottom row's middle pixel: rows 27 − reach … 27 may matter, nothing above.
        let i = 27 * SIDE + 14;
        let seen = depends_on(&model, &x, i);
        let row_seen = |r: usize| (r * SIDE..(r + 1) * SIDE).any(|j| seen[j]);
        assert!(row_seen(27 - reach), "{name}: logit {i} should depend on row {} ({reach} rows up)", 27 - reach);
        let beyond: Vec<usize> = (0..27 - reach).filter(|&r| row_seen(r)).collect();
        assert!(beyond.is_empty(), "{name}: logit {i} depends on rows {beyond:?}, beyond rows_above = {reach}");
    }
}

#[test]
fn strip_forward_equals_the_full_forward() {
    let device = Device::flex();
    let x = image(5);
    for (name, config, model) in all_depths() {
        let model = model.valid();
        let full: Vec<f32> = model.logits(Tensor::from_data(TensorData::new(x.clone(), [1, PIXELS]), &device)).into_data().iter::<f32>().collect();
        let reach = config.rows_above();
        let strip = |i: usize, rows_above: usize| model.pixel_logits(&x, 1, i, rows_above, &device).into_scalar::<f32>();
        // Below row `reach` the strip is cut to reach + 1 rows: the same arithmetic as the full
        // pass, bit for bit.
        for i in [(reach + 1) * SIDE, (reach + 1) * SIDE + 13, 27 * SIDE + 14, 783] {
            assert_eq!(strip(i, reach).to_bits(), full[i].to_bits(), "{name} pixel {i}: strip vs full");
        }
        // Near the top the strip is the image so far; a one-row input can take another code path
        // in the convolution (other summation order), hence 1e-6 here.
        for i in [3, 150] {
            let l = strip(i, reach);
            assert!((l - full[i]).abs() <= 1e-6 * full[i].abs().max(1.0), "{name} pixel {i}: strip logit {l} vs full {}", full[i]);
        }
        // One row fewer cuts off context the logit uses (the bug this guards): a different answer.
        let i = 27 * SIDE + 14;
        let short = strip(i, reach - 1);
        assert!((short - full[i]).abs() > 1e-5 * full[i].abs().max(1.0), "{name}: {} rows above gave {short}, full {}", reach - 1, full[i]);
        let p = model.pixel_probs(&x, 1, i, reach, 1.0, &device).into_scalar::<f32>() as f64;
        assert!((p - 1.0 / (1.0 + (-full[i] as f64).exp())).abs() < 1e-6, "{name}: probability of pixel {i}");
    }
}

/// The row cache gives every pixel's logit as the full pass does, rows filled in raster order
/// (tripled weights: a cache missing a row of context would be off by far more than 1e-5).
#[test]
fn cached_rows_give_the_full_forward_logits() {
    let device = Device::flex();
    let x = image(8);
    let batch = 2;
    let images: Vec<f32> = x.iter().chain(image(9).iter()).copied().collect();
    for (name, _, model) in all_depths() {
        let model = model.valid();
        let full: Vec<f32> = model.logits(Tensor::from_data(TensorData::new(images.clone(), [batch, PIXELS]), &device)).into_data().iter::<f32>().collect();
        let mut cache = model.row_cache(batch, &device);
        for row in 0..SIDE {
            let logits: Vec<f32> = model.row_logits(&mut cache, &images, batch, row, &device).into_data().iter::<f32>().collect();
            for b in 0..batch {
                for col in 0..SIDE {
                    let (got, want) = (logits[b * SIDE + col], full[b * PIXELS + row * SIDE + col]);
                    assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{name} image {b} pixel ({row}, {col}): cached {got} vs full {want}");
                }
            }
        }
    }
}

#[test]
fn sampling_is_deterministic_and_completion_keeps_observed_pixels() {
    let device = Device::flex();
    let (_, _, model) = models().remove(0);
    let model = model.valid();
    let start = image(6);
    // Observe the top 24 rows: 112 pixels left to sample.
    let observed: Vec<bool> = (0..PIXELS).map(|i| i < 24 * SIDE).collect();
    let complete = |seed| {
        let mut c = Completion::new(&start, observed.clone(), 3);
        let mut rng = Rng::new(seed);
        let mut sampled = 0;
        let mut cache = model.row_cache(3, &device);
        while model.sample_next(&mut c, &mut cache, 1.0, &mut rng, &device).is_some() {
            sampled += 1;
        }
        assert!(c.done());
        assert_eq!(sampled, PIXELS - 24 * SIDE);
        c.images
    };
    let a = complete(9);
    assert_eq!(a, complete(9), "same seed, same samples");
    assert_ne!(a, complete(10), "another seed, other samples");
    for b in 0..3 {
        for i in 0..24 * SIDE {
            assert_eq!(a[b * PIXELS + i], start[i], "observed pixel {i} changed in completion {b}");
        }
    }
}

#[test]
fn training_on_the_fixture_lowers_the_nll() {
    for config in [PixelCnnConfig::plain(), PixelCnnConfig::gated()] {
        let device = Device::flex().autodiff();
        let model = PixelCnnTrainer::new(config.clone(), &device);
        let mut t = Trainer::new(model, Settings { batch_size: 16, lr: 2e-3, seed: 2, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device);
        t.run_blocking(30).unwrap();
        let first = t.history.train[0].values[0];
        let last: f32 = t.history.train[25..].iter().map(|p| p.values[0]).sum::<f32>() / 5.0;
        assert!(last < 0.6 * first, "{config:?}: NLL {first} → {last}");
        assert!((t.history.train[0].values[1] - first / (784.0 * 2f32.ln())).abs() < 1e-4, "bits/dim");
    }
}

#[test]
fn weights_round_trip_and_bad_files_are_named() {
    let device = Device::flex();
    for (config, other) in [(PixelCnnConfig::plain(), PixelCnnConfig::gated()), (PixelCnnConfig::gated(), PixelCnnConfig::plain())] {
        let model = config.init(&device);
        let bytes = model.clone().into_record().into_bytes().unwrap().to_vec();
        let loaded = config.load(&device, bytes.clone()).unwrap();
        let x = Tensor::<2>::from_data(TensorData::new(image(7), [1, PIXELS]), &device);
        let a: Vec<f32> = model.logits(x.clone()).into_data().iter::<f32>().collect();
        let b: Vec<f32> = loaded.logits(x).into_data().iter::<f32>().collect();
        assert_eq!(a, b);
        assert!(config.load(&device, bytes[..bytes.len() / 2].to_vec()).err().unwrap().contains("damaged"));
        assert!(other.load(&device, bytes).err().unwrap().contains("do not fit"));
    }
}

/// The shipped weights load into the page's configurations and model held-out digits far
/// better than chance: an untrained net sits near 784 · ln 2 ≈ 543 nats, the pretrained ones
/// below 90 (README: 84.4–91.5 on the whole test set). The fixture's test digits are held out
/// from training.
#[test]
fn pretrained_weights_of_every_variant_model_test_digits() {
    let device = Device::flex();
    let data = Mnist::fixture();
    for (path, config) in [
        ("pretrained/pixelcnn.bpk", PixelCnnConfig::plain()),
        ("pretrained/gated-pixelcnn.bpk", PixelCnnConfig::gated()),
        ("pretrained/pixelcnn-deep.bpk", PixelCnnConfig::deep(false)),
        ("pretrained/gated-pixelcnn-deep.bpk", PixelCnnConfig::deep(true)),
    ] {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let model = config.load(&device, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let nll = evaluate_split(&model, &data.test, 1, &mut Rng::new(3), &device);
        // On the fixture's digits (one binarization, seed 3): 89.31, 88.91, 87.61, 82.71.
        assert!(nll < 90.0, "{path}: test NLL {nll:.2} nats");
        let untrained = evaluate_split(&config.init(&device), &data.test, 1, &mut Rng::new(3), &device);
        assert!(untrained > 300.0, "the bar is meaningful: untrained {untrained:.2} nats");
    }
}

/// Training 2·n steps equals training n, checkpointing, and resuming a fresh trainer (other
/// initial weights) for n more: identical weights, including Adam's state and the decayed rate.
#[test]
fn resuming_from_a_checkpoint_continues_exactly() {
    let config = PixelCnnConfig { gated: true, channels: 4, layers: 2 };
    let settings = Settings { batch_size: 8, lr: 3e-3, seed: 6, lr_decay: 0.98 };
    let data = Arc::new(Mnist::fixture());
    let make = |init_seed: u64| {
        let device = Device::flex().autodiff();
        Trainer::new(seeded(&device, init_seed, || PixelCnnTrainer::new(config.clone(), &device)), settings.clone(), data.clone(), device)
    };
    let weights = |t: &Trainer<PixelCnnTrainer>| -> Vec<Vec<f32>> { t.model.tensors().into_iter().map(|x| x.into_data().iter::<f32>().collect()).collect() };
    // More steps than the fixture has batches, so the reshuffle of a new epoch is inside.
    let n = 40;
    let mut unbroken = make(1);
    unbroken.run_blocking(n).unwrap();
    unbroken.run_blocking(n).unwrap();

    let mut first = make(1);
    first.run_blocking(n).unwrap();
    let log = serde_json::json!({ "note": "kept" });
    let bytes = first.checkpoint(&log).unwrap();
    let mut resumed = make(99);
    assert_ne!(weights(&resumed), weights(&first));
    assert_eq!(resumed.resume(&bytes).unwrap(), log);
    assert_eq!(resumed.history.step, n as u64);
    assert_eq!(weights(&resumed), weights(&first), "the checkpoint restores the weights");
    resumed.run_blocking(n).unwrap();
    assert_eq!(weights(&resumed), weights(&unbroken), "resumed training drifted from the unbroken run");
    // Without the optimizer state the same steps give other weights: the check has teeth.
    let mut weights_only = make(99);
    weights_only.resume(&bytes).unwrap();
    weights_only.model = PixelCnnTrainer::from_model(config.clone(), weights_only.model.model.clone());
    weights_only.run_blocking(n).unwrap();
    assert_ne!(weights(&weights_only), weights(&unbroken));
}

#[test]
fn a_damaged_checkpoint_is_refused_and_changes_nothing() {
    let device = Device::flex().autodiff();
    let settings = Settings { batch_size: 8, lr: 1e-3, seed: 1, lr_decay: 1.0 };
    let config = PixelCnnConfig { gated: false, channels: 4, layers: 1 };
    let mut t = Trainer::new(PixelCnnTrainer::new(config.clone(), &device), settings.clone(), Arc::new(Mnist::fixture()), device.clone());
    t.run_blocking(3).unwrap();
    let bytes = t.checkpoint(&serde_json::Value::Null).unwrap();
    let mut other = Trainer::new(PixelCnnTrainer::new(config, &device), settings.clone(), Arc::new(Mnist::fixture()), device.clone());
    let before: Vec<Vec<f32>> = other.model.tensors().into_iter().map(|x| x.into_data().iter::<f32>().collect()).collect();
    for bad in [&bytes[..bytes.len() / 2], &bytes[..10], b"not a checkpoint at all".as_slice(), &bytes[1..]] {
        let err = other.resume(bad).unwrap_err();
        assert!(err.contains("damaged"), "{err}");
    }
    // A checkpoint of another network does not fit.
    let mut wider =
        Trainer::new(PixelCnnTrainer::new(PixelCnnConfig { gated: false, channels: 8, layers: 1 }, &device), settings, Arc::new(Mnist::fixture()), device);
    assert!(wider.resume(&bytes).is_err());
    let after: Vec<Vec<f32>> = other.model.tensors().into_iter().map(|x| x.into_data().iter::<f32>().collect()).collect();
    assert_eq!(before, after);
    assert_eq!(other.history.step, 0);
}
