//! One lab per model family, all run by the same code: a model's view file implements
//! [`ModelView`] (what the page shows of it, how its controls build a model, its pictures) and
//! [`Lab`] does the rest — the page section's shared controls, loading pretrained weights,
//! start / pause / step / reset, chunks of steps with the worker free for events in between,
//! the charts, and the status line.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use serde_json::{Value, json};

use crate::render::chart::draw_history;
use crate::train::{Settings, Status, Trainable, Trainer, count_non_finite, now_ms, unwrap_weights, wrap_weights};

use super::spec::{ChartSpec, Control, Demo, Event, Figure, Input, LabSpec, Values, defaults, with_given};
use super::{Download, Shared, Surface, TrainingDigits, fetch_bytes, yield_now};

/// Makes a lab.
pub(crate) type Opener = fn(&Rc<Shared>) -> Result<Rc<dyn AnyLab>, String>;

/// Every lab the page shows, in order, by id. A new model family is one more entry here.
pub(crate) fn all() -> Vec<(&'static str, Opener)> {
    fn entry<V: ModelView>() -> (&'static str, Opener) {
        (V::spec().id, Lab::<V>::open_lab)
    }
    vec![entry::<super::vae::VaeView>(), entry::<super::gan::GanView>(), entry::<super::pixelcnn::PixelCnnView>()]
}

/// How often the model's pictures are redrawn while it trains.
const VIEWS_EVERY_MS: f64 = 1000.0;

/// What a model family's view file provides.
pub(crate) trait ModelView: Sized + 'static {
    type Model: Trainable + 'static;

    /// The lab's section: id, title, caption, its charts and figures, and its own controls
    /// (`choice` picks the network at Reset, `options` change it while it trains).
    fn spec() -> ViewSpec;

    /// The pictures, on surfaces made from the figures of [`ModelView::spec`]. Draw nothing yet:
    /// the page builds the section after this; the first drawing belongs in `reset` or `draw`.
    fn new(shared: &Rc<Shared>, surfaces: Surfaces) -> Result<Self, String>;

    /// The network the choice controls describe, with random weights or from `weights`
    /// (burnpack bytes); a wrong or damaged file is an error.
    fn build(&self, values: &Values, device: &burn::tensor::Device, weights: Option<Vec<u8>>) -> Result<Self::Model, String>;

    /// The pretrained file (in pretrained/) for the choice, and what to call it in messages.
    fn pretrained(values: &Values) -> Result<(String, String), String>;

    /// Applies the option controls to the model (before Train and Step, and when one changes).
    fn apply(&self, lab: &Lab<Self>, values: &Values) -> Result<(), String>;

    /// After an option changed (e.g. redraw a picture that shows it).
    fn option_changed(&self, _lab: &Lab<Self>) -> impl Future<Output = Result<(), String>> {
        async { Ok(()) }
    }

    /// The model's part of the status line.
    fn describe(trainer: &Trainer<Self::Model>) -> String;

    /// The lab's figure of merit for the lecture's map, when known: by default the first
    /// held-out metric (a likelihood or a bound, in nats), else the test NLL in the training
    /// record of the pretrained weights loaded (`record`, the .json beside them).
    fn headline(&self, trainer: &Trainer<Self::Model>, record: Option<&Value>) -> Option<String> {
        let h = &trainer.history;
        let name = h.names[0].trim_end_matches(" (nats)");
        match (h.test.last(), record.and_then(|r| r["test_nll_nats"].as_f64())) {
            (Some(p), _) => Some(format!("held-out {name} {:.1} nats", p.values[0])),
            (None, Some(nll)) => Some(format!("test {name} {nll:.1} nats (its training record)")),
            _ => None,
        }
    }

    /// Redraws every picture.
    fn draw(&self, lab: &Lab<Self>) -> impl Future<Output = Result<(), String>>;

    /// After a Reset: forget what belonged to the previous model (selections, caches).
    fn reset(&self, _lab: &Lab<Self>) {}

    /// A new model is in place and drawn (the lab opened — after the link's view controls —, Reset,
    /// Load): start what takes longer than a redraw, not awaited, so the lab is usable meanwhile.
    fn after_reset(&self, _lab: &Rc<Lab<Self>>) {}

    /// The model moved to another device (WebGPU was lost): move what the view keeps there.
    fn moved(&self, _lab: &Lab<Self>) {}

    /// A control of the view's own was used (a button, a pointer on a picture, a drawing).
    fn handle(&self, lab: &Lab<Self>, event: &Event) -> impl Future<Output = Result<Value, String>>;

    /// The comparison panel's rows for the model loaded now, measured on the first `digits`
    /// test digits (`k`: importance samples for a bound): [`comparison_row`]s.
    fn compare(&self, _lab: &Lab<Self>, _k: usize, _digits: usize) -> impl Future<Output = Result<Vec<Value>, String>> {
        async { Ok(Vec::new()) }
    }
}

