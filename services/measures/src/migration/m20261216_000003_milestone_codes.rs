//! Milestone codes: every milestone of a revision stored before milestones had codes gets
//! the code derived from its position in that revision (`milestone-<n>`,
//! `duban_catalog::derived_milestone_code`), and the revision's `content_sha256` is
//! recomputed over the content as it now reads.
//!
//! In such a revision a milestone was known by its position, which never changes within
//! one revision, so the derived code names what reports of the time meant by the number;
//! reporting's migration gives their stored updates the same code. The revision keeps
//! everything else it held; its export now imports back as UNCHANGED.

use sea_orm_migration::{prelude::*, sea_orm::ConnectionTrait};

use crate::content::PlanContent;

#[derive(DeriveMigrationName)]
pub struct MilestoneCodes;

#[derive(DeriveIden)]
enum PlanRevision {
    Table,
    PlanId,
    Revision,
    Content,
    ContentSha256,
}

/// Gives each milestone without a code its derived code; whether any was missing.
fn derive_codes(content: &mut PlanContent) -> bool {
    let mut changed = false;
    for measure in &mut content.plan.measures {
        for (i, milestone) in measure.milestones.iter_mut().enumerate() {
            if milestone.code.is_empty() {
                milestone.code = duban_catalog::derived_milestone_code(i + 1);
                changed = true;
            }
        }
    }
    changed
}

#[async_trait::async_trait]
impl MigrationTrait for MilestoneCodes {
    /// One transaction on SQLite too: all or nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let select = Query::select()
            .columns([PlanRevision::PlanId, PlanRevision::Revision, PlanRevision::Content])
            .from(PlanRevision::Table)
            .to_owned();
        for row in db.query_all(&select).await? {
            let plan_id: String = row.try_get("", "plan_id")?;
            let revision: i32 = row.try_get("", "revision")?;
            let stored: String = row.try_get("", "content")?;
            let mut content = PlanContent::from_json(&stored)
                .map_err(|e| DbErr::Migration(format!("plans/{plan_id}@{revision} does not read: {e}")))?;
            if !derive_codes(&mut content) {
                continue;
            }
            let update = Query::update()
                .table(PlanRevision::Table)
                .value(PlanRevision::Content, content.to_json())
                .value(PlanRevision::ContentSha256, content.sha256())
                .and_where(Expr::col(PlanRevision::PlanId).eq(plan_id))
                .and_where(Expr::col(PlanRevision::Revision).eq(revision))
                .to_owned();
            manager.exec_stmt(update).await?;
        }
        Ok(())
    }

    /// Refused: the version before cannot read a document with milestone codes, and
    /// taking them out would lose the codes of every revision imported since.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "milestone codes cannot be taken out of stored plan revisions".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use duban_kit::testing::{Backend, TestDatabase};
    use sea_orm_migration::sea_orm::EntityTrait;

    use super::*;
    use crate::{entity::plan_revision, migration::Migrator};

    /// The Jiading plan as a revision stored before milestones had codes: the JSON
    /// document without them.
    fn stored_without_codes() -> String {
        let (_, plan) = duban_catalog::jiading_2023();
        let content = PlanContent {
            plan,
            units: BTreeMap::new(),
            target_milestones: BTreeMap::new(),
        };
        let mut document: serde_json::Value = serde_json::from_str(&content.to_json()).unwrap();
        for measure in document["plan"]["measures"].as_array_mut().unwrap() {
            for milestone in measure["milestones"].as_array_mut().unwrap() {
                milestone.as_object_mut().unwrap().remove("code");
            }
        }
        document.to_string()
    }

    /// A revision stored before codes reads with each milestone's derived code, in the
    /// document and in the contract; a revision that has codes is left as it was.
    async fn revisions_without_codes_read_with_derived_codes(backend: Backend) {
        let Some(database) = TestDatabase::new(backend).await else {
            return;
        };
        let db = duban_kit::db::connect(database.url()).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        let old = stored_without_codes();
        assert!(!old.contains("small-taxpayer-vat-relief"));
        let (_, plan) = duban_catalog::jiading_2023();
        let current = PlanContent {
            plan,
            units: BTreeMap::new(),
            target_milestones: BTreeMap::new(),
        };
        for (revision, content, sha) in [(1, old, "old"), (2, current.to_json(), "kept")] {
            db.execute_unprepared(&format!(
                "INSERT INTO plan_revision (plan_id, revision, content, content_sha256, imported_by, create_time_us) \
                 VALUES ('jiading-2023', {revision}, '{}', '{sha}', 'admin', 0)",
                content.replace('\'', "''")
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared(
            "INSERT INTO plan (id, current_revision, create_time_us, update_time_us) \
             VALUES ('jiading-2023', 2, 0, 0)",
        )
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();

        let first = plan_revision::Entity::find_by_id(("jiading-2023".to_owned(), 1))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let content = PlanContent::from_json(&first.content).unwrap();
        let codes = |number: &str| -> Vec<String> {
            let measure = content.plan.measure(number).unwrap();
            measure.milestones.iter().map(|m| m.code.clone()).collect()
        };
        assert_eq!(
            codes("1.1"),
            ["milestone-1", "milestone-2", "milestone-3", "milestone-4"]
        );
        assert_eq!(codes("3.2"), ["milestone-1"]);
        assert_eq!(first.content_sha256, content.sha256());
        // Everything else reads as before: only the codes were added.
        let mut without = content.clone();
        for measure in &mut without.plan.measures {
            for milestone in &mut measure.milestones {
                milestone.code = current
                    .plan
                    .measure(&measure.number)
                    .and_then(|m| m.milestones.iter().find(|c| c.description == milestone.description))
                    .map(|c| c.code.clone())
                    .unwrap();
            }
        }
        assert_eq!(without, current);

        // What GetMeasure and GetPlanDataset show for a milestone of that revision.
        let shown = crate::dataset::measure_to_proto(content.plan.measure("3.2").unwrap(), Vec::new());
        assert_eq!(shown.milestones[0].code, "milestone-1");

        let second = plan_revision::Entity::find_by_id(("jiading-2023".to_owned(), 2))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.content_sha256, "kept", "a revision with codes is not rewritten");
        db.close().await.unwrap();
    }

    duban_kit::backend_tests!(revisions_without_codes_read_with_derived_codes);
}
