//! The GAN's math and its game: loss gradients, k : 1 updates, the loss toggle, minibatch std,
//! weights, the Wasserstein critic (its hand-written input gradient, penalty and clipping); and
//! the classifier that judges the samples (score, histogram, Fréchet distance).
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS};
use genlab::device::seeded;
use genlab::models::classifier::{self, class_histogram, classifier_score, frechet_distance, jacobi_eigen};
use genlab::models::gan::{
    CLIP, GanConfig, GanTrainer, GanWithAverage, GeneratorLoss, Lipschitz, SpectralNorm, discriminator_loss, ema_update, feature_matching_loss, gradient_norms,
    gradient_penalty, latent_arithmetic, minimax_loss, non_saturating_loss, with_minibatch_std,
};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainable, Trainer, module_tensors};

fn t1(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

fn vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Gradient of `loss` with respect to D = D(G(z)) itself, by autodiff through l = logit(D).
fn grad_wrt_d(loss: fn(Tensor<1>) -> Tensor<1>, d: &[f32]) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let d = t1(d.to_vec(), &device).require_grad();
    let logits = d.clone().log() - (-d.clone() + 1.0).log();
    let grads = loss(logits).sum().backward();
    vec(d.grad(&grads).unwrap())
}

#[test]
fn generator_loss_gradients_are_the_analytic_ones() {
    let d = [0.01f32, 0.1, 0.5, 0.9, 0.99];
    // ∂/∂D log(1 − D) = −1/(1 − D): nearly flat (−1) where D(G(z)) ≈ 0 — bad samples learn slowly.
    for (g, d) in grad_wrt_d(minimax_loss, &d).iter().zip(d) {
        let want = -1.0 / (1.0 - d);
        assert!((g - want).abs() < 1e-3 * want.abs(), "minimax at D = {d}: {g} vs {want}");
    }
    // ∂/∂D −log D = −1/D: steep (−100 at D = 0.01) exactly where samples are bad.
    for (g, d) in grad_wrt_d(non_saturating_loss, &d).iter().zip(d) {
        let want = -1.0 / d;
        assert!((g - want).abs() < 1e-3 * want.abs(), "non-saturating at D = {d}: {g} vs {want}");
    }
}

#[test]
fn losses_are_the_lecture_formulas_and_finite_at_extreme_logits() {
    let device = Device::flex();
    let logits = vec![-80.0f32, -3.0, 0.0, 2.0, 80.0];
    let sig = |l: f32| 1.0 / (1.0 + (-l as f64).exp());
    let mm = vec(minimax_loss(t1(logits.clone(), &device)));
    let ns = vec(non_saturating_loss(t1(logits.clone(), &device)));
    let dl = vec(discriminator_loss(t1(logits.clone(), &device), t1(logits.iter().map(|l| -l).collect(), &device)));
    for (i, &l) in logits.iter().enumerate() {
        assert!(mm[i].is_finite() && ns[i].is_finite() && dl[i].is_finite(), "logit {l}");
        if l.abs() < 10.0 {
            let d = sig(l);
            assert!((mm[i] as f64 - (1.0 - d).ln()).abs() < 1e-5, "log(1 − D) at {l}");
            assert!((ns[i] as f64 + d.ln()).abs() < 1e-5, "−log D at {l}");
            // real logit l and fake logit −l: −log D(x) − log(1 − D(G(z))) = −2 log σ(l)
            assert!((dl[i] as f64 + 2.0 * d.ln()).abs() < 1e-5, "D loss at {l}");
        }
    }
    // At the game's equilibrium D = ½ everywhere: D loss = 2 log 2.
    assert!((dl[2] - 2.0 * 2f32.ln()).abs() < 1e-6);
}

fn trainer(config: GanConfig, k: usize, loss: GeneratorLoss) -> Trainer<GanTrainer> {
    let device = Device::flex().autodiff();
    let mut gan = GanTrainer::new(config, &device);
    gan.options.k = k;
    gan.options.generator_loss = loss;
    Trainer::new(gan, Settings { batch_size: 32, lr: 2e-4, seed: 3, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device)
}

/// Outputs of G on fixed noise and of D on fixed images, to see which of them changed.
fn probe(t: &Trainer<GanTrainer>) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex();
    let gan = t.model.gan.valid();
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(5).normals(4 * 64), [4, 64]), &device);
    let x = Tensor::<2>::from_data(TensorData::new(Rng::new(6).normals(4 * PIXELS), [4, PIXELS]), &device).tanh();
    (vec(gan.generator.forward(z)), vec(gan.discriminator.forward(x)))
}

