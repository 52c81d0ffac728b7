//! The shared training loop: chunks, metrics, settings, and the stop on non-finite loss.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use genlab::data::Mnist;
use genlab::device::{Choice, seeded};
use genlab::render::image_grid;
use genlab::train::{Pixels, Settings, Status, Trainable, Trainer};

/// A model whose loss is its step count, and NaN from step `nan_at` on.
struct Countdown {
    steps: usize,
    nan_at: usize,
    pixels_seen: Vec<f32>,
    lrs: Vec<f64>,
}

impl Trainable for Countdown {
    fn metric_names(&self) -> &'static [&'static str] {
        &["loss", "mean pixel"]
    }
    fn pixels(&self) -> Pixels {
        Pixels::Signed
    }
    fn step(&mut self, images: Tensor<2>, lr: f64) -> Tensor<1> {
        self.steps += 1;
        self.lrs.push(lr);
        let mean = images.mean().into_data().try_into_vec::<f32>().unwrap()[0];
        self.pixels_seen.push(mean);
        let loss = if self.steps >= self.nan_at { f32::NAN } else { self.steps as f32 };
        Tensor::from_floats([loss, mean], &Device::flex())
    }
    fn evaluate(&self, images: Tensor<2>, _piece: u64) -> Tensor<1> {
        Tensor::cat(vec![Tensor::from_floats([0.5], &Device::flex()), images.mean()], 0)
    }
}

fn trainer(nan_at: usize) -> Trainer<Countdown> {
    let model = Countdown { steps: 0, nan_at, pixels_seen: vec![], lrs: vec![] };
    Trainer::new(model, Settings { batch_size: 8, lr: 0.1, seed: 1, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), Device::flex())
}

#[test]
fn a_held_out_evaluation_in_unequal_pieces_is_the_mean_over_every_digit() {
    let mut t = trainer(usize::MAX);
    t.settings.batch_size = 48; // the fixture's 128 test digits: pieces of 48, 48 and 32
    let metrics = t.evaluate_test().into_data().try_into_vec::<f32>().unwrap();
    let data = Mnist::fixture();
    let pixels = data.test.intensities(&(0..128).collect::<Vec<_>>());
    let mean = pixels.iter().map(|&p| (2.0 * p - 1.0) as f64).sum::<f64>() / pixels.len() as f64;
    // The mean of the three pieces' means, unweighted, would be off by ~1e-3.
    assert!((metrics[1] as f64 - mean).abs() < 1e-5, "{} vs {mean}", metrics[1]);
}

#[test]
fn a_chunk_records_each_step_and_a_test_point() {
    let mut t = trainer(usize::MAX);
    t.run_blocking(5).unwrap();
    let steps: Vec<u64> = t.history.train.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5]);
    assert_eq!(t.history.train[4].values[0], 5.0);
    // The held-out digits are evaluated before the first step.
    assert_eq!(t.history.test.len(), 1);
    assert_eq!(t.history.test[0].step, 0);
    assert!(t.history.images_per_s > 0.0 && t.history.elapsed_s > 0.0);
    // Signed pixels: MNIST is mostly background, so the batch mean is well below 0.
    assert!(t.model.pixels_seen.iter().all(|&m| (-1.0..-0.5).contains(&m)));
}

#[test]
fn the_learning_rate_decays_by_the_factor_each_step() {
    let mut t = trainer(usize::MAX);
    t.settings.lr_decay = 0.5;
    t.run_blocking(4).unwrap();
    assert_eq!(t.model.lrs, vec![0.1, 0.05, 0.025, 0.0125]);
    t.settings.lr_decay = 1.5;
    assert!(t.settings.check().unwrap_err().contains("decay"));
}

/// A resumed run's new rate (`train --lr-now`) is the rate of its next step, and the decay goes
/// on from it step by step.
#[test]
fn a_rate_set_mid_run_is_the_next_steps_and_decays_from_there() {
    let mut t = trainer(usize::MAX);
    t.settings.lr_decay = 0.5;
    t.run_blocking(2).unwrap();
    t.settings = t.settings.with_rate_from(t.history.step, 0.04);
    t.run_blocking(3).unwrap();
    assert_eq!(t.model.lrs, vec![0.1, 0.05, 0.04, 0.02, 0.01]);
}

