//! ImportPlan: validation against the served directory, idempotency, the new revision and the targets sync.

use duban_kit::idempotency::RequestLogged as _;
use std::collections::{BTreeMap, BTreeSet};

use duban_kit::{
    Principal,
    idempotency::{self, RequestKey},
};
use duban_proto::{
    measures::v1::{self as pb, ImportOutcome, ImportProblem, ImportProblemKind},
    targets::v1 as tpb,
};
use tonic::Code;

use crate::{
    check::{Checked, check},
    content::{self, PlanContent},
    convert, dataset,
    directory::{Designation, DirectoryParts, members_of},
    entity::{plan, plan_revision},
    error::MeasuresError,
    service::{Loaded, Measures, Result, plan_message},
    store::is_unique_violation,
};

impl Measures {
    /// Imports a whole plan (ADMIN); see the contract.
    pub async fn import_plan(
        &self,
        caller: &Principal,
        request: pb::ImportPlanRequest,
    ) -> Result<pb::ImportPlanResponse> {
        caller.require_admin("importing a plan")?;
        let key = RequestKey::new(&caller.label(), "ImportPlan", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let data = request.dataset.clone().unwrap_or_default();
        let read = dataset::read(&data);
        let parts = self.directory.parts().await?;
        let directory = parts.directory()?;
        let checked = check(&data, read, &directory);
        if !checked.problems.is_empty() {
            return invalid(request.validate_only, checked);
        }
        let content = checked.content;
        let sha = content.sha256();
        let id = content.plan.header.id.clone();
        let current = match self.store.plan(&id).await? {
            Some(row) => Some(self.load(&row.id, None).await?),
            None => None,
        };
        let etag = data.plan.as_ref().map(|p| p.etag.as_str()).unwrap_or_default();
        if let Some(current) = &current
            && !etag.is_empty()
            && etag != convert::etag(current.plan.current_revision)
        {
            return Err(MeasuresError::from(duban_kit::error::EtagMismatch {
                name: convert::plan_name(&id, None),
                current: convert::etag(current.plan.current_revision),
            }));
        }
        if let Some(current) = current.as_ref().filter(|c| c.revision.content_sha256 == sha) {
            let response = pb::ImportPlanResponse {
                plan: Some(plan_message(current, false)),
                outcome: ImportOutcome::Unchanged as i32,
                ..Default::default()
            };
            if request.validate_only {
                return Ok(response);
            }
            let txn = self.store.begin().await?;
            return self.finish(txn, key, response).await;
        }
        let revision = current.as_ref().map_or(1, |c| c.plan.current_revision + 1);
        let now = chrono::Utc::now().timestamp_micros();
        let row = plan_revision::Model {
            plan_id: id.clone(),
            revision,
            content: content.to_json(),
            content_sha256: sha.clone(),
            imported_by: caller.label(),
            create_time_us: now,
        };
        let loaded = Loaded {
            plan: plan::Model {
                id: id.clone(),
                current_revision: revision,
                create_time_us: current.as_ref().map_or(now, |c| c.plan.create_time_us),
                update_time_us: now,
            },
            revision: row.clone(),
            content: content.clone(),
        };
        let (outcome, changed_paths) = match &current {
            None => (ImportOutcome::Created, Vec::new()),
            Some(current) => (
                ImportOutcome::Revised,
                content::changed_paths(&current.content, &content),
            ),
        };
        let sync = self
            .sync_request(
                &content,
                &parts,
                revision,
                &sha,
                request.validate_only,
                request.overwrite_rebaselined_targets,
            )
            .await?;
        if let Err(error) = self.targets_sync.clone().sync_plan_targets(sync).await {
            return match error.code() {
                Code::FailedPrecondition => Err(MeasuresError::TargetRebaselined(
                    tonic_types::StatusExt::get_details_error_info(&error)
                        .and_then(|info| info.metadata.get("targets").cloned())
                        .unwrap_or_else(|| error.message().to_owned()),
                )),
                Code::InvalidArgument => {
                    let problems: Vec<ImportProblem> = duban_kit::status::field_violations(&error)
                        .into_iter()
                        .map(|v| dataset::problem(v.field, v.description, ImportProblemKind::InvalidValue))
                        .collect();
                    invalid(
                        request.validate_only,
                        Checked {
                            problems,
                            unresolved: Vec::new(),
                            content,
                        },
                    )
                }
                _ => Err(MeasuresError::dependency("targets", &error)),
            };
        }
        let response = pb::ImportPlanResponse {
            plan: Some(plan_message(&loaded, false)),
            outcome: outcome as i32,
            problems: Vec::new(),
            changed_paths,
        };
        if request.validate_only {
            return Ok(response);
        }
        // The targets are synced: committing now makes the revision visible. If this
        // fails, a retry syncs the same targets again (idempotent) and commits.
        let txn = self.store.begin().await?;
        let previous = current.as_ref().map(|c| c.plan.current_revision);
        let stored = match self.store.insert_revision(&txn, row, previous).await {
            Ok(stored) => stored,
            Err(error) if is_unique_violation(&error) => false,
            Err(error) => return Err(error.into()),
        };
        if !stored {
            txn.rollback().await?;
            let now = self.store.plan(&id).await?.map_or(0, |row| row.current_revision);
            let conflict = MeasuresError::from(duban_kit::error::EtagMismatch {
                name: convert::plan_name(&id, None),
                current: convert::etag(now),
            });
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        tracing::info!(plan = %id, revision, ?outcome, "imported plan");
        self.finish(txn, key, response).await
    }

    /// The SyncPlanTargets call of an import: reporters as codes, groups expanded.
    async fn sync_request(
        &self,
        content: &PlanContent,
        parts: &DirectoryParts,
        revision: i32,
        sha: &str,
        validate_only: bool,
        overwrite: bool,
    ) -> Result<tpb::SyncPlanTargetsRequest> {
        let id = &content.plan.header.id;
        let mut targets = Vec::with_capacity(content.plan.targets.len());
        let mut designations: BTreeMap<String, Vec<Designation>> = BTreeMap::new();
        for t in &content.plan.targets {
            let mut target = dataset::stored_target_to_proto(content, t);
            let scope = convert::measure_scope(id, &t.measure);
            let needs_designations = target.reporters.iter().any(|code| {
                parts
                    .group(code)
                    .is_some_and(|g| g.kind == duban_catalog::GroupKind::Designated)
            });
            if needs_designations && !designations.contains_key(&scope) {
                let found = self.directory.designations(&scope, "").await?;
                designations.insert(scope.clone(), found);
            }
            let known = designations.get(&scope).map_or(&[][..], Vec::as_slice);
            let expanded: BTreeSet<String> = target
                .reporters
                .iter()
                .flat_map(|code| members_of(parts, known, code, &scope))
                .collect();
            target.reporting_departments = expanded.into_iter().collect();
            targets.push(target);
        }
        let header = &content.plan.header;
        Ok(tpb::SyncPlanTargetsRequest {
            plan: convert::plan_name(id, None),
            plan_revision: revision,
            effective_from: Some(convert::date(header.effective_from)),
            effective_to: Some(convert::date(header.effective_to)),
            targets,
            validate_only,
            overwrite_rebaselined_targets: overwrite,
            request_id: format!("{id}@{revision}:{}", &sha[..16]),
        })
    }
}

/// The answer to an invalid dataset: INVALID with the problems for validate_only,
/// else INVALID_ARGUMENT.
fn invalid(validate_only: bool, checked: Checked) -> Result<pb::ImportPlanResponse> {
    if validate_only {
        return Ok(pb::ImportPlanResponse {
            plan: None,
            outcome: ImportOutcome::Invalid as i32,
            problems: checked.problems,
            changed_paths: Vec::new(),
        });
    }
    Err(MeasuresError::DatasetInvalid {
        problems: checked.problems,
        unresolved_units: checked.unresolved,
    })
}
