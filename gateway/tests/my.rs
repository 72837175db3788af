//! The unit's own page and its report form, over HTTP: a town signs in at the login form with
//! its own token, sees what it owes at `/my`, opens an obligation's form, has a value with too
//! many decimals refused beside its field by reporting's own validation, submits the same form
//! twice and gets one revision, and finds a returned report filled in with the reason shown.
//! Leadership is told the page is not for it; another unit cannot open or post the town's
//! obligation; a visitor who is not signed in is sent to sign in and back.

mod common;

use common::{Caller, HttpAnswer, PLAN, ReportKey, Server, Suite, http_request, start_suite};
use duban_kit::testing::Backend;
use duban_proto::{
    departments::v1::{self as dpb, DepartmentKind},
    reporting::v1::{self as rpb, supervision_orders_service_client::SupervisionOrdersServiceClient},
};

/// `s` percent-encoded for a form body.
pub fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `name=value` of the cookie `name` an answer sets.
fn set_cookie(answer: &HttpAnswer, name: &str) -> String {
    answer
        .all("set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", answer.headers))
        .to_owned()
}

/// The `value` of the hidden input `name` of a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} in the page")) + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// What the page shows beside the form field `key`.
fn violations_of(page: &str, key: &str) -> String {
    let marker = format!("data-for=\"{key}\" role=\"alert\">");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no field {key}")) + marker.len();
    let rest = &page[start..];
    if rest.starts_with("</span>") {
        return String::new();
    }
    rest.split("</span></span>").next().unwrap_or_default().to_owned()
}

