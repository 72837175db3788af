//! HTTP for people, on the gateway's port: the dashboard pages, a read-only JSON API,
//! CSV exports, server-sent events for live refresh (fed by WatchOverview), and a login
//! form when `gateway.require_token` is set. (Prometheus `/metrics` is not here: it is
//! on `gateway.metrics_listen`, apart from this public port.)

mod access;
mod api;
mod csv;
mod events;
mod pages;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::HeaderMap,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use duban_kit::settings::GatewaySettings;
use duban_proto::{common::v1::Date, gateway::v1 as pb};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use self::{
    access::{login, login_form},
    api::{api_alerts, api_department, api_measure, api_overview},
    csv::{csv_overview, csv_reports},
    events::events,
    pages::{page_department, page_measure, page_overview},
};
use crate::{
    calendar::{self, to_date},
    dashboard::Dashboard,
    error::GatewayError,
    html::Lang,
    metrics::GatewayMetrics,
    watch::Hub,
};

pub use access::LoginForm;
pub use api::overview_json;

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

/// The views fetched for a page, the JSON API and the CSV exports alike: the caller is checked
/// first, then the request's date, then the dashboard is asked.
impl Web {
    async fn overview_view(&self, headers: &HeaderMap, params: &Params) -> Result<pb::Overview, GatewayError> {
        let caller = self.caller(headers).await?;
        let as_of = params.as_of()?;
        self.0.dashboard.overview(&caller, &self.0.plan, as_of.as_ref()).await
    }

    async fn measure_view(
        &self,
        headers: &HeaderMap,
        measure_number: String,
        params: &Params,
    ) -> Result<pb::GetMeasureDetailResponse, GatewayError> {
        let caller = self.caller(headers).await?;
        let request = pb::GetMeasureDetailRequest {
            plan: self.0.plan.clone(),
            measure_number,
            as_of: params.as_of()?,
        };
        self.0.dashboard.measure_detail(&caller, &request).await
    }

    async fn department_view(
        &self,
        headers: &HeaderMap,
        department: String,
        params: &Params,
    ) -> Result<pb::GetDepartmentScorecardResponse, GatewayError> {
        let caller = self.caller(headers).await?;
        let request = pb::GetDepartmentScorecardRequest {
            plan: self.0.plan.clone(),
            department,
            as_of: params.as_of()?,
        };
        self.0.dashboard.scorecard(&caller, &request).await
    }
}

/// The dashboard's routes. Pages, the JSON API and the CSV exports are counted in
/// `metrics` by route and status; the event stream and the login form are not.
pub fn routes(web: Web, metrics: GatewayMetrics) -> Router {
    let counted = Router::new()
        .route("/", get(page_overview))
        .route("/measures/{number}", get(page_measure))
        .route("/departments/{code}", get(page_department))
        .route("/api/v1/overview", get(api_overview))
        .route("/api/v1/overview.csv", get(csv_overview))
        .route("/api/v1/reports.csv", get(csv_reports))
        .route("/api/v1/measures/{number}", get(api_measure))
        .route("/api/v1/departments/{code}", get(api_department))
        .route("/api/v1/alerts", get(api_alerts))
        .route_layer(middleware::from_fn_with_state(metrics, count_request));
    Router::new()
        .merge(counted)
        .route("/login", get(login_form).post(login))
        .route("/api/v1/events", get(events))
        .with_state(web)
}

async fn count_request(State(metrics): State<GatewayMetrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // A route layer runs only for matched routes, so the route is always known.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |matched| matched.as_str().to_owned());
    let response = next.run(request).await;
    metrics.http_answered(&route, response.status().as_u16(), started.elapsed());
    response
}

/// A JSON answer, or the error as `{"error": {"code", "message"}}` with its HTTP status.
pub(crate) fn json_answer(result: Result<serde_json::Value, GatewayError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => json_error(error),
    }
}

pub(crate) fn json_error(error: GatewayError) -> Response {
    let status = error.http_status();
    (
        status,
        Json(json!({ "error": { "code": status.as_u16(), "message": error.to_string() } })),
    )
        .into_response()
}
