//! The PixelCNN lab's face (PixelCNN, PixelRNN and NADE): its section of the page, and the
//! autoregressive models' pictures — completion of a
//! half-hidden digit pixel by pixel, sampling from scratch, the next-pixel map, the likelihood of
//! the current digit pixel by pixel, and the receptive field of a pixel for the plain and the
//! gated network side by side.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::prelude::*;
use serde_json::Value;

use crate::data::{PIXELS, SIDE};
use crate::models::nade::{Nade, NadeConfig, NadeTrainer, Running};
use crate::models::pixelcnn::{Completion, PixelCnn, PixelCnnConfig, PixelCnnTrainer, RowCache, bits_per_dim, set_sampled};
use crate::models::pixelrnn::{PixelRnn, PixelRnnConfig, PixelRnnTrainer, RowCarry};
use crate::render::{Rgba, heat_color, image_grid};
use crate::rng::Rng;
use crate::train::{Pixels, Settings, Trainable, Trainer, now_ms, prepare};

use super::lab::{Lab, ModelView, Surfaces, ViewSpec, comparison_row};
use super::spec::{CanvasSpec, ChartSpec, Control, Demo, Event, Figure, Input, Pointer, Values};
use super::{Shared, Surface, fetch_bytes, read, tensor, yield_now};

/// How unknown pixels look: a dim grey, neither ink nor paper.
const UNKNOWN: f32 = 0.3;
/// Work between two pictures sent while sampling (and between two looks at the event queue).
const FRAME_BUDGET_MS: f64 = 30.0;

/// One network of the lab's choice: what the choice calls it, its pretrained weights, the name
/// messages and the comparison panel give it, and the published figure it is compared with.
struct NetworkEntry {
    value: &'static str,
    label: &'static str,
    file: &'static str,
    name: &'static str,
    published: &'static str,
}

/// The lab's networks, in the choice's order; [`PixelCnnView::build`] makes each.
const NETWORKS: [NetworkEntry; 6] = [
    NetworkEntry {
        value: "plain",
        label: "PixelCNN (masks A, B)",
        file: "pixelcnn.bpk",
        name: "plain PixelCNN",
        published: "van den Oord et al. 2016, PixelCNN: 81.30",
    },
    NetworkEntry {
        value: "gated",
        label: "gated PixelCNN",
        file: "gated-pixelcnn.bpk",
        name: "gated PixelCNN",
        published: "(no MNIST figure in the gated PixelCNN paper)",
    },
    NetworkEntry {
        value: "deep",
        label: "deep PixelCNN (15 residual blocks, 18 rows of context)",
        file: "pixelcnn-deep.bpk",
        name: "deep PixelCNN",
        published: "pytorch-generative, the same network: 81.45",
    },
    NetworkEntry {
        value: "deep-gated",
        label: "deep gated PixelCNN (14 gated layers, 18 rows of context, no blind spot)",
        file: "gated-pixelcnn-deep.bpk",
        name: "deep gated PixelCNN",
        published: "(no MNIST figure in the gated PixelCNN paper)",
    },
    NetworkEntry {
        value: "pixelrnn",
        label: "PixelRNN, Row LSTM (van den Oord et al. 2016)",
        file: "pixelrnn.bpk",
        name: "PixelRNN, Row LSTM",
        published: "van den Oord et al. 2016, Row LSTM (larger): 80.54",
    },
    NetworkEntry {
        value: "nade",
        label: "NADE (Larochelle & Murray 2011)",
        file: "nade.bpk",
        name: "NADE",
        published: "Larochelle & Murray 2011 (as in van den Oord et al. 2016): 88.33",
    },
];

fn network_entry(value: &str) -> Result<&'static NetworkEntry, String> {
    NETWORKS.iter().find(|n| n.value == value).ok_or_else(|| {
        let known: Vec<&str> = NETWORKS.iter().map(|n| n.value).collect();
        format!("unknown network '{value}' ({})", known.join(", "))
    })
}

pub(crate) struct PixelCnnView {
    shared: Rc<Shared>,
    completion: Surface,
    samples: Surface,
    next: Surface,
    contributions: Surface,
    fields: [Surface; 2],
    /// The digit the views look at (784 values, 0/1): a test digit or a drawing.
    current: RefCell<Vec<f32>>,
    /// The row Complete hides from.
    hide_from_row: Cell<usize>,
    /// Bumped to end the run in progress (a new run, Stop, or a new digit, network or device).
    sampling: Cell<u64>,
    /// The run in progress: its number and the figure it fills.
    running: Cell<Option<(u64, Target)>>,
    /// The figure something newer took from the ended run (a new run on it, or the preview of a
    /// new digit or network): the ended run leaves it and its info line alone. None after Stop:
    /// the run shows what it has.
    taken: Cell<Option<Target>>,
    /// Untrained plain and gated networks: which inputs a logit depends on is a property of the
    /// architecture, so the receptive-field view needs no training (and no redrawing while training).
    structure: RefCell<[PixelCnn; 2]>,
    field_pixel: Cell<usize>,
    field_drawn: Cell<bool>,
}

