//! The reporting aggregates one view reads, once per request: progress now and per period, compliance, latest
//! reports and the open blockers.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use duban_kit::paging::{READ_ALL_PAGE_SIZE, read_all_pages};
use duban_proto::{
    common::v1::Period,
    reporting::v1::{
        self as rpb, Blocker, BlockerState, DepartmentCompliance, GetComplianceRequest, GetProgressRequest,
        ListBlockersRequest, ListReportsRequest, Report, TargetProgress, notices_service_server,
        reporting_service_server,
    },
    targets::v1::targets_service_server,
};
use futures::future::join_all;
use tonic::Code;

use super::{Caller, Dashboard};
use crate::{
    backends::Catalogue,
    calendar::{self, period_key, to_date},
};

/// The reporting aggregates one view needs, read once per request.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) progress: Option<HashMap<String, TargetProgress>>,
    /// Per period up to `as_of`: the progress through that period.
    pub(crate) series: Vec<(Period, HashMap<String, TargetProgress>)>,
    pub(crate) compliance: Option<Compliance>,
    pub(crate) reports: HashMap<(String, String), Report>,
    /// The blockers open now that were raised by `as_of` (a view of a past date leaves
    /// out later ones; one resolved since is not shown), by measure number, raising
    /// department and number. A report lists only the blocker changes of its revision,
    /// so open blockers carried forward are read from ListBlockers, not from reports.
    pub(crate) open_blockers: Vec<Blocker>,
    /// The follow-up in figures (notices of the 30 days up to `as_of`, open orders); read
    /// for the overview only.
    pub(crate) follow_up: Option<rpb::FollowUpSummary>,
    pub(crate) unreachable: BTreeSet<&'static str>,
}

#[derive(Debug, Default)]
pub(crate) struct Compliance {
    pub(crate) totals: rpb::ComplianceTotals,
    pub(crate) departments: Vec<DepartmentCompliance>,
}

impl Dashboard {
    /// Reads the aggregates of the whole plan as the gateway (the service token): every
    /// view's ratings depend on every department's reports; what a caller may see is
    /// decided here, before and after.
    pub(crate) async fn snapshot(&self, catalogue: &Catalogue, as_of: NaiveDate, with_series: bool) -> Snapshot {
        let caller = &Caller::anonymous();
        let mut snap = Snapshot::default();
        if catalogue.targets.is_none() {
            snap.unreachable.insert(targets_service_server::SERVICE_NAME);
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
        let open_blockers = self.open_blockers(&parent, caller);
        let follow_up = async {
            if !with_series {
                return None;
            }
            let request = rpb::GetFollowUpSummaryRequest {
                parent: parent.clone(),
                as_of: Some(to_date(as_of)),
                window_days: 0,
            };
            Some(self.backends.notices(None).get_follow_up_summary(request).await)
        };
        let (progress, series, compliance, open_blockers, follow_up) = futures::join!(
            progress_call(None),
            join_all(series_periods.iter().map(|p| progress_call(Some(*p)))),
            compliance,
            open_blockers,
            follow_up,
        );
        match follow_up {
            Some(Ok(summary)) => snap.follow_up = Some(summary.into_inner()),
            Some(Err(status)) => {
                tracing::warn!(code = ?status.code(), detail = status.message(), "the follow-up summary did not answer");
                snap.unreachable.insert(notices_service_server::SERVICE_NAME);
            }
            None => {}
        }
        match open_blockers {
            Ok(blockers) => {
                let zone = catalogue.calendar.zone();
                snap.open_blockers = blockers
                    .into_iter()
                    .filter(|b| {
                        b.open_time
                            .as_ref()
                            .is_none_or(|t| zone.day_of_us(duban_kit::columns::micros(t)) <= as_of)
                    })
                    .collect();
            }
            Err(status) => note(&mut snap, &status),
        }
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

    pub(crate) async fn compliance(
        &self,
        parent: &str,
        as_of: NaiveDate,
        caller: &Caller,
        department: Option<&str>,
    ) -> Result<Compliance, tonic::Status> {
        let client = self.backends.reporting(caller.token.as_deref());
        // Each page is kept whole: the totals are the last page's, the departments all pages'.
        let pages = read_all_pages(|page_token| {
            let mut client = client.clone();
            async move {
                let mut page = client
                    .get_compliance(GetComplianceRequest {
                        parent: parent.to_owned(),
                        department: department.unwrap_or_default().to_owned(),
                        as_of: Some(to_date(as_of)),
                        page_size: READ_ALL_PAGE_SIZE,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                let next = std::mem::take(&mut page.next_page_token);
                Ok::<_, tonic::Status>((vec![page], next))
            }
        })
        .await?;
        let mut out = Compliance::default();
        for page in pages {
            out.totals = page.totals.unwrap_or_default();
            out.departments.extend(page.departments);
        }
        Ok(out)
    }

    /// Every blocker of the plan that is open now: one listing, whatever the number of
    /// measures, so a view's calls to reporting stay bounded.
    async fn open_blockers(&self, parent: &str, caller: &Caller) -> Result<Vec<Blocker>, tonic::Status> {
        let client = self.backends.reporting(caller.token.as_deref());
        read_all_pages(|page_token| {
            let mut client = client.clone();
            async move {
                let page = client
                    .list_blockers(ListBlockersRequest {
                        parent: parent.to_owned(),
                        page_size: READ_ALL_PAGE_SIZE,
                        page_token,
                        state: BlockerState::Open as i32,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok::<_, tonic::Status>((page.blockers, page.next_page_token))
            }
        })
        .await
    }

    async fn reports_of(
        &self,
        parent: &str,
        period: Period,
        caller: &Caller,
        department: &str,
    ) -> Result<Vec<Report>, tonic::Status> {
        let client = self.backends.reporting(caller.token.as_deref());
        read_all_pages(|page_token| {
            let mut client = client.clone();
            async move {
                let page = client
                    .list_reports(ListReportsRequest {
                        parent: parent.to_owned(),
                        page_size: READ_ALL_PAGE_SIZE,
                        page_token,
                        period: Some(period),
                        department: department.to_owned(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok::<_, tonic::Status>((page.reports, page.next_page_token))
            }
        })
        .await
    }
}

fn note(snap: &mut Snapshot, status: &tonic::Status) {
    if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) {
        tracing::warn!(detail = status.message(), "reporting refused a dashboard read");
    } else {
        tracing::warn!(code = ?status.code(), detail = status.message(), "reporting did not answer");
        snap.unreachable.insert(reporting_service_server::SERVICE_NAME);
    }
}
