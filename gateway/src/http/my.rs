//! The unit's own page, `/my`, and its report forms, `/my/obligations/{measure}/{period}`: a unit
//! without an IT system of its own reports here, through the same `SubmitReport` as the gRPC API,
//! so reporting's validation, authorisation and idempotency are the only ones. Every call to
//! reporting carries the signed-in unit's own token: reporting decides what the unit sees and
//! may write. A unit signs in at `/login` with its department token (or sends it as a bearer
//! token); leadership and administrators are told that the page is for units.

use std::collections::BTreeMap;

use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use duban_kit::{FieldViolation, Principal, auth::AuthError, error::NotFound, paging::read_all_pages};
use duban_proto::{
    common::v1::{Decimal, Period},
    gateway::v1::ErrorReason,
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tonic::{Code, Status};

use super::{
    Web,
    access::bearer,
    pages::rendered,
    session::{SESSION_COOKIE, cookie_value, same_secret},
};
use crate::{
    backends::{Catalogue, Client},
    calendar::{parse_date, period_label, to_date},
    error::GatewayError,
    html::{
        self, Lang,
        my::{Filled, FormInput, MyData, UnitFrame, Verdict},
    },
};

/// Reads per page from reporting: its maximum.
const PAGE_SIZE: i32 = 500;
/// Reports whose revisions are read at once for `/my`.
const REVISION_READS: usize = 4;

/// A unit signed in: its code, the token every call to reporting carries, and the session's
/// CSRF token when it signed in through the login form (a bearer caller has none to send).
/// (No `Debug`: it holds the token, which is never printed.)
pub(crate) struct Unit {
    code: String,
    token: String,
    session_csrf: Option<String>,
}

/// The language and the note after a stored submission.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MyQuery {
    /// `en` for English, anything else Chinese.
    #[serde(default)]
    lang: String,
    /// The revision just stored (after Post/Redirect/Get).
    #[serde(default)]
    saved: Option<i32>,
}

fn lang_of(code: &str) -> Lang {
    if code == "en" { Lang::En } else { Lang::Zh }
}

impl Web {
    /// The unit looking: the owner of the bearer token, else of the session. Anyone else must
    /// sign in; leadership, administrators and services are refused (the page is a unit's).
    async fn unit(&self, headers: &HeaderMap) -> Result<Unit, GatewayError> {
        if let Some(token) = bearer(headers) {
            return self.unit_of(token, None).await;
        }
        if let Some(id) = cookie_value(headers, SESSION_COOKIE)
            && let Some(session) = self.0.sessions.find(&id)
        {
            match self.unit_of(session.token, Some(session.csrf)).await {
                Ok(unit) => return Ok(unit),
                Err(kept @ (GatewayError::Auth(AuthError::Unavailable(_)) | GatewayError::RoleNotAllowed(_))) => {
                    return Err(kept);
                }
                // Revoked or expired: the session ends, and the unit signs in again.
                Err(_) => {
                    self.0.sessions.close(&id);
                }
            }
        }
        Err(GatewayError::SignInNeeded)
    }

    async fn unit_of(&self, token: String, session_csrf: Option<String>) -> Result<Unit, GatewayError> {
        let caller = self.0.dashboard.caller_from_token(&token).await?;
        match caller.principal {
            Principal::Department(code) => Ok(Unit {
                code,
                token,
                session_csrf,
            }),
            other => Err(GatewayError::RoleNotAllowed(format!(
                "this page is for reporting units, which report here with their own token; the caller is {}",
                other.label()
            ))),
        }
    }

    fn unit_reporting(&self, unit: &Unit) -> ReportingServiceClient<Client> {
        self.0.dashboard.backends().reporting(Some(&unit.token))
    }

    async fn plan_catalogue(&self) -> Result<std::sync::Arc<Catalogue>, GatewayError> {
        let plan_id = self.0.plan.trim_start_matches("plans/");
        self.0.dashboard.backends().catalogue(plan_id).await
    }
}

/// A refusal of reporting's as the gateway passes it on: did not answer, or refused.
fn from_reporting(status: Status) -> GatewayError {
    if crate::error::unreachable(status.code()) {
        GatewayError::Dependency {
            service: rpb::reporting_service_server::SERVICE_NAME,
            message: status.message().to_owned(),
        }
    } else {
        GatewayError::Downstream(status)
    }
}

