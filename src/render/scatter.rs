//! Scatter plots of latent codes, coloured by digit label, into RGBA.

use super::Rgba;

/// One colour per digit 0–9 (Tableau 10), so classes can be told apart on a projector.
pub const DIGIT_COLORS: [[u8; 4]; 10] = [
    [31, 119, 180, 255],
    [255, 127, 14, 255],
    [44, 160, 44, 255],
    [214, 39, 40, 255],
    [148, 103, 189, 255],
    [140, 86, 75, 255],
    [227, 119, 194, 255],
    [160, 160, 160, 255],
    [188, 189, 34, 255],
    [23, 190, 207, 255],
];

/// Maps latent coordinates to pixels of a square plot: `range` = (min, max) on both axes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub size: usize,
    pub min: f32,
    pub max: f32,
}

impl Frame {
    /// A frame covering the points, symmetric about 0, at least ±3 (the prior's bulk).
    pub fn around(points: &[(f32, f32)], size: usize) -> Frame {
        let reach = points.iter().flat_map(|p| [p.0.abs(), p.1.abs()]).filter(|v| v.is_finite()).fold(3.0f32, f32::max);
        let reach = reach.min(1e4) * 1.05;
        Frame { size, min: -reach, max: reach }
    }

    pub fn to_pixel(&self, z: (f32, f32)) -> (f32, f32) {
        let s = (self.size - 1) as f32 / (self.max - self.min);
        ((z.0 - self.min) * s, (self.max - z.1) * s)
    }

    pub fn to_latent(&self, px: (f32, f32)) -> (f32, f32) {
        let s = (self.max - self.min) / (self.size - 1) as f32;
        (self.min + px.0 * s, self.max - px.1 * s)
    }
}

pub fn scatter(points: &[(f32, f32)], labels: &[u8], frame: Frame) -> Rgba {
    let mut img = Rgba::new(frame.size, frame.size, [30, 33, 39, 255]);
    let (ox, oy) = frame.to_pixel((0.0, 0.0));
    for i in 0..frame.size {
        img.set(ox.round() as usize, i, [70, 74, 82, 255]);
        img.set(i, oy.round() as usize, [70, 74, 82, 255]);
    }
    for (p, &label) in points.iter().zip(labels) {
        let (x, y) = frame.to_pixel(*p);
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let color = DIGIT_COLORS[label as usize % 10];
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            img.set((x as isize + dx).max(0) as usize, (y as isize + dy).max(0) as usize, color);
        }
    }
    img
}

/// Outlines the ellipse centred at `mu` with half-axes `radius` (latent units).
pub fn ellipse(img: &mut Rgba, frame: Frame, mu: (f32, f32), radius: (f32, f32), color: [u8; 4]) {
    for i in 0..720 {
        let a = i as f32 * std::f32::consts::TAU / 720.0;
        let (x, y) = frame.to_pixel((mu.0 + radius.0 * a.cos(), mu.1 + radius.1 * a.sin()));
        if x >= 0.0 && y >= 0.0 {
            img.set(x as usize, y as usize, color);
        }
    }
}

/// A small cross marking a point.
pub fn cross(img: &mut Rgba, frame: Frame, z: (f32, f32), color: [u8; 4]) {
    let (x, y) = frame.to_pixel(z);
    for d in -5..=5 {
        img.set((x as isize + d).max(0) as usize, y.max(0.0) as usize, color);
        img.set(x.max(0.0) as usize, (y as isize + d).max(0) as usize, color);
    }
}
