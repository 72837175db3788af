//! The targets domain: reading targets and their revisions, syncing them from imported
//! plans, rebaselining them, and their trajectories, with the rules on who may do what,
//! what is valid, and how retries and concurrent edits behave.

use std::collections::HashMap;

use duban_kit::{
    FieldViolation, Principal,
    auth::{AuthError, Verified},
    client::ServiceChannel,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::{
    departments::v1::{GetDepartmentRequest, departments_service_client::DepartmentsServiceClient},
    targets::v1 as pb,
};
use sea_orm::DatabaseTransaction;

use crate::{
    convert,
    entity::{plan, target, target_revision},
    error::TargetsError,
    rules::{self, Content, Window},
    store::{TargetStore, is_unique_violation},
};

/// Most dates one GetTrajectory call may evaluate.
pub const MAX_TRAJECTORY_DATES: usize = 400;

/// The departments service, asked whether a department code exists.
pub type DirectoryClient = DepartmentsServiceClient<ServiceChannel>;

/// The targets domain over its store.
#[derive(Debug, Clone)]
pub struct Targets {
    pub(crate) store: TargetStore,
    directory: Option<DirectoryClient>,
}

type Result<T> = std::result::Result<T, TargetsError>;

/// A parsed `plans/{plan}/targets/{code}[@{revision}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    /// The plan's slug.
    pub plan: String,
    /// The target's code.
    pub code: String,
    /// The revision asked for, if any.
    pub revision: Option<i32>,
}

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
    /// Wraps a migrated store; `directory` checks department codes in ListTargets
    /// (without one, any well-formed code is accepted).
    pub fn new(store: TargetStore, directory: Option<DirectoryClient>) -> Self {
        Self { store, directory }
    }

    /// A target's current revision, or a stored one for `...@{revision}`.
    pub async fn get_target(&self, name: &str) -> Result<pb::Target> {
        let reference = parse_target_name(name, "name", true)?;
        let row = self.resolve(&reference, name).await?;
        Ok(convert::target(&row, reference.revision.is_none()))
    }

    /// A page of a plan's current targets, in measure-number then code order.
    pub async fn list_targets(&self, request: &pb::ListTargetsRequest) -> Result<pb::ListTargetsResponse> {
        let mut violations = Vec::new();
        let plan = rules::parse_plan_name(&request.parent);
        if plan.is_none() {
            violations.push(FieldViolation::new(
                "parent",
                "must be a resource name of the form `plans/{plan}`",
            ));
        }
        if request.action_number < 0 {
            violations.push(FieldViolation::new("action_number", "must not be negative"));
        }
        if !request.department.is_empty() && !rules::is_slug(&request.department) {
            violations.push(FieldViolation::new("department", "must be a department code"));
        }
        let filter = format!(
            "{}|{}|{}|{}",
            request.parent, request.measure_number, request.action_number, request.department
        );
        let page = match Page::from_request(request.page_size, &request.page_token, &filter) {
            Ok(page) => Some(page),
            Err(violation) => {
                violations.push(violation);
                None
            }
        };
        let (Some(plan), Some(page)) = (plan, page) else {
            return Err(TargetsError::Invalid(violations));
        };
        if !violations.is_empty() {
            return Err(TargetsError::Invalid(violations));
        }
        if self.store.plan(self.store.db(), plan).await?.is_none() {
            return Err(not_found("PLAN_NOT_FOUND", "plan", &request.parent));
        }
        if !request.department.is_empty() {
            self.check_department(&request.department).await?;
        }
        let rows: Vec<target_revision::Model> = self
            .current_rows(plan)
            .await?
            .into_iter()
            .filter(|row| request.measure_number.is_empty() || row.measure_number == request.measure_number)
            .filter(|row| request.action_number == 0 || row.action_number == request.action_number)
            .filter(|row| {
                request.department.is_empty()
                    || convert::json_list::<String>(&row.reporting_departments).contains(&request.department)
                    || convert::json_list::<String>(&row.reporters).contains(&request.department)
            })
            .collect();
        let total = rows.len() as u64;
        Ok(pb::ListTargetsResponse {
            targets: rows
                .iter()
                .skip(page.offset as usize)
                .take(page.size as usize)
                .map(|row| convert::target(row, true))
                .collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// A page of a target's revisions, newest first.
    pub async fn list_revisions(
        &self,
        request: &pb::ListTargetRevisionsRequest,
    ) -> Result<pb::ListTargetRevisionsResponse> {
        let reference = parse_target_name(&request.name, "name", false)?;
        let page = Page::from_request(request.page_size, &request.page_token, &request.name).map_err(one)?;
        if self
            .store
            .target(self.store.db(), &reference.plan, &reference.code)
            .await?
            .is_none()
        {
            return Err(not_found("TARGET_NOT_FOUND", "target", &request.name));
        }
        let (rows, total) = self
            .store
            .revisions(&reference.plan, &reference.code, page.offset, page.size)
            .await?;
        Ok(pb::ListTargetRevisionsResponse {
            targets: rows.iter().map(|row| convert::target(row, false)).collect(),
            next_page_token: page.next_token(total, &request.name),
        })
    }

    /// The expected values of a target at given dates, or at every period end.
    pub async fn get_trajectory(&self, request: &pb::GetTrajectoryRequest) -> Result<pb::GetTrajectoryResponse> {
        let reference = parse_target_name(&request.name, "name", true)?;
        let mut violations = Vec::new();
        if request.dates.len() > MAX_TRAJECTORY_DATES {
            violations.push(FieldViolation::new(
                "dates",
                format!("at most {MAX_TRAJECTORY_DATES} dates may be asked for"),
            ));
        }
        let dates: Vec<_> = request
            .dates
            .iter()
            .enumerate()
            .filter_map(|(index, date)| {
                let parsed = convert::date_from_proto(date);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        format!("dates[{index}]"),
                        "is not a valid calendar date",
                    ));
                }
                parsed
            })
            .collect();
        if !violations.is_empty() {
            return Err(TargetsError::Invalid(violations));
        }
        let row = self.resolve(&reference, &request.name).await?;
        let plan = self
            .store
            .plan(self.store.db(), &row.plan)
            .await?
            .ok_or_else(|| not_found("PLAN_NOT_FOUND", "plan", &format!("plans/{}", row.plan)))?;
        let start = convert::date_from_str(&plan.effective_from);
        let shape = convert::shape(&row, start);
        let point = |point: crate::trajectory::Point, period| pb::TrajectoryPoint {
            date: Some(convert::date_to_proto(point.date)),
            period,
            expected_value: point.expected_value,
            source: convert::point_source(point.source) as i32,
        };
        let points = if dates.is_empty() {
            shape
                .per_period()
                .into_iter()
                .map(|((year, month), at)| {
                    point(
                        at,
                        Some(duban_proto::common::v1::Period {
                            year,
                            month: month as i32,
                        }),
                    )
                })
                .collect()
        } else {
            dates.into_iter().map(|date| point(shape.at(date), None)).collect()
        };
        Ok(pb::GetTrajectoryResponse {
            target: convert::revision_name(&row.plan, &row.code, row.revision),
            unit: convert::unit(&row) as i32,
            comparator: convert::comparator(&row) as i32,
            start_date: Some(convert::date_to_proto(start)),
            start_value: shape.start_value(),
            points,
        })
    }

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
            .ok_or_else(|| not_found("TARGET_NOT_FOUND", "target", &request.name))?;
        let current = self
            .store
            .revision(db, &reference.plan, &reference.code, pointer.revision)
            .await?
            .ok_or_else(|| not_found("TARGET_NOT_FOUND", "target", &request.name))?;
        let plan = self
            .store
            .plan(db, &reference.plan)
            .await?
            .ok_or_else(|| not_found("PLAN_NOT_FOUND", "plan", &format!("plans/{}", reference.plan)))?;
        let window = Window {
            from: convert::date_from_str(&plan.effective_from),
            to: convert::date_from_str(&plan.effective_to),
        };
        let unit = duban_proto::common::v1::QuantityUnit::from_str_name(&current.unit);
        let mut content = content_of(&current);
        if let Some(value) = request.value {
            rules::check_value(value, unit, "value", &mut violations);
            content.value = value;
        }
        if let Some(baseline) = request.baseline {
            rules::check_value(baseline, unit, "baseline", &mut violations);
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
            unit,
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
            return Err(TargetsError::EtagMismatch {
                name,
                current: convert::etag(current.revision),
            });
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
            let conflict = TargetsError::EtagMismatch {
                name,
                current: convert::etag(now),
            };
            return self.lost_race(&key, conflict).await;
        }
        self.finish(txn, key, response).await
    }

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
            let (now, import) = (&current[code], &imported[code]);
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
                        self.lost_race(&key, TargetsError::Concurrent(plan_name)).await
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

    /// The revision a reference names: the asked one, or the current one of a target
    /// that is not retired.
    async fn resolve(&self, reference: &TargetRef, name: &str) -> Result<target_revision::Model> {
        let db = self.store.db();
        let pointer = self
            .store
            .target(db, &reference.plan, &reference.code)
            .await?
            .ok_or_else(|| not_found("TARGET_NOT_FOUND", "target", name))?;
        match reference.revision {
            Some(revision) => self
                .store
                .revision(db, &reference.plan, &reference.code, revision)
                .await?
                .ok_or_else(|| not_found("REVISION_NOT_FOUND", "revision", name)),
            None if pointer.retired => Err(not_found("TARGET_NOT_FOUND", "target", name)),
            None => {
                self.revision_of(&reference.plan, &reference.code, pointer.revision)
                    .await
            }
        }
    }

    async fn revision_of(&self, plan: &str, code: &str, revision: i32) -> Result<target_revision::Model> {
        self.store
            .revision(self.store.db(), plan, code, revision)
            .await?
            .ok_or_else(|| {
                not_found(
                    "REVISION_NOT_FOUND",
                    "revision",
                    &convert::revision_name(plan, code, revision),
                )
            })
    }

    /// The current revisions of a plan's targets that are not retired, in measure-number
    /// then code order.
    async fn current_rows(&self, plan: &str) -> Result<Vec<target_revision::Model>> {
        let mut rows = Vec::new();
        for pointer in self.store.targets(self.store.db(), plan).await? {
            if !pointer.retired {
                rows.push(self.revision_of(plan, &pointer.code, pointer.revision).await?);
            }
        }
        sort_rows(&mut rows);
        Ok(rows)
    }

    /// FIELD_INVALID unless `code` is a department in the directory.
    async fn check_department(&self, code: &str) -> Result<()> {
        let Some(directory) = &self.directory else {
            return Ok(());
        };
        let request = GetDepartmentRequest {
            name: format!("departments/{code}"),
        };
        match directory.clone().get_department(request).await {
            Ok(_) => Ok(()),
            Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
                Err(TargetsError::invalid(
                    "department",
                    format!("{code:?} is not a department code in the directory"),
                ))
            }
            Err(status) => Err(TargetsError::Dependency {
                service: "departments",
                message: status.message().to_owned(),
            }),
        }
    }

    /// The stored response of an already-acknowledged request.
    async fn replay<R: prost::Message + Default>(&self, key: &Option<RequestKey>) -> Result<Option<R>> {
        Ok(idempotency::replay_keyed(self.store.db(), key).await?)
    }

    /// Records the response under the request id and commits; if a concurrent retry
    /// with the same id committed first, answers what that one answered.
    async fn finish<R: prost::Message + Default>(
        &self,
        txn: DatabaseTransaction,
        key: Option<RequestKey>,
        response: R,
    ) -> Result<R> {
        Ok(idempotency::commit(self.store.db(), txn, &key, response).await?)
    }

    /// After losing a write race: the answer of the call that won if it was this very
    /// request (a retry running beside its first call), else `conflict`.
    async fn lost_race<R: prost::Message + Default>(
        &self,
        key: &Option<RequestKey>,
        conflict: TargetsError,
    ) -> Result<R> {
        match self.replay(key).await? {
            Some(done) => Ok(done),
            None => Err(conflict),
        }
    }
}

