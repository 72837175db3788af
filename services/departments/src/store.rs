//! All SQL of the departments service, through sea-orm. Callers get rows back; rules
//! about who may do what and what is valid live in `service`.

use duban_kit::db::by_key;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::entity::{credential, designation, notification_endpoint as endpoint, unit, unit_group, unit_name};

pub use duban_kit::db::is_unique_violation;

/// The departments database.
#[derive(Debug, Clone)]
pub struct DirectoryStore {
    db: DatabaseConnection,
}

/// Who owns a spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOwner {
    /// A unit, by code.
    Unit(String),
    /// A group, by code.
    Group(String),
}

impl DirectoryStore {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection, for transactions.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// One unit.
    pub async fn unit(&self, code: &str) -> Result<Option<unit::Model>, DbErr> {
        by_key(unit::Entity::find_by_id(code.to_owned()), &self.db).await
    }

    /// A page of units in code order, optionally of one kind, and the total count.
    pub async fn units(&self, kind: Option<&str>, offset: u64, limit: u64) -> Result<(Vec<unit::Model>, u64), DbErr> {
        let mut query = unit::Entity::find();
        if let Some(kind) = kind {
            query = query.filter(unit::Column::Kind.eq(kind));
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(unit::Column::Code)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// One group.
    pub async fn group(&self, code: &str) -> Result<Option<unit_group::Model>, DbErr> {
        by_key(unit_group::Entity::find_by_id(code.to_owned()), &self.db).await
    }

    /// A page of groups in code order, and the total count.
    pub async fn groups(&self, offset: u64, limit: u64) -> Result<(Vec<unit_group::Model>, u64), DbErr> {
        let total = unit_group::Entity::find().count(&self.db).await?;
        let rows = unit_group::Entity::find()
            .order_by_asc(unit_group::Column::Code)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// Who owns a normalised spelling.
    pub async fn name_owner(&self, db: &impl ConnectionTrait, normalized: &str) -> Result<Option<NameOwner>, DbErr> {
        Ok(by_key(unit_name::Entity::find_by_id(normalized.to_owned()), db)
            .await?
            .map(|row| match row.owner_type.as_str() {
                "group" => NameOwner::Group(row.owner_code),
                _ => NameOwner::Unit(row.owner_code),
            }))
    }

    /// Replaces the spellings owned by `owner` with `names` (already normalised).
    /// Fails with a unique violation if another owner holds one of them.
    pub async fn set_names(&self, db: &impl ConnectionTrait, owner: &NameOwner, names: &[String]) -> Result<(), DbErr> {
        let (code, kind) = match owner {
            NameOwner::Unit(code) => (code, "unit"),
            NameOwner::Group(code) => (code, "group"),
        };
        unit_name::Entity::delete_many()
            .filter(unit_name::Column::OwnerCode.eq(code.as_str()))
            .exec(db)
            .await?;
        for name in names {
            unit_name::ActiveModel {
                normalized: Set(name.clone()),
                owner_code: Set(code.clone()),
                owner_type: Set(kind.to_owned()),
            }
            .insert(db)
            .await?;
        }
        Ok(())
    }

    /// Inserts or replaces a unit row.
    pub async fn save_unit(&self, db: &impl ConnectionTrait, row: unit::Model, exists: bool) -> Result<(), DbErr> {
        let active: unit::ActiveModel = row.into();
        if exists {
            active.reset_all().update(db).await?;
        } else {
            active.reset_all().insert(db).await?;
        }
        Ok(())
    }

    /// Replaces a unit row only if its stored version is still `expected`; `false` if a
    /// concurrent writer changed it first.
    pub async fn update_unit_if_version(
        &self,
        db: &impl ConnectionTrait,
        row: unit::Model,
        expected: i64,
    ) -> Result<bool, DbErr> {
        let code = row.code.clone();
        let active: unit::ActiveModel = row.into();
        let result = unit::Entity::update_many()
            .set(active.reset_all())
            .filter(unit::Column::Code.eq(code))
            .filter(unit::Column::Version.eq(expected))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Inserts or replaces a group row.
    pub async fn save_group(
        &self,
        db: &impl ConnectionTrait,
        row: unit_group::Model,
        exists: bool,
    ) -> Result<(), DbErr> {
        let active: unit_group::ActiveModel = row.into();
        if exists {
            active.reset_all().update(db).await?;
        } else {
            active.reset_all().insert(db).await?;
        }
        Ok(())
    }

    /// One designation.
    pub async fn designation(&self, group: &str, scope: &str) -> Result<Option<designation::Model>, DbErr> {
        by_key(
            designation::Entity::find_by_id((group.to_owned(), scope.to_owned())),
            &self.db,
        )
        .await
    }

    /// Designations matching the optional group and scope, ordered by group then scope.
    pub async fn designations(
        &self,
        group: Option<&str>,
        scope: Option<&str>,
    ) -> Result<Vec<designation::Model>, DbErr> {
        let mut query = designation::Entity::find();
        if let Some(group) = group {
            query = query.filter(designation::Column::GroupCode.eq(group));
        }
        if let Some(scope) = scope {
            query = query.filter(designation::Column::Scope.eq(scope));
        }
        query
            .order_by_asc(designation::Column::GroupCode)
            .order_by_asc(designation::Column::Scope)
            .all(&self.db)
            .await
    }

    /// Inserts or replaces a designation row.
    pub async fn save_designation(
        &self,
        db: &impl ConnectionTrait,
        row: designation::Model,
        exists: bool,
    ) -> Result<(), DbErr> {
        let active: designation::ActiveModel = row.into();
        if exists {
            active.reset_all().update(db).await?;
        } else {
            active.reset_all().insert(db).await?;
        }
        Ok(())
    }

    /// Replaces a designation only if its stored version is still `expected`; `false` if
    /// a concurrent writer changed it first.
    pub async fn update_designation_if_version(
        &self,
        db: &impl ConnectionTrait,
        row: designation::Model,
        expected: i64,
    ) -> Result<bool, DbErr> {
        let (group, scope) = (row.group_code.clone(), row.scope.clone());
        let active: designation::ActiveModel = row.into();
        let result = designation::Entity::update_many()
            .set(active.reset_all())
            .filter(designation::Column::GroupCode.eq(group))
            .filter(designation::Column::Scope.eq(scope))
            .filter(designation::Column::Version.eq(expected))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Stores a new credential and returns it with its id.
    pub async fn insert_credential(
        &self,
        db: &impl ConnectionTrait,
        row: credential::ActiveModel,
    ) -> Result<credential::Model, DbErr> {
        row.insert(db).await
    }

    /// The credential whose token hashes to `sha256`, revoked or not.
    pub async fn credential_by_hash(&self, sha256: &str) -> Result<Option<credential::Model>, DbErr> {
        by_key(
            credential::Entity::find().filter(credential::Column::TokenSha256.eq(sha256)),
            &self.db,
        )
        .await
    }

    /// One credential.
    pub async fn credential(&self, db: &impl ConnectionTrait, id: i64) -> Result<Option<credential::Model>, DbErr> {
        by_key(credential::Entity::find_by_id(id), db).await
    }

    /// A page of credentials, oldest first, and the total count.
    pub async fn credentials(
        &self,
        show_revoked: bool,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<credential::Model>, u64), DbErr> {
        let mut query = credential::Entity::find();
        if !show_revoked {
            query = query.filter(credential::Column::RevokeTimeUs.is_null());
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(credential::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// Marks a credential revoked at `time_us`.
    pub async fn revoke_credential(
        &self,
        db: &impl ConnectionTrait,
        row: credential::Model,
        time_us: i64,
    ) -> Result<credential::Model, DbErr> {
        let mut active: credential::ActiveModel = row.into();
        active.revoke_time_us = Set(Some(time_us));
        active.update(db).await
    }

    /// One notification endpoint of a unit.
    pub async fn endpoint(&self, department: &str, id: i64) -> Result<Option<endpoint::Model>, DbErr> {
        by_key(
            endpoint::Entity::find_by_id(id).filter(endpoint::Column::Department.eq(department)),
            &self.db,
        )
        .await
    }

    /// A page of notification endpoints of one unit (or of every unit), by unit code then
    /// oldest first, optionally only the enabled ones, and the total count.
    pub async fn endpoints(
        &self,
        department: Option<&str>,
        enabled_only: bool,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<endpoint::Model>, u64), DbErr> {
        let mut query = endpoint::Entity::find();
        if let Some(department) = department {
            query = query.filter(endpoint::Column::Department.eq(department));
        }
        if enabled_only {
            query = query.filter(endpoint::Column::Enabled.eq(true));
        }
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_asc(endpoint::Column::Department)
            .order_by_asc(endpoint::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// The slots a unit's endpoints take, read within `db` (a transaction).
    pub async fn endpoint_slots(&self, db: &impl ConnectionTrait, department: &str) -> Result<Vec<i32>, DbErr> {
        endpoint::Entity::find()
            .select_only()
            .column(endpoint::Column::Slot)
            .filter(endpoint::Column::Department.eq(department))
            .into_tuple()
            .all(db)
            .await
    }

    /// Stores a new endpoint and returns it with its id; a unique violation if a
    /// concurrent create took the same slot.
    pub async fn insert_endpoint(
        &self,
        db: &impl ConnectionTrait,
        row: endpoint::ActiveModel,
    ) -> Result<endpoint::Model, DbErr> {
        row.insert(db).await
    }

    /// Replaces an endpoint only if its stored version is still `expected`; `false` if a
    /// concurrent writer changed or deleted it first.
    pub async fn update_endpoint_if_version(
        &self,
        db: &impl ConnectionTrait,
        row: endpoint::Model,
        expected: i64,
    ) -> Result<bool, DbErr> {
        let id = row.id;
        let active: endpoint::ActiveModel = row.into();
        let result = endpoint::Entity::update_many()
            .set(active.reset_all())
            .filter(endpoint::Column::Id.eq(id))
            .filter(endpoint::Column::Version.eq(expected))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Deletes an endpoint only if its stored version is still `expected`; `false` if a
    /// concurrent writer changed or deleted it first.
    pub async fn delete_endpoint_if_version(
        &self,
        db: &impl ConnectionTrait,
        id: i64,
        expected: i64,
    ) -> Result<bool, DbErr> {
        let result = endpoint::Entity::delete_many()
            .filter(endpoint::Column::Id.eq(id))
            .filter(endpoint::Column::Version.eq(expected))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// Runs `work` in a transaction.
    pub async fn begin(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        self.db.begin().await
    }
}
