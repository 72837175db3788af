//! Bounds (issue 12 §1): every string and list of a request, and every client stream,
//! has the maximum its proto declares, checked by kit's layer before any handler runs.

use std::{
    collections::BTreeSet,
    hash::BuildHasher,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::*;

/// The fields a status's BadRequest names, in order.
fn named(status: &tonic::Status) -> BTreeSet<String> {
    field_violations(status).into_iter().map(|v| v.field).collect()
}

/// Asserts `answer` is INVALID_ARGUMENT (FIELD_INVALID) naming exactly `fields`.
fn assert_names<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, fields: &[&str]) {
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status).as_deref(), Some("FIELD_INVALID"), "{status:?}");
    let expected: BTreeSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(named(&status), expected, "{status:?}");
}

/// A `request_id` of several KB (over PostgreSQL's 2,704-byte key limit) or an etag past
/// its bound is refused naming the field, stores nothing, and does not hold back another
/// department's writes sent at the same time.
async fn oversize_keys_are_refused_alone(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let theirs = suite.pick(Aggregation::Authoritative).await;
    assert_ne!(pick.department, theirs.department, "two departments that report");
    let victim = suite.department(&pick.department).await;
    let attacker = suite.department(&theirs.department).await;
    // Valid reports in every other respect: without the bound, they reach the request
    // log's primary key. Random, so that PostgreSQL cannot compress the 4,800-byte key
    // under its 2,704-byte index limit.
    let state = std::hash::RandomState::new();
    let huge_id: String = (0..300).map(|i| format!("{:016x}", state.hash_one(i))).collect();

    let writes = (3..9).map(|month| {
        let mut victim = victim.clone();
        let request = submit(report(&pick, month, 1.0), &format!("fair-{month}"));
        tokio::spawn(async move { victim.submit_report(request).await })
    });
    let attacks = (3..9).map(|month| {
        let mut attacker = attacker.clone();
        let request = submit(report(&theirs, month, 1.0), &format!("{month}{huge_id}"));
        tokio::spawn(async move { attacker.submit_report(request).await })
    });
    let (writes, attacks): (Vec<_>, Vec<_>) = (writes.collect(), attacks.collect());
    for attack in attacks {
        assert_names(attack.await.unwrap(), &["request_id"]);
    }
    for write in writes {
        let stored = write.await.unwrap().expect("the other department's write succeeds");
        assert_eq!(stored.get_ref().department, pick.department);
    }
    let mut leadership = suite.leadership().await;
    let refused = leadership
        .get_report(pb::GetReportRequest {
            name: key_name(&theirs, &theirs.department, 3),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "nothing stored for a refused write");

    // An etag past its bound, on review and on submission.
    let name = key_name(&pick, &pick.department, 3);
    let accept = leadership
        .accept_report(pb::AcceptReportRequest {
            name: name.clone(),
            etag: "e".repeat(129),
            request_id: "accept-long-etag".into(),
            ..Default::default()
        })
        .await;
    assert_names(accept, &["etag"]);
    let mut resubmit = report(&pick, 3, 2.0);
    resubmit.etag = "e".repeat(5000);
    assert_names(
        victim.clone().submit_report(submit(resubmit, "long-etag")).await,
        &["report.etag"],
    );
    let current = leadership
        .get_report(pb::GetReportRequest { name })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (current.revision, current.state),
        (1, pb::report::State::Submitted as i32),
        "neither refused call changed the report"
    );
    suite.stop().await;
}

