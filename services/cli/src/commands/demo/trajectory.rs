//! How each target is to go, and the values a unit reports for it: its share of the trajectory, with noise.

use std::collections::{BTreeMap, HashMap};

use duban_kit::client::ServiceChannel;
use duban_proto::{
    common::v1 as common,
    reporting::v1 as pb,
    targets::v1::{self as targets, targets_service_client::TargetsServiceClient},
};

use crate::{
    commands::{call_failed, report::period_text},
    prng::SplitMix64,
};

/// A target with what the demo needs to give it values.
pub(crate) struct TargetPlan {
    pub(crate) target: targets::Target,
    /// Expected value at the end of each period (`YYYY-MM`).
    expected: BTreeMap<String, f64>,
    /// Whether the trajectory is flat (AT_MOST, or SNAPSHOT without a baseline).
    flat: bool,
    /// Whether the demo makes it lag.
    pub(crate) lagging: bool,
    /// How well it goes overall (1.0 = on its trajectory).
    performance: f64,
    /// Each reporter's share of the target (1.0 for a single reporter).
    shares: BTreeMap<String, f64>,
}

/// Reads every target and its trajectory, and decides how each will go.
pub(crate) async fn plan_targets(
    client: &mut TargetsServiceClient<ServiceChannel>,
    parent: &str,
    seed: u64,
    months: &[String],
) -> anyhow::Result<Vec<TargetPlan>> {
    let all = duban_plan::listing::all_targets(client, parent)
        .await
        .map_err(|s| call_failed("ListTargets", s))?;
    // About one target in five lags its trajectory.
    let codes: Vec<String> = all.iter().map(|t| t.code.clone()).collect();
    let lagging_codes = SplitMix64::for_key(seed, &["lagging-targets"]).sample(&codes, codes.len().div_ceil(5));
    let mut out = Vec::new();
    for target in all {
        let trajectory = client
            .get_trajectory(targets::GetTrajectoryRequest {
                name: target.name.clone(),
                dates: vec![],
            })
            .await
            .map_err(|s| call_failed(&format!("GetTrajectory {}", target.code), s))?
            .into_inner();
        let expected: BTreeMap<String, f64> = trajectory
            .points
            .iter()
            .filter(|p| p.period.is_some())
            .map(|p| (period_text(p.period.as_ref()), simulated(p.expected_value.as_ref())))
            .collect();
        let flat = trajectory
            .points
            .iter()
            .all(|p| p.source() == targets::TrajectoryPointSource::Flat || p.expected_value == target.value);
        let mut rng = SplitMix64::for_key(seed, &["target", &target.code]);
        let lagging = lagging_codes.contains(&target.code);
        let performance = if lagging {
            rng.range(0.72, 0.88)
        } else {
            rng.range(0.97, 1.08)
        };
        let weights: Vec<f64> = target
            .reporting_departments
            .iter()
            .map(|_| rng.range(0.4, 1.6))
            .collect();
        let total: f64 = weights.iter().sum();
        let shares = target
            .reporting_departments
            .iter()
            .zip(&weights)
            .map(|(code, w)| (code.clone(), w / total))
            .collect();
        // Months missing from the trajectory (a deadline before the plan's end) keep the
        // target value.
        let mut expected = expected;
        for month in months {
            expected
                .entry(month.clone())
                .or_insert(simulated(target.value.as_ref()));
        }
        out.push(TargetPlan {
            target,
            expected,
            flat,
            lagging,
            performance,
            shares,
        });
    }
    Ok(out)
}

/// A contract figure as a number for the simulation: the draws and the noise of the demo
/// are floats, what it reports is not (see [`reported`]).
pub(crate) fn simulated(value: Option<&common::Decimal>) -> f64 {
    use rust_decimal::prelude::ToPrimitive as _;
    duban_proto::decimal::from_proto(value)
        .and_then(|v| v.to_f64())
        .unwrap_or_default()
}

