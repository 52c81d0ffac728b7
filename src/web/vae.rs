//! The VAE lab's face: its section of the page, and the VAE's pictures — reconstructions, prior
//! samples, the 2-D manifold, the latent scatter (hover to decode), interpolation, and a digit
//! drawn by hand placed in latent space.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use serde_json::{Value, json};

use crate::data::{Mnist, PIXELS};
use crate::models::vae::{
    ACTIVE_UNIT, ElboTerms, Vae, VaeConfig, VaeTrainer, bernoulli_nll, bound_sums, interpolate, iwae_bound, manifold_latents, most_active_pair,
    prior_moment_distance, unit_activity,
};
use crate::render::image_grid;
use crate::render::plots::draw_bounds;
use crate::render::scatter::{Frame, cross, ellipse, scatter};
use crate::rng::Rng;
use crate::train::{Pixels, Settings, Trainer, prepare};

use super::lab::{Lab, ModelView, Surfaces, ViewSpec, comparison_row};
use super::spec::{CanvasSpec, ChartSpec, Control, Demo, Event, Figure, Input, Pointer, Values};
use super::{Shared, Surface, read, tensor, yield_now};

const SHOWN: usize = 10;
const SAMPLES: usize = 40;
const MANIFOLD: usize = 15;
const SCATTER_DIGITS: usize = 2000;
const SCATTER_SIZE: usize = 360;
const INTERPOLATION_STEPS: usize = 10;
const LATENTS: [&str; 5] = ["2", "8", "16", "20", "32"];
const BOUND_DIGITS: usize = 100;
const BOUND_KS: [usize; 3] = [1, 5, 50];
const BOUNDS_EVERY_STEPS: u64 = 1000;

pub(crate) struct VaeView {
    shared: Rc<Shared>,
    reconstructions: Surface,
    samples: Surface,
    manifold: Surface,
    scatter_view: Surface,
    hover_view: Surface,
    interpolation: Surface,
    drawn: Surface,
    /// Latent dimensions shown by the manifold and the scatter.
    dims: Cell<(usize, usize)>,
    /// Until the user picks dimensions: the two most active units, chosen at every drawing (with
    /// Burda's 50 most units are off, and a manifold along one of them shows one digit).
    auto_dims: Cell<bool>,
    /// Test digits interpolated between.
    ends: Cell<(usize, usize)>,
    scatter: RefCell<ScatterState>,
    hover_busy: Cell<bool>,
    bounds: Surface,
    /// The step the bounds figure was measured at.
    bounds_step: Cell<Option<u64>>,
    /// The tightest bound measured (step, k, −log p̂(x)): the map's figure for this lab.
    best_bound: Cell<Option<(u64, usize, f64)>>,
}

#[derive(Default)]
struct ScatterState {
    points: Vec<(f32, f32)>,
    labels: Vec<u8>,
    frame: Option<Frame>,
    drawn: Option<((f32, f32), (f32, f32))>,
    hover: Option<(f32, f32)>,
}

impl ModelView for VaeView {
    type Model = VaeTrainer;