#[test]
fn a_step_makes_k_discriminator_updates_and_one_generator_update() {
    for k in [1, 3] {
        // The fully connected GAN has no BatchNorm, so its outputs change only through updates.
        let mut t = trainer(GanConfig::fc(), k, GeneratorLoss::NonSaturating);
        assert_eq!(t.next_batch().dims(), [32 * k, PIXELS], "one real batch per discriminator update");
        let (g0, d0) = probe(&t);
        t.run_blocking(1).unwrap();
        assert_eq!((t.model.d_updates, t.model.g_updates), (k as u64, 1));
        let (g1, d1) = probe(&t);
        assert_ne!(g0, g1, "G was updated");
        assert_ne!(d0, d1, "D was updated");
        t.run_blocking(2).unwrap();
        assert_eq!((t.model.d_updates, t.model.g_updates), (3 * k as u64, 3));
    }
}

#[test]
fn the_toggle_picks_which_generator_objective_is_optimised() {
    for loss in [GeneratorLoss::Minimax, GeneratorLoss::NonSaturating] {
        let mut t = trainer(GanConfig::dcgan(), 1, loss);
        t.run_blocking(3).unwrap();
        let reported = t.history.train.last().unwrap().values[1] as f64;
        let probs = vec(t.model.last_fake_outputs.clone().unwrap());
        let mean = |f: fn(f64) -> f64| probs.iter().map(|&p| f(p as f64)).sum::<f64>() / probs.len() as f64;
        let minimax = mean(|p| (1.0 - p).ln());
        let non_saturating = mean(|p| -p.ln());
        let (want, other) = match loss {
            GeneratorLoss::Minimax => (minimax, non_saturating),
            GeneratorLoss::NonSaturating => (non_saturating, minimax),
            GeneratorLoss::FeatureMatching => unreachable!(),
        };
        assert!((reported - want).abs() < 1e-4, "{loss:?}: G loss {reported} vs {want}");
        assert!((reported - other).abs() > 0.1, "{loss:?}: the other objective would read {other}");
    }
}

#[test]
fn minibatch_std_sees_a_collapsed_batch() {
    let device = Device::flex();
    let same = Tensor::<2>::from_data(TensorData::new([0.3f32, -1.0, 2.0].repeat(4), [4, 3]), &device);
    let out = vec(with_minibatch_std(same));
    assert_eq!(out.len(), 16);
    assert!(out.chunks(4).all(|r| r[3].abs() < 1e-3), "identical samples: std ≈ 0, {out:?}");
    // Features (0, 2) and (1, 3) over a batch of two: population std 1 each → mean 1.
    let varied = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [2, 2]), &device);
    let out = vec(with_minibatch_std(varied));
    assert!((out[2] - 1.0).abs() < 1e-4 && (out[5] - 1.0).abs() < 1e-4, "{out:?}");
    // A GAN whose D has the extra feature runs its steps (finite losses).
    let mut t = trainer(GanConfig { minibatch_std: true, ..GanConfig::fc() }, 1, GeneratorLoss::NonSaturating);
    t.run_blocking(2).unwrap();
    t.run_blocking(1).unwrap();
    assert!(t.history.train.iter().all(|p| p.values.iter().all(|v| v.is_finite())));
}

#[test]
fn training_on_the_fixture_teaches_d_to_tell_real_from_fake() {
    let mut t = trainer(GanConfig::dcgan(), 1, GeneratorLoss::NonSaturating);
    t.run_blocking(30).unwrap();
    let last = &t.history.train.last().unwrap().values;
    // Early in the game D wins: D(x) above D(G(z)), and D's loss below the 2 log 2 of a coin flip.
    assert!(last[2] > last[3], "D(x) {} vs D(G(z)) {}", last[2], last[3]);
    assert!(last[0] < 2.0 * 2f32.ln(), "D loss {}", last[0]);
}

