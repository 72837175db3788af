//! The directory as the departments service serves it: units and groups read over
//! gRPC (every page of ListDepartments and ListGroups) and cached briefly, since they
//! change rarely; designations are read fresh, since an administrator's change must
//! show at once.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use duban_catalog::{Directory, DirectoryHeader, Group, GroupKind, Unit, UnitKind};
use duban_kit::{
    client::ServiceChannel,
    error::DependencyUnavailable,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::departments::v1::{self as dpb, departments_service_client::DepartmentsServiceClient};

use crate::error::MeasuresError;

/// How long directory answers are reused.
pub const DIRECTORY_TTL: Duration = Duration::from_secs(30);

/// Units and groups as served.
#[derive(Debug, Clone)]
pub struct DirectoryParts {
    /// Which directory the departments service serves.
    pub header: DirectoryHeader,
    /// Every unit, in code order.
    pub units: Vec<Unit>,
    /// Every group, in code order.
    pub groups: Vec<Group>,
}

impl DirectoryParts {
    /// A validated, indexed directory over these parts, under the served directory's
    /// header, so that a plan written for another directory is reported as such.
    pub fn directory(&self) -> Result<Directory, MeasuresError> {
        Directory::from_parts(self.header.clone(), self.units.clone(), self.groups.clone()).map_err(|error| {
            MeasuresError::from(DependencyUnavailable {
                service: "departments",
                message: format!("the directory it serves is inconsistent: {error}"),
            })
        })
    }

    /// The unit with this code.
    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.code == code)
    }

    /// The group with this code.
    pub fn group(&self, code: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.code == code)
    }
}

/// Reads the directory from the departments service.
#[derive(Debug, Clone)]
pub struct DirectoryClient {
    client: DepartmentsServiceClient<ServiceChannel>,
    ttl: Duration,
    cache: Arc<Mutex<Option<Cached>>>,
}

/// The last answer and when it was fetched.
type Cached = (Arc<DirectoryParts>, Instant);

impl DirectoryClient {
    /// Over a channel that carries the service token.
    pub fn new(channel: ServiceChannel, ttl: Duration) -> Self {
        Self {
            client: DepartmentsServiceClient::new(channel),
            ttl,
            cache: Arc::default(),
        }
    }