/// What a view file declares; [`Lab`] adds the shared controls around it.
pub(crate) struct ViewSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub family: &'static str,
    pub caption: &'static str,
    pub choice: Vec<Control>,
    pub options: Vec<Control>,
    /// The lecture's one-line trade-off of this family (the map at the top shows it).
    pub tradeoff: &'static str,
    /// The benchmark workloads (src/bench.rs) that time this lab's training steps, one per
    /// network the comparison's speed table shows.
    pub bench: &'static [&'static str],
    /// Batch size, learning rate and seed to start with.
    pub settings: Settings,
    /// What the learning-rate field is called ("learning rate", "lr G").
    pub lr_label: &'static str,
    pub charts: Vec<ChartSpec>,
    pub figures: Vec<Figure>,
    /// The lecture's demonstrations in this lab.
    pub demos: Vec<Demo>,
}

/// The surfaces of a lab's pictures, by canvas name.
pub(crate) struct Surfaces(Vec<Surface>);

impl Surfaces {
    pub fn take(&mut self, name: &str) -> Result<Surface, String> {
        let i = self.0.iter().position(|s| s.name == name).ok_or_else(|| format!("no canvas '{name}' in the lab's figures"))?;
        Ok(self.0.swap_remove(i))
    }
}

/// A lab whatever its model: what [`super::App`] needs.
pub(crate) trait AnyLab {
    fn id(&self) -> &'static str;
    /// Sends the page the section with the controls a link set (`given`: name → value; a value
    /// the control refuses is a message and its default stays), loads the model, draws everything.
    fn open(self: Rc<Self>, given: serde_json::Map<String, Value>) -> Pin<Box<dyn Future<Output = ()>>>;
    fn handle(self: Rc<Self>, event: Event) -> Pin<Box<dyn Future<Output = Result<Value, String>>>>;
    /// Moves the model if the device changed (WebGPU was lost).
    fn follow_device(self: Rc<Self>);
    /// The comparison panel's rows for this lab's model (see [`ModelView::compare`]).
    fn compare(self: Rc<Self>, k: usize, digits: usize) -> Pin<Box<dyn Future<Output = Result<Vec<Value>, String>>>>;
    /// The benchmark workloads of this lab's training steps.
    fn bench(&self) -> &'static [&'static str];
}

/// A row of the comparison panel: which model, what was measured, our figure and the paper's.
pub(crate) fn comparison_row(lab: &str, model: &str, measure: &str, ours: f64, paper: &str) -> Value {
    json!({ "lab": lab, "model": model, "measure": measure, "ours": (ours * 100.0).round() / 100.0, "paper": paper })
}

pub(crate) struct Lab<V: ModelView> {
    pub shared: Rc<Shared>,
    pub trainer: RefCell<Trainer<V::Model>>,
    pub view: V,
    spec: LabSpec,
    /// Every input's value as first shown: what an event does not say.
    defaults: Values,
    charts: Vec<(Surface, Vec<usize>)>,
    /// Whether the loop task is alive, a chunk is in flight, and how many resets happened
    /// (a chunk that started before a reset must not record into the new run).
    looping: Cell<bool>,
    busy: Cell<bool>,
    generation: Cell<u64>,
    last_views_ms: Cell<f64>,
    /// Whether the model's pictures are redrawn while training (off: the charts alone, e.g. for
    /// timing an epoch on a slow GPU).
    live_views: Cell<bool>,
    /// Which training loop task is current (a loop whose id is stale ends).
    loop_id: Cell<u64>,
    /// The device generation the model lives on ([`Shared::device_generation`]).
    on_generation: Cell<u32>,
    /// The choice the model was built from, to build it again elsewhere.
    built_from: RefCell<Values>,
    /// While on WebGPU: the step and a host copy of the model's tensors, taken every few seconds
    /// of training, so a lost GPU costs those seconds and not the run.
    host_copy: RefCell<Option<(u64, Vec<Vec<f32>>)>>,
    copied_ms: Cell<f64>,
    /// The benchmark workloads of this lab's training steps.
    bench: &'static [&'static str],
    /// The training record (.json) of the pretrained weights loaded, if any.
    record: RefCell<Option<Value>>,
    /// The learning rate the lab set from pretrained weights' record, while the control still
    /// shows it (a rate the user typed is theirs).
    trained_lr: Cell<Option<f64>>,
}

/// How often a lab on WebGPU refreshes its host copy of the model.
const HOST_COPY_EVERY_MS: f64 = 5000.0;

impl<V: ModelView> Lab<V> {
    fn open_lab(shared: &Rc<Shared>) -> Result<Rc<dyn AnyLab>, String> {
        let lab: Rc<dyn AnyLab> = Lab::<V>::new(shared)?;
        Ok(lab)
    }

