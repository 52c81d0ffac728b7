//! What a lab tells the page so the page can build its section: title and caption, controls,
//! charts and figures. The page (www/main.js) turns this into HTML and sends every use of a
//! control back as an event; it knows no model by name.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A lab's section of the page.
#[derive(Clone, Debug, Serialize)]
pub struct LabSpec {
    /// Section id; every element of the lab is `<id>-<name>`.
    pub id: &'static str,
    pub title: &'static str,
    /// The lecture's family, e.g. "explicit, approximate density".
    pub family: &'static str,
    /// The family's trade-off in one line, for the lecture's map.
    pub tradeoff: &'static str,
    /// HTML (the project's own text).
    pub caption: &'static str,
    /// The controls row, in order: the model's choice, the shared Reset, its options, the
    /// shared training settings and buttons.
    pub controls: Vec<Control>,
    pub charts: Vec<ChartSpec>,
    pub figures: Vec<Figure>,
    pub demos: Vec<Demo>,
}

/// One of the lecture's demonstrations, opened by the link `#demo=<name>`: the lab's controls
/// are set, then its buttons pressed in order, and the page shows the note beside the lab.
#[derive(Clone, Debug, Serialize)]
pub struct Demo {
    pub name: &'static str,
    pub title: &'static str,
    /// What to watch (HTML, the project's own text).
    pub note: &'static str,
    /// Control values, as a link gives them.
    pub set: Vec<(&'static str, &'static str)>,
    /// Controls to press after setting, in order (e.g. "reset", "train").
    pub then: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Control {
    pub name: &'static str,
    pub label: &'static str,
    /// Tooltip.
    pub title: &'static str,
    #[serde(flatten)]
    pub input: Input,
    /// Sent to the lab as soon as it changes (otherwise it is only read, with every event).
    pub live: bool,
    /// Part of a shared link and a saved file (off for positions the model decides, such as a
    /// slider over frames recorded so far).
    pub linked: bool,
}

impl Control {
    pub fn new(name: &'static str, label: &'static str, input: Input) -> Control {
        let linked = !matches!(input, Input::Button { .. } | Input::File { .. } | Input::Info { .. });
        Control { name, label, title: "", input, live: false, linked }
    }

    /// Left out of links and saved files: its range or value follows the model.
    pub fn unlinked(self) -> Control {
        Control { linked: false, ..self }
    }

    pub fn title(self, title: &'static str) -> Control {
        Control { title, ..self }
    }

    pub fn live(self) -> Control {
        Control { live: true, ..self }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "input", rename_all = "lowercase")]
pub enum Input {
    /// (value, label) pairs.
    Select {
        options: Vec<(&'static str, &'static str)>,
        value: &'static str,
    },
    Number {
        min: f64,
        max: f64,
        step: f64,
        value: f64,
    },
    Checkbox {
        value: bool,
    },
    /// A slider; the page shows its value beside it.
    Range {
        min: f64,
        max: f64,
        value: f64,
    },
    /// (value, label, colour) options of one group.
    Radio {
        options: Vec<(&'static str, &'static str, &'static str)>,
        value: &'static str,
    },
    Button {
        primary: bool,
    },
    /// A file picker: the page reads the chosen file and sends its bytes (`accept`: the file
    /// types it offers, e.g. ".bpk").
    File {
        accept: &'static str,
    },
    /// A line of text the lab writes to (results, counts).
    Info {
        value: &'static str,
    },
}

impl Input {
    pub fn number(min: f64, max: f64, step: f64, value: f64) -> Input {
        Input::Number { min, max, step, value }
    }
}

impl Control {
    /// `text` (from a link) as the page would send this control's value, or why it can't be.
    pub fn accept(&self, text: &str) -> Result<Value, String> {
        let name = self.name;
        match &self.input {
            Input::Select { options, .. } => options
                .iter()
                .find(|(value, _)| *value == text)
                .map(|(value, _)| Value::from(*value))
                .ok_or_else(|| format!("{name} '{text}' is not one of {}", options.iter().map(|o| o.0).collect::<Vec<_>>().join(", "))),
            Input::Radio { options, .. } => options
                .iter()
                .find(|(value, ..)| *value == text)
                .map(|(value, ..)| Value::from(*value))
                .ok_or_else(|| format!("{name} '{text}' is not one of {}", options.iter().map(|o| o.0).collect::<Vec<_>>().join(", "))),
            Input::Number { min, max, .. } | Input::Range { min, max, .. } => {
                let whole = matches!(self.input, Input::Range { .. } | Input::Number { step: 1.0, .. });
                let v: f64 = text.trim().parse().map_err(|_| format!("{name} '{text}' is not a number"))?;
                if !(v.is_finite() && *min <= v && v <= *max) {
                    return Err(format!("{name} {text} is outside {min}–{max}"));
                }
                if whole && v.fract() != 0.0 {
                    return Err(format!("{name} {text} is not a whole number"));
                }
                Ok(Value::from(text.trim()))
            }
            Input::Checkbox { .. } => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("{name} '{text}' is neither true nor false")),
            },
            Input::Button { .. } | Input::File { .. } | Input::Info { .. } => Err(format!("'{name}' is not a setting")),
        }
    }

