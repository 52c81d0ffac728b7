//! Small plots: the GAN lab's generator losses over D(G(z)) (or the critic's score) with the current batch marked on
//! them and its class histogram of generated digits; the VAE lab's bounds for several k.

use web_sys::OffscreenCanvas;

use super::chart::context;

fn js(e: wasm_bindgen::JsValue) -> String {
    format!("{e:?}")
}

/// Curves of log(1 − D) (minimax, minimised) and −log D (non-saturating) over D ∈ (0, 1), with
/// each sample of the current batch marked at its D(G(z)) on both. The slope under the marks is
/// the gradient each sample sends to G: flat on the minimax curve where D(G(z)) is small.
pub fn draw_generator_losses(canvas: &OffscreenCanvas, probs: &[f32], active_minimax: bool) -> Result<(), String> {
    let ctx = context(canvas)?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (left, right, top, bottom) = (40.0, 10.0, 24.0, 30.0);
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, w, h);
    let (y_min, y_max) = (-5.0f64, 5.0f64);
    let sx = |d: f64| left + (w - left - right) * d;
    let sy = |y: f64| top + (h - top - bottom) * (1.0 - (y.clamp(y_min, y_max) - y_min) / (y_max - y_min));
    ctx.set_font("12px sans-serif");
    ctx.set_stroke_style_str("#555");
    ctx.set_fill_style_str("#9aa0a6");
    ctx.set_line_width(1.0);
    for y in [-4.0, -2.0, 0.0, 2.0, 4.0] {
        ctx.begin_path();
        ctx.move_to(left, sy(y));
        ctx.line_to(w - right, sy(y));
        ctx.stroke();
        ctx.fill_text(&format!("{y:.0}"), 8.0, sy(y) + 4.0).map_err(js)?;
    }
    for d in [0.0, 0.5, 1.0] {
        ctx.fill_text(&format!("{d}"), sx(d) - 6.0, h - 14.0).map_err(js)?;
    }
    ctx.fill_text("D(G(z))", sx(0.5) + 14.0, h - 14.0).map_err(js)?;
    ctx.fill_text("← G's samples look fake", left, h - 2.0).map_err(js)?;
    let right_label = "look real →";
    let rw = ctx.measure_text(right_label).map(|m| m.width()).unwrap_or(70.0);
    ctx.fill_text(right_label, w - right - rw, h - 2.0).map_err(js)?;
    let curves: [(&str, &str, fn(f64) -> f64, bool); 2] =
        [("#e57373", "minimax log(1 − D)", |d| (1.0 - d).ln(), active_minimax), ("#4fc3f7", "non-saturating −log D", |d| -d.ln(), !active_minimax)];
    let mut legend_x = left;
    for (color, name, f, active) in curves {
        ctx.set_stroke_style_str(color);
        ctx.set_line_width(if active { 2.5 } else { 1.2 });
        ctx.begin_path();
        for i in 1..200 {
            let d = i as f64 / 200.0;
            if i == 1 { ctx.move_to(sx(d), sy(f(d))) } else { ctx.line_to(sx(d), sy(f(d))) }
        }
        ctx.stroke();
        ctx.set_fill_style_str(color);
        for &p in probs {
            let d = (p as f64).clamp(1e-4, 1.0 - 1e-4);
            ctx.begin_path();
            ctx.arc(sx(d), sy(f(d)), 2.5, 0.0, std::f64::consts::TAU).map_err(js)?;
            ctx.fill();
        }
        let label = if active { format!("{name} (training)") } else { name.to_string() };
        ctx.fill_text(&label, legend_x, 15.0).map_err(js)?;
        legend_x += ctx.measure_text(&label).map(|m| m.width()).unwrap_or(120.0) + 18.0;
    }
    if probs.is_empty() {
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text("Step once: the batch's D(G(z)) values appear as dots.", left + 10.0, sy(-3.0)).map_err(js)?;
    }
    Ok(())
}

