//! Exact amounts: the contract's `duban.common.v1.Decimal` (a canonical decimal string) and rust_decimal's `Decimal`, converted both ways.

use std::str::FromStr;

pub use rust_decimal::Decimal;

use crate::common::v1 as common;

/// Why a contract decimal is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not `-?digits(.digits)?`.
    #[error("must be a decimal number such as 555 or 4.47 (digits, an optional '.' and an optional leading '-')")]
    Syntax,
    /// More than 28 significant digits, or too large.
    #[error("has more digits than an amount can carry (28 significant digits)")]
    Range,
}

/// Parses the canonical notation the contract documents: an optional `-`, digits, and
/// optionally `.` and digits. No exponent, `+`, separators or spaces.
pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return Err(DecimalError::Syntax);
    }
    Decimal::from_str_exact(text).map_err(|_| DecimalError::Range)
}

/// The shortest canonical text of a number: no trailing zeros after the point, `0`
/// rather than `-0`.
pub fn canonical(value: Decimal) -> String {
    let normal = value.normalize();
    if normal.is_zero() {
        Decimal::ZERO.to_string()
    } else {
        normal.to_string()
    }
}

/// The number of digits after the point that a value needs (4.50 needs 1).
pub fn places(value: Decimal) -> u32 {
    value.normalize().scale()
}

impl From<Decimal> for common::Decimal {
    fn from(value: Decimal) -> Self {
        common::Decimal {
            value: canonical(value),
        }
    }
}

impl TryFrom<&common::Decimal> for Decimal {
    type Error = DecimalError;

    fn try_from(value: &common::Decimal) -> Result<Self, Self::Error> {
        parse(&value.value)
    }
}

impl common::Decimal {
    /// The number, or why the text is not one.
    pub fn to_decimal(&self) -> Result<Decimal, DecimalError> {
        parse(&self.value)
    }
}

/// A contract decimal for an optional number (unset stays unset).
pub fn to_proto(value: Option<Decimal>) -> Option<common::Decimal> {
    value.map(common::Decimal::from)
}

/// The number of an optional contract decimal; unset, and text that is not a number,
/// read as `None` (for values a server wrote itself).
pub fn from_proto(value: Option<&common::Decimal>) -> Option<Decimal> {
    value.and_then(|d| d.to_decimal().ok())
}

impl FromStr for common::Decimal {
    type Err = DecimalError;

    /// Parses and canonicalises, for clients building a request from text.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text).map(common::Decimal::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_notation_is_accepted_and_everything_else_refused() {
        for (text, canonical_text) in [
            ("555", "555"),
            ("4.47", "4.47"),
            ("-0.50", "-0.5"),
            ("-0", "0"),
            ("0.000", "0"),
        ] {
            assert_eq!(canonical(parse(text).unwrap()), canonical_text, "{text}");
        }
        for text in [
            "", "-", "1.", ".5", "+1", "1e3", "1_000", " 1", "1,5", "NaN", "inf", "1.2.3",
        ] {
            assert_eq!(parse(text), Err(DecimalError::Syntax), "{text:?}");
        }
        assert_eq!(parse("123456789012345678901234567890"), Err(DecimalError::Range));
    }

    #[test]
    fn sums_are_exact_where_floats_are_not() {
        let sum = parse("0.7").unwrap() + parse("0.1").unwrap();
        assert_eq!(common::Decimal::from(sum).value, "0.8");
        assert_ne!(0.7_f64 + 0.1, 0.8);
        assert_eq!(places(parse("4.50").unwrap()), 1);
        assert_eq!(places(parse("555").unwrap()), 0);
    }
}
