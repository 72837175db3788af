//! A target's chart on its measure's page (`target_chart.svg`): axes with the target's unit, the
//! expected trajectory, the actual value month by month, the forecast to the deadline and the target
//! line. The value axis starts at zero (or below, for a negative value) and ends at a round number
//! above the target and every point, so a level target that is nearly met reads as nearly met, not
//! as a collapse: a scale fitted to the points alone once drew 48 against 50 as bottom against top.

use askama::Template;
use chrono::{Datelike as _, NaiveDate};

use super::charts::Px;

/// The plot's box, in SVG units; the page scales it to the width it has.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
/// Room for the value labels on the left, the month labels below, and the target's label on top.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 30.0;

/// A value axis: round bounds and the ticks between them.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueAxis {
    /// The lowest value drawn.
    pub min: f64,
    /// The highest value drawn.
    pub max: f64,
    /// The values with a grid line and a label, from `min` to `max`.
    pub ticks: Vec<f64>,
    /// Decimal places of the labels.
    pub decimals: usize,
}

/// The axis for values from `low` to `high`: zero included, about five ticks at a step of 1, 2,
/// 2.5 or 5 times a power of ten.
pub fn value_axis(low: f64, high: f64) -> ValueAxis {
    let (low, high) = (low.min(0.0), high.max(0.0));
    let span = if high > low { high - low } else { 1.0 };
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let min = (low / step).floor() * step;
    let max = ((high / step).ceil() * step).max(min + step);
    let count = ((max - min) / step).round() as usize;
    let ticks = (0..=count).map(|i| min + step * i as f64).collect();
    // 2.5 × 10^k needs one place more than 10^k.
    let decimals = (-(step.log10().floor())
        + if (step / magnitude - 2.5).abs() < 1e-9 {
            1.0
        } else {
            0.0
        })
    .max(0.0) as usize;
    ValueAxis {
        min,
        max,
        ticks,
        decimals,
    }
}

/// One month of the chart.
#[derive(Debug, Clone)]
pub struct MonthPoint {
    /// The month's last day: where its values are drawn.
    pub end: NaiveDate,
    /// The value the trajectory expects on that day.
    pub expected: Option<f64>,
    /// The actual known at the end of the month.
    pub actual: Option<f64>,
    /// Whether `actual` includes provisional figures (drawn hollow).
    pub provisional: bool,
}

/// What a chart is drawn from.
#[derive(Debug, Clone)]
pub struct ChartData {
    /// The first day of the first month: where the time axis starts.
    pub start: NaiveDate,
    /// The months, oldest first.
    pub months: Vec<MonthPoint>,
    /// The target value (the horizontal target line).
    pub target: f64,
    /// The target as written, with its unit (`50个项目`), for the line's label.
    pub target_label: String,
    /// The forecast on the deadline, if any.
    pub forecast: Option<(NaiveDate, f64)>,
    /// The unit, for the value axis's title.
    pub unit: String,
    /// Chinese (`3月`) or English (`Mar`) month labels.
    pub english: bool,
}

/// A label at a position.
#[derive(Debug, Clone)]
struct Label {
    x: Px,
    y: Px,
    text: String,
}

/// A drawn actual.
#[derive(Debug, Clone)]
struct Dot {
    x: Px,
    y: Px,
    hollow: bool,
}

/// The chart, laid out.
#[derive(Debug, Template)]
#[template(path = "target_chart.svg", escape = "html")]
pub struct TargetChart {
    title: String,
    grid: Vec<(Px, Label)>,
    months: Vec<(Px, Label)>,
    /// Where the month ticks end, below the time axis.
    tick_end: Px,
    unit: Label,
    plot: [Px; 4],
    trajectory: String,
    actual: String,
    dots: Vec<Dot>,
    target: (Px, Label),
    forecast: Option<[Px; 4]>,
}