impl ModelView for PixelCnnView {
    type Model = Autoregressive;

    fn spec() -> ViewSpec {
        let button = |primary| Input::Button { primary };
        ViewSpec {
            id: "pixelcnn",
            title: "PixelCNN, PixelRNN and NADE",
            family: "explicit, tractable density",
            tradeoff: "exact likelihood, but sampling is sequential: 784 network passes per digit",
            // PixelRNN beside PixelCNN: the lecture's point that PixelCNN parallelises training.
            bench: &["pixelcnn", "pixelrnn"],
            caption: "The chain rule gives p(x) exactly: p(x) = Π<sub>i</sub> p(x<sub>i</sub> | x<sub>1</sub>, …, x<sub>i−1</sub>), \
                pixels in raster order. One network outputs all 784 conditionals at once; its convolutions are <i>masked</i> \
                so pixel i never sees itself or later pixels. Training maximises the exact likelihood — the curve is −log p(x) \
                in nats per digit (bits per pixel beside it) — with every pixel in parallel from the real image, the reason \
                PixelCNN trains faster than PixelRNN. <b>PixelRNN</b> (the Row LSTM; choose it as the network) carries the \
                context down the image in an LSTM's state, one row after the other: even training takes 28 sequential \
                steps per image. The comparison panel's speed table times both: this PixelRNN is small (one layer of 16 \
                units, a tenth of the PixelCNN's weights), so one CPU thread may still train it faster per image, but on a \
                GPU its rows show up as four times the kernel launches per step. <b>NADE</b> (choose it as the network), the older model, gives each \
                conditional one hidden layer h<sub>i</sub> = σ(c + W<sub>&lt;i</sub>x<sub>&lt;i</sub>), all sharing W: each pixel \
                adds one column of W to a running sum, so sampling costs O(H) per pixel.",
            choice: vec![Control::new(
                "variant",
                "network",
                Input::Select {
                    options: NETWORKS.iter().map(|n| (n.value, n.label)).collect(),
                    // The best-trained network (README: the deep gated one, below the deep plain one's
                    // 89.6 nats and the small ones' 91.5): its samples are connected strokes, and
                    // with the row cache a whole sample takes 1.3 s on the CPU.
                    value: "deep-gated",
                },
            )
            .title(
                "Deep PixelCNN: 15 residual blocks, so a pixel sees the 18 rows above it where the small networks see 8 or 9 (slower to train and to sample). \
                Deep gated: the same reach from 14 gated layers, whose two stacks leave no blind spot. \
                PixelRNN: a Row LSTM whose state carries every row above down the image, row after row, in training too. \
                NADE: one hidden layer per conditional, all sharing one weight matrix W, so each pixel adds one column of W to a running sum: O(H) per pixel when sampling",
            )],
            options: vec![],
            // Batch 16: the most updates in a lecture's minutes (README: time to quality); lr 1e-3 as
            // before, not the 3e-3 that won from scratch: Train usually continues pretrained weights.
            settings: Settings { batch_size: 16, lr: 1e-3, seed: 1, lr_decay: 1.0 },
            lr_label: "learning rate",
            charts: vec![ChartSpec { name: "chart", label: "negative log-likelihood curve", width: 720, height: 220, metrics: vec![0] }],
            figures: vec![
                Figure {
                    canvases: vec![CanvasSpec::picture("completion", "a digit with its lower part hidden, and completions")],
                    controls: vec![
                        Control::new("digit", "test digit", Input::number(0.0, 9999.0, 1.0, 0.0)).live(),
                        Control::new("row", "hide from row", Input::Range { min: 0.0, max: 28.0, value: 14.0 }).live(),
                        Control::new("n", "completions", Input::number(1.0, 16.0, 1.0, 4.0)),
                        Control::new("temperature", "temperature", Input::number(0.05, 5.0, 0.1, 1.0)),
                        Control::new("complete", "Complete", button(true)),
                        Control::new("stop", "Stop", button(false)),
                        Control::new("completion-info", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Completion.</b> Left: the digit with everything from the chosen row down hidden. Right: samples \
                        of the hidden pixels, one pixel at a time, each drawn from p(x<sub>i</sub> | x<sub>&lt;i</sub>) and fed back \
                        in. 784 steps for a whole digit: sampling is sequential, hence slow (the ms per pixel step are shown). \
                        Observed pixels never change.",
                },
                Figure {
                    canvases: vec![CanvasSpec::picture("samples", "digits sampled from scratch")],
                    controls: vec![
                        Control::new("sample", "Sample from scratch", button(false)),
                        Control::new("sample-info", "", Input::Info { value: "" }),
                    ],
                    caption: "<b>Sampling.</b> The same loop from an empty canvas: x<sub>1</sub> ~ p(x<sub>1</sub>), then \
                        x<sub>2</sub> ~ p(x<sub>2</sub> | x<sub>1</sub>), … Temperature divides the logits: below 1 bolder, above 1 noisier.",
                },
                Figure {
                    canvases: vec![
                        CanvasSpec::picture("next", "p(x_i = 1 | x_<i) for every pixel").style("width:224px;cursor:crosshair").pointer(Pointer::Click),
                        CanvasSpec::picture("contributions", "each pixel's −log p(x_i | x_<i)").style("width:224px"),
                    ],
                    controls: vec![Control::new("likelihood", "", Input::Info { value: "" })],
                    caption: "<b>All conditionals at once.</b> Left: p(x<sub>i</sub> = 1 | x<sub>&lt;i</sub>) for every pixel of the \
                        current digit from one forward pass (dark 0, yellow 1). Right: each pixel's share of −log p(x), in nats \
                        (bright = surprising). Their sum is the digit's exact negative log-likelihood. Click the left map to see a \
                        pixel's receptive field below.",
                },
                Figure {
                    canvases: vec![CanvasSpec::pad("pad")],
                    controls: vec![],
                    caption: "<b>Your digit.</b> Draw here: it becomes the current digit — its next-pixel map, likelihood and \
                        completions (Complete hides its lower part).",
                },
                Figure {
                    canvases: vec![
                        CanvasSpec::picture("field-plain", "receptive field, plain PixelCNN").style("width:196px"),
                        CanvasSpec::picture("field-gated", "receptive field, gated PixelCNN").style("width:196px"),
                    ],
                    controls: vec![Control::new("field-info", "", Input::Info { value: "click the next-pixel map" })],
                    caption: "<b>Receptive field</b>, from the gradient of the clicked pixel's logit (red) with respect to the \
                        input: blue pixels can change it. Left: stacked masked 3×3 convolutions miss a wedge above and to the \
                        right — the blind spot. Right: the gated network's vertical stack sees every row above.",
                },
            ],
            demos: vec![
                Demo {
                    name: "blind-spot",
                    title: "The PixelCNN blind spot: plain vs gated",
                    note: "The <b>receptive field</b> figures: pixels the marked pixel's prediction depends on. The plain network's \
                        stacked masked convolutions miss a wedge up and to the right — the blind spot; the gated network's vertical \
                        stack sees every row above. Click the next-pixel map to move the marked pixel.",
                    set: vec![("variant", "plain"), ("from", "pretrained")],
                    then: vec!["reset"],
                },
                Demo {
                    name: "pixelrnn",
                    title: "PixelRNN: the context carried row by row",
                    note: "The Row LSTM keeps one hidden row: row r's state comes from row r − 1's state and row r's pixels, so \
                        the context reaches every row above, but the 28 rows are computed one after the other — in training too, \
                        where PixelCNN computes all 784 conditionals at once. Its samples appear here; the comparison panel's \
                        <b>speed</b> table times a training step of each on this machine, with the kernel launches per step on WebGPU.",
                    set: vec![("variant", "pixelrnn"), ("from", "pretrained")],
                    then: vec!["sample"],
                },
                Demo {
                    name: "temperature",
                    title: "Sampling temperature",
                    note: "Sampling divides the logits by the temperature: below 1 the samples are bolder and more alike, above 1 \
                        noisier. Sampling is sequential — one pixel per network pass, 784 passes — the price of an exact likelihood.",
                    set: vec![("temperature", "0.5"), ("from", "pretrained")],
                    then: vec!["sample"],
                },
                Demo {
                    name: "complete-digit",
                    title: "Completing a half-hidden digit",
                    note: "The lower half of a test digit is hidden; the model fills it pixel by pixel from p(x<sub>i</sub> | x<sub>&lt;i</sub>), \
                        each completion a different plausible digit. Change the digit, the row or the temperature and press Complete.",
                    set: vec![("digit", "7"), ("row", "14"), ("n", "4"), ("temperature", "1"), ("from", "pretrained")],
                    then: vec!["complete"],
                },
            ],
        }
    }

    fn new(shared: &Rc<Shared>, mut s: Surfaces) -> Result<Self, String> {
        let device = shared.device().autodiff();
        let first = prepare(shared.data().test.intensities(&[0]), Pixels::Binarized, &mut Rng::new(0));
        Ok(PixelCnnView {
            shared: shared.clone(),
            completion: s.take("completion")?,
            samples: s.take("samples")?,
            next: s.take("next")?,
            contributions: s.take("contributions")?,
            fields: [s.take("field-plain")?, s.take("field-gated")?],
            current: RefCell::new(first),
            hide_from_row: Cell::new(14),
            sampling: Cell::new(0),
            running: Cell::new(None),
            taken: Cell::new(None),
            structure: RefCell::new(structure(&device)),
            field_pixel: Cell::new(14 * SIDE + 14),
            field_drawn: Cell::new(false),
        })
    }

    fn build(&self, values: &Values, device: &Device, weights: Option<Vec<u8>>) -> Result<Autoregressive, String> {
        // Random weights, or `weights` read by the network's own loader (which names a misfit).
        fn init_or_load<M>(weights: Option<Vec<u8>>, init: impl FnOnce() -> M, load: impl FnOnce(Vec<u8>) -> Result<M, String>) -> Result<M, String> {
            weights.map_or_else(|| Ok(init()), load)
        }
        Ok(match network_entry(&values.text("variant")?)?.value {
            variant @ ("plain" | "gated" | "deep" | "deep-gated") => {
                let config = match variant {
                    "plain" => PixelCnnConfig::plain(),
                    "gated" => PixelCnnConfig::gated(),
                    "deep" => PixelCnnConfig::deep(false),
                    _ => PixelCnnConfig::deep(true),
                };
                let model = init_or_load(weights, || config.init(device), |b| config.load(device, b))?;
                Autoregressive::PixelCnn(PixelCnnTrainer::from_model(config, model))
            }
            "pixelrnn" => {
                let config = PixelRnnConfig::small();
                let model = init_or_load(weights, || config.init(device), |b| config.load(device, b))?;
                Autoregressive::PixelRnn(PixelRnnTrainer::from_model(config, model))
            }
            "nade" => {
                let config = NadeConfig::paper();
                let model = init_or_load(weights, || config.init(device), |b| config.load(device, b))?;
                Autoregressive::Nade(NadeTrainer::from_model(config, model))
            }
            other => return Err(format!("the network '{other}' is listed but not built here")),
        })
    }

    fn pretrained(values: &Values) -> Result<(String, String), String> {
        let n = network_entry(&values.text("variant")?)?;
        Ok((n.file.into(), n.name.into()))
    }

    fn apply(&self, _lab: &Lab<Self>, _values: &Values) -> Result<(), String> {
        Ok(())
    }

    fn describe(t: &Trainer<Autoregressive>) -> String {
        let h = &t.history;
        let train = h.train.last().map(|p| format!("NLL {:.2} nats · {:.4} bits/dim", p.values[0], p.values[1]));
        let test = h.test.last().map(|p| format!(" · test {:.2} nats", p.values[0]));
        format!("{}{}", train.unwrap_or_default(), test.unwrap_or_default())
    }

    fn reset(&self, lab: &Lab<Self>) {
        self.make_way(lab, &[Target::Completion, Target::Samples]);
        self.preview(&lab.built_values()).unwrap_or_else(|e| log::warn!("{e}"));
        // Samples of the previous model would mislead.
        if let Err(e) = self.samples.placeholder("Press Sample from scratch: digits appear pixel by pixel.") {
            log::warn!("{e}");
        }
    }

    /// The paper's two figures as soon as a model is in place: completions of the current digit,
    /// then samples from scratch (about a second each on the CPU). Not awaited; a click on
    /// Complete or Sample, a new digit, or a Reset stops them and nothing follows. On a GPU the
    /// page did not time (a software one takes minutes) the figures wait for the buttons.
    fn after_reset(&self, lab: &Rc<Lab<Self>>) {
        if !self.shared.is_quick() {
            return;
        }
        let lab = lab.clone();
        // Each run counts itself in `sampling`: another count means someone else's run began.
        let mut expected = self.sampling.get();
        wasm_bindgen_futures::spawn_local(async move {
            let values = lab.built_values();
            for target in [Target::Completion, Target::Samples] {
                if lab.view.sampling.get() != expected {
                    break;
                }
                match lab.view.run(&lab, target, &values, Some(UNASKED_BUDGET_MS)).await {
                    Ok(true) => expected += 1,
                    Ok(false) => break,
                    Err(e) => {
                        log::warn!("PixelCNN pictures at open: {e}");
                        break;
                    }
                }
            }
        });
    }

    fn moved(&self, lab: &Lab<Self>) {
        // A run's sampler holds tensors on the old device: it ends. Samples keep what they have.
        self.stop();
        self.make_way(lab, &[Target::Completion]);
        self.preview(&lab.built_values()).unwrap_or_else(|e| log::warn!("{e}"));
        *self.structure.borrow_mut() = structure(&lab.device().autodiff());
    }

    /// The next-pixel map and likelihood of the current digit, and (once) the receptive fields.
    /// Not the completion figure: finished completions stay while the network trains (the
    /// preview comes with a new digit, row, network or device).
    async fn draw(&self, lab: &Lab<Self>) -> Result<(), String> {
        self.draw_maps(lab).await?;
        if !self.field_drawn.get() {
            self.receptive_field(lab).await?;
        }
        Ok(())
    }

    /// The exact NLL of the first test digits for the network loaded now and for the other
    /// networks' pretrained weights (those that exist): the digits and binarization of `eval
    /// pixelcnn|gated-pixelcnn|pixelrnn|nade --images N --binarizations 1 --seed 1` (both use
    /// [`crate::train::nll_sums`]).
    async fn compare(&self, lab: &Lab<Self>, _k: usize, digits: usize) -> Result<Vec<Value>, String> {
        let values = lab.built_values();
        let loaded = values.text("variant")?;
        let device = lab.trainer.borrow().device().clone();
        let mut networks = vec![(network_entry(&loaded)?, model(lab), "loaded now")];
        for entry in NETWORKS.iter().filter(|n| n.value != loaded) {
            let mut other = values.clone();
            other.set("variant", Value::from(entry.value));
            if let Ok(Some(bytes)) = fetch_bytes(&format!("pretrained/{}", entry.file), &|_, _| {}).await {
                networks.push((entry, self.build(&other, &device, Some(bytes))?.network(), "pretrained"));
            }
        }
        let mut rows = Vec::new();
        let n = digits.min(self.shared.data().test.len());
        for (entry, network, note) in networks {
            let mut nll = 0.0f64;
            for sum in crate::train::nll_sums(|x| network.nll(x), &self.shared.data().test, n, &mut Rng::new(1), &lab.device()) {
                nll += read(sum.unsqueeze()).await?[0] as f64;
                yield_now().await;
            }
            let name = format!("{} ({note})", entry.name);
            rows.push(comparison_row("pixelcnn", &name, &format!("−log p(x), exact, {n} test digits (nats)"), nll / n as f64, entry.published));
        }
        Ok(rows)
    }

    async fn handle(&self, lab: &Lab<Self>, event: &Event) -> Result<Value, String> {
        let values = &event.values;
        match event.control.as_str() {
            "digit" => {
                let n = self.shared.data().test.len();
                let index = values.count("digit", "test digit")?;
                if index >= n {
                    return Err(format!("test digits are numbered 0 to {}", n - 1));
                }
                *self.current.borrow_mut() = prepare(self.shared.data().test.intensities(&[index]), Pixels::Binarized, &mut Rng::new(index as u64));
                self.make_way(lab, &[Target::Completion]);
                self.preview(values)?;
                self.draw(lab).await?;
            }
            "row" => {
                self.hide_from_row.set(hide_from_row(values)?);
                self.make_way(lab, &[Target::Completion]);
                self.preview(values)?;
            }
            "complete" => {
                self.run(lab, Target::Completion, values, None).await?;
            }
            "sample" => {
                self.run(lab, Target::Samples, values, None).await?;
            }
            "stop" => self.stop(),
            "next" => {
                // The map is 28×28 pixels: the pointer's canvas position is the pixel.
                let (col, row) = (event.x.floor(), event.y.floor());
                if !(0.0..SIDE as f32).contains(&col) || !(0.0..SIDE as f32).contains(&row) {
                    return Err("click inside the picture".into());
                }
                self.field_pixel.set(row as usize * SIDE + col as usize);
                self.receptive_field(lab).await?;
            }
            "pad" => {
                let pixels = &event.pixels;
                if pixels.len() != PIXELS || pixels.iter().any(|p| !p.is_finite()) {
                    return Err(format!("a drawing is 784 finite intensities, got {}", pixels.len()));
                }
                *self.current.borrow_mut() = pixels.iter().map(|&p| if p >= 0.5 { 1.0 } else { 0.0 }).collect();
                self.make_way(lab, &[Target::Completion]);
                self.preview(values)?;
                self.draw(lab).await?;
            }
            other => return Err(format!("the PixelCNN lab has no control '{other}'")),
        }
        Ok(Value::Null)
    }
}

/// What a sampling run fills: the hidden rows of the current digit (the completion figure, beside
/// its source), or whole digits from an empty canvas (the samples figure).
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Completion,
    Samples,
}

impl Target {
    /// The line under the figure that tells how its run went.
    fn info_line(self) -> &'static str {
        match self {
            Target::Completion => "completion-info",
            Target::Samples => "sample-info",
        }
    }
}

