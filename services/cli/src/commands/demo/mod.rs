//! `duban demo`: fills the running suite with realistic synthetic progress reports for
//! every responsible unit and every month of the plan that has passed, through the public
//! RPCs only, deterministically from a seed.
//!
//! What it does, in order:
//! 1. Designates a few members for each DESIGNATED group (相关街镇 …) of a measure that has
//!    none yet (UpdateGroupDesignation), so that those groups have members who report.
//! 2. Backfills (ADMIN, SubmitReports with `backfill`) one report per responsible unit,
//!    measure and month, with the original submit time: most before the due day, some a
//!    few days late, a few months missing for some units. Values follow each target's
//!    trajectory (GetTrajectory) with per-unit noise, some targets lag behind, statuses
//!    agree with the values. Units behind plan raise blockers, a few asking another unit
//!    for support; open blockers carry over from month to month without being mentioned,
//!    and a later report resolves them by name, most often once the measure is back on
//!    track. If step 1 designated anyone, reporting is first made to read the plan again
//!    (`submissions::see_designations`), so that its cached copy cannot refuse them.
//! 3. Reviews one month as leadership: accepts most of it and returns one report.
//! 4. The live path: a few units get their own tokens and replace their provisional
//!    (快报) figures for the last month with final ones, each the way a unit can: one
//!    signs in at the gateway and revises each report in its web form (`web`, source
//!    WEB_FORM), one downloads the month's workbook, fills it in and uploads it
//!    (`workbook_fill`, source WORKBOOK), both over HTTP with a browser of its own
//!    (`browser`: cookies, the forms' CSRF tokens); the others send SubmitReport over gRPC.
//!    Every revision is read back.
//! 5. The follow-up: the notices the plan's rules raised on the days they fire
//!    (EvaluateNotices), and two supervision orders about a lagging target, one answered
//!    by its unit and closed, one open (`follow_up`).
//!
//! Every write carries a request id derived from the seed and the report key, and keys
//! already stored are skipped, so running it again with the same seed adds nothing.

mod access;
mod blockers;
mod browser;
mod calendar;
mod compose;
mod follow_up;
mod html_form;
mod review;
mod submissions;
mod summary;
mod trajectory;
mod units;
mod web;
mod workbook_fill;

use std::collections::{BTreeSet, HashMap};

use anyhow::bail;
use duban_kit::Settings;
use duban_plan::{Month, PlanCalendar};
use duban_proto::{common::v1 as common, measures::v1 as measures, reporting::v1 as pb};

pub use self::summary::Summary;
use self::{
    access::clients,
    blockers::{BlockerChain, stored_blockers},
    calendar::{UnitProfile, due_time, submit_time},
    compose::{ReportInput, compose_report},
    review::review,
    submissions::{Planned, backfill, live_submissions, see_designations},
    trajectory::{TargetPlan, plan_targets, values_for},
    units::{designate, list_departments, list_measures, responsible_units},
};
use crate::{
    commands::{
        Connection, call_failed,
        report::{ListFilter, fetch_all, period_text},
    },
    prng::SplitMix64,
};

/// Units that get their own token and submit live.
const LIVE_UNITS: usize = 3;

