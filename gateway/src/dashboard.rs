//! The dashboard domain: validates requests, checks who may see what, reads the cached
//! plan structure and reporting's maintained aggregates (GetProgress, GetCompliance and
//! the latest reports of the periods that matter, never a scan of every report), and
//! assembles the views with the rules of [`crate::rag`].

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use chrono::NaiveDate;
use duban_kit::{Authenticator, Principal, auth::bearer_token};
use duban_proto::{
    common::v1::{Comparator, Date, Period},
    gateway::v1 as pb,
    measures::v1::{Measure, ResponsibleUnitKind},
    reporting::v1::{
        self as rpb, ComplianceStatus, DepartmentCompliance, GetComplianceRequest, GetProgressRequest,
        ListReportsRequest, OverallStatus, Report, TargetProgress,
    },
};
use futures::future::join_all;
use tonic::{Code, metadata::MetadataMap};

use crate::{
    backends::{Backends, Catalogue, REPORTING, TARGETS, TargetEntry},
    calendar::{self, due_date, period_end, period_key, period_label, to_date, to_naive},
    error::GatewayError,
    rag::{self, PlanTolerances, Rag, TargetFacts},
};

/// Who is asking, and with which token caller-specific reads are made.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Principal,
    /// The caller's own token, forwarded for caller-specific reads; `None` for the
    /// open dashboard (the gateway's service token is used).
    pub token: Option<String>,
}

impl Caller {
    /// The open dashboard, reading as the gateway itself.
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Service,
            token: None,
        }
    }

    fn require_reader(&self, what: &str) -> Result<(), GatewayError> {
        match &self.principal {
            Principal::Leadership | Principal::Admin | Principal::Service => Ok(()),
            other => Err(GatewayError::RoleNotAllowed(format!(
                "{what} needs the leadership, admin or service role; the caller is {}",
                other.label()
            ))),
        }
    }
}

/// The reporting aggregates one view needs, read once per request.
#[derive(Debug, Default)]
struct Snapshot {
    progress: Option<HashMap<String, TargetProgress>>,
    /// Per period up to `as_of`: the progress through that period.
    series: Vec<(Period, HashMap<String, TargetProgress>)>,
    compliance: Option<Compliance>,
    reports: HashMap<(String, String), Report>,
    unreachable: BTreeSet<&'static str>,
}

#[derive(Debug, Default)]
struct Compliance {
    totals: rpb::ComplianceTotals,
    departments: Vec<DepartmentCompliance>,
}

/// The dashboard service's domain.
#[derive(Debug, Clone)]
pub struct Dashboard {
    backends: Arc<Backends>,
    tolerances: PlanTolerances,
    auth: Authenticator,
}

/// `plans/{id}` → id, or FIELD_INVALID on `field`.
pub fn plan_id(name: &str, field: &str) -> Result<String, GatewayError> {
    let id = name.strip_prefix("plans/").unwrap_or("");
    let valid = (3..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(id.to_owned())
    } else {
        Err(GatewayError::invalid(
            field,
            "must be `plans/{plan}`, for example `plans/jiading-2023`",
        ))
    }
}

/// The date a view is for: `as_of`, or today; a future or invalid date is FIELD_INVALID.
pub fn resolve_as_of(as_of: Option<&Date>) -> Result<NaiveDate, GatewayError> {
    let today = calendar::today();
    let Some(date) = as_of else {
        return Ok(today);
    };
    let date = to_naive(date).ok_or_else(|| GatewayError::invalid("as_of", "is not a valid date"))?;
    if date > today {
        return Err(GatewayError::invalid("as_of", "is after today (Asia/Shanghai)"));
    }
    Ok(date)
}

/// Orders measure numbers as the plan does: 4.9 before 4.10.
pub fn measure_key(number: &str) -> (u32, u32) {
    let mut parts = number.split('.').map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    (parts.next().unwrap_or(u32::MAX), parts.next().unwrap_or(0))
}

fn measure_name(plan_id: &str, number: &str) -> String {
    format!("plans/{plan_id}/measures/{number}")
}

/// The departments responsible for a measure, groups expanded, with whether each leads
/// and through which group, in code order.
pub fn responsible_departments(measure: &Measure) -> Vec<(String, bool, String)> {
    let mut out: Vec<(String, bool, String)> = Vec::new();
    for unit in &measure.responsible_units {
        if unit.kind == ResponsibleUnitKind::Group as i32 {
            for member in &unit.member_codes {
                if !out.iter().any(|(code, ..)| code == member) {
                    out.push((member.clone(), unit.lead, unit.code.clone()));
                }
            }
        } else if !out.iter().any(|(code, ..)| code == &unit.code) {
            out.push((unit.code.clone(), unit.lead, String::new()));
        }
    }
    out.sort();
    out
}

