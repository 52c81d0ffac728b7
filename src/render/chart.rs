//! Line charts of training metrics, drawn on a 2-D (offscreen) canvas.

use wasm_bindgen::JsValue;
use web_sys::{OffscreenCanvas, OffscreenCanvasRenderingContext2d};

use crate::train::History;

/// Series colours, by metric index (the same metric keeps its colour on every chart); the test
/// curve of a metric reuses its colour, dashed.
const COLORS: [&str; 6] = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176"];

pub fn context(canvas: &OffscreenCanvas) -> Result<OffscreenCanvasRenderingContext2d, String> {
    use wasm_bindgen::JsCast;
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<OffscreenCanvasRenderingContext2d>().ok())
        .ok_or_else(|| "no 2-D canvas context".to_string())
}

/// Draws each metric of `history` against the step, training solid and test dashed.
/// `shown` picks which metrics share the axes (metrics of very different scale get their own chart);
/// `empty` is what an empty chart says instead.
pub fn draw_history(canvas: &OffscreenCanvas, history: &History, shown: &[usize], empty: &str) -> Result<(), String> {
    let ctx = context(canvas)?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (left, right, top, bottom) = (52.0, 10.0, 22.0, 24.0);
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_font("12px sans-serif");
    let series = |points: &[crate::train::Point], j: usize| -> Vec<(f64, f64)> { points.iter().map(|p| (p.step as f64, p.values[j] as f64)).collect() };
    let mut all: Vec<(f64, f64)> = Vec::new();
    for &j in shown {
        all.extend(smooth(&series(&history.train, j)));
        all.extend(series(&history.test, j));
    }
    if all.is_empty() {
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text(empty, left, h / 2.0).map_err(js)?;
        return Ok(());
    }
    let x_max = all.iter().map(|p| p.0).fold(1.0, f64::max);
    let (mut y_min, mut y_max) = robust_range(all.iter().map(|p| p.1));
    if y_max - y_min < 1e-6 {
        y_min -= 1.0;
        y_max += 1.0;
    }
    let sx = |x: f64| left + (w - left - right) * x / x_max;
    let sy = |y: f64| top + (h - top - bottom) * (1.0 - (y.clamp(y_min, y_max) - y_min) / (y_max - y_min));

    // Axes with a few round ticks.
    ctx.set_stroke_style_str("#555");
    ctx.set_fill_style_str("#9aa0a6");
    ctx.set_line_width(1.0);
    let spacing = tick_step(y_min, y_max, 4);
    for t in ticks(y_min, y_max, 4) {
        ctx.begin_path();
        ctx.move_to(left, sy(t));
        ctx.line_to(w - right, sy(t));
        ctx.stroke();
        ctx.fill_text(&format_tick(t, spacing), 4.0, sy(t) + 4.0).map_err(js)?;
    }
    for t in ticks(0.0, x_max, 4) {
        ctx.fill_text(&format_tick(t, 1.0), sx(t) - 8.0, h - 6.0).map_err(js)?;
    }

    let mut legend_x = left;
    for &j in shown {
        let color = COLORS[j % COLORS.len()];
        ctx.set_stroke_style_str(color);
        ctx.set_line_width(1.5);
        ctx.set_line_dash(&js_sys::Array::new()).map_err(js)?;
        polyline(&ctx, &smooth(&series(&history.train, j)), &sx, &sy);
        let dash = js_sys::Array::of2(&JsValue::from(5.0), &JsValue::from(4.0));
        ctx.set_line_dash(&dash).map_err(js)?;
        polyline(&ctx, &series(&history.test, j), &sx, &sy);
        ctx.set_line_dash(&js_sys::Array::new()).map_err(js)?;
        ctx.set_fill_style_str(color);
        let label = match history.train.last() {
            Some(p) => format!("{} {:.2}", history.names[j], p.values[j]),
            None => history.names[j].to_string(),
        };
        ctx.fill_text(&label, legend_x, 14.0).map_err(js)?;
        legend_x += ctx.measure_text(&label).map(|m| m.width()).unwrap_or(80.0) + 16.0;
    }
    // Progress, right-aligned: step, throughput, training time (and what the dashes mean).
    let stats = format!(
        "step {} · {:.0} img/s · {:.1} s{}",
        history.step,
        history.images_per_s,
        history.elapsed_s,
        if history.test.is_empty() { "" } else { " · dashed: test" }
    );
    ctx.set_fill_style_str("#9aa0a6");
    let width = ctx.measure_text(&stats).map(|m| m.width()).unwrap_or(200.0);
    ctx.fill_text(&stats, (w - right - width).max(legend_x), 14.0).map_err(js)?;
    Ok(())
}

fn polyline(ctx: &OffscreenCanvasRenderingContext2d, points: &[(f64, f64)], sx: &dyn Fn(f64) -> f64, sy: &dyn Fn(f64) -> f64) {
    if points.is_empty() {
        return;
    }
    ctx.begin_path();
    ctx.move_to(sx(points[0].0), sy(points[0].1));
    for p in &points[1..] {
        ctx.line_to(sx(p.0), sy(p.1));
    }
    if points.len() == 1 {
        ctx.arc(sx(points[0].0), sy(points[0].1), 2.0, 0.0, std::f64::consts::TAU).ok();
    }
    ctx.stroke();
}

/// Averages noisy training points into at most ~300 so long runs draw quickly and readably.
fn smooth(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let per = points.len().div_ceil(300).max(1);
    points.chunks(per).map(|c| (c[c.len() - 1].0, c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64)).collect()
}

/// The y range, ignoring the first steps' huge losses so the interesting part fills the chart.
fn robust_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return (0.0, 1.0);
    }
    let hi = v[((v.len() - 1) as f64 * 0.98) as usize];
    (v[0].min(hi), hi)
}

/// A round spacing (1, 2 or 5 × 10ⁿ) giving about `n` ticks over [lo, hi].
fn tick_step(lo: f64, hi: f64, n: usize) -> f64 {
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(raw)
}

fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let step = tick_step(lo, hi, n);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 && out.len() < 12 {
        out.push(t);
        t += step;
    }
    out
}

/// A tick label with as many decimals as the tick spacing needs (0.52 and 0.54 stay apart).
fn format_tick(t: f64, spacing: f64) -> String {
    let decimals = (-spacing.log10().floor()).clamp(0.0, 4.0) as usize;
    if t.abs() >= 1000.0 {
        format!("{:.0}k", t / 1000.0)
    } else if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.decimals$}")
    }
}

fn js(e: JsValue) -> String {
    format!("{e:?}")
}
