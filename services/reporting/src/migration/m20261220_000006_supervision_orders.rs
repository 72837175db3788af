//! `supervision_order` and `order_part`: supervision orders (督办单) and each addressed
//! unit's part of them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct SupervisionOrders;

#[derive(DeriveIden)]
enum SupervisionOrder {
    Table,
    Plan,
    Number,
    Title,
    IssuerRole,
    IssuerCredential,
    Level,
    SubjectKind,
    Subject,
    Body,
    Departments,
    ResponseDue,
    State,
    Version,
    WithdrawReason,
    CreateTimeUs,
    UpdateTimeUs,
    CloseTimeUs,
}

#[derive(DeriveIden)]
enum OrderPart {
    Table,
    Plan,
    OrderNumber,
    Department,
    Position,
    State,
    ResponseText,
    EvidenceLinks,
    ResponderCredential,
    RespondTimeUs,
    ResponseRevision,
    ReviewOutcome,
    ReviewReason,
    ReviewerRole,
    ReviewerCredential,
    ReviewTimeUs,
    UpdateTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for SupervisionOrders {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SupervisionOrder::Table)
                    .col(string(SupervisionOrder::Plan))
                    .col(integer(SupervisionOrder::Number))
                    .col(text(SupervisionOrder::Title))
                    .col(string(SupervisionOrder::IssuerRole))
                    .col(string(SupervisionOrder::IssuerCredential))
                    .col(string(SupervisionOrder::Level))
                    .col(string(SupervisionOrder::SubjectKind))
                    .col(text(SupervisionOrder::Subject))
                    .col(text(SupervisionOrder::Body))
                    .col(text(SupervisionOrder::Departments))
                    .col(string(SupervisionOrder::ResponseDue))
                    .col(string(SupervisionOrder::State))
                    .col(integer(SupervisionOrder::Version))
                    .col(text(SupervisionOrder::WithdrawReason))
                    .col(big_integer(SupervisionOrder::CreateTimeUs))
                    .col(big_integer(SupervisionOrder::UpdateTimeUs))
                    .col(big_integer_null(SupervisionOrder::CloseTimeUs))
                    .primary_key(
                        Index::create()
                            .col(SupervisionOrder::Plan)
                            .col(SupervisionOrder::Number),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderPart::Table)
                    .col(string(OrderPart::Plan))
                    .col(integer(OrderPart::OrderNumber))
                    .col(string(OrderPart::Department))
                    .col(integer(OrderPart::Position))
                    .col(string(OrderPart::State))
                    .col(text(OrderPart::ResponseText))
                    .col(text(OrderPart::EvidenceLinks))
                    .col(string(OrderPart::ResponderCredential))
                    .col(big_integer_null(OrderPart::RespondTimeUs))
                    .col(integer(OrderPart::ResponseRevision))
                    .col(string(OrderPart::ReviewOutcome))
                    .col(text(OrderPart::ReviewReason))
                    .col(string(OrderPart::ReviewerRole))
                    .col(string(OrderPart::ReviewerCredential))
                    .col(big_integer_null(OrderPart::ReviewTimeUs))
                    .col(big_integer(OrderPart::UpdateTimeUs))
                    .primary_key(
                        Index::create()
                            .col(OrderPart::Plan)
                            .col(OrderPart::OrderNumber)
                            .col(OrderPart::Department),
                    )
                    .to_owned(),
            )
            .await?;
        // A unit's open parts, for its obligations and its listing.
        manager
            .create_index(
                Index::create()
                    .name("order_part_department")
                    .table(OrderPart::Table)
                    .col(OrderPart::Plan)
                    .col(OrderPart::Department)
                    .col(OrderPart::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrderPart::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SupervisionOrder::Table).to_owned())
            .await
    }
}
