//! Schema migrations of the departments database, applied at start-up.

use sea_orm_migration::prelude::*;

/// Every migration of this service, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(duban_kit::idempotency::CreateRequestLog),
            Box::new(CreateDirectory),
        ]
    }
}

/// The directory, its names index, designations and credentials.
#[derive(Debug)]
struct CreateDirectory;

impl MigrationName for CreateDirectory {
    fn name(&self) -> &str {
        "m20261127_000002_create_directory"
    }
}

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
                    .col(ColumnDef::new(Unit::Code).string().not_null().primary_key())
                    .col(ColumnDef::new(Unit::Name).string().not_null())
                    .col(ColumnDef::new(Unit::NameEn).string().not_null())
                    .col(ColumnDef::new(Unit::Kind).string().not_null())
                    .col(ColumnDef::new(Unit::Aliases).text().not_null())
                    .col(ColumnDef::new(Unit::Version).big_integer().not_null())
                    .col(ColumnDef::new(Unit::SeedSha256).string().null())
                    .col(ColumnDef::new(Unit::CreateTimeUs).big_integer().not_null())
                    .col(ColumnDef::new(Unit::UpdateTimeUs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UnitName::Table)
                    .col(ColumnDef::new(UnitName::Normalized).string().not_null().primary_key())
                    .col(ColumnDef::new(UnitName::OwnerCode).string().not_null())
                    .col(ColumnDef::new(UnitName::OwnerType).string().not_null())
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
                    .col(ColumnDef::new(UnitGroup::Code).string().not_null().primary_key())
                    .col(ColumnDef::new(UnitGroup::Name).string().not_null())
                    .col(ColumnDef::new(UnitGroup::NameEn).string().not_null())
                    .col(ColumnDef::new(UnitGroup::Kind).string().not_null())
                    .col(ColumnDef::new(UnitGroup::Members).text().not_null())
                    .col(ColumnDef::new(UnitGroup::MemberKinds).text().not_null())
                    .col(ColumnDef::new(UnitGroup::Aliases).text().not_null())
                    .col(ColumnDef::new(UnitGroup::Version).big_integer().not_null())
                    .col(ColumnDef::new(UnitGroup::SeedSha256).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Designation::Table)
                    .col(ColumnDef::new(Designation::GroupCode).string().not_null())
                    .col(ColumnDef::new(Designation::Scope).string().not_null())
                    .col(ColumnDef::new(Designation::Members).text().not_null())
                    .col(ColumnDef::new(Designation::Version).big_integer().not_null())
                    .col(ColumnDef::new(Designation::UpdateTimeUs).big_integer().not_null())
                    .primary_key(Index::create().col(Designation::GroupCode).col(Designation::Scope))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Credential::Table)
                    .col(
                        ColumnDef::new(Credential::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Credential::TokenSha256).string().not_null().unique_key())
                    .col(ColumnDef::new(Credential::TokenPrefix).string().not_null())
                    .col(ColumnDef::new(Credential::Role).string().not_null())
                    .col(ColumnDef::new(Credential::Department).string().null())
                    .col(ColumnDef::new(Credential::Description).string().not_null())
                    .col(ColumnDef::new(Credential::CreateTimeUs).big_integer().not_null())
                    .col(ColumnDef::new(Credential::RevokeTimeUs).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Credential::Table.into_iden(),
            Designation::Table.into_iden(),
            UnitGroup::Table.into_iden(),
            UnitName::Table.into_iden(),
            Unit::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
