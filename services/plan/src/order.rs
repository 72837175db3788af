//! Measure numbers in number order: "2.1" before "10.1", "4.9" before "4.10".
//!
//! One parser gives both forms: [`measure_order`], a key to compare in memory, and
//! [`measure_sort_key`], a string that sorts the same way in SQL. The string form is
//! stored (reporting's `report.measure_key` column), so it must never change.

use std::cmp::Ordering;

/// One dot-separated part of a measure number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NumberPart {
    /// All digits: compared by value. Sorts before any text.
    Number(u64),
    /// Anything else (or digits too long for a u64): compared as text.
    Text(String),
}

fn parts(number: &str) -> impl Iterator<Item = NumberPart> + '_ {
    number.split('.').map(|part| {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse()
                .map_or_else(|_| NumberPart::Text(part.to_owned()), NumberPart::Number)
        } else {
            NumberPart::Text(part.to_owned())
        }
    })
}

/// A comparable key of a measure number: its parts, then the text itself, so that
/// "003.1" and "3.1" are ordered but never equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureOrder {
    parts: Vec<NumberPart>,
    text: String,
}

impl Ord for MeasureOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for MeasureOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl MeasureOrder {
    /// The action number, the first part ("4" of "4.2"), if it is a number.
    pub fn action(&self) -> Option<u64> {
        match self.parts.first() {
            Some(NumberPart::Number(action)) => Some(*action),
            _ => None,
        }
    }
}

/// The key that puts measure numbers in number order.
pub fn measure_order(number: &str) -> MeasureOrder {
    MeasureOrder {
        parts: parts(number).collect(),
        text: number.to_owned(),
    }
}

/// Compares two measure numbers in number order.
pub fn compare_measures(a: &str, b: &str) -> Ordering {
    measure_order(a).cmp(&measure_order(b))
}

/// The stored, SQL-sortable form: each numeric part zero-padded to ten digits (leading
/// zeros dropped first), any other part prefixed with `~` so it sorts after numbers.
pub fn measure_sort_key(number: &str) -> String {
    number
        .split('.')
        .map(|part| {
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                let digits = part.trim_start_matches('0');
                format!("{digits:0>10}")
            } else {
                format!("~{part}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_numbers_sort_numerically() {
        let mut numbers = vec!["4.10", "4.9", "10.1", "1.2"];
        numbers.sort_by_key(|n| measure_order(n));
        assert_eq!(numbers, ["1.2", "4.9", "4.10", "10.1"]);
    }

    #[test]
    fn both_forms_agree_and_the_stored_form_keeps_its_shape() {
        let expected = ["1.2", "1.10", "2", "2.1", "003.1", "10.1", "10.2", "x.1"];
        let mut by_key = vec!["10.1", "2.1", "1.10", "1.2", "2", "10.2", "003.1", "x.1"];
        by_key.sort_by_key(|n| measure_sort_key(n));
        assert_eq!(by_key, expected);
        let mut by_order = by_key.clone();
        by_order.reverse();
        by_order.sort_by(|a, b| compare_measures(a, b));
        assert_eq!(by_order, expected);
        assert_eq!(measure_sort_key("4.10"), "0000000004.0000000010");
        assert_eq!(measure_sort_key("x.1"), "~x.0000000001");
        assert_eq!(measure_order("4.2").action(), Some(4));
        assert_eq!(measure_order("x.1").action(), None);
    }
}