#[test]
fn weights_round_trip_and_bad_files_are_named() {
    let device = Device::flex();
    let config = GanConfig::dcgan();
    let gan = config.init(&device);
    let path = std::env::temp_dir().join("genlab-test-dcgan.bpk");
    gan.clone().into_record().save(path.to_str().unwrap()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (loaded, average) = config.load(&device, bytes.clone()).unwrap();
    assert!(average.is_none(), "a file of G and D alone has no average");
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(1).normals(2 * 64), [2, 64]), &device);
    assert_eq!(vec(gan.generator.forward(z.clone())), vec(loaded.generator.forward(z)));

    let damaged = config.load(&device, bytes[..bytes.len() / 3].to_vec()).err().unwrap();
    assert!(damaged.contains("damaged"), "{damaged}");
    let foreign = GanConfig::fc().load(&device, bytes.clone()).err().unwrap();
    assert!(foreign.contains("do not fit"), "{foreign}");
    let with_std = GanConfig { minibatch_std: true, ..config }.load(&device, bytes).err().unwrap();
    assert!(with_std.contains("minibatch std"), "{with_std}");
}

#[test]
fn latent_arithmetic_is_mean_a_minus_mean_b_plus_mean_c() {
    let a = vec![vec![1.0, 0.0], vec![3.0, 0.0]];
    let b = vec![vec![0.0, 1.0]];
    let c = vec![vec![0.0, 0.0], vec![0.0, 4.0]];
    assert_eq!(latent_arithmetic(&a, &b, &c, 2).unwrap(), vec![2.0, 1.0]);
    let empty = latent_arithmetic(&a, &[], &c, 2).err().unwrap();
    assert!(empty.contains("group B is empty"), "{empty}");
}

#[test]
fn classifier_score_and_histogram_read_collapse() {
    let onehot = |k: usize| (0..10).map(|i| if i == k { 1.0f32 } else { 0.0 }).collect::<Vec<_>>();
    let all_digits: Vec<f32> = (0..100).flat_map(|i| onehot(i % 10)).collect();
    assert!((classifier_score(&all_digits) - 10.0).abs() < 1e-6, "confident and all ten digits: 10");
    assert_eq!(class_histogram(&all_digits), [10; 10]);
    let collapsed: Vec<f32> = (0..100).flat_map(|_| onehot(7)).collect();
    assert!((classifier_score(&collapsed) - 1.0).abs() < 1e-6, "one mode: 1");
    assert_eq!(class_histogram(&collapsed)[7], 100);
    let unsure: Vec<f32> = vec![0.1; 1000];
    assert!((classifier_score(&unsure) - 1.0).abs() < 1e-6, "no sample is clearly a digit: 1");
    // Two digits, each sample confident: score 2.
    let two: Vec<f32> = (0..100).flat_map(|i| onehot(i % 2)).collect();
    assert!((classifier_score(&two) - 2.0).abs() < 1e-6);
}

#[test]
fn frechet_distance_of_known_gaussians() {
    // Eigenvalues of a known symmetric matrix.
    let (mut e, _) = jacobi_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
    e.sort_by(f64::total_cmp);
    assert!((e[0] - 1.0).abs() < 1e-12 && (e[1] - 3.0).abs() < 1e-12, "{e:?}");
    let mut rng = Rng::new(4);
    let d = 4;
    let a: Vec<f32> = rng.normals(20_000 * d);
    assert!(frechet_distance(&a, &a, d).abs() < 1e-6, "a set against itself");
    // Shifted by (1, 1, 0, 0): ‖Δμ‖² = 2, covariances equal → 2.
    let shifted: Vec<f32> = a.iter().enumerate().map(|(i, v)| v + if i % d < 2 { 1.0 } else { 0.0 }).collect();
    assert!((frechet_distance(&a, &shifted, d) - 2.0).abs() < 1e-4);
    // N(0, I) against N(0, 4I) in 4-D: tr(I + 4I − 2·2I) = 4 (sampling error aside).
    let b: Vec<f32> = rng.normals(20_000 * d).iter().map(|v| v * 2.0).collect();
    let fd = frechet_distance(&a, &b, d);
    assert!((fd - 4.0).abs() < 0.15, "{fd}");
}

#[test]
fn pretrained_classifier_meets_the_bar_on_the_test_set() {
    let data = genlab::cli::load_mnist("www/data");
    let device = Device::flex();
    let model = classifier::load(&device, std::fs::read("pretrained/classifier.bpk").unwrap()).unwrap();
    let probs = classifier::probs_of_split(&model, &data.test, &device);
    let accuracy = classifier::accuracy_of_probs(&probs, &data.test.labels);
    assert!(accuracy >= 0.985, "test accuracy {accuracy}");
    let score = classifier_score(&probs);
    assert!(score > 9.5, "the real test set scores {score}");
    assert!(classifier::load(&device, vec![1, 2, 3]).err().unwrap().contains("damaged"));
}

