//! Browser tests (wasm-pack test --headless --chrome), run in a dedicated Web Worker as the page
//! runs its models: WebGPU (the worker's own navigator.gpu) against the CPU on the same training
//! steps, and each lab, driven by the page's events, drawing real pictures.
#![cfg(target_arch = "wasm32")]
#[cfg(not(feature = "webgpu"))]
compile_error!("the browser tests compare WebGPU with the CPU: run them with `--features webgpu` (scripts/test.sh does)");

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::TensorData;
use genlab::data::{Mnist, PIXELS, binarize};
use genlab::device::seeded;
use genlab::models::vae::{VaeConfig, VaeTrainer};
use genlab::rng::Rng;
use genlab::web::App;
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{ImageBitmap, OffscreenCanvas, OffscreenCanvasRenderingContext2d};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

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
    let device = Device::wgpu_options().init_async().await.expect("the test browser must offer WebGPU (Chromium with --enable-unsafe-webgpu)");
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

/// MNIST on WebGPU (packed four pixels to a word, unpacked by integer shifts and masks): the
/// gathered intensities are the host's, the binarization follows the host's rule for the same
/// noise, and the trainer's batches are 0/1 draws that keep certain pixels certain.
#[wasm_bindgen_test]
async fn batches_gathered_on_webgpu_equal_the_hosts() {
    use genlab::data::{DeviceSplit, binarize_tensor, binarize_with};
    use genlab::train::{Pixels, prepare_tensor};
    let device = webgpu().await;
    let data = Mnist::fixture();
    let on_gpu = DeviceSplit::new(&data.train, &device);
    let indices = [511, 0, 7, 7, 300, 1, 42];
    let host = data.train.intensities(&indices);
    let gathered = read(on_gpu.intensities(&indices)).await;
    // WGSL's division may be 2.5 ulp off (below 1, an ulp is at most 6e-8).
    let worst = host.iter().zip(&gathered).map(|(h, g)| (h - g).abs()).fold(0.0, f32::max);
    assert!(worst <= 1.5e-7, "gathered intensities differ from the host's by {worst}");
    let mut rng = Rng::new(5);
    let noise: Vec<f32> = (0..host.len()).map(|_| rng.uniform()).collect();
    let expected = binarize_with(&gathered, &noise);
    let noise = Tensor::<2>::from_data(TensorData::new(noise, [indices.len(), PIXELS]), &device);
    assert_eq!(read(binarize_tensor(on_gpu.intensities(&indices), noise)).await, expected);
    let drawn = read(prepare_tensor(on_gpu.intensities(&indices), Pixels::Binarized, 1)).await;
    assert!(drawn.iter().zip(&host).all(|(&x, &p)| (x == 0.0 || x == 1.0) && (p != 0.0 || x == 0.0) && (p != 1.0 || x == 1.0)));
    assert!(drawn.iter().any(|&x| x == 1.0) && drawn.iter().any(|&x| x == 0.0));
}

/// A stand-in for the worker's postMessage: every message lands in the returned array.
fn collector() -> (js_sys::Function, js_sys::Array) {
    let posted = js_sys::Array::new();
    let push = js_sys::Function::new_with_args("posted, message", "posted.push(message)");
    (push.bind1(&JsValue::NULL, &posted).unchecked_into(), posted)
}

