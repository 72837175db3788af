//! Server-sent events for live refresh, fed by WatchOverview.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response, sse},
};
use futures::StreamExt;
use serde_json::json;

use super::{Params, Web, json_error};

pub(crate) async fn events(State(web): State<Web>, Query(params): Query<Params>, headers: HeaderMap) -> Response {
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
