//! Server-sent events for live refresh, fed by WatchOverview, for whoever may read the overview.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response, sse},
};
use futures::StreamExt;
use serde_json::json;

use super::{Params, Web, json_error};
use crate::error::GatewayError;

pub(crate) async fn events(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
    let result = async {
        let viewer = web.viewer(&headers).await?;
        let public = viewer.is_public();
        let caller = viewer.caller();
        // A reader without a token of their own (local or public access) reads as the gateway,
        // but their stream still counts against the server's bound.
        let permit = match caller.token.as_deref() {
            Some(token) => web.0.streams.open(&caller.principal, Some(token)),
            None => web.0.streams.open_anonymous(),
        }
        .map_err(|status| GatewayError::Answered {
            status,
            http: http::StatusCode::TOO_MANY_REQUESTS,
        })?;
        let stream = web.0.hub.watch_overview(&caller, &web.0.plan, params.as_of()?).await?;
        Ok::<_, GatewayError>((stream, permit, public))
    }
    .await;
    let (stream, permit, public) = match result {
        Ok(opened) => opened,
        Err(error) => return json_error(error),
    };
    // The reader is checked again before every event and once per revocation window between them:
    // the stream ends once the session has ended or its credential was revoked.
    let still_allowed = {
        let (web, headers) = (web.clone(), headers.clone());
        move || {
            let (web, headers) = (web.clone(), headers.clone());
            async move { web.viewer(&headers).await.is_ok_and(|now| public || !now.is_public()) }
        }
    };
    let checked_between = {
        let (still_allowed, window) = (still_allowed.clone(), web.0.revocation_window);
        async move {
            loop {
                tokio::time::sleep(window).await;
                if !still_allowed().await {
                    break;
                }
            }
        }
    };
    let events = stream
        // The stream's place in the server's bound, held while it is served.
        .map(move |message| {
            let _held = &permit;
            message
        })
        .take_until(checked_between)
        .take_while(move |message| {
            let (ok, still_allowed) = (message.is_ok(), still_allowed.clone());
            async move { ok && still_allowed().await }
        })
        .filter_map(move |message| {
            std::future::ready(message.ok().map(|m| {
                let overview = m.overview.unwrap_or_default();
                // The names of changed reports say which unit reported: not for the aggregate figures.
                let changed_reports = if public { Vec::new() } else { m.changed_reports };
                let data = json!({
                    "compute_time": overview.compute_time.map(|t| t.to_string()),
                    "changed_reports": changed_reports,
                    "unreachable": overview.unreachable,
                });
                Ok::<_, Infallible>(sse::Event::default().event("overview").data(data.to_string()))
            }))
        });
    sse::Sse::new(events)
        .keep_alive(sse::KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