    /// The control shown with `value` (one [`Control::accept`] gave) instead of its default.
    pub fn showing(&self, value: &Value) -> Control {
        let mut c = self.clone();
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match &mut c.input {
            Input::Select { options, value } => {
                if let Some(o) = options.iter().find(|o| o.0 == text) {
                    *value = o.0;
                }
            }
            Input::Radio { options, value } => {
                if let Some(o) = options.iter().find(|o| o.0 == text) {
                    *value = o.0;
                }
            }
            Input::Number { value, .. } | Input::Range { value, .. } => *value = text.parse().unwrap_or(*value),
            Input::Checkbox { value: v } => *v = value.as_bool().unwrap_or(*v),
            Input::Button { .. } | Input::File { .. } | Input::Info { .. } => {}
        }
        c
    }
}

/// `defaults` with the values of `given` (a link's `lab.name=value` pairs) that `controls`
/// accept, and a message for each that is refused (its default stays).
pub fn with_given<'a>(controls: impl IntoIterator<Item = &'a Control>, defaults: &Values, given: &Map<String, Value>) -> (Values, Vec<String>) {
    let controls: Vec<&Control> = controls.into_iter().collect();
    let mut values = defaults.clone();
    let mut refused = Vec::new();
    for (name, text) in given {
        let text = match text {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let accepted = match controls.iter().find(|c| c.name == name && c.linked) {
            None => Err(format!("there is no setting '{name}'")),
            Some(c) => c.accept(&text),
        };
        match accepted {
            Ok(v) => values.set(name, v),
            Err(e) => refused.push(e),
        }
    }
    (values, refused)
}

/// A line chart of some of the training metrics.
#[derive(Clone, Debug, Serialize)]
pub struct ChartSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub width: u32,
    pub height: u32,
    /// Indices of the metrics it plots (metrics of very different scale get charts of their own).
    #[serde(skip)]
    pub metrics: Vec<usize>,
}

/// A picture (or a few side by side) with its controls and caption.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub canvases: Vec<CanvasSpec>,
    pub controls: Vec<Control>,
    /// HTML (the project's own text).
    pub caption: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct CanvasSpec {
    pub name: &'static str,
    /// What it shows, for screen readers.
    pub label: &'static str,
    /// Extra CSS, e.g. a display width.
    pub style: &'static str,
    /// Nearest-neighbour scaling (pictures of pixels); off for plots with text.
    pub pixelated: bool,
    pub pointer: Pointer,
    /// The drawing size of plots and pads (pictures take their size from what is drawn).
    pub width: u32,
    pub height: u32,
}

