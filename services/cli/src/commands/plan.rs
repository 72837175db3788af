//! `duban plan export|import`: the plan as the running services hold it, as one JSON
//! document or CSV rows; and importing a plan file through `ImportPlan`.

use duban_kit::{
    Settings,
    csv_export::{CsvExport, CsvExportError},
};
use duban_proto::{
    common::v1 as common,
    measures::v1::{self as pb, measures_service_client::MeasuresServiceClient},
    targets::v1 as targets,
};
use serde_json::{Value, json};

use crate::commands::{Connection, call_failed, print_json};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON document: the plan, its actions, measures, units and targets.
    Json,
    /// One row per measure and responsible unit.
    Csv,
}

fn client(
    settings: &Settings,
    connection: &Connection,
) -> anyhow::Result<MeasuresServiceClient<duban_kit::client::ServiceChannel>> {
    Ok(MeasuresServiceClient::new(
        connection.channel(settings, &settings.measures.endpoint_url())?,
    ))
}

/// Reads the plan back from the running services and prints it.
pub async fn export(settings: &Settings, connection: &Connection, plan: &str, format: Format) -> anyhow::Result<()> {
    let request = pb::GetPlanDatasetRequest {
        name: format!("plans/{plan}"),
    };
    let dataset = client(settings, connection)?
        .get_plan_dataset(request)
        .await
        .map_err(|s| call_failed("GetPlanDataset", s))?
        .into_inner()
        .dataset
        .unwrap_or_default();
    match format {
        Format::Json => print_json(&document(&dataset)),
        Format::Csv => {
            print!("{}", csv(&dataset)?);
            Ok(())
        }
    }
}

/// Imports a plan dataset (from the built-in Jiading plan or a file) and prints the outcome.
pub async fn import(
    settings: &Settings,
    connection: &Connection,
    dataset: pb::PlanDataset,
    validate_only: bool,
) -> anyhow::Result<pb::ImportPlanResponse> {
    let request = pb::ImportPlanRequest {
        dataset: Some(dataset),
        request_id: uuid::Uuid::new_v4().to_string(),
        validate_only,
        overwrite_rebaselined_targets: false,
    };
    let response = client(settings, connection)?
        .import_plan(request)
        .await
        .map_err(|s| call_failed("ImportPlan", s))?;
    Ok(response.into_inner())
}

/// The export document: the plan, then actions with their measures nested.
pub fn document(dataset: &pb::PlanDataset) -> Value {
    let plan = dataset.plan.clone().unwrap_or_default();
    let actions: Vec<Value> = dataset
        .actions
        .iter()
        .map(|action| {
            let measures: Vec<Value> = dataset
                .measures
                .iter()
                .filter(|measure| measure.action_number == action.number)
                .map(|measure| measure_json(measure, &dataset.targets))
                .collect();
            json!({"number": action.number, "title": action.title, "title_en": action.title_en, "measures": measures})
        })
        .collect();
    json!({
        "plan": {
            "id": plan.id,
            "name": plan.name,
            "document_number": plan.document_number,
            "title": plan.title,
            "title_en": plan.title_en,
            "issuing_body": plan.issuing_body,
            "directory": plan.directory,
            "issue_date": date(plan.issue_date.as_ref()),
            "effective_from": date(plan.effective_from.as_ref()),
            "effective_to": date(plan.effective_to.as_ref()),
            "revision": plan.revision,
            "cadence": plan.cadence.as_ref().map(|cadence| json!({
                "frequency": enum_name(cadence.frequency().as_str_name(), "REPORTING_FREQUENCY_"),
                "due_day": cadence.due_day,
            })),
            "follow_up": plan.follow_up.as_ref().map(|rules| json!({
                "remind_days_before_due": rules.remind_days_before_due,
                "yellow_after_days_late": rules.yellow_after_days_late,
                "red_after_days_late": rules.red_after_days_late,
                "red_after_periods_red": rules.red_after_periods_red,
                "run_at": rules.run_at,
            })),
        },
        "actions": actions,
    })
}

