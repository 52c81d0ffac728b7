//! The VAE's math: the KL term, the Bernoulli likelihood, their gradients, and training.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::data::Mnist;
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
    device.seed(5);
    let data = Arc::new(Mnist::fixture());
    let mut t = Trainer::new(VaeTrainer::new(config, &device), Settings { batch_size: 64, lr: 1e-3, seed: 5, lr_decay: 1.0 }, data, device);
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
    // −ELBO = reconstruction + KL, and the KL is in use.
    let p = h.train.last().unwrap();
    assert!((p.values[0] - p.values[1] - p.values[2]).abs() < 1e-2);
    assert!(p.values[2] > 1.0);
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
fn importance_weighted_bound_does_not_decrease_with_k() {
    let (model, x) = trained_vae_and_digits();
    let mut rng = Rng::new(22);
    let b1 = mean_bound(&model, &x, 1, 50, &mut rng);
    let b10 = mean_bound(&model, &x, 10, 20, &mut rng);
    let b100 = mean_bound(&model, &x, 100, 5, &mut rng);
    assert!(b1 < b10 && b10 < b100, "bounds k=1 {b1}, k=10 {b10}, k=100 {b100} should rise");
    assert!(b100 - b1 < 50.0, "a tighter bound, not a different quantity: {b1} → {b100}");
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
