//! Validation of a directory's content, and construction of its lookup
//! index in the same pass (the index is exactly what validation must prove
//! unambiguous).

use std::collections::{HashMap, HashSet};

use super::{Directory, Group, GroupKind, Resolved, normalize_unit_name};
use crate::error::{Problem, is_slug};

impl Directory {
    /// Checks the content and fills the index; returns every problem.
    pub(super) fn build_index(&mut self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut index: HashMap<String, Resolved> = HashMap::new();
        // Where each normalised key came from, to say what it collides with.
        let mut key_origin: HashMap<String, String> = HashMap::new();
        let mut codes: HashSet<&str> = HashSet::new();

        if !is_slug(&self.header.code) {
            problems.push(Problem::new("directory.code", "must be a lowercase ASCII slug"));
        }

        let entries = self.units.iter().map(|u| {
            (
                &u.code,
                &u.name,
                &u.name_en,
                &u.aliases,
                "units",
                Resolved::Unit(u.code.clone()),
            )
        });
        let entries = entries.chain(self.groups.iter().map(|g| {
            (
                &g.code,
                &g.name,
                &g.name_en,
                &g.aliases,
                "groups",
                Resolved::Group(g.code.clone()),
            )
        }));
        for (code, name, name_en, aliases, table, target) in entries {
            let at = format!("{table}[{code}]");
            if !is_slug(code) {
                problems.push(Problem::new(
                    format!("{at}.code"),
                    "must be a lowercase ASCII slug (a-z, 0-9, single hyphens)",
                ));
            }
            if !codes.insert(code) {
                problems.push(Problem::new(
                    format!("{at}.code"),
                    "code is used twice (units and groups share one namespace)",
                ));
            }
            if name_en.trim().is_empty() {
                problems.push(Problem::new(format!("{at}.name_en"), "must not be empty"));
            }
            let spellings = std::iter::once((format!("{at}.name"), name)).chain(
                aliases
                    .iter()
                    .enumerate()
                    .map(|(i, a)| (format!("{at}.aliases[{i}]"), a)),
            );
            for (path, spelling) in spellings {
                let key = normalize_unit_name(spelling);
                if key.is_empty() {
                    problems.push(Problem::new(path, "must not be empty"));
                } else if let Some(first) = key_origin.get(&key) {
                    problems.push(Problem::new(path, format!("`{spelling}` already names {first}")));
                } else {
                    key_origin.insert(key.clone(), path);
                    index.insert(key, target.clone());
                }
            }
        }

        for group in &self.groups {
            problems.extend(self.check_group(group));
        }
        self.index = index;
        problems
    }

    fn check_group(&self, group: &Group) -> Vec<Problem> {
        let at = format!("groups[{}]", group.code);
        let mut problems = Vec::new();
        match group.kind {
            GroupKind::Fixed => {
                if group.members.is_empty() {
                    problems.push(Problem::new(format!("{at}.members"), "a fixed group needs members"));
                }
                let mut seen = HashSet::new();
                for (i, member) in group.members.iter().enumerate() {
                    let path = format!("{at}.members[{i}]");
                    match self.unit(member) {
                        None => problems.push(Problem::new(path, format!("no unit has code `{member}`"))),
                        Some(_) if !seen.insert(member) => {
                            problems.push(Problem::new(path, format!("`{member}` is listed twice")))
                        }
                        Some(u) if !group.member_kinds.is_empty() && !group.member_kinds.contains(&u.kind) => {
                            problems.push(Problem::new(
                                path,
                                format!("`{member}` is of a kind the group does not allow"),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            GroupKind::Designated => {
                if !group.members.is_empty() {
                    problems.push(Problem::new(
                        format!("{at}.members"),
                        "a designated group gets its members at run time; list none",
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_bad_members_are_all_reported() {
        let text = r#"
            [directory]
            code = "x"
            name = "X"
            name_en = "X"
            [[units]]
            code = "a"
            name = "甲局"
            name_en = "A"
            kind = "bureau"
            aliases = ["甲 局"]
            [[units]]
            code = "a"
            name = "乙局"
            name_en = ""
            kind = "bureau"
            [[groups]]
            code = "G"
            name = "各局"
            name_en = "All"
            kind = "fixed"
            members = ["a", "nope"]
        "#;
        let err = Directory::from_toml_str(text).unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "units[a].aliases[0]",
                "units[a].code",
                "units[a].name_en",
                "groups[G].code",
                "groups[G].members[1]"
            ]
        );
    }
}
