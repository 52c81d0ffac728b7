//! The GAN lab's face: its section of the page, and the GAN's pictures — a fixed-noise sample
//! grid and its filmstrip across training, the generator-loss curves with the batch marked,
//! interpolation, vector arithmetic, and the mode-collapse meter.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use serde_json::{Value, json};

use crate::models::classifier::{self, Classifier, class_histogram, classifier_score};
use crate::models::gan::{Architecture, GanConfig, GanOptions, GanTrainer, Generator, GeneratorLoss, Lipschitz, interpolate, latent_arithmetic, mean_latent};
use crate::render::image_grid;
use crate::render::plots::{draw_class_histogram, draw_critic_generator_loss, draw_generator_losses};
use crate::rng::Rng;
use crate::train::{Settings, Trainer};

use super::lab::{Lab, ModelView, Surfaces, ViewSpec, comparison_row};
use super::spec::{CanvasSpec, ChartSpec, Control, Demo, Event, Figure, Input, Pointer, Values};
use super::{Shared, Surface, fetch_bytes, read, tensor, yield_now};

const GRID: usize = 64;
const FILMSTRIP_MAX: usize = 120;
const INTERPOLATION_ROWS: usize = 4;
const INTERPOLATION_STEPS: usize = 10;
const POOL: usize = 24;
const POOL_COLS: usize = 8;
const POOL_GAP: usize = 4;
const POOL_SCALE: usize = 2;
const NEIGHBOURS: usize = 5;
const METER_SAMPLES: usize = 1000;
const METER_EVERY_STEPS: u64 = 500;
const GROUP_COLORS: [[u8; 4]; 3] = [[79, 195, 247, 255], [229, 115, 115, 255], [129, 199, 132, 255]];

pub(crate) struct GanView {
    shared: Rc<Shared>,
    samples: Surface,
    loss_curves: Surface,
    filmstrip_view: Surface,
    interpolation: Surface,
    pool_view: Surface,
    arithmetic: Surface,
    meter_view: Surface,
    /// The noise behind the sample grid: fixed, so the filmstrip shows the same z's learning.
    grid_noise: RefCell<Vec<f32>>,
    filmstrip: RefCell<Filmstrip>,
    interpolation_seed: Cell<u64>,
    pool: RefCell<Pool>,
    /// The classifier that judges samples, fetched once; None while missing or unusable.
    classifier: RefCell<Option<Classifier>>,
    classifier_tried: Cell<bool>,
    meter_step: Cell<Option<u64>>,
    /// The meter's last classifier score (the map's figure for this lab).
    meter_score: Cell<Option<f64>>,
    /// Pictures from the running average of G (the "average of G" switch).
    averaged: Cell<bool>,
}

/// Snapshots of the sample grid (intensities as bytes) with the step they were taken at.
#[derive(Default)]
struct Filmstrip {
    frames: Vec<(u64, Vec<u8>)>,
    every_steps: u64,
    /// The frame the user scrubbed to; None follows the newest.
    selected: Option<usize>,
}

/// Samples to click into groups A, B, C for vector arithmetic.
struct Pool {
    seed: u64,
    z: Vec<f32>,
    groups: Vec<Option<usize>>,
}

impl ModelView for GanView {
    type Model = GanTrainer;

