//! `notice` delivery columns: how many webhook rounds failed, when a FAILED notice is
//! pushed again, what the last failure was, when it was delivered, and which endpoints
//! accepted it already (so a retry goes only to the others). One ALTER per column:
//! SQLite adds one column per statement.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct NoticeDelivery;

#[derive(DeriveIden)]
enum Notice {
    Table,
    DeliveryAttempts,
    NextAttemptTimeUs,
    LastError,
    DeliveredTimeUs,
    DeliveredEndpoints,
}

#[async_trait::async_trait]
impl MigrationTrait for NoticeDelivery {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            integer(Notice::DeliveryAttempts).default(0).to_owned(),
            big_integer_null(Notice::NextAttemptTimeUs),
            text(Notice::LastError).default("").to_owned(),
            big_integer_null(Notice::DeliveredTimeUs),
            text(Notice::DeliveredEndpoints).default("[]").to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(Table::alter().table(Notice::Table).add_column(&mut column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Notice::DeliveryAttempts,
            Notice::NextAttemptTimeUs,
            Notice::LastError,
            Notice::DeliveredTimeUs,
            Notice::DeliveredEndpoints,
        ] {
            manager
                .alter_table(Table::alter().table(Notice::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