    fn new(shared: &Rc<Shared>) -> Result<Rc<Self>, String> {
        let s = V::spec();
        let spec = lab_spec(&s);
        let out = &shared.out;
        let mut surfaces = Vec::new();
        for figure in &spec.figures {
            for c in &figure.canvases {
                surfaces.push(Surface::new(s.id, c.name, c.width, c.height, out)?);
            }
        }
        let charts =
            s.charts.iter().map(|c| Ok((Surface::new(s.id, c.name, c.width, c.height, out)?, c.metrics.clone()))).collect::<Result<Vec<_>, String>>()?;
        let device = shared.device().autodiff();
        let view = V::new(shared, Surfaces(surfaces))?;
        let values = defaults(spec.controls.iter().chain(spec.figures.iter().flat_map(|f| &f.controls)));
        let model = random_weights(&view, &values, &device)?;
        let trainer = Trainer::with_dataset(model, s.settings.clone(), shared.dataset(), device);
        Ok(Rc::new(Lab {
            shared: shared.clone(),
            trainer: RefCell::new(trainer),
            view,
            spec,
            built_from: RefCell::new(values.clone()),
            defaults: values,
            charts,
            looping: Cell::new(false),
            busy: Cell::new(false),
            generation: Cell::new(0),
            last_views_ms: Cell::new(f64::NEG_INFINITY),
            live_views: Cell::new(true),
            loop_id: Cell::new(0),
            on_generation: Cell::new(shared.device_generation()),
            host_copy: RefCell::new(None),
            copied_ms: Cell::new(f64::NEG_INFINITY),
            trained_lr: Cell::new(None),
            bench: s.bench,
            record: RefCell::new(None),
        }))
    }

    pub fn device(&self) -> burn::tensor::Device {
        self.shared.device()
    }

    /// The control values the model was built from.
    pub fn built_values(&self) -> Values {
        self.built_from.borrow().clone()
    }

    /// Writes an info line of this lab.
    pub fn text(&self, name: &str, text: &str) {
        self.shared.out.text(self.spec.id, name, text);
    }

    /// New properties of one of this lab's controls (e.g. a slider's max and value).
    pub fn control(&self, name: &str, properties: Value) {
        self.shared.out.control(self.spec.id, name, properties);
    }

    /// A message for the user.
    pub fn message(&self, kind: &str, text: &str) {
        self.shared.out.message(kind, text);
    }

    fn start(self: &Rc<Self>) {
        if matches!(self.trainer.borrow().status, Status::Diverged(_)) {
            self.notify();
            return;
        }
        self.trainer.borrow_mut().status = Status::Running;
        if !self.looping.replace(true) {
            let lab = self.clone();
            let id = self.loop_id.get();
            wasm_bindgen_futures::spawn_local(async move {
                while lab.trainer.borrow().status == Status::Running && lab.loop_id.get() == id {
                    lab.chunk(None).await;
                    yield_now().await;
                }
                if lab.loop_id.get() == id {
                    lab.looping.set(false);
                    lab.notify();
                }
            });
        }
        self.notify();
    }

    fn pause(&self) {
        if self.trainer.borrow().status == Status::Running {
            self.trainer.borrow_mut().status = Status::Paused;
        }
        self.notify();
    }

    /// Applies the shared settings and the view's options from the page's values.
    fn apply(&self, values: &Values) -> Result<(), String> {
        let settings = Settings {
            batch_size: values.count("batch", "batch size")?,
            lr: values.number("lr", "learning rate")?,
            seed: values.count("seed", "seed")? as u64,
            lr_decay: self.trainer.borrow().settings.lr_decay,
        };
        settings.check()?;
        self.view.apply(self, values)?;
        self.trainer.borrow_mut().settings = settings;
        Ok(())
    }

    /// A fresh model as the choice controls say: pretrained weights (fetched by the worker) or
    /// random ones. A missing or damaged file is a message, and the lab goes on with random weights.
    async fn reset(self: &Rc<Self>, values: &Values) -> Result<(), String> {
        self.reset_keeping(values, false).await
    }