/// Strings and lists past their bounds are named by their full path, nested ones too,
/// all in one answer.
async fn names_every_field_past_its_bound(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let mut oversize = report(&pick, 3, 1.0);
    oversize.narrative = "进".repeat(4001);
    oversize.metric_values[0].target_code = "t".repeat(513);
    oversize.evidence_links = (0..21)
        .map(|n| pb::EvidenceLink {
            title: format!("证据{n}"),
            url: format!("https://example.org/{n}"),
            ..Default::default()
        })
        .collect();
    oversize.milestone_updates = vec![pb::MilestoneUpdate {
        note: "注".repeat(1001),
        ..Default::default()
    }];
    assert_names(
        dept.submit_report(submit(oversize, "oversize")).await,
        &[
            "report.narrative",
            "report.metric_values[0].target_code",
            "report.evidence_links",
            "report.milestone_updates[0].note",
        ],
    );
    // At the bound exactly, the same fields are accepted.
    let mut within = report(&pick, 3, 1.0);
    within.narrative = "进".repeat(4000);
    dept.submit_report(submit(within, "at-the-bound")).await.unwrap();
    suite.stop().await;
}

/// A SubmitReports stream is cut at its 1000th item: the server stops reading, answers
/// INVALID_ARGUMENT at once and gives no result for any later item, even when the client
/// would send items for ever.
async fn a_stream_is_cut_at_its_limit(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    // Endless items that each fail validation on their own (no parent), so that the
    // first 1000 are cheap; each carries a long (allowed) request id.
    let endless = futures::stream::iter(0..).map(move |i: usize| {
        counter.fetch_add(1, Ordering::Relaxed);
        pb::SubmitReportsRequest {
            request_id: format!("{i:0>120}"),
            validate_only: true,
            ..Default::default()
        }
    });
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), dept.submit_reports(endless))
        .await
        .expect("the server answers without waiting for the stream to end");
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status).as_deref(), Some("FIELD_INVALID"), "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("max_stream_items").map(String::as_str), Some("1000"));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let sent = sent.load(Ordering::Relaxed);
    assert!(
        (1001..200_000).contains(&sent),
        "the client could send only what flow control let through: {sent}"
    );
    suite.stop().await;
}

/// An item of a SubmitReports stream with a field past its bound is refused in its own
/// result, naming the field within the item; the items around it are stored as usual
/// (`stream_item_results`), and a request id past its bound is not echoed.
async fn a_stream_item_past_a_bound_is_refused_alone(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let item = |month: i32, request_id: String| {
        let single = submit(report(&pick, month, 1.0), &request_id);
        pb::SubmitReportsRequest {
            parent: single.parent,
            report: single.report,
            request_id: single.request_id,
            ..Default::default()
        }
    };
    let mut long_narrative = item(4, "long-narrative".into());
    long_narrative.report.as_mut().unwrap().narrative = "进".repeat(4001);
    let items = vec![
        item(3, "before".into()),
        long_narrative,
        item(5, "r".repeat(129)),
        item(6, "after".into()),
    ];
    let response = dept
        .submit_reports(futures::stream::iter(items))
        .await
        .expect("the stream is answered item by item")
        .into_inner();
    assert_eq!((response.succeeded_count, response.failed_count), (2, 2));
    let outcome = |index: usize| response.results[index].outcome.clone().unwrap();
    let refused = |index: usize| match outcome(index) {
        pb::submit_reports_result::Outcome::Error(error) => {
            let status = tonic::Status::with_details(
                Code::from(error.code),
                error.message.clone(),
                prost::Message::encode_to_vec(&error).into(),
            );
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            named(&status)
        }
        other => panic!("item {index} was not refused: {other:?}"),
    };
    assert_eq!(refused(1), BTreeSet::from(["report.narrative".to_owned()]));
    assert_eq!(refused(2), BTreeSet::from(["request_id".to_owned()]));
    let echoed: Vec<&str> = response.results.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(echoed, ["before", "long-narrative", "", "after"]);
    let mut leadership = suite.leadership().await;
    for (month, stored) in [(3, true), (4, false), (5, false), (6, true)] {
        let found = leadership
            .get_report(pb::GetReportRequest {
                name: key_name(&pick, &pick.department, month),
            })
            .await;
        assert_eq!(found.is_ok(), stored, "month {month}: {found:?}");
    }
    suite.stop().await;
}

duban_kit::backend_tests!(
    a_stream_item_past_a_bound_is_refused_alone,
    oversize_keys_are_refused_alone,
    names_every_field_past_its_bound,
    a_stream_is_cut_at_its_limit,
);
