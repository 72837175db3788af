//! The reporting service's tables. Times are microseconds since the Unix epoch, periods
//! are `YYYY-MM` text, enums are their contract names and lists are JSON text, so one
//! schema fits SQLite and PostgreSQL alike.

/// One row per report key: which revision is latest, its state, and when revision 1
/// was submitted (what compliance needs, without reading revisions).
pub mod report {
    use sea_orm::entity::prelude::*;

    /// One report key.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// Measure number, for example `4.1`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub measure_number: String,
        /// Reporting department code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// `YYYY-MM`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        /// The latest revision.
        pub revision: i32,
        /// `Report.State` contract name of the latest revision.
        pub state: String,
        /// When revision 1 was submitted.
        pub first_submit_time_us: i64,
        /// The reason of the most recent return, empty if never returned.
        pub return_reason: String,
        /// Last change.
        pub update_time_us: i64,
        /// `measure_number` in a form that sorts in number order
        /// ([`crate::convert::measure_key`]), for listings.
        pub measure_key: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every stored revision (AIP-162). Only the review columns ever change.
pub mod report_revision {
    use sea_orm::entity::prelude::*;

    /// One revision.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_revision")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// Measure number.
        #[sea_orm(primary_key, auto_increment = false)]
        pub measure_number: String,
        /// Reporting department code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// `YYYY-MM`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        /// 1, 2, ...
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i32,
        /// `Report.State` contract name.
        pub state: String,
        /// The etag; changes on review.
        pub etag: String,
        /// `OverallStatus` contract name.
        pub overall_status: String,
        /// The narrative.
        pub narrative: String,
        /// Whether the figures are preliminary.
        pub provisional: bool,
        /// Whether an ADMIN backfill stored it.
        pub backfilled: bool,
        /// JSON array of metric values.
        pub metric_values: String,
        /// JSON array of milestone updates.
        pub milestone_updates: String,
        /// JSON array of blockers.
        pub blockers: String,
        /// JSON array of evidence links.
        pub evidence_links: String,
        /// `Role` contract name of the submitter.
        pub submitted_by_role: String,
        /// Department code of the submitter, for department principals.
        pub submitted_by_department: String,
        /// Credential resource name of the submitter.
        pub submitted_by_credential: String,
        /// When it was submitted (the original time for a backfill).
        pub submit_time_us: i64,
        /// The plan revision current at submission.
        pub plan_revision: i32,
        /// `Role` contract name of the reviewer, empty while SUBMITTED.
        pub reviewer_role: String,
        /// Department code of the reviewer.
        pub reviewer_department: String,
        /// Credential of the reviewer.
        pub reviewer_credential: String,
        /// When it was reviewed.
        pub review_time_us: Option<i64>,
        /// Acceptance comment or return reason.
        pub review_reason: String,
        /// When the row was written (differs from `submit_time_us` for a backfill).
        pub create_time_us: i64,
        /// `ReportSource` contract name: where the revision came from, as its submitter
        /// declared it (never UNSPECIFIED: an undeclared source is stored as API).
        pub source: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every revision returned to its unit, by submit time: what compliance counts as
/// `returned_count` for a date, read without the plan's other revisions. Written in the
/// transaction of the review that returns it; a returned revision stays returned.
pub mod returned_revision {
    use sea_orm::entity::prelude::*;

    /// One returned revision.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "returned_revision")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// The measure of the report.
        #[sea_orm(primary_key, auto_increment = false)]
        pub measure_number: String,
        /// Reporting department code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// `YYYY-MM`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        /// The revision returned.
        #[sea_orm(primary_key, auto_increment = false)]
        pub revision: i32,
        /// When that revision was submitted (compliance counts by submit time).
        pub submit_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The progress aggregate: per target, department, period and slot, the value of the
/// revision that slot selects. Rewritten for one report key in the transaction that
/// changes the key, so GetProgress reads only this table: its size is bounded by
/// targets × departments × periods × slots, never by the number of revisions.
pub mod progress_value {
    use sea_orm::entity::prelude::*;