#[test]
fn the_benchmark_dcgan_has_the_tensorflow_tutorial_shapes_and_trains() {
    let device = Device::flex().autodiff();
    let mut gan = GanTrainer::new(GanConfig::dcgan_tf(), &device);
    let z = gan.noise(2, &device);
    assert_eq!(gan.gan.generator.forward(z.clone()).dims(), [2, PIXELS]);
    assert_eq!(gan.gan.discriminator.forward(gan.gan.generator.forward(z)).dims(), [2]);
    let real = Tensor::<2>::from_data(TensorData::new(Rng::new(8).normals(4 * PIXELS), [4, PIXELS]), &device).tanh();
    let metrics = vec(genlab::train::Trainable::step(&mut gan, real, 1e-4));
    assert!(metrics.iter().all(|v| v.is_finite()), "{metrics:?}");
}

/// W's largest singular value, exactly: √ of the largest eigenvalue of WᵀW (Jacobi, f64).
fn largest_singular_value(w: &[f32], rows: usize, cols: usize) -> f64 {
    let mut wtw = vec![0.0f64; cols * cols];
    for i in 0..cols {
        for j in 0..cols {
            wtw[i * cols + j] = (0..rows).map(|r| w[r * cols + i] as f64 * w[r * cols + j] as f64).sum();
        }
    }
    let (values, _) = jacobi_eigen(&wtw, cols);
    values.into_iter().fold(0.0, f64::max).sqrt()
}

#[test]
fn spectral_normalisation_brings_the_largest_singular_value_to_one() {
    let device = Device::flex();
    let (rows, cols) = (12, 7);
    let w: Vec<f32> = Rng::new(3).normals(rows * cols).iter().map(|v| v * 0.7).collect();
    let before = largest_singular_value(&w, rows, cols);
    assert!((before - 1.0).abs() > 0.5, "the test needs a weight far from norm 1: {before}");
    let wt = Tensor::<2>::from_data(TensorData::new(w.clone(), [rows, cols]), &device);
    let mut sn = seeded(&device, 11, || SpectralNorm::new(rows, &device));
    // The page runs one power-iteration step per D update; a few dozen updates in, the estimate
    // has converged.
    for _ in 0..30 {
        sn = sn.step(wt.clone());
    }
    let normalised = vec(sn.normalise(wt.clone()));
    let after = largest_singular_value(&normalised, rows, cols);
    assert!((after - 1.0).abs() < 0.02, "σ_max after normalisation {after} (before {before})");
    let sigma = vec(sn.sigma(wt))[0] as f64;
    assert!((sigma - before).abs() < 0.02 * before, "estimate {sigma} vs exact {before}");
}

