//! The department page at `/departments/{code}` (`department.html`): rates, report calendar, measures and
//! contributions.

use askama::Template;
use duban_proto::gateway::v1 as pb;

use super::{
    Lang,
    layout::{Audience, Frame},
};

#[derive(Template)]
#[template(path = "department.html")]
struct DepartmentPage<'a> {
    frame: Frame<'a>,
    query: String,
    scorecard: &'a pb::GetDepartmentScorecardResponse,
}

/// The department's own latest report status on a measure.
fn own_status(measure: &pb::ScorecardMeasure) -> i32 {
    measure.own_status.as_ref().map_or(0, |s| s.latest_status)
}

/// The department's contribution to a target, if it reported one.
fn contribution(c: &pb::ScorecardContribution) -> Option<duban_proto::common::v1::Decimal> {
    c.contribution.as_ref().and_then(|c| c.value.clone())
}

/// The department page at `/departments/{code}`.
pub fn department_page(
    lang: Lang,
    audience: Audience<'_>,
    scorecard: &pb::GetDepartmentScorecardResponse,
    as_of_param: &str,
) -> Result<String, askama::Error> {
    let frame = Frame {
        lang,
        title: scorecard.display_name.clone(),
        subtitle: scorecard.department.clone(),
        as_of: as_of_param,
        path: format!("/departments/{}", scorecard.department),
        unreachable: &scorecard.unreachable,
        audience,
    };
    DepartmentPage {
        query: frame.query(),
        frame,
        scorecard,
    }
    .render()
}
