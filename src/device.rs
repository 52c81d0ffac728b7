//! Where tensors live: the browser's GPU through WebGPU when there is one, else burn's
//! pure-Rust CPU backend (flex). The badge on the page shows which, and why.

use burn::tensor::Device;

/// What the user asked for, from the `?backend=` URL parameter or the toggle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// WebGPU if the browser has it, else CPU.
    Auto,
    /// CPU even when WebGPU is there, to compare the two.
    Cpu,
}

impl Choice {
    /// Parses the URL parameter. An unknown value is an error the page shows, not a crash.
    pub fn parse(value: Option<&str>) -> Result<Choice, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("auto") | Some("webgpu") | Some("gpu") => Ok(Choice::Auto),
            Some("cpu") | Some("flex") => Ok(Choice::Cpu),
            Some(other) => Err(format!(
                "Unknown backend '{}' in the URL (use backend=webgpu or backend=cpu); using automatic choice.",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// The device in use and the words the badge shows.
#[derive(Clone, Debug)]
pub struct Backend {
    pub device: Device,
    pub is_gpu: bool,
    /// Short name for the badge: "WebGPU · <adapter>" or "CPU (flex)".
    pub label: String,
    /// Why the CPU is used, when it is.
    pub note: Option<String>,
}

impl Backend {
    pub fn cpu(note: Option<String>) -> Backend {
        Backend { device: Device::flex(), is_gpu: false, label: "CPU (flex)".into(), note }
    }

    pub fn name(&self) -> &'static str {
        if self.is_gpu { "webgpu" } else { "cpu" }
    }
}

/// Starts the backend in the browser: WebGPU first, the CPU when it is absent, fails, or the
/// user asked for it.
#[cfg(target_arch = "wasm32")]
pub async fn init(choice: Choice) -> Backend {
    if choice == Choice::Cpu {
        return Backend::cpu(Some("CPU chosen (backend=cpu)".into()));
    }
    let adapter_name = match webgpu_adapter_name().await {
        Ok(name) => name,
        Err(why) => return Backend::cpu(Some(why)),
    };
    match Device::wgpu_options().init_async().await {
        Ok(device) => Backend {
            device,
            is_gpu: true,
            label: format!("WebGPU · {adapter_name}"),
            note: None,
        },
        Err(e) => Backend::cpu(Some(format!("WebGPU failed to start ({e})"))),
    }
}

/// Asks the browser for a WebGPU adapter before burn does, so "no WebGPU here" is a message,
/// and the badge can name the GPU.
#[cfg(target_arch = "wasm32")]
async fn webgpu_adapter_name() -> Result<String, String> {
    use js_sys::{Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let get = |obj: &JsValue, key: &str| Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    let navigator = web_sys::window().map(|w| JsValue::from(w.navigator())).unwrap_or(JsValue::UNDEFINED);
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU".into());
    }
    let request = get(&gpu, "requestAdapter")
        .dyn_into::<js_sys::Function>()
        .map_err(|_| "navigator.gpu.requestAdapter is missing".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .and_then(|p| p.dyn_into::<Promise>().map_err(JsValue::from))
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU is present but offered no adapter".into());
    }
    let info = get(&adapter, "info");
    let field = |k: &str| get(&info, k).as_string().filter(|s| !s.is_empty());
    Ok(field("description")
        .or_else(|| match (field("vendor"), field("architecture")) {
            (Some(v), Some(a)) => Some(format!("{v} {a}")),
            (v, a) => v.or(a),
        })
        .unwrap_or_else(|| "GPU".into()))
}

/// Native programs (trainer, evaluation, tests) use the CPU backend.
#[cfg(not(target_arch = "wasm32"))]
pub fn native() -> Backend {
    Backend::cpu(None)
}
