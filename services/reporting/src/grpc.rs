//! The gRPC adapter: each handler authenticates, hands the request to the domain, and
//! turns the domain's error into a status. No rule lives here. SupervisionOrdersService,
//! served beside ReportingService on the same state, is in `orders`.

mod orders;

pub use orders::OrdersGrpc;

mod notices;

use std::pin::Pin;

use duban_kit::{
    Authenticator, Ready,
    auth::Verified,
    server::{Reply, reply},
};
use duban_proto::reporting::v1::{self as pb, reporting_service_server::ReportingService};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    error::ReportingError,
    service::{Item, MAX_STREAM_ITEMS, Reporting, ReviewRequest, Turn, method},
};

pub use notices::NoticesGrpc;

/// Most items of one SubmitReports stream being checked and written at once. Each costs
/// about 20 KB of futures while it waits for a read connection (heaptrack, BENCHMARKS.md
/// "Third run"): with up to the writer's whole batch (128) a stream, 64 streams of 100
/// items held 190 MB at their peak. 32 a stream still fills a batch from four streams.
const ITEMS_IN_FLIGHT: usize = 32;

/// What the handlers need once the database is ready.
#[derive(Debug)]
pub struct State {
    /// The domain.
    pub reporting: Reporting,
    /// Checks callers' tokens.
    pub auth: Authenticator,
    /// On SQLite, the claim on the database file, held while the server runs.
    pub _single_copy: Option<std::sync::Arc<std::fs::File>>,
}

impl duban_kit::server::Authenticates for State {
    fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

/// Implements `duban.reporting.v1.ReportingService`.
#[derive(Debug, Clone)]
pub struct ReportingGrpc {
    /// The state, once the database is ready.
    pub ready: Ready<State>,
    /// The bound on open WatchReportEvents streams.
    pub streams: duban_kit::streams::OpenStreams,
    /// How often an open stream's token is verified again (`auth.cache_ttl_seconds`).
    pub revocation_window: std::time::Duration,
}

impl ReportingGrpc {
    async fn caller<T>(&self, request: &Request<T>) -> Result<(&State, Verified), Status> {
        self.ready
            .caller_with(request.metadata(), |e| ReportingError::Auth(e).into())
            .await
    }
}

/// The stream of WatchReportEvents.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::WatchReportEventsResponse, Status>> + Send>>;

/// A stream item's error: the `google.rpc.Status` that SubmitReport would have answered,
/// with its details (ErrorInfo, BadRequest …), decoded from that very status so that the
/// two cannot differ.
fn item_error(error: &ReportingError) -> tonic_types::pb::Status {
    let status = Status::from(error.clone());
    // Every ReportingError status is built with its details, so its `details()` are the
    // encoded google.rpc.Status; the fallback keeps at least the code and the message.
    <tonic_types::pb::Status as prost::Message>::decode(status.details()).unwrap_or_else(|_| tonic_types::pb::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    })
}

/// One SubmitReports item on its way: its index, its echoed request id and its result.
type ItemFuture = Pin<Box<dyn std::future::Future<Output = (i32, String, Result<pb::Report, ReportingError>)> + Send>>;

