//! Reviewing a report: leadership accepts it or returns it with a reason.

use duban_kit::{
    FieldViolation, Principal,
    auth::Verified,
    idempotency::{self, RequestKey},
};
use duban_proto::reporting::v1 as pb;

use super::{Reporting, Result, method, role_not_allowed};
use crate::{
    convert::ReportKey,
    error::ReportingError,
    validate,
    writer::{AuditInfo, Op, ReviewOp},
};

impl Reporting {
    /// AcceptReport (`accept`) or ReturnReport.
    #[allow(clippy::too_many_arguments)]
    pub async fn review(
        &self,
        caller: &Verified,
        name: &str,
        etag: &str,
        reason: &str,
        request_id: &str,
        accept: bool,
        request_for_key: &impl prost::Message,
    ) -> Result<pb::Report> {
        let method = if accept { method::ACCEPT } else { method::RETURN };
        let audit = AuditInfo {
            principal: Some((caller.principal.clone(), caller.credential.clone())),
            method,
            request_id: request_id.to_owned(),
            resource: name.to_owned(),
            ..Default::default()
        };
        let prepared = async {
            if !matches!(caller.principal, Principal::Leadership | Principal::Admin) {
                return Err(role_not_allowed("reviewing reports", &caller.principal));
            }
            let request = RequestKey::new(&caller.principal.label(), method, request_id, request_for_key);
            if let Some(key) = &request
                && let Some(stored) = idempotency::replay::<pb::Report>(self.store.db(), key).await?
            {
                return Ok(Err(stored));
            }
            let mut violations = Vec::new();
            let key = match ReportKey::parse(name) {
                Some((key, None)) => Some(key),
                Some((_, Some(_))) => {
                    violations.push(FieldViolation::new(
                        "name",
                        "must not name a revision: the latest is reviewed",
                    ));
                    None
                }
                None => {
                    violations.push(FieldViolation::new(
                        "name",
                        "must be `plans/{plan}/reports/{measure}~{department}~{period}`",
                    ));
                    None
                }
            };
            if etag.is_empty() {
                violations.push(FieldViolation::new("etag", "is required"));
            }
            let field = if accept { "comment" } else { "reason" };
            if !accept && reason.trim().is_empty() {
                violations.push(FieldViolation::new(field, "is required"));
            }
            if reason.chars().count() > validate::MAX_TEXT {
                violations.push(FieldViolation::new(field, "is longer than 1000 characters"));
            }
            let Some(key) = key.filter(|_| violations.is_empty()) else {
                return Err(ReportingError::Invalid(violations));
            };
            let plan = self.catalog.plan(&key.plan).await?;
            Ok(Ok(Box::new(ReviewOp {
                key,
                accept,
                etag: etag.to_owned(),
                reason: reason.to_owned(),
                principal: caller.principal.clone(),
                credential: caller.credential.clone(),
                cadence: plan.cadence,
                request,
            })))
        }
        .await;
        match prepared {
            Err(error) => Err(self.refuse(audit, error).await),
            Ok(Err(stored)) => {
                let _ = self.writer.write(Op::AuditOnly(Ok(name.to_owned())), audit).await;
                Ok(stored)
            }
            Ok(Ok(op)) => self.writer.write(Op::Review(op), audit).await,
        }
    }
}
