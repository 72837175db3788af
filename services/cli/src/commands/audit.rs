//! `duban audit archive`: copies the audit records older than a date out of the reporting
//! server into a JSON Lines file and, with `--purge`, deletes exactly those from it
//! (PurgeAuditRecords, ADMIN). The policy it serves (ARCHITECTURE.md, "What is kept"):
//! audit records are kept at least 365 days, then archived by an operator.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use duban_kit::{Settings, client::ServiceChannel, paging::READ_ALL_PAGE_SIZE};
use duban_proto::reporting::v1::{self as pb, reporting_service_client::ReportingServiceClient};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::commands::{Connection, call_failed};

/// One archived record: one line of the archive, every field of the contract's
/// `AuditRecord`, with its time in RFC 3339 (UTC).
#[derive(Debug, Serialize)]
struct ArchivedRecord<'a> {
    name: &'a str,
    time: String,
    role: String,
    department: &'a str,
    credential: &'a str,
    method: &'a str,
    request_id: &'a str,
    code: i32,
    status_message: &'a str,
    resource: &'a str,
    validate_only: bool,
    backfill: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_index: Option<i32>,
    /// Where a submitted report came from (`API`, `WEB_FORM`, `WORKBOOK`,
    /// `COMMAND_LINE`); absent for the other methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
}

impl<'a> From<&'a pb::AuditRecord> for ArchivedRecord<'a> {
    fn from(record: &'a pb::AuditRecord) -> Self {
        let principal = record.principal.as_ref();
        Self {
            name: &record.name,
            time: record.time.as_ref().map(rfc3339).unwrap_or_default(),
            role: principal
                .map(|p| p.role().as_str_name().trim_start_matches("ROLE_").to_owned())
                .unwrap_or_default(),
            department: principal.map_or("", |p| p.department.as_str()),
            credential: principal.map_or("", |p| p.credential.as_str()),
            method: &record.method,
            request_id: &record.request_id,
            code: record.code,
            status_message: &record.status_message,
            resource: &record.resource,
            validate_only: record.validate_only,
            backfill: record.backfill,
            item_index: record.item_index,
            source: match record.source() {
                pb::ReportSource::Unspecified => None,
                source => Some(source.as_str_name().trim_start_matches("REPORT_SOURCE_")),
            },
        }
    }
}

