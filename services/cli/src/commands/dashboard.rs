//! `duban dashboard`: the leadership overview in a terminal: where each action stands,
//! which targets are behind their trajectory, and which units are late.

use anyhow::Context;
use duban_kit::Settings;
use duban_proto::{
    common::v1::Date,
    gateway::v1::{self as pb, RagStatus, dashboard_service_client::DashboardServiceClient},
};

use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// Prints the overview as of `as_of` (`YYYY-MM-DD`; empty: today).
pub async fn show(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    as_of: &str,
    json: bool,
) -> anyhow::Result<()> {
    let as_of = if as_of.is_empty() {
        None
    } else {
        Some(parse_date(as_of)?)
    };
    let mut client = DashboardServiceClient::new(connection.channel(settings, &settings.gateway.endpoint_url())?);
    let overview = client
        .get_overview(pb::GetOverviewRequest {
            plan: format!("plans/{plan}"),
            as_of,
        })
        .await
        .map_err(|s| call_failed("GetOverview", s))?
        .into_inner()
        .overview
        .unwrap_or_default();
    if json {
        return print_json(&summary(&overview));
    }
    print!("{}", render(&overview));
    Ok(())
}

fn parse_date(text: &str) -> anyhow::Result<Date> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--as-of {text:?} is not YYYY-MM-DD"))?;
    use chrono::Datelike;
    Ok(Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    })
}

fn rag(status: i32) -> &'static str {
    match RagStatus::try_from(status).unwrap_or_default() {
        RagStatus::Green => "GREEN",
        RagStatus::Amber => "AMBER",
        RagStatus::Red => "RED",
        RagStatus::NoData => "no data",
        RagStatus::Unspecified => "?",
    }
}

/// An amount exactly as the contract carries it, `-` for none.
fn amount(value: Option<&duban_proto::common::v1::Decimal>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.value.clone())
}

/// A rate the contract gives in percent (0-100).
fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}%"))
}

/// The overview as text: a banner for unreachable services, then actions, the targets
/// behind their trajectory, and the late units.
pub fn render(overview: &pb::Overview) -> String {
    let mut out = String::new();
    let as_of = overview
        .as_of
        .as_ref()
        .map_or_else(String::new, |d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day));
    let why = if overview.as_of_basis == pb::AsOfBasis::PlanEnd as i32 {
        " (the plan has ended: its last day)"
    } else {
        ""
    };
    out.push_str(&format!(
        "{} revision {} as of {as_of}{why}\n",
        overview.plan, overview.plan_revision
    ));
    if !overview.unreachable.is_empty() {
        out.push_str(&format!(
            "!! partial: no answer from {}\n",
            overview.unreachable.join(", ")
        ));
    }
    let actions: Vec<Vec<String>> = overview
        .actions
        .iter()
        .map(|a| {
            vec![
                a.action_number.to_string(),
                a.title.clone(),
                rag(a.rag).to_owned(),
                rag(a.discipline).to_owned(),
                a.percent.map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%")),
                format!("{}/{}/{}", a.red_count, a.amber_count, a.green_count),
            ]
        })
        .collect();
    out.push_str(&format!(
        "\nActions\n{}",
        table(
            &["#", "action", "delivery", "reporting", "progress", "measures R/A/G"],
            &actions
        )
    ));
    let behind: Vec<Vec<String>> = overview
        .targets
        .iter()
        .filter(|t| {
            matches!(
                RagStatus::try_from(t.rag).unwrap_or_default(),
                RagStatus::Red | RagStatus::Amber
            )
        })
        .map(|t| {
            let target = t.target.clone().unwrap_or_default();
            vec![
                target.measure_number,
                target.display_name,
                rag(t.rag).to_owned(),
                rag(t.discipline).to_owned(),
                amount(t.actual.as_ref()),
                amount(t.expected.as_ref()),
                amount(target.value.as_ref()),
                amount(t.forecast.as_ref()),
            ]
        })
        .collect();
    out.push_str(&format!(
        "\nTargets behind their trajectory ({})\n{}",
        behind.len(),
        table(
            &[
                "measure",
                "target",
                "delivery",
                "reporting",
                "actual",
                "expected",
                "target",
                "forecast"
            ],
            &behind
        )
    ));
    let compliance = overview.compliance.clone().unwrap_or_default();
    out.push_str(&format!(
        "\nReporting rate {}, on time {} ({} of {} expected reports received)\n",
        percent(compliance.reporting_rate),
        percent(compliance.on_time_rate),
        compliance.received_count,
        compliance.expected_count
    ));
    let late: Vec<Vec<String>> = compliance
        .late_units
        .iter()
        .map(|u| {
            vec![
                u.department.clone(),
                u.display_name.clone(),
                u.overdue_count.to_string(),
                u.max_days_overdue.to_string(),
            ]
        })
        .collect();
    out.push_str(&format!(
        "\nUnits late now ({})\n{}",
        late.len(),
        table(&["code", "unit", "overdue reports", "most days overdue"], &late)
    ));
    out
}

