//! The dashboard in a real browser: headless Chromium loads the page after demo-like
//! data (backfilled reports on time and late, months missing, a support request) and
//! the DOM must show the ten action cards, the compliance heatmap and the alerts, in
//! Chinese and after the English switch. The screenshot is kept under
//! `target/test-artifacts/`.
//!
//! Needs Debian's `chromium` (`apt-get update && apt-get install -y chromium`); without
//! it the test says so loudly and skips, unless `DUBAN_REQUIRE_CHROMIUM=1`.

mod common;

use std::{io::Write, path::PathBuf, process::Command, time::Duration};

use common::{GatewaySuite, PLAN, Server, Suite, start_local_suite};
use duban_kit::testing::{self, Backend};
use duban_proto::{
    common::v1::Period,
    reporting::v1::{self as rpb, reporting_service_client::ReportingServiceClient},
};

fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("DUBAN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let output = Command::new("which").arg(name).output().ok()?;
            output
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        })
}

fn required() -> bool {
    std::env::var("DUBAN_REQUIRE_CHROMIUM").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Runs headless Chromium with `args` against `url`, returning stdout; fails if the page's console
/// reports anything the Content-Security-Policy refused (an inline style or script, a foreign source).
fn run_chromium(binary: &PathBuf, profile: &std::path::Path, args: &[String], url: &str) -> String {
    let output = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--timeout=15000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr);
    let refusals: Vec<&str> = console
        .lines()
        .filter(|line| line.contains("Content Security Policy"))
        .collect();
    assert!(refusals.is_empty(), "the page broke its own CSP: {refusals:#?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Backfills demo-like reports through the gateway: for the units of the first measures,
/// March to June on time or late, nothing since (missing), and a support request.
async fn demo_data(suite: &Suite) {
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    let mut items = Vec::new();
    let statuses = [
        rpb::OverallStatus::OnTrack,
        rpb::OverallStatus::AtRisk,
        rpb::OverallStatus::OffTrack,
        rpb::OverallStatus::Completed,
    ];
    for (m, measure) in overview.measures.iter().take(6).enumerate() {
        for (u, unit) in measure.units.iter().take(4).enumerate() {
            for month in 3..=6 {
                let on_time = !(u + month as usize).is_multiple_of(3);
                let day = if on_time { 3 } else { 20 };
                let submit = chrono::NaiveDate::from_ymd_opt(2023, month as u32 + 1, day)
                    .unwrap()
                    .and_hms_opt(2, 0, 0)
                    .unwrap()
                    .and_utc();
                let blockers = if m == 0 && u == 0 && month == 6 {
                    vec![rpb::Blocker {
                        description: "项目用地规划调整，需区规划资源局支持".into(),
                        severity: rpb::BlockerSeverity::High as i32,
                        support_unit: "planning-resources-bureau".into(),
                        ..Default::default()
                    }]
                } else {
                    vec![]
                };
                items.push(rpb::SubmitReportsRequest {
                    parent: PLAN.into(),
                    report: Some(rpb::Report {
                        measure_number: measure.measure_number.clone(),
                        department: unit.department.clone(),
                        period: Some(Period { year: 2023, month }),
                        overall_status: statuses[(m + u) % statuses.len()] as i32,
                        narrative: "按计划推进".into(),
                        blockers,
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
        .expect("the stream is forwarded")
        .into_inner();
    let failures: Vec<_> = response
        .results
        .iter()
        .filter_map(|r| match &r.outcome {
            Some(rpb::submit_reports_result::Outcome::Error(e)) => Some(e.message.clone()),
            _ => None,
        })
        .collect();
    // A unit whose support request names itself is refused; everything else is stored.
    assert!(
        response.succeeded_count as usize >= count - 4,
        "{} of {count} stored: {failures:?}",
        response.succeeded_count
    );
}

/// Backfills 48 district major projects under way (of 50, a level target) for March to June.
async fn level_target_reports(suite: &Suite) {
    let mut dashboard = suite.dashboard(suite.admin_token());
    let overview = suite.overview(&mut dashboard).await;
    let target = overview
        .targets
        .iter()
        .filter_map(|t| t.target.as_ref())
        .find(|t| t.code == "district-major-projects")
        .expect("the level target")
        .clone();
    let department = target.reporting_departments[0].clone();
    let values = suite
        .final_values("4.2", &department, "district-major-projects", "48")
        .await;
    let items: Vec<rpb::SubmitReportsRequest> = (3..=6)
        .map(|month| {
            let submit = chrono::NaiveDate::from_ymd_opt(2023, month as u32 + 1, 4)
                .unwrap()
                .and_hms_opt(3, 0, 0)
                .unwrap()
                .and_utc();
            rpb::SubmitReportsRequest {
                parent: PLAN.into(),
                report: Some(rpb::Report {
                    measure_number: "4.2".into(),
                    department: department.clone(),
                    period: Some(Period { year: 2023, month }),
                    overall_status: rpb::OverallStatus::OnTrack as i32,
                    narrative: "重大项目推进".into(),
                    metric_values: values.clone(),
                    ..Default::default()
                }),
                request_id: format!("level-{month}"),
                backfill: true,
                submit_time: Some(prost_types::Timestamp {
                    seconds: submit.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            }
        })
        .collect();
    let mut reporting =
        ReportingServiceClient::new(testing::channel(suite.addr(Server::Gateway), Some(suite.admin_token())));
    let response = reporting
        .submit_reports(tokio_stream::iter(items))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.succeeded_count, 4, "{:?}", response.results);
}

async fn dashboard_in_a_browser(backend: Backend) {
    let Some(binary) = chromium() else {
        if required() {
            panic!("chromium is not installed and DUBAN_REQUIRE_CHROMIUM=1 requires it: apt-get install -y chromium");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! chromium is not installed: SKIPPING the browser test of the dashboard\n\
             !!! (apt-get update && apt-get install -y chromium; DUBAN_REQUIRE_CHROMIUM=1 to fail instead)\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    };
    // The local user of `duban up`: headless Chromium cannot sign in from the command line.
    let Some(suite) = start_local_suite(backend).await else {
        return;
    };
    demo_data(&suite).await;
    let addr = suite.addr(Server::Gateway);
    let profile = tempfile_dir();
    let (binary_zh, profile_zh, url_zh) = (binary.clone(), profile.clone(), format!("http://{addr}/"));
    let dom =
        tokio::task::spawn_blocking(move || run_chromium(&binary_zh, &profile_zh, &["--dump-dom".into()], &url_zh))
            .await
            .unwrap();
    assert_eq!(dom.matches("class=\"card action-card").count(), 10, "ten action cards");
    assert!(dom.contains("十大行动") && dom.contains("lang=\"zh\""));
    assert!(dom.contains("id=\"heatmap\""), "the heatmap");
    assert!(dom.contains("cell on_time") && dom.contains("cell late") && dom.contains("cell missing"));
    assert!(
        dom.contains("id=\"alerts\"") && dom.contains("class=\"alert "),
        "the alerts"
    );
    assert!(dom.contains("<svg class=\"chart\""), "inline trajectory charts");
    assert!(dom.contains("id=\"lang-switch\""));
    // Two colours side by side, with their legend: every action card and measure row has a
    // delivery and a reporting-discipline badge. Units stopped reporting after June, so
    // discipline is RED where nothing is behind its trajectory: a missing report alone
    // leaves delivery as it is.
    assert!(dom.contains("id=\"rag-legend\"") && dom.contains("缺报不计入进展"));
    assert!(
        dom.matches("badge discipline ").count() >= 10 + 29,
        "two colours on cards and rows"
    );
    let rows: Vec<&str> = dom.split("<tr").filter(|row| row.contains("data-measure=")).collect();
    assert_eq!(rows.len(), 29, "a row per measure");
    assert!(
        rows.iter()
            .any(|row| row.contains("badge discipline red") && !row.contains("class=\"badge red\"")),
        "a measure whose reports are missing but whose delivery is not RED"
    );
    // The plan ended in 2023: the page opens on its last day, and says so.
    assert!(
        dom.contains("计划已于 2023-12-31 结束，显示截至该日的情况"),
        "the date note"
    );
    // The live-refresh script, served from /static/ under `script-src 'self'`, ran.
    assert!(
        dom.contains("data-live=\""),
        "live.js ran: {}",
        &dom[..dom.len().min(300)]
    );

    let (binary_en, profile_en, url_en) = (binary.clone(), profile.clone(), format!("http://{addr}/?lang=en"));
    let dom =
        tokio::task::spawn_blocking(move || run_chromium(&binary_en, &profile_en, &["--dump-dom".into()], &url_en))
            .await
            .unwrap();
    assert!(dom.contains("lang=\"en\"") && dom.contains("Reporting compliance") && dom.contains("Alerts"));
    assert!(dom.contains("The plan ended on 2023-12-31; showing its state on that day"));
    assert!(
        dom.contains("a missing report does not count against delivery"),
        "the legend in English"
    );
    assert_eq!(dom.matches("class=\"card action-card").count(), 10);

    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    // A level target's chart on its measure's page: 48 of 50 projects under way, drawn on an
    // axis from zero with the target line, month labels and the unit.
    level_target_reports(&suite).await;
    let measure_url = format!("http://{addr}/measures/4.2?as_of=2023-07-31");
    let (b, p, u) = (binary.clone(), profile.clone(), measure_url.clone());
    let dom = tokio::task::spawn_blocking(move || run_chromium(&b, &p, &["--dump-dom".into()], &u))
        .await
        .unwrap();
    let chart = dom
        .split("data-target=\"district-major-projects\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("the level target's section");
    assert!(chart.contains("class=\"target-chart\""), "{chart}");
    assert!(
        chart.contains(">3月<") && chart.contains(">个项目<") && chart.contains("目标 50个项目"),
        "{chart}"
    );
    // March to July: a level stands until the next report, so July shows June's 48.
    assert_eq!(chart.matches("class=\"actual-dot\"").count(), 5);
    assert!(
        chart.contains(">0<") && chart.contains(">50<"),
        "the value axis runs from 0 past 50"
    );

    // The ranking of units: every responsible unit in a row, sortable, on a desktop and on a
    // 390 px phone, where the table scrolls sideways inside its own box.
    let ranking_url = format!("http://{addr}/units?as_of=2023-07-31");
    let (b, p, u) = (binary.clone(), profile.clone(), ranking_url.clone());
    let dom = tokio::task::spawn_blocking(move || run_chromium(&b, &p, &["--dump-dom".into()], &u))
        .await
        .unwrap();
    let rows = dom.matches("<tr data-department=").count();
    assert!(rows >= 40, "every responsible unit is ranked: {rows} rows");
    assert!(dom.contains("<td class=\"rank\">1</td>"), "the first is ranked 1");
    assert!(dom.contains("class=\"sort\"") && dom.contains("id=\"kind-filter\""));
    assert!(
        dom.contains("<div class=\"scroll\">"),
        "the table scrolls inside its box on a phone"
    );
    let pages = [("units", &ranking_url), ("measure", &measure_url)];
    for ((page, url), (name, size)) in pages
        .into_iter()
        .flat_map(|page| [(page, ("desktop", "1440,1800")), (page, ("phone", "390,1600"))])
    {
        let shot = artifacts.join(format!("{page}-{name}-{backend}.png"));
        let _ = std::fs::remove_file(&shot);
        let args = vec![
            format!("--screenshot={}", shot.display()),
            format!("--window-size={size}"),
        ];
        let (b, p, u) = (binary.clone(), profile.clone(), url.clone());
        tokio::task::spawn_blocking(move || run_chromium(&b, &p, &args, &u))
            .await
            .unwrap();
        let bytes = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(bytes > 10_000, "a screenshot at {} ({bytes} bytes)", shot.display());
    }

    let shot = artifacts.join(format!("dashboard-{backend}.png"));
    let _ = std::fs::remove_file(&shot);
    let args = vec![
        format!("--screenshot={}", shot.display()),
        "--window-size=1400,2600".into(),
    ];
    let url = format!("http://{addr}/");
    tokio::task::spawn_blocking(move || run_chromium(&binary, &profile, &args, &url))
        .await
        .unwrap();
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "a screenshot at {} ({size} bytes)", shot.display());
    let _ = writeln!(std::io::stderr(), "dashboard screenshot: {}", shot.display());
    suite.stop().await;
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("duban-chromium-{:016x}", rand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos(),
    );
    hasher.finish()
}

duban_kit::backend_tests!(dashboard_in_a_browser);
