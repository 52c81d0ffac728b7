//! The VAE's math: the KL term, the Bernoulli likelihood, their gradients, and training.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::Mnist;
use genlab::device::seeded;
use genlab::models::vae::{VaeConfig, VaeTrainer, bernoulli_nll, kl_to_standard_normal};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainer};

fn t2(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn vec1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn kl_closed_form_matches_monte_carlo() {
    let device = Device::flex();
    let mu = vec![0.5f32, -1.0, 2.0];
    let log_var = vec![-0.7f32, 0.3, -2.0];
    let closed = vec1(kl_to_standard_normal(t2(mu.clone(), [1, 3], &device), t2(log_var.clone(), [1, 3], &device)))[0];
    // KL = E_q[log q(z) − log p(z)], estimated with samples z = μ + σ ε.
    let mut rng = Rng::new(11);
    let n = 200_000;
    let mut sum = 0.0f64;
    for _ in 0..n {
        for d in 0..3 {
            let (m, lv) = (mu[d] as f64, log_var[d] as f64);
            let eps = rng.normal() as f64;
            let z = m + (lv / 2.0).exp() * eps;
            let log_q = -0.5 * (eps * eps + lv);
            let log_p = -0.5 * z * z;
            sum += log_q - log_p;
        }
    }
    let mc = sum / n as f64;
    assert!((closed as f64 - mc).abs() < 0.02, "closed form {closed} vs Monte Carlo {mc}");
    // And the hand value: ½ Σ (μ² + σ² − 1 − log σ²)
    let by_hand: f64 = (0..3).map(|d| 0.5 * ((mu[d] as f64).powi(2) + (log_var[d] as f64).exp() - 1.0 - log_var[d] as f64)).sum();
    assert!((closed as f64 - by_hand).abs() < 1e-5);
}

#[test]
fn kl_gradients_are_the_analytic_ones() {
    let device = Device::flex().autodiff();
    let mu = t2(vec![0.5, -1.0], [1, 2], &device).require_grad();
    let log_var = t2(vec![-0.7, 0.3], [1, 2], &device).require_grad();
    let grads = kl_to_standard_normal(mu.clone(), log_var.clone()).sum().backward();
    let g_mu = mu.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    let g_lv = log_var.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    // ∂KL/∂μ = μ,  ∂KL/∂log σ² = ½ (σ² − 1)
    assert!((g_mu[0] - 0.5).abs() < 1e-6 && (g_mu[1] + 1.0).abs() < 1e-6, "{g_mu:?}");
    for (g, lv) in g_lv.iter().zip([-0.7f32, 0.3]) {
        assert!((g - 0.5 * (lv.exp() - 1.0)).abs() < 1e-6, "{g_lv:?}");
    }
}

#[test]
fn bernoulli_nll_is_the_cross_entropy_and_stays_finite() {
    let device = Device::flex().autodiff();
    let logits = vec![-3.0f32, -0.5, 0.0, 2.0];
    let x = vec![0.0f32, 1.0, 1.0, 0.0];
    let l = t2(logits.clone(), [1, 4], &device).require_grad();
    let nll = bernoulli_nll(l.clone(), t2(x.clone(), [1, 4], &device));
    let expected: f32 = logits
        .iter()
        .zip(&x)
        .map(|(&l, &x)| {
            let p = 1.0 / (1.0 + (-l).exp());
            -(x * p.ln() + (1.0 - x) * (1.0 - p).ln())
        })
        .sum();
    let grads = nll.clone().sum().backward();
    assert!((vec1(nll)[0] - expected).abs() < 1e-5);
    // ∂/∂logit = sigmoid(l) − x
    let g = l.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    for ((g, &l), &x) in g.iter().zip(&logits).zip(&x) {
        assert!((g - (1.0 / (1.0 + (-l).exp()) - x)).abs() < 1e-5);
    }
    // Confident and wrong is large but finite; confident and right is ~0.
    let extreme = vec1(bernoulli_nll(t2(vec![100.0, -100.0], [1, 2], &device), t2(vec![0.0, 0.0], [1, 2], &device)))[0];
    assert!((extreme - 100.0).abs() < 1e-3, "{extreme}");
}

fn trainer(config: VaeConfig, steps: usize) -> Trainer<VaeTrainer> {
    let device = Device::flex().autodiff();
    let data = Arc::new(Mnist::fixture());
    let mut t =
        Trainer::new(seeded(&device, 5, || VaeTrainer::new(config, &device)), Settings { batch_size: 64, lr: 1e-3, seed: 5, lr_decay: 1.0 }, data, device);
    t.run_blocking(steps).unwrap();
    t
}

#[test]
fn training_on_the_fixture_lowers_the_negative_elbo() {
    let t = trainer(VaeConfig::vae(8), 300);
    let h = &t.history;
    let first = h.train[..10].iter().map(|p| p.values[0]).sum::<f32>() / 10.0;
    let last = h.train[h.train.len() - 10..].iter().map(|p| p.values[0]).sum::<f32>() / 10.0;
    assert!(first > 400.0, "an untrained decoder is near 784·log 2 ≈ 543 nats, got {first}");
    assert!(last < 0.6 * first, "−ELBO went from {first} to {last}");
    // The KL is in use: the code carries information about the digit.
    let p = h.train.last().unwrap();
    assert!(p.values[2] > 1.0, "KL {}", p.values[2]);
    // Held-out digits were evaluated on the way.
    assert!(!h.test.is_empty());
}

#[test]
fn autoencoder_has_no_kl_term() {
    let t = trainer(VaeConfig::autoencoder(8), 20);
    assert!(t.history.train.iter().all(|p| p.values[2] == 0.0));
    assert!(!t.model.model.is_variational());
    let vae_params = VaeConfig::vae(8).init(&Device::flex()).num_params();
    assert_eq!(t.model.model.num_params(), vae_params - (400 * 8 + 8), "no log σ² head");
}

use genlab::models::vae::iwae_bound;

/// A VAE trained briefly on the fixture, and 16 binarized fixture digits.
fn trained_vae_and_digits() -> (genlab::models::vae::Vae, Tensor<2>) {
    let t = trainer(VaeConfig::vae(4), 150);
    let device = Device::flex();
    let mut rng = Rng::new(9);
    let x = genlab::data::binarize(&Mnist::fixture().test.intensities(&(0..16).collect::<Vec<_>>()), &mut rng);
    (t.model.model.valid(), t2(x, [16, 784], &device))
}

/// Mean over images of the importance-weighted bound with k samples, averaged over `reps` draws.
fn mean_bound(model: &genlab::models::vae::Vae, x: &Tensor<2>, k: usize, reps: usize, rng: &mut Rng) -> f32 {
    let n = x.dims()[0];
    let mut total = 0.0;
    for _ in 0..reps {
        let eps = t2(rng.normals(n * k * 4), [n * k, 4], &x.device());
        total += vec1(iwae_bound(model.log_importance_weights(x.clone(), eps, k))).iter().sum::<f32>() / n as f32;
    }
    total / reps as f32
}

#[test]
fn importance_weighted_bound_at_k1_is_the_elbo_in_expectation() {
    let (model, x) = trained_vae_and_digits();
    let mut rng = Rng::new(21);
    let reps = 400;
    let k1 = mean_bound(&model, &x, 1, reps, &mut rng);
    let mut elbo = 0.0;
    for _ in 0..reps {
        let eps = t2(rng.normals(16 * 4), [16, 4], &x.device());
        let terms = model.elbo_terms(x.clone(), eps);
        elbo -= vec1(terms.reconstruction + terms.kl).iter().sum::<f32>() / 16.0 / reps as f32;
    }
    // Same expectation; the k = 1 estimate samples the KL instead of using its closed form.
    assert!((k1 - elbo).abs() < 1.0, "E[bound k=1] {k1} vs ELBO {elbo}");
}

#[test]
fn the_iwae_bound_is_the_log_of_the_mean_weight() {
    // log (1/k) Σ w: k equal weights e^c give c whatever k (a missing − log k adds log k);
    // weights 1 and 3 give log 2, also far below exp's range (the max is taken out first).
    let device = Device::flex();
    for k in [1usize, 5, 50] {
        let bound = vec1(iwae_bound(t2(vec![-3.25; k], [1, k], &device)))[0];
        assert!((bound + 3.25).abs() < 1e-5, "k {k}: {bound}");
    }
    for offset in [0.0f32, -1000.0] {
        let bound = vec1(iwae_bound(t2(vec![offset, offset + 3f32.ln()], [1, 2], &device)))[0];
        assert!((bound - offset - 2f32.ln()).abs() < 2e-4, "offset {offset}: {bound}");
    }
}

#[test]
fn importance_weighted_bound_does_not_decrease_with_k() {
    let (model, x) = trained_vae_and_digits();
    let mut rng = Rng::new(22);
    let b1 = mean_bound(&model, &x, 1, 50, &mut rng);
    let b5 = mean_bound(&model, &x, 5, 30, &mut rng);
    let b50 = mean_bound(&model, &x, 50, 6, &mut rng);
    assert!(b1 < b5 && b5 < b50, "bounds k=1 {b1}, k=5 {b5}, k=50 {b50} should rise");
    assert!(b50 - b1 < 50.0, "a tighter bound, not a different quantity: {b1} → {b50}");
}

use genlab::models::vae::manifold_latents;
use genlab::rng::normal_quantile;

#[test]
fn normal_quantiles_match_known_values() {
    for (p, z) in [(0.5, 0.0), (0.975, 1.959963985), (0.05, -1.644853627), (1.0 / 30.0, -1.833914636), (1e-6, -4.753424309)] {
        assert!((normal_quantile(p) - z).abs() < 1e-6, "Φ⁻¹({p}) = {} not {z}", normal_quantile(p));
    }
}

#[test]
fn manifold_grid_sits_at_the_quantiles() {
    let z = manifold_latents(15, 4, (1, 3));
    assert_eq!(z.len(), 15 * 15 * 4);
    let q = |i: f64| normal_quantile((i + 0.5) / 15.0) as f32;
    // Top-left: smallest z_a, largest z_b; the middle is the origin; unchosen dimensions stay 0.
    assert!((z[1] - q(0.0)).abs() < 1e-6 && (z[3] - q(14.0)).abs() < 1e-6);
    let centre = (7 * 15 + 7) * 4;
    assert!(z[centre + 1].abs() < 1e-6 && z[centre + 3].abs() < 1e-6);
    assert!(z.chunks(4).all(|p| p[0] == 0.0 && p[2] == 0.0));
    // Column index moves z_a, row index moves z_b (downwards decreasing).
    assert!((z[4 + 1] - q(1.0)).abs() < 1e-6);
    assert!((z[15 * 4 + 3] - q(13.0)).abs() < 1e-6);
}

#[test]
fn weights_round_trip_and_bad_files_are_named() {
    let device = Device::flex();
    let config = VaeConfig::vae(2);
    let model = config.init(&device);
    let z = t2(vec![0.3, -1.2], [1, 2], &device);
    let before = model.decode(z.clone()).into_data();
    let bytes = model.into_record().into_bytes().unwrap().to_vec();
    let loaded = config.load(&device, bytes.clone()).unwrap();
    assert_eq!(loaded.decode(z).into_data(), before);

    let damaged = config.load(&device, bytes[..bytes.len() / 2].to_vec()).unwrap_err();
    assert!(damaged.contains("damaged"), "{damaged}");
    let garbage = config.load(&device, b"<html>not found</html>".to_vec()).unwrap_err();
    assert!(garbage.contains("damaged"), "{garbage}");
    let wrong_size = VaeConfig::vae(20).load(&device, bytes.clone()).unwrap_err();
    assert!(wrong_size.contains("do not fit a VAE with latent size 20"), "{wrong_size}");
    let wrong_kind = VaeConfig::autoencoder(2).load(&device, bytes).unwrap_err();
    assert!(wrong_kind.contains("do not fit an autoencoder"), "{wrong_kind}");
}

/// The shipped VAE-lab files are half precision (half the bytes the page fetches as it opens):
/// a trained VAE read back from one decodes the same pictures to within f16's rounding and has
/// the same bound on the fixture to within 0.05 nats; a cut file is refused by name.
#[test]
fn half_precision_weights_keep_the_vaes_pictures_and_bound() {
    use genlab::models::vae::evaluate_split;
    let device = Device::flex();
    let config = VaeConfig::vae(4);
    let model = trainer(config.clone(), 150).model.model.valid();
    let half = genlab::train::half_bytes(&model).unwrap();
    let full = model.clone().into_record().into_bytes().unwrap().to_vec();
    assert!(half.len() * 2 < full.len() + 1000, "{} bytes in half precision, {} in full", half.len(), full.len());
    let loaded = config.load(&device, half.clone()).unwrap();
    let z = t2(Rng::new(4).normals(8 * 4), [8, 4], &device);
    let (a, b) = (vec1(model.decode_probs(z.clone()).reshape([8 * 784])), vec1(loaded.decode_probs(z).reshape([8 * 784])));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst > 0.0 && worst < 2e-3, "decoded pixels moved by {worst}");
    let data = Mnist::fixture();
    let (e_full, _) = evaluate_split(&model, &data.test, 0, &mut Rng::new(3), &device);
    let (e_half, _) = evaluate_split(&loaded, &data.test, 0, &mut Rng::new(3), &device);
    assert!((e_full - e_half).abs() < 0.05, "−ELBO {e_full:.3} in full precision, {e_half:.3} in half");
    let cut = config.load(&device, half[..half.len() - 7].to_vec()).unwrap_err();
    assert!(cut.contains("cut short"), "{cut}");
    let wrong = VaeConfig::vae(20).load(&device, half).unwrap_err();
    assert!(wrong.contains("do not fit a VAE with latent size 20"), "{wrong}");
}