#[tonic::async_trait]
impl ReportingService for ReportingGrpc {
    async fn submit_report(&self, request: Request<pb::SubmitReportRequest>) -> Reply<pb::Report> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        let request = request.into_inner();
        reply(
            state
                .reporting
                .submit(
                    &caller,
                    request.clone(),
                    method::SUBMIT,
                    Item::default(),
                    Turn::default(),
                    &request,
                )
                .await,
        )
    }

    async fn submit_reports(
        &self,
        request: Request<Streaming<pb::SubmitReportsRequest>>,
    ) -> Reply<pb::SubmitReportsResponse> {
        let (state, caller) = self.caller(&request).await?;
        if matches!(
            caller.principal,
            duban_kit::Principal::Leadership | duban_kit::Principal::Service
        ) {
            let error = ReportingError::RoleNotAllowed(format!(
                "submitting reports is not allowed for {}",
                caller.principal.label()
            ));
            return Err(state
                .reporting
                .audit_refusal(&caller, method::SUBMIT_MANY, "", error)
                .await
                .into());
        }
        // Kit's bounds layer leaves an item past a field bound to its own result
        // (`stream_item_results` on the RPC); its violations wait here.
        let item_violations = duban_kit::bounds::ItemViolations::of(request.extensions());
        let mut stream = request.into_inner();
        let mut pending = futures::stream::FuturesOrdered::new();
        let mut turns = Turn::chain();
        let mut index = 0usize;
        let mut results = Vec::new();
        // Items are validated and queued concurrently (up to ITEMS_IN_FLIGHT), so the
        // writer can commit many of them in one transaction; results keep stream order.
        loop {
            tokio::select! {
                item = stream.next(), if pending.len() < ITEMS_IN_FLIGHT => match item {
                    None => break,
                    Some(Err(status)) => return Err(status),
                    // Kit's bounds layer already ends the stream there; this keeps the
                    // limit if the handler is ever served without it.
                    Some(Ok(_)) if index >= MAX_STREAM_ITEMS => {
                        return Err(duban_kit::bounds::too_many_stream_messages(
                            "duban.reporting.v1.ReportingService/SubmitReports",
                            MAX_STREAM_ITEMS,
                        ));
                    }
                    Some(Ok(item)) => {
                        let i = index as i32;
                        let violations = item_violations.as_ref().map(|v| v.take(index)).unwrap_or_default();
                        index += 1;
                        let reporting = state.reporting.clone();
                        let caller = caller.clone();
                        if !violations.is_empty() {
                            // No turn: the next item waits for the one before this.
                            pending.push_back(Box::pin(async move {
                                // The echo keeps the result within its own bounds.
                                let request_id = if violations.iter().any(|v| v.field == "request_id") {
                                    String::new()
                                } else {
                                    item.request_id
                                };
                                let error = reporting
                                    .audit_refusal(&caller, method::SUBMIT_MANY, "", ReportingError::Invalid(violations))
                                    .await;
                                (i, request_id, Err(error))
                            }) as ItemFuture);
                            continue;
                        }
                        let turn = turns();
                        pending.push_back(Box::pin(async move {
                            let request_id = item.request_id.clone();
                            let submit = pb::SubmitReportRequest {
                                parent: item.parent.clone(),
                                report: item.report.clone(),
                                request_id: item.request_id.clone(),
                                validate_only: item.validate_only,
                                source: item.source,
                            };
                            let extra = Item { backfill: item.backfill, submit_time: item.submit_time, index: Some(i) };
                            let result = reporting.submit(&caller, submit, method::SUBMIT_MANY, extra, turn, &item).await;
                            (i, request_id, result)
                        }) as ItemFuture);
                    }
                },
                Some(done) = pending.next(), if !pending.is_empty() => results.push(done),
            }
        }
        while let Some(done) = pending.next().await {
            results.push(done);
        }
        let mut response = pb::SubmitReportsResponse::default();
        for (index, request_id, result) in results {
            let outcome = match result {
                Ok(report) => {
                    response.succeeded_count += 1;
                    pb::submit_reports_result::Outcome::Report(report)
                }
                Err(error) => {
                    response.failed_count += 1;
                    pb::submit_reports_result::Outcome::Error(item_error(&error))
                }
            };
            response.results.push(pb::SubmitReportsResult {
                index,
                request_id,
                outcome: Some(outcome),
            });
        }
        Ok(Response::new(response))
    }

    async fn get_report(&self, request: Request<pb::GetReportRequest>) -> Reply<pb::Report> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_report(&caller, &request.get_ref().name).await)
    }

    async fn list_reports(&self, request: Request<pb::ListReportsRequest>) -> Reply<pb::ListReportsResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_reports(&caller, request.get_ref()).await)
    }

    async fn list_report_revisions(
        &self,
        request: Request<pb::ListReportRevisionsRequest>,
    ) -> Reply<pb::ListReportRevisionsResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_revisions(&caller, request.get_ref()).await)
    }

    async fn accept_report(&self, request: Request<pb::AcceptReportRequest>) -> Reply<pb::Report> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        let r = request.get_ref();
        reply(state.reporting.review(&caller, ReviewRequest::from(r), r).await)
    }

    async fn return_report(&self, request: Request<pb::ReturnReportRequest>) -> Reply<pb::Report> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        let r = request.get_ref();
        reply(state.reporting.review(&caller, ReviewRequest::from(r), r).await)
    }

    async fn get_progress(&self, request: Request<pb::GetProgressRequest>) -> Reply<pb::GetProgressResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_progress(&caller, request.get_ref()).await)
    }

    async fn get_compliance(&self, request: Request<pb::GetComplianceRequest>) -> Reply<pb::GetComplianceResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_compliance(&caller, request.get_ref()).await)
    }

    type WatchReportEventsStream = EventStream;

    async fn watch_report_events(
        &self,
        request: Request<pb::WatchReportEventsRequest>,
    ) -> Reply<Self::WatchReportEventsStream> {
        let (state, caller) = self.caller(&request).await?;
        let token = duban_kit::auth::bearer_token(request.metadata())
            .ok()
            .map(str::to_owned);
        let permit = self.streams.open(&caller.principal, token.as_deref())?;
        let stream = state
            .reporting
            .watch(&caller, request.into_inner())
            .await
            .map_err(Status::from)?;
        let recheck = duban_kit::streams::Recheck {
            authenticator: state.auth.clone(),
            token,
            every: self.revocation_window,
        };
        Ok(Response::new(Box::pin(duban_kit::streams::guarded(
            stream, permit, recheck,
        ))))
    }

    async fn purge_audit_records(
        &self,
        request: Request<pb::PurgeAuditRecordsRequest>,
    ) -> Reply<pb::PurgeAuditRecordsResponse> {
        duban_kit::telemetry::record_request_id(&request.get_ref().request_id);
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.purge_audit(&caller, request.get_ref()).await)
    }

    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Reply<pb::ListAuditRecordsResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_audit(&caller, request.get_ref()).await)
    }

    async fn list_blockers(&self, request: Request<pb::ListBlockersRequest>) -> Reply<pb::ListBlockersResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_blockers(&caller, request.get_ref()).await)
    }

    async fn list_obligations(
        &self,
        request: Request<pb::ListObligationsRequest>,
    ) -> Reply<pb::ListObligationsResponse> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.list_obligations(&caller, request.get_ref()).await)
    }

    async fn get_plan_summary(&self, request: Request<pb::GetPlanSummaryRequest>) -> Reply<pb::PlanSummary> {
        let (state, caller) = self.caller(&request).await?;
        reply(state.reporting.get_plan_summary(&caller, request.get_ref()).await)
    }
}
