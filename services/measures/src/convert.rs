//! The vocabularies in between: catalog enums and dates to contract enums and dates
//! and back, timestamps, etags and resource names.

use duban_catalog::{Aggregation, Comparator, QuantityUnit, ValueBasis};
use duban_proto::common::v1 as common;
use sha2::{Digest, Sha256};

pub use duban_kit::columns::timestamp;

pub use duban_plan::{
    contract::{date_from_proto as naive_date, date_to_proto as date},
    measure_order,
};

/// A unit of measure in the contract.
pub fn unit_to_proto(unit: QuantityUnit) -> common::QuantityUnit {
    use common::QuantityUnit as P;
    match unit {
        QuantityUnit::Count => P::Count,
        QuantityUnit::Enterprises => P::Enterprises,
        QuantityUnit::Projects => P::Projects,
        QuantityUnit::Cny => P::Cny,
        QuantityUnit::Cny10k => P::Cny10k,
        QuantityUnit::Cny100m => P::Cny100m,
        QuantityUnit::Usd100m => P::Usd100m,
        QuantityUnit::SquareMeters => P::SquareMeters,
        QuantityUnit::HousingUnits => P::HousingUnits,
        QuantityUnit::WorkingDays => P::WorkingDays,
        QuantityUnit::Percent => P::Percent,
        QuantityUnit::Sites => P::Sites,
        QuantityUnit::Routes => P::Routes,
        QuantityUnit::People => P::People,
    }
}

/// A contract unit of measure; `None` for UNSPECIFIED or an unknown number.
pub fn unit_from_proto(unit: i32) -> Option<QuantityUnit> {
    use common::QuantityUnit as P;
    Some(match P::try_from(unit).ok()? {
        P::Unspecified => return None,
        P::Count => QuantityUnit::Count,
        P::Enterprises => QuantityUnit::Enterprises,
        P::Projects => QuantityUnit::Projects,
        P::Cny => QuantityUnit::Cny,
        P::Cny10k => QuantityUnit::Cny10k,
        P::Cny100m => QuantityUnit::Cny100m,
        P::Usd100m => QuantityUnit::Usd100m,
        P::SquareMeters => QuantityUnit::SquareMeters,
        P::HousingUnits => QuantityUnit::HousingUnits,
        P::WorkingDays => QuantityUnit::WorkingDays,
        P::Percent => QuantityUnit::Percent,
        P::Sites => QuantityUnit::Sites,
        P::Routes => QuantityUnit::Routes,
        P::People => QuantityUnit::People,
    })
}

/// A comparator in the contract.
pub fn comparator_to_proto(comparator: Comparator) -> common::Comparator {
    match comparator {
        Comparator::AtLeast => common::Comparator::AtLeast,
        Comparator::MoreThan => common::Comparator::MoreThan,
        Comparator::AtMost => common::Comparator::AtMost,
        Comparator::Approximately => common::Comparator::Approximately,
    }
}

/// A contract comparator; `None` for UNSPECIFIED or an unknown number.
pub fn comparator_from_proto(comparator: i32) -> Option<Comparator> {
    Some(match common::Comparator::try_from(comparator).ok()? {
        common::Comparator::Unspecified => return None,
        common::Comparator::AtLeast => Comparator::AtLeast,
        common::Comparator::MoreThan => Comparator::MoreThan,
        common::Comparator::AtMost => Comparator::AtMost,
        common::Comparator::Approximately => Comparator::Approximately,
    })
}

/// An aggregation in the contract.
pub fn aggregation_to_proto(aggregation: Aggregation) -> common::Aggregation {
    match aggregation {
        Aggregation::Sum => common::Aggregation::Sum,
        Aggregation::Authoritative => common::Aggregation::Authoritative,
    }
}

/// A contract aggregation; `None` for UNSPECIFIED or an unknown number.
pub fn aggregation_from_proto(aggregation: i32) -> Option<Aggregation> {
    Some(match common::Aggregation::try_from(aggregation).ok()? {
        common::Aggregation::Unspecified => return None,
        common::Aggregation::Sum => Aggregation::Sum,
        common::Aggregation::Authoritative => Aggregation::Authoritative,
    })
}

/// A value basis in the contract.
pub fn basis_to_proto(basis: ValueBasis) -> common::ValueBasis {
    match basis {
        ValueBasis::Cumulative => common::ValueBasis::Cumulative,
        ValueBasis::Period => common::ValueBasis::Period,
        ValueBasis::Snapshot => common::ValueBasis::Snapshot,
    }
}

/// A contract value basis; `None` for UNSPECIFIED or an unknown number.
pub fn basis_from_proto(basis: i32) -> Option<ValueBasis> {
    Some(match common::ValueBasis::try_from(basis).ok()? {
        common::ValueBasis::Unspecified => return None,
        common::ValueBasis::Cumulative => ValueBasis::Cumulative,
        common::ValueBasis::Period => ValueBasis::Period,
        common::ValueBasis::Snapshot => ValueBasis::Snapshot,
    })
}

/// The etag of a plan revision.
pub fn etag(revision: i32) -> String {
    format!("\"{revision}\"")
}

/// A content etag: the first 16 hex digits of the SHA-256 of `value` as JSON.
pub fn content_etag(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    format!("\"{}\"", &hex::encode(Sha256::digest(json))[..16])
}

/// The resource name of a plan, or of one revision of it.
pub fn plan_name(id: &str, revision: Option<i32>) -> String {
    match revision {
        Some(revision) => format!("plans/{id}@{revision}"),
        None => format!("plans/{id}"),
    }
}

/// The designation scope, and resource name, of a measure.
pub fn measure_scope(plan: &str, number: &str) -> String {
    format!("plans/{plan}/measures/{number}")
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn enums_round_trip() {
        for unit in [QuantityUnit::Cny10k, QuantityUnit::Percent, QuantityUnit::People] {
            assert_eq!(unit_from_proto(unit_to_proto(unit) as i32), Some(unit));
        }
        assert_eq!(unit_from_proto(0), None);
        assert_eq!(
            comparator_from_proto(comparator_to_proto(Comparator::AtMost) as i32),
            Some(Comparator::AtMost)
        );
        assert_eq!(basis_from_proto(99), None);
    }

    #[test]
    fn dates_are_checked() {
        let d = NaiveDate::from_ymd_opt(2023, 3, 3).unwrap();
        assert_eq!(naive_date(&date(d)), Some(d));
        assert_eq!(
            naive_date(&common::Date {
                year: 2023,
                month: 2,
                day: 30
            }),
            None
        );
    }
}