    /// [`Lab::reset`]; `lr_given`: the learning rate was chosen (by a link), so pretrained
    /// weights do not replace it with the rate they were trained at.
    async fn reset_keeping(self: &Rc<Self>, values: &Values, lr_given: bool) -> Result<(), String> {
        self.pause();
        self.apply(values)?;
        let device = self.trainer.borrow().device().clone();
        let mut weights = None;
        let mut record = None;
        if values.text("from")? == "pretrained" {
            let (file, name) = V::pretrained(values)?;
            // The training record beside the weights comes down with them, not after.
            record = training_record_download(&file);
            match fetch_bytes(&format!("pretrained/{file}"), &|_, _| {}).await {
                Ok(Some(bytes)) => weights = Some((bytes, name)),
                Ok(None) => self.message("warn", &format!("No pretrained {name}: starting from random weights.")),
                Err(e) => self.message("error", &format!("Pretrained {name} could not be fetched ({e}): starting from random weights.")),
            }
        }
        // The rate the last pretrained weights set goes with them (unless the user typed another):
        // the page's rate again, which weights whose record names a rate replace below.
        if !lr_given && self.trained_lr.take().is_some_and(|lr| values.number("lr", "learning rate").ok() == Some(lr)) {
            let lr = self.defaults.number("lr", "learning rate")?;
            self.trainer.borrow_mut().settings.lr = lr;
            self.control("lr", json!({ "value": lr }));
        }
        let mut pretrained = false;
        *self.record.borrow_mut() = None;
        let model = match weights {
            None => random_weights(&self.view, values, &device)?,
            Some((bytes, name)) => match self.view.build(values, &device, Some(bytes)) {
                Ok(model) => {
                    pretrained = true;
                    model
                }
                Err(e) => {
                    self.message("error", &format!("Pretrained {name} not loaded: {e}. Starting from random weights."));
                    random_weights(&self.view, values, &device)?
                }
            },
        };
        self.generation.set(self.generation.get() + 1);
        self.trainer.borrow_mut().reset(model);
        if pretrained {
            *self.record.borrow_mut() = training_record(record).await;
            if !lr_given {
                self.continue_at_trained_rate();
            }
        }
        *self.built_from.borrow_mut() = values.clone();
        *self.host_copy.borrow_mut() = None;
        self.last_views_ms.set(f64::NEG_INFINITY);
        self.view.reset(self);
        self.draw_charts();
        self.notify();
        self.keep_host_copy().await;
        self.view.draw(self).await
    }

    /// Train continues pretrained weights at the learning rate their training ended with (the
    /// `settings.lr` of the record beside the weights): at the page's from-scratch rate they got
    /// worse before they got better (Burda's VAE, trained down to 1.4e-4: −ELBO 91.5 → 98.2 in a
    /// minute at 3e-3, → 90.7 at 1.4e-4). No record, no rate in it: the rate stays as it is.
    fn continue_at_trained_rate(&self) {
        let Some(lr) = self.record.borrow().as_ref().and_then(|r| r["settings"]["lr"].as_f64()) else { return };
        // Two significant digits, as a person would type it; a rate Train would refuse is ignored.
        let settings = Settings { lr: format!("{lr:.1e}").parse().unwrap_or(lr), ..self.trainer.borrow().settings.clone() };
        if settings.check().is_err() {
            return;
        }
        self.trained_lr.set(Some(settings.lr));
        self.control("lr", json!({ "step": "any", "value": settings.lr }));
        self.trainer.borrow_mut().settings = settings;
    }

