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
//!    agree with the values, and a few blockers ask another unit for support.
//! 3. Reviews one month as leadership: accepts most of it and returns one report.
//! 4. The live path: a few units get their own tokens and replace their provisional
//!    (快报) figures for the last month with final ones through SubmitReport.
//!
//! Every write carries a request id derived from the seed and the report key, and keys
//! already stored are skipped, so running it again with the same seed adds nothing.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::Duration,
};

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate, TimeZone};
use duban_kit::{Settings, client::ServiceChannel};
use duban_proto::{
    common::v1 as common,
    departments::v1::{self as departments, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as measures, measures_service_client::MeasuresServiceClient},
    reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient},
    targets::v1::{self as targets, targets_service_client::TargetsServiceClient},
};

use crate::{
    commands::{
        Connection, call_failed, code_name,
        report::{ListFilter, fetch_all, period_text},
    },
    prng::SplitMix64,
};

/// Items per SubmitReports stream (the service takes at most 1000).
const STREAM_ITEMS: usize = 250;

/// Units that get their own token and submit live.
const LIVE_UNITS: usize = 3;

/// Asia/Shanghai, where due days end.
fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// What `duban demo` did, for its summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Designations made now.
    pub designations: Vec<String>,
    /// Reports expected: responsible unit × measure × month.
    pub expected: usize,
    /// Backfilled now.
    pub backfilled: usize,
    /// Revisions submitted live with units' own tokens now.
    pub live: usize,
    /// Units that submitted live.
    pub live_units: Vec<String>,
    /// Keys skipped because they were already stored.
    pub already_stored: usize,
    /// Reports stored in total (latest revisions), on time, late.
    pub stored: usize,
    /// Of those, on time.
    pub on_time: usize,
    /// Of those, late.
    pub late: usize,
    /// Expected but not stored.
    pub missing: usize,
    /// Units with at least one report.
    pub units: usize,
    /// Months covered.
    pub months: Vec<String>,
    /// Reviews done now: accepted, returned.
    pub accepted_now: usize,
    /// Returned now.
    pub returned_now: usize,
    /// Reports accepted / returned in total.
    pub accepted: usize,
    /// Returned in total.
    pub returned: usize,
    /// Reports with a blocker asking another unit for support.
    pub support_requests: usize,
    /// Target codes whose demo performance lags their trajectory.
    pub lagging_targets: Vec<String>,
    /// The month reviewed.
    pub review_month: String,
}

impl Summary {
    /// The lines `duban demo` prints.
    pub fn print(&self, plan: &str, seed: u64) {
        println!("Demo data for plans/{plan} (seed {seed}):");
        if self.designations.is_empty() {
            println!("  designations: none needed (every designated group already has members)");
        } else {
            println!(
                "  designations made: {} ({})",
                self.designations.len(),
                self.designations.join("; ")
            );
        }
        println!(
            "  months: {} ({} to {}); units reporting: {}",
            self.months.len(),
            self.months.first().map_or("-", String::as_str),
            self.months.last().map_or("-", String::as_str),
            self.units
        );
        println!(
            "  reports stored now: {} backfilled, {} live revisions; {} already stored before",
            self.backfilled, self.live, self.already_stored
        );
        println!(
            "  reports expected: {}; stored: {} (on time {}, late {}); missing: {}",
            self.expected, self.stored, self.on_time, self.late, self.missing
        );
        println!(
            "  reviews: {} accepted and {} returned now (review month {}); in total {} accepted, {} returned",
            self.accepted_now, self.returned_now, self.review_month, self.accepted, self.returned
        );
        println!(
            "  live submissions with the units' own tokens: {}",
            if self.live_units.is_empty() {
                "none needed".to_owned()
            } else {
                self.live_units.join(", ")
            }
        );
        println!("  blockers asking another unit for support: {}", self.support_requests);
        println!(
            "  targets set to lag their trajectory: {}",
            self.lagging_targets.join(", ")
        );
    }
}

struct Clients {
    departments: DepartmentsServiceClient<ServiceChannel>,
    measures: MeasuresServiceClient<ServiceChannel>,
    targets: TargetsServiceClient<ServiceChannel>,
    reporting: ReportingServiceClient<ServiceChannel>,
}

fn clients(settings: &Settings, connection: &Connection, token: Option<&str>) -> anyhow::Result<Clients> {
    // Bulk streams take longer than one call.
    let timeout = Duration::from_secs(connection.timeout.max(600));
    let connection = Connection {
        token: token.map(str::to_owned).or_else(|| connection.token.clone()),
        ..connection.clone()
    };
    Ok(Clients {
        departments: DepartmentsServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.departments.endpoint_url(),
            timeout,
        )?),
        measures: MeasuresServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.measures.endpoint_url(),
            timeout,
        )?),
        targets: TargetsServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.targets.endpoint_url(),
            timeout,
        )?),
        reporting: ReportingServiceClient::new(connection.channel_with_timeout(
            settings,
            &connection.endpoint(&settings.reporting.endpoint_url()),
            timeout,
        )?),
    })
}