impl TargetChart {
    /// Lays `data` out, or none when there is no month to draw.
    pub fn new(data: &ChartData) -> Option<TargetChart> {
        let last = data.months.last()?.end;
        let end = data.forecast.map_or(last, |(day, _)| day.max(last));
        let values = data
            .months
            .iter()
            .flat_map(|m| [m.expected, m.actual])
            .flatten()
            .chain([data.target])
            .chain(data.forecast.map(|(_, v)| v));
        let (low, high) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let axis = value_axis(low, high);
        let day = |d: NaiveDate| f64::from(d.num_days_from_ce());
        let (t0, t1) = (day(data.start), day(end).max(day(data.start) + 1.0));
        let x = |d: NaiveDate| Px(LEFT + (day(d) - t0) / (t1 - t0) * (WIDTH - LEFT - RIGHT));
        let y = |v: f64| Px(HEIGHT - BOTTOM - (v - axis.min) / (axis.max - axis.min) * (HEIGHT - TOP - BOTTOM));
        let points = |value: fn(&MonthPoint) -> Option<f64>| {
            data.months
                .iter()
                .filter_map(|m| Some(format!("{},{}", x(m.end), y(value(m)?))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let grid = axis
            .ticks
            .iter()
            .map(|v| {
                let at = y(*v);
                let label = Label {
                    x: Px(LEFT - 6.0),
                    y: Px(at.0 + 4.0),
                    text: format!("{:.*}", axis.decimals, v),
                };
                (at, label)
            })
            .collect();
        let months = data
            .months
            .iter()
            .map(|m| {
                let at = x(m.end);
                let text = if data.english {
                    m.end.format("%b").to_string()
                } else {
                    format!("{}月", m.end.month())
                };
                (
                    at,
                    Label {
                        x: at,
                        y: Px(HEIGHT - BOTTOM + 16.0),
                        text,
                    },
                )
            })
            .collect();
        let dots = data
            .months
            .iter()
            .filter_map(|m| {
                Some(Dot {
                    x: x(m.end),
                    y: y(m.actual?),
                    hollow: m.provisional,
                })
            })
            .collect();
        let latest = data.months.iter().rev().find_map(|m| Some((m.end, m.actual?)));
        let forecast = latest
            .zip(data.forecast)
            .map(|((from_day, from), (to_day, to))| [x(from_day), y(from), x(to_day), y(to)]);
        let target_y = y(data.target);
        Some(TargetChart {
            title: data.target_label.clone(),
            grid,
            months,
            tick_end: Px(HEIGHT - BOTTOM + 4.0),
            unit: Label {
                x: Px(4.0),
                y: Px(12.0),
                text: data.unit.clone(),
            },
            plot: [Px(LEFT), Px(TOP), Px(WIDTH - RIGHT), Px(HEIGHT - BOTTOM)],
            trajectory: points(|m| m.expected),
            actual: points(|m| m.actual),
            dots,
            target: (
                target_y,
                Label {
                    x: Px(WIDTH - RIGHT),
                    y: Px(target_y.0 - 5.0),
                    text: data.target_label.clone(),
                },
            ),
            forecast,
        })
    }
}

/// Its output is markup built from numbers and escaped labels.
impl askama::filters::HtmlSafe for TargetChart {}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2023, m, d).unwrap()
    }

    #[test]
    fn the_value_axis_starts_at_zero_and_ends_on_a_round_number_above_everything() {
        assert_eq!(value_axis(48.0, 50.0).ticks, vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(value_axis(0.0, 555.0).max, 600.0);
        let shares = value_axis(0.5, 0.8);
        assert_eq!((shares.max, shares.decimals), (0.8, 1));
        let quarter = value_axis(0.0, 12.0);
        assert_eq!((quarter.ticks[1], quarter.decimals), (2.5, 1));
        assert_eq!(value_axis(-3.0, 4.0).min, -4.0);
        assert!(value_axis(0.0, 0.0).max > 0.0, "a flat zero still has an axis");
    }

    #[test]
    fn a_level_target_nearly_met_is_drawn_near_its_line_not_at_the_bottom() {
        let months = (3..=9)
            .map(|m| MonthPoint {
                end: day(m + 1, 1).pred_opt().unwrap(),
                expected: Some(50.0),
                actual: (m <= 6).then_some(48.0),
                provisional: m == 6,
            })
            .collect();
        let chart = TargetChart::new(&ChartData {
            start: day(3, 1),
            months,
            target: 50.0,
            target_label: "目标 50个项目".into(),
            forecast: Some((day(12, 31), 49.0)),
            unit: "个项目".into(),
            english: false,
        })
        .unwrap();
        let target_y = chart.target.0.0;
        let dot_y = chart.dots[0].y.0;
        let bottom = chart.plot[3].0;
        // 48 of 50 on an axis from 0: the dot sits 4% of the plot's height under the line.
        assert!(
            (dot_y - target_y) < 0.05 * (bottom - chart.plot[1].0),
            "{dot_y} vs {target_y}"
        );
        assert!(
            chart.dots[3].hollow && !chart.dots[0].hollow,
            "provisional figures are hollow"
        );
        let svg = chart.to_string();
        assert!(
            svg.contains(">3月<") && svg.contains(">个项目<") && svg.contains("目标 50个项目"),
            "{svg}"
        );
        assert!(svg.contains("class=\"forecast\""));
        assert!(
            TargetChart::new(&ChartData {
                start: day(3, 1),
                months: vec![],
                target: 1.0,
                target_label: String::new(),
                forecast: None,
                unit: String::new(),
                english: true,
            })
            .is_none()
        );
    }
}
