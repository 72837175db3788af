//! The README's contract, end to end through the real binary: `duban up` starts every
//! server and loads the plan, the other subcommands read it back, and a second start
//! changes nothing.

mod common;

use std::{path::PathBuf, process::Command};

use common::{DUBAN, Suite, http_get};
use serde_json::Value;

#[test]
fn up_loads_the_plan_once_and_the_commands_read_it_back() {
    let data = tempfile::tempdir().unwrap();
    let env = Suite::env_for(data.path());

    let suite = Suite::up(env.clone());
    let banner = suite.stdout.join("\n");
    for server in duban_cli::SERVICES {
        assert!(
            banner.lines().any(|l| l.starts_with(server) && l.contains("SERVING")),
            "{server} not SERVING:\n{banner}"
        );
    }
    assert!(
        banner.contains("Plan jiading-2023 (嘉府规〔2023〕1号) revision 1: created"),
        "{banner}"
    );
    assert!(
        data.path().join("admin.token").exists(),
        "the development admin token is kept for the other commands"
    );

    let listing: Value = serde_json::from_str(&suite.run(&["departments", "list", "--json"])).unwrap();
    let units = listing["departments"].as_array().unwrap();
    assert_eq!(units.len(), 46, "34 units of the plan and 12 towns and streets");
    assert!(
        units
            .iter()
            .any(|u| u["code"] == "tax-bureau" && u["name"] == "区税务局")
    );
    assert_eq!(units.iter().filter(|u| u["kind"] == "town_or_street").count(), 12);
    let groups = listing["groups"].as_array().unwrap();
    let all_towns = groups
        .iter()
        .find(|g| g["name"] == "各街镇")
        .expect("各街镇 is a group");
    assert_eq!(all_towns["members"].as_array().unwrap().len(), 12);

    let export: Value = serde_json::from_str(&suite.run(&["plan", "export", "--format", "json"])).unwrap();
    assert_eq!(export["plan"]["document_number"], "嘉府规〔2023〕1号");
    let actions = export["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 10);
    let measures: Vec<&Value> = actions.iter().flat_map(|a| a["measures"].as_array().unwrap()).collect();
    assert_eq!(measures.len(), 29);
    for measure in &measures {
        for unit in measure["responsible_units"].as_array().unwrap() {
            assert!(
                unit["code"].as_str().is_some_and(|c| !c.is_empty()),
                "unresolved unit in {}: {unit}",
                measure["number"]
            );
            assert!(unit["kind"] == "department" || unit["kind"] == "group", "{unit}");
        }
    }
    let targets: Vec<&Value> = measures.iter().flat_map(|m| m["targets"].as_array().unwrap()).collect();
    // 24 since 8.3's 40% reservation became a policy parameter.
    assert_eq!(targets.len(), 24);
    let new_enterprises = targets.iter().find(|t| t["code"] == "new-enterprises").unwrap();
    // Amounts are exact decimal text, never JSON numbers a reader would take as floats.
    assert_eq!(new_enterprises["value"], "40000");
    assert_eq!(new_enterprises["unit"], "enterprises");
    assert_eq!(new_enterprises["comparator"], "at_least");
    assert_eq!(new_enterprises["aspirational"], false);
    let headquarters = targets
        .iter()
        .find(|t| t["code"] == "headquarters-enterprises")
        .unwrap();
    assert_eq!(headquarters["aspirational"], true, "2023年力争认定8家总部企业");
    assert_eq!(new_enterprises["deadline"], "2023-12-31");
    let first = &measures[0]["responsible_units"][0];
    assert_eq!(
        (first["as_written"].as_str(), first["lead"].as_bool()),
        (Some("区税务局"), Some(true))
    );

    let csv = suite.run(&["plan", "export", "--format", "csv"]);
    assert!(csv.starts_with("action,measure,measure_title,position,as_written,code,name,kind,lead\n"));
    assert!(
        csv.lines()
            .any(|l| l.contains("区经委(金融办),economic-commission,区经委,department")),
        "{csv}"
    );

    let issued: Value =
        serde_json::from_str(&suite.run(&["token", "issue", "--department", "tax-bureau", "--json"])).unwrap();
    assert!(issued["token"].as_str().unwrap().starts_with("dbn_"));
    suite.stop();

    // The same data directory again: nothing new is loaded.
    let again = Suite::up(env);
    assert!(
        again
            .stdout
            .join("\n")
            .contains("Plan jiading-2023 (嘉府规〔2023〕1号) revision 1: unchanged"),
        "{:?}",
        again.stdout
    );
    again.stop();
}

#[test]
fn demo_fills_every_unit_and_month_and_reports_follow_the_rules() {
    let data = tempfile::tempdir().unwrap();
    let env = Suite::env_for(data.path());
    let suite = Suite::up(env.clone());
    assert!(
        suite
            .stdout
            .iter()
            .any(|l| l.starts_with("reporting") && l.contains("SERVING")),
        "{:?}",
        suite.stdout
    );

    // Reporting reads (and caches) the plan just before the demo designates members for
    // groups: the backfill must still be judged with those designations.
    assert_eq!(suite.json(&["report", "list", "--json"]), serde_json::json!([]));
    let summary = suite.run(&["demo", "--seed", "7"]);
    assert!(summary.contains("reports stored now"), "{summary}");
    // The live units' final figures came every way a unit can send them.
    let by_way = summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("live revisions by way: "))
        .unwrap_or_else(|| panic!("a line of live revisions by way in {summary}"));
    let ways: Vec<(&str, usize)> = by_way
        .split(", ")
        .map(|part| {
            let (way, count) = part.rsplit_once(' ').unwrap();
            (way, count.parse().unwrap())
        })
        .collect();
    assert!(
        ways.len() == 3 && ways.iter().take(2).all(|(_, n)| *n > 0),
        "web form and workbook revisions: {by_way}"
    );
    // Blockers carry over from month to month; later reports resolve some by name.
    let blockers = summary
        .lines()
        .find(|l| l.trim_start().starts_with("blockers:"))
        .unwrap_or_else(|| panic!("a blockers line in {summary}"));
    let counts: Vec<usize> = blockers
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        counts.len() == 3 && counts[0] > 0 && counts[1] > 0 && counts[2] > 0,
        "open, asking for support and resolved: {blockers}"
    );
    let reports = suite.json(&["report", "list", "--json"]);
    let reports = reports.as_array().unwrap();
    assert!(reports.len() >= 300, "hundreds of reports, not {}", reports.len());
    for report in reports {
        for field in ["department", "measure", "period", "state", "revision"] {
            assert!(!report[field].is_null(), "{field} missing in {report}");
        }
    }
    let units: std::collections::BTreeSet<&str> = reports.iter().map(|r| r["department"].as_str().unwrap()).collect();
    assert!(units.len() >= 24, "dozens of units, not {}", units.len());
    let periods: std::collections::BTreeSet<&str> = reports.iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(periods.len(), 10, "March to December 2023: {periods:?}");
    assert!(periods.contains("2023-03") && periods.contains("2023-12"));
    assert!(reports.iter().any(|r| r["on_time"] == false), "some are late");
    assert!(reports.iter().any(|r| r["state"] == "accepted"));
    assert!(reports.iter().any(|r| r["state"] == "returned"));
    // The lead unit of 3.2 reports its milestone by code: achieved once its day passed.
    let promotion: Vec<(&str, &str)> = reports
        .iter()
        .filter(|r| r["measure"] == "3.2")
        .flat_map(|r| r["milestones"].as_array().unwrap().iter().map(move |m| (r, m)))
        .filter(|(_, m)| m["code"] == "huijia-car-promotion-extension")
        .map(|(r, m)| (r["period"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert!(
        promotion.iter().any(|(period, _)| *period < "2023-06")
            && promotion.iter().any(|(period, _)| *period >= "2023-06")
            && promotion
                .iter()
                .all(|(period, status)| (*period >= "2023-06") == (*status == "achieved")),
        "{promotion:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r["revision"] == 2 && r["submitted_by"].as_str().unwrap().starts_with("department")),
        "the live path submits with the units' own tokens"
    );
    // Every report is declared where it came from: the backfill and the gRPC live path by the
    // CLI, one live unit's revisions by the gateway's web form, another's by its workbook.
    let source_count = |source: &str| reports.iter().filter(|r| r["source"] == source).count();
    let (web_form, workbook) = (source_count("web_form"), source_count("workbook"));
    assert!(web_form > 0 && workbook > 0, "web form {web_form}, workbook {workbook}");
    assert_eq!(
        source_count("command_line") + web_form + workbook,
        reports.len(),
        "no other source"
    );
    assert!(
        by_way.starts_with(&format!("web form {web_form}, workbook {workbook}, ")),
        "the summary counts what was stored: {by_way}"
    );
    for source in ["web_form", "workbook", "command_line"] {
        // A live unit's final figures (revision 2) replace its provisional ones (the backfill's).
        let revised = reports
            .iter()
            .find(|r| r["revision"] == 2 && r["source"] == source)
            .unwrap_or_else(|| panic!("a second revision from {source}"));
        assert_eq!(revised["provisional"], false, "{revised}");
        assert_eq!(revised["period"], "2023-12", "{revised}");
        assert!(
            revised["submitted_by"].as_str().unwrap().starts_with("department"),
            "{revised}"
        );
        let revisions = suite.json(&["report", "revisions", revised["name"].as_str().unwrap(), "--json"]);
        let revisions: Vec<(i64, &str, bool)> = revisions
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["revision"].as_i64().unwrap(),
                    r["source"].as_str().unwrap(),
                    r["provisional"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(revisions, [(2, source, false), (1, "command_line", true)]);
    }
    let new_enterprises = reports
        .iter()
        .filter(|r| r["period"] == "2023-12" && r["measure"] == "4.1")
        .flat_map(|r| r["values"].as_array().unwrap())
        .filter(|v| v["target"] == "new-enterprises")
        .count();
    assert!(new_enterprises >= 6, "towns report new enterprises");

    // Two supervision orders: one closed (办结), one unanswered and overdue, escalated.
    let orders = suite.json(&["orders", "list", "--json"]);
    let states: Vec<(&str, bool)> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["state"].as_str().unwrap(), o["overdue"].as_bool().unwrap()))
        .collect();
    assert_eq!(states, [("open", true), ("closed", false)], "{orders}");
    assert!(summary.contains("ORDER_STATE_OPEN, overdue"), "{summary}");
    let notices = suite.run(&["notices", "list"]);
    assert!(
        notices.contains("order-late~"),
        "the overdue order escalated: {notices}"
    );

    // The same seed again adds nothing.
    let again = suite.run(&["demo", "--seed", "7"]);
    assert!(
        again.contains("reports stored now: 0 backfilled, 0 live revisions"),
        "{again}"
    );
    let relisted = suite.json(&["report", "list", "--json"]);
    assert_eq!(relisted.as_array().unwrap().len(), reports.len());

    // The demo runs against the whole suite, the gateway included: with the gateway's address
    // pointing nowhere it fails at once, naming the address, and stores nothing (with another
    // seed, which would otherwise add its own reports).
    let nowhere = format!("127.0.0.1:{}", common::free_port());
    let without_gateway = Command::new(DUBAN)
        .args(["demo", "--seed", "8"])
        .envs(env)
        .env("DUBAN__GATEWAY__LISTEN", &nowhere)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&without_gateway.stderr);
    assert!(!without_gateway.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("the gateway at http://{nowhere} did not answer")),
        "{stderr}"
    );
    let after_failure = suite.json(&["report", "list", "--json"]);
    assert_eq!(after_failure.as_array().unwrap().len(), reports.len(), "nothing stored");

    // A department's own token: only its own measures and its own name.
    let issued = suite.json(&["token", "issue", "--department", "tax-bureau", "--json"]);
    let token = issued["token"].as_str().unwrap();
    let not_own = suite.run_failing(&[
        "report",
        "submit",
        "--measure",
        "1.1",
        "--period",
        "2023-06",
        "--status",
        "on-track",
        "--department",
        "finance-bureau",
        "--token",
        token,
    ]);
    assert!(not_own.contains("PERMISSION_DENIED"), "{not_own}");
    let not_responsible = suite.run_failing(&[
        "report",
        "submit",
        "--measure",
        "4.1",
        "--period",
        "2023-06",
        "--status",
        "on-track",
        "--token",
        token,
    ]);
    assert!(
        not_responsible.contains("PERMISSION_DENIED") && not_responsible.contains("DEPARTMENT_NOT_RESPONSIBLE"),
        "{not_responsible}"
    );
    // Every invalid field is named.
    let invalid = suite.run_failing(&[
        "report",
        "submit",
        "--measure",
        "99.9",
        "--period",
        "2031-01",
        "--status",
        "on-track",
        "--token",
        token,
    ]);
    assert!(invalid.contains("INVALID_ARGUMENT"), "{invalid}");
    assert!(
        invalid.contains("report.measure_number") && invalid.contains("report.period"),
        "{invalid}"
    );

    // The same request id twice stores one revision.
    let submit = [
        "report",
        "submit",
        "--measure",
        "1.1",
        "--period",
        "2023-06",
        "--status",
        "at-risk",
        "--narrative",
        "6月退税办理平均时间有所延长。",
        "--blocker",
        "medium:finance-bureau:退税资金调度需协调",
        "--milestone",
        "nev-purchase-tax-exemption=in-progress:按月办理免税",
        "--evidence",
        "2023年6月退税台账=https://evidence.example.org/tax/2023-06.pdf",
        "--request-id",
        "cli-test-1",
        "--json",
        "--token",
        token,
    ];
    let first = suite.json(&submit);
    let second = suite.json(&submit);
    assert_eq!(first["revision"], second["revision"], "{first}\n{second}");
    assert_eq!(first["department"], "tax-bureau");
    assert_eq!(first["blockers"][0]["support_unit"], "finance-bureau");
    let milestone = &first["milestones"][0];
    assert_eq!(
        (
            milestone["code"].as_str(),
            milestone["status"].as_str(),
            milestone["note"].as_str()
        ),
        (
            Some("nev-purchase-tax-exemption"),
            Some("in_progress"),
            Some("按月办理免税")
        ),
        "{first}"
    );
    assert!(milestone["description"].as_str().unwrap().contains("免征车辆购置税"));
    let listed = suite.json(&[
        "report",
        "list",
        "--measure",
        "1.1",
        "--department",
        "tax-bureau",
        "--period",
        "2023-06",
        "--json",
    ]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["revision"], first["revision"]);

    // Values go in the target's unit without the user naming it; reviews fetch the etag.
    let value = suite.json(&[
        "report",
        "submit",
        "--measure",
        "4.1",
        "--period",
        "2023-07",
        "--status",
        "on-track",
        "--department",
        "anting-town",
        "--value",
        "new-enterprises=4100",
        "--value",
        "new-100m-projects=30",
        "--json",
    ]);
    assert_eq!(value["values"][0]["unit"], "enterprises");
    let name = value["name"].as_str().unwrap();
    let returned = suite.json(&["report", "return", name, "--reason", "请核对新增企业数", "--json"]);
    assert_eq!(returned["state"], "returned");
    assert_eq!(returned["return_reason"], "请核对新增企业数");

    // What leadership sees: the overview through the gateway, in the terminal and the browser.
    let overview = suite.json(&["dashboard", "--as-of", "2023-09-30", "--json"]);
    assert_eq!(overview["unreachable"].as_array().unwrap().len(), 0, "{overview}");
    assert_eq!(overview["actions"].as_array().unwrap().len(), 10);
    assert!(
        overview["actions"].as_array().unwrap().iter().all(|a| a["rag"] != "?"),
        "{overview}"
    );
    assert!(
        !overview["late_units"].as_array().unwrap().is_empty(),
        "the demo leaves some units late: {overview}"
    );
    let table = suite.run(&["dashboard", "--as-of", "2023-09-30"]);
    assert!(
        table.contains("Targets behind their trajectory") && table.contains("Units late now"),
        "{table}"
    );
    let banner = suite.stdout.join("\n");
    let dashboard = banner
        .lines()
        .find_map(|line| line.strip_prefix("Dashboard:"))
        .map(|url| {
            url.trim()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        })
        .unwrap_or_else(|| panic!("duban up prints the dashboard URL:\n{banner}"));
    assert!(
        banner.contains("Open without signing in to anyone on this machine"),
        "duban up says the dashboard is open on loopback:\n{banner}"
    );
    let page = http_get(&dashboard, "/?as_of=2023-09-30");
    assert!(page.starts_with("HTTP/1.1 200"), "{}", &page[..page.len().min(300)]);
    assert!(page.contains("助企纾困行动"), "the dashboard shows the plan's actions");

    // The monthly bulletin, as the gateway assembles it, saved by the command (the document itself is
    // read back with python-docx in gateway/tests/exports.rs).
    let files = tempfile::tempdir().unwrap();
    let docx = files.path().join("通报.docx");
    let saved = suite.run(&["bulletin", "--period", "2023-09", "--output", docx.to_str().unwrap()]);
    assert!(saved.contains("bytes"), "{saved}");
    let bytes = std::fs::read(&docx).unwrap();
    assert!(
        bytes.starts_with(b"PK") && bytes.len() > 5_000,
        "a Word package of {} bytes",
        bytes.len()
    );
    let html = files.path().join("bulletin.html");
    suite.run(&[
        "bulletin",
        "--period",
        "2023-09",
        "--lang",
        "en",
        "--output",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Monthly Progress Bulletin (September 2023)") && page.contains("<style>"),
        "a page to print, its style sheet inside"
    );
    let refused = suite.run_failing(&["bulletin", "--period", "2023-13", "--output", docx.to_str().unwrap()]);
    assert!(refused.contains("period"), "{refused}");

    report_by_workbook(&suite, files.path());
    suite.stop();
}

