//! The dashboard domain: validates requests, checks who may see what, reads the cached
//! plan structure and reporting's maintained aggregates (GetProgress, GetCompliance and
//! the latest reports of the periods that matter, never a scan of every report; the open
//! blockers in one ListBlockers listing), and assembles the views with the rules of [`crate::rag`].

mod alerts;
mod measure;
mod overview;
mod ranking;
mod scorecard;
mod snapshot;
mod status;

use std::sync::Arc;

use chrono::NaiveDate;
use duban_kit::{Authenticator, Principal, auth::bearer_token};
use duban_plan::PlanCalendar;
use duban_proto::{
    common::v1::{Date, Period},
    gateway::v1 as pb,
    measures::v1::{Measure, ResponsibleUnitKind},
    reporting::v1::Blocker,
};
use tonic::metadata::MetadataMap;

use crate::{backends::Backends, calendar::to_naive, error::GatewayError, metrics::GatewayMetrics};

/// Who is asking, and with which token caller-specific reads are made.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Principal,
    /// The caller's own token, forwarded for caller-specific reads; `None` for the
    /// open dashboard (the gateway's service token is used).
    pub token: Option<String>,
}

impl Caller {
    /// The open dashboard, reading as the gateway itself.
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Service,
            token: None,
        }
    }

    pub(crate) fn require_reader(&self, what: &str) -> Result<(), GatewayError> {
        match &self.principal {
            Principal::Leadership | Principal::Admin | Principal::Service => Ok(()),
            other => Err(GatewayError::RoleNotAllowed(format!(
                "{what} needs the leadership, admin or service role; the caller is {}",
                other.label()
            ))),
        }
    }
}

/// The dashboard service's domain.
#[derive(Debug, Clone)]
pub struct Dashboard {
    backends: Arc<Backends>,
    auth: Authenticator,
    metrics: GatewayMetrics,
    /// The plan readings shared by concurrent views.
    readings: Arc<snapshot::Readings>,
}

/// `plans/{id}` → id, or FIELD_INVALID on `field`.
pub fn plan_id(name: &str, field: &str) -> Result<String, GatewayError> {
    let id = name.strip_prefix("plans/").unwrap_or("");
    let valid = (3..=63).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(id.to_owned())
    } else {
        Err(GatewayError::invalid(
            field,
            "must be `plans/{plan}`, for example `plans/jiading-2023`",
        ))
    }
}

/// The date a view is for, and why: `as_of` if given (a future or invalid date is
/// FIELD_INVALID), else the plan's default view day (today in its zone, or its last
/// effective day once it has ended: `PlanCalendar::default_view_day`).
pub fn resolve_as_of(
    as_of: Option<&Date>,
    calendar: &PlanCalendar,
) -> Result<(NaiveDate, pb::AsOfBasis), GatewayError> {
    let zone = calendar.zone();
    let today = zone.today();
    let Some(date) = as_of else {
        let day = calendar.default_view_day(today);
        let basis = if day < today {
            pb::AsOfBasis::PlanEnd
        } else {
            pb::AsOfBasis::Today
        };
        return Ok((day, basis));
    };
    let date = to_naive(date).ok_or_else(|| GatewayError::invalid("as_of", "is not a valid date"))?;
    if date > today {
        return Err(GatewayError::invalid(
            "as_of",
            format!("is after today ({})", zone.name()),
        ));
    }
    Ok((date, pb::AsOfBasis::Requested))
}

/// Orders measure numbers as the plan does: 4.9 before 4.10.
pub use duban_plan::measure_order as measure_key;

fn measure_name(plan_id: &str, number: &str) -> String {
    format!("plans/{plan_id}/measures/{number}")
}

/// The name of a department's report on a measure for a period (its latest revision).
fn report_name(plan_id: &str, measure: &str, department: &str, period: &Period) -> String {
    format!(
        "plans/{plan_id}/reports/{measure}~{department}~{}",
        crate::calendar::period_label(period)
    )
}

/// An open blocker as the dashboard shows it, with the report that raised it.
fn open_blocker(plan_id: &str, blocker: &Blocker) -> pb::OpenBlocker {
    let period = blocker.open_period.unwrap_or_default();
    pb::OpenBlocker {
        department: blocker.department.clone(),
        report: report_name(plan_id, &blocker.measure_number, &blocker.department, &period),
        period: blocker.open_period,
        blocker: Some(blocker.clone()),
    }
}

