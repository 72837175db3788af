//! The measures service's tables. Times are microseconds since the Unix epoch and a
//! revision's content is JSON text, so one schema fits SQLite and PostgreSQL alike.

/// Plans: one row per plan id, pointing at its current revision.
pub mod plan {
    use sea_orm::entity::prelude::*;

    /// One plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan")]
    pub struct Model {
        /// The plan's slug, the `{plan}` of `plans/{plan}`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Number of the current revision.
        pub current_revision: i32,
        /// When revision 1 was created.
        pub create_time_us: i64,
        /// When the current revision was created.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Plan revisions (AIP-162): each holds the whole content of the plan as imported.
pub mod plan_revision {
    use sea_orm::entity::prelude::*;

    /// One stored revision.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_revision")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan_id: String,
        /// 1, 2, ...; never reused, never deleted.
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i32,
        /// The revision's content: a JSON `content::PlanContent` document.
        pub content: String,
        /// Hex SHA-256 of the canonical content, to recognise an identical import.
        pub content_sha256: String,
        /// Who imported it (a principal label).
        pub imported_by: String,
        /// When the revision was created.
        pub create_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
