//! Issue 11, "Proof": the logs of a full run never contain a token. `duban up` runs with
//! the most verbose logging an operator would switch on (`RUST_LOG=debug,duban=trace`:
//! every Duban crate at trace, everything else at debug) in JSON; the test runs the demo,
//! reads the dashboard in the terminal and over HTTP (bearer token and login form),
//! issues tokens, uses them at the front door and at the servers, has a department add a
//! webhook and rotate its signing secret, sends a token nobody
//! issued and tokens in malformed `authorization` headers, revokes a token and uses it
//! once the revocation window has passed, and stops the suite with Ctrl-C. Then it
//! searches everything the suite logged for every token of the run: none may appear.
//!
//! Where the logs are: `duban up` writes its log lines to standard output, and so its
//! banner, which prints the development admin token on purpose (SECURITY.md). In JSON
//! every log line is one JSON object, so the two are told apart by their form: a line
//! of standard output that starts with `{` must parse as a JSON object and is a log
//! line; any other must be a banner line, printed before its last line ("Stop: Ctrl-C"),
//! or the closing "stopping...". A line that is neither fails the test, so nothing
//! escapes the search by looking like the banner. Standard error is searched whole.
//!
//! What is searched for, verbatim: the development admin token, the service token
//! (configured, so that it is known), every token issued here, the login session's id,
//! both signing secrets of the webhook, and the tokens nobody issued. The demo issues and revokes tokens of its own that it
//! never prints; they are caught by their shape: no log line may contain `dbn_` followed
//! by a whole token's 43 characters (a credential's 8-character `token_prefix` may appear).
//! Token hashes are stored by design and are not searched for.

mod common;

use std::time::Duration;

use common::{Logging, Output, Suite, http};
use duban_proto::departments::v1::{ListDepartmentsRequest, departments_service_client::DepartmentsServiceClient};
use serde_json::Value;

/// Everything Duban at trace, every other crate at debug (h2, tonic, hyper, sqlx, ...).
/// An EnvFilter target matches by prefix: `duban` covers every `duban_*` crate.
const LOG_FILTER: &str = "debug,duban=trace";

/// The service token the servers present to each other, configured so that it is known.
const SERVICE_TOKEN: &str = "logscan-service-token-0123456789abcdefghij";

/// A token nobody issued, shaped like one that was.
const UNKNOWN_TOKEN: &str = "dbn_NotIssuedByThisSuiteButShapedLikeATokenXyz0";

/// What `duban up` prints after its banner as it stops.
const STOPPING: &str = "stopping...";

/// The request id of the department's report at the front door, to find it in the logs.
const FRONT_DOOR_REQUEST: &str = "logscan-front-door";

/// The token cache's lifetime: how long a revoked token may keep working.
const CACHE_TTL_SECONDS: u64 = 1;

