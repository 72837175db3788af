//! What people type: statuses, states, `--value`, `--milestone`, `--blocker`, `--evidence`, months, report names and narratives.

use anyhow::Context;
use duban_proto::decimal::Decimal;
use duban_proto::{common::v1 as common, reporting::v1 as pb};

/// A department's overall assessment, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    /// Work has not started yet.
    NotStarted,
    /// Progressing as planned.
    OnTrack,
    /// May miss a target or milestone without action.
    AtRisk,
    /// Will miss a target or milestone without intervention.
    OffTrack,
    /// The department's part is done.
    Completed,
}

impl StatusArg {
    /// The contract's value.
    pub fn to_proto(self) -> pb::OverallStatus {
        match self {
            StatusArg::NotStarted => pb::OverallStatus::NotStarted,
            StatusArg::OnTrack => pb::OverallStatus::OnTrack,
            StatusArg::AtRisk => pb::OverallStatus::AtRisk,
            StatusArg::OffTrack => pb::OverallStatus::OffTrack,
            StatusArg::Completed => pb::OverallStatus::Completed,
        }
    }
}

/// A report state, as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    /// Awaiting review.
    Submitted,
    /// Accepted by leadership.
    Accepted,
    /// Returned to the department for correction.
    Returned,
}

impl StateArg {
    pub(crate) fn to_proto(self) -> pb::report::State {
        match self {
            StateArg::Submitted => pb::report::State::Submitted,
            StateArg::Accepted => pb::report::State::Accepted,
            StateArg::Returned => pb::report::State::Returned,
        }
    }
}

/// `--value new-enterprises=3200`: a target code and a number.
/// `code=NUMBER`, the number an exact decimal (`555`, `4.47`): never read as a float.
pub fn parse_value(text: &str) -> Result<(String, Decimal), String> {
    let (code, number) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not <target-code>=<number>"))?;
    let code = code.trim();
    if code.is_empty() {
        return Err(format!("{text:?} has no target code before '='"));
    }
    let value = duban_proto::decimal::parse(number.trim())
        .map_err(|problem| format!("{:?} {problem} (in {text:?})", number.trim()))?;
    Ok((code.to_owned(), value))
}

/// `--milestone huijia-car-promotion-extension=achieved@2023-06-30`: a milestone of the
/// measure by its code, its status (`not-started`, `in-progress`, `achieved` with the day
/// it was achieved after `@`, or `delayed`), and after `:` an optional note (which may
/// itself contain ':').
pub fn parse_milestone(text: &str) -> Result<pb::MilestoneUpdate, String> {
    let (code, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not <milestone-code>=<status>[@<achieve-date>][:<note>]"))?;
    let code = code.trim();
    if code.is_empty() {
        return Err(format!("{text:?} has no milestone code before '='"));
    }
    let (head, note) = rest.split_once(':').unwrap_or((rest, ""));
    let (status, achieved) = match head.split_once('@') {
        Some((status, day)) => (status, Some(day.trim())),
        None => (head, None),
    };
    let status = match status.trim().to_ascii_lowercase().as_str() {
        "not-started" => pb::MilestoneStatus::NotStarted,
        "in-progress" => pb::MilestoneStatus::InProgress,
        "achieved" => pb::MilestoneStatus::Achieved,
        "delayed" => pb::MilestoneStatus::Delayed,
        other => {
            return Err(format!(
                "{other:?} is not a milestone status: not-started, in-progress, achieved or delayed"
            ));
        }
    };
    let achieve_date = match (achieved, status) {
        (Some(day), pb::MilestoneStatus::Achieved) => {
            let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| format!("{day:?} is not a day like 2023-06-30 (in {text:?})"))?;
            Some(duban_plan::contract::date_to_proto(day))
        }
        (None, pb::MilestoneStatus::Achieved) => {
            return Err(format!(
                "{text:?}: an achieved milestone needs its day, as achieved@2023-06-30"
            ));
        }
        (Some(_), _) => return Err(format!("{text:?}: only an achieved milestone has a day after '@'")),
        (None, _) => None,
    };
    Ok(pb::MilestoneUpdate {
        milestone_code: code.to_owned(),
        status: status as i32,
        achieve_date,
        note: note.trim().to_owned(),
        ..Default::default()
    })
}

