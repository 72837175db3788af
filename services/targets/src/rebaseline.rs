//! RebaselineTarget: an administrator's change to a target, as a new revision over the etag it was read at.

use duban_kit::idempotency::RequestLogged as _;
use duban_kit::{
    FieldViolation,
    auth::Verified,
    idempotency::{self, RequestKey},
};
use duban_proto::targets::v1 as pb;
use duban_proto::targets::v1::ErrorReason;

use crate::{
    convert,
    entity::target,
    error::TargetsError,
    revision::{Meta, content_of, revision_row},
    rules::{self, Window},
    service::{Result, Targets, not_found, parse_target_name},
    store::is_unique_violation,
};

impl Targets {
    /// Changes a target's figure, deadline, baseline or milestones (ADMIN): revision n+1.
    pub async fn rebaseline(&self, caller: &Verified, request: pb::RebaselineTargetRequest) -> Result<pb::Target> {
        caller.principal.require_admin("rebaselining a target")?;
        let key = RequestKey::new(
            &caller.principal.label(),
            "RebaselineTarget",
            &request.request_id,
            &request,
        );
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let mut violations = Vec::new();
        let reference = match parse_target_name(&request.name, "name", false) {
            Ok(reference) => Some(reference),
            Err(TargetsError::Invalid(more)) => {
                violations.extend(more);
                None
            }
            Err(other) => return Err(other),
        };
        if request.etag.is_empty() {
            violations.push(FieldViolation::new(
                "etag",
                "is required: the etag of the revision the change is based on",
            ));
        }
        let reason = request.reason.trim();
        if reason.is_empty() || request.reason.chars().count() > 1000 {
            violations.push(FieldViolation::new("reason", "must be 1 to 1000 characters"));
        }
        if !request.replace_milestones && !request.milestones.is_empty() {
            violations.push(FieldViolation::new(
                "milestones",
                "must be empty unless replace_milestones is set",
            ));
        }
        let Some(reference) = reference.filter(|_| violations.is_empty()) else {
            return Err(TargetsError::Invalid(violations));
        };
        let db = self.store.db();
        let pointer = self
            .store
            .target(db, &reference.plan, &reference.code)
            .await?
            .filter(|pointer| !pointer.retired)
            .ok_or_else(|| not_found(ErrorReason::TargetNotFound, &request.name))?;
        let current = self
            .store
            .revision(db, &reference.plan, &reference.code, pointer.revision)
            .await?
            .ok_or_else(|| not_found(ErrorReason::TargetNotFound, &request.name))?;
        let plan = self
            .store
            .plan(db, &reference.plan)
            .await?
            .ok_or_else(|| not_found(ErrorReason::PlanNotFound, &format!("plans/{}", reference.plan)))?;
        let window = Window {
            from: convert::date_from_str(&plan.effective_from),
            to: convert::date_from_str(&plan.effective_to),
        };
        let unit = duban_proto::common::v1::QuantityUnit::from_str_name(&current.unit);
        let mut content = content_of(&current);
        let figures = rules::Figures {
            unit,
            places: Some(content.decimal_places),
        };
        if let Some(value) = &request.value
            && let Some(value) = figures.check(Some(value), "value", &mut violations)
        {
            content.value = value;
        }
        if let Some(baseline) = &request.baseline
            && let Some(baseline) = figures.check(Some(baseline), "baseline", &mut violations)
        {
            content.baseline = Some(baseline);
        }
        if let Some(deadline) = &request.deadline {
            match rules::check_deadline(deadline, Some(&window), "deadline", &mut violations) {
                Some(deadline) => content.deadline = deadline,
                None => return Err(TargetsError::Invalid(violations)),
            }
        }
        let milestones = if request.replace_milestones {
            request.milestones.clone()
        } else {
            convert::milestones_to_proto(&content.milestones)
        };
        rules::check_milestones(
            &milestones,
            content.is_at_most(),
            figures,
            content.deadline,
            &window,
            "",
            &mut violations,
        );
        if !violations.is_empty() {
            return Err(TargetsError::Invalid(violations));
        }
        content.milestones = convert::milestones_from_proto(&milestones);
        let name = convert::target_name(&reference.plan, &reference.code);
        if request.etag != convert::etag(current.revision) {
            return Err(TargetsError::from(duban_kit::error::EtagMismatch {
                name,
                current: convert::etag(current.revision),
            }));
        }
        if content.diff(&content_of(&current)).is_empty() {
            return Ok(convert::target(&current, true));
        }
        let row = revision_row(
            &reference.plan,
            &reference.code,
            &content,
            Meta {
                revision: current.revision + 1,
                plan_revision: current.plan_revision,
                reason: reason.to_owned(),
                caller,
                rebaselined: true,
                original: Some(&current),
            },
        );
        let response = convert::target(&row, true);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        let read_revision = current.revision;
        let moved = target::Model {
            revision: row.revision,
            update_time_us: row.create_time_us,
            ..pointer
        };
        let inserted = match self.store.insert_revision(&txn, row).await {
            Ok(()) => true,
            Err(error) if is_unique_violation(&error) => false,
            Err(error) => return Err(error.into()),
        };
        // The etag was checked against a read outside this transaction: move the pointer
        // only if it is still at that revision, so that two rebaselines cannot both win.
        if !inserted || !self.store.update_target_if_revision(&txn, moved, read_revision).await? {
            txn.rollback().await?;
            let now = self
                .store
                .target(self.store.db(), &reference.plan, &reference.code)
                .await?
                .map_or(read_revision, |pointer| pointer.revision);
            let conflict = TargetsError::from(duban_kit::error::EtagMismatch {
                name,
                current: convert::etag(now),
            });
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        self.finish(txn, key, response).await
    }
}
