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

/// The page, or an error page for why there is none; a caller who may not look is sent elsewhere
/// ([`elsewhere`]).
fn page_answer(lang: Lang, page: Result<Result<String, askama::Error>, GatewayError>) -> Response {
    match page {
        Ok(page) => rendered(StatusCode::OK, page),
        Err(error) => elsewhere(lang, &error)
            .unwrap_or_else(|| rendered(error.http_status(), html::error_page(lang, &error.to_string()))),
    }
}

/// Where a browser that may not see a dashboard page goes, if anywhere: a unit signed in (its
/// role is not the dashboard's) to its own page, `/my`, rather than to a login form it has just
/// passed; anyone else who may not look to the login form.
pub(crate) fn elsewhere(lang: Lang, error: &GatewayError) -> Option<Response> {
    match (error, error.http_status()) {
        (GatewayError::RoleNotAllowed(_), _) => Some(
            Redirect::to(match lang {
                Lang::Zh => "/my",
                Lang::En => "/my?lang=en",
            })
            .into_response(),
        ),
        (_, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Some(Redirect::to("/login").into_response()),
        _ => None,
    }
}

pub(crate) async fn page_overview(
    State(web): State<Web>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = params.lang();
    let page = async {
        let viewer = web.viewer(&headers).await?;
        let caller = viewer.caller();
        let as_of = params.as_of()?;
        let plan = &web.0.plan;
        let dashboard = &web.0.dashboard;
        let alerts_request = pb::ListAlertsRequest {
            plan: plan.clone(),
            as_of,
            page_size: 100,
            ..Default::default()
        };
        // The overview and the plan's structure are needed; the heatmap and the alerts may be missing,
        // and an anonymous reader under public access gets neither (they are per unit).
        let full = !viewer.is_public();
        let (overview, catalogue, calendar, alerts) = futures::join!(
            web.overview_for(&viewer, as_of.as_ref()),
            dashboard.catalogue(plan),
            async {
                match full {
                    true => dashboard.compliance_calendar(&caller, plan, as_of.as_ref()).await,
                    false => Ok(None),
                }
            },
            async {
                match full {
                    true => dashboard.alerts(&caller, &alerts_request).await.map(Some),
                    false => Ok(None),
                }
            },
        );
        let (overview, catalogue) = (overview?, catalogue?);
        Ok(html::overview_page(
            lang,
            viewer.audience(),
            &catalogue,
            &overview,
            calendar.ok().flatten().as_deref(),
            alerts.ok().flatten().as_ref(),
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
    let page = async {
        let viewer = web.signed_in_viewer(&headers).await?;
        let detail = web.measure_view(&viewer.caller(), number, &params).await?;
        Ok(html::measure_page(lang, viewer.audience(), &detail, &params.as_of))
    }
    .await;
    page_answer(lang, page)
}

pub(crate) async fn page_department(
    State(web): State<Web>,
    Path(code): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let lang = params.lang();
    let page = async {
        let viewer = web.signed_in_viewer(&headers).await?;
        let scorecard = web.department_view(&viewer.caller(), code, &params).await?;
        Ok(html::department_page(
            lang,
            viewer.audience(),
            &scorecard,
            &params.as_of,
        ))
    }
    .await;
    page_answer(lang, page)
}

pub(crate) async fn page_units(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let lang = params.lang();
    let page = async {
        let viewer = web.signed_in_viewer(&headers).await?;
        let rankings = web.rankings_view(&viewer.caller(), &params).await?;
        Ok(html::units_page(
            lang,
            viewer.audience(),
            &rankings,
            &params.as_of,
            params.kind.trim(),
        ))
    }
    .await;
    page_answer(lang, page)
}
