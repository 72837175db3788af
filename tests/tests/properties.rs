//! Property-based tests of the write RPCs (issue 12 §2). Each property starts one suite,
//! then sends generated requests: a valid request built by the harness, with none, one or
//! a few of its fields replaced by arbitrary values (empty, huge, mixed-script and control
//! character strings; NaN, infinite, negative, huge and over-precise numbers; unknown enum
//! values; missing, duplicated and contradictory fields). For every request:
//!
//! - the server does not panic, and never answers INTERNAL or UNKNOWN;
//! - INVALID_ARGUMENT carries at least one field violation, and every violation names a
//!   field of the request by its path (`dataset.measures[4.2].responsible_units[6]`);
//! - nothing is stored when the request is refused (or is `validate_only`);
//! - an accepted request is stored exactly as sent: read back, it carries what was sent.
//!
//! CI runs every property with a fixed seed and [`DEFAULT_CASES`] cases, on SQLite only:
//! PostgreSQL would double the time, and the properties check the services' validation,
//! which is the same on both backends. A longer run sets `DUBAN_PROPTEST_CASES` (README,
//! "Tests and CI"); `DUBAN_PROPTEST_SEED` picks another seed.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
};

use duban_harness::{Caller, PLAN, ReportKey, Responsibility, Server, Suite};
use duban_kit::{status, testing::Backend};
use duban_proto::{
    common::v1 as common, decimal::Decimal, departments::v1 as dpb, measures::v1 as mpb, reporting::v1 as rpb,
    targets::v1 as tpb,
};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{RngSeed, TestCaseError, TestRunner},
};
use tonic::{Code, Status};

/// Cases per property in CI: enough to reach every kind of mutation several times while
/// the whole binary stays well under a minute and a half in a debug build.
const DEFAULT_CASES: u32 = 48;
/// The seed CI uses, so a failure there replays exactly.
const DEFAULT_SEED: u64 = 0x00d0_ba12_2023;

/// The runner's settings: a fixed seed, `DUBAN_PROPTEST_CASES` cases (default
/// [`DEFAULT_CASES`]), and no failure files written into the source tree.
fn config() -> ProptestConfig {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = from_env("DUBAN_PROPTEST_CASES").map_or(DEFAULT_CASES, |n| n as u32);
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(from_env("DUBAN_PROPTEST_SEED").unwrap_or(DEFAULT_SEED)),
        failure_persistence: None,
        // Shrinking reruns requests against a suite whose state has moved on; a few
        // hundred steps find a small case without running for minutes.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

/// Runs `property` over `strategy` on a runner from [`config`], inside one Tokio runtime
/// that lives as long as the suite; panics with the smallest failing input. That input
/// is the last one seen to fail: when shrinking stops at `max_shrink_iters`, proptest's
/// own report may show a simplification that passed.
fn check<S, F, Fut>(runtime: &tokio::runtime::Runtime, strategy: S, property: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let mut runner = TestRunner::new(config());
    let last_failing = std::cell::RefCell::new(None);
    let result = runner.run(&strategy, |input| {
        let shown = format!("{input:#?}");
        let outcome = runtime.block_on(property(input));
        if let Err(TestCaseError::Fail(reason)) = &outcome {
            *last_failing.borrow_mut() = Some(format!("{reason}\nsmallest failing input: {shown}"));
        }
        outcome
    });
    if let Err(failure) = result {
        match last_failing.into_inner() {
            Some(smallest) => panic!("{smallest}"),
            None => panic!("{failure}"),
        }
    }
}

/// A request id never used before in this process.
fn fresh_id(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("property-{what}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A multi-threaded runtime for one property's suite and all its cases.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The segments of a field path (AIP-161 names, with AIP-193's indexes and the keys the
/// protos document for keyed lists), each a field name and the indexes or keys after it
/// in brackets: `report.metric_values[2].unit`, `report.metric_values[new-enterprises]`,
/// or `dataset.measures[4.2].responsible_units[6]` (a key may hold dots); `None` if
/// `field` is not a field path.
fn field_path(field: &str) -> Option<Vec<(&str, Vec<&str>)>> {
    let mut segments = Vec::new();
    let mut rest = field;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        let is_name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        if name.is_empty() || !name.bytes().all(is_name) {
            return None;
        }
        rest = after;
        let mut keys = Vec::new();
        while let Some(open) = rest.strip_prefix('[') {
            let (key, close) = open.split_at(open.find(']')?);
            if key.is_empty() || key.contains('[') {
                return None;
            }
            keys.push(key);
            rest = &close[1..];
        }
        segments.push((name, keys));
        if rest.is_empty() {
            return Some(segments);
        }
        rest = rest.strip_prefix('.')?;
    }
}

/// Whether `field` names a field of the message `message` (a full proto name such as
/// `duban.measures.v1.ImportPlanRequest`): each name a field of the message before it,
/// an index or key only after a repeated field, and nothing after a scalar.
fn names_a_field_of(message: &str, field: &str) -> bool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| prost_reflect::DescriptorPool::decode(duban_proto::FILE_DESCRIPTOR_SET).unwrap());
    let (Some(mut message), Some(segments)) = (pool.get_message_by_name(message), field_path(field)) else {
        return false;
    };
    let last = segments.len() - 1;
    for (i, (name, keys)) in segments.into_iter().enumerate() {
        let Some(found) = message.get_field_by_name(name) else {
            return false;
        };
        if keys.len() > usize::from(found.is_list() || found.is_map()) {
            return false;
        }
        match found.kind() {
            prost_reflect::Kind::Message(next) if !found.is_map() => message = next,
            _ if i == last => return true,
            _ => return false,
        }
    }
    true
}

/// The refusal rules every write shares: never INTERNAL, UNKNOWN or another code that
/// means the server failed rather than the request; INVALID_ARGUMENT names at least one
/// field, and every violation names a field of the request message `request` (a full
/// proto name such as `duban.measures.v1.ImportPlanRequest`) by its path, so that a
/// client can point at it.
fn refusal_is_sound(status: &Status, request: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented | Code::Unavailable
        ),
        "the server failed instead of refusing: {status:?}"
    );
    prop_assert!(
        status::reason(status).is_some(),
        "a refusal without an ErrorInfo reason: {status:?}"
    );
    if status.code() == Code::InvalidArgument {
        prop_assert!(
            !status::field_violations(status).is_empty(),
            "INVALID_ARGUMENT names no field: {status:?}"
        );
    }
    for violation in status::field_violations(status) {
        prop_assert!(
            names_a_field_of(request, &violation.field),
            "a violation that names no field of {request}: {violation:?} in {status:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Generated values
// ---------------------------------------------------------------------------------------

/// Arbitrary text: empty, ASCII slugs, mixed scripts, control characters, any Unicode,
/// and huge (past every documented limit).
fn wild_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        "[a-z0-9.~/@-]{1,24}",
        "[\\x00-\\x1f\\x7f]{1,6}",
        "[a-zA-Z\\u{4e00}-\\u{4e80}\\u{0600}-\\u{0640}\\u{0400}-\\u{0440}\\u{1F600}-\\u{1F640} ]{1,40}",
        any::<String>(),
        (1usize..3, 0usize..3).prop_map(|(scale, which)| {
            let piece = ["字", "a", "\u{0}"][which];
            piece.repeat(4_001 * scale)
        }),
    ]
}

/// Arbitrary numbers as text: NaN, infinities, exponents, negatives, huge, more decimals
/// than any target allows, separators and spaces, and plain valid-looking numbers.
fn wild_number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            "-Infinity",
            "1e3",
            "1E308",
            "-0",
            "-1",
            "+1",
            "1,000",
            " 1",
            "1 ",
            "0x10",
            "１２",
            "",
            ".",
            "-",
            "1.",
            ".5",
            "0.0000000001",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            "99999999999999999999999999999999999",
        ])
        .prop_map(str::to_owned),
        any::<f64>().prop_map(|f| f.to_string()),
        "-?[0-9]{1,32}(\\.[0-9]{1,32})?",
        (0u32..=100, 0u32..1000).prop_map(|(whole, fraction)| format!("{whole}.{fraction:03}")),
        (0u32..=100).prop_map(|n| n.to_string()),
    ]
}

/// An enum number: mostly a known one (0 to 12 covers every enum's values here),
/// sometimes unknown or negative.
fn wild_enum() -> impl Strategy<Value = i32> {
    prop_oneof![4 => 0i32..12, 1 => any::<i32>()]
}

// ---------------------------------------------------------------------------------------
// SubmitReport
// ---------------------------------------------------------------------------------------

/// One change to a valid SubmitReport request.
#[derive(Debug, Clone)]
enum ReportChange {
    Parent(String),
    Measure(String),
    Department(String),
    Period(Option<(i32, i32)>),
    Status(i32),
    Narrative(String),
    Provisional(bool),
    Etag(String),
    RequestId(String),
    ValidateOnly,
    Value(Index, String),
    Unit(Index, i32),
    Basis(Index, i32),
    TargetCode(Index, String),
    /// The value left unset.
    NoValue(Index),
    /// The metric value left out.
    Drop(Index),
    /// The metric value sent twice.
    Duplicate(Index),
    Milestone {
        number: i32,
        code: String,
        description: String,
        status: i32,
        note: String,
        achieved: Option<(i32, i32, i32)>,
    },
    Blocker {
        description: String,
        severity: i32,
        support_unit: String,
        name: String,
        resolve: bool,
    },
    Evidence {
        title: String,
        url: String,
        sha256: String,
    },
}

fn report_change() -> impl Strategy<Value = ReportChange> {
    use ReportChange as C;
    let period = prop::option::of(prop_oneof![
        (2023i32..=2023, 1i32..=12),
        (2022i32..=2025, -1i32..=14),
        (any::<i32>(), any::<i32>()),
    ]);
    prop_oneof![
        1 => prop_oneof![wild_text(), Just("plans/jiading-2023".to_owned()), Just("plans/none".to_owned())]
            .prop_map(C::Parent),
        1 => prop_oneof![wild_text(), "[0-9]{1,2}\\.[0-9]{1,2}"].prop_map(C::Measure),
        1 => wild_text().prop_map(C::Department),
        1 => period.prop_map(C::Period),
        1 => wild_enum().prop_map(C::Status),
        1 => wild_text().prop_map(C::Narrative),
        1 => any::<bool>().prop_map(C::Provisional),
        1 => wild_text().prop_map(C::Etag),
        1 => wild_text().prop_map(C::RequestId),
        1 => Just(C::ValidateOnly),
        3 => (any::<Index>(), wild_number()).prop_map(|(i, v)| C::Value(i, v)),
        1 => (any::<Index>(), wild_enum()).prop_map(|(i, v)| C::Unit(i, v)),
        1 => (any::<Index>(), wild_enum()).prop_map(|(i, v)| C::Basis(i, v)),
        1 => (any::<Index>(), wild_text()).prop_map(|(i, v)| C::TargetCode(i, v)),
        1 => any::<Index>().prop_map(C::NoValue),
        1 => any::<Index>().prop_map(C::Drop),
        1 => any::<Index>().prop_map(C::Duplicate),
        1 => (
            -2i32..5,
            prop_oneof![wild_text(), Just("milestone-1".to_owned())],
            wild_text(),
            wild_enum(),
            wild_text(),
            prop::option::of((2022i32..2100, 0i32..14, 0i32..33))
        )
            .prop_map(|(number, code, description, status, note, achieved)| C::Milestone {
                number,
                code,
                description,
                status,
                note,
                achieved
            }),
        1 => (
            wild_text(),
            wild_enum(),
            prop_oneof![wild_text(), Just("tax-bureau".to_owned())],
            prop_oneof![3 => Just(String::new()), 1 => wild_text()],
            any::<bool>()
        )
            .prop_map(|(description, severity, support_unit, name, resolve)| C::Blocker {
                description,
                severity,
                support_unit,
                name,
                resolve
            }),
        1 => (
            wild_text(),
            prop_oneof![wild_text(), "https://[a-z]{1,10}\\.example/[a-z]{0,10}"],
            prop_oneof![Just(String::new()), wild_text(), "[0-9a-f]{64}"]
        )
            .prop_map(|(title, url, sha256)| C::Evidence { title, url, sha256 }),
    ]
}

