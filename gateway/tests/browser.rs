//! The dashboard in a real browser: headless Chromium loads the page after demo-like
//! data (backfilled reports on time and late, months missing, a support request) and
//! the DOM must show the ten action cards, the compliance heatmap and the alerts, in
//! Chinese and after the English switch. The screenshot is kept under
//! `target/test-artifacts/`.
//!
//! A town's report in the browser (issue 16): Chromium, driven through chromedriver's W3C
//! WebDriver protocol, signs in as a town, opens an obligation's form, types a value with too
//! many decimals, sees reporting's violation beside the field when it leaves it, corrects it,
//! and submits the same form twice and once more: exactly one revision is stored. Screenshots
//! of `/my` and of the form on a desktop and a 390 px phone are kept under
//! `target/test-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get update && apt-get install -y
//! chromium chromium-driver`); without them the tests say so loudly and skip, unless
//! `DUBAN_REQUIRE_CHROMIUM=1`.

mod common;

use std::{io::Write, path::PathBuf, process::Command, time::Duration};

use common::{Caller, GatewaySuite, PLAN, ReportKey, Server, Suite, start_local_suite, start_suite};
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

duban_kit::backend_tests!(dashboard_in_a_browser, a_town_reports_in_a_browser);

/// A chromedriver started for one test, on a free port of loopback; stopped when dropped.
struct Driver {
    process: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Driver {
    fn binary() -> Option<PathBuf> {
        std::env::var("DUBAN_CHROMEDRIVER").map(PathBuf::from).ok().or_else(|| {
            let output = Command::new("which").arg("chromedriver").output().ok()?;
            output
                .status
                .success()
                .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        })
    }

    async fn start(binary: &PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Owned at once, so that it is stopped (killed and waited for) however the test ends.
        let driver = Driver {
            process,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(driver.addr).await.is_ok() {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not listen on {}", driver.addr);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A WebDriver session: the few W3C commands the test needs, as JSON over HTTP/1.1. (Written
/// here over a plain TCP stream rather than with a WebDriver crate: a dozen plain
/// requests, and no TLS stack or second HTTP client to build for them.)
struct Browser {
    driver: std::net::SocketAddr,
    session: String,
}

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The Tab key, which leaves a field (and so fires its `change` event).
const TAB: &str = "\u{E004}";

impl Browser {
    async fn open(driver: &Driver, chromium: &std::path::Path) -> Browser {
        let capabilities = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-dev-shm-usage", "--no-first-run", "--window-size=1440,1800"],
            },
        }}});
        let answer = command(driver.addr, "POST", "/session", Some(capabilities)).await;
        let session = answer["sessionId"].as_str().expect("a session").to_owned();
        Browser {
            driver: driver.addr,
            session,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        command(self.driver, method, &format!("/session/{}{path}", self.session), body).await
    }

    async fn go(&self, url: &str) {
        self.call("POST", "/url", Some(serde_json::json!({ "url": url }))).await;
    }

    async fn url(&self) -> String {
        self.call("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn source(&self) -> String {
        self.call("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                Some(serde_json::json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    async fn replace_text(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/clear"),
            Some(serde_json::json!({})),
        )
        .await;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(serde_json::json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(serde_json::json!({})),
        )
        .await;
    }

    async fn script(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(serde_json::json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits (up to 15 s) until `script` returns true.
    async fn wait_for(&self, script: &str, args: serde_json::Value, what: &str) {
        for _ in 0..150 {
            if self.script(script, args.clone()).await == serde_json::Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} did not happen within 15 s; the page: {}", self.source().await);
    }

    /// A screenshot of the window at `width` × `height`, kept at `path`.
    async fn screenshot(&self, width: u32, height: u32, path: &std::path::Path) {
        use base64::Engine;
        self.call(
            "POST",
            "/window/rect",
            Some(serde_json::json!({"width": width, "height": height})),
        )
        .await;
        let png = self.call("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot"))
            .unwrap();
        std::fs::write(path, &bytes).unwrap();
        assert!(
            bytes.len() > 10_000,
            "a screenshot at {} ({} bytes)",
            path.display(),
            bytes.len()
        );
    }

    async fn close(self) {
        command(self.driver, "DELETE", &format!("/session/{}", self.session), None).await;
    }
}

/// One WebDriver command: its `value`, or a panic with the driver's error.
async fn command(
    driver: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers: &[(&str, &str)] = if method == "POST" {
        &[("content-type", "application/json")]
    } else {
        &[]
    };
    let (status, answer) = driver_request(driver, method, path, headers, body.as_bytes()).await;
    let json: serde_json::Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|error| panic!("{method} {path}: {error}: {}", String::from_utf8_lossy(&answer)));
    assert_eq!(status, 200, "{method} {path}: {json}");
    json["value"].clone()
}

/// One request to chromedriver: its status and body. chromedriver answers `Connection: close`
/// but keeps the socket open, so the body is read by its `Content-Length`, not to the end.
async fn driver_request(
    driver: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(driver).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {driver}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    let read = async {
        loop {
            if let Some((status, headers, rest)) = common::split_head(&raw) {
                let length = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(0);
                if rest.len() >= length {
                    return (status, rest[..length].to_vec());
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "chromedriver closed the connection mid-answer to {method} {path}"
            );
            raw.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no answer from chromedriver to {method} {path} within 60 s"))
}

/// A town responsible for a measure on which it owes target values: its key for June 2023.
async fn town_key(suite: &Suite) -> ReportKey {
    use duban_proto::departments::v1::{self as dpb, DepartmentKind};
    let towns: Vec<String> = suite
        .departments(Caller::Admin)
        .list_departments(dpb::ListDepartmentsRequest {
            page_size: 500,
            kind: DepartmentKind::TownOrStreet as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .departments
        .into_iter()
        .map(|d| d.code)
        .collect();
    let responsibility = suite
        .responsibilities()
        .await
        .unwrap()
        .into_iter()
        .find(|r| towns.contains(&r.department) && !r.owed.is_empty())
        .expect("a town owes target values");
    ReportKey::new(&responsibility, 6)
}

async fn a_town_reports_in_a_browser(backend: Backend) {
    let (Some(chromium), Some(chromedriver)) = (chromium(), Driver::binary()) else {
        if required() {
            panic!(
                "chromium and chromedriver are required (DUBAN_REQUIRE_CHROMIUM=1): apt-get install -y chromium chromium-driver"
            );
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! chromium or chromedriver is not installed: SKIPPING the browser test of the unit's form\n\
             !!! (apt-get install -y chromium chromium-driver; DUBAN_REQUIRE_CHROMIUM=1 to fail instead)\n"
        );
        return;
    };
    // Signed in as a unit through the login form, as a town's clerk would.
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let key = town_key(&suite).await;
    let token = suite
        .issue_token(duban_proto::departments::v1::Role::Department, &key.department)
        .await;
    let base = format!("http://{}", suite.addr(Server::Gateway));
    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, &chromium).await;
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();

    // Not signed in: /my sends the browser to sign in, and back to /my afterwards.
    browser.go(&format!("{base}/my")).await;
    assert!(
        browser.url().await.contains("/login?next=/my"),
        "{}",
        browser.url().await
    );
    browser.replace_text("#token", &token).await;
    browser.click("#sign-in-button").await;
    browser
        .wait_for(
            "return location.pathname==='/my' && document.readyState==='complete'",
            serde_json::json!([]),
            "the unit's page after signing in",
        )
        .await;
    assert_eq!(browser.url().await, format!("{base}/my"));
    let page = browser.source().await;
    let row = format!("data-obligation=\"{}~2023-06\"", key.measure);
    assert!(page.contains(&row) && page.contains("id=\"owed-count\""), "{page}");
    browser
        .screenshot(1440, 1800, &artifacts.join(format!("my-desktop-{backend}.png")))
        .await;
    browser
        .screenshot(390, 1600, &artifacts.join(format!("my-phone-{backend}.png")))
        .await;

    // The obligation's form, from its row on the page.
    browser.click(&format!("tr[{row}] a.fill").replace('"', "'")).await;
    browser
        .wait_for(
            "return location.pathname===arguments[0] && document.readyState==='complete'",
            serde_json::json!([format!("/my/obligations/{}/2023-06", key.measure)]),
            "the obligation's form",
        )
        .await;
    let bad = key.owed[0].code.clone();
    let field = format!("[name='value.{bad}']");
    let beside = serde_json::json!([format!("value.{bad}")]);
    // The last check has answered (my.js drops answers to earlier ones) and shows a violation.
    let violation_shown = "return document.querySelector('[data-for=\"'+arguments[0]+'\"]').textContent.length>0 && document.getElementById('report-form').dataset.checking==='done'";
    let violation_gone = "return document.querySelector('[data-for=\"'+arguments[0]+'\"]').textContent.length===0 && document.getElementById('report-form').dataset.checking==='done'";
    let status = format!("option[value='{}']", rpb::OverallStatus::OnTrack as i32);
    browser.click(&format!("#overall_status {status}")).await;
    for target in key.owed.iter().filter(|t| t.code != bad) {
        browser
            .replace_text(&format!("[name='value.{}']", target.code), "1")
            .await;
    }
    // Too many decimals: leaving the field asks the server, whose violation appears beside it.
    browser.replace_text(&field, &format!("1.123456789{TAB}")).await;
    browser
        .wait_for(violation_shown, beside.clone(), "the violation beside the field")
        .await;
    browser
        .screenshot(1440, 1800, &artifacts.join(format!("my-form-desktop-{backend}.png")))
        .await;
    browser
        .screenshot(390, 2400, &artifacts.join(format!("my-form-phone-{backend}.png")))
        .await;
    let reporting = || suite.reporting(Caller::Admin);
    let stored = || async {
        reporting()
            .list_report_revisions(rpb::ListReportRevisionsRequest {
                name: key.name(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().reports)
            .unwrap_or_default()
    };
    assert!(stored().await.is_empty(), "a check stores nothing");

    // Corrected: the violation goes.
    browser.replace_text(&field, &format!("2{TAB}")).await;
    browser.wait_for(violation_gone, beside, "the violation cleared").await;

    // Submitted twice at once, as a double click or a page posted again sends it (the same form,
    // so the same request id), then once more with the button: one revision.
    let twice = browser
        .script(
            "var f=document.getElementById('report-form');var b=new URLSearchParams(new FormData(f));b.set('action','submit');\
             var send=function(){return fetch(f.getAttribute('action'),{method:'POST',body:b,credentials:'same-origin'});};\
             return Promise.all([send(),send()]).then(function(rs){return rs.map(function(r){return r.url;});});",
            serde_json::json!([]),
        )
        .await;
    assert!(
        twice.as_array().is_some_and(
            |urls| urls.len() == 2 && urls.iter().all(|u| u.as_str().is_some_and(|u| u.contains("saved=1")))
        ),
        "both posts answered with the first revision: {twice}"
    );
    browser.click("#submit").await;
    // The click returns once the post is sent; the page after the redirect may come later.
    browser
        .wait_for(
            "return location.search.indexOf('saved=1')>=0 && document.readyState==='complete'",
            serde_json::json!([]),
            "the page after the submission",
        )
        .await;
    assert!(browser.source().await.contains("id=\"saved\""));
    let revisions = stored().await;
    assert_eq!(revisions.len(), 1, "exactly one revision stored: {revisions:?}");
    assert_eq!(revisions[0].source(), rpb::ReportSource::WebForm);
    browser.close().await;
    drop(driver);
    suite.stop().await;
}
