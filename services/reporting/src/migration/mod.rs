//! Schema migrations of the reporting database, applied at start-up: one dated file each.

mod m20261127_000002_create_reports;
mod m20261201_000003_report_measure_key;
mod m20261210_000004_blockers;
mod m20261215_000004_exact_amounts;
mod m20261216_000005_milestone_codes;
mod m20261220_000006_supervision_orders;
mod m20261221_000007_notices;
mod m20261222_000008_notice_delivery;
mod m20261223_000009_report_sources;
mod m20261225_000010_returned_revisions;

duban_kit::migrator![
    duban_kit::idempotency::CreateRequestLog,
    m20261127_000002_create_reports::CreateReports,
    m20261201_000003_report_measure_key::AddMeasureKey,
    m20261210_000004_blockers::CreateBlockers,
    m20261215_000004_exact_amounts::ExactAmounts,
    m20261216_000005_milestone_codes::MilestoneCodes,
    m20261220_000006_supervision_orders::SupervisionOrders,
    m20261221_000007_notices::CreateNotices,
    m20261222_000008_notice_delivery::NoticeDelivery,
    m20261223_000009_report_sources::ReportSources,
    m20261225_000010_returned_revisions::ReturnedRevisions,
];
