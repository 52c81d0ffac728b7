//! genlab: the CS231n lecture on generative models, trained on MNIST in the browser.
//!
//! Read in the order of the lecture's data flow:
//! [`data`] (MNIST, batches, binarization) → [`models`] (one file per family, loss in plain
//! sight) → [`train`] (the one training loop) → [`render`] (pictures and charts) → `web`
//! (the JavaScript face). [`device`] picks WebGPU or the CPU.

pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod models;
pub mod render;
pub mod rng;
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
