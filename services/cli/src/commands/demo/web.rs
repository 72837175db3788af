//! The live units that report through the gateway's pages, as a clerk without an IT system of
//! its own does (issue 16): sign in at `/login` with the unit's token, then either revise each
//! report in its web form (`/my/obligations/{measure}/{period}`, stored as WEB_FORM) or download
//! the month's workbook, fill it in and upload it (`/my/template.xlsx`, `/my/upload`, stored as
//! WORKBOOK). Everything goes over HTTP to the gateway's address in the settings, with
//! [`Browser`]; the gateway submits with the unit's own token, so reporting judges these
//! revisions exactly as it judges the gRPC ones.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{Context, bail, ensure};
use duban_kit::Settings;
use duban_proto::reporting::v1 as pb;

use super::{
    browser::{Answer, Body, Browser, path_segment},
    html_form::{form_with, texts_where},
    report_key,
    trajectory::{TargetPlan, reported, simulated},
    workbook_fill::{RowFill, fill},
};
use crate::{
    commands::{Connection, report::period_text},
    prng::SplitMix64,
};

/// The sentence a provisional (快报) narrative carries, and the one its final revision has.
pub(crate) const PROVISIONAL_NOTE: &str = "（本月数据为快报数，正式数据将另行报送。）";
/// See [`PROVISIONAL_NOTE`].
pub(crate) const FINAL_NOTE: &str = "（正式数据，替代快报数。）";

/// A browser at the gateway `duban up` serves (`gateway.endpoint` or `gateway.listen`).
pub(crate) fn browser(settings: &Settings, connection: &Connection) -> anyhow::Result<Browser> {
    Ok(Browser::new(
        &settings.gateway.endpoint_url(),
        &settings.client.tls,
        Duration::from_secs(connection.timeout.max(30)),
    )?)
}

/// Checks that the gateway answers its login page, before the demo stores anything: the demo
/// runs against `duban up`, which always serves the gateway.
pub(crate) async fn probe(settings: &Settings, connection: &Connection) -> anyhow::Result<()> {
    let mut browser = browser(settings, connection)?;
    let answer = browser.get("/login").await?;
    ensure!(
        answer.status.is_success(),
        "the gateway at {} answered GET /login with {}: {}",
        settings.gateway.endpoint_url(),
        answer.status,
        problems(&answer)
    );
    Ok(())
}

/// What a page says went wrong: its banners and the violations beside the fields, or its start.
fn problems(answer: &Answer) -> String {
    let html = answer.text();
    let mut found = texts_where(&html, "class", "banner");
    found.extend(texts_where(&html, "class", "violation"));
    found.extend(texts_where(&html, "id", "summary"));
    if found.is_empty() {
        html.chars().take(300).collect()
    } else {
        found.join("; ")
    }
}

/// Signs in at the login form with `token`, as a unit: the form's CSRF token (also set as its
/// cookie) goes back with it, and the gateway answers with a session cookie and `/my`.
pub(crate) async fn sign_in(browser: &mut Browser, token: &str, unit: &str) -> anyhow::Result<()> {
    let page = browser.get("/login?next=/my").await?;
    ensure!(
        page.status.is_success(),
        "the login form answered {}: {}",
        page.status,
        problems(&page)
    );
    let mut form = form_with(&page.text(), "action", "/login").context("the login page has no login form")?;
    form.set("token", token);
    let answer = browser.post("/login", Body::Form(form.fields)).await?;
    let home = answer.location().unwrap_or_default();
    if !answer.status.is_redirection() || !home.starts_with("/my") || browser.jar.get("duban_session").is_none() {
        bail!(
            "{unit} could not sign in at the gateway's /login ({}, to {home:?}): {}",
            answer.status,
            problems(&answer)
        );
    }
    Ok(())
}

/// Signs out with the session's CSRF token (the one every form of the session carries). A
/// failure is only a warning: the demo revokes the token anyway, which ends the session.
pub(crate) async fn sign_out(browser: &mut Browser, csrf: Option<&str>) {
    let Some(csrf) = csrf else { return };
    let fields = vec![("csrf".to_owned(), csrf.to_owned())];
    match browser.post("/logout", Body::Form(fields)).await {
        Ok(answer) if answer.status.is_redirection() => {}
        Ok(answer) => eprintln!("warning: signing out at the gateway answered {}", answer.status),
        Err(error) => eprintln!("warning: {error}"),
    }
}

/// What a unit did at the gateway.
#[derive(Debug, Default)]
pub(crate) struct Done {
    /// Reports sent: forms stored, or workbook rows filled in.
    pub(crate) sent: usize,
    /// The session's CSRF token, as the pages carried it (for signing out).
    pub(crate) csrf: Option<String>,
    /// What the gateway's last page said (the upload's summary), for an error message when the
    /// revisions read back are not what was sent.
    pub(crate) account: String,
}

/// A provisional value revised to the final figure: up to 1.5 % higher, at the target's places.
fn revised(value: &str, plan: &TargetPlan, rng: &mut SplitMix64) -> String {
    let current = duban_proto::common::v1::Decimal {
        value: value.to_owned(),
    };
    reported(simulated(Some(&current)) * (1.0 + rng.range(0.0, 0.015)), &plan.target).value
}

