//! Where tensors live: the browser's GPU through WebGPU, or burn's pure-Rust CPU backend (flex).
//! By default ("auto") both are timed on a few training steps and the faster is used: on some
//! machines WebGPU is slower than the CPU, and a software adapter (SwiftShader) is ~50× slower.
//! The badge on the page shows which, and both figures.

use burn::tensor::Device;

/// What the user asked for, from the `?backend=` URL parameter or the toggle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The faster of WebGPU and the CPU, timed at start.
    Auto,
    /// WebGPU whenever the browser has it.
    WebGpu,
    /// CPU even when WebGPU is there, to compare the two.
    Cpu,
}

impl Choice {
    /// Parses the URL parameter. An unknown value is an error the page shows, not a crash.
    pub fn parse(value: Option<&str>) -> Result<Choice, String> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("auto") => Ok(Choice::Auto),
            Some("webgpu") | Some("gpu") => Ok(Choice::WebGpu),
            Some("cpu") | Some("flex") => Ok(Choice::Cpu),
            Some(other) => Err(format!(
                "Unknown backend '{}' in the URL (use backend=auto, backend=webgpu or backend=cpu); using the automatic choice.",
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
    /// For the badge: "WebGPU · <adapter>" or "CPU (flex)", with the timings when measured.
    pub label: String,
    /// A sentence for the user when the choice needs explaining (why the CPU is used).
    pub note: Option<String>,
    /// The WebGPU device when it started, whether or not it is the one in use (benchmarks).
    pub gpu: Option<Device>,
    /// The measured cost of a training step on each backend, when "auto" measured it.
    pub timing: String,
    /// Work nobody asked for (pictures at open) costs seconds here, not the minutes of a
    /// software GPU: the CPU, or a GPU that was timed faster than it.
    pub quick: bool,
}

impl Backend {
    pub fn cpu(note: Option<String>) -> Backend {
        Backend { device: Device::flex(), is_gpu: false, label: "CPU (flex)".into(), note, gpu: None, timing: String::new(), quick: true }
    }

    pub fn name(&self) -> &'static str {
        if self.is_gpu { "webgpu" } else { "cpu" }
    }
}

/// What "auto" times: training steps of the VAE lab's network (batch 128), after one warm-up
/// step that compiles the shaders.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
const PROBE_WORKLOAD: &str = "vae_mlp";
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
const PROBE_STEPS: usize = 3;
/// WebGPU gets this long for warm-up and timing together; a GPU that needs longer for a few
/// steps of a small MLP (a software adapter) is slower than any CPU.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
const PROBE_LIMIT_MS: f64 = 8000.0;

/// Starts the backend in the browser (page or worker): WebGPU when asked for and present, the
/// CPU otherwise; "auto" times both and keeps the faster.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
pub async fn init(choice: Choice, now_ms: &'static dyn Fn() -> f64) -> Backend {
    if choice == Choice::Cpu {
        return Backend::cpu(None);
    }
    let adapter_name = match webgpu_adapter_name().await {
        Ok(name) => name,
        Err(why) => return Backend::cpu(Some(format!("Running on the CPU: {why}."))),
    };
    let gpu = match Device::wgpu_options().init_async().await {
        Ok(device) => device,
        Err(e) => return Backend::cpu(Some(format!("Running on the CPU: WebGPU failed to start ({e})."))),
    };
    // Not quick until timed: a software GPU takes minutes for what the CPU does in seconds.
    let webgpu =
        Backend { device: gpu.clone(), is_gpu: true, label: format!("WebGPU · {adapter_name}"), gpu: Some(gpu.clone()), quick: false, ..Backend::cpu(None) };
    if choice == Choice::WebGpu {
        return webgpu;
    }
    let cpu_ms = probe(Device::flex(), now_ms, f64::INFINITY).await;
    let gpu_ms = probe(gpu.clone(), now_ms, PROBE_LIMIT_MS).await;
    let timing = format!("one training step (VAE, batch 128): CPU {}, WebGPU {}", shown(cpu_ms), shown(gpu_ms));
    match (cpu_ms, gpu_ms) {
        (Some(c), Some(g)) if g < c => {
            Backend { label: format!("{} · {} (CPU {})", webgpu.label, shown(gpu_ms), shown(cpu_ms)), timing, quick: true, ..webgpu }
        }
        _ => Backend { label: format!("CPU (flex) · {} (WebGPU {})", shown(cpu_ms), shown(gpu_ms)), gpu: Some(gpu), timing, ..Backend::cpu(None) },
    }
}

#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
fn shown(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms >= 1000.0 => format!("{:.1} s/step", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms/step"),
        None => "too slow to time".into(),
    }
}

/// Milliseconds per training step on `device`, or None when warm-up and timing do not finish
/// within `limit_ms` (the work goes on in the background and is dropped).
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
async fn probe(device: Device, now_ms: &'static dyn Fn() -> f64, limit_ms: f64) -> Option<f64> {
    use wasm_bindgen::JsValue;
    let run = wasm_bindgen_futures::future_to_promise(async move {
        let r = crate::bench::run(PROBE_WORKLOAD, device, PROBE_STEPS, now_ms, &|| None).await.map_err(JsValue::from)?;
        Ok(JsValue::from(r.ms_per_step))
    });
    let race = if limit_ms.is_finite() { js_sys::Promise::race(&js_sys::Array::of2(&run, &sleep(limit_ms))) } else { run };
    wasm_bindgen_futures::JsFuture::from(race).await.ok().and_then(|v| v.as_f64())
}

/// A promise that resolves (to undefined) after `ms`.
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
fn sleep(ms: f64) -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout = js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into()).ok();
        if let Some(f) = set_timeout.and_then(|f| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f).ok()) {
            let _ = f.call2(&wasm_bindgen::JsValue::NULL, &resolve, &ms.into());
        }
    })
}