    /// On WebGPU: reads the model's tensors back to the host (asynchronously) and keeps them.
    async fn keep_host_copy(&self) {
        if !self.shared.is_gpu() {
            return;
        }
        let (generation, step, tensors) = {
            let t = self.trainer.borrow();
            (self.generation.get(), t.history.step, t.model.tensors())
        };
        let mut values = Vec::with_capacity(tensors.len());
        for t in tensors {
            match t.into_data_async().await.map_err(|e| format!("{e:?}")).and_then(|d| d.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))) {
                Ok(v) => values.push(v),
                Err(_) => return,
            }
        }
        if generation == self.generation.get() {
            *self.host_copy.borrow_mut() = Some((step, values));
            self.copied_ms.set(now_ms());
        }
    }

    /// When the device changed under the model (WebGPU lost): builds the network again on the
    /// new device from the host copy of its last good tensors (a fresh optimizer), keeping the
    /// history, the settings, the batches and whether it was training.
    fn follow_device(self: &Rc<Self>) {
        let current = self.shared.device_generation();
        if self.on_generation.replace(current) == current {
            return;
        }
        let device = self.shared.device().autodiff();
        let values = self.built_from.borrow().clone();
        let copy = self.host_copy.borrow_mut().take();
        let rebuilt = self.view.build(&values, &device, None).and_then(|mut model| {
            if let Some((_, tensors)) = &copy {
                model.set_tensors(tensors.clone())?;
            }
            Ok(model)
        });
        let model = match rebuilt {
            Ok(model) => model,
            Err(e) => return self.message("error", &format!("{}: could not move to the CPU ({e}). Press Reset.", self.spec.title)),
        };
        let running = self.trainer.borrow().status == Status::Running;
        self.generation.set(self.generation.get() + 1);
        self.busy.set(false);
        self.trainer.borrow_mut().move_to(model, device, self.shared.dataset());
        self.view.moved(self);
        self.last_views_ms.set(f64::NEG_INFINITY);
        let from = copy.map_or("its first weights (no copy was made yet)".to_string(), |(step, _)| format!("its weights at step {step}"));
        self.message("warn", &format!("{} goes on on the CPU from {from}; the curves keep their history.", self.spec.title));
        if running {
            // The loop in flight may wait forever on the lost device: a new one takes over.
            self.loop_id.set(self.loop_id.get() + 1);
            self.looping.set(false);
            self.start();
        }
        self.notify();
    }

    /// Queues a chunk, waits for its metrics without blocking, records them; redraws the charts,
    /// and the pictures about once a second. A picture that fails to draw is a message: training
    /// goes on.
    async fn chunk(self: &Rc<Self>, steps: Option<usize>) {
        self.follow_device();
        if self.busy.replace(true) {
            return;
        }
        let generation = self.generation.get();
        let pending = self.trainer.borrow_mut().queue(steps, self.shared.is_gpu(), &now_ms);
        let values = pending.values.clone().into_data_async().await;
        self.busy.set(false);
        if generation != self.generation.get() {
            return;
        }
        let values = match values {
            // A read-back that fails on WebGPU: the device is gone, not the model.
            Err(e) if self.shared.is_gpu() => {
                self.shared.lose_gpu(&format!("reading metrics failed: {e:?}"));
                self.follow_device();
                return;
            }
            values => values.map_err(|e| format!("reading metrics from the device failed: {e:?}")),
        };
        let values = values.and_then(|d| d.try_into_vec::<f32>().map_err(|e| format!("{e:?}")));
        let recorded = values.and_then(|v| self.trainer.borrow_mut().record(&pending, &v, now_ms()));
        if let Err(message) = recorded {
            self.trainer.borrow_mut().status = Status::Diverged(message);
        }
        self.draw_charts();
        self.notify();
        if matches!(self.trainer.borrow().status, Status::Diverged(_)) {
            return;
        }
        // Only steps change the weights (a chunk of held-out pieces leaves the last copy good).
        if pending.steps() > 0 && now_ms() - self.copied_ms.get() >= HOST_COPY_EVERY_MS {
            self.keep_host_copy().await;
        }
        // Pictures only of new weights: a chunk of held-out pieces changed nothing to draw.
        let wanted = pending.steps() > 0 && (self.live_views.get() || steps.is_some());
        if wanted && now_ms() - self.last_views_ms.get() >= VIEWS_EVERY_MS {
            self.last_views_ms.set(now_ms());
            if let Err(e) = self.view.draw(self).await {
                self.message("error", &format!("{}: a picture could not be drawn ({e}); training goes on.", self.spec.title));
            }
        }
    }

    fn draw_charts(&self) {
        let trainer = self.trainer.borrow();
        // The first held-out evaluation comes before the first step (seconds for a slow network).
        let empty = match trainer.evaluating() {
            Some((done, all)) => format!("Held-out digits first ({done}/{all}): the curves follow."),
            None => "Press Train or Step: the curves appear here.".to_string(),
        };
        for (surface, shown) in &self.charts {
            if let Err(e) = surface.paint(|canvas| draw_history(canvas, &trainer.history, shown, &empty)) {
                log::warn!("chart: {e}");
            }
        }
    }

    /// The status object: state, step, epoch, elapsed, images/s, last metrics, the model's
    /// summary, and the status line the page shows.
    fn status(&self) -> Value {
        let t = self.trainer.borrow();
        let h = &t.history;
        let line = match &t.status {
            Status::Diverged(message) => message.clone(),
            status => {
                let model = V::describe(&t);
                // A slow network's held-out evaluation takes seconds: say so, or the step looks stuck.
                let evaluating = t.evaluating().map_or(String::new(), |(done, all)| format!(" · held-out digits {done}/{all}"));
                format!(
                    "{} · step {}{evaluating} · epoch {} · {:.1} s · {:.0} img/s{}{model}",
                    if *status == Status::Running { "running" } else { "paused" },
                    h.step,
                    h.epoch,
                    h.elapsed_s,
                    h.images_per_s,
                    if model.is_empty() { "" } else { " · " },
                )
            }
        };
        json!({
            "headline": self.view.headline(&t, self.record.borrow().as_ref()),
            "status": t.status,
            "step": h.step,
            "epoch": h.epoch,
            "elapsed_s": h.elapsed_s,
            "images_per_s": h.images_per_s,
            "names": h.names,
            // Points on the training curve (it keeps at most MAX_POINTS, merging older ones).
            "points": h.train.len(),
            "train": h.train.last().map(|p| p.values.clone()),
            "test": h.test.last().map(|p| p.values.clone()),
            "settings": t.settings,
            "model": t.model.summary(),
            "line": line,
        })
    }

    /// Sends the page the lab's status (and its map figure).
    pub fn notify(&self) {
        self.shared.out.send(json!({ "type": "status", "lab": self.spec.id, "status": self.status() }));
    }

    async fn handle_event(self: &Rc<Self>, mut event: Event) -> Result<Value, String> {
        self.follow_device();
        let mut values = self.defaults.clone();
        values.0.extend(std::mem::take(&mut event.values.0));
        event.values = values;
        let values = &event.values;
        match event.control.as_str() {
            "train" => {
                if self.trainer.borrow().status == Status::Running {
                    self.pause();
                } else {
                    self.training_digits().await?;
                    self.apply(values)?;
                    self.start();
                }
            }
            "pause" => self.pause(),
            "step" => {
                if self.trainer.borrow().status != Status::Paused || self.busy.get() {
                    return Ok(Value::Null);
                }
                self.training_digits().await?;
                self.apply(values)?;
                self.last_views_ms.set(f64::NEG_INFINITY);
                // A held-out evaluation due before the step goes a piece per chunk, so the page
                // answers in between; Train, Reset or a lost device ends the wait.
                let (generation, before) = (self.generation.get(), self.trainer.borrow().history.step);
                let waiting = || {
                    let t = self.trainer.borrow();
                    self.generation.get() == generation && t.status == Status::Paused && t.history.step == before
                };
                while waiting() {
                    self.chunk(Some(1)).await;
                    yield_now().await;
                }
            }
            "reset" => {
                self.reset(values).await?;
                self.view.after_reset(self);
            }
            "demo" => self.demo(&event).await?,
            "save" => self.save(values)?,
            "load" => self.load(&event).await?,
            "csv" => self.curves_csv(),
            "draw" => {
                self.draw_charts();
                self.view.draw(self).await?;
            }
            // Code, not controls: pictures while training on or off; the held-out metrics now.
            "live_views" => self.live_views.set(event.value.as_bool().unwrap_or(true)),
            "evaluate" => {
                let metrics = self.trainer.borrow_mut().evaluate_test();
                return Ok(json!(super::read(metrics.unsqueeze()).await?));
            }
            "status" => return Ok(self.status()),
            name if self.spec_options().any(|c| c.name == name) => {
                self.view.apply(self, values)?;
                self.view.option_changed(self).await?;
            }
            _ => return self.view.handle(self, &event).await,
        }
        Ok(Value::Null)
    }

    /// Waits for the training digits (the page loads them after the test digits, so the views
    /// draw sooner) and hands them to the trainer.
    async fn training_digits(&self) -> Result<(), String> {
        let mut told = false;
        loop {
            match self.shared.training_digits() {
                TrainingDigits::Here => break,
                TrainingDigits::Failed(e) => return Err(format!("Training needs the training digits, which could not be loaded ({e}).")),
                TrainingDigits::Arriving => {
                    if !told {
                        self.shared.out.message("info", &format!("{}: training starts when the training digits have arrived.", self.spec.title));
                        told = true;
                    }
                    super::sleep_ms(100).await;
                }
            }
        }
        let mut t = self.trainer.borrow_mut();
        if !t.has_training_digits() {
            t.set_data(self.shared.dataset());
        }
        Ok(())
    }

    /// The controls that apply as soon as they change.
    fn spec_options(&self) -> impl Iterator<Item = &Control> {
        self.spec.controls.iter().filter(|c| c.live)
    }

    /// Every control of the section, the figures' too.
    fn all_controls(&self) -> impl Iterator<Item = &Control> {
        self.spec.controls.iter().chain(self.spec.figures.iter().flat_map(|f| &f.controls))
    }

    /// The values of the controls a link or a saved file carries.
    fn linked_values(&self, values: &Values) -> serde_json::Map<String, Value> {
        self.all_controls().filter(|c| c.linked).filter_map(|c| values.0.get(c.name).map(|v| (c.name.to_string(), v.clone()))).collect()
    }

    /// Save: the model's weights, with a header naming this lab, the controls and the step, as
    /// a download (`<lab>-step<N>.bpk`; the native `eval --weights` reads it too).
    fn save(&self, values: &Values) -> Result<(), String> {
        let t = self.trainer.borrow();
        let weights = t.model.weights()?;
        let header = json!({
            "lab": self.spec.id, "title": self.spec.title, "values": self.linked_values(values),
            "step": t.history.step, "epoch": t.history.epoch, "settings": t.settings,
        });
        let name = format!("genlab-{}-step{}.bpk", self.spec.id, t.history.step);
        self.shared.out.file(&name, "application/octet-stream", wrap_weights(&header, &weights));
        Ok(())
    }

    /// Load: a saved file (or a pretrained/ one) becomes the lab's model. A file of another lab,
    /// a damaged one or one that does not fit is an error naming the problem, and the current
    /// model is kept. A saved file's controls (the network it needs, its settings) come with it.
    async fn load(self: &Rc<Self>, event: &Event) -> Result<(), String> {
        let file = event.value.as_str().unwrap_or("the file").to_string();
        let kept = "the current model is kept";
        if event.file.is_empty() {
            return Err(format!("{file} is empty; {kept}"));
        }
        let (header, weights) = unwrap_weights(event.file.clone()).map_err(|e| format!("{file}: {e}; {kept}"))?;
        let mut values = event.values.clone();
        let mut step = None;
        if let Some(header) = header {
            let lab = header["lab"].as_str().unwrap_or("?");
            if lab != self.spec.id {
                let title = header["title"].as_str().unwrap_or(lab);
                return Err(format!("{file} holds weights of the {title} lab, not of the {}; {kept}", self.spec.title));
            }
            let given = header["values"].as_object().cloned().unwrap_or_default();
            let (from_file, refused) = with_given(self.all_controls(), &values, &given);
            if let Some(e) = refused.first() {
                return Err(format!("{file} does not fit this page ({e}); {kept}"));
            }
            values = from_file;
            step = header["step"].as_u64();
        }
        let device = self.trainer.borrow().device().clone();
        let model = self.view.build(&values, &device, Some(weights)).map_err(|e| format!("{file} was not loaded: {e}; {kept}"))?;
        match count_non_finite(model.tensors()).await {
            Ok(0) => {}
            Ok(1) => return Err(format!("{file} holds a value that is not a number (NaN or infinity); {kept}")),
            Ok(n) => return Err(format!("{file} holds {n} values that are not numbers (NaN or infinity); {kept}")),
            Err(e) => return Err(format!("{file} could not be checked ({e}); {kept}")),
        }
        self.pause();
        self.apply(&values)?;
        self.generation.set(self.generation.get() + 1);
        self.trainer.borrow_mut().reset(model);
        self.trained_lr.set(None);
        *self.built_from.borrow_mut() = values.clone();
        *self.host_copy.borrow_mut() = None;
        self.show_values(&values);
        self.last_views_ms.set(f64::NEG_INFINITY);
        self.view.reset(self);
        self.draw_charts();
        self.notify();
        self.keep_host_copy().await;
        self.view.draw(self).await?;
        // After the pictures: a page that sees this message has them.
        let saved_at = step.map_or(String::new(), |s| format!(", saved at step {s}"));
        self.message("info", &format!("{}: loaded {file}{saved_at}. Train goes on from these weights.", self.spec.title));
        self.view.after_reset(self);
        Ok(())
    }

    /// A demonstration: its controls set (on the page too), then its buttons pressed in order,
    /// each as if the user pressed it.
    async fn demo(self: &Rc<Self>, event: &Event) -> Result<(), String> {
        let name = event.value.as_str().unwrap_or("");
        let demo = self.spec.demos.iter().find(|d| d.name == name).ok_or_else(|| format!("{} has no demo '{name}'", self.spec.title))?;
        let given = demo.set.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        let (values, refused) = with_given(self.all_controls(), &event.values, &given);
        if let Some(e) = refused.first() {
            return Err(format!("demo '{name}': {e}"));
        }
        self.show_values(&values);
        // A demo that picks another network must run on it: the choice takes effect at Reset.
        let built = self.built_values();
        let choice = V::spec().choice;
        let switches = demo.set.iter().any(|(k, v)| choice.iter().any(|c| c.name == *k) && built.0.get(*k).and_then(|b| b.as_str()) != Some(*v));
        let reset = (switches && demo.then.first() != Some(&"reset")).then_some("reset");
        for control in reset.iter().chain(&demo.then) {
            let press = Event { lab: self.spec.id.into(), control: control.to_string(), values: values.clone(), ..Event::default() };
            Box::pin(self.handle_event(press)).await?;
        }
        Ok(())
    }

    /// Puts `values` into the page's controls.
    fn show_values(&self, values: &Values) {
        for c in self.all_controls().filter(|c| c.linked) {
            if let Some(v) = values.0.get(c.name) {
                let property = if matches!(c.input, Input::Checkbox { .. }) { "checked" } else { "value" };
                self.control(c.name, json!({ property: v }));
            }
        }
    }

    /// The curves as CSV (one row per point: split, step, then each metric), as a download.
    fn curves_csv(&self) {
        let t = self.trainer.borrow();
        let h = &t.history;
        let mut csv = format!("split,step,{}\n", h.names.join(","));
        for (split, series) in [("train", &h.train), ("test", &h.test)] {
            for p in series.iter() {
                let values: Vec<String> = p.values.iter().map(|v| v.to_string()).collect();
                csv += &format!("{split},{},{}\n", p.step, values.join(","));
            }
        }
        self.shared.out.file(&format!("genlab-{}-curves.csv", self.spec.id), "text/csv", csv.into_bytes());
    }
}

