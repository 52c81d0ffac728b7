//! The training loop in the page, shared by every lab: start / pause / step / reset, a chunk of
//! steps at a time with the browser given a turn between chunks, the chart redrawn after each
//! chunk and the model's own views about once a second.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::render::chart::draw_history;
use crate::train::{Settings, Status, Trainable, Trainer, now_ms};

use super::yield_to_browser;

/// Draws a model's pictures; returns when they are on the canvas.
pub type Redraw = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), JsError>>>>>;

const VIEWS_EVERY_MS: f64 = 1000.0;

pub struct Lab<M> {
    pub trainer: RefCell<Trainer<M>>,
    /// Charts, each with the metrics it shows together (metrics of different scale get their own).
    charts: Vec<(HtmlCanvasElement, Vec<usize>)>,
    /// Called with the status object after every chunk (the page's text and buttons).
    on_update: RefCell<Option<js_sys::Function>>,
    /// Whether the loop task is alive, a chunk is in flight, and how many resets happened
    /// (a chunk that started before a reset must not record into the new run).
    looping: Cell<bool>,
    busy: Cell<bool>,
    generation: Cell<u64>,
    last_views_ms: Cell<f64>,
    /// Whether the model's pictures are redrawn while training (off: the chart alone, e.g. for
    /// timing an epoch on a slow GPU).
    live_views: Cell<bool>,
}

impl<M: Trainable + 'static> Lab<M> {
    pub fn new(trainer: Trainer<M>, charts: Vec<(HtmlCanvasElement, Vec<usize>)>) -> Rc<Self> {
        let lab = Rc::new(Lab {
            trainer: RefCell::new(trainer),
            charts,
            on_update: RefCell::new(None),
            looping: Cell::new(false),
            busy: Cell::new(false),
            generation: Cell::new(0),
            last_views_ms: Cell::new(f64::NEG_INFINITY),
            live_views: Cell::new(true),
        });
        lab.draw_chart();
        lab
    }

    pub fn on_update(&self, f: js_sys::Function) {
        *self.on_update.borrow_mut() = Some(f);
    }

    pub fn start(self: &Rc<Self>, redraw: Redraw) {
        if matches!(self.trainer.borrow().status, Status::Diverged(_)) {
            self.notify();
            return;
        }
        self.trainer.borrow_mut().status = Status::Running;
        if !self.looping.replace(true) {
            let lab = self.clone();
            wasm_bindgen_futures::spawn_local(async move {
                while lab.trainer.borrow().status == Status::Running {
                    if let Err(e) = lab.chunk(None, &redraw).await {
                        lab.trainer.borrow_mut().status = Status::Diverged(format!("{e:?}"));
                    }
                    yield_to_browser().await;
                }
                lab.looping.set(false);
                lab.notify();
            });
        }
        self.notify();
    }

    pub fn pause(&self) {
        if self.trainer.borrow().status == Status::Running {
            self.trainer.borrow_mut().status = Status::Paused;
        }
        self.notify();
    }

    /// One training step, then every view redrawn.
    pub async fn step(self: &Rc<Self>, redraw: &Redraw) -> Result<(), JsError> {
        if self.trainer.borrow().status != Status::Paused || self.busy.get() {
            return Ok(());
        }
        self.last_views_ms.set(f64::NEG_INFINITY);
        self.chunk(Some(1), redraw).await
    }

    pub fn reset(&self, model: M) {
        self.generation.set(self.generation.get() + 1);
        self.trainer.borrow_mut().reset(model);
        self.last_views_ms.set(f64::NEG_INFINITY);
        self.draw_chart();
        self.notify();
    }

    pub fn set_live_views(&self, on: bool) {
        self.live_views.set(on);
    }

    pub fn set_settings(&self, settings: Settings) -> Result<(), JsError> {
        settings.check().map_err(|e| JsError::new(&e))?;
        self.trainer.borrow_mut().settings = settings;
        Ok(())
    }

    /// Queues a chunk, waits for its metrics without blocking the page, records them.
    async fn chunk(self: &Rc<Self>, steps: Option<usize>, redraw: &Redraw) -> Result<(), JsError> {
        if self.busy.replace(true) {
            return Ok(());
        }
        let generation = self.generation.get();
        let pending = self.trainer.borrow_mut().queue(steps, &now_ms);
        let values = pending.values.clone().into_data_async().await;
        self.busy.set(false);
        if generation != self.generation.get() {
            return Ok(());
        }
        let values = values
            .map_err(|e| format!("reading metrics from the device failed: {e:?}"))
            .and_then(|d| d.try_into_vec::<f32>().map_err(|e| format!("{e:?}")));
        let recorded = values.and_then(|v| self.trainer.borrow_mut().record(&pending, &v, now_ms()));
        if let Err(message) = recorded {
            self.trainer.borrow_mut().status = Status::Diverged(message);
        }
        self.draw_chart();
        if matches!(self.trainer.borrow().status, Status::Diverged(_)) {
            self.notify();
            return Ok(());
        }
        self.notify();
        let wanted = self.live_views.get() || steps.is_some();
        if wanted && now_ms() - self.last_views_ms.get() >= VIEWS_EVERY_MS {
            // In a task of its own, so a frame is painted between the chunk and the pictures.
            yield_to_browser().await;
            self.last_views_ms.set(now_ms());
            redraw().await?;
        }
        Ok(())
    }

    /// The test metrics now, on the same held-out digits the chart's dashed curve uses.
    pub async fn evaluate(&self) -> Result<Vec<f32>, JsError> {
        let metrics = self.trainer.borrow_mut().evaluate_test();
        super::read(metrics.unsqueeze()).await
    }

    pub fn draw_chart(&self) {
        for (canvas, shown) in &self.charts {
            if let Err(e) = draw_history(canvas, &self.trainer.borrow().history, shown) {
                log::warn!("chart: {e}");
            }
        }
    }

    /// The status object JS shows: state, message, step, epoch, elapsed, images/s, last metrics.
    pub fn status(&self) -> JsValue {
        let t = self.trainer.borrow();
        let h = &t.history;
        let last = |points: &[crate::train::Point]| points.last().map(|p| p.values.clone());
        let status = serde_json::json!({
            "status": t.status,
            "step": h.train.last().map_or(0, |p| p.step),
            "epoch": h.epoch,
            "elapsed_s": h.elapsed_s,
            "images_per_s": h.images_per_s,
            "names": h.names,
            "train": last(&h.train),
            "test": last(&h.test),
            "settings": t.settings,
            "model": t.model.summary(),
        });
        super::to_js(&status)
    }

    fn notify(&self) {
        if let Some(f) = self.on_update.borrow().as_ref() {
            let _ = f.call1(&JsValue::NULL, &self.status());
        }
    }
}

