use crate::data::SIDE;

/// An RGBA image, row-major, 4 bytes a pixel: what a canvas's putImageData takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgba {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgba {
    pub fn new(width: usize, height: usize, background: [u8; 4]) -> Rgba {
        Rgba { width, height, pixels: background.repeat(width * height) }
    }

    pub fn set(&mut self, x: usize, y: usize, color: [u8; 4]) {
        if x < self.width && y < self.height {
            let i = 4 * (y * self.width + x);
            self.pixels[i..i + 4].copy_from_slice(&color);
        }
    }

    /// True when every pixel has the same colour (a blank picture).
    pub fn is_blank(&self) -> bool {
        self.pixels.chunks(4).all(|p| p == &self.pixels[..4])
    }
}

/// Lays out 28×28 images (values in [0, 1], white ink on black) in a grid of `cols` columns,
/// `gap` pixels apart. Values outside [0, 1] are clipped.
pub fn image_grid(images: &[f32], cols: usize, gap: usize) -> Rgba {
    let n = images.len() / (SIDE * SIDE);
    let cols = cols.max(1).min(n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let cell = SIDE + gap;
    let mut out = Rgba::new(cols * cell - gap, rows * cell - gap, [40, 44, 52, 255]);
    for (k, image) in images.chunks_exact(SIDE * SIDE).enumerate() {
        let (x0, y0) = ((k % cols) * cell, (k / cols) * cell);
        for (i, &v) in image.iter().enumerate() {
            let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            out.set(x0 + i % SIDE, y0 + i / SIDE, [g, g, g, 255]);
        }
    }
    out
}

/// A colour map for probabilities in [0, 1] (dark blue → yellow), for heat maps.
pub fn heat_color(p: f32) -> [u8; 4] {
    let p = p.clamp(0.0, 1.0);
    let r = (255.0 * p.powf(0.8)) as u8;
    let g = (220.0 * p) as u8;
    let b = (120.0 * (1.0 - p) + 30.0) as u8;
    [r, g, b, 255]
}

impl Rgba {
    /// Nearest-neighbour enlargement by an integer factor (crisp pixels for labels drawn on top).
    pub fn scaled(&self, k: usize) -> Rgba {
        let k = k.max(1);
        let mut out = Rgba::new(self.width * k, self.height * k, [0, 0, 0, 255]);
        for y in 0..out.height {
            for x in 0..out.width {
                let i = 4 * ((y / k) * self.width + x / k);
                let o = 4 * (y * out.width + x);
                out.pixels[o..o + 4].copy_from_slice(&self.pixels[i..i + 4]);
            }
        }
        out
    }
}

impl Rgba {
    /// A rectangle's border, `thickness` pixels wide, inside (x, y, w, h).
    pub fn outline(&mut self, x: usize, y: usize, w: usize, h: usize, thickness: usize, color: [u8; 4]) {
        for dy in 0..h {
            for dx in 0..w {
                if dx < thickness || dy < thickness || dx + thickness >= w || dy + thickness >= h {
                    self.set(x + dx, y + dy, color);
                }
            }
        }
    }
}
