//! The directory of responsible units: who can be named in a plan's
//! 责任单位 lists, under which spellings, and which collective phrases
//! ("各街镇", "相关街镇") stand for which units.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

mod check;

use crate::error::CatalogError;

/// What sort of body a unit is. Used to restrict designated groups
/// ("相关区属公司" may only designate companies) and for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A 局.
    Bureau,
    /// A 委 (commission).
    Commission,
    /// A 办 or a service centre.
    Office,
    /// A town, subdistrict or zone committee reporting like a town.
    TownOrStreet,
    /// A state-owned company.
    Company,
    /// Party organs, unions, vertically managed agencies.
    Other,
}

/// One reporting party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Stable ASCII slug, the key other services store.
    pub code: String,
    /// Canonical Chinese name as the plan writes it.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// What sort of body this is.
    pub kind: UnitKind,
    /// Other spellings that mean this unit.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// How a group's members are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Always the listed members ("各街镇").
    Fixed,
    /// Chosen per measure by an administrator at run time ("相关街镇").
    Designated,
}

/// A collective phrase used in 责任单位 lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Stable ASCII slug; shares one namespace with unit codes.
    pub code: String,
    /// The phrase as the plan writes it.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Fixed or designated membership.
    pub kind: GroupKind,
    /// Unit codes; only for fixed groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// For designated groups: the kinds of unit that may be designated;
    /// empty means any kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_kinds: Vec<UnitKind>,
    /// Other spellings of the phrase.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The `[directory]` table: which administrative area this directory covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryHeader {
    /// Slug that a plan's `directory` field refers to.
    pub code: String,
    /// Chinese name of the area.
    pub name: String,
    /// English name of the area.
    pub name_en: String,
}

/// What a written unit string stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "code", rename_all = "snake_case")]
pub enum Resolved {
    /// A single unit, by code.
    Unit(String),
    /// A group, by code.
    Group(String),
}

impl Resolved {
    /// The code of the unit or group.
    pub fn code(&self) -> &str {
        match self {
            Self::Unit(code) | Self::Group(code) => code,
        }
    }
}

/// The file as written; [`Directory`] is only ever built from it through
/// validation, so that no unchecked or unindexed directory exists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    directory: DirectoryHeader,
    #[serde(default)]
    units: Vec<Unit>,
    #[serde(default)]
    groups: Vec<Group>,
}

impl TryFrom<DirectoryFile> for Directory {
    type Error = CatalogError;

    fn try_from(file: DirectoryFile) -> Result<Self, Self::Error> {
        Self::from_parts(file.directory, file.units, file.groups)
    }
}

/// A validated directory with a lookup index over every name and alias.
///
/// Fields are private because the index must stay in step with the units:
/// build a new directory with [`Directory::from_parts`] to change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DirectoryFile")]
pub struct Directory {
    #[serde(rename = "directory")]
    header: DirectoryHeader,
    units: Vec<Unit>,
    groups: Vec<Group>,
    #[serde(skip)]
    index: HashMap<String, Resolved>,
}

/// Canonical form of a written unit name, used as the lookup key.
///
/// Documents mix full-width and half-width punctuation ("区经委(金融办)"
/// next to "区建设管理委（重大办）") and PDF extraction leaves stray spaces,
/// so full-width ASCII (U+FF01..U+FF5E: parentheses, letters, digits) is
/// folded to half-width and every whitespace or zero-width character,
/// including the ideographic space U+3000, is dropped.
pub fn normalize_unit_name(written: &str) -> String {
    written
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}'))
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

impl Directory {
    /// Parses and validates a directory file.
    pub fn from_toml_str(text: &str) -> Result<Self, CatalogError> {
        let file: DirectoryFile = toml::from_str(text)?;
        file.try_into()
    }

    /// Validates parts built in code (or read from a database) and indexes
    /// them; fails with every problem found.
    pub fn from_parts(header: DirectoryHeader, units: Vec<Unit>, groups: Vec<Group>) -> Result<Self, CatalogError> {
        let mut dir = Self {
            header,
            units,
            groups,
            index: HashMap::new(),
        };
        let problems = dir.build_index();
        if problems.is_empty() {
            Ok(dir)
        } else {
            Err(CatalogError::Invalid(problems))
        }
    }

    /// The `[directory]` header.
    pub fn header(&self) -> &DirectoryHeader {
        &self.header
    }

    /// All units, in file order.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// All groups, in file order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The unit with this code.
    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.code == code)
    }

    /// The group with this code.
    pub fn group(&self, code: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.code == code)
    }

    /// What a unit string as written in a plan stands for, by name or alias
    /// after [`normalize_unit_name`].
    pub fn resolve(&self, written: &str) -> Option<Resolved> {
        self.index.get(&normalize_unit_name(written)).cloned()
    }

    /// The members of a fixed group; `None` for an unknown or a designated
    /// group, whose members are not known from the directory alone.
    pub fn fixed_members(&self, group_code: &str) -> Option<Vec<&Unit>> {
        let group = self.group(group_code).filter(|g| g.kind == GroupKind::Fixed)?;
        Some(group.members.iter().filter_map(|m| self.unit(m)).collect())
    }

    /// Whether an administrator may designate `unit_code` as a member of the
    /// designated group `group_code`.
    pub fn may_designate(&self, group_code: &str, unit_code: &str) -> bool {
        match (self.group(group_code), self.unit(unit_code)) {
            (Some(g), Some(u)) if g.kind == GroupKind::Designated => {
                g.member_kinds.is_empty() || g.member_kinds.contains(&u.kind)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_folds_width_and_drops_spaces() {
        assert_eq!(normalize_unit_name(" 区经委（金融办）\u{3000}"), "区经委(金融办)");
        assert_eq!(normalize_unit_name("区 经\t委\n"), "区经委");
        assert_eq!(normalize_unit_name("ＳＡＳＡＣ１２"), "SASAC12");
        assert_eq!(normalize_unit_name("区\u{200B}经委"), "区经委");
    }
}