#[test]
fn non_finite_loss_stops_training_with_a_message() {
    let mut t = trainer(3);
    t.status = Status::Running;
    let err = t.run_blocking(5).unwrap_err();
    assert!(err.contains("step 3") && err.contains("NaN") && err.contains("Reset"), "{err}");
    assert_eq!(t.status, Status::Diverged(err));
    // The good steps before it were kept.
    assert_eq!(t.history.train.len(), 2);
}

#[test]
fn reset_starts_over() {
    let mut t = trainer(usize::MAX);
    t.run_blocking(3).unwrap();
    t.reset(Countdown { steps: 0, nan_at: usize::MAX, pixels_seen: vec![], lrs: vec![] });
    assert_eq!(t.history.step, 0);
    assert!(t.history.train.is_empty() && t.status == Status::Paused);
}

#[test]
fn same_seed_same_batches() {
    let (mut a, mut b) = (trainer(usize::MAX), trainer(usize::MAX));
    a.run_blocking(4).unwrap();
    b.run_blocking(4).unwrap();
    assert_eq!(a.model.pixels_seen, b.model.pixels_seen);
}

#[test]
fn a_long_history_stays_bounded_and_spans_the_run() {
    use genlab::train::{MAX_POINTS, Point, Series};
    let mut s = Series::default();
    let n = 1_000_000u64;
    for step in 1..=n {
        s.push(Point { step, values: vec![step as f32, 1.0] });
    }
    assert!(s.len() < MAX_POINTS && s.len() >= MAX_POINTS / 2, "{} points", s.len());
    assert!(s.points[0].step <= 2 * s.stride() as u64, "starts at step {}", s.points[0].step);
    assert!(s.last().unwrap().step > n - 2 * s.stride() as u64);
    // Each point is the mean of the steps it stands for: a constant stays exact, a ramp stays on it.
    assert!(s.points.iter().all(|p| p.values[1] == 1.0));
    let mid = &s.points[s.len() / 2];
    let expected = mid.step as f32 - (s.stride() as f32 - 1.0) / 2.0;
    // (A point that kept its first or last step instead would be ~stride/4 = 128 off after merging.)
    assert!((mid.values[0] - expected).abs() <= 16.0, "{} vs {expected}", mid.values[0]);
    // Short runs keep every step.
    let mut short = Series::default();
    (1..=100).for_each(|step| short.push(Point { step, values: vec![0.0] }));
    assert_eq!(short.len(), 100);
}

#[test]
fn settings_reject_what_would_break() {
    let ok = Settings { batch_size: 64, lr: 1e-3, seed: 0, lr_decay: 1.0 };
    assert!(ok.check().is_ok());
    for (bad, names) in [
        (Settings { batch_size: 0, ..ok.clone() }, "batch size 0"),
        (Settings { batch_size: 5000, ..ok.clone() }, "batch size 5000"),
        (Settings { lr: f64::NAN, ..ok.clone() }, "learning rate NaN"),
        (Settings { lr: -1.0, ..ok.clone() }, "learning rate -1"),
        (Settings { lr: 0.0, ..ok.clone() }, "learning rate 0"),
        (Settings { lr_decay: 1.5, ..ok.clone() }, "learning-rate decay 1.5"),
    ] {
        let e = bad.check().unwrap_err();
        assert!(e.starts_with(names), "{bad:?}: {e}");
    }
}

#[test]
fn backend_url_parameter() {
    assert_eq!(Choice::parse(None), Ok(Choice::Auto));
    assert_eq!(Choice::parse(Some("CPU")), Ok(Choice::Cpu));
    assert_eq!(Choice::parse(Some("auto")), Ok(Choice::Auto));
    assert_eq!(Choice::parse(Some(" WebGPU ")), Ok(Choice::WebGpu));
    let e = Choice::parse(Some("<script>alert(1)</script>".repeat(10).as_str())).unwrap_err();
    assert!(e.contains("Unknown backend") && e.len() < 200, "{e}");
}

#[test]
fn image_grid_lays_out_and_is_not_blank() {
    let m = Mnist::fixture();
    let grid = image_grid(&m.train.intensities(&[0, 1, 2]), 2, 2);
    assert_eq!((grid.width, grid.height), (58, 58));
    assert!(!grid.is_blank());
    assert!(image_grid(&vec![0.0; 784 * 2], 2, 0).is_blank());
}

