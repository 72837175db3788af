//! Errors and validation findings shared by the directory and the plan models.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One thing wrong with a data file, located by a path such as
/// `measures[4.2].responsible_units[6]` or `targets[new-enterprises].unit`.
///
/// Validation collects these instead of stopping at the first one, so that
/// whoever fixes a hand-written file sees every mistake in a single run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where the problem is: the entry (by code or number, not by position,
    /// because positions shift as a file is edited) and the field.
    pub path: String,
    /// What is wrong, in words a data maintainer can act on.
    pub message: String,
}

impl Problem {
    /// Builds a problem from anything string-like.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a catalogue file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The text is not TOML, or does not have the expected shape
    /// (missing field, unknown field, unknown enum value, bad date).
    #[error("cannot parse catalogue TOML: {0}")]
    Parse(#[from] toml::de::Error),
    /// The file parsed but its content is inconsistent; every problem found
    /// is listed.
    #[error("{} problem(s) in catalogue data: {}", .0.len(), join(.0))]
    Invalid(Vec<Problem>),
}

impl CatalogError {
    /// The problems behind an [`CatalogError::Invalid`]; empty for parse errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(problems) => problems,
            Self::Parse(_) => &[],
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("; ")
}

/// Whether `s` is a stable lowercase ASCII slug: `a-z`, `0-9` and single
/// hyphens, neither starting nor ending with a hyphen. Codes are stored in
/// databases and URLs, so they must survive any transport unchanged.
pub(crate) fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(is_slug("tax-bureau"));
        assert!(is_slug("jiading-2023"));
        for bad in ["", "-a", "a-", "a--b", "Tax", "税务", "a_b", "a b"] {
            assert!(!is_slug(bad), "{bad:?} should not be a slug");
        }
    }

    #[test]
    fn invalid_error_lists_every_problem() {
        let err = CatalogError::Invalid(vec![Problem::new("a", "x"), Problem::new("b", "y")]);
        assert_eq!(err.to_string(), "2 problem(s) in catalogue data: a: x; b: y");
        assert_eq!(err.problems().len(), 2);
    }
}
