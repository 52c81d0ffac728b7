//! Browser tests (wasm-pack test --headless --chrome): WebGPU against the CPU on the same
//! training step, and the page's objects drawing real pictures.
#![cfg(target_arch = "wasm32")]

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS, binarize};
use genlab::models::vae::{VaeConfig, VaeTrainer};
use genlab::rng::Rng;
use genlab::web::App;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

wasm_bindgen_test_configure!(run_in_browser);

async fn read(t: Tensor<2>) -> Vec<f32> {
    t.into_data_async().await.unwrap().try_into_vec::<f32>().unwrap()
}

thread_local! {
    /// The WebGPU runtime starts once per page; tests share its device.
    static GPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

async fn webgpu() -> Device {
    genlab::web::run_constructors();
    if let Some(device) = GPU.with(|g| g.borrow().clone()) {
        return device;
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .expect("the test browser must offer WebGPU (Chromium with --enable-unsafe-webgpu)");
    GPU.with(|g| *g.borrow_mut() = Some(device.clone()));
    device
}

/// One VAE training step (forward, backward, Adam update) on `device`, from identical
/// weights, batch and noise; returns the metrics and the decoder's output after the update.
async fn one_step(device: Device, weights: &[u8]) -> (Vec<f32>, Vec<f32>) {
    let device = device.autodiff();
    let config = VaeConfig::vae(20);
    let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights.to_vec())).unwrap();
    let model = config.init(&device).load_record(record);
    let mut trainer = VaeTrainer::from_model(config, model);
    let data = Mnist::fixture();
    let mut rng = Rng::new(3);
    let x = binarize(&data.train.intensities(&(0..32).collect::<Vec<_>>()), &mut rng);
    let eps = rng.normals(32 * 20);
    let x = Tensor::<2>::from_data(TensorData::new(x, [32, PIXELS]), &device);
    let eps = Tensor::<2>::from_data(TensorData::new(eps, [32, 20]), &device);
    let metrics = trainer.step_with_noise(x, eps, 1e-3);
    let metrics = read(metrics.unsqueeze()).await;
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(4).normals(4 * 20), [4, 20]), &device);
    let out = read(trainer.model.valid().decode(z.without_autodiff())).await;
    (metrics, out)
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_on_a_training_step() {
    genlab::web::run_constructors();
    let init = VaeConfig::vae(20).init(&Device::flex());
    let weights = init.into_record().into_bytes().unwrap().to_vec();
    let (cpu_metrics, cpu_out) = one_step(Device::flex(), &weights).await;
    let (gpu_metrics, gpu_out) = one_step(webgpu().await, &weights).await;
    // Tolerance: f32 sums over 784 pixels and 400 hidden units in different orders.
    // Metrics (≈ 550 nats) within 1e-3 relative; updated decoder logits within 2e-3 absolute.
    for (c, g) in cpu_metrics.iter().zip(&gpu_metrics) {
        assert!((c - g).abs() <= 1e-3 * c.abs().max(1.0), "metrics cpu {cpu_metrics:?} vs webgpu {gpu_metrics:?}");
    }
    let worst = cpu_out.iter().zip(&gpu_out).map(|(c, g)| (c - g).abs()).fold(0.0, f32::max);
    assert!(worst <= 2e-3, "decoder output after the update differs by {worst}");
    // The step did something: the output is not the untrained one.
    assert!(cpu_metrics[0] > 100.0 && cpu_metrics[2] >= 0.0);
}

fn canvas() -> HtmlCanvasElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let canvas: HtmlCanvasElement = document.create_element("canvas").unwrap().dyn_into().unwrap();
    document.body().unwrap().append_child(&canvas).unwrap();
    canvas
}

/// A canvas is blank when every pixel equals the first.
fn is_blank(canvas: &HtmlCanvasElement) -> bool {
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    let data = ctx.get_image_data(0.0, 0.0, canvas.width() as f64, canvas.height() as f64).unwrap().data().0;
    data.chunks(4).all(|p| p == &data[..4])
}

