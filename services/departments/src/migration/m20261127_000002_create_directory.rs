//! The directory, its names index, designations and credentials.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct CreateDirectory;

#[derive(DeriveIden)]
enum Unit {
    Table,
    Code,
    Name,
    NameEn,
    Kind,
    Aliases,
    Version,
    SeedSha256,
    CreateTimeUs,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum UnitName {
    Table,
    Normalized,
    OwnerCode,
    OwnerType,
}

#[derive(DeriveIden)]
enum UnitGroup {
    Table,
    Code,
    Name,
    NameEn,
    Kind,
    Members,
    MemberKinds,
    Aliases,
    Version,
    SeedSha256,
}

#[derive(DeriveIden)]
enum Designation {
    Table,
    GroupCode,
    Scope,
    Members,
    Version,
    UpdateTimeUs,
}

#[derive(DeriveIden)]
enum Credential {
    Table,
    Id,
    TokenSha256,
    TokenPrefix,
    Role,
    Department,
    Description,
    CreateTimeUs,
    RevokeTimeUs,
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDirectory {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Unit::Table)
                    .col(string(Unit::Code).primary_key())
                    .col(string(Unit::Name))
                    .col(string(Unit::NameEn))
                    .col(string(Unit::Kind))
                    .col(text(Unit::Aliases))
                    .col(big_integer(Unit::Version))
                    .col(string_null(Unit::SeedSha256))
                    .col(big_integer(Unit::CreateTimeUs))
                    .col(big_integer(Unit::UpdateTimeUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnitName::Table)
                    .col(string(UnitName::Normalized).primary_key())
                    .col(string(UnitName::OwnerCode))
                    .col(string(UnitName::OwnerType))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("unit_name_owner")
                    .table(UnitName::Table)
                    .col(UnitName::OwnerCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnitGroup::Table)
                    .col(string(UnitGroup::Code).primary_key())
                    .col(string(UnitGroup::Name))
                    .col(string(UnitGroup::NameEn))
                    .col(string(UnitGroup::Kind))
                    .col(text(UnitGroup::Members))
                    .col(text(UnitGroup::MemberKinds))
                    .col(text(UnitGroup::Aliases))
                    .col(big_integer(UnitGroup::Version))
                    .col(string_null(UnitGroup::SeedSha256))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Designation::Table)
                    .col(string(Designation::GroupCode))
                    .col(string(Designation::Scope))
                    .col(text(Designation::Members))
                    .col(big_integer(Designation::Version))
                    .col(big_integer(Designation::UpdateTimeUs))
                    .primary_key(Index::create().col(Designation::GroupCode).col(Designation::Scope))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Credential::Table)
                    .col(big_integer(Credential::Id).auto_increment().primary_key())
                    .col(string(Credential::TokenSha256).unique_key())
                    .col(string(Credential::TokenPrefix))
                    .col(string(Credential::Role))
                    .col(string_null(Credential::Department))
                    .col(string(Credential::Description))
                    .col(big_integer(Credential::CreateTimeUs))
                    .col(big_integer_null(Credential::RevokeTimeUs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        duban_kit::migration::drop_tables(
            manager,
            [
                Credential::Table.into_iden(),
                Designation::Table.into_iden(),
                UnitGroup::Table.into_iden(),
                UnitName::Table.into_iden(),
                Unit::Table.into_iden(),
            ],
        )
        .await
    }
}
