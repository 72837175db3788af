//! The targets service's tables. Times are microseconds since the Unix epoch, dates are
//! ISO `YYYY-MM-DD` text, enums are their contract names, lists are JSON text and
//! amounts are `ExactDecimal` (NUMERIC, or decimal text on SQLite), so one
//! schema fits SQLite and PostgreSQL alike.

/// The plans whose targets were synced, with the effective period of the latest sync.
pub mod plan {
    use sea_orm::entity::prelude::*;

    /// One plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan")]
    pub struct Model {
        /// The plan's slug, the `{plan}` of `plans/{plan}`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// The plan revision of the latest sync.
        pub plan_revision: i32,
        /// First effective day: where every trajectory starts.
        pub effective_from: String,
        /// Last effective day: the default deadline.
        pub effective_to: String,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every target a plan ever had: which revision is current, and whether a later sync
/// retired it.
pub mod target {
    use sea_orm::entity::prelude::*;

    /// One target of one plan.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "target")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// The target's code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// The current revision; the etag.
        pub revision: i32,
        /// The revision the latest sync that changed the target created: a current
        /// revision above it was made by a rebaseline since that sync.
        pub import_revision: i32,
        /// Whether the latest sync dropped the target from the plan.
        pub retired: bool,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every stored revision of every target (AIP-162); never updated, only added to.
pub mod target_revision {
    use duban_kit::columns::ExactDecimal;
    use sea_orm::entity::prelude::*;

    /// One revision.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "target_revision")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// The target's code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// 1 when first imported, then one more per change.
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i32,
        /// The measure's number, for example `4.1`.
        pub measure_number: String,
        /// The action's number: the part of `measure_number` before the dot.
        pub action_number: i32,
        /// Chinese name.
        pub display_name: String,
        /// English name.
        pub display_name_en: String,
        /// `QuantityUnit` contract name, for example `QUANTITY_UNIT_ENTERPRISES`.
        pub unit: String,
        /// The figure to reach: `NUMERIC` on PostgreSQL, decimal text on SQLite.
        pub value: ExactDecimal,
        /// `Comparator` contract name.
        pub comparator: String,
        /// Whether the plan states the figure as an aspiration (力争, 计划).
        pub aspirational: bool,
        /// The deadline, `YYYY-MM-DD`.
        pub deadline: String,
        /// The baseline, if any.
        pub baseline: Option<ExactDecimal>,
        /// `Aggregation` contract name.
        pub aggregation: String,
        /// `ValueBasis` contract name.
        pub value_basis: String,
        /// JSON array of department or group codes.
        pub reporters: String,
        /// JSON array of department codes (groups expanded by the measures server).
        pub reporting_departments: String,
        /// The fragment of the measure's text.
        pub source: String,
        /// Reading notes.
        pub note: String,
        /// JSON array of `{year, month, expected_value}`, in period order.
        pub milestones: String,
        /// The plan revision this revision was imported from (or was current at, for a
        /// rebaseline).
        pub plan_revision: i32,
        /// Why it exists.
        pub reason: String,
        /// `Role` contract name of who made it.
        pub revised_by_role: String,
        /// Department code of who made it, for department principals.
        pub revised_by_department: String,
        /// Credential resource name of who made it, when known.
        pub revised_by_credential: String,
        /// Whether RebaselineTarget made it.
        pub rebaselined: bool,
        /// `value` of revision 1.
        pub original_value: ExactDecimal,
        /// `deadline` of revision 1.
        pub original_deadline: String,
        /// Creation time.
        pub create_time_us: i64,
        /// Digits after the point a reported value may have.
        pub decimal_places: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