/// A Burda-style network (two tanh layers; with `two_layers` a second stochastic layer) trained
/// briefly on the fixture with the IWAE objective, and 16 binarized fixture digits.
fn trained_burda(two_layers: bool) -> (genlab::models::vae::Vae, Tensor<2>) {
    let config = VaeConfig { k: 3, latent: 8, hidden: 64, top: two_layers.then_some((32, 4)), ..VaeConfig::burda(two_layers) };
    let t = trainer(config, 100);
    assert!(t.history.train.iter().all(|p| p.values.iter().all(|v| v.is_finite())));
    let mut rng = Rng::new(9);
    let x = genlab::data::binarize(&Mnist::fixture().test.intensities(&(0..16).collect::<Vec<_>>()), &mut rng);
    (t.model.model.valid(), t2(x, [16, 784], &Device::flex()))
}

fn mean_bound_of(model: &genlab::models::vae::Vae, x: &Tensor<2>, k: usize, reps: usize, rng: &mut Rng) -> f64 {
    let (n, d) = (x.dims()[0], model.noise_size());
    let mut total = 0.0;
    for _ in 0..reps {
        let eps = t2(rng.normals(n * k * d), [n * k, d], &x.device());
        total += vec1(iwae_bound(model.log_importance_weights(x.clone(), eps, k))).iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    }
    total / reps as f64
}

