//! One synthetic report: its status, narrative in Chinese, milestones, blockers and evidence.

use std::collections::BTreeMap;

use duban_proto::{
    common::v1 as common, departments::v1 as departments, measures::v1 as measures, reporting::v1 as pb,
};

use duban_plan::{
    Month,
    contract::{date_from_proto, date_to_proto},
};

use super::{blockers::BlockerChain, trajectory::Value};
use crate::{commands::report::period_text, prng::SplitMix64};

/// What one synthetic report is about, and what its text may mention.
pub(crate) struct ReportInput<'a> {
    pub(crate) seed: u64,
    pub(crate) measure: &'a measures::Measure,
    pub(crate) unit: &'a str,
    pub(crate) period: &'a common::Period,
    pub(crate) values: Vec<Value>,
    pub(crate) provisional: bool,
    pub(crate) units: &'a BTreeMap<String, departments::Department>,
    pub(crate) responsible: &'a [String],
    /// `{measure}~{unit}~{YYYY-MM}`, which keys the draws of resolutions.
    pub(crate) key: &'a str,
    /// The unit's blockers on the measure so far; this report resolves some and may raise one.
    pub(crate) blockers: &'a mut BlockerChain,
}

/// Problems units run into, with the unit whose help they would ask for.
const BLOCKERS: &[(&str, &str)] = &[
    (
        "项目用地指标尚未落实，土地出让进度慢于计划，需协调用地保障。",
        "planning-resources-bureau",
    ),
    ("配套资金拨付滞后，部分项目资金缺口待解决。", "finance-bureau"),
    (
        "跨部门审批材料流转周期较长，需加快联合会商。",
        "administrative-service-center",
    ),
    ("施工许可及竣工验收办理进度慢于预期。", "construction-commission"),
    (
        "重点企业外迁意向增加，新增注册企业数量低于预期。",
        "market-regulation-bureau",
    ),
    ("统计口径与市级部门不一致，数据核对耗时较长。", "statistics-bureau"),
    ("招商项目落地受产业用房供给不足影响。", "investment-promotion-center"),
    ("企业用工需求集中，招聘对接场地不足。", "human-resources-bureau"),
];

const ACTIVITIES: &[&str] = &[
    "召开专题推进会，梳理重点任务清单并逐项明确责任人和完成时限",
    "走访重点企业，听取企业诉求并协调解决实际困难",
    "会同相关部门开展联合调研，形成问题清单和工作台账",
    "开展政策宣传解读，推动各项惠企政策直达快享",
    "对照年度目标开展进度排摸，对滞后事项实行挂图作战",
    "完善工作机制，建立周调度、月通报制度",
];

const NEXT_STEPS: &[&str] = &[
    "继续加大推进力度，确保按期完成年度目标",
    "加强跟踪督办，及时协调解决推进中的难点问题",
    "进一步优化服务，推动更多项目尽快落地见效",
    "做好数据核对和报送，确保信息准确完整",
];

/// Writes one synthetic report: a status that agrees with the values, a narrative, maybe
/// a blocker raised or earlier ones resolved by name, and maybe an evidence link.
pub(crate) fn compose_report(input: ReportInput<'_>, rng: &mut SplitMix64) -> pb::Report {
    let ReportInput {
        seed,
        measure,
        unit,
        period,
        values,
        provisional,
        units,
        responsible,
        key,
        blockers: chain,
    } = input;
    // The status: from the values when there are any, otherwise from the unit's record
    // on this measure.
    let worst = values.iter().map(|v| v.ratio).fold(f64::INFINITY, f64::min);
    let mut status = if worst.is_finite() {
        if worst >= 0.95 {
            pb::OverallStatus::OnTrack
        } else if worst >= 0.85 {
            pb::OverallStatus::AtRisk
        } else {
            pb::OverallStatus::OffTrack
        }
    } else {
        let mut health = SplitMix64::for_key(seed, &["health", &measure.number, unit]);
        let class = health.next_f64();
        let draw = rng.next_f64();
        if class < 0.75 {
            if draw < 0.03 {
                pb::OverallStatus::AtRisk
            } else {
                pb::OverallStatus::OnTrack
            }
        } else if class < 0.93 {
            if draw < 0.05 {
                pb::OverallStatus::OffTrack
            } else if draw < 0.4 {
                pb::OverallStatus::AtRisk
            } else {
                pb::OverallStatus::OnTrack
            }
        } else if period.month >= 7 {
            if draw < 0.5 {
                pb::OverallStatus::OffTrack
            } else {
                pb::OverallStatus::AtRisk
            }
        } else if draw < 0.5 {
            pb::OverallStatus::AtRisk
        } else {
            pb::OverallStatus::OnTrack
        }
    };
    if values.is_empty() && status == pb::OverallStatus::OnTrack {
        if period.month == 3 && rng.chance(0.08) {
            status = pb::OverallStatus::NotStarted;
        } else if period.month == 12 && rng.chance(0.15) {
            status = pb::OverallStatus::Completed;
        }
    }

    let unit_name = units.get(unit).map_or(unit, |d| d.display_name.as_str());
    let mut narrative = format!(
        "{}年{}月，{}围绕“{}”，{}。",
        period.year,
        period.month,
        unit_name,
        measure.title,
        rng.pick(ACTIVITIES)
    );
    for value in &values {
        let (number, unit_text) = (
            value
                .metric
                .value
                .as_ref()
                .map(|v| v.value.as_str())
                .unwrap_or_default(),
            duban_plan::quantity::unit_label_zh(value.metric.unit()),
        );
        narrative.push_str(&match value.metric.basis() {
            common::ValueBasis::Cumulative => format!("截至本月，{}{number}{unit_text}。", value.label),
            common::ValueBasis::Period => format!("本月{}{number}{unit_text}。", value.label),
            _ => format!("本月末{}为{number}{unit_text}。", value.label),
        });
    }
    // Open blockers carry over silently; a report names the ones it closes.
    let period_key = period_text(Some(period));
    let (mut blockers, resolved) = chain.resolve_some(seed, key, &period_key, status);
    for description in &resolved {
        narrative.push_str(&format!(
            "前期反映的问题已协调解决（{}）。",
            description.trim_end_matches('。')
        ));
    }
    if matches!(status, pb::OverallStatus::AtRisk | pb::OverallStatus::OffTrack) {
        narrative.push_str("部分工作进度慢于预期。");
        if rng.chance(0.6) {
            let (description, helper) = *rng.pick(BLOCKERS);
            let ask = rng.chance(0.3);
            let support_unit = if !ask {
                String::new()
            } else if helper != unit && units.contains_key(helper) {
                helper.to_owned()
            } else {
                responsible
                    .iter()
                    .find(|code| code.as_str() != unit)
                    .cloned()
                    .unwrap_or_default()
            };
            let severity = match (status, support_unit.is_empty()) {
                (pb::OverallStatus::OffTrack, _) => pb::BlockerSeverity::High,
                (_, false) => pb::BlockerSeverity::High,
                _ => pb::BlockerSeverity::Medium,
            };
            if chain.is_open(description) {
                narrative.push_str("前期反映的困难仍在协调推进中。");
            } else {
                chain.raise(description, &period_key);
                blockers.push(pb::Blocker {
                    description: description.to_owned(),
                    severity: severity as i32,
                    support_unit,
                    ..Default::default()
                });
            }
        }
    }
    narrative.push_str(&format!("下一步，{}。", rng.pick(NEXT_STEPS)));
    if provisional {
        narrative.push_str(super::web::PROVISIONAL_NOTE);
    }
    let evidence_links = if rng.chance(0.35) {
        vec![pb::EvidenceLink {
            title: format!("{}年{}月工作台账", period.year, period.month),
            url: format!(
                "https://evidence.example.org/jiading-2023/{}/{}/{unit}.pdf",
                period_text(Some(period)),
                measure.number
            ),
            sha256: String::new(),
        }]
    } else {
        vec![]
    };
    pb::Report {
        measure_number: measure.number.clone(),
        department: unit.to_owned(),
        period: Some(*period),
        overall_status: status as i32,
        narrative,
        metric_values: values.into_iter().map(|v| v.metric).collect(),
        milestone_updates: milestone_updates(measure, unit, period),
        blockers,
        evidence_links,
        provisional,
        ..Default::default()
    }
}

