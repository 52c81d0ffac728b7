//! Tiny argument parsing and shared pieces for the native programs in src/bin.

use std::collections::HashMap;

/// `--name value` pairs after a leading positional word.
pub struct Args {
    pub command: String,
    values: HashMap<String, String>,
}

impl Args {
    pub fn parse(usage: &str) -> Args {
        let mut it = std::env::args().skip(1);
        let command = it.next().unwrap_or_else(|| fail(usage));
        let mut values = HashMap::new();
        while let Some(key) = it.next() {
            let key = key.strip_prefix("--").unwrap_or_else(|| fail(usage)).to_string();
            values.insert(key, it.next().unwrap_or_else(|| fail(usage)));
        }
        Args { command, values }
    }

    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.optional(key).unwrap_or(default)
    }

    /// The value of `--key` when given.
    pub fn optional<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.values.get(key).map(|v| v.parse().unwrap_or_else(|_| fail(&format!("--{key}: cannot parse '{v}'"))))
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.values.get(key).cloned().unwrap_or_else(|| default.to_string())
    }
}

/// The GAN network `--architecture` names (`default` when absent): dcgan-tf is the TF
/// tutorial's larger generator, the page's "TensorFlow tutorial's sizes" choice.
pub fn gan_config(args: &Args, default: &str) -> crate::models::gan::GanConfig {
    use crate::models::gan::GanConfig;
    match args.string("architecture", default).as_str() {
        "dcgan" => GanConfig::dcgan(),
        "fc" => GanConfig::fc(),
        "dcgan-tf" => GanConfig::dcgan_tf(),
        other => fail(&format!("--architecture {other}: dcgan, dcgan-tf or fc")),
    }
}

pub fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// Loads the MNIST asset made by `scripts/mnist.mjs`.
/// MNIST from `path`: a folder with the page's two split assets (`www/data`), or one file holding
/// both splits (the test fixture's layout).
pub fn load_mnist(path: &str) -> crate::data::Mnist {
    let read = |file: &str| std::fs::read(file).unwrap_or_else(|e| fail(&format!("{file}: {e} (run scripts/setup.sh to make it)")));
    if std::path::Path::new(path).is_dir() {
        let split = |name: &str, file: &str| {
            let file = format!("{path}/{file}");
            crate::data::Split::from_asset(&read(&file), name).unwrap_or_else(|e| fail(&format!("{file}: {e}")))
        };
        return crate::data::Mnist { train: split("train", "mnist-train.bin.gz"), test: split("test", "mnist-test.bin.gz") };
    }
    crate::data::Mnist::from_asset(&read(path)).unwrap_or_else(|e| fail(&format!("{path}: {e}")))
}