/// Pictures nobody asked for (the lab opening) stop where they would take longer than this,
/// judged from the pace after the first few steps.
pub const UNASKED_BUDGET_MS: f64 = 15_000.0;
/// The first pixel steps compile a GPU's shaders: their pace says nothing about the rest.
const WARM_UP_STEPS: usize = 3;

/// How long a sampling run of `total` pixel steps takes after its warm-up steps, projected from
/// the pace of the `done` steps so far, `since_warm_ms` after the warm-up ended. None until a
/// second of steady steps has passed: too few to judge by.
pub fn projected_sampling_ms(done: usize, total: usize, since_warm_ms: f64) -> Option<f64> {
    (done > WARM_UP_STEPS && since_warm_ms > 1000.0).then(|| since_warm_ms / (done - WARM_UP_STEPS) as f64 * total.saturating_sub(WARM_UP_STEPS) as f64)
}

fn hide_from_row(values: &Values) -> Result<usize, String> {
    let row = values.count("row", "row")?;
    if row <= SIDE { Ok(row) } else { Err(format!("row {row} is not in 0–{SIDE}")) }
}

fn count(values: &Values) -> Result<usize, String> {
    let n = values.count("n", "completions")?;
    if (1..=16).contains(&n) { Ok(n) } else { Err(format!("{n} completions: choose 1–16")) }
}

