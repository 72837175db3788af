//! The measures domain: the [`Measures`] type, loading stored revisions, and the messages and names its parts share.

use duban_kit::{FieldViolation, client::ServiceChannel, idempotency};
use duban_proto::measures::v1::ErrorReason;
use duban_proto::{
    measures::v1 as pb,
    targets::v1::{
        targets_internal_service_client::TargetsInternalServiceClient, targets_service_client::TargetsServiceClient,
    },
};

use crate::{
    content::PlanContent,
    convert, dataset,
    directory::{Designation, DirectoryClient, DirectoryParts, members_of},
    entity::{plan, plan_revision},
    error::MeasuresError,
    store::PlanStore,
};

pub(crate) type Result<T> = std::result::Result<T, MeasuresError>;

/// The measures domain over its store and the services it asks.
#[derive(Debug, Clone)]
pub struct Measures {
    pub(crate) store: PlanStore,
    pub(crate) directory: DirectoryClient,
    /// Reads targets (the public service).
    pub(crate) targets: TargetsServiceClient<ServiceChannel>,
    /// Hands an import's targets over (`SyncPlanTargets`, the internal service).
    pub(crate) targets_sync: TargetsInternalServiceClient<ServiceChannel>,
}

/// A stored revision, read.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) plan: plan::Model,
    pub(crate) revision: plan_revision::Model,
    pub(crate) content: PlanContent,
}

impl Measures {
    /// Wraps a migrated store and clients of the departments and targets services.
    pub fn new(store: PlanStore, directory: DirectoryClient, targets: ServiceChannel) -> Self {
        Self {
            store,
            directory,
            targets: TargetsServiceClient::new(targets.clone()),
            targets_sync: TargetsInternalServiceClient::new(targets),
        }
    }

    /// The current revision, or a stored one, of a plan.
    pub(crate) async fn load(&self, id: &str, revision: Option<i32>) -> Result<Loaded> {
        let name = convert::plan_name(id, None);
        let plan = self
            .store
            .plan(id)
            .await?
            .ok_or_else(|| not_found(ErrorReason::PlanNotFound, &name))?;
        let wanted = revision.unwrap_or(plan.current_revision);
        let revision = self
            .store
            .revision(id, wanted)
            .await?
            .ok_or_else(|| not_found(ErrorReason::RevisionNotFound, &convert::plan_name(id, Some(wanted))))?;
        let content = parse_content(&revision)?;
        Ok(Loaded {
            plan,
            revision,
            content,
        })
    }

    /// As [`Measures::load`] for the current revision, a missing plan being reported as
    /// the missing child (`reason`).
    pub(crate) async fn load_or(&self, id: &str, reason: ErrorReason, name: &str) -> Result<Loaded> {
        match self.load(id, None).await {
            Err(MeasuresError::NotFound(_)) => Err(not_found(reason, name)),
            other => other,
        }
    }
}

pub(crate) fn parse_content(revision: &plan_revision::Model) -> Result<PlanContent> {
    PlanContent::from_json(&revision.content).map_err(|error| {
        MeasuresError::Db(sea_orm::DbErr::Custom(format!(
            "stored content of plans/{}@{} does not parse: {error}",
            revision.plan_id, revision.revision
        )))
    })
}

pub(crate) fn plan_message(loaded: &Loaded, with_revision: bool) -> pb::Plan {
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

pub(crate) fn action_message(id: &str, action: &duban_catalog::Action) -> pb::Action {
    pb::Action {
        name: format!("plans/{id}/actions/{}", action.number),
        etag: convert::content_etag(action),
        ..dataset::action_to_proto(action)
    }
}

pub(crate) fn measure_message(
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
pub(crate) fn parse_plan_name(name: &str, field: &str, allow_revision: bool) -> Result<(String, Option<i32>)> {
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
pub(crate) fn parse_child(name: &str, collection: &str) -> Result<(String, String)> {
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

pub(crate) fn not_found(reason: ErrorReason, name: &str) -> MeasuresError {
    duban_kit::error::NotFound::new(reason, name).into()
}

pub(crate) fn one(violation: FieldViolation) -> MeasuresError {
    MeasuresError::Invalid(vec![violation])
}

impl idempotency::RequestLogged for Measures {
    type Error = MeasuresError;

    fn request_log_db(&self) -> &sea_orm::DatabaseConnection {
        self.store.db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
