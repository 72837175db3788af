//! `duban report accept|return`: leadership's review of the latest revision.

use duban_kit::Settings;
use duban_proto::reporting::v1 as pb;

use super::{plan_zone, report_name, report_out, reporting};
use crate::commands::{Connection, call_failed, print_json};

/// How a report is reviewed.
#[derive(Debug, Clone)]
pub enum Review {
    /// Accept, with an optional comment.
    Accept {
        /// The comment.
        comment: String,
    },
    /// Return, with the reason shown to the department.
    Return {
        /// The reason.
        reason: String,
    },
}

/// Accepts or returns the latest revision of a report; without `etag`, the current one is
/// read first.
pub async fn review(
    settings: &Settings,
    connection: &Connection,
    plan: &str,
    name: &str,
    etag: Option<String>,
    review: Review,
    json: bool,
) -> anyhow::Result<()> {
    let mut client = reporting(settings, connection)?;
    let name = report_name(plan, name);
    let etag = match etag.filter(|e| !e.is_empty()) {
        Some(etag) => etag,
        None => {
            client
                .get_report(pb::GetReportRequest { name: name.clone() })
                .await
                .map_err(|s| call_failed("GetReport", s))?
                .into_inner()
                .etag
        }
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let report = match review {
        Review::Accept { comment } => client
            .accept_report(pb::AcceptReportRequest {
                name,
                etag,
                comment,
                request_id,
            })
            .await
            .map_err(|s| call_failed("AcceptReport", s))?,
        Review::Return { reason } => client
            .return_report(pb::ReturnReportRequest {
                name,
                etag,
                reason,
                request_id,
            })
            .await
            .map_err(|s| call_failed("ReturnReport", s))?,
    }
    .into_inner();
    let out = report_out(&report, plan_zone(settings, connection, plan).await?);
    if json {
        return print_json(&out);
    }
    println!("{} revision {} is now {}", out.name, out.revision, out.state);
    Ok(())
}
