//! `duban departments list`: every responsible unit and group of the directory.

use duban_kit::Settings;
use duban_proto::departments::v1::{self as pb, departments_service_client::DepartmentsServiceClient};
use serde::Serialize;

use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// A unit as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct UnitOut {
    code: String,
    name: String,
    name_en: String,
    kind: String,
    aliases: Vec<String>,
}

/// A group as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct GroupOut {
    code: String,
    name: String,
    name_en: String,
    kind: String,
    members: Vec<String>,
    member_kinds: Vec<String>,
    aliases: Vec<String>,
}

/// The whole listing.
#[derive(Debug, Serialize)]
pub struct Listing {
    departments: Vec<UnitOut>,
    groups: Vec<GroupOut>,
}

/// Lists every unit and every group, following page tokens to the end.
pub async fn list(settings: &Settings, connection: &Connection, json: bool) -> anyhow::Result<()> {
    let client = DepartmentsServiceClient::new(connection.channel(settings, &settings.departments.endpoint_url())?);
    let departments = duban_plan::listing::all_departments(&client)
        .await
        .map_err(|s| call_failed("ListDepartments", s))?;
    let groups = duban_plan::listing::all_groups(&client)
        .await
        .map_err(|s| call_failed("ListGroups", s))?;
    let listing = Listing {
        departments: departments.into_iter().map(unit_out).collect(),
        groups: groups.into_iter().map(group_out).collect(),
    };
    if json {
        return print_json(&listing);
    }
    let rows: Vec<Vec<String>> = listing
        .departments
        .iter()
        .map(|u| {
            vec![
                u.code.clone(),
                u.name.clone(),
                u.kind.clone(),
                u.name_en.clone(),
                u.aliases.join("、"),
            ]
        })
        .collect();
    println!(
        "{} units\n{}",
        rows.len(),
        table(&["code", "name", "kind", "english", "aliases"], &rows)
    );
    let rows: Vec<Vec<String>> = listing
        .groups
        .iter()
        .map(|g| {
            let members = if g.kind == "fixed" {
                g.members.join(", ")
            } else {
                "designated per measure".to_owned()
            };
            vec![g.code.clone(), g.name.clone(), g.kind.clone(), members]
        })
        .collect();
    println!(
        "{} groups\n{}",
        rows.len(),
        table(&["code", "name", "kind", "members"], &rows)
    );
    Ok(())
}

fn kind_name(kind: pb::DepartmentKind) -> String {
    kind.as_str_name()
        .trim_start_matches("DEPARTMENT_KIND_")
        .to_ascii_lowercase()
}

fn unit_out(department: pb::Department) -> UnitOut {
    UnitOut {
        kind: kind_name(department.kind()),
        code: department.code,
        name: department.display_name,
        name_en: department.display_name_en,
        aliases: department.aliases,
    }
}

fn group_out(group: pb::Group) -> GroupOut {
    GroupOut {
        kind: group
            .kind()
            .as_str_name()
            .trim_start_matches("GROUP_KIND_")
            .to_ascii_lowercase(),
        member_kinds: group
            .member_kinds
            .iter()
            .map(|kind| kind_name(pb::DepartmentKind::try_from(*kind).unwrap_or_default()))
            .collect(),
        code: group.code,
        name: group.display_name,
        name_en: group.display_name_en,
        members: group.members,
        aliases: group.aliases,
    }
}