#[wasm_bindgen_test]
async fn data_view_draws_digits_and_bad_data_is_an_error_not_a_crash() {
    genlab::web::run_constructors();
    let app = App::start(Some("cpu".into())).await;
    assert_eq!(app.backend(), "cpu");
    let c = canvas();
    // Before data is loaded: an error, not a panic.
    assert!(app.draw_digits(&c, 16, 1).is_err());
    // Truncated and foreign bytes are refused with a message; the app still works after.
    let asset = include_bytes!("fixtures/mnist-fixture.bin.gz");
    assert!(app.load_mnist(&asset[..asset.len() / 3]).is_err());
    assert!(app.load_mnist(b"not an asset").is_err());
    app.load_mnist(asset).unwrap();
    app.draw_digits(&c, 16, 1).unwrap();
    assert!(!is_blank(&c));
    assert!(c.width() > 100);
}

#[wasm_bindgen_test]
async fn bad_backend_parameter_is_a_note() {
    genlab::web::run_constructors();
    let app = App::start(Some("quantum".into())).await;
    assert!(app.notes().iter().any(|n| n.contains("Unknown backend 'quantum'")), "{:?}", app.notes());
}

/// Trains a few steps on `backend`, then checks that every VAE view drew something.
async fn vae_views_draw(backend: genlab::device::Backend) {
    let app = App::with_backend(backend);
    app.load_fixture();
    let names = ["chart", "klChart", "reconstructions", "samples", "manifold", "scatter", "hover", "interpolation", "drawn"];
    let canvases = js_sys::Object::new();
    let made: Vec<HtmlCanvasElement> = names.iter().map(|_| canvas()).collect();
    for (name, c) in names.iter().zip(&made) {
        js_sys::Reflect::set(&canvases, &(*name).into(), c).unwrap();
    }
    let lab = app.vae_lab(canvases.into()).unwrap();
    lab.set_settings(32, 1e-3, 1.0).unwrap();
    for _ in 0..3 {
        lab.step().await.unwrap();
    }
    lab.draw().await.unwrap();
    lab.hover(100.0, 120.0).await.unwrap();
    let digit: Vec<f32> = Mnist::fixture().test.intensities(&[3]);
    lab.encode_drawing(digit).await.unwrap();
    for (name, c) in names.iter().zip(&made) {
        assert!(!is_blank(c), "the {name} view is blank");
    }
    let status = lab.status();
    let step = js_sys::Reflect::get(&status, &"step".into()).unwrap().as_f64().unwrap();
    assert_eq!(step, 3.0);
}

#[wasm_bindgen_test]
async fn vae_lab_trains_and_draws_every_view_on_cpu() {
    genlab::web::run_constructors();
    vae_views_draw(genlab::device::Backend::cpu(None)).await;
}

#[wasm_bindgen_test]
async fn vae_lab_trains_and_draws_every_view_on_webgpu() {
    let device = webgpu().await;
    vae_views_draw(genlab::device::Backend { device, is_gpu: true, label: "WebGPU".into(), note: None }).await;
}

