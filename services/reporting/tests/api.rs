//! The reporting API through its generated client, with real departments, targets and
//! measures servers (the Jiading plan imported), each on a fresh database, on SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use duban_harness::{Caller, PLAN, ReportingClient, STARTUP, Server, Suite};
use duban_kit::{
    Settings,
    status::{field_violations, reason},
    testing::{self, Backend},
};
use duban_proto::{
    common::v1::{self as common, Aggregation},
    departments::v1 as dpb,
    measures::v1 as mpb,
    reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient},
    targets::v1 as tpb,
};
use futures::StreamExt;
use tonic::Code;
use tonic_types::{RpcStatusExt, StatusExt};

type Client = ReportingClient;

#[path = "api/blockers.rs"]
mod blockers;
#[path = "api/bounds.rs"]
mod bounds;
#[path = "api/delivery.rs"]
mod delivery;
#[path = "api/mail.rs"]
mod mail;
#[path = "api/milestones.rs"]
mod milestones;
#[path = "api/notices.rs"]
mod notices;
#[path = "api/obligations.rs"]
mod obligations;
#[path = "api/orders.rs"]
mod orders;
#[path = "api/plan_summary.rs"]
mod plan_summary;
#[path = "api/replicas.rs"]
mod replicas;
#[path = "api/sources.rs"]
mod sources;
#[path = "api/target_notices.rs"]
mod target_notices;

/// A target with a department that reports it and is responsible for its measure.
#[derive(Debug, Clone)]
struct Pick {
    target: tpb::Target,
    department: String,
    other_department: String,
    /// The other targets of the measure the department reports: a final report carries
    /// a value for each of them too.
    also_owed: Vec<tpb::Target>,
}

/// Departments, targets and measures (the Jiading plan imported) and reporting.
async fn start(backend: Backend) -> Option<Suite> {
    Suite::builder(backend).with(Server::Reporting).start().await
}

/// What these tests ask of a suite beyond the harness's clients and tokens.
trait ReportingSuite {
    /// A reporting client acting as department `code`.
    async fn department(&self, code: &str) -> Client;
    /// A reporting client acting as leadership.
    async fn leadership(&self) -> Client;
    /// A target of the given aggregation whose first reporter is responsible for its measure.
    async fn pick(&self, aggregation: Aggregation) -> Pick;
}

impl ReportingSuite for Suite {
    async fn department(&self, code: &str) -> Client {
        self.reporting(&self.issue_token(dpb::Role::Department, code).await)
    }

    async fn leadership(&self) -> Client {
        self.reporting(&self.issue_token(dpb::Role::Leadership, "").await)
    }