#[test]
fn spectral_norm_d_trains_and_keeps_each_layer_near_norm_one() {
    let device = Device::flex().autodiff();
    let config = GanConfig { spectral_norm: true, ..GanConfig::dcgan() };
    let gan = seeded(&device, 21, || GanTrainer::new(config, &device));
    let mut t = Trainer::new(gan, Settings { batch_size: 32, lr: 2e-4, seed: 3, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device);
    t.run_blocking(40).unwrap();
    assert!(t.history.train.iter().all(|p| p.values.iter().all(|v| v.is_finite())));
    // Each layer as D computes with it (conv1 [64, 16], conv2 [128, 1024], out [6272, 1]),
    // against its exact σ. The estimate uᵀWv never exceeds σ, and one power-iteration step per
    // D update has brought it close (conv2's top singular values lie close together, so it
    // converges slowest); further steps on the same weights bring every layer to within 2 %.
    // Without the power iteration u stays random and σ is underestimated many times over.
    let largest = |d: &genlab::models::gan::Discriminator| -> Vec<f64> {
        d.effective_weights()
            .into_iter()
            .map(|w| {
                let [rows, cols] = w.dims();
                // Jacobi on the smaller Gram matrix: the transpose has the same singular values.
                let (w, rows, cols) = if rows < cols { (w.transpose(), cols, rows) } else { (w, rows, cols) };
                largest_singular_value(&vec(w.reshape([rows * cols])), rows, cols)
            })
            .collect()
    };
    let d = t.model.gan.discriminator.valid();
    let trained = largest(&d);
    assert!(trained.iter().all(|&s| s > 0.999 && s < 1.25), "σ_max per layer after 40 D updates: {trained:?}");
    let settled = largest(&(0..300).fold(d, |d, _| d.power_iteration()));
    assert!(settled.iter().all(|&s| (s - 1.0).abs() < 0.02), "σ_max per layer after 300 more steps: {settled:?}");
}

#[test]
fn packing_judges_pairs_and_tells_a_twin_pair_from_a_mixed_one() {
    let device = Device::flex();
    let d = seeded(&device, 12, || GanConfig { pack: 2, ..GanConfig::dcgan() }.init(&device).discriminator);
    assert_eq!(d.pack(), 2);
    let data = Mnist::fixture();
    let images: Vec<f32> = data.train.intensities(&[0, 1, 2, 3]).iter().map(|p| p * 2.0 - 1.0).collect();
    let x = Tensor::<2>::from_data(TensorData::new(images.clone(), [4, PIXELS]), &device);
    // A batch of 2n samples is n pairs, consecutive samples side by side.
    let packed = vec(d.packed(x.clone()));
    assert_eq!(packed.len(), 4 * PIXELS);
    assert_eq!(&packed[..2 * PIXELS], &images[..2 * PIXELS], "pair 0 = samples 0 and 1");
    assert_eq!(d.forward(x).dims(), [2], "one verdict per pair");
    // (a, a) against (a, b): D's features differ, so a collapsed G (twin pairs) is visible.
    let a = &images[..PIXELS];
    let b = &images[PIXELS..2 * PIXELS];
    let pair = |second: &[f32]| Tensor::<2>::from_data(TensorData::new([a, second].concat(), [2, PIXELS]), &device);
    let (twin, mixed) = (vec(d.features(pair(a))), vec(d.features(pair(b))));
    let diff: f32 = twin.iter().zip(&mixed).map(|(x, y)| (x - y).abs()).sum();
    assert!(diff > 1e-3 * twin.len() as f32, "features of (a, a) and (a, b) should differ: {diff}");
    // An odd batch leaves its last sample out; a single sample is judged as a twin pair.
    let odd = Tensor::<2>::from_data(TensorData::new(images[..3 * PIXELS].to_vec(), [3, PIXELS]), &device);
    assert_eq!(d.forward(odd).dims(), [1]);
    let single = Tensor::<2>::from_data(TensorData::new(a.to_vec(), [1, PIXELS]), &device);
    assert_eq!(vec(d.features(single)), twin);
}

#[test]
fn feature_matching_is_the_distance_of_mean_features_and_moves_g_only() {
    let device = Device::flex();
    // Real features (1, 2), (3, 2): mean (2, 2). Fake (0, 0), (2, 0): mean (1, 0). ‖(1, 2)‖² = 5.
    let real = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 2.0], [2, 2]), &device);
    let fake = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0], [2, 2]), &device);
    assert!((vec(feature_matching_loss(real, fake))[0] - 5.0).abs() < 1e-6);
    // One G update with feature matching: G changes, D does not (the fully connected GAN: no
    // BatchNorm, so outputs change only through updates).
    let mut t = trainer(GanConfig::fc(), 1, GeneratorLoss::FeatureMatching);
    let (g0, d0) = probe(&t);
    let autodiff = Device::flex().autodiff();
    let real = Tensor::<2>::from_data(TensorData::new(Rng::new(2).normals(8 * PIXELS), [8, PIXELS]), &autodiff).tanh();
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(3).normals(8 * 64), [8, 64]), &autodiff);
    let reported = vec(t.model.g_update(z, real, 1e-3))[0];
    let (g1, d1) = probe(&t);
    assert_ne!(g0, g1, "G was updated");
    assert_eq!(d0, d1, "D was not");
    assert!(reported > 0.0 && reported.is_finite());
    // And a whole training step with it is finite.
    t.run_blocking(2).unwrap();
}

