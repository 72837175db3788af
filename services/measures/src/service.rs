//! The measures domain: reading plans, actions and measures from the stored revisions,
//! and importing a plan (validation against the served directory, idempotency,
//! revisions, and handing the targets to the targets service).

use std::collections::{BTreeMap, BTreeSet};

use duban_catalog::{Directory, Plan, Resolved};
use duban_kit::{
    FieldViolation, Principal,
    client::ServiceChannel,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::{
    measures::v1::{self as pb, ImportOutcome, ImportProblem, ImportProblemKind},
    targets::v1::{self as tpb, targets_service_client::TargetsServiceClient},
};
use sea_orm::DatabaseTransaction;
use tonic::Code;

use crate::{
    content::{self, PlanContent, UnitRef},
    convert, dataset,
    directory::{Designation, DirectoryClient, DirectoryParts, members_of},
    entity::{plan, plan_revision},
    error::MeasuresError,
    store::{PlanStore, is_unique_violation},
};

type Result<T> = std::result::Result<T, MeasuresError>;

/// The measures domain over its store and the services it asks.
#[derive(Debug, Clone)]
pub struct Measures {
    store: PlanStore,
    directory: DirectoryClient,
    targets: TargetsServiceClient<ServiceChannel>,
}

/// A stored revision, read.
#[derive(Debug)]
struct Loaded {
    plan: plan::Model,
    revision: plan_revision::Model,
    content: PlanContent,
}

impl Measures {
    /// Wraps a migrated store and clients of the departments and targets services.
    pub fn new(store: PlanStore, directory: DirectoryClient, targets: ServiceChannel) -> Self {
        Self {
            store,
            directory,
            targets: TargetsServiceClient::new(targets),
        }
    }

    /// A plan's current revision, or a stored one.
    pub async fn get_plan(&self, name: &str) -> Result<pb::Plan> {
        let (id, revision) = parse_plan_name(name, "name", true)?;
        let loaded = self.load(&id, revision).await?;
        Ok(plan_message(&loaded, revision.is_some()))
    }

    /// A page of plans, current revisions, in id order.
    pub async fn list_plans(&self, request: &pb::ListPlansRequest) -> Result<pb::ListPlansResponse> {
        let page = Page::from_request(request.page_size, &request.page_token, "plans").map_err(one)?;
        let (rows, total) = self.store.plans(page.offset, page.size).await?;
        let mut plans = Vec::with_capacity(rows.len());
        for row in rows {
            let loaded = self.load(&row.id, None).await?;
            plans.push(plan_message(&loaded, false));
        }
        Ok(pb::ListPlansResponse {
            plans,
            next_page_token: page.next_token(total, "plans"),
        })
    }

    /// A plan's stored revisions, newest first.
    pub async fn list_plan_revisions(
        &self,
        request: &pb::ListPlanRevisionsRequest,
    ) -> Result<pb::ListPlanRevisionsResponse> {
        let (id, _) = parse_plan_name(&request.name, "name", false)?;
        let row = self
            .store
            .plan(&id)
            .await?
            .ok_or_else(|| not_found("plan", &request.name))?;
        let filter = format!("revisions|{id}");
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let (revisions, total) = self.store.revisions(&id, page.offset, page.size).await?;
        let mut plans = Vec::with_capacity(revisions.len());
        for revision in revisions {
            let content = parse_content(&revision)?;
            let loaded = Loaded {
                plan: row.clone(),
                revision,
                content,
            };
            plans.push(plan_message(&loaded, true));
        }
        Ok(pb::ListPlanRevisionsResponse {
            plans,
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// One action of a plan's current revision.
    pub async fn get_action(&self, name: &str) -> Result<pb::Action> {
        let (id, number) = parse_child(name, "actions")?;
        let number: u32 = number
            .parse()
            .map_err(|_| MeasuresError::invalid("name", "the action must be a number, as in `plans/p/actions/4`"))?;
        let loaded = self.load_or(&id, "action", name).await?;
        let action = loaded
            .content
            .plan
            .action(number)
            .ok_or_else(|| not_found("action", name))?;
        Ok(action_message(&id, action))
    }

    /// A page of a plan's actions, in number order.
    pub async fn list_actions(&self, request: &pb::ListActionsRequest) -> Result<pb::ListActionsResponse> {
        let (id, _) = parse_plan_name(&request.parent, "parent", false)?;
        let filter = format!("actions|{id}");
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let loaded = self.load(&id, None).await?;
        let mut actions: Vec<_> = loaded.content.plan.actions.iter().collect();
        actions.sort_by_key(|a| a.number);
        Ok(pb::ListActionsResponse {
            actions: actions
                .iter()
                .skip(page.offset as usize)
                .take(page.size as usize)
                .map(|a| action_message(&id, a))
                .collect(),
            next_page_token: page.next_token(actions.len() as u64, &filter),
        })
    }

    /// One measure of a plan's current revision, its units resolved.
    pub async fn get_measure(&self, name: &str) -> Result<pb::Measure> {
        let (id, number) = parse_child(name, "measures")?;
        let loaded = self.load_or(&id, "measure", name).await?;
        let measure = loaded
            .content
            .plan
            .measure(&number)
            .ok_or_else(|| not_found("measure", name))?;
        let parts = self.directory.parts().await?;
        let scope = convert::measure_scope(&id, &number);
        let designations = self.directory.designations(&scope, "").await?;
        Ok(measure_message(&id, &loaded.content, measure, &parts, &designations))
    }

    /// A page of a plan's measures in number order, filtered by action and department.
    pub async fn list_measures(&self, request: &pb::ListMeasuresRequest) -> Result<pb::ListMeasuresResponse> {
        let (id, _) = parse_plan_name(&request.parent, "parent", false)?;
        let filter = format!(
            "measures|{id}|{}|{}|{}",
            request.action_number, request.department, request.lead_only
        );
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let loaded = self.load(&id, None).await?;
        let parts = self.directory.parts().await?;
        if !request.department.is_empty() && parts.unit(&request.department).is_none() {
            return Err(MeasuresError::invalid(
                "department",
                format!("{:?} is not a department code in the directory", request.department),
            ));
        }
        let designations = self.directory.designations("", "").await?;
        // Where the department is designated, as the departments service answers it.
        let designated: BTreeSet<(String, String)> = if request.department.is_empty() {
            BTreeSet::new()
        } else {
            self.directory
                .designations("", &request.department)
                .await?
                .into_iter()
                .map(|d| (d.group, d.scope))
                .collect()
        };
        let mut measures: Vec<_> = loaded
            .content
            .plan
            .measures
            .iter()
            .filter(|m| request.action_number == 0 || i64::from(m.action) == i64::from(request.action_number))
            .filter(|m| {
                request.department.is_empty()
                    || responsible(
                        &parts,
                        &designated,
                        loaded.content.units_of(&m.number),
                        &convert::measure_scope(&id, &m.number),
                        &request.department,
                        request.lead_only,
                    )
            })
            .collect();
        measures.sort_by_key(|m| convert::measure_order(&m.number));
        Ok(pb::ListMeasuresResponse {
            measures: measures
                .iter()
                .skip(page.offset as usize)
                .take(page.size as usize)
                .map(|m| measure_message(&id, &loaded.content, m, &parts, &designations))
                .collect(),
            next_page_token: page.next_token(measures.len() as u64, &filter),
        })
    }

    /// A plan as the dataset ImportPlan takes.
    pub async fn get_plan_dataset(&self, name: &str) -> Result<pb::PlanDataset> {
        let (id, revision) = parse_plan_name(name, "name", true)?;
        let loaded = self.load(&id, revision).await?;
        let parts = self.directory.parts().await?;
        let designations = self.directory.designations("", "").await?;
        let content = &loaded.content;
        let targets = match revision {
            Some(_) => content
                .plan
                .targets
                .iter()
                .map(|t| dataset::stored_target_to_proto(content, t))
                .collect(),
            None => self.current_targets(&id).await?,
        };
        let mut plan = plan_message(&loaded, revision.is_some());
        plan.etag = convert::etag(loaded.plan.current_revision);
        Ok(pb::PlanDataset {
            plan: Some(plan),
            actions: content.plan.actions.iter().map(|a| action_message(&id, a)).collect(),
            measures: content
                .plan
                .measures
                .iter()
                .map(|m| measure_message(&id, content, m, &parts, &designations))
                .collect(),
            targets,
        })
    }

    /// Every current target of a plan, from the targets service.
    async fn current_targets(&self, id: &str) -> Result<Vec<tpb::Target>> {
        let mut client = self.targets.clone();
        let mut targets = Vec::new();
        let mut token = String::new();
        loop {
            let page = match client
                .list_targets(tpb::ListTargetsRequest {
                    parent: convert::plan_name(id, None),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
            {
                Ok(page) => page.into_inner(),
                // Never synced: the plan has no targets.
                Err(status) if status.code() == Code::NotFound => return Ok(targets),
                Err(status) => return Err(MeasuresError::dependency("targets", &status)),
            };
            targets.extend(page.targets);
            token = page.next_page_token;
            if token.is_empty() {
                return Ok(targets);
            }
        }
    }

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
            return Err(MeasuresError::EtagMismatch {
                name: convert::plan_name(&id, None),
                current: convert::etag(current.plan.current_revision),
            });
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
        if let Err(error) = self.targets.clone().sync_plan_targets(sync).await {
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
            let conflict = MeasuresError::EtagMismatch {
                name: convert::plan_name(&id, None),
                current: convert::etag(now),
            };
            return match self.replay(&key).await? {
                Some(done) => Ok(done),
                None => Err(conflict),
            };
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

    /// The current revision, or a stored one, of a plan.
    async fn load(&self, id: &str, revision: Option<i32>) -> Result<Loaded> {
        let name = convert::plan_name(id, None);
        let plan = self.store.plan(id).await?.ok_or_else(|| not_found("plan", &name))?;
        let wanted = revision.unwrap_or(plan.current_revision);
        let revision = self
            .store
            .revision(id, wanted)
            .await?
            .ok_or_else(|| not_found("revision", &convert::plan_name(id, Some(wanted))))?;
        let content = parse_content(&revision)?;
        Ok(Loaded {
            plan,
            revision,
            content,
        })
    }

    /// As [`Measures::load`] for the current revision, a missing plan being reported as
    /// the missing child `resource`.
    async fn load_or(&self, id: &str, resource: &'static str, name: &str) -> Result<Loaded> {
        match self.load(id, None).await {
            Err(MeasuresError::NotFound { .. }) => Err(not_found(resource, name)),
            other => other,
        }
    }

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
}

/// A dataset checked against the directory.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Every problem, in dataset order.
    pub problems: Vec<ImportProblem>,
    /// Responsible units, as written, in neither the directory nor a pinned code.
    pub unresolved: Vec<String>,
    /// The content to store (meaningful only without problems).
    pub content: PlanContent,
}

/// Reads, validates and resolves a dataset against `directory`; pure.
pub(crate) fn check(data: &pb::PlanDataset, read: dataset::Read, directory: &Directory) -> Checked {
    let dataset::Read {
        mut plan,
        target_milestones,
        mut problems,
    } = read;
    let mut unresolved = Vec::new();
    let mut pinned: BTreeSet<String> = BTreeSet::new();
    let mut units = BTreeMap::new();
    for (i, (m, pm)) in plan.measures.iter().zip(&data.measures).enumerate() {
        let key = if m.number.trim().is_empty() {
            format!("#{i}")
        } else {
            m.number.clone()
        };
        let any_lead = pm.responsible_units.iter().any(|u| u.lead);
        let mut refs = Vec::new();
        for (j, unit) in pm.responsible_units.iter().enumerate() {
            let path = format!("measures[{key}].responsible_units[{j}]");
            let resolved = if unit.code.is_empty() {
                directory.resolve(&unit.as_written)
            } else if directory.unit(&unit.code).is_some() {
                pinned.insert(path.clone());
                Some(Resolved::Unit(unit.code.clone()))
            } else if directory.group(&unit.code).is_some() {
                pinned.insert(path.clone());
                Some(Resolved::Group(unit.code.clone()))
            } else {
                pinned.insert(path.clone());
                problems.push(dataset::problem(
                    format!("{path}.code"),
                    format!(
                        "pinned code `{}` is not a department or group in the directory",
                        unit.code
                    ),
                    ImportProblemKind::UnresolvedUnit,
                ));
                None
            };
            match resolved {
                Some(Resolved::Unit(code)) => refs.push(UnitRef {
                    display_name: directory.unit(&code).map(|u| u.name.clone()).unwrap_or_default(),
                    code,
                    group: false,
                    lead: if any_lead { unit.lead } else { j == 0 },
                }),
                Some(Resolved::Group(code)) => refs.push(UnitRef {
                    display_name: directory.group(&code).map(|g| g.name.clone()).unwrap_or_default(),
                    code,
                    group: true,
                    lead: if any_lead { unit.lead } else { j == 0 },
                }),
                None => {
                    if !unit.as_written.trim().is_empty() && !unresolved.contains(&unit.as_written) {
                        unresolved.push(unit.as_written.clone());
                    }
                }
            }
        }
        units.insert(m.number.clone(), refs);
    }
    let structural: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
    for found in plan.validate(directory) {
        // A pinned unit need not resolve by name, and a field already reported as
        // unreadable is not reported again through its placeholder.
        let pinned_ok = pinned.contains(&found.path)
            && !problems.iter().any(|p| p.path == format!("{}.code", found.path))
            && found.message.contains("is not a unit or group");
        if pinned_ok || structural.iter().any(|s| found.path.starts_with(s.as_str())) {
            continue;
        }
        let kind = dataset::classify(&found);
        problems.push(dataset::problem(found.path, found.message, kind));
    }
    if !problems.is_empty() {
        return Checked {
            problems,
            unresolved,
            content: PlanContent {
                plan,
                units,
                target_milestones,
            },
        };
    }
    canonicalise(&mut plan, &units, directory);
    Checked {
        problems,
        unresolved,
        content: PlanContent {
            plan,
            units,
            target_milestones,
        },
    }
}

/// Puts a valid plan in canonical form: actions, measures and targets in number (then
/// code) order, since their order carries no meaning (the targets service lists them
/// in its own order); each reporter spelled as the responsible unit it names; and a
/// deadline equal to the plan's end left unset.
fn canonicalise(plan: &mut Plan, units: &BTreeMap<String, Vec<UnitRef>>, directory: &Directory) {
    plan.actions.sort_by_key(|a| a.number);
    plan.measures.sort_by_key(|m| convert::measure_order(&m.number));
    plan.targets.sort_by(|a, b| {
        (convert::measure_order(&a.measure), &a.code).cmp(&(convert::measure_order(&b.measure), &b.code))
    });
    let effective_to = plan.header.effective_to;
    let measures = plan.measures.clone();
    for t in &mut plan.targets {
        if t.deadline == Some(effective_to) {
            t.deadline = None;
        }
        let Some(measure) = measures.iter().find(|m| m.number == t.measure) else {
            continue;
        };
        let refs = units.get(&t.measure).map_or(&[][..], Vec::as_slice);
        for reporter in &mut t.reporters {
            let code = directory.resolve(reporter).map(|r| r.code().to_owned());
            let position = measure
                .responsible_units
                .iter()
                .position(|w| duban_catalog::normalize_unit_name(w) == duban_catalog::normalize_unit_name(reporter))
                .or_else(|| code.and_then(|code| refs.iter().position(|u| u.code == code)));
            if let Some(written) = position.and_then(|i| measure.responsible_units.get(i)) {
                reporter.clone_from(written);
            }
        }
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

/// Whether `department` is responsible for a measure: listed itself, a member of a
/// listed fixed group, or designated for a listed designated group in its scope.
fn responsible(
    parts: &DirectoryParts,
    designated: &BTreeSet<(String, String)>,
    units: &[UnitRef],
    scope: &str,
    department: &str,
    lead_only: bool,
) -> bool {
    units.iter().filter(|u| !lead_only || u.lead).any(|u| {
        if !u.group {
            return u.code == department;
        }
        match parts.group(&u.code) {
            Some(g) if g.kind == duban_catalog::GroupKind::Fixed => g.members.iter().any(|m| m == department),
            Some(_) => designated.contains(&(u.code.clone(), scope.to_owned())),
            None => false,
        }
    })
}

fn parse_content(revision: &plan_revision::Model) -> Result<PlanContent> {
    PlanContent::from_json(&revision.content).map_err(|error| {
        MeasuresError::Db(sea_orm::DbErr::Custom(format!(
            "stored content of plans/{}@{} does not parse: {error}",
            revision.plan_id, revision.revision
        )))
    })
}

fn plan_message(loaded: &Loaded, with_revision: bool) -> pb::Plan {
    let revision = loaded.revision.revision;
    pb::Plan {
        name: convert::plan_name(&loaded.plan.id, with_revision.then_some(revision)),
        revision,
        revision_create_time: Some(convert::timestamp(loaded.revision.create_time_us)),
        create_time: Some(convert::timestamp(loaded.plan.create_time_us)),
        content_sha256: loaded.revision.content_sha256.clone(),
        etag: convert::etag(revision),
        ..dataset::header_to_proto(&loaded.content.plan.header)
    }
}

fn action_message(id: &str, action: &duban_catalog::Action) -> pb::Action {
    pb::Action {
        name: format!("plans/{id}/actions/{}", action.number),
        etag: convert::content_etag(action),
        ..dataset::action_to_proto(action)
    }
}

fn measure_message(
    id: &str,
    content: &PlanContent,
    measure: &duban_catalog::Measure,
    parts: &DirectoryParts,
    designations: &[Designation],
) -> pb::Measure {
    let scope = convert::measure_scope(id, &measure.number);
    let refs = content.units_of(&measure.number);
    let units = measure
        .responsible_units
        .iter()
        .enumerate()
        .map(|(i, written)| {
            let unit = refs.get(i);
            pb::ResponsibleUnit {
                as_written: written.clone(),
                code: unit.map(|u| u.code.clone()).unwrap_or_default(),
                kind: match unit {
                    Some(u) if u.group => pb::ResponsibleUnitKind::Group,
                    Some(_) => pb::ResponsibleUnitKind::Department,
                    None => pb::ResponsibleUnitKind::Unspecified,
                } as i32,
                display_name: unit.map(|u| u.display_name.clone()).unwrap_or_default(),
                lead: unit.is_some_and(|u| u.lead),
                position: i as i32 + 1,
                member_codes: match unit {
                    Some(u) if u.group => members_of(parts, designations, &u.code, &scope),
                    _ => Vec::new(),
                },
            }
        })
        .collect();
    pb::Measure {
        name: scope,
        etag: convert::content_etag(&(measure, refs)),
        ..dataset::measure_to_proto(measure, units)
    }
}

/// `plans/{id}`, or with `allow_revision` `plans/{id}@{revision}`.
fn parse_plan_name(name: &str, field: &str, allow_revision: bool) -> Result<(String, Option<i32>)> {
    let bad = || {
        MeasuresError::invalid(
            field,
            if allow_revision {
                "must be `plans/{plan}` or `plans/{plan}@{revision}`"
            } else {
                "must be `plans/{plan}`"
            },
        )
    };
    let rest = name.strip_prefix("plans/").ok_or_else(bad)?;
    let (id, revision) = match rest.split_once('@') {
        Some((id, revision)) if allow_revision => {
            let revision: i32 = revision.parse().map_err(|_| bad())?;
            if revision < 1 {
                return Err(bad());
            }
            (id, Some(revision))
        }
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    if id.is_empty() || id.contains('/') {
        return Err(bad());
    }
    Ok((id.to_owned(), revision))
}

/// `plans/{id}/{collection}/{key}`.
fn parse_child(name: &str, collection: &str) -> Result<(String, String)> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["plans", id, c, key] if *c == collection && !id.is_empty() && !key.is_empty() && !id.contains('@') => {
            Ok(((*id).to_owned(), (*key).to_owned()))
        }
        _ => Err(MeasuresError::invalid(
            "name",
            format!("must be `plans/{{plan}}/{collection}/{{key}}`"),
        )),
    }
}

fn not_found(resource: &'static str, name: &str) -> MeasuresError {
    MeasuresError::NotFound {
        resource,
        name: name.to_owned(),
    }
}

fn one(violation: FieldViolation) -> MeasuresError {
    MeasuresError::Invalid(vec![violation])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jiading() -> (Directory, pb::PlanDataset) {
        let (directory, plan) = duban_catalog::jiading_2023();
        let data = dataset::from_catalog(&plan, None);
        (directory, data)
    }

    fn run(data: &pb::PlanDataset, directory: &Directory) -> Checked {
        check(data, dataset::read(data), directory)
    }

    #[test]
    fn the_jiading_plan_checks_out_and_resolves_every_unit() {
        let (directory, data) = jiading();
        let checked = run(&data, &directory);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        assert_eq!(checked.content.units.len(), 29);
        for (number, refs) in &checked.content.units {
            let m = checked.content.plan.measure(number).unwrap();
            assert_eq!(refs.len(), m.responsible_units.len(), "{number}");
            assert!(refs[0].lead);
        }
    }

    #[test]
    fn export_with_codes_hashes_as_the_import_did() {
        let (directory, data) = jiading();
        let first = run(&data, &directory).content;
        // As exported: units pinned by code, reporters as codes, deadlines filled.
        let mut exported = dataset::from_catalog(&first.plan, Some(&directory));
        for t in &mut exported.targets {
            let stored = first.plan.target(&t.code).unwrap();
            t.reporters = dataset::reporter_codes(&first, stored);
            t.deadline.get_or_insert(convert::date(first.plan.header.effective_to));
        }
        exported.targets.reverse();
        exported.measures.reverse();
        let second = run(&exported, &directory).content;
        assert_eq!(first.sha256(), second.sha256());
        assert!(content::changed_paths(&first, &second).is_empty());
    }

    #[test]
    fn every_problem_is_reported_with_its_path_and_kind() {
        let (directory, mut data) = jiading();
        let m42 = data.measures.iter_mut().find(|m| m.number == "4.2").unwrap();
        m42.responsible_units.push(pb::ResponsibleUnit {
            as_written: "区不存在局".into(),
            ..Default::default()
        });
        let position = m42.responsible_units.len() - 1;
        let copy = data.measures.iter().find(|m| m.number == "1.1").unwrap().clone();
        data.measures.push(copy);
        data.targets[0].measure_number = "9.9".into();
        let code = data.targets[0].code.clone();
        let checked = run(&data, &directory);
        let found: Vec<(String, i32)> = checked.problems.iter().map(|p| (p.path.clone(), p.kind)).collect();
        for (path, kind) in [
            (
                format!("measures[4.2].responsible_units[{position}]"),
                ImportProblemKind::UnresolvedUnit,
            ),
            ("measures[1.1].number".to_owned(), ImportProblemKind::DuplicateKey),
            (format!("targets[{code}].measure"), ImportProblemKind::UnknownReference),
        ] {
            assert!(
                found.contains(&(path.clone(), kind as i32)),
                "{path} missing in {found:?}"
            );
        }
        assert_eq!(checked.unresolved, ["区不存在局"]);
    }

    #[test]
    fn a_pinned_code_stands_in_for_an_unknown_spelling() {
        let (directory, mut data) = jiading();
        let m11 = data.measures.iter_mut().find(|m| m.number == "1.1").unwrap();
        m11.responsible_units[0].as_written = "嘉定税务".into();
        m11.responsible_units[0].code = "tax-bureau".into();
        let checked = run(&data, &directory);
        // Reporters written as the old spelling no longer match: only those remain.
        assert!(
            checked.problems.iter().all(|p| p.path.starts_with("targets[")),
            "{:?}",
            checked.problems
        );
        m11_pin_unknown(&directory);
    }

    fn m11_pin_unknown(directory: &Directory) {
        let (_, mut data) = jiading();
        data.measures[0].responsible_units[0].code = "no-such-unit".into();
        let checked = run(&data, directory);
        assert_eq!(
            checked.problems[0].path,
            format!("measures[{}].responsible_units[0].code", data.measures[0].number)
        );
    }

    #[test]
    fn names_are_parsed_strictly() {
        assert_eq!(parse_plan_name("plans/a", "name", true).unwrap(), ("a".into(), None));
        assert_eq!(
            parse_plan_name("plans/a@2", "name", true).unwrap(),
            ("a".into(), Some(2))
        );
        assert!(parse_plan_name("plans/a@2", "name", false).is_err());
        assert!(parse_plan_name("plans/a@0", "name", true).is_err());
        assert!(parse_plan_name("plan/a", "name", true).is_err());
        assert_eq!(
            parse_child("plans/a/measures/4.2", "measures").unwrap(),
            ("a".into(), "4.2".into())
        );
        assert!(parse_child("plans/a/actions/4", "measures").is_err());
    }
}
