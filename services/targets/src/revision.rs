//! The rows of new target revisions and the content of a stored one, shared by syncs and rebaselines.

use duban_kit::auth::Verified;

use crate::{convert, entity::target_revision, rules::Content};

/// Who and why, for a new revision row.
pub(crate) struct Meta<'a> {
    pub(crate) revision: i32,
    pub(crate) plan_revision: i32,
    pub(crate) reason: String,
    pub(crate) caller: &'a Verified,
    pub(crate) rebaselined: bool,
    /// The revision the original value and deadline are carried from; `None` for
    /// revision 1, whose own figures are the original ones.
    pub(crate) original: Option<&'a target_revision::Model>,
}

/// A new revision row of `content`.
pub(crate) fn revision_row(plan: &str, code: &str, content: &Content, meta: Meta<'_>) -> target_revision::Model {
    let (role, department, credential) = convert::principal_columns(&meta.caller.principal, &meta.caller.credential);
    let deadline = convert::date_str(content.deadline);
    target_revision::Model {
        plan: plan.to_owned(),
        code: code.to_owned(),
        revision: meta.revision,
        measure_number: content.measure_number.clone(),
        action_number: content.action_number,
        display_name: content.display_name.clone(),
        display_name_en: content.display_name_en.clone(),
        unit: content.unit.clone(),
        value: content.value.into(),
        comparator: content.comparator.clone(),
        aspirational: content.aspirational,
        deadline: deadline.clone(),
        baseline: content.baseline.map(Into::into),
        aggregation: content.aggregation.clone(),
        value_basis: content.value_basis.clone(),
        reporters: convert::to_json(&content.reporters),
        reporting_departments: convert::to_json(&content.reporting_departments),
        source: content.source.clone(),
        note: content.note.clone(),
        milestones: convert::to_json(&content.milestones),
        plan_revision: meta.plan_revision,
        reason: meta.reason,
        revised_by_role: role,
        revised_by_department: department,
        revised_by_credential: credential,
        rebaselined: meta.rebaselined,
        original_value: meta
            .original
            .map_or(content.value.into(), |original| original.original_value),
        original_deadline: meta
            .original
            .map_or(deadline, |original| original.original_deadline.clone()),
        create_time_us: chrono::Utc::now().timestamp_micros(),
        decimal_places: content.decimal_places as i32,
    }
}

/// The content of a stored revision.
pub(crate) fn content_of(row: &target_revision::Model) -> Content {
    Content {
        measure_number: row.measure_number.clone(),
        action_number: row.action_number,
        display_name: row.display_name.clone(),
        display_name_en: row.display_name_en.clone(),
        unit: row.unit.clone(),
        value: row.value.0,
        comparator: row.comparator.clone(),
        aspirational: row.aspirational,
        deadline: convert::date_from_str(&row.deadline),
        baseline: row.baseline.map(Into::into),
        aggregation: row.aggregation.clone(),
        value_basis: row.value_basis.clone(),
        reporters: convert::json_list(&row.reporters),
        reporting_departments: convert::json_list(&row.reporting_departments),
        source: row.source.clone(),
        note: row.note.clone(),
        milestones: convert::json_list(&row.milestones),
        decimal_places: u32::try_from(row.decimal_places).unwrap_or_default(),
    }
}
