//! Native trainer: the page's model code, on the CPU, for the weights in pretrained/.
//!   cargo run --release --bin train -- vae --latent 20 --epochs 100 --seed 1 --out pretrained/vae-z20.bpk
//!   cargo run --release --bin train -- dcgan --epochs 10 --batch 64 --lr 0.0002 --seed 1 --out pretrained/dcgan.bpk
//!   cargo run --release --bin train -- classifier --epochs 3 --seed 1 --out pretrained/classifier.bpk
//! `vae`, `ae` (plain autoencoder), `dcgan`, `fc-gan` or `classifier`. Prints progress after each
//! epoch and writes the weights (burnpack) plus a .json note of how they were made.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use genlab::cli::{Args, fail, gan_config, load_mnist};
use genlab::data::{Mnist, PIXELS};
use genlab::device::seeded;
use genlab::models::classifier::{self, CLASSES, ClassifierTrainer};
use genlab::models::gan::{GanConfig, GanTrainer, GanWithAverage, GeneratorLoss, Lipschitz};
use genlab::models::nade::{NadeConfig, NadeTrainer, evaluate_split as nade_nll};
use genlab::models::pixelcnn::{PixelCnnConfig, PixelCnnTrainer, evaluate_split as pixelcnn_nll};
use genlab::models::vae::{VaeConfig, VaeTrainer, burda_lr, burda_stage, evaluate_split};
use genlab::rng::Rng;
use genlab::train::{Encoding, Settings, Trainable, Trainer};
use serde_json::{Value, json};

const USAGE: &str = "usage: train vae|ae|aae|dcgan|fc-gan|classifier|pixelcnn|gated-pixelcnn|nade|pixelrnn [--hidden 500] [--latent 20] [--epochs 100] [--batch 128] [--lr 0.001] \
                     [--seed 1] [--k 1] [--loss non-saturating|minimax|feature-matching] [--minibatch-std false] [--spectral-norm false] [--pack 1] [--wasserstein false] [--lipschitz penalty|clipping] [--classifier FILE] [--d-lr LR] [--init FILE] \
                     [--lr-decay 1] [--arch mlp|burda1|burda2] [--schedule constant|burda] [--warmup-epochs 0] [--adversarial-lr 0.1] [--adam-eps 1e-8] [--output-bias false] [--eval-k 50] [--checkpoint checkpoints/NAME.ckpt] [--resume false] [--lr-now LR] [--d-lr-now LR] [--channels N] [--layers N] \
                     [--data www/data (or a file holding both splits)] [--out pretrained/NAME.bpk]";

fn main() {
    let args = Args::parse(USAGE);
    let data = Arc::new(load_mnist(&args.string("data", "www/data")));
    let seed = args.get("seed", 1);
    let epochs: usize = args.get("epochs", 10);
    let (out, note) = match args.command.as_str() {
        "vae" | "ae" | "aae" => train_vae(&args, data, seed, epochs),
        "dcgan" | "fc-gan" => train_gan(&args, data, seed, epochs),
        "classifier" => train_classifier(&args, &data, seed, epochs),
        "pixelcnn" | "gated-pixelcnn" => train_pixelcnn(&args, data, seed, epochs),
        "nade" => train_nade(&args, data, seed, epochs),
        "pixelrnn" => train_pixelrnn(&args, data, seed, epochs),
        _ => fail(USAGE),
    };
    write_note(&out, note);
    println!("wrote {out} and {}", out.replace(".bpk", ".json"));
}

/// This run's command line.
fn command() -> String {
    format!("cargo run --release --bin train -- {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "))
}

/// The .json beside the weights: how they were made. Written after every epoch, so a run
/// stopped early (or resumed later) has one; `commands` lists every command of a resumed run.
fn write_note(out: &str, mut note: Value) {
    if note.get("commands").is_none() {
        note["command"] = json!(command());
    }
    let path = out.replace(".bpk", ".json");
    std::fs::write(&path, serde_json::to_string_pretty(&note).unwrap() + "\n").unwrap_or_else(|e| fail(&format!("{path}: {e}")));
}

fn save<M: Module>(module: M, out: &str) {
    module.into_record().save(out).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
}