#[test]
fn the_average_of_g_blends_old_and_new_weights_and_feeds_the_pictures() {
    let device = Device::flex();
    let (old, new) = seeded(&device, 13, || (GanConfig::fc().init(&device).generator, GanConfig::fc().init(&device).generator));
    let d = 0.9;
    let blended = ema_update(old.clone(), &new, d);
    for ((b, o), n) in module_tensors(&blended).into_iter().zip(module_tensors(&old)).zip(module_tensors(&new)) {
        for ((b, o), n) in vec(b).iter().zip(vec(o)).zip(vec(n)) {
            assert!((b - (d as f32 * o + (1.0 - d as f32) * n)).abs() < 1e-6);
        }
    }
    // Training keeps an average; the pictures use it when asked, the raw G otherwise.
    let mut t = trainer(GanConfig::fc(), 1, GeneratorLoss::NonSaturating);
    assert!(t.model.ema.is_none());
    t.run_blocking(5).unwrap();
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(5).normals(2 * 64), [2, 64]), &device);
    let averaged = vec(t.model.picture_generator(true).forward(z.clone()));
    let raw = vec(t.model.picture_generator(false).forward(z.clone()));
    assert_eq!(averaged, vec(t.model.ema.clone().unwrap().forward(z.clone())));
    assert_eq!(raw, vec(t.model.gan.generator.valid().forward(z)));
    assert_ne!(averaged, raw);
}

#[test]
fn a_file_with_the_average_of_g_loads_both() {
    let device = Device::flex();
    let config = GanConfig { spectral_norm: true, pack: 2, ..GanConfig::dcgan() };
    let (gan, average) = seeded(&device, 14, || (config.init(&device), config.init(&device).generator));
    let bytes = GanWithAverage { gan: gan.clone(), average: average.clone() }.into_record().into_bytes().unwrap().to_vec();
    let (loaded, loaded_average) = config.load(&device, bytes.clone()).unwrap();
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(1).normals(2 * 64), [2, 64]), &device);
    assert_eq!(vec(loaded.generator.forward(z.clone())), vec(gan.generator.forward(z.clone())));
    assert_eq!(vec(loaded_average.unwrap().forward(z.clone())), vec(average.forward(z)));
    let plain = GanConfig::dcgan().load(&device, bytes.clone()).err().unwrap();
    assert!(plain.contains("do not fit a DCGAN ("), "{plain}");
    // Loaded for training (autodiff), as the page does: pictures from the average must not touch
    // the raw G (a shared BatchNorm state once made every picture of the average move G's).
    let autodiff = Device::flex().autodiff();
    let (gan, average) = config.load(&autodiff, bytes).unwrap();
    let trainer = GanTrainer::from_gan(config.clone(), gan).with_average(average);
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(2).normals(8 * 64), [8, 64]), &Device::flex());
    let raw = vec(trainer.picture_generator(false).forward(z.clone()));
    let averaged = vec(trainer.picture_generator(true).forward(z.clone()));
    for _ in 0..3 {
        assert_eq!(vec(trainer.picture_generator(true).forward(z.clone())), averaged, "the average's pictures are fixed");
    }
    assert_eq!(vec(trainer.picture_generator(false).forward(z)), raw, "drawing the average moved the raw G");
    assert_eq!(trainer.ema_updates, 10_000, "a loaded average goes on at the full decay");
}

/// Training 2·n steps equals n, a checkpoint, and n more in a fresh trainer: G, D, both Adams,
/// the average of G, the spectral-norm vectors and the noise stream all carry over.
#[test]
fn resuming_a_gan_from_a_checkpoint_continues_exactly() {
    let config = GanConfig { spectral_norm: true, ..GanConfig::dcgan() };
    let make = |seed: u64| {
        let device = Device::flex().autodiff();
        let gan = seeded(&device, seed, || GanTrainer::new(config.clone(), &device));
        Trainer::new(gan, Settings { batch_size: 16, lr: 2e-4, seed: 3, lr_decay: 0.999 }, Arc::new(Mnist::fixture()), device)
    };
    let state = |t: &Trainer<GanTrainer>| -> Vec<Vec<f32>> {
        let mut all: Vec<Vec<f32>> = t.model.tensors().into_iter().map(vec).collect();
        all.extend(module_tensors(t.model.ema.as_ref().unwrap()).into_iter().map(vec));
        all
    };
    let n = 12;
    let mut unbroken = make(1);
    unbroken.run_blocking(n).unwrap();
    unbroken.run_blocking(n).unwrap();

    let mut first = make(1);
    first.run_blocking(n).unwrap();
    let bytes = first.checkpoint(&serde_json::Value::Null).unwrap();
    let mut resumed = make(2);
    resumed.resume(&bytes).unwrap();
    assert_eq!(state(&resumed), state(&first));
    assert_eq!((resumed.model.d_updates, resumed.model.g_updates), (n as u64, n as u64));
    resumed.run_blocking(n).unwrap();
    assert_eq!(state(&resumed), state(&unbroken), "resumed training drifted from the unbroken run");
}