/// Who and why, for a new revision row.
struct Meta<'a> {
    revision: i32,
    plan_revision: i32,
    reason: String,
    caller: &'a Verified,
    rebaselined: bool,
    /// The revision the original value and deadline are carried from; `None` for
    /// revision 1, whose own figures are the original ones.
    original: Option<&'a target_revision::Model>,
}

/// A new revision row of `content`.
fn revision_row(plan: &str, code: &str, content: &Content, meta: Meta<'_>) -> target_revision::Model {
    let (role, department, credential) = convert::principal_columns(&meta.caller.principal, &meta.caller.credential);
    let deadline = convert::date_str(content.deadline);
    target_revision::Model {
        plan: plan.to_owned(),
        code: code.to_owned(),
        revision: meta.revision,
        measure_number: content.measure_number.clone(),
        action_number: content.action_number,
        display_name: content.display_name.clone(),
        display_name_en: content.display_name_en.clone(),
        unit: content.unit.clone(),
        value: content.value,
        comparator: content.comparator.clone(),
        deadline: deadline.clone(),
        baseline: content.baseline,
        aggregation: content.aggregation.clone(),
        value_basis: content.value_basis.clone(),
        reporters: convert::to_json(&content.reporters),
        reporting_departments: convert::to_json(&content.reporting_departments),
        source: content.source.clone(),
        note: content.note.clone(),
        milestones: convert::to_json(&content.milestones),
        plan_revision: meta.plan_revision,
        reason: meta.reason,
        revised_by_role: role,
        revised_by_department: department,
        revised_by_credential: credential,
        rebaselined: meta.rebaselined,
        original_value: meta.original.map_or(content.value, |original| original.original_value),
        original_deadline: meta
            .original
            .map_or(deadline, |original| original.original_deadline.clone()),
        create_time_us: chrono::Utc::now().timestamp_micros(),
    }
}

