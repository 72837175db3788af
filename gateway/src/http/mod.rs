//! HTTP for people, on the gateway's port: the dashboard pages, a unit's own page and report
//! forms (`/my`, `my.rs`), a read-only JSON API,
//! CSV exports, server-sent events for live refresh (fed by WatchOverview), the login and
//! sign-out forms, and the page's style sheet and script. Every answer carries the
//! security headers of [`security_headers`]. (Prometheus `/metrics` is not here: it is on
//! `gateway.metrics_listen`, apart from this public port.)

mod access;
mod api;
mod bulletin;
mod csv;
mod events;
mod my;
mod pages;
mod public;
mod session;
mod statics;
mod workbook;
mod xlsx;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use duban_kit::{
    settings::{DashboardAccess, GatewaySettings},
    streams::OpenStreams,
};
use duban_proto::{common::v1::Date, departments::v1::DepartmentKind, gateway::v1 as pb};
use serde::Deserialize;
use serde_json::json;

use self::{
    access::{Viewer, login, login_form, logout},
    api::{api_alerts, api_department, api_measure, api_overview, api_units},
    bulletin::api_bulletin,
    csv::{csv_overview, csv_reports, csv_units},
    events::events,
    my::{page_my, page_obligation, post_obligation},
    pages::{page_department, page_measure, page_overview, page_units},
    session::{MAX_SESSIONS, Sessions},
    statics::static_file,
    workbook::{my_template, my_upload, my_upload_form},
    xlsx::{xlsx_export, xlsx_overview, xlsx_reports, xlsx_units},
};
use crate::{
    calendar::{self, to_date},
    dashboard::{Caller, Dashboard},
    error::GatewayError,
    html::{self, Lang},
    metrics::GatewayMetrics,
    watch::Hub,
};

pub use access::{LoginForm, LogoutForm};
pub use api::overview_json;

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct Web(Arc<WebInner>);

#[derive(Debug)]
struct WebInner {
    dashboard: Dashboard,
    hub: Arc<Hub>,
    /// The server's bound on open streams, shared with WatchOverview.
    streams: OpenStreams,
    plan: String,
    /// Never `auto`: resolved when the gateway starts.
    access: DashboardAccess,
    sessions: Sessions,
    cookie_secure: bool,
    /// How long a revoked token may still be accepted (the token cache's lifetime): how often an
    /// open event stream checks its reader again.
    revocation_window: Duration,
    /// The monthly bulletin's document number format (`gateway.bulletin_number`).
    bulletin_number: String,
}

/// Why the dashboard's settings cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// `local` access on an address other hosts can reach.
    #[error(
        "gateway.dashboard_access = local lets anyone who reaches the port read everything, so it needs a \
         loopback gateway.listen (it is {0}); use sign_in, or public for the aggregate figures only"
    )]
    LocalNeedsLoopback(std::net::SocketAddr),
}

/// The dashboard access a gateway with `settings` serves: `auto` is `sign_in` (`duban up` resolves it
/// before it starts the gateway), and `local` is refused unless the gateway listens on loopback.
pub fn served_access(settings: &GatewaySettings) -> Result<DashboardAccess, AccessError> {
    let access = settings.dashboard_access.resolve(settings.listen, false);
    if access == DashboardAccess::Local && !settings.listen.ip().is_loopback() {
        return Err(AccessError::LocalNeedsLoopback(settings.listen));
    }
    Ok(access)
}

