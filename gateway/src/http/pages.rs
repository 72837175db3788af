//! The dashboard pages (overview, measure, department), rendered by [`crate::html`]; no access sends to the login form.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use duban_proto::gateway::v1 as pb;

use super::{Params, Web};
use crate::{
    error::GatewayError,
    html::{self, Lang},
};

/// A rendered page with its status, or a bare 500 when the template failed to render.
pub(crate) fn rendered(status: StatusCode, page: Result<String, askama::Error>) -> Response {
    match page {
        Ok(page) => (status, Html(page)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a dashboard page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// The page, or an error page for why there is none; a caller who may not look is sent to the login form.
fn page_answer(lang: Lang, page: Result<Result<String, askama::Error>, GatewayError>) -> Response {
    match page {
        Ok(page) => rendered(StatusCode::OK, page),
        Err(error) => {
            let status = error.http_status();
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                return Redirect::to("/login").into_response();
            }
            rendered(status, html::error_page(lang, &error.to_string()))
        }
    }
}

pub(crate) async fn page_overview(
    State(web): State<Web>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = params.lang();
    let page = async {
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
        // The overview and the plan's structure are needed; the heatmap and the alerts may be missing.
        let (overview, catalogue, calendar, alerts) = futures::join!(
            dashboard.overview(&caller, plan, as_of.as_ref()),
            dashboard.catalogue(plan),
            dashboard.compliance_calendar(&caller, plan, as_of.as_ref()),
            dashboard.alerts(&caller, &alerts_request),
        );
        let (overview, catalogue) = (overview?, catalogue?);
        Ok(html::overview_page(
            lang,
            &catalogue,
            &overview,
            calendar.ok().flatten().as_deref(),
            alerts.ok().as_ref(),
            &params.as_of,
        ))
    }
    .await;
    page_answer(lang, page)
}

pub(crate) async fn page_measure(
    State(web): State<Web>,
    Path(number): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = params.lang();
    let detail = web.measure_view(&headers, number, &params).await;
    page_answer(lang, detail.map(|d| html::measure_page(lang, &d, &params.as_of)))
}

pub(crate) async fn page_department(
    State(web): State<Web>,
    Path(code): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = params.lang();
    let scorecard = web.department_view(&headers, code, &params).await;
    page_answer(lang, scorecard.map(|s| html::department_page(lang, &s, &params.as_of)))
}