/// Applies `change` to `request`.
fn apply_report_change(request: &mut rpb::SubmitReportRequest, change: &ReportChange) {
    use ReportChange as C;
    let report = request.report.get_or_insert_with(Default::default);
    let values = &mut report.metric_values;
    let slot = |i: &Index, len: usize| (len > 0).then(|| i.index(len));
    match change {
        C::Parent(parent) => request.parent.clone_from(parent),
        C::Measure(measure) => report.measure_number.clone_from(measure),
        C::Department(department) => report.department.clone_from(department),
        C::Period(period) => report.period = period.map(|(year, month)| common::Period { year, month }),
        C::Status(status) => report.overall_status = *status,
        C::Narrative(narrative) => report.narrative.clone_from(narrative),
        C::Provisional(provisional) => report.provisional = *provisional,
        C::Etag(etag) => report.etag.clone_from(etag),
        C::RequestId(id) => request.request_id.clone_from(id),
        C::ValidateOnly => request.validate_only = true,
        C::Value(i, value) => {
            if let Some(i) = slot(i, values.len()) {
                values[i].value = Some(common::Decimal { value: value.clone() });
            }
        }
        C::Unit(i, unit) => {
            if let Some(i) = slot(i, values.len()) {
                values[i].unit = *unit;
            }
        }
        C::Basis(i, basis) => {
            if let Some(i) = slot(i, values.len()) {
                values[i].basis = *basis;
            }
        }
        C::TargetCode(i, code) => {
            if let Some(i) = slot(i, values.len()) {
                values[i].target_code.clone_from(code);
            }
        }
        C::NoValue(i) => {
            if let Some(i) = slot(i, values.len()) {
                values[i].value = None;
            }
        }
        C::Drop(i) => {
            if let Some(i) = slot(i, values.len()) {
                values.remove(i);
            }
        }
        C::Duplicate(i) => {
            if let Some(i) = slot(i, values.len()) {
                let copy = values[i].clone();
                values.push(copy);
            }
        }
        C::Milestone {
            number,
            code,
            description,
            status,
            note,
            achieved,
        } => report.milestone_updates.push(rpb::MilestoneUpdate {
            milestone_number: *number,
            milestone_description: description.clone(),
            status: *status,
            achieve_date: achieved.map(|(year, month, day)| common::Date { year, month, day }),
            note: note.clone(),
            milestone_code: code.clone(),
        }),
        C::Blocker {
            description,
            severity,
            support_unit,
            name,
            resolve,
        } => report.blockers.push(rpb::Blocker {
            description: description.clone(),
            severity: *severity,
            support_unit: support_unit.clone(),
            name: name.clone(),
            resolve: *resolve,
            ..Default::default()
        }),
        C::Evidence { title, url, sha256 } => report.evidence_links.push(rpb::EvidenceLink {
            title: title.clone(),
            url: url.clone(),
            sha256: sha256.clone(),
        }),
    }
}

/// A generated SubmitReport case: which report key, and the changes to its valid request
/// (none in about a quarter of the cases).
#[derive(Debug, Clone)]
struct ReportCase {
    responsibility: Index,
    month: i32,
    changes: Vec<ReportChange>,
}

fn report_case() -> impl Strategy<Value = ReportCase> {
    (
        any::<Index>(),
        // The plan's reporting periods: March to December 2023.
        3i32..=12,
        prop_oneof![1 => Just(Vec::new()), 3 => prop::collection::vec(report_change(), 1..4)],
    )
        .prop_map(|(responsibility, month, changes)| ReportCase {
            responsibility,
            month,
            changes,
        })
}

/// The valid request of `case`, changed by its changes; a fresh `request_id` unless a
/// change sets one.
fn report_request(responsibilities: &[Responsibility], case: &ReportCase) -> rpb::SubmitReportRequest {
    let key = ReportKey::new(case.responsibility.get(responsibilities), case.month);
    let mut request = key.submission("按计划推进，本月完成招商签约。".into(), 7, fresh_id("submit"));
    if let Some(report) = request.report.as_mut() {
        report.department.clone_from(&key.department);
    }
    for change in &case.changes {
        apply_report_change(&mut request, change);
    }
    request
}