impl<V: ModelView> AnyLab for Lab<V> {
    fn id(&self) -> &'static str {
        self.spec.id
    }

    fn open(self: Rc<Self>, given: serde_json::Map<String, Value>) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let (values, refused) = with_given(self.all_controls(), &self.defaults, &given);
            for e in &refused {
                self.message("warn", &format!("{}: the link's {e}; the default is used.", self.spec.title));
            }
            let mut spec = self.spec.clone();
            let showing = |c: &Control| values.0.get(c.name).filter(|_| given.contains_key(c.name)).map_or_else(|| c.clone(), |v| c.showing(v));
            spec.controls = spec.controls.iter().map(showing).collect();
            spec.figures.iter_mut().for_each(|f| f.controls = f.controls.iter().map(showing).collect());
            self.shared.out.send(json!({ "type": "lab", "spec": spec }));
            self.notify();
            let lr_given = given.contains_key("lr") && !refused.iter().any(|e| e.starts_with("lr "));
            if let Err(e) = self.reset_keeping(&values, lr_given).await {
                self.message("error", &format!("{}: {e}", self.spec.title));
            }
            // A view control the link set acts as if the user had set it (e.g. redraws at a temperature).
            let view_controls: Vec<&'static str> =
                self.spec.figures.iter().flat_map(|f| &f.controls).filter(|c| c.live && given.contains_key(c.name)).map(|c| c.name).collect();
            for name in view_controls {
                let event = Event { lab: self.spec.id.into(), control: name.into(), values: values.clone(), ..Event::default() };
                if let Err(e) = self.clone().handle_event(event).await {
                    self.message("warn", &format!("{}: {e}", self.spec.title));
                }
            }
            self.view.after_reset(&self);
        })
    }

    fn handle(self: Rc<Self>, event: Event) -> Pin<Box<dyn Future<Output = Result<Value, String>>>> {
        Box::pin(async move { self.handle_event(event).await })
    }

    fn follow_device(self: Rc<Self>) {
        Lab::follow_device(&self);
    }

    fn compare(self: Rc<Self>, k: usize, digits: usize) -> Pin<Box<dyn Future<Output = Result<Vec<Value>, String>>>> {
        Box::pin(async move {
            Lab::follow_device(&self);
            self.view.compare(&self, k, digits).await
        })
    }

    fn bench(&self) -> &'static [&'static str] {
        self.bench
    }
}