/// `--init FILE`: saved weights to continue from, read with `load` (the optimizer starts afresh).
fn init_weights<M>(args: &Args, load: impl FnOnce(Vec<u8>) -> Result<M, String>) -> Option<M> {
    let path = args.string("init", "");
    if path.is_empty() {
        return None;
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    Some(load(bytes).unwrap_or_else(|e| fail(&format!("{path}: {e}"))))
}

/// Mean of metric `i` over the last `n` training steps (a long run's points each average
/// `stride` steps).
fn recent_mean<M: Trainable>(trainer: &Trainer<M>, i: usize, n: usize) -> f64 {
    let h = &trainer.history.train;
    let points = n.div_ceil(h.stride()).max(1);
    let recent = &h.points[h.len().saturating_sub(points)..];
    recent.iter().map(|p| p.values[i] as f64).sum::<f64>() / recent.len().max(1) as f64
}

fn train_vae(args: &Args, data: Arc<Mnist>, seed: u64, epochs: usize) -> (String, Value) {
    let latent: usize = args.get("latent", 20);
    let mut config = match args.command.as_str() {
        "ae" => VaeConfig::autoencoder(latent),
        "aae" => VaeConfig::adversarial(latent),
        _ => VaeConfig::named(&args.string("arch", "mlp"), args.optional("latent")).unwrap_or_else(|e| fail(&e)),
    };
    config.k = args.get("k", 1);
    config.check().unwrap_or_else(|e| fail(&e));
    // --schedule burda: stage i runs 3^i epochs at lr 1e-3 · 10^(−i/7) (Burda et al. 2015).
    let burda_schedule = match args.string("schedule", "constant").as_str() {
        "constant" => false,
        "burda" => true,
        other => fail(&format!("--schedule {other}: constant or burda")),
    };
    let settings = Settings { batch_size: args.get("batch", 128), lr: args.get("lr", 1e-3), seed, lr_decay: args.get("lr-decay", 1.0) };
    settings.check().unwrap_or_else(|e| fail(&e));
    let out = args.string("out", &format!("pretrained/{}-z{latent}.bpk", args.command));
    let device = Device::flex().autodiff();
    let steps_per_epoch = data.train.len() / settings.batch_size;
    // The initial weights come from the run's seed.
    let mut model = seeded(&device, seed, || config.init(&device));
    if args.get("output-bias", false) {
        let all: Vec<usize> = (0..data.train.len()).collect();
        let pixels = data.train.intensities(&all);
        let mean: Vec<f32> = (0..PIXELS).map(|i| pixels.iter().skip(i).step_by(PIXELS).sum::<f32>() / data.train.len() as f32).collect();
        model = model.with_output_bias(&mean);
    }
    let mut vae = VaeTrainer::from_model(config.clone(), model).with_adam_epsilon(args.get("adam-eps", 1e-8));
    vae.warmup_steps = args.get::<u64>("warmup-epochs", 0) * steps_per_epoch as u64;
    vae.adversarial_lr = args.get("adversarial-lr", genlab::models::vae::ADVERSARIAL_LR);
    let mut trainer = Trainer::new(vae, settings.clone(), data.clone(), device);
    let fresh = json!({ "config": config, "init": "", "epochs": [], "stages": [] });
    let (checkpoint, mut log) = open_checkpoint(args, &mut trainer, fresh);
    if !logged_as(&log["config"], &config) {
        fail(&format!("{checkpoint} holds a {} model; pass the same flags", log["config"]));
    }
    let note = |trainer: &Trainer<VaeTrainer>, log: &Value, test: f64| {
        json!({
            "config": config, "settings": trainer.settings, "epochs": trainer.history.epoch, "steps": trainer.history.step,
            "commands": log["commands"],
            "schedule": if burda_schedule { "burda: stage i runs 3^i epochs at lr 1e-3·10^(−i/7)" } else { "constant" },
            "warmup_epochs": args.get::<u64>("warmup-epochs", 0), "adversarial_lr_fraction": config.adversarial.map(|_| args.get("adversarial-lr", genlab::models::vae::ADVERSARIAL_LR)), "adam_epsilon": args.get("adam-eps", 1e-8), "output_bias": args.get("output-bias", false),
            "test_negative_elbo_nats": round2(test),
            "per_epoch": log["epochs"], "per_stage": log["stages"],
            "train_seconds": trainer.history.elapsed_s.round(),
            "checkpoint": checkpoint,
        })
    };
    // A point code has no posterior to importance-sample: no bound for the autoencoders.
    let eval_k: usize = if config.variational { args.get("eval-k", 50) } else { 0 };
    let mut test = f64::NAN;
    for epoch in trainer.history.epoch + 1..=epochs {
        let stage = burda_stage(epoch);
        if burda_schedule {
            trainer.settings.lr = burda_lr(stage);
        }
        trainer.run_blocking(steps_per_epoch).unwrap_or_else(|e| fail(&e));
        let train = recent_mean(&trainer, 0, steps_per_epoch);
        let mut rng = Rng::new(seed ^ 0xE7A1 ^ ((epoch as u64) << 32));
        // The held-out bound at the end of each stage (and of the run); −ELBO every epoch.
        let stage_ends = !burda_schedule || burda_stage(epoch + 1) != stage || epoch == epochs;
        let k = if stage_ends { eval_k } else { 0 };
        let (elbo, bound) = evaluate_split(&trainer.model.model.valid(), &data.test, k, &mut rng, &Device::flex());
        test = elbo;
        let bound_text = bound.map(|b| format!("  test −log p̂(x) (k {eval_k}) {b:7.2}")).unwrap_or_default();
        println!(
            "epoch {epoch:4}  stage {stage}  lr {:.2e}  β {:.2}  train {} {train:7.2}  test −ELBO {elbo:7.2}{bound_text}  ({:.0} s)",
            trainer.settings.lr,
            trainer.model.beta_now(),
            trainer.history.names[0],
            trainer.history.elapsed_s
        );
        log["epochs"].as_array_mut().unwrap().push(json!({
            "epoch": epoch, "stage": stage, "lr": trainer.settings.lr, "train": round2(train), "test_negative_elbo": round2(elbo),
            "seconds": trainer.history.elapsed_s.round(),
        }));
        if let Some(b) = bound {
            log["stages"].as_array_mut().unwrap().push(json!({ "stage": stage, "epoch": epoch, "test_negative_iwae_bound": round2(b), "k": eval_k }));
        }
        save(trainer.model.model.valid(), &out);
        save_checkpoint(&checkpoint, &trainer, &log);
        write_note(&out, note(&trainer, &log, test));
    }
    // Written once more: a finished run resumed with no epoch left still writes them (main says it did).
    save(trainer.model.model.valid(), &out);
    (out, note(&trainer, &log, test))
}

fn train_gan(args: &Args, data: Arc<Mnist>, seed: u64, epochs: usize) -> (String, Value) {
    let mut config = if args.command == "fc-gan" { GanConfig::fc() } else { gan_config(args, "dcgan") };
    config.latent = args.get("latent", config.latent);
    config.minibatch_std = args.get("minibatch-std", false);
    config.spectral_norm = args.get("spectral-norm", false);
    config.pack = args.get("pack", 1);
    config.wasserstein = args.get("wasserstein", false);
    config.check().unwrap_or_else(|e| fail(&e));
    let settings = Settings { batch_size: args.get("batch", 64), lr: args.get("lr", 2e-4), seed, lr_decay: args.get("lr-decay", 1.0) };
    settings.check().unwrap_or_else(|e| fail(&e));
    let out = args.string("out", &format!("pretrained/{}.bpk", args.command));
    let device = Device::flex().autodiff();
    let mut gan = match init_weights(args, |bytes| config.load(&device, bytes)) {
        Some((gan, average)) => GanTrainer::from_gan(config.clone(), gan).with_average(average),
        None => seeded(&device, seed, || GanTrainer::new(config.clone(), &device)),
    };
    // The Wasserstein critic is trained ahead of G: 5 critic steps per G step, as in both papers.
    gan.options.k = args.get("k", if config.wasserstein { 5 } else { 1 });
    gan.options.lipschitz = match args.string("lipschitz", "penalty").as_str() {
        "penalty" => Lipschitz::GradientPenalty,
        "clipping" => Lipschitz::Clipping,
        other => fail(&format!("--lipschitz {other}: penalty or clipping")),
    };
    gan.options.d_lr = args.get("d-lr", settings.lr);
    gan.options.generator_loss = match args.string("loss", "non-saturating").as_str() {
        "non-saturating" => GeneratorLoss::NonSaturating,
        "minimax" => GeneratorLoss::Minimax,
        "feature-matching" => GeneratorLoss::FeatureMatching,
        other => fail(&format!("--loss {other}: non-saturating, minimax or feature-matching")),
    };
    gan.options.check().unwrap_or_else(|e| fail(&e));
    let options = gan.options.clone();
    let mut trainer = Trainer::new(gan, settings.clone(), data.clone(), device);
    let fresh = json!({ "config": config, "options": options, "init": args.string("init", ""), "epochs": [] });
    let (checkpoint, mut log) = open_checkpoint(args, &mut trainer, fresh);
    // D's rate, like G's, goes on from the checkpoint; --d-lr-now changes it from this step on.
    if let Some(d_lr) = log["options"]["d_lr"].as_f64() {
        trainer.model.options.d_lr = d_lr;
    }
    if let Some(d_lr) = rate_now(args, "d-lr") {
        trainer.model.options.d_lr = d_lr;
        trainer.model.options.check().unwrap_or_else(|e| fail(&e));
        log["options"]["d_lr"] = json!(d_lr);
        if let Some(entry) = log["commands"].as_array_mut().and_then(|c| c.last_mut()) {
            entry["d_lr_now"] = json!(d_lr);
        }
    }
    if !logged_as(&log["config"], &config) || !logged_as(&log["options"], &trainer.model.options) {
        fail(&format!("{checkpoint} was made with {} and {}; pass the same flags", log["config"], log["options"]));
    }
    let note = |trainer: &Trainer<GanTrainer>, log: &Value| {
        json!({
            "config": config, "options": trainer.model.options, "settings": trainer.settings, "epochs": trainer.history.epoch, "init": log["init"], "steps": trainer.history.step,
            "commands": log["commands"],
            "per_epoch": log["epochs"],
            "train_seconds": trainer.history.elapsed_s.round(),
            "checkpoint": checkpoint,
            "evaluation": "cargo run --release --bin eval -- gan (see README)",
        })
    };
    // The classifier judges 5000 samples of the averaged G after every epoch.
    let judge = GanJudge::new(&data, args);
    let steps_per_epoch = data.train.len() / (trainer.settings.batch_size * options.k);
    let export = |trainer: &Trainer<GanTrainer>| {
        let file = GanWithAverage::file(trainer.model.gan.valid(), trainer.model.ema.clone(), Encoding::Burnpack);
        std::fs::write(&out, file.unwrap_or_else(|e| fail(&e))).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    };
    for epoch in trainer.history.epoch + 1..=epochs {
        // Read back every 50 steps: one read-back per epoch would hold a whole epoch's graph.
        for part in (0..steps_per_epoch).collect::<Vec<_>>().chunks(50) {
            trainer.run_blocking(part.len()).unwrap_or_else(|e| fail(&e));
        }
        let m: Vec<String> = (0..4).map(|i| format!("{} {:.3}", trainer.history.names[i], recent_mean(&trainer, i, steps_per_epoch))).collect();
        let verdict = judge.verdict(&trainer.model, epoch as u64);
        println!(
            "epoch {epoch:3}  {}  score {:.3}  smallest {:.3}  unsure {:.3}  Fréchet {:.2}  ({:.0} s)",
            m.join("  "),
            verdict.classifier_score,
            verdict.smallest_class_fraction,
            verdict.unsure_share,
            verdict.frechet_distance,
            trainer.history.elapsed_s
        );
        let means: serde_json::Map<_, _> =
            (0..4).map(|i| (trainer.history.names[i].to_string(), json!((recent_mean(&trainer, i, steps_per_epoch) * 1000.0).round() / 1000.0))).collect();
        log["epochs"].as_array_mut().unwrap().push(json!({
            "epoch": epoch, "train_means": means, "samples_judged": 5000, "verdict": verdict, "seconds": trainer.history.elapsed_s.round(),
            "lr": trainer.settings.lr_at(trainer.history.step), "d_lr": trainer.model.options.d_lr,
        }));
        export(&trainer);
        save_checkpoint(&checkpoint, &trainer, &log);
        write_note(&out, note(&trainer, &log));
    }
    // Written once more: a finished run resumed with no epoch left still writes them (main says it did).
    export(&trainer);
    (out, note(&trainer, &log))
}

/// The classifier's verdict on a GAN's samples during training (the average of G when there
/// is one), against the test set's features.
struct GanJudge {
    classifier: classifier::Classifier,
    test_features: Vec<f32>,
}

impl GanJudge {
    fn new(data: &Mnist, args: &Args) -> GanJudge {
        let path = args.string("classifier", "pretrained/classifier.bpk");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        let classifier = classifier::load(&Device::flex(), bytes).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        let test: Vec<usize> = (0..data.test.len()).collect();
        let (_, test_features) = classifier::probs_and_features(&classifier, &data.test.intensities(&test), &Device::flex());
        GanJudge { classifier, test_features }
    }

    fn verdict(&self, gan: &GanTrainer, seed: u64) -> classifier::Verdict {
        let generator = gan.picture_generator(true);
        let mut rng = Rng::new(seed ^ 0x6A4);
        let mut images = Vec::new();
        for _ in 0..5 {
            let z = rng.normal_tensor([1000, gan.config.latent], &Device::flex());
            images.extend(generator.sample(z).into_data().iter::<f32>());
        }
        classifier::judge(&self.classifier, &images, &self.test_features, &Device::flex())
    }
}

fn train_pixelcnn(args: &Args, data: Arc<Mnist>, seed: u64, epochs: usize) -> (String, Value) {
    let mut config = if args.command == "pixelcnn" { PixelCnnConfig::plain() } else { PixelCnnConfig::gated() };
    config.channels = args.get("channels", config.channels);
    config.layers = args.get("layers", config.layers);
    let device = Device::flex().autodiff();
    let model = match init_weights(args, |bytes| config.load(&device, bytes)) {
        Some(model) => PixelCnnTrainer::from_model(config.clone(), model),
        None => seeded(&device, seed, || PixelCnnTrainer::new(config.clone(), &device)),
    };
    train_exact(args, data, seed, epochs, model, json!(config), device, |t, split, rng| pixelcnn_nll(&t.model.valid(), split, 1, rng, &Device::flex()))
}

fn train_nade(args: &Args, data: Arc<Mnist>, seed: u64, epochs: usize) -> (String, Value) {
    let config = NadeConfig { hidden: args.get("hidden", NadeConfig::paper().hidden) };
    let device = Device::flex().autodiff();
    let model = match init_weights(args, |bytes| config.load(&device, bytes)) {
        Some(model) => NadeTrainer::from_model(config.clone(), model),
        None => seeded(&device, seed, || NadeTrainer::new(config.clone(), &device)),
    };
    train_exact(args, data, seed, epochs, model, json!(config), device, |t, split, rng| nade_nll(&t.model.valid(), split, 1, rng, &Device::flex()))
}

fn train_pixelrnn(args: &Args, data: Arc<Mnist>, seed: u64, epochs: usize) -> (String, Value) {
    use genlab::models::pixelrnn::{PixelRnnConfig, PixelRnnTrainer, evaluate_split};
    let small = PixelRnnConfig::small();
    let config = PixelRnnConfig { hidden: args.get("hidden", small.hidden), layers: args.get("layers", small.layers) };
    let device = Device::flex().autodiff();
    let model = match init_weights(args, |bytes| config.load(&device, bytes)) {
        Some(model) => PixelRnnTrainer::from_model(config.clone(), model),
        None => seeded(&device, seed, || PixelRnnTrainer::new(config.clone(), &device)),
    };
    train_exact(args, data, seed, epochs, model, json!(config), device, |t, split, rng| evaluate_split(&t.model.valid(), split, 1, rng, &Device::flex()))
}

/// The loop of the exact-likelihood models (PixelCNN, NADE, PixelRNN): epochs of steps, then the test NLL
/// on a fresh binarization; weights, checkpoint and record written after every epoch.
#[allow(clippy::too_many_arguments)]
fn train_exact<M: Trainable>(
    args: &Args,
    data: Arc<Mnist>,
    seed: u64,
    epochs: usize,
    model: M,
    config: Value,
    device: Device,
    test_nll: impl Fn(&M, &genlab::data::Split, &mut Rng) -> f64,
) -> (String, Value) {
    let settings = Settings { batch_size: args.get("batch", 64), lr: args.get("lr", 1e-3), seed, lr_decay: args.get("lr-decay", 1.0) };
    settings.check().unwrap_or_else(|e| fail(&e));
    let out = args.string("out", &format!("pretrained/{}.bpk", args.command));
    let mut trainer = Trainer::new(model, settings.clone(), data.clone(), device);
    let (checkpoint, mut log) = open_checkpoint(args, &mut trainer, json!({ "config": config, "init": args.string("init", ""), "epochs": [] }));
    if log["config"] != config {
        fail(&format!("{checkpoint} holds a {} network; pass the same network flags", log["config"]));
    }
    let note = |trainer: &Trainer<M>, log: &Value| {
        let last = log["epochs"].as_array().and_then(|e| e.last().cloned()).unwrap_or(Value::Null);
        json!({
            "config": config, "settings": trainer.settings, "epochs": trainer.history.epoch, "init": log["init"], "steps": trainer.history.step,
            "commands": log["commands"],
            "test_nll_nats": last["test_nll"],
            "test_bits_per_dim": last["test_nll"].as_f64().map(|t| (genlab::models::pixelcnn::bits_per_dim(t) * 10000.0).round() / 10000.0),
            "per_epoch": log["epochs"],
            "train_seconds": trainer.history.elapsed_s.round(),
            "checkpoint": checkpoint,
        })
    };
    let steps_per_epoch = data.train.len() / trainer.settings.batch_size;
    let export = |trainer: &Trainer<M>| {
        let weights = trainer.model.weights().unwrap_or_else(|e| fail(&e));
        std::fs::write(&out, weights).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    };
    for epoch in trainer.history.epoch + 1..=epochs {
        for (i, part) in (0..steps_per_epoch).collect::<Vec<_>>().chunks(50).enumerate() {
            trainer.run_blocking(part.len()).unwrap_or_else(|e| fail(&e));
            if i % 10 == 9 {
                println!("  step {}  train NLL {:7.2}  ({:.0} s)", trainer.history.step, recent_mean(&trainer, 0, 500), trainer.history.elapsed_s);
            }
        }
        let train = recent_mean(&trainer, 0, steps_per_epoch);
        // A fresh binarization of the test digits each epoch, from a stream fixed by the epoch.
        let mut rng = Rng::new(seed ^ 0x91C ^ ((epoch as u64) << 32));
        let test = test_nll(&trainer.model, &data.test, &mut rng);
        let lr = trainer.settings.lr_at(trainer.history.step);
        println!("epoch {epoch:3}  train NLL {train:7.2}  test NLL {test:7.2} nats  lr {lr:.2e}  ({:.0} s)", trainer.history.elapsed_s);
        log["epochs"].as_array_mut().unwrap().push(json!({
            "epoch": epoch, "train_nll": round2(train), "test_nll": round2(test), "lr": lr, "seconds": trainer.history.elapsed_s.round(),
        }));
        export(&trainer);
        save_checkpoint(&checkpoint, &trainer, &log);
        write_note(&out, note(&trainer, &log));
    }
    // Written once more: a finished run resumed with no epoch left still writes them (main says it did).
    export(&trainer);
    (out, note(&trainer, &log))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Whether a checkpoint's log records `now`: compared as values of `T`, not as JSON, so a field
/// added since the checkpoint was written takes its default.
fn logged_as<T: serde::de::DeserializeOwned + PartialEq>(logged: &Value, now: &T) -> bool {
    serde_json::from_value::<T>(logged.clone()).ok().as_ref() == Some(now)
}

/// `--checkpoint FILE` (default checkpoints/<command>.ckpt) and `--resume true`: goes on from
/// the file, whose settings and log win over the command line's; returns the path and the log.
/// `--lr-now LR` then sets the rate from the checkpoint's step on.
fn open_checkpoint<M: Trainable>(args: &Args, trainer: &mut Trainer<M>, fresh_log: Value) -> (String, Value) {
    let path = args.string("checkpoint", &format!("checkpoints/{}.ckpt", args.command));
    let mut log = if args.get("resume", false) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        let log = trainer.resume(&bytes).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        println!("resumed {path} at epoch {}, step {}", trainer.history.epoch, trainer.history.step);
        log
    } else {
        fresh_log
    };
    if let Some(lr) = rate_now(args, "lr") {
        trainer.settings = trainer.settings.with_rate_from(trainer.history.step, lr);
        trainer.settings.check().unwrap_or_else(|e| fail(&e));
    }
    let entry = json!({ "command": command(), "from_epoch": trainer.history.epoch, "lr_now": trainer.settings.lr_at(trainer.history.step) });
    match log["commands"].as_array_mut() {
        Some(list) => list.push(entry),
        None => log["commands"] = json!([entry]),
    }
    (path, log)
}

/// `--<rate>-now LR`: a resumed run's rate from this step on (a lower one once the curve has
/// flattened); a new run takes `--<rate>`.
fn rate_now(args: &Args, rate: &str) -> Option<f64> {
    let now = args.optional(&format!("{rate}-now"));
    if now.is_some() && !args.get("resume", false) {
        fail(&format!("--{rate}-now changes a resumed run's rate; a new run takes --{rate}"));
    }
    now
}

/// Writes the checkpoint beside itself first, so a run killed mid-write keeps the last one.
fn save_checkpoint<M: Trainable>(path: &str, trainer: &Trainer<M>, log: &Value) {
    let bytes = trainer.checkpoint(log).unwrap_or_else(|e| fail(&e));
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path)).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
}