/// A target with what the demo needs to give it values.
struct TargetPlan {
    target: targets::Target,
    /// Expected value at the end of each period (`YYYY-MM`).
    expected: BTreeMap<String, f64>,
    /// Whether the trajectory is flat (AT_MOST, or SNAPSHOT without a baseline).
    flat: bool,
    /// Whether the demo makes it lag.
    lagging: bool,
    /// How well it goes overall (1.0 = on its trajectory).
    performance: f64,
    /// Each reporter's share of the target (1.0 for a single reporter).
    shares: BTreeMap<String, f64>,
}

/// One report to backfill.
struct Planned {
    key: String,
    measure: String,
    department: String,
    report: pb::Report,
    submit_time: prost_types::Timestamp,
}

/// Runs the demo and returns its summary.
pub async fn demo(settings: &Settings, connection: &Connection, plan_id: &str, seed: u64) -> anyhow::Result<Summary> {
    let mut c = clients(settings, connection, None)?;
    let parent = format!("plans/{plan_id}");
    let mut summary = Summary::default();

    let plan = c
        .measures
        .get_plan(measures::GetPlanRequest { name: parent.clone() })
        .await
        .map_err(|s| call_failed("GetPlan", s))?
        .into_inner();
    let due_day = plan.cadence.as_ref().map_or(5, |c| c.due_day).clamp(1, 28);
    let from = plan.effective_from.context("the plan has no effective_from")?;
    let to = plan.effective_to.context("the plan has no effective_to")?;
    let now = chrono::Utc::now();
    let periods: Vec<common::Period> = months_between(&from, &to)
        .into_iter()
        // Only months whose reports are well past due can be backfilled.
        .filter(|p| due_time(p, due_day, 20, 0) < now.timestamp())
        .collect();
    if periods.is_empty() {
        bail!("no month of plans/{plan_id} is past due yet: nothing to backfill");
    }
    summary.months = periods.iter().map(|p| period_text(Some(p))).collect();

    let units = list_departments(&mut c.departments).await?;
    summary.designations = designate(&mut c, &parent, &units, seed).await?;
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

    // The live units: a few that report targets, chosen by the seed.
    let target_reporters: Vec<String> = target_plans
        .iter()
        .flat_map(|t| t.target.reporting_departments.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let live_units = SplitMix64::for_key(seed, &["live-units"]).sample(&target_reporters, LIVE_UNITS);
    let last_period = summary.months.last().cloned().unwrap_or_default();

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
                    },
                    &mut rng,
                );
                let late = rng.chance(profile.late_rate);
                let submit_time = submit_time(period, due_day, late, &mut rng);
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

    // Backfill what is not stored yet.
    let (to_store, stored): (Vec<Planned>, Vec<Planned>) =
        planned.into_iter().partition(|p| !existing_keys.contains(&p.key));
    summary.already_stored = stored.len();
    summary.backfilled = backfill(&mut c.reporting, &parent, seed, to_store).await?;

    // Reviews, as leadership.
    let review_period = periods[periods.len().saturating_sub(2)];
    summary.review_month = period_text(Some(&review_period));
    let (accepted, returned) = review(&mut c, settings, connection, plan_id, seed, review_period).await?;
    summary.accepted_now = accepted;
    summary.returned_now = returned;

    // The live path: final figures for the last month with each unit's own token.
    let (live, live_names) = live_submissions(
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
    summary.live = live;
    summary.live_units = live_names;

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
    summary.support_requests = all
        .iter()
        .filter(|r| r.blockers.iter().any(|b| !b.support_unit.is_empty()))
        .count();
    Ok(summary)
}

fn report_key(report: &pb::Report) -> String {
    format!(
        "{}~{}~{}",
        report.measure_number,
        report.department,
        period_text(report.period.as_ref())
    )
}

