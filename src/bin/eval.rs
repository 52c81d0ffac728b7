//! Native evaluation on the 10k MNIST test set.
//!   cargo run --release --bin eval -- vae --weights pretrained/vae-z20.bpk --latent 20 --k 5000
//!     test −ELBO and the importance-weighted bound (Burda et al. 2015), in nats, averaged over
//!     `--repeats` dynamic binarizations.
//!   cargo run --release --bin eval -- gan --weights pretrained/dcgan.bpk --samples 10000
//!     the classifier's verdict on generated digits: score, class histogram, Fréchet distance
//!     between classifier features of generated and test digits (and the same for real digits).
//!   cargo run --release --bin eval -- classifier --weights pretrained/classifier.bpk

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::cli::{Args, fail, gan_config, load_mnist};
use genlab::data::{Mnist, PIXELS, Split};
use genlab::models::classifier::{self, Classifier, FEATURES};
use genlab::models::gan::GanWithAverage;
use genlab::models::vae::{VaeConfig, evaluate_split, prior_moment_distance};
use genlab::rng::Rng;
use genlab::train::Encoding;
use serde_json::json;

const USAGE: &str = "usage: eval vae --weights FILE [--arch mlp|burda1|burda2|ae|aae] [--codes FILE.csv] [--latent 20] [--k 5000] [--repeats 1] [--seed 1] [--images 10000]\n\
                     \x20      eval gan --weights FILE [--architecture dcgan|fc] [--minibatch-std false] [--spectral-norm false] [--pack 1] [--wasserstein false] [--average true] [--samples 10000] [--batchnorm running|batch] [--temperature 1] [--classifier pretrained/classifier.bpk]\n\
                     \x20      eval classifier --weights FILE\n\
                     \x20      eval pixelcnn|gated-pixelcnn --weights FILE [--binarizations 5] [--seed 1] [--channels N] [--layers N] [--images 10000]\n\
                     \x20      eval nade --weights FILE [--hidden 500] [--binarizations 5] [--seed 1] [--images 10000]\n\
                     \x20      eval pixelrnn --weights FILE [--hidden 16] [--layers 1] [--binarizations 5] [--seed 1] [--images 10000]\n\
                     all take [--data www/data (or a file holding both splits)] [--save-half FILE: the weights in half precision]";

fn main() {
    let args = Args::parse(USAGE);
    let data = load_mnist(&args.string("data", "www/data"));
    let start = std::time::Instant::now();
    let mut result = match args.command.as_str() {
        "vae" => eval_vae(&args, data),
        "gan" => eval_gan(&args, &data),
        "classifier" => eval_classifier(&args, &data),
        "pixelcnn" | "gated-pixelcnn" => eval_pixelcnn(&args, &data),
        "nade" => eval_nade(&args, &data),
        "pixelrnn" => eval_pixelrnn(&args, &data),
        _ => fail(USAGE),
    };
    result["seconds"] = json!(start.elapsed().as_secs());
    println!("{result}");
}

/// A weights file's bytes (the trainer's, the page's Save, or half precision: each model's
/// `load` reads all three).
fn read_weights(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}

/// `--save-half FILE`: the same weights in half precision, as the page's pretrained files are
/// kept (evaluate FILE afterwards to see that the figures stay).
fn save_half<M: Module>(args: &Args, module: &M) {
    write_half(args, || Encoding::Half.bytes(module));
}

