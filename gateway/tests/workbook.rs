//! The unit's Excel path (issue 16 §3), as a town does it: download its workbook for a month over HTTP,
//! fill it in with openpyxl (`tests/python/workbook_fill.py`) as a person would, two cells wrong (a
//! value and a new blocker's severity), upload it, and find the good row stored (read back over gRPC:
//! provisional, with its milestone's note and the blocker it raised) and the bad cells named by sheet,
//! row and column; upload the same file again and nothing new is stored; a workbook whose hidden keys
//! were doctored to name another unit is refused for that row by reporting; and a later month's
//! workbook lists the open blocker by number and resolves it.

mod common;

use std::{path::PathBuf, process::Command};

use common::{PLAN, Server, Suite, http_request, start_suite};
use duban_kit::testing::Backend;
use duban_proto::{
    common::v1::Period,
    departments::v1::Role,
    reporting::v1::{self as rpb, Obligation},
};
use serde_json::{Value, json};

const TOWN: &str = "nanxiang-town";
const PERIOD: Period = Period { year: 2023, month: 12 };

fn python_has_openpyxl() -> bool {
    Command::new("python3")
        .args(["-c", "import openpyxl"])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/python/workbook_fill.py")
}

fn run_python(args: &[&str]) -> Vec<u8> {
    let output = Command::new("python3").arg(script()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "workbook_fill.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The workbook as openpyxl reads it.
fn dump(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("template.xlsx");
    std::fs::write(&file, bytes).unwrap();
    serde_json::from_slice(&run_python(&["dump", file.to_str().unwrap()])).unwrap()
}

/// `bytes` with `values` typed in (`{"报送!E2": "…", "报送!H2": 1.5}`), as openpyxl saves it.
fn fill(bytes: &[u8], values: &Value) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("in.xlsx"), dir.path().join("out.xlsx"));
    std::fs::write(&source, bytes).unwrap();
    run_python(&[
        "fill",
        source.to_str().unwrap(),
        target.to_str().unwrap(),
        &values.to_string(),
    ]);
    std::fs::read(target).unwrap()
}

fn sheet<'a>(book: &'a Value, name: &str) -> &'a Value {
    book["sheets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no sheet {name}"))
}

/// The column letters of row 1 whose header starts with `code` (a target column).
fn column_of(report_sheet: &Value, code: &str) -> String {
    report_sheet["cells"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(cell, text)| {
            cell.trim_start_matches(|c: char| c.is_ascii_uppercase()) == "1" && text.as_str().unwrap().starts_with(code)
        })
        .map(|(cell, _)| cell.trim_end_matches('1').to_owned())
        .unwrap_or_else(|| panic!("no column for {code}"))
}

/// The column letters of the header that contains `text`.
fn column_with(report_sheet: &Value, text: &str) -> String {
    report_sheet["cells"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(cell, header)| {
            cell.trim_start_matches(|c: char| c.is_ascii_uppercase()) == "1" && header.as_str().unwrap().contains(text)
        })
        .map(|(cell, _)| cell.trim_end_matches('1').to_owned())
        .unwrap_or_else(|| panic!("no column headed with {text:?}"))
}

