//! The departments domain: reading and changing the directory, with the rules on who
//! may do what, what is valid, and how retries and concurrent edits behave.

use duban_catalog::directory::{UnitKind, normalize_unit_name};
use duban_kit::{
    FieldViolation, Principal,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::departments::v1 as pb;
use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::{
    convert,
    entity::{designation, unit},
    error::DepartmentsError,
    store::{DirectoryStore, NameOwner, is_unique_violation},
};

/// The departments domain over its store.
#[derive(Debug, Clone)]
pub struct Departments {
    pub(crate) store: DirectoryStore,
}

type Result<T> = std::result::Result<T, DepartmentsError>;

impl Departments {
    /// Wraps a migrated store.
    pub fn new(store: DirectoryStore) -> Self {
        Self { store }
    }

    /// One unit by resource name.
    pub async fn get_department(&self, name: &str) -> Result<pb::Department> {
        let code = parse_name(name, "departments/", "name")?;
        let row = self
            .store
            .unit(code)
            .await?
            .ok_or_else(|| not_found("department", name))?;
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
            .ok_or_else(|| not_found("department", &patch.name))?;
        if !patch.etag.is_empty() && patch.etag != convert::etag(current.version) {
            return Err(DepartmentsError::EtagMismatch {
                name: patch.name,
                current: convert::etag(current.version),
            });
        }
        let paths: Vec<&str> = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let touches = |field: &str| paths.is_empty() || paths.contains(&field);
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
            let conflict = DepartmentsError::EtagMismatch {
                name: format!("departments/{code}"),
                current: convert::etag(now),
            };
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        self.store
            .set_names(&txn, &NameOwner::Unit(code), &names)
            .await
            .map_err(name_taken)?;
        self.finish(txn, key, response).await
    }

    /// One group by resource name.
    pub async fn get_group(&self, name: &str) -> Result<pb::Group> {
        let code = parse_name(name, "groups/", "name")?;
        let row = self.store.group(code).await?.ok_or_else(|| not_found("group", name))?;
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
        let target = target.ok_or_else(|| not_found("unit", written))?;
        Ok(pb::ResolveUnitResponse {
            normalized,
            target: Some(target),
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
                    "designation",
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
            designations: rows
                .iter()
                .skip(page.offset as usize)
                .take(page.size as usize)
                .map(convert::designation)
                .collect(),
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
            if draft.members[..index].contains(member) {
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
        if let Some(current) = &current
            && !draft.etag.is_empty()
            && draft.etag != convert::etag(current.version)
        {
            return Err(DepartmentsError::EtagMismatch {
                name: convert::designation_name(&draft.group, &draft.scope),
                current: convert::etag(current.version),
            });
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
            let conflict = DepartmentsError::EtagMismatch {
                name: convert::designation_name(&draft.group, &draft.scope),
                current: now.map_or_else(String::new, |row| convert::etag(row.version)),
            };
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        self.finish(txn, key, response).await
    }

    /// The stored response of an already-acknowledged request.
    pub(crate) async fn replay<R: prost::Message + Default>(&self, key: &Option<RequestKey>) -> Result<Option<R>> {
        Ok(idempotency::replay_keyed(self.store.db(), key).await?)
    }

    /// Records the response under the request id and commits; if a concurrent retry
    /// with the same id committed first, answers what that one answered.
    pub(crate) async fn finish<R: prost::Message + Default>(
        &self,
        txn: DatabaseTransaction,
        key: Option<RequestKey>,
        response: R,
    ) -> Result<R> {
        Ok(idempotency::commit(self.store.db(), txn, &key, response).await?)
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
                    return Err(DepartmentsError::AlreadyExists {
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

    /// Begins a transaction (for seeding and credentials).
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction> {
        Ok(self.store.db().begin().await?)
    }
}

/// Validates a unit's fields; returns its kind and its normalised names.
fn validate_department(draft: &pb::Department, prefix: &str, check_code: bool) -> Result<(UnitKind, Vec<String>)> {
    let mut violations = Vec::new();
    if check_code && !is_slug(&draft.code) {
        violations.push(FieldViolation::new(
            format!("{prefix}.code"),
            "must be a lowercase ascii slug such as `tax-bureau`, at most 63 characters",
        ));
    }
    let name = normalize_unit_name(&draft.display_name);
    if name.is_empty() || draft.display_name.chars().count() > 100 {
        violations.push(FieldViolation::new(
            format!("{prefix}.display_name"),
            "must be 1 to 100 characters",
        ));
    }
    if draft.display_name_en.chars().count() > 200 {
        violations.push(FieldViolation::new(
            format!("{prefix}.display_name_en"),
            "must be at most 200 characters",
        ));
    }
    let kind = convert::unit_kind_from_proto(draft.kind);
    if kind.is_none() {
        violations.push(FieldViolation::new(
            format!("{prefix}.kind"),
            "must be a known kind, not UNSPECIFIED",
        ));
    }
    let mut names = vec![name];
    for (index, alias) in draft.aliases.iter().enumerate() {
        let normalized = normalize_unit_name(alias);
        if normalized.is_empty() {
            violations.push(FieldViolation::new(
                format!("{prefix}.aliases[{index}]"),
                "must not be empty",
            ));
        } else if names.contains(&normalized) {
            violations.push(FieldViolation::new(
                format!("{prefix}.aliases[{index}]"),
                "repeats another name of this unit",
            ));
        } else {
            names.push(normalized);
        }
    }
    match kind {
        Some(kind) if violations.is_empty() => Ok((kind, names)),
        _ => Err(DepartmentsError::Invalid(violations)),
    }
}

/// Whether `code` is a lowercase ASCII slug.
fn is_slug(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 63
        && code
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The id part of a resource name.
fn parse_name<'a>(name: &'a str, prefix: &str, field: &str) -> Result<&'a str> {
    match name.strip_prefix(prefix) {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(DepartmentsError::invalid(
            field,
            format!("must be a resource name of the form `{prefix}{{code}}`"),
        )),
    }
}

fn not_found(resource: &'static str, name: &str) -> DepartmentsError {
    DepartmentsError::NotFound {
        resource,
        name: name.to_owned(),
    }
}

fn code_taken(code: &str) -> DepartmentsError {
    DepartmentsError::AlreadyExists {
        field: "department.code".into(),
        what: format!("code {code:?}"),
        owner: "another unit or group".into(),
    }
}

fn one(violation: FieldViolation) -> DepartmentsError {
    DepartmentsError::Invalid(vec![violation])
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

/// A unique violation on the names table means a concurrent writer took a spelling.
fn name_taken(error: sea_orm::DbErr) -> DepartmentsError {
    if is_unique_violation(&error) {
        DepartmentsError::AlreadyExists {
            field: "department.aliases".into(),
            what: "a name or alias".into(),
            owner: "another unit or group".into(),
        }
    } else {
        DepartmentsError::Db(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> pb::Department {
        pb::Department {
            code: "tax-bureau".into(),
            display_name: "区税务局".into(),
            kind: pb::DepartmentKind::Bureau as i32,
            aliases: vec!["嘉定区税务局".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_unit_yields_its_normalised_names() {
        let (kind, names) = validate_department(&draft(), "department", true).unwrap();
        assert_eq!(kind, UnitKind::Bureau);
        assert_eq!(names, ["区税务局", "嘉定区税务局"]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = pb::Department {
            code: "Tax Bureau".into(),
            display_name: " ".into(),
            kind: 0,
            aliases: vec!["区税务局".into(), "".into()],
            ..Default::default()
        };
        let Err(DepartmentsError::Invalid(violations)) = validate_department(&bad, "department", true) else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "department.code",
                "department.display_name",
                "department.kind",
                "department.aliases[1]"
            ]
        );
    }

    #[test]
    fn aliases_equal_after_normalisation_are_duplicates() {
        let mut unit = draft();
        unit.aliases = vec!["区经委(金融办)".into(), "区经委（金融办）".into()];
        let Err(DepartmentsError::Invalid(violations)) = validate_department(&unit, "department", true) else {
            panic!("expected invalid")
        };
        assert_eq!(violations[0].field, "department.aliases[1]");
    }

    #[test]
    fn slugs_and_names_are_parsed_strictly() {
        assert!(is_slug("nanxiang-town") && is_slug("a1"));
        assert!(!is_slug("-a") && !is_slug("a--b") && !is_slug("A") && !is_slug(""));
        assert_eq!(
            parse_name("departments/tax-bureau", "departments/", "name").unwrap(),
            "tax-bureau"
        );
        assert!(parse_name("groups/all-towns", "departments/", "name").is_err());
        assert!(parse_name("departments/a/b", "departments/", "name").is_err());
    }
}
