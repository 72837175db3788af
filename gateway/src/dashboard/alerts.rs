//! ListAlerts: targets off track or at risk, overdue reports and open blockers asking for support, filtered and
//! paged.

use chrono::NaiveDate;
use duban_kit::Principal;
use duban_proto::{gateway::v1 as pb, reporting::v1::ComplianceStatus};

use super::{
    Caller, Dashboard, measure_key, open_blocker, plan_id, quantity, report_name, resolve_as_of, snapshot::Snapshot,
};
use crate::{
    backends::Catalogue,
    calendar::{period_label, to_date, to_naive},
    error::GatewayError,
    rag::Rag,
};

impl Dashboard {
    /// ListAlerts.
    pub async fn alerts(
        &self,
        caller: &Caller,
        request: &pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, GatewayError> {
        let department = match &caller.principal {
            Principal::Department(own) => own.clone(),
            Principal::Leadership | Principal::Admin | Principal::Service => request.department.clone(),
        };
        let plan_id = plan_id(&request.plan, "plan")?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let (as_of, _) = resolve_as_of(request.as_of.as_ref(), &catalogue.calendar)?;
        let mut violations = Vec::new();
        let mut kinds = Vec::new();
        for (i, kind) in request.kinds.iter().enumerate() {
            match pb::AlertKind::try_from(*kind) {
                Ok(kind) if kind != pb::AlertKind::Unspecified => kinds.push(kind),
                _ => violations.push(duban_kit::FieldViolation::new(
                    format!("kinds[{i}]"),
                    "is not an alert kind",
                )),
            }
        }
        if request.page_size < 0 {
            violations.push(duban_kit::FieldViolation::new("page_size", "must not be negative"));
        }
        let offset: usize = if request.page_token.is_empty() {
            0
        } else {
            match request.page_token.strip_prefix("o").and_then(|n| n.parse().ok()) {
                Some(offset) => offset,
                None => {
                    violations.push(duban_kit::FieldViolation::new(
                        "page_token",
                        "was not issued by ListAlerts",
                    ));
                    0
                }
            }
        };
        if !violations.is_empty() {
            return Err(GatewayError::Invalid(violations));
        }
        let filter = (!department.is_empty()).then_some(department.as_str());
        // Targets are judged on every department's reports, and support requests
        // addressed to a department come from the others' reports: the department filter
        // is applied to the alerts, not to the data.
        let snap = self.snapshot(&catalogue, as_of, false).await;
        let overview = self.assemble(&catalogue, &snap, as_of);
        let mut alerts = build_alerts(&catalogue, &snap, &overview, as_of);
        alerts.retain(|(alert, concerned)| {
            (kinds.is_empty() || kinds.iter().any(|k| *k as i32 == alert.kind))
                && (request.measure_number.is_empty() || alert.measure_number == request.measure_number)
                && filter.is_none_or(|d| concerned.iter().any(|c| c == d))
        });
        let page_size = match request.page_size {
            0 => 50,
            n => n.min(500) as usize,
        };
        let total = alerts.len();
        let page: Vec<pb::Alert> = alerts
            .into_iter()
            .skip(offset)
            .take(page_size)
            .map(|(a, _)| a)
            .collect();
        let next = offset + page.len();
        Ok(pb::ListAlertsResponse {
            alerts: page,
            next_page_token: if next < total {
                format!("o{next}")
            } else {
                String::new()
            },
            unreachable: overview.unreachable,
        })
    }
}

/// Every alert with the departments it concerns, in the contract's order.
fn build_alerts(
    catalogue: &Catalogue,
    snap: &Snapshot,
    overview: &pb::Overview,
    as_of: NaiveDate,
) -> Vec<(pb::Alert, Vec<String>)> {
    let mut alerts: Vec<(pb::Alert, Vec<String>, String)> = Vec::new();
    for status in &overview.targets {
        let Some(target) = &status.target else { continue };
        let kind = match Rag::from_proto(status.rag) {
            Rag::Red => pb::AlertKind::TargetOffTrack,
            Rag::Amber => pb::AlertKind::TargetAtRisk,
            _ => continue,
        };
        let actual = status
            .actual
            .as_ref()
            .map_or("无数据".to_owned(), |a| quantity(a, target.unit));
        let expected = status
            .expected_at_latest_period
            .as_ref()
            .or(status.expected.as_ref())
            .map_or("-".to_owned(), |e| quantity(e, target.unit));
        alerts.push((
            pb::Alert {
                kind: kind as i32,
                measure_number: target.measure_number.clone(),
                summary: format!(
                    "{} {}：实际 {actual}，应达 {expected}",
                    target.measure_number, target.display_name
                ),
                details: Some(pb::alert::Details::Target(pb::TargetAlert {
                    status: Some(status.clone()),
                })),
            },
            target.reporting_departments.clone(),
            String::new(),
        ));
    }
    if let Some(compliance) = &snap.compliance {
        for department in &compliance.departments {
            for period in &department.periods {
                let Some(due) = period.due_date.as_ref().and_then(to_naive) else {
                    continue;
                };
                for m in period
                    .measures
                    .iter()
                    .filter(|m| m.status == ComplianceStatus::Missing as i32)
                {
                    let p = period.period.unwrap_or_default();
                    let name = catalogue.department_name(&department.department);
                    alerts.push((
                        pb::Alert {
                            kind: pb::AlertKind::ReportOverdue as i32,
                            measure_number: m.measure_number.clone(),
                            summary: format!(
                                "{} {name} {} 月报逾期 {} 天",
                                m.measure_number,
                                period_label(&p),
                                (as_of - due).num_days()
                            ),
                            details: Some(pb::alert::Details::OverdueReport(pb::OverdueReportAlert {
                                department: department.department.clone(),
                                display_name: name,
                                period: Some(p),
                                due_date: Some(to_date(due)),
                                days_overdue: (as_of - due).num_days() as i32,
                                report: report_name(&catalogue.plan_id, &m.measure_number, &department.department, &p),
                            })),
                        },
                        vec![department.department.clone()],
                        department.department.clone(),
                    ));
                }
            }
        }
    }
    for blocker in snap.open_blockers.iter().filter(|b| !b.support_unit.is_empty()) {
        let raised = open_blocker(&catalogue.plan_id, blocker);
        alerts.push((
            pb::Alert {
                kind: pb::AlertKind::SupportRequested as i32,
                measure_number: blocker.measure_number.clone(),
                summary: format!(
                    "{} {} 请求 {} 支持：{}",
                    blocker.measure_number,
                    catalogue.department_name(&blocker.department),
                    catalogue.department_name(&blocker.support_unit),
                    blocker.description
                ),
                details: Some(pb::alert::Details::SupportRequest(pb::SupportRequestAlert {
                    requesting_department: raised.department,
                    support_unit: blocker.support_unit.clone(),
                    blocker: raised.blocker,
                    report: raised.report,
                    period: raised.period,
                })),
            },
            vec![blocker.support_unit.clone()],
            blocker.department.clone(),
        ));
    }
    alerts.sort_by(|(a, _, da), (b, _, db)| {
        a.kind
            .cmp(&b.kind)
            .then(measure_key(&a.measure_number).cmp(&measure_key(&b.measure_number)))
            .then(da.cmp(db))
            .then(a.summary.cmp(&b.summary))
    });
    alerts.into_iter().map(|(a, c, _)| (a, c)).collect()
}