fn train_classifier(args: &Args, data: &Mnist, seed: u64, epochs: usize) -> (String, Value) {
    let batch: usize = args.get("batch", 128);
    let lr: f64 = args.get("lr", 1e-3);
    let out = args.string("out", "pretrained/classifier.bpk");
    let device = Device::flex().autodiff();
    let mut trainer = seeded(&device, seed, || ClassifierTrainer::new(&device));
    let mut rng = Rng::new(seed);
    let mut sampler = genlab::data::Sampler::new(data.train.len());
    let start = std::time::Instant::now();
    let mut accuracy = 0.0;
    for epoch in 1..=epochs {
        let mut losses = Vec::new();
        for _ in 0..data.train.len().div_ceil(batch) {
            let idx = sampler.batch(batch, &mut rng);
            let x = Tensor::<2>::from_data(TensorData::new(data.train.intensities(&idx), [idx.len(), PIXELS]), &device);
            let mut onehot = vec![0.0f32; idx.len() * CLASSES];
            for (r, &i) in idx.iter().enumerate() {
                onehot[r * CLASSES + data.train.labels[i] as usize] = 1.0;
            }
            let labels = Tensor::<2>::from_data(TensorData::new(onehot, [idx.len(), CLASSES]), &device);
            losses.push(trainer.step_labeled(x, labels, lr));
        }
        let loss = Tensor::cat(losses, 0).mean().into_scalar::<f32>();
        accuracy = test_accuracy(&trainer.model.valid(), data);
        println!("epoch {epoch}  train cross-entropy {loss:.4}  test accuracy {:.2} %  ({:.0} s)", accuracy * 100.0, start.elapsed().as_secs_f64());
    }
    let model = trainer.model.valid();
    let probs = classifier::probs_of_split(&model, &data.test, &Device::flex());
    let score = classifier::classifier_score(&probs);
    println!("classifier score of the real test set: {score:.3}");
    save(model, &out);
    let note = json!({
        "architecture": "conv5x5(16)-pool-conv5x5(32)-pool-fc128-fc10, Adam", "batch": batch, "lr": lr, "seed": seed,
        "epochs": epochs, "test_accuracy": (accuracy * 10000.0).round() / 10000.0,
        "test_set_classifier_score": (score * 1000.0).round() / 1000.0,
        "train_seconds": start.elapsed().as_secs(),
    });
    (out, note)
}

fn test_accuracy(model: &classifier::Classifier, data: &Mnist) -> f64 {
    let device = Device::flex();
    let mut right = 0.0;
    for chunk in (0..data.test.len()).collect::<Vec<_>>().chunks(1000) {
        let x = Tensor::<2>::from_data(TensorData::new(data.test.intensities(chunk), [chunk.len(), PIXELS]), &device);
        let labels: Vec<u8> = chunk.iter().map(|&i| data.test.labels[i]).collect();
        right += classifier::accuracy(model, x, &labels) * chunk.len() as f64;
    }
    right / data.test.len() as f64
}