/// Untrained plain and gated networks, for the receptive fields.
fn structure(device: &Device) -> [PixelCnn; 2] {
    [PixelCnnConfig::plain().init(device), PixelCnnConfig::gated().init(device)]
}

fn model(lab: &Lab<PixelCnnView>) -> Network {
    lab.trainer.borrow().model.network()
}

/// The lab's model: a PixelCNN (plain or gated), PixelRNN or NADE — exact likelihoods in raster order, so
/// every view of the lab works for each. The training loop drives whichever it is.
pub(crate) enum Autoregressive {
    PixelCnn(PixelCnnTrainer),
    PixelRnn(PixelRnnTrainer),
    Nade(NadeTrainer),
}

impl Autoregressive {
    /// The network off the autodiff graph, for the views.
    fn network(&self) -> Network {
        match self {
            Autoregressive::PixelCnn(t) => Network::PixelCnn(t.model.valid()),
            Autoregressive::PixelRnn(t) => Network::PixelRnn(t.model.valid()),
            Autoregressive::Nade(t) => Network::Nade(t.model.valid()),
        }
    }

    fn trainable(&self) -> &dyn Trainable {
        match self {
            Autoregressive::PixelCnn(t) => t,
            Autoregressive::PixelRnn(t) => t,
            Autoregressive::Nade(t) => t,
        }
    }

