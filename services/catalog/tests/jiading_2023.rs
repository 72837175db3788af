//! The embedded Jiading 2023 dataset: parses, validates, and matches the
//! document in the places a careless transcription would go wrong.

use chrono::NaiveDate;
use duban_catalog::{Cadence, Directory, JIADING_2023_PLAN, JIADING_DIRECTORY, Plan, jiading_2023};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn embedded_files_parse_and_validate() {
    let directory = Directory::from_toml_str(JIADING_DIRECTORY).unwrap();
    let plan = Plan::from_toml_str(JIADING_2023_PLAN).unwrap();
    let problems = plan.validate(&directory);
    assert!(problems.is_empty(), "{problems:#?}");
    let (d2, p2) = jiading_2023();
    assert_eq!((d2, p2), (directory, plan));
}

#[test]
fn header() {
    let (_, plan) = jiading_2023();
    let h = &plan.header;
    assert_eq!(h.id, "jiading-2023");
    assert_eq!(h.document_number, "嘉府规〔2023〕1号");
    assert_eq!(h.title, "嘉定区提信心扩需求稳增长促发展行动方案");
    assert_eq!(h.issuing_body, "上海市嘉定区人民政府");
    assert_eq!(h.issue_date, date(2023, 3, 3));
    assert_eq!(h.effective_from, date(2023, 3, 3));
    assert_eq!(h.effective_to, date(2023, 12, 31));
    assert_eq!(h.directory, "jiading");
    assert_eq!(h.cadence, Cadence::Monthly { due_day: 5 });
    assert_eq!(h.cadence.due_date(2023, 3), Some(date(2023, 4, 5)));
    assert_eq!(h.cadence.due_date(2023, 12), Some(date(2024, 1, 5)));
}

#[test]
fn ten_actions_and_twenty_nine_measures_numbered_as_in_the_document() {
    let (_, plan) = jiading_2023();
    let actions: Vec<u32> = plan.actions.iter().map(|a| a.number).collect();
    assert_eq!(actions, (1..=10).collect::<Vec<_>>());
    assert_eq!(plan.action(1).unwrap().title, "助企纾困行动");
    assert_eq!(plan.action(10).unwrap().title, "重点区域领跑行动");
    let numbers: Vec<&str> = plan.measures.iter().map(|m| m.number.as_str()).collect();
    let expected = [
        "1.1", "1.2", "2.1", "2.2", "3.1", "3.2", "3.3", "3.4", "4.1", "4.2", "4.3", "4.4", "5.1", "5.2", "5.3", "6.1",
        "6.2", "7.1", "7.2", "7.3", "8.1", "8.2", "8.3", "8.4", "9.1", "9.2", "9.3", "10.1", "10.2",
    ];
    assert_eq!(numbers, expected);
    for m in &plan.measures {
        assert_eq!(m.number.split('.').next(), Some(m.action.to_string().as_str()));
        assert!(!m.title.contains('。') && m.text.starts_with(&format!("{}。", m.title)));
    }
    assert_eq!(plan.measure("1.1").unwrap().title, "落实减税降费政策");
    assert_eq!(plan.measure("8.1").unwrap().title, "实施优化营商环境6.0版行动方案");
}

#[test]
fn no_page_break_artefact_survives() {
    let (_, plan) = jiading_2023();
    for m in &plan.measures {
        for bad in ["固定资产产投资", "行向中小企业", "\n", " ", "\u{3000}", "责任单位"] {
            assert!(!m.text.contains(bad), "measure {} contains {bad:?}", m.number);
        }
    }
    let text = |n: &str| plan.measure(n).unwrap().text.clone();
    assert!(text("4.2").contains("围绕2023年全社会固定资产投资555亿元目标"));
    assert!(text("8.3").contains("深入推进向中小企业专利开放许可试点工作"));
    assert!(text("3.1").contains("促进文化旅游和消费融合发展"));
    assert!(text("2.1").contains("落实市级吸纳就业补贴政策"));
    assert!(text("10.1").contains("“一区、一城、一湾”"));
    assert!(text("1.1").contains("印花税(不含证券交易印花税)"));
}

