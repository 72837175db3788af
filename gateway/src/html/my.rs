//! The unit's own page at `/my` (`my.html`) and its report form at `/my/obligations/{measure}/{period}`
//! (`my_form.html`): what a unit owes, its blockers, orders and reports, and one form per obligation
//! generated from the obligation's template. Everything shown is what reporting answered to the
//! unit's own token; the form's violations are reporting's, placed beside the fields they name.

use std::collections::BTreeMap;

use askama::Template;
use duban_proto::{
    common::v1::{QuantityUnit, ValueBasis},
    reporting::v1::{self as rpb, BlockerSeverity, MilestoneStatus, ObligationState, OrderPartState, OverallStatus},
};

use super::Lang;
use crate::{
    backends::Catalogue,
    calendar::{date_label, period_label},
};

/// The header of the unit's pages: who is signed in, the language switch and sign-out.
#[derive(Debug)]
pub struct UnitFrame<'a> {
    /// The page language.
    pub lang: Lang,
    /// The page title.
    pub title: String,
    /// The unit's name and code.
    pub unit: String,
    /// The page's own path (without query), for the language switch.
    pub path: String,
    /// The sign-out form's CSRF token, when the unit signed in through the login form.
    pub logout_csrf: Option<&'a str>,
}

impl UnitFrame<'_> {
    /// `?lang=en` or nothing: kept on links.
    pub fn query(&self) -> &'static str {
        self.lang.pick("", "?lang=en")
    }

    /// The query of the same page in the other language.
    pub fn switch_query(&self) -> &'static str {
        self.lang.pick("?lang=en", "")
    }
}

/// A unit's name and code as the header shows them.
pub fn unit_label(catalogue: &Catalogue, code: &str) -> String {
    let name = catalogue.department_name(code);
    if name == code {
        code.to_owned()
    } else {
        format!("{name}（{code}）")
    }
}

/// What `/my` shows, as reporting answered it to the unit.
#[derive(Debug, Default)]
pub struct MyData {
    /// Every obligation, newest period first.
    pub obligations: Vec<rpb::Obligation>,
    /// Open supervision orders addressed to the unit.
    pub orders: Vec<rpb::OrderObligation>,
    /// "Today" in the plan's zone, as reporting took it.
    pub today: Option<duban_proto::common::v1::Date>,
    /// The unit's own open blockers.
    pub own_blockers: Vec<rpb::Blocker>,
    /// Open blockers of other units asking this one for support.
    pub addressed_blockers: Vec<rpb::Blocker>,
    /// Each report's latest revision with all its revisions, newest first.
    pub reports: Vec<(rpb::Report, Vec<rpb::Report>)>,
}

struct ObligationRow {
    period: String,
    measure: String,
    title: String,
    due: String,
    state: &'static str,
    class: &'static str,
    revision: i32,
    return_reason: String,
    href: String,
    /// Whether something is owed now (due, late or returned).
    owed: bool,
}

struct OrderRow {
    title: String,
    due: String,
    state: &'static str,
    overdue: bool,
    return_reason: String,
}

struct BlockerRow {
    measure: String,
    department: String,
    description: String,
    severity: &'static str,
    support_unit: String,
    opened: String,
}

struct RevisionRow {
    revision: i32,
    submitted: String,
    state: &'static str,
    class: &'static str,
    status: &'static str,
    /// Where the revision came from: web form, workbook, API or command line.
    source: &'static str,
    review: String,
    return_reason: String,
}

struct ReportRow {
    measure: String,
    period: String,
    state: &'static str,
    class: &'static str,
    on_time: bool,
    revisions: Vec<RevisionRow>,
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage<'a> {
    frame: UnitFrame<'a>,
    today: String,
    obligations: Vec<ObligationRow>,
    owed: usize,
    orders: Vec<OrderRow>,
    own_blockers: Vec<BlockerRow>,
    addressed_blockers: Vec<BlockerRow>,
    reports: Vec<ReportRow>,
    /// The periods of the obligations, newest first, for the workbook's download.
    periods: Vec<String>,
}

