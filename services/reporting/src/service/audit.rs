//! The audit trail: listing records, and recording calls refused before the domain.

use duban_kit::{Principal, auth::Verified, paging::Page};
use duban_proto::reporting::v1 as pb;

use super::journal::AuditInfo;
use super::{Reporting, Result, role_not_allowed};
use crate::{convert, error::ReportingError, store::AuditFilter};

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
}
