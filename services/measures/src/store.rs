//! All SQL of the measures service, through sea-orm. Callers get rows back; rules
//! about what is valid and who may import live in `service`.

use duban_kit::db::by_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr,
};

use crate::entity::{plan, plan_revision};

pub use duban_kit::db::is_unique_violation;

/// The measures database.
#[derive(Debug, Clone)]
pub struct PlanStore {
    db: DatabaseConnection,
}

impl PlanStore {
    /// Wraps a migrated connection.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection, for transactions.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// One plan row.
    pub async fn plan(&self, id: &str) -> Result<Option<plan::Model>, DbErr> {
        by_key(plan::Entity::find_by_id(id.to_owned()), &self.db).await
    }

    /// A page of plans in id order, and the total count.
    pub async fn plans(&self, offset: u64, limit: u64) -> Result<(Vec<plan::Model>, u64), DbErr> {
        let total = plan::Entity::find().count(&self.db).await?;
        let rows = plan::Entity::find()
            .order_by_asc(plan::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// One stored revision.
    pub async fn revision(&self, id: &str, revision: i32) -> Result<Option<plan_revision::Model>, DbErr> {
        by_key(plan_revision::Entity::find_by_id((id.to_owned(), revision)), &self.db).await
    }

    /// A page of a plan's revisions, newest first, and the total count.
    pub async fn revisions(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<plan_revision::Model>, u64), DbErr> {
        let query = plan_revision::Entity::find().filter(plan_revision::Column::PlanId.eq(id));
        let total = query.clone().count(&self.db).await?;
        let rows = query
            .order_by_desc(plan_revision::Column::Revision)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((rows, total))
    }

    /// Stores a new revision and points the plan at it. Fails with a unique violation
    /// if a concurrent import stored the same revision number first; `Ok(false)` if the
    /// plan moved past `previous` in the meantime.
    pub async fn insert_revision(
        &self,
        db: &impl ConnectionTrait,
        row: plan_revision::Model,
        previous: Option<i32>,
    ) -> Result<bool, DbErr> {
        let (id, revision, time) = (row.plan_id.clone(), row.revision, row.create_time_us);
        let active: plan_revision::ActiveModel = row.into();
        active.reset_all().insert(db).await?;
        match previous {
            None => {
                plan::ActiveModel::from(plan::Model {
                    id,
                    current_revision: revision,
                    create_time_us: time,
                    update_time_us: time,
                })
                .reset_all()
                .insert(db)
                .await?;
                Ok(true)
            }
            Some(previous) => {
                let result = plan::Entity::update_many()
                    .col_expr(plan::Column::CurrentRevision, Expr::value(revision))
                    .col_expr(plan::Column::UpdateTimeUs, Expr::value(time))
                    .filter(plan::Column::Id.eq(id))
                    .filter(plan::Column::CurrentRevision.eq(previous))
                    .exec(db)
                    .await?;
                Ok(result.rows_affected == 1)
            }
        }
    }

    /// Begins a transaction.
    pub async fn begin(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        self.db.begin().await
    }
}
