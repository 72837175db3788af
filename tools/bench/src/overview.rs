//! `--overview`: how the gateway's overview costs against GetProgress, with the demo's
//! data and with many times its reports (issue 14 §7).
//!
//! Starts the whole suite (the gateway too), runs `duban demo` against it, then times,
//! one caller at a time: GetProgress over the whole plan, DashboardService.GetOverview
//! on the gateway, and `GET /api/v1/overview` over HTTP/1.1 on the gateway (one
//! keep-alive connection, a LEADERSHIP bearer token). Then backfills more revisions of
//! the demo's reports (SubmitReports as ADMIN, each a few seconds after the key's latest
//! one, so history stays in 2023) until the store holds `--overview-scales` times the
//! demo's revisions, and times the three again at each size.

use std::{collections::BTreeMap, net::SocketAddr, time::Instant};

use anyhow::{Context, bail};
use duban_cli::commands::{Connection, demo::demo};
use duban_harness::{Caller, DashboardClient, PLAN, ReportKey, Server, Suite};
use duban_kit::testing::Backend;
use duban_proto::{common::v1::Date, departments::v1 as dpb, gateway::v1 as gpb, reporting::v1 as pb};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};

use super::{Args, Client, Percentiles, STARTUP, time_calls, workload};

/// The demo's seed (any fixed one: the same data on every run).
const SEED: u64 = 7;
/// The date every overview is computed for: the demo's data reaches past it, as a
/// leader looking at September would.
const AS_OF: Date = Date {
    year: 2023,
    month: 9,
    day: 30,
};
/// Items per SubmitReports stream (the service takes at most 1000).
const STREAM_ITEMS: usize = 1000;
/// Streams sent at once while filling (so the writer can group their commits).
const STREAMS: usize = 4;

type Http = HttpClient<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// One size: revisions stored and the three latencies.
#[derive(Debug)]
struct Row {
    revisions: usize,
    progress: Percentiles,
    grpc: Timed,
    http: Timed,
}

/// The latencies of one kind of overview call, and how many answers were partial: an
/// overview that names a service in `unreachable` (a backend call past its deadline,
/// say) is fast for the wrong reason or slow for one, and never a measurement of the
/// whole overview.
#[derive(Debug)]
struct Timed {
    latencies: Percentiles,
    partial: usize,
}

