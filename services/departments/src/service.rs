//! The departments domain: reading and changing the directory, with the rules on who
//! may do what, what is valid, and how retries and concurrent edits behave.
//!
//! Each family lives in its own submodule: `units` (departments and name resolution),
//! `groups` (groups and their designations), `endpoints` (where units want their
//! notices delivered) and `validation` (a unit's fields and
//! resource names). This module holds the shared state, idempotency and error helpers.

mod endpoints;
mod groups;
mod units;
mod validation;

use duban_kit::{FieldViolation, idempotency};
use duban_proto::departments::v1::ErrorReason;
use sea_orm::{DatabaseTransaction, TransactionTrait};

use crate::{error::DepartmentsError, store::DirectoryStore};

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

    /// Begins a transaction (for seeding and credentials).
    pub(crate) async fn begin(&self) -> Result<DatabaseTransaction> {
        Ok(self.store.db().begin().await?)
    }
}

fn not_found(reason: ErrorReason, name: &str) -> DepartmentsError {
    duban_kit::error::NotFound::new(reason, name).into()
}

fn one(violation: FieldViolation) -> DepartmentsError {
    DepartmentsError::Invalid(vec![violation])
}

impl idempotency::RequestLogged for Departments {
    type Error = DepartmentsError;

    fn request_log_db(&self) -> &sea_orm::DatabaseConnection {
        self.store.db()
    }
}