/// Asks the browser for a WebGPU adapter before burn does, so "no WebGPU here" is a message,
/// and the badge can name the GPU. Works in a page and in a worker (its own `navigator.gpu`).
#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
async fn webgpu_adapter_name() -> Result<String, String> {
    use js_sys::{Promise, Reflect};
    use wasm_bindgen::{JsCast, JsValue};
    let get = |obj: &JsValue, key: &str| Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU".into());
    }
    let request = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>().map_err(|_| "navigator.gpu.requestAdapter is missing".to_string())?;
    let promise: Promise = request.call0(&gpu).and_then(|p| p.dyn_into::<Promise>()).map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    let adapter = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
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

/// The page's CPU-only build (www/cpu): the worker loads it when the CPU was asked for or the
/// browser offered no WebGPU adapter, so anything else asked for is explained, not attempted.
#[cfg(all(target_arch = "wasm32", not(feature = "webgpu")))]
pub async fn init(choice: Choice, _now_ms: &'static dyn Fn() -> f64) -> Backend {
    match choice {
        Choice::Cpu => Backend::cpu(None),
        Choice::Auto | Choice::WebGpu => Backend::cpu(Some("Running on the CPU: this browser offers no WebGPU adapter.".into())),
    }
}

/// Native programs (trainer, evaluation, tests) use the CPU backend.
#[cfg(not(target_arch = "wasm32"))]
pub fn native() -> Backend {
    Backend::cpu(None)
}

/// burn keeps one random stream per process (the CPU backend's is a global): a draw on one thread
/// between another thread's seeding and drawing would take that thread's numbers. So every draw
/// from it — the initial weights of every model, the binarization noise — happens inside
/// [`drawing`], which lets one thread at a time in (native tests run on parallel threads), and a
/// seeded draw inside [`seeded`]. The lock is re-entrant: a seeded section may build models.
pub fn drawing<T>(draw: impl FnOnce() -> T) -> T {
    use std::sync::{Condvar, Mutex, PoisonError};
    static TAKEN: Mutex<bool> = Mutex::new(false);
    static FREED: Condvar = Condvar::new();
    thread_local!(static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });
    /// Gives the stream back when the draw ends, a panic included.
    struct Turn;
    impl Drop for Turn {
        fn drop(&mut self) {
            if DEPTH.with(|d| {
                d.set(d.get() - 1);
                d.get()
            }) == 0
            {
                *TAKEN.lock().unwrap_or_else(PoisonError::into_inner) = false;
                FREED.notify_one();
            }
        }
    }
    if DEPTH.with(|d| d.get()) == 0 {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken {
            taken = FREED.wait(taken).unwrap_or_else(PoisonError::into_inner);
        }
        *taken = true;
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let _turn = Turn;
    draw()
}

/// A model built with random initial weights, in one turn of the random stream. burn draws a
/// parameter's initial value lazily, at its first use, so every parameter is touched here.
pub fn initialized<M: burn::module::Module>(build: impl FnOnce() -> M) -> M {
    use burn::module::{ModuleVisitor, Param};
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<burn::tensor::Tensor<D>>) {
            let _ = param.val();
        }
    }
    drawing(|| {
        let module = build();
        module.visit(&mut Touch);
        module
    })
}

/// Seeds the device's random stream and draws from it in one turn (see [`drawing`]).
pub fn seeded<T>(device: &Device, seed: u64, draw: impl FnOnce() -> T) -> T {
    drawing(|| {
        device.seed(seed);
        draw()
    })
}