/// At k = 1 the bound is log p(x|z) + log p(z) − log q(z|x) at the one sample: computed here by
/// hand from the encoder's μ, σ and the decoder's logits.
#[test]
fn the_iwae_bound_at_k1_is_the_single_sample_elbo() {
    let (model, x) = trained_burda(false);
    let d = model.latent();
    let eps_values = Rng::new(31).normals(16 * d);
    let eps = t2(eps_values.clone(), [16, d], &x.device());
    let bound = vec1(iwae_bound(model.log_importance_weights(x.clone(), eps, 1)));
    let post = model.encode(x.clone());
    let mu: Vec<f32> = post.mu.into_data().iter::<f32>().collect();
    let log_var: Vec<f32> = post.log_var.unwrap().into_data().iter::<f32>().collect();
    let z: Vec<f32> = (0..16 * d).map(|i| mu[i] + (0.5 * log_var[i]).exp() * eps_values[i]).collect();
    let logits: Vec<f32> = model.decode(t2(z.clone(), [16, d], &x.device())).into_data().iter::<f32>().collect();
    let pixels: Vec<f32> = x.clone().into_data().iter::<f32>().collect();
    let half_log_2pi = 0.5 * std::f64::consts::TAU.ln();
    for n in 0..16 {
        let log_px: f64 = (0..784)
            .map(|i| {
                let (l, v) = (logits[n * 784 + i] as f64, pixels[n * 784 + i] as f64);
                v * -(1.0 + (-l).exp()).ln() + (1.0 - v) * -(1.0 + l.exp()).ln()
            })
            .sum();
        let log_pz: f64 = (0..d).map(|j| -0.5 * (z[n * d + j] as f64).powi(2) - half_log_2pi).sum();
        let log_qz: f64 = (0..d).map(|j| -0.5 * (eps_values[n * d + j] as f64).powi(2) - 0.5 * log_var[n * d + j] as f64 - half_log_2pi).sum();
        let want = log_px + log_pz - log_qz;
        assert!((bound[n] as f64 - want).abs() < 1e-3 * want.abs(), "digit {n}: bound {} vs by hand {want}", bound[n]);
    }
}

