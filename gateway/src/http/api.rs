//! The read-only JSON API: overview (the aggregate figures only for an anonymous reader under public
//! access), measure detail, department scorecard and alerts (signed-in readers only).

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
};
use duban_proto::{
    common::v1::Date,
    gateway::v1 as pb,
    reporting::v1::{self as rpb, OverallStatus},
};
use serde_json::{Value, json};

use super::{Params, Web, json_answer};
use crate::{
    calendar::{date_label, period_label},
    rag::Rag,
};

pub(crate) async fn api_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    json_answer(
        web.overview_view(&headers, &params)
            .await
            .map(|(overview, _)| overview_json(&overview)),
    )
}

pub(crate) async fn api_measure(
    State(web): State<Web>,
    Path(number): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        web.measure_view(&caller, number, &params).await
    }
    .await;
    json_answer(result.map(|d| measure_json(&d)))
}

pub(crate) async fn api_department(
    State(web): State<Web>,
    Path(code): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        web.department_view(&caller, code, &params).await
    }
    .await;
    json_answer(result.map(|s| scorecard_json(&s)))
}

pub(crate) async fn api_alerts(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        let request = pb::ListAlertsRequest {
            plan: web.0.plan.clone(),
            as_of: params.as_of()?,
            department: params.department.clone(),
            measure_number: params.measure.clone(),
            page_size: params.page_size,
            page_token: params.page_token.clone(),
            ..Default::default()
        };
        let alerts = web.0.dashboard.alerts(&caller, &request).await?;
        Ok(json!({
            "alerts": alerts.alerts.iter().map(alert_json).collect::<Vec<_>>(),
            "next_page_token": alerts.next_page_token,
            "unreachable": alerts.unreachable,
        }))
    }
    .await;
    json_answer(result)
}

pub(crate) async fn api_units(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        let rankings = web.rankings_view(&caller, &params).await?;
        Ok(json!({
            "as_of": date_json(rankings.as_of.as_ref()),
            "order_by": rankings.order_by,
            "rankings": rankings.rankings.iter().map(ranking_json).collect::<Vec<_>>(),
            "unreachable": rankings.unreachable,
        }))
    }
    .await;
    json_answer(result)
}

/// One unit's place: kinds by their directory name (`town_or_street`), rates unset as null.
fn ranking_json(r: &pb::UnitRanking) -> Value {
    json!({
        "rank": r.rank,
        "department": r.department,
        "display_name": r.display_name,
        "display_name_en": r.display_name_en,
        "kind": kind_name(r.kind),
        "expected_count": r.expected_count,
        "received_count": r.received_count,
        "on_time_count": r.on_time_count,
        "reporting_rate": r.reporting_rate,
        "on_time_rate": r.on_time_rate,
        "returned_count": r.returned_count,
        "open_order_count": r.open_order_count,
        "overdue_order_count": r.overdue_order_count,
        "target_count": r.target_count,
        "green_target_count": r.green_target_count,
        "amber_target_count": r.amber_target_count,
        "red_target_count": r.red_target_count,
        "delivery_rate": r.delivery_rate,
    })
}

/// A kind's directory name (`town_or_street`), empty when unknown.
pub(crate) fn kind_name(kind: i32) -> &'static str {
    crate::html::KINDS
        .iter()
        .find(|(_, k)| *k as i32 == kind)
        .map_or("", |(name, _)| name)
}

/// The follow-up in figures: levels by their contract name without prefix (`BLUE`).
fn follow_up_json(f: &rpb::FollowUpSummary) -> Value {
    json!({
        "as_of": date_json(f.as_of.as_ref()),
        "window_days": f.window_days,
        "notices": f.notices.iter().map(|n| json!({
            "level": n.level().as_str_name().trim_start_matches("NOTICE_LEVEL_"),
            "count": n.count,
            "unacknowledged_count": n.unacknowledged_count,
        })).collect::<Vec<_>>(),
        "open_orders": f.open_orders.iter().map(|o| json!({
            "level": o.level().as_str_name().trim_start_matches("ORDER_LEVEL_"),
            "count": o.count,
        })).collect::<Vec<_>>(),
        "open_order_part_count": f.open_order_part_count,
        "overdue_order_part_count": f.overdue_order_part_count,
    })
}

fn date_json(date: Option<&Date>) -> Value {
    date.map_or(Value::Null, |d| Value::String(date_label(d)))
}

fn period_json(period: Option<&duban_proto::common::v1::Period>) -> Value {
    period.map_or(Value::Null, |p| Value::String(period_label(p)))
}

/// An amount as JSON: its exact decimal text, as a string (a JSON number would be read as
/// a float by most clients), or null.
fn amount_json(value: Option<&duban_proto::common::v1::Decimal>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.value.clone()))
}

/// Where a report revision came from, by its contract name (`REPORT_SOURCE_WEB_FORM`).
fn source_json(source: i32) -> &'static str {
    duban_proto::reporting::v1::ReportSource::try_from(source)
        .map(|s| s.as_str_name())
        .unwrap_or_default()
}