#[test]
fn unsure_share_counts_samples_below_ninety_percent() {
    let sure = [[0.95f32, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]];
    let unsure = [[0.5f32, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]];
    let probs: Vec<f32> = [sure, sure, sure, unsure].iter().flat_map(|r| r[0]).collect();
    assert!((classifier::unsure_share(&probs) - 0.25).abs() < 1e-12);
}

fn wasserstein(config: GanConfig) -> GanConfig {
    GanConfig { wasserstein: true, ..config }
}

/// The critic's input gradient, written out layer by layer for the gradient penalty, is the one
/// autodiff finds, for both architectures, with and without spectral norm and packing.
#[test]
fn the_critics_hand_written_input_gradient_is_autodiffs() {
    let device = Device::flex().autodiff();
    for (base, sn, pack) in [(GanConfig::fc(), false, 1), (GanConfig::fc(), true, 2), (GanConfig::dcgan(), false, 1), (GanConfig::dcgan(), true, 2)] {
        let config = GanConfig { spectral_norm: sn, pack, ..wasserstein(base) };
        let critic = seeded(&device, 7, || config.init(&device)).discriminator.power_iteration();
        let x = Tensor::<2>::from_data(TensorData::new(Rng::new(8).normals(4 * PIXELS), [4, PIXELS]), &device).tanh().detach().require_grad();
        let grads = critic.forward(x.clone()).sum().backward();
        let want = vec(x.grad(&grads).unwrap());
        let got = vec(critic.input_gradient(x.detach()).reshape([4, PIXELS]));
        let scale = want.iter().map(|g| g.abs()).fold(0f32, f32::max);
        assert!(scale > 0.0, "{}: no gradient reached the input", config.describe());
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4 * scale, "{}: input gradients differ by {worst} (largest {scale})", config.describe());
    }
}

/// The penalty is (‖∇D(x̂)‖ − 1)² of the critic's gradient as finite differences find it: on a
/// tiny fully connected critic, central differences over every pixel of one point (all 1568
/// perturbed copies in one batch; the critic has no batch statistics).
#[test]
fn the_gradient_penalty_is_the_finite_difference_gradients_norm_less_one_squared() {
    let device = Device::flex().autodiff();
    let config = wasserstein(GanConfig::fc());
    let critic = seeded(&device, 7, || config.init(&device)).discriminator;
    let point: Vec<f32> = Rng::new(9).normals(PIXELS).iter().map(|v| (0.5 * v).tanh()).collect();
    let h = 1e-2f32;
    let mut copies = Vec::with_capacity(2 * PIXELS * PIXELS);
    for i in 0..PIXELS {
        for sign in [1.0, -1.0] {
            let mut x = point.clone();
            x[i] += sign * h;
            copies.extend(x);
        }
    }
    let d = vec(critic.forward(Tensor::<2>::from_data(TensorData::new(copies, [2 * PIXELS, PIXELS]), &device)));
    let norm = (0..PIXELS).map(|i| ((d[2 * i] - d[2 * i + 1]) as f64 / (2.0 * h as f64)).powi(2)).sum::<f64>().sqrt();
    let want = (norm - 1.0).powi(2);
    let x = Tensor::<2>::from_data(TensorData::new(point, [1, PIXELS]), &device);
    let got = vec(gradient_penalty(critic.input_gradient(x)))[0] as f64;
    // Seen: 0.8078 against 0.8085 (norm 0.10). (‖g‖² − 1)² would give 0.98, ‖g‖ − 1 would give −0.90.
    assert!((got - want).abs() < 1e-3 + 1e-2 * want, "penalty {got}, finite differences give {want} (norm {norm})");
}

/// Minimising the penalty alone drives the critic's gradient norm at the mixed points to 1:
/// the hand-written gradient is differentiable in the critic's weights, with the right sign.
#[test]
fn the_gradient_penalty_pulls_the_critics_gradient_norm_to_one() {
    use burn::optim::{AdamConfig, GradientsParams};
    let device = Device::flex().autodiff();
    let config = wasserstein(GanConfig::fc());
    let mut critic = seeded(&device, 7, || config.init(&device)).discriminator;
    let x = Tensor::<2>::from_data(TensorData::new(Rng::new(8).normals(16 * PIXELS), [16, PIXELS]), &device).tanh();
    let norm = |c: &genlab::models::gan::Discriminator| vec(gradient_norms(c.input_gradient(x.clone())).mean())[0];
    let start = norm(&critic);
    assert!((start - 1.0).abs() > 0.2, "the test needs a critic whose gradient norm starts away from 1, not {start}");
    let mut adam = AdamConfig::new().init();
    for _ in 0..100 {
        let loss = gradient_penalty(critic.input_gradient(x.clone())).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &critic);
        critic = adam.step(1e-3, critic, grads);
    }
    let end = norm(&critic);
    assert!((end - 1.0).abs() < 0.05, "gradient norm {start} → {end}, not 1");
}

