//! Units: getting, listing, creating and updating departments, and resolving written names.

use duban_catalog::directory::normalize_unit_name;
use duban_kit::idempotency::RequestLogged as _;
use duban_kit::{
    FieldViolation, Principal,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::departments::v1 as pb;
use duban_proto::departments::v1::ErrorReason;

use super::{
    Departments, Result, not_found, one,
    validation::{parse_name, validate_department},
};
use crate::{
    convert,
    entity::unit,
    error::DepartmentsError,
    store::{NameOwner, is_unique_violation},
};

impl Departments {
    /// One unit by resource name.
    pub async fn get_department(&self, name: &str) -> Result<pb::Department> {
        let code = parse_name(name, "departments/", "name")?;
        let row = self
            .store
            .unit(code)
            .await?
            .ok_or_else(|| not_found(ErrorReason::DepartmentNotFound, name))?;
        Ok(convert::department(&row))
    }

    /// A page of units.
    pub async fn list_departments(&self, request: &pb::ListDepartmentsRequest) -> Result<pb::ListDepartmentsResponse> {
        let kind = match request.kind {
            0 => None,
            kind => Some(
                convert::unit_kind_from_proto(kind)
                    .ok_or_else(|| DepartmentsError::invalid("kind", "is not a known department kind"))?,
            ),
        };
        let filter = format!("kind={}", request.kind);
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let (rows, total) = self
            .store
            .units(kind.map(convert::unit_kind_str), page.offset, page.size)
            .await?;
        Ok(pb::ListDepartmentsResponse {
            departments: rows.iter().map(convert::department).collect(),
            next_page_token: page.next_token(total, &filter),
            total_size: total as i32,
        })
    }

    /// Adds a unit (ADMIN).
    pub async fn create_department(
        &self,
        caller: &Principal,
        request: pb::CreateDepartmentRequest,
    ) -> Result<pb::Department> {
        caller.require_admin("creating a department")?;
        let key = RequestKey::new(&caller.label(), "CreateDepartment", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let draft = request.department.unwrap_or_default();
        let (kind, names) = validate_department(&draft, "department", true)?;
        if self.store.unit(&draft.code).await?.is_some() || self.store.group(&draft.code).await?.is_some() {
            // A retry that raced its own first call finds the unit made: it gets that answer.
            return idempotency::replay_or_conflict(self.store.db(), &key, code_taken(&draft.code)).await;
        }
        self.check_names_free(&names, &draft.code, &draft.aliases).await?;
        let now = chrono::Utc::now().timestamp_micros();
        let row = unit::Model {
            code: draft.code.clone(),
            name: draft.display_name.trim().to_owned(),
            name_en: draft.display_name_en.trim().to_owned(),
            kind: convert::unit_kind_str(kind).to_owned(),
            aliases: convert::to_json(&draft.aliases),
            version: 1,
            seed_sha256: None,
            create_time_us: now,
            update_time_us: now,
        };
        let response = convert::department(&row);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        if let Err(error) = self.store.save_unit(&txn, row, false).await {
            txn.rollback().await?;
            if is_unique_violation(&error) {
                // A concurrent create of the same code committed first.
                return idempotency::replay_or_conflict(self.store.db(), &key, code_taken(&draft.code)).await;
            }
            return Err(error.into());
        }
        self.store
            .set_names(&txn, &NameOwner::Unit(draft.code.clone()), &names)
            .await
            .map_err(name_taken)?;
        self.finish(txn, key, response).await
    }

    /// Changes a unit's names, kind or aliases (ADMIN).
    pub async fn update_department(
        &self,
        caller: &Principal,
        request: pb::UpdateDepartmentRequest,
    ) -> Result<pb::Department> {
        caller.require_admin("updating a department")?;
        let key = RequestKey::new(&caller.label(), "UpdateDepartment", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let patch = request.department.unwrap_or_default();
        let code = parse_name(&patch.name, "departments/", "department.name")?.to_owned();
        let current = self
            .store
            .unit(&code)
            .await?
            .ok_or_else(|| not_found(ErrorReason::DepartmentNotFound, &patch.name))?;
        if !patch.etag.is_empty() && patch.etag != convert::etag(current.version) {
            return Err(DepartmentsError::from(duban_kit::error::EtagMismatch {
                name: patch.name,
                current: convert::etag(current.version),
            }));
        }
        let paths: Vec<&str> = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        // AIP-134: without a mask, the fields the request sets are the mask; a field left
        // empty keeps its value (clearing one takes a mask that names it).
        let implied = [
            ("display_name", !patch.display_name.is_empty()),
            ("display_name_en", !patch.display_name_en.is_empty()),
            ("kind", patch.kind != 0),
            ("aliases", !patch.aliases.is_empty()),
        ];
        let touched: Vec<&str> = if paths.is_empty() {
            implied
                .iter()
                .filter(|(_, set)| *set)
                .map(|(field, _)| *field)
                .collect()
        } else {
            paths.clone()
        };
        let touches = |field: &str| touched.contains(&field);
        let mut violations: Vec<FieldViolation> = paths
            .iter()
            .filter(|path| !["display_name", "display_name_en", "kind", "aliases"].contains(path))
            .map(|path| FieldViolation::new("update_mask", format!("{path:?} cannot be updated")))
            .collect();
        let mut merged = convert::department(&current);
        merged.code = code.clone();
        if touches("display_name") {
            merged.display_name = patch.display_name;
        }
        if touches("display_name_en") {
            merged.display_name_en = patch.display_name_en;
        }
        if touches("kind") {
            merged.kind = patch.kind;
        }
        if touches("aliases") {
            merged.aliases = patch.aliases;
        }
        let validated = validate_department(&merged, "department", false);
        let (kind, names) = match validated {
            Ok(ok) if violations.is_empty() => ok,
            Ok(_) => return Err(DepartmentsError::Invalid(violations)),
            Err(DepartmentsError::Invalid(more)) => {
                violations.extend(more);
                return Err(DepartmentsError::Invalid(violations));
            }
            Err(other) => return Err(other),
        };
        self.check_names_free(&names, &code, &merged.aliases).await?;
        let read_version = current.version;
        let row = unit::Model {
            name: merged.display_name.trim().to_owned(),
            name_en: merged.display_name_en.trim().to_owned(),
            kind: convert::unit_kind_str(kind).to_owned(),
            aliases: convert::to_json(&merged.aliases),
            version: current.version + 1,
            update_time_us: chrono::Utc::now().timestamp_micros(),
            ..current
        };
        let response = convert::department(&row);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        // The etag was checked against a read outside this transaction: write only if
        // the row is still at that version, so that two concurrent updates cannot both win.
        if !self.store.update_unit_if_version(&txn, row, read_version).await? {
            txn.rollback().await?;
            let now = self.store.unit(&code).await?.map_or(read_version, |row| row.version);
            let conflict = DepartmentsError::from(duban_kit::error::EtagMismatch {
                name: format!("departments/{code}"),
                current: convert::etag(now),
            });
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        self.store
            .set_names(&txn, &NameOwner::Unit(code), &names)
            .await
            .map_err(name_taken)?;
        self.finish(txn, key, response).await
    }
    /// What a written unit string names.
    pub async fn resolve_unit(&self, written: &str) -> Result<pb::ResolveUnitResponse> {
        let normalized = normalize_unit_name(written);
        if normalized.is_empty() {
            return Err(DepartmentsError::invalid("written", "must name a unit or a group"));
        }
        let target = match self.store.name_owner(self.store.db(), &normalized).await? {
            Some(NameOwner::Unit(code)) => self
                .store
                .unit(&code)
                .await?
                .map(|row| pb::resolve_unit_response::Target::Department(convert::department(&row))),
            Some(NameOwner::Group(code)) => self
                .store
                .group(&code)
                .await?
                .map(|row| pb::resolve_unit_response::Target::Group(convert::group(&row))),
            None => None,
        };
        let target = target.ok_or_else(|| not_found(ErrorReason::UnitNotFound, written))?;
        Ok(pb::ResolveUnitResponse {
            normalized,
            target: Some(target),
        })
    }

    /// ALREADY_EXISTS naming the first alias or name another owner holds.
    async fn check_names_free(&self, names: &[String], code: &str, aliases: &[String]) -> Result<()> {
        for name in names {
            match self.store.name_owner(self.store.db(), name).await? {
                Some(NameOwner::Unit(owner) | NameOwner::Group(owner)) if owner != code => {
                    let field = aliases
                        .iter()
                        .position(|alias| normalize_unit_name(alias) == *name)
                        .map_or_else(
                            || "department.display_name".to_owned(),
                            |index| format!("department.aliases[{index}]"),
                        );
                    return Err(DepartmentsError::NameTaken {
                        field,
                        what: format!("the name {name:?}"),
                        owner,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn code_taken(code: &str) -> DepartmentsError {
    DepartmentsError::CodeTaken { code: code.to_owned() }
}

/// A unique violation on the names table means a concurrent writer took a spelling.
fn name_taken(error: sea_orm::DbErr) -> DepartmentsError {
    if is_unique_violation(&error) {
        DepartmentsError::NameTaken {
            field: "department.aliases".into(),
            what: "a name or alias".into(),
            owner: "another unit or group".into(),
        }
    } else {
        DepartmentsError::Db(error)
    }
}