/// The bound tightens with k for both Burda networks: 1 → 5 → 50.
#[test]
fn both_burda_networks_tighten_from_k1_to_k5_to_k50() {
    for two_layers in [false, true] {
        let (model, x) = trained_burda(two_layers);
        let mut rng = Rng::new(23);
        let b1 = mean_bound_of(&model, &x, 1, 40, &mut rng);
        let b5 = mean_bound_of(&model, &x, 5, 20, &mut rng);
        let b50 = mean_bound_of(&model, &x, 50, 4, &mut rng);
        assert!(b1 < b5 && b5 < b50, "two layers {two_layers}: k=1 {b1}, k=5 {b5}, k=50 {b50}");
    }
}

/// Two stochastic layers: the KL of `elbo_terms` uses the closed form for KL(q(z2|z1) ‖ N(0, I)).
/// For the same noise it differs from the sampled log q(z2|z1) − log p(z2) inside −log w, but
/// not on average: over many draws the two KL estimates agree.
#[test]
fn two_layer_kl_closed_form_matches_monte_carlo() {
    let (model, x) = trained_burda(true);
    let x = x.slice([0..4, 0..784]);
    let d = model.noise_size();
    let mut rng = Rng::new(41);
    let draws = 4000;
    let (mut closed, mut diffs) = (0.0f64, Vec::new());
    for _ in 0..draws / 100 {
        // 100 draws for each of the 4 digits at once, digit-major like the bound's noise.
        let eps = t2(rng.normals(4 * 100 * d), [4 * 100, d], &x.device());
        let xs = x.clone().unsqueeze_dim::<3>(1).repeat_dim(1, 100).reshape([400, 784]);
        let terms = model.elbo_terms(xs, eps.clone());
        let log_w = vec1(model.log_importance_weights(x.clone(), eps, 100).reshape([400]));
        let (rec, kl) = (vec1(terms.reconstruction), vec1(terms.kl));
        for i in 0..400 {
            closed += kl[i] as f64;
            // closed-form KL term minus the sampled one, same draw
            diffs.push(kl[i] as f64 - (-(log_w[i] as f64) - rec[i] as f64));
        }
    }
    let n = diffs.len() as f64;
    let closed = closed / n;
    let mean = diffs.iter().sum::<f64>() / n;
    let stderr = (diffs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    // The top layer's own KL, for scale: a wrong closed form (a missing −1 per dimension, a
    // factor of 2) would move the mean by a good part of it.
    assert!(closed > 0.3, "the KL is in use: {closed}");
    assert!(diffs.iter().any(|v| v.abs() > 1e-3), "the two estimates differ draw by draw");
    assert!(mean.abs() < 4.0 * stderr && stderr < 0.05 * closed, "closed form − Monte Carlo: {mean} ± {stderr} (KL {closed})");
}

#[test]
fn kl_warm_up_raises_beta_linearly_then_holds() {
    let device = Device::flex().autodiff();
    let mut vae = VaeTrainer::new(VaeConfig { beta: 0.8, ..VaeConfig::vae(4) }, &device);
    vae.warmup_steps = 10;
    let x = t2(vec![0.0; 2 * 784], [2, 784], &device);
    let mut betas = Vec::new();
    for _ in 0..14 {
        betas.push(vae.beta_now());
        genlab::train::Trainable::step(&mut vae, x.clone(), 1e-3);
    }
    let want: Vec<f32> = (0..14).map(|s| 0.8 * (s as f32 / 10.0).min(1.0)).collect();
    for (got, want) in betas.iter().zip(&want) {
        assert!((got - want).abs() < 1e-6, "β schedule {betas:?} vs {want:?}");
    }
}

#[test]
fn burda_schedule_stages_run_three_to_the_i_epochs() {
    use genlab::models::vae::{burda_lr, burda_stage};
    let stages: Vec<usize> = (1..=14).map(burda_stage).collect();
    assert_eq!(stages, vec![0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]);
    assert_eq!(burda_stage(3280), 7, "3^0 + … + 3^7 = 3280 epochs in all");
    assert_eq!(burda_stage(3281), 8);
    assert!((burda_lr(7) - 1e-4).abs() < 1e-12 && (burda_lr(0) - 1e-3).abs() < 1e-15);
}

/// Training 2·n steps equals n, a checkpoint, and n more in a fresh trainer: weights, Adam, the
/// warm-up clock and the noise stream carry over (two stochastic layers, IWAE k = 3).
#[test]
fn resuming_a_vae_from_a_checkpoint_continues_exactly() {
    let config = VaeConfig { k: 3, latent: 6, hidden: 32, top: Some((16, 3)), ..VaeConfig::burda(true) };
    let make = |seed: u64| {
        let device = Device::flex().autodiff();
        let mut vae = seeded(&device, seed, || VaeTrainer::new(config.clone(), &device)).with_adam_epsilon(1e-4);
        vae.warmup_steps = 30;
        Trainer::new(vae, Settings { batch_size: 16, lr: 1e-3, seed: 4, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device)
    };
    let weights = |t: &Trainer<VaeTrainer>| -> Vec<Vec<f32>> { genlab::train::Trainable::tensors(&t.model).into_iter().map(vec1).collect() };
    let n = 20;
    let mut unbroken = make(1);
    unbroken.run_blocking(2 * n).unwrap();
    let mut first = make(1);
    first.run_blocking(n).unwrap();
    let bytes = first.checkpoint(&serde_json::Value::Null).unwrap();
    let mut resumed = make(2);
    resumed.resume(&bytes).unwrap();
    assert_eq!(resumed.model.steps, n as u64);
    resumed.run_blocking(n).unwrap();
    assert_eq!(weights(&resumed), weights(&unbroken), "resumed training drifted from the unbroken run");
}

/// The shipped VAE weights load into the page's configurations and model held-out digits as
/// well as the README says: on the fixture's 128 test digits (held out from training) they give
/// −ELBO 95.1 (latent 20) and 89.8 (Burda's network); the bars leave 3 nats for the binarization,
/// an untrained network sits near 550.
#[test]
fn pretrained_vaes_model_test_digits() {
    use genlab::models::vae::evaluate_split;
    let device = Device::flex();
    let data = Mnist::fixture();
    for (path, config, bar) in [("pretrained/vae-z20.bpk", VaeConfig::vae(20), 98.0), ("pretrained/vae-burda1.bpk", VaeConfig::burda(false), 93.0)] {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let model = config.load(&device, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (elbo, bound) = evaluate_split(&model, &data.test, 50, &mut Rng::new(3), &device);
        let bound = bound.unwrap();
        assert!(elbo < bar, "{path}: test −ELBO {elbo:.2} nats");
        assert!(bound < elbo, "{path}: the k = 50 bound {bound:.2} should be tighter than the ELBO {elbo:.2}");
        let (untrained, _) = evaluate_split(&config.init(&device), &data.test, 0, &mut Rng::new(3), &device);
        assert!(untrained > 300.0, "the bar is meaningful: untrained {untrained:.2} nats");
    }
}

/// The shipped adversarial autoencoder's codes of the fixture's test digits sit on the prior
/// (the shipped plain autoencoder's do not), and it reconstructs them (README: 158.0 nats and
/// moment distance 0.46 on all 10k test digits).
#[test]
fn the_pretrained_adversarial_autoencoder_codes_match_the_prior() {
    use genlab::models::vae::{evaluate_split, prior_moment_distance};
    let device = Device::flex();
    let data = Mnist::fixture();
    let test = genlab::data::DeviceSplit::new(&data.test, &device);
    let mut distances = Vec::new();
    for (path, config) in [("pretrained/aae-z2.bpk", VaeConfig::adversarial(2)), ("pretrained/ae-z2.bpk", VaeConfig::autoencoder(2))] {
        let model = config.load(&device, std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
        distances.push(prior_moment_distance(&vec1(model.encode(test.first(128)).mu.flatten(0, 1)), 2));
        let (reconstruction, _) = evaluate_split(&model, &data.test, 0, &mut Rng::new(3), &device);
        assert!(reconstruction < 175.0, "{path}: reconstruction {reconstruction:.2} nats");
    }
    assert!(distances[0] < 1.5 && distances[1] > 100.0, "distance from N(0, I): adversarial {}, plain {}", distances[0], distances[1]);
}

/// The manifold's default dimensions: the units whose posterior mean varies most over digits.
#[test]
fn the_most_active_units_are_the_ones_whose_mean_varies() {
    use genlab::models::vae::{most_active_pair, unit_activity};
    // Four digits, five units: unit 3 varies most, unit 1 next, units 0 and 4 are off.
    let codes = [
        [0.0, 0.5, 0.1, 2.0, 0.0], //
        [0.0, -0.5, 0.1, -2.0, 0.0],
        [0.0, 0.5, -0.1, 2.0, 0.0],
        [0.0, -0.5, -0.1, -2.0, 0.0],
    ];
    let flat: Vec<f32> = codes.iter().flatten().copied().collect();
    let activity = unit_activity(&flat, 5);
    let expected = [0.0, 0.25, 0.01, 4.0, 0.0];
    assert!(activity.iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-6), "{activity:?}");
    assert_eq!(most_active_pair(&activity), (1, 3));
    assert_eq!(most_active_pair(&[0.0, 0.0]), (0, 1));
}

/// The codes of the fixture's test digits under a trained model.
fn test_codes(t: &Trainer<VaeTrainer>) -> Vec<f32> {
    let model = t.model.model.valid();
    let data = Mnist::fixture();
    let test = genlab::data::DeviceSplit::new(&data.test, &Device::flex());
    vec1(model.encode(test.first(128)).mu.flatten(0, 1))
}

/// Makhzani et al.'s point: the same autoencoder, trained alike, has codes far from N(0, I);
/// with the discriminator on z the codes of held-out digits come to match the prior's moments,
/// while the reconstruction still falls.
#[test]
fn the_adversarial_autoencoder_pulls_its_codes_to_the_prior() {
    let plain = trainer(VaeConfig::autoencoder(2), 400);
    // The game at the reconstruction's rate, so that 400 steps on the fixture show it.
    let device = Device::flex().autodiff();
    let mut aae = seeded(&device, 5, || VaeTrainer::new(VaeConfig::adversarial(2), &device));
    aae.adversarial_lr = 1.0;
    let mut adversarial = Trainer::new(aae, Settings { batch_size: 64, lr: 1e-3, seed: 5, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device);
    adversarial.run_blocking(400).unwrap();
    assert_eq!(adversarial.history.names, ["reconstruction + adversarial", "reconstruction", "adversarial −log D(z)"]);
    let (d_plain, d_adversarial) =
        (genlab::models::vae::prior_moment_distance(&test_codes(&plain), 2), genlab::models::vae::prior_moment_distance(&test_codes(&adversarial), 2));
    // (Measured: 119.5 and 0.80; 0.6–1.1 from 200 to 1600 steps.)
    assert!(d_adversarial < 1.5 && d_adversarial < d_plain / 20.0, "distance from N(0, I): autoencoder {d_plain}, adversarial {d_adversarial}");
    let h = &adversarial.history.train;
    let (first, last) = (&h[0].values, &h[h.len() - 1].values);
    assert!(last[1] < 0.6 * first[1], "reconstruction {} → {}", first[1], last[1]);
    // The adversarial term is the log-loss of a live game: neither side wins outright.
    assert!(last[2] > 0.1 && last[2] < 5.0, "{last:?}");
}

/// The adversarial autoencoder's two adversarial losses against the hand formulas on a tiny
/// batch: D's −log D(z) − log(1 − D(E(x))) with prior samples as the real data, and the
/// encoder's −log D(E(x)).
#[test]
fn the_adversarial_losses_are_the_hand_formulas() {
    use genlab::models::vae::{fooling_loss, prior_critic_loss};
    let device = Device::flex();
    let model = seeded(&device, 3, || VaeConfig::adversarial(2).init(&device));
    let critic = model.prior_critic().expect("an adversarial autoencoder has D");
    let test = genlab::data::DeviceSplit::new(&Mnist::fixture().test, &device);
    let codes = model.encode(test.first(4)).mu;
    let prior = Tensor::<2>::from_data(burn::tensor::TensorData::new(Rng::new(4).normals(8), [4, 2]), &device);
    let (on_prior, on_codes) = (vec1(critic.forward(prior.clone())), vec1(critic.forward(codes.clone())));
    let d = |logit: f32| 1.0 / (1.0 + (-(logit as f64)).exp());
    let d_loss = vec1(prior_critic_loss(critic, prior.clone(), codes.clone()));
    let fooling = vec1(fooling_loss(critic, codes.clone()));
    for i in 0..4 {
        let want_d = -d(on_prior[i]).ln() - (1.0 - d(on_codes[i])).ln();
        let want_fooling = -d(on_codes[i]).ln();
        assert!((d_loss[i] as f64 - want_d).abs() < 1e-5 * want_d.max(1.0), "D's loss {} vs {want_d}", d_loss[i]);
        assert!((fooling[i] as f64 - want_fooling).abs() < 1e-5 * want_fooling.max(1.0), "encoder's loss {} vs {want_fooling}", fooling[i]);
    }
    // The labels matter: with prior and codes swapped D's loss is another number.
    let swapped = vec1(prior_critic_loss(critic, codes, prior));
    assert!(swapped.iter().zip(&d_loss).any(|(a, b)| (a - b).abs() > 1e-3), "{swapped:?} vs {d_loss:?}");
}

#[test]
fn an_adversarial_autoencoder_resumes_exactly_with_its_discriminator() {
    let config = VaeConfig { hidden: 32, ..VaeConfig::adversarial(2) };
    let make = |seed: u64| {
        let device = Device::flex().autodiff();
        let vae = seeded(&device, seed, || VaeTrainer::new(config.clone(), &device));
        Trainer::new(vae, Settings { batch_size: 16, lr: 1e-3, seed: 4, lr_decay: 1.0 }, Arc::new(Mnist::fixture()), device)
    };
    let weights = |t: &Trainer<VaeTrainer>| -> Vec<Vec<f32>> { genlab::train::Trainable::tensors(&t.model).into_iter().map(vec1).collect() };
    let mut unbroken = make(1);
    unbroken.run_blocking(20).unwrap();
    let mut first = make(1);
    first.run_blocking(10).unwrap();
    let bytes = first.checkpoint(&serde_json::Value::Null).unwrap();
    let mut resumed = make(2);
    resumed.resume(&bytes).unwrap();
    resumed.run_blocking(10).unwrap();
    assert_eq!(weights(&resumed), weights(&unbroken), "resumed training drifted from the unbroken run");
    assert!(VaeConfig { variational: true, ..VaeConfig::adversarial(2) }.check().unwrap_err().contains("not variational"));
    // An autoencoder's file lacks the discriminator: a named refusal.
    let ae = genlab::train::Trainable::weights(&trainer(VaeConfig::autoencoder(2), 1).model).unwrap();
    let err = VaeConfig::adversarial(2).load(&Device::flex(), ae).unwrap_err();
    assert!(err.contains("adversarial autoencoder"), "{err}");
}