/// `s` with everything but unreserved characters and `/` percent-encoded, for a query value.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The answer for an error of a unit's page: sign in first (and come back to `uri`), the page is
/// not for this caller, or what went wrong.
fn refusal(lang: Lang, uri: &Uri, error: GatewayError) -> Response {
    let status = error.http_status();
    match (status, &error) {
        (StatusCode::UNAUTHORIZED, _) => {
            let back = uri.path_and_query().map_or("/my", |p| p.as_str());
            let lang = lang.pick("", "&lang=en");
            Redirect::to(&format!("/login?next={}{lang}", query_value(back))).into_response()
        }
        (_, GatewayError::RoleNotAllowed(_)) => rendered(
            StatusCode::FORBIDDEN,
            html::error_page(
                lang,
                lang.pick(
                    "本页面供各责任单位使用本单位令牌报送；区领导和管理员请使用总览页面。",
                    "This page is for reporting units, signed in with their own token; leadership and \
                     administrators use the overview.",
                ),
            ),
        ),
        _ => rendered(status, html::error_page(lang, &error.to_string())),
    }
}

fn frame<'a>(lang: Lang, catalogue: &Catalogue, unit: &'a Unit, title: String, path: String) -> UnitFrame<'a> {
    UnitFrame {
        lang,
        title,
        unit: html::my::unit_label(catalogue, &unit.code),
        path,
        logout_csrf: unit.session_csrf.as_deref(),
    }
}

/// `GET /my`.
pub(crate) async fn page_my(
    State(web): State<Web>,
    Query(query): Query<MyQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = lang_of(&query.lang);
    let page = async {
        let unit = web.unit(&headers).await?;
        let (catalogue, data) = futures::join!(web.plan_catalogue(), my_data(&web, &unit));
        let (catalogue, data) = (catalogue?, data?);
        let frame = frame(
            lang,
            &catalogue,
            &unit,
            lang.pick("本单位报送", "My unit's reports").to_owned(),
            "/my".into(),
        );
        Ok::<_, GatewayError>(html::my::my_page(frame, &catalogue, &data))
    }
    .await;
    match page {
        Ok(page) => rendered(StatusCode::OK, page),
        Err(error) => refusal(lang, &uri, error),
    }
}

