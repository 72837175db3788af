//! Reading plans, their revisions, actions and measures, and a whole plan as the dataset ImportPlan takes.

use duban_proto::measures::v1::ErrorReason;
use std::collections::BTreeSet;

use duban_kit::paging::Page;
use duban_proto::{measures::v1 as pb, targets::v1 as tpb};
use tonic::Code;

use crate::{
    content::UnitRef,
    convert, dataset,
    directory::DirectoryParts,
    error::MeasuresError,
    service::{
        Loaded, Measures, Result, action_message, measure_message, not_found, one, parse_child, parse_content,
        parse_plan_name, plan_message,
    },
};

impl Measures {
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
            .ok_or_else(|| not_found(ErrorReason::PlanNotFound, &request.name))?;
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
        let loaded = self.load_or(&id, ErrorReason::ActionNotFound, name).await?;
        let action = loaded
            .content
            .plan
            .action(number)
            .ok_or_else(|| not_found(ErrorReason::ActionNotFound, name))?;
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
            actions: page.window(&actions).map(|a| action_message(&id, a)).collect(),
            next_page_token: page.next_token(actions.len() as u64, &filter),
        })
    }

    /// One measure of a plan's current revision, its units resolved.
    pub async fn get_measure(&self, name: &str) -> Result<pb::Measure> {
        let (id, number) = parse_child(name, "measures")?;
        let loaded = self.load_or(&id, ErrorReason::MeasureNotFound, name).await?;
        let measure = loaded
            .content
            .plan
            .measure(&number)
            .ok_or_else(|| not_found(ErrorReason::MeasureNotFound, name))?;
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
            measures: page
                .window(&measures)
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
        let listed = duban_plan::listing::all_targets(&self.targets, &convert::plan_name(id, None)).await;
        match listed {
            Ok(targets) => Ok(targets),
            // Never synced: the plan has no targets.
            Err(status) if status.code() == Code::NotFound => Ok(Vec::new()),
            Err(status) => Err(MeasuresError::dependency("targets", &status)),
        }
    }
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