/// What the measure's lead unit says of each of its milestones, named by code, at the end
/// of `period`: achieved on its date once that has passed, not started before its
/// validity period begins, in progress otherwise. The other units leave milestones to
/// the lead.
pub(crate) fn milestone_updates(
    measure: &measures::Measure,
    unit: &str,
    period: &common::Period,
) -> Vec<pb::MilestoneUpdate> {
    let lead = measure.responsible_units.iter().find(|u| u.lead);
    let Some(month_end) = Month::from_proto(Some(period)).map(Month::last_day) else {
        return Vec::new();
    };
    if lead.is_none_or(|lead| lead.code != unit) {
        return Vec::new();
    }
    measure
        .milestones
        .iter()
        .filter_map(|milestone| {
            let due = milestone.date.as_ref().and_then(date_from_proto)?;
            let starts = milestone.start_date.as_ref().and_then(date_from_proto);
            let status = if due <= month_end {
                pb::MilestoneStatus::Achieved
            } else if starts.is_some_and(|day| day > month_end) {
                pb::MilestoneStatus::NotStarted
            } else {
                pb::MilestoneStatus::InProgress
            };
            Some(pb::MilestoneUpdate {
                milestone_code: milestone.code.clone(),
                status: status as i32,
                achieve_date: (status == pb::MilestoneStatus::Achieved).then(|| date_to_proto(due)),
                ..Default::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_unit_reports_each_milestone_by_code() {
        let day = |month, day| Some(common::Date { year: 2023, month, day });
        let measure = measures::Measure {
            number: "3.2".into(),
            responsible_units: vec![
                measures::ResponsibleUnit {
                    code: "economic-commission".into(),
                    lead: true,
                    ..Default::default()
                },
                measures::ResponsibleUnit {
                    code: "commerce-commission".into(),
                    ..Default::default()
                },
            ],
            milestones: vec![
                measures::Milestone {
                    code: "huijia-car-promotion-extension".into(),
                    date: day(6, 30),
                    ..Default::default()
                },
                measures::Milestone {
                    code: "summer-campaign".into(),
                    start_date: day(7, 1),
                    date: day(8, 31),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let month = |month| common::Period { year: 2023, month };
        let said = |unit: &str, m: i32| -> Vec<(String, pb::MilestoneStatus, bool)> {
            milestone_updates(&measure, unit, &month(m))
                .into_iter()
                .map(|u| (u.milestone_code.clone(), u.status(), u.achieve_date.is_some()))
                .collect()
        };
        assert!(said("commerce-commission", 7).is_empty());
        assert_eq!(
            said("economic-commission", 5),
            [
                (
                    "huijia-car-promotion-extension".into(),
                    pb::MilestoneStatus::InProgress,
                    false
                ),
                ("summer-campaign".into(), pb::MilestoneStatus::NotStarted, false),
            ]
        );
        assert_eq!(
            said("economic-commission", 7),
            [
                (
                    "huijia-car-promotion-extension".into(),
                    pb::MilestoneStatus::Achieved,
                    true
                ),
                ("summer-campaign".into(), pb::MilestoneStatus::InProgress, false),
            ]
        );
    }
}
