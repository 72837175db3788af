//! How every service stores what SQLite and PostgreSQL do not share a type for: times
//! as microseconds since the Unix epoch, lists as JSON text, amounts as `ExactDecimal`.
//! One schema then fits both.

mod exact;

pub use exact::{ExactDecimal, exact_column, from_stored_double};

use prost_types::Timestamp;

/// Microseconds since the epoch as a protobuf timestamp (negative times included).
pub fn timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// A protobuf timestamp as microseconds since the epoch.
pub fn micros(timestamp: &Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos) / 1000)
}

/// Decodes a JSON list column; a corrupt value reads as empty rather than failing a read.
pub fn json_list<T: serde::de::DeserializeOwned>(column: &str) -> Vec<T> {
    serde_json::from_str(column).unwrap_or_default()
}

/// Encodes a list for a JSON column.
pub fn to_json<T: serde::Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_the_epoch() {
        for us in [0, 1_500_000, -1, -1_500_001, 1_700_000_000_123_456] {
            assert_eq!(micros(&timestamp(us)), us);
        }
        assert_eq!(
            timestamp(-1),
            Timestamp {
                seconds: -1,
                nanos: 999_999_000
            }
        );
    }

    #[test]
    fn lists_round_trip_and_corruption_reads_as_empty() {
        assert_eq!(json_list::<String>(&to_json(&["a", "区税务局"])), ["a", "区税务局"]);
        assert!(json_list::<String>("not json").is_empty());
    }
}