/// A town responsible for a measure on which it owes target values, and its key for June 2023.
async fn town_key(suite: &Suite) -> ReportKey {
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

/// Signs in at the login form with `token`, asking to come back to `next`: the session cookie.
pub async fn sign_in(suite: &Suite, token: &str, next: &str) -> String {
    let addr = suite.addr(Server::Gateway);
    let form = http_request(addr, "GET", &format!("/login?next={next}"), &[], b"").await;
    assert_eq!(form.status, 200);
    let csrf_cookie = set_cookie(&form, "duban_login_csrf");
    let page = form.text();
    assert_eq!(hidden(&page, "next"), next);
    let body = format!(
        "token={}&csrf={}&lang=zh&next={}",
        form_encode(token),
        form_encode(&hidden(&page, "csrf")),
        form_encode(next)
    );
    let signed = http_request(
        addr,
        "POST",
        "/login",
        &[
            ("cookie", &csrf_cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.text());
    assert_eq!(
        signed.header("location"),
        Some(next),
        "back where the visitor was going"
    );
    set_cookie(&signed, "duban_session")
}

async fn post_form(suite: &Suite, path: &str, cookie: &str, fields: &[(String, String)]) -> HttpAnswer {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    http_request(
        suite.addr(Server::Gateway),
        "POST",
        path,
        &[
            ("cookie", cookie),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
    .await
}

async fn revisions(suite: &Suite, key: &ReportKey) -> Vec<rpb::Report> {
    suite
        .reporting(Caller::Admin)
        .list_report_revisions(rpb::ListReportRevisionsRequest {
            name: key.name(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().reports)
        .unwrap_or_default()
}

async fn a_unit_reports_in_its_browser_page(backend: Backend) {
    let Some(suite) = start_suite(backend).await else {
        return;
    };
    let addr = suite.addr(Server::Gateway);
    let key = town_key(&suite).await;
    let form_path = format!("/my/obligations/{}/2023-06", key.measure);

    // Not signed in: to the login form, and back to the page afterwards.
    let away = http_request(addr, "GET", "/my", &[], b"").await;
    assert_eq!((away.status, away.header("location")), (303, Some("/login?next=/my")));
    let away = http_request(addr, "GET", &form_path, &[], b"").await;
    assert_eq!(
        away.header("location"),
        Some(format!("/login?next={form_path}").as_str())
    );

    let responsibilities = suite.responsibilities().await.unwrap();
    let other = responsibilities
        .iter()
        .map(|r| r.department.clone())
        .find(|d| {
            !responsibilities
                .iter()
                .any(|r| r.measure == key.measure && &r.department == d)
        })
        .expect("a unit not responsible for the measure");
    // A supervision order addressed to the town, which its page lists.
    SupervisionOrdersServiceClient::new(suite.channel(Server::Reporting, Caller::Admin))
        .open_order(rpb::OpenOrderRequest {
            parent: PLAN.into(),
            order: Some(rpb::Order {
                title: "关于招商签约进度的督办".into(),
                level: rpb::OrderLevel::Yellow as i32,
                text: "请说明签约项目进度".into(),
                departments: vec![key.department.clone()],
                response_due: Some(duban_proto::common::v1::Date {
                    year: 2099,
                    month: 12,
                    day: 31,
                }),
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap();
    let token = suite.issue_token(dpb::Role::Department, &key.department).await;
    let session = sign_in(&suite, &token, "/my").await;
    let cookie = [("cookie", session.as_str())];
    let page = http_request(addr, "GET", "/my", &cookie, b"").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    assert!(
        page.contains(&format!("data-obligation=\"{}~2023-06\"", key.measure)),
        "{page}"
    );
    assert!(page.contains(&format!("href=\"{form_path}\"")));
    assert!(page.contains("action=\"/my/template.xlsx\"") && page.contains("href=\"/my/upload\""));
    assert!(page.contains("id=\"logout\""), "a unit signed in can sign out");
    let orders = page.split("<table id=\"orders\">").nth(1).unwrap_or_default();
    assert!(
        orders.contains("关于招商签约进度的督办") && orders.contains("2099-12-31"),
        "{page}"
    );
    // The dashboard is leadership's: a unit's session opening it is taken to its own page,
    // not to a login form it has just passed.
    for (dashboard, own) in [("/", "/my"), ("/?lang=en", "/my?lang=en"), ("/units", "/my")] {
        let away = http_request(addr, "GET", dashboard, &cookie, b"").await;
        assert_eq!((away.status, away.header("location")), (303, Some(own)), "{dashboard}");
    }
    let english = http_request(addr, "GET", "/my?lang=en", &cookie, b"").await.text();
    assert!(english.contains("lang=\"en\"") && english.contains("Reports owed"));

    // The form: a field per slot, with its unit and decimal places; a request id fixed now.
    let opened = http_request(addr, "GET", &form_path, &cookie, b"").await;
    assert_eq!(opened.status, 200, "{}", opened.text());
    let opened = opened.text();
    for target in &key.owed {
        assert!(opened.contains(&format!("name=\"value.{}\"", target.code)), "{opened}");
    }
    let english = http_request(addr, "GET", &format!("{form_path}?lang=en"), &cookie, b"")
        .await
        .text();
    assert!(english.contains("Target values") && english.contains("decimal places"));
    let request_id = hidden(&opened, "request_id");
    let csrf = hidden(&opened, "csrf");
    assert_eq!(request_id.len(), 36, "a UUID");
    let bad = &key.owed[0].code;
    let fields = |bad_value: &str, action: &str| {
        let mut fields = vec![
            ("csrf".to_owned(), csrf.clone()),
            ("request_id".to_owned(), request_id.clone()),
            ("etag".to_owned(), String::new()),
            (
                "overall_status".to_owned(),
                (rpb::OverallStatus::OnTrack as i32).to_string(),
            ),
            ("narrative".to_owned(), "推进顺利".to_owned()),
            ("action".to_owned(), action.to_owned()),
            // A blocker raised, asking another unit for support.
            ("new_blocker.description".to_owned(), "用地指标待协调".to_owned()),
            (
                "new_blocker.severity".to_owned(),
                (rpb::BlockerSeverity::High as i32).to_string(),
            ),
            ("new_blocker.support_unit".to_owned(), other.clone()),
        ];
        for target in &key.owed {
            let value = if &target.code == bad { bad_value } else { "1" };
            fields.push((format!("value.{}", target.code), value.to_owned()));
        }
        fields
    };

    // Checked: reporting's violation, beside the field, and nothing stored.
    let checked = post_form(&suite, &form_path, &session, &fields("1.123456789", "check")).await;
    assert_eq!(checked.status, 422, "{}", checked.text());
    let checked = checked.text();
    let beside = violations_of(&checked, &format!("value.{bad}"));
    assert!(
        beside.contains("class=\"violation\""),
        "a violation beside {bad}: {beside}"
    );
    // In the page's language: reporting's own Chinese text, not its English description.
    assert!(
        beside.contains("小数位数超过指标规定的") || beside.contains("计数单位必须填写整数"),
        "the violation in Chinese: {beside}"
    );
    for other in key.owed.iter().filter(|t| &t.code != bad) {
        assert_eq!(violations_of(&checked, &format!("value.{}", other.code)), "");
    }
    assert!(checked.contains("value=\"1.123456789\""), "the value typed is kept");
    // Submitted as it is: refused the same way, the values kept.
    let refused = post_form(&suite, &form_path, &session, &fields("1.123456789", "submit")).await;
    assert_eq!(refused.status, 422);
    assert!(violations_of(&refused.text(), &format!("value.{bad}")).contains("class=\"violation\""));
    assert!(revisions(&suite, &key).await.is_empty(), "nothing stored");

    // Corrected, checked, then submitted twice with the form's one request id: one revision.
    let fine = post_form(&suite, &form_path, &session, &fields("2", "check")).await;
    assert_eq!(fine.status, 200, "{}", fine.text());
    assert!(fine.text().contains("id=\"check-ok\""));
    for _ in 0..2 {
        let stored = post_form(&suite, &form_path, &session, &fields("2", "submit")).await;
        assert_eq!(stored.status, 303, "{}", stored.text());
        assert_eq!(stored.header("location"), Some(format!("{form_path}?saved=1").as_str()));
    }
    let stored = revisions(&suite, &key).await;
    assert_eq!(stored.len(), 1, "one revision for one form: {stored:?}");
    assert_eq!(stored[0].submitted_by.as_ref().unwrap().department, key.department);
    assert_eq!(
        stored[0].source(),
        rpb::ReportSource::WebForm,
        "stored as sent from the web form"
    );

    // Without the session's CSRF token a post is refused.
    let mut forged = fields("2", "submit");
    forged.retain(|(k, _)| k != "csrf");
    assert_eq!(post_form(&suite, &form_path, &session, &forged).await.status, 403);

    // Returned by leadership: the form opens with the revision filled in and the reason shown.
    suite
        .reporting(Caller::Admin)
        .return_report(rpb::ReturnReportRequest {
            name: key.name(),
            etag: stored[0].etag.clone(),
            reason: "请核实数据口径".into(),
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap();
    let reopened = http_request(addr, "GET", &form_path, &cookie, b"").await.text();
    assert!(reopened.contains("id=\"return-reason\"") && reopened.contains("请核实数据口径"));
    assert!(reopened.contains(&format!("name=\"value.{bad}\" id=\"value.{bad}\" value=\"2\"")));
    assert_ne!(
        hidden(&reopened, "request_id"),
        request_id,
        "a new form, a new request id"
    );
    let page = http_request(addr, "GET", "/my", &cookie, b"").await.text();
    assert!(page.contains("请核实数据口径"), "the reason on the unit's page");
    assert!(page.contains("class=\"revision\""), "the revisions are listed");
    assert!(
        page.contains("<td class=\"source\">网页填报</td>"),
        "each revision's source"
    );
    assert!(
        page.contains("<table id=\"own-blockers\">") && page.contains("用地指标待协调"),
        "its open blocker"
    );

    // The unit asked for support sees the blocker addressed to it.
    let other_token = suite.issue_token(dpb::Role::Department, &other).await;
    let other_session = sign_in(&suite, &other_token, "/my").await;
    let asked = http_request(addr, "GET", "/my", &[("cookie", &other_session)], b"")
        .await
        .text();
    let addressed = asked.split("id=\"addressed-blockers\"").nth(1).unwrap_or_default();
    assert!(addressed.contains("用地指标待协调"), "{asked}");

    // Corrected on the reopened form, and the blocker resolved there: revision 2.
    let mut again = fields("2", "submit");
    again.retain(|(k, _)| !k.starts_with("new_blocker.") && k != "request_id");
    again.push(("request_id".into(), hidden(&reopened, "request_id")));
    again.push(("etag".into(), hidden(&reopened, "etag")));
    again.retain(|(k, v)| k != "etag" || !v.is_empty());
    again.push(("blocker.0.action".into(), "resolve".into()));
    let resubmitted = post_form(&suite, &form_path, &session, &again).await;
    assert_eq!(resubmitted.status, 303, "{}", resubmitted.text());
    assert_eq!(
        resubmitted.header("location"),
        Some(format!("{form_path}?saved=2").as_str())
    );
    let page = http_request(addr, "GET", "/my", &cookie, b"").await.text();
    assert!(page.contains("<p id=\"own-blockers\">"), "no open blocker left");

    // Leadership is told the page is for units; another unit finds no such obligation.
    let leadership = suite.issue_token(dpb::Role::Leadership, "").await;
    let bearer = format!("Bearer {leadership}");
    let refused = http_request(addr, "GET", "/my", &[("authorization", &bearer)], b"").await;
    assert_eq!(refused.status, 403);
    assert!(refused.text().contains("本页面供各责任单位"));
    let foreign = http_request(addr, "GET", &form_path, &[("cookie", &other_session)], b"").await;
    assert_eq!(foreign.status, 404, "{}", foreign.text());
    // Posted with its own token as a bearer (no session, so no CSRF token to carry).
    let other_bearer = format!("Bearer {other_token}");
    let body = "action=submit&overall_status=2&narrative=x";
    let foreign = http_request(
        addr,
        "POST",
        &form_path,
        &[
            ("authorization", &other_bearer),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(foreign.status, 404, "{}", foreign.text());
    assert_eq!(revisions(&suite, &key).await.len(), 2);
    suite.stop().await;
}

duban_kit::backend_tests!(a_unit_reports_in_its_browser_page);
