//! CSV exports of the overview and of every report, with a byte-order mark for spreadsheet programs.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use duban_proto::reporting::v1::{ListReportsRequest, OverallStatus, Report};

use super::{Params, Web, json_error};
use crate::{calendar::period_label, error::GatewayError, rag::Rag};

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn csv_row(fields: &[String]) -> String {
    let mut row = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    row.push_str("\r\n");
    row
}

fn opt(value: Option<f64>) -> String {
    value.map(|v| format!("{v}")).unwrap_or_default()
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        // A byte-order mark, so that spreadsheet programs read the Chinese as UTF-8.
        format!("\u{feff}{body}"),
    )
        .into_response()
}

pub(crate) async fn csv_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let result = async {
        let caller = web.caller(&headers).await?;
        let overview = web
            .0
            .dashboard
            .overview(&caller, &web.0.plan, params.as_of()?.as_ref())
            .await?;
        let mut out = csv_row(
            &[
                "section", "number", "code", "name", "rag", "actual", "expected", "target", "percent", "forecast",
            ]
            .map(str::to_owned),
        );
        for a in &overview.actions {
            out.push_str(&csv_row(&[
                "action".into(),
                a.action_number.to_string(),
                String::new(),
                a.title.clone(),
                Rag::from_proto(a.rag).name().into(),
                String::new(),
                String::new(),
                String::new(),
                opt(a.percent),
                String::new(),
            ]));
        }
        for m in &overview.measures {
            out.push_str(&csv_row(&[
                "measure".into(),
                m.measure_number.clone(),
                String::new(),
                m.title.clone(),
                Rag::from_proto(m.rag).name().into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]));
        }
        for t in &overview.targets {
            let target = t.target.clone().unwrap_or_default();
            out.push_str(&csv_row(&[
                "target".into(),
                target.measure_number.clone(),
                target.code.clone(),
                target.display_name.clone(),
                Rag::from_proto(t.rag).name().into(),
                opt(t.actual),
                opt(t.expected),
                format!("{}", target.value),
                opt(t.percent_complete),
                opt(t.forecast),
            ]));
        }
        Ok::<_, GatewayError>(out)
    }
    .await;
    match result {
        Ok(body) => csv_response("overview.csv", body),
        Err(error) => json_error(error),
    }
}

pub(crate) async fn csv_reports(State(web): State<Web>, headers: HeaderMap) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let result = async {
        let caller = web.caller(&headers).await?;
        let mut client = web.0.dashboard.backends().reporting(caller.token.as_deref());
        let mut out = csv_row(
            &[
                "report",
                "measure",
                "department",
                "period",
                "revision",
                "state",
                "overall_status",
                "provisional",
                "on_time",
                "submit_time",
                "narrative",
            ]
            .map(str::to_owned),
        );
        let mut token = String::new();
        loop {
            let page = client
                .list_reports(ListReportsRequest {
                    parent: web.0.plan.clone(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(|status| {
                    if crate::backends::unreachable(&status) {
                        GatewayError::Dependency {
                            service: duban_proto::reporting::v1::reporting_service_server::SERVICE_NAME,
                            message: status.message().to_owned(),
                        }
                    } else {
                        GatewayError::Downstream(status)
                    }
                })?
                .into_inner();
            for r in &page.reports {
                out.push_str(&csv_row(&report_row(r)));
            }
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        Ok::<_, GatewayError>(out)
    }
    .await;
    match result {
        Ok(body) => csv_response("reports.csv", body),
        Err(error) => json_error(error),
    }
}

fn report_row(r: &Report) -> Vec<String> {
    vec![
        r.name.clone(),
        r.measure_number.clone(),
        r.department.clone(),
        r.period.as_ref().map(period_label).unwrap_or_default(),
        r.revision.to_string(),
        duban_proto::reporting::v1::report::State::try_from(r.state)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default(),
        OverallStatus::try_from(r.overall_status)
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default(),
        r.provisional.to_string(),
        r.on_time.to_string(),
        r.submit_time.as_ref().map(ToString::to_string).unwrap_or_default(),
        r.narrative.clone(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
