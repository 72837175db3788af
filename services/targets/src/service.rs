//! The targets domain: the [`Targets`] type, target names, and finding the revision a name refers to.

use duban_kit::{FieldViolation, client::ServiceChannel, idempotency};
use duban_plan::measure_order;
use duban_proto::departments::v1::departments_service_client::DepartmentsServiceClient;
use duban_proto::targets::v1::ErrorReason;

use crate::{convert, entity::target_revision, error::TargetsError, rules, store::TargetStore};

pub use crate::reading::MAX_TRAJECTORY_DATES;

/// The departments service, asked whether a department code exists.
pub type DirectoryClient = DepartmentsServiceClient<ServiceChannel>;

/// The targets domain over its store.
#[derive(Debug, Clone)]
pub struct Targets {
    pub(crate) store: TargetStore,
    pub(crate) directory: Option<DirectoryClient>,
}

pub(crate) type Result<T> = std::result::Result<T, TargetsError>;

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

impl Targets {
    /// Wraps a migrated store; `directory` checks department codes in ListTargets
    /// (without one, any well-formed code is accepted).
    pub fn new(store: TargetStore, directory: Option<DirectoryClient>) -> Self {
        Self { store, directory }
    }

    /// The revision a reference names: the asked one, or the current one of a target
    /// that is not retired.
    pub(crate) async fn resolve(&self, reference: &TargetRef, name: &str) -> Result<target_revision::Model> {
        let db = self.store.db();
        let pointer = self
            .store
            .target(db, &reference.plan, &reference.code)
            .await?
            .ok_or_else(|| not_found(ErrorReason::TargetNotFound, name))?;
        match reference.revision {
            Some(revision) => self
                .store
                .revision(db, &reference.plan, &reference.code, revision)
                .await?
                .ok_or_else(|| not_found(ErrorReason::RevisionNotFound, name)),
            None if pointer.retired => Err(not_found(ErrorReason::TargetNotFound, name)),
            None => {
                self.revision_of(&reference.plan, &reference.code, pointer.revision)
                    .await
            }
        }
    }

    pub(crate) async fn revision_of(&self, plan: &str, code: &str, revision: i32) -> Result<target_revision::Model> {
        self.store
            .revision(self.store.db(), plan, code, revision)
            .await?
            .ok_or_else(|| {
                not_found(
                    ErrorReason::RevisionNotFound,
                    &convert::revision_name(plan, code, revision),
                )
            })
    }
}

/// Measure-number (numerically) then code order.
pub(crate) fn sort_rows(rows: &mut [target_revision::Model]) {
    rows.sort_by(|a, b| (measure_order(&a.measure_number), &a.code).cmp(&(measure_order(&b.measure_number), &b.code)));
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

pub(crate) fn not_found(reason: ErrorReason, name: &str) -> TargetsError {
    duban_kit::error::NotFound::new(reason, name).into()
}

pub(crate) fn one(violation: FieldViolation) -> TargetsError {
    TargetsError::Invalid(vec![violation])
}

impl idempotency::RequestLogged for Targets {
    type Error = TargetsError;

    fn request_log_db(&self) -> &sea_orm::DatabaseConnection {
        self.store.db()
    }
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