fn wgan_trainer(config: GanConfig, lipschitz: Lipschitz) -> Trainer<GanTrainer> {
    let mut t = trainer(wasserstein(config), 5, GeneratorLoss::NonSaturating);
    t.model.options.lipschitz = lipschitz;
    t
}

#[test]
fn clipping_keeps_every_critic_weight_within_c_and_leaves_power_iteration_alone() {
    let mut t = wgan_trainer(GanConfig { spectral_norm: true, ..GanConfig::fc() }, Lipschitz::Clipping);
    t.run_blocking(1).unwrap();
    let critic = t.model.gan.discriminator.valid();
    let values: Vec<Vec<f32>> = module_tensors(&critic).into_iter().map(vec).collect();
    // Weights and biases of three layers, then the three unit power-iteration vectors.
    assert_eq!(values.len(), 9);
    for w in &values[..6] {
        let largest = w.iter().map(|v| v.abs()).fold(0f32, f32::max);
        assert!(largest <= CLIP, "a weight of {largest} survived clipping");
    }
    assert!(values[..6].iter().flatten().any(|v| v.abs() > 0.999 * CLIP), "nothing was near the bound: clipping untested");
    for u in &values[6..] {
        let length = u.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((length - 1.0).abs() < 1e-4, "a power-iteration vector was clipped: length {length}");
    }
}

/// From scratch the critic soon tells data from G's noise: its Wasserstein estimate
/// E critic(x) − E critic(G(z)) grows positive, its loss is the estimate's negative (plus the
/// penalty), and the penalty holds the gradient norm near 1.
#[test]
fn the_critic_learns_a_positive_wasserstein_estimate() {
    for config in [GanConfig::fc(), GanConfig { pack: 2, ..GanConfig::dcgan() }] {
        let mut t = wgan_trainer(config, Lipschitz::GradientPenalty);
        assert_eq!(t.history.names, ["critic loss", "G loss", "W estimate", "‖∇critic‖"]);
        t.run_blocking(6).unwrap();
        assert_eq!((t.model.d_updates, t.model.g_updates), (30, 6), "k = 5 critic updates per G update");
        let first = &t.history.train.first().unwrap().values;
        let last = &t.history.train.last().unwrap().values;
        // The loss-curves plot marks the critic's scores of G's last batch, G's loss is their negated mean.
        let scores = vec(t.model.last_fake_outputs.clone().unwrap());
        let g_loss = -scores.iter().map(|&s| s as f64).sum::<f64>() / scores.len() as f64;
        assert!((g_loss - last[1] as f64).abs() < 1e-4 * g_loss.abs().max(1.0), "G loss {} vs −mean score {g_loss}", last[1]);
        assert!(last.iter().all(|v| v.is_finite()), "{last:?}");
        assert!(last[2] > 0.5 && last[2] > first[2], "W estimate {} → {}", first[2], last[2]);
        assert!(last[0] < -0.5 * last[2], "critic loss {} vs estimate {}", last[0], last[2]);
        let test = vec(t.evaluate_test());
        assert!(test.len() == 4 && test.iter().all(|v| v.is_finite()), "{test:?}");
    }
}

#[test]
fn a_wasserstein_critic_has_no_batchnorm() {
    assert!(wasserstein(GanConfig::dcgan_tf()).check().unwrap_err().contains("no Wasserstein critic"));
    let device = Device::flex();
    let plain = module_tensors(&GanConfig::dcgan().init(&device).discriminator).len();
    let critic = module_tensors(&wasserstein(GanConfig::dcgan()).init(&device).discriminator).len();
    assert_eq!(plain - critic, 4, "BatchNorm's γ, β and running mean and variance are gone");
    assert_eq!(wasserstein(GanConfig::dcgan()).describe(), "Wasserstein DCGAN");
}