/// The Wasserstein game's generator loss −critic(G(z)) over the critic's scores, with each
/// sample of the current batch marked: a straight line, so every sample sends G the same
/// gradient however badly the critic rates it — nothing like log(1 − D)'s flat end.
pub fn draw_critic_generator_loss(canvas: &OffscreenCanvas, scores: &[f32]) -> Result<(), String> {
    let ctx = context(canvas)?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (left, right, top, bottom) = (44.0, 10.0, 24.0, 30.0);
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, w, h);
    // A symmetric range that holds the batch's scores (critics' scores drift freely).
    let reach = scores.iter().filter(|s| s.is_finite()).fold(1.0f64, |m, &s| m.max((s as f64).abs())) * 1.2;
    let sx = |s: f64| left + (w - left - right) * (s + reach) / (2.0 * reach);
    let sy = |y: f64| top + (h - top - bottom) * (reach - y) / (2.0 * reach);
    ctx.set_font("12px sans-serif");
    ctx.set_stroke_style_str("#555");
    ctx.set_fill_style_str("#9aa0a6");
    ctx.set_line_width(1.0);
    for t in [-1.0, -0.5, 0.0, 0.5, 1.0] {
        let v = t * reach / 1.2;
        ctx.begin_path();
        ctx.move_to(left, sy(v));
        ctx.line_to(w - right, sy(v));
        ctx.stroke();
        ctx.fill_text(&format!("{v:.3}"), 2.0, sy(v) + 4.0).map_err(js)?;
        ctx.fill_text(&format!("{v:.3}"), sx(v) - 12.0, h - 14.0).map_err(js)?;
    }
    ctx.fill_text("← critic says fake · critic(G(z)) · says real →", left + 40.0, h - 2.0).map_err(js)?;
    ctx.set_stroke_style_str("#81c784");
    ctx.set_line_width(2.5);
    ctx.begin_path();
    ctx.move_to(sx(-reach), sy(reach));
    ctx.line_to(sx(reach), sy(-reach));
    ctx.stroke();
    ctx.set_fill_style_str("#81c784");
    for &s in scores.iter().filter(|s| s.is_finite()) {
        ctx.begin_path();
        ctx.arc(sx(s as f64), sy(-s as f64), 2.5, 0.0, std::f64::consts::TAU).map_err(js)?;
        ctx.fill();
    }
    ctx.fill_text("G loss −critic(G(z)) (training): slope −1 everywhere", left, 15.0).map_err(js)?;
    if scores.is_empty() {
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text("Step once: the batch's critic(G(z)) values appear as dots.", left + 10.0, sy(-0.6 * reach)).map_err(js)?;
    }
    Ok(())
}

/// Bars of how many samples the classifier put in each class, the uniform share dashed, and
/// the classifier score.
pub fn draw_class_histogram(canvas: &OffscreenCanvas, counts: &[usize; 10], score: f64) -> Result<(), String> {
    let ctx = context(canvas)?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    let (left, top, bottom) = (10.0, 24.0, 20.0);
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, w, h);
    let total: usize = counts.iter().sum();
    let max = counts.iter().copied().max().unwrap_or(1).max(total / 5).max(1) as f64;
    let bar_w = (w - 2.0 * left) / 10.0;
    let sy = |c: f64| top + (h - top - bottom) * (1.0 - c / max);
    ctx.set_font("12px sans-serif");
    for (k, &c) in counts.iter().enumerate() {
        let x = left + k as f64 * bar_w;
        let share = c as f64 / total.max(1) as f64;
        ctx.set_fill_style_str(if share < 0.05 { "#e57373" } else { "#81c784" });
        ctx.fill_rect(x + 3.0, sy(c as f64), bar_w - 6.0, sy(0.0) - sy(c as f64));
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text(&k.to_string(), x + bar_w / 2.0 - 4.0, h - 5.0).map_err(js)?;
    }
    ctx.set_stroke_style_str("#ffd54f");
    ctx.set_line_dash(&js_sys::Array::of2(&5.0.into(), &4.0.into())).map_err(js)?;
    ctx.begin_path();
    ctx.move_to(left, sy(total as f64 / 10.0));
    ctx.line_to(w - left, sy(total as f64 / 10.0));
    ctx.stroke();
    ctx.set_line_dash(&js_sys::Array::new()).map_err(js)?;
    ctx.set_fill_style_str("#e8eaed");
    ctx.fill_text(&format!("classifier score {score:.2} / 10 · {total} samples · dashed: 10 % each"), left, 15.0).map_err(js)?;
    Ok(())
}

/// Bars of −log p̂(x) for each k (nats; lower is a tighter bound), the axis starting near the
/// smallest so the differences show, each bar labelled with its value.
pub fn draw_bounds(canvas: &OffscreenCanvas, bounds: &[(usize, f64)]) -> Result<(), String> {
    let ctx = context(canvas)?;
    let (w, h) = (canvas.width() as f64, canvas.height() as f64);
    // Room above the tallest bar for its value, below the title line.
    let (left, top, bottom) = (20.0, 42.0, 22.0);
    ctx.set_fill_style_str("#1e2127");
    ctx.fill_rect(0.0, 0.0, w, h);
    let finite: Vec<f64> = bounds.iter().map(|b| b.1).filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Ok(());
    }
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let floor = lo - (hi - lo).max(1.0);
    let bar_w = (w - 2.0 * left) / bounds.len() as f64;
    let sy = |v: f64| top + (h - top - bottom) * (1.0 - (v - floor) / (hi - floor).max(1e-9));
    ctx.set_font("12px sans-serif");
    for (i, &(k, v)) in bounds.iter().enumerate() {
        let x = left + i as f64 * bar_w;
        if v.is_finite() {
            ctx.set_fill_style_str("#4fc3f7");
            ctx.fill_rect(x + 12.0, sy(v), bar_w - 24.0, sy(floor) - sy(v));
            ctx.set_fill_style_str("#e8eaed");
            ctx.fill_text(&format!("{v:.2}"), x + bar_w / 2.0 - 18.0, sy(v) - 4.0).map_err(js)?;
        }
        ctx.set_fill_style_str("#9aa0a6");
        ctx.fill_text(&format!("k = {k}"), x + bar_w / 2.0 - 14.0, h - 6.0).map_err(js)?;
    }
    ctx.set_fill_style_str("#e8eaed");
    ctx.fill_text(&format!("−log p̂(x) in nats (axis from {floor:.1}): lower is tighter"), left, 15.0).map_err(js)?;
    Ok(())
}