    /// One value.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "progress_value")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// Target code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub target_code: String,
        /// Reporting department code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// `YYYY-MM`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub period: String,
        /// Which revision of the key this is: see `crate::progress::Slot`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub slot: String,
        /// The measure of the report.
        pub measure_number: String,
        /// The value, in the target's unit: `NUMERIC` on PostgreSQL, decimal text on
        /// SQLite; added up in Rust, never in SQL.
        pub value: duban_kit::columns::ExactDecimal,
        /// The revision it comes from.
        pub revision: i32,
        /// That revision's submit time.
        pub submit_time_us: i64,
        /// Whether that revision is provisional.
        pub provisional: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The event log WatchReportEvents replays; `sequence` is its position.
pub mod report_event {
    use sea_orm::entity::prelude::*;

    /// One event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "report_event")]
    pub struct Model {
        /// Strictly increasing position.
        #[sea_orm(primary_key)]
        pub sequence: i64,
        /// The plan's slug.
        pub plan: String,
        /// `ReportEventType` contract name.
        pub event_type: String,
        /// Measure number.
        pub measure_number: String,
        /// Department code.
        pub department: String,
        /// `YYYY-MM`.
        pub period: String,
        /// The revision concerned.
        pub revision: i32,
        /// When the event was recorded.
        pub event_time_us: i64,
        /// `Role` contract name of the actor.
        pub actor_role: String,
        /// Department code of the actor.
        pub actor_department: String,
        /// Credential of the actor.
        pub actor_credential: String,
        /// Whether the revision was backfilled.
        pub backfilled: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One record per write attempt or refused call; never changed, deleted only by an archive purge (PurgeAuditRecords).
pub mod audit_record {
    use sea_orm::entity::prelude::*;

    /// One record.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_record")]
    pub struct Model {
        /// Record number.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// When the call was handled.
        pub time_us: i64,
        /// `Role` contract name of the caller (never a token).
        pub role: String,
        /// Department code of the caller.
        pub department: String,
        /// Credential resource name of the caller.
        pub credential: String,
        /// Full gRPC method.
        pub method: String,
        /// The call's or item's request id.
        pub request_id: String,
        /// gRPC status code number.
        pub code: i32,
        /// Error message.
        pub status_message: String,
        /// The resource acted on.
        pub resource: String,
        /// Whether `validate_only` was set.
        pub validate_only: bool,
        /// Whether the item was a backfill.
        pub backfill: bool,
        /// Position in a SubmitReports stream.
        pub item_index: Option<i32>,
        /// `ReportSource` contract name of a submission's declared source; UNSPECIFIED
        /// for other methods.
        pub source: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Blockers with their stable numbers and current state: one row per blocker a
/// department raised on a measure, kept from month to month until a report resolves it
/// by name. Report revisions keep what each revision changed (their `blockers` JSON);
/// this table is what is open now, so "what is addressed to me" is one query.
pub mod blocker {
    use sea_orm::entity::prelude::*;

    /// One blocker.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blocker")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// Measure number.
        #[sea_orm(primary_key, auto_increment = false)]
        pub measure_number: String,
        /// Code of the department that raised it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// 1, 2, ... per plan, measure and department, in the order raised.
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: i32,
        /// `measure_number` in number order ([`crate::convert::measure_key`]).
        pub measure_key: String,
        /// What the problem is.
        pub description: String,
        /// `BlockerSeverity` contract name.
        pub severity: String,
        /// Code of the department asked for support, or empty.
        pub support_unit: String,
        /// `BlockerState` contract name.
        pub state: String,
        /// `YYYY-MM` of the report that raised it.
        pub open_period: String,
        /// When the report that raised it was submitted.
        pub open_time_us: i64,
        /// When the report that resolved it was submitted.
        pub resolve_time_us: Option<i64>,
        /// The report revision that resolved it, or empty.
        pub resolve_report: String,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Supervision orders (督办单): one row per order; its parts are `order_part`.
pub mod supervision_order {
    use sea_orm::entity::prelude::*;