fn measure_json(measure: &pb::Measure, all_targets: &[targets::Target]) -> Value {
    let units: Vec<Value> = measure
        .responsible_units
        .iter()
        .map(|unit| {
            json!({
                "as_written": unit.as_written,
                "code": unit.code,
                "name": unit.display_name,
                "kind": enum_name(unit.kind().as_str_name(), "RESPONSIBLE_UNIT_KIND_"),
                "lead": unit.lead,
            })
        })
        .collect();
    let targets: Vec<Value> = all_targets
        .iter()
        .filter(|target| target.measure_number == measure.number)
        .map(|target| {
            json!({
                "code": target.code,
                "name": target.display_name,
                "name_en": target.display_name_en,
                "unit": enum_name(target.unit().as_str_name(), "QUANTITY_UNIT_"),
                "value": target.value.as_ref().map(|v| v.value.as_str()),
                "comparator": enum_name(target.comparator().as_str_name(), "COMPARATOR_"),
                "aspirational": target.aspirational,
                "deadline": date(target.deadline.as_ref()),
                "baseline": target.baseline.as_ref().map(|v| v.value.as_str()),
                "aggregation": enum_name(target.aggregation().as_str_name(), "AGGREGATION_"),
                "value_basis": enum_name(target.value_basis().as_str_name(), "VALUE_BASIS_"),
                "reporters": target.reporters,
                "source": target.source,
            })
        })
        .collect();
    let milestones: Vec<Value> = measure
        .milestones
        .iter()
        .map(|m| {
            json!({
                "code": m.code, "start_date": date(m.start_date.as_ref()), "date": date(m.date.as_ref()),
                "description": m.description, "description_en": m.description_en,
            })
        })
        .collect();
    let parameters: Vec<Value> = measure
        .policy_parameters
        .iter()
        .map(|p| {
            json!({
                "code": p.code, "name": p.name, "name_en": p.name_en, "value": p.value.as_ref().map(|v| v.value.as_str()),
                "unit": enum_name(p.unit().as_str_name(), "QUANTITY_UNIT_"),
                "comparator": enum_name(p.comparator().as_str_name(), "COMPARATOR_"),
                "note": p.note,
            })
        })
        .collect();
    json!({
        "number": measure.number,
        "title": measure.title,
        "title_en": measure.title_en,
        "text": measure.text,
        "responsible_units": units,
        "targets": targets,
        "milestones": milestones,
        "policy_parameters": parameters,
    })
}

/// One CSV row per measure and responsible unit, through the suite's one CSV writer.
pub fn csv(dataset: &pb::PlanDataset) -> Result<String, CsvExportError> {
    let mut table = CsvExport::new([
        "action",
        "measure",
        "measure_title",
        "position",
        "as_written",
        "code",
        "name",
        "kind",
        "lead",
    ])?;
    for measure in &dataset.measures {
        for unit in &measure.responsible_units {
            table.record([
                measure.action_number.to_string(),
                measure.number.clone(),
                measure.title.clone(),
                unit.position.to_string(),
                unit.as_written.clone(),
                unit.code.clone(),
                unit.display_name.clone(),
                enum_name(unit.kind().as_str_name(), "RESPONSIBLE_UNIT_KIND_"),
                unit.lead.to_string(),
            ])?;
        }
    }
    table.finish()
}

fn enum_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn date(date: Option<&common::Date>) -> Value {
    match date {
        Some(d) if d.year > 0 => Value::String(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_nests_measures_under_their_actions() {
        let dataset = pb::PlanDataset {
            plan: Some(pb::Plan {
                id: "p".into(),
                ..Default::default()
            }),
            actions: vec![pb::Action {
                number: 1,
                title: "助企纾困行动".into(),
                ..Default::default()
            }],
            measures: vec![pb::Measure {
                action_number: 1,
                number: "1.1".into(),
                responsible_units: vec![pb::ResponsibleUnit {
                    as_written: "区经委(金融办)".into(),
                    code: "economic-commission".into(),
                    display_name: "区经委".into(),
                    kind: pb::ResponsibleUnitKind::Department as i32,
                    lead: true,
                    ..Default::default()
                }],
                milestones: vec![pb::Milestone {
                    code: "huijia-car-promotion-extension".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            targets: vec![],
        };
        let doc = document(&dataset);
        let unit = &doc["actions"][0]["measures"][0]["responsible_units"][0];
        assert_eq!(unit["kind"], "department");
        assert_eq!(unit["name"], "区经委");
        assert_eq!(unit["as_written"], "区经委(金融办)");
        assert_eq!(unit["lead"], true);
        let milestone = &doc["actions"][0]["measures"][0]["milestones"][0];
        assert_eq!(milestone["code"], "huijia-car-promotion-extension");
        assert!(csv(&dataset).unwrap().lines().nth(1).unwrap().starts_with("1,1.1,"));
    }
}