/// The overview's headline numbers as JSON.
fn summary(overview: &pb::Overview) -> serde_json::Value {
    serde_json::json!({
        "plan": overview.plan,
        "unreachable": overview.unreachable,
        "actions": overview.actions.iter().map(|a| serde_json::json!({
            "number": a.action_number, "title": a.title, "rag": rag(a.rag), "discipline": rag(a.discipline), "percent": a.percent,
        })).collect::<Vec<_>>(),
        "targets": overview.targets.iter().map(|t| {
            let target = t.target.clone().unwrap_or_default();
            serde_json::json!({
                "code": target.code, "rag": rag(t.rag), "discipline": rag(t.discipline),
                "actual": t.actual.as_ref().map(|v| v.value.as_str()),
                "expected": t.expected.as_ref().map(|v| v.value.as_str()),
                "value": target.value.as_ref().map(|v| v.value.as_str()),
                "forecast": t.forecast.as_ref().map(|v| v.value.as_str()),
            })
        }).collect::<Vec<_>>(),
        "late_units": overview.compliance.as_ref().map(|c| c.late_units.iter().map(|u| u.department.clone()).collect::<Vec<_>>()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_actions_behind_targets_and_late_units() {
        let overview = pb::Overview {
            plan: "plans/jiading-2023".into(),
            plan_revision: 1,
            as_of: Some(Date {
                year: 2023,
                month: 9,
                day: 30,
            }),
            actions: vec![pb::ActionProgress {
                action_number: 4,
                title: "扩大有效投资行动".into(),
                percent: Some(61.0),
                rag: RagStatus::Amber as i32,
                discipline: RagStatus::Red as i32,
                ..Default::default()
            }],
            targets: vec![pb::TargetStatus {
                target: Some(duban_proto::targets::v1::Target {
                    measure_number: "4.2".into(),
                    display_name: "全社会固定资产投资".into(),
                    value: Some("555".parse().unwrap()),
                    ..Default::default()
                }),
                actual: Some("300".parse().unwrap()),
                expected: Some("380.5".parse().unwrap()),
                rag: RagStatus::Red as i32,
                discipline: RagStatus::Green as i32,
                ..Default::default()
            }],
            compliance: Some(pb::ComplianceSummary {
                reporting_rate: Some(90.0),
                on_time_rate: Some(75.0),
                late_units: vec![pb::LateUnit {
                    department: "nanxiang-town".into(),
                    display_name: "南翔镇".into(),
                    overdue_count: 2,
                    max_days_overdue: 12,
                }],
                ..Default::default()
            }),
            unreachable: vec!["duban.targets.v1.TargetsService".into()],
            ..Default::default()
        };
        let text = render(&overview);
        assert!(text.contains("as of 2023-09-30"));
        assert!(text.contains("!! partial: no answer from duban.targets.v1.TargetsService"));
        assert!(
            text.lines().any(|l| l.starts_with("4  扩大有效投资行动")
                && l.contains("AMBER")
                && l.contains("RED")
                && l.contains("61%")),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.contains("全社会固定资产投资")
                && l.contains("RED")
                && l.contains("GREEN")
                && l.contains("380.5")),
            "{text}"
        );
        assert!(text.contains("Reporting rate 90.0%, on time 75.0%"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("nanxiang-town") && l.contains("南翔镇")),
            "{text}"
        );
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(
            parse_date("2023-09-30").unwrap(),
            Date {
                year: 2023,
                month: 9,
                day: 30
            }
        );
        assert!(parse_date("2023-9-31").is_err());
    }
}