    fn trainable_mut(&mut self) -> &mut dyn Trainable {
        match self {
            Autoregressive::PixelCnn(t) => t,
            Autoregressive::PixelRnn(t) => t,
            Autoregressive::Nade(t) => t,
        }
    }
}

impl Trainable for Autoregressive {
    fn metric_names(&self) -> &'static [&'static str] {
        self.trainable().metric_names()
    }
    fn pixels(&self) -> Pixels {
        self.trainable().pixels()
    }
    fn step(&mut self, images: Tensor<2>, lr: f64) -> Tensor<1> {
        self.trainable_mut().step(images, lr)
    }
    fn evaluate(&self, images: Tensor<2>, piece: u64) -> Tensor<1> {
        self.trainable().evaluate(images, piece)
    }
    fn tensors(&self) -> Vec<Tensor<1>> {
        self.trainable().tensors()
    }
    fn set_tensors(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        self.trainable_mut().set_tensors(values)
    }
    fn save_state(&self) -> Result<Vec<Vec<u8>>, String> {
        self.trainable().save_state()
    }
    fn load_state(&mut self, parts: Vec<Vec<u8>>) -> Result<(), String> {
        self.trainable_mut().load_state(parts)
    }
    fn weights(&self) -> Result<Vec<u8>, String> {
        self.trainable().weights()
    }
}

