//! HTTP for people, on the gateway's port: the dashboard pages, a read-only JSON API,
//! CSV exports, server-sent events for live refresh (fed by WatchOverview), a login
//! form when `gateway.require_token` is set, and Prometheus `/metrics`.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response, sse},
    routing::get,
};
use duban_kit::{Principal, settings::GatewaySettings};
use duban_proto::{
    common::v1::Date,
    gateway::v1 as pb,
    reporting::v1::{ListReportsRequest, OverallStatus, Report},
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::{
    calendar::{self, date_label, period_label, to_date},
    dashboard::{Caller, Dashboard},
    error::GatewayError,
    html::{self, Lang},
    rag::Rag,
    watch::Hub,
};

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct Web(Arc<WebInner>);

#[derive(Debug)]
struct WebInner {
    dashboard: Dashboard,
    hub: Arc<Hub>,
    interval: Duration,
    stop: CancellationToken,
    plan: String,
    require_token: bool,
}

impl Web {
    /// Over the domain, for the plan of `settings.plan`.
    pub fn new(
        dashboard: Dashboard,
        hub: Arc<Hub>,
        interval: Duration,
        stop: CancellationToken,
        settings: &GatewaySettings,
    ) -> Self {
        Self(Arc::new(WebInner {
            dashboard,
            hub,
            interval,
            stop,
            plan: format!("plans/{}", settings.plan),
            require_token: settings.require_token,
        }))
    }

    /// The caller: anyone when the dashboard is open, otherwise the LEADERSHIP or ADMIN
    /// owner of the bearer token or the login cookie.
    async fn caller(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
        if !self.0.require_token {
            return Ok(Caller::anonymous());
        }
        let token = bearer(headers)
            .or_else(|| cookie(headers, COOKIE))
            .ok_or(duban_kit::auth::AuthError::Missing)?;
        let caller = self.0.dashboard.caller_from_token(&token).await?;
        match caller.principal {
            Principal::Leadership | Principal::Admin | Principal::Service => Ok(caller),
            ref other => Err(GatewayError::RoleNotAllowed(format!(
                "the dashboard needs a leadership token; the caller is {}",
                other.label()
            ))),
        }
    }
}

const COOKIE: &str = "duban_token";

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then(|| token.to_owned())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// Query parameters of every page and API call.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// `YYYY-MM-DD`; empty means today.
    #[serde(default)]
    pub as_of: String,
    /// `en` for English, anything else Chinese.
    #[serde(default)]
    pub lang: String,
    /// ListAlerts: only this department.
    #[serde(default)]
    pub department: String,
    /// ListAlerts: only this measure.
    #[serde(default)]
    pub measure: String,
    /// ListAlerts: page size.
    #[serde(default)]
    pub page_size: i32,
    /// ListAlerts: page token.
    #[serde(default)]
    pub page_token: String,
}

impl Params {
    fn as_of(&self) -> Result<Option<Date>, GatewayError> {
        if self.as_of.trim().is_empty() {
            return Ok(None);
        }
        calendar::parse_date(&self.as_of)
            .map(|d| Some(to_date(d)))
            .ok_or_else(|| GatewayError::invalid("as_of", "must be a date written YYYY-MM-DD"))
    }

    fn lang(&self) -> Lang {
        if self.lang == "en" { Lang::En } else { Lang::Zh }
    }
}

/// The dashboard's routes.
pub fn routes(web: Web) -> Router {
    Router::new()
        .route("/", get(page_overview))
        .route("/measures/{number}", get(page_measure))
        .route("/departments/{code}", get(page_department))
        .route("/login", get(login_form).post(login))
        .route("/api/v1/overview", get(api_overview))
        .route("/api/v1/overview.csv", get(csv_overview))
        .route("/api/v1/reports.csv", get(csv_reports))
        .route("/api/v1/measures/{number}", get(api_measure))
        .route("/api/v1/departments/{code}", get(api_department))
        .route("/api/v1/alerts", get(api_alerts))
        .route("/api/v1/events", get(events))
        .route("/metrics", get(metrics))
        .with_state(web)
}

fn json_error(error: GatewayError) -> Response {
    let status = error.http_status();
    (
        status,
        Json(json!({ "error": { "code": status.as_u16(), "message": error.to_string() } })),
    )
        .into_response()
}