impl CanvasSpec {
    /// A picture of pixels, drawn by the lab.
    pub fn picture(name: &'static str, label: &'static str) -> CanvasSpec {
        CanvasSpec { name, label, style: "", pixelated: true, pointer: Pointer::None, width: 0, height: 0 }
    }

    /// A plot with text, drawn by the lab at this size.
    pub fn plot(name: &'static str, label: &'static str, width: u32, height: u32) -> CanvasSpec {
        CanvasSpec { pixelated: false, width, height, ..CanvasSpec::picture(name, label) }
    }

    /// A square the user draws a digit on (the page draws the strokes and sends 28×28 intensities).
    pub fn pad(name: &'static str) -> CanvasSpec {
        CanvasSpec {
            pointer: Pointer::Draw,
            width: 224,
            height: 224,
            pixelated: false,
            style: "width:224px;height:224px;background:#000;touch-action:none;cursor:crosshair",
            ..CanvasSpec::picture(name, "draw a digit here")
        }
    }

    pub fn style(self, style: &'static str) -> CanvasSpec {
        CanvasSpec { style, ..self }
    }

    pub fn pointer(self, pointer: Pointer) -> CanvasSpec {
        CanvasSpec { pointer, ..self }
    }
}

/// What the page sends when the pointer is used on a canvas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pointer {
    None,
    /// Clicks (x, y in canvas pixels).
    Click,
    /// Moves and drags, coalesced to one in flight.
    Hover,
    /// A drawing pad: the 28×28 picture when a stroke ends.
    Draw,
}

/// One use of a control, sent by the page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub lab: String,
    /// The control's or canvas's name.
    pub control: String,
    /// Every input of the lab at the time ([`Values`]).
    #[serde(default)]
    pub values: Values,
    /// Pointer position in canvas pixels.
    #[serde(default)]
    pub x: f32,
    #[serde(default)]
    pub y: f32,
    /// A drawing: 784 intensities in [0, 1].
    #[serde(default)]
    pub pixels: Vec<f32>,
    /// A value for commands sent by code rather than by a control (benchmarks, tests).
    #[serde(default)]
    pub value: Value,
    /// A file's bytes (a file picker), taken from the event's `file` (a Uint8Array) by
    /// [`super::App::handle`].
    #[serde(skip)]
    pub file: Vec<u8>,
}

/// The inputs of a lab, by name, as the page read them: strings from fields and menus, booleans
/// from checkboxes. Parsing happens here, so a bad value is a message naming the field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Values(pub Map<String, Value>);

impl Values {
    pub fn text(&self, name: &str) -> Result<String, String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s.trim().to_string()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(format!("the page sent no value for '{name}'")),
        }
    }

    /// A number; `what` names it in the message when the field holds something else.
    pub fn number(&self, name: &str, what: &str) -> Result<f64, String> {
        let text = self.text(name)?;
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("{what} '{}' is not a number", text.chars().take(20).collect::<String>())),
        }
    }

    /// A whole number ≥ 0 (counts, indices, seeds).
    pub fn count(&self, name: &str, what: &str) -> Result<usize, String> {
        let v = self.number(name, what)?;
        if v >= 0.0 && v.fract() == 0.0 && v < 1e12 { Ok(v as usize) } else { Err(format!("{what} {v} must be a whole number ≥ 0")) }
    }

    pub fn flag(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "on",
            _ => false,
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.0.insert(name.into(), value);
    }
}

/// The values the page would send for `controls` as first shown (a lab's state before anyone
/// touched it).
pub fn defaults<'a>(controls: impl IntoIterator<Item = &'a Control>) -> Values {
    let mut values = Values::default();
    for c in controls {
        let v = match &c.input {
            Input::Select { value, .. } | Input::Radio { value, .. } => Value::from(*value),
            Input::Number { value, .. } | Input::Range { value, .. } => Value::from(value.to_string()),
            Input::Checkbox { value } => Value::from(*value),
            Input::Button { .. } | Input::File { .. } | Input::Info { .. } => continue,
        };
        values.set(c.name, v);
    }
    values
}