/// A network of the lab, for pictures: logits, exact NLL, and sampling pixel by pixel.
enum Network {
    PixelCnn(PixelCnn),
    PixelRnn(PixelRnn),
    Nade(Nade),
}

/// What sampling keeps between pixels: the PixelCNN's rows above, PixelRNN's LSTM state, NADE's
/// running sum.
enum Sampler {
    PixelCnn(RowCache),
    PixelRnn(RowCarry),
    Nade(Running),
}

impl Network {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Network::PixelCnn(m) => m.logits(x),
            Network::PixelRnn(m) => m.logits(x),
            Network::Nade(m) => m.logits(x),
        }
    }

    fn nll(&self, x: Tensor<2>) -> Tensor<1> {
        match self {
            Network::PixelCnn(m) => m.nll(x),
            Network::PixelRnn(m) => m.nll(x),
            Network::Nade(m) => m.nll(x),
        }
    }

    fn sampler(&self, batch: usize, device: &Device) -> Sampler {
        match self {
            Network::PixelCnn(m) => Sampler::PixelCnn(m.row_cache(batch, device)),
            Network::PixelRnn(m) => Sampler::PixelRnn(m.row_carry(batch, device)),
            Network::Nade(m) => Sampler::Nade(m.running(batch)),
        }
    }

    /// p(x_i = 1 | x_<i) for each image of the batch ([batch]); pixels before i are final.
    fn probs(&self, sampler: &mut Sampler, images: &[f32], batch: usize, i: usize, temperature: f32, device: &Device) -> Tensor<1> {
        match (self, sampler) {
            (Network::PixelCnn(m), Sampler::PixelCnn(cache)) => m.cached_probs(cache, images, batch, i, temperature, device),
            (Network::PixelRnn(m), Sampler::PixelRnn(carry)) => m.carried_probs(carry, images, batch, i, temperature, device),
            (Network::Nade(m), Sampler::Nade(running)) => m.running_probs(running, images, batch, i, temperature, device),
            _ => unreachable!("a sampler is made by its own network"),
        }
    }

    /// What one pixel step costs, for the info line.
    fn per_pixel(&self) -> &'static str {
        match self {
            Network::PixelCnn(_) => "one row through the network, the rows above from the row cache",
            Network::PixelRnn(_) => "one row of the Row LSTM from the state carried down",
            Network::Nade(_) => "one column of W added to the running sum, O(H)",
        }
    }
}