    /// One order.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "supervision_order")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// 1, 2, ... per plan, in the order opened: the `{order}` of its name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub number: i32,
        /// The title.
        pub title: String,
        /// Role name of the issuer.
        pub issuer_role: String,
        /// The issuer's credential, `credentials/{id}`, or empty.
        pub issuer_credential: String,
        /// `OrderLevel` contract name.
        pub level: String,
        /// What `subject` is: `measure`, `target`, `blocker`, or empty for none.
        pub subject_kind: String,
        /// The measure number, target code or blocker name; empty for none.
        pub subject: String,
        /// The order's text.
        pub body: String,
        /// The addressed department codes, in order, as JSON.
        pub departments: String,
        /// `YYYY-MM-DD` in the plan's time zone.
        pub response_due: String,
        /// `OrderState` contract name.
        pub state: String,
        /// 1 when opened, one more with every change: the etag.
        pub version: i32,
        /// Why it was withdrawn, or empty.
        pub withdraw_reason: String,
        /// When it was opened.
        pub create_time_us: i64,
        /// Last change to it or a part.
        pub update_time_us: i64,
        /// When it became CLOSED or WITHDRAWN.
        pub close_time_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One addressed unit's part of a supervision order: its state, latest answer and review.
pub mod order_part {
    use sea_orm::entity::prelude::*;

    /// One part.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_part")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// The order's number.
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_number: i32,
        /// The addressed department's code.
        #[sea_orm(primary_key, auto_increment = false)]
        pub department: String,
        /// Its place in the order's `departments`, from 0.
        pub position: i32,
        /// `OrderPartState` contract name.
        pub state: String,
        /// The latest answer, or empty.
        pub response_text: String,
        /// The latest answer's evidence links, as JSON.
        pub evidence_links: String,
        /// The credential that answered, or empty.
        pub responder_credential: String,
        /// When the latest answer came.
        pub respond_time_us: Option<i64>,
        /// 0 before the first answer, then 1, 2, ...
        pub response_revision: i32,
        /// `OrderReview.Outcome` contract name of the latest answer's review, or empty.
        pub review_outcome: String,
        /// The comment or reason of that review.
        pub review_reason: String,
        /// Role name of the reviewer, or empty.
        pub reviewer_role: String,
        /// The reviewer's credential, or empty.
        pub reviewer_credential: String,
        /// When it was reviewed.
        pub review_time_us: Option<i64>,
        /// Last change.
        pub update_time_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Follow-up notices: one row per reminder or escalation, keyed by the plan and the
/// notice's deduplication key, so that it is stored once (inserts do nothing on
/// conflict).
pub mod notice {
    use sea_orm::entity::prelude::*;

    /// One notice.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notice")]
    pub struct Model {
        /// The plan's slug.
        #[sea_orm(primary_key, auto_increment = false)]
        pub plan: String,
        /// `{day}~{rule}~{department}~{period}`: the deduplication key, and the last
        /// segment of the notice's name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// `NoticeLevel` contract name.
        pub level: String,
        /// `NoticeRule` contract name.
        pub rule: String,
        /// `YYYY-MM-DD`: the day its rule fired.
        pub day: String,
        /// Code of the unit whose reports it is about.
        pub department: String,
        /// `YYYY-MM`.
        pub period: String,
        /// `YYYY-MM-DD`: when those reports were due.
        pub due_date: String,
        /// JSON array of the measure numbers not submitted.
        pub reports: String,
        /// JSON array of the department codes it is addressed to.
        pub recipient_departments: String,
        /// JSON array of the `Role` contract names it is addressed to.
        pub recipient_roles: String,
        /// Why, in Chinese.
        pub reason: String,
        /// Why, in English.
        pub reason_en: String,
        /// When it was stored.
        pub create_time_us: i64,
        /// `NoticeDeliveryState` contract name.
        pub delivery_state: String,
        /// When the addressed department acknowledged it.
        pub acknowledge_time_us: Option<i64>,
        /// Code of the department that acknowledged it, or empty.
        pub acknowledged_by: String,
        /// How many delivery rounds failed.
        pub delivery_attempts: i32,
        /// When a FAILED notice is pushed again, or a PENDING one waiting for an
        /// e-mail channel is looked at again.
        pub next_attempt_time_us: Option<i64>,
        /// What the last failed round answered, or empty.
        pub last_error: String,
        /// When every matching endpoint had accepted it.
        pub delivered_time_us: Option<i64>,
        /// JSON array of the endpoint names that accepted it already.
        pub delivered_endpoints: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