/// `--save-half FILE`: writes the half-precision file `bytes` makes, when asked for.
fn write_half(args: &Args, bytes: impl FnOnce() -> Result<Vec<u8>, String>) {
    if let Some(path) = args.optional::<String>("save-half") {
        let bytes = bytes().unwrap_or_else(|e| fail(&e));
        std::fs::write(&path, bytes).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn eval_vae(args: &Args, mut data: Mnist) -> serde_json::Value {
    let weights = args.string("weights", "pretrained/vae-z20.bpk");
    let config = VaeConfig::named(&args.string("arch", "mlp"), args.optional("latent")).unwrap_or_else(|e| fail(&e));
    let k: usize = args.get("k", 5000);
    let repeats: usize = args.get("repeats", 1);
    let images: usize = args.get("images", data.test.len());
    data.test.images.truncate(images * PIXELS);
    data.test.labels.truncate(images);
    let device = Device::flex();
    let model = config.load(&device, read_weights(&weights)).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    save_half(args, &model);
    if !config.variational {
        // A point code: no bound to importance-sample; the reconstruction, and how far the codes
        // of the test digits are from the prior N(0, I).
        let (reconstruction, _) = evaluate_split(&model, &data.test, 0, &mut Rng::new(args.get("seed", 1)), &device);
        let codes = model.encode(Tensor::from_data(TensorData::new(all(&data.test), [data.test.len(), PIXELS]), &device)).mu;
        let codes = codes.into_data().try_into_vec::<f32>().unwrap();
        let distance = prior_moment_distance(&codes, config.latent);
        if let Some(path) = args.optional::<String>("codes") {
            // One row per test digit: its label, then its code.
            let rows: Vec<String> = codes
                .chunks(config.latent)
                .zip(&data.test.labels)
                .map(|(z, y)| format!("{y},{}", z.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")))
                .collect();
            std::fs::write(&path, rows.join("\n") + "\n").unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        }
        return json!({
            "weights": weights, "arch": args.string("arch", "mlp"), "latent": config.latent, "test_images": data.test.len(),
            "test_reconstruction_nats": round(reconstruction, 2), "test_codes_moment_distance_from_prior": round(distance, 3),
        });
    }
    let mut rng = Rng::new(args.get("seed", 1));
    let (mut elbo, mut iwae) = (0.0, 0.0);
    for _ in 0..repeats {
        let (e, i) = evaluate_split(&model, &data.test, k, &mut rng, &device);
        elbo += e / repeats as f64;
        iwae += i.unwrap_or(f64::NAN) / repeats as f64;
    }
    json!({
        "weights": weights, "arch": args.string("arch", "mlp"), "latent": config.latent, "test_images": data.test.len(), "binarizations": repeats,
        "test_negative_elbo_nats": round(elbo, 2), "k": k, "test_negative_iwae_bound_nats": round(iwae, 2),
    })
}

fn load_classifier(args: &Args) -> Classifier {
    let path = args.string("classifier", "pretrained/classifier.bpk");
    classifier::load(&Device::flex(), read_weights(&path)).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}

fn all(split: &Split) -> Vec<f32> {
    split.intensities(&(0..split.len()).collect::<Vec<_>>())
}

fn eval_gan(args: &Args, data: &Mnist) -> serde_json::Value {
    let weights = args.string("weights", "pretrained/dcgan.bpk");
    let mut config = gan_config(args, "dcgan");
    config.minibatch_std = args.get("minibatch-std", false);
    config.spectral_norm = args.get("spectral-norm", false);
    config.pack = args.get("pack", 1);
    config.wasserstein = args.get("wasserstein", false);
    config.latent = args.get("latent", config.latent);
    config.check().unwrap_or_else(|e| fail(&e));
    let samples: usize = args.get("samples", 10_000);
    let device = Device::flex();
    let bytes = read_weights(&weights);
    let (gan, average) = config.load(&device, bytes.clone()).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    write_half(args, || GanWithAverage::file(gan.clone(), average.clone(), Encoding::Half));
    // --average true (default): the running average of G when the file has one, as the page.
    let use_average = args.get("average", true) && average.is_some();
    let classifier = load_classifier(args);
    let mut rng = Rng::new(args.get("seed", 1));
    // --batchnorm running (default: the page's way, running averages) or batch (statistics of
    // each batch of 1000 samples, as during training).
    let batch_stats = match args.string("batchnorm", "running").as_str() {
        "running" => false,
        "batch" => true,
        other => fail(&format!("--batchnorm {other}: running or batch")),
    };
    let train_device = device.clone().autodiff();
    let train_generator = batch_stats.then(|| {
        let (gan, average) = config.load(&train_device, bytes).unwrap();
        if use_average { average.unwrap() } else { gan.generator }
    });
    let generator = if use_average { average.unwrap() } else { gan.generator };
    let temperature: f32 = args.get("temperature", 1.0);
    let mut generated = Vec::with_capacity(samples * PIXELS);
    while generated.len() < samples * PIXELS {
        let n = (samples - generated.len() / PIXELS).min(1000);
        let z: Vec<f32> = rng.normals(n * config.latent).iter().map(|v| v * temperature).collect();
        let images = match &train_generator {
            None => generator.sample(Tensor::from_data(TensorData::new(z, [n, config.latent]), &device)),
            Some(g) => g.sample(Tensor::from_data(TensorData::new(z, [n, config.latent]), &train_device)).inner(),
        };
        generated.extend(images.into_data().iter::<f32>());
    }
    let (test_probs, test_features) = classifier::probs_and_features(&classifier, &all(&data.test), &device);
    let verdict = classifier::judge(&classifier, &generated, &test_features, &device);
    // Reference: real digits the classifier never saw against the test set.
    let train_part: Vec<usize> = (0..samples.min(data.train.len())).collect();
    let (_, train_features) = classifier::probs_and_features(&classifier, &data.train.intensities(&train_part), &device);
    json!({
        "weights": weights, "config": config, "samples": samples, "batchnorm": args.string("batchnorm", "running"), "temperature": temperature,
        "generator": if use_average { "running average of G" } else { "G" },
        "classifier_score": verdict.classifier_score,
        "class_histogram": verdict.class_histogram,
        "smallest_class_fraction": verdict.smallest_class_fraction,
        "unsure_share": verdict.unsure_share,
        "frechet_distance_to_test": verdict.frechet_distance,
        "reference_test_set_score": round(classifier::classifier_score(&test_probs), 3),
        "reference_test_set_unsure_share": round(classifier::unsure_share(&test_probs), 4),
        "reference_frechet_train_to_test": round(classifier::frechet_distance(&train_features, &test_features, FEATURES), 3),
    })
}

fn eval_classifier(args: &Args, data: &Mnist) -> serde_json::Value {
    let weights = args.string("weights", "pretrained/classifier.bpk");
    let model = classifier::load(&Device::flex(), read_weights(&weights)).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    save_half(args, &model);
    let (probs, _) = classifier::probs_and_features(&model, &all(&data.test), &Device::flex());
    json!({
        "weights": weights, "test_accuracy": round(classifier::accuracy_of_probs(&probs, &data.test.labels), 4),
        "test_set_classifier_score": round(classifier::classifier_score(&probs), 3),
    })
}

fn eval_pixelcnn(args: &Args, data: &Mnist) -> serde_json::Value {
    use genlab::models::pixelcnn::{PixelCnnConfig, bits_per_dim, evaluate_split};
    let weights = args.string("weights", &format!("pretrained/{}.bpk", args.command));
    let mut config = if args.command == "pixelcnn" { PixelCnnConfig::plain() } else { PixelCnnConfig::gated() };
    config.channels = args.get("channels", config.channels);
    config.layers = args.get("layers", config.layers);
    let model = config.load(&Device::flex(), read_weights(&weights)).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    save_half(args, &model);
    let binarizations: usize = args.get("binarizations", 5);
    let mut data = data.clone();
    let images: usize = args.get("images", data.test.len());
    data.test.images.truncate(images * PIXELS);
    data.test.labels.truncate(images);
    let nll = evaluate_split(&model, &data.test, binarizations, &mut Rng::new(args.get("seed", 1)), &Device::flex());
    // One binarization made with a seed that never changes: the same 0/1 test set every time,
    // for comparison with papers that evaluate on a fixed binarization (not Larochelle's file:
    // that one is another draw).
    let fixed = evaluate_split(&model, &data.test, 1, &mut Rng::new(genlab::data::FIXED_BINARIZATION_SEED), &Device::flex());
    json!({
        "weights": weights, "config": config, "test_images": data.test.len(), "binarizations": binarizations,
        "test_nll_nats": round(nll, 2), "test_bits_per_dim": round(bits_per_dim(nll), 4),
        "fixed_binarization_nll_nats": round(fixed, 2),
        "receptive_field_rows_above": config.rows_above(),
    })
}

fn eval_pixelrnn(args: &Args, data: &Mnist) -> serde_json::Value {
    use genlab::models::pixelrnn::PixelRnnConfig;
    let weights = args.string("weights", "pretrained/pixelrnn.bpk");
    let small = PixelRnnConfig::small();
    let config = PixelRnnConfig { hidden: args.get("hidden", small.hidden), layers: args.get("layers", small.layers) };
    let model = config.load(&Device::flex(), read_weights(&weights)).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    save_half(args, &model);
    exact_nll_report(args, data, &weights, json!(config), |x| model.nll(x))
}

fn eval_nade(args: &Args, data: &Mnist) -> serde_json::Value {
    use genlab::models::nade::NadeConfig;
    let weights = args.string("weights", "pretrained/nade.bpk");
    let config = NadeConfig { hidden: args.get("hidden", NadeConfig::paper().hidden) };
    let model = config.load(&Device::flex(), read_weights(&weights)).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    save_half(args, &model);
    exact_nll_report(args, data, &weights, json!(config), |x| model.nll(x))
}

/// An exact-likelihood model's test NLL over the first `--images` test digits, averaged over
/// `--binarizations` dynamic binarizations, as the JSON line `eval` prints.
fn exact_nll_report(args: &Args, data: &Mnist, weights: &str, config: serde_json::Value, nll: impl Fn(Tensor<2>) -> Tensor<1>) -> serde_json::Value {
    use genlab::models::pixelcnn::bits_per_dim;
    let mut data = data.clone();
    let images: usize = args.get("images", data.test.len());
    data.test.images.truncate(images * PIXELS);
    data.test.labels.truncate(images);
    let binarizations: usize = args.get("binarizations", 5);
    let nll = genlab::train::exact_nll(nll, &data.test, binarizations, &mut Rng::new(args.get("seed", 1)), &Device::flex());
    json!({
        "weights": weights, "config": config, "test_images": data.test.len(), "binarizations": binarizations,
        "test_nll_nats": round(nll, 2), "test_bits_per_dim": round(bits_per_dim(nll), 4),
    })
}