/// One DCGAN round (a discriminator update, then a generator update) on `device` from identical
/// weights, real batch and noise; returns the metrics and G's output on fixed noise afterwards.
/// Exercises what the VAE does not: convolutions, transposed convolutions, BatchNorm.
async fn one_gan_round(device: Device, weights: &[u8]) -> (Vec<f32>, Vec<f32>) {
    use genlab::models::gan::{GanConfig, GanTrainer};
    let device = device.autodiff();
    let config = GanConfig::dcgan();
    let gan = config.load(&device, weights.to_vec()).unwrap();
    let mut trainer = GanTrainer::from_gan(config.clone(), gan);
    let data = Mnist::fixture();
    let real: Vec<f32> = data.train.intensities(&(0..32).collect::<Vec<_>>()).iter().map(|p| p * 2.0 - 1.0).collect();
    let real = Tensor::<2>::from_data(TensorData::new(real, [32, PIXELS]), &device);
    let noise = |seed| Tensor::<2>::from_data(TensorData::new(Rng::new(seed).normals(32 * 64), [32, 64]), &device);
    let d = trainer.d_update(real, noise(5));
    let g = trainer.g_update(noise(6), 2e-4);
    let metrics = read(Tensor::cat(vec![d, g], 0).unsqueeze()).await;
    let z = Tensor::<2>::from_data(TensorData::new(Rng::new(7).normals(4 * 64), [4, 64]), &device.clone().inner());
    let out = read(trainer.gan.generator.valid().forward(z)).await;
    (metrics, out)
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_on_a_gan_round() {
    genlab::web::run_constructors();
    let init = genlab::models::gan::GanConfig::dcgan().init(&Device::flex());
    let weights = init.into_record().into_bytes().unwrap().to_vec();
    let (cpu_metrics, cpu_out) = one_gan_round(Device::flex(), &weights).await;
    let (gpu_metrics, gpu_out) = one_gan_round(webgpu().await, &weights).await;
    for (c, g) in cpu_metrics.iter().zip(&gpu_metrics) {
        assert!((c - g).abs() <= 1e-3 * c.abs().max(1.0), "metrics cpu {cpu_metrics:?} vs webgpu {gpu_metrics:?}");
    }
    // Outputs are tanh values in (−1, 1).
    let worst = cpu_out.iter().zip(&gpu_out).map(|(c, g)| (c - g).abs()).fold(0.0, f32::max);
    assert!(worst <= 2e-3, "generator output after the update differs by {worst}");
    assert!(cpu_metrics.iter().all(|v| v.is_finite()) && cpu_out.iter().any(|v| v.abs() > 1e-3));
}

/// Trains a few steps on `backend`, with k = 1 then k = 2, then checks every GAN view drew.
async fn gan_views_draw(backend: genlab::device::Backend) {
    let app = App::with_backend(backend);
    app.load_fixture();
    let names = ["chart", "probChart", "samples", "lossCurves", "filmstrip", "interpolation", "pool", "arithmetic", "meter"];
    let canvases = js_sys::Object::new();
    let made: Vec<HtmlCanvasElement> = names.iter().map(|_| canvas()).collect();
    for (name, c) in names.iter().zip(&made) {
        js_sys::Reflect::set(&canvases, &(*name).into(), c).unwrap();
    }
    let lab = app.gan_lab(canvases.into()).unwrap();
    assert!(lab.load_classifier(vec![0; 100]).is_err(), "a damaged classifier file is refused");
    lab.load_classifier(include_bytes!("../pretrained/classifier.bpk").to_vec()).unwrap();
    lab.set_settings(32, 2e-4, 1.0).unwrap();
    assert!(lab.set_options(0, "non-saturating", 2e-4).await.is_err(), "k = 0 is refused");
    assert!(lab.set_options(1, "wasserstein", 2e-4).await.is_err(), "an unknown loss is refused");
    lab.step().await.unwrap();
    lab.set_options(2, "minimax", 2e-4).await.unwrap();
    lab.step().await.unwrap();
    // One sample into each group (pool cells are 64 canvas pixels apart).
    for (group, x) in [(0, 10.0), (1, 74.0), (2, 138.0)] {
        lab.pick(x, 10.0, group).await.unwrap();
    }
    lab.draw().await.unwrap();
    let measured = lab.measure().await.unwrap();
    let score = js_sys::Reflect::get(&measured, &"score".into()).unwrap().as_f64().unwrap();
    assert!((1.0..=10.0).contains(&score), "score {score}");
    for (name, c) in names.iter().zip(&made) {
        assert!(!is_blank(c), "the {name} view is blank");
    }
    let status = lab.status();
    let updates = js_sys::Reflect::get(&js_sys::Reflect::get(&status, &"model".into()).unwrap(), &"updates".into()).unwrap();
    let count = |k: &str| js_sys::Reflect::get(&updates, &k.into()).unwrap().as_f64().unwrap();
    assert_eq!((count("d"), count("g")), (3.0, 2.0), "k = 1 then k = 2: three D updates, two G updates");
    assert!(lab.reset("dcgan", false, Some(vec![1, 2, 3])).is_err(), "damaged weights are refused");
    assert!(lab.reset("pixelgan", false, None).is_err());
}

#[wasm_bindgen_test]
async fn gan_lab_trains_and_draws_every_view_on_cpu() {
    genlab::web::run_constructors();
    gan_views_draw(genlab::device::Backend::cpu(None)).await;
}

#[wasm_bindgen_test]
async fn gan_lab_trains_and_draws_every_view_on_webgpu() {
    let device = webgpu().await;
    gan_views_draw(genlab::device::Backend { device, is_gpu: true, label: "WebGPU".into(), note: None }).await;
}

/// PixelCNN logits (masked convolutions, gated stacks, shifts) on `device` from given weights.
async fn pixelcnn_logits(device: Device, config: &genlab::models::pixelcnn::PixelCnnConfig, weights: &[u8]) -> Vec<f32> {
    let model = config.load(&device, weights.to_vec()).unwrap();
    let x = binarize(&Mnist::fixture().test.intensities(&[0, 1]), &mut Rng::new(2));
    read(model.logits(Tensor::<2>::from_data(TensorData::new(x, [2, PIXELS]), &device))).await
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_on_pixelcnn_logits() {
    genlab::web::run_constructors();
    for config in [genlab::models::pixelcnn::PixelCnnConfig::plain(), genlab::models::pixelcnn::PixelCnnConfig::gated()] {
        let weights = config.init(&Device::flex()).into_record().into_bytes().unwrap().to_vec();
        let cpu = pixelcnn_logits(Device::flex(), &config, &weights).await;
        let gpu = pixelcnn_logits(webgpu().await, &config, &weights).await;
        let worst = cpu.iter().zip(&gpu).map(|(c, g)| (c - g).abs()).fold(0.0, f32::max);
        assert!(worst <= 1e-3, "{config:?}: logits differ by {worst}");
        assert!(cpu.iter().any(|v| v.abs() > 1e-3));
    }
}

/// Trains two steps, completes a fixture digit, and checks every PixelCNN view drew.
async fn pixelcnn_views_draw(backend: genlab::device::Backend) {
    let app = App::with_backend(backend);
    app.load_fixture();
    let names = ["chart", "completion", "samples", "nextPixel", "contributions", "fieldPlain", "fieldGated"];
    let canvases = js_sys::Object::new();
    let made: Vec<HtmlCanvasElement> = names.iter().map(|_| canvas()).collect();
    for (name, c) in names.iter().zip(&made) {
        js_sys::Reflect::set(&canvases, &(*name).into(), c).unwrap();
    }
    let lab = app.pixelcnn_lab(canvases.into()).unwrap();
    lab.set_settings(16, 1e-3, 1.0).unwrap();
    lab.step().await.unwrap();
    lab.step().await.unwrap();
    assert!(lab.use_test_digit(100_000).await.is_err(), "a missing test digit is refused");
    lab.use_test_digit(3).await.unwrap();
    assert!(lab.complete(26, 0, 1.0, 1.0).await.is_err(), "0 completions are refused");
    assert!(lab.complete(26, 2, f32::NAN, 1.0).await.is_err(), "a NaN temperature is refused");
    let done = lab.complete(26, 2, 1.0, 1.0).await.unwrap();
    let pixels = js_sys::Reflect::get(&done, &"pixels".into()).unwrap().as_f64().unwrap();
    assert_eq!(pixels, 56.0, "two rows of 28 pixels sampled");
    let counts = lab.receptive_field(10.0, 10.0, 28.0).await.unwrap();
    assert!(counts[0] > 0 && counts[1] > counts[0], "receptive fields {counts:?}");
    lab.draw().await.unwrap();
    for (name, c) in names.iter().zip(&made) {
        assert!(!is_blank(c), "the {name} view is blank");
    }
    assert!(lab.reset("plain", Some(vec![1, 2, 3])).is_err(), "damaged weights are refused");
}

#[wasm_bindgen_test]
async fn pixelcnn_lab_completes_a_digit_on_cpu() {
    genlab::web::run_constructors();
    pixelcnn_views_draw(genlab::device::Backend::cpu(None)).await;
}

#[wasm_bindgen_test]
async fn pixelcnn_lab_completes_a_digit_on_webgpu() {
    let device = webgpu().await;
    pixelcnn_views_draw(genlab::device::Backend { device, is_gpu: true, label: "WebGPU".into(), note: None }).await;
}