/// Every month from `from`'s to `to`'s.
fn months_between(from: &common::Date, to: &common::Date) -> Vec<common::Period> {
    let mut out = Vec::new();
    let (mut year, mut month) = (from.year, from.month);
    while (year, month) <= (to.year, to.month) {
        out.push(common::Period { year, month });
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    out
}

/// Unix seconds of `hour:minute` Shanghai time on the due day of `period` (day
/// `due_day` of the next month).
fn due_time(period: &common::Period, due_day: i32, hour: u32, minute: u32) -> i64 {
    let (year, month) = if period.month == 12 {
        (period.year + 1, 1)
    } else {
        (period.year, period.month + 1)
    };
    local_time(year, month, due_day, hour, minute)
}

fn local_time(year: i32, month: i32, day: i32, hour: u32, minute: u32) -> i64 {
    let date = NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default();
    let time = date.and_hms_opt(hour, minute, 0).unwrap_or_default();
    shanghai()
        .from_local_datetime(&time)
        .single()
        .map_or(0, |t| t.timestamp())
}

/// When a report was filed: on a working day before the due day, or a few days after it.
fn submit_time(period: &common::Period, due_day: i32, late: bool, rng: &mut SplitMix64) -> prost_types::Timestamp {
    let due = due_time(period, due_day, 0, 0);
    let day = 24 * 3600;
    let hour = 9 + rng.below(9) as i64; // 09:00-17:59
    let minute = rng.below(60) as i64;
    let days = if late {
        1 + rng.below(8) as i64 // 1-8 days after the due day
    } else {
        -(rng.below(due_day.max(1) as usize) as i64) // the 1st to the due day itself
    };
    let mut seconds = due + days * day + hour * 3600 + minute * 60;
    // Weekends: the office files on the Friday before (or, when late, the Monday after).
    let weekday = shanghai()
        .timestamp_opt(seconds, 0)
        .single()
        .map_or(0, |t| t.weekday().num_days_from_monday());
    if weekday >= 5 {
        let shift = if late {
            7 - i64::from(weekday)
        } else {
            4 - i64::from(weekday)
        };
        let shifted = seconds + shift * day;
        // Never before the month after the period began.
        if late || shifted >= due_time(period, 1, 0, 0) {
            seconds = shifted;
        }
    }
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// How reliably a unit reports.
struct UnitProfile {
    late_rate: f64,
    missing_months: BTreeSet<String>,
}

impl UnitProfile {
    fn new(seed: u64, unit: &str, months: &[String]) -> Self {
        let mut rng = SplitMix64::for_key(seed, &["unit-profile", unit]);
        let late_rate = if rng.chance(0.15) {
            rng.range(0.2, 0.4)
        } else {
            rng.range(0.02, 0.1)
        };
        let mut missing_months = BTreeSet::new();
        if rng.chance(0.2) {
            let count = 1 + rng.below(2);
            for month in rng.sample(months, count) {
                missing_months.insert(month);
            }
        }
        Self {
            late_rate,
            missing_months,
        }
    }
}

async fn list_departments(
    client: &mut DepartmentsServiceClient<ServiceChannel>,
) -> anyhow::Result<BTreeMap<String, departments::Department>> {
    let mut out = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_departments(departments::ListDepartmentsRequest {
                page_size: 500,
                page_token,
                kind: 0,
            })
            .await
            .map_err(|s| call_failed("ListDepartments", s))?
            .into_inner();
        out.extend(page.departments.into_iter().map(|d| (d.code.clone(), d)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

async fn list_measures(
    client: &mut MeasuresServiceClient<ServiceChannel>,
    parent: &str,
) -> anyhow::Result<Vec<measures::Measure>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_measures(measures::ListMeasuresRequest {
                parent: parent.to_owned(),
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|s| call_failed("ListMeasures", s))?
            .into_inner();
        out.extend(page.measures);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

/// For each measure (in plan order), the department codes responsible for it: listed
/// ones and the members of listed groups, each once.
fn responsible_units(measures: &[measures::Measure]) -> Vec<(String, Vec<String>)> {
    measures
        .iter()
        .map(|measure| {
            let mut codes: Vec<String> = Vec::new();
            for unit in &measure.responsible_units {
                let members = if unit.kind() == measures::ResponsibleUnitKind::Group {
                    unit.member_codes.clone()
                } else {
                    vec![unit.code.clone()]
                };
                for code in members {
                    if !code.is_empty() && !codes.contains(&code) {
                        codes.push(code);
                    }
                }
            }
            (measure.number.clone(), codes)
        })
        .collect()
}

/// Designates two or three members for every DESIGNATED group of a measure that has
/// none yet, among the units the group admits and the measure does not already list.
async fn designate(
    c: &mut Clients,
    parent: &str,
    units: &BTreeMap<String, departments::Department>,
    seed: u64,
) -> anyhow::Result<Vec<String>> {
    let mut made = Vec::new();
    let mut groups: HashMap<String, departments::Group> = HashMap::new();
    for measure in list_measures(&mut c.measures, parent).await? {
        let listed: BTreeSet<&str> = measure.responsible_units.iter().map(|u| u.code.as_str()).collect();
        for unit in &measure.responsible_units {
            if unit.kind() != measures::ResponsibleUnitKind::Group || !unit.member_codes.is_empty() {
                continue;
            }
            if !groups.contains_key(&unit.code) {
                let group = c
                    .departments
                    .get_group(departments::GetGroupRequest {
                        name: format!("groups/{}", unit.code),
                    })
                    .await
                    .map_err(|s| call_failed("GetGroup", s))?
                    .into_inner();
                groups.insert(unit.code.clone(), group);
            }
            let group = &groups[&unit.code];
            if group.kind() != departments::GroupKind::Designated {
                continue;
            }
            let candidates: Vec<String> = units
                .values()
                .filter(|d| group.member_kinds.is_empty() || group.member_kinds.contains(&d.kind))
                .filter(|d| !listed.contains(d.code.as_str()))
                .map(|d| d.code.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let mut rng = SplitMix64::for_key(seed, &["designate", &unit.code, &measure.name]);
            let count = 2 + rng.below(2);
            let members = rng.sample(&candidates, count);
            c.departments
                .update_group_designation(departments::UpdateGroupDesignationRequest {
                    designation: Some(departments::GroupDesignation {
                        group: unit.code.clone(),
                        scope: measure.name.clone(),
                        members: members.clone(),
                        ..Default::default()
                    }),
                    request_id: rng.uuid(),
                    validate_only: false,
                })
                .await
                .map_err(|s| call_failed(&format!("UpdateGroupDesignation {} {}", unit.code, measure.name), s))?;
            made.push(format!(
                "{} {} = {}",
                measure.number,
                unit.as_written,
                members.join(",")
            ));
        }
    }
    Ok(made)
}

/// Reads every target and its trajectory, and decides how each will go.
async fn plan_targets(
    client: &mut TargetsServiceClient<ServiceChannel>,
    parent: &str,
    seed: u64,
    months: &[String],
) -> anyhow::Result<Vec<TargetPlan>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_targets(targets::ListTargetsRequest {
                parent: parent.to_owned(),
                page_size: 500,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|s| call_failed("ListTargets", s))?
            .into_inner();
        all.extend(page.targets);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    // About one target in five lags its trajectory.
    let codes: Vec<String> = all.iter().map(|t| t.code.clone()).collect();
    let lagging_codes = SplitMix64::for_key(seed, &["lagging-targets"]).sample(&codes, codes.len().div_ceil(5));
    let mut out = Vec::new();
    for target in all {
        let trajectory = client
            .get_trajectory(targets::GetTrajectoryRequest {
                name: target.name.clone(),
                dates: vec![],
            })
            .await
            .map_err(|s| call_failed(&format!("GetTrajectory {}", target.code), s))?
            .into_inner();
        let expected: BTreeMap<String, f64> = trajectory
            .points
            .iter()
            .filter(|p| p.period.is_some())
            .map(|p| (period_text(p.period.as_ref()), p.expected_value))
            .collect();
        let flat = trajectory.points.iter().all(|p| {
            p.source() == targets::TrajectoryPointSource::Flat || (p.expected_value - target.value).abs() < 1e-9
        });
        let mut rng = SplitMix64::for_key(seed, &["target", &target.code]);
        let lagging = lagging_codes.contains(&target.code);
        let performance = if lagging {
            rng.range(0.72, 0.88)
        } else {
            rng.range(0.97, 1.08)
        };
        let weights: Vec<f64> = target
            .reporting_departments
            .iter()
            .map(|_| rng.range(0.4, 1.6))
            .collect();
        let total: f64 = weights.iter().sum();
        let shares = target
            .reporting_departments
            .iter()
            .zip(&weights)
            .map(|(code, w)| (code.clone(), w / total))
            .collect();
        // Months missing from the trajectory (a deadline before the plan's end) keep the
        // target value.
        let mut expected = expected;
        for month in months {
            expected.entry(month.clone()).or_insert(target.value);
        }
        out.push(TargetPlan {
            target,
            expected,
            flat,
            lagging,
            performance,
            shares,
        });
    }
    Ok(out)
}

/// Whether a unit counts whole things for this unit of measure.
fn counted(unit: common::QuantityUnit) -> bool {
    use common::QuantityUnit as U;
    matches!(
        unit,
        U::Count | U::Enterprises | U::Projects | U::HousingUnits | U::Sites | U::Routes | U::People
    )
}

/// A value computed for one target, with how it compares with the unit's share of the
/// trajectory (1.0 = exactly on it; below 1 = behind, whatever the comparator).
struct Value {
    metric: pb::MetricValue,
    ratio: f64,
    /// The target's Chinese name, for the narrative.
    label: String,
}

/// The unit's values for the measure's targets it reports in this period.
fn values_for(
    seed: u64,
    measure_targets: &[&TargetPlan],
    unit: &str,
    period: &str,
    previous: &mut HashMap<String, f64>,
    rng: &mut SplitMix64,
) -> Vec<Value> {
    let mut out = Vec::new();
    for plan in measure_targets {
        let target = &plan.target;
        let Some(share) = plan.shares.get(unit) else {
            continue;
        };
        let expected_now = plan.expected.get(period).copied().unwrap_or(target.value);
        let months: Vec<&String> = plan.expected.keys().collect();
        let index = months.iter().position(|m| m.as_str() == period).unwrap_or(0);
        let progress = (index as f64 + 1.0) / months.len().max(1) as f64;
        let at_most = target.comparator() == common::Comparator::AtMost;
        // The unit's own performance: the target's, spread per unit for shared targets.
        let mut unit_rng = SplitMix64::for_key(seed, &["unit-performance", &target.code, unit]);
        let unit_performance = if plan.shares.len() > 1 {
            plan.performance * unit_rng.range(0.85, 1.15)
        } else {
            plan.performance
        };
        let noise = 1.0 + 0.03 * rng.normal();
        let (expected_share, mut value) = match target.value_basis() {
            common::ValueBasis::Period => {
                let before = index
                    .checked_sub(1)
                    .and_then(|i| plan.expected.get(months[i].as_str()))
                    .copied()
                    .unwrap_or_else(|| target.baseline.unwrap_or(0.0));
                let amount = (expected_now - before).max(0.0) * share;
                (amount, amount * unit_performance * noise)
            }
            common::ValueBasis::Snapshot if plan.flat => {
                // A level that approaches the target over the year.
                // Judged against where it should be by now, not against the year-end level.
                let planned = if at_most {
                    target.value * share * (1.3 - 0.3 * progress)
                } else {
                    target.value * share * (0.75 + 0.25 * progress)
                };
                let level = if at_most {
                    planned / unit_performance
                } else {
                    planned * unit_performance
                };
                (planned, level * noise)
            }
            _ => {
                let expected = expected_now * share;
                (expected, expected * unit_performance * noise)
            }
        };
        let unit_of_measure = target.unit();
        if unit_of_measure == common::QuantityUnit::Percent {
            value = value.min(100.0);
        }
        value = value.max(0.0);
        if target.value_basis() == common::ValueBasis::Cumulative {
            // Year-to-date figures never go down.
            if let Some(before) = previous.get(&target.code) {
                value = value.max(*before);
            }
        }
        value = if counted(unit_of_measure) {
            value.round()
        } else {
            (value * 100.0).round() / 100.0
        };
        previous.insert(target.code.clone(), value);
        let ratio = if at_most {
            if value > 0.0 { expected_share / value } else { 1.0 }
        } else if expected_share > 0.0 {
            value / expected_share
        } else {
            1.0
        };
        out.push(Value {
            metric: pb::MetricValue {
                target_code: target.code.clone(),
                value,
                unit: target.unit,
                basis: target.value_basis,
            },
            ratio,
            label: target.display_name.clone(),
        });
    }
    out
}

/// How a quantity is written after a number in Chinese.
fn unit_label(unit: common::QuantityUnit) -> &'static str {
    use common::QuantityUnit as U;
    match unit {
        U::Enterprises => "户",
        U::Projects | U::Sites | U::Count => "个",
        U::Cny => "元",
        U::Cny10k => "万元",
        U::Cny100m => "亿元",
        U::Usd100m => "亿美元",
        U::SquareMeters => "平方米",
        U::HousingUnits => "套",
        U::WorkingDays => "个工作日",
        U::Percent => "%",
        U::Routes => "条",
        U::People => "人",
        U::Unspecified => "",
    }
}

struct ReportInput<'a> {
    seed: u64,
    measure: &'a measures::Measure,
    unit: &'a str,
    period: &'a common::Period,
    values: Vec<Value>,
    provisional: bool,
    units: &'a BTreeMap<String, departments::Department>,
    responsible: &'a [String],
}

/// Problems units run into, with the unit whose help they would ask for.
const BLOCKERS: &[(&str, &str)] = &[
    (
        "项目用地指标尚未落实，土地出让进度慢于计划，需协调用地保障。",
        "planning-resources-bureau",
    ),
    ("配套资金拨付滞后，部分项目资金缺口待解决。", "finance-bureau"),
    (
        "跨部门审批材料流转周期较长，需加快联合会商。",
        "administrative-service-center",
    ),
    ("施工许可及竣工验收办理进度慢于预期。", "construction-commission"),
    (
        "重点企业外迁意向增加，新增注册企业数量低于预期。",
        "market-regulation-bureau",
    ),
    ("统计口径与市级部门不一致，数据核对耗时较长。", "statistics-bureau"),
    ("招商项目落地受产业用房供给不足影响。", "investment-promotion-center"),
    ("企业用工需求集中，招聘对接场地不足。", "human-resources-bureau"),
];

const ACTIVITIES: &[&str] = &[
    "召开专题推进会，梳理重点任务清单并逐项明确责任人和完成时限",
    "走访重点企业，听取企业诉求并协调解决实际困难",
    "会同相关部门开展联合调研，形成问题清单和工作台账",
    "开展政策宣传解读，推动各项惠企政策直达快享",
    "对照年度目标开展进度排摸，对滞后事项实行挂图作战",
    "完善工作机制，建立周调度、月通报制度",
];

const NEXT_STEPS: &[&str] = &[
    "继续加大推进力度，确保按期完成年度目标",
    "加强跟踪督办，及时协调解决推进中的难点问题",
    "进一步优化服务，推动更多项目尽快落地见效",
    "做好数据核对和报送，确保信息准确完整",
];

fn compose_report(input: ReportInput<'_>, rng: &mut SplitMix64) -> pb::Report {
    let ReportInput {
        seed,
        measure,
        unit,
        period,
        values,
        provisional,
        units,
        responsible,
    } = input;
    // The status: from the values when there are any, otherwise from the unit's record
    // on this measure.
    let worst = values.iter().map(|v| v.ratio).fold(f64::INFINITY, f64::min);
    let mut status = if worst.is_finite() {
        if worst >= 0.95 {
            pb::OverallStatus::OnTrack
        } else if worst >= 0.85 {
            pb::OverallStatus::AtRisk
        } else {
            pb::OverallStatus::OffTrack
        }
    } else {
        let mut health = SplitMix64::for_key(seed, &["health", &measure.number, unit]);
        let class = health.next_f64();
        let draw = rng.next_f64();
        if class < 0.75 {
            if draw < 0.03 {
                pb::OverallStatus::AtRisk
            } else {
                pb::OverallStatus::OnTrack
            }
        } else if class < 0.93 {
            if draw < 0.05 {
                pb::OverallStatus::OffTrack
            } else if draw < 0.4 {
                pb::OverallStatus::AtRisk
            } else {
                pb::OverallStatus::OnTrack
            }
        } else if period.month >= 7 {
            if draw < 0.5 {
                pb::OverallStatus::OffTrack
            } else {
                pb::OverallStatus::AtRisk
            }
        } else if draw < 0.5 {
            pb::OverallStatus::AtRisk
        } else {
            pb::OverallStatus::OnTrack
        }
    };
    if values.is_empty() && status == pb::OverallStatus::OnTrack {
        if period.month == 3 && rng.chance(0.08) {
            status = pb::OverallStatus::NotStarted;
        } else if period.month == 12 && rng.chance(0.15) {
            status = pb::OverallStatus::Completed;
        }
    }

    let unit_name = units.get(unit).map_or(unit, |d| d.display_name.as_str());
    let mut narrative = format!(
        "{}年{}月，{}围绕“{}”，{}。",
        period.year,
        period.month,
        unit_name,
        measure.title,
        rng.pick(ACTIVITIES)
    );
    for value in &values {
        let (number, unit_text) = (trim_number(value.metric.value), unit_label(value.metric.unit()));
        narrative.push_str(&match value.metric.basis() {
            common::ValueBasis::Cumulative => format!("截至本月，{}{number}{unit_text}。", value.label),
            common::ValueBasis::Period => format!("本月{}{number}{unit_text}。", value.label),
            _ => format!("本月末{}为{number}{unit_text}。", value.label),
        });
    }
    let mut blockers = Vec::new();
    if matches!(status, pb::OverallStatus::AtRisk | pb::OverallStatus::OffTrack) {
        narrative.push_str("部分工作进度慢于预期。");
        if rng.chance(0.6) {
            let (description, helper) = *rng.pick(BLOCKERS);
            let ask = rng.chance(0.3);
            let support_unit = if !ask {
                String::new()
            } else if helper != unit && units.contains_key(helper) {
                helper.to_owned()
            } else {
                responsible
                    .iter()
                    .find(|code| code.as_str() != unit)
                    .cloned()
                    .unwrap_or_default()
            };
            let severity = match (status, support_unit.is_empty()) {
                (pb::OverallStatus::OffTrack, _) => pb::BlockerSeverity::High,
                (_, false) => pb::BlockerSeverity::High,
                _ => pb::BlockerSeverity::Medium,
            };
            blockers.push(pb::Blocker {
                description: description.to_owned(),
                severity: severity as i32,
                support_unit,
            });
        }
    }
    narrative.push_str(&format!("下一步，{}。", rng.pick(NEXT_STEPS)));
    if provisional {
        narrative.push_str("（本月数据为快报数，正式数据将另行报送。）");
    }
    let evidence_links = if rng.chance(0.35) {
        vec![pb::EvidenceLink {
            title: format!("{}年{}月工作台账", period.year, period.month),
            url: format!(
                "https://evidence.example.org/jiading-2023/{}/{}/{unit}.pdf",
                period_text(Some(period)),
                measure.number
            ),
            sha256: String::new(),
        }]
    } else {
        vec![]
    };
    pb::Report {
        measure_number: measure.number.clone(),
        department: unit.to_owned(),
        period: Some(*period),
        overall_status: status as i32,
        narrative,
        metric_values: values.into_iter().map(|v| v.metric).collect(),
        blockers,
        evidence_links,
        provisional,
        ..Default::default()
    }
}

fn trim_number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// Sends the planned reports as ADMIN backfills, in streams; returns how many were stored.
async fn backfill(
    client: &mut ReportingServiceClient<ServiceChannel>,
    parent: &str,
    seed: u64,
    planned: Vec<Planned>,
) -> anyhow::Result<usize> {
    let mut stored = 0;
    let mut failures = Vec::new();
    for chunk in planned.chunks(STREAM_ITEMS) {
        let items: Vec<pb::SubmitReportsRequest> = chunk
            .iter()
            .map(|p| pb::SubmitReportsRequest {
                parent: parent.to_owned(),
                report: Some(p.report.clone()),
                request_id: SplitMix64::for_key(seed, &["backfill", &p.key]).uuid(),
                validate_only: false,
                backfill: true,
                submit_time: Some(p.submit_time),
            })
            .collect();
        let response = client
            .submit_reports(futures::stream::iter(items))
            .await
            .map_err(|s| call_failed("SubmitReports", s))?
            .into_inner();
        for result in response.results {
            match result.outcome {
                Some(pb::submit_reports_result::Outcome::Report(_)) => stored += 1,
                Some(pb::submit_reports_result::Outcome::Error(error)) => {
                    let item = &chunk[usize::try_from(result.index).unwrap_or(0).min(chunk.len() - 1)];
                    let mut line = format!(
                        "{} ({} {}): {} ({}): {}",
                        item.key,
                        item.measure,
                        item.department,
                        code_name(tonic::Code::from_i32(error.code)),
                        error.reason,
                        error.message
                    );
                    for violation in &error.field_violations {
                        line.push_str(&format!("\n    {}: {}", violation.field, violation.description));
                    }
                    failures.push(line);
                }
                None => failures.push(format!("item {}: no outcome", result.index)),
            }
        }
    }
    if !failures.is_empty() {
        for failure in failures.iter().take(20) {
            eprintln!("  {failure}");
        }
        bail!(
            "{} of {} backfilled reports were refused (first ones above); {stored} were stored",
            failures.len(),
            planned.len()
        );
    }
    Ok(stored)
}

/// Issues a token, for the demo only; the caller revokes it when done.
async fn issue_token(
    departments_client: &mut DepartmentsServiceClient<ServiceChannel>,
    role: departments::Role,
    department: &str,
    description: String,
) -> anyhow::Result<(String, String)> {
    let response = departments_client
        .issue_credential(departments::IssueCredentialRequest {
            credential: Some(departments::Credential {
                role: role as i32,
                department: department.to_owned(),
                description,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
        })
        .await
        .map_err(|s| call_failed("IssueCredential", s))?
        .into_inner();
    let name = response.credential.map(|c| c.name).unwrap_or_default();
    Ok((name, response.token))
}

async fn revoke_token(departments_client: &mut DepartmentsServiceClient<ServiceChannel>, name: &str) {
    let request = departments::RevokeCredentialRequest {
        name: name.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    if let Err(status) = departments_client.revoke_credential(request).await {
        eprintln!("warning: {}", call_failed(&format!("RevokeCredential {name}"), status));
    }
}

/// Reviews one month as leadership: accepts most of its submitted reports and returns
/// one (preferably one at risk). Only reports still SUBMITTED are touched, so a rerun
/// reviews nothing again.
async fn review(
    c: &mut Clients,
    settings: &Settings,
    connection: &Connection,
    plan_id: &str,
    seed: u64,
    period: common::Period,
) -> anyhow::Result<(usize, usize)> {
    let month = fetch_all(
        &mut c.reporting,
        &ListFilter {
            plan: plan_id.to_owned(),
            period: Some(period),
            ..Default::default()
        },
    )
    .await?;
    let pending: Vec<&pb::Report> = month
        .iter()
        .filter(|r| r.state() == pb::report::State::Submitted)
        .collect();
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let already_returned = month.iter().any(|r| r.state() == pb::report::State::Returned);
    // The one to return: the lowest draw among those at risk or off track (or any).
    let return_key = if already_returned {
        None
    } else {
        let troubled: Vec<&&pb::Report> = pending
            .iter()
            .filter(|r| {
                matches!(
                    r.overall_status(),
                    pb::OverallStatus::AtRisk | pb::OverallStatus::OffTrack
                )
            })
            .collect();
        let pool: Vec<&&pb::Report> = if troubled.is_empty() {
            pending.iter().collect()
        } else {
            troubled
        };
        pool.iter()
            .min_by_key(|r| SplitMix64::for_key(seed, &["return", &report_key(r)]).next_u64())
            .map(|r| report_key(r))
    };

    // Decide first, so that a token is issued only when there is something to review.
    let decisions: Vec<(&pb::Report, String, bool)> = pending
        .iter()
        .filter_map(|report| {
            let key = report_key(report);
            let mut rng = SplitMix64::for_key(seed, &["review", &key]);
            let request_id = rng.uuid();
            if Some(&key) == return_key.as_ref() {
                Some((*report, request_id, false))
            } else if rng.chance(0.85) {
                Some((*report, request_id, true))
            } else {
                None
            }
        })
        .collect();
    if decisions.is_empty() {
        return Ok((0, 0));
    }
    let (credential, token) = issue_token(
        &mut c.departments,
        departments::Role::Leadership,
        "",
        format!("duban demo (seed {seed}): leadership review"),
    )
    .await?;
    let result = async {
        let mut leadership = clients(settings, connection, Some(&token))?;
        let (mut accepted, mut returned) = (0, 0);
        for (report, request_id, accept) in decisions {
            let key = report_key(report);
            let mut rng = SplitMix64::for_key(seed, &["review-comment", &key]);
            if !accept {
                leadership
                    .reporting
                    .return_report(pb::ReturnReportRequest {
                        name: report.name.clone(),
                        etag: report.etag.clone(),
                        reason: "请补充进度滞后的原因分析和下一步整改措施，并附工作台账后重新报送。".to_owned(),
                        request_id,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("ReturnReport {key}"), s))?;
                returned += 1;
            } else {
                leadership
                    .reporting
                    .accept_report(pb::AcceptReportRequest {
                        name: report.name.clone(),
                        etag: report.etag.clone(),
                        comment: if rng.chance(0.2) {
                            "已阅，请继续做好跟踪推进。".to_owned()
                        } else {
                            String::new()
                        },
                        request_id,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("AcceptReport {key}"), s))?;
                accepted += 1;
            }
        }
        anyhow::Ok((accepted, returned))
    }
    .await;
    revoke_token(&mut c.departments, &credential).await;
    result
}

/// The live path: each live unit, with a token of its own, replaces the provisional
/// figures of its last-month reports with final ones (revision 2, not provisional).
#[allow(clippy::too_many_arguments)]
async fn live_submissions(
    c: &mut Clients,
    settings: &Settings,
    connection: &Connection,
    plan_id: &str,
    seed: u64,
    live_units: &[String],
    period: &common::Period,
    target_plans: &[TargetPlan],
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut submitted = 0;
    let mut names = Vec::new();
    for unit in live_units {
        let reports = fetch_all(
            &mut c.reporting,
            &ListFilter {
                plan: plan_id.to_owned(),
                department: Some(unit.clone()),
                period: Some(*period),
                ..Default::default()
            },
        )
        .await?;
        let provisional: Vec<&pb::Report> = reports.iter().filter(|r| r.provisional).collect();
        if provisional.is_empty() {
            continue;
        }
        let (credential, token) = issue_token(
            &mut c.departments,
            departments::Role::Department,
            unit,
            format!("duban demo (seed {seed}): {unit} reporting system"),
        )
        .await?;
        let result = async {
            let mut own = clients(settings, connection, Some(&token))?;
            let mut count = 0;
            for report in provisional {
                let key = report_key(report);
                let mut rng = SplitMix64::for_key(seed, &["live", &key]);
                let mut final_report = pb::Report {
                    measure_number: report.measure_number.clone(),
                    // Empty: the caller's own department.
                    department: String::new(),
                    period: report.period,
                    overall_status: report.overall_status,
                    narrative: report.narrative.replace(
                        "（本月数据为快报数，正式数据将另行报送。）",
                        "（正式数据，替代快报数。）",
                    ),
                    metric_values: report.metric_values.clone(),
                    milestone_updates: report.milestone_updates.clone(),
                    blockers: report.blockers.clone(),
                    evidence_links: report.evidence_links.clone(),
                    provisional: false,
                    etag: report.etag.clone(),
                    ..Default::default()
                };
                for value in &mut final_report.metric_values {
                    let unit_of_measure = target_plans
                        .iter()
                        .find(|t| t.target.code == value.target_code)
                        .map_or(common::QuantityUnit::Count, |t| t.target.unit());
                    let revised = value.value * (1.0 + rng.range(0.0, 0.015));
                    value.value = if counted(unit_of_measure) {
                        revised.round()
                    } else {
                        let v = (revised * 100.0).round() / 100.0;
                        if unit_of_measure == common::QuantityUnit::Percent {
                            v.min(100.0)
                        } else {
                            v
                        }
                    };
                }
                own.reporting
                    .submit_report(pb::SubmitReportRequest {
                        parent: format!("plans/{plan_id}"),
                        report: Some(final_report),
                        request_id: rng.uuid(),
                        validate_only: false,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("SubmitReport {key} as {unit}"), s))?;
                count += 1;
            }
            anyhow::Ok(count)
        }
        .await;
        revoke_token(&mut c.departments, &credential).await;
        let count = result?;
        submitted += count;
        names.push(format!("{unit} ({count})"));
    }
    Ok((submitted, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_the_start_to_the_end_month() {
        let months = months_between(
            &common::Date {
                year: 2023,
                month: 3,
                day: 3,
            },
            &common::Date {
                year: 2023,
                month: 12,
                day: 31,
            },
        );
        assert_eq!(months.len(), 10);
        assert_eq!(period_text(months.first()), "2023-03");
        assert_eq!(period_text(months.last()), "2023-12");
    }

    #[test]
    fn submit_times_fall_before_or_after_the_due_day() {
        let period = common::Period { year: 2023, month: 6 };
        let due_end = due_time(&period, 5, 0, 0) + 24 * 3600; // end of 2023-07-05
        let month_start = due_time(&period, 1, 0, 0);
        for i in 0..200 {
            let mut rng = SplitMix64::for_key(1, &["t", &i.to_string()]);
            let on_time = submit_time(&period, 5, false, &mut rng).seconds;
            assert!(on_time >= month_start && on_time < due_end, "{on_time}");
            let late = submit_time(&period, 5, true, &mut rng).seconds;
            assert!(late >= due_end, "{late}");
            assert!(late < due_end + 12 * 24 * 3600);
        }
        // 2023-07-05 00:00 in Shanghai is 2023-07-04 16:00 UTC.
        assert_eq!(due_time(&period, 5, 0, 0), 1_688_486_400);
    }

    #[test]
    fn the_same_seed_plans_the_same_values() {
        let target = TargetPlan {
            target: targets::Target {
                code: "new-enterprises".into(),
                measure_number: "4.1".into(),
                unit: common::QuantityUnit::Enterprises as i32,
                value: 40000.0,
                comparator: common::Comparator::AtLeast as i32,
                value_basis: common::ValueBasis::Cumulative as i32,
                aggregation: common::Aggregation::Sum as i32,
                reporting_departments: vec!["a".into(), "b".into()],
                ..Default::default()
            },
            expected: (3..=12)
                .map(|m| (format!("2023-{m:02}"), 4000.0 * f64::from(m - 2)))
                .collect(),
            flat: false,
            lagging: false,
            performance: 1.0,
            shares: [("a".to_owned(), 0.5), ("b".to_owned(), 0.5)].into(),
        };
        let run = |seed| {
            let mut previous = HashMap::new();
            (3..=12)
                .map(|m| {
                    let mut rng = SplitMix64::for_key(seed, &["report", &m.to_string()]);
                    values_for(seed, &[&target], "a", &format!("2023-{m:02}"), &mut previous, &mut rng)[0]
                        .metric
                        .value
                })
                .collect::<Vec<f64>>()
        };
        let first = run(7);
        assert_eq!(first, run(7));
        assert_ne!(first, run(8));
        assert!(
            first.windows(2).all(|w| w[0] <= w[1]),
            "cumulative values rise: {first:?}"
        );
        assert!(first.iter().all(|v| v.fract() == 0.0), "enterprises are whole");
        assert!((first[9] - 20000.0).abs() < 20000.0 * 0.25, "{first:?}");
    }
}