    /// The units and groups, at most `ttl` old.
    pub async fn parts(&self) -> Result<Arc<DirectoryParts>, MeasuresError> {
        if let Some((parts, at)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(parts.clone());
        }
        let parts = Arc::new(self.fetch().await?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((parts.clone(), Instant::now()));
        Ok(parts)
    }

    async fn fetch(&self) -> Result<DirectoryParts, MeasuresError> {
        let mut client = self.client.clone();
        let served = client
            .get_directory(dpb::GetDirectoryRequest {})
            .await
            .map_err(|status| MeasuresError::dependency("departments", &status))?
            .into_inner();
        let mut parts = DirectoryParts {
            header: DirectoryHeader {
                code: served.code,
                name: served.display_name,
                name_en: served.display_name_en,
            },
            units: Vec::new(),
            groups: Vec::new(),
        };
        let departments = duban_plan::listing::all_departments(&client)
            .await
            .map_err(|status| MeasuresError::dependency("departments", &status))?;
        parts.units.extend(departments.into_iter().map(unit_from_proto));
        let groups = duban_plan::listing::all_groups(&client)
            .await
            .map_err(|status| MeasuresError::dependency("departments", &status))?;
        parts.groups.extend(groups.into_iter().map(group_from_proto));
        Ok(parts)
    }

    /// Every designation matching the filters (empty means any), every page.
    pub async fn designations(&self, scope: &str, member: &str) -> Result<Vec<Designation>, MeasuresError> {
        let designations = read_all_pages(|page_token| {
            let mut client = self.client.clone();
            async move {
                let page = client
                    .list_group_designations(dpb::ListGroupDesignationsRequest {
                        scope: scope.to_owned(),
                        member: member.to_owned(),
                        page_size: READ_ALL_PAGE_SIZE,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok::<_, tonic::Status>((page.designations, page.next_page_token))
            }
        })
        .await
        .map_err(|status| MeasuresError::dependency("departments", &status))?;
        Ok(designations
            .into_iter()
            .map(|d| Designation {
                group: d.group,
                scope: d.scope,
                members: d.members.into_iter().collect(),
            })
            .collect())
    }
}

/// Members designated for a group within a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Designation {
    /// The group's code.
    pub group: String,
    /// The scope, `plans/{plan}/measures/{n}`.
    pub scope: String,
    /// The designated department codes, in code order.
    pub members: BTreeSet<String>,
}

/// The department codes a unit stands for in a measure's scope: itself for a
/// department, every member of a fixed group, the designated members of a designated
/// group. In code order.
pub fn members_of(parts: &DirectoryParts, designations: &[Designation], code: &str, scope: &str) -> Vec<String> {
    let Some(group) = parts.group(code) else {
        return vec![code.to_owned()];
    };
    let members: BTreeSet<String> = match group.kind {
        GroupKind::Fixed => group.members.iter().cloned().collect(),
        GroupKind::Designated => designations
            .iter()
            .filter(|d| d.group == code && d.scope == scope)
            .flat_map(|d| d.members.iter().cloned())
            .collect(),
    };
    members.into_iter().collect()
}

fn unit_kind(kind: i32) -> UnitKind {
    match dpb::DepartmentKind::try_from(kind) {
        Ok(dpb::DepartmentKind::Bureau) => UnitKind::Bureau,
        Ok(dpb::DepartmentKind::Commission) => UnitKind::Commission,
        Ok(dpb::DepartmentKind::Office) => UnitKind::Office,
        Ok(dpb::DepartmentKind::TownOrStreet) => UnitKind::TownOrStreet,
        Ok(dpb::DepartmentKind::Company) => UnitKind::Company,
        _ => UnitKind::Other,
    }
}

fn unit_from_proto(d: dpb::Department) -> Unit {
    Unit {
        kind: unit_kind(d.kind),
        code: d.code,
        name: d.display_name,
        name_en: d.display_name_en,
        aliases: d.aliases,
    }
}

fn group_from_proto(g: dpb::Group) -> Group {
    Group {
        kind: match dpb::GroupKind::try_from(g.kind) {
            Ok(dpb::GroupKind::Designated) => GroupKind::Designated,
            _ => GroupKind::Fixed,
        },
        member_kinds: g.member_kinds.into_iter().map(unit_kind).collect(),
        code: g.code,
        name: g.display_name,
        name_en: g.display_name_en,
        members: g.members,
        aliases: g.aliases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_stand_for_fixed_or_designated_members() {
        let (directory, _) = duban_catalog::jiading_2023();
        let parts = DirectoryParts {
            header: directory.header().clone(),
            units: directory.units().to_vec(),
            groups: directory.groups().to_vec(),
        };
        let scope = "plans/jiading-2023/measures/4.3";
        let all = members_of(&parts, &[], "all-towns", scope);
        assert!(all.contains(&"nanxiang-town".to_owned()));
        assert!(members_of(&parts, &[], "relevant-towns", scope).is_empty());
        let designations = [Designation {
            group: "relevant-towns".into(),
            scope: scope.into(),
            members: BTreeSet::from(["nanxiang-town".to_owned()]),
        }];
        assert_eq!(
            members_of(&parts, &designations, "relevant-towns", scope),
            ["nanxiang-town"]
        );
        assert!(members_of(&parts, &designations, "relevant-towns", "plans/x/measures/1.1").is_empty());
        assert_eq!(members_of(&parts, &[], "tax-bureau", scope), ["tax-bureau"]);
        assert_eq!(parts.directory().unwrap().header().code, "jiading");
    }
}