/// Starts fetching the training record beside a pretrained weights file (`x.bpk` → `x.json`).
fn training_record_download(weights_file: &str) -> Option<Download> {
    let stem = weights_file.strip_suffix(".bpk")?;
    Download::start(&format!("pretrained/{stem}.json")).ok()
}

/// The training record, if it is there and reads as JSON.
async fn training_record(download: Option<Download>) -> Option<Value> {
    let bytes = download?.bytes(&|_, _| {}).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// The network of the choice with random weights drawn from the seed control's value: a link
/// (same seed, same backend) starts the same run.
fn random_weights<V: ModelView>(view: &V, values: &Values, device: &burn::tensor::Device) -> Result<V::Model, String> {
    let seed = values.count("seed", "seed")? as u64;
    crate::device::seeded(device, seed, || view.build(values, device, None))
}

/// The page section: the view's choice, Reset, its options, then batch, learning rate, seed,
/// Train and Step — the same for every lab.
fn lab_spec(s: &ViewSpec) -> LabSpec {
    let mut controls = s.choice.clone();
    controls.push(Control::new(
        "from",
        "start from",
        Input::Select { options: vec![("pretrained", "pretrained"), ("scratch", "scratch")], value: "pretrained" },
    ));
    controls.push(Control::new("reset", "Reset", Input::Button { primary: false }).title("a fresh model: pretrained weights or random ones, as chosen"));
    controls.extend(s.options.iter().cloned().map(Control::live));
    controls.push(Control::new("batch", "batch", Input::number(1.0, 1024.0, 1.0, s.settings.batch_size as f64)));
    controls.push(Control::new("lr", s.lr_label, Input::number(0.0, 1.0, 0.0001, s.settings.lr)));
    controls.push(Control::new("seed", "seed", Input::number(0.0, 1e9, 1.0, s.settings.seed as f64)));
    controls.push(Control::new("train", "Train", Input::Button { primary: true }));
    controls.push(Control::new("step", "Step", Input::Button { primary: false }).title("one training step, then every picture redrawn"));
    controls.push(
        Control::new("save", "Save weights", Input::Button { primary: false })
            .title("download this model's weights (load them here again, or into the native eval)"),
    );
    controls.push(Control::new("load", "Load weights", Input::File { accept: ".bpk" }).title("a weights file saved from this lab (or one from pretrained/)"));
    controls.push(Control::new("csv", "Curves CSV", Input::Button { primary: false }).title("download the training and test curves as CSV"));
    LabSpec {
        id: s.id,
        title: s.title,
        tradeoff: s.tradeoff,
        family: s.family,
        caption: s.caption,
        controls,
        charts: s.charts.clone(),
        figures: s.figures.clone(),
        demos: s.demos.clone(),
    }
}