fn rag_json(rag: i32) -> Value {
    Value::String(Rag::from_proto(rag).name().to_owned())
}

fn target_json(t: &pb::TargetStatus) -> Value {
    let target = t.target.clone().unwrap_or_default();
    json!({
        "code": target.code,
        "measure_number": target.measure_number,
        "display_name": target.display_name,
        "display_name_en": target.display_name_en,
        "unit": duban_proto::common::v1::QuantityUnit::try_from(t.unit).map(|u| u.as_str_name()).unwrap_or_default(),
        "value": amount_json(target.value.as_ref()),
        "comparator": duban_proto::common::v1::Comparator::try_from(target.comparator).map(|c| c.as_str_name()).unwrap_or_default(),
        "aspirational": target.aspirational,
        "actual": amount_json(t.actual.as_ref()),
        "latest_period": period_json(t.latest_period.as_ref()),
        "includes_provisional": t.includes_provisional,
        "expected": amount_json(t.expected.as_ref()),
        "expected_at_latest_period": amount_json(t.expected_at_latest_period.as_ref()),
        "rag": rag_json(t.rag),
        "discipline": rag_json(t.discipline),
        "percent_complete": t.percent_complete,
        "forecast": amount_json(t.forecast.as_ref()),
        "forecast_date": date_json(t.forecast_date.as_ref()),
    })
}

fn unit_json(u: &pb::UnitReportStatus) -> Value {
    json!({
        "department": u.department,
        "display_name": u.display_name,
        "latest_status": OverallStatus::try_from(u.latest_status).map(|s| s.as_str_name()).unwrap_or_default(),
        "latest_period": period_json(u.latest_period.as_ref()),
        "latest_report": u.latest_report,
        "latest_source": source_json(u.latest_source),
        "compliance": duban_proto::reporting::v1::ComplianceStatus::try_from(u.compliance).map(|s| s.as_str_name()).unwrap_or_default(),
    })
}

/// The overview as JSON.
pub fn overview_json(o: &pb::Overview) -> Value {
    json!({
        "plan": o.plan,
        "plan_revision": o.plan_revision,
        "as_of": date_json(o.as_of.as_ref()),
        "as_of_basis": pb::AsOfBasis::try_from(o.as_of_basis).map(|b| b.as_str_name()).unwrap_or_default(),
        "compute_time": o.compute_time.as_ref().map(ToString::to_string),
        "actions": o.actions.iter().map(|a| json!({
            "action_number": a.action_number,
            "title": a.title,
            "title_en": a.title_en,
            "percent": a.percent,
            "rag": rag_json(a.rag),
            "discipline": rag_json(a.discipline),
            "measure_count": a.measure_count,
            "red_count": a.red_count,
            "amber_count": a.amber_count,
            "green_count": a.green_count,
        })).collect::<Vec<_>>(),
        "targets": o.targets.iter().map(target_json).collect::<Vec<_>>(),
        "measures": o.measures.iter().map(|m| json!({
            "measure_number": m.measure_number,
            "title": m.title,
            "title_en": m.title_en,
            "rag": rag_json(m.rag),
            "discipline": rag_json(m.discipline),
            "target_codes": m.target_codes,
            "units": m.units.iter().map(unit_json).collect::<Vec<_>>(),
            "open_blocker_count": m.open_blocker_count,
        })).collect::<Vec<_>>(),
        "compliance": o.compliance.as_ref().map(|c| json!({
            "reporting_rate": c.reporting_rate,
            "on_time_rate": c.on_time_rate,
            "expected_count": c.expected_count,
            "received_count": c.received_count,
            "on_time_count": c.on_time_count,
            "late_units": c.late_units.iter().map(|l| json!({
                "department": l.department,
                "display_name": l.display_name,
                "overdue_count": l.overdue_count,
                "max_days_overdue": l.max_days_overdue,
            })).collect::<Vec<_>>(),
        })),
        "follow_up": o.follow_up.as_ref().map(follow_up_json),
        "unreachable": o.unreachable,
    })
}

