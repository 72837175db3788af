//! Validation of a unit's fields and parsing of resource names.

use duban_catalog::directory::{UnitKind, normalize_unit_name};
use duban_kit::FieldViolation;
use duban_proto::departments::v1 as pb;

use super::Result;
use crate::{convert, error::DepartmentsError};

/// Validates a unit's fields; returns its kind and its normalised names.
pub(crate) fn validate_department(
    draft: &pb::Department,
    prefix: &str,
    check_code: bool,
) -> Result<(UnitKind, Vec<String>)> {
    let mut violations = Vec::new();
    if check_code && !is_slug(&draft.code) {
        violations.push(FieldViolation::new(
            format!("{prefix}.code"),
            "must be a lowercase ascii slug such as `tax-bureau`, at most 63 characters",
        ));
    }
    let name = normalize_unit_name(&draft.display_name);
    if name.is_empty() || draft.display_name.chars().count() > 100 {
        violations.push(FieldViolation::new(
            format!("{prefix}.display_name"),
            "must be 1 to 100 characters",
        ));
    }
    if draft.display_name_en.chars().count() > 200 {
        violations.push(FieldViolation::new(
            format!("{prefix}.display_name_en"),
            "must be at most 200 characters",
        ));
    }
    let kind = convert::unit_kind_from_proto(draft.kind);
    if kind.is_none() {
        violations.push(FieldViolation::new(
            format!("{prefix}.kind"),
            "must be a known kind, not UNSPECIFIED",
        ));
    }
    let mut names = vec![name];
    for (index, alias) in draft.aliases.iter().enumerate() {
        let normalized = normalize_unit_name(alias);
        if normalized.is_empty() {
            violations.push(FieldViolation::new(
                format!("{prefix}.aliases[{index}]"),
                "must not be empty",
            ));
        } else if names.contains(&normalized) {
            violations.push(FieldViolation::new(
                format!("{prefix}.aliases[{index}]"),
                "repeats another name of this unit",
            ));
        } else {
            names.push(normalized);
        }
    }
    match kind {
        Some(kind) if violations.is_empty() => Ok((kind, names)),
        _ => Err(DepartmentsError::Invalid(violations)),
    }
}

/// Whether `code` is a lowercase ASCII slug.
fn is_slug(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 63
        && code
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The id part of a resource name.
pub(crate) fn parse_name<'a>(name: &'a str, prefix: &str, field: &str) -> Result<&'a str> {
    match name.strip_prefix(prefix) {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(DepartmentsError::invalid(
            field,
            format!("must be a resource name of the form `{prefix}{{code}}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> pb::Department {
        pb::Department {
            code: "tax-bureau".into(),
            display_name: "区税务局".into(),
            kind: pb::DepartmentKind::Bureau as i32,
            aliases: vec!["嘉定区税务局".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_unit_yields_its_normalised_names() {
        let (kind, names) = validate_department(&draft(), "department", true).unwrap();
        assert_eq!(kind, UnitKind::Bureau);
        assert_eq!(names, ["区税务局", "嘉定区税务局"]);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = pb::Department {
            code: "Tax Bureau".into(),
            display_name: " ".into(),
            kind: 0,
            aliases: vec!["区税务局".into(), "".into()],
            ..Default::default()
        };
        let Err(DepartmentsError::Invalid(violations)) = validate_department(&bad, "department", true) else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "department.code",
                "department.display_name",
                "department.kind",
                "department.aliases[1]"
            ]
        );
    }

    #[test]
    fn aliases_equal_after_normalisation_are_duplicates() {
        let mut unit = draft();
        unit.aliases = vec!["区经委(金融办)".into(), "区经委（金融办）".into()];
        let Err(DepartmentsError::Invalid(violations)) = validate_department(&unit, "department", true) else {
            panic!("expected invalid")
        };
        assert_eq!(violations[0].field, "department.aliases[1]");
    }

    #[test]
    fn slugs_and_names_are_parsed_strictly() {
        assert!(is_slug("nanxiang-town") && is_slug("a1"));
        assert!(!is_slug("-a") && !is_slug("a--b") && !is_slug("A") && !is_slug(""));
        assert_eq!(
            parse_name("departments/tax-bureau", "departments/", "name").unwrap(),
            "tax-bureau"
        );
        assert!(parse_name("groups/all-towns", "departments/", "name").is_err());
        assert!(parse_name("departments/a/b", "departments/", "name").is_err());
    }
}
