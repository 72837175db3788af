//! Rows to contract messages, and the kind vocabularies in between.

use duban_catalog::directory::{GroupKind, UnitKind};
use duban_proto::departments::v1 as pb;

use crate::entity::{credential, designation, notification_endpoint, unit, unit_group};

pub use duban_kit::columns::{json_list, timestamp, to_json};

/// The stored (snake_case) name of a unit kind.
pub fn unit_kind_str(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Bureau => "bureau",
        UnitKind::Commission => "commission",
        UnitKind::Office => "office",
        UnitKind::TownOrStreet => "town_or_street",
        UnitKind::Company => "company",
        UnitKind::Other => "other",
    }
}

/// A stored unit kind, or `None` for an unknown string.
pub fn unit_kind_from_str(kind: &str) -> Option<UnitKind> {
    serde_json::from_value(serde_json::Value::String(kind.to_owned())).ok()
}

/// A unit kind in the contract.
pub fn unit_kind_to_proto(kind: UnitKind) -> pb::DepartmentKind {
    match kind {
        UnitKind::Bureau => pb::DepartmentKind::Bureau,
        UnitKind::Commission => pb::DepartmentKind::Commission,
        UnitKind::Office => pb::DepartmentKind::Office,
        UnitKind::TownOrStreet => pb::DepartmentKind::TownOrStreet,
        UnitKind::Company => pb::DepartmentKind::Company,
        UnitKind::Other => pb::DepartmentKind::Other,
    }
}

/// A contract kind as a unit kind; `None` for UNSPECIFIED or unknown numbers.
pub fn unit_kind_from_proto(kind: i32) -> Option<UnitKind> {
    Some(match pb::DepartmentKind::try_from(kind).ok()? {
        pb::DepartmentKind::Unspecified => return None,
        pb::DepartmentKind::Bureau => UnitKind::Bureau,
        pb::DepartmentKind::Commission => UnitKind::Commission,
        pb::DepartmentKind::Office => UnitKind::Office,
        pb::DepartmentKind::TownOrStreet => UnitKind::TownOrStreet,
        pb::DepartmentKind::Company => UnitKind::Company,
        pb::DepartmentKind::Other => UnitKind::Other,
    })
}

/// The stored name of a group kind.
pub fn group_kind_str(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::Fixed => "fixed",
        GroupKind::Designated => "designated",
    }
}

/// The etag of a row version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A unit row as a `Department`.
pub fn department(row: &unit::Model) -> pb::Department {
    pb::Department {
        name: format!("departments/{}", row.code),
        code: row.code.clone(),
        display_name: row.name.clone(),
        display_name_en: row.name_en.clone(),
        kind: unit_kind_from_str(&row.kind).map_or(pb::DepartmentKind::Unspecified, unit_kind_to_proto) as i32,
        aliases: json_list(&row.aliases),
        create_time: Some(timestamp(row.create_time_us)),
        update_time: Some(timestamp(row.update_time_us)),
        etag: etag(row.version),
    }
}

/// A group row as a `Group`.
pub fn group(row: &unit_group::Model) -> pb::Group {
    let member_kinds: Vec<UnitKind> = json_list(&row.member_kinds);
    pb::Group {
        name: format!("groups/{}", row.code),
        code: row.code.clone(),
        display_name: row.name.clone(),
        display_name_en: row.name_en.clone(),
        kind: match row.kind.as_str() {
            "fixed" => pb::GroupKind::Fixed,
            "designated" => pb::GroupKind::Designated,
            _ => pb::GroupKind::Unspecified,
        } as i32,
        members: json_list(&row.members),
        member_kinds: member_kinds
            .into_iter()
            .map(|kind| unit_kind_to_proto(kind) as i32)
            .collect(),
        aliases: json_list(&row.aliases),
        etag: etag(row.version),
    }
}

/// The resource name of a designation: the scope's `/` become `~`.
pub fn designation_name(group: &str, scope: &str) -> String {
    format!("groups/{group}/designations/{}", scope.replace('/', "~"))
}

/// A designation row as a `GroupDesignation`.
pub fn designation(row: &designation::Model) -> pb::GroupDesignation {
    pb::GroupDesignation {
        name: designation_name(&row.group_code, &row.scope),
        group: row.group_code.clone(),
        scope: row.scope.clone(),
        members: json_list(&row.members),
        update_time: Some(timestamp(row.update_time_us)),
        etag: etag(row.version),
    }
}

/// The contract role of a stored role string.
pub fn role_from_str(role: &str) -> pb::Role {
    match role {
        "department" => pb::Role::Department,
        "leadership" => pb::Role::Leadership,
        "admin" => pb::Role::Admin,
        _ => pb::Role::Unspecified,
    }
}