impl PixelCnnView {
    fn stop(&self) {
        self.sampling.set(self.sampling.get() + 1);
        self.taken.set(None);
    }

    /// `figures` are about to show something new (the preview of a new digit, row or drawing; a
    /// new network's placeholder): a run filling one of them ends without drawing over it, and
    /// their info lines, which told of the old pictures, are cleared.
    fn make_way(&self, lab: &Lab<Self>, figures: &[Target]) {
        if let Some((_, target)) = self.running.get()
            && figures.contains(&target)
        {
            self.sampling.set(self.sampling.get() + 1);
            self.taken.set(Some(target));
        }
        for figure in figures {
            lab.text(figure.info_line(), "");
        }
    }

    /// Shows the current digit with rows from the chosen one down hidden: what Complete will see,
    /// as the picture of a run of the chosen count of completions that has not begun, so the figure
    /// keeps its size.
    fn preview(&self, values: &Values) -> Result<(), String> {
        // A bad count is refused by Complete, not here.
        let n = count(values).unwrap_or(1);
        let x = self.current.borrow();
        let c = Completion::new(&x, observed_above(self.hide_from_row.get()), n);
        self.completion.show(&completion_picture(Some(&x), &c))
    }

    /// The next-pixel map p(x_i = 1 | x_<i), each pixel's −log p(x_i | x_<i), and their sum,
    /// the digit's exact −log p(x), for the current digit: one forward pass gives all 784
    /// conditionals (one read-back, while training too).
    async fn draw_maps(&self, lab: &Lab<Self>) -> Result<(), String> {
        let model = model(lab);
        let x = self.current.borrow().clone();
        let logits = read(model.logits(tensor(x.clone(), [1, PIXELS], &lab.device()))).await?;
        let probs: Vec<f32> = logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect();
        self.next.show(&heat_map(&probs, heat_color))?;
        // −log p(x_i | x_<i) = softplus(−l) for ink, softplus(l) for paper: stable at any logit.
        let softplus = |v: f32| v.max(0.0) + (-v.abs()).exp().ln_1p();
        let nats: Vec<f32> = logits.iter().zip(&x).map(|(&l, &v)| if v > 0.5 { softplus(-l) } else { softplus(l) }).collect();
        // Colour scale: 0 nats dark, ≥ 4 nats (a pixel the model found very surprising) bright.
        self.contributions.show(&heat_map(&nats, |n| heat_color(n / 4.0)))?;
        let total: f64 = nats.iter().map(|&n| n as f64).sum();
        lab.text("likelihood", &format!("−log p(x) = {total:.1} nats = {:.3} bits/dim", bits_per_dim(total)));
        Ok(())
    }

