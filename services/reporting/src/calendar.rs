//! The plan's calendar as reporting names it: months, cadence and contract dates from
//! `duban-plan`, where the one implementation lives. Days end at midnight in the plan's
//! own zone (`Cadence::zone`), never in a zone written here.

pub use duban_plan::{
    Cadence, Month, PlanZone,
    contract::{date_from_proto, date_key, date_to_proto, parse_date},
};
