//! What every service's migrations share: the `migrator!` declaration and dropping tables.

use sea_orm_migration::prelude::*;

/// Declares `pub struct Migrator`, which applies the given migrations oldest first.
///
/// Each service lists its dated migration files (and kit's request log) in one line,
/// instead of writing out sea-orm-migration's `MigratorTrait` impl again.
#[macro_export]
macro_rules! migrator {
    ($($migration:expr),+ $(,)?) => {
        /// Every migration of this service, oldest first.
        #[derive(Debug)]
        pub struct Migrator;

        #[sea_orm_migration::async_trait::async_trait]
        impl sea_orm_migration::MigratorTrait for Migrator {
            fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
                vec![$(Box::new($migration)),+]
            }
        }
    };
}

/// Drops `tables`, in the order given (dependents first), for a migration's `down`.
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: impl IntoIterator<Item = DynIden>) -> Result<(), DbErr> {
    for table in tables {
        manager.drop_table(Table::drop().table(table).to_owned()).await?;
    }
    Ok(())
}
