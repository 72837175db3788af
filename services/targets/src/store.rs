//! All SQL of the targets service, through sea-orm. Callers get rows back; rules about
//! who may do what and what is valid live in `service`.

use duban_kit::db::by_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::entity::{plan, target, target_revision};

pub use duban_kit::db::is_unique_violation;

/// The targets database.
#[derive(Debug, Clone)]
pub struct TargetStore {
    db: DatabaseConnection,
}

impl TargetStore {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection, for transactions.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Begins a transaction.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db.begin().await
    }

    /// One plan.
    pub async fn plan(&self, db: &impl ConnectionTrait, code: &str) -> Result<Option<plan::Model>, DbErr> {
        by_key(plan::Entity::find_by_id(code.to_owned()), db).await
    }

    /// Inserts or replaces a plan row.
    pub async fn save_plan(&self, db: &impl ConnectionTrait, row: plan::Model, exists: bool) -> Result<(), DbErr> {
        let active: plan::ActiveModel = row.into();
        if exists {
            active.reset_all().update(db).await?;
        } else {
            active.reset_all().insert(db).await?;
        }
        Ok(())
    }

    /// One target's pointer row, retired or not.
    pub async fn target(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        code: &str,
    ) -> Result<Option<target::Model>, DbErr> {
        by_key(target::Entity::find_by_id((plan.to_owned(), code.to_owned())), db).await
    }

    /// Every target of a plan, retired ones included, in code order.
    pub async fn targets(&self, db: &impl ConnectionTrait, plan: &str) -> Result<Vec<target::Model>, DbErr> {
        target::Entity::find()
            .filter(target::Column::Plan.eq(plan))
            .order_by_asc(target::Column::Code)
            .all(db)
            .await
    }

    /// Inserts a new target pointer row.
    pub async fn insert_target(&self, db: &impl ConnectionTrait, row: target::Model) -> Result<(), DbErr> {
        let active: target::ActiveModel = row.into();
        active.reset_all().insert(db).await?;
        Ok(())
    }

    /// Replaces a target pointer row only if its stored revision is still `expected`;
    /// `false` if a concurrent writer changed it first.
    pub async fn update_target_if_revision(
        &self,
        db: &impl ConnectionTrait,
        row: target::Model,
        expected: i32,
    ) -> Result<bool, DbErr> {
        let (plan, code) = (row.plan.clone(), row.code.clone());
        let active: target::ActiveModel = row.into();
        let result = target::Entity::update_many()
            .set(active.reset_all())
            .filter(target::Column::Plan.eq(plan))
            .filter(target::Column::Code.eq(code))
            .filter(target::Column::Revision.eq(expected))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    /// One stored revision.
    pub async fn revision(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        code: &str,
        revision: i32,
    ) -> Result<Option<target_revision::Model>, DbErr> {
        by_key(
            target_revision::Entity::find_by_id((plan.to_owned(), code.to_owned(), revision)),
            db,
        )
        .await
    }

    /// A page of a target's revisions, newest first, and the total count.
    pub async fn revisions(
        &self,
        plan: &str,
        code: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<target_revision::Model>, u64), DbErr> {
        let query = target_revision::Entity::find()
            .filter(target_revision::Column::Plan.eq(plan))
            .filter(target_revision::Column::Code.eq(code));
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(target_revision::Column::Revision)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// Adds a revision; fails with a unique violation if that number exists already.
    pub async fn insert_revision(&self, db: &impl ConnectionTrait, row: target_revision::Model) -> Result<(), DbErr> {
        let active: target_revision::ActiveModel = row.into();
        active.reset_all().insert(db).await?;
        Ok(())
    }
}
