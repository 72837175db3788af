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

/// Turns a `DOUBLE` column of earlier versions into an exact amount column
/// ([`crate::columns::exact_column`]: `NUMERIC` on PostgreSQL, decimal text on SQLite)
/// under the same name, converting every stored double to the shortest decimal that
/// reads back as it ([`crate::columns::from_stored_double`]): 0.1 stays 0.1, the
/// figure that was typed. NULLs stay NULL; `required` restores NOT NULL on PostgreSQL
/// (SQLite cannot add it to an existing column; the entity still never writes NULL).
///
/// Call it only from a migration whose `use_transaction()` is `Some(true)`: its
/// statements must run on one connection, or SQLite may answer one of them from a pooled
/// connection that still sees the old schema, and a failure would leave the column
/// half-converted.
pub async fn double_to_exact(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
    required: bool,
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let exact = format!("{column}_exact");
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(crate::columns::exact_column(backend, Alias::new(&exact)))
                .to_owned(),
        )
        .await?;
    // One update per distinct value: a double compares equal to itself when bound
    // back, so no key columns are needed.
    let distinct = Query::select()
        .distinct()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).is_not_null())
        .to_owned();
    for row in db.query_all(&distinct).await? {
        let double: f64 = row.try_get("", column)?;
        let value = crate::columns::from_stored_double(double)
            .ok_or_else(|| DbErr::Migration(format!("{table}.{column} holds {double}, which is not an amount")))?;
        let update = Query::update()
            .table(Alias::new(table))
            .value(Alias::new(&exact), crate::columns::ExactDecimal(value))
            .and_where(Expr::col(Alias::new(column)).eq(double))
            .to_owned();
        manager.exec_stmt(update).await?;
    }
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .drop_column(Alias::new(column))
                .to_owned(),
        )
        .await?;
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .rename_column(Alias::new(&exact), Alias::new(column))
                .to_owned(),
        )
        .await?;
    if required && backend == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!(
            "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" SET NOT NULL"
        ))
        .await?;
    }
    Ok(())
}

/// The `down` of a migration to exact amounts: refused, because going back to doubles
/// would lose the exactness the migration gained.
pub fn exact_amounts_are_one_way() -> Result<(), DbErr> {
    Err(DbErr::Migration(
        "exact amounts cannot be turned back into doubles".to_owned(),
    ))
}
