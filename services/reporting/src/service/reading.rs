//! Reading reports: one report or revision, a filtered page of reports, a report's revisions.

use duban_kit::{Principal, auth::Verified, error::NotFound, paging::Page};
use duban_proto::reporting::v1 as pb;
use duban_proto::reporting::v1::ErrorReason;

use super::{Reporting, Result, parent_plan};
use crate::{
    calendar::Month,
    convert::{self, ReportKey},
    error::ReportingError,
    store::ReportFilter,
};

impl Reporting {
    /// GetReport.
    pub async fn get_report(&self, caller: &Verified, name: &str) -> Result<pb::Report> {
        let (key, revision) = ReportKey::parse(name).ok_or_else(|| {
            ReportingError::invalid(
                "name",
                "must be `plans/{plan}/reports/{measure}~{department}~{period}[@{revision}]`",
            )
        })?;
        Self::check_own(&caller.principal, &key.department)?;
        let plan = self.catalog.plan(&key.plan).await?;
        let (pointer, row) = self
            .store
            .pointer_and_revision(&key, revision)
            .await?
            .ok_or_else(|| ReportingError::from(NotFound::new(ErrorReason::ReportNotFound, key.name())))?;
        let row =
            row.ok_or_else(|| ReportingError::from(NotFound::new(ErrorReason::RevisionNotFound, name.to_owned())))?;
        Ok(convert::report(&row, &pointer, plan.cadence, revision.is_some()))
    }

    /// ListReports.
    pub async fn list_reports(
        &self,
        caller: &Verified,
        request: &pb::ListReportsRequest,
    ) -> Result<pb::ListReportsResponse> {
        let plan_code = parent_plan(&request.parent)?;
        let mut department = request.department.clone();
        if let Principal::Department(own) = &caller.principal {
            Self::check_own(&caller.principal, if department.is_empty() { own } else { &department })?;
            department = own.clone();
        }
        let period = match &request.period {
            None => String::new(),
            Some(p) => Month::from_proto(Some(p))
                .ok_or_else(|| ReportingError::invalid("period", "is not a valid month"))?
                .key(),
        };
        let state = match pb::report::State::try_from(request.state).unwrap_or_default() {
            pb::report::State::Unspecified => String::new(),
            state => state.as_str_name().to_owned(),
        };
        let filter = ReportFilter {
            measure: request.measure_number.clone(),
            department,
            period,
            state,
        };
        let fingerprint = format!("{plan_code}|{:?}", filter);
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&plan_code).await?;
        let (pointers, total) = self.store.pointers(&plan_code, &filter, page.offset, page.size).await?;
        // The page's current revisions in one query, not one per report.
        let reports = self
            .store
            .current_revisions(&plan_code, &pointers)
            .await?
            .into_iter()
            .map(|(pointer, row)| convert::report(&row, pointer, plan.cadence, false))
            .collect();
        Ok(pb::ListReportsResponse {
            reports,
            next_page_token: page.next_token(total, &fingerprint),
            total_size: total as i32,
        })
    }

    /// ListReportRevisions.
    pub async fn list_revisions(
        &self,
        caller: &Verified,
        request: &pb::ListReportRevisionsRequest,
    ) -> Result<pb::ListReportRevisionsResponse> {
        let key = match ReportKey::parse(&request.name) {
            Some((key, None)) => key,
            _ => return Err(ReportingError::invalid("name", "must name a report without a revision")),
        };
        Self::check_own(&caller.principal, &key.department)?;
        let page = Page::from_request(request.page_size, &request.page_token, &request.name)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let plan = self.catalog.plan(&key.plan).await?;
        let pointer = self.existing_pointer(&key).await?;
        let (rows, total) = self.store.revisions(&key, page.offset, page.size).await?;
        Ok(pb::ListReportRevisionsResponse {
            reports: rows
                .iter()
                .map(|r| convert::report(r, &pointer, plan.cadence, true))
                .collect(),
            next_page_token: page.next_token(total, &request.name),
        })
    }
}

impl Reporting {
    /// The pointer row of a stored report, or REPORT_NOT_FOUND.
    async fn existing_pointer(&self, key: &ReportKey) -> Result<crate::entity::report::Model> {
        self.store
            .pointer(self.store.db(), key)
            .await?
            .ok_or_else(|| ReportingError::from(NotFound::new(ErrorReason::ReportNotFound, key.name())))
    }
}
