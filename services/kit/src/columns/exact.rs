//! Exact amounts in a column: PostgreSQL `NUMERIC`, SQLite canonical decimal TEXT.
//!
//! sea-orm reads a SQLite decimal through `f64`, which would undo the point of storing it
//! exactly, so this column type reads SQLite's text itself. Never order, sum or compare
//! such a column in SQL: on SQLite that would compare text. Amounts are read and added in
//! Rust.

use rust_decimal::Decimal;
use sea_orm::{ColIdx, QueryResult, TryGetError, TryGetable, Value, sea_query};

/// An amount as stored: a `NUMERIC` on PostgreSQL, canonical decimal text on SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ExactDecimal(pub Decimal);

impl From<Decimal> for ExactDecimal {
    fn from(value: Decimal) -> Self {
        ExactDecimal(value)
    }
}

impl From<ExactDecimal> for Decimal {
    fn from(value: ExactDecimal) -> Self {
        value.0
    }
}

impl From<ExactDecimal> for Value {
    /// Bound as a decimal: sqlx sends it as `NUMERIC` to PostgreSQL and as its text to
    /// SQLite (where the column has TEXT affinity, so it stays text).
    fn from(value: ExactDecimal) -> Self {
        Value::Decimal(Some(value.0.normalize()))
    }
}

impl TryGetable for ExactDecimal {
    fn try_get_by<I: ColIdx>(res: &QueryResult, idx: I) -> Result<Self, TryGetError> {
        // SQLite: the text; PostgreSQL refuses NUMERIC as text, so it is read as a decimal.
        match String::try_get_by(res, idx) {
            Ok(text) => duban_proto::decimal::parse(&text)
                .map(ExactDecimal)
                .map_err(|e| TryGetError::DbErr(sea_orm::DbErr::Type(format!("stored amount {text:?} {e}")))),
            Err(TryGetError::Null(column)) => Err(TryGetError::Null(column)),
            Err(TryGetError::DbErr(_)) => Decimal::try_get_by(res, idx).map(ExactDecimal),
        }
    }
}

impl sea_query::ValueType for ExactDecimal {
    fn try_from(value: Value) -> Result<Self, sea_query::ValueTypeErr> {
        match value {
            Value::Decimal(Some(decimal)) => Ok(ExactDecimal(decimal)),
            Value::String(Some(text)) => duban_proto::decimal::parse(&text)
                .map(ExactDecimal)
                .map_err(|_| sea_query::ValueTypeErr),
            _ => Err(sea_query::ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "ExactDecimal".to_owned()
    }

    fn array_type() -> sea_query::ArrayType {
        sea_query::ArrayType::Decimal
    }

    fn column_type() -> sea_query::ColumnType {
        sea_query::ColumnType::Decimal(None)
    }
}

impl sea_query::Nullable for ExactDecimal {
    fn null() -> Value {
        Value::Decimal(None)
    }
}

impl sea_orm::IntoActiveValue<ExactDecimal> for ExactDecimal {
    fn into_active_value(self) -> sea_orm::ActiveValue<ExactDecimal> {
        sea_orm::ActiveValue::Set(self)
    }
}

impl sea_query::postgres_array::NotU8 for ExactDecimal {}

/// The column definition of an amount: `NUMERIC` (unbounded precision) on PostgreSQL,
/// `TEXT` on SQLite, where a numeric affinity would turn the text back into a float.
pub fn exact_column<T: sea_query::IntoIden>(backend: sea_orm::DatabaseBackend, name: T) -> sea_query::ColumnDef {
    let mut column = sea_query::ColumnDef::new(name);
    match backend {
        sea_orm::DatabaseBackend::Postgres => column.custom(sea_query::Alias::new("NUMERIC")),
        _ => column.text(),
    };
    column
}

/// The shortest decimal that reads back as `value`: what was typed before it was stored
/// as a double (0.1 stays 0.1, not 0.1000000000000000055…). How the migrations convert
/// the double columns of earlier versions.
pub fn from_stored_double(value: f64) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    // `{}` of an f64 is the shortest text that parses back to the same double; it never
    // uses an exponent, so a number beyond 28 digits is refused rather than rounded.
    duban_proto::decimal::parse(&value.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_doubles_convert_to_the_decimal_that_was_typed() {
        for (double, text) in [
            (0.1, "0.1"),
            (4.47, "4.47"),
            (555.0, "555"),
            (0.7 + 0.1, "0.7999999999999999"),
        ] {
            assert_eq!(
                from_stored_double(double)
                    .map(duban_proto::decimal::canonical)
                    .as_deref(),
                Some(text)
            );
        }
        assert_eq!(from_stored_double(f64::NAN), None);
    }
}