/// The content of a stored revision.
fn content_of(row: &target_revision::Model) -> Content {
    Content {
        measure_number: row.measure_number.clone(),
        action_number: row.action_number,
        display_name: row.display_name.clone(),
        display_name_en: row.display_name_en.clone(),
        unit: row.unit.clone(),
        value: row.value,
        comparator: row.comparator.clone(),
        deadline: convert::date_from_str(&row.deadline),
        baseline: row.baseline,
        aggregation: row.aggregation.clone(),
        value_basis: row.value_basis.clone(),
        reporters: convert::json_list(&row.reporters),
        reporting_departments: convert::json_list(&row.reporting_departments),
        source: row.source.clone(),
        note: row.note.clone(),
        milestones: convert::json_list(&row.milestones),
    }
}

/// Measure-number (numerically) then code order.
fn sort_rows(rows: &mut [target_revision::Model]) {
    rows.sort_by(|a, b| {
        (rules::measure_order(&a.measure_number), &a.code).cmp(&(rules::measure_order(&b.measure_number), &b.code))
    });
}

/// Parses `plans/{plan}/targets/{code}`, with `@{revision}` when `allow_revision`.
pub fn parse_target_name(name: &str, field: &str, allow_revision: bool) -> Result<TargetRef> {
    let invalid = || {
        let form = if allow_revision {
            "`plans/{plan}/targets/{target}` or `plans/{plan}/targets/{target}@{revision}`"
        } else {
            "`plans/{plan}/targets/{target}`, without a revision"
        };
        TargetsError::invalid(field, format!("must be a resource name of the form {form}"))
    };
    let rest = name.strip_prefix("plans/").ok_or_else(invalid)?;
    let (plan, rest) = rest.split_once("/targets/").ok_or_else(invalid)?;
    let (code, revision) = match rest.split_once('@') {
        Some((code, revision)) if allow_revision => {
            let revision: i32 = revision.parse().ok().filter(|r| *r >= 1).ok_or_else(invalid)?;
            (code, Some(revision))
        }
        Some(_) => return Err(invalid()),
        None => (rest, None),
    };
    if !rules::is_slug(plan) || !rules::is_slug(code) {
        return Err(invalid());
    }
    Ok(TargetRef {
        plan: plan.to_owned(),
        code: code.to_owned(),
        revision,
    })
}

fn not_found(reason: &'static str, resource: &'static str, name: &str) -> TargetsError {
    TargetsError::NotFound {
        reason,
        resource,
        name: name.to_owned(),
    }
}

fn one(violation: FieldViolation) -> TargetsError {
    TargetsError::Invalid(vec![violation])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_are_parsed_strictly() {
        let plain = parse_target_name("plans/jiading-2023/targets/new-enterprises", "name", true).unwrap();
        assert_eq!(
            (plain.plan.as_str(), plain.code.as_str(), plain.revision),
            ("jiading-2023", "new-enterprises", None)
        );
        let revision = parse_target_name("plans/jiading-2023/targets/new-enterprises@2", "name", true).unwrap();
        assert_eq!(revision.revision, Some(2));
        for bad in [
            "plans/jiading-2023/targets/new-enterprises@0",
            "plans/jiading-2023/targets/new-enterprises@x",
            "plans/jiading-2023/targets/",
            "plans//targets/x",
            "targets/x",
            "plans/jiading-2023/targets/a/b",
        ] {
            assert!(parse_target_name(bad, "name", true).is_err(), "{bad}");
        }
        assert!(parse_target_name("plans/jiading-2023/targets/new-enterprises@2", "name", false).is_err());
    }
}