fn measure_json(d: &pb::GetMeasureDetailResponse) -> Value {
    let m = d.measure.clone().unwrap_or_default();
    json!({
        "measure_number": m.number,
        "title": m.title,
        "title_en": m.title_en,
        "text": m.text,
        "as_of": date_json(d.as_of.as_ref()),
        "as_of_basis": pb::AsOfBasis::try_from(d.as_of_basis).map(|b| b.as_str_name()).unwrap_or_default(),
        "rag": rag_json(d.rag),
        "discipline": rag_json(d.discipline),
        "targets": d.targets.iter().map(|t| json!({
            "status": t.status.as_ref().map(target_json),
            "series": t.series.iter().map(|p| json!({
                "period": period_json(p.period.as_ref()),
                "expected": amount_json(p.expected.as_ref()),
                "actual": amount_json(p.actual.as_ref()),
                "provisional": p.provisional,
            })).collect::<Vec<_>>(),
            "contributions": t.contributions.iter().map(|c| json!({
                "department": c.department,
                "value": amount_json(c.value.as_ref()),
                "status": duban_proto::reporting::v1::ContributionStatus::try_from(c.status).map(|s| s.as_str_name()).unwrap_or_default(),
                "latest_period": period_json(c.latest_period.as_ref()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "units": d.units.iter().map(unit_json).collect::<Vec<_>>(),
        "latest_reports": d.latest_reports.iter().map(|r| json!({
            "name": r.name,
            "department": r.department,
            "period": period_json(r.period.as_ref()),
            "revision": r.revision,
            "overall_status": OverallStatus::try_from(r.overall_status).map(|s| s.as_str_name()).unwrap_or_default(),
            "source": source_json(r.source),
            "narrative": r.narrative,
        })).collect::<Vec<_>>(),
        "open_blockers": d.open_blockers.iter().map(|b| json!({
            "department": b.department,
            "description": b.blocker.as_ref().map(|b| b.description.clone()),
            "severity": b.blocker.as_ref().and_then(|b| duban_proto::reporting::v1::BlockerSeverity::try_from(b.severity).ok()).map(|s| s.as_str_name()),
            "support_unit": b.blocker.as_ref().map(|b| b.support_unit.clone()),
            "report": b.report,
        })).collect::<Vec<_>>(),
        "unreachable": d.unreachable,
    })
}

fn scorecard_json(s: &pb::GetDepartmentScorecardResponse) -> Value {
    json!({
        "department": s.department,
        "display_name": s.display_name,
        "as_of": date_json(s.as_of.as_ref()),
        "as_of_basis": pb::AsOfBasis::try_from(s.as_of_basis).map(|b| b.as_str_name()).unwrap_or_default(),
        "measures": s.measures.iter().map(|m| json!({
            "measure_number": m.measure_number,
            "title": m.title,
            "lead": m.lead,
            "via_group": m.via_group,
            "rag": rag_json(m.rag),
            "discipline": rag_json(m.discipline),
            "own_status": m.own_status.as_ref().map(unit_json),
        })).collect::<Vec<_>>(),
        "calendar": s.calendar.iter().map(|p| json!({
            "period": period_json(p.period.as_ref()),
            "due_date": date_json(p.due_date.as_ref()),
            "status": duban_proto::reporting::v1::ComplianceStatus::try_from(p.status).map(|s| s.as_str_name()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
        "reporting_rate": s.reporting_rate,
        "on_time_rate": s.on_time_rate,
        "contributions": s.contributions.iter().map(|c| json!({
            "target_code": c.target_code,
            "target_display_name": c.target_display_name,
            "target_value": amount_json(c.target_value.as_ref()),
            "target_actual": amount_json(c.target_actual.as_ref()),
            "value": amount_json(c.contribution.as_ref().and_then(|c| c.value.as_ref())),
            "share_percent": c.share_percent,
        })).collect::<Vec<_>>(),
        "open_orders": s.open_orders.iter().map(|o| json!({
            "name": o.name,
            "title": o.title,
            "level": o.level().as_str_name().trim_start_matches("ORDER_LEVEL_"),
            "response_due": date_json(o.response_due.as_ref()),
            "overdue": o.overdue,
            "parts": o.parts.iter().map(|p| json!({
                "department": p.department,
                "state": p.state().as_str_name().trim_start_matches("ORDER_PART_STATE_"),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "recent_notices": s.recent_notices.iter().map(|n| json!({
            "name": n.name,
            "day": date_json(n.day.as_ref()),
            "level": n.level().as_str_name().trim_start_matches("NOTICE_LEVEL_"),
            "period": period_json(n.period.as_ref()),
            "reason": n.reason,
            "reason_en": n.reason_en,
            "acknowledged": n.acknowledge_time.is_some(),
            "acknowledge_time": n.acknowledge_time.as_ref().map(ToString::to_string),
            "read_after_seconds": crate::html::read_after_seconds(n),
        })).collect::<Vec<_>>(),
        "unreachable": s.unreachable,
    })
}

fn alert_json(a: &pb::Alert) -> Value {
    let details = match &a.details {
        Some(pb::alert::Details::Target(t)) => t.status.as_ref().map(target_json).unwrap_or(Value::Null),
        Some(pb::alert::Details::OverdueReport(o)) => json!({
            "department": o.department,
            "display_name": o.display_name,
            "period": period_json(o.period.as_ref()),
            "due_date": date_json(o.due_date.as_ref()),
            "days_overdue": o.days_overdue,
            "report": o.report,
        }),
        Some(pb::alert::Details::SupportRequest(s)) => json!({
            "requesting_department": s.requesting_department,
            "support_unit": s.support_unit,
            "description": s.blocker.as_ref().map(|b| b.description.clone()),
            "report": s.report,
        }),
        None => Value::Null,
    };
    json!({
        "kind": pb::AlertKind::try_from(a.kind).map(|k| k.as_str_name()).unwrap_or_default(),
        "measure_number": a.measure_number,
        "summary": a.summary,
        "details": details,
    })
}
