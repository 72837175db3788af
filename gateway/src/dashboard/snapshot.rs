//! What a view reads of reporting: one GetPlanSummary per (plan, as_of), shared by
//! concurrent viewers and confirmed by its etag (which report events change), plus the
//! follow-up figures for the overview; and the compliance a caller may read with its
//! own token.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use duban_kit::paging::{READ_ALL_PAGE_SIZE, read_all_pages};
use duban_proto::{
    common::v1::Period,
    reporting::v1::{
        self as rpb, Blocker, DepartmentCompliance, GetComplianceRequest, GetPlanSummaryRequest, Report,
        TargetProgress, notices_service_server, reporting_service_server,
    },
    targets::v1::targets_service_server,
};
use tonic::Code;

use super::{Caller, Dashboard};
use crate::{backends::Catalogue, calendar::to_date};

/// What reporting says of a plan as of one day (GetPlanSummary), shared by every view
/// of the same (plan, as_of) until a report event changes it.
#[derive(Debug, Default)]
pub(crate) struct PlanReading {
    pub(crate) progress: Option<HashMap<String, TargetProgress>>,
    /// Per period up to `as_of`: the progress through that period.
    pub(crate) series: Vec<(Period, HashMap<String, TargetProgress>)>,
    pub(crate) compliance: Option<Compliance>,
    /// The latest report of each (measure, department): of the newest period received
    /// by `as_of`.
    pub(crate) reports: HashMap<(String, String), Report>,
    /// The blockers open now that were raised by `as_of` (a view of a past date leaves
    /// out later ones; one resolved since is not shown), by measure number, raising
    /// department and number. A report lists only the blocker changes of its revision,
    /// so open blockers carried forward are read from the plan's blockers, not from
    /// reports.
    pub(crate) open_blockers: Vec<Blocker>,
}

/// One view's reading: the shared [`PlanReading`], the follow-up figures (read for the
/// overview only, as notices and orders change without report events), and which
/// services did not answer.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    reading: Arc<PlanReading>,
    /// The follow-up in figures (notices of the 30 days up to `as_of`, open orders).
    pub(crate) follow_up: Option<rpb::FollowUpSummary>,
    pub(crate) unreachable: BTreeSet<&'static str>,
}

impl std::ops::Deref for Snapshot {
    type Target = PlanReading;

    fn deref(&self) -> &PlanReading {
        &self.reading
    }
}

#[derive(Debug, Default)]
pub(crate) struct Compliance {
    pub(crate) totals: rpb::ComplianceTotals,
    pub(crate) departments: Vec<DepartmentCompliance>,
}

/// Most (plan, as_of) readings kept at once; a day nobody looks at for
/// [`READING_IDLE`] is dropped.
const READINGS_KEPT: u64 = 256;
const READING_IDLE: Duration = Duration::from_secs(600);

/// The readings of every (plan, as_of) being looked at. A viewer takes the reading's
/// lock, and asks reporting whether its etag still holds (one small query) unless
/// another viewer asked after this one arrived; only a changed plan costs a full
/// GetPlanSummary, once for all who wait. So concurrent viewers share one reading,
/// and a report event (which changes the etag) invalidates it.
#[derive(Debug)]
pub(crate) struct Readings {
    held: moka::sync::Cache<(String, NaiveDate), Arc<tokio::sync::Mutex<Option<Held>>>>,
}

#[derive(Debug)]
struct Held {
    etag: String,
    reading: Arc<PlanReading>,
    /// When the question that confirmed it was sent.
    asked: Instant,
}

impl Default for Readings {
    fn default() -> Self {
        Self {
            held: moka::sync::Cache::builder()
                .max_capacity(READINGS_KEPT)
                .time_to_idle(READING_IDLE)
                .build(),
        }
    }
}