/// A simulated value as a unit reports it: at the target's decimal places (whole for
/// counted units), never negative, at most 100 for a percentage. Formatted to the places
/// first, so the decimal is exactly the figure written, not the float's binary value.
pub(crate) fn reported(value: f64, target: &targets::Target) -> common::Decimal {
    let places = usize::try_from(target.decimal_places.unwrap_or_default()).unwrap_or_default();
    let mut value = value.max(0.0);
    if target.unit() == common::QuantityUnit::Percent {
        value = value.min(100.0);
    }
    format!("{value:.places$}").parse().unwrap_or_default()
}

/// A value computed for one target, with how it compares with the unit's share of the
/// trajectory (1.0 = exactly on it; below 1 = behind, whatever the comparator).
pub(crate) struct Value {
    pub(crate) metric: pb::MetricValue,
    pub(crate) ratio: f64,
    /// The target's Chinese name, for the narrative.
    pub(crate) label: String,
}

/// The unit's values for the measure's targets it reports in this period.
pub(crate) fn values_for(
    seed: u64,
    measure_targets: &[&TargetPlan],
    unit: &str,
    period: &str,
    previous: &mut HashMap<String, f64>,
    rng: &mut SplitMix64,
) -> Vec<Value> {
    let mut out = Vec::new();
    for plan in measure_targets {
        let target = &plan.target;
        let Some(share) = plan.shares.get(unit) else {
            continue;
        };
        let target_value = simulated(target.value.as_ref());
        let expected_now = plan.expected.get(period).copied().unwrap_or(target_value);
        let months: Vec<&String> = plan.expected.keys().collect();
        let index = months.iter().position(|m| m.as_str() == period).unwrap_or(0);
        let progress = (index as f64 + 1.0) / months.len().max(1) as f64;
        let at_most = target.comparator() == common::Comparator::AtMost;
        // The unit's own performance: the target's, spread per unit for shared targets.
        let mut unit_rng = SplitMix64::for_key(seed, &["unit-performance", &target.code, unit]);
        let unit_performance = if plan.shares.len() > 1 {
            plan.performance * unit_rng.range(0.85, 1.15)
        } else {
            plan.performance
        };
        let noise = 1.0 + 0.03 * rng.normal();
        let (expected_share, mut value) = match target.value_basis() {
            common::ValueBasis::Period => {
                let before = index
                    .checked_sub(1)
                    .and_then(|i| plan.expected.get(months[i].as_str()))
                    .copied()
                    .unwrap_or_else(|| simulated(target.baseline.as_ref()));
                let amount = (expected_now - before).max(0.0) * share;
                (amount, amount * unit_performance * noise)
            }
            common::ValueBasis::Snapshot if plan.flat => {
                // A level that approaches the target over the year.
                // Judged against where it should be by now, not against the year-end level.
                let planned = if at_most {
                    target_value * share * (1.3 - 0.3 * progress)
                } else {
                    target_value * share * (0.75 + 0.25 * progress)
                };
                let level = if at_most {
                    planned / unit_performance
                } else {
                    planned * unit_performance
                };
                (planned, level * noise)
            }
            _ => {
                let expected = expected_now * share;
                (expected, expected * unit_performance * noise)
            }
        };
        if target.value_basis() == common::ValueBasis::Cumulative {
            // Year-to-date figures never go down.
            if let Some(before) = previous.get(&target.code) {
                value = value.max(*before);
            }
        }
        let figure = reported(value, target);
        value = simulated(Some(&figure));
        previous.insert(target.code.clone(), value);
        let ratio = if at_most {
            if value > 0.0 { expected_share / value } else { 1.0 }
        } else if expected_share > 0.0 {
            value / expected_share
        } else {
            1.0
        };
        out.push(Value {
            metric: pb::MetricValue {
                target_code: target.code.clone(),
                value: Some(figure),
                unit: target.unit,
                basis: target.value_basis,
            },
            ratio,
            label: target.display_name.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests;