    fn spec() -> ViewSpec {
        ViewSpec {
            id: "gan",
            title: "Generative adversarial network (and the Wasserstein GAN)",
            family: "implicit density",
            tradeoff: "sharp samples, fast sampling, but no density at all",
            bench: &["dcgan"],
            caption: "No p(x) to write down: a generator G turns noise z ~ N(0, I) into digits, and a discriminator D tries \
                to tell them from real ones. The two play min<sub>G</sub> max<sub>D</sub> E[log D(x)] + E[log(1 − D(G(z)))], \
                alternating k steps of D with one step of G. Curves: the two losses, and D's mean verdict on real digits \
                D(x) and on fakes D(G(z)) (at equilibrium both are ½). In the Wasserstein game D is a critic whose \
                score gap E critic(x) − E critic(G(z)) estimates how far G's samples are from the data (the W estimate \
                curve, which falls as they improve), held honest by keeping the critic 1-Lipschitz; G's loss is −critic(G(z)).",
            choice: vec![
                Control::new("arch", "architecture", Input::Select {
                    options: vec![
                        ("dcgan", "DCGAN (convolutional)"),
                        ("dcgan-tf", "DCGAN, TensorFlow tutorial's sizes (larger G)"),
                        ("fc", "fully connected (2014)"),
                    ],
                    value: "dcgan",
                })
                .title(
                    "The TensorFlow DCGAN tutorial's network: G projects z (100 numbers) to 7×7×256 and up-samples with 5×5 kernels \
                    through 128 and 64 channels, 2.3 M weights against the small DCGAN's 0.54 M; slower to train here, \
                    and its pretrained file is larger (README: GAN figures)",
                ),
                Control::new("game", "game", Input::Select {
                    options: vec![("classifier", "D classifies: the original game"), ("wasserstein", "D is a critic: Wasserstein GAN")],
                    value: "classifier",
                })
                .title("Arjovsky et al. 2017: D scores samples without a sigmoid, and E critic(x) − E critic(G(z)) estimates the Wasserstein distance between data and samples"),
                Control::new("mbstd", "minibatch std", Input::Checkbox { value: false })
                    .title("Karras et al. 2018: D also sees the spread of the batch, so collapsed batches are easy to spot"),
                // On by default: the pretrained DCGAN the page opens on was trained with both.
                Control::new("sn", "spectral norm", Input::Checkbox { value: true })
                    .title("Miyato et al. 2018: each of D's layers is divided by its largest singular value, so D cannot grow arbitrarily sharp and G keeps a useful gradient"),
                Control::new("pack", "packing", Input::Checkbox { value: true })
                    .title("PacGAN (Lin et al. 2018): D judges two samples at once, so a pair of near-identical fakes — mode collapse — gives itself away"),
            ],
            options: vec![
                Control::new("loss", "G loss", Input::Select {
                    options: vec![
                        ("non-saturating", "non-saturating −log D(G(z))"),
                        ("minimax", "minimax log(1 − D(G(z)))"),
                        ("feature-matching", "feature matching ‖E f(x) − E f(G(z))‖²"),
                    ],
                    value: "non-saturating",
                })
                .title("the generator's objective in the classifier game (in the Wasserstein game G maximises the critic's score); feature matching (Salimans et al. 2016) matches D's average features of real digits, a target that does not chase D's current weak spot"),
                Control::new("lipschitz", "critic kept 1-Lipschitz by", Input::Select {
                    options: vec![("penalty", "gradient penalty (WGAN-GP)"), ("clipping", "weight clipping (WGAN)")],
                    value: "penalty",
                })
                .title("Wasserstein game only. Penalty (Gulrajani et al. 2017): λ·(‖∇critic(x̂)‖ − 1)² at points between real and fake; clipping (Arjovsky et al. 2017): every weight kept in [−0.01, 0.01]"),
                Control::new("k", "k", Input::number(1.0, 10.0, 1.0, 1.0)).title("discriminator updates per generator update (the Wasserstein papers use 5)"),
                Control::new("dlr", "lr D", Input::number(0.0, 1.0, 0.0001, 2e-4)),
                Control::new("average", "average of G", Input::Checkbox { value: true })
                    .title("pictures from an exponential moving average of G's weights (smooths the oscillation of the game); off: the raw G")
                    .live(),
            ],
            settings: Settings { batch_size: 64, lr: 2e-4, seed: 1, lr_decay: 1.0 },
            lr_label: "lr G",
            // Losses and probabilities live on different scales: a chart each.
            charts: vec![
                ChartSpec { name: "chart", label: "D and G loss curves (critic and G in the Wasserstein game)", width: 560, height: 220, metrics: vec![0, 1] },
                ChartSpec { name: "prob-chart", label: "D(x) and D(G(z)) curves (W estimate and critic gradient norm in the Wasserstein game)", width: 400, height: 220, metrics: vec![2, 3] },
            ],
            figures: vec![
                Figure {
                    canvases: vec![CanvasSpec::plot("loss-curves", "the generator's losses over D(G(z)) (over critic(G(z)) in the Wasserstein game), the batch marked", 460, 260)],
                    controls: vec![],
                    caption: "<b>Why the non-saturating loss.</b> Both curves over D(G(z)); dots are this batch's samples. Early \
                        on D rejects fakes (dots at the left), where log(1 − D) is flat: almost no gradient for G. −log D is \
                        steep exactly there. Switch the G loss above and train from scratch to see it. In the Wasserstein game \
                        G's loss is −critic(G(z)), a straight line: the same slope wherever the samples sit, no flat end.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("samples", "samples from fixed noise")],
                    controls: vec![],
                    caption: "<b>Samples.</b> G(z) for 64 fixed z's, redrawn while training. Same z, changing G: you watch one \
                        generator learn. No density is ever computed — sampling is all a GAN gives.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("filmstrip", "the sample grid earlier in training")],
                    controls: vec![
                        Control::new("scrub", "", Input::Range { min: 0.0, max: 0.0, value: 0.0 }).live().unlinked(),
                        Control::new("frame", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Filmstrip.</b> The same grid at intervals across training; drag to scrub. Look for oscillation \
                        and for many z's turning into the same digit (mode collapse).",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("interpolation", "interpolations between random latent vectors")],
                    controls: vec![Control::new("new-interpolation", "Other end points", Input::Button { primary: false })],
                    caption: "<b>Interpolation</b> (DCGAN, fig. 4). Each row decodes points on a straight line between two \
                        random z's. Smooth transitions say G learned a continuous map, not a table of memorised digits.",
                },
                Figure {
                    canvases: vec![
                        CanvasSpec::picture("pool", "samples to pick for vector arithmetic").style("cursor:pointer").pointer(Pointer::Click),
                        CanvasSpec::picture("arithmetic", "decode of mean A − mean B + mean C"),
                    ],
                    controls: vec![
                        Control::new("group", "", Input::Radio { options: vec![("0", "A", "#4fc3f7"), ("1", "B", "#e57373"), ("2", "C", "#81c784")], value: "0" }),
                        Control::new("new-pool", "Other samples", Input::Button { primary: false }),
                        Control::new("groups", "", Input::Info { value: "A 0 · B 0 · C 0" }),
                    ],
                    caption: "<b>Vector arithmetic</b> (DCGAN, fig. 7). Click samples into groups A, B, C. Below: \
                        G(mean z<sub>A</sub>), G(mean z<sub>B</sub>), G(mean z<sub>C</sub>), then G(mean A − mean B + mean C) \
                        and neighbours of it (noise 0.25). Averaging z's of, say, thick 7s minus thin 7s plus thin 1s adds \
                        thickness to a 1.",
                },
                Figure {
                    canvases: vec![CanvasSpec::plot("meter", "class histogram of 1000 generated digits", 460, 200)],
                    controls: vec![
                        Control::new("measure", "Measure now", Input::Button { primary: false }),
                        Control::new("meter-info", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Mode-collapse meter.</b> A classifier (98.9 % on the test set) labels 1000 samples; red bars \
                        hold under 5 %. Score exp(E KL(p(y|x) ‖ p(y))): 10 if every sample is clearly one digit and all ten \
                        are equally common, 1 if G makes one digit. Real test digits score ≈ 9.7. Updated every 500 steps.",
                },
            ],
            demos: vec![
                Demo {
                    name: "minimax-vs-non-saturating",
                    title: "Minimax vs non-saturating generator loss, from scratch",
                    note: "With the minimax loss log(1 − D(G(z))) G learns slowest exactly when D rejects its samples (D(G(z)) near 0): \
                        the <b>loss curves</b> plot shows the flat end the batch sits on. Pause, choose the non-saturating loss, Reset and \
                        Train: the same seed learns digits sooner.",
                    set: vec![("arch", "dcgan"), ("game", "classifier"), ("loss", "minimax"), ("k", "1"), ("from", "scratch")],
                    then: vec!["reset", "train"],
                },
                Demo {
                    name: "k-steps",
                    title: "k discriminator steps per generator step",
                    note: "The lecture's algorithm: k updates of D, then one of G. With k = 5 D stays ahead (D(x) high, D(G(z)) low); \
                        each G step costs 6 batches. Compare the curves with k = 1.",
                    set: vec![("arch", "dcgan"), ("game", "classifier"), ("loss", "non-saturating"), ("k", "5"), ("from", "scratch")],
                    then: vec!["reset", "train"],
                },
                Demo {
                    name: "fc-collapse",
                    title: "Mode collapse: the fully connected GAN, with and without minibatch std",
                    note: "Trained without minibatch std, this GAN collapsed: the <b>meter</b>'s histogram shows a few digits. Tick \
                        minibatch std and press Reset: the pair trained with it (D sees the spread of a batch) covers all ten.",
                    set: vec![("arch", "fc"), ("game", "classifier"), ("mbstd", "false"), ("sn", "false"), ("pack", "false"), ("from", "pretrained")],
                    then: vec!["reset"],
                },
                Demo {
                    name: "wgan",
                    title: "Wasserstein GAN: a loss curve that means something",
                    note: "The critic scores real digits above fakes; the gap, the <b>W estimate</b>, estimates how far the samples \
                        are from the data, and falls as they improve — unlike the minimax loss, which says little about quality. \
                        Five critic steps per G step; the gradient penalty keeps ‖∇critic‖ near 1. Switch to weight clipping and \
                        Reset to compare.",
                    set: vec![("arch", "dcgan"), ("game", "wasserstein"), ("lipschitz", "penalty"), ("k", "5"), ("mbstd", "false"), ("from", "scratch")],
                    then: vec!["reset", "train"],
                },
                Demo {
                    name: "dcgan-latent",
                    title: "DCGAN: interpolation and vector arithmetic in z",
                    note: "Straight lines between random z give smooth changes of digit (<b>interpolation</b>). For arithmetic, click \
                        samples into groups A, B and C: the decode of mean A − mean B + mean C mixes their features.",
                    set: vec![("arch", "dcgan"), ("game", "classifier"), ("sn", "true"), ("pack", "true"), ("mbstd", "false"), ("from", "pretrained")],
                    then: vec!["reset", "new-interpolation", "new-pool"],
                },
            ],
        }
    }

    fn new(shared: &Rc<Shared>, mut s: Surfaces) -> Result<Self, String> {
        let latent = GanConfig::dcgan().latent;
        Ok(GanView {
            shared: shared.clone(),
            samples: s.take("samples")?,
            loss_curves: s.take("loss-curves")?,
            filmstrip_view: s.take("filmstrip")?,
            interpolation: s.take("interpolation")?,
            pool_view: s.take("pool")?,
            arithmetic: s.take("arithmetic")?,
            meter_view: s.take("meter")?,
            grid_noise: RefCell::new(Rng::new(2024).normals(GRID * latent)),
            filmstrip: RefCell::new(Filmstrip { every_steps: 25, ..Filmstrip::default() }),
            interpolation_seed: Cell::new(1),
            pool: RefCell::new(Pool::new(1, latent)),
            classifier: RefCell::new(None),
            classifier_tried: Cell::new(false),
            meter_step: Cell::new(None),
            meter_score: Cell::new(None),
            averaged: Cell::new(true),
        })
    }

    fn build(&self, values: &Values, device: &Device, weights: Option<Vec<u8>>) -> Result<GanTrainer, String> {
        let config = config(values)?;
        let (gan, average) = match weights {
            None => (config.init(device), None),
            Some(bytes) => config.load(device, bytes)?,
        };
        let mut model = GanTrainer::from_gan(config, gan).with_average(average);
        model.options = options(values)?;
        Ok(model)
    }

    fn pretrained(values: &Values) -> Result<(String, String), String> {
        let config = config(values)?;
        let suffix: String = [(config.spectral_norm, "-sn"), (config.pack > 1, "-pack2"), (config.minibatch_std, "-mbstd")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, s)| *s)
            .collect();
        let base = match (config.architecture, config.wasserstein) {
            (Architecture::Fc, false) => "fc-gan",
            (Architecture::Fc, true) => "fc-wgan",
            // `check` refuses the Wasserstein game for it.
            (Architecture::DcganTf, _) => "dcgan-tf",
            (_, false) => "dcgan",
            (_, true) => "wgan",
        };
        Ok((format!("{base}{suffix}.bpk"), config.describe()))
    }

    fn apply(&self, lab: &Lab<Self>, values: &Values) -> Result<(), String> {
        lab.trainer.borrow_mut().model.options = options(values)?;
        self.averaged.set(values.flag("average"));
        Ok(())
    }

    async fn option_changed(&self, lab: &Lab<Self>) -> Result<(), String> {
        self.draw_loss_curves(lab).await?;
        // The average-of-G switch: every picture comes from the other generator now.
        self.draw(lab).await
    }

    /// No likelihood to show: the classifier score of the meter's last measurement.
    fn headline(&self, _trainer: &Trainer<GanTrainer>, _record: Option<&Value>) -> Option<String> {
        self.meter_score.get().map(|s| format!("classifier score {s:.2} (real digits ≈ 9.7)"))
    }

    fn describe(t: &Trainer<GanTrainer>) -> String {
        let h = &t.history;
        let metrics = h.train.last().map(|p| h.names.iter().zip(&p.values).map(|(n, v)| format!("{n} {v:.3}")).collect::<Vec<_>>().join("  "));
        let updates = format!("updates D {} / G {}", t.model.d_updates, t.model.g_updates);
        metrics.map_or(updates.clone(), |m| format!("{m} · {updates}"))
    }

    fn reset(&self, lab: &Lab<Self>) {
        let latent = lab.trainer.borrow().model.config.latent;
        if self.grid_noise.borrow().len() != GRID * latent {
            *self.grid_noise.borrow_mut() = Rng::new(2024).normals(GRID * latent);
            *self.pool.borrow_mut() = Pool::new(1, latent);
        }
        *self.filmstrip.borrow_mut() = Filmstrip { every_steps: 25, ..Filmstrip::default() };
        self.meter_step.set(None);
        lab.text("meter-info", "");
    }

    fn moved(&self, _lab: &Lab<Self>) {
        // The classifier lived on the lost device: fetch it again for the new one.
        *self.classifier.borrow_mut() = None;
        self.classifier_tried.set(false);
    }

    /// Every view, a piece at a time with the worker free for events in between.
    async fn draw(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (generator, latent) = self.generator(lab);
        let noise = self.grid_noise.borrow().clone();
        let grid = self.sample(lab, &generator, noise, latent).await?;
        self.samples.show(&image_grid(&grid, 8, 2))?;
        self.snapshot(lab.trainer.borrow().history.step, &grid);
        self.draw_filmstrip(lab)?;
        self.draw_loss_curves(lab).await?;
        yield_now().await;
        self.draw_interpolation(lab).await?;
        yield_now().await;
        self.draw_pool(lab).await?;
        self.draw_arithmetic(lab).await?;
        self.load_classifier().await;
        let step = lab.trainer.borrow().history.step;
        let due = self.meter_step.get().is_none_or(|s| step >= s + METER_EVERY_STEPS);
        if due && self.classifier.borrow().is_some() {
            yield_now().await;
            self.measure(lab).await?;
        }
        Ok(())
    }

    /// The classifier score of `digits` samples and the Fréchet distance of their classifier
    /// features to as many test digits' (the native `eval gan` uses 10 000 of each): for the
    /// loaded generator, then for the other pretrained GANs of the lecture (the lab's DCGANs, the
    /// Wasserstein GAN, the fully connected pair), each with its running average of G when its
    /// file has one.
    async fn compare(&self, lab: &Lab<Self>, _k: usize, digits: usize) -> Result<Vec<Value>, String> {
        self.load_classifier().await;
        let Some(classifier) = self.classifier.borrow().clone() else { return Err("no classifier: nothing to judge the samples with".into()) };
        let device = lab.device();
        let (generator, latent) = self.generator(lab);
        let name = lab.trainer.borrow().model.config.describe();
        let name = if self.averaged.get() { format!("{name}, average of G (loaded now)") } else { format!("{name} (loaded now)") };
        let mut generators = vec![(name, generator, latent)];
        let values = lab.built_values();
        let (loaded, _) = Self::pretrained(&values)?;
        let training_device = lab.trainer.borrow().device().clone();
        for set in COMPARED {
            let mut other = values.clone();
            for (control, value) in *set {
                other.set(control, Value::from(*value));
            }
            let (file, _) = Self::pretrained(&other)?;
            if file == loaded {
                continue;
            }
            let Ok(Some(bytes)) = fetch_bytes(&format!("pretrained/{file}"), &|_, _| {}).await else { continue };
            match self.build(&other, &training_device, Some(bytes)) {
                Ok(model) => {
                    let average = if model.ema.is_some() { ", average of G" } else { "" };
                    generators.push((format!("{}{average} (pretrained)", model.config.describe()), model.picture_generator(true), model.config.latent));
                }
                // One file that does not load leaves the others' rows.
                Err(e) => log::warn!("{file}: {e}"),
            }
        }
        // The test digits' features once, for every generator's distance.
        let n = digits.min(self.shared.data().test.len());
        let mut reference = Vec::new();
        for start in (0..n).step_by(250) {
            let m = 250.min(n - start);
            let real = tensor(self.shared.data().test.intensities(&(start..start + m).collect::<Vec<_>>()), [m, crate::data::PIXELS], &device);
            reference.extend(read(classifier.features(real)).await?);
            yield_now().await;
        }
        let mut rows = Vec::new();
        for (name, generator, latent) in generators {
            let mut rng = Rng::new(1);
            let (mut probs, mut features) = (Vec::new(), Vec::new());
            for start in (0..n).step_by(250) {
                let m = 250.min(n - start);
                let x = generator.sample(rng.normal_tensor([m, latent], &device));
                features.extend(read(classifier.features(x.clone())).await?);
                probs.extend(read(classifier.probs(x)).await?);
                yield_now().await;
            }
            rows.push(comparison_row(
                "gan",
                &name,
                &format!("classifier score, {n} samples"),
                classifier_score(&probs),
                "real test digits: 9.71 (this classifier)",
            ));
            rows.push(comparison_row(
                "gan",
                &name,
                &format!("Fréchet distance to {n} test digits (classifier features)"),
                classifier::frechet_distance(&features, &reference, classifier::FEATURES),
                "training vs test digits: 3.55",
            ));
        }
        Ok(rows)
    }

    async fn handle(&self, lab: &Lab<Self>, event: &Event) -> Result<Value, String> {
        match event.control.as_str() {
            // The meter's button; it also answers with the score and the rarest digit's share
            // (benchmarks).
            "measure" => {
                self.load_classifier().await;
                let (score, rarest) = self.measure(lab).await?;
                return Ok(serde_json::json!({ "score": score, "rarest": rarest }));
            }
            "scrub" => {
                let index = event.values.count("scrub", "frame")?;
                {
                    let mut f = self.filmstrip.borrow_mut();
                    let last = f.frames.len().saturating_sub(1);
                    f.selected = (index < last).then_some(index);
                }
                self.draw_filmstrip(lab)?;
            }
            "new-interpolation" => {
                self.interpolation_seed.set(self.interpolation_seed.get() + 1);
                self.draw_interpolation(lab).await?;
            }
            "new-pool" => {
                let (seed, latent) = (self.pool.borrow().seed + 1, lab.trainer.borrow().model.config.latent);
                *self.pool.borrow_mut() = Pool::new(seed, latent);
                self.draw_pool(lab).await?;
                self.draw_arithmetic(lab).await?;
                lab.text("groups", "A 0 · B 0 · C 0");
            }
            "pool" => {
                let group = event.values.count("group", "group")?;
                if group > 2 {
                    return Err("group is 0 (A), 1 (B) or 2 (C)".into());
                }
                let cell = (28 + POOL_GAP) * POOL_SCALE;
                let (col, row) = ((event.x.max(0.0) as usize) / cell, (event.y.max(0.0) as usize) / cell);
                let index = row * POOL_COLS + col;
                if col < POOL_COLS && index < POOL {
                    let mut pool = self.pool.borrow_mut();
                    pool.groups[index] = if pool.groups[index] == Some(group) { None } else { Some(group) };
                }
                self.draw_pool(lab).await?;
                self.draw_arithmetic(lab).await?;
                let sizes = self.pool.borrow().sizes();
                lab.text("groups", &format!("A {} · B {} · C {}", sizes[0], sizes[1], sizes[2]));
            }
            other => return Err(format!("the GAN lab has no control '{other}'")),
        }
        Ok(Value::Null)
    }
}

/// k, the generator's objective and D's learning rate from the page's values.
fn options(values: &Values) -> Result<GanOptions, String> {
    let generator_loss = match values.text("loss")?.as_str() {
        "minimax" => GeneratorLoss::Minimax,
        "non-saturating" => GeneratorLoss::NonSaturating,
        "feature-matching" => GeneratorLoss::FeatureMatching,
        other => return Err(format!("unknown generator loss '{other}'")),
    };
    let lipschitz = match values.text("lipschitz")?.as_str() {
        "penalty" => Lipschitz::GradientPenalty,
        "clipping" => Lipschitz::Clipping,
        other => return Err(format!("unknown Lipschitz constraint '{other}' (penalty or clipping)")),
    };
    let options = GanOptions { k: values.count("k", "k")?, generator_loss, d_lr: values.number("dlr", "D's learning rate")?, lipschitz };
    options.check()?;
    Ok(options)
}

/// The pretrained GANs the comparison panel judges beside the loaded one: the controls that
/// select each (the rest as the lab has them).
const COMPARED: &[&[(&str, &str)]] = &[
    &[("arch", "dcgan"), ("game", "classifier"), ("sn", "true"), ("pack", "true"), ("mbstd", "false")],
    &[("arch", "dcgan"), ("game", "classifier"), ("sn", "false"), ("pack", "false"), ("mbstd", "false")],
    &[("arch", "dcgan-tf"), ("game", "classifier"), ("sn", "true"), ("pack", "true"), ("mbstd", "false")],
    &[("arch", "dcgan"), ("game", "wasserstein"), ("sn", "true"), ("pack", "true"), ("mbstd", "false")],
    &[("arch", "fc"), ("game", "classifier"), ("sn", "false"), ("pack", "false"), ("mbstd", "false")],
    &[("arch", "fc"), ("game", "classifier"), ("sn", "false"), ("pack", "false"), ("mbstd", "true")],
];

/// The network the choice controls describe.
fn config(values: &Values) -> Result<GanConfig, String> {
    let base = match values.text("arch")?.as_str() {
        "dcgan" => GanConfig::dcgan(),
        "dcgan-tf" => GanConfig::dcgan_tf(),
        "fc" => GanConfig::fc(),
        other => return Err(format!("unknown architecture '{other}' (dcgan, dcgan-tf or fc)")),
    };
    let config = GanConfig {
        minibatch_std: values.flag("mbstd"),
        spectral_norm: values.flag("sn"),
        pack: if values.flag("pack") { 2 } else { 1 },
        wasserstein: match values.text("game")?.as_str() {
            "classifier" => false,
            "wasserstein" => true,
            other => return Err(format!("unknown game '{other}' (classifier or wasserstein)")),
        },
        ..base
    };
    config.check()?;
    Ok(config)
}

impl GanView {
    /// The generator the pictures come from (the running average of G when switched on) and z's size.
    fn generator(&self, lab: &Lab<GanView>) -> (Generator, usize) {
        let t = lab.trainer.borrow();
        (t.model.picture_generator(self.averaged.get()), t.model.config.latent)
    }
}

impl Pool {
    fn new(seed: u64, latent: usize) -> Pool {
        Pool { seed, z: Rng::new(1000 + seed).normals(POOL * latent), groups: vec![None; POOL] }
    }

    fn sizes(&self) -> [usize; 3] {
        let mut sizes = [0; 3];
        for g in self.groups.iter().flatten() {
            sizes[*g] += 1;
        }
        sizes
    }
}

impl GanView {
    /// Intensities of G(z) for `z` ([n · latent]).
    async fn sample(&self, lab: &Lab<Self>, generator: &Generator, z: Vec<f32>, latent: usize) -> Result<Vec<f32>, String> {
        let n = z.len() / latent;
        read(generator.sample(tensor(z, [n, latent], &lab.device()))).await
    }

    /// The classifier, fetched the first time the meter could run; without it the meter is off,
    /// with a message, and everything else works.
    async fn load_classifier(&self) {
        if self.classifier_tried.replace(true) {
            return;
        }
        let loaded = match fetch_bytes("pretrained/classifier.bpk", &|_, _| {}).await {
            Ok(Some(bytes)) => classifier::load(&self.shared.device(), bytes),
            Ok(None) => Err("pretrained/classifier.bpk is missing".into()),
            Err(e) => Err(e),
        };
        match loaded {
            Ok(model) => *self.classifier.borrow_mut() = Some(model),
            Err(e) => self.shared.out.message("warn", &format!("Mode-collapse meter off: {e}")),
        }
    }

    /// Keeps a frame every `every_steps` steps; when full, drops every other frame and doubles
    /// the interval, so the strip always spans the whole run.
    fn snapshot(&self, step: u64, grid: &[f32]) {
        let mut f = self.filmstrip.borrow_mut();
        if let Some((last, _)) = f.frames.last()
            && step < last + f.every_steps
        {
            return;
        }
        f.frames.push((step, grid.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()));
        if f.frames.len() > FILMSTRIP_MAX {
            let kept: Vec<_> = f.frames.drain(..).enumerate().filter(|(i, _)| i % 2 == 0).map(|(_, x)| x).collect();
            f.frames = kept;
            f.every_steps *= 2;
            f.selected = None;
        }
    }

    /// The selected frame (or the newest), the scrubber's range and the frame's caption.
    fn draw_filmstrip(&self, lab: &Lab<Self>) -> Result<(), String> {
        let f = self.filmstrip.borrow();
        let Some(last) = f.frames.len().checked_sub(1) else { return Ok(()) };
        let index = f.selected.unwrap_or(last).min(last);
        let (step, bytes) = &f.frames[index];
        let images: Vec<f32> = bytes.iter().map(|&b| b as f32 / 255.0).collect();
        self.filmstrip_view.show(&image_grid(&images, 8, 2))?;
        lab.control("scrub", json!({ "max": last, "value": index }));
        lab.text("frame", &format!("frame {} of {} · step {step}", index + 1, f.frames.len()));
        Ok(())
    }

    async fn draw_loss_curves(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (outputs, minimax, critic) = {
            let t = lab.trainer.borrow();
            (t.model.last_fake_outputs.clone(), t.model.options.generator_loss == GeneratorLoss::Minimax, t.model.config.wasserstein)
        };
        let outputs = match outputs {
            Some(p) => read(p.unsqueeze()).await?,
            None => Vec::new(),
        };
        if critic {
            self.loss_curves.paint(|canvas| draw_critic_generator_loss(canvas, &outputs))
        } else {
            self.loss_curves.paint(|canvas| draw_generator_losses(canvas, &outputs, minimax))
        }
    }

    /// Rows from one random z to another, as in the DCGAN paper's figure: smooth changes mean
    /// G learned a smooth map, not a lookup table of training digits.
    async fn draw_interpolation(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (generator, latent) = self.generator(lab);
        let mut rng = Rng::new(500 + self.interpolation_seed.get());
        let mut z = Vec::with_capacity(INTERPOLATION_ROWS * INTERPOLATION_STEPS * latent);
        for _ in 0..INTERPOLATION_ROWS {
            let (a, b) = (rng.normals(latent), rng.normals(latent));
            z.extend(interpolate(&a, &b, INTERPOLATION_STEPS));
        }
        let images = self.sample(lab, &generator, z, latent).await?;
        self.interpolation.show(&image_grid(&images, INTERPOLATION_STEPS, 2))
    }

    async fn draw_pool(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (generator, latent) = self.generator(lab);
        let z = self.pool.borrow().z.clone();
        let images = self.sample(lab, &generator, z, latent).await?;
        let mut img = image_grid(&images, POOL_COLS, POOL_GAP).scaled(POOL_SCALE);
        let cell = (28 + POOL_GAP) * POOL_SCALE;
        for (i, g) in self.pool.borrow().groups.iter().enumerate() {
            if let Some(g) = g {
                let (x, y) = ((i % POOL_COLS) * cell, (i / POOL_COLS) * cell);
                img.outline(x, y, 28 * POOL_SCALE, 28 * POOL_SCALE, 3, GROUP_COLORS[*g]);
            }
        }
        self.pool_view.show(&img)
    }

    /// decode(mean A), decode(mean B), decode(mean C), then decode(mean A − mean B + mean C)
    /// and a few neighbours of it (the DCGAN paper adds noise of scale 0.25 the same way).
    async fn draw_arithmetic(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (generator, latent) = self.generator(lab);
        let groups = {
            let pool = self.pool.borrow();
            let group = |k| -> Vec<Vec<f32>> {
                pool.groups.iter().enumerate().filter(|(_, g)| **g == Some(k)).map(|(i, _)| pool.z[i * latent..(i + 1) * latent].to_vec()).collect()
            };
            [group(0), group(1), group(2)]
        };
        let result = match latent_arithmetic(&groups[0], &groups[1], &groups[2], latent) {
            Ok(result) => result,
            Err(why) => return self.arithmetic.placeholder(&why),
        };
        let mut z: Vec<f32> = groups.iter().flat_map(|g| mean_latent(g, latent)).collect();
        z.extend(&result);
        let mut rng = Rng::new(77);
        for _ in 0..NEIGHBOURS {
            z.extend(result.iter().map(|v| v + 0.25 * rng.normal()));
        }
        let images = self.sample(lab, &generator, z, latent).await?;
        self.arithmetic.show(&image_grid(&images, 4 + NEIGHBOURS, 2))
    }

    /// The mode-collapse meter: the classifier's labels for 1000 samples of G. Returns the
    /// classifier score and the rarest digit's share.
    async fn measure(&self, lab: &Lab<Self>) -> Result<(f64, f64), String> {
        let Some(classifier) = self.classifier.borrow().clone() else {
            return Err("the mode-collapse meter is off: no classifier".into());
        };
        let (generator, latent) = self.generator(lab);
        let step = lab.trainer.borrow().history.step;
        let mut rng = Rng::new(4242);
        let mut probs = Vec::with_capacity(METER_SAMPLES * 10);
        for _ in 0..METER_SAMPLES / 250 {
            let x = generator.sample(rng.normal_tensor([250, latent], &lab.device()));
            probs.extend(read(classifier.probs(x)).await?);
            yield_now().await;
        }
        let histogram = class_histogram(&probs);
        let score = classifier_score(&probs);
        self.meter_view.paint(|canvas| draw_class_histogram(canvas, &histogram, score))?;
        self.meter_step.set(Some(step));
        self.meter_score.set(Some(score));
        lab.notify();
        let least = *histogram.iter().min().unwrap_or(&0) as f64 / histogram.iter().sum::<usize>().max(1) as f64;
        lab.text("meter-info", &format!("step {step} · score {score:.2} · rarest digit {:.1} %", 100.0 * least));
        Ok((score, least))
    }
}