/// The host copy that outlives a lost GPU: a model's tensors, read back and put into a fresh
/// model (other random weights), give that model the same outputs bit for bit — running
/// statistics of BatchNorm included (the DCGAN's generator uses them when sampling).
#[test]
fn a_models_tensors_carry_it_to_a_fresh_copy() {
    use genlab::models::gan::{GanConfig, GanTrainer};
    use genlab::models::vae::{VaeConfig, VaeTrainer};
    let device = Device::flex().autodiff();
    let host = |t: &dyn Trainable| t.tensors().into_iter().map(|t| t.into_data().try_into_vec::<f32>().unwrap()).collect::<Vec<_>>();
    let read = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();

    let data = Arc::new(Mnist::fixture());
    let settings = Settings { batch_size: 16, lr: 1e-3, seed: 3, lr_decay: 1.0 };
    let mut gan = Trainer::new(GanTrainer::new(GanConfig::dcgan(), &device), settings.clone(), data.clone(), device.clone());
    gan.run_blocking(3).unwrap(); // moves the running statistics away from their initial values
    let mut fresh = seeded(&device, 99, || GanTrainer::new(GanConfig::dcgan(), &device));
    let z = Tensor::<2>::from_data(TensorData::new(genlab::rng::Rng::new(5).normals(4 * 64), [4, 64]), &device.clone().inner());
    let before = read(fresh.gan.generator.valid().sample(z.clone()));
    fresh.set_tensors(host(&gan.model)).unwrap();
    let trained = read(gan.model.gan.generator.valid().sample(z.clone()));
    assert_ne!(read(fresh.gan.generator.valid().sample(z.clone())), before);
    assert_eq!(read(fresh.gan.generator.valid().sample(z)), trained);

    let vae = VaeTrainer::new(VaeConfig::vae(20), &device);
    let mut other = VaeTrainer::new(VaeConfig::vae(20), &device);
    let z = Tensor::<2>::from_data(TensorData::new(genlab::rng::Rng::new(6).normals(3 * 20), [3, 20]), &device.clone().inner());
    other.set_tensors(host(&vae)).unwrap();
    let decoded = read(vae.model.valid().decode(z.clone()));
    assert_eq!(read(other.model.valid().decode(z.clone())), decoded);
    // A copy of another model does not fit: an error, and the model is left as it was.
    assert!(other.set_tensors(host(&gan.model)).unwrap_err().contains("do not fit"));
    assert!(other.set_tensors(vec![vec![0.0; 3]]).unwrap_err().contains("do not fit"));
    assert_eq!(read(other.model.valid().decode(z)), decoded);
}

