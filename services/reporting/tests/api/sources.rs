//! Where each report revision came from (issue 16 §4): the source a submitter declares is
//! stored per revision, read back by every read, and recorded in the audit; an undeclared
//! source is the API, and a number that is no source is refused naming the field.

use std::collections::BTreeMap;

use super::*;

use pb::ReportSource as Source;

fn declared(report: pb::Report, request_id: &str, source: Source) -> pb::SubmitReportRequest {
    pb::SubmitReportRequest {
        source: source as i32,
        ..submit(report, request_id)
    }
}

fn sources(reports: &[pb::Report]) -> Vec<(i32, i32)> {
    reports.iter().map(|r| (r.revision, r.source)).collect()
}

async fn each_revision_keeps_its_declared_source(backend: Backend) {
    let Some(suite) = start(backend).await else {
        return;
    };
    let pick = suite.pick(Aggregation::Sum).await;
    let mut dept = suite.department(&pick.department).await;
    let name = key_name(&pick, &pick.department, 4);

    // Revision 1 declares nothing: the API. Then the web form and a workbook.
    let first = dept
        .submit_report(submit(report(&pick, 4, 1.0), "src-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.revision, first.source), (1, Source::Api as i32));
    let second = dept
        .submit_report(declared(report(&pick, 4, 2.0), "src-2", Source::WebForm))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((second.revision, second.source), (2, Source::WebForm as i32));
    let third = dept
        .submit_report(declared(report(&pick, 4, 3.0), "src-3", Source::Workbook))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(third.source, Source::Workbook as i32);

    // validate_only answers with the declared source and stores nothing.
    let mut check = declared(report(&pick, 4, 9.0), "src-check", Source::WebForm);
    check.validate_only = true;
    let would = dept.submit_report(check).await.unwrap().into_inner();
    assert_eq!((would.revision, would.source), (4, Source::WebForm as i32));

    // A stream's items declare their own: revision 4 from the command line, then an
    // undeclared item (the API), and one whose number is no source.
    let items = vec![
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 4, 4.0)),
            request_id: "src-4".into(),
            source: Source::CommandLine as i32,
            ..Default::default()
        },
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 4, 5.0)),
            request_id: "src-5".into(),
            ..Default::default()
        },
        pb::SubmitReportsRequest {
            parent: PLAN.into(),
            report: Some(report(&pick, 4, 6.0)),
            request_id: "src-bad-item".into(),
            source: 99,
            ..Default::default()
        },
    ];
    let streamed = dept
        .submit_reports(futures::stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((streamed.succeeded_count, streamed.failed_count), (2, 1));
    let stored: Vec<(i32, i32)> = streamed
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(pb::submit_reports_result::Outcome::Report(report)) => Some((report.revision, report.source)),
            _ => None,
        })
        .collect();
    assert_eq!(stored, [(4, Source::CommandLine as i32), (5, Source::Api as i32)]);
    let Some(pb::submit_reports_result::Outcome::Error(item_error)) = &streamed.results[2].outcome else {
        panic!("the item with source 99 was stored: {:?}", streamed.results[2]);
    };
    assert_eq!(item_error.code, Code::InvalidArgument as i32);
    let item_fields: Vec<String> = item_error
        .get_details_bad_request()
        .expect("bad request")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(item_fields, ["source"]);

    // SubmitReport refuses an unknown source the same way, naming the field.
    let mut unknown = submit(report(&pick, 4, 7.0), "src-bad");
    unknown.source = 99;
    let refused = dept.submit_report(unknown).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        field_violations(&refused)
            .into_iter()
            .map(|v| v.field)
            .collect::<Vec<_>>(),
        ["source"]
    );

    // Every read shows each revision's own source.
    let revisions = dept
        .list_report_revisions(pb::ListReportRevisionsRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reports;
    assert_eq!(
        sources(&revisions),
        [
            (5, Source::Api as i32),
            (4, Source::CommandLine as i32),
            (3, Source::Workbook as i32),
            (2, Source::WebForm as i32),
            (1, Source::Api as i32),
        ]
    );
    let leader = &mut suite.leadership().await;
    for (revision, source) in [(2, Source::WebForm), (3, Source::Workbook), (4, Source::CommandLine)] {
        let read = leader
            .get_report(pb::GetReportRequest {
                name: format!("{name}@{revision}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.source, source as i32, "revision {revision}");
    }
    let latest = leader
        .get_report(pb::GetReportRequest { name: name.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((latest.revision, latest.source), (5, Source::Api as i32));
    // A review changes the revision's state, not where it came from.
    let accepted = leader
        .accept_report(pb::AcceptReportRequest {
            name: name.clone(),
            etag: latest.etag,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.source, Source::Api as i32);
    dept.submit_report(declared(report(&pick, 5, 1.0), "src-may", Source::Workbook))
        .await
        .unwrap();
    let listed = leader
        .list_reports(pb::ListReportsRequest {
            parent: PLAN.into(),
            department: pick.department.clone(),
            measure_number: pick.target.measure_number.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reports;
    let listed: BTreeMap<String, i32> = listed.into_iter().map(|r| (r.name, r.source)).collect();
    assert_eq!(
        listed,
        BTreeMap::from([
            (name.clone(), Source::Api as i32),
            (key_name(&pick, &pick.department, 5), Source::Workbook as i32),
        ])
    );

    // The audit records every attempt's declared source, refusals and validate_only
    // included; a record of another method has none.
    let records = suite
        .reporting(Caller::Admin)
        .list_audit_records(pb::ListAuditRecordsRequest {
            resource_prefix: name.clone(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_records;
    let audited: BTreeMap<&str, (i32, i32)> = records
        .iter()
        .filter(|r| !r.request_id.is_empty())
        .map(|r| (r.request_id.as_str(), (r.code, r.source)))
        .collect();
    let ok = Code::Ok as i32;
    let invalid = Code::InvalidArgument as i32;
    assert_eq!(
        audited,
        BTreeMap::from([
            ("src-1", (ok, Source::Api as i32)),
            ("src-2", (ok, Source::WebForm as i32)),
            ("src-3", (ok, Source::Workbook as i32)),
            ("src-check", (ok, Source::WebForm as i32)),
            ("src-4", (ok, Source::CommandLine as i32)),
            ("src-5", (ok, Source::Api as i32)),
            ("src-bad-item", (invalid, Source::Unspecified as i32)),
            ("src-bad", (invalid, Source::Unspecified as i32)),
        ])
    );
    let review = records
        .iter()
        .find(|r| r.method.ends_with("/AcceptReport"))
        .expect("the acceptance is audited");
    assert_eq!(review.source, Source::Unspecified as i32);
    suite.stop().await;
}

duban_kit::backend_tests!(each_revision_keeps_its_declared_source);