    fn spec() -> ViewSpec {
        ViewSpec {
            id: "vae",
            title: "Variational autoencoder (and the adversarial autoencoder)",
            family: "explicit, approximate density",
            tradeoff: "fast sampling, a latent code, but only a bound on the likelihood",
            bench: &["vae_mlp"],
            caption: "An encoder q(z|x) maps a digit to a Gaussian over a small latent z; a decoder p(x|z) maps z back \
                to pixel probabilities. Training maximises the ELBO = E[log p(x|z)] − KL(q(z|x) ‖ N(0, I)), a lower \
                bound on log p(x); the curves show −ELBO and its two terms, in nats per digit.",
            choice: vec![
                Control::new("kind", "model", Input::Select {
                    options: vec![
                        ("vae", "VAE"),
                        ("ae", "autoencoder"),
                        ("aae", "adversarial autoencoder"),
                        ("burda1", "VAE of Burda et al. (2×200 tanh, z 50)"),
                        ("burda2", "VAE, two stochastic layers (Burda et al.)"),
                    ],
                    value: "vae",
                })
                .title("Burda et al. 2015: deeper tanh networks, z of 50; the two-layer one puts z2 (50) above z1 (50) with p(z1|z2) and q(z2|z1). The latent choice is for the first two."),
                Control::new("latent", "latent", Input::Select { options: LATENTS.iter().map(|l| (*l, *l)).collect(), value: "2" }),
            ],
            options: vec![
                Control::new("beta", "β", Input::number(0.0, 100.0, 0.1, 1.0))
                    .title("weight on the KL term (on the adversarial term for the adversarial autoencoder): 1 is the VAE, 0 drops the prior, more than 1 is a β-VAE"),
                Control::new("objective", "objective", Input::Select {
                    options: vec![("1", "ELBO"), ("5", "IWAE bound, k = 5"), ("50", "IWAE bound, k = 50")],
                    value: "1",
                })
                .title("what training maximises: the ELBO, or the importance-weighted bound log (1/k) Σ p(x, z_i)/q(z_i|x) of Burda et al. (tighter, k× the work)"),
            ],
            // lr 3e-3: the lowest held-out −ELBO after 60 s from scratch in the page (README).
            settings: Settings { batch_size: 128, lr: 3e-3, seed: 1, lr_decay: 1.0 },
            lr_label: "learning rate",
            // −ELBO and reconstruction share a scale; the KL (a few nats) gets its own chart.
            charts: vec![
                ChartSpec { name: "chart", label: "−ELBO and reconstruction curves", width: 720, height: 220, metrics: vec![0, 1] },
                ChartSpec { name: "kl-chart", label: "KL curve (the adversarial term for the adversarial autoencoder)", width: 400, height: 220, metrics: vec![2] },
            ],
            figures: vec![
                Figure {
                    canvases: vec![CanvasSpec::picture("reconstructions", "test digits and their reconstructions")],
                    controls: vec![],
                    caption: "<b>Reconstructions.</b> Top: held-out test digits. Bottom: the decoder's picture of each one's \
                        mean code μ. The reconstruction term E[log p(x|z)] of the ELBO rewards getting these right.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("samples", "samples from the prior")],
                    controls: vec![],
                    caption: "<b>Samples from the prior.</b> z ~ N(0, I), decoded. The KL term pulls every q(z|x) towards this \
                        prior, which is why random z decode to digits. An autoencoder has no such pull: its codes sit wherever \
                        training put them (see the latent plot), so prior samples miss them and decode to blurs and non-digits \
                        — starkest with latent 20. The adversarial autoencoder (Makhzani et al. 2016) keeps the point code but \
                        trades the KL term for a game: a discriminator tells prior samples from codes, and the encoder learns to \
                        fool it, so the codes as a whole come to fill the prior.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("manifold", "the learned 2-D manifold")],
                    controls: vec![Control::new("units", "", Input::Info { value: "" })],
                    caption: "<b>The learned manifold</b> (Kingma &amp; Welling, fig. 4). Two latent dimensions run over evenly \
                        spaced quantiles of N(0, 1), Φ⁻¹((i + ½)/15), the others 0. Smooth change between classes: the latent \
                        space is continuous. With more than 2 dimensions the two shown are the most active units (until you pick \
                        others below): the KL term switches many units off, and a manifold along one of them is one digit.",
                },
                Figure {
                    canvases: vec![
                        CanvasSpec::picture("scatter", "latent codes of test digits").style("max-width:360px;cursor:crosshair").pointer(Pointer::Hover),
                        CanvasSpec::picture("hover", "the digit decoded under the pointer").style("width:84px"),
                    ],
                    controls: vec![
                        Control::new("dim-a", "x: dim", Input::number(0.0, 1.0, 1.0, 0.0)).live().unlinked(),
                        Control::new("dim-b", "y: dim", Input::number(0.0, 1.0, 1.0, 1.0)).live().unlinked(),
                        Control::new("hover-z", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Latent space.</b> μ(x) for 2000 test digits, coloured by label \
                        (<span class=\"legend\">0 1 2 3 4 5 6 7 8 9</span>). Hover or drag to decode the point under the \
                        pointer. Classes cluster although the VAE never saw a label. The grey circle is the prior's 2σ: \
                        the VAE's and the adversarial autoencoder's codes fill it, the plain autoencoder's stray far outside.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("interpolation", "interpolation between two test digits")],
                    controls: vec![
                        Control::new("from-digit", "from test digit", Input::number(0.0, 9999.0, 1.0, 0.0)).live(),
                        Control::new("to-digit", "to", Input::number(0.0, 9999.0, 1.0, 1.0)).live(),
                    ],
                    caption: "<b>Interpolation.</b> Decoding points on the straight line between two digits' codes. Because the \
                        prior fills the space between them, the path passes through plausible digits.",
                },
                Figure {
                    canvases: vec![CanvasSpec::plot("bounds", "the bound on log p(x) of test digits for k = 1, 5, 50", 460, 200)],
                    controls: vec![
                        Control::new("measure-bounds", "Measure", Input::Button { primary: false }),
                        Control::new("bounds-info", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Tighter bounds</b> (Burda et al. 2015). With k samples z<sub>i</sub> ~ q(z|x),                         log (1/k) Σ p(x, z<sub>i</sub>)/q(z<sub>i</sub>|x) is still a lower bound on log p(x), and it rises with k:                         k = 1 is the ELBO. Bars: −bound in nats on 100 test digits (lower is tighter); the gap from k = 1                         is what the ELBO gives away. Measured at Reset, every 1000 steps and on demand.",
                },
                Figure {
                    canvases: vec![CanvasSpec::pad("pad"), CanvasSpec::picture("drawn", "your digit and its reconstruction").style("width:120px")],
                    controls: vec![Control::new("drawn-info", "", Input::Info { value: "" })],
                    caption: "<b>Your digit.</b> Draw in the black square: the encoder's posterior q(z|x) appears on the latent \
                        plot (cross at μ, ellipses at 1σ and 2σ), with the reconstruction and the digit's −ELBO in nats. \
                        Reparameterization: z = μ + σ·ε draws from that ellipse.",
                },
            ],
            demos: vec![
                Demo {
                    name: "ae-vs-vae",
                    title: "Autoencoder vs VAE: samples from the prior",
                    note: "The plain autoencoder's codes are not pulled toward N(0, I): decoding z ~ N(0, I) (<b>samples from the prior</b>) \
                        gives blurs and non-digits, and its codes (the <b>latent scatter</b>) sit off the prior's disc. Choose model VAE and \
                        press Reset: the KL term keeps its codes on the disc, and its prior samples are digits.",
                    set: vec![("kind", "ae"), ("latent", "2"), ("from", "pretrained")],
                    then: vec!["reset"],
                },
                Demo {
                    name: "aae",
                    title: "The adversarial autoencoder: a discriminator instead of the KL term",
                    note: "The codes of test digits (<b>latent scatter</b>) fill the prior's disc — the discriminator on z saw to \
                        it — and prior samples decode to digits, as the VAE's do. Choose the plain autoencoder and Reset to see codes \
                        that nothing pulled toward N(0, I). The <b>KL curve</b> shows the encoder's adversarial loss −log D(z) instead.",
                    set: vec![("kind", "aae"), ("latent", "2"), ("from", "pretrained")],
                    then: vec!["reset"],
                },
                Demo {
                    name: "beta-vae",
                    title: "β-VAE: weigh the KL term more",
                    note: "With β = 4 the KL term costs four times as much: the <b>KL curve</b> stays low, codes huddle inside the \
                        prior's disc, reconstructions blur. Pause, set β to 1, Reset and Train to compare.",
                    set: vec![("kind", "vae"), ("latent", "2"), ("beta", "4"), ("objective", "1"), ("from", "scratch")],
                    then: vec!["reset", "train"],
                },
                Demo {
                    name: "iwae-bound",
                    title: "The IWAE bound tightens with k",
                    note: "The same test digits, the same network: the bound on log p(x) with k = 1 (the ELBO), 5 and 50 importance \
                        samples (<b>bounds</b> chart). More samples, a tighter (higher) bound: the gap the ELBO leaves is the posterior's \
                        mismatch.",
                    set: vec![("kind", "burda1"), ("from", "pretrained")],
                    then: vec!["reset", "measure-bounds"],
                },
            ],
        }
    }

    fn new(shared: &Rc<Shared>, mut s: Surfaces) -> Result<Self, String> {
        Ok(VaeView {
            shared: shared.clone(),
            reconstructions: s.take("reconstructions")?,
            samples: s.take("samples")?,
            manifold: s.take("manifold")?,
            scatter_view: s.take("scatter")?,
            hover_view: s.take("hover")?,
            interpolation: s.take("interpolation")?,
            drawn: s.take("drawn")?,
            bounds: s.take("bounds")?,
            bounds_step: Cell::new(None),
            best_bound: Cell::new(None),
            dims: Cell::new((0, 1)),
            auto_dims: Cell::new(true),
            ends: Cell::new((0, 1)),
            scatter: RefCell::new(ScatterState::default()),
            hover_busy: Cell::new(false),
        })
    }

    fn build(&self, values: &Values, device: &Device, weights: Option<Vec<u8>>) -> Result<VaeTrainer, String> {
        let config = config(values)?;
        let model = match weights {
            None => config.init(device),
            Some(bytes) => config.load(device, bytes)?,
        };
        let mut trainer = VaeTrainer::from_model(config, model);
        trainer.config.beta = beta(values)?;
        trainer.config.k = objective(values)?;
        Ok(trainer)
    }

    fn pretrained(values: &Values) -> Result<(String, String), String> {
        let (kind, latent) = (values.text("kind")?, values.text("latent")?);
        Ok(match kind.as_str() {
            "burda1" => ("vae-burda1.bpk".into(), "VAE of Burda et al.".into()),
            "burda2" => ("vae-burda2.bpk".into(), "two-stochastic-layer VAE".into()),
            _ => {
                let name = match kind.as_str() {
                    "vae" => "VAE",
                    "aae" => "adversarial autoencoder",
                    _ => "autoencoder",
                };
                (format!("{kind}-z{latent}.bpk"), format!("{name} with latent size {latent}"))
            }
        })
    }

    fn apply(&self, lab: &Lab<Self>, values: &Values) -> Result<(), String> {
        let (beta, k) = (beta(values)?, objective(values)?);
        let mut t = lab.trainer.borrow_mut();
        t.model.config.beta = beta;
        t.model.config.k = k;
        Ok(())
    }

    /// The importance-weighted bound (k = 50) when measured at this step, else the held-out −ELBO.
    fn headline(&self, trainer: &Trainer<VaeTrainer>, _record: Option<&Value>) -> Option<String> {
        let h = &trainer.history;
        match self.best_bound.get() {
            Some((step, k, bound)) if step == h.step => Some(format!("−log p(x) ≤ {bound:.1} nats (IW bound, k = {k})")),
            _ => h.test.last().map(|p| format!("held-out −ELBO {:.1} nats", p.values[0])),
        }
    }

    fn describe(t: &Trainer<VaeTrainer>) -> String {
        let h = &t.history;
        let train = h.train.last().map(|p| h.names.iter().zip(&p.values).map(|(n, v)| format!("{n} {v:.2}")).collect::<Vec<_>>().join("  "));
        let test = h.test.last().map(|p| format!("  test −ELBO {:.2}", p.values[0]));
        format!("{}{}", train.unwrap_or_default(), test.unwrap_or_default())
    }

    fn reset(&self, lab: &Lab<Self>) {
        let latent = lab.trainer.borrow().model.config.latent;
        self.dims.set((0, 1));
        self.auto_dims.set(true);
        *self.scatter.borrow_mut() = ScatterState::default();
        self.bounds_step.set(None);
        self.best_bound.set(None);
        lab.text("bounds-info", "");
        for (name, value) in [("dim-a", 0), ("dim-b", 1)] {
            lab.control(name, json!({ "value": value, "max": latent - 1 }));
        }
        // Burda's networks have their own latent size: the select would claim one they ignore.
        lab.control("latent", json!({ "disabled": !LATENTS.contains(&latent.to_string().as_str()) }));
    }

    /// Every view. Each piece is its own task, so Pause or a pointer is handled in between
    /// (encoding 2000 digits for the scatter is the big one).
    async fn draw(&self, lab: &Lab<Self>) -> Result<(), String> {
        let data = self.shared.data().clone();
        let device = lab.device();
        let (model, latent) = model(lab);
        let mut rng = Rng::new(7);
        let shown: Vec<usize> = (0..SHOWN.min(data.test.len())).collect();
        let mut pairs = prepare(data.test.intensities(&shown), Pixels::Binarized, &mut rng);
        let recon = model.decode_probs(model.encode(tensor(pairs.clone(), [shown.len(), PIXELS], &device)).mu);
        let top = model.prior_size();
        let samples = model.decode_probs(model.from_prior(rng.normal_tensor([SAMPLES, top], &device)));
        pairs.extend(read(recon).await?);
        self.reconstructions.show(&image_grid(&pairs, shown.len(), 2))?;
        self.samples.show(&image_grid(&read(samples).await?, 10, 2))?;
        yield_now().await;

        let n = SCATTER_DIGITS.min(data.test.len());
        let digits = prepare(data.test.intensities(&(0..n).collect::<Vec<_>>()), Pixels::Binarized, &mut Rng::new(8));
        let mut codes = Vec::with_capacity(n * latent);
        for part in digits.chunks(500 * PIXELS) {
            codes.extend(read(model.encode(tensor(part.to_vec(), [part.len() / PIXELS, PIXELS], &device)).mu).await?);
            yield_now().await;
        }
        let activity = unit_activity(&codes, latent);
        if self.auto_dims.get() {
            let (a, b) = most_active_pair(&activity);
            self.dims.set((a, b));
            lab.control("dim-a", json!({ "value": a }));
            lab.control("dim-b", json!({ "value": b }));
        }
        let (a, b) = self.dims.get();
        let active = activity.iter().filter(|&&v| v > ACTIVE_UNIT).count();
        lab.text("units", &format!("z{a}, z{b} of {latent}; {active} units active (variance of μ over test digits > {ACTIVE_UNIT})"));

        let grid = manifold_latents(MANIFOLD, latent, (a, b));
        let manifold = model.decode_probs(tensor(grid, [MANIFOLD * MANIFOLD, latent], &device));
        self.manifold.show(&image_grid(&read(manifold).await?, MANIFOLD, 0))?;
        yield_now().await;

        {
            let mut s = self.scatter.borrow_mut();
            s.points = codes.chunks(latent).map(|z| (z[a], z[b])).collect();
            s.labels = data.test.labels[..n].to_vec();
            s.frame = Some(Frame::around(&s.points, SCATTER_SIZE));
        }
        self.draw_scatter()?;
        self.draw_interpolation(&model, latent, &data, &device).await?;
        let step = lab.trainer.borrow().history.step;
        if model.is_variational() && self.bounds_step.get().is_none_or(|s| step >= s + BOUNDS_EVERY_STEPS) {
            yield_now().await;
            self.measure_bounds(lab).await?;
        }
        Ok(())
    }

    /// −ELBO and the k-sample bound of the first test digits: the same digits, binarization and
    /// noise as `eval vae --images N --k K --seed 1` (both use [`bound_sums`]).
    async fn compare(&self, lab: &Lab<Self>, k: usize, digits: usize) -> Result<Vec<Value>, String> {
        let (model, latent) = model(lab);
        let values = lab.built_values();
        let name = format!("{} (latent {latent})", values.text("kind")?);
        let device = lab.device();
        if !model.is_variational() {
            // A point code has no bound: its reconstruction, and how far its codes are from the
            // prior that samples are drawn from (the adversarial autoencoder's point).
            let n = digits.min(self.shared.data().test.len());
            let mut rng = Rng::new(1);
            let x = tensor(prepare(self.shared.data().test.intensities(&(0..n).collect::<Vec<_>>()), Pixels::Binarized, &mut rng), [n, PIXELS], &device);
            let codes = model.encode(x.clone()).mu;
            let reconstruction = read(bernoulli_nll(model.decode(codes.clone()), x).mean().unsqueeze()).await?[0] as f64;
            let distance = prior_moment_distance(&read(codes).await?, latent);
            return Ok(vec![
                comparison_row("vae", &name, &format!("reconstruction, {n} test digits (nats)"), reconstruction, "—"),
                comparison_row("vae", &name, "codes' distance from N(0, I): ‖mean‖² + ‖cov − I‖²", distance, "0 for samples of the prior"),
            ]);
        }
        let mut rng = Rng::new(1);
        let (mut elbo, mut bound) = (0.0f64, 0.0f64);
        for (e, b) in bound_sums(&model, &self.shared.data().test, digits, k, &mut rng, &device) {
            elbo += read(e.unsqueeze()).await?[0] as f64;
            bound += match b {
                Some(b) => read(b.unsqueeze()).await?[0] as f64,
                None => 0.0,
            };
            yield_now().await;
        }
        let n = digits.min(self.shared.data().test.len()) as f64;
        Ok(vec![
            comparison_row("vae", &name, &format!("−ELBO, {n} test digits (nats)"), elbo / n, "Burda et al. 2015, 1-layer VAE: 86.76 (k = 5000)"),
            comparison_row("vae", &name, &format!("−log p(x) bound, k = {k} (nats)"), bound / n, "Burda et al. 2015: VAE 86.76, 2-layer IWAE 82.90"),
        ])
    }

    async fn handle(&self, lab: &Lab<Self>, event: &Event) -> Result<Value, String> {
        let values = &event.values;
        match event.control.as_str() {
            "dim-a" | "dim-b" => {
                let latent = lab.trainer.borrow().model.config.latent;
                let (a, b) = (values.count("dim-a", "dimension")?, values.count("dim-b", "dimension")?);
                if a >= latent || b >= latent || a == b {
                    return Err(format!("pick two different dimensions below {latent}"));
                }
                self.dims.set((a, b));
                self.auto_dims.set(false);
                self.scatter.borrow_mut().drawn = None;
                self.draw(lab).await?;
            }
            "from-digit" | "to-digit" => {
                let n = self.shared.data().test.len();
                let (a, b) = (values.count("from-digit", "test digit")?, values.count("to-digit", "test digit")?);
                if a >= n || b >= n {
                    return Err(format!("test digits are numbered 0 to {}", n - 1));
                }
                self.ends.set((a, b));
                let (model, latent) = model(lab);
                self.draw_interpolation(&model, latent, &self.shared.data(), &lab.device()).await?;
            }
            "scatter" => self.hover(lab, (event.x, event.y)).await?,
            "measure-bounds" => self.measure_bounds(lab).await?,
            "pad" => self.encode_drawing(lab, &event.pixels).await?,
            other => return Err(format!("the VAE lab has no control '{other}'")),
        }
        Ok(Value::Null)
    }
}

fn config(values: &Values) -> Result<VaeConfig, String> {
    let latent = values.text("latent")?;
    if !LATENTS.contains(&latent.as_str()) {
        return Err(format!("latent size {latent} is not offered ({})", LATENTS.join(", ")));
    }
    let latent: usize = latent.parse().map_err(|_| "latent size")?;
    match values.text("kind")?.as_str() {
        "vae" => Ok(VaeConfig::vae(latent)),
        "ae" => Ok(VaeConfig::autoencoder(latent)),
        "aae" => Ok(VaeConfig::adversarial(latent)),
        "burda1" => Ok(VaeConfig::burda(false)),
        "burda2" => Ok(VaeConfig::burda(true)),
        other => Err(format!("unknown model '{other}'")),
    }
}

/// Samples per digit in the training objective: 1 (ELBO), 5 or 50 (IWAE bound).
fn objective(values: &Values) -> Result<usize, String> {
    match values.text("objective")?.as_str() {
        "1" => Ok(1),
        "5" => Ok(5),
        "50" => Ok(50),
        other => Err(format!("objective '{other}' is not offered (1, 5 or 50 samples)")),
    }
}

/// The weight β on the KL term (1 is the VAE).
fn beta(values: &Values) -> Result<f32, String> {
    let beta = values.number("beta", "β")? as f32;
    if (0.0..=100.0).contains(&beta) { Ok(beta) } else { Err(format!("β = {beta} is not in [0, 100]")) }
}

fn model(lab: &Lab<VaeView>) -> (Vae, usize) {
    let t = lab.trainer.borrow();
    (t.model.model.valid(), t.model.config.latent)
}

impl VaeView {
    /// −log p̂(x) of 100 test digits for k = 1, 5, 50, as bars: the bound tightening with k.
    async fn measure_bounds(&self, lab: &Lab<Self>) -> Result<(), String> {
        let (model, _) = model(lab);
        if !model.is_variational() {
            lab.text("bounds-info", "an autoencoder has no posterior to sample: no bound");
            return Ok(());
        }
        let step = lab.trainer.borrow().history.step;
        let device = lab.device();
        let n = BOUND_DIGITS.min(self.shared.data().test.len());
        let mut rng = Rng::new(12);
        let x = prepare(self.shared.data().test.intensities(&(0..n).collect::<Vec<_>>()), Pixels::Binarized, &mut rng);
        let x = tensor(x, [n, PIXELS], &device);
        let d = model.noise_size();
        let mut bounds = Vec::new();
        for k in BOUND_KS {
            let eps = rng.normal_tensor([n * k, d], &device);
            let bound = read(iwae_bound(model.log_importance_weights(x.clone(), eps, k)).mean().unsqueeze()).await?[0];
            bounds.push((k, -bound as f64));
            yield_now().await;
        }
        self.bounds.paint(|canvas| draw_bounds(canvas, &bounds))?;
        let text: Vec<String> = bounds.iter().map(|(k, b)| format!("k = {k}: {b:.2}")).collect();
        lab.text("bounds-info", &format!("−log p̂(x), nats, {n} test digits · {} · step {step}", text.join(" · ")));
        self.bounds_step.set(Some(step));
        self.best_bound.set(bounds.last().map(|&(k, b)| (step, k, b)));
        lab.notify();
        Ok(())
    }

    fn draw_scatter(&self) -> Result<(), String> {
        let s = self.scatter.borrow();
        let Some(frame) = s.frame else { return Ok(()) };
        let mut img = scatter(&s.points, &s.labels, frame);
        // The prior's 2σ circle: where N(0, I) puts 86 % of its samples (in 2-D).
        ellipse(&mut img, frame, (0.0, 0.0), (2.0, 2.0), [150, 150, 150, 255]);
        if let Some((mu, sigma)) = s.drawn {
            for k in [1.0, 2.0] {
                ellipse(&mut img, frame, mu, (k * sigma.0, k * sigma.1), [255, 255, 255, 255]);
            }
            cross(&mut img, frame, mu, [255, 255, 255, 255]);
        }
        if let Some(z) = s.hover {
            cross(&mut img, frame, z, [255, 213, 79, 255]);
        }
        self.scatter_view.show(&img)
    }

    /// Row: digit a, decoded points on the line between their means, digit b.
    async fn draw_interpolation(&self, model: &Vae, latent: usize, data: &Mnist, device: &Device) -> Result<(), String> {
        let (a, b) = self.ends.get();
        let x = prepare(data.test.intensities(&[a, b]), Pixels::Binarized, &mut Rng::new(9));
        let mu = read(model.encode(tensor(x.clone(), [2, PIXELS], device)).mu).await?;
        let line = interpolate(&mu[..latent], &mu[latent..], INTERPOLATION_STEPS);
        let decoded = read(model.decode_probs(tensor(line, [INTERPOLATION_STEPS, latent], device))).await?;
        let mut row = x[..PIXELS].to_vec();
        row.extend(decoded);
        row.extend_from_slice(&x[PIXELS..]);
        self.interpolation.show(&image_grid(&row, INTERPOLATION_STEPS + 2, 2))
    }

    /// Decodes the latent point under the pointer (scatter-canvas pixels). The page keeps one
    /// pointer event in flight, so a busy flag is enough to drop a stray second one.
    async fn hover(&self, lab: &Lab<Self>, px: (f32, f32)) -> Result<(), String> {
        let Some(frame) = self.scatter.borrow().frame else { return Ok(()) };
        if self.hover_busy.replace(true) {
            return Ok(());
        }
        let z2 = frame.to_latent(px);
        let (model, latent) = model(lab);
        let (a, b) = self.dims.get();
        let mut z = vec![0.0; latent];
        (z[a], z[b]) = z2;
        let image = read(model.decode_probs(tensor(z, [1, latent], &lab.device()))).await;
        self.hover_busy.set(false);
        self.hover_view.show(&image_grid(&image?, 1, 0))?;
        self.scatter.borrow_mut().hover = Some(z2);
        self.draw_scatter()?;
        lab.text("hover-z", &format!("z = ({:.2}, {:.2})", z2.0, z2.1));
        Ok(())
    }

    /// Encodes a drawn digit (784 intensities in [0, 1]): its posterior goes on the scatter, its
    /// reconstruction beside the pad, and its −ELBO in the info line.
    async fn encode_drawing(&self, lab: &Lab<Self>, pixels: &[f32]) -> Result<(), String> {
        if pixels.len() != PIXELS || pixels.iter().any(|p| !p.is_finite()) {
            return Err(format!("a drawing is 784 finite intensities, got {}", pixels.len()));
        }
        let device = lab.device();
        let (model, latent) = model(lab);
        // Pen strokes are near-binary; the model was trained on binary digits.
        let x: Vec<f32> = pixels.iter().map(|&p| if p >= 0.5 { 1.0 } else { 0.0 }).collect();
        let xt = tensor(x.clone(), [1, PIXELS], &device);
        let posterior = model.encode(xt.clone());
        let samples = 32;
        let eps = Rng::new(10).normal_tensor([samples, latent], &device);
        let ElboTerms { reconstruction, kl } = model.elbo_terms(xt.repeat_dim(0, samples), eps);
        let terms = Tensor::cat(vec![reconstruction.mean(), kl.mean()], 0).unsqueeze::<2>();
        let mu = read(posterior.mu.clone()).await?;
        let sigma = match posterior.log_var {
            Some(lv) => read((lv * 0.5).exp()).await?,
            None => vec![0.0; latent],
        };
        let recon = read(model.decode_probs(posterior.mu)).await?;
        let terms = read(terms).await?;
        let mut pair = x;
        pair.extend(recon);
        self.drawn.show(&image_grid(&pair, 2, 2))?;
        let (a, b) = self.dims.get();
        self.scatter.borrow_mut().drawn = Some(((mu[a], mu[b]), (sigma[a], sigma[b])));
        self.draw_scatter()?;
        lab.text("drawn-info", &format!("−ELBO {:.1} nats (reconstruction {:.1} + KL {:.1})", terms[0] + terms[1], terms[0], terms[1]));
        Ok(())
    }
}
