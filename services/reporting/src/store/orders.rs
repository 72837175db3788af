//! The queries of supervision orders: an order with its parts, a plan's orders, a unit's
//! open parts, and their writes in the writer's transaction.

use std::collections::BTreeMap;

use duban_kit::db::by_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::ReportStore;
use crate::entity::{order_part, supervision_order};

/// An order and its parts, in the order of its `departments`.
pub type StoredOrder = (supervision_order::Model, Vec<order_part::Model>);

impl ReportStore {
    /// The number the next order of `plan` gets: one more than the highest (read in the
    /// writer's turn, so two openings never draw the same number).
    pub async fn next_order_number(&self, db: &impl ConnectionTrait, plan: &str) -> Result<i32, DbErr> {
        use supervision_order::Column as C;
        let highest: Option<Option<i32>> = supervision_order::Entity::find()
            .select_only()
            .column_as(C::Number.max(), "highest")
            .filter(C::Plan.eq(plan))
            .into_tuple()
            .one(db)
            .await?;
        Ok(highest.flatten().unwrap_or(0) + 1)
    }

    /// Order `number` of `plan` with its parts.
    pub async fn order(
        &self,
        db: &impl ConnectionTrait,
        plan: &str,
        number: i32,
    ) -> Result<Option<StoredOrder>, DbErr> {
        let Some(order) = by_key(supervision_order::Entity::find_by_id((plan.to_owned(), number)), db).await? else {
            return Ok(None);
        };
        use order_part::Column as C;
        let parts = order_part::Entity::find()
            .filter(C::Plan.eq(plan))
            .filter(C::OrderNumber.eq(number))
            .order_by_asc(C::Position)
            .all(db)
            .await?;
        Ok(Some((order, parts)))
    }

    /// Every order of `plan` with its parts, newest first.
    pub async fn orders(&self, plan: &str) -> Result<Vec<StoredOrder>, DbErr> {
        let orders = supervision_order::Entity::find()
            .filter(supervision_order::Column::Plan.eq(plan))
            .order_by_desc(supervision_order::Column::Number)
            .all(&self.db)
            .await?;
        let mut parts: BTreeMap<i32, Vec<order_part::Model>> = BTreeMap::new();
        for part in order_part::Entity::find()
            .filter(order_part::Column::Plan.eq(plan))
            .order_by_asc(order_part::Column::OrderNumber)
            .order_by_asc(order_part::Column::Position)
            .all(&self.db)
            .await?
        {
            parts.entry(part.order_number).or_default().push(part);
        }
        Ok(orders
            .into_iter()
            .map(|order| {
                let own = parts.remove(&order.number).unwrap_or_default();
                (order, own)
            })
            .collect())
    }

    /// The parts of `department` in `states` (contract names), with their orders.
    pub async fn department_parts(
        &self,
        plan: &str,
        department: &str,
        states: &[&str],
    ) -> Result<Vec<(supervision_order::Model, order_part::Model)>, DbErr> {
        use order_part::Column as C;
        let parts = order_part::Entity::find()
            .filter(C::Plan.eq(plan))
            .filter(C::Department.eq(department))
            .filter(C::State.is_in(states.iter().copied()))
            .all(&self.db)
            .await?;
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let numbers: Vec<i32> = parts.iter().map(|p| p.order_number).collect();
        let orders: BTreeMap<i32, supervision_order::Model> = supervision_order::Entity::find()
            .filter(supervision_order::Column::Plan.eq(plan))
            .filter(supervision_order::Column::Number.is_in(numbers))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|order| (order.number, order))
            .collect();
        Ok(parts
            .into_iter()
            .filter_map(|part| orders.get(&part.order_number).cloned().map(|order| (order, part)))
            .collect())
    }

    /// Inserts a new order and its parts.
    pub async fn insert_order(&self, db: &impl ConnectionTrait, (order, parts): StoredOrder) -> Result<(), DbErr> {
        let order: supervision_order::ActiveModel = order.into();
        supervision_order::Entity::insert(order.reset_all())
            .exec_without_returning(db)
            .await?;
        let parts: Vec<order_part::ActiveModel> = parts
            .into_iter()
            .map(|p| order_part::ActiveModel::from(p).reset_all())
            .collect();
        if !parts.is_empty() {
            order_part::Entity::insert_many(parts)
                .exec_without_returning(db)
                .await?;
        }
        Ok(())
    }

    /// Replaces a stored order and the given parts of it.
    pub async fn update_order(
        &self,
        db: &impl ConnectionTrait,
        order: supervision_order::Model,
        parts: &[order_part::Model],
    ) -> Result<(), DbErr> {
        let active: supervision_order::ActiveModel = order.into();
        active.reset_all().update(db).await?;
        for part in parts {
            let active: order_part::ActiveModel = part.clone().into();
            active.reset_all().update(db).await?;
        }
        Ok(())
    }
}
