//! Inline SVG charts: a target's expected trajectory, actuals and forecast as a sparkline, drawn by the
//! `chart.svg` template.

use askama::Template;

/// A coordinate inside the chart's box, written with one decimal.
#[derive(Debug, Clone, Copy)]
pub struct Px(pub f64);

impl std::fmt::Display for Px {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}", self.0)
    }
}

/// A small inline chart: the expected trajectory as a line, the latest actual as a dot, every
/// monthly actual as a smaller dot, and the forecast as a dashed line from the latest actual to
/// the deadline. Every point is drawn on one scale, fitted to the box.
#[derive(Debug, Template)]
#[template(path = "chart.svg", escape = "html")]
pub struct Sparkline {
    width: f64,
    height: f64,
    line: String,
    forecast: Option<[Px; 4]>,
    latest: Option<[Px; 2]>,
    dots: Vec<[Px; 2]>,
}

/// Its output is markup built from numbers only.
impl askama::filters::HtmlSafe for Sparkline {}

impl Sparkline {
    /// The chart of `(day, value)` points in a `width` × `height` box, or none without a point.
    pub fn new(
        expected: &[(f64, f64)],
        latest: Option<(f64, f64)>,
        forecast: Option<(f64, f64)>,
        dots: &[(f64, f64)],
        width: f64,
        height: f64,
    ) -> Option<Self> {
        let all: Vec<(f64, f64)> = expected
            .iter()
            .copied()
            .chain(latest)
            .chain(forecast)
            .chain(dots.iter().copied())
            .collect();
        if all.is_empty() {
            return None;
        }
        let (x0, x1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), (x, _)| (a.min(*x), b.max(*x)));
        let (y0, y1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), (_, y)| (a.min(*y), b.max(*y)));
        // A two-pixel margin, so that dots on the edge stay whole; one value only sits in the middle.
        let place = |(x, y): (f64, f64)| {
            let px = if x1 > x0 {
                2.0 + (x - x0) / (x1 - x0) * (width - 4.0)
            } else {
                width / 2.0
            };
            let py = if y1 > y0 {
                height - 2.0 - (y - y0) / (y1 - y0) * (height - 4.0)
            } else {
                height / 2.0
            };
            [Px(px), Px(py)]
        };
        let line = expected
            .iter()
            .map(|point| {
                let [x, y] = place(*point);
                format!("{x},{y}")
            })
            .collect::<Vec<_>>()
            .join(" ");
        let forecast = latest.zip(forecast).map(|(from, to)| {
            let ([x1, y1], [x2, y2]) = (place(from), place(to));
            [x1, y1, x2, y2]
        });
        Some(Self {
            width,
            height,
            line,
            forecast,
            latest: latest.map(place),
            dots: dots.iter().copied().map(place).collect(),
        })
    }
}

/// The chart of [`Sparkline::new`] without monthly dots, as markup; empty without a point.
pub fn sparkline(
    expected: &[(f64, f64)],
    actual: Option<(f64, f64)>,
    forecast: Option<(f64, f64)>,
    w: f64,
    h: f64,
) -> String {
    Sparkline::new(expected, actual, forecast, &[], w, h)
        .map(|chart| chart.to_string())
        .unwrap_or_default()
}

/// A date as a position on the chart's time axis.
pub(crate) fn day(date: chrono::NaiveDate) -> f64 {
    use chrono::Datelike;
    date.num_days_from_ce() as f64
}

/// An amount as a chart coordinate. Drawing is the one place an amount becomes a float:
/// a pixel position, never a figure anyone reads.
pub(crate) fn plotted(value: Option<&duban_proto::common::v1::Decimal>) -> Option<f64> {
    use rust_decimal::prelude::ToPrimitive as _;
    duban_proto::decimal::from_proto(value)?.to_f64()
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

    #[test]
    fn monthly_dots_share_the_line_scale() {
        let chart = Sparkline::new(
            &[(0.0, 0.0), (10.0, 10.0)],
            Some((10.0, 10.0)),
            None,
            &[(0.0, 0.0)],
            24.0,
            14.0,
        )
        .unwrap()
        .to_string();
        assert!(chart.contains("points=\"2.0,12.0 22.0,2.0\""), "{chart}");
        assert!(chart.contains("<circle cx=\"2.0\" cy=\"12.0\" r=\"2.5\""), "{chart}");
        assert!(chart.contains("<circle cx=\"22.0\" cy=\"2.0\" r=\"3\""), "{chart}");
    }
}