impl Dashboard {
    /// The view of the whole plan as of `as_of`, read as the gateway (the service
    /// token): every view's ratings depend on every department's reports; what a caller
    /// may see is decided here, before and after. With `follow_up`, the follow-up
    /// figures too.
    pub(crate) async fn snapshot(&self, catalogue: &Catalogue, as_of: NaiveDate, follow_up: bool) -> Snapshot {
        let mut snap = Snapshot::default();
        if catalogue.targets.is_none() {
            snap.unreachable.insert(targets_service_server::SERVICE_NAME);
        }
        let parent = format!("plans/{}", catalogue.plan_id);
        let follow_up = async {
            if !follow_up {
                return None;
            }
            let request = rpb::GetFollowUpSummaryRequest {
                parent: parent.clone(),
                as_of: Some(to_date(as_of)),
                window_days: 0,
            };
            Some(self.backends.notices(None).get_follow_up_summary(request).await)
        };
        let (reading, follow_up) = futures::join!(self.reading(catalogue, &parent, as_of), follow_up);
        match follow_up {
            Some(Ok(summary)) => snap.follow_up = Some(summary.into_inner()),
            Some(Err(status)) => {
                tracing::warn!(code = ?status.code(), detail = status.message(), "the follow-up summary did not answer");
                snap.unreachable.insert(notices_service_server::SERVICE_NAME);
            }
            None => {}
        }
        match reading {
            Ok(reading) => snap.reading = reading,
            Err(status) => note(&mut snap, &status),
        }
        snap
    }

    /// The shared reading of (plan, as_of): confirmed or refreshed through reporting.
    async fn reading(
        &self,
        catalogue: &Catalogue,
        parent: &str,
        as_of: NaiveDate,
    ) -> Result<Arc<PlanReading>, tonic::Status> {
        let arrived = Instant::now();
        let slot = self
            .readings
            .held
            .get_with((catalogue.plan_id.clone(), as_of), Arc::default);
        let mut held = slot.lock().await;
        if let Some(h) = held.as_ref()
            && h.asked >= arrived
        {
            return Ok(h.reading.clone());
        }
        let asked = Instant::now();
        let summary = self
            .backends
            .reporting(None)
            .get_plan_summary(GetPlanSummaryRequest {
                parent: parent.to_owned(),
                as_of: Some(to_date(as_of)),
                include_provisional: true,
                etag: held.as_ref().map(|h| h.etag.clone()).unwrap_or_default(),
            })
            .await?
            .into_inner();
        if summary.unchanged
            && let Some(h) = held.as_mut()
        {
            h.asked = asked;
            return Ok(h.reading.clone());
        }
        let etag = summary.etag.clone();
        let reading = Arc::new(PlanReading::new(catalogue, summary, as_of));
        *held = Some(Held {
            etag,
            reading: reading.clone(),
            asked,
        });
        Ok(reading)
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
}

impl PlanReading {
    fn new(catalogue: &Catalogue, summary: rpb::PlanSummary, as_of: NaiveDate) -> Self {
        let by_code = |targets: Vec<TargetProgress>| {
            targets
                .into_iter()
                .map(|t| (t.target_code.clone(), t))
                .collect::<HashMap<_, _>>()
        };
        let zone = catalogue.calendar.zone();
        PlanReading {
            progress: Some(by_code(summary.progress)),
            series: summary
                .series
                .into_iter()
                .map(|p| (p.period.unwrap_or_default(), by_code(p.targets)))
                .collect(),
            compliance: Some(Compliance {
                totals: summary.compliance_totals.unwrap_or_default(),
                departments: summary.compliance,
            }),
            reports: summary
                .latest_reports
                .into_iter()
                .map(|r| ((r.measure_number.clone(), r.department.clone()), r))
                .collect(),
            open_blockers: summary
                .open_blockers
                .into_iter()
                .filter(|b| {
                    b.open_time
                        .as_ref()
                        .is_none_or(|t| zone.day_of_us(duban_kit::columns::micros(t)) <= as_of)
                })
                .collect(),
        }
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
