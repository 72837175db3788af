//! The documents leadership circulates, read back by readers nobody here wrote: the monthly bulletin's
//! .docx through python-docx and the Excel exports through openpyxl (`tests/python/*_dump.py`), checked
//! against the JSON overview of the same date; and the bulletin's print page. Reports are backfilled
//! through the front door first, some on time, some late, some missing.

mod common;

use std::{path::PathBuf, process::Command};

use common::{Caller, GatewaySuite, PLAN, Server, Suite, http_request, start_suite};
use duban_kit::testing::{self, Backend};
use duban_proto::{
    common::v1::{Date, Period},
    reporting::v1::{
        self as rpb, reporting_service_client::ReportingServiceClient,
        supervision_orders_service_client::SupervisionOrdersServiceClient,
    },
};
use rust_decimal::Decimal;
use serde_json::Value;

/// A narrative a spreadsheet would run as a formula, were it not neutralised.
const FORMULA_NARRATIVE: &str = "=HYPERLINK(\"http://example.org/\",\"详情\")";

fn python_reads_office_files() -> bool {
    Command::new("python3")
        .args(["-c", "import docx, openpyxl"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The dump of `bytes` (a file ending `extension`) by `tests/python/{script}`.
fn dump(script: &str, bytes: &[u8], extension: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("file.{extension}"));
    std::fs::write(&file, bytes).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/python")
        .join(script);
    let output = Command::new("python3").arg(&script).arg(&file).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Backfills reports for the units of the first measures: March to August, most on time, some late,
/// none since; one narrative that looks like a formula.
async fn seed(suite: &Suite) {
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    let mut items = Vec::new();
    for (m, measure) in overview.measures.iter().take(6).enumerate() {
        for (u, unit) in measure.units.iter().take(4).enumerate() {
            for month in 3..=8 {
                if (m + u + month as usize).is_multiple_of(7) {
                    continue; // missing
                }
                let on_time = !(u + month as usize).is_multiple_of(3);
                let submit = chrono::NaiveDate::from_ymd_opt(2023, month as u32 + 1, if on_time { 3 } else { 20 })
                    .unwrap()
                    .and_hms_opt(2, 0, 0)
                    .unwrap()
                    .and_utc();
                let narrative = if m == 0 && u == 0 && month == 3 {
                    FORMULA_NARRATIVE.to_owned()
                } else {
                    "按计划推进".to_owned()
                };
                items.push(rpb::SubmitReportsRequest {
                    parent: PLAN.into(),
                    report: Some(rpb::Report {
                        measure_number: measure.measure_number.clone(),
                        department: unit.department.clone(),
                        period: Some(Period { year: 2023, month }),
                        overall_status: rpb::OverallStatus::OnTrack as i32,
                        narrative,
                        ..Default::default()
                    }),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    validate_only: false,
                    backfill: true,
                    submit_time: Some(prost_types::Timestamp {
                        seconds: submit.timestamp(),
                        nanos: 0,
                    }),
                    ..Default::default()
                });
            }
        }
    }
    let count = items.len();
    let mut reporting =
        ReportingServiceClient::new(testing::channel(suite.addr(Server::Gateway), Some(suite.admin_token())));
    let response = reporting
        .submit_reports(tokio_stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    let refused: Vec<&str> = response
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(rpb::submit_reports_result::Outcome::Error(e)) => Some(e.message.as_str()),
            _ => None,
        })
        .collect();
    // A few (a measure whose unit must report a figure it was not given) are refused; the rest stored.
    assert!(response.succeeded_count as usize + 10 >= count, "{refused:?}");
}

/// A GET as the administrator: status, content type and body.
async fn get(suite: &Suite, path: &str) -> (u16, String, Vec<u8>) {
    let authorization = format!("Bearer {}", suite.admin_token());
    let answer = http_request(
        suite.addr(Server::Gateway),
        "GET",
        path,
        &[("Authorization", &authorization)],
        b"",
    )
    .await;
    let content_type = answer.header("content-type").unwrap_or_default().to_owned();
    (answer.status, content_type, answer.body)
}

fn rag_count(items: &Value, rag: &str) -> String {
    items
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rag"] == rag)
        .count()
        .to_string()
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| "–".to_owned(), str::to_owned)
}

async fn the_bulletin_and_the_excel_exports_agree_with_the_overview(backend: Backend) {
    if !python_reads_office_files() {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot import docx and openpyxl"
        );
        eprintln!("\n!!! python3 with python-docx and openpyxl is missing (tests/python/requirements.txt): SKIPPING\n");
        return;
    }
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    seed(&suite).await;
    let mut orders = SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin));
    orders
        .open_order(rpb::OpenOrderRequest {
            parent: PLAN.into(),
            order: Some(rpb::Order {
                title: "关于新增企业数滞后的督办".into(),
                level: rpb::OrderLevel::Yellow as i32,
                text: "请书面说明进展。".into(),
                departments: vec!["anting-town".into()],
                response_due: Some(Date {
                    year: 2099,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            }),
            request_id: "bulletin-order".into(),
        })
        .await
        .unwrap();

    // Units are named: no bulletin without signing in; a period is a month of the plan.
    let anonymous = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/api/v1/bulletin?period=2023-09",
        &[],
        b"",
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let anonymous = http_request(
        suite.addr(Server::Gateway),
        "GET",
        "/api/v1/bulletin?period=2023-09&format=html",
        &[],
        b"",
    )
    .await;
    assert_eq!(
        (anonymous.status, anonymous.header("location")),
        (303, Some("/login")),
        "the page sends to sign in"
    );
    for bad in ["2023-9", "2022-12", "2099-01"] {
        let (status, ..) = get(&suite, &format!("/api/v1/bulletin?period={bad}")).await;
        assert_eq!(status, 400, "period {bad}");
    }

    let (status, _, body) = get(&suite, "/api/v1/overview?as_of=2023-09-30").await;
    assert_eq!(status, 200);
    let overview: Value = serde_json::from_slice(&body).unwrap();
    let compliance = &overview["compliance"];
    let (expected, received, on_time) = (
        compliance["expected_count"].as_i64().unwrap(),
        compliance["received_count"].as_i64().unwrap(),
        compliance["on_time_count"].as_i64().unwrap(),
    );
    assert!(
        received > 0 && received > on_time && expected > received,
        "{compliance}"
    );

    // The Word document, as python-docx reads it.
    let (status, content_type, body) = get(&suite, "/api/v1/bulletin?period=2023-09").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(content_type.contains("wordprocessingml"), "{content_type}");
    let doc = dump("docx_dump.py", &body, "docx");
    let docx_bytes = body;
    assert_eq!(
        (&doc["page"]["width_mm"], &doc["page"]["height_mm"]),
        (&Value::from(210), &Value::from(297)),
        "A4"
    );
    let paragraphs = doc["paragraphs"].as_array().unwrap();
    let find = |text: &str| {
        paragraphs
            .iter()
            .find(|p| p["text"] == text)
            .unwrap_or_else(|| panic!("no paragraph {text:?} in {paragraphs:#?}"))
    };
    let title = find("嘉定区提信心扩需求稳增长促发展行动方案推进情况月度通报（2023年9月）");
    assert_eq!(title["alignment"], "CENTER");
    assert_eq!(title["fonts"], serde_json::json!(["方正小标宋简体"]));
    assert_eq!(find("督办通报〔2023〕9号")["alignment"], "CENTER");
    find("（数据截至2023年9月30日）");
    let headings: Vec<&str> = paragraphs
        .iter()
        .filter(|p| p["fonts"] == serde_json::json!(["黑体"]))
        .map(|p| p["text"].as_str().unwrap())
        .collect();
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
    assert!(
        paragraphs
            .iter()
            .any(|p| p["fonts"] == serde_json::json!(["仿宋_GB2312"]) && p["text"].as_str().unwrap().contains("报送率")),
        "the text in 仿宋"
    );
    let tables = doc["tables"].as_array().unwrap();
    for table in tables {
        assert_eq!(table["borders"]["top"], "single", "bordered: {table}");
        assert_eq!(table["borders"]["insideH"], "single", "bordered: {table}");
        let widths: f64 = table["column_widths_mm"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().expect("every column has its width"))
            .sum();
        assert!(
            (150.0..=156.5).contains(&widths),
            "across the 156 mm text block: {widths}"
        );
    }
    let cells = |t: usize, r: usize| -> Vec<String> {
        tables[t]["rows"][r]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    // 一: the ratings and the reports, as the overview counts them.
    for (row, kind) in [(1, "actions"), (2, "measures"), (3, "targets")] {
        let items = &overview[kind];
        assert_eq!(
            cells(0, row)[1..5],
            [
                items.as_array().unwrap().len().to_string(),
                rag_count(items, "red"),
                rag_count(items, "amber"),
                rag_count(items, "green"),
            ],
            "{kind}"
        );
    }
    assert_eq!(
        cells(1, 1)[..5],
        [
            expected.to_string(),
            received.to_string(),
            on_time.to_string(),
            (received - on_time).to_string(),
            (expected - received).to_string(),
        ]
    );
    // 二: every action with its measures by rating.
    let actions = overview["actions"].as_array().unwrap();
    assert_eq!(tables[2]["rows"].as_array().unwrap().len(), actions.len() + 1);
    for (i, action) in actions.iter().enumerate() {
        let row = cells(2, i + 1);
        assert_eq!(row[0], action["action_number"].to_string());
        assert_eq!(row[1], action["title"].as_str().unwrap());
        // Delivery, then reporting discipline, then the measures by delivery rating.
        assert_eq!(
            row[4..8],
            [
                action["measure_count"].to_string(),
                action["red_count"].to_string(),
                action["amber_count"].to_string(),
                action["green_count"].to_string(),
            ]
        );
    }
    // 三: the red and amber targets with their figures exactly as the overview carries them.
    let behind: Vec<&Value> = overview["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["rag"] == "red" || t["rag"] == "amber")
        .collect();
    assert!(!behind.is_empty());
    let lagging = tables[3]["rows"].as_array().unwrap();
    assert_eq!(lagging.len(), behind.len() + 1);
    for target in &behind {
        let row = lagging
            .iter()
            .find(|r| r[1] == target["code"])
            .unwrap_or_else(|| panic!("{} not in the lagging table", target["code"]));
        assert_eq!(
            [&row[3], &row[4], &row[5]].map(text),
            [&target["value"], &target["expected"], &target["actual"]].map(text)
        );
    }
    // 四: every unit with reports missing, named, with the overview's count.
    let units = tables[4]["rows"].as_array().unwrap();
    let late_units = compliance["late_units"].as_array().unwrap();
    assert!(!late_units.is_empty());
    for unit in late_units {
        let row = units
            .iter()
            .find(|r| r[0] == unit["display_name"])
            .unwrap_or_else(|| panic!("{} not named", unit["display_name"]));
        assert_eq!(row[2], unit["overdue_count"].to_string());
        assert_eq!(row[3], unit["max_days_overdue"].to_string());
    }
    assert!(
        units.iter().any(|r| r[1] != "0"),
        "units that reported late are named too"
    );
    // 五: the order was opened long after September 2023.
    find("本月新开督办单0件，办结（含撤回）0件；截至2023年9月30日，在办0件，其中逾期未答复0件。");

    // The print page: the same figures, A4 print CSS from the gateway itself.
    let (status, content_type, body) = get(&suite, "/api/v1/bulletin?period=2023-09&format=html").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("推进情况月度通报（2023年9月）</h1>") && page.contains("督办通报〔2023〕9号"));
    assert!(page.contains(&format!(
        "<td>{expected}</td><td>{received}</td><td>{on_time}</td><td>{}</td><td>{}</td>",
        received - on_time,
        expected - received
    )));
    assert!(page.contains("href=\"/static/bulletin.css\"") && !page.contains("<script"));
    // Kept for a person to look at (print the page to PDF from a browser), as the browser test keeps its screenshots.
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let (status, content_type, file) = get(&suite, "/api/v1/bulletin?period=2023-09&format=html&download=1").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    let file_text = String::from_utf8(file).unwrap();
    assert!(
        file_text.contains("<style>") && !file_text.contains("/static/bulletin.css"),
        "the page as a file, styled on its own"
    );
    std::fs::write(artifacts.join(format!("bulletin-2023-09-{backend}.html")), &file_text).unwrap();
    std::fs::write(artifacts.join(format!("bulletin-2023-09-{backend}.docx")), &docx_bytes).unwrap();
    let (status, _, css) = get(&suite, "/static/bulletin.css").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(css).unwrap().contains("@page{size:A4"));
    let (_, _, english) = get(&suite, "/api/v1/bulletin?period=2023-09&format=html&lang=en").await;
    let english = String::from_utf8(english).unwrap();
    assert!(english.contains("Monthly Progress Bulletin (September 2023)") && english.contains("lang=\"en\""));
    // This month's bulletin lists the order opened today (the month in the plan's zone, Shanghai, UTC+8).
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m");
    let (status, _, current) = get(&suite, &format!("/api/v1/bulletin?period={today}&format=html")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(current).unwrap().contains("关于新增企业数滞后的督办"));

    // Excel: one sheet each, typed cells, as openpyxl reads them.
    let anonymous = http_request(suite.addr(Server::Gateway), "GET", "/api/v1/export.xlsx", &[], b"").await;
    assert_eq!(anonymous.status, 401);
    let (status, content_type, body) = get(&suite, "/api/v1/export.xlsx?as_of=2023-09-30").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let book = dump("xlsx_dump.py", &body, "xlsx");
    let sheets = book["sheets"].as_array().unwrap();
    let names: Vec<&str> = sheets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["actions", "targets", "reports", "compliance"]);
    for sheet in sheets {
        assert_eq!(
            sheet["freeze_panes"], "A2",
            "{} has its header row frozen",
            sheet["name"]
        );
        assert!(
            !sheet["widths"].as_object().unwrap().is_empty(),
            "{} has column widths",
            sheet["name"]
        );
    }
    let header = |sheet: &Value| -> Vec<String> {
        sheet["rows"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_owned())
            .collect()
    };
    let column = |sheet: &Value, name: &str| header(sheet).iter().position(|h| h == name).unwrap();
    // Actions: counts are numbers.
    let sheet = &sheets[0];
    assert!(header(sheet).contains(&"percent (%)".to_owned()), "units in the header");
    let measures = column(sheet, "measures");
    for (i, action) in actions.iter().enumerate() {
        let cell = &sheet["rows"][i + 1][measures];
        assert_eq!(cell["type"], "n");
        assert_eq!(cell["value"].as_i64(), action["measure_count"].as_i64());
    }
    // Targets: amounts are numbers that read back as the overview's exact decimals.
    let sheet = &sheets[1];
    let (code, goal, expected_at) = (
        column(sheet, "code"),
        column(sheet, "target (unit)"),
        column(sheet, "expected (unit)"),
    );
    let unit = column(sheet, "unit");
    let targets = overview["targets"].as_array().unwrap();
    assert_eq!(sheet["rows"].as_array().unwrap().len(), targets.len() + 1);
    let mut fractional = 0;
    for (i, target) in targets.iter().enumerate() {
        let row = &sheet["rows"][i + 1];
        assert_eq!(row[code]["value"], target["code"]);
        assert!(!row[unit]["value"].as_str().unwrap().is_empty());
        for (cell, json) in [(&row[goal], &target["value"]), (&row[expected_at], &target["expected"])] {
            let exact: Decimal = json.as_str().unwrap().parse().unwrap();
            match cell["type"].as_str().unwrap() {
                "n" => {
                    let read = match &cell["value"] {
                        Value::String(float) => float.parse::<Decimal>().unwrap(),
                        number => number.to_string().parse().unwrap(),
                    };
                    assert_eq!(read, exact, "{} reads back exactly", target["code"]);
                    if exact.fract() != Decimal::ZERO {
                        fractional += 1;
                    }
                }
                // Too many digits for a double: the exact text.
                _ => assert_eq!(cell["value"], *json),
            }
        }
    }
    assert!(fractional > 0, "some amounts have decimals");
    // Reports: a narrative that looks like a formula stays text.
    let sheet = &sheets[2];
    let narrative = column(sheet, "narrative");
    let formula = sheet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| &row[narrative])
        .find(|cell| cell["value"].as_str().is_some_and(|v| v.contains("HYPERLINK")))
        .expect("the formula-like narrative");
    assert_eq!(formula["type"], "s", "a string, never a formula");
    assert_eq!(
        formula["value"],
        format!("'{FORMULA_NARRATIVE}"),
        "neutralised as in the CSV"
    );
    assert_eq!(sheet["rows"][1][column(sheet, "on_time")]["type"], "b");
    // Where each report came from: these were loaded without declaring it, so the API.
    let source = column(sheet, "source");
    assert!(
        sheet["rows"]
            .as_array()
            .unwrap()
            .iter()
            .skip(1)
            .all(|row| row[source]["value"] == "REPORT_SOURCE_API"),
        "{sheet}"
    );
    // Compliance: the units' missing reports add up to the overview's.
    let sheet = &sheets[3];
    let missing = column(sheet, "missing (reports)");
    let total: i64 = sheet["rows"].as_array().unwrap()[1..]
        .iter()
        .map(|row| row[missing]["value"].as_i64().unwrap())
        .sum();
    assert_eq!(total, expected - received);

    // The overview page links both beside its CSV downloads, in each language.
    let (status, _, page) = get(&suite, "/?as_of=2023-09-30").await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("href=\"/api/v1/bulletin?period=2023-09\">下载通报（Word）</a>"),
        "{page}"
    );
    assert!(page.contains("href=\"/api/v1/bulletin?period=2023-09&amp;format=html\">通报打印版</a>"));
    assert!(page.contains("/api/v1/export.xlsx?as_of=2023-09-30") && page.contains(">导出 Excel</a>"));
    let (_, _, page) = get(&suite, "/?as_of=2023-09-30&lang=en").await;
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("href=\"/api/v1/bulletin?period=2023-09&amp;lang=en\">Bulletin (Word)</a>"),
        "{page}"
    );

    // Each CSV export as a workbook too.
    for (path, sheet) in [
        ("/api/v1/overview.xlsx?as_of=2023-09-30", "overview"),
        ("/api/v1/reports.xlsx", "reports"),
    ] {
        let (status, _, body) = get(&suite, path).await;
        assert_eq!(status, 200, "{path}");
        let book = dump("xlsx_dump.py", &body, "xlsx");
        assert_eq!(book["sheets"][0]["name"], sheet);
        assert_eq!(book["sheets"][0]["freeze_panes"], "A2");
    }
    // The ranking of units, row for row as its JSON, counts as numbers.
    let (_, _, json) = get(&suite, "/api/v1/units?as_of=2023-09-30").await;
    let units: Value = serde_json::from_slice(&json).unwrap();
    let units = units["rankings"].as_array().unwrap();
    let (status, _, body) = get(&suite, "/api/v1/units.xlsx?as_of=2023-09-30").await;
    assert_eq!(status, 200);
    let book = dump("xlsx_dump.py", &body, "xlsx");
    assert_eq!(book["sheets"][0]["name"], "units");
    let rows = book["sheets"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), units.len() + 1, "a header and one row per unit");
    for (row, unit) in rows[1..].iter().zip(units) {
        assert_eq!(row[0]["type"], "n");
        assert_eq!(row[0]["value"], unit["rank"]);
        assert_eq!(row[1]["value"], unit["department"]);
        assert_eq!(row[5]["value"], unit["received_count"]);
        assert_eq!(row[9]["value"], unit["returned_count"]);
    }
    suite.stop().await;
}

duban_kit::backend_tests!(the_bulletin_and_the_excel_exports_agree_with_the_overview);