/// A credential row as a `Credential` (never with the token).
pub fn credential(row: &credential::Model) -> pb::Credential {
    pb::Credential {
        name: format!("credentials/{}", row.id),
        role: role_from_str(&row.role) as i32,
        department: row.department.clone().unwrap_or_default(),
        description: row.description.clone(),
        token_prefix: row.token_prefix.clone(),
        create_time: Some(timestamp(row.create_time_us)),
        revoke_time: row.revoke_time_us.map(timestamp),
    }
}

/// The stored name of a notice level, or `None` for UNSPECIFIED and unknown numbers.
pub fn notice_level_str(level: i32) -> Option<&'static str> {
    Some(match pb::NoticeLevel::try_from(level).ok()? {
        pb::NoticeLevel::Unspecified => return None,
        pb::NoticeLevel::Reminder => "reminder",
        pb::NoticeLevel::Blue => "blue",
        pb::NoticeLevel::Yellow => "yellow",
        pb::NoticeLevel::Red => "red",
        pb::NoticeLevel::Order => "order",
    })
}

/// A stored notice level in the contract.
pub fn notice_level_from_str(level: &str) -> pb::NoticeLevel {
    match level {
        "reminder" => pb::NoticeLevel::Reminder,
        "blue" => pb::NoticeLevel::Blue,
        "yellow" => pb::NoticeLevel::Yellow,
        "red" => pb::NoticeLevel::Red,
        "order" => pb::NoticeLevel::Order,
        _ => pb::NoticeLevel::Unspecified,
    }
}

/// The resource name of a notification endpoint.
pub fn endpoint_name(department: &str, id: i64) -> String {
    format!("departments/{department}/endpoints/{id}")
}

/// Characters of a webhook secret shown in `secret_prefix`: its fixed prefix and four more.
pub const SHOWN_SECRET_CHARS: usize = "dbn_whsec_".len() + 4;

/// An endpoint row as a `NotificationEndpoint`: never with its secret, only the
/// secret's first characters.
pub fn endpoint(row: &notification_endpoint::Model) -> pb::NotificationEndpoint {
    let kind = match row.kind.as_str() {
        "webhook" => pb::EndpointKind::Webhook,
        "email" => pb::EndpointKind::Email,
        _ => pb::EndpointKind::Unspecified,
    };
    let levels: Vec<String> = json_list(&row.levels);
    pb::NotificationEndpoint {
        name: endpoint_name(&row.department, row.id),
        kind: kind as i32,
        url: if kind == pb::EndpointKind::Webhook {
            row.target.clone()
        } else {
            String::new()
        },
        address: if kind == pb::EndpointKind::Email {
            row.target.clone()
        } else {
            String::new()
        },
        language: row.language.clone(),
        levels: levels.iter().map(|level| notice_level_from_str(level) as i32).collect(),
        enabled: Some(row.enabled),
        description: row.description.clone(),
        secret_prefix: row
            .secret
            .as_deref()
            .map(|secret| secret.chars().take(SHOWN_SECRET_CHARS).collect())
            .unwrap_or_default(),
        create_time: Some(timestamp(row.create_time_us)),
        update_time: Some(timestamp(row.update_time_us)),
        etag: etag(row.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_kinds_round_trip_through_storage_and_contract() {
        for kind in [
            UnitKind::Bureau,
            UnitKind::Commission,
            UnitKind::Office,
            UnitKind::TownOrStreet,
            UnitKind::Company,
            UnitKind::Other,
        ] {
            assert_eq!(unit_kind_from_str(unit_kind_str(kind)), Some(kind));
            assert_eq!(unit_kind_from_proto(unit_kind_to_proto(kind) as i32), Some(kind));
        }
        assert_eq!(unit_kind_from_proto(0), None);
        assert_eq!(unit_kind_from_str("ministry"), None);
    }

    #[test]
    fn notice_levels_round_trip_and_unspecified_is_refused() {
        for level in 1..=5 {
            let stored = notice_level_from_str(notice_level_str(level).unwrap());
            assert_eq!(stored as i32, level);
        }
        assert_eq!(notice_level_str(0), None);
        assert_eq!(notice_level_str(6), None);
    }

    #[test]
    fn designation_names_escape_slashes() {
        assert_eq!(
            designation_name("relevant-towns", "plans/jiading-2023/measures/4.3"),
            "groups/relevant-towns/designations/plans~jiading-2023~measures~4.3"
        );
    }
}