fn field(v: &JsValue, k: &str) -> JsValue {
    js_sys::Reflect::get(v, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The posted messages of one type, as (lab, name, message).
fn messages(posted: &js_sys::Array, kind: &str) -> Vec<(String, String, JsValue)> {
    posted
        .iter()
        .filter(|m| field(m, "type").as_string().as_deref() == Some(kind))
        .map(|m| (field(&m, "lab").as_string().unwrap_or_default(), field(&m, "name").as_string().unwrap_or_default(), m))
        .collect()
}

/// The last text a lab wrote to its info line `name`.
fn last_text(posted: &js_sys::Array, lab: &str, name: &str) -> String {
    let texts = messages(posted, "text");
    let last = texts.iter().rev().find(|(l, n, _)| l == lab && n == name).unwrap_or_else(|| panic!("no text '{name}' from {lab}"));
    field(&last.2, "text").as_string().unwrap()
}

/// Whether the last picture sent for `lab`'s canvas `name` has at least three colours: a grid
/// of digits that came out NaN or constant (black cells on the gap colour) has two;
/// black-and-white samples have three.
fn drawn(posted: &js_sys::Array, lab: &str, name: &str) -> bool {
    let views = messages(posted, "view");
    let Some((_, _, m)) = views.iter().rev().find(|(l, n, _)| l == lab && n == name) else { return false };
    let bitmap: ImageBitmap = field(m, "bitmap").dyn_into().unwrap();
    let (w, h) = (bitmap.width(), bitmap.height());
    let canvas = OffscreenCanvas::new(w, h).unwrap();
    let ctx: OffscreenCanvasRenderingContext2d = canvas.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    ctx.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).unwrap();
    let data = ctx.get_image_data(0.0, 0.0, w as f64, h as f64).unwrap().data().0;
    let mut colours = std::collections::HashSet::new();
    data.chunks(4).any(|p| {
        colours.insert(p);
        colours.len() >= 3
    })
}

/// What the page sends when a control of `lab` is used: its name, the inputs that differ from
/// their defaults, and for pointers and pads, where or what.
async fn send(app: &App, lab: &str, control: &str, extra: Value) -> Result<JsValue, String> {
    let mut event = json!({ "lab": lab, "control": control, "values": {} });
    if let (Some(e), Value::Object(extra)) = (event.as_object_mut(), extra) {
        e.extend(extra);
    }
    let event = serde::Serialize::serialize(&event, &serde_wasm_bindgen::Serializer::json_compatible()).unwrap();
    app.handle(event).await.map_err(|e| format!("{:?}", JsValue::from(e)))
}

async fn step_of(app: &App, lab: &str) -> f64 {
    field(&send(app, lab, "status", json!({})).await.unwrap(), "step").as_f64().unwrap()
}

#[wasm_bindgen_test]
async fn data_grid_is_drawn_and_bad_data_is_an_error_not_a_crash() {
    genlab::web::run_constructors();
    let (post, posted) = collector();
    let app = App::start(Some("cpu".into()), post).await;
    assert_eq!(field(&app.describe(), "backend").as_string().unwrap(), "cpu");
    // Before data is loaded: an error, not a panic.
    assert!(send(&app, "vae", "step", json!({})).await.unwrap_err().contains("no lab 'vae'"));
    // Truncated and foreign bytes are refused with a message; the app still works after.
    let asset = include_bytes!("fixtures/mnist-fixture.bin.gz");
    for bad in [&asset[..asset.len() / 3], b"not an asset".as_slice()] {
        let e = format!("{:?}", JsValue::from(app.open_asset(bad).await.unwrap_err()));
        assert!(e.contains("MNIST"), "{e}");
    }
    app.open_asset(asset).await.unwrap();
    assert!(drawn(&posted, "app", "digits"), "the MNIST grid is drawn");
    // Every lab described its section, and the page is told when all are open.
    let labs: Vec<String> = messages(&posted, "lab").iter().map(|(_, _, m)| field(&field(m, "spec"), "id").as_string().unwrap()).collect();
    assert_eq!(labs, ["vae", "gan", "pixelcnn"]);
    assert!(posted.iter().any(|m| field(&m, "type").as_string().as_deref() == Some("ready")));
    // An unknown control or a malformed event is an error message.
    assert!(send(&app, "vae", "warp", json!({})).await.unwrap_err().contains("no control 'warp'"));
    assert!(format!("{:?}", JsValue::from(app.handle(JsValue::from(3)).await.unwrap_err())).contains("a malformed event"));
}

#[wasm_bindgen_test]
async fn bad_backend_parameter_is_a_note() {
    genlab::web::run_constructors();
    let (post, _) = collector();
    let app = App::start(Some("quantum".into()), post).await;
    let notes = format!("{:?}", field(&app.describe(), "notes"));
    assert!(notes.contains("Unknown backend 'quantum'"), "{notes}");
}

/// Trains a few steps on `backend`, then checks that every VAE view drew something.
async fn vae_views_draw(backend: genlab::device::Backend) {
    let (post, posted) = collector();
    let app = App::with_backend(backend, post);
    app.open_fixture(Some("vae")).await;
    for _ in 0..3 {
        send(&app, "vae", "step", json!({ "values": { "batch": "32" } })).await.unwrap();
    }
    assert!(send(&app, "vae", "step", json!({ "values": { "lr": "-3" } })).await.unwrap_err().contains("learning rate -3 is not in (0, 1]"));
    send(&app, "vae", "draw", json!({})).await.unwrap();
    send(&app, "vae", "scatter", json!({ "x": 100.0, "y": 120.0 })).await.unwrap();
    assert!(last_text(&posted, "vae", "hover-z").starts_with("z = ("));
    let digit: Vec<f32> = Mnist::fixture().test.intensities(&[3]);
    send(&app, "vae", "pad", json!({ "pixels": digit })).await.unwrap();
    assert!(last_text(&posted, "vae", "drawn-info").contains("nats"));
    assert!(send(&app, "vae", "pad", json!({ "pixels": [0.5, 0.5] })).await.unwrap_err().contains("784"));
    for name in ["chart", "kl-chart", "reconstructions", "samples", "manifold", "scatter", "hover", "interpolation", "drawn"] {
        assert!(drawn(&posted, "vae", name), "the {name} view is blank");
    }
    assert_eq!(step_of(&app, "vae").await, 3.0);
    // The adversarial autoencoder: its three phases train in the lab, its curves are its own.
    let aae = json!({ "kind": "aae", "latent": "2", "from": "scratch", "batch": "32" });
    send(&app, "vae", "reset", json!({ "values": aae.clone() })).await.unwrap();
    send(&app, "vae", "step", json!({ "values": aae })).await.unwrap();
    let status = send(&app, "vae", "status", json!({})).await.unwrap();
    let names: Vec<String> = js_sys::Array::from(&field(&status, "names")).iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(names, ["reconstruction + adversarial", "reconstruction", "adversarial −log D(z)"]);
    let train: Vec<f64> = js_sys::Array::from(&field(&status, "train")).iter().filter_map(|v| v.as_f64()).collect();
    assert!(train.len() == 3 && train.iter().all(|v| v.is_finite()), "{train:?}");
}

#[wasm_bindgen_test]
async fn vae_lab_trains_and_draws_every_view_on_cpu() {
    genlab::web::run_constructors();
    vae_views_draw(genlab::device::Backend::cpu(None)).await;
}

fn gpu_backend(device: Device) -> genlab::device::Backend {
    genlab::device::Backend { device: device.clone(), is_gpu: true, label: "WebGPU".into(), note: None, gpu: Some(device), timing: String::new(), quick: false }
}

#[wasm_bindgen_test]
async fn vae_lab_trains_and_draws_every_view_on_webgpu() {
    let device = webgpu().await;
    vae_views_draw(gpu_backend(device)).await;
}

/// One DCGAN round (a discriminator update, then a generator update) on `device` from identical
/// weights, real batch and noise; returns the metrics and G's output on fixed noise afterwards.
/// Exercises what the VAE does not: convolutions, transposed convolutions, BatchNorm.
async fn one_gan_round(device: Device, weights: &[u8]) -> (Vec<f32>, Vec<f32>) {
    use genlab::models::gan::{GanConfig, GanTrainer};
    let device = device.autodiff();
    let config = GanConfig::dcgan();
    let (gan, _) = config.load(&device, weights.to_vec()).unwrap();
    let mut trainer = GanTrainer::from_gan(config.clone(), gan);
    let data = Mnist::fixture();
    let real: Vec<f32> = data.train.intensities(&(0..32).collect::<Vec<_>>()).iter().map(|p| p * 2.0 - 1.0).collect();
    let real = Tensor::<2>::from_data(TensorData::new(real, [32, PIXELS]), &device);
    let noise = |seed| Tensor::<2>::from_data(TensorData::new(Rng::new(seed).normals(32 * 64), [32, 64]), &device);
    let d = trainer.d_update(real.clone(), noise(5));
    let g = trainer.g_update(noise(6), real, 2e-4);
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
    let (post, posted) = collector();
    let app = App::with_backend(backend, post);
    app.open_fixture(Some("gan")).await;
    assert!(send(&app, "gan", "step", json!({ "values": { "k": "0" } })).await.unwrap_err().contains("k = 0"), "k = 0 is refused");
    assert!(send(&app, "gan", "loss", json!({ "values": { "loss": "hinge" } })).await.unwrap_err().contains("'hinge'"), "an unknown loss is refused");
    send(&app, "gan", "step", json!({ "values": { "batch": "32" } })).await.unwrap();
    send(&app, "gan", "step", json!({ "values": { "batch": "32", "k": "2", "loss": "minimax" } })).await.unwrap();
    // One sample into each group (pool cells are 64 canvas pixels apart).
    for (group, x) in [("0", 10.0), ("1", 74.0), ("2", 138.0)] {
        send(&app, "gan", "pool", json!({ "x": x, "y": 10.0, "values": { "group": group } })).await.unwrap();
    }
    assert_eq!(last_text(&posted, "gan", "groups"), "A 1 · B 1 · C 1");
    send(&app, "gan", "draw", json!({})).await.unwrap();
    // Scrubbing back to the first frame.
    send(&app, "gan", "scrub", json!({ "values": { "scrub": "0" } })).await.unwrap();
    assert!(last_text(&posted, "gan", "frame").starts_with("frame 1 of "));
    for name in ["chart", "prob-chart", "samples", "loss-curves", "filmstrip", "interpolation", "pool", "arithmetic"] {
        assert!(drawn(&posted, "gan", name), "the {name} view is blank");
    }
    let status = send(&app, "gan", "status", json!({})).await.unwrap();
    let updates = field(&field(&status, "model"), "updates");
    assert_eq!((field(&updates, "d").as_f64(), field(&updates, "g").as_f64()), (Some(3.0), Some(2.0)), "k = 1 then k = 2: three D updates, two G updates");
    assert!(send(&app, "gan", "reset", json!({ "values": { "arch": "pixelgan" } })).await.unwrap_err().contains("'pixelgan'"));
    // The Wasserstein game: a critic, its own curves, and a penalty or clipping between steps.
    let wgan = json!({ "game": "wasserstein", "mbstd": "false", "from": "scratch", "batch": "16", "k": "2" });
    send(&app, "gan", "reset", json!({ "values": wgan.clone() })).await.unwrap();
    send(&app, "gan", "step", json!({ "values": wgan.clone() })).await.unwrap();
    let mut clipping = wgan.clone();
    clipping["lipschitz"] = json!("clipping");
    send(&app, "gan", "step", json!({ "values": clipping })).await.unwrap();
    let status = send(&app, "gan", "status", json!({})).await.unwrap();
    let names: Vec<String> = js_sys::Array::from(&field(&status, "names")).iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(names, ["critic loss", "G loss", "W estimate", "‖∇critic‖"]);
    let train: Vec<f64> = js_sys::Array::from(&field(&status, "train")).iter().filter_map(|v| v.as_f64()).collect();
    assert!(train.len() == 4 && train.iter().all(|v| v.is_finite()), "{train:?}");
}

#[wasm_bindgen_test]
async fn gan_lab_trains_and_draws_every_view_on_cpu() {
    genlab::web::run_constructors();
    gan_views_draw(genlab::device::Backend::cpu(None)).await;
}

#[wasm_bindgen_test]
async fn gan_lab_trains_and_draws_every_view_on_webgpu() {
    let device = webgpu().await;
    gan_views_draw(gpu_backend(device)).await;
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
    let (post, posted) = collector();
    let app = App::with_backend(backend, post);
    app.open_fixture(Some("pixelcnn")).await;
    for _ in 0..2 {
        send(&app, "pixelcnn", "step", json!({ "values": { "batch": "16" } })).await.unwrap();
    }
    assert!(
        send(&app, "pixelcnn", "digit", json!({ "values": { "digit": "100000" } })).await.unwrap_err().contains("test digits are numbered 0 to"),
        "a missing test digit is refused"
    );
    send(&app, "pixelcnn", "digit", json!({ "values": { "digit": "3" } })).await.unwrap();
    assert!(send(&app, "pixelcnn", "complete", json!({ "values": { "n": "0" } })).await.unwrap_err().contains("0 completions"), "0 completions are refused");
    let e = send(&app, "pixelcnn", "complete", json!({ "values": { "temperature": "NaN" } })).await.unwrap_err();
    assert!(e.contains("temperature"), "a NaN temperature is refused: {e}");
    send(&app, "pixelcnn", "complete", json!({ "values": { "row": "26", "n": "2" } })).await.unwrap();
    assert!(last_text(&posted, "pixelcnn", "completion-info").starts_with("56 pixel steps"), "two rows of 28 pixels sampled");
    send(&app, "pixelcnn", "next", json!({ "x": 10.0, "y": 10.0 })).await.unwrap();
    let counts: Vec<usize> = last_text(&posted, "pixelcnn", "field-info").split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    assert!(counts[0] > 0 && counts[1] > counts[0], "receptive fields {counts:?}");
    send(&app, "pixelcnn", "draw", json!({})).await.unwrap();
    for name in ["chart", "completion", "samples", "next", "contributions", "field-plain", "field-gated"] {
        assert!(drawn(&posted, "pixelcnn", name), "the {name} view is blank");
    }
    assert!(send(&app, "pixelcnn", "reset", json!({ "values": { "variant": "wavenet" } })).await.unwrap_err().contains("'wavenet'"));

    // NADE and PixelRNN in the same lab: each trains, and completes with what it carries between
    // pixels (NADE's running sum, O(H) per pixel; the Row LSTM's state, one row per pixel).
    for (variant, row, info) in [("nade", "27", "28 pixel steps (one column of W"), ("pixelrnn", "26", "56 pixel steps (one row of the Row LSTM")] {
        let values = json!({ "variant": variant, "from": "scratch", "batch": "8" });
        send(&app, "pixelcnn", "reset", json!({ "values": values })).await.unwrap();
        send(&app, "pixelcnn", "step", json!({ "values": values })).await.unwrap();
        let status: Value = serde_wasm_bindgen::from_value(send(&app, "pixelcnn", "status", json!({ "values": values })).await.unwrap()).unwrap();
        let loss = status["train"][0].as_f64().unwrap();
        assert!(status["step"] == 1 && loss.is_finite() && loss > 100.0, "{variant}: {status}");
        send(&app, "pixelcnn", "complete", json!({ "values": { "variant": variant, "row": row, "n": "2" } })).await.unwrap();
        let shown = last_text(&posted, "pixelcnn", "completion-info");
        assert!(shown.starts_with(info), "{variant}: {shown}");
    }
    send(&app, "pixelcnn", "draw", json!({})).await.unwrap();
    assert!(drawn(&posted, "pixelcnn", "next"), "PixelRNN's next-pixel map is blank");
}

#[wasm_bindgen_test]
async fn pixelcnn_lab_completes_a_digit_on_cpu() {
    genlab::web::run_constructors();
    pixelcnn_views_draw(genlab::device::Backend::cpu(None)).await;
}

#[wasm_bindgen_test]
async fn pixelcnn_lab_completes_a_digit_on_webgpu() {
    let device = webgpu().await;
    pixelcnn_views_draw(gpu_backend(device)).await;
}

/// The pictures at open stop once the pace after the warm-up steps says the run would overrun
/// its budget: a whole sample (784 steps) at 25 ms a step would, at 10 ms it would not.
#[wasm_bindgen_test]
fn pictures_at_open_stop_only_when_their_pace_overruns_the_budget() {
    use genlab::web::{UNASKED_BUDGET_MS, projected_sampling_ms};
    // Too early to judge: still in the warm-up steps, or under a second of steady ones.
    assert_eq!(projected_sampling_ms(3, 784, 5000.0), None);
    assert_eq!(projected_sampling_ms(50, 784, 999.0), None);
    // 100 steps in 2.5 s after the 3 warm-up steps: 25 ms each for the 781 after warm-up.
    let slow = projected_sampling_ms(103, 784, 2500.0).unwrap();
    assert_eq!(slow, 781.0 * 25.0);
    assert!(slow > UNASKED_BUDGET_MS);
    let fast = projected_sampling_ms(103, 784, 1000.5).unwrap();
    assert!(fast < UNASKED_BUDGET_MS, "{fast}");
}

/// Starts recording the worker's console errors and warnings: on wasm, wgpu/cubecl report an
/// invalid shader there and skip it (cubecl #1641), leaving stale data instead of failing.
fn capture_console() {
    let _ = console_log::init_with_level(log::Level::Warn);
    let install = js_sys::Function::new_no_args(
        "if (!self.__captured) { self.__captured = []; for (const k of ['error', 'warn']) { const f = console[k].bind(console); \
         console[k] = (...a) => { self.__captured.push(a.map(String).join(' ')); f(...a); }; } }",
    );
    install.call0(&JsValue::NULL).unwrap();
}

/// What the console recorded since `capture_console`, emptied.
fn console_messages() -> Vec<String> {
    let take = js_sys::Function::new_no_args("const c = self.__captured || []; self.__captured = []; return c;");
    let list: js_sys::Array = take.call0(&JsValue::NULL).unwrap().unchecked_into();
    list.iter().filter_map(|m| m.as_string()).collect()
}

const AGREEMENT_STEPS: usize = 20;

/// 20 training steps of a model on the CPU and on WebGPU from identical weights, batches and
/// noise (noise is drawn on the host by the trainers, so both see the same): the loss agrees at
/// every step (relative `loss_tol`), every value is finite, and every parameter tensor ends
/// where the CPU's does — its distance from the CPU's is under `param_tol` of how far the CPU
/// run moved it, so a skipped kernel (a tensor left where it was) cannot pass.
/// `exempt`: tensors left out of the parameter check (biases that feed a BatchNorm: their exact
/// gradient is zero, so Adam turns float noise into steps of ±lr on either backend). Returns the
/// worst relative loss difference and the worst parameter ratio seen.
async fn agree<M: genlab::train::Trainable>(
    name: &str,
    make: impl Fn(&Device) -> M,
    batch: usize,
    lr: f64,
    loss_tol: f32,
    param_tol: f32,
    exempt: &[usize],
) -> (f32, f64) {
    use genlab::train::prepare;
    capture_console();
    let cpu_device = Device::flex().autodiff();
    let mut cpu = seeded(&cpu_device, 17, || make(&cpu_device));
    let start: Vec<Vec<f32>> = host(cpu.tensors()).await;
    let mut gpu = make(&webgpu().await.autodiff());
    gpu.set_tensors(start.clone()).unwrap();
    cpu.seed(5);
    gpu.seed(5);
    let data = Mnist::fixture();
    let mut rng = Rng::new(23);
    let batches: Vec<Vec<f32>> = (0..AGREEMENT_STEPS)
        .map(|s| {
            let idx: Vec<usize> = (0..batch * cpu.batches_per_step()).map(|i| (s * 37 + i * 11) % data.train.len()).collect();
            prepare(data.train.intensities(&idx), cpu.pixels(), &mut rng)
        })
        .collect();
    let mut losses = Vec::new();
    for (trainer, device) in [(&mut cpu as &mut M, Device::flex().autodiff()), (&mut gpu, webgpu().await.autodiff())] {
        let mut metrics = Vec::new();
        for b in &batches {
            let x = Tensor::<2>::from_data(TensorData::new(b.clone(), [b.len() / PIXELS, PIXELS]), &device);
            metrics.push(trainer.step(x, lr));
        }
        losses.push(read(Tensor::cat(metrics, 0).unsqueeze()).await);
    }
    let m = losses[0].len() / AGREEMENT_STEPS;
    assert!(losses.iter().flatten().all(|v| v.is_finite()), "{name}: non-finite metrics {losses:?}");
    let mut worst_loss = 0.0f32;
    for step in 0..AGREEMENT_STEPS {
        for j in 0..m {
            let (c, g) = (losses[0][step * m + j], losses[1][step * m + j]);
            let rel = (c - g).abs() / c.abs().max(1.0);
            worst_loss = worst_loss.max(rel);
            assert!(rel <= loss_tol, "{name}: step {} metric {j}: cpu {c} vs webgpu {g}", step + 1);
        }
    }
    let (cpu_after, gpu_after) = (host(cpu.tensors()).await, host(gpu.tensors()).await);
    let norm = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt();
    let mut moved_any = false;
    let mut worst_param = 0.0f64;
    for (i, ((s, c), g)) in start.iter().zip(&cpu_after).zip(&gpu_after).enumerate() {
        assert!(g.iter().all(|v| v.is_finite()), "{name}: tensor {i} has non-finite values on WebGPU");
        let (moved, apart) = (norm(s, c), norm(c, g));
        moved_any |= moved > 0.0;
        if exempt.contains(&i) {
            continue;
        }
        worst_param = worst_param.max(apart / moved.max(1e-6));
        assert!(
            apart <= param_tol as f64 * moved.max(1e-6),
            "{name}: tensor {i} ({} values) ends {apart:.3e} from the CPU's, which moved {moved:.3e}",
            s.len()
        );
    }
    assert!(moved_any, "{name}: training moved nothing");
    let console = console_messages();
    let bad: Vec<&String> = console.iter().filter(|m| ["wgpu", "cubecl", "shader", "Validation", "validation"].iter().any(|k| m.contains(k))).collect();
    assert!(bad.is_empty(), "{name}: the console reported {bad:?}");
    (worst_loss, worst_param)
}

async fn host(tensors: Vec<Tensor<1>>) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for t in tensors {
        out.push(t.into_data_async().await.unwrap().try_into_vec::<f32>().unwrap());
    }
    out
}