/// `--blocker "high:planning-resources-bureau:土地指标未落实"`: severity, the unit whose
/// help is asked (may be empty), and the text (which may itself contain ':').
pub fn parse_blocker(text: &str) -> Result<pb::Blocker, String> {
    let mut parts = text.splitn(3, ':');
    let (Some(severity), Some(unit), Some(description)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "{text:?} is not <severity>:<support-unit-code>:<text> (the unit may be empty: \"high::text\")"
        ));
    };
    let severity = match severity.trim().to_ascii_lowercase().as_str() {
        "low" => pb::BlockerSeverity::Low,
        "medium" => pb::BlockerSeverity::Medium,
        "high" => pb::BlockerSeverity::High,
        "critical" => pb::BlockerSeverity::Critical,
        other => return Err(format!("{other:?} is not a severity: low, medium, high or critical")),
    };
    let description = description.trim();
    if description.is_empty() {
        return Err(format!("{text:?} has no description"));
    }
    Ok(pb::Blocker {
        description: description.to_owned(),
        severity: severity as i32,
        support_unit: unit.trim().to_owned(),
        ..Default::default()
    })
}

/// `--resolve-blocker plans/jiading-2023/blockers/4.1~nanxiang-town~1`: closes an open
/// blocker of the report's measure and department (the only way one closes).
pub fn resolve_blocker(name: &str) -> Result<pb::Blocker, String> {
    let name = name.trim();
    if !name.starts_with("plans/") || !name.contains("/blockers/") {
        return Err(format!(
            "{name:?} is not a blocker name, plans/{{plan}}/blockers/{{measure}}~{{department}}~{{number}}"
        ));
    }
    Ok(pb::Blocker {
        name: name.to_owned(),
        resolve: true,
        ..Default::default()
    })
}

/// `--evidence "2023年6月签约清单=https://..."`: a title and a URL. The URL starts at the
/// first `=http://` or `=https://`, so a title may contain '=' and a URL its query.
pub fn parse_evidence(text: &str) -> Result<pb::EvidenceLink, String> {
    let split = ["=https://", "=http://"]
        .iter()
        .filter_map(|needle| text.find(needle))
        .min()
        .or_else(|| text.find('='))
        .ok_or_else(|| format!("{text:?} is not <title>=<url>"))?;
    let (title, url) = (text[..split].trim(), text[split + 1..].trim());
    if title.is_empty() || url.is_empty() {
        return Err(format!("{text:?} needs both a title and a URL"));
    }
    Ok(pb::EvidenceLink {
        title: title.to_owned(),
        url: url.to_owned(),
        sha256: String::new(),
    })
}

/// `2023-06` as a period.
pub fn parse_period(text: &str) -> Result<common::Period, String> {
    let bad = || format!("{text:?} is not a month like 2023-06");
    let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: i32 = month.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1000..=9999).contains(&year) {
        return Err(bad());
    }
    Ok(common::Period { year, month })
}

/// `plans/{plan}/reports/{key}` for a full name or a bare `{measure}~{department}~{period}`.
pub fn report_name(plan: &str, name: &str) -> String {
    if name.starts_with("plans/") {
        name.to_owned()
    } else {
        format!("plans/{plan}/reports/{name}")
    }
}