/// Revises each of `reports` (the unit's provisional ones) in its web form: opens the form, which
/// the gateway fills with the latest revision, types the final figures over the provisional
/// ones, unticks "provisional", corrects the narrative's note and submits with the form's own
/// request id, etag and CSRF token. The gateway answers a stored revision with a redirect naming
/// it, which is checked.
pub(crate) async fn revise_in_forms(
    browser: &mut Browser,
    reports: &[&pb::Report],
    seed: u64,
    target_plans: &[TargetPlan],
) -> anyhow::Result<Done> {
    let mut stored = 0;
    let mut csrf = None;
    for report in reports {
        let key = report_key(report);
        let path = format!(
            "/my/obligations/{}/{}",
            path_segment(&report.measure_number),
            period_text(report.period.as_ref())
        );
        let page = browser.get(&path).await?;
        ensure!(
            page.status.is_success(),
            "{key}: the form at {path} answered {}: {}",
            page.status,
            problems(&page)
        );
        let mut form = form_with(&page.text(), "id", "report-form")
            .with_context(|| format!("{key}: {path} shows no report form"))?;
        csrf = form.value("csrf").map(str::to_owned);
        let mut rng = SplitMix64::for_key(seed, &["live", &key]);
        let values: Vec<(String, String)> = form
            .fields
            .iter()
            .filter_map(|(name, value)| Some((name.strip_prefix("value.")?.to_owned(), value.clone())))
            .filter(|(_, value)| !value.trim().is_empty())
            .collect();
        for (code, value) in values {
            if let Some(plan) = target_plans.iter().find(|t| t.target.code == code) {
                form.set(&format!("value.{code}"), revised(&value, plan, &mut rng));
            }
        }
        let narrative = form
            .value("narrative")
            .unwrap_or_default()
            .replace(PROVISIONAL_NOTE, FINAL_NOTE);
        form.set("narrative", narrative);
        form.remove("provisional");
        form.set("action", "submit");
        let action = match form.attribute("action") {
            "" => path.clone(),
            action => action.to_owned(),
        };
        let answer = browser.post(&action, Body::Form(form.fields.clone())).await?;
        // Post/Redirect/Get: `…?saved={revision}` names the revision stored.
        let saved = answer
            .location()
            .filter(|_| answer.status.is_redirection())
            .and_then(|to| to.split_once("saved=")?.1.split('&').next()?.parse::<i32>().ok());
        match saved {
            Some(revision) if revision > report.revision => stored += 1,
            _ => bail!(
                "{key}: the web form at {path} stored nothing ({}, to {:?}): {}",
                answer.status,
                answer.location(),
                problems(&answer)
            ),
        }
    }
    Ok(Done {
        sent: stored,
        csrf,
        account: String::new(),
    })
}

/// What the clerk types into the workbook's row of `report`: its final figures.
fn row_fill(report: &pb::Report, seed: u64, target_plans: &[TargetPlan]) -> RowFill {
    let mut rng = SplitMix64::for_key(seed, &["live", &report_key(report)]);
    RowFill {
        status: report.overall_status(),
        narrative: report.narrative.replace(PROVISIONAL_NOTE, FINAL_NOTE),
        evidence: report
            .evidence_links
            .iter()
            .map(|l| (l.title.clone(), l.url.clone()))
            .collect(),
        values: report
            .metric_values
            .iter()
            .map(|v| {
                let value = v.value.as_ref().map(|d| d.value.clone()).unwrap_or_default();
                let value = match target_plans.iter().find(|t| t.target.code == v.target_code) {
                    Some(plan) => revised(&value, plan, &mut rng),
                    None => value,
                };
                (v.target_code.clone(), value)
            })
            .collect(),
        milestones: report
            .milestone_updates
            .iter()
            .map(|m| {
                let day = m
                    .achieve_date
                    .as_ref()
                    .map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day));
                (m.milestone_code.clone(), m.status(), day)
            })
            .collect(),
    }
}

/// Revises `reports` (the unit's provisional ones of `period`) through the workbook: downloads
/// the month's template, fills in their rows, and uploads it with the upload form's CSRF token.
/// The upload page answers 200 whatever became of each row, so the caller reads the revisions
/// back.
pub(crate) async fn revise_in_workbook(
    browser: &mut Browser,
    unit: &str,
    reports: &[&pb::Report],
    period: &str,
    seed: u64,
    target_plans: &[TargetPlan],
) -> anyhow::Result<Done> {
    let template_path = format!("/my/template.xlsx?period={period}");
    let template = browser.get(&template_path).await?;
    let is_workbook = template
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == duban_gateway::workbook::CONTENT_TYPE);
    ensure!(
        template.status.is_success() && is_workbook,
        "{unit}: GET {template_path} answered {} without a workbook: {}",
        template.status,
        problems(&template)
    );
    let fills: BTreeMap<String, RowFill> = reports
        .iter()
        .map(|r| (r.measure_number.clone(), row_fill(r, seed, target_plans)))
        .collect();
    let filled = fill(&template.body, &fills).with_context(|| format!("{unit}: {template_path}"))?;

    let upload_path = format!("/my/upload?period={period}");
    let page = browser.get(&upload_path).await?;
    ensure!(
        page.status.is_success(),
        "{unit}: GET {upload_path} answered {}: {}",
        page.status,
        problems(&page)
    );
    let form = form_with(&page.text(), "action", "/my/upload")
        .with_context(|| format!("{unit}: {upload_path} shows no upload form"))?;
    let csrf = form.value("csrf").map(str::to_owned);
    let file_field = form
        .files
        .first()
        .cloned()
        .with_context(|| format!("{unit}: the upload form at {upload_path} has no file field"))?;
    let answer = browser
        .post(
            "/my/upload",
            Body::Multipart {
                fields: form.fields,
                file_field,
                file_name: format!("duban-{unit}-{period}.xlsx"),
                content_type: duban_gateway::workbook::CONTENT_TYPE.to_owned(),
                bytes: filled,
            },
        )
        .await?;
    ensure!(
        answer.status.is_success(),
        "{unit}: the workbook upload answered {}: {}",
        answer.status,
        problems(&answer)
    );
    Ok(Done {
        sent: fills.len(),
        csrf,
        account: problems(&answer),
    })
}
