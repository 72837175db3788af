//! Property-based tests of the write RPCs (issue 12 §2). Each property starts one suite,
//! then sends generated requests: a valid request built by the harness, with none, one or
//! a few of its fields replaced by arbitrary values (empty, huge, mixed-script and control
//! character strings; NaN, infinite, negative, huge and over-precise numbers; unknown enum
//! values; missing, duplicated and contradictory fields). For every request:
//!
//! - the server does not panic, and never answers INTERNAL or UNKNOWN;
//! - INVALID_ARGUMENT carries at least one field violation, each naming a field path;
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
use duban_proto::{common::v1 as common, decimal::Decimal, departments::v1 as dpb, reporting::v1 as rpb};
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
/// that lives as long as the suite; panics with the smallest failing input.
fn check<S, F, Fut>(runtime: &tokio::runtime::Runtime, strategy: S, property: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    let mut runner = TestRunner::new(config());
    if let Err(failure) = runner.run(&strategy, |input| runtime.block_on(property(input))) {
        panic!("{failure}");
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

/// Whether `field` is a field path: dotted names, each possibly indexed, like
/// `report.metric_values[2].unit` or `report.metric_values[new-enterprises]`.
fn is_field_path(field: &str) -> bool {
    !field.is_empty()
        && field.split('.').all(|segment| {
            let name = segment.split('[').next().unwrap_or_default();
            let index_closed = !segment.contains('[') || segment.ends_with(']');
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && index_closed
        })
}

/// The refusal rules every write shares: never INTERNAL, UNKNOWN or another code that
/// means the server failed rather than the request; INVALID_ARGUMENT names at least one
/// field and every violation names a field path.
fn refusal_is_sound(status: &Status) -> Result<(), TestCaseError> {
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
        let violations = status::field_violations(status);
        prop_assert!(!violations.is_empty(), "INVALID_ARGUMENT names no field: {status:?}");
        for violation in &violations {
            prop_assert!(
                is_field_path(&violation.field),
                "a violation that names no field path: {violation:?} in {status:?}"
            );
        }
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
            refusal_is_sound(status)?;
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
                    refusal_is_sound(status)?;
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
                    refusal_is_sound(status)?;
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
        refusal_is_sound(&status).unwrap();
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
                    refusal_is_sound(status)?;
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
                    refusal_is_sound(status)?;
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
                    refusal_is_sound(status)?;
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
                    refusal_is_sound(&status)?;
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
                        refusal_is_sound(&status)?;
                        // A request id past its own bound is not echoed.
                        let bad_id = duban_kit::status::field_violations(&status)
                            .iter()
                            .any(|v| v.field == "request_id");
                        let echo = if bad_id { "" } else { request.request_id.as_str() };
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