/// What the page's Save writes — the weights, with or without its header — each model's `load`
/// reads back to the same pictures (the GAN's average of G included); a header cut short or
/// garbled is an error, and a file for another architecture is refused.
#[test]
fn saved_weights_load_back_to_the_same_model() {
    use genlab::models::gan::{GanConfig, GanTrainer};
    use genlab::models::pixelcnn::{PixelCnnConfig, PixelCnnTrainer};
    use genlab::models::vae::{VaeConfig, VaeTrainer};
    use genlab::train::{unwrap_weights, wrap_weights};
    let device = Device::flex().autodiff();
    let read = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let data = Arc::new(Mnist::fixture());
    let settings = Settings { batch_size: 16, lr: 1e-3, seed: 3, lr_decay: 1.0 };
    let header = serde_json::json!({ "lab": "gan", "values": { "kind": "dcgan" }, "step": 3 });

    let mut gan = Trainer::new(seeded(&device, 1, || GanTrainer::new(GanConfig::dcgan(), &device)), settings.clone(), data.clone(), device.clone());
    gan.run_blocking(3).unwrap();
    let bytes = gan.model.weights().unwrap();
    let wrapped = wrap_weights(&header, &bytes);
    assert_eq!(unwrap_weights(wrapped.clone()).unwrap(), (Some(header.clone()), bytes.clone()));
    assert_eq!(unwrap_weights(bytes.clone()).unwrap(), (None, bytes.clone()), "a native weights file has no header");
    let z = Tensor::<2>::from_data(TensorData::new(genlab::rng::Rng::new(5).normals(4 * 64), [4, 64]), &device.clone().inner());
    let trained = read(gan.model.picture_generator(true).sample(z.clone()));
    assert_ne!(trained, read(gan.model.picture_generator(false).sample(z.clone())), "the average differs from G");
    for file in [bytes.clone(), wrapped.clone()] {
        let (loaded, average) = GanConfig::dcgan().load(&device, file).unwrap();
        assert_eq!(read(average.unwrap().sample(z.clone())), trained);
        assert_eq!(read(loaded.generator.valid().sample(z.clone())), read(gan.model.picture_generator(false).sample(z.clone())));
    }
    // Damaged headers: cut inside the length, cut inside the JSON, garbled JSON, JSON not an object.
    let cut = 17 + 4;
    assert!(unwrap_weights(wrapped[..cut].to_vec()).unwrap_err().contains("damaged"));
    assert!(unwrap_weights(wrapped[..cut + 10].to_vec()).unwrap_err().contains("damaged"));
    let mut garbled = wrapped.clone();
    garbled[17 + 8] = b'#';
    assert!(unwrap_weights(garbled).unwrap_err().contains("damaged"));
    assert!(unwrap_weights(wrap_weights(&serde_json::json!([1]), &bytes)).unwrap_err().contains("damaged"));
    assert!(GanConfig::fc().load(&device, wrapped).unwrap_err().contains("do not fit"));

    let vae = Trainer::new(seeded(&device, 2, || VaeTrainer::new(VaeConfig::vae(20), &device)), settings.clone(), data.clone(), device.clone());
    let z = Tensor::<2>::from_data(TensorData::new(genlab::rng::Rng::new(6).normals(3 * 20), [3, 20]), &device.clone().inner());
    let loaded = VaeConfig::vae(20).load(&device, wrap_weights(&header, &vae.model.weights().unwrap())).unwrap();
    assert_eq!(read(loaded.valid().decode(z.clone())), read(vae.model.model.valid().decode(z)));
    let e = VaeConfig::vae(2).load(&device, vae.model.weights().unwrap()).unwrap_err();
    assert!(e.contains("do not fit") && e.contains("latent size 2"), "{e}");

    let cnn = seeded(&device, 3, || PixelCnnTrainer::new(PixelCnnConfig::plain(), &device));
    let loaded = PixelCnnConfig::plain().load(&device, cnn.weights().unwrap()).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(data.test.intensities(&[0, 1]), [2, 784]), &device.clone().inner());
    assert_eq!(read(loaded.valid().logits(x.clone())), read(cnn.model.valid().logits(x)));
    let e = PixelCnnConfig::gated().load(&device, cnn.weights().unwrap()).unwrap_err();
    assert!(e.contains("do not fit a gated PixelCNN"), "{e}");
}

/// Every lab's shipped files are half precision: a GAN file keeps its running average of G
/// (and one without it loads without), pictures and logits move by f16's rounding only, and a
/// file of one kind never loads as another.
#[test]
fn half_precision_files_load_in_every_lab() {
    use genlab::models::gan::{GanConfig, GanTrainer, GanWithAverage};
    use genlab::models::pixelcnn::{PixelCnnConfig, PixelCnnTrainer};
    use genlab::train::half_bytes;
    let device = Device::flex().autodiff();
    let read = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    let data = Arc::new(Mnist::fixture());
    let settings = Settings { batch_size: 16, lr: 1e-3, seed: 3, lr_decay: 1.0 };

    let mut trainer = Trainer::new(seeded(&device, 1, || GanTrainer::new(GanConfig::dcgan(), &device)), settings, data.clone(), device.clone());
    trainer.run_blocking(3).unwrap();
    let (gan, average) = GanConfig::dcgan().load(&device, trainer.model.weights().unwrap()).unwrap();
    let average = average.expect("the trainer keeps an average of G");
    let z = Tensor::<2>::from_data(TensorData::new(genlab::rng::Rng::new(5).normals(4 * 64), [4, 64]), &device.clone().inner());
    let (g_pictures, average_pictures) = (read(gan.generator.valid().sample(z.clone())), read(average.sample(z.clone())));

    let both = half_bytes(&GanWithAverage { gan: gan.clone(), average: average.clone() }).unwrap();
    let (loaded, loaded_average) = GanConfig::dcgan().load(&device, both.clone()).unwrap();
    let moved = worst(&read(loaded_average.expect("the average is in the file").sample(z.clone())), &average_pictures);
    assert!(moved > 0.0 && moved < 1e-2, "the average's pixels moved by {moved}");
    assert!(worst(&read(loaded.generator.valid().sample(z.clone())), &g_pictures) < 1e-2);
    let (_, none) = GanConfig::dcgan().load(&device, half_bytes(&gan).unwrap()).unwrap();
    assert!(none.is_none(), "a file without the average loads without one");
    let foreign = GanConfig::fc().load(&device, both.clone()).unwrap_err();
    assert!(foreign.contains("do not fit a fully connected GAN"), "{foreign}");
    let cut = GanConfig::dcgan().load(&device, both[..both.len() - 3].to_vec()).unwrap_err();
    assert!(cut.contains("cut short"), "{cut}");

    let cnn = seeded(&device, 3, || PixelCnnTrainer::new(PixelCnnConfig::plain(), &device));
    let half = half_bytes(&cnn.model.valid()).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(data.test.intensities(&[0, 1]), [2, 784]), &device.clone().inner());
    let logits = read(cnn.model.valid().logits(x.clone()));
    let moved = worst(&read(PixelCnnConfig::plain().load(&device, half.clone()).unwrap().valid().logits(x)), &logits);
    assert!(moved > 0.0 && moved < 1e-2, "PixelCNN logits moved by {moved}");
    assert!(PixelCnnConfig::gated().load(&device, half).unwrap_err().contains("do not fit a gated PixelCNN"));

    let classifier = seeded(&device.clone().inner(), 4, || genlab::models::classifier::init(&device.clone().inner()));
    let half = half_bytes(&classifier).unwrap();
    let x = Tensor::<2>::from_data(TensorData::new(data.test.intensities(&[0, 1, 2]), [3, 784]), &device.clone().inner());
    let moved = worst(&read(genlab::models::classifier::load(&device.clone().inner(), half).unwrap().probs(x.clone())), &read(classifier.probs(x)));
    assert!(moved > 0.0 && moved < 1e-2, "the classifier's p(y|x) moved by {moved}");
}