/// Everything `/my` shows, read from reporting with the unit's own token.
async fn my_data(web: &Web, unit: &Unit) -> Result<MyData, GatewayError> {
    let client = web.unit_reporting(unit);
    let plan = web.0.plan.clone();
    let first = client
        .clone()
        .list_obligations(rpb::ListObligationsRequest {
            parent: plan.clone(),
            page_size: PAGE_SIZE,
            ..Default::default()
        })
        .await
        .map_err(from_reporting)?
        .into_inner();
    let mut obligations = first.obligations;
    // Every page (a unit owes at most a few hundred: one call or two), stopping at a repeated token.
    let mut token = first.next_page_token.clone();
    let mut seen = std::collections::HashSet::new();
    while !token.is_empty() && seen.insert(token.clone()) {
        let page = client
            .clone()
            .list_obligations(rpb::ListObligationsRequest {
                parent: plan.clone(),
                page_size: PAGE_SIZE,
                page_token: token,
                ..Default::default()
            })
            .await
            .map_err(from_reporting)?
            .into_inner();
        obligations.extend(page.obligations);
        token = page.next_page_token;
    }
    let blockers = |department: String, support_unit: String| {
        let (client, plan) = (client.clone(), plan.clone());
        read_all_pages(move |token: String| {
            let (mut client, plan, department, support_unit) =
                (client.clone(), plan.clone(), department.clone(), support_unit.clone());
            async move {
                let page = client
                    .list_blockers(rpb::ListBlockersRequest {
                        parent: plan,
                        page_size: PAGE_SIZE,
                        page_token: token,
                        department,
                        support_unit,
                        state: rpb::BlockerState::Open as i32,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok::<_, Status>((page.blockers, page.next_page_token))
            }
        })
    };
    let reports = read_all_pages(|token: String| {
        let (mut client, plan, department) = (client.clone(), plan.clone(), unit.code.clone());
        async move {
            let page = client
                .list_reports(rpb::ListReportsRequest {
                    parent: plan,
                    page_size: PAGE_SIZE,
                    page_token: token,
                    department,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok::<_, Status>((page.reports, page.next_page_token))
        }
    });
    let (own_blockers, addressed_blockers, reports) = futures::join!(
        blockers(unit.code.clone(), String::new()),
        blockers(String::new(), unit.code.clone()),
        reports
    );
    let (own_blockers, addressed_blockers, reports) = (
        own_blockers.map_err(from_reporting)?,
        addressed_blockers.map_err(from_reporting)?,
        reports.map_err(from_reporting)?,
    );
    let reports: Vec<(rpb::Report, Vec<rpb::Report>)> = futures::stream::iter(reports)
        .map(|latest| {
            let mut client = client.clone();
            async move {
                let name = latest.name.split('@').next().unwrap_or_default().to_owned();
                let revisions = client
                    .list_report_revisions(rpb::ListReportRevisionsRequest {
                        name,
                        page_size: PAGE_SIZE,
                        page_token: String::new(),
                    })
                    .await?
                    .into_inner()
                    .reports;
                Ok::<_, Status>((latest, revisions))
            }
        })
        .buffered(REVISION_READS)
        .try_collect()
        .await
        .map_err(from_reporting)?;
    Ok(MyData {
        obligations,
        orders: first.orders,
        today: first.today,
        own_blockers,
        addressed_blockers,
        reports,
    })
}

/// `YYYY-MM` as a period.
fn parse_period(text: &str) -> Option<Period> {
    let (year, month) = text.split_once('-')?;
    let (year, month) = (year.parse().ok()?, month.parse().ok()?);
    (year > 0 && (1..=12).contains(&month) && text.len() == 7).then_some(Period { year, month })
}

/// The unit's obligation for `measure` and `period`, as reporting lists it to the unit: another
/// unit's obligation, or one that does not exist, is not found.
async fn obligation(web: &Web, unit: &Unit, measure: &str, period: &str) -> Result<rpb::Obligation, GatewayError> {
    let not_found = || {
        NotFound::new(
            ErrorReason::MeasureNotFound,
            format!("{measure} {period} for {}", unit.code),
        )
    };
    let period = parse_period(period).ok_or_else(not_found)?;
    let listed = web
        .unit_reporting(unit)
        .list_obligations(rpb::ListObligationsRequest {
            parent: web.0.plan.clone(),
            measure_number: measure.to_owned(),
            start_period: Some(period),
            end_period: Some(period),
            page_size: 1,
            ..Default::default()
        })
        .await;
    match listed {
        Ok(listed) => listed
            .into_inner()
            .obligations
            .into_iter()
            .find(|o| o.measure_number == measure && o.period == Some(period))
            .ok_or_else(|| not_found().into()),
        // A measure not in the plan, or a period not among its reporting periods.
        Err(status) if status.code() == Code::InvalidArgument => Err(not_found().into()),
        Err(status) => Err(from_reporting(status)),
    }
}

/// What the form holds when it opens: the latest revision (a returned report opens with what
/// was returned), else nothing.
async fn opening_fill(web: &Web, unit: &Unit, obligation: &rpb::Obligation) -> Result<Filled, GatewayError> {
    if obligation.revision == 0 {
        return Ok(Filled::default());
    }
    let latest = web
        .unit_reporting(unit)
        .get_report(rpb::GetReportRequest {
            name: obligation.report.clone(),
        })
        .await
        .map_err(from_reporting)?
        .into_inner();
    Ok(Filled::from_report(&latest))
}

/// `GET /my/obligations/{measure}/{period}`: the form, with a fresh request id.
pub(crate) async fn page_obligation(
    State(web): State<Web>,
    Path((measure, period)): Path<(String, String)>,
    Query(query): Query<MyQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = lang_of(&query.lang);
    let page = async {
        let unit = web.unit(&headers).await?;
        let (catalogue, obligation) = futures::join!(web.plan_catalogue(), obligation(&web, &unit, &measure, &period));
        let (catalogue, obligation) = (catalogue?, obligation?);
        let filled = opening_fill(&web, &unit, &obligation).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let verdict = Verdict {
            saved_revision: query.saved,
            ..Verdict::default()
        };
        Ok::<_, GatewayError>(draw_form(
            lang,
            &catalogue,
            &unit,
            &obligation,
            &filled,
            verdict,
            &request_id,
        ))
    }
    .await;
    match page {
        Ok(page) => rendered(StatusCode::OK, page),
        Err(error) => refusal(lang, &uri, error),
    }
}

fn draw_form(
    lang: Lang,
    catalogue: &Catalogue,
    unit: &Unit,
    obligation: &rpb::Obligation,
    filled: &Filled,
    verdict: Verdict,
    request_id: &str,
) -> Result<String, askama::Error> {
    let period = obligation.period.unwrap_or_default();
    let title = format!("{} · {}", obligation.measure_number, period_label(&period));
    let path = html::my::form_path(&obligation.measure_number, &period);
    let frame = frame(lang, catalogue, unit, title, path);
    html::my::form_page(
        frame,
        catalogue,
        FormInput {
            obligation,
            filled,
            verdict,
            request_id,
            csrf: unit.session_csrf.as_deref(),
        },
    )
}

/// The form as posted: every field by name (the names are the form's, see `my_form.html`).
struct Posted(BTreeMap<String, String>);

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    fn number(&self, name: &str) -> i32 {
        self.get(name).parse().unwrap_or(0)
    }

    /// What the form holds, to draw it again.
    fn filled(&self, obligation: &rpb::Obligation) -> Filled {
        let template = obligation.template.clone().unwrap_or_default();
        let evidence_rows = (0..)
            .take_while(|i| self.0.contains_key(&format!("evidence.{i}.title")))
            .map(|i| {
                (
                    self.get(&format!("evidence.{i}.title")).to_owned(),
                    self.get(&format!("evidence.{i}.url")).to_owned(),
                )
            })
            .filter(|(title, url)| !title.is_empty() || !url.is_empty())
            .collect();
        Filled {
            overall_status: self.number("overall_status"),
            provisional: !self.get("provisional").is_empty(),
            narrative: self.get("narrative").to_owned(),
            values: template
                .slots
                .iter()
                .map(|s| {
                    (
                        s.target_code.clone(),
                        self.get(&format!("value.{}", s.target_code)).to_owned(),
                    )
                })
                .collect(),
            milestones: template
                .milestones
                .iter()
                .map(|m| {
                    let key = |part: &str| format!("ms.{}.{part}", m.code);
                    (
                        m.code.clone(),
                        (
                            self.number(&key("status")),
                            self.get(&key("date")).to_owned(),
                            self.get(&key("note")).to_owned(),
                        ),
                    )
                })
                .collect(),
            blockers: (0..template.open_blockers.len())
                .map(|i| {
                    let key = |part: &str| format!("blocker.{i}.{part}");
                    (
                        i,
                        (
                            self.get(&key("action")).to_owned(),
                            self.get(&key("description")).to_owned(),
                            self.number(&key("severity")),
                        ),
                    )
                })
                .collect(),
            new_blocker: (
                self.get("new_blocker.description").to_owned(),
                self.number("new_blocker.severity"),
                self.get("new_blocker.support_unit").to_owned(),
            ),
            evidence: evidence_rows,
        }
    }
}

/// The report a filled form asks to submit, and which form field each entry of its lists
/// came from (so that a violation of `report.metric_values[2].value` is shown beside its slot).
/// A day the gateway cannot read as a date is a violation of its own, at its field.
#[derive(Debug, Default)]
struct Submission {
    report: rpb::Report,
    values: Vec<String>,
    milestones: Vec<String>,
    blockers: Vec<String>,
    evidence: Vec<String>,
    unreadable: Vec<FieldViolation>,
}

impl Submission {
    fn of(filled: &Filled, obligation: &rpb::Obligation, etag: &str) -> Submission {
        let template = obligation.template.clone().unwrap_or_default();
        let mut submission = Submission::default();
        let report = &mut submission.report;
        report.measure_number = obligation.measure_number.clone();
        report.period = obligation.period;
        report.overall_status = filled.overall_status;
        report.provisional = filled.provisional;
        report.narrative = filled.narrative.clone();
        report.etag = etag.to_owned();
        for slot in &template.slots {
            let typed = filled.values.get(&slot.target_code).map_or("", String::as_str);
            if typed.is_empty() {
                continue;
            }
            report.metric_values.push(rpb::MetricValue {
                target_code: slot.target_code.clone(),
                value: Some(Decimal {
                    value: typed.to_owned(),
                }),
                unit: slot.unit,
                basis: slot.basis,
            });
            submission.values.push(format!("value.{}", slot.target_code));
        }
        for milestone in &template.milestones {
            let Some((status, date, note)) = filled.milestones.get(&milestone.code) else {
                continue;
            };
            if *status == 0 {
                continue;
            }
            let key = format!("ms.{}", milestone.code);
            let achieve_date = match date.as_str() {
                "" => None,
                text => match parse_date(text) {
                    Some(day) => Some(to_date(day)),
                    None => {
                        submission.unreadable.push(FieldViolation::bilingual(
                            &key,
                            "must be a date written YYYY-MM-DD",
                            "日期应写作 YYYY-MM-DD",
                        ));
                        None
                    }
                },
            };
            report.milestone_updates.push(rpb::MilestoneUpdate {
                milestone_code: milestone.code.clone(),
                status: *status,
                achieve_date,
                note: note.clone(),
                ..Default::default()
            });
            submission.milestones.push(key);
        }
        for (index, open) in template.open_blockers.iter().enumerate() {
            let Some((action, description, severity)) = filled.blockers.get(&index) else {
                continue;
            };
            let resolve = match action.as_str() {
                "update" => false,
                "resolve" => true,
                _ => continue,
            };
            report.blockers.push(rpb::Blocker {
                name: open.name.clone(),
                description: description.clone(),
                severity: *severity,
                resolve,
                ..Default::default()
            });
            submission.blockers.push(format!("blocker.{index}"));
        }
        let (description, severity, support_unit) = &filled.new_blocker;
        if !description.is_empty() || *severity != 0 || !support_unit.is_empty() {
            report.blockers.push(rpb::Blocker {
                description: description.clone(),
                severity: *severity,
                support_unit: support_unit.clone(),
                ..Default::default()
            });
            submission.blockers.push("new_blocker".into());
        }
        for (index, (title, url)) in filled.evidence.iter().enumerate() {
            report.evidence_links.push(rpb::EvidenceLink {
                title: title.clone(),
                url: url.clone(),
                sha256: String::new(),
            });
            submission.evidence.push(format!("evidence.{index}"));
        }
        submission
    }

    /// The form field a violation of reporting's names, if the form has one:
    /// `report.metric_values[1].value` → `value.<code of entry 1>`, `report.metric_values[code]`
    /// → `value.code`, `report.narrative` → `narrative`.
    fn field_of(&self, path: &str) -> Option<String> {
        let path = path.strip_prefix("report.")?;
        let end = path.find(['[', '.']).unwrap_or(path.len());
        let (list, rest) = path.split_at(end);
        let index = rest
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .map(|(index, _)| index);
        let entry = |keys: &[String]| index?.parse::<usize>().ok().and_then(|i| keys.get(i).cloned());
        match list {
            "overall_status" | "narrative" => Some(list.to_owned()),
            // `[2]` is an entry of the request; `[code]` names a slot left out.
            "metric_values" => match index?.parse::<usize>() {
                Ok(_) => entry(self.values.as_slice()),
                Err(_) => Some(format!("value.{}", index?)),
            },
            "milestone_updates" => entry(self.milestones.as_slice()),
            "blockers" => entry(self.blockers.as_slice()),
            "evidence_links" => entry(self.evidence.as_slice()),
            _ => None,
        }
    }

    /// Violations placed by form field, in the page's language where reporting gave it (its
    /// `localized_message`); those the form has no field for are general.
    fn verdict(&self, violations: Vec<FieldViolation>, lang: Lang) -> Verdict {
        let zh = lang == Lang::Zh;
        let mut verdict = Verdict::default();
        for violation in violations {
            match self.field_of(&violation.field).or_else(|| {
                // The gateway's own (unreadable days) already name the form field.
                self.unreadable
                    .iter()
                    .any(|v| v.field == violation.field)
                    .then(|| violation.field.clone())
            }) {
                Some(field) => verdict
                    .by_field
                    .entry(field)
                    .or_default()
                    .push(violation.text(zh).to_owned()),
                None => verdict
                    .general
                    .push(format!("{}: {}", violation.field, violation.text(zh))),
            }
        }
        verdict
    }
}

/// What reporting answered to a check or a submission.
enum Outcome {
    /// Stored (or, for a check, would be): the revision.
    Accepted(i32),
    /// Refused with violations or another reason: the HTTP status and what to show.
    Refused(StatusCode, Verdict),
}

/// A refusal of reporting's as the form shows it: the violations beside their fields, anything
/// else above the form.
fn refused(submission: &Submission, status: &Status, lang: Lang) -> Outcome {
    let violations = duban_kit::status::field_violations(status);
    let http = match status.code() {
        Code::InvalidArgument => StatusCode::UNPROCESSABLE_ENTITY,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Aborted | Code::AlreadyExists | Code::FailedPrecondition => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        code if crate::error::unreachable(code) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut verdict = submission.verdict(violations, lang);
    if (verdict.by_field.is_empty() && verdict.general.is_empty()) || status.code() != Code::InvalidArgument {
        let note = match status.code() {
            Code::Aborted => lang.pick(
                "该报告在您打开表单后已被更新，请返回重新打开表单后再提交。",
                "The report changed after this form was opened: open the form again and resubmit.",
            ),
            _ => "",
        };
        verdict
            .general
            .insert(0, format!("{note} {}", status.message()).trim().to_owned());
    }
    Outcome::Refused(http, verdict)
}

/// `POST /my/obligations/{measure}/{period}`: `action=check` asks reporting to validate only
/// (nothing stored); anything else submits with the form's request id, so a double click or a
/// posted-again page stores one revision. Success is a redirect to the form (Post/Redirect/Get).
pub(crate) async fn post_obligation(
    State(web): State<Web>,
    Path((measure, period)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let posted = Posted(fields.into_iter().collect());
    let lang = lang_of(posted.get("lang"));
    let unit = match web.unit(&headers).await {
        Ok(unit) => unit,
        Err(error) => return refusal(lang, &uri, error),
    };
    // A form from a session must carry the session's token; a bearer caller sends no cookie.
    if let Some(csrf) = &unit.session_csrf
        && !same_secret(posted.get("csrf"), csrf)
    {
        return rendered(
            StatusCode::FORBIDDEN,
            html::error_page(
                lang,
                lang.pick(
                    "表单已过期或并非来自本系统，请重新打开表单。",
                    "The form expired or did not come from this site: open it again.",
                ),
            ),
        );
    }
    let answer = async {
        let (catalogue, obligation) = futures::join!(web.plan_catalogue(), obligation(&web, &unit, &measure, &period));
        let (catalogue, obligation) = (catalogue?, obligation?);
        let filled = posted.filled(&obligation);
        let submission = Submission::of(&filled, &obligation, posted.get("etag"));
        let checking = posted.get("action") == "check" || !submission.unreadable.is_empty();
        let request_id = match posted.get("request_id") {
            "" => uuid::Uuid::new_v4().to_string(),
            given => given.to_owned(),
        };
        let request = rpb::SubmitReportRequest {
            parent: web.0.plan.clone(),
            report: Some(submission.report.clone()),
            // A check stores nothing, so it needs no key: the key is the submission's.
            request_id: if checking { String::new() } else { request_id.clone() },
            validate_only: checking,
            // Where the revision came from, for leadership's follow-up: this form.
            source: rpb::ReportSource::WebForm as i32,
        };
        let outcome = match web.unit_reporting(&unit).submit_report(request).await {
            Ok(stored) => Outcome::Accepted(stored.into_inner().revision),
            Err(status) => refused(&submission, &status, lang),
        };
        let (status, mut verdict) = match outcome {
            Outcome::Accepted(revision) if !checking => {
                let back = format!(
                    "{}?saved={revision}{}",
                    html::my::form_path(&obligation.measure_number, &obligation.period.unwrap_or_default()),
                    lang.pick("", "&lang=en")
                );
                return Ok(Redirect::to(&back).into_response());
            }
            Outcome::Accepted(_) => (
                StatusCode::OK,
                Verdict {
                    checked_ok: true,
                    ..Verdict::default()
                },
            ),
            Outcome::Refused(status, verdict) => (status, verdict),
        };
        // The gateway's own (a day it cannot read) come first: the form was only checked.
        let own = submission.verdict(submission.unreadable.clone(), lang);
        for (field, found) in own.by_field {
            verdict.by_field.entry(field).or_default().extend(found);
        }
        if !submission.unreadable.is_empty() {
            verdict.checked_ok = false;
        }
        let status = if submission.unreadable.is_empty() {
            status
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let page = draw_form(lang, &catalogue, &unit, &obligation, &filled, verdict, &request_id);
        Ok::<_, GatewayError>(rendered(status, page))
    }
    .await;
    answer.unwrap_or_else(|error| refusal(lang, &uri, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obligation() -> rpb::Obligation {
        let slot = |code: &str| rpb::TemplateSlot {
            target_code: code.into(),
            decimal_places: Some(2),
            required: true,
            ..Default::default()
        };
        rpb::Obligation {
            measure_number: "4.1".into(),
            period: Some(Period { year: 2023, month: 6 }),
            template: Some(rpb::ReportTemplate {
                slots: vec![slot("firms"), slot("investment")],
                milestones: vec![rpb::TemplateMilestone {
                    code: "m1".into(),
                    ..Default::default()
                }],
                open_blockers: vec![rpb::Blocker {
                    name: "plans/p/blockers/4.1~town~1".into(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    fn posted(fields: &[(&str, &str)]) -> Posted {
        Posted(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn a_posted_form_becomes_the_report_with_each_entry_traced_to_its_field() {
        let form = posted(&[
            ("overall_status", "2"),
            ("narrative", " 推进中 "),
            ("value.firms", ""),
            ("value.investment", "4.475"),
            ("ms.m1.status", "3"),
            ("ms.m1.date", "2023-06-31"),
            ("blocker.0.action", "resolve"),
            ("new_blocker.description", "用地"),
            ("new_blocker.severity", "3"),
            ("evidence.0.title", "清单"),
            ("evidence.0.url", "https://example.org/a"),
            ("evidence.1.title", ""),
            ("evidence.1.url", ""),
        ]);
        let obligation = obligation();
        let filled = form.filled(&obligation);
        let submission = Submission::of(&filled, &obligation, "etag-1");
        let report = &submission.report;
        assert_eq!((report.overall_status, report.narrative.as_str()), (2, "推进中"));
        assert_eq!(report.etag, "etag-1");
        assert_eq!(report.metric_values.len(), 1, "an empty slot is left out");
        assert_eq!(report.metric_values[0].value.as_ref().unwrap().value, "4.475");
        assert!(report.blockers[0].resolve && report.blockers[0].name.ends_with("~1"));
        assert_eq!(report.blockers[1].severity, 3);
        assert_eq!(report.evidence_links.len(), 1, "empty rows are left out");
        assert_eq!(report.milestone_updates[0].achieve_date, None);
        assert_eq!(submission.unreadable[0].field, "ms.m1");

        assert_eq!(
            submission.field_of("report.metric_values[0].value").as_deref(),
            Some("value.investment")
        );
        assert_eq!(
            submission.field_of("report.metric_values[firms]").as_deref(),
            Some("value.firms")
        );
        assert_eq!(
            submission.field_of("report.blockers[1].severity").as_deref(),
            Some("new_blocker")
        );
        assert_eq!(
            submission.field_of("report.blockers[0].name").as_deref(),
            Some("blocker.0")
        );
        assert_eq!(
            submission
                .field_of("report.milestone_updates[0].achieve_date")
                .as_deref(),
            Some("ms.m1")
        );
        assert_eq!(
            submission.field_of("report.evidence_links[0].url").as_deref(),
            Some("evidence.0")
        );
        assert_eq!(submission.field_of("report.narrative").as_deref(), Some("narrative"));
        assert_eq!(submission.field_of("report.period"), None);
        assert_eq!(submission.field_of("report.metric_values[7].value"), None);

        let violations = vec![
            FieldViolation::bilingual("report.metric_values[0].value", "too many decimals", "小数位数过多"),
            FieldViolation::new("report.period", "has not begun"),
        ];
        let verdict = submission.verdict(violations.clone(), Lang::En);
        assert_eq!(verdict.by_field["value.investment"], ["too many decimals"]);
        assert_eq!(verdict.general, ["report.period: has not begun"]);
        let verdict = submission.verdict(violations, Lang::Zh);
        assert_eq!(verdict.by_field["value.investment"], ["小数位数过多"]);
        assert_eq!(
            verdict.general,
            ["report.period: has not begun"],
            "English where reporting gave no Chinese"
        );
    }

    #[test]
    fn periods_and_query_values_are_read_and_written_strictly() {
        assert_eq!(parse_period("2023-06"), Some(Period { year: 2023, month: 6 }));
        for bad in ["2023-13", "2023-6", "2023", "x-06", "2023-06-01"] {
            assert_eq!(parse_period(bad), None, "{bad}");
        }
        assert_eq!(
            query_value("/my/obligations/4.1/2023-06?lang=en"),
            "/my/obligations/4.1/2023-06%3Flang%3Den"
        );
    }
}