/// Every report's latest revision and etag, by name: what a refused write must leave as
/// it was.
async fn stored_reports(suite: &Suite) -> BTreeMap<String, (i32, String)> {
    let mut reporting = suite.reporting(Caller::Admin);
    let mut out = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = reporting
            .list_reports(rpb::ListReportsRequest {
                parent: PLAN.into(),
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.reports.into_iter().map(|r| (r.name, (r.revision, r.etag))));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// The decimal a value carries, for comparing values sent with values stored (servers
/// answer with the shortest form).
fn decimal_of(value: &rpb::MetricValue) -> Option<Decimal> {
    value.value.as_ref().and_then(|v| v.to_decimal().ok())
}

/// Checks that `stored` (read back) carries what `sent` asked to store.
fn report_stored_as_sent(sent: &rpb::Report, stored: &rpb::Report) -> Result<(), TestCaseError> {
    prop_assert_eq!(&stored.measure_number, &sent.measure_number);
    prop_assert_eq!(&stored.department, &sent.department);
    prop_assert_eq!(stored.period, sent.period);
    prop_assert_eq!(stored.overall_status, sent.overall_status);
    prop_assert_eq!(&stored.narrative, &sent.narrative);
    prop_assert_eq!(stored.provisional, sent.provisional);
    prop_assert_eq!(stored.state, rpb::report::State::Submitted as i32);
    let by_code = |values: &[rpb::MetricValue]| -> BTreeMap<String, _> {
        values
            .iter()
            .map(|v| (v.target_code.clone(), (decimal_of(v), v.unit, v.basis)))
            .collect()
    };
    prop_assert_eq!(stored.metric_values.len(), sent.metric_values.len());
    prop_assert_eq!(by_code(&stored.metric_values), by_code(&sent.metric_values));
    prop_assert_eq!(&stored.evidence_links, &sent.evidence_links);
    prop_assert_eq!(stored.milestone_updates.len(), sent.milestone_updates.len());
    for (stored, sent) in stored.milestone_updates.iter().zip(&sent.milestone_updates) {
        prop_assert_eq!(stored.status, sent.status);
        prop_assert_eq!(&stored.note, &sent.note);
        prop_assert_eq!(stored.achieve_date, sent.achieve_date);
    }
    prop_assert_eq!(stored.blockers.len(), sent.blockers.len());
    for (stored, sent) in stored.blockers.iter().zip(&sent.blockers) {
        if sent.name.is_empty() {
            prop_assert_eq!(&stored.description, &sent.description);
            prop_assert_eq!(stored.severity, sent.severity);
            prop_assert_eq!(&stored.support_unit, &sent.support_unit);
        }
    }
    Ok(())
}

/// The outcome rules for one SubmitReport (or SubmitReports item) answer: `before` and
/// `after` are [`stored_reports`] around it.
fn submission_outcome(
    sent: &rpb::SubmitReportRequest,
    answer: &Result<rpb::Report, Status>,
    stored: Option<&rpb::Report>,
    before: &BTreeMap<String, (i32, String)>,
    after: &BTreeMap<String, (i32, String)>,
) -> Result<(), TestCaseError> {
    match answer {
        Err(status) => {
            refusal_is_sound(status, "duban.reporting.v1.SubmitReportRequest")?;
            prop_assert_eq!(
                before,
                after,
                "a refused submission changed the stored reports: {:?}",
                status
            );
        }
        Ok(_) if sent.validate_only => {
            prop_assert_eq!(before, after, "a validate_only submission stored something");
        }
        Ok(answered) => {
            let report = sent.report.clone().unwrap_or_default();
            let name = answered.name.split('@').next().unwrap_or_default().to_owned();
            let previous = before.get(&name).map_or(0, |(revision, _)| *revision);
            prop_assert_eq!(
                answered.revision,
                previous + 1,
                "{} was not stored as a new revision",
                name
            );
            prop_assert_eq!(after.get(&name).map(|(revision, _)| *revision), Some(answered.revision));
            let stored = stored.expect("an accepted submission is read back");
            report_stored_as_sent(&report, stored)?;
            report_stored_as_sent(&report, answered)?;
        }
    }
    Ok(())
}

/// Reads back the report a submission answered, latest revision.
async fn read_back(suite: &Suite, answer: &Result<rpb::Report, Status>) -> Option<rpb::Report> {
    let answered = answer.as_ref().ok()?;
    let name = answered.name.split('@').next().unwrap_or_default().to_owned();
    suite
        .reporting(Caller::Admin)
        .get_report(rpb::GetReportRequest { name })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

/// Starts the reporting suite (and what it needs) on SQLite with the plan imported.
async fn reporting_suite() -> (Suite, Vec<Responsibility>) {
    let suite = Suite::builder(Backend::Sqlite)
        .with(Server::Reporting)
        .start()
        .await
        .expect("SQLite is always available");
    let responsibilities = suite.responsibilities().await.unwrap();
    (suite, responsibilities)
}

#[test]
fn submit_report_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let (suite, responsibilities) = runtime.block_on(reporting_suite());
    check(&runtime, report_case(), |case| {
        let (suite, responsibilities) = (&suite, &responsibilities);
        async move {
            let request = report_request(responsibilities, &case);
            let before = stored_reports(suite).await;
            let answer = suite
                .reporting(Caller::Admin)
                .submit_report(request.clone())
                .await
                .map(tonic::Response::into_inner);
            let stored = read_back(suite, &answer).await;
            let after = stored_reports(suite).await;
            if case.changes.is_empty() {
                prop_assert!(answer.is_ok(), "a valid report was refused: {:?}", answer);
            }
            submission_outcome(&request, &answer, stored.as_ref(), &before, &after)
        }
    });
    runtime.block_on(suite.stop());
}

// ---------------------------------------------------------------------------------------
// Departments: CreateDepartment, UpdateDepartment, UpdateGroupDesignation, IssueCredential,
// RevokeCredential
// ---------------------------------------------------------------------------------------

/// One change to a valid department (for CreateDepartment or UpdateDepartment).
#[derive(Debug, Clone)]
enum DepartmentChange {
    Name(String),
    Code(String),
    DisplayName(String),
    DisplayNameEn(String),
    Kind(i32),
    Aliases(Vec<String>),
    /// An alias sent twice.
    DuplicateAlias,
    /// The display name repeated as an alias.
    AliasIsName,
    Etag(String),
    Mask(Vec<String>),
    RequestId(String),
    ValidateOnly,
}

fn department_change() -> impl Strategy<Value = DepartmentChange> {
    use DepartmentChange as C;
    let mask_path = prop_oneof![
        prop::sample::select(vec![
            "display_name",
            "display_name_en",
            "kind",
            "aliases",
            "code",
            "name",
            "etag",
            "*"
        ])
        .prop_map(str::to_owned),
        wild_text(),
    ];
    prop_oneof![
        wild_text().prop_map(C::Name),
        prop_oneof![wild_text(), "[a-z][a-z0-9-]{0,70}", Just("tax-bureau".to_owned())].prop_map(C::Code),
        prop_oneof![wild_text(), Just("区税务局".to_owned())].prop_map(C::DisplayName),
        wild_text().prop_map(C::DisplayNameEn),
        wild_enum().prop_map(C::Kind),
        prop::collection::vec(wild_text(), 0..4).prop_map(C::Aliases),
        Just(C::DuplicateAlias),
        Just(C::AliasIsName),
        wild_text().prop_map(C::Etag),
        prop::collection::vec(mask_path, 0..3).prop_map(C::Mask),
        wild_text().prop_map(C::RequestId),
        Just(C::ValidateOnly),
    ]
}

/// A department write as generated: the department, its mask, request id and
/// validate_only (CreateDepartment ignores the mask).
#[derive(Debug, Clone, Default)]
struct DepartmentWrite {
    department: dpb::Department,
    mask: Option<Vec<String>>,
    request_id: String,
    validate_only: bool,
}

fn apply_department_change(write: &mut DepartmentWrite, change: &DepartmentChange) {
    use DepartmentChange as C;
    let department = &mut write.department;
    match change {
        C::Name(name) => department.name.clone_from(name),
        C::Code(code) => department.code.clone_from(code),
        C::DisplayName(name) => department.display_name.clone_from(name),
        C::DisplayNameEn(name) => department.display_name_en.clone_from(name),
        C::Kind(kind) => department.kind = *kind,
        C::Aliases(aliases) => department.aliases.clone_from(aliases),
        C::DuplicateAlias => {
            let alias = department.aliases.first().cloned().unwrap_or_else(|| "别名".into());
            department.aliases.extend([alias.clone(), alias]);
        }
        C::AliasIsName => department.aliases.push(department.display_name.clone()),
        C::Etag(etag) => department.etag.clone_from(etag),
        C::Mask(paths) => write.mask = Some(paths.clone()),
        C::RequestId(id) => write.request_id.clone_from(id),
        C::ValidateOnly => write.validate_only = true,
    }
}

fn department_changes() -> impl Strategy<Value = Vec<DepartmentChange>> {
    prop_oneof![1 => Just(Vec::new()), 3 => prop::collection::vec(department_change(), 1..4)]
}

/// A valid new unit, unique in this process: `n` keeps codes and names apart.
fn new_department(n: u64) -> dpb::Department {
    dpb::Department {
        code: format!("property-unit-{n}"),
        display_name: format!("属性测试单位{n}"),
        display_name_en: format!("Property test unit {n}"),
        kind: dpb::DepartmentKind::Bureau as i32,
        aliases: vec![format!("属性测试{n}号单位")],
        ..Default::default()
    }
}

/// How many units the directory holds.
async fn department_count(suite: &Suite) -> i32 {
    suite
        .departments(Caller::Admin)
        .list_departments(dpb::ListDepartmentsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .total_size
}

/// The unit named `name`, if any.
async fn department(suite: &Suite, name: &str) -> Option<dpb::Department> {
    suite
        .departments(Caller::Admin)
        .get_department(dpb::GetDepartmentRequest { name: name.to_owned() })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

/// Checks that `stored` carries the names, kind and aliases `expected` has. Names are
/// stored without leading and trailing white space (the departments service trims them,
/// as it trims credential descriptions): the one normalisation allowed.
fn department_stored_as(expected: &dpb::Department, stored: &dpb::Department) -> Result<(), TestCaseError> {
    prop_assert_eq!(&stored.code, &expected.code);
    prop_assert_eq!(stored.display_name.as_str(), expected.display_name.trim());
    prop_assert_eq!(stored.display_name_en.as_str(), expected.display_name_en.trim());
    prop_assert_eq!(stored.kind, expected.kind);
    prop_assert_eq!(&stored.aliases, &expected.aliases);
    Ok(())
}

/// A process-wide counter for unique codes and names.
fn next_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Starts the departments server alone on SQLite.
async fn departments_suite() -> Suite {
    Suite::builder(Backend::Sqlite)
        .with(Server::Departments)
        .start()
        .await
        .expect("SQLite is always available")
}

#[test]
fn create_department_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let suite = runtime.block_on(departments_suite());
    check(&runtime, department_changes(), |changes| {
        let suite = &suite;
        async move {
            let mut write = DepartmentWrite {
                department: new_department(next_number()),
                request_id: fresh_id("create"),
                ..Default::default()
            };
            for change in &changes {
                apply_department_change(&mut write, change);
            }
            let before = department_count(suite).await;
            let answer = suite
                .departments(Caller::Admin)
                .create_department(dpb::CreateDepartmentRequest {
                    department: Some(write.department.clone()),
                    request_id: write.request_id.clone(),
                    validate_only: write.validate_only,
                })
                .await
                .map(tonic::Response::into_inner);
            let after = department_count(suite).await;
            if changes.is_empty() {
                prop_assert!(answer.is_ok(), "a valid unit was refused: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.departments.v1.CreateDepartmentRequest")?;
                    prop_assert_eq!(before, after, "a refused CreateDepartment added a unit: {:?}", status);
                }
                Ok(_) if write.validate_only => prop_assert_eq!(before, after, "validate_only added a unit"),
                Ok(created) => {
                    prop_assert_eq!(after, before + 1);
                    let stored = department(suite, &created.name).await;
                    prop_assert!(stored.is_some(), "{} was answered but is not stored", created.name);
                    department_stored_as(&write.department, &stored.unwrap())?;
                    department_stored_as(&write.department, created)?;
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

/// What UpdateDepartment should leave stored: with no mask, each field `sent` sets
/// replaces the stored one; with a mask, exactly the fields it names do.
fn updated(before: &dpb::Department, sent: &dpb::Department, mask: Option<&[String]>) -> dpb::Department {
    let takes = |field: &str, set: bool| match mask {
        None | Some([]) => set,
        Some(paths) => paths.iter().any(|p| p == field),
    };
    let mut out = before.clone();
    if takes("display_name", !sent.display_name.is_empty()) {
        out.display_name.clone_from(&sent.display_name);
    }
    if takes("display_name_en", !sent.display_name_en.is_empty()) {
        out.display_name_en.clone_from(&sent.display_name_en);
    }
    if takes("kind", sent.kind != 0) {
        out.kind = sent.kind;
    }
    if takes("aliases", !sent.aliases.is_empty()) {
        out.aliases.clone_from(&sent.aliases);
    }
    out
}

#[test]
fn update_department_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let suite = runtime.block_on(departments_suite());
    let target = runtime.block_on(async {
        suite
            .departments(Caller::Admin)
            .create_department(dpb::CreateDepartmentRequest {
                department: Some(new_department(next_number())),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    });
    check(&runtime, department_changes(), |changes| {
        let (suite, target) = (&suite, &target.name);
        async move {
            let before = department(suite, target).await.unwrap();
            let n = next_number();
            let mut write = DepartmentWrite {
                department: dpb::Department {
                    name: target.clone(),
                    display_name: format!("属性测试改名单位{n}"),
                    aliases: vec![format!("属性测试改名{n}号")],
                    etag: before.etag.clone(),
                    ..Default::default()
                },
                request_id: fresh_id("update"),
                ..Default::default()
            };
            for change in &changes {
                apply_department_change(&mut write, change);
            }
            let units_before = department_count(suite).await;
            let answer = suite
                .departments(Caller::Admin)
                .update_department(dpb::UpdateDepartmentRequest {
                    department: Some(write.department.clone()),
                    update_mask: write.mask.clone().map(|paths| prost_types::FieldMask { paths }),
                    request_id: write.request_id.clone(),
                    validate_only: write.validate_only,
                })
                .await
                .map(tonic::Response::into_inner);
            let after = department(suite, target).await.unwrap();
            prop_assert_eq!(
                department_count(suite).await,
                units_before,
                "UpdateDepartment changed the unit count"
            );
            if changes.is_empty() {
                prop_assert!(answer.is_ok(), "a valid update was refused: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.departments.v1.UpdateDepartmentRequest")?;
                    prop_assert_eq!(
                        &before,
                        &after,
                        "a refused UpdateDepartment changed the unit: {:?}",
                        status
                    );
                }
                Ok(_) if write.validate_only => prop_assert_eq!(&before, &after, "validate_only changed the unit"),
                Ok(answered) if answered.name == *target => {
                    let expected = updated(&before, &write.department, write.mask.as_deref());
                    department_stored_as(&expected, &after)?;
                    department_stored_as(&expected, answered)?;
                }
                Ok(answered) => {
                    prop_assert!(false, "an update of {} answered {}", target, answered.name);
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

/// One change to a valid UpdateGroupDesignation request.
#[derive(Debug, Clone)]
enum DesignationChange {
    Group(String),
    Scope(String),
    Members(Vec<String>),
    /// One more member (perhaps no unit, or a unit of a kind the group does not admit).
    AddMember(String),
    /// A member listed again.
    DuplicateMember(Index),
    Etag(String),
    /// The output-only name and update time set (an update ignores them).
    OutputOnly(String, i64),
    RequestId(String),
    ValidateOnly,
    AllowMissing(bool),
}

impl DesignationChange {
    /// Whether a valid request stays valid with this change (`exists`: the designation
    /// exists already, so `allow_missing` does not matter).
    fn keeps_valid(&self, exists: bool) -> bool {
        match self {
            DesignationChange::OutputOnly(..) | DesignationChange::ValidateOnly => true,
            DesignationChange::AllowMissing(allow) => *allow || exists,
            _ => false,
        }
    }
}

/// A [`DesignationChange`], its values arbitrary or chosen to break one rule.
fn designation_change() -> impl Strategy<Value = DesignationChange> {
    use DesignationChange as C;
    // Codes of every kind: towns (admitted), a bureau and a company (not admitted), none.
    let known = vec![
        "anting-town",
        "nanxiang-town",
        "tax-bureau",
        "state-assets-group",
        "no-such-unit",
        " anting-town",
    ];
    let code = move || prop_oneof![2 => wild_text(), 1 => prop::sample::select(known.clone()).prop_map(str::to_owned)];
    let group = prop::sample::select(vec![
        "relevant-towns",
        "relevant-district-companies",
        "project-authorities",
        "all-towns",
        "no-such-group",
        "",
    ]);
    let etag = prop_oneof![
        wild_text(),
        prop::sample::select(vec!["\"1\"", "\"0\"", "\"-1\"", "\"99999999999999999999\"", "1"]).prop_map(str::to_owned),
    ];
    prop_oneof![
        prop_oneof![wild_text(), group.prop_map(str::to_owned)].prop_map(C::Group),
        prop_oneof![wild_text(), Just("plans/jiading-2023/measures/4.3".to_owned())].prop_map(C::Scope),
        prop::collection::vec(code(), 0..4).prop_map(C::Members),
        code().prop_map(C::AddMember),
        any::<Index>().prop_map(C::DuplicateMember),
        etag.prop_map(C::Etag),
        ("[a-z0-9/~ 字]{0,30}", any::<i64>()).prop_map(|(name, seconds)| C::OutputOnly(name, seconds)),
        wild_text().prop_map(C::RequestId),
        Just(C::ValidateOnly),
        any::<bool>().prop_map(C::AllowMissing),
    ]
}

fn apply_designation_change(request: &mut dpb::UpdateGroupDesignationRequest, change: &DesignationChange) {
    use DesignationChange as C;
    let designation = request.designation.get_or_insert_with(Default::default);
    match change {
        C::Group(group) => designation.group.clone_from(group),
        C::Scope(scope) => designation.scope.clone_from(scope),
        C::Members(members) => designation.members.clone_from(members),
        C::AddMember(member) => designation.members.push(member.clone()),
        C::DuplicateMember(i) => {
            if let Some(member) = pick(&mut designation.members, i).cloned() {
                designation.members.push(member);
            }
        }
        C::Etag(etag) => designation.etag.clone_from(etag),
        C::OutputOnly(name, seconds) => {
            designation.name.clone_from(name);
            designation.update_time = Some(prost_types::Timestamp {
                seconds: *seconds,
                nanos: 0,
            });
        }
        C::RequestId(id) => request.request_id.clone_from(id),
        C::ValidateOnly => request.validate_only = true,
        C::AllowMissing(allow) => request.allow_missing = *allow,
    }
}

/// A generated UpdateGroupDesignation case: whether the designation exists before
/// (created, then changed once so that its first etag is stale), which towns to
/// designate, and the changes to the valid request.
#[derive(Debug, Clone)]
struct DesignationCase {
    exists: bool,
    towns: Vec<Index>,
    changes: Vec<DesignationChange>,
}

fn designation_case() -> impl Strategy<Value = DesignationCase> {
    (
        any::<bool>(),
        prop::collection::vec(any::<Index>(), 1..4),
        prop_oneof![1 => Just(Vec::new()), 3 => prop::collection::vec(designation_change(), 1..4)],
    )
        .prop_map(|(exists, towns, changes)| DesignationCase { exists, towns, changes })
}

/// The entries of two maps that differ: `(key, before, after)`, `None` where absent.
fn differences<'a, K: Ord, V: PartialEq>(
    before: &'a BTreeMap<K, V>,
    after: &'a BTreeMap<K, V>,
) -> Vec<(&'a K, Option<&'a V>, Option<&'a V>)> {
    let keys: std::collections::BTreeSet<&K> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .map(|key| (key, before.get(key), after.get(key)))
        .filter(|(_, b, a)| b != a)
        .collect()
}

/// Every designation, by group and scope.
async fn designations(suite: &Suite) -> BTreeMap<(String, String), dpb::GroupDesignation> {
    let mut departments = suite.departments(Caller::Admin);
    let mut out = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = departments
            .list_group_designations(dpb::ListGroupDesignationsRequest {
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(
            page.designations
                .into_iter()
                .map(|d| ((d.group.clone(), d.scope.clone()), d)),
        );
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// The town codes of the directory, in code order.
async fn towns(suite: &Suite) -> Vec<String> {
    suite
        .departments(Caller::Admin)
        .list_departments(dpb::ListDepartmentsRequest {
            page_size: 500,
            kind: dpb::DepartmentKind::TownOrStreet as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .departments
        .into_iter()
        .map(|d| d.code)
        .collect()
}

/// The designated group every valid request designates towns for.
const DESIGNATED_GROUP: &str = "relevant-towns";

/// UpdateGroupDesignation: a valid designation of a few towns for `relevant-towns` in a
/// fresh scope, created (`allow_missing`) or updated with its etag, with arbitrary or
/// wrong groups (fixed, another kind's, none), scopes, members (no unit, a kind the
/// group does not admit, listed twice, none), etags (stale, huge, arbitrary), request
/// ids, output-only fields set, `allow_missing` off, `validate_only`. The request has no
/// update mask: it replaces the members. A refusal is sound and changes no designation,
/// as does `validate_only`; an update is stored as sent: read back (Get and List), the
/// designation has the group, scope and members sent, in order.
#[test]
fn update_group_designation_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let suite = runtime.block_on(departments_suite());
    let towns = runtime.block_on(towns(&suite));
    check(&runtime, designation_case(), |case| {
        let (suite, towns) = (&suite, &towns);
        async move {
            let scope = format!("plans/property-{}/measures/4.3", next_number());
            let mut members: Vec<String> = Vec::new();
            for town in case.towns.iter().map(|i| i.get(towns)) {
                if !members.contains(town) {
                    members.push(town.clone());
                }
            }
            let mut etag = String::new();
            if case.exists {
                for first in [towns[0].clone(), towns[1].clone()] {
                    let created = suite
                        .departments(Caller::Admin)
                        .update_group_designation(dpb::UpdateGroupDesignationRequest {
                            designation: Some(dpb::GroupDesignation {
                                group: DESIGNATED_GROUP.into(),
                                scope: scope.clone(),
                                members: vec![first],
                                ..Default::default()
                            }),
                            allow_missing: true,
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    etag = created.etag;
                }
            }
            let mut request = dpb::UpdateGroupDesignationRequest {
                designation: Some(dpb::GroupDesignation {
                    group: DESIGNATED_GROUP.into(),
                    scope: scope.clone(),
                    members,
                    etag,
                    ..Default::default()
                }),
                request_id: fresh_id("designate"),
                validate_only: false,
                allow_missing: !case.exists,
            };
            for change in &case.changes {
                apply_designation_change(&mut request, change);
            }
            let sent = request.designation.clone().unwrap_or_default();
            let key = (sent.group.clone(), sent.scope.clone());
            let before = designations(suite).await;
            let answer = suite
                .departments(Caller::Admin)
                .update_group_designation(request.clone())
                .await
                .map(tonic::Response::into_inner);
            let after = designations(suite).await;
            if case.changes.iter().all(|c| c.keeps_valid(case.exists)) {
                prop_assert!(answer.is_ok(), "a valid designation was refused: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.departments.v1.UpdateGroupDesignationRequest")?;
                    let changed = differences(&before, &after);
                    prop_assert!(
                        changed.is_empty(),
                        "a refused update changed {:?}: {:?}",
                        changed,
                        status
                    );
                }
                Ok(answered) => {
                    prop_assert_eq!(&answered.group, &sent.group);
                    prop_assert_eq!(&answered.scope, &sent.scope);
                    prop_assert_eq!(&answered.members, &sent.members);
                    let name = format!("groups/{}/designations/{}", sent.group, sent.scope.replace('/', "~"));
                    prop_assert_eq!(&answered.name, &name);
                    if let Some(previous) = before.get(&key) {
                        prop_assert_ne!(&answered.etag, &previous.etag, "an update kept the etag");
                    }
                    if request.validate_only {
                        let changed = differences(&before, &after);
                        prop_assert!(changed.is_empty(), "validate_only changed {:?}", changed);
                        return Ok(());
                    }
                    let stored = suite
                        .departments(Caller::Admin)
                        .get_group_designation(dpb::GetGroupDesignationRequest {
                            group: sent.group.clone(),
                            scope: sent.scope.clone(),
                        })
                        .await
                        .map(tonic::Response::into_inner);
                    prop_assert_eq!(
                        stored.as_ref().ok(),
                        Some(answered),
                        "Get does not read the update back"
                    );
                    prop_assert_eq!(after.get(&key), Some(answered), "List does not read the update back");
                    let changed: Vec<_> = differences(&before, &after)
                        .into_iter()
                        .filter(|c| *c.0 != key)
                        .collect();
                    prop_assert!(
                        changed.is_empty(),
                        "an update changed another designation: {:?}",
                        changed
                    );
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

/// The case the SubmitReport property found: a 4,001-character department was echoed in
/// the refusal's message and details, the trailers passed the client's header limit, and
/// the caller saw INTERNAL (h2 COMPRESSION_ERROR) instead of the refusal.
#[test]
fn a_huge_department_is_refused_not_answered_with_internal() {
    let runtime = runtime();
    runtime.block_on(async {
        let (suite, responsibilities) = reporting_suite().await;
        let mut request = ReportKey::new(&responsibilities[0], 3).submission("按计划推进".into(), 7, fresh_id("huge"));
        apply_report_change(&mut request, &ReportChange::Department("字".repeat(4_001)));
        let answer = suite.reporting(Caller::Admin).submit_report(request).await;
        let status = answer.expect_err("an unknown department is refused");
        refusal_is_sound(&status, "duban.reporting.v1.SubmitReportRequest").unwrap();
        suite.stop().await;
    });
}

/// Every credential, revoked ones too, oldest first.
async fn credentials(suite: &Suite) -> Vec<dpb::Credential> {
    let mut departments = suite.departments(Caller::Admin);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = departments
            .list_credentials(dpb::ListCredentialsRequest {
                page_size: 500,
                page_token,
                show_revoked: true,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.credentials);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

/// A generated IssueCredential request: role, department and description, each either
/// the valid one or arbitrary.
fn credential_request() -> impl Strategy<Value = dpb::IssueCredentialRequest> {
    let role = prop_oneof![3 => Just(dpb::Role::Department as i32), 1 => wild_enum()];
    let department = prop_oneof![3 => Just("tax-bureau".to_owned()), 1 => Just(String::new()), 1 => wild_text()];
    let description = prop_oneof![2 => Just("属性测试系统".to_owned()), 1 => wild_text()];
    let request_id = prop_oneof![3 => Just(None), 1 => wild_text().prop_map(Some)];
    (role, department, description, request_id, prop::bool::weighted(0.1)).prop_map(
        |(role, department, description, request_id, validate_only)| dpb::IssueCredentialRequest {
            credential: Some(dpb::Credential {
                role,
                department,
                description,
                ..Default::default()
            }),
            request_id: request_id.unwrap_or_else(|| fresh_id("issue")),
            validate_only,
        },
    )
}

#[test]
fn issue_credential_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let suite = runtime.block_on(departments_suite());
    check(&runtime, credential_request(), |request| {
        let suite = &suite;
        async move {
            let sent = request.credential.clone().unwrap_or_default();
            // An arbitrary request id may repeat an earlier case's: REQUEST_ID_REUSED then.
            let valid = request.request_id.starts_with("property-issue-")
                && sent.role == dpb::Role::Department as i32
                && sent.department == "tax-bureau"
                && sent.description == "属性测试系统";
            let before = credentials(suite).await;
            let answer = suite
                .departments(Caller::Admin)
                .issue_credential(request.clone())
                .await
                .map(tonic::Response::into_inner);
            let after = credentials(suite).await;
            if valid {
                prop_assert!(answer.is_ok(), "a valid credential was refused: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.departments.v1.IssueCredentialRequest")?;
                    prop_assert_eq!(
                        &before,
                        &after,
                        "a refused IssueCredential stored a credential: {:?}",
                        status
                    );
                }
                Ok(_) if request.validate_only => prop_assert_eq!(&before, &after, "validate_only stored a credential"),
                Ok(issued) => {
                    let issued = issued.credential.clone().unwrap_or_default();
                    prop_assert_eq!(after.len(), before.len() + 1, "no new credential is listed");
                    let stored = after.iter().find(|c| c.name == issued.name);
                    prop_assert_eq!(stored, Some(&issued), "the answer is not what is stored");
                    prop_assert_eq!(issued.role, sent.role);
                    prop_assert_eq!(&issued.department, &sent.department);
                    prop_assert_eq!(issued.description.as_str(), sent.description.trim());
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

#[test]
fn revoke_credential_refuses_with_named_fields_and_revokes_exactly_what_it_names() {
    let runtime = runtime();
    let suite = runtime.block_on(departments_suite());
    // Either a live credential issued for the case, or an arbitrary name.
    let name = prop_oneof![2 => Just(None), 1 => wild_text().prop_map(Some)];
    let request_id = prop_oneof![3 => Just(None), 1 => wild_text().prop_map(Some)];
    check(&runtime, (name, request_id), |(name, request_id)| {
        let suite = &suite;
        async move {
            let issued = suite
                .departments(Caller::Admin)
                .issue_credential(dpb::IssueCredentialRequest {
                    credential: Some(dpb::Credential {
                        role: dpb::Role::Leadership as i32,
                        description: "to be revoked".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .credential
                .unwrap_or_default();
            // An arbitrary request id may repeat an earlier case's: REQUEST_ID_REUSED then.
            let valid = name.is_none() && request_id.is_none();
            let name = name.unwrap_or_else(|| issued.name.clone());
            let before = credentials(suite).await;
            let answer = suite
                .departments(Caller::Admin)
                .revoke_credential(dpb::RevokeCredentialRequest {
                    name: name.clone(),
                    request_id: request_id.unwrap_or_else(|| fresh_id("revoke")),
                })
                .await
                .map(tonic::Response::into_inner);
            let after = credentials(suite).await;
            if valid {
                prop_assert!(answer.is_ok(), "a live credential was not revoked: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.departments.v1.RevokeCredentialRequest")?;
                    prop_assert_eq!(
                        &before,
                        &after,
                        "a refused RevokeCredential changed a credential: {:?}",
                        status
                    );
                }
                Ok(revoked) => {
                    prop_assert_eq!(&revoked.name, &name);
                    prop_assert!(revoked.revoke_time.is_some(), "the answer is not revoked");
                    let changed: Vec<_> = after.iter().filter(|c| !before.contains(c)).collect();
                    prop_assert!(changed.len() <= 1, "more than one credential changed: {:?}", changed);
                    prop_assert!(changed.iter().all(|c| c.name == name), "another credential changed");
                    prop_assert_eq!(after.iter().find(|c| c.name == name), Some(revoked));
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

// ---------------------------------------------------------------------------------------
// AcceptReport and ReturnReport
// ---------------------------------------------------------------------------------------

/// A generated review: accept or return, and which of name, etag, reason/comment and
/// request id are arbitrary instead of the valid ones.
#[derive(Debug, Clone)]
struct ReviewCase {
    accept: bool,
    responsibility: Index,
    month: i32,
    name: Option<String>,
    etag: Option<String>,
    reason: Option<String>,
    request_id: Option<String>,
}

fn review_case() -> impl Strategy<Value = ReviewCase> {
    let arbitrary = || prop_oneof![2 => Just(None), 1 => wild_text().prop_map(Some)];
    (
        any::<bool>(),
        any::<Index>(),
        3i32..=12,
        arbitrary(),
        arbitrary(),
        arbitrary(),
        arbitrary(),
    )
        .prop_map(
            |(accept, responsibility, month, name, etag, reason, request_id)| ReviewCase {
                accept,
                responsibility,
                month,
                name,
                etag,
                reason,
                request_id,
            },
        )
}

#[test]
fn accept_and_return_refuse_with_named_fields_and_store_exactly_the_review_sent() {
    let runtime = runtime();
    let (suite, responsibilities) = runtime.block_on(reporting_suite());
    check(&runtime, review_case(), |case| {
        let (suite, responsibilities) = (&suite, &responsibilities);
        async move {
            // A fresh SUBMITTED revision to review.
            let key = ReportKey::new(case.responsibility.get(responsibilities), case.month);
            let mut submission = key.submission("按计划推进".into(), 7, fresh_id("to-review"));
            if let Some(report) = submission.report.as_mut() {
                report.department.clone_from(&key.department);
            }
            let submitted = suite
                .reporting(Caller::Admin)
                .submit_report(submission)
                .await
                .unwrap()
                .into_inner();
            let valid = case.name.is_none()
                && case.etag.is_none()
                // An arbitrary request id may repeat an earlier case's: REQUEST_ID_REUSED then.
                && case.request_id.is_none()
                && (case.accept || case.reason.as_deref().is_none_or(|r| !r.trim().is_empty()));
            let name = case.name.clone().unwrap_or_else(|| key.name());
            let etag = case.etag.clone().unwrap_or_else(|| submitted.etag.clone());
            let reason = case.reason.clone().unwrap_or_else(|| "请补充佐证材料".into());
            let request_id = case.request_id.clone().unwrap_or_else(|| fresh_id("review"));
            let before = stored_reports(suite).await;
            let mut reporting = suite.reporting(Caller::Admin);
            let answer = if case.accept {
                reporting
                    .accept_report(rpb::AcceptReportRequest {
                        name: name.clone(),
                        etag,
                        comment: reason.clone(),
                        request_id,
                    })
                    .await
            } else {
                reporting
                    .return_report(rpb::ReturnReportRequest {
                        name: name.clone(),
                        etag,
                        reason: reason.clone(),
                        request_id,
                    })
                    .await
            }
            .map(tonic::Response::into_inner);
            let after = stored_reports(suite).await;
            if valid && reason.chars().count() <= 1000 {
                prop_assert!(answer.is_ok(), "a valid review was refused: {:?}", answer);
            }
            match &answer {
                Err(status) => {
                    let request = if case.accept {
                        "duban.reporting.v1.AcceptReportRequest"
                    } else {
                        "duban.reporting.v1.ReturnReportRequest"
                    };
                    refusal_is_sound(status, request)?;
                    prop_assert_eq!(&before, &after, "a refused review changed a report: {:?}", status);
                }
                Ok(reviewed) => {
                    let expected = if case.accept {
                        rpb::report::State::Accepted
                    } else {
                        rpb::report::State::Returned
                    };
                    prop_assert_eq!(reviewed.state, expected as i32);
                    prop_assert_eq!(reviewed.revision, submitted.revision, "a review made a revision");
                    let review = reviewed.review.clone().unwrap_or_default();
                    prop_assert_eq!(review.reason.as_str(), reason.as_str());
                    let stored = read_back(suite, &answer).await;
                    prop_assert_eq!(stored.as_ref().map(|r| r.state), Some(expected as i32));
                    prop_assert_eq!(stored.and_then(|r| r.review).map(|r| r.reason), Some(reason));
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

// ---------------------------------------------------------------------------------------
// SubmitReports
// ---------------------------------------------------------------------------------------

/// One generated SubmitReports item: a SubmitReport case, perhaps as a backfill with an
/// arbitrary submit time (seconds and nanos).
#[derive(Debug, Clone)]
struct StreamItem {
    report: ReportCase,
    backfill: bool,
    submit_time: Option<(i64, i32)>,
}

fn stream_item() -> impl Strategy<Value = StreamItem> {
    let submit_time = prop::option::of(prop_oneof![
        // 2023-03-03 to 2024-01-01, the plan's span.
        (1_677_801_600i64..1_704_067_200, 0i32..1_000_000_000),
        (any::<i64>(), any::<i32>()),
    ]);
    (report_case(), prop::bool::weighted(0.2), submit_time).prop_map(|(report, backfill, submit_time)| StreamItem {
        report,
        backfill,
        submit_time,
    })
}

#[test]
fn submit_reports_refuses_items_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let (suite, responsibilities) = runtime.block_on(reporting_suite());
    let items = prop::collection::vec(stream_item(), 1..4);
    check(&runtime, items, |items| {
        let (suite, responsibilities) = (&suite, &responsibilities);
        async move {
            let requests: Vec<rpb::SubmitReportsRequest> = items
                .iter()
                .map(|item| {
                    let single = report_request(responsibilities, &item.report);
                    rpb::SubmitReportsRequest {
                        parent: single.parent,
                        report: single.report,
                        request_id: single.request_id,
                        validate_only: single.validate_only,
                        backfill: item.backfill,
                        submit_time: item
                            .submit_time
                            .map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                        source: single.source,
                    }
                })
                .collect();
            let before = stored_reports(suite).await;
            let answer = suite
                .reporting(Caller::Admin)
                .submit_reports(tokio_stream::iter(requests.clone()))
                .await
                .map(tonic::Response::into_inner);
            let after = stored_reports(suite).await;
            let response = match answer {
                Err(status) => {
                    // A stream-level refusal (an item past a field's bound is answered
                    // in its own result: reporting.proto, SubmitReports) stores nothing.
                    refusal_is_sound(&status, "duban.reporting.v1.SubmitReportsRequest")?;
                    prop_assert_eq!(&before, &after, "a refused stream stored reports: {:?}", status);
                    return Ok(());
                }
                Ok(response) => response,
            };
            prop_assert_eq!(response.results.len(), requests.len(), "not one result per item");
            // Items are checked one by one against the state between them: only the
            // reports they name can change, so compare the rest of `before` and `after`.
            let mut touched = std::collections::BTreeSet::new();
            for (index, (result, request)) in response.results.iter().zip(&requests).enumerate() {
                prop_assert_eq!(result.index, index as i32);
                match &result.outcome {
                    Some(rpb::submit_reports_result::Outcome::Error(error)) => {
                        let status = Status::with_details(
                            Code::from_i32(error.code),
                            error.message.clone(),
                            prost::Message::encode_to_vec(error).into(),
                        );
                        refusal_is_sound(&status, "duban.reporting.v1.SubmitReportsRequest")?;
                        // A request id past its own bound (128 characters, no NUL) is not
                        // echoed; one refused otherwise (REQUEST_ID_REUSED) is.
                        let id = request.request_id.as_str();
                        let past_bound = id.chars().count() > 128 || id.contains('\0');
                        let echo = if past_bound { "" } else { id };
                        prop_assert_eq!(result.request_id.as_str(), echo);
                    }
                    Some(rpb::submit_reports_result::Outcome::Report(report)) => {
                        prop_assert_eq!(&result.request_id, &request.request_id);
                        if !request.validate_only {
                            touched.insert(report.name.split('@').next().unwrap_or_default().to_owned());
                            let sent = request.report.clone().unwrap_or_default();
                            report_stored_as_sent(&sent, report)?;
                            prop_assert_eq!(report.backfilled, request.backfill);
                        }
                    }
                    None => prop_assert!(false, "item {} has no outcome", index),
                }
            }
            let untouched = |reports: &BTreeMap<String, (i32, String)>| -> BTreeMap<String, (i32, String)> {
                reports
                    .iter()
                    .filter(|(name, _)| !touched.contains(*name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect()
            };
            prop_assert_eq!(untouched(&before), untouched(&after), "a refused item stored a report");
            for name in &touched {
                let grew = after.get(name).map(|(r, _)| *r) > before.get(name).map(|(r, _)| *r);
                prop_assert!(grew, "{} was answered as stored but has no new revision", name);
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}

// ---------------------------------------------------------------------------------------
// ImportPlan
// ---------------------------------------------------------------------------------------

/// A string field of a dataset. The change that sets it picks the element it belongs to
/// with two indexes: the action, measure or target, then the unit, milestone, policy
/// parameter or reporter.
#[derive(Debug, Clone, Copy)]
enum TextField {
    PlanId,
    DocumentNumber,
    Title,
    TitleEn,
    IssuingBody,
    IssuingBodyEn,
    Directory,
    TimeZone,
    ActionTitle,
    ActionTitleEn,
    MeasureNumber,
    MeasureTitle,
    MeasureTitleEn,
    MeasureText,
    UnitAsWritten,
    UnitCode,
    MilestoneCode,
    MilestoneDescription,
    MilestoneDescriptionEn,
    ParameterCode,
    ParameterName,
    ParameterNameEn,
    ParameterNote,
    TargetCode,
    TargetMeasure,
    TargetName,
    TargetNameEn,
    TargetReporter,
    TargetSource,
    TargetNote,
}

/// A decimal field of a dataset (picked as for [`TextField`]).
#[derive(Debug, Clone, Copy)]
enum NumberField {
    ParameterValue,
    TargetValue,
    TargetBaseline,
    TargetMilestoneValue,
}

/// An enum field of a dataset.
#[derive(Debug, Clone, Copy)]
enum EnumField {
    Frequency,
    ParameterUnit,
    ParameterComparator,
    TargetUnit,
    TargetComparator,
    TargetAggregation,
    TargetBasis,
}

/// An integer field of a dataset.
#[derive(Debug, Clone, Copy)]
enum IntField {
    DueDay,
    ActionNumber,
    MeasureAction,
    TargetDecimalPlaces,
}

/// A date field of a dataset (a target milestone's period takes the year and month).
#[derive(Debug, Clone, Copy)]
enum DateField {
    IssueDate,
    EffectiveFrom,
    EffectiveTo,
    MilestoneDate,
    MilestoneStart,
    TargetDeadline,
    TargetMilestonePeriod,
}

/// A list of a dataset.
#[derive(Debug, Clone, Copy)]
enum ListField {
    Actions,
    Measures,
    Targets,
    Units,
    Milestones,
    Parameters,
    Reporters,
    TargetMilestones,
}

/// One change to a valid ImportPlan request.
#[derive(Debug, Clone)]
enum PlanChange {
    Text(TextField, Index, Index, String),
    /// A decimal set to this text, or unset.
    Number(NumberField, Index, Index, Option<String>),
    Enum(EnumField, Index, Index, i32),
    Int(IntField, Index, i32),
    /// A date set to this year, month and day, or unset.
    Date(DateField, Index, Index, Option<(i32, i32, i32)>),
    /// A responsible unit's `lead` flag.
    Lead(Index, Index, bool),
    Aspirational(Index, bool),
    /// A list element left out.
    Drop(ListField, Index, Index),
    /// A list element sent again, this many more times.
    Repeat(ListField, Index, Index, usize),
    /// The plan's effective dates swapped: it ends before it starts.
    DatesReversed,
    /// The id of [`EXISTING_PLAN`], imported before the first case: the import revises
    /// it (or leaves it unchanged).
    ExistingPlan,
    Etag(String),
    /// Every output-only field set to this text or number, which an import ignores.
    OutputOnly(String, i32),
    RequestId(String),
    ValidateOnly,
    OverwriteRebaselined,
}

impl PlanChange {
    /// Whether a valid request stays valid with this change.
    fn keeps_valid(&self) -> bool {
        matches!(
            self,
            PlanChange::OutputOnly(..)
                | PlanChange::ExistingPlan
                | PlanChange::ValidateOnly
                | PlanChange::OverwriteRebaselined
        )
    }
}

/// Text for a dataset field: arbitrary, a plausible slug, or a value some field of the
/// dataset holds or could hold (measure numbers, unit names and codes, directories,
/// time zones), some with spaces around.
fn dataset_text() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "1.1",
        "1.2",
        "1.3",
        "2.1",
        "2.2",
        "9.9",
        "1.1 ",
        "1.01",
        "tax-bureau",
        "finance-bureau",
        "all-towns",
        "relevant-towns",
        "no-such-unit",
        "区税务局",
        " 区财政局 ",
        "区财政局",
        "各街镇",
        "相关街镇",
        "区不存在局",
        "jiading",
        "minhang",
        "Asia/Shanghai",
        "Mars/Olympus",
        "UTC",
        " 新建 ",
        "最高不超过50万元",
    ]);
    prop_oneof![
        3 => wild_text(),
        1 => "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,2}",
        2 => known.prop_map(str::to_owned),
    ]
}

fn plan_change() -> impl Strategy<Value = PlanChange> {
    use PlanChange as C;
    let text_field = prop::sample::select(vec![
        TextField::PlanId,
        TextField::DocumentNumber,
        TextField::Title,
        TextField::TitleEn,
        TextField::IssuingBody,
        TextField::IssuingBodyEn,
        TextField::Directory,
        TextField::TimeZone,
        TextField::ActionTitle,
        TextField::ActionTitleEn,
        TextField::MeasureNumber,
        TextField::MeasureTitle,
        TextField::MeasureTitleEn,
        TextField::MeasureText,
        TextField::UnitAsWritten,
        TextField::UnitCode,
        TextField::MilestoneCode,
        TextField::MilestoneDescription,
        TextField::MilestoneDescriptionEn,
        TextField::ParameterCode,
        TextField::ParameterName,
        TextField::ParameterNameEn,
        TextField::ParameterNote,
        TextField::TargetCode,
        TextField::TargetMeasure,
        TextField::TargetName,
        TextField::TargetNameEn,
        TextField::TargetReporter,
        TextField::TargetSource,
        TextField::TargetNote,
    ]);
    let number_field = prop::sample::select(vec![
        NumberField::ParameterValue,
        NumberField::TargetValue,
        NumberField::TargetBaseline,
        NumberField::TargetMilestoneValue,
    ]);
    let enum_field = prop::sample::select(vec![
        EnumField::Frequency,
        EnumField::ParameterUnit,
        EnumField::ParameterComparator,
        EnumField::TargetUnit,
        EnumField::TargetComparator,
        EnumField::TargetAggregation,
        EnumField::TargetBasis,
    ]);
    let int_field = prop::sample::select(vec![
        IntField::DueDay,
        IntField::ActionNumber,
        IntField::MeasureAction,
        IntField::TargetDecimalPlaces,
    ]);
    let date_field = prop::sample::select(vec![
        DateField::IssueDate,
        DateField::EffectiveFrom,
        DateField::EffectiveTo,
        DateField::MilestoneDate,
        DateField::MilestoneStart,
        DateField::TargetDeadline,
        DateField::TargetMilestonePeriod,
    ]);
    let list_field = prop::sample::select(vec![
        ListField::Actions,
        ListField::Measures,
        ListField::Targets,
        ListField::Units,
        ListField::Milestones,
        ListField::Parameters,
        ListField::Reporters,
        ListField::TargetMilestones,
    ]);
    let date = prop::option::of(prop_oneof![
        (2022i32..=2026, 1i32..=12, 1i32..=28),
        (2021i32..=2027, 0i32..=13, 0i32..=32),
        (any::<i32>(), any::<i32>(), any::<i32>()),
    ]);
    let int = prop_oneof![3 => -2i32..30, 1 => any::<i32>()];
    // Mostly one more copy; sometimes hundreds, for a refusal with that many problems.
    let times = prop_oneof![4 => 1usize..3, 1 => 3usize..400];
    let index = any::<Index>;
    prop_oneof![
        8 => (text_field, index(), index(), dataset_text()).prop_map(|(f, i, j, v)| C::Text(f, i, j, v)),
        4 => (number_field, index(), index(), prop::option::weighted(0.9, wild_number()))
            .prop_map(|(f, i, j, v)| C::Number(f, i, j, v)),
        2 => (enum_field, index(), index(), wild_enum()).prop_map(|(f, i, j, v)| C::Enum(f, i, j, v)),
        2 => (int_field, index(), int).prop_map(|(f, i, v)| C::Int(f, i, v)),
        3 => (date_field, index(), index(), date).prop_map(|(f, i, j, v)| C::Date(f, i, j, v)),
        1 => (index(), index(), any::<bool>()).prop_map(|(i, j, lead)| C::Lead(i, j, lead)),
        1 => (index(), any::<bool>()).prop_map(|(i, aspirational)| C::Aspirational(i, aspirational)),
        2 => (list_field.clone(), index(), index()).prop_map(|(f, i, j)| C::Drop(f, i, j)),
        2 => (list_field, index(), index(), times).prop_map(|(f, i, j, n)| C::Repeat(f, i, j, n)),
        1 => Just(C::DatesReversed),
        1 => prop_oneof![wild_text(), Just("\"1\"".to_owned())].prop_map(C::Etag),
        1 => wild_text().prop_map(C::RequestId),
        1 => Just(C::OverwriteRebaselined),
    ]
}

/// Free text of the kind a name, title or note may hold: any printable text, often with
/// white space around it (an ideographic space too).
fn free_text() -> impl Strategy<Value = String> {
    let space = || prop::sample::select(vec!["", "", " ", "  ", "\t", "\n", "\u{3000}"]);
    let text = prop_oneof!["\\PC{1,30}", "[a-zA-Z\u{4e00}-\u{4e80} ]{1,30}"];
    (space(), text, space()).prop_map(|(before, text, after)| format!("{before}{text}{after}"))
}

/// A free-text field (a name, an English title, a description, a note) reworded with
/// [`free_text`]: a change that mostly keeps the plan valid.
fn reword() -> impl Strategy<Value = PlanChange> {
    let field = prop::sample::select(vec![
        TextField::DocumentNumber,
        TextField::TitleEn,
        TextField::IssuingBody,
        TextField::IssuingBodyEn,
        TextField::ActionTitle,
        TextField::ActionTitleEn,
        TextField::MeasureTitleEn,
        TextField::MilestoneDescription,
        TextField::MilestoneDescriptionEn,
        TextField::ParameterName,
        TextField::ParameterNameEn,
        TextField::ParameterNote,
        TextField::TargetName,
        TextField::TargetNameEn,
        TextField::TargetNote,
    ]);
    (field, any::<Index>(), any::<Index>(), free_text()).prop_map(|(f, i, j, text)| PlanChange::Text(f, i, j, text))
}

/// A generated ImportPlan case, as the changes to the valid request: none, free text
/// reworded, or arbitrary changes; and independently of those, revising
/// [`EXISTING_PLAN`], `validate_only`, output-only fields set.
fn import_case() -> impl Strategy<Value = Vec<PlanChange>> {
    use PlanChange as C;
    let output_only = ("[a-z0-9 字]{0,20}", any::<i32>()).prop_map(|(text, number)| C::OutputOnly(text, number));
    (
        prop::option::weighted(0.2, Just(C::ExistingPlan)),
        prop_oneof![
            1 => Just(Vec::new()),
            3 => prop::collection::vec(reword(), 1..4),
            4 => prop::collection::vec(plan_change(), 1..4),
        ],
        prop::option::weighted(0.15, Just(C::ValidateOnly)),
        prop::option::weighted(0.1, output_only),
    )
        .prop_map(|(existing, changes, validate_only, output_only)| {
            let mut all: Vec<PlanChange> = existing.into_iter().collect();
            all.extend(changes);
            all.extend(validate_only.into_iter().chain(output_only));
            all
        })
}

/// The element of `items` that `at` picks, if there is any.
fn pick<'a, T>(items: &'a mut [T], at: &Index) -> Option<&'a mut T> {
    if items.is_empty() {
        return None;
    }
    items.get_mut(at.index(items.len()))
}

/// The string field `field` of the elements `at` and `inner` pick, if they exist.
fn text_slot<'a>(
    data: &'a mut mpb::PlanDataset,
    field: TextField,
    at: &Index,
    inner: &Index,
) -> Option<&'a mut String> {
    use TextField as F;
    let plan = data.plan.get_or_insert_with(Default::default);
    Some(match field {
        F::PlanId => &mut plan.id,
        F::DocumentNumber => &mut plan.document_number,
        F::Title => &mut plan.title,
        F::TitleEn => &mut plan.title_en,
        F::IssuingBody => &mut plan.issuing_body,
        F::IssuingBodyEn => &mut plan.issuing_body_en,
        F::Directory => &mut plan.directory,
        F::TimeZone => &mut plan.time_zone,
        F::ActionTitle => &mut pick(&mut data.actions, at)?.title,
        F::ActionTitleEn => &mut pick(&mut data.actions, at)?.title_en,
        F::MeasureNumber => &mut pick(&mut data.measures, at)?.number,
        F::MeasureTitle => &mut pick(&mut data.measures, at)?.title,
        F::MeasureTitleEn => &mut pick(&mut data.measures, at)?.title_en,
        F::MeasureText => &mut pick(&mut data.measures, at)?.text,
        F::UnitAsWritten => &mut pick(&mut pick(&mut data.measures, at)?.responsible_units, inner)?.as_written,
        F::UnitCode => &mut pick(&mut pick(&mut data.measures, at)?.responsible_units, inner)?.code,
        F::MilestoneCode => &mut pick(&mut pick(&mut data.measures, at)?.milestones, inner)?.code,
        F::MilestoneDescription => &mut pick(&mut pick(&mut data.measures, at)?.milestones, inner)?.description,
        F::MilestoneDescriptionEn => &mut pick(&mut pick(&mut data.measures, at)?.milestones, inner)?.description_en,
        F::ParameterCode => &mut pick(&mut pick(&mut data.measures, at)?.policy_parameters, inner)?.code,
        F::ParameterName => &mut pick(&mut pick(&mut data.measures, at)?.policy_parameters, inner)?.name,
        F::ParameterNameEn => &mut pick(&mut pick(&mut data.measures, at)?.policy_parameters, inner)?.name_en,
        F::ParameterNote => &mut pick(&mut pick(&mut data.measures, at)?.policy_parameters, inner)?.note,
        F::TargetCode => &mut pick(&mut data.targets, at)?.code,
        F::TargetMeasure => &mut pick(&mut data.targets, at)?.measure_number,
        F::TargetName => &mut pick(&mut data.targets, at)?.display_name,
        F::TargetNameEn => &mut pick(&mut data.targets, at)?.display_name_en,
        F::TargetReporter => pick(&mut pick(&mut data.targets, at)?.reporters, inner)?,
        F::TargetSource => &mut pick(&mut data.targets, at)?.source,
        F::TargetNote => &mut pick(&mut data.targets, at)?.note,
    })
}

/// Drops the element `at` picks, or sends it `times` more times.
fn edit_list<T: Clone>(items: &mut Vec<T>, at: &Index, times: Option<usize>) {
    if items.is_empty() {
        return;
    }
    let i = at.index(items.len());
    match times {
        None => {
            items.remove(i);
        }
        Some(times) => {
            let copy = items[i].clone();
            items.extend(std::iter::repeat_n(copy, times));
        }
    }
}

/// A contract date.
fn date_of((year, month, day): (i32, i32, i32)) -> common::Date {
    common::Date { year, month, day }
}

/// The plan's reporting cadence, set if missing.
fn cadence(data: &mut mpb::PlanDataset) -> &mut mpb::ReportingCadence {
    let plan = data.plan.get_or_insert_with(Default::default);
    plan.cadence.get_or_insert_with(Default::default)
}

/// Applies `change` to `request`.
fn apply_plan_change(request: &mut mpb::ImportPlanRequest, change: &PlanChange) {
    use PlanChange as C;
    let data = request.dataset.get_or_insert_with(Default::default);
    match change {
        C::Text(field, at, inner, text) => {
            if let Some(slot) = text_slot(data, *field, at, inner) {
                slot.clone_from(text);
            }
        }
        C::Number(field, at, inner, number) => {
            let number = number.clone().map(|value| common::Decimal { value });
            let target = pick(&mut data.targets, at);
            let slot = match field {
                NumberField::ParameterValue => pick(&mut data.measures, at)
                    .and_then(|m| pick(&mut m.policy_parameters, inner))
                    .map(|p| &mut p.value),
                NumberField::TargetValue => target.map(|t| &mut t.value),
                NumberField::TargetBaseline => target.map(|t| &mut t.baseline),
                NumberField::TargetMilestoneValue => target
                    .and_then(|t| pick(&mut t.milestones, inner))
                    .map(|m| &mut m.expected_value),
            };
            if let Some(slot) = slot {
                *slot = number;
            }
        }
        C::Enum(field, at, inner, value) => {
            let target = pick(&mut data.targets, at);
            let parameter = pick(&mut data.measures, at).and_then(|m| pick(&mut m.policy_parameters, inner));
            let slot = match field {
                EnumField::Frequency => Some(&mut cadence(data).frequency),
                EnumField::ParameterUnit => parameter.map(|p| &mut p.unit),
                EnumField::ParameterComparator => parameter.map(|p| &mut p.comparator),
                EnumField::TargetUnit => target.map(|t| &mut t.unit),
                EnumField::TargetComparator => target.map(|t| &mut t.comparator),
                EnumField::TargetAggregation => target.map(|t| &mut t.aggregation),
                EnumField::TargetBasis => target.map(|t| &mut t.value_basis),
            };
            if let Some(slot) = slot {
                *slot = *value;
            }
        }
        C::Int(field, at, value) => {
            let slot = match field {
                IntField::DueDay => Some(&mut cadence(data).due_day),
                IntField::ActionNumber => pick(&mut data.actions, at).map(|a| &mut a.number),
                IntField::MeasureAction => pick(&mut data.measures, at).map(|m| &mut m.action_number),
                IntField::TargetDecimalPlaces => {
                    if let Some(target) = pick(&mut data.targets, at) {
                        target.decimal_places = Some(*value);
                    }
                    None
                }
            };
            if let Some(slot) = slot {
                *slot = *value;
            }
        }
        C::Date(field, at, inner, date) => {
            let plan = data.plan.get_or_insert_with(Default::default);
            let milestone = pick(&mut data.measures, at).and_then(|m| pick(&mut m.milestones, inner));
            let target = pick(&mut data.targets, at);
            let slot = match field {
                DateField::IssueDate => Some(&mut plan.issue_date),
                DateField::EffectiveFrom => Some(&mut plan.effective_from),
                DateField::EffectiveTo => Some(&mut plan.effective_to),
                DateField::MilestoneDate => milestone.map(|m| &mut m.date),
                DateField::MilestoneStart => milestone.map(|m| &mut m.start_date),
                DateField::TargetDeadline => target.map(|t| &mut t.deadline),
                DateField::TargetMilestonePeriod => {
                    if let Some(m) = target.and_then(|t| pick(&mut t.milestones, inner)) {
                        m.period = date.map(|(year, month, _)| common::Period { year, month });
                    }
                    None
                }
            };
            if let Some(slot) = slot {
                *slot = date.map(date_of);
            }
        }
        C::Lead(at, inner, lead) => {
            if let Some(unit) = pick(&mut data.measures, at).and_then(|m| pick(&mut m.responsible_units, inner)) {
                unit.lead = *lead;
            }
        }
        C::Aspirational(at, aspirational) => {
            if let Some(target) = pick(&mut data.targets, at) {
                target.aspirational = *aspirational;
            }
        }
        C::Drop(list, at, inner) | C::Repeat(list, at, inner, _) => {
            let times = match change {
                C::Repeat(.., times) => Some(*times),
                _ => None,
            };
            match list {
                ListField::Actions => edit_list(&mut data.actions, at, times),
                ListField::Measures => edit_list(&mut data.measures, at, times),
                ListField::Targets => edit_list(&mut data.targets, at, times),
                ListField::Units => {
                    if let Some(m) = pick(&mut data.measures, at) {
                        edit_list(&mut m.responsible_units, inner, times);
                    }
                }
                ListField::Milestones => {
                    if let Some(m) = pick(&mut data.measures, at) {
                        edit_list(&mut m.milestones, inner, times);
                    }
                }
                ListField::Parameters => {
                    if let Some(m) = pick(&mut data.measures, at) {
                        edit_list(&mut m.policy_parameters, inner, times);
                    }
                }
                ListField::Reporters => {
                    if let Some(t) = pick(&mut data.targets, at) {
                        edit_list(&mut t.reporters, inner, times);
                    }
                }
                ListField::TargetMilestones => {
                    if let Some(t) = pick(&mut data.targets, at) {
                        edit_list(&mut t.milestones, inner, times);
                    }
                }
            }
        }
        C::DatesReversed => {
            let plan = data.plan.get_or_insert_with(Default::default);
            std::mem::swap(&mut plan.effective_from, &mut plan.effective_to);
        }
        C::ExistingPlan => data.plan.get_or_insert_with(Default::default).id = EXISTING_PLAN.into(),
        C::Etag(etag) => data.plan.get_or_insert_with(Default::default).etag.clone_from(etag),
        C::OutputOnly(text, number) => set_output_only(data, text, *number),
        C::RequestId(id) => request.request_id.clone_from(id),
        C::ValidateOnly => request.validate_only = true,
        C::OverwriteRebaselined => request.overwrite_rebaselined_targets = true,
    }
}

/// Sets every output-only field of `data` (ignored on import) to `text` or `number`.
fn set_output_only(data: &mut mpb::PlanDataset, text: &str, number: i32) {
    let time = Some(prost_types::Timestamp {
        seconds: i64::from(number),
        nanos: 0,
    });
    if let Some(plan) = data.plan.as_mut() {
        plan.name = text.to_owned();
        plan.revision = number;
        plan.revision_create_time = time;
        plan.create_time = time;
        plan.content_sha256 = text.to_owned();
    }
    for action in &mut data.actions {
        action.name = text.to_owned();
        action.etag = text.to_owned();
    }
    for measure in &mut data.measures {
        measure.name = text.to_owned();
        measure.etag = text.to_owned();
        for (i, unit) in measure.responsible_units.iter_mut().enumerate() {
            unit.kind = number;
            unit.display_name = text.to_owned();
            unit.position = number.wrapping_add(i as i32);
            unit.member_codes = vec![text.to_owned()];
        }
    }
    for target in &mut data.targets {
        target.name = text.to_owned();
        target.reporting_departments = vec![text.to_owned()];
        target.revision = number;
        target.original_value = Some(common::Decimal { value: text.to_owned() });
        target.original_deadline = Some(date_of((number, number, number)));
        target.revision_create_time = time;
        target.revision_reason = text.to_owned();
        target.rebaselined = number % 2 == 0;
    }
}

/// The id of a plan imported before the first case, which cases revise.
const EXISTING_PLAN: &str = "property-plan-existing";

/// A small valid plan (without its id): actions 1 and 2 of the Jiading plan with their
/// four measures (responsible units as written, milestones, policy parameters), the
/// target of measure 2.2, and a made-up target of measure 1.2 that sets every optional
/// field (baseline, deadline, decimal places, note, a milestone).
fn small_plan() -> mpb::PlanDataset {
    let mut data = duban_harness::jiading_dataset();
    data.actions.retain(|a| a.number <= 2);
    data.measures.retain(|m| m.action_number <= 2);
    data.targets.retain(|t| t.code == "worker-relay-stations");
    data.targets.push(tpb::Target {
        code: "guaranteed-loan-subsidies".into(),
        measure_number: "1.2".into(),
        display_name: "担保贷款贴息金额".into(),
        display_name_en: "Interest subsidised on guaranteed loans".into(),
        unit: common::QuantityUnit::Cny10k as i32,
        value: Some(common::Decimal { value: "1234.5".into() }),
        comparator: common::Comparator::AtLeast as i32,
        deadline: Some(date_of((2024, 6, 30))),
        baseline: Some(common::Decimal { value: "100".into() }),
        aggregation: common::Aggregation::Authoritative as i32,
        value_basis: common::ValueBasis::Cumulative as i32,
        reporters: vec!["区财政局".into()],
        source: "给予一年期全额贴息".into(),
        note: "made up for the property tests".into(),
        milestones: vec![tpb::TargetMilestone {
            period: Some(common::Period { year: 2023, month: 6 }),
            expected_value: Some(common::Decimal { value: "600".into() }),
        }],
        decimal_places: Some(2),
        ..Default::default()
    });
    if let Some(plan) = data.plan.as_mut() {
        plan.id.clear();
    }
    data
}

/// What an ImportPlan may change: every plan's current revision and content hash, by
/// name, and the current targets (code and revision) of plan `id`, or why they cannot be
/// listed.
#[derive(Debug, PartialEq)]
struct PlanState {
    plans: BTreeMap<String, (i32, String)>,
    targets: Result<Vec<(String, i32)>, Code>,
}

/// How `after` differs from `before`, for a failure message.
fn plan_changes(before: &PlanState, after: &PlanState) -> String {
    format!(
        "plans {:?}, targets {:?} -> {:?}",
        differences(&before.plans, &after.plans),
        before.targets,
        after.targets
    )
}

async fn plan_state(suite: &Suite, id: &str) -> PlanState {
    let mut measures = suite.measures(Caller::Admin);
    let mut plans = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = measures
            .list_plans(mpb::ListPlansRequest {
                page_size: 500,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        plans.extend(page.plans.into_iter().map(|p| (p.name, (p.revision, p.content_sha256))));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    PlanState {
        plans,
        targets: plan_targets(suite, &format!("plans/{id}")).await,
    }
}

/// The current targets of `plan`, code and revision, or the code of the refusal.
async fn plan_targets(suite: &Suite, plan: &str) -> Result<Vec<(String, i32)>, Code> {
    let mut targets = suite.targets(Caller::Admin);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = targets
            .list_targets(tpb::ListTargetsRequest {
                parent: plan.to_owned(),
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|status| status.code())?
            .into_inner();
        out.extend(page.targets.into_iter().map(|t| (t.code, t.revision)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// The number of a contract decimal, for comparing a figure sent with one stored.
fn number_of(value: Option<&common::Decimal>) -> Option<Decimal> {
    value.and_then(|v| v.to_decimal().ok())
}

/// Checks that `stored` (a measure as exported) carries what `sent` imported. A unit
/// sent without a code is stored with the code it resolves to; without any `lead`, the
/// first unit leads (measures.proto, ResponsibleUnit).
fn measure_stored_as_sent(sent: &mpb::Measure, stored: &mpb::Measure) -> Result<(), TestCaseError> {
    prop_assert_eq!(stored.action_number, sent.action_number);
    prop_assert_eq!(&stored.title, &sent.title);
    prop_assert_eq!(&stored.title_en, &sent.title_en);
    prop_assert_eq!(&stored.text, &sent.text);
    prop_assert_eq!(stored.responsible_units.len(), sent.responsible_units.len());
    let any_lead = sent.responsible_units.iter().any(|u| u.lead);
    for (i, (stored, sent)) in stored.responsible_units.iter().zip(&sent.responsible_units).enumerate() {
        prop_assert_eq!(&stored.as_written, &sent.as_written);
        if sent.code.is_empty() {
            prop_assert!(!stored.code.is_empty(), "{} was not resolved", sent.as_written);
        } else {
            prop_assert_eq!(&stored.code, &sent.code);
        }
        prop_assert_eq!(stored.lead, if any_lead { sent.lead } else { i == 0 });
        prop_assert_eq!(stored.position, i as i32 + 1);
    }
    prop_assert_eq!(&stored.milestones, &sent.milestones);
    prop_assert_eq!(stored.policy_parameters.len(), sent.policy_parameters.len());
    for (stored, sent) in stored.policy_parameters.iter().zip(&sent.policy_parameters) {
        prop_assert_eq!(&stored.code, &sent.code);
        prop_assert_eq!(&stored.name, &sent.name);
        prop_assert_eq!(&stored.name_en, &sent.name_en);
        prop_assert_eq!(number_of(stored.value.as_ref()), number_of(sent.value.as_ref()));
        prop_assert_eq!(stored.unit, sent.unit);
        prop_assert_eq!(&stored.note, &sent.note);
        prop_assert_eq!(stored.comparator, sent.comparator);
    }
    Ok(())
}

/// Checks that `stored` (a target as exported) carries what `sent` imported, in a plan
/// ending `effective_to` whose measure is `measure` as exported. What targets.proto
/// documents is allowed: an unset deadline is the plan's end, unset decimal places are
/// those of the target's own figures, and a reporter written as a responsible unit is
/// stored as its code.
fn target_stored_as_sent(
    sent: &tpb::Target,
    stored: &tpb::Target,
    effective_to: Option<common::Date>,
    measure: &mpb::Measure,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(&stored.measure_number, &sent.measure_number);
    prop_assert_eq!(&stored.display_name, &sent.display_name);
    prop_assert_eq!(&stored.display_name_en, &sent.display_name_en);
    prop_assert_eq!(stored.unit, sent.unit);
    prop_assert_eq!(number_of(stored.value.as_ref()), number_of(sent.value.as_ref()));
    prop_assert_eq!(stored.comparator, sent.comparator);
    prop_assert_eq!(stored.deadline, sent.deadline.or(effective_to));
    prop_assert_eq!(number_of(stored.baseline.as_ref()), number_of(sent.baseline.as_ref()));
    prop_assert_eq!(stored.aggregation, sent.aggregation);
    prop_assert_eq!(stored.value_basis, sent.value_basis);
    let as_code = |reporter: &String| {
        let units = &measure.responsible_units;
        match units.iter().find(|u| u.code == *reporter) {
            Some(_) => reporter.clone(),
            None => units
                .iter()
                .find(|u| u.as_written == *reporter)
                .map_or_else(|| reporter.clone(), |u| u.code.clone()),
        }
    };
    let reporters: Vec<String> = sent.reporters.iter().map(as_code).collect();
    prop_assert_eq!(&stored.reporters, &reporters);
    prop_assert_eq!(&stored.source, &sent.source);
    prop_assert_eq!(&stored.note, &sent.note);
    prop_assert_eq!(stored.aspirational, sent.aspirational);
    let figures = [&sent.value, &sent.baseline]
        .into_iter()
        .filter_map(|v| number_of(v.as_ref()));
    let places = figures.map(duban_proto::decimal::places).max().unwrap_or(0) as i32;
    prop_assert_eq!(stored.decimal_places, Some(sent.decimal_places.unwrap_or(places)));
    prop_assert_eq!(stored.milestones.len(), sent.milestones.len());
    for (stored, sent) in stored.milestones.iter().zip(&sent.milestones) {
        prop_assert_eq!(stored.period, sent.period);
        prop_assert_eq!(
            number_of(stored.expected_value.as_ref()),
            number_of(sent.expected_value.as_ref())
        );
    }
    Ok(())
}

/// Checks that `stored` (GetPlanDataset of the current revision) is the dataset `sent`
/// imported: the header as sent; actions, measures and targets as sent, by number or
/// code (the export lists them in number, then code order: measures.proto, PlanDataset).
fn dataset_stored_as_sent(sent: &mpb::PlanDataset, stored: &mpb::PlanDataset) -> Result<(), TestCaseError> {
    // The header's input fields (the etag is a version tag, not content).
    let header = |plan: &Option<mpb::Plan>| {
        let plan = plan.clone().unwrap_or_default();
        mpb::Plan {
            id: plan.id,
            document_number: plan.document_number,
            title: plan.title,
            title_en: plan.title_en,
            issuing_body: plan.issuing_body,
            issuing_body_en: plan.issuing_body_en,
            directory: plan.directory,
            issue_date: plan.issue_date,
            effective_from: plan.effective_from,
            effective_to: plan.effective_to,
            cadence: plan.cadence,
            time_zone: plan.time_zone,
            ..Default::default()
        }
    };
    prop_assert_eq!(header(&stored.plan), header(&sent.plan));
    let actions = |actions: &[mpb::Action]| -> BTreeMap<i32, (String, String)> {
        actions
            .iter()
            .map(|a| (a.number, (a.title.clone(), a.title_en.clone())))
            .collect()
    };
    prop_assert_eq!(stored.actions.len(), sent.actions.len());
    prop_assert_eq!(actions(&stored.actions), actions(&sent.actions));
    prop_assert_eq!(stored.measures.len(), sent.measures.len());
    for sent_measure in &sent.measures {
        let stored_measure = stored.measures.iter().find(|m| m.number == sent_measure.number);
        prop_assert!(
            stored_measure.is_some(),
            "measure {} is not stored",
            sent_measure.number
        );
        measure_stored_as_sent(sent_measure, stored_measure.unwrap())?;
    }
    prop_assert_eq!(stored.targets.len(), sent.targets.len());
    let effective_to = sent.plan.as_ref().and_then(|p| p.effective_to);
    for sent_target in &sent.targets {
        let stored_target = stored.targets.iter().find(|t| t.code == sent_target.code);
        prop_assert!(stored_target.is_some(), "target {} is not stored", sent_target.code);
        let measure = stored.measures.iter().find(|m| m.number == sent_target.measure_number);
        prop_assert!(measure.is_some(), "target {} has no measure", sent_target.code);
        target_stored_as_sent(sent_target, stored_target.unwrap(), effective_to, measure.unwrap())?;
    }
    Ok(())
}

/// Starts departments, targets and measures on SQLite, without the Jiading plan.
async fn measures_suite() -> Suite {
    Suite::builder(Backend::Sqlite)
        .with(Server::Measures)
        .import_plan(false)
        .start()
        .await
        .expect("SQLite is always available")
}

/// ImportPlan: a small valid plan ([`small_plan`]) under a fresh id, or revising
/// [`EXISTING_PLAN`], with arbitrary text, numbers, enum values and dates in any field,
/// list elements dropped or repeated (up to hundreds of times: duplicate numbers and
/// codes), references to what is not there (a target's measure, a reporter, a unit), the
/// plan's dates reversed, a stale or arbitrary etag, an arbitrary request id, output-only
/// fields set, `validate_only`. A refusal is sound and leaves every plan, and the plan's
/// targets, as they were; so does `validate_only`, whose problems each name a field of
/// the request. An accepted import is stored as sent: the export of the plan carries the
/// dataset imported, up to what measures.proto and targets.proto document (see
/// [`dataset_stored_as_sent`]).
#[test]
fn import_plan_refuses_with_named_fields_and_stores_exactly_what_it_accepts() {
    let runtime = runtime();
    let suite = runtime.block_on(measures_suite());
    let base = small_plan();
    let mut existing = base.clone();
    if let Some(plan) = existing.plan.as_mut() {
        plan.id = EXISTING_PLAN.into();
    }
    runtime.block_on(async {
        let request = mpb::ImportPlanRequest {
            dataset: Some(existing),
            ..Default::default()
        };
        suite.measures(Caller::Admin).import_plan(request).await.unwrap();
    });
    check(&runtime, import_case(), |changes| {
        let (suite, base) = (&suite, &base);
        async move {
            let mut dataset = base.clone();
            if let Some(plan) = dataset.plan.as_mut() {
                plan.id = format!("property-plan-{}", next_number());
            }
            let mut request = mpb::ImportPlanRequest {
                dataset: Some(dataset),
                request_id: fresh_id("import"),
                ..Default::default()
            };
            for change in &changes {
                apply_plan_change(&mut request, change);
            }
            let sent = request.dataset.clone().unwrap_or_default();
            let id = sent.plan.as_ref().map(|p| p.id.clone()).unwrap_or_default();
            let before = plan_state(suite, &id).await;
            let answer = suite
                .measures(Caller::Admin)
                .import_plan(request.clone())
                .await
                .map(tonic::Response::into_inner);
            let after = plan_state(suite, &id).await;
            if changes.iter().all(PlanChange::keeps_valid) {
                let outcome = answer.as_ref().map(|a| a.outcome);
                prop_assert!(
                    outcome.is_ok_and(|o| o != mpb::ImportOutcome::Invalid as i32),
                    "a valid plan was refused: {:?}",
                    answer
                );
            }
            match &answer {
                Err(status) => {
                    refusal_is_sound(status, "duban.measures.v1.ImportPlanRequest")?;
                    prop_assert!(
                        before == after,
                        "a refused import changed {}: {:?}",
                        plan_changes(&before, &after),
                        status
                    );
                }
                Ok(response) if request.validate_only => {
                    prop_assert!(
                        before == after,
                        "validate_only changed {}",
                        plan_changes(&before, &after)
                    );
                    let invalid = response.outcome == mpb::ImportOutcome::Invalid as i32;
                    prop_assert_eq!(invalid, !response.problems.is_empty());
                    for problem in &response.problems {
                        let field = format!("dataset.{}", problem.path);
                        prop_assert!(
                            names_a_field_of("duban.measures.v1.ImportPlanRequest", &field),
                            "a problem that names no field of the request: {:?}",
                            problem
                        );
                    }
                }
                Ok(response) => {
                    prop_assert!(response.problems.is_empty());
                    let outcome = mpb::ImportOutcome::try_from(response.outcome);
                    let revision = response.plan.as_ref().map_or(0, |p| p.revision);
                    let name = format!("plans/{id}");
                    let previous = before.plans.get(&name).map_or(0, |p| p.0);
                    let expected = match outcome {
                        Ok(mpb::ImportOutcome::Created) => 1,
                        Ok(mpb::ImportOutcome::Revised) => previous + 1,
                        Ok(mpb::ImportOutcome::Unchanged) => previous,
                        other => return Err(TestCaseError::fail(format!("an import answered {other:?}"))),
                    };
                    prop_assert_eq!(revision, expected, "answered {:?}", outcome);
                    let changed: Vec<_> = differences(&before.plans, &after.plans)
                        .into_iter()
                        .filter(|c| *c.0 != name)
                        .collect();
                    prop_assert!(changed.is_empty(), "an import changed another plan: {:?}", changed);
                    let exported = suite
                        .measures(Caller::Admin)
                        .get_plan_dataset(mpb::GetPlanDatasetRequest { name })
                        .await
                        .map(|r| r.into_inner().dataset.unwrap_or_default());
                    prop_assert!(exported.is_ok(), "an imported plan does not export: {:?}", exported);
                    let exported = exported.unwrap();
                    prop_assert_eq!(exported.plan.as_ref().map(|p| p.revision), Some(revision));
                    dataset_stored_as_sent(&sent, &exported)?;
                }
            }
            Ok(())
        }
    });
    runtime.block_on(suite.stop());
}
