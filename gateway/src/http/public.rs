//! What an anonymous reader sees under `gateway.dashboard_access = public`: the aggregate figures.

use duban_proto::gateway::v1 as pb;

/// Keeps of an overview only the aggregate figures: the plan's actions, measures and targets with their
/// progress and RAG, the compliance rates and counts, and which services did not answer. What any one
/// unit did or did not do (each unit's latest status and report on a measure, the units late now) is
/// dropped; report text and blockers are never part of an overview.
pub(crate) fn aggregates_only(overview: &mut pb::Overview) {
    for measure in &mut overview.measures {
        measure.units.clear();
    }
    if let Some(compliance) = &mut overview.compliance {
        compliance.late_units.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_unit_is_left_in_the_aggregate_figures() {
        let mut overview = pb::Overview {
            measures: vec![pb::MeasureStatus {
                measure_number: "4.1".into(),
                open_blocker_count: 2,
                units: vec![pb::UnitReportStatus {
                    department: "anting-town".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            compliance: Some(pb::ComplianceSummary {
                reporting_rate: Some(80.0),
                late_units: vec![pb::LateUnit {
                    department: "anting-town".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        aggregates_only(&mut overview);
        assert!(overview.measures[0].units.is_empty());
        assert_eq!(overview.measures[0].open_blocker_count, 2);
        let compliance = overview.compliance.unwrap();
        assert!(compliance.late_units.is_empty());
        assert_eq!(compliance.reporting_rate, Some(80.0));
    }
}
