//! SyncPlanTargets: a plan's targets made those of an imported revision (created, revised, restored, retired).

use duban_kit::idempotency::RequestLogged as _;
use std::collections::HashMap;

use duban_kit::{
    Principal,
    auth::{AuthError, Verified},
    idempotency::{self, RequestKey},
};
use duban_proto::targets::v1 as pb;
use sea_orm::DatabaseTransaction;

use crate::{
    convert,
    entity::{plan, target, target_revision},
    error::TargetsError,
    revision::{Meta, content_of, revision_row},
    rules,
    service::{Result, Targets, sort_rows},
    store::is_unique_violation,
};

/// What a sync decided for one target.
enum Step {
    /// First seen: revision 1.
    Create(target_revision::Model),
    /// Changed: a new revision (and un-retired, if it was retired).
    Revise(target::Model, target_revision::Model),
    /// Back in the plan unchanged: only un-retired.
    Restore(target::Model),
    /// Dropped from the plan.
    Retire(target::Model),
}

impl Targets {
    /// Replaces a plan's targets with those of an imported plan revision (SERVICE).
    pub async fn sync_plan_targets(
        &self,
        caller: &Verified,
        request: pb::SyncPlanTargetsRequest,
    ) -> Result<pb::SyncPlanTargetsResponse> {
        if caller.principal != Principal::Service {
            return Err(AuthError::Denied(format!(
                "SyncPlanTargets is for the measures service (ImportPlan); the caller is {}",
                caller.principal.label()
            ))
            .into());
        }
        let key = RequestKey::new(
            &caller.principal.label(),
            "SyncPlanTargets",
            &request.request_id,
            &request,
        );
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let draft = rules::validate_sync(&request).map_err(TargetsError::Invalid)?;
        let db = self.store.db();
        let existing_plan = self.store.plan(db, &draft.plan).await?;
        let pointers = self.store.targets(db, &draft.plan).await?;
        let mut current: HashMap<String, target_revision::Model> = HashMap::new();
        let mut imported: HashMap<String, target_revision::Model> = HashMap::new();
        for pointer in &pointers {
            let row = self.revision_of(&draft.plan, &pointer.code, pointer.revision).await?;
            if pointer.import_revision != pointer.revision {
                let import = self
                    .revision_of(&draft.plan, &pointer.code, pointer.import_revision)
                    .await?;
                imported.insert(pointer.code.clone(), import);
            } else {
                imported.insert(pointer.code.clone(), row.clone());
            }
            current.insert(pointer.code.clone(), row);
        }
        let reason = format!("imported in plan revision {}", request.plan_revision);
        let mut steps = Vec::new();
        let mut changed_paths = Vec::new();
        let mut conflicts = Vec::new();
        for (code, content) in &draft.targets {
            let Some(pointer) = pointers.iter().find(|pointer| &pointer.code == code) else {
                changed_paths.push(format!("targets[{code}]"));
                steps.push(Step::Create(revision_row(
                    &draft.plan,
                    code,
                    content,
                    Meta {
                        revision: 1,
                        plan_revision: request.plan_revision,
                        reason: reason.clone(),
                        caller,
                        rebaselined: false,
                        original: None,
                    },
                )));
                continue;
            };
            // Both are filled above for every pointer.
            let (Some(now), Some(import)) = (current.get(code), imported.get(code)) else {
                continue;
            };
            let differs = content_of(import).diff(content);
            if pointer.retired {
                changed_paths.push(format!("targets[{code}]"));
            } else {
                changed_paths.extend(differs.iter().map(|field| format!("targets[{code}].{field}")));
            }
            if differs.is_empty() {
                if pointer.retired {
                    steps.push(Step::Restore(pointer.clone()));
                }
                continue;
            }
            if pointer.revision > pointer.import_revision && !request.overwrite_rebaselined_targets {
                conflicts.push(code.clone());
                continue;
            }
            let row = revision_row(
                &draft.plan,
                code,
                content,
                Meta {
                    revision: now.revision + 1,
                    plan_revision: request.plan_revision,
                    reason: reason.clone(),
                    caller,
                    rebaselined: false,
                    original: Some(now),
                },
            );
            steps.push(Step::Revise(pointer.clone(), row));
        }
        for pointer in pointers.iter().filter(|pointer| !pointer.retired) {
            if !draft.targets.iter().any(|(code, _)| *code == pointer.code) {
                changed_paths.push(format!("targets[{}]", pointer.code));
                steps.push(Step::Retire(pointer.clone()));
            }
        }
        if !conflicts.is_empty() {
            return Err(TargetsError::RebaselineConflict { codes: conflicts });
        }
        // The plan's targets as they are after the sync.
        let mut after: Vec<target_revision::Model> = draft
            .targets
            .iter()
            .filter_map(|(code, _)| {
                steps
                    .iter()
                    .find_map(|step| match step {
                        Step::Create(row) | Step::Revise(_, row) if &row.code == code => Some(row.clone()),
                        _ => None,
                    })
                    .or_else(|| current.get(code).cloned())
            })
            .collect();
        sort_rows(&mut after);
        let response = pb::SyncPlanTargetsResponse {
            targets: after.iter().map(|row| convert::target(row, true)).collect(),
            changed_paths,
        };
        if request.validate_only {
            return Ok(response);
        }
        let now_us = chrono::Utc::now().timestamp_micros();
        let plan_row = plan::Model {
            code: draft.plan.clone(),
            plan_revision: request.plan_revision,
            effective_from: convert::date_str(draft.window.from),
            effective_to: convert::date_str(draft.window.to),
            update_time_us: now_us,
        };
        let plan_changed = existing_plan.as_ref().is_none_or(|existing| {
            (existing.plan_revision, &existing.effective_from, &existing.effective_to)
                != (plan_row.plan_revision, &plan_row.effective_from, &plan_row.effective_to)
        });
        if steps.is_empty() && !plan_changed {
            // Nothing to write: the same targets for the same plan revision.
            return match key {
                Some(_) => {
                    let txn = self.store.begin().await?;
                    self.finish(txn, key, response).await
                }
                None => Ok(response),
            };
        }
        let txn = self.store.begin().await?;
        if plan_changed {
            self.store.save_plan(&txn, plan_row, existing_plan.is_some()).await?;
        }
        let plan_name = format!("plans/{}", draft.plan);
        for step in steps {
            if let Err(error) = self.apply(&txn, step, now_us).await {
                txn.rollback().await?;
                return match error {
                    TargetsError::Db(db) if is_unique_violation(&db) => {
                        idempotency::replay_or_conflict(self.store.db(), &key, TargetsError::Concurrent(plan_name))
                            .await
                    }
                    other => Err(other),
                };
            }
        }
        tracing::info!(plan = %draft.plan, plan_revision = request.plan_revision, changes = response.changed_paths.len(), "synced plan targets");
        self.finish(txn, key, response).await
    }