fn page_error(error: GatewayError, lang: Lang) -> Response {
    let status = error.http_status();
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Redirect::to("/login").into_response();
    }
    (status, Html(html::error_page(lang, &error.to_string()))).into_response()
}

async fn page_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let lang = params.lang();
    let result = async {
        let caller = web.caller(&headers).await?;
        let as_of = params.as_of()?;
        let plan = &web.0.plan;
        let dashboard = &web.0.dashboard;
        let alerts_request = pb::ListAlertsRequest {
            plan: plan.clone(),
            as_of,
            page_size: 100,
            ..Default::default()
        };
        let (overview, catalogue, calendar, alerts) = futures::join!(
            dashboard.overview(&caller, plan, as_of.as_ref()),
            dashboard.catalogue(plan),
            dashboard.compliance_calendar(&caller, plan, as_of.as_ref()),
            dashboard.alerts(&caller, &alerts_request),
        );
        let overview = overview?;
        let catalogue = catalogue?;
        count(&overview);
        Ok::<_, GatewayError>(html::overview_page(
            lang,
            &catalogue,
            &overview,
            calendar.ok().flatten().as_deref(),
            alerts.ok().as_ref(),
            &params.as_of,
        ))
    }
    .await;
    match result {
        Ok(page) => Html(page).into_response(),
        Err(error) => page_error(error, lang),
    }
}

fn count(overview: &pb::Overview) {
    crate::metrics::OVERVIEWS.inc();
    if !overview.unreachable.is_empty() {
        crate::metrics::PARTIAL.inc();
    }
}

async fn page_measure(
    State(web): State<Web>,
    Path(number): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let lang = params.lang();
    let result = async {
        let caller = web.caller(&headers).await?;
        let request = pb::GetMeasureDetailRequest {
            plan: web.0.plan.clone(),
            measure_number: number,
            as_of: params.as_of()?,
        };
        let detail = web.0.dashboard.measure_detail(&caller, &request).await?;
        Ok::<_, GatewayError>(html::measure_page(lang, &detail, &params.as_of))
    }
    .await;
    match result {
        Ok(page) => Html(page).into_response(),
        Err(error) => page_error(error, lang),
    }
}

async fn page_department(
    State(web): State<Web>,
    Path(code): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let lang = params.lang();
    let result = async {
        let caller = web.caller(&headers).await?;
        let request = pb::GetDepartmentScorecardRequest {
            plan: web.0.plan.clone(),
            department: code,
            as_of: params.as_of()?,
        };
        let scorecard = web.0.dashboard.scorecard(&caller, &request).await?;
        Ok::<_, GatewayError>(html::department_page(lang, &scorecard, &params.as_of))
    }
    .await;
    match result {
        Ok(page) => Html(page).into_response(),
        Err(error) => page_error(error, lang),
    }
}

async fn login_form(Query(params): Query<Params>) -> Html<String> {
    Html(html::login_page(params.lang(), None))
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The bearer token.
    pub token: String,
}

async fn login(State(web): State<Web>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim().to_owned();
    let ok = match web.0.dashboard.caller_from_token(&token).await {
        Ok(caller) => matches!(caller.principal, Principal::Leadership | Principal::Admin),
        Err(_) => false,
    };
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            Html(html::login_page(
                Lang::Zh,
                Some("令牌无效，或不是领导（LEADERSHIP）令牌 / not a valid leadership token"),
            )),
        )
            .into_response();
    }
    let mut response = Redirect::to("/").into_response();
    let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn api_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let result = async {
        let caller = web.caller(&headers).await?;
        let overview = web
            .0
            .dashboard
            .overview(&caller, &web.0.plan, params.as_of()?.as_ref())
            .await?;
        count(&overview);
        Ok::<_, GatewayError>(overview_json(&overview))
    }
    .await;
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => json_error(error),
    }
}

async fn api_measure(
    State(web): State<Web>,
    Path(number): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let result = async {
        let caller = web.caller(&headers).await?;
        let request = pb::GetMeasureDetailRequest {
            plan: web.0.plan.clone(),
            measure_number: number,
            as_of: params.as_of()?,
        };
        let detail = web.0.dashboard.measure_detail(&caller, &request).await?;
        Ok::<_, GatewayError>(measure_json(&detail))
    }
    .await;
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => json_error(error),
    }
}

