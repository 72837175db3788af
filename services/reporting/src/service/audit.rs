//! The audit trail: listing records, and recording calls refused before the domain.

use duban_kit::{Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1 as pb;

use duban_kit::{idempotency::RequestKey, status::FieldViolation};

use super::journal::{AuditInfo, Purge, WriteJob};
use super::{Reporting, Result, method, role_not_allowed};
use crate::{convert, error::ReportingError, store::AuditFilter};

/// Audit records are kept at least this long: PurgeAuditRecords refuses a more recent
/// `end_time`, so that an archive can never cover the calls of the past year.
pub const AUDIT_MIN_AGE_DAYS: i64 = 365;
const DAY_US: i64 = 86_400_000_000;

impl Reporting {
    /// ListAuditRecords.
    pub async fn list_audit(
        &self,
        caller: &Verified,
        request: &pb::ListAuditRecordsRequest,
    ) -> Result<pb::ListAuditRecordsResponse> {
        if caller.principal != Principal::Admin {
            return Err(role_not_allowed("ListAuditRecords", &caller.principal));
        }
        let method = if request.method.is_empty() || request.method.starts_with('/') {
            request.method.clone()
        } else {
            format!("/duban.reporting.v1.ReportingService/{}", request.method)
        };
        let filter = AuditFilter {
            department: request.department.clone(),
            method,
            resource_prefix: request.resource_prefix.clone(),
            request_id: request.request_id.clone(),
            code: request.code,
            start_us: request.start_time.as_ref().map(convert::micros),
            end_us: request.end_time.as_ref().map(convert::micros),
        };
        let fingerprint = format!("{filter:?}");
        let page = Page::from_request(request.page_size, &request.page_token, &fingerprint)
            .map_err(|v| ReportingError::Invalid(vec![v]))?;
        let (rows, total) = self.store.audit_records(&filter, page.offset, page.size).await?;
        Ok(pb::ListAuditRecordsResponse {
            audit_records: rows.iter().map(convert::audit).collect(),
            next_page_token: page.next_token(total, &fingerprint),
        })
    }

    /// Records a call refused before it reached the domain (for example a stream
    /// refused for its role).
    pub async fn audit_refusal(
        &self,
        caller: &Verified,
        method: &'static str,
        resource: &str,
        error: ReportingError,
    ) -> ReportingError {
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            resource: resource.to_owned(),
            ..Default::default()
        };
        self.refuse(audit, error).await
    }

    /// PurgeAuditRecords: checks the call, then counts or deletes in the writer's turn.
    pub async fn purge_audit(
        &self,
        caller: &Verified,
        request: &pb::PurgeAuditRecordsRequest,
    ) -> Result<pb::PurgeAuditRecordsResponse> {
        let end_us = request.end_time.as_ref().map(convert::micros);
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method: method::PURGE_AUDIT,
            request_id: request.request_id.clone(),
            // The collection and the range named, as the record's resource.
            resource: match end_us.and_then(chrono::DateTime::from_timestamp_micros) {
                Some(end) => format!(
                    "auditRecords?end_time={}",
                    end.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                ),
                None => "auditRecords".to_owned(),
            },
            ..Default::default()
        };
        if caller.principal != Principal::Admin {
            return Err(self
                .refuse(audit, role_not_allowed("PurgeAuditRecords", &caller.principal))
                .await);
        }
        let mut violations = Vec::new();
        let latest_us = chrono::Utc::now()
            .timestamp_micros()
            .saturating_sub(AUDIT_MIN_AGE_DAYS * DAY_US);
        match end_us {
            None => violations.push(FieldViolation::new("end_time", "is required")),
            Some(end) if end > latest_us => violations.push(FieldViolation::new(
                "end_time",
                format!("must be at least {AUDIT_MIN_AGE_DAYS} days ago: audit records are kept that long"),
            )),
            Some(_) => {}
        }
        if request.expected_count < 0 {
            violations.push(FieldViolation::new("expected_count", "must not be negative"));
        }
        let Some(end_us) = end_us.filter(|_| violations.is_empty()) else {
            return Err(self.refuse(audit, ReportingError::Invalid(violations)).await);
        };
        let purge = Purge {
            end_us,
            expected_count: request.expected_count,
            force: request.force,
            request: RequestKey::new(
                &caller.principal.label(),
                method::PURGE_AUDIT,
                &request.request_id,
                request,
            ),
        };
        let written = self.writer.write(WriteJob::purge(purge, audit)).await?;
        Ok(pb::PurgeAuditRecordsResponse {
            purge_count: written.purge_count,
        })
    }
}
