//! The dashboard pages (overview, measure, department), rendered by [`crate::html`]; no access sends to the login form.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use duban_proto::gateway::v1 as pb;

use super::{Params, Web, count};
use crate::{
    error::GatewayError,
    html::{self, Lang},
};

fn page_error(error: GatewayError, lang: Lang) -> Response {
    let status = error.http_status();
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Redirect::to("/login").into_response();
    }
    (status, Html(html::error_page(lang, &error.to_string()))).into_response()
}

pub(crate) async fn page_overview(
    State(web): State<Web>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
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

pub(crate) async fn page_measure(
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

pub(crate) async fn page_department(
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