    /// Samples every unobserved pixel of `target` in raster order; the picture is sent, and the
    /// worker looks at its events (Stop), every ~30 ms of work. The result goes to the figure's
    /// info line. `budget_ms`: stop once the run is seen to need longer. True when it finished.
    async fn run(&self, lab: &Lab<Self>, target: Target, values: &Values, budget_ms: Option<f64>) -> Result<bool, String> {
        let temperature = values.number("temperature", "temperature")? as f32;
        if !(0.05..=5.0).contains(&temperature) {
            return Err(format!("temperature {temperature} is not in [0.05, 5]"));
        }
        let n = count(values)?;
        let (mut c, source) = match target {
            Target::Completion => {
                let row = hide_from_row(values)?;
                self.hide_from_row.set(row);
                let start = self.current.borrow().clone();
                (Completion::new(&start, observed_above(row), n), Some(start))
            }
            Target::Samples => (Completion::new(&vec![0.0; PIXELS], vec![false; PIXELS], n), None),
        };
        let hidden = c.observed.iter().filter(|o| !**o).count();
        let run = self.sampling.get() + 1;
        self.sampling.set(run);
        self.running.set(Some((run, target)));
        self.taken.set(Some(target));
        let model = model(lab);
        let device = lab.device();
        let mut rng = Rng::new(run);
        let info = target.info_line();
        let (surface, button) = match target {
            Target::Completion => (&self.completion, "Complete"),
            Target::Samples => (&self.samples, "Sample from scratch"),
        };
        let draw = |c: &Completion| surface.show(&completion_picture(source.as_deref(), c));
        draw(&c)?;
        lab.text(info, "sampling, pixel by pixel…");
        let (mut pixels, mut compute_ms, started) = (0usize, 0.0, now_ms());
        let mut frame_start = now_ms();
        let (mut stopped, mut too_slow, mut warm) = (false, None, started);
        let mut cache = model.sampler(c.batch, &device);
        while let Some(i) = (c.next..PIXELS).find(|&i| !c.observed[i]) {
            if self.sampling.get() != run {
                stopped = true;
                break;
            }
            if pixels == WARM_UP_STEPS {
                warm = now_ms();
            }
            if let (Some(budget), Some(projected)) = (budget_ms, projected_sampling_ms(pixels, hidden, now_ms() - warm))
                && projected > budget
            {
                (stopped, too_slow) = (true, Some(warm - started + projected));
                break;
            }
            let t = now_ms();
            let probs = model.probs(&mut cache, &c.images, c.batch, i, temperature, &device);
            let probs = read(probs.unsqueeze()).await?;
            set_sampled(&mut c, i, &probs, &mut rng);
            compute_ms += now_ms() - t;
            pixels += 1;
            // Not once ended: what took the figure while the read-back was awaited stays.
            if now_ms() - frame_start > FRAME_BUDGET_MS && self.sampling.get() == run {
                draw(&c)?;
                yield_now().await;
                frame_start = now_ms();
            }
        }
        if self.running.get() == Some((run, target)) {
            self.running.set(None);
        }
        // Something newer owns the figure (and its info line) now.
        if stopped && too_slow.is_none() && self.taken.get() == Some(target) {
            return Ok(false);
        }
        if !stopped {
            c.next = PIXELS;
        }
        draw(&c)?;
        let total = now_ms() - started;
        let ending = match too_slow {
            Some(ms) => format!(" · stopped: all {hidden} would take about {:.0} s here; {button} runs them", ms / 1000.0),
            None if stopped => " · stopped".into(),
            None => String::new(),
        };
        lab.text(
            info,
            &format!("{pixels} pixel steps ({}) · {:.1} ms per step · {:.1} s{ending}", model.per_pixel(), compute_ms / pixels.max(1) as f64, total / 1000.0),
        );
        Ok(!stopped)
    }

    /// Gradient of logit i with respect to the input, for both architectures: its non-zero
    /// entries are the pixels the logit depends on.
    async fn receptive_field(&self, lab: &Lab<Self>) -> Result<(), String> {
        let i = self.field_pixel.get();
        let device = lab.device().autodiff();
        let x = self.current.borrow().clone();
        let mut counts = Vec::new();
        let structure = self.structure.borrow().clone();
        for (model, surface) in structure.iter().zip(&self.fields) {
            let input = tensor(x.clone(), [1, PIXELS], &device).require_grad();
            let logit = model.logits(input.clone()).slice([0..1, i..i + 1]).sum();
            let grads = logit.backward();
            let grad = input.grad(&grads).ok_or("no gradient reached the input")?;
            let seen: Vec<bool> = read(grad).await?.iter().map(|g| *g != 0.0).collect();
            counts.push(seen.iter().filter(|s| **s).count());
            let mut img = Rgba::new(SIDE, SIDE, [0, 0, 0, 255]);
            for j in 0..PIXELS {
                let ink = x[j] > 0.5;
                let color = match (j == i, seen[j], ink) {
                    (true, _, _) => [239, 83, 80, 255],
                    (false, true, true) => [129, 212, 250, 255],
                    (false, true, false) => [21, 101, 192, 255],
                    (false, false, true) => [90, 90, 90, 255],
                    (false, false, false) => [25, 25, 25, 255],
                };
                img.set(j % SIDE, j / SIDE, color);
            }
            surface.show(&img)?;
        }
        self.field_drawn.set(true);
        lab.text("field-info", &format!("depends on {} pixels (PixelCNN) · {} pixels (gated)", counts[0], counts[1]));
        Ok(())
    }
}

/// Which pixels a completion keeps: those of the rows above `row`.
fn observed_above(row: usize) -> Vec<bool> {
    (0..PIXELS).map(|i| i / SIDE < row).collect()
}

/// A completion run's picture: the source digit with its hidden pixels grey (when completing
/// one), then each image with the pixels not yet sampled grey.
fn completion_picture(source: Option<&[f32]>, c: &Completion) -> Rgba {
    let mut images: Vec<f32> = source.map(|s| s.iter().zip(&c.observed).map(|(&v, &o)| if o { v } else { UNKNOWN }).collect()).unwrap_or_default();
    for b in 0..c.batch {
        images.extend((0..PIXELS).map(|i| if c.observed[i] || i < c.next { c.images[b * PIXELS + i] } else { UNKNOWN }));
    }
    image_grid(&images, c.batch + source.is_some() as usize, 2)
}

/// A 28×28 picture of per-pixel values through a colour map.
fn heat_map(values: &[f32], color: impl Fn(f32) -> [u8; 4]) -> Rgba {
    let mut img = Rgba::new(SIDE, SIDE, [0, 0, 0, 255]);
    for (i, &v) in values.iter().enumerate().take(PIXELS) {
        img.set(i % SIDE, i / SIDE, color(v));
    }
    img
}