pub(crate) async fn bench(backend: Backend, args: &Args) -> anyhow::Result<()> {
    println!("## {backend}: overview\n");
    let began = Instant::now();
    let suite = Suite::builder(backend)
        .all()
        .startup_timeout(STARTUP)
        .try_start()
        .await?;
    let connection = Connection {
        addr: None,
        token: Some(suite.admin_token().to_owned()),
        timeout: 60,
    };
    let plan_id = PLAN.strip_prefix("plans/").context("PLAN is plans/{id}")?;
    let summary = demo(suite.settings(), &connection, plan_id, SEED)
        .await
        .context("duban demo failed")?;
    let demo_revisions = summary.backfilled + summary.live;
    println!(
        "suite (with the gateway) up and `duban demo --seed {SEED}` done in {:.1} s: {} reports backfilled, {} live revisions, {} reports stored ({} on time, {} late)\n",
        began.elapsed().as_secs_f64(),
        summary.backfilled,
        summary.live,
        summary.stored,
        summary.on_time,
        summary.late,
    );

    let leadership = suite.issue_token(dpb::Role::Leadership, "").await;
    let mut progress = suite.reporting(Caller::Admin);
    let mut dashboard = suite.dashboard(Caller::Token(&leadership));
    let http: Http = HttpClient::builder(TokioExecutor::new()).build_http();
    let probe = Probe {
        gateway: suite.addr(Server::Gateway),
        bearer: format!("Bearer {leadership}"),
        calls: args.overview_calls,
    };

    let mut keys = latest_submit_times(&suite, &mut progress).await?;
    let mut rows = vec![probe.row(demo_revisions, &mut progress, &mut dashboard, &http).await?];
    let mut stored = demo_revisions;
    let mut next = 0;
    let mut scales = args.overview_scales.clone();
    scales.sort_unstable();
    for scale in scales {
        let want = demo_revisions * scale;
        if want <= stored {
            continue;
        }
        let filling = Instant::now();
        next = fill(&suite, &mut keys, next, want - stored).await?;
        println!(
            "filled {} -> {want} revisions ({scale}x the demo's) in {:.1} s",
            stored,
            filling.elapsed().as_secs_f64()
        );
        stored = want;
        rows.push(probe.row(stored, &mut progress, &mut dashboard, &http).await?);
    }

    println!(
        "\nOne caller, sequential, {} calls each after 10 unmeasured; GetProgress over the whole plan (include_provisional), GetOverview and GET /api/v1/overview?as_of=2023-09-30 as LEADERSHIP. Milliseconds (p50 / p99 / max):\n",
        args.overview_calls
    );
    println!(
        "| revisions stored | GetProgress | GetOverview (gRPC) | GET /api/v1/overview | GetOverview / GetProgress p50 | HTTP / GetProgress p50 | partial answers (gRPC / HTTP) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1}x | {:.1}x | {} / {} |",
            row.revisions,
            row.progress.triple(),
            row.grpc.latencies.triple(),
            row.http.latencies.triple(),
            row.grpc.latencies.p50 / row.progress.p50,
            row.http.latencies.p50 / row.progress.p50,
            row.grpc.partial,
            row.http.partial,
        );
    }
    let base = &rows[0];
    if rows.len() > 1 {
        println!(
            "\np50 at each size against the demo's ({} revisions):\n",
            base.revisions
        );
        println!("| revisions stored | x demo | GetProgress | GetOverview (gRPC) | GET /api/v1/overview |");
        println!("|---|---|---|---|---|");
        for row in &rows[1..] {
            println!(
                "| {} | {:.0} | {:.2}x | {:.2}x | {:.2}x |",
                row.revisions,
                row.revisions as f64 / base.revisions as f64,
                row.progress.p50 / base.progress.p50,
                row.grpc.latencies.p50 / base.grpc.latencies.p50,
                row.http.latencies.p50 / base.http.latencies.p50,
            );
        }
    }
    let (hwm, rss) = super::memory();
    println!("\npeak RSS of this process so far (VmHWM): {hwm}; now (VmRSS): {rss}\n");
    suite.stop().await;
    Ok(())
}

/// What the three timed calls need.
struct Probe {
    gateway: SocketAddr,
    bearer: String,
    calls: usize,
}

impl Probe {
    async fn row(
        &self,
        revisions: usize,
        progress: &mut Client,
        dashboard: &mut DashboardClient,
        http: &Http,
    ) -> anyhow::Result<Row> {
        let whole = pb::GetProgressRequest {
            parent: PLAN.into(),
            include_provisional: true,
            ..Default::default()
        };
        let (progress, _) = time_calls(progress, &whole, self.calls).await?;
        let grpc = self.time_grpc(dashboard).await?;
        let http = self.time_http(http).await?;
        Ok(Row {
            revisions,
            progress,
            grpc,
            http,
        })
    }

