//! Groups, and the per-scope designations of a designated group's members.

use duban_catalog::directory::UnitKind;
use duban_kit::idempotency::RequestLogged as _;
use duban_kit::{
    FieldViolation, Principal,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::departments::v1 as pb;
use duban_proto::departments::v1::ErrorReason;

use super::{Departments, Result, not_found, one, validation::parse_name};
use crate::{convert, entity::designation, error::DepartmentsError, store::is_unique_violation};

impl Departments {
    /// One group by resource name.
    pub async fn get_group(&self, name: &str) -> Result<pb::Group> {
        let code = parse_name(name, "groups/", "name")?;
        let row = self
            .store
            .group(code)
            .await?
            .ok_or_else(|| not_found(ErrorReason::GroupNotFound, name))?;
        Ok(convert::group(&row))
    }

    /// A page of groups.
    pub async fn list_groups(&self, request: &pb::ListGroupsRequest) -> Result<pb::ListGroupsResponse> {
        let page = Page::from_request(request.page_size, &request.page_token, "groups").map_err(one)?;
        let (rows, total) = self.store.groups(page.offset, page.size).await?;
        Ok(pb::ListGroupsResponse {
            groups: rows.iter().map(convert::group).collect(),
            next_page_token: page.next_token(total, "groups"),
        })
    }
    /// The members designated for a group within a scope.
    pub async fn get_designation(&self, request: &pb::GetGroupDesignationRequest) -> Result<pb::GroupDesignation> {
        let row = self
            .store
            .designation(&request.group, &request.scope)
            .await?
            .ok_or_else(|| {
                not_found(
                    ErrorReason::DesignationNotFound,
                    &convert::designation_name(&request.group, &request.scope),
                )
            })?;
        Ok(convert::designation(&row))
    }

    /// Designations matching the request's filters.
    pub async fn list_designations(
        &self,
        request: &pb::ListGroupDesignationsRequest,
    ) -> Result<pb::ListGroupDesignationsResponse> {
        let filter = format!("{}|{}|{}", request.group, request.scope, request.member);
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let rows = self
            .store
            .designations(non_empty(&request.group), non_empty(&request.scope))
            .await?
            .into_iter()
            .filter(|row| {
                request.member.is_empty() || convert::json_list::<String>(&row.members).contains(&request.member)
            })
            .collect::<Vec<_>>();
        let total = rows.len() as u64;
        Ok(pb::ListGroupDesignationsResponse {
            designations: page.window(&rows).map(convert::designation).collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// Sets the members of a designated group within a scope (ADMIN).
    pub async fn update_designation(
        &self,
        caller: &Principal,
        request: pb::UpdateGroupDesignationRequest,
    ) -> Result<pb::GroupDesignation> {
        caller.require_admin("designating group members")?;
        let key = RequestKey::new(&caller.label(), "UpdateGroupDesignation", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let draft = request.designation.unwrap_or_default();
        let mut violations = Vec::new();
        if draft.scope.trim().is_empty() {
            violations.push(FieldViolation::new(
                "designation.scope",
                "must name what the designation applies to",
            ));
        }
        let group = self.store.group(&draft.group).await?;
        let allowed: Vec<UnitKind> = match &group {
            None => {
                violations.push(FieldViolation::new(
                    "designation.group",
                    format!("{:?} is not a group", draft.group),
                ));
                Vec::new()
            }
            Some(group) if group.kind != "designated" => {
                violations.push(FieldViolation::new(
                    "designation.group",
                    format!("{:?} has fixed members and takes no designation", draft.group),
                ));
                Vec::new()
            }
            Some(group) => convert::json_list(&group.member_kinds),
        };
        for (index, member) in draft.members.iter().enumerate() {
            let field = format!("designation.members[{index}]");
            if draft.members.iter().take(index).any(|earlier| earlier == member) {
                violations.push(FieldViolation::new(field, format!("{member:?} is listed twice")));
                continue;
            }
            match self.store.unit(member).await? {
                None => violations.push(FieldViolation::new(field, format!("{member:?} is not a unit code"))),
                Some(unit) => {
                    let kind = convert::unit_kind_from_str(&unit.kind);
                    if !allowed.is_empty() && !kind.is_some_and(|kind| allowed.contains(&kind)) {
                        violations.push(FieldViolation::new(
                            field,
                            format!("{member:?} is a {}, which this group does not admit", unit.kind),
                        ));
                    }
                }
            }
        }
        if !violations.is_empty() {
            return Err(DepartmentsError::Invalid(violations));
        }
        let current = self.store.designation(&draft.group, &draft.scope).await?;
        // AIP-134: only an explicit allow_missing creates, so a typo in `scope` is
        // NOT_FOUND instead of a new designation nobody asked for.
        if current.is_none() && !request.allow_missing {
            return Err(not_found(
                ErrorReason::DesignationNotFound,
                &convert::designation_name(&draft.group, &draft.scope),
            ));
        }
        if let Some(current) = &current
            && !draft.etag.is_empty()
            && draft.etag != convert::etag(current.version)
        {
            return Err(DepartmentsError::from(duban_kit::error::EtagMismatch {
                name: convert::designation_name(&draft.group, &draft.scope),
                current: convert::etag(current.version),
            }));
        }
        let row = designation::Model {
            group_code: draft.group.clone(),
            scope: draft.scope.clone(),
            members: convert::to_json(&draft.members),
            version: current.as_ref().map_or(1, |current| current.version + 1),
            update_time_us: chrono::Utc::now().timestamp_micros(),
        };
        let response = convert::designation(&row);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        // As for units: write only over the version read, and create only if no
        // concurrent call created it first.
        let written = match &current {
            Some(current) => {
                self.store
                    .update_designation_if_version(&txn, row, current.version)
                    .await?
            }
            None => match self.store.save_designation(&txn, row, false).await {
                Ok(()) => true,
                Err(error) if is_unique_violation(&error) => false,
                Err(error) => return Err(error.into()),
            },
        };
        if !written {
            txn.rollback().await?;
            let now = self.store.designation(&draft.group, &draft.scope).await?;
            let conflict = DepartmentsError::from(duban_kit::error::EtagMismatch {
                name: convert::designation_name(&draft.group, &draft.scope),
                current: now.map_or_else(String::new, |row| convert::etag(row.version)),
            });
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        self.finish(txn, key, response).await
    }
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}
