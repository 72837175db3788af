//! Reading dates written either as TOML local dates (`issue_date = 2023-03-03`)
//! or as ISO strings (`"2023-03-03"`, what the model emits as JSON).
//!
//! chrono's own `Deserialize` for `NaiveDate` only accepts a string, while the
//! toml crate hands a date literal over as its private datetime map; plan
//! files should use real TOML dates, so both forms are accepted here.

use std::fmt;

use chrono::NaiveDate;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = NaiveDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a local date such as 2023-03-03")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NaiveDate, E> {
        NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|e| E::custom(format!("bad date `{v}`: {e}")))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NaiveDate, A::Error> {
        let dt = toml::value::Datetime::deserialize(MapAccessDeserializer::new(map))?;
        // A date-time or a time would silently lose information: refuse it.
        match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                .ok_or_else(|| de::Error::custom(format!("{dt} is not a calendar date"))),
            _ => Err(de::Error::custom(format!(
                "expected a local date such as 2023-03-03, got {dt}"
            ))),
        }
    }
}

/// For `NaiveDate` fields.
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    d.deserialize_any(DateVisitor)
}

/// For `Option<NaiveDate>` fields marked `#[serde(default)]`: present means
/// `Some`, absent falls back to the default `None`.
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    required(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Row {
        #[serde(deserialize_with = "super::required")]
        date: chrono::NaiveDate,
    }

    fn parse(text: &str) -> Result<chrono::NaiveDate, toml::de::Error> {
        toml::from_str::<Row>(text).map(|r| r.date)
    }

    #[test]
    fn toml_literal_and_string_both_work() {
        let expected = chrono::NaiveDate::from_ymd_opt(2023, 3, 3);
        assert_eq!(parse("date = 2023-03-03").ok(), expected);
        assert_eq!(parse("date = \"2023-03-03\"").ok(), expected);
    }

    #[test]
    fn date_times_and_nonsense_are_refused() {
        assert!(parse("date = 2023-03-03T10:00:00").is_err());
        assert!(parse("date = 10:00:00").is_err());
        assert!(parse("date = \"2023-02-30\"").is_err());
        assert!(parse("date = 20230303").is_err());
    }
}