// Tolerances, from runs of these tests (SwiftShader WebGPU against the CPU, worst seen → bound):
// - VAEs, PixelCNNs, classifier, fully connected GANs: losses within 1e-3 relative at every
//   step; every tensor within 5 % of its own movement (FC GANs: 1.2e-7 → 1e-4 and 7e-5 → 1 %).
// - DCGAN, BatchNorm in D: 1.2e-2 → 5e-2 and 0.2 → 0.5 (its tiny batches' statistics make the
//   game sensitive to summation order); with spectral norm + packing (no BatchNorm in D)
//   1e-4 → 1e-3 and 5 %.
// A skipped shader leaves a whole tensor stale: off by its full movement (ratio ≈ 1) or the loss
// off by far more than these.

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_every_vae() {
    use genlab::models::vae::{VaeConfig, VaeTrainer};
    agree("VAE z20", |d| VaeTrainer::new(VaeConfig::vae(20), d), 8, 1e-3, 1e-3, 0.05, &[]).await;
    agree("autoencoder z20", |d| VaeTrainer::new(VaeConfig::autoencoder(20), d), 8, 1e-3, 1e-3, 0.05, &[]).await;
    agree("two-layer VAE, IWAE k 5", |d| VaeTrainer::new(VaeConfig { k: 5, ..VaeConfig::burda(true) }, d), 4, 1e-3, 1e-3, 0.05, &[]).await;
    agree("adversarial autoencoder z2", |d| VaeTrainer::new(VaeConfig::adversarial(2), d), 8, 1e-3, 1e-3, 0.05, &[]).await;
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_every_gan() {
    use genlab::models::gan::{GanConfig, GanTrainer, Lipschitz};
    // Tensors 1, 7: G's dense and first transposed-conv biases (before bn0, bn1); 17: D's conv2
    // bias (before bn2).
    agree("DCGAN", |d| GanTrainer::new(GanConfig::dcgan(), d), 4, 2e-4, 5e-2, 0.5, &[1, 7, 17]).await;
    let sn_pack = GanConfig { spectral_norm: true, pack: 2, ..GanConfig::dcgan() };
    agree("DCGAN, spectral norm + packing", |d| GanTrainer::new(sn_pack.clone(), d), 4, 2e-4, 1e-3, 0.05, &[1, 7]).await;
    agree("fully connected GAN", |d| GanTrainer::new(GanConfig::fc(), d), 4, 2e-4, 1e-4, 0.01, &[]).await;
    agree("fully connected GAN, minibatch std", |d| GanTrainer::new(GanConfig { minibatch_std: true, ..GanConfig::fc() }, d), 4, 2e-4, 1e-4, 0.01, &[]).await;
    // The Wasserstein critic: the hand-written input gradient of the penalty, and clipping.
    let critic = |config: GanConfig, lipschitz: Lipschitz| {
        move |d: &Device| {
            let mut t = GanTrainer::new(GanConfig { wasserstein: true, ..config.clone() }, d);
            (t.options.k, t.options.lipschitz) = (2, lipschitz);
            t
        }
    };
    // G's biases before BatchNorm (1, 7) again; the critic has no BatchNorm.
    agree("Wasserstein DCGAN, gradient penalty", critic(GanConfig::dcgan(), Lipschitz::GradientPenalty), 4, 2e-4, 1e-3, 0.05, &[1, 7]).await;
    agree("Wasserstein fully connected GAN, clipping", critic(GanConfig::fc(), Lipschitz::Clipping), 4, 2e-4, 1e-4, 0.01, &[]).await;
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_nade() {
    use genlab::models::nade::{NadeConfig, NadeTrainer};
    agree("NADE", |d| NadeTrainer::new(NadeConfig { hidden: 32 }, d), 2, 1e-3, 1e-3, 0.05, &[]).await;
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_pixelrnn() {
    use genlab::models::pixelrnn::{PixelRnnConfig, PixelRnnTrainer};
    agree("PixelRNN", |d| PixelRnnTrainer::new(PixelRnnConfig::small(), d), 2, 1e-3, 1e-3, 0.05, &[]).await;
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_both_pixelcnns() {
    use genlab::models::pixelcnn::{PixelCnnConfig, PixelCnnTrainer};
    agree("PixelCNN", |d| PixelCnnTrainer::new(PixelCnnConfig::plain(), d), 2, 1e-3, 1e-3, 0.05, &[]).await;
    agree("gated PixelCNN", |d| PixelCnnTrainer::new(PixelCnnConfig::gated(), d), 2, 1e-3, 1e-3, 0.05, &[]).await;
}

/// The classifier as the harness wants it: its labels follow the harness's batch order.
struct LabelledClassifier {
    trainer: genlab::models::classifier::ClassifierTrainer,
    step: usize,
    labels: Vec<u8>,
}

impl genlab::train::Trainable for LabelledClassifier {
    fn metric_names(&self) -> &'static [&'static str] {
        &["cross-entropy"]
    }
    fn pixels(&self) -> genlab::train::Pixels {
        genlab::train::Pixels::Binarized
    }
    fn step(&mut self, images: Tensor<2>, lr: f64) -> Tensor<1> {
        let batch = images.dims()[0];
        let mut onehot = vec![0.0f32; batch * 10];
        for i in 0..batch {
            onehot[i * 10 + self.labels[(self.step * 37 + i * 11) % self.labels.len()] as usize] = 1.0;
        }
        self.step += 1;
        let labels = Tensor::<2>::from_data(TensorData::new(onehot, [batch, 10]), &images.device());
        self.trainer.step_labeled(images, labels, lr)
    }
    fn evaluate(&self, _images: Tensor<2>, _piece: u64) -> Tensor<1> {
        unreachable!()
    }
    fn tensors(&self) -> Vec<Tensor<1>> {
        genlab::train::module_tensors(&self.trainer.model.valid())
    }
    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.trainer.model = genlab::train::with_tensors(self.trainer.model.clone(), values)?;
        Ok(())
    }
}

#[wasm_bindgen_test]
async fn webgpu_and_cpu_agree_over_20_steps_of_the_classifier() {
    let labels = Mnist::fixture().train.labels.clone();
    let make = |d: &Device| LabelledClassifier { trainer: genlab::models::classifier::ClassifierTrainer::new(d), step: 0, labels: labels.clone() };
    agree("classifier", make, 8, 1e-3, 1e-3, 0.05, &[]).await;
}