/// The departments responsible for a measure, groups expanded, with whether each leads
/// and through which group, in code order.
pub fn responsible_departments(measure: &Measure) -> Vec<(String, bool, String)> {
    let mut out: Vec<(String, bool, String)> = Vec::new();
    for unit in &measure.responsible_units {
        if unit.kind == ResponsibleUnitKind::Group as i32 {
            for member in &unit.member_codes {
                if !out.iter().any(|(code, ..)| code == member) {
                    out.push((member.clone(), unit.lead, unit.code.clone()));
                }
            }
        } else if !out.iter().any(|(code, ..)| code == &unit.code) {
            out.push((unit.code.clone(), unit.lead, String::new()));
        }
    }
    out.sort();
    out
}

impl Dashboard {
    /// Over `backends`, with the token checker; overviews are counted in `metrics`. The
    /// RAG tolerances are each plan's own (`Catalogue::calendar.rag`).
    pub fn new(backends: Arc<Backends>, auth: Authenticator, metrics: GatewayMetrics) -> Self {
        Self {
            backends,
            auth,
            metrics,
            readings: Arc::default(),
        }
    }

    /// The backends, for forwarding and watching.
    pub fn backends(&self) -> &Arc<Backends> {
        &self.backends
    }

    /// The authenticator callers are checked with (for the re-check of open streams).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    /// Who is calling, from gRPC metadata.
    pub async fn caller(&self, metadata: &MetadataMap) -> Result<Caller, GatewayError> {
        let token = bearer_token(metadata)?.to_owned();
        self.caller_from_token(&token).await
    }

    /// Who `token` belongs to.
    pub async fn caller_from_token(&self, token: &str) -> Result<Caller, GatewayError> {
        let verified = self.auth.verify(token).await?;
        Ok(Caller {
            principal: verified.principal,
            token: Some(token.to_owned()),
        })
    }
}

/// A value with its unit, in Chinese, for summaries: the number exactly as stored.
pub fn quantity(value: &duban_proto::common::v1::Decimal, unit: i32) -> String {
    use duban_proto::common::v1::QuantityUnit as U;
    let number = &value.value;
    let unit = duban_plan::quantity::unit_label_zh(U::try_from(unit).unwrap_or(U::Unspecified));
    format!("{number}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::to_date;

    fn calendar(effective_to: NaiveDate) -> PlanCalendar {
        PlanCalendar {
            effective_from: NaiveDate::from_ymd_opt(2023, 3, 3).unwrap(),
            effective_to,
            cadence: duban_plan::Cadence::monthly(5),
            follow_up: Default::default(),
            rag: Default::default(),
        }
    }

    #[test]
    fn plan_names_and_dates_are_validated() {
        assert_eq!(plan_id("plans/jiading-2023", "plan").unwrap(), "jiading-2023");
        assert!(plan_id("jiading-2023", "plan").is_err());
        assert!(plan_id("plans/Bad_Plan", "plan").is_err());
        let running = calendar(NaiveDate::MAX);
        let zone = running.zone();
        let tomorrow = zone.today() + chrono::Duration::days(1);
        assert!(resolve_as_of(Some(&to_date(tomorrow)), &running).is_err());
        assert!(
            resolve_as_of(
                Some(&Date {
                    year: 2023,
                    month: 2,
                    day: 30
                }),
                &running
            )
            .is_err()
        );
        assert_eq!(
            resolve_as_of(None, &running).unwrap(),
            (zone.today(), pb::AsOfBasis::Today)
        );
    }

    #[test]
    fn a_plan_that_has_ended_opens_on_its_last_day() {
        let end = NaiveDate::from_ymd_opt(2023, 12, 31).unwrap();
        let ended = calendar(end);
        assert_eq!(resolve_as_of(None, &ended).unwrap(), (end, pb::AsOfBasis::PlanEnd));
        // A date asked for is kept, before or after the plan's end.
        let june = NaiveDate::from_ymd_opt(2023, 6, 30).unwrap();
        assert_eq!(
            resolve_as_of(Some(&to_date(june)), &ended).unwrap(),
            (june, pb::AsOfBasis::Requested)
        );
        let later = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        assert_eq!(resolve_as_of(Some(&to_date(later)), &ended).unwrap().0, later);
        // On its last day, the plan is shown as of today.
        let today = calendar(ended.zone().today());
        assert_eq!(resolve_as_of(None, &today).unwrap().1, pb::AsOfBasis::Today);
    }

    #[test]
    fn measure_numbers_sort_numerically() {
        let mut numbers = vec!["4.10", "4.9", "10.1", "1.2"];
        numbers.sort_by_key(|n| measure_key(n));
        assert_eq!(numbers, ["1.2", "4.9", "4.10", "10.1"]);
    }

    #[test]
    fn quantities_read_in_chinese() {
        use duban_proto::common::v1::QuantityUnit as U;
        assert_eq!(quantity(&"210".parse().unwrap(), U::Cny100m as i32), "210亿元");
        assert_eq!(quantity(&"4.5".parse().unwrap(), U::WorkingDays as i32), "4.5个工作日");
    }
}
