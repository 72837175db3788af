//! Who reports on what: the departments, each measure's responsible units, and members designated for groups.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use duban_kit::client::ServiceChannel;
use duban_proto::{
    departments::v1::{self as departments, departments_service_client::DepartmentsServiceClient},
    measures::v1::{self as measures, measures_service_client::MeasuresServiceClient},
};

use super::access::Clients;
use crate::{commands::call_failed, prng::SplitMix64};

pub(crate) async fn list_departments(
    client: &mut DepartmentsServiceClient<ServiceChannel>,
) -> anyhow::Result<BTreeMap<String, departments::Department>> {
    let listed = duban_plan::listing::all_departments(client)
        .await
        .map_err(|s| call_failed("ListDepartments", s))?;
    Ok(listed.into_iter().map(|d| (d.code.clone(), d)).collect())
}

pub(crate) async fn list_measures(
    client: &mut MeasuresServiceClient<ServiceChannel>,
    parent: &str,
) -> anyhow::Result<Vec<measures::Measure>> {
    duban_plan::listing::all_measures(client, parent)
        .await
        .map_err(|s| call_failed("ListMeasures", s))
}

/// For each measure (in plan order), the department codes responsible for it: listed
/// ones and the members of listed groups, each once.
pub(crate) fn responsible_units(measures: &[measures::Measure]) -> Vec<(String, Vec<String>)> {
    measures
        .iter()
        .map(|measure| {
            let mut codes: Vec<String> = Vec::new();
            for unit in &measure.responsible_units {
                let members = if unit.kind() == measures::ResponsibleUnitKind::Group {
                    unit.member_codes.clone()
                } else {
                    vec![unit.code.clone()]
                };
                for code in members {
                    if !code.is_empty() && !codes.contains(&code) {
                        codes.push(code);
                    }
                }
            }
            (measure.number.clone(), codes)
        })
        .collect()
}

/// A designation made now.
pub(crate) struct Designated {
    /// The measure number.
    pub(crate) measure: String,
    /// The units designated.
    pub(crate) members: Vec<String>,
    /// As the summary shows it: `3.4 相关街镇 = a,b`.
    pub(crate) line: String,
}

/// Designates two or three members for every DESIGNATED group of a measure that has
/// none yet, among the units the group admits and the measure does not already list.
pub(crate) async fn designate(
    c: &mut Clients,
    parent: &str,
    units: &BTreeMap<String, departments::Department>,
    seed: u64,
) -> anyhow::Result<Vec<Designated>> {
    let mut made = Vec::new();
    let mut groups: HashMap<String, departments::Group> = HashMap::new();
    for measure in list_measures(&mut c.measures, parent).await? {
        let listed: BTreeSet<&str> = measure.responsible_units.iter().map(|u| u.code.as_str()).collect();
        for unit in &measure.responsible_units {
            if unit.kind() != measures::ResponsibleUnitKind::Group || !unit.member_codes.is_empty() {
                continue;
            }
            if !groups.contains_key(&unit.code) {
                let group = c
                    .departments
                    .get_group(departments::GetGroupRequest {
                        name: format!("groups/{}", unit.code),
                    })
                    .await
                    .map_err(|s| call_failed("GetGroup", s))?
                    .into_inner();
                groups.insert(unit.code.clone(), group);
            }
            let group = &groups[&unit.code];
            if group.kind() != departments::GroupKind::Designated {
                continue;
            }
            let candidates: Vec<String> = units
                .values()
                .filter(|d| group.member_kinds.is_empty() || group.member_kinds.contains(&d.kind))
                .filter(|d| !listed.contains(d.code.as_str()))
                .map(|d| d.code.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let mut rng = SplitMix64::for_key(seed, &["designate", &unit.code, &measure.name]);
            let count = 2 + rng.below(2);
            let members = rng.sample(&candidates, count);
            c.departments
                .update_group_designation(departments::UpdateGroupDesignationRequest {
                    designation: Some(departments::GroupDesignation {
                        group: unit.code.clone(),
                        scope: measure.name.clone(),
                        members: members.clone(),
                        ..Default::default()
                    }),
                    request_id: rng.uuid(),
                    validate_only: false,
                    // The demo designates members for the first time: it means to create.
                    allow_missing: true,
                })
                .await
                .map_err(|s| call_failed(&format!("UpdateGroupDesignation {} {}", unit.code, measure.name), s))?;
            made.push(Designated {
                line: format!("{} {} = {}", measure.number, unit.as_written, members.join(",")),
                measure: measure.number.clone(),
                members,
            });
        }
    }
    Ok(made)
}
