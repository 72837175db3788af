//! Inline SVG charts: a target's expected trajectory, actual and forecast as a sparkline.

use std::fmt::Write as _;

/// A small inline chart: the expected trajectory as a line, the actual as a dot, and
/// the forecast as a dashed line to the deadline.
pub fn sparkline(
    expected: &[(f64, f64)],
    actual: Option<(f64, f64)>,
    forecast: Option<(f64, f64)>,
    w: f64,
    h: f64,
) -> String {
    let all: Vec<(f64, f64)> = expected.iter().copied().chain(actual).chain(forecast).collect();
    if all.is_empty() {
        return String::new();
    }
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
    let sx = |x: f64| {
        if x1 > x0 {
            2.0 + (x - x0) / (x1 - x0) * (w - 4.0)
        } else {
            w / 2.0
        }
    };
    let sy = |y: f64| {
        if y1 > y0 {
            h - 2.0 - (y - y0) / (y1 - y0) * (h - 4.0)
        } else {
            h / 2.0
        }
    };
    let mut svg = format!("<svg class=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\">");
    let points: Vec<String> = expected
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"#86909c\" stroke-width=\"1.5\" points=\"{}\"/>",
        points.join(" ")
    );
    if let (Some((ax, ay)), Some((fx, fy))) = (actual, forecast) {
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#3370ff\" stroke-dasharray=\"3,2\"/>",
            sx(ax),
            sy(ay),
            sx(fx),
            sy(fy)
        );
    }
    if let Some((ax, ay)) = actual {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#3370ff\"/>",
            sx(ax),
            sy(ay)
        );
    }
    svg.push_str("</svg>");
    svg
}

pub(crate) fn day(date: chrono::NaiveDate) -> f64 {
    use chrono::Datelike;
    date.num_days_from_ce() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_into_the_box() {
        let svg = sparkline(
            &[(0.0, 0.0), (10.0, 100.0)],
            Some((5.0, 40.0)),
            Some((10.0, 80.0)),
            100.0,
            20.0,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<circle") && svg.contains("<polyline") && svg.contains("stroke-dasharray"));
        assert_eq!(sparkline(&[], None, None, 10.0, 10.0), "");
    }
}
