//! Leadership's review of one month: most reports accepted, one returned.

use duban_kit::Settings;
use duban_proto::{common::v1 as common, departments::v1 as departments, reporting::v1 as pb};

use super::{
    access::{Clients, clients, issue_token, revoke_token},
    report_key,
};
use crate::{
    commands::{
        Connection, call_failed,
        report::{ListFilter, fetch_all},
    },
    prng::SplitMix64,
};

/// Reviews one month as leadership: accepts most of its submitted reports and returns
/// one (preferably one at risk). Only reports still SUBMITTED are touched, so a rerun
/// reviews nothing again.
pub(crate) async fn review(
    c: &mut Clients,
    settings: &Settings,
    connection: &Connection,
    plan_id: &str,
    seed: u64,
    period: common::Period,
) -> anyhow::Result<(usize, usize)> {
    let month = fetch_all(
        &mut c.reporting,
        &ListFilter {
            plan: plan_id.to_owned(),
            period: Some(period),
            ..Default::default()
        },
    )
    .await?;
    let pending: Vec<&pb::Report> = month
        .iter()
        .filter(|r| r.state() == pb::report::State::Submitted)
        .collect();
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let already_returned = month.iter().any(|r| r.state() == pb::report::State::Returned);
    // The one to return: the lowest draw among those at risk or off track (or any).
    let return_key = if already_returned {
        None
    } else {
        let troubled: Vec<&&pb::Report> = pending
            .iter()
            .filter(|r| {
                matches!(
                    r.overall_status(),
                    pb::OverallStatus::AtRisk | pb::OverallStatus::OffTrack
                )
            })
            .collect();
        let pool: Vec<&&pb::Report> = if troubled.is_empty() {
            pending.iter().collect()
        } else {
            troubled
        };
        pool.iter()
            .min_by_key(|r| SplitMix64::for_key(seed, &["return", &report_key(r)]).next_u64())
            .map(|r| report_key(r))
    };

    // Decide first, so that a token is issued only when there is something to review.
    let decisions: Vec<(&pb::Report, String, bool)> = pending
        .iter()
        .filter_map(|report| {
            let key = report_key(report);
            let mut rng = SplitMix64::for_key(seed, &["review", &key]);
            let request_id = rng.uuid();
            if Some(&key) == return_key.as_ref() {
                Some((*report, request_id, false))
            } else if rng.chance(0.85) {
                Some((*report, request_id, true))
            } else {
                None
            }
        })
        .collect();
    if decisions.is_empty() {
        return Ok((0, 0));
    }
    let (credential, token) = issue_token(
        &mut c.departments,
        departments::Role::Leadership,
        "",
        format!("duban demo (seed {seed}): leadership review"),
    )
    .await?;
    let result = async {
        let mut leadership = clients(settings, connection, Some(&token))?;
        let (mut accepted, mut returned) = (0, 0);
        for (report, request_id, accept) in decisions {
            let key = report_key(report);
            let mut rng = SplitMix64::for_key(seed, &["review-comment", &key]);
            if !accept {
                leadership
                    .reporting
                    .return_report(pb::ReturnReportRequest {
                        name: report.name.clone(),
                        etag: report.etag.clone(),
                        reason: "请补充进度滞后的原因分析和下一步整改措施，并附工作台账后重新报送。".to_owned(),
                        request_id,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("ReturnReport {key}"), s))?;
                returned += 1;
            } else {
                leadership
                    .reporting
                    .accept_report(pb::AcceptReportRequest {
                        name: report.name.clone(),
                        etag: report.etag.clone(),
                        comment: if rng.chance(0.2) {
                            "已阅，请继续做好跟踪推进。".to_owned()
                        } else {
                            String::new()
                        },
                        request_id,
                    })
                    .await
                    .map_err(|s| call_failed(&format!("AcceptReport {key}"), s))?;
                accepted += 1;
            }
        }
        anyhow::Ok((accepted, returned))
    }
    .await;
    revoke_token(&mut c.departments, &credential).await;
    result
}
