//! Pictures: image grids as RGBA buffers (plain Rust, testable anywhere) and, in the browser,
//! line charts drawn onto a canvas.

#[cfg(target_arch = "wasm32")]
pub mod chart;
mod grid;
#[cfg(target_arch = "wasm32")]
pub mod plots;
pub mod scatter;

pub use grid::{Rgba, heat_color, image_grid};