fn rfc3339(time: &prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// `--before`: a day (midnight UTC) or an RFC 3339 time.
pub fn parse_before(text: &str) -> Result<prost_types::Timestamp, String> {
    let time = if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        day.and_time(chrono::NaiveTime::MIN).and_utc()
    } else {
        chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|_| format!("`{text}` is neither YYYY-MM-DD nor an RFC 3339 time"))?
            .to_utc()
    };
    Ok(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// Writes every audit record before `before` to `output` (which must not exist), then
/// with `purge` deletes exactly those records from the server.
///
/// The file is written beside `output` and renamed into place once complete and synced,
/// so a failed run never leaves a partial archive under the name asked for; only then is
/// the purge asked for, naming how many records the file holds, and the server deletes
/// nothing unless that is how many there are.
pub async fn archive(
    settings: &Settings,
    connection: &Connection,
    before: prost_types::Timestamp,
    output: &Path,
    purge: bool,
) -> anyhow::Result<()> {
    if output.exists() {
        bail!("{} exists already: choose a new archive file", output.display());
    }
    let mut client: ReportingServiceClient<ServiceChannel> =
        ReportingServiceClient::new(connection.channel(settings, &settings.reporting.endpoint_url())?);
    let partial = partial_path(output);
    let (count, digest) = match write_archive(&mut client, before, &partial).await {
        Ok(written) => written,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, output).with_context(|| format!("cannot rename {}", partial.display()))?;
    println!(
        "archived {count} audit records before {} to {}",
        rfc3339(&before),
        output.display()
    );
    if !purge {
        println!("to delete them from the server: the same command with --purge and a new --output");
        return Ok(());
    }
    let answer = client
        .purge_audit_records(pb::PurgeAuditRecordsRequest {
            end_time: Some(before),
            expected_count: i64::try_from(count).unwrap_or(i64::MAX),
            force: true,
            // The archive's own digest: running the purge again for the same file
            // replays its answer.
            request_id: format!("archive-{}", &hex::encode(digest)[..32]),
        })
        .await
        .map_err(|status| call_failed("PurgeAuditRecords", status))?
        .into_inner();
    println!("purged {} audit records from the server", answer.purge_count);
    Ok(())
}

/// Pages ListAuditRecords into `path`; the number of records and the file's SHA-256.
async fn write_archive(
    client: &mut ReportingServiceClient<ServiceChannel>,
    before: prost_types::Timestamp,
    path: &Path,
) -> anyhow::Result<(u64, [u8; 32])> {
    let file = std::fs::File::create_new(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut digest = Sha256::new();
    let mut count = 0u64;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_audit_records(pb::ListAuditRecordsRequest {
                page_size: READ_ALL_PAGE_SIZE,
                page_token,
                end_time: Some(before),
                ..Default::default()
            })
            .await
            .map_err(|status| call_failed("ListAuditRecords", status))?
            .into_inner();
        for record in &page.audit_records {
            let mut line = serde_json::to_vec(&ArchivedRecord::from(record))?;
            line.push(b'\n');
            digest.update(&line);
            out.write_all(&line)?;
            count += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let file = out.into_inner().map_err(std::io::IntoInnerError::into_error)?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok((count, digest.finalize().into()))
}

/// `archive.jsonl` → `archive.jsonl.partial`, in the same directory (so the rename is atomic).
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    output.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use duban_harness::{Caller, PLAN, Server, Suite};
    use duban_kit::testing::Backend;
    use sea_orm::ConnectionTrait;
    use tonic::Code;

    use super::*;

    #[test]
    fn reads_a_day_or_a_time() {
        assert_eq!(parse_before("2024-01-01").unwrap().seconds, 1_704_067_200);
        assert_eq!(
            parse_before("2024-01-01T08:00:00+08:00").unwrap().seconds,
            1_704_067_200
        );
        assert!(parse_before("January").is_err());
    }

    #[test]
    fn writes_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/tmp/audit-2023.jsonl")),
            PathBuf::from("/tmp/audit-2023.jsonl.partial")
        );
    }

    const DAY_SECONDS: i64 = 86_400;

    fn days_ago(days: i64) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() - days * DAY_SECONDS,
            nanos: 0,
        }
    }

    /// `n` refused submissions: each leaves one audit record.
    async fn audited_calls(suite: &Suite, n: usize) {
        let mut reporting = suite.reporting(Caller::Admin);
        for _ in 0..n {
            let refused = reporting
                .submit_report(pb::SubmitReportRequest {
                    parent: PLAN.into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument);
        }
    }

    /// Moves every audit record written so far `days` into the past (the test's only
    /// way to have records old enough to archive).
    async fn age_records(suite: &Suite, days: i64) {
        let db = sea_orm::Database::connect(suite.database_url(Server::Reporting))
            .await
            .unwrap();
        db.execute_unprepared(&format!(
            "UPDATE audit_record SET time_us = time_us - {}",
            days * DAY_SECONDS * 1_000_000
        ))
        .await
        .unwrap();
        db.close().await.unwrap();
    }

    async fn count_before(suite: &Suite, before: prost_types::Timestamp) -> usize {
        let mut records = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = suite
                .reporting(Caller::Admin)
                .list_audit_records(pb::ListAuditRecordsRequest {
                    page_size: 500,
                    page_token,
                    end_time: Some(before),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            records.extend(page.audit_records);
            if page.next_page_token.is_empty() {
                return records.len();
            }
            page_token = page.next_page_token;
        }
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The archive policy end to end: records younger than 365 days cannot be purged;
    /// a purge deletes nothing unless it names exactly how many records it covers; a
    /// retried purge replays its answer; `duban audit archive --purge` writes every
    /// record before the date to its file, then deletes exactly those, and the purge
    /// itself stays on record.
    async fn archives_then_purges_exactly_what_was_archived(backend: Backend) {
        let Some(suite) = Suite::builder(backend).with(Server::Reporting).start().await else {
            return;
        };
        let connection = Connection {
            addr: Some(suite.addr(Server::Reporting).to_string()),
            token: Some(suite.admin_token().to_owned()),
            timeout: 10,
        };
        let settings = Settings::default();
        let dir = tempfile::tempdir().unwrap();
        let before = days_ago(365);

        audited_calls(&suite, 5).await;
        age_records(&suite, 400).await;
        audited_calls(&suite, 2).await;
        assert_eq!(count_before(&suite, before).await, 5);

        let mut reporting = suite.reporting(Caller::Admin);
        let purge = |end_time, expected_count, force, request_id: &str| pb::PurgeAuditRecordsRequest {
            end_time: Some(end_time),
            expected_count,
            force,
            request_id: request_id.into(),
        };
        let dry = reporting
            .purge_audit_records(purge(before, 0, false, ""))
            .await
            .unwrap();
        assert_eq!(dry.into_inner().purge_count, 5, "a count alone");
        let recent = reporting
            .purge_audit_records(purge(days_ago(300), 5, true, ""))
            .await
            .unwrap_err();
        assert_eq!(recent.code(), Code::InvalidArgument);
        assert_eq!(
            duban_kit::status::field_violations(&recent)[0].field,
            "end_time",
            "{recent:?}"
        );
        let short = reporting
            .purge_audit_records(purge(before, 4, true, ""))
            .await
            .unwrap_err();
        assert_eq!(short.code(), Code::FailedPrecondition, "{short:?}");
        assert_eq!(duban_kit::status::reason(&short).as_deref(), Some("ARCHIVE_INCOMPLETE"));
        assert_eq!(count_before(&suite, before).await, 5, "nothing deleted");
        let denied = suite
            .reporting(
                &suite
                    .issue_token(duban_proto::departments::v1::Role::Leadership, "")
                    .await,
            )
            .purge_audit_records(purge(before, 5, true, ""))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);

        // Archived first (no purge): the file holds the five, the server too.
        let first = dir.path().join("first.jsonl");
        archive(&settings, &connection, before, &first, false).await.unwrap();
        let archived = lines(&first);
        assert_eq!(archived.len(), 5);
        // Each a refused submission that declared no source: the API's.
        assert!(archived.iter().all(|record| {
            record["method"] == "/duban.reporting.v1.ReportingService/SubmitReport"
                && record["code"] == 3
                && record["source"] == "API"
        }));
        assert!(
            archive(&settings, &connection, before, &first, false).await.is_err(),
            "an archive is never overwritten"
        );
        assert_eq!(count_before(&suite, before).await, 5);

        // Purged by name and count; the retry replays the first answer although the
        // records are gone (a new purge would find none).
        let purged = reporting
            .purge_audit_records(purge(before, 5, true, "p1"))
            .await
            .unwrap();
        assert_eq!(purged.into_inner().purge_count, 5);
        let replayed = reporting
            .purge_audit_records(purge(before, 5, true, "p1"))
            .await
            .unwrap();
        assert_eq!(replayed.into_inner().purge_count, 5);
        assert_eq!(count_before(&suite, before).await, 0);

        // Everything since (the two calls, the refusals, the purges) ages past the year:
        // the command archives and purges it in one go.
        age_records(&suite, 400).await;
        let waiting = count_before(&suite, before).await;
        assert!(waiting >= 2 + 4 + 2, "{waiting}");
        let second = dir.path().join("second.jsonl");
        archive(&settings, &connection, before, &second, true).await.unwrap();
        let archived = lines(&second);
        assert_eq!(archived.len(), waiting);
        assert!(
            archived.iter().any(|record| {
                record["method"] == "/duban.reporting.v1.ReportingService/PurgeAuditRecords"
                    && record["code"] == 0
                    && record["request_id"] == "p1"
                    && record.get("source").is_none()
            }),
            "the purge was on record"
        );
        assert_eq!(count_before(&suite, before).await, 0);
        assert!(!dir.path().join("second.jsonl.partial").exists());
        let kept = suite
            .reporting(Caller::Admin)
            .list_audit_records(pb::ListAuditRecordsRequest {
                method: "PurgeAuditRecords".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            kept.audit_records
                .iter()
                .any(|record| record.code == 0 && record.resource.starts_with("auditRecords?end_time=")),
            "the command's own purge is on record: {kept:?}"
        );
        suite.stop().await;
    }

    duban_kit::backend_tests!(archives_then_purges_exactly_what_was_archived);
}