/// An obligation's state: its label and badge class.
fn obligation_state(lang: Lang, state: i32) -> (&'static str, &'static str) {
    match ObligationState::try_from(state).unwrap_or_default() {
        ObligationState::NotDue => (lang.pick("未到期", "Not due"), ""),
        ObligationState::Due => (lang.pick("待报送", "Due"), "amber"),
        ObligationState::Late => (lang.pick("已逾期", "Late"), "red"),
        ObligationState::Submitted => (lang.pick("已报送，待审核", "Submitted"), "blue"),
        ObligationState::Accepted => (lang.pick("已通过", "Accepted"), "green"),
        ObligationState::Returned => (lang.pick("已退回", "Returned"), "red"),
        ObligationState::Unspecified => ("", ""),
    }
}

/// A report revision's review state: its label and badge class.
fn report_state(lang: Lang, state: i32) -> (&'static str, &'static str) {
    match rpb::report::State::try_from(state).unwrap_or_default() {
        rpb::report::State::Submitted => (lang.pick("待审核", "Submitted"), "blue"),
        rpb::report::State::Accepted => (lang.pick("已通过", "Accepted"), "green"),
        rpb::report::State::Returned => (lang.pick("已退回", "Returned"), "red"),
        rpb::report::State::Unspecified => ("", ""),
    }
}

fn severity_label(lang: Lang, severity: i32) -> &'static str {
    match BlockerSeverity::try_from(severity).unwrap_or_default() {
        BlockerSeverity::Low => lang.pick("低", "Low"),
        BlockerSeverity::Medium => lang.pick("中", "Medium"),
        BlockerSeverity::High => lang.pick("高", "High"),
        BlockerSeverity::Critical => lang.pick("严重", "Critical"),
        BlockerSeverity::Unspecified => "",
    }
}

fn order_state(lang: Lang, state: i32) -> &'static str {
    match OrderPartState::try_from(state).unwrap_or_default() {
        OrderPartState::Open => lang.pick("待答复", "awaiting your answer"),
        OrderPartState::Responded => lang.pick("已答复，待审核", "answered, awaiting review"),
        OrderPartState::Returned => lang.pick("已退回，待重新答复", "returned, answer again"),
        OrderPartState::Closed => lang.pick("已办结", "closed"),
        _ => "",
    }
}

