//! One file per family of generative model: its network, its loss, and how it samples.

pub mod classifier;
pub mod gan;
pub mod nade;
pub mod pixelcnn;
pub mod pixelrnn;
pub mod vae;