/// The training controls every lab object exports to JavaScript, delegating to its `Lab`
/// (`lab` field) and its pictures (`redraw` field). wasm-bindgen cannot export generic types,
/// so each lab type gets these through this macro.
macro_rules! training_controls {
    ($name:ident) => {
        #[wasm_bindgen]
        impl $name {
            /// Trains until paused, a chunk of steps at a time, redrawing as it goes.
            pub fn start(&self) {
                self.lab.start(self.redraw.clone());
            }

            pub fn pause(&self) {
                self.lab.pause();
            }

            /// One training step, then every view redrawn.
            pub async fn step(&self) -> Result<(), JsError> {
                self.lab.step(&self.redraw).await
            }

            /// Batch size, learning rate and seed; refused (with the reason) when out of range.
            #[wasm_bindgen(js_name = setSettings)]
            pub fn set_settings(&self, batch_size: usize, lr: f64, seed: f64) -> Result<(), JsError> {
                if !(seed.is_finite() && seed >= 0.0 && seed.fract() == 0.0) {
                    return Err(JsError::new(&format!("seed {seed} must be a whole number ≥ 0")));
                }
                self.lab.set_settings(crate::train::Settings { batch_size, lr, seed: seed as u64 })
            }

            /// Off: while training, only the chart is redrawn (Step still redraws everything).
            #[wasm_bindgen(js_name = setLiveViews)]
            pub fn set_live_views(&self, on: bool) {
                self.lab.set_live_views(on);
            }

            /// `f(status)` after every chunk of steps and every state change.
            #[wasm_bindgen(js_name = onUpdate)]
            pub fn on_update(&self, f: js_sys::Function) {
                self.lab.on_update(f);
            }

            /// {status, step, epoch, elapsed_s, images_per_s, names, train, test, settings, model}.
            pub fn status(&self) -> JsValue {
                self.lab.status()
            }

            /// The metrics on 1000 held-out digits, now.
            pub async fn evaluate(&self) -> Result<Vec<f32>, JsError> {
                self.lab.evaluate().await
            }
        }
    };
}
pub(crate) use training_controls;