#[test]
fn model_round_trips_through_json() {
    let (dir, plan) = jiading_2023();
    let json = serde_json::to_string(&plan).unwrap();
    assert!(json.contains(r#""unit":"cny_100m""#) && json.contains(r#""comparator":"at_least""#));
    assert!(json.contains(r#""cadence":{"kind":"monthly","due_day":5}"#));
    assert!(json.contains(r#""issue_date":"2023-03-03""#));
    assert_eq!(serde_json::from_str::<Plan>(&json).unwrap(), plan);
    let json = serde_json::to_string(&dir).unwrap();
    assert!(json.contains(r#""kind":"town_or_street""#));
    let back: Directory = serde_json::from_str(&json).unwrap();
    assert_eq!(back.resolve("区经委(金融办)"), dir.resolve("区经委"));
}

/// The follow-up rules are read from `[plan.follow_up]`; a plan without the section,
/// or a section that names only some rules, gets Duban's defaults for the rest.
#[test]
fn follow_up_rules_come_from_the_file_with_defaults_when_absent() {
    use duban_catalog::FollowUp;
    let (dir, plan) = jiading_2023();
    let rules = plan.header.follow_up.expect("plan.toml has [plan.follow_up]");
    assert_eq!(
        (
            rules.remind_days_before_due,
            rules.yellow_after_days_late,
            rules.red_after_days_late,
            rules.red_after_periods_red,
            rules.run_at_text()
        ),
        (3, 5, 15, 2, "09:00".to_owned())
    );
    let start = JIADING_2023_PLAN.find("[plan.follow_up]").unwrap();
    let end = start + JIADING_2023_PLAN[start..].find("[plan.rag]").unwrap();
    let without = format!("{}{}", &JIADING_2023_PLAN[..start], &JIADING_2023_PLAN[end..]);
    let bare = Plan::from_toml_str(&without).unwrap();
    assert_eq!(bare.header.follow_up, None);
    assert_eq!(bare.header.follow_up_rules(), FollowUp::default());
    assert!(bare.validate(&dir).is_empty());
    // Stored without the section, the JSON is what it was before the section existed.
    assert!(!serde_json::to_string(&bare).unwrap().contains("follow_up"));

    let partial = JIADING_2023_PLAN.replace(
        &JIADING_2023_PLAN[start..end],
        "[plan.follow_up]\nyellow_after_days_late = 7\nrun_at = \"08:30\"\n\n",
    );
    let partial = Plan::from_toml_str(&partial).unwrap().header.follow_up_rules();
    assert_eq!(
        (
            partial.yellow_after_days_late,
            partial.red_after_days_late,
            partial.run_at_text()
        ),
        (7, 15, "08:30".to_owned())
    );

    let broken = JIADING_2023_PLAN.replace("red_after_days_late = 15", "red_after_days_late = 4");
    let problems = Plan::from_toml_str(&broken).unwrap().validate(&dir);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["plan.follow_up.red_after_days_late"]);
    let bad_time = JIADING_2023_PLAN.replace("run_at = \"09:00\"", "run_at = \"9 am\"");
    assert!(Plan::from_toml_str(&bad_time).is_err());
}

/// The RAG tolerances are read from `[plan.rag]`; a plan without the section gets
/// Duban's defaults (the values the gateway settings had), and bad values are named.
#[test]
fn rag_rules_come_from_the_file_with_defaults_when_absent() {
    use duban_catalog::RagRules;
    let (dir, plan) = jiading_2023();
    let rules = plan.header.rag.expect("plan.toml has [plan.rag]");
    assert_eq!(rules, RagRules::default());
    assert_eq!(rules.approximately_percent, "95".parse().unwrap());
    assert!(!rules.missing_report_turns_delivery_red);
    let start = JIADING_2023_PLAN.find("[plan.rag]").unwrap();
    let end = start + JIADING_2023_PLAN[start..].find("[[actions]]").unwrap();
    let without = format!("{}{}", &JIADING_2023_PLAN[..start], &JIADING_2023_PLAN[end..]);
    let bare = Plan::from_toml_str(&without).unwrap();
    assert_eq!(bare.header.rag, None);
    assert_eq!(bare.header.rag_rules(), RagRules::default());
    assert!(bare.validate(&dir).is_empty());
    assert!(!serde_json::to_string(&bare).unwrap().contains("\"rag\""));

    let partial = JIADING_2023_PLAN.replace(
        &JIADING_2023_PLAN[start..end],
        "[plan.rag]\namber_shortfall_percent = 7.5\nmissing_report_turns_delivery_red = true\n\n",
    );
    let partial = Plan::from_toml_str(&partial).unwrap().header.rag_rules();
    assert_eq!(partial.amber_shortfall_percent, "7.5".parse().unwrap());
    assert_eq!(partial.amber_at_most_percent, RagRules::default().amber_at_most_percent);
    assert!(partial.missing_report_turns_delivery_red);

    let broken = JIADING_2023_PLAN.replace("approximately_percent = 95", "approximately_percent = 120");
    let problems = Plan::from_toml_str(&broken).unwrap().validate(&dir);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["plan.rag.approximately_percent"]);
    let unknown = JIADING_2023_PLAN.replace("[plan.rag]\n", "[plan.rag]\nshortfall = 3\n");
    assert!(Plan::from_toml_str(&unknown).is_err());
}
