//! Native trainer: the page's model code, on the CPU, for the weights in pretrained/.
//!   cargo run --release --bin train -- vae --latent 20 --epochs 100 --seed 1 --out pretrained/vae-z20.bpk
//! `vae` or `ae` (plain autoencoder). Prints train and test −ELBO after each epoch and writes
//! the weights (burnpack) plus a .json note of how they were made.

use std::sync::Arc;

use burn::prelude::*;
use genlab::cli::{Args, fail, load_mnist};
use genlab::models::vae::{VaeConfig, VaeTrainer, evaluate_split};
use genlab::rng::Rng;
use genlab::train::{Settings, Trainer};

const USAGE: &str = "usage: train vae|ae [--latent 20] [--epochs 100] [--batch 128] [--lr 0.001] [--seed 1] \
                     [--data www/data/mnist.bin.gz] [--out pretrained/vae-z20.bpk]";

fn main() {
    let args = Args::parse(USAGE);
    let latent: usize = args.get("latent", 20);
    let config = match args.command.as_str() {
        "vae" => VaeConfig::vae(latent),
        "ae" => VaeConfig::autoencoder(latent),
        _ => fail(USAGE),
    };
    let epochs: usize = args.get("epochs", 100);
    let settings = Settings { batch_size: args.get("batch", 128), lr: args.get("lr", 1e-3), seed: args.get("seed", 1) };
    settings.check().unwrap_or_else(|e| fail(&e));
    let out = args.string("out", &format!("pretrained/{}-z{latent}.bpk", args.command));
    let data = Arc::new(load_mnist(&args.string("data", "www/data/mnist.bin.gz")));

    let device = Device::flex().autodiff();
    let steps_per_epoch = data.train.len().div_ceil(settings.batch_size);
    let mut trainer = Trainer::new(VaeTrainer::new(config.clone(), &device), settings.clone(), data.clone(), device.clone());
    let mut rng = Rng::new(settings.seed ^ 0xE7A1);
    let mut test = f64::NAN;
    for epoch in 1..=epochs {
        trainer.run_blocking(steps_per_epoch).unwrap_or_else(|e| fail(&e));
        let h = &trainer.history;
        let recent = &h.train[h.train.len() - steps_per_epoch..];
        let train = recent.iter().map(|p| p.values[0] as f64).sum::<f64>() / recent.len() as f64;
        test = evaluate_split(&trainer.model.model.valid(), &data.test, 0, &mut rng, &Device::flex()).0;
        println!("epoch {epoch:3}  train -ELBO {train:7.2}  test -ELBO {test:7.2}  ({:.0} s)", h.elapsed_s);
    }
    let record = trainer.model.model.valid().into_record();
    record.save(&out).unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    let note = serde_json::json!({
        "command": format!("cargo run --release --bin train -- {}", std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
        "config": config, "settings": settings, "epochs": epochs, "steps": trainer.history.step,
        "test_negative_elbo_nats": (test * 100.0).round() / 100.0,
        "train_seconds": trainer.history.elapsed_s.round(),
    });
    let note_path = out.replace(".bpk", ".json");
    std::fs::write(&note_path, serde_json::to_string_pretty(&note).unwrap() + "\n").unwrap_or_else(|e| fail(&e.to_string()));
    println!("wrote {out} and {note_path}");
}
