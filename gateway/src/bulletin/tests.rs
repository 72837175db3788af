//! The bulletin's content from a small overview, calendar and set of orders, and both renderings of it.

use chrono::{NaiveDate, TimeZone};
use duban_proto::{
    common::v1::{Date, Period},
    gateway::v1::{self as pb, RagStatus},
    reporting::v1::{MeasureCompliance, PeriodCompliance},
    targets::v1::Target,
};

use super::*;

/// `gateway.bulletin_number`'s default.
fn number_format() -> String {
    duban_kit::settings::GatewaySettings::default().bulletin_number
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn date(d: NaiveDate) -> Date {
    crate::calendar::to_date(d)
}

fn plan() -> Plan {
    Plan {
        title: "某区行动方案".into(),
        title_en: "Action Plan".into(),
        issuing_body: "某区人民政府".into(),
        issuing_body_en: "District Government".into(),
        ..Default::default()
    }
}

fn overview() -> pb::Overview {
    let target = |code: &str, rag: RagStatus, actual: Option<&str>| pb::TargetStatus {
        target: Some(Target {
            code: code.into(),
            measure_number: "1.1".into(),
            display_name: format!("{code}名"),
            value: Some("100".parse().unwrap()),
            ..Default::default()
        }),
        unit: QuantityUnit::Cny100m as i32,
        actual: actual.map(|a| a.parse().unwrap()),
        expected: Some("75.5".parse().unwrap()),
        rag: rag as i32,
        ..Default::default()
    };
    pb::Overview {
        as_of: Some(date(day(2023, 9, 30))),
        actions: vec![
            pb::ActionProgress {
                action_number: 1,
                title: "行动一".into(),
                rag: RagStatus::Red as i32,
                measure_count: 3,
                red_count: 1,
                amber_count: 1,
                green_count: 0,
                ..Default::default()
            },
            pb::ActionProgress {
                action_number: 2,
                title: "行动二".into(),
                rag: RagStatus::Green as i32,
                measure_count: 1,
                green_count: 1,
                ..Default::default()
            },
        ],
        measures: [RagStatus::Red, RagStatus::Amber, RagStatus::NoData, RagStatus::Green]
            .into_iter()
            .map(|rag| pb::MeasureStatus {
                rag: rag as i32,
                ..Default::default()
            })
            .collect(),
        targets: vec![
            target("amber-one", RagStatus::Amber, Some("70")),
            target("green-one", RagStatus::Green, Some("80")),
            target("red-one", RagStatus::Red, None),
        ],
        compliance: Some(pb::ComplianceSummary {
            reporting_rate: Some(80.0),
            on_time_rate: Some(62.5),
            expected_count: 40,
            received_count: 32,
            on_time_count: 25,
            late_units: Vec::new(),
        }),
        ..Default::default()
    }
}

fn calendar() -> Vec<DepartmentCompliance> {
    let period = |month: i32, statuses: &[ComplianceStatus]| PeriodCompliance {
        period: Some(Period { year: 2023, month }),
        due_date: Some(date(day(2023, month as u32 + 1, 5))),
        measures: statuses
            .iter()
            .map(|s| MeasureCompliance {
                status: *s as i32,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    vec![
        DepartmentCompliance {
            department: "tax-bureau".into(),
            periods: vec![
                period(7, &[ComplianceStatus::Missing, ComplianceStatus::OnTime]),
                period(8, &[ComplianceStatus::Missing, ComplianceStatus::Late]),
            ],
            ..Default::default()
        },
        DepartmentCompliance {
            department: "on-time".into(),
            display_name: "准时局".into(),
            periods: vec![period(8, &[ComplianceStatus::OnTime])],
            ..Default::default()
        },
        DepartmentCompliance {
            department: "late-only".into(),
            display_name: "迟报局".into(),
            periods: vec![period(8, &[ComplianceStatus::Late])],
            ..Default::default()
        },
    ]
}

fn at(y: i32, m: u32, d: u32) -> Option<prost_types::Timestamp> {
    let time = chrono::Utc.with_ymd_and_hms(y, m, d, 4, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    })
}

fn orders() -> Vec<Order> {
    let order = |n: u32, opened: (u32, u32), closed: Option<(u32, u32)>, due: (u32, u32), state: OrderState| Order {
        name: format!("plans/p/orders/{n}"),
        title: format!("督办{n}"),
        departments: vec!["tax-bureau".into()],
        create_time: at(2023, opened.0, opened.1),
        close_time: closed.and_then(|(m, d)| at(2023, m, d)),
        response_due: Some(date(day(2023, due.0, due.1))),
        state: state as i32,
        ..Default::default()
    };
    vec![
        // Opened in August, closed in September.
        order(1, (8, 10), Some((9, 3)), (8, 31), OrderState::Closed),
        // Opened in September, open at its end and overdue.
        order(2, (9, 5), None, (9, 20), OrderState::Open),
        // Opened and closed in July: not this month's business.
        order(3, (7, 1), Some((7, 20)), (7, 15), OrderState::Closed),
        // Opened in October: after the bulletin's date.
        order(4, (10, 2), None, (10, 30), OrderState::Open),
        // Opened in September, closed since (in October): open on the date.
        order(5, (9, 12), Some((10, 9)), (10, 1), OrderState::Closed),
    ]
}

fn bulletin(lang: Lang) -> Bulletin {
    let (plan, overview, calendar, orders) = (plan(), overview(), calendar(), orders());
    let names: DepartmentNames = [("tax-bureau".to_owned(), "区税务局".to_owned())].into();
    assemble(
        &Sources {
            plan: &plan,
            period: Month::new(2023, 9).unwrap(),
            issued: day(2023, 10, 8),
            number_format: &number_format(),
            overview: &overview,
            compliance: Some(&calendar),
            orders: Some(&orders),
            zone: PlanZone::default(),
            names: &names,
        },
        lang,
    )
}

#[test]
fn the_number_and_the_date_come_from_the_period() {
    let september = Month::new(2023, 9).unwrap();
    assert_eq!(document_number(&number_format(), september), "督办通报〔2023〕9号");
    assert_eq!(
        document_number("嘉督〔{year}〕第{month}期", september),
        "嘉督〔2023〕第9期"
    );
    assert_eq!(as_of_for(september, day(2026, 1, 1)), Some(day(2023, 9, 30)));
    assert_eq!(as_of_for(september, day(2023, 9, 12)), Some(day(2023, 9, 12)));
    assert_eq!(as_of_for(september, day(2023, 8, 31)), None);
}

#[test]
fn the_bulletin_has_five_sections_with_the_overviews_figures() {
    let b = bulletin(Lang::Zh);
    assert_eq!(b.title, "某区行动方案推进情况月度通报（2023年9月）");
    assert_eq!(b.number, "督办通报〔2023〕9号");
    assert_eq!(b.as_of_line, "（数据截至2023年9月30日）");
    assert_eq!(b.date, "2023年10月8日");
    let headings: Vec<&str> = b.sections.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(
        headings,
        [
            "一、总体情况",
            "二、各行动推进情况",
            "三、滞后指标",
            "四、报送情况",
            "五、督办事项"
        ]
    );
    let overall = &b.sections[0];
    assert_eq!(overall.tables[0].rows[1], ["措施", "4", "1", "1", "1", "1"]);
    assert_eq!(overall.tables[1].rows[0], ["40", "32", "25", "7", "8", "80%", "62.50%"]);
    assert!(overall.paragraphs[1].contains("应报进展报告40份，已报32份（按时25份、逾期报送7份），未报8份"));
    // Actions: measures by rating, those not yet rated counted apart.
    assert_eq!(
        b.sections[1].tables[0].rows[0],
        ["1", "行动一", "滞后", "未到期", "3", "1", "1", "0", "1"]
    );
    // Lagging targets: red first, the green one left out; the figures exactly as carried.
    let lagging = &b.sections[2].tables[0].rows;
    assert_eq!(lagging.len(), 2);
    assert_eq!(
        lagging[0],
        ["1.1", "red-one", "red-one名", "100", "75.5", "–", "亿元", "滞后"]
    );
    assert_eq!(lagging[1][1], "amber-one");
    // Reporting: units named, most missing first; a unit that only reported on time is not listed.
    let units = &b.sections[3].tables[0].rows;
    assert_eq!(units.len(), 2);
    assert_eq!(units[0], ["区税务局", "1", "2", "56"]);
    assert_eq!(units[1], ["迟报局", "1", "0", "–"]);
    // Orders: opened or closed this month, or still open at its end.
    let orders = &b.sections[4];
    assert!(
        orders.paragraphs[0].contains("本月新开督办单2件，办结（含撤回）1件")
            && orders.paragraphs[0].contains("在办2件，其中逾期未答复1件"),
        "{}",
        orders.paragraphs[0]
    );
    let numbers: Vec<&str> = orders.tables[0].rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(numbers, ["1", "2", "5"]);
    assert_eq!(orders.tables[0].rows[0][2], "区税务局");
    assert_eq!(orders.tables[0].rows[0][4], "已办结");
    assert_eq!(orders.tables[0].rows[1][4], "在办（逾期）");
    assert_eq!(orders.tables[0].rows[2][4], "在办");
    assert!(b.notes.is_empty());
}

#[test]
fn in_english_too_and_partial_when_a_source_is_missing() {
    let b = bulletin(Lang::En);
    assert_eq!(b.title, "Action Plan: Monthly Progress Bulletin (September 2023)");
    assert_eq!(b.sections[0].heading, "1. Overall");
    assert_eq!(b.sections[2].tables[0].rows[0][6], "CNY 100m");
    assert_eq!(b.as_of_line, "(figures as of 30 September 2023)");

    let (plan, overview) = (plan(), overview());
    let names = DepartmentNames::new();
    let partial = assemble(
        &Sources {
            plan: &plan,
            period: Month::new(2023, 9).unwrap(),
            issued: day(2023, 10, 8),
            number_format: &number_format(),
            overview: &overview,
            compliance: None,
            orders: None,
            zone: PlanZone::default(),
            names: &names,
        },
        Lang::Zh,
    );
    assert_eq!(partial.notes.len(), 2, "{:?}", partial.notes);
    assert!(partial.sections[3].tables.is_empty() && partial.sections[4].tables.is_empty());
}

#[test]
fn the_docx_is_a_word_package_and_the_page_escapes_its_text() {
    let mut b = bulletin(Lang::Zh);
    b.sections[4].tables[0].rows[0][1] = "<script>alert(1)</script>".into();
    let bytes = docx::to_docx(&b).unwrap();
    assert!(bytes.starts_with(b"PK"), "a zip package");
    let page = page::to_html(&b, page::Style::Linked, Some("?period=2023-09")).unwrap();
    assert!(
        page.contains("<h1 id=\"title\">某区行动方案推进情况月度通报（2023年9月）</h1>"),
        "{page}"
    );
    assert!(page.contains("&#60;script&#62;") && !page.contains("<script>"));
    assert!(page.contains("href=\"/static/bulletin.css\"") && !page.contains("<style>"));
    assert!(page.contains("/api/v1/bulletin?period=2023-09"));
    let file = page::to_html(&b, page::Style::Inline, None).unwrap();
    assert!(
        file.contains("<style>") && file.contains("@page{size:A4"),
        "the style sheet inside"
    );
    assert!(!file.contains("/static/bulletin.css") && !file.contains("/api/v1/bulletin"));
}