impl Dashboard {
    /// Over `backends`, with the RAG tolerances and the token checker.
    pub fn new(backends: Arc<Backends>, tolerances: PlanTolerances, auth: Authenticator) -> Self {
        Self {
            backends,
            tolerances,
            auth,
        }
    }

    /// The backends, for forwarding and watching.
    pub fn backends(&self) -> &Arc<Backends> {
        &self.backends
    }

    /// Who is calling, from gRPC metadata.
    pub async fn caller(&self, metadata: &MetadataMap) -> Result<Caller, GatewayError> {
        let token = bearer_token(metadata)?.to_owned();
        self.caller_from_token(&token).await
    }

    /// Who `token` belongs to.
    pub async fn caller_from_token(&self, token: &str) -> Result<Caller, GatewayError> {
        let verified = self.auth.verify(token).await?;
        Ok(Caller {
            principal: verified.principal,
            token: Some(token.to_owned()),
        })
    }

    /// Reads the aggregates of the whole plan as the gateway (the service token): every
    /// view's ratings depend on every department's reports; what a caller may see is
    /// decided here, before and after.
    async fn snapshot(&self, catalogue: &Catalogue, as_of: NaiveDate, with_series: bool) -> Snapshot {
        let caller = &Caller::anonymous();
        let mut snap = Snapshot::default();
        if catalogue.targets.is_none() {
            snap.unreachable.insert(TARGETS);
        }
        let parent = format!("plans/{}", catalogue.plan_id);
        // Progress is an aggregate over every department: always read as the gateway.
        let progress_call = |through: Option<Period>| {
            let mut client = self.backends.reporting(None);
            let parent = parent.clone();
            async move {
                client
                    .get_progress(GetProgressRequest {
                        parent,
                        as_of: Some(to_date(as_of)),
                        include_provisional: true,
                        through_period: through,
                        ..Default::default()
                    })
                    .await
                    .map(|r| {
                        r.into_inner()
                            .targets
                            .into_iter()
                            .map(|t| (t.target_code.clone(), t))
                            .collect::<HashMap<_, _>>()
                    })
            }
        };
        let as_of_key = period_key(&calendar::period_of(as_of));
        let series_periods: Vec<Period> = if with_series {
            catalogue
                .periods
                .iter()
                .filter(|p| period_key(p) <= as_of_key)
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let compliance = self.compliance(&parent, as_of, caller, None);
        let (progress, series, compliance) = futures::join!(
            progress_call(None),
            join_all(series_periods.iter().map(|p| progress_call(Some(*p)))),
            compliance,
        );
        match progress {
            Ok(progress) => snap.progress = Some(progress),
            Err(status) => note(&mut snap, &status),
        }
        for (period, result) in series_periods.into_iter().zip(series) {
            if let Ok(progress) = result {
                snap.series.push((period, progress));
            }
        }
        match compliance {
            Ok(compliance) => snap.compliance = Some(compliance),
            Err(status) => note(&mut snap, &status),
        }
        // The latest report of each (measure, department): the newest received period
        // of each, from the compliance calendar, then one ListReports per such period.
        if let Some(compliance) = &snap.compliance {
            let mut wanted: BTreeSet<(i32, i32)> = BTreeSet::new();
            for department in &compliance.departments {
                let mut seen: BTreeSet<&str> = BTreeSet::new();
                for period in department.periods.iter().rev() {
                    for m in &period.measures {
                        if !m.report.is_empty() && seen.insert(&m.measure_number) {
                            let p = period.period.unwrap_or_default();
                            wanted.insert((p.year, p.month));
                        }
                    }
                }
            }
            let calls = wanted
                .into_iter()
                .map(|(year, month)| self.reports_of(&parent, Period { year, month }, caller, ""));
            for result in join_all(calls).await {
                match result {
                    Ok(reports) => {
                        for report in reports {
                            let key = (report.measure_number.clone(), report.department.clone());
                            let newer = snap.reports.get(&key).is_none_or(|old| {
                                period_key(&old.period.unwrap_or_default())
                                    < period_key(&report.period.unwrap_or_default())
                            });
                            if newer {
                                snap.reports.insert(key, report);
                            }
                        }
                    }
                    Err(status) => note(&mut snap, &status),
                }
            }
        }
        snap
    }

    async fn compliance(
        &self,
        parent: &str,
        as_of: NaiveDate,
        caller: &Caller,
        department: Option<&str>,
    ) -> Result<Compliance, tonic::Status> {
        let mut client = self.backends.reporting(caller.token.as_deref());
        let mut out = Compliance::default();
        let mut token = String::new();
        loop {
            let page = client
                .get_compliance(GetComplianceRequest {
                    parent: parent.to_owned(),
                    department: department.unwrap_or_default().to_owned(),
                    as_of: Some(to_date(as_of)),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await?
                .into_inner();
            out.totals = page.totals.unwrap_or_default();
            out.departments.extend(page.departments);
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(out);
            }
        }
    }

    async fn reports_of(
        &self,
        parent: &str,
        period: Period,
        caller: &Caller,
        department: &str,
    ) -> Result<Vec<Report>, tonic::Status> {
        let mut client = self.backends.reporting(caller.token.as_deref());
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = client
                .list_reports(ListReportsRequest {
                    parent: parent.to_owned(),
                    page_size: 500,
                    page_token: token,
                    period: Some(period),
                    department: department.to_owned(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            out.extend(page.reports);
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(out);
            }
        }
    }

    fn target_status(
        &self,
        catalogue: &Catalogue,
        snap: &Snapshot,
        entry: &TargetEntry,
        as_of: NaiveDate,
    ) -> pb::TargetStatus {
        let target = &entry.target;
        let progress = snap.progress.as_ref().and_then(|p| p.get(&target.code));
        let actual = progress.and_then(|p| p.actual);
        let latest_period = progress.filter(|_| actual.is_some()).and_then(|p| p.latest_period);
        let expected_at_latest = latest_period
            .as_ref()
            .and_then(period_end)
            .map(|end| entry.expected_at(end));
        let comparator = Comparator::try_from(target.comparator).unwrap_or(Comparator::AtLeast);
        let rag = if snap.progress.is_none() {
            Rag::NoData
        } else {
            rag::target_rag(
                &TargetFacts {
                    comparator,
                    value: target.value,
                    start_value: entry.start.1,
                    actual,
                    expected_at_latest_period: expected_at_latest,
                    reports_due: calendar::first_due_passed(&catalogue.plan, as_of),
                },
                &self.tolerances.for_plan(&catalogue.plan_id),
            )
        };
        let mut series: Vec<(NaiveDate, f64)> = snap
            .series
            .iter()
            .filter_map(|(period, progress)| {
                let p = progress.get(&target.code)?;
                let value = p.actual?;
                (p.latest_period.as_ref() == Some(period)).then(|| Some((period_end(period)?, value)))?
            })
            .collect();
        if series.is_empty()
            && let (Some(value), Some(end)) = (actual, latest_period.as_ref().and_then(period_end))
        {
            series.push((end, value));
        }
        pb::TargetStatus {
            target: Some(target.clone()),
            unit: target.unit,
            actual,
            latest_period,
            includes_provisional: progress.is_some_and(|p| p.includes_provisional),
            expected: Some(entry.expected_at(as_of)),
            expected_at_latest_period: expected_at_latest,
            rag: rag.to_proto() as i32,
            percent_complete: actual.map(|a| rag::percent_complete(comparator, target.value, entry.start.1, a)),
            forecast: actual.and_then(|_| rag::forecast(&series, entry.start, entry.deadline)),
            forecast_date: Some(to_date(entry.deadline)),
        }
    }

    fn latest_due_period(catalogue: &Catalogue, as_of: NaiveDate) -> Option<Period> {
        catalogue
            .periods
            .iter()
            .rfind(|p| due_date(&catalogue.plan, p).is_some_and(|due| due < as_of))
            .cloned()
    }

    fn unit_statuses(
        &self,
        catalogue: &Catalogue,
        snap: &Snapshot,
        measure: &Measure,
        as_of: NaiveDate,
    ) -> Vec<pb::UnitReportStatus> {
        let latest_due = Self::latest_due_period(catalogue, as_of);
        responsible_departments(measure)
            .into_iter()
            .map(|(code, ..)| {
                let report = snap.reports.get(&(measure.number.clone(), code.clone()));
                let compliance = match (&snap.compliance, &latest_due) {
                    (None, _) => ComplianceStatus::Unspecified,
                    (Some(_), None) => ComplianceStatus::NotDue,
                    (Some(c), Some(due)) => c
                        .departments
                        .iter()
                        .find(|d| d.department == code)
                        .and_then(|d| d.periods.iter().find(|p| p.period.as_ref() == Some(due)))
                        .and_then(|p| p.measures.iter().find(|m| m.measure_number == measure.number))
                        .map_or(ComplianceStatus::Unspecified, |m| {
                            ComplianceStatus::try_from(m.status).unwrap_or_default()
                        }),
                };
                pb::UnitReportStatus {
                    display_name: catalogue.department_name(&code),
                    department: code,
                    latest_status: report.map_or(0, |r| r.overall_status),
                    latest_period: report.and_then(|r| r.period),
                    latest_report: report.map(|r| format!("{}@{}", r.name, r.revision)).unwrap_or_default(),
                    latest_state: report.map_or(0, |r| r.state),
                    compliance: compliance as i32,
                }
            })
            .collect()
    }

    fn measure_rag(targets: &[pb::TargetStatus], units: &[pb::UnitReportStatus]) -> Rag {
        rag::worst(
            targets
                .iter()
                .map(|t| Rag::from_proto(t.rag))
                .chain(
                    units
                        .iter()
                        .map(|u| rag::status_rag(OverallStatus::try_from(u.latest_status).unwrap_or_default())),
                )
                .chain(
                    units
                        .iter()
                        .map(|u| rag::compliance_rag(ComplianceStatus::try_from(u.compliance).unwrap_or_default())),
                ),
        )
    }

    fn compliance_summary(catalogue: &Catalogue, compliance: &Compliance, as_of: NaiveDate) -> pb::ComplianceSummary {
        let totals = &compliance.totals;
        let mut late_units: Vec<pb::LateUnit> = compliance
            .departments
            .iter()
            .filter_map(|d| {
                let mut count = 0;
                let mut oldest: Option<NaiveDate> = None;
                for period in &d.periods {
                    let missing = period
                        .measures
                        .iter()
                        .filter(|m| m.status == ComplianceStatus::Missing as i32)
                        .count();
                    if missing > 0 {
                        count += missing as i32;
                        let due = period.due_date.as_ref().and_then(to_naive);
                        oldest = match (oldest, due) {
                            (Some(o), Some(d)) => Some(o.min(d)),
                            (o, d) => o.or(d),
                        };
                    }
                }
                (count > 0).then(|| pb::LateUnit {
                    department: d.department.clone(),
                    display_name: if d.display_name.is_empty() {
                        catalogue.department_name(&d.department)
                    } else {
                        d.display_name.clone()
                    },
                    overdue_count: count,
                    max_days_overdue: oldest.map_or(0, |o| (as_of - o).num_days() as i32),
                })
            })
            .collect();
        late_units.sort_by(|a, b| {
            b.overdue_count
                .cmp(&a.overdue_count)
                .then(b.max_days_overdue.cmp(&a.max_days_overdue))
                .then(a.department.cmp(&b.department))
        });
        pb::ComplianceSummary {
            reporting_rate: totals.reporting_rate,
            on_time_rate: totals.on_time_rate,
            expected_count: totals.expected_count,
            received_count: totals.received_count,
            on_time_count: totals.on_time_count,
            late_units,
        }
    }

    fn assemble(&self, catalogue: &Catalogue, snap: &Snapshot, as_of: NaiveDate) -> pb::Overview {
        let targets: Vec<pb::TargetStatus> = catalogue
            .targets
            .iter()
            .flatten()
            .map(|entry| self.target_status(catalogue, snap, entry, as_of))
            .collect();
        let measures: Vec<pb::MeasureStatus> = catalogue
            .measures
            .iter()
            .map(|m| {
                let own: Vec<pb::TargetStatus> = targets
                    .iter()
                    .filter(|t| t.target.as_ref().is_some_and(|t| t.measure_number == m.number))
                    .cloned()
                    .collect();
                let units = self.unit_statuses(catalogue, snap, m, as_of);
                let blockers = units
                    .iter()
                    .filter_map(|u| snap.reports.get(&(m.number.clone(), u.department.clone())))
                    .map(|r| r.blockers.len() as i32)
                    .sum();
                pb::MeasureStatus {
                    measure: measure_name(&catalogue.plan_id, &m.number),
                    measure_number: m.number.clone(),
                    title: m.title.clone(),
                    title_en: m.title_en.clone(),
                    rag: Self::measure_rag(&own, &units).to_proto() as i32,
                    target_codes: own
                        .iter()
                        .filter_map(|t| t.target.as_ref().map(|t| t.code.clone()))
                        .collect(),
                    units,
                    open_blocker_count: blockers,
                }
            })
            .collect();
        let actions = catalogue
            .actions
            .iter()
            .map(|a| {
                let own: Vec<&pb::MeasureStatus> = catalogue
                    .measures
                    .iter()
                    .zip(&measures)
                    .filter(|(m, _)| m.action_number == a.number)
                    .map(|(_, s)| s)
                    .collect();
                let count = |rag: Rag| own.iter().filter(|m| Rag::from_proto(m.rag) == rag).count() as i32;
                let percents: Vec<f64> = targets
                    .iter()
                    .filter(|t| {
                        t.target
                            .as_ref()
                            .is_some_and(|t| measure_key(&t.measure_number).0 == a.number as u32)
                    })
                    .filter_map(|t| t.percent_complete)
                    .collect();
                pb::ActionProgress {
                    action_number: a.number,
                    title: a.title.clone(),
                    title_en: a.title_en.clone(),
                    percent: (!percents.is_empty()).then(|| percents.iter().sum::<f64>() / percents.len() as f64),
                    rag: rag::worst(own.iter().map(|m| Rag::from_proto(m.rag))).to_proto() as i32,
                    measure_count: own.len() as i32,
                    red_count: count(Rag::Red),
                    amber_count: count(Rag::Amber),
                    green_count: count(Rag::Green),
                }
            })
            .collect();
        let now = std::time::SystemTime::now();
        pb::Overview {
            plan: format!("plans/{}", catalogue.plan_id),
            plan_revision: catalogue.plan.revision,
            as_of: Some(to_date(as_of)),
            compute_time: Some(prost_types::Timestamp::from(now)),
            actions,
            targets,
            measures,
            compliance: snap
                .compliance
                .as_ref()
                .map(|c| Self::compliance_summary(catalogue, c, as_of)),
            unreachable: snap.unreachable.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// GetOverview.
    pub async fn overview(
        &self,
        caller: &Caller,
        plan: &str,
        as_of: Option<&Date>,
    ) -> Result<pb::Overview, GatewayError> {
        caller.require_reader("GetOverview")?;
        let plan_id = plan_id(plan, "plan")?;
        let as_of = resolve_as_of(as_of)?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let snap = self.snapshot(&catalogue, as_of, true).await;
        Ok(self.assemble(&catalogue, &snap, as_of))
    }

    /// The plan structure (for pages that show the heatmap and the plan header).
    pub async fn catalogue(&self, plan: &str) -> Result<Arc<Catalogue>, GatewayError> {
        self.backends.catalogue(&plan_id(plan, "plan")?).await
    }

    /// Every department's compliance calendar (for the heatmap).
    pub async fn compliance_calendar(
        &self,
        caller: &Caller,
        plan: &str,
        as_of: Option<&Date>,
    ) -> Result<Option<Vec<DepartmentCompliance>>, GatewayError> {
        caller.require_reader("the compliance calendar")?;
        let as_of = resolve_as_of(as_of)?;
        let parent = format!("plans/{}", plan_id(plan, "plan")?);
        Ok(self
            .compliance(&parent, as_of, caller, None)
            .await
            .ok()
            .map(|c| c.departments))
    }

    /// GetMeasureDetail.
    pub async fn measure_detail(
        &self,
        caller: &Caller,
        request: &pb::GetMeasureDetailRequest,
    ) -> Result<pb::GetMeasureDetailResponse, GatewayError> {
        caller.require_reader("GetMeasureDetail")?;
        let plan_id = plan_id(&request.plan, "plan")?;
        let as_of = resolve_as_of(request.as_of.as_ref())?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let measure = catalogue
            .measures
            .iter()
            .find(|m| m.number == request.measure_number)
            .ok_or_else(|| GatewayError::MeasureNotFound(request.measure_number.clone()))?;
        let snap = self.snapshot(&catalogue, as_of, true).await;
        let as_of_key = period_key(&calendar::period_of(as_of));
        let targets: Vec<pb::TargetDetail> = catalogue
            .targets
            .iter()
            .flatten()
            .filter(|e| e.target.measure_number == measure.number)
            .map(|entry| {
                let status = self.target_status(&catalogue, &snap, entry, as_of);
                let deadline_key = period_key(&calendar::period_of(entry.deadline));
                let series = catalogue
                    .periods
                    .iter()
                    .filter(|p| period_key(p) <= deadline_key)
                    .map(|p| {
                        let progress = (period_key(p) <= as_of_key)
                            .then(|| snap.series.iter().find(|(sp, _)| sp == p))
                            .flatten()
                            .and_then(|(_, progress)| progress.get(&entry.target.code));
                        pb::SeriesPoint {
                            period: Some(*p),
                            expected: period_end(p).map(|end| entry.expected_at(end)),
                            actual: progress.and_then(|t| t.actual),
                            provisional: progress.is_some_and(|t| t.includes_provisional),
                        }
                    })
                    .collect();
                let contributions = snap
                    .progress
                    .as_ref()
                    .and_then(|p| p.get(&entry.target.code))
                    .map(|p| p.contributions.clone())
                    .unwrap_or_default();
                pb::TargetDetail {
                    status: Some(status),
                    series,
                    contributions,
                }
            })
            .collect();
        let statuses: Vec<pb::TargetStatus> = targets.iter().filter_map(|t| t.status.clone()).collect();
        let units = self.unit_statuses(&catalogue, &snap, measure, as_of);
        let mut latest_reports: Vec<Report> = snap
            .reports
            .iter()
            .filter(|((number, _), _)| number == &measure.number)
            .map(|(_, r)| r.clone())
            .collect();
        latest_reports.sort_by(|a, b| a.department.cmp(&b.department));
        let mut open_blockers: Vec<pb::OpenBlocker> = latest_reports
            .iter()
            .flat_map(|r| {
                r.blockers.iter().map(|b| pb::OpenBlocker {
                    department: r.department.clone(),
                    blocker: Some(b.clone()),
                    report: format!("{}@{}", r.name, r.revision),
                    period: r.period,
                })
            })
            .collect();
        open_blockers.sort_by_key(|b| std::cmp::Reverse(b.blocker.as_ref().map_or(0, |b| b.severity)));
        Ok(pb::GetMeasureDetailResponse {
            measure: Some(measure.clone()),
            as_of: Some(to_date(as_of)),
            rag: Self::measure_rag(&statuses, &units).to_proto() as i32,
            targets,
            units,
            latest_reports,
            open_blockers,
            unreachable: snap.unreachable.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    /// GetDepartmentScorecard.
    pub async fn scorecard(
        &self,
        caller: &Caller,
        request: &pb::GetDepartmentScorecardRequest,
    ) -> Result<pb::GetDepartmentScorecardResponse, GatewayError> {
        if let Principal::Department(own) = &caller.principal {
            if own != &request.department {
                return Err(GatewayError::NotOwnDepartment(caller.principal.label()));
            }
        } else {
            caller.require_reader("GetDepartmentScorecard")?;
        }
        let plan_id = plan_id(&request.plan, "plan")?;
        if request.department.is_empty() {
            return Err(GatewayError::invalid("department", "is required"));
        }
        let as_of = resolve_as_of(request.as_of.as_ref())?;
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let code = request.department.as_str();
        if !catalogue.department_names.is_empty() && !catalogue.department_names.contains_key(code) {
            return Err(GatewayError::DepartmentNotFound(code.to_owned()));
        }
        let parent = format!("plans/{plan_id}");
        // The department's own calendar is read with the caller's own token.
        let (snap, own) = futures::join!(
            self.snapshot(&catalogue, as_of, false),
            self.compliance(&parent, as_of, caller, Some(code)),
        );
        let overview = self.assemble(&catalogue, &snap, as_of);
        let own = match own {
            Ok(own) => own.departments.into_iter().find(|d| d.department == code),
            Err(status) if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) => {
                return Err(GatewayError::Downstream(status));
            }
            Err(_) => None,
        };
        let own = own.as_ref();
        let measures = catalogue
            .measures
            .iter()
            .zip(&overview.measures)
            .filter_map(|(m, status)| {
                let (_, lead, via) = responsible_departments(m).into_iter().find(|(c, ..)| c == code)?;
                Some(pb::ScorecardMeasure {
                    measure_number: m.number.clone(),
                    title: m.title.clone(),
                    title_en: m.title_en.clone(),
                    lead,
                    via_group: via,
                    rag: status.rag,
                    own_status: status.units.iter().find(|u| u.department == code).cloned(),
                })
            })
            .collect();
        let contributions = overview
            .targets
            .iter()
            .filter_map(|t| {
                let target = t.target.as_ref()?;
                let progress = snap.progress.as_ref()?.get(&target.code)?;
                let contribution = progress.contributions.iter().find(|c| c.department == code)?.clone();
                let counted = contribution.status == rpb::ContributionStatus::Counted as i32;
                let sum = target.aggregation == duban_proto::common::v1::Aggregation::Sum as i32;
                let share = match (contribution.value, t.actual) {
                    (Some(v), Some(a)) if counted && sum && a != 0.0 => Some(v / a * 100.0),
                    _ => None,
                };
                Some(pb::ScorecardContribution {
                    target_code: target.code.clone(),
                    target_display_name: target.display_name.clone(),
                    unit: target.unit,
                    target_value: target.value,
                    target_actual: t.actual,
                    contribution: Some(contribution),
                    share_percent: share,
                })
            })
            .collect();
        Ok(pb::GetDepartmentScorecardResponse {
            department: code.to_owned(),
            display_name: own
                .map(|d| d.display_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| catalogue.department_name(code)),
            as_of: Some(to_date(as_of)),
            measures,
            calendar: own.map(|d| d.periods.clone()).unwrap_or_default(),
            reporting_rate: own.and_then(|d| d.reporting_rate),
            on_time_rate: own.and_then(|d| d.on_time_rate),
            contributions,
            unreachable: overview.unreachable,
        })
    }

    /// ListAlerts.
    pub async fn alerts(
        &self,
        caller: &Caller,
        request: &pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, GatewayError> {
        let department = match &caller.principal {
            Principal::Department(own) => own.clone(),
            Principal::Leadership | Principal::Admin | Principal::Service => request.department.clone(),
        };
        let plan_id = plan_id(&request.plan, "plan")?;
        let as_of = resolve_as_of(request.as_of.as_ref())?;
        let mut violations = Vec::new();
        let mut kinds = Vec::new();
        for (i, kind) in request.kinds.iter().enumerate() {
            match pb::AlertKind::try_from(*kind) {
                Ok(kind) if kind != pb::AlertKind::Unspecified => kinds.push(kind),
                _ => violations.push(duban_kit::FieldViolation::new(
                    format!("kinds[{i}]"),
                    "is not an alert kind",
                )),
            }
        }
        if request.page_size < 0 {
            violations.push(duban_kit::FieldViolation::new("page_size", "must not be negative"));
        }
        let offset: usize = if request.page_token.is_empty() {
            0
        } else {
            match request.page_token.strip_prefix("o").and_then(|n| n.parse().ok()) {
                Some(offset) => offset,
                None => {
                    violations.push(duban_kit::FieldViolation::new(
                        "page_token",
                        "was not issued by ListAlerts",
                    ));
                    0
                }
            }
        };
        if !violations.is_empty() {
            return Err(GatewayError::Invalid(violations));
        }
        let catalogue = self.backends.catalogue(&plan_id).await?;
        let filter = (!department.is_empty()).then_some(department.as_str());
        // Targets are judged on every department's reports, and support requests
        // addressed to a department come from the others' reports: the department filter
        // is applied to the alerts, not to the data.
        let snap = self.snapshot(&catalogue, as_of, false).await;
        let overview = self.assemble(&catalogue, &snap, as_of);
        let mut alerts = build_alerts(&catalogue, &snap, &overview, as_of);
        alerts.retain(|(alert, concerned)| {
            (kinds.is_empty() || kinds.iter().any(|k| *k as i32 == alert.kind))
                && (request.measure_number.is_empty() || alert.measure_number == request.measure_number)
                && filter.is_none_or(|d| concerned.iter().any(|c| c == d))
        });
        let page_size = match request.page_size {
            0 => 50,
            n => n.min(500) as usize,
        };
        let total = alerts.len();
        let page: Vec<pb::Alert> = alerts
            .into_iter()
            .skip(offset)
            .take(page_size)
            .map(|(a, _)| a)
            .collect();
        let next = offset + page.len();
        Ok(pb::ListAlertsResponse {
            alerts: page,
            next_page_token: if next < total {
                format!("o{next}")
            } else {
                String::new()
            },
            unreachable: overview.unreachable,
        })
    }
}

fn note(snap: &mut Snapshot, status: &tonic::Status) {
    if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) {
        tracing::warn!(message = status.message(), "reporting refused a dashboard read");
    } else {
        tracing::warn!(code = ?status.code(), message = status.message(), "reporting did not answer");
        snap.unreachable.insert(REPORTING);
    }
}

/// A value with its unit, in Chinese, for summaries.
pub fn quantity(value: f64, unit: i32) -> String {
    use duban_proto::common::v1::QuantityUnit as U;
    let number = if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    };
    let unit = match U::try_from(unit).unwrap_or(U::Unspecified) {
        U::Count => "个",
        U::Enterprises => "户",
        U::Projects => "个项目",
        U::Cny => "元",
        U::Cny10k => "万元",
        U::Cny100m => "亿元",
        U::Usd100m => "亿美元",
        U::SquareMeters => "平方米",
        U::HousingUnits => "套",
        U::WorkingDays => "个工作日",
        U::Percent => "%",
        U::Sites => "个站点",
        U::Routes => "条线路",
        U::People => "人",
        U::Unspecified => "",
    };
    format!("{number}{unit}")
}

/// Every alert with the departments it concerns, in the contract's order.
fn build_alerts(
    catalogue: &Catalogue,
    snap: &Snapshot,
    overview: &pb::Overview,
    as_of: NaiveDate,
) -> Vec<(pb::Alert, Vec<String>)> {
    let mut alerts: Vec<(pb::Alert, Vec<String>, String)> = Vec::new();
    for status in &overview.targets {
        let Some(target) = &status.target else { continue };
        let kind = match Rag::from_proto(status.rag) {
            Rag::Red => pb::AlertKind::TargetOffTrack,
            Rag::Amber => pb::AlertKind::TargetAtRisk,
            _ => continue,
        };
        let actual = status.actual.map_or("无数据".to_owned(), |a| quantity(a, target.unit));
        let expected = status
            .expected_at_latest_period
            .or(status.expected)
            .map_or("-".to_owned(), |e| quantity(e, target.unit));
        alerts.push((
            pb::Alert {
                kind: kind as i32,
                measure_number: target.measure_number.clone(),
                summary: format!(
                    "{} {}：实际 {actual}，应达 {expected}",
                    target.measure_number, target.display_name
                ),
                details: Some(pb::alert::Details::Target(pb::TargetAlert {
                    status: Some(status.clone()),
                })),
            },
            target.reporting_departments.clone(),
            String::new(),
        ));
    }
    if let Some(compliance) = &snap.compliance {
        for department in &compliance.departments {
            for period in &department.periods {
                let Some(due) = period.due_date.as_ref().and_then(to_naive) else {
                    continue;
                };
                for m in period
                    .measures
                    .iter()
                    .filter(|m| m.status == ComplianceStatus::Missing as i32)
                {
                    let p = period.period.unwrap_or_default();
                    let name = catalogue.department_name(&department.department);
                    alerts.push((
                        pb::Alert {
                            kind: pb::AlertKind::ReportOverdue as i32,
                            measure_number: m.measure_number.clone(),
                            summary: format!(
                                "{} {name} {} 月报逾期 {} 天",
                                m.measure_number,
                                period_label(&p),
                                (as_of - due).num_days()
                            ),
                            details: Some(pb::alert::Details::OverdueReport(pb::OverdueReportAlert {
                                department: department.department.clone(),
                                display_name: name,
                                period: Some(p),
                                due_date: Some(to_date(due)),
                                days_overdue: (as_of - due).num_days() as i32,
                                report: format!(
                                    "plans/{}/reports/{}~{}~{}",
                                    catalogue.plan_id,
                                    m.measure_number,
                                    department.department,
                                    period_label(&p)
                                ),
                            })),
                        },
                        vec![department.department.clone()],
                        department.department.clone(),
                    ));
                }
            }
        }
    }
    for report in snap.reports.values() {
        for blocker in report.blockers.iter().filter(|b| !b.support_unit.is_empty()) {
            alerts.push((
                pb::Alert {
                    kind: pb::AlertKind::SupportRequested as i32,
                    measure_number: report.measure_number.clone(),
                    summary: format!(
                        "{} {} 请求 {} 支持：{}",
                        report.measure_number,
                        catalogue.department_name(&report.department),
                        catalogue.department_name(&blocker.support_unit),
                        blocker.description
                    ),
                    details: Some(pb::alert::Details::SupportRequest(pb::SupportRequestAlert {
                        requesting_department: report.department.clone(),
                        support_unit: blocker.support_unit.clone(),
                        blocker: Some(blocker.clone()),
                        report: format!("{}@{}", report.name, report.revision),
                        period: report.period,
                    })),
                },
                vec![blocker.support_unit.clone()],
                report.department.clone(),
            ));
        }
    }
    alerts.sort_by(|(a, _, da), (b, _, db)| {
        a.kind
            .cmp(&b.kind)
            .then(measure_key(&a.measure_number).cmp(&measure_key(&b.measure_number)))
            .then(da.cmp(db))
            .then(a.summary.cmp(&b.summary))
    });
    alerts.into_iter().map(|(a, c, _)| (a, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_and_dates_are_validated() {
        assert_eq!(plan_id("plans/jiading-2023", "plan").unwrap(), "jiading-2023");
        assert!(plan_id("jiading-2023", "plan").is_err());
        assert!(plan_id("plans/Bad_Plan", "plan").is_err());
        let tomorrow = calendar::today() + chrono::Duration::days(1);
        assert!(resolve_as_of(Some(&to_date(tomorrow))).is_err());
        assert!(
            resolve_as_of(Some(&Date {
                year: 2023,
                month: 2,
                day: 30
            }))
            .is_err()
        );
        assert_eq!(resolve_as_of(None).unwrap(), calendar::today());
    }

    #[test]
    fn measure_numbers_sort_numerically() {
        let mut numbers = vec!["4.10", "4.9", "10.1", "1.2"];
        numbers.sort_by_key(|n| measure_key(n));
        assert_eq!(numbers, ["1.2", "4.9", "4.10", "10.1"]);
    }

    #[test]
    fn quantities_read_in_chinese() {
        use duban_proto::common::v1::QuantityUnit as U;
        assert_eq!(quantity(210.0, U::Cny100m as i32), "210亿元");
        assert_eq!(quantity(4.5, U::WorkingDays as i32), "4.50个工作日");
    }
}