    async fn pick(&self, aggregation: Aggregation) -> Pick {
        let mut targets = self.targets(Caller::Service);
        let mut measures = self.measures(Caller::Service);
        let all = targets
            .list_targets(tpb::ListTargetsRequest {
                parent: PLAN.into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .targets;
        for target in all.iter().filter(|t| t.aggregation == aggregation as i32) {
            let measure = measures
                .get_measure(mpb::GetMeasureRequest {
                    name: format!("{PLAN}/measures/{}", target.measure_number),
                })
                .await
                .unwrap()
                .into_inner();
            let responsible = duban_harness::responsible_departments(&measure);
            let Some(department) = target
                .reporting_departments
                .iter()
                .find(|d| responsible.contains(d))
                .cloned()
            else {
                continue;
            };
            let other = responsible
                .iter()
                .find(|d| **d != department && !target.reporting_departments.contains(d));
            let Some(other) = other.cloned() else { continue };
            let also_owed = all
                .iter()
                .filter(|t| {
                    t.measure_number == target.measure_number
                        && t.code != target.code
                        && t.reporting_departments.contains(&department)
                })
                .cloned()
                .collect();
            return Pick {
                target: target.clone(),
                also_owed,
                department,
                other_department: other,
            };
        }
        panic!("no suitable target");
    }
}

/// An amount as the contract carries it (canonical text).
fn d(text: &str) -> Option<common::Decimal> {
    Some(text.parse().unwrap())
}

/// A report of `value` for the picked target. The value is written as the contract's
/// decimal text of the number (`NaN` for NaN, which is not a decimal).
fn report(pick: &Pick, month: i32, value: f64) -> pb::Report {
    pb::Report {
        measure_number: pick.target.measure_number.clone(),
        period: Some(common::Period { year: 2023, month }),
        overall_status: pb::OverallStatus::OnTrack as i32,
        narrative: "本月进展顺利".into(),
        metric_values: [(&pick.target, value.to_string())]
            .into_iter()
            .chain(pick.also_owed.iter().map(|t| (t, "1".to_owned())))
            .map(|(target, value)| pb::MetricValue {
                target_code: target.code.clone(),
                value: Some(common::Decimal { value }),
                unit: target.unit,
                basis: target.value_basis,
            })
            .collect(),
        ..Default::default()
    }
}

fn submit(report: pb::Report, request_id: &str) -> pb::SubmitReportRequest {
    pb::SubmitReportRequest {
        parent: PLAN.into(),
        report: Some(report),
        request_id: request_id.into(),
        validate_only: false,
        ..Default::default()
    }
}

fn key_name(pick: &Pick, department: &str, month: i32) -> String {
    format!(
        "{PLAN}/reports/{}~{department}~2023-{month:02}",
        pick.target.measure_number
    )
}

async fn submits_revises_and_reviews(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let mut leader = suite.leadership().await;

    // Idempotent retry: same id, same content, same answer, one revision.
    let first = dept
        .submit_report(submit(report(&pick, 4, 3.0), "r-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.revision, 1);
    assert_eq!(first.state, pb::report::State::Submitted as i32);
    assert_eq!(first.name, key_name(&pick, &pick.department, 4));
    let again = dept
        .submit_report(submit(report(&pick, 4, 3.0), "r-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    let reused = dept
        .submit_report(submit(report(&pick, 4, 4.0), "r-1"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));

    // validate_only writes nothing.
    let mut check = submit(report(&pick, 4, 5.0), "");
    check.validate_only = true;
    assert_eq!(dept.submit_report(check).await.unwrap().into_inner().revision, 2);

    // Etag: a stale one is ABORTED; the current one makes revision 2.
    let mut stale = report(&pick, 4, 5.0);
    stale.etag = "r9s1".into();
    let aborted = dept.submit_report(submit(stale, "r-2")).await.unwrap_err();
    assert_eq!(aborted.code(), Code::Aborted);
    let mut current = report(&pick, 4, 5.0);
    current.etag = first.etag.clone();
    let second = dept.submit_report(submit(current, "r-3")).await.unwrap().into_inner();
    assert_eq!(second.revision, 2);
    assert_eq!(second.first_submit_time, first.first_submit_time);

    // Review: return with a reason, resubmit goes back to SUBMITTED, accept.
    let no_reason = leader
        .return_report(pb::ReturnReportRequest {
            name: second.name.clone(),
            etag: second.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    let returned = leader
        .return_report(pb::ReturnReportRequest {
            name: second.name.clone(),
            etag: second.etag.clone(),
            reason: "请补充佐证材料".into(),
            request_id: "ret-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(returned.state, pb::report::State::Returned as i32);
    let seen = dept
        .get_report(pb::GetReportRequest {
            name: second.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.return_reason, "请补充佐证材料");
    let third = dept
        .submit_report(submit(report(&pick, 4, 6.0), "r-4"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((third.revision, third.state), (3, pb::report::State::Submitted as i32));
    let stale_review = leader
        .accept_report(pb::AcceptReportRequest {
            name: third.name.clone(),
            etag: second.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale_review.code(), Code::Aborted);
    let accepted = leader
        .accept_report(pb::AcceptReportRequest {
            name: third.name.clone(),
            etag: third.etag.clone(),
            comment: "好".into(),
            request_id: "acc-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.state, pb::report::State::Accepted as i32);
    let twice = leader
        .accept_report(pb::AcceptReportRequest {
            name: third.name.clone(),
            etag: accepted.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let revisions = dept
        .list_report_revisions(pb::ListReportRevisionsRequest {
            name: third.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reports;
    let numbers: Vec<_> = revisions.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert!(revisions[0].name.ends_with("@3"));

    // Authorisation matrix.
    let mut other = suite.department(&pick.other_department).await;
    let denied = other
        .get_report(pb::GetReportRequest {
            name: third.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let leader_submit = leader
        .submit_report(submit(report(&pick, 4, 1.0), ""))
        .await
        .unwrap_err();
    assert_eq!(leader_submit.code(), Code::PermissionDenied);
    let not_reporter = other
        .submit_report(submit(report(&pick, 4, 1.0), ""))
        .await
        .unwrap_err();
    assert_eq!(not_reporter.code(), Code::PermissionDenied, "{not_reporter:?}");
    assert_eq!(
        duban_kit::status::reason(&not_reporter).as_deref(),
        Some("TARGET_NOT_REPORTED")
    );
    // 区税务局 is responsible for 1.1, 5.2 and 8.1 only: measure 4.1 is not its business,
    // and that is refused before any field is looked at (an empty report here).
    let mut unrelated = suite.department("tax-bureau").await;
    let elsewhere = pb::Report {
        measure_number: "4.1".into(),
        department: "tax-bureau".into(),
        ..Default::default()
    };
    let not_responsible = unrelated.submit_report(submit(elsewhere, "")).await.unwrap_err();
    assert_eq!(not_responsible.code(), Code::PermissionDenied, "{not_responsible:?}");
    assert_eq!(
        duban_kit::status::reason(&not_responsible).as_deref(),
        Some("DEPARTMENT_NOT_RESPONSIBLE")
    );
    let mut theirs = report(&pick, 4, 1.0);
    theirs.department = pick.other_department.clone();
    let not_own = dept.submit_report(submit(theirs, "")).await.unwrap_err();
    assert_eq!(not_own.code(), Code::PermissionDenied);

    // Several violations at once. (A field past its bound, such as a narrative over
    // 4000 characters, is answered alone and before these: see api/bounds.rs.)
    let mut bad = report(&pick, 4, f64::NAN);
    bad.metric_values[0].unit = common::QuantityUnit::Routes as i32;
    let duplicate = bad.metric_values.len();
    bad.metric_values.push(bad.metric_values[0].clone());
    bad.evidence_links.push(pb::EvidenceLink {
        title: "x".into(),
        url: "not a url".into(),
        sha256: "xyz".into(),
    });
    let invalid = dept.submit_report(submit(bad, "bad-1")).await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let fields: Vec<_> = field_violations(&invalid).into_iter().map(|v| v.field).collect();
    for expected in [
        "report.metric_values[0].unit",
        "report.metric_values[0].value",
        &format!("report.metric_values[{duplicate}].target_code"),
        "report.evidence_links[0].url",
        "report.evidence_links[0].sha256",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} missing from {fields:?}"
        );
    }

    // Audit: the denial is recorded, without tokens; departments cannot list audits.
    let audits = suite
        .reporting(Caller::Admin)
        .list_audit_records(pb::ListAuditRecordsRequest {
            code: Some(Code::PermissionDenied as i32),
            method: "SubmitReport".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_records;
    assert!(audits.len() >= 2, "{audits:?}");
    assert!(audits.iter().all(|a| !format!("{a:?}").contains("dbn_")));
    let all = suite
        .reporting(Caller::Admin)
        .list_audit_records(pb::ListAuditRecordsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        all.audit_records
            .iter()
            .any(|a| a.request_id == "bad-1" && a.code == Code::InvalidArgument as i32)
    );
    assert_eq!(
        dept.list_audit_records(pb::ListAuditRecordsRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // Progress (SUM): the accepted revision 3 counts.
    let progress = leader
        .get_progress(pb::GetProgressRequest {
            parent: PLAN.into(),
            target_codes: vec![pick.target.code.clone()],
            include_provisional: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let target = &progress.targets[0];
    let own = target
        .contributions
        .iter()
        .find(|c| c.department == pick.department)
        .unwrap();
    assert_eq!(own.value, d("6"));
    assert_eq!(own.reports, [format!("{}@3", third.name)]);
    assert!(target.actual.as_ref().unwrap().to_decimal().unwrap() >= 6.into());
    assert_eq!(
        dept.get_progress(pb::GetProgressRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
        Code::PermissionDenied
    );
    suite.stop().await;
}

async fn authoritative_progress_without_scanning(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Authoritative).await;
    let mut dept = suite.department(&pick.department).await;
    // 1000 revisions of one key, through one stream.
    let items: Vec<_> = (0..1000)
        .map(|i| pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 5, f64::from(i))),
            request_id: format!("bulk-{i}"),
            ..Default::default()
        })
        .collect();
    // In streams of 200 (a_thousand_items_in_one_stream sends 1000 in one stream).
    let mut response = pb::SubmitReportsResponse::default();
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<_> = items.by_ref().take(200).collect();
        if chunk.is_empty() {
            break;
        }
        let part = dept
            .submit_reports(futures::stream::iter(chunk))
            .await
            .unwrap()
            .into_inner();
        response.succeeded_count += part.succeeded_count;
        response.failed_count += part.failed_count;
        response.results.extend(part.results);
    }
    assert_eq!((response.succeeded_count, response.failed_count), (1000, 0));
    let mut revisions: Vec<_> = response
        .results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::submit_reports_result::Outcome::Report(report)) => report.revision,
            other => panic!("{other:?}"),
        })
        .collect();
    revisions.sort();
    assert_eq!(revisions, (1..=1000).collect::<Vec<_>>());
    let last = response
        .results
        .iter()
        .find_map(|r| match &r.outcome {
            Some(pb::submit_reports_result::Outcome::Report(report)) if report.revision == 1000 => {
                report.metric_values[0].value.clone()
            }
            _ => None,
        })
        .unwrap();

    let ask = pb::GetProgressRequest {
        parent: PLAN.into(),
        target_codes: vec![pick.target.code.clone()],
        include_provisional: true,
        ..Default::default()
    };
    let mut leader = suite.leadership().await;
    let before = leader.get_progress(ask.clone()).await.unwrap().into_inner();
    assert_eq!(before.targets[0].actual, Some(last));

    // The proof: blank every stored revision's values; progress reads only the
    // aggregate, so the answer is the same.
    let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
        .await
        .unwrap();
    let store = duban_reporting::store::ReportStore::new(db);
    assert_eq!(store.revision_count().await.unwrap(), 1000);
    assert_eq!(store.blank_revision_bodies().await.unwrap(), 1000);
    let after = leader.get_progress(ask).await.unwrap().into_inner();
    assert_eq!(after, before);
    suite.stop().await;
}

async fn group_commit_streams_and_events(backend: Backend) {
    let Some(mut suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let token = suite.issue_token(dpb::Role::Department, &pick.department).await;
    let mut leader = suite.leadership().await;
    let mut events = leader
        .watch_report_events(pb::WatchReportEventsRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // 200 concurrent submissions over several connections: every one acknowledged,
    // every one stored exactly once.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut client = suite.reporting(&token);
        let item = submit(report(&pick, 3 + (i % 3), f64::from(i)), &format!("c-{i}"));
        tasks.push(tokio::spawn(async move {
            client.submit_report(item).await.map(|r| r.into_inner())
        }));
    }
    let mut per_key: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
    for task in tasks {
        let report = task.await.unwrap().unwrap();
        per_key.entry(report.name.clone()).or_default().push(report.revision);
    }
    for (_, mut revisions) in per_key.clone() {
        revisions.sort();
        let n = revisions.len() as i32;
        assert_eq!(revisions, (1..=n).collect::<Vec<_>>());
    }
    let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
        .await
        .unwrap();
    let store = duban_reporting::store::ReportStore::new(db);
    assert_eq!(store.revision_count().await.unwrap(), 200);

    // The watcher saw submissions; an accept arrives too.
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.event_type, pb::ReportEventType::Submitted as i32);
    let name = key_name(&pick, &pick.department, 3);
    let latest = leader
        .get_report(pb::GetReportRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    leader
        .accept_report(pb::AcceptReportRequest {
            name,
            etag: latest.etag,
            ..Default::default()
        })
        .await
        .unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if event.event_type == pb::ReportEventType::Accepted as i32 {
                return event;
            }
        }
        panic!("the stream ended");
    })
    .await
    .unwrap();
    assert_eq!(accepted.revision, latest.revision);

    // Streaming partial success, and backfill needs ADMIN.
    let mut dept = suite.reporting(&token);
    let mut bad = report(&pick, 6, 1.0);
    bad.overall_status = 0;
    let items = vec![
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 6, 1.0)),
            request_id: "s-0".into(),
            ..Default::default()
        },
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(bad),
            request_id: "s-1".into(),
            ..Default::default()
        },
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 7, 1.0)),
            request_id: "s-2".into(),
            backfill: true,
            submit_time: Some(prost_types::Timestamp {
                seconds: 1_690_000_000,
                nanos: 0,
            }),
            ..Default::default()
        },
    ];
    let response = dept
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((response.succeeded_count, response.failed_count), (1, 2));
    let codes: Vec<_> = response
        .results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::submit_reports_result::Outcome::Error(e)) => e.code,
            _ => 0,
        })
        .collect();
    assert_eq!(codes, [0, Code::InvalidArgument as i32, Code::PermissionDenied as i32]);
    // An item's error is the google.rpc.Status SubmitReport would answer, details included,
    // so a client reads it with the same parser as a failed call.
    let errors: Vec<_> = response
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(pb::submit_reports_result::Outcome::Error(e)) => Some(e),
            _ => None,
        })
        .collect();
    let invalid = errors[0].get_details_error_info().expect("error info");
    assert_eq!(
        (invalid.domain.as_str(), invalid.reason.as_str()),
        ("duban", "FIELD_INVALID")
    );
    let fields: Vec<_> = errors[0]
        .get_details_bad_request()
        .expect("bad request")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["report.overall_status"]);
    let refused = errors[1].get_details_error_info().expect("error info");
    assert_eq!(refused.reason, "ROLE_NOT_ALLOWED");

    // The stream ends when the server shuts down.
    let reporting = suite.take(Server::Reporting);
    let stop = tokio::spawn(reporting.shutdown());
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = events.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch stream outlived the server");
    stop.await.unwrap();
    suite.stop().await;
}

async fn compliance_from_backfilled_history(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut admin = suite.reporting(Caller::Admin);
    let due_day = {
        let mut measures = suite.measures(Caller::Service);
        let plan = measures
            .get_plan(mpb::GetPlanRequest { name: PLAN.into() })
            .await
            .unwrap()
            .into_inner();
        plan.cadence.unwrap().due_day
    };
    // March filed on its due day (on time), April filed the day after its due day (late).
    let at = |month: u32, day: i32| {
        let date = chrono::NaiveDate::from_ymd_opt(2023, month, day as u32).unwrap();
        prost_types::Timestamp {
            seconds: date.and_hms_opt(2, 0, 0).unwrap().and_utc().timestamp(),
            nanos: 0,
        }
    };
    let item = |month: i32, time: prost_types::Timestamp| {
        let mut r = report(&pick, month, 1.0);
        r.department = pick.department.clone();
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(r),
            request_id: format!("bf-{month}"),
            backfill: true,
            submit_time: Some(time),
            ..Default::default()
        }
    };
    let items = vec![item(3, at(4, due_day)), item(4, at(5, due_day + 1))];
    let response = admin
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.succeeded_count, 2, "{response:?}");
    let compliance = admin
        .get_compliance(pb::GetComplianceRequest {
            parent: PLAN.into(),
            department: pick.department.clone(),
            measure_number: pick.target.measure_number.clone(),
            start_period: Some(common::Period { year: 2023, month: 3 }),
            end_period: Some(common::Period { year: 2023, month: 5 }),
            as_of: Some(common::Date {
                year: 2023,
                month: 6,
                day: 20,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let department = &compliance.departments[0];
    let statuses: Vec<_> = department.periods.iter().map(|p| p.status).collect();
    use pb::ComplianceStatus as S;
    assert_eq!(statuses, [S::OnTime as i32, S::Late as i32, S::Missing as i32]);
    assert_eq!(
        (
            department.expected_count,
            department.received_count,
            department.on_time_count
        ),
        (3, 2, 1)
    );
    let rate = department.reporting_rate.unwrap();
    assert!((rate - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        compliance.totals.unwrap().overdue_departments,
        std::slice::from_ref(&pick.department)
    );
    assert_eq!(department.returned_count, 0);

    // April's report returned (today): counted as of any date after it was filed, and not
    // as of a date before, since returns count by submit time.
    let april = admin
        .get_report(pb::GetReportRequest {
            name: key_name(&pick, &pick.department, 4),
        })
        .await
        .unwrap()
        .into_inner();
    admin
        .return_report(pb::ReturnReportRequest {
            name: april.name.clone(),
            etag: april.etag.clone(),
            reason: "请补充佐证材料".into(),
            request_id: "bf-return".into(),
        })
        .await
        .unwrap();
    let returned_as_of = |month: u32, day: i32| {
        let mut admin = admin.clone();
        let department = pick.department.clone();
        async move {
            let compliance = admin
                .get_compliance(pb::GetComplianceRequest {
                    parent: PLAN.into(),
                    department,
                    start_period: Some(common::Period { year: 2023, month: 3 }),
                    end_period: Some(common::Period { year: 2023, month: 5 }),
                    as_of: Some(common::Date {
                        year: 2023,
                        month: month as i32,
                        day,
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            compliance.departments[0].returned_count
        }
    };
    assert_eq!(returned_as_of(6, 20).await, 1);
    assert_eq!(returned_as_of(5, due_day).await, 0, "filed the day after");
    suite.stop().await;
}

/// The responsible units of a measure that are listed directly (not through a group).
async fn direct_units(suite: &Suite, number: &str) -> Vec<String> {
    let mut measures = suite.measures(Caller::Service);
    let measure = measures
        .get_measure(mpb::GetMeasureRequest {
            name: format!("{PLAN}/measures/{number}"),
        })
        .await
        .unwrap()
        .into_inner();
    let mut units: Vec<String> = measure
        .responsible_units
        .iter()
        .filter(|u| u.kind != mpb::ResponsibleUnitKind::Group as i32)
        .map(|u| u.code.clone())
        .collect();
    units.sort();
    units
}

/// Measures and targets are read once, then served from the cache while their servers
/// are down (past the TTL, so the refresh really fails); something never cached is
/// UNAVAILABLE at once rather than hanging.
async fn serves_from_cache_while_measures_and_targets_are_down(backend: Backend) {
    let ttl = Duration::from_millis(300);
    let options = duban_reporting::Options {
        catalog_ttl: ttl,
        catalog_retry: ttl,
        ..duban_reporting::Options::default()
    };
    let Some(mut suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .reporting_options(options)
        .start()
        .await
    else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let mut leader = suite.leadership().await;
    let first = dept
        .submit_report(submit(report(&pick, 4, 1.0), "warm"))
        .await
        .unwrap()
        .into_inner();

    // Measures (index 2) and targets (index 1) go away for good.
    suite.shut_down(Server::Measures).await;
    suite.shut_down(Server::Targets).await;
    let down = suite
        .measures(Caller::Service)
        .get_plan(mpb::GetPlanRequest { name: PLAN.into() })
        .await
        .unwrap_err();
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    tokio::time::sleep(ttl * 2).await;

    // A department submits again for the same measure: judged from the stale cache.
    let started = Instant::now();
    let second = dept
        .submit_report(submit(report(&pick, 4, 2.0), "while-down"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.revision, 2);
    assert_eq!(second.name, first.name);
    let other_month = dept
        .submit_report(submit(report(&pick, 5, 7.0), "while-down-2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other_month.revision, 1);
    // A value for an unknown target is still refused by the stale cache's rules.
    let mut wrong = report(&pick, 5, 1.0);
    wrong.metric_values[0].target_code = "no-such-target".into();
    let refused = dept.submit_report(submit(wrong, "")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // Stored, and leadership reads work.
    let stored = leader
        .get_report(pb::GetReportRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stored.revision, stored.metric_values[0].value.clone()), (2, d("2")));
    let listed = leader
        .list_reports(pb::ListReportsRequest {
            parent: PLAN.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 2);
    let progress = leader
        .get_progress(pb::GetProgressRequest {
            parent: PLAN.into(),
            target_codes: vec![pick.target.code.clone()],
            include_provisional: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let own = progress.targets[0]
        .contributions
        .iter()
        .find(|c| c.department == pick.department)
        .unwrap();
    assert!(own.value.is_some(), "{own:?}");

    // Something never cached (another plan) needs the measures server: UNAVAILABLE
    // with DEPENDENCY_UNAVAILABLE, well within the caller's deadline.
    let started = Instant::now();
    let mut request = tonic::Request::new(pb::ListReportsRequest {
        parent: "plans/another-plan".into(),
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(5));
    let unavailable = leader.list_reports(request).await.unwrap_err();
    assert_eq!(unavailable.code(), Code::Unavailable, "{unavailable:?}");
    assert_eq!(reason(&unavailable).as_deref(), Some("DEPENDENCY_UNAVAILABLE"));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    suite.stop().await;
}

/// ListReports: newest period first, then measure numbers in number order (2.1 before
/// 10.1), then department, the same across pages.
async fn lists_measures_in_number_order(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let mut admin = suite.reporting(Caller::Admin);
    let two = direct_units(&suite, "2.1").await;
    let ten = direct_units(&suite, "10.1").await;
    let mut keys = Vec::new();
    for month in [4, 5] {
        for (measure, departments) in [("10.1", &ten[..1]), ("2.1", &two[..2])] {
            for department in departments {
                let item = pb::Report {
                    measure_number: measure.into(),
                    department: department.clone(),
                    period: Some(common::Period { year: 2023, month }),
                    overall_status: pb::OverallStatus::OnTrack as i32,
                    narrative: "进展顺利".into(),
                    ..Default::default()
                };
                admin.submit_report(submit(item, "")).await.unwrap();
                keys.push((month, measure, department.clone()));
            }
        }
    }
    let order = |m: &str| m.split('.').map(|p| p.parse::<u32>().unwrap()).collect::<Vec<_>>();
    keys.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| order(a.1).cmp(&order(b.1)))
            .then_with(|| a.2.cmp(&b.2))
    });
    let expected: Vec<String> = keys
        .iter()
        .map(|(month, measure, department)| format!("{PLAN}/reports/{measure}~{department}~2023-{month:02}"))
        .collect();
    assert!(expected[0].contains("/2.1~"), "{expected:?}");

    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .list_reports(pb::ListReportsRequest {
                parent: PLAN.into(),
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        names.extend(page.reports.into_iter().map(|r| r.name));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(names, expected);
    let one_period = admin
        .list_reports(pb::ListReportsRequest {
            parent: PLAN.into(),
            period: Some(common::Period { year: 2023, month: 5 }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let measures: Vec<_> = one_period.reports.iter().map(|r| r.measure_number.as_str()).collect();
    assert_eq!(measures, ["2.1", "2.1", "10.1"]);
    suite.stop().await;
}

async fn next_event(events: &mut tonic::Streaming<pb::WatchReportEventsResponse>) -> pb::WatchReportEventsResponse {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
        .expect("an event, not an error")
}

fn watch_after(after_sequence: i64) -> pb::WatchReportEventsRequest {
    pb::WatchReportEventsRequest {
        parent: PLAN.into(),
        after_sequence,
        ..Default::default()
    }
}

/// Sets the event time of events up to `through` (every event if `None`) to 8 days ago.
async fn age_events(suite: &Suite, through: Option<i64>) {
    use duban_reporting::entity::report_event::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
        .await
        .unwrap();
    let old = chrono::Utc::now().timestamp_micros() - 8 * 24 * 3600 * 1_000_000;
    let mut update = Entity::update_many().col_expr(Column::EventTimeUs, Expr::value(old));
    if let Some(through) = through {
        update = update.filter(Column::Sequence.lte(through));
    }
    update.exec(&db).await.unwrap();
}

/// WatchReportEvents with `after_sequence`: stored events after it, then live ones,
/// nothing twice; OUT_OF_RANGE (EVENTS_EXPIRED) once events after it were pruned.
async fn watch_resumes_after_a_sequence(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let mut leader = suite.leadership().await;
    let mut live = leader.watch_report_events(watch_after(0)).await.unwrap().into_inner();
    for month in [3, 4, 5] {
        dept.submit_report(submit(report(&pick, month, 1.0), "")).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_event(&mut live).await);
    }
    drop(live);
    let sequences: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    let months: Vec<i32> = seen.iter().map(|e| e.period.unwrap().month).collect();
    assert_eq!(months, [3, 4, 5]);

    // Resume after the first: the other two are replayed, then a live one follows.
    let mut resumed = leader
        .watch_report_events(watch_after(sequences[0]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut resumed).await, seen[1]);
    assert_eq!(next_event(&mut resumed).await, seen[2]);
    let sixth = dept
        .submit_report(submit(report(&pick, 6, 1.0), ""))
        .await
        .unwrap()
        .into_inner();
    let live_one = next_event(&mut resumed).await;
    assert_eq!(live_one.report, sixth.name);
    assert!(live_one.sequence > sequences[2]);
    // Filters apply to the replay too.
    let mut accepted_only = leader
        .watch_report_events(pb::WatchReportEventsRequest {
            event_types: vec![pb::ReportEventType::Accepted as i32],
            ..watch_after(sequences[0])
        })
        .await
        .unwrap()
        .into_inner();
    leader
        .accept_report(pb::AcceptReportRequest {
            name: sixth.name.clone(),
            etag: sixth.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let accepted = next_event(&mut accepted_only).await;
    assert_eq!(
        (accepted.event_type, accepted.report.as_str()),
        (pb::ReportEventType::Accepted as i32, sixth.name.as_str())
    );
    let from_resumed = next_event(&mut resumed).await;
    assert_eq!(from_resumed.sequence, accepted.sequence);
    drop((resumed, accepted_only));

    // The first two events are older than the 7 days kept: resuming after the first
    // would miss the second, so OUT_OF_RANGE; resuming after the second misses nothing.
    age_events(&suite, Some(sequences[1])).await;
    let expired = leader.watch_report_events(watch_after(sequences[0])).await.unwrap_err();
    assert_eq!(expired.code(), Code::OutOfRange, "{expired:?}");
    assert_eq!(reason(&expired).as_deref(), Some("EVENTS_EXPIRED"));
    let mut after_second = leader
        .watch_report_events(watch_after(sequences[1]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut after_second).await, seen[2]);
    drop(after_second);

    // Every event expired: the newest stays as the high-water mark, so an old
    // sequence is still told EVENTS_EXPIRED, and the newest one resumes cleanly.
    age_events(&suite, None).await;
    let expired = leader.watch_report_events(watch_after(sequences[2])).await.unwrap_err();
    assert_eq!(expired.code(), Code::OutOfRange, "{expired:?}");
    let mut from_newest = leader
        .watch_report_events(watch_after(accepted.sequence))
        .await
        .unwrap()
        .into_inner();
    let seventh = dept
        .submit_report(submit(report(&pick, 7, 1.0), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut from_newest).await.report, seventh.name);
    suite.stop().await;
}

/// `progress.count_submitted`, on the same data: `false` counts only ACCEPTED
/// revisions; `true` counts the latest submitted one too and marks it provisional until
/// it is accepted.
async fn count_submitted_decides_what_counts(backend: Backend) {
    let Some(mut suite) = start(backend).await else {
        return;
    };
    assert!(
        suite.settings().progress.count_submitted,
        "the default counts submitted reports"
    );
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let token = suite.issue_token(dpb::Role::Leadership, "").await;
    let mut leader = suite.reporting(&token);

    let first = dept
        .submit_report(submit(report(&pick, 4, 3.0), ""))
        .await
        .unwrap()
        .into_inner();
    leader
        .accept_report(pb::AcceptReportRequest {
            name: first.name.clone(),
            etag: first.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let second = dept
        .submit_report(submit(report(&pick, 4, 5.0), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.revision, 2);

    let ask = pb::GetProgressRequest {
        parent: PLAN.into(),
        target_codes: vec![pick.target.code.clone()],
        include_provisional: true,
        ..Default::default()
    };
    let own = |response: pb::GetProgressResponse| {
        let target = response.targets.into_iter().next().unwrap();
        let own = target
            .contributions
            .iter()
            .find(|c| c.department == pick.department)
            .cloned()
            .unwrap();
        (own.value, own.provisional, own.reports, target.includes_provisional)
    };
    let counting = own(leader.get_progress(ask.clone()).await.unwrap().into_inner());
    assert_eq!(
        counting,
        (d("5"), true, vec![format!("{}@2", first.name)], true),
        "count_submitted = true: the submitted revision counts, marked provisional"
    );

    // The same database served with count_submitted = false (in place of the first
    // server: one reporting server per SQLite file).
    suite.shut_down(Server::Reporting).await;
    let mut strict_settings = suite.settings().clone();
    strict_settings.progress.count_submitted = false;
    strict_settings.reporting = testing::test_service(suite.database_url(Server::Reporting));
    let strict = duban_reporting::start(&strict_settings).await.unwrap();
    testing::wait_serving(strict.local_addr(), duban_reporting::SERVICE_NAME, STARTUP).await;
    let mut strict_leader = ReportingServiceClient::new(testing::channel(strict.local_addr(), Some(&token)));
    let accepted_only = own(strict_leader.get_progress(ask.clone()).await.unwrap().into_inner());
    assert_eq!(
        accepted_only,
        (d("3"), false, vec![format!("{}@1", first.name)], false),
        "count_submitted = false: only the accepted revision counts"
    );

    // Once accepted, both agree and nothing is provisional.
    strict_leader
        .accept_report(pb::AcceptReportRequest {
            name: second.name.clone(),
            etag: second.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let expected = (d("5"), false, vec![format!("{}@2", first.name)], false);
    assert_eq!(
        own(strict_leader.get_progress(ask.clone()).await.unwrap().into_inner()),
        expected
    );
    strict.shutdown().await;
    suite.restart(Server::Reporting).await;
    let mut leader = suite.reporting(&token);
    assert_eq!(own(leader.get_progress(ask).await.unwrap().into_inner()), expected);
    suite.stop().await;
}

/// 1000 items in one SubmitReports stream, with the production request timeout (30 s)
/// and a client deadline as long: every item stored, well within it.
async fn a_thousand_items_in_one_stream(backend: Backend) {
    let timeout_ms = Settings::default().server.request_timeout_ms;
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .configure(move |settings| settings.server.request_timeout_ms = timeout_ms)
        .start()
        .await
    else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let token = suite.issue_token(dpb::Role::Department, &pick.department).await;
    let channel = duban_kit::client::connect_lazy(
        &testing::endpoint(suite.addr(Server::Reporting)),
        Some(&token),
        Duration::from_millis(timeout_ms),
        &suite.settings().client,
    )
    .unwrap();
    let mut dept = ReportingServiceClient::new(channel);
    let items: Vec<_> = (0..1000)
        .map(|i| pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 3 + i % 10, f64::from(i))),
            request_id: format!("bulk-{i}"),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let response = dept
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    let elapsed = started.elapsed();
    eprintln!("SubmitReports, 1000 items in one stream, {backend:?}: {elapsed:?}");
    assert_eq!((response.succeeded_count, response.failed_count), (1000, 0));
    for (i, result) in response.results.iter().enumerate() {
        assert_eq!(result.index, i as i32);
        assert!(
            matches!(result.outcome, Some(pb::submit_reports_result::Outcome::Report(_))),
            "{result:?}"
        );
    }
    let db = duban_kit::db::connect(suite.database_url(Server::Reporting))
        .await
        .unwrap();
    let store = duban_reporting::store::ReportStore::new(db);
    assert_eq!(store.revision_count().await.unwrap(), 1000);

    // The aggregate follows the latest revision of each period (the last item of each
    // month is i = 990..=999; December's is 999).
    let progress = suite
        .leadership()
        .await
        .get_progress(pb::GetProgressRequest {
            parent: PLAN.into(),
            target_codes: vec![pick.target.code.clone()],
            include_provisional: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let own = progress.targets[0]
        .contributions
        .iter()
        .find(|c| c.department == pick.department)
        .unwrap();
    let expected = if pick.target.value_basis == common::ValueBasis::Period as i32 {
        (990..1000).sum::<i32>()
    } else {
        999
    };
    assert_eq!(own.value, d(&expected.to_string()), "{own:?}");
    suite.stop().await;
}

/// Two towns report amounts whose float sums are off (0.7 + 0.1 is 0.7999999999999999,
/// 0.1 + 0.2 is 0.30000000000000004): the totals are exact, and an AT_LEAST 0.8 target
/// reached by 0.7 + 0.1 is met. The plan is imported with 4.1's two SUM targets in
/// 亿元 with one decimal place, so the towns may report tenths.
async fn float_sums_are_exact_decimals(backend: Backend) {
    let Some(suite) = Suite::builder(backend)
        .with(Server::Gateway)
        .import_plan(false)
        .start()
        .await
    else {
        return;
    };
    let mut dataset = duban_harness::jiading_dataset();
    for (code, value) in [("new-enterprises", "0.8"), ("new-100m-projects", "0.3")] {
        let target = dataset.targets.iter_mut().find(|t| t.code == code).unwrap();
        target.unit = common::QuantityUnit::Cny100m as i32;
        target.value = d(value);
        target.decimal_places = Some(1);
    }
    suite
        .measures(Caller::Admin)
        .import_plan(mpb::ImportPlanRequest {
            dataset: Some(dataset),
            request_id: "import-tenths".into(),
            ..Default::default()
        })
        .await
        .expect("the changed plan imports");
    let target = suite
        .targets(Caller::Service)
        .get_target(tpb::GetTargetRequest {
            name: format!("{PLAN}/targets/new-enterprises"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(target.decimal_places, Some(1));
    let towns = &target.reporting_departments[..2];
    for (town, enterprises, projects) in [(&towns[0], "0.7", "0.1"), (&towns[1], "0.1", "0.2")] {
        let value = |code: &str, value: &str| pb::MetricValue {
            target_code: code.into(),
            value: d(value),
            unit: common::QuantityUnit::Cny100m as i32,
            basis: common::ValueBasis::Cumulative as i32,
        };
        let report = pb::Report {
            measure_number: "4.1".into(),
            period: Some(common::Period { year: 2023, month: 4 }),
            overall_status: pb::OverallStatus::OnTrack as i32,
            metric_values: vec![
                value("new-enterprises", enterprises),
                value("new-100m-projects", projects),
            ],
            ..Default::default()
        };
        suite
            .department(town)
            .await
            .submit_report(submit(report, &format!("tenths-{town}")))
            .await
            .expect("tenths are accepted");
    }
    // One place more than the target's is refused, naming the field.
    let mut too_precise = pb::Report {
        measure_number: "4.1".into(),
        period: Some(common::Period { year: 2023, month: 5 }),
        overall_status: pb::OverallStatus::OnTrack as i32,
        metric_values: vec![pb::MetricValue {
            target_code: "new-enterprises".into(),
            value: d("0.75"),
            unit: common::QuantityUnit::Cny100m as i32,
            basis: common::ValueBasis::Cumulative as i32,
        }],
        ..Default::default()
    };
    let refused = suite
        .department(&towns[0])
        .await
        .submit_report(submit(too_precise.clone(), "too-precise"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&refused)
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>(),
        // The town also owes new-100m-projects in a final report.
        [
            "report.metric_values[0].value",
            "report.metric_values[new-100m-projects]"
        ]
    );
    too_precise.metric_values[0].value = Some(common::Decimal { value: "7.5e-1".into() });
    let refused = suite
        .department(&towns[0])
        .await
        .submit_report(submit(too_precise, "exponent"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    let progress = suite
        .leadership()
        .await
        .get_progress(pb::GetProgressRequest {
            parent: PLAN.into(),
            target_codes: vec!["new-100m-projects".into(), "new-enterprises".into()],
            include_provisional: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let actuals: Vec<(&str, Option<&str>)> = progress
        .targets
        .iter()
        .map(|t| (t.target_code.as_str(), t.actual.as_ref().map(|a| a.value.as_str())))
        .collect();
    assert_eq!(
        actuals,
        [("new-100m-projects", Some("0.3")), ("new-enterprises", Some("0.8"))]
    );

    // The dashboard judges the exact total: 0.8 of an AT_LEAST 0.8 is met. Asked for today
    // in the plan's zone (Asia/Shanghai, UTC+8): left unset, the ended plan's last day is
    // shown, when nothing submitted now counts yet.
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let overview = suite
        .dashboard(suite.admin_token())
        .get_overview(duban_proto::gateway::v1::GetOverviewRequest {
            plan: PLAN.into(),
            as_of: Some(common::Date {
                year: chrono::Datelike::year(&today),
                month: chrono::Datelike::month(&today) as i32,
                day: chrono::Datelike::day(&today) as i32,
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .overview
        .unwrap();
    let status = overview
        .targets
        .iter()
        .find(|t| t.target.as_ref().is_some_and(|t| t.code == "new-enterprises"))
        .unwrap();
    assert_eq!(status.actual, d("0.8"));
    assert_eq!(status.percent_complete, Some(100.0));
    assert_eq!(status.rag, duban_proto::gateway::v1::RagStatus::Green as i32);
    suite.stop().await;
}

/// A department over its write quota is refused at once with RESOURCE_EXHAUSTED and a
/// RetryInfo, nothing stored; another department and the administrator go on.
async fn departments_write_within_their_quota(backend: Backend) {
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .configure(|settings| {
            settings.server.department_writes_per_second = 1;
            settings.server.department_write_burst = 2;
        })
        .start()
        .await
    else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    for month in [3, 4] {
        dept.submit_report(submit(report(&pick, month, 1.0), &format!("quota-{month}")))
            .await
            .unwrap();
    }
    let refused = dept
        .submit_report(submit(report(&pick, 5, 1.0), "quota-5"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("RATE_LIMITED"));
    let retry = refused.get_details_retry_info().expect("a RetryInfo");
    assert!(
        retry.retry_delay.is_some_and(|d| d <= Duration::from_secs(1)),
        "{retry:?}"
    );
    let stored = suite
        .leadership()
        .await
        .get_report(pb::GetReportRequest {
            name: key_name(&pick, &pick.department, 5),
        })
        .await
        .unwrap_err();
    assert_eq!(stored.code(), Code::NotFound, "nothing stored for the refused write");
    // Others are not held back by this department's bucket.
    let mut other = suite.department(&pick.other_department).await;
    let theirs = pb::Report {
        department: String::new(),
        ..report(&pick, 5, 1.0)
    };
    let answer = other.submit_report(submit(theirs, "quota-other")).await;
    assert_ne!(answer.map_err(|s| s.code()).err(), Some(Code::ResourceExhausted));
    let mut admin = suite.reporting(Caller::Admin);
    for month in [6, 7, 8] {
        let mut on_behalf = report(&pick, month, 1.0);
        on_behalf.department = pick.department.clone();
        admin
            .submit_report(submit(on_behalf, &format!("quota-admin-{month}")))
            .await
            .unwrap();
    }
    // After the delay, the department may write again.
    tokio::time::sleep(retry.retry_delay.unwrap()).await;
    dept.submit_report(submit(report(&pick, 5, 1.0), "quota-5"))
        .await
        .unwrap();
    suite.stop().await;
}

/// WatchReportEvents under the stream rules (SECURITY.md): one token holds at most
/// `server.max_streams_per_credential` streams, and a revoked token's stream ends with
/// UNAUTHENTICATED, CREDENTIAL_REVOKED, within the revocation window though no event
/// came meanwhile; another token's stream goes on.
async fn event_streams_are_bounded_and_end_when_revoked(backend: Backend) {
    let Some(suite) = Suite::builder(backend)
        .with(Server::Reporting)
        .configure(|settings| {
            settings.server.max_streams_per_credential = 1;
            settings.auth.cache_ttl_seconds = 1;
        })
        .start()
        .await
    else {
        return;
    };
    let issued = suite
        .departments(Caller::Admin)
        .issue_credential(dpb::IssueCredentialRequest {
            credential: Some(dpb::Credential {
                role: dpb::Role::Leadership as i32,
                description: "watches, then is revoked".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut leader = suite.reporting(&issued.token);
    let mut watching = leader.watch_report_events(watch_after(0)).await.unwrap().into_inner();
    let refused = leader.watch_report_events(watch_after(0)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("TOO_MANY_STREAMS"));
    let mut admin = suite
        .reporting(Caller::Admin)
        .watch_report_events(watch_after(0))
        .await
        .unwrap()
        .into_inner();

    suite
        .departments(Caller::Admin)
        .revoke_credential(dpb::RevokeCredentialRequest {
            name: issued.credential.unwrap().name,
            request_id: "revoke-the-watcher".into(),
        })
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), watching.message())
        .await
        .expect("the revoked token's stream ends within the revocation window")
        .expect_err("it ends with a status");
    assert_eq!(ended.code(), Code::Unauthenticated, "{ended:?}");
    assert_eq!(reason(&ended).as_deref(), Some("CREDENTIAL_REVOKED"));
    // The administrator's stream is still open: nothing ends it within a window.
    assert!(
        tokio::time::timeout(Duration::from_millis(2500), admin.message())
            .await
            .is_err(),
        "the administrator's stream must stay open"
    );
    suite.stop().await;
}

duban_kit::backend_tests!(
    event_streams_are_bounded_and_end_when_revoked,
    departments_write_within_their_quota,
    submits_revises_and_reviews,
    authoritative_progress_without_scanning,
    group_commit_streams_and_events,
    compliance_from_backfilled_history,
    serves_from_cache_while_measures_and_targets_are_down,
    lists_measures_in_number_order,
    watch_resumes_after_a_sequence,
    count_submitted_decides_what_counts,
    a_thousand_items_in_one_stream,
    float_sums_are_exact_decimals,
);