    /// Writes one step of a sync.
    async fn apply(&self, txn: &DatabaseTransaction, step: Step, now_us: i64) -> Result<()> {
        let moved = match step {
            Step::Create(row) => {
                let pointer = target::Model {
                    plan: row.plan.clone(),
                    code: row.code.clone(),
                    revision: row.revision,
                    import_revision: row.revision,
                    retired: false,
                    update_time_us: now_us,
                };
                self.store.insert_revision(txn, row).await?;
                self.store.insert_target(txn, pointer).await?;
                return Ok(());
            }
            Step::Revise(pointer, row) => {
                let read = pointer.revision;
                let moved = target::Model {
                    revision: row.revision,
                    import_revision: row.revision,
                    retired: false,
                    update_time_us: now_us,
                    ..pointer
                };
                self.store.insert_revision(txn, row).await?;
                (moved, read)
            }
            Step::Restore(pointer) => {
                let read = pointer.revision;
                let moved = target::Model {
                    retired: false,
                    update_time_us: now_us,
                    ..pointer
                };
                (moved, read)
            }
            Step::Retire(pointer) => {
                let read = pointer.revision;
                let moved = target::Model {
                    retired: true,
                    update_time_us: now_us,
                    ..pointer
                };
                (moved, read)
            }
        };
        let (moved, read) = moved;
        let name = convert::target_name(&moved.plan, &moved.code);
        if !self.store.update_target_if_revision(txn, moved, read).await? {
            return Err(TargetsError::Concurrent(name));
        }
        Ok(())
    }
}