/// burn keeps one random stream per process, and initialises a parameter at its first use: a
/// model built from a seed while other threads build models (tests run in parallel) must still
/// get the seed's weights, and a batch binarized with a seed the seed's pixels.
#[test]
fn seeded_draws_agree_while_other_threads_draw() {
    use genlab::data::DeviceSplit;
    use genlab::models::vae::VaeConfig;
    use genlab::train::{module_tensors, prepare_tensor};
    let device = Device::flex();
    let weights = |seed| -> Vec<f32> {
        let vae = seeded(&device, seed, || VaeConfig::vae(2).init(&device));
        module_tensors(&vae).into_iter().flat_map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>()).collect()
    };
    let data = Mnist::fixture();
    let on_device = DeviceSplit::new(&data.train, &device);
    let indices: Vec<usize> = (0..32).collect();
    let batch = || -> Vec<f32> { prepare_tensor(on_device.intensities(&indices), Pixels::Binarized, 7).into_data().iter::<f32>().collect() };
    let (expected_weights, expected_batch) = (weights(1), batch());
    assert_ne!(weights(2), expected_weights);
    std::thread::scope(|s| {
        for _ in 0..2 {
            // Unseeded builds, their weights read: draws from the same stream.
            s.spawn(|| (0..20).for_each(|_| drop(module_tensors(&VaeConfig::vae(2).init(&device)))));
        }
        let checks: Vec<_> = (0..3).map(|_| s.spawn(|| (0..20).all(|_| weights(1) == expected_weights && batch() == expected_batch))).collect();
        assert!(checks.into_iter().all(|c| c.join().unwrap()), "a seeded draw saw another thread's draws");
    });
}

/// What a loaded weights file must pass before it replaces the page's model: its NaN and ±∞
/// are counted (one async read-back, polled here where the CPU answers at once).
#[test]
fn non_finite_weights_are_counted() {
    use burn::tensor::TensorData;
    use genlab::train::count_non_finite;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    fn ready<T>(f: impl Future<Output = T>) -> T {
        match std::pin::pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the CPU's read-back was not ready at once"),
        }
    }
    let device = Device::flex();
    let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
    let model = seeded(&device, 2, || genlab::models::vae::VaeConfig::vae(2).init(&device));
    let mut tensors = genlab::train::module_tensors(&model);
    assert_eq!(ready(count_non_finite(tensors.clone())), Ok(0));
    tensors.push(t(&[1.0, f32::NAN, -f32::INFINITY, f32::MAX, 0.0, f32::INFINITY]));
    assert_eq!(ready(count_non_finite(tensors)), Ok(3));
    assert_eq!(ready(count_non_finite(Vec::new())), Ok(0));
}
