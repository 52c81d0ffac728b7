//! The page's wasm for the CPU alone: genlab built without its `webgpu` feature. The worker
//! (www/worker.js) loads it when the link asks for the CPU or the browser offers no WebGPU
//! adapter; its exports are genlab's own (`App`), so the worker drives either build the same way.
pub use genlab::*;