    async fn time_grpc(&self, dashboard: &mut DashboardClient) -> anyhow::Result<Timed> {
        let request = gpb::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(AS_OF),
        };
        let mut latencies = Vec::with_capacity(self.calls);
        let mut partial = 0;
        for i in 0..self.calls + 10 {
            let sent = Instant::now();
            let overview = dashboard
                .get_overview(request.clone())
                .await
                .context("GetOverview failed")?
                .into_inner()
                .overview;
            let Some(overview) = overview else {
                bail!("GetOverview answered without an overview");
            };
            if i >= 10 {
                latencies.push(sent.elapsed().as_micros() as u64);
                partial += usize::from(!overview.unreachable.is_empty());
            }
        }
        Ok(Timed {
            latencies: Percentiles::of(&latencies),
            partial,
        })
    }

    async fn time_http(&self, http: &Http) -> anyhow::Result<Timed> {
        let uri: hyper::Uri = format!(
            "http://{}/api/v1/overview?as_of={}-{:02}-{:02}",
            self.gateway, AS_OF.year, AS_OF.month, AS_OF.day
        )
        .parse()?;
        let mut latencies = Vec::with_capacity(self.calls);
        let mut partial = 0;
        for i in 0..self.calls + 10 {
            let request = hyper::Request::get(uri.clone())
                .header(hyper::header::AUTHORIZATION, &self.bearer)
                .body(Empty::<Bytes>::new())?;
            let sent = Instant::now();
            let answer = http.request(request).await.context("GET /api/v1/overview failed")?;
            let status = answer.status();
            let body = answer.into_body().collect().await?.to_bytes();
            let took = sent.elapsed();
            if !status.is_success() || body.is_empty() {
                bail!(
                    "GET /api/v1/overview answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let overview: serde_json::Value =
                serde_json::from_slice(&body).context("GET /api/v1/overview answered no JSON")?;
            if i >= 10 {
                latencies.push(took.as_micros() as u64);
                let unreachable = overview["unreachable"].as_array().map_or(0, Vec::len);
                partial += usize::from(unreachable > 0);
            }
        }
        Ok(Timed {
            latencies: Percentiles::of(&latencies),
            partial,
        })
    }
}

/// Every report key the demo stored with its latest submit time, in seconds; keys whose
/// latest revision is from today (the demo's live ones) are left out, since a backfill
/// may not be dated in the future.
async fn latest_submit_times(suite: &Suite, client: &mut Client) -> anyhow::Result<Vec<(ReportKey, i64)>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let mut keys = Vec::new();
    for key in workload(suite).await?.keys {
        let report = match client.get_report(pb::GetReportRequest { name: key.name() }).await {
            Ok(report) => report.into_inner(),
            Err(status) if status.code() == tonic::Code::NotFound => continue,
            Err(status) => return Err(status).context("GetReport failed"),
        };
        let latest = report.submit_time.context("a report without submit_time")?.seconds;
        if latest < now - 86_400 {
            keys.push((key, latest));
        }
    }
    if keys.is_empty() {
        bail!("the demo stored no report to add revisions to");
    }
    Ok(keys)
}

/// Backfills `count` more revisions, keys in turn, each one second after the key's
/// previous revision; returns the next submission number.
async fn fill(suite: &Suite, keys: &mut [(ReportKey, i64)], mut next: usize, count: usize) -> anyhow::Result<usize> {
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let slot = next % keys.len();
        let (key, latest) = &mut keys[slot];
        *latest += 1;
        let submission = key.submission(
            format!("基准测试补录第{next}次：本月按计划推进。"),
            (next % 97 + 1) as u8,
            format!("bench-overview-{next:09}"),
        );
        items.push(pb::SubmitReportsRequest {
            parent: submission.parent,
            report: submission.report,
            request_id: submission.request_id,
            validate_only: false,
            backfill: true,
            submit_time: Some(prost_types::Timestamp {
                seconds: *latest,
                nanos: 0,
            }),
            ..Default::default()
        });
        next += 1;
    }
    // Streams in order per key: a key's items within one round go to one stream in turn,
    // and rounds are at least `keys.len()` items apart, so keep each batch of concurrent
    // streams within one round of keys.
    let per_batch = (STREAMS * STREAM_ITEMS).min(keys.len()).max(1);
    let mut errors = BTreeMap::<String, usize>::new();
    let mut first_error = None;
    for batch in items.chunks(per_batch) {
        let streams = batch
            .chunks(batch.len().div_ceil(STREAMS).min(STREAM_ITEMS))
            .map(|chunk| {
                let mut client = suite.reporting(Caller::Admin);
                let chunk = chunk.to_vec();
                async move { client.submit_reports(futures::stream::iter(chunk)).await }
            });
        for answer in futures::future::join_all(streams).await {
            let answer = answer.context("SubmitReports failed")?.into_inner();
            for result in &answer.results {
                if let Some(pb::submit_reports_result::Outcome::Error(error)) = &result.outcome {
                    *errors
                        .entry(format!("{:?}", tonic::Code::from_i32(error.code)))
                        .or_default() += 1;
                    first_error.get_or_insert_with(|| error.message.clone());
                }
            }
        }
    }
    if let Some(first) = first_error {
        bail!("backfill items were refused ({errors:?}); the first: {first}");
    }
    Ok(next)
}