/// Runs the demo and returns its summary. The suite must be up, the gateway included (at
/// `settings.gateway`'s address): two live units report through its pages.
pub async fn demo(settings: &Settings, connection: &Connection, plan_id: &str, seed: u64) -> anyhow::Result<Summary> {
    // Before anything is stored: a gateway that does not answer fails the demo here, naming it.
    web::probe(settings, connection).await?;
    let mut c = clients(settings, connection, None)?;
    let parent = format!("plans/{plan_id}");
    let mut summary = Summary::default();

    let plan = c
        .measures
        .get_plan(measures::GetPlanRequest { name: parent.clone() })
        .await
        .map_err(|s| call_failed("GetPlan", s))?
        .into_inner();
    let calendar = PlanCalendar::from_contract(&plan)?;
    let (due_day, zone) = (calendar.cadence.due_day as i32, calendar.zone());
    let now = chrono::Utc::now();
    let periods: Vec<common::Period> = calendar
        .periods()
        .into_iter()
        .map(Month::to_proto)
        // Only periods whose reports are well past due can be backfilled.
        .filter(|p| due_time(zone, p, due_day, 20, 0) < now.timestamp())
        .collect();
    if periods.is_empty() {
        bail!("no month of plans/{plan_id} is past due yet: nothing to backfill");
    }
    summary.months = periods.iter().map(|p| period_text(Some(p))).collect();

    let units = list_departments(&mut c.departments).await?;
    let designated = designate(&mut c, &parent, &units, seed).await?;
    summary.designations = designated.iter().map(|d| d.line.clone()).collect();
    let measure_list = list_measures(&mut c.measures, &parent).await?;
    let responsible = responsible_units(&measure_list);
    let target_plans = plan_targets(&mut c.targets, &parent, seed, &summary.months).await?;
    summary.lagging_targets = target_plans
        .iter()
        .filter(|t| t.lagging)
        .map(|t| t.target.code.clone())
        .collect();

    let existing = fetch_all(
        &mut c.reporting,
        &ListFilter {
            plan: plan_id.to_owned(),
            ..Default::default()
        },
    )
    .await?;
    let existing_keys: BTreeSet<String> = existing.iter().map(report_key).collect();
    let stored_chains = BlockerChain::from_stored(&stored_blockers(&mut c.reporting, &parent).await?);

    // The live units: a few that report targets, chosen by the seed among those whose
    // profile does not skip the last month, so that each has provisional figures to replace
    // and every way (web form, workbook, gRPC) is shown.
    let last_period = summary.months.last().cloned().unwrap_or_default();
    let target_reporters: Vec<String> = target_plans
        .iter()
        .flat_map(|t| t.target.reporting_departments.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|unit| {
            !UnitProfile::new(seed, unit, &summary.months)
                .missing_months
                .contains(&last_period)
        })
        .collect();
    let live_units = SplitMix64::for_key(seed, &["live-units"]).sample(&target_reporters, LIVE_UNITS);

    // Plan every report.
    let measures_by_number: HashMap<&str, &measures::Measure> =
        measure_list.iter().map(|m| (m.number.as_str(), m)).collect();
    let mut planned = Vec::new();
    let mut expected = 0;
    for (measure_number, unit_codes) in &responsible {
        let measure = measures_by_number[measure_number.as_str()];
        let measure_targets: Vec<&TargetPlan> = target_plans
            .iter()
            .filter(|t| &t.target.measure_number == measure_number)
            .collect();
        for unit in unit_codes {
            let profile = UnitProfile::new(seed, unit, &summary.months);
            // The unit's blockers on the measure continue from those stored, so the
            // names of the ones this run raises are known when a later month resolves them.
            let mut chain = BlockerChain::new(
                plan_id,
                measure_number,
                unit,
                stored_chains
                    .get(&(measure_number.clone(), unit.clone()))
                    .map_or(&[], Vec::as_slice),
            );
            let mut previous: HashMap<String, f64> = HashMap::new();
            for period in &periods {
                expected += 1;
                let period_key = period_text(Some(period));
                let key = format!("{measure_number}~{unit}~{period_key}");
                let mut rng = SplitMix64::for_key(seed, &["report", &key]);
                let values = values_for(seed, &measure_targets, unit, &period_key, &mut previous, &mut rng);
                if profile.missing_months.contains(&period_key) || rng.chance(0.01) {
                    continue;
                }
                if existing_keys.contains(&key) {
                    summary.already_stored += 1;
                    continue;
                }
                let provisional = period_key == last_period && live_units.contains(unit);
                let report = compose_report(
                    ReportInput {
                        seed,
                        measure,
                        unit,
                        period,
                        values,
                        provisional,
                        units: &units,
                        responsible: unit_codes,
                        key: &key,
                        blockers: &mut chain,
                    },
                    &mut rng,
                );
                let late = rng.chance(profile.late_rate);
                let submit_time = submit_time(zone, period, due_day, late, &mut rng);
                planned.push(Planned {
                    key,
                    measure: measure_number.clone(),
                    department: unit.clone(),
                    report,
                    submit_time,
                });
            }
        }
    }
    summary.expected = expected;

    // Backfill what is not stored yet, in month order per unit and measure, so that a
    // blocker is raised before a later month resolves it.
    if let Some(first) = planned.iter().find(|p| {
        designated
            .iter()
            .any(|d| d.measure == p.measure && d.members.contains(&p.department))
    }) {
        see_designations(&mut c.reporting, &parent, first).await;
    }
    summary.backfilled = backfill(&mut c.reporting, &parent, seed, planned).await?;

    // Reviews, as leadership.
    let review_period = periods[periods.len().saturating_sub(2)];
    summary.review_month = period_text(Some(&review_period));
    let (accepted, returned) = review(&mut c, settings, connection, plan_id, seed, review_period).await?;
    summary.accepted_now = accepted;
    summary.returned_now = returned;

    // The live path: final figures for the last month with each unit's own token, through
    // the gateway's web form and workbook, and over gRPC.
    let live = live_submissions(
        &mut c,
        settings,
        connection,
        plan_id,
        seed,
        &live_units,
        &periods[periods.len() - 1],
        &target_plans,
    )
    .await?;
    summary.live = live.by_way.iter().map(|(_, n)| n).sum();
    summary.live_by_way = live.by_way.iter().map(|(way, n)| (way.label(), *n)).collect();
    summary.live_units = live.units;

    // The follow-up: notices on the days the rules fired, and two orders.
    let months: Vec<Month> = periods.iter().filter_map(|p| Month::from_proto(Some(p))).collect();
    let demo_plan = follow_up::DemoPlan {
        plan_id,
        seed,
        calendar: &calendar,
        periods: &months,
        target_plans: &target_plans,
    };
    summary.follow_up = follow_up::follow_up(&mut c, settings, connection, demo_plan).await?;

    // The totals, read back from the service.
    let all = fetch_all(
        &mut c.reporting,
        &ListFilter {
            plan: plan_id.to_owned(),
            ..Default::default()
        },
    )
    .await?;
    let mut expected_keys = BTreeSet::new();
    for (measure, units) in &responsible {
        for unit in units {
            for month in &summary.months {
                expected_keys.insert(format!("{measure}~{unit}~{month}"));
            }
        }
    }
    let stored_keys: BTreeSet<String> = all.iter().map(report_key).collect();
    summary.stored = all.len();
    summary.on_time = all.iter().filter(|r| r.on_time).count();
    summary.late = all.len() - summary.on_time;
    summary.missing = expected_keys.difference(&stored_keys).count();
    summary.units = all.iter().map(|r| r.department.as_str()).collect::<BTreeSet<_>>().len();
    summary.accepted = all.iter().filter(|r| r.state() == pb::report::State::Accepted).count();
    summary.returned = all.iter().filter(|r| r.state() == pb::report::State::Returned).count();
    let blockers = stored_blockers(&mut c.reporting, &parent).await?;
    let open: Vec<&pb::Blocker> = blockers
        .iter()
        .filter(|b| b.state == pb::BlockerState::Open as i32)
        .collect();
    summary.blockers_open = open.len();
    summary.blockers_resolved = blockers.len() - open.len();
    summary.support_requests = open.iter().filter(|b| !b.support_unit.is_empty()).count();
    Ok(summary)
}

/// `{measure}~{department}~{YYYY-MM}`: what identifies a report across revisions.
fn report_key(report: &pb::Report) -> String {
    format!(
        "{}~{}~{}",
        report.measure_number,
        report.department,
        period_text(report.period.as_ref())
    )
}
