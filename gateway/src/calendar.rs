//! Dates and reporting periods as the gateway names them: the contract conversions of
//! `duban-plan`, where the one implementation lives. A plan's own calendar (periods, due
//! days, its time zone) is `Catalogue::calendar`.

pub use duban_plan::contract::{
    date_from_proto as to_naive, date_label, date_to_proto as to_date, parse_date, period_end, period_key,
    period_label, period_of,
};