/// A timestamp as the plan's day and time, `2023-07-03 10:00`.
fn time_label(catalogue: &Catalogue, time: Option<&prost_types::Timestamp>) -> String {
    let Some(time) = time else {
        return String::new();
    };
    chrono::DateTime::from_timestamp(time.seconds, 0)
        .map(|t| {
            t.with_timezone(&catalogue.calendar.cadence.zone.tz())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn measure_title(catalogue: &Catalogue, lang: Lang, number: &str) -> String {
    catalogue
        .measures
        .iter()
        .find(|m| m.number == number)
        .map(|m| lang.title(&m.title, &m.title_en).to_owned())
        .unwrap_or_default()
}

fn blocker_row(lang: Lang, catalogue: &Catalogue, blocker: &rpb::Blocker) -> BlockerRow {
    BlockerRow {
        measure: blocker.measure_number.clone(),
        department: catalogue.department_name(&blocker.department),
        description: blocker.description.clone(),
        severity: severity_label(lang, blocker.severity),
        support_unit: match blocker.support_unit.as_str() {
            "" => String::new(),
            code => catalogue.department_name(code),
        },
        opened: blocker.open_period.as_ref().map(period_label).unwrap_or_default(),
    }
}

/// The form's path for an obligation: `/my/obligations/4.1/2023-06`.
pub fn form_path(measure: &str, period: &duban_proto::common::v1::Period) -> String {
    format!("/my/obligations/{measure}/{}", period_label(period))
}

/// The unit's page at `/my`.
pub fn my_page(frame: UnitFrame<'_>, catalogue: &Catalogue, data: &MyData) -> Result<String, askama::Error> {
    let lang = frame.lang;
    let obligations: Vec<ObligationRow> = data
        .obligations
        .iter()
        .map(|o| {
            let (state, class) = obligation_state(lang, o.state);
            let period = o.period.unwrap_or_default();
            ObligationRow {
                period: period_label(&period),
                measure: o.measure_number.clone(),
                title: measure_title(catalogue, lang, &o.measure_number),
                due: o.due_date.as_ref().map(date_label).unwrap_or_default(),
                state,
                class,
                revision: o.revision,
                return_reason: o.return_reason.clone(),
                href: format!("{}{}", form_path(&o.measure_number, &period), frame.query()),
                owed: matches!(
                    ObligationState::try_from(o.state),
                    Ok(ObligationState::Due | ObligationState::Late | ObligationState::Returned)
                ),
            }
        })
        .collect();
    let mut periods: Vec<String> = obligations.iter().map(|o| o.period.clone()).collect();
    periods.dedup();
    let reports = data
        .reports
        .iter()
        .map(|(latest, revisions)| {
            let (state, class) = report_state(lang, latest.state);
            ReportRow {
                measure: latest.measure_number.clone(),
                period: latest.period.as_ref().map(period_label).unwrap_or_default(),
                state,
                class,
                on_time: latest.on_time,
                revisions: revisions
                    .iter()
                    .map(|r| {
                        let (state, class) = report_state(lang, r.state);
                        RevisionRow {
                            revision: r.revision,
                            submitted: time_label(catalogue, r.submit_time.as_ref()),
                            state,
                            class,
                            status: lang.status_name(r.overall_status),
                            source: lang.source_name(r.source),
                            review: r
                                .review
                                .as_ref()
                                .map(|review| review.reason.clone())
                                .unwrap_or_default(),
                            return_reason: r.return_reason.clone(),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    MyPage {
        today: data.today.as_ref().map(date_label).unwrap_or_default(),
        owed: obligations.iter().filter(|o| o.owed).count(),
        obligations,
        orders: data
            .orders
            .iter()
            .map(|o| OrderRow {
                title: o.title.clone(),
                due: o.response_due.as_ref().map(date_label).unwrap_or_default(),
                state: order_state(lang, o.state),
                overdue: o.overdue,
                return_reason: o.return_reason.clone(),
            })
            .collect(),
        own_blockers: data
            .own_blockers
            .iter()
            .map(|b| blocker_row(lang, catalogue, b))
            .collect(),
        addressed_blockers: data
            .addressed_blockers
            .iter()
            .map(|b| blocker_row(lang, catalogue, b))
            .collect(),
        reports,
        periods,
        frame,
    }
    .render()
}

/// What a form holds, as the unit filled it in: read from a post, or from the last revision.
#[derive(Debug, Clone, Default)]
pub struct Filled {
    /// `OverallStatus` as a number; 0 when not chosen.
    pub overall_status: i32,
    /// Preliminary figures (快报).
    pub provisional: bool,
    /// What was done and what comes next.
    pub narrative: String,
    /// Each slot's value as typed, by target code.
    pub values: BTreeMap<String, String>,
    /// Each milestone's status (as a number), achievement day and note, by milestone code.
    pub milestones: BTreeMap<String, (i32, String, String)>,
    /// For each open blocker (by position in the template): `keep`, `update` or `resolve`, a
    /// new description and a new severity (0 keeps it).
    pub blockers: BTreeMap<usize, (String, String, i32)>,
    /// A blocker to raise: description, severity, the unit asked for support.
    pub new_blocker: (String, i32, String),
    /// Evidence links: title and URL.
    pub evidence: Vec<(String, String)>,
}

impl Filled {
    /// The form of a revision: how the unit last filled it in (blockers are changes, so none).
    pub fn from_report(report: &rpb::Report) -> Filled {
        Filled {
            overall_status: report.overall_status,
            provisional: report.provisional,
            narrative: report.narrative.clone(),
            values: report
                .metric_values
                .iter()
                .map(|v| {
                    (
                        v.target_code.clone(),
                        v.value.as_ref().map(|d| d.value.clone()).unwrap_or_default(),
                    )
                })
                .collect(),
            milestones: report
                .milestone_updates
                .iter()
                .map(|m| {
                    let date = m.achieve_date.as_ref().map(date_label).unwrap_or_default();
                    (m.milestone_code.clone(), (m.status, date, m.note.clone()))
                })
                .collect(),
            blockers: BTreeMap::new(),
            new_blocker: Default::default(),
            evidence: report
                .evidence_links
                .iter()
                .map(|e| (e.title.clone(), e.url.clone()))
                .collect(),
        }
    }
}

/// One choice of a `<select>`.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<T: Into<i32> + Copy>(options: &[(T, &str)], current: i32, none: Option<&str>) -> Vec<Choice> {
    none.map(|label| Choice {
        value: "0".into(),
        label: label.to_owned(),
        selected: current == 0,
    })
    .into_iter()
    .chain(options.iter().map(|(value, label)| Choice {
        value: (*value).into().to_string(),
        label: (*label).to_owned(),
        selected: (*value).into() == current,
    }))
    .collect()
}

fn overall_choices(lang: Lang, current: i32) -> Vec<Choice> {
    let options: Vec<(i32, &str)> = [
        OverallStatus::NotStarted,
        OverallStatus::OnTrack,
        OverallStatus::AtRisk,
        OverallStatus::OffTrack,
        OverallStatus::Completed,
    ]
    .into_iter()
    .map(|s| (s as i32, lang.status_name(s as i32)))
    .collect();
    choices(&options, current, Some(lang.pick("— 请选择 —", "— choose —")))
}

fn milestone_choices(lang: Lang, current: i32) -> Vec<Choice> {
    let options = [
        (MilestoneStatus::NotStarted as i32, lang.pick("未开始", "Not started")),
        (MilestoneStatus::InProgress as i32, lang.pick("推进中", "In progress")),
        (MilestoneStatus::Achieved as i32, lang.pick("已完成", "Achieved")),
        (MilestoneStatus::Delayed as i32, lang.pick("延期", "Delayed")),
    ];
    choices(&options, current, Some(lang.pick("— 本期不报 —", "— not reported —")))
}

fn severity_choices(lang: Lang, current: i32, none: &str) -> Vec<Choice> {
    let options: Vec<(i32, &str)> = [
        BlockerSeverity::Low,
        BlockerSeverity::Medium,
        BlockerSeverity::High,
        BlockerSeverity::Critical,
    ]
    .into_iter()
    .map(|s| (s as i32, severity_label(lang, s as i32)))
    .collect();
    choices(&options, current, Some(none))
}

fn basis_label(lang: Lang, basis: i32) -> &'static str {
    match ValueBasis::try_from(basis).unwrap_or(ValueBasis::Unspecified) {
        ValueBasis::Cumulative => lang.pick("年内累计", "year to date"),
        ValueBasis::Period => lang.pick("当月数", "this month's own"),
        ValueBasis::Snapshot => lang.pick("月末时点数", "level at month end"),
        ValueBasis::Unspecified => "",
    }
}

fn unit_name(lang: Lang, unit: i32) -> &'static str {
    let unit = QuantityUnit::try_from(unit).unwrap_or(QuantityUnit::Unspecified);
    match lang {
        Lang::Zh => duban_plan::quantity::unit_label_zh(unit),
        Lang::En => duban_plan::quantity::unit_label_en(unit),
    }
}

struct SlotField {
    key: String,
    label: String,
    code: String,
    unit: &'static str,
    basis: &'static str,
    places: i32,
    required: bool,
    value: String,
    violations: Vec<String>,
}

struct MilestoneField {
    key: String,
    description: String,
    choices: Vec<Choice>,
    date: String,
    note: String,
    violations: Vec<String>,
}

struct BlockerField {
    key: String,
    description: String,
    severity: &'static str,
    support_unit: String,
    opened: String,
    actions: Vec<Choice>,
    new_description: String,
    severities: Vec<Choice>,
    violations: Vec<String>,
}

struct EvidenceField {
    key: String,
    title: String,
    url: String,
    violations: Vec<String>,
}

/// Reporting's answer to the form, as the page shows it.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Violations by form field (`value.<code>`, `ms.<code>`, `blocker.<i>`, `new_blocker`,
    /// `evidence.<i>`, `overall_status`, `narrative`).
    pub by_field: BTreeMap<String, Vec<String>>,
    /// What concerns no one field: a refusal, or a violation the form has no field for.
    pub general: Vec<String>,
    /// A check (validate_only) found nothing wrong.
    pub checked_ok: bool,
    /// The revision just stored (after the redirect).
    pub saved_revision: Option<i32>,
}

impl Verdict {
    fn take(&mut self, key: &str) -> Vec<String> {
        self.by_field.remove(key).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "my_form.html")]
struct FormPage<'a> {
    frame: UnitFrame<'a>,
    action: String,
    measure: String,
    title: String,
    period: String,
    due: String,
    state: &'static str,
    state_class: &'static str,
    revision: i32,
    return_reason: String,
    csrf: Option<&'a str>,
    request_id: &'a str,
    etag: String,
    overall: Vec<Choice>,
    overall_violations: Vec<String>,
    provisional: bool,
    narrative: String,
    narrative_violations: Vec<String>,
    slots: Vec<SlotField>,
    milestones: Vec<MilestoneField>,
    blockers: Vec<BlockerField>,
    new_blocker: (String, Vec<Choice>, Vec<Choice>, Vec<String>),
    evidence: Vec<EvidenceField>,
    general: Vec<String>,
    checked_ok: bool,
    saved_revision: Option<i32>,
    my_href: String,
}

/// Everything the form page is drawn from.
#[derive(Debug)]
pub struct FormInput<'a> {
    /// The obligation, with its template.
    pub obligation: &'a rpb::Obligation,
    /// What the form holds.
    pub filled: &'a Filled,
    /// Reporting's answer, if the form was checked or posted.
    pub verdict: Verdict,
    /// The form's idempotency key, fixed when it opened.
    pub request_id: &'a str,
    /// The session's CSRF token, when signed in through the login form.
    pub csrf: Option<&'a str>,
}

/// The report form of one obligation.
pub fn form_page(frame: UnitFrame<'_>, catalogue: &Catalogue, input: FormInput<'_>) -> Result<String, askama::Error> {
    let FormInput {
        obligation,
        filled,
        mut verdict,
        request_id,
        csrf,
    } = input;
    let lang = frame.lang;
    let template = obligation.template.clone().unwrap_or_default();
    let period = obligation.period.unwrap_or_default();
    let target_name = |code: &str| {
        catalogue
            .targets
            .iter()
            .flatten()
            .find(|t| t.target.code == code)
            .map(|t| lang.title(&t.target.display_name, &t.target.display_name_en).to_owned())
            .unwrap_or_else(|| code.to_owned())
    };
    let slots = template
        .slots
        .iter()
        .map(|slot| {
            let key = format!("value.{}", slot.target_code);
            SlotField {
                violations: verdict.take(&key),
                label: target_name(&slot.target_code),
                code: slot.target_code.clone(),
                unit: unit_name(lang, slot.unit),
                basis: basis_label(lang, slot.basis),
                places: slot.decimal_places.unwrap_or(0),
                required: slot.required,
                value: filled.values.get(&slot.target_code).cloned().unwrap_or_default(),
                key,
            }
        })
        .collect();
    let milestones = template
        .milestones
        .iter()
        .map(|m| {
            let key = format!("ms.{}", m.code);
            let (status, date, note) = filled.milestones.get(&m.code).cloned().unwrap_or_default();
            MilestoneField {
                violations: verdict.take(&key),
                description: m.description.clone(),
                choices: milestone_choices(lang, status),
                date,
                note,
                key,
            }
        })
        .collect();
    let blockers = template
        .open_blockers
        .iter()
        .enumerate()
        .map(|(index, b)| {
            let key = format!("blocker.{index}");
            let (action, description, severity) = filled.blockers.get(&index).cloned().unwrap_or_default();
            let actions = [
                ("keep", lang.pick("保持不变", "keep open")),
                ("update", lang.pick("更新", "update")),
                ("resolve", lang.pick("已解决（关闭）", "resolved (close)")),
            ]
            .into_iter()
            .map(|(value, label)| Choice {
                value: value.into(),
                label: label.into(),
                selected: value == action || (action.is_empty() && value == "keep"),
            })
            .collect();
            let row = blocker_row(lang, catalogue, b);
            BlockerField {
                violations: verdict.take(&key),
                description: row.description,
                severity: row.severity,
                support_unit: row.support_unit,
                opened: row.opened,
                actions,
                new_description: description,
                severities: severity_choices(lang, severity, lang.pick("不变", "unchanged")),
                key,
            }
        })
        .collect();
    let (new_description, new_severity, new_support) = &filled.new_blocker;
    let support_units = std::iter::once(Choice {
        value: String::new(),
        label: lang.pick("— 无 —", "— none —").into(),
        selected: new_support.is_empty(),
    })
    .chain(
        catalogue
            .department_names
            .iter()
            .filter(|(code, _)| **code != obligation.department)
            .map(|(code, name)| Choice {
                value: code.clone(),
                label: name.clone(),
                selected: code == new_support,
            }),
    )
    .collect();
    let new_blocker = (
        new_description.clone(),
        severity_choices(lang, *new_severity, lang.pick("— 请选择 —", "— choose —")),
        support_units,
        verdict.take("new_blocker"),
    );
    // The links given, and always two empty rows for more.
    let evidence = filled
        .evidence
        .iter()
        .cloned()
        .chain(std::iter::repeat_n((String::new(), String::new()), 2))
        .enumerate()
        .map(|(index, (title, url))| {
            let key = format!("evidence.{index}");
            EvidenceField {
                violations: verdict.take(&key),
                title,
                url,
                key,
            }
        })
        .collect();
    let (state, state_class) = obligation_state(lang, obligation.state);
    let overall_violations = verdict.take("overall_status");
    let narrative_violations = verdict.take("narrative");
    // Whatever is left names a field the form does not show: say it above the form.
    let mut general = verdict.general;
    general.extend(
        verdict
            .by_field
            .into_iter()
            .flat_map(|(field, found)| found.into_iter().map(move |v| format!("{field}: {v}"))),
    );
    FormPage {
        action: form_path(&obligation.measure_number, &period),
        measure: obligation.measure_number.clone(),
        title: measure_title(catalogue, lang, &obligation.measure_number),
        period: period_label(&period),
        due: obligation.due_date.as_ref().map(date_label).unwrap_or_default(),
        state,
        state_class,
        revision: obligation.revision,
        return_reason: obligation.return_reason.clone(),
        csrf,
        request_id,
        etag: obligation.etag.clone(),
        overall: overall_choices(lang, filled.overall_status),
        overall_violations,
        provisional: filled.provisional,
        narrative: filled.narrative.clone(),
        narrative_violations,
        slots,
        milestones,
        blockers,
        new_blocker,
        evidence,
        general,
        checked_ok: verdict.checked_ok,
        saved_revision: verdict.saved_revision,
        my_href: format!("/my{}", frame.query()),
        frame,
    }
    .render()
}