async fn obligations(suite: &Suite, token: &str) -> Vec<Obligation> {
    suite
        .reporting(token)
        .list_obligations(rpb::ListObligationsRequest {
            parent: PLAN.into(),
            start_period: Some(PERIOD),
            end_period: Some(PERIOD),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .obligations
}

/// A POST of `file` to `/my/upload` as a multipart form, with the bearer token: status and page.
async fn upload(suite: &Suite, token: &str, file: &[u8]) -> (u16, String) {
    let authorization = format!("Bearer {token}");
    post_form(suite, &[("Authorization", &authorization)], "", file).await
}

/// A POST of the upload form, `file` and the CSRF token `csrf` in it, with `headers`: status and page.
async fn post_form(suite: &Suite, headers: &[(&str, &str)], csrf: &str, file: &[u8]) -> (u16, String) {
    let boundary = "duban-test-boundary-7d3f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nzh\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"filled.xlsx\"\r\n\
             Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let mut headers = headers.to_vec();
    headers.push(("Content-Type", &content_type));
    let answer = http_request(suite.addr(Server::Gateway), "POST", "/my/upload", &headers, &body).await;
    (answer.status, answer.text())
}

/// Signs in at the login form with `token`: the session cookie to send.
async fn sign_in(suite: &Suite, token: &str) -> String {
    let body = format!("token={token}&csrf=workbook-test&lang=zh");
    let answer = http_request(
        suite.addr(Server::Gateway),
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "duban_login_csrf=workbook-test"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.text());
    let cookie = answer
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("duban_session="))
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

async fn get_report(reporting: &mut duban_harness::ReportingClient, name: &str) -> Result<rpb::Report, tonic::Status> {
    reporting
        .get_report(rpb::GetReportRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn revisions(suite: &Suite, token: &str, report: &str) -> usize {
    suite
        .reporting(token)
        .list_report_revisions(rpb::ListReportRevisionsRequest {
            name: report.to_owned(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .map_or(0, |answer| answer.into_inner().reports.len())
}

/// The town's blockers in `state`, as ListBlockers gives them.
async fn blockers(suite: &Suite, token: &str, state: rpb::BlockerState) -> Vec<rpb::Blocker> {
    suite
        .reporting(token)
        .list_blockers(rpb::ListBlockersRequest {
            parent: PLAN.into(),
            department: TOWN.into(),
            state: state as i32,
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .blockers
}

/// A value valid in every slot (not negative, whole, within every target's scale).
const GOOD_VALUE: i64 = 1;

/// A value the slot refuses: one decimal place more than it takes.
fn too_precise(places: i32) -> f64 {
    1.0 + 10f64.powi(-(places + 1)) * 3.0
}

async fn a_town_reports_through_its_workbook(backend: Backend) {
    if !python_has_openpyxl() {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot import openpyxl"
        );
        eprintln!("\n!!! python3 with openpyxl is missing (tests/python/requirements.txt): SKIPPING\n");
        return;
    }
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let token = suite.issue_token(Role::Department, TOWN).await;
    let owed = obligations(&suite, &token).await;
    let with_slots: Vec<&Obligation> = owed
        .iter()
        .filter(|o| o.template.as_ref().is_some_and(|t| !t.slots.is_empty()))
        .collect();
    let without_slots: Vec<&Obligation> = owed
        .iter()
        .filter(|o| o.template.as_ref().is_some_and(|t| t.slots.is_empty()))
        .collect();
    assert!(
        !with_slots.is_empty() && !without_slots.is_empty(),
        "the town owes reports with figures and without: {owed:?}"
    );

    // The template, over HTTP with the town's own token.
    let authorization = format!("Bearer {token}");
    let answer = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/my/template.xlsx?period=2023-12",
        &[("Authorization", &authorization)],
        b"",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    let template = answer.body;
    let book = dump(&template);
    let reports = sheet(&book, "报送");
    let keys = sheet(&book, "duban_keys");
    assert_eq!(reports["state"], "visible");
    assert!(
        reports["protected"].as_bool().unwrap(),
        "the headers and keys are locked"
    );
    assert_eq!(keys["state"], "hidden");
    let unlocked: Vec<&str> = reports["unlocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // One row per obligation, in the order ListObligations gives them, with its keys beside it.
    for (i, obligation) in owed.iter().enumerate() {
        let row = i + 2;
        assert_eq!(reports["cells"][format!("A{row}")], obligation.measure_number.as_str());
        assert_eq!(keys["cells"][format!("B{row}")], obligation.measure_number.as_str());
        assert_eq!(keys["cells"][format!("C{row}")], TOWN);
        assert_eq!(keys["cells"][format!("D{row}")], "2023-12");
        assert!(
            keys["cells"][format!("E{row}")]
                .as_str()
                .is_some_and(|id| id.len() == 36)
        );
        assert!(unlocked.contains(&format!("E{row}").as_str()), "the status is typed in");
        for slot in &obligation.template.as_ref().unwrap().slots {
            let column = column_of(reports, &slot.target_code);
            assert!(
                unlocked.contains(&format!("{column}{row}").as_str()),
                "{}'s value is typed in",
                slot.target_code
            );
        }
    }
    assert!(
        !unlocked.contains(&"A2") && !unlocked.contains(&"A1"),
        "measure and headers are locked"
    );
    // The columns the web form has too: the provisional flag, and the blockers (the open ones listed,
    // locked; those to resolve, typed where there are any; new ones, typed on every row).
    let provisional = column_with(reports, "provisional");
    let open_blockers = column_with(reports, "open blockers (number)");
    let resolve = column_with(reports, "resolve: their numbers");
    let new_description = column_with(reports, "new blocker 1: description");
    let new_severity = column_with(reports, "new blocker 1: severity");
    let new_support = column_with(reports, "new blocker 1: support unit");
    for (i, obligation) in owed.iter().enumerate() {
        let row = i + 2;
        let cell = |column: &str| format!("{column}{row}");
        for column in [&provisional, &new_description, &new_severity, &new_support] {
            assert!(
                unlocked.contains(&cell(column).as_str()),
                "{} is typed in",
                cell(column)
            );
        }
        assert!(
            !unlocked.contains(&cell(&open_blockers).as_str()),
            "the open blockers are locked"
        );
        let has_open = !obligation.template.as_ref().unwrap().open_blockers.is_empty();
        assert_eq!(
            unlocked.contains(&cell(&resolve).as_str()),
            has_open,
            "the resolve cell is open only where there is an open blocker: {}",
            cell(&resolve)
        );
        for milestone in &obligation.template.as_ref().unwrap().milestones {
            let note = column_with(reports, &format!("milestone note\n{}", milestone.code));
            assert!(
                unlocked.contains(&cell(&note).as_str()),
                "{}'s note is typed in",
                milestone.code
            );
        }
    }
    let header_keys: Vec<&str> = keys["cells"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(cell, _)| cell.trim_start_matches(|c: char| c.is_ascii_uppercase()) == "1")
        .map(|(_, key)| key.as_str().unwrap())
        .collect();
    for key in [
        "provisional",
        "open_blockers",
        "resolve_blockers",
        "new_blocker:1:description",
        "new_blocker:1:severity",
        "new_blocker:1:support_unit",
        "new_blocker:2:severity",
    ] {
        assert!(header_keys.contains(&key), "{key} in {header_keys:?}");
    }
    let validated = |column: &str, kind: &str, formula: &str| {
        reports["validations"].as_array().unwrap().iter().any(|v| {
            v["type"] == kind
                && v["ranges"].as_str().unwrap().starts_with(&format!("{column}2:"))
                && v["formula1"].as_str().is_some_and(|f| f.contains(formula))
        })
    };
    assert!(
        validated(&provisional, "list", "是 yes"),
        "{:?}",
        reports["validations"]
    );
    assert!(
        validated(&new_severity, "list", "高 high"),
        "{:?}",
        reports["validations"]
    );
    assert!(
        validated(&resolve, "custom", "0123456789"),
        "{:?}",
        reports["validations"]
    );
    assert!(
        validated(&new_support, "custom", "LEN("),
        "{:?}",
        reports["validations"]
    );
    assert!(
        validated(&new_description, "textLength", "1000"),
        "{:?}",
        reports["validations"]
    );
    let validations = reports["validations"].as_array().unwrap();
    assert!(
        validations
            .iter()
            .any(|v| v["type"] == "list" && v["formula1"].as_str().unwrap().contains("按计划推进 on track")),
        "{validations:?}"
    );
    assert!(
        validations
            .iter()
            .any(|v| v["type"] == "custom" && v["formula1"].as_str().unwrap().contains("ROUND(")),
        "{validations:?}"
    );

    // Filled in as a person would: a report without figures (status, narrative, evidence), and the report
    // with figures, one of them typed with a decimal its counted unit does not take; every other row left
    // empty.
    let row_of = |obligation: &Obligation| owed.iter().position(|o| o.report == obligation.report).unwrap() + 2;
    // The report without figures is one with a milestone, if the town has one.
    let plain = without_slots
        .iter()
        .find(|o| !o.template.as_ref().unwrap().milestones.is_empty())
        .unwrap_or(&without_slots[0]);
    let figures = with_slots[0];
    let (plain_row, figures_row) = (row_of(plain), row_of(figures));
    let slots = &figures.template.as_ref().unwrap().slots;
    let mut values = serde_json::Map::new();
    for row in [plain_row, figures_row] {
        values.insert(format!("报送!E{row}"), json!("按计划推进 on track"));
        values.insert(format!("报送!F{row}"), json!("本月按计划推进"));
    }
    values.insert(
        format!("报送!G{plain_row}"),
        json!("签约清单 https://example.org/list.pdf"),
    );
    let milestone = plain.template.as_ref().unwrap().milestones.first();
    assert!(
        milestone.is_some(),
        "the plain row has a milestone, whose note is typed: {plain:?}"
    );
    if let Some(milestone) = milestone {
        let status = column_with(reports, &format!("milestone status\n{}\n", milestone.code));
        values.insert(format!("报送!{status}{plain_row}"), json!("已达成 achieved"));
        let date = column_with(reports, &format!("achieved on\n{}", milestone.code));
        values.insert(format!("报送!{date}{plain_row}"), json!("2023-12-20"));
        let note = column_with(reports, &format!("milestone note\n{}", milestone.code));
        values.insert(format!("报送!{note}{plain_row}"), json!("提前一周完成"));
    }
    // The plain row is a provisional report (快报) and raises a blocker, asking another unit for help.
    let support = "anting-town";
    values.insert(format!("报送!{provisional}{plain_row}"), json!("是 yes"));
    values.insert(format!("报送!{new_description}{plain_row}"), json!("用地指标未落实"));
    values.insert(format!("报送!{new_severity}{plain_row}"), json!("高 high"));
    values.insert(format!("报送!{new_support}{plain_row}"), json!(support));
    // The figures row raises one with a severity not on the list, typed over it.
    values.insert(format!("报送!{new_description}{figures_row}"), json!("资金未到位"));
    let bad_severity = format!("{new_severity}{figures_row}");
    values.insert(format!("报送!{bad_severity}"), json!("很严重"));
    for slot in slots {
        values.insert(
            format!("报送!{}{figures_row}", column_of(reports, &slot.target_code)),
            json!(GOOD_VALUE),
        );
    }
    let bad_slot = slots.last().unwrap();
    let bad_cell = format!("{}{figures_row}", column_of(reports, &bad_slot.target_code));
    values.insert(
        format!("报送!{bad_cell}"),
        json!(too_precise(bad_slot.decimal_places.unwrap_or(0))),
    );
    let filled = fill(&template, &Value::Object(values));

    let (status, page) = upload(&suite, &token, &filled).await;
    assert_eq!(status, 200, "{page}");
    let empty = owed.len() - 2;
    assert!(
        page.contains(&format!("已保存：1　未变化：0　有错误：1　空行跳过：{empty}")),
        "{page}"
    );
    assert!(
        page.contains(&format!("<td>报送!{bad_cell}</td>")),
        "the bad cell is named by sheet, row and column:\n{page}"
    );
    let bad_index = slots.len() - 1;
    assert!(
        page.contains(&format!("report.metric_values[{bad_index}].value: "))
            && page.contains(&format!(
                "（填写内容：“{}”）",
                too_precise(bad_slot.decimal_places.unwrap_or(0))
            )),
        "the server's violation, as it named it:\n{page}"
    );
    assert!(
        page.contains("小数位数超过指标规定的") || page.contains("计数单位必须填写整数"),
        "in Chinese, as the server gave it (its localized_message):\n{page}"
    );
    // The bad cell of a new column, too: the blocker's severity, the row's only blocker.
    assert!(
        page.contains(&format!("<td>报送!{bad_severity}</td>"))
            && page.contains("report.blockers[0].severity: ")
            && page.contains("请选择严重程度（填写内容：“很严重”）"),
        "the new blocker's severity is named by sheet, row and column:\n{page}"
    );

    // What was stored, read back over gRPC: the plain row as typed; nothing of the other.
    let mut reporting = suite.reporting(&token);
    let stored = get_report(&mut reporting, &plain.report).await.unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.overall_status, rpb::OverallStatus::OnTrack as i32);
    assert_eq!(stored.narrative, "本月按计划推进");
    assert_eq!(
        stored.source,
        rpb::ReportSource::Workbook as i32,
        "the revision records the workbook"
    );
    assert_eq!(stored.evidence_links.len(), 1);
    assert_eq!(stored.evidence_links[0].title, "签约清单");
    assert_eq!(stored.evidence_links[0].url, "https://example.org/list.pdf");
    if let Some(milestone) = milestone {
        assert_eq!(stored.milestone_updates.len(), 1);
        let update = &stored.milestone_updates[0];
        assert_eq!(update.milestone_code, milestone.code);
        assert_eq!(update.status, rpb::MilestoneStatus::Achieved as i32);
        let day = update.achieve_date.unwrap();
        assert_eq!((day.year, day.month, day.day), (2023, 12, 20));
        assert_eq!(update.note, "提前一周完成");
    }
    assert!(stored.provisional, "是 yes: a provisional report");
    assert_eq!(stored.blockers.len(), 1, "{:?}", stored.blockers);
    let raised = &stored.blockers[0];
    assert_eq!(raised.description, "用地指标未落实");
    assert_eq!(raised.severity, rpb::BlockerSeverity::High as i32);
    assert_eq!(raised.support_unit, support);
    assert_eq!(raised.state, rpb::BlockerState::Open as i32);
    let open = blockers(&suite, &token, rpb::BlockerState::Open).await;
    assert!(
        open.iter()
            .any(|b| b.name == raised.name && b.measure_number == plain.measure_number),
        "ListBlockers has the raised blocker open: {open:?}"
    );
    let raised_name = raised.name.clone();
    assert_eq!(
        get_report(&mut reporting, &figures.report).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    // The clerk corrects the cell and uploads again: the corrected row is stored, the other is unchanged.
    let corrected = fill(
        &filled,
        &json!({ format!("报送!{bad_cell}"): GOOD_VALUE, format!("报送!{bad_severity}"): "中 medium" }),
    );
    let (status, page) = upload(&suite, &token, &corrected).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已保存：1　未变化：1　有错误：0"), "{page}");
    let stored = get_report(&mut reporting, &figures.report).await.unwrap();
    assert_eq!(stored.revision, 1);
    let codes: Vec<&str> = stored.metric_values.iter().map(|v| v.target_code.as_str()).collect();
    let owed_codes: Vec<&str> = slots.iter().map(|s| s.target_code.as_str()).collect();
    assert_eq!(codes, owed_codes);
    for value in &stored.metric_values {
        assert_eq!(value.value.as_ref().unwrap().value, GOOD_VALUE.to_string());
    }

    // The same file again: a replay, nothing new.
    let (status, page) = upload(&suite, &token, &corrected).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已保存：0　未变化：2　有错误：0"), "{page}");
    assert_eq!(revisions(&suite, &token, &plain.report).await, 1);
    assert_eq!(revisions(&suite, &token, &figures.report).await, 1);

    // The hidden keys doctored to name another unit: reporting refuses that row, reported at the row.
    let other = "anting-town";
    let mut doctoring = serde_json::Map::new();
    doctoring.insert(format!("duban_keys!C{plain_row}"), json!(other));
    doctoring.insert(format!("duban_keys!E{plain_row}"), json!("doctored-1"));
    let doctored = fill(&corrected, &Value::Object(doctoring));
    let (status, page) = upload(&suite, &token, &doctored).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已保存：0　未变化：1　有错误：1"), "{page}");
    assert!(
        page.contains(&format!("<td>报送!{plain_row}:{plain_row}</td>")),
        "{page}"
    );
    let theirs = plain.report.replace(TOWN, other);
    let admin = suite.admin_token().to_owned();
    assert_eq!(
        revisions(&suite, &admin, &theirs).await,
        0,
        "nothing stored for the other unit"
    );

    // A fresh workbook lists the raised blocker by number on its row, locked, and opens the resolve
    // cell there; the clerk types the number and uploads a final report that resolves it.
    let answer = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/my/template.xlsx?period=2023-12",
        &[("Authorization", &authorization)],
        b"",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let book = dump(&answer.body);
    let fresh = sheet(&book, "报送");
    let number = raised_name.rsplit('~').next().unwrap();
    let listed = fresh["cells"][format!("{open_blockers}{plain_row}")]
        .as_str()
        .unwrap_or_default();
    assert!(
        listed.contains(&format!("#{number} 用地指标未落实")) && listed.contains("高 high"),
        "{listed:?}"
    );
    let fresh_unlocked: Vec<&str> = fresh["unlocked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(fresh_unlocked.contains(&format!("{resolve}{plain_row}").as_str()));
    let resolving = fill(
        &answer.body,
        &json!({
            format!("报送!E{plain_row}"): "已完成 completed",
            format!("报送!F{plain_row}"): "用地指标已落实",
            format!("报送!{resolve}{plain_row}"): number.parse::<i64>().unwrap(),
        }),
    );
    let (status, page) = upload(&suite, &token, &resolving).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已保存：1　未变化：0　有错误：0"), "{page}");
    let stored = get_report(&mut reporting, &plain.report).await.unwrap();
    assert_eq!(stored.revision, 2);
    assert!(!stored.provisional, "an empty provisional cell: a final report");
    assert_eq!(stored.blockers.len(), 1, "{:?}", stored.blockers);
    assert_eq!(stored.blockers[0].name, raised_name);
    assert_eq!(stored.blockers[0].state, rpb::BlockerState::Resolved as i32);
    let resolved = blockers(&suite, &token, rpb::BlockerState::Resolved).await;
    assert!(resolved.iter().any(|b| b.name == raised_name), "{resolved:?}");
    let open = blockers(&suite, &token, rpb::BlockerState::Open).await;
    assert!(!open.iter().any(|b| b.name == raised_name), "{open:?}");

    // An administrator signed in at the login form (a session, not a bearer token) makes the town's
    // workbook and uploads it through the page's form, which must carry the session's CSRF token.
    let cookie = sign_in(&suite, suite.admin_token()).await;
    let answer = http_request(
        suite.addr(Server::Gateway),
        "GET",
        &format!("/my/template.xlsx?period=2023-12&department={TOWN}"),
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let form = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/my/upload",
        &[("Cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.text());
    let page = form.text();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries the session's CSRF token");
    assert!(csrf.len() >= 40, "{csrf}");
    let row = owed
        .iter()
        .position(|o| o.report != plain.report && o.report != figures.report)
        .unwrap()
        + 2;
    let by_admin = fill(
        &answer.body,
        &json!({ format!("报送!E{row}"): "存在风险 at risk", format!("报送!F{row}"): "管理员代报" }),
    );
    let (status, page) = post_form(&suite, &[("Cookie", &cookie)], "", &by_admin).await;
    assert_eq!(
        status, 403,
        "a form without the session's CSRF token is refused:\n{page}"
    );
    let (status, page) = post_form(&suite, &[("Cookie", &cookie)], "forged", &by_admin).await;
    assert_eq!(status, 403, "{page}");
    let (status, page) = post_form(&suite, &[("Cookie", &cookie)], csrf, &by_admin).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已保存：1　未变化：0　有错误：0"), "{page}");
    let stored = get_report(&mut reporting, &owed[row - 2].report).await.unwrap();
    assert_eq!(stored.overall_status, rpb::OverallStatus::AtRisk as i32);
    assert_eq!(stored.narrative, "管理员代报");
    assert_eq!(stored.source, rpb::ReportSource::Workbook as i32);

    // The form in Chinese by default and in English with ?lang=en.
    for (path, title) in [
        ("/my/upload", "Excel 报送"),
        ("/my/upload?lang=en", "Report by workbook"),
    ] {
        let answer = http_request(
            suite.addr(Server::Gateway),
            "GET",
            path,
            &[("Authorization", &authorization)],
            b"",
        )
        .await;
        assert_eq!(answer.status, 200);
        let page = answer.text();
        assert!(
            page.contains(title) && page.contains("enctype=\"multipart/form-data\""),
            "{page}"
        );
    }

    // Not signed in: the template sends the browser to the login form.
    let answer = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/my/template.xlsx?period=2023-12",
        &[],
        b"",
    )
    .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), Some("/login"));
    suite.stop().await;
}

duban_kit::backend_tests!(a_town_reports_through_its_workbook);