/// `duban report template` and `duban report upload` with a town's own token: the workbook filled in with
/// openpyxl (`tests/python/workbook_fill.py`), one row right and one status no list offers; the right row
/// is stored, the wrong cell named, the command fails; sent again, the stored row is unchanged.
fn report_by_workbook(suite: &Suite, dir: &std::path::Path) {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/workbook_fill.py");
    let has_openpyxl = Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_openpyxl {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot import openpyxl"
        );
        eprintln!("\n!!! python3 with openpyxl is missing (tests/python/requirements.txt): SKIPPING the workbook\n");
        return;
    }
    let issued = suite.json(&["token", "issue", "--department", "nanxiang-town", "--json"]);
    let token = issued["token"].as_str().unwrap();
    let template = dir.join("template.xlsx");
    let made = suite.run(&[
        "report",
        "template",
        "--period",
        "2023-12",
        "--token",
        token,
        "--output",
        template.to_str().unwrap(),
    ]);
    assert!(made.contains("obligations"), "{made}");
    let filled = dir.join("filled.xlsx");
    let typed = Command::new("python3")
        .arg(&python)
        .args(["fill", template.to_str().unwrap(), filled.to_str().unwrap()])
        .arg(r#"{"报送!E2": "按计划推进 on track", "报送!F2": "按计划推进", "报送!E3": "很好"}"#)
        .output()
        .unwrap();
    assert!(typed.status.success(), "{}", String::from_utf8_lossy(&typed.stderr));
    let upload = || {
        Command::new(DUBAN)
            .args(["report", "upload", filled.to_str().unwrap(), "--token", token])
            .envs(suite.env.iter().cloned())
            .output()
            .unwrap()
    };
    let first = upload();
    let printed = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(!first.status.success(), "a refused row fails the command:\n{printed}");
    // The demo reported December already: the workbook's row is a new revision.
    assert!(
        printed.contains("报送!2:2") && printed.contains("stored, revision "),
        "{printed}"
    );
    assert!(
        printed.contains("报送!E3") && printed.contains("report.overall_status: is required (typed: “很好”)"),
        "the wrong cell is named:\n{printed}"
    );
    assert!(printed.contains("1 stored, 0 unchanged, 1 failed"), "{printed}");
    let again = String::from_utf8_lossy(&upload().stdout).into_owned();
    assert!(again.contains("0 stored, 1 unchanged, 1 failed"), "{again}");
}