/// Reads a narrative from `@file` or takes it as given.
pub fn narrative_text(text: &str) -> anyhow::Result<String> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read the narrative from {path}")),
        None => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_a_code_and_a_number() {
        assert_eq!(
            parse_value("new-enterprises=3200"),
            Ok(("new-enterprises".into(), Decimal::from(3200)))
        );
        assert_eq!(
            parse_value(" share = 35.5 "),
            Ok(("share".into(), Decimal::new(355, 1)))
        );
        assert_eq!(
            parse_value("fdi=0.1").map(|(_, v)| v + Decimal::new(2, 1)),
            Ok(Decimal::new(3, 1))
        );
        assert!(parse_value("x=1e3").is_err());
        assert!(parse_value("new-enterprises").is_err());
        assert!(parse_value("=3").is_err());
        assert!(parse_value("x=abc").is_err());
        assert!(parse_value("x=NaN").is_err());
        assert!(parse_value("x=inf").is_err());
    }

    #[test]
    fn milestones_are_a_code_a_status_and_maybe_a_day_and_a_note() {
        let achieved = parse_milestone("huijia-car-promotion-extension=achieved@2023-06-30").unwrap();
        assert_eq!(achieved.milestone_code, "huijia-car-promotion-extension");
        assert_eq!(achieved.milestone_number, 0);
        assert_eq!(achieved.status(), pb::MilestoneStatus::Achieved);
        assert_eq!(
            achieved.achieve_date.map(|d| (d.year, d.month, d.day)),
            Some((2023, 6, 30))
        );
        let delayed = parse_milestone("small-taxpayer-vat-relief = Delayed : 预计9月：待市级文件").unwrap();
        assert_eq!(delayed.status(), pb::MilestoneStatus::Delayed);
        assert_eq!(delayed.note, "预计9月：待市级文件");
        assert!(delayed.achieve_date.is_none());
        assert!(parse_milestone("x=achieved").is_err());
        assert!(parse_milestone("x=in-progress@2023-06-30").is_err());
        assert!(parse_milestone("x=achieved@2023-02-30").is_err());
        assert!(parse_milestone("x=done").is_err());
        assert!(parse_milestone("=achieved@2023-06-30").is_err());
        assert!(parse_milestone("2").is_err());
    }

    #[test]
    fn blockers_are_severity_unit_and_text() {
        let blocker = parse_blocker("high:planning-resources-bureau:土地指标未落实：需协调").unwrap();
        assert_eq!(blocker.severity(), pb::BlockerSeverity::High);
        assert_eq!(blocker.support_unit, "planning-resources-bureau");
        assert_eq!(blocker.description, "土地指标未落实：需协调");
        let no_unit = parse_blocker("Low::a:b").unwrap();
        assert_eq!(no_unit.severity(), pb::BlockerSeverity::Low);
        assert_eq!(no_unit.support_unit, "");
        assert_eq!(no_unit.description, "a:b");
        assert!(parse_blocker("urgent:x:text").is_err());
        assert!(parse_blocker("high:text").is_err());
        assert!(parse_blocker("high:x:  ").is_err());
    }

    #[test]
    fn evidence_splits_before_the_url() {
        let link = parse_evidence("清单 a=b=https://x.org/f?a=1&b=2").unwrap();
        assert_eq!(link.title, "清单 a=b");
        assert_eq!(link.url, "https://x.org/f?a=1&b=2");
        assert_eq!(parse_evidence("t=http://x").unwrap().url, "http://x");
        assert!(parse_evidence("no url").is_err());
        assert!(parse_evidence("=https://x").is_err());
    }

    #[test]
    fn periods_are_months() {
        assert_eq!(parse_period("2023-06"), Ok(common::Period { year: 2023, month: 6 }));
        assert!(parse_period("2023-13").is_err());
        assert!(parse_period("2023/06").is_err());
        assert_eq!(
            report_name("p", "4.1~tax-bureau~2023-06"),
            "plans/p/reports/4.1~tax-bureau~2023-06"
        );
        assert_eq!(report_name("p", "plans/q/reports/x"), "plans/q/reports/x");
    }
}