async fn api_department(
    State(web): State<Web>,
    Path(code): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
    let result = async {
        let caller = web.caller(&headers).await?;
        let request = pb::GetDepartmentScorecardRequest {
            plan: web.0.plan.clone(),
            department: code,
            as_of: params.as_of()?,
        };
        let scorecard = web.0.dashboard.scorecard(&caller, &request).await?;
        Ok::<_, GatewayError>(scorecard_json(&scorecard))
    }
    .await;
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => json_error(error),
    }
}

async fn api_alerts(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    crate::metrics::HTTP_REQUESTS.inc();
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
        Ok::<_, GatewayError>(json!({
            "alerts": alerts.alerts.iter().map(alert_json).collect::<Vec<_>>(),
            "next_page_token": alerts.next_page_token,
            "unreachable": alerts.unreachable,
        }))
    }
    .await;
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => json_error(error),
    }
}

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

async fn csv_overview(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
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

async fn csv_reports(State(web): State<Web>, headers: HeaderMap) -> Response {
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
                            service: crate::backends::REPORTING,
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

async fn events(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let caller = web.caller(&headers).await?;
        crate::watch::watch_overview(
            web.0.dashboard.clone(),
            web.0.hub.clone(),
            caller,
            web.0.plan.clone(),
            params.as_of()?,
            web.0.interval,
            web.0.stop.clone(),
        )
        .await
    }
    .await;
    let stream = match result {
        Ok(stream) => stream,
        Err(error) => return json_error(error),
    };
    let events = stream
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(message.ok().map(|m| {
                let overview = m.overview.unwrap_or_default();
                let data = json!({
                    "compute_time": overview.compute_time.map(|t| t.to_string()),
                    "changed_reports": m.changed_reports,
                    "unreachable": overview.unreachable,
                });
                Ok::<_, Infallible>(sse::Event::default().event("overview").data(data.to_string()))
            }))
        });
    sse::Sse::new(events)
        .keep_alive(sse::KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

fn date_json(date: Option<&Date>) -> Value {
    date.map_or(Value::Null, |d| Value::String(date_label(d)))
}

fn period_json(period: Option<&duban_proto::common::v1::Period>) -> Value {
    period.map_or(Value::Null, |p| Value::String(period_label(p)))
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
        "value": target.value,
        "comparator": duban_proto::common::v1::Comparator::try_from(target.comparator).map(|c| c.as_str_name()).unwrap_or_default(),
        "actual": t.actual,
        "latest_period": period_json(t.latest_period.as_ref()),
        "includes_provisional": t.includes_provisional,
        "expected": t.expected,
        "expected_at_latest_period": t.expected_at_latest_period,
        "rag": rag_json(t.rag),
        "percent_complete": t.percent_complete,
        "forecast": t.forecast,
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
        "compliance": duban_proto::reporting::v1::ComplianceStatus::try_from(u.compliance).map(|s| s.as_str_name()).unwrap_or_default(),
    })
}

/// The overview as JSON.
pub fn overview_json(o: &pb::Overview) -> Value {
    json!({
        "plan": o.plan,
        "plan_revision": o.plan_revision,
        "as_of": date_json(o.as_of.as_ref()),
        "compute_time": o.compute_time.as_ref().map(ToString::to_string),
        "actions": o.actions.iter().map(|a| json!({
            "action_number": a.action_number,
            "title": a.title,
            "title_en": a.title_en,
            "percent": a.percent,
            "rag": rag_json(a.rag),
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
        "rag": rag_json(d.rag),
        "targets": d.targets.iter().map(|t| json!({
            "status": t.status.as_ref().map(target_json),
            "series": t.series.iter().map(|p| json!({
                "period": period_json(p.period.as_ref()),
                "expected": p.expected,
                "actual": p.actual,
                "provisional": p.provisional,
            })).collect::<Vec<_>>(),
            "contributions": t.contributions.iter().map(|c| json!({
                "department": c.department,
                "value": c.value,
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
        "measures": s.measures.iter().map(|m| json!({
            "measure_number": m.measure_number,
            "title": m.title,
            "lead": m.lead,
            "via_group": m.via_group,
            "rag": rag_json(m.rag),
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
            "target_value": c.target_value,
            "target_actual": c.target_actual,
            "value": c.contribution.as_ref().and_then(|c| c.value),
            "share_percent": c.share_percent,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; duban_token=dbn_x"));
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("dbn_x"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer dbn_y"));
        assert_eq!(bearer(&headers).as_deref(), Some("dbn_y"));
    }
}
