//! Native evaluation on the 10k MNIST test set (dynamic binarization):
//!   cargo run --release --bin eval -- vae --weights pretrained/vae-z20.bpk --latent 20 --k 5000
//! Prints test −ELBO and the importance-weighted bound −log p(x) ≥ … with k samples
//! (Burda et al. 2015), in nats, averaged over `--repeats` binarizations.

use burn::prelude::*;
use burn::store::ModuleRecord;
use genlab::cli::{Args, fail, load_mnist};
use genlab::models::vae::{VaeConfig, evaluate_split};
use genlab::rng::Rng;

const USAGE: &str = "usage: eval vae --weights FILE [--latent 20] [--k 5000] [--repeats 1] [--seed 1] [--images 10000] [--data www/data/mnist.bin.gz]";

fn main() {
    let args = Args::parse(USAGE);
    if args.command != "vae" {
        fail(USAGE);
    }
    let weights = args.string("weights", "pretrained/vae-z20.bpk");
    let config = VaeConfig::vae(args.get("latent", 20));
    let k: usize = args.get("k", 5000);
    let repeats: usize = args.get("repeats", 1);
    let mut data = load_mnist(&args.string("data", "www/data/mnist.bin.gz"));
    let images: usize = args.get("images", data.test.len());
    data.test.images.truncate(images * 784);
    data.test.labels.truncate(images);
    let device = Device::flex();
    let record = ModuleRecord::load(&weights).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    let model = config.init(&device).try_load_record(record).unwrap_or_else(|e| fail(&format!("{weights}: {e}")));
    let mut rng = Rng::new(args.get("seed", 1));
    let start = std::time::Instant::now();
    let (mut elbo, mut iwae) = (0.0, 0.0);
    for _ in 0..repeats {
        let (e, i) = evaluate_split(&model, &data.test, k, &mut rng, &device);
        elbo += e / repeats as f64;
        iwae += i.unwrap_or(f64::NAN) / repeats as f64;
    }
    let result = serde_json::json!({
        "weights": weights, "latent": config.latent, "test_images": data.test.len(), "binarizations": repeats,
        "test_negative_elbo_nats": (elbo * 100.0).round() / 100.0,
        "k": k, "test_negative_iwae_bound_nats": (iwae * 100.0).round() / 100.0,
        "seconds": start.elapsed().as_secs(),
    });
    println!("{result}");
}