#[test]
fn no_token_of_a_full_run_appears_in_its_logs() {
    assert_eq!(UNKNOWN_TOKEN.len(), "dbn_".len() + 43, "shaped like a real token");
    let data = tempfile::tempdir().unwrap();
    let mut env = Suite::env_for(data.path());
    for (name, value) in [
        ("DUBAN__LOG__FORMAT", "json"),
        ("DUBAN__AUTH__SERVICE_TOKEN", SERVICE_TOKEN),
        ("DUBAN__AUTH__CACHE_TTL_SECONDS", &CACHE_TTL_SECONDS.to_string()),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    let suite = Suite::start(env, Logging::Captured(LOG_FILTER));
    let admin = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    let admin = admin.trim().to_owned();
    let gateway = suite.setting("DUBAN__GATEWAY__LISTEN").to_owned();
    let departments = suite.setting("DUBAN__DEPARTMENTS__LISTEN").to_owned();

    let summary = suite.run(&["demo", "--seed", "11"]);
    assert!(
        summary.contains("live submissions with the units' own tokens"),
        "{summary}"
    );
    let table = suite.run(&["dashboard", "--as-of", "2023-09-30"]);
    assert!(table.contains("Units late now"), "{table}");

    let (leadership, leadership_credential) = issue(&suite, &["--role", "leadership"]);
    let (department, department_credential) = issue(&suite, &["--department", "tax-bureau"]);
    let session = read_the_dashboard(&gateway, &leadership);
    let (first_secret, rotated_secret) = configure_a_webhook(&suite, &department);
    submit_at_the_front_door(&suite, &gateway, &department).expect("a department submits its own report");
    use_unknown_and_malformed_tokens(&suite, &gateway, &departments, &department);
    assert_status(
        &gateway,
        &format!("Bearer {department}"),
        403,
        "a department cannot read the dashboard",
    );

    suite.run(&["token", "revoke", &department_credential.to_string()]);
    std::thread::sleep(Duration::from_millis(CACHE_TTL_SECONDS * 1000 + 1500));
    let refused = submit_at_the_front_door(&suite, &gateway, &department).expect_err("a revoked token is refused");
    assert!(refused.contains("UNAUTHENTICATED"), "{refused}");
    assert_status(
        &gateway,
        &format!("Bearer {department}"),
        401,
        "a revoked token is unknown",
    );

    let output = suite.stop();
    let (banner, logs) = banner_and_logs(&output);
    assert!(
        banner.iter().any(|line| line.contains(&admin)),
        "the banner prints the development admin token, so the search below can find one:\n{}",
        banner.join("\n")
    );
    assert_logs_record_the_run(&logs, leadership_credential, department_credential);

    let log_text: Vec<&str> = logs
        .iter()
        .map(|(line, _)| line.as_str())
        .chain(output.stderr.iter().map(String::as_str))
        .collect();
    let searched = [
        ("the development admin token", admin.as_str()),
        ("the service token", SERVICE_TOKEN),
        ("the leadership token", leadership.as_str()),
        (
            "the department token, used after its revocation too",
            department.as_str(),
        ),
        ("the login session's id", session.as_str()),
        ("a webhook's first signing secret", first_secret.as_str()),
        ("a webhook's rotated signing secret", rotated_secret.as_str()),
        ("the unknown token", UNKNOWN_TOKEN),
    ];
    let mut leaks: Vec<String> = searched
        .iter()
        .filter_map(|(what, token)| {
            let line = log_text.iter().find(|line| line.contains(token))?;
            Some(format!("{what}: {line}"))
        })
        .collect();
    leaks.extend(
        log_text
            .iter()
            .flat_map(|line| {
                token_shaped(line)
                    .into_iter()
                    .map(move |token| format!("{token}: {line}"))
            })
            .take(5),
    );
    assert!(leaks.is_empty(), "tokens in the logs:\n{}", leaks.join("\n"));
    assert_eq!(
        token_shaped(&banner.join("\n")),
        vec![admin.as_str()],
        "the shape search finds the one token the banner shows"
    );
}

/// Issues a token with `duban token issue <who>`: the token and its credential's number.
fn issue(suite: &Suite, who: &[&str]) -> (String, u64) {
    let mut args = vec!["token", "issue", "--json"];
    args.extend_from_slice(who);
    let issued = suite.json(&args);
    let token = issued["token"].as_str().expect("the token").to_owned();
    let number = issued["name"]
        .as_str()
        .and_then(|name| name.strip_prefix("credentials/"))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a credential name: {issued}"));
    (token, number)
}

/// The department adds a webhook for its notices, lists it, rotates its secret and
/// disables it, with `duban departments endpoints`: both secrets it was shown.
fn configure_a_webhook(suite: &Suite, department: &str) -> (String, String) {
    let endpoints = |args: &[&str]| {
        let mut all = vec!["departments", "endpoints"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--json", "--token", department]);
        suite.json(&all)
    };
    let added = endpoints(&[
        "add",
        "--department",
        "tax-bureau",
        "--webhook",
        "https://hooks.example.org/logscan",
        "--levels",
        "yellow,red",
    ]);
    let first = added["secret"].as_str().expect("the secret, once").to_owned();
    let name = added["name"].as_str().expect("the endpoint's name").to_owned();
    let listed = endpoints(&["list"]);
    assert_eq!(listed[0]["levels"], serde_json::json!(["yellow", "red"]), "{listed}");
    assert!(listed[0].get("secret").is_none(), "a listing shows no secret: {listed}");
    let rotated = endpoints(&["rotate-secret", &name]);
    let second = rotated["secret"].as_str().expect("the new secret, once").to_owned();
    assert_ne!(first, second);
    let disabled = endpoints(&["disable", &name]);
    assert_eq!(disabled["enabled"], false, "{disabled}");
    (first, second)
}

/// Reads the overview and the reports export with the leadership token, then signs in at
/// the login form with it and reads the dashboard in that session; the session's id.
fn read_the_dashboard(gateway: &str, leadership: &str) -> String {
    let bearer = format!("Bearer {leadership}");
    for path in ["/api/v1/overview?as_of=2023-09-30", "/api/v1/reports.csv"] {
        let answer = http(gateway, "GET", path, &[("Authorization", &bearer)], "");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {}", head(&answer));
    }
    let form = http(gateway, "GET", "/login", &[], "");
    let csrf = cookie(&form, "duban_login_csrf").unwrap_or_else(|| panic!("a CSRF cookie: {}", head(&form)));
    assert!(
        form.contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "the form carries it"
    );
    let signed_in = http(
        gateway,
        "POST",
        "/login",
        &[
            ("Cookie", &format!("duban_login_csrf={csrf}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &format!("token={leadership}&csrf={csrf}"),
    );
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{}", head(&signed_in));
    let session = cookie(&signed_in, "duban_session").unwrap_or_else(|| panic!("a session: {}", head(&signed_in)));
    let page = http(
        gateway,
        "GET",
        "/?as_of=2023-09-30",
        &[("Cookie", &format!("duban_session={session}"))],
        "",
    );
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("action=\"/logout\""),
        "signed in: {}",
        head(&page)
    );
    session
}

/// A report for the tax bureau's measure 1.1, submitted with its own token through the
/// gateway's front door; the command's standard error if it fails.
fn submit_at_the_front_door(suite: &Suite, gateway: &str, department: &str) -> Result<(), String> {
    let output = std::process::Command::new(common::DUBAN)
        .args([
            "report",
            "submit",
            "--addr",
            gateway,
            "--token",
            department,
            "--measure",
            "1.1",
            "--period",
            "2023-06",
            "--status",
            "on-track",
            "--narrative",
            "6月退税按时办结。",
            "--request-id",
            FRONT_DOOR_REQUEST,
        ])
        .envs(suite.env.iter().cloned())
        .output()
        .unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Calls with tokens that must be refused: an unknown one (gRPC at a server and at the
/// front door, HTTP), the service token at the dashboard, and real tokens in
/// `authorization` headers that are not `Bearer <token>`.
fn use_unknown_and_malformed_tokens(suite: &Suite, gateway: &str, departments: &str, department: &str) {
    for addr in [departments, gateway] {
        let refused = suite.run_failing(&["departments", "list", "--addr", addr, "--token", UNKNOWN_TOKEN]);
        assert!(refused.contains("UNAUTHENTICATED"), "{addr}: {refused}");
    }
    assert_status(gateway, &format!("Bearer {UNKNOWN_TOKEN}"), 401, "an unknown token");
    assert_status(
        gateway,
        &format!("Bearer {SERVICE_TOKEN}"),
        403,
        "the service token reads no dashboard",
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for addr in [departments, gateway] {
        for header in [format!("Token {department}"), department.to_owned()] {
            let code = runtime.block_on(list_departments(addr, &header));
            assert_eq!(code, tonic::Code::Unauthenticated, "{addr}, authorization: {header}");
        }
    }
    // Not a bearer token, so not a sign-in: on loopback the dashboard is open anyway.
    let answer = http(
        gateway,
        "GET",
        "/api/v1/overview",
        &[("Authorization", &format!("Token {department}"))],
        "",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", head(&answer));
}

/// ListDepartments at `addr` with `authorization` metadata exactly as given; the code it
/// answers.
async fn list_departments(addr: &str, authorization: &str) -> tonic::Code {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(ListDepartmentsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", authorization.parse().unwrap());
    match DepartmentsServiceClient::new(channel).list_departments(request).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// GET /api/v1/overview with `authorization` must answer `status`.
fn assert_status(gateway: &str, authorization: &str, status: u16, why: &str) {
    let answer = http(
        gateway,
        "GET",
        "/api/v1/overview",
        &[("Authorization", authorization)],
        "",
    );
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status} ")),
        "{why}: {}",
        head(&answer)
    );
}

/// The banner's lines, and the log lines with their JSON, of `duban up`'s standard output;
/// fails on a line that is neither (see the module's documentation).
fn banner_and_logs(output: &Output) -> (Vec<&str>, Vec<(&String, Value)>) {
    let banner_end = output
        .stdout
        .iter()
        .position(|line| line.starts_with("Stop:"))
        .expect("the banner's last line");
    let mut banner = Vec::new();
    let mut logs = Vec::new();
    for (index, line) in output.stdout.iter().enumerate() {
        if line.starts_with('{') {
            let json: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            assert!(json.is_object() && json["level"].is_string(), "not a log line: {line}");
            logs.push((line, json));
        } else {
            assert!(
                index <= banner_end || line == STOPPING,
                "neither a JSON log line nor the banner: {line}"
            );
            banner.push(line.as_str());
        }
    }
    (banner, logs)
}

/// The logs are those of this run, as verbose as asked: debug lines, the demo's
/// reports, the tokens issued and revoked here, and the report the department submitted.
fn assert_logs_record_the_run(logs: &[(&String, Value)], leadership: u64, department: u64) {
    let events = |message: &str| -> Vec<&Value> {
        logs.iter()
            .map(|(_, json)| json)
            .filter(|json| json["message"] == message)
            .collect()
    };
    for level in ["DEBUG", "INFO"] {
        assert!(
            logs.iter().any(|(_, json)| json["level"] == level),
            "{level} lines are logged"
        );
    }
    let stored = events("stored a report revision");
    assert!(stored.len() >= 300, "the demo's reports: {} lines", stored.len());
    assert!(
        stored.iter().any(|json| json["principal"] == "department:tax-bureau"
            && json["report"] == "plans/jiading-2023/reports/1.1~tax-bureau~2023-06"
            && json["request_id"] == FRONT_DOOR_REQUEST),
        "the department's own report, through the front door"
    );
    for credential in [leadership, department] {
        assert!(
            events("issued credential")
                .iter()
                .any(|json| json["credential"] == credential && json["principal"] == "admin"),
            "credentials/{credential} issued"
        );
    }
    assert!(
        events("revoked credential")
            .iter()
            .any(|json| json["credential"] == department),
        "credentials/{department} revoked"
    );
}

/// Every run of `dbn_` and at least 43 base64url characters in `text`: a whole token.
fn token_shaped(text: &str) -> Vec<&str> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut found = Vec::new();
    for (start, _) in text.match_indices("dbn_") {
        let rest = &text[start + 4..];
        let length = rest.find(|c: char| !token_char(c)).unwrap_or(rest.len());
        if length >= 43 {
            found.push(&text[start..start + 4 + length]);
        }
    }
    found
}

/// The value of the cookie `name` an HTTP answer sets.
fn cookie(answer: &str, name: &str) -> Option<String> {
    answer
        .lines()
        .take_while(|line| !line.is_empty())
        .filter_map(|line| {
            line.strip_prefix("set-cookie: ")
                .or_else(|| line.strip_prefix("Set-Cookie: "))
        })
        .find_map(|value| value.strip_prefix(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
        .filter(|value| !value.is_empty())
}

/// The head of an HTTP answer, for failure messages.
fn head(answer: &str) -> &str {
    answer.split("\r\n\r\n").next().unwrap_or(answer)
}