impl Web {
    /// Over the domain, for the plan of `settings.plan`, serving `access` (from [`served_access`]).
    pub fn new(
        dashboard: Dashboard,
        hub: Arc<Hub>,
        streams: OpenStreams,
        settings: &GatewaySettings,
        access: DashboardAccess,
        revocation_window: Duration,
    ) -> Self {
        Self(Arc::new(WebInner {
            dashboard,
            hub,
            streams,
            plan: format!("plans/{}", settings.plan),
            access,
            sessions: Sessions::new(settings.session_lifetime(), MAX_SESSIONS),
            cookie_secure: settings.cookie_secure,
            revocation_window: revocation_window.max(Duration::from_secs(1)),
            bulletin_number: settings.bulletin_number.clone(),
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
    /// ListUnitRankings: only units of this kind (`town_or_street`, ...; empty for all).
    #[serde(default)]
    pub kind: String,
    /// ListUnitRankings: the order (AIP-132), e.g. `on_time_rate desc`.
    #[serde(default)]
    pub order_by: String,
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
/// first, then the request's date, then the dashboard is asked. The measure detail and the
/// department scorecard (report text, blockers, a unit's detail) are for signed-in callers only.
impl Web {
    /// The overview and who it is for; an anonymous reader under public access gets the aggregate
    /// figures only.
    async fn overview_view(
        &self,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<(pb::Overview, Viewer), GatewayError> {
        let viewer = self.viewer(headers).await?;
        let as_of = params.as_of()?;
        let overview = self.overview_for(&viewer, as_of.as_ref()).await?;
        Ok((overview, viewer))
    }

    /// The overview `viewer` may see.
    async fn overview_for(&self, viewer: &Viewer, as_of: Option<&Date>) -> Result<pb::Overview, GatewayError> {
        let mut overview = self.0.dashboard.overview(&viewer.caller(), &self.0.plan, as_of).await?;
        if viewer.is_public() {
            public::aggregates_only(&mut overview);
        }
        Ok(overview)
    }

    async fn measure_view(
        &self,
        caller: &Caller,
        measure_number: String,
        params: &Params,
    ) -> Result<pb::GetMeasureDetailResponse, GatewayError> {
        let request = pb::GetMeasureDetailRequest {
            plan: self.0.plan.clone(),
            measure_number,
            as_of: params.as_of()?,
        };
        self.0.dashboard.measure_detail(caller, &request).await
    }

    async fn department_view(
        &self,
        caller: &Caller,
        department: String,
        params: &Params,
    ) -> Result<pb::GetDepartmentScorecardResponse, GatewayError> {
        let request = pb::GetDepartmentScorecardRequest {
            plan: self.0.plan.clone(),
            department,
            as_of: params.as_of()?,
        };
        self.0.dashboard.scorecard(caller, &request).await
    }

    async fn rankings_view(
        &self,
        caller: &Caller,
        params: &Params,
    ) -> Result<pb::ListUnitRankingsResponse, GatewayError> {
        let kind = match params.kind.trim() {
            "" => DepartmentKind::Unspecified,
            name => html::kind_from_param(name).ok_or_else(|| {
                let names: Vec<&str> = html::KINDS.iter().map(|(n, _)| *n).collect();
                GatewayError::invalid("kind", format!("must be one of {}", names.join(", ")))
            })?,
        };
        let request = pb::ListUnitRankingsRequest {
            plan: self.0.plan.clone(),
            as_of: params.as_of()?,
            kind: kind as i32,
            order_by: params.order_by.clone(),
        };
        self.0.dashboard.rankings(caller, &request).await
    }
}

/// The dashboard's routes. Pages, the JSON API and the CSV exports are counted in
/// `metrics` by route and status; the event stream, the login and sign-out forms and the
/// static files are not.
pub fn routes(web: Web, metrics: GatewayMetrics) -> Router {
    let counted = Router::new()
        .route("/", get(page_overview))
        .route("/measures/{number}", get(page_measure))
        .route("/departments/{code}", get(page_department))
        .route("/units", get(page_units))
        .route("/api/v1/units", get(api_units))
        .route("/api/v1/units.csv", get(csv_units))
        .route("/api/v1/units.xlsx", get(xlsx_units))
        .route("/api/v1/overview", get(api_overview))
        .route("/api/v1/overview.csv", get(csv_overview))
        .route("/api/v1/reports.csv", get(csv_reports))
        .route("/api/v1/overview.xlsx", get(xlsx_overview))
        .route("/api/v1/reports.xlsx", get(xlsx_reports))
        .route("/api/v1/export.xlsx", get(xlsx_export))
        .route("/api/v1/bulletin", get(api_bulletin))
        .route("/api/v1/measures/{number}", get(api_measure))
        .route("/api/v1/departments/{code}", get(api_department))
        .route("/api/v1/alerts", get(api_alerts))
        // The unit's own page and its report forms (issue 16).
        .route("/my", get(page_my))
        .route(
            "/my/obligations/{measure}/{period}",
            get(page_obligation).post(post_obligation),
        )
        // The unit's Excel path (issue 16 §3): its workbook for a month and the upload.
        .route("/my/template.xlsx", get(my_template))
        .route("/my/upload", get(my_upload_form).post(my_upload))
        .route_layer(middleware::from_fn_with_state(metrics, count_request));
    Router::new()
        .merge(counted)
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/static/{file}", get(static_file))
        .route("/api/v1/events", get(events))
        .layer(middleware::map_response(security_headers))
        .with_state(web)
}

/// The Content-Security-Policy of every answer: scripts, styles and connections from the gateway
/// itself only (no inline script or style), no plugins, frames or `<base>`, and forms that post
/// only back to the gateway.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Headers on every answer of the dashboard: the CSP, no MIME sniffing, no framing (CSP's
/// `frame-ancestors` and the older `X-Frame-Options` for browsers that lack it), no Referer to
/// other sites, and — unless the handler chose otherwise — no caching of what may be confidential.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_access_needs_a_loopback_address() {
        let mut settings = GatewaySettings::default();
        assert_eq!(served_access(&settings).unwrap(), DashboardAccess::SignIn);
        settings.dashboard_access = DashboardAccess::Local;
        assert_eq!(served_access(&settings).unwrap(), DashboardAccess::Local);
        settings.listen = "0.0.0.0:50051".parse().unwrap();
        let refused = served_access(&settings).unwrap_err();
        assert!(refused.to_string().contains("0.0.0.0:50051"), "{refused}");
        settings.dashboard_access = DashboardAccess::Public;
        assert_eq!(served_access(&settings).unwrap(), DashboardAccess::Public);
    }
}
