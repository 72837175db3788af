//! The README's configuration table is the documentation of every setting: it must list
//! exactly the keys the code reads, with the environment variable that sets each.

use std::collections::BTreeSet;

use duban_kit::Settings;
use duban_tests::read_file;

/// Every leaf key of the settings, dotted (`departments.listen`).
fn setting_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, value: &serde_json::Value, keys: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, value, keys);
                }
            }
            _ => {
                keys.insert(prefix.to_owned());
            }
        }
    }
    let mut keys = BTreeSet::new();
    walk("", &serde_json::to_value(Settings::default()).unwrap(), &mut keys);
    keys
}

/// `(key, environment variable)` of each row of the README's configuration table.
fn readme_rows() -> Vec<(String, String)> {
    let readme = read_file("README.md");
    let section = readme
        .split("\n## Configuration")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Configuration section");
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_owned(),
                cells[2].trim_matches('`').to_owned(),
            )
        })
        .collect()
}

#[test]
fn readme_lists_every_setting_and_nothing_else() {
    let documented: BTreeSet<String> = readme_rows().into_iter().map(|(key, _)| key).collect();
    let real = setting_keys();
    let undocumented: Vec<_> = real.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&real).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from the README table: {undocumented:?}"
    );
    assert!(
        stale.is_empty(),
        "README documents settings that do not exist: {stale:?}"
    );
}

#[test]
fn readme_names_the_environment_variable_that_really_sets_each_key() {
    for (key, variable) in readme_rows() {
        let expected = format!("DUBAN__{}", key.to_uppercase().replace('.', "__"));
        assert_eq!(variable, expected, "README row for {key}");
    }
}

#[test]
fn readme_opens_with_the_two_commands_a_new_user_needs() {
    let readme = read_file("README.md");
    let first_block = readme.split("```").nth(1).expect("README has a code block");
    assert!(
        first_block.contains("cargo run --release --bin duban -- up"),
        "{first_block}"
    );
    assert!(first_block.contains("cargo test --workspace"), "{first_block}");
    let ci = read_file(".ci/run");
    assert!(
        ci.lines().any(|line| line.trim() == "cargo test --workspace"),
        "CI must run the README's test command"
    );
}
