//! The unit's Excel path (issue 16 §3): `GET /my/template.xlsx?period=YYYY-MM` (the signed-in unit's
//! workbook for a month), `GET /my/upload` (the upload form) and `POST /my/upload` (a filled-in
//! workbook, stored as SubmitReports stores it). The workbook itself is `crate::workbook`, shared with
//! `duban report template|upload`.
//!
//! The caller is a DEPARTMENT (its own obligations) or an ADMIN (naming `department`), by bearer token
//! or by a session opened at the login form. Everything is read and written with the caller's own token,
//! so reporting decides what the caller may see and write; the gateway adds nothing of its own.

use std::collections::BTreeMap;

use axum::{
    extract::{FromRequest, Multipart, Query, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use duban_kit::Principal;
use duban_proto::{common::v1::Period, reporting::v1::Obligation};
use serde::Deserialize;

use super::{
    Web,
    access::bearer,
    pages::rendered,
    session::{SESSION_COOKIE, cookie_value, same_secret},
};
use crate::{
    dashboard::Caller,
    error::GatewayError,
    html::{self, Lang},
    workbook::{self, WorkbookError},
};

/// Query parameters of `/my/template.xlsx` and `/my/upload`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WorkbookParams {
    /// The month, `YYYY-MM`.
    #[serde(default)]
    period: String,
    /// The department, for an ADMIN caller; a department's own sign-in ignores nothing: naming
    /// another department is refused by reporting.
    #[serde(default)]
    department: String,
    /// `en` for English, anything else Chinese.
    #[serde(default)]
    lang: String,
}

fn lang_of(code: &str) -> Lang {
    if code == "en" { Lang::En } else { Lang::Zh }
}

/// A unit signed in for its workbook: who, and the session's CSRF token (none for a bearer token).
struct UnitCaller {
    caller: Caller,
    csrf: Option<String>,
}

impl Web {
    /// The DEPARTMENT or ADMIN caller of the workbook routes, by bearer token or session.
    async fn unit_caller(&self, headers: &HeaderMap) -> Result<UnitCaller, GatewayError> {
        let (token, csrf) = if let Some(token) = bearer(headers) {
            (token, None)
        } else if let Some(session) = cookie_value(headers, SESSION_COOKIE).and_then(|id| self.0.sessions.find(&id)) {
            (session.token, Some(session.csrf))
        } else {
            return Err(GatewayError::SignInNeeded);
        };
        let caller = self.0.dashboard.caller_from_token(&token).await?;
        match caller.principal {
            Principal::Department(_) | Principal::Admin => Ok(UnitCaller { caller, csrf }),
            ref other => Err(GatewayError::RoleNotAllowed(format!(
                "the report workbook is for a department (or an administrator naming one); the caller is {}",
                other.label()
            ))),
        }
    }

    /// What the workbook of `caller`'s obligations (or `department`'s, for an ADMIN) in `period` is
    /// made of: the obligations, read with the caller's token, and the measures' titles.
    async fn unit_obligations(
        &self,
        caller: &Caller,
        period: Period,
        department: &str,
    ) -> Result<(Vec<Obligation>, BTreeMap<String, String>), GatewayError> {
        let parent = self.0.plan.clone();
        let client = self.0.dashboard.backends().reporting(caller.token.as_deref());
        let obligations = workbook::period_obligations(&client, &parent, department, period)
            .await
            .map_err(refused_by_reporting)?;
        let plan_id = parent.trim_start_matches("plans/");
        let catalogue = self.0.dashboard.backends().catalogue(plan_id).await?;
        let titles: BTreeMap<String, String> = catalogue
            .measures
            .iter()
            .map(|m| (m.number.clone(), m.title.clone()))
            .collect();
        Ok((obligations, titles))
    }
}

/// `YYYY-MM` as a period, or FIELD_INVALID on `period`.
fn period_param(text: &str) -> Result<Period, GatewayError> {
    let invalid = || GatewayError::invalid("period", "must be a month written YYYY-MM, for example 2023-12");
    let (year, month) = text.trim().split_once('-').ok_or_else(invalid)?;
    let period = Period {
        year: year.parse().map_err(|_| invalid())?,
        month: month.parse().map_err(|_| invalid())?,
    };
    if (1..=12).contains(&period.month) {
        Ok(period)
    } else {
        Err(invalid())
    }
}

/// An error as a page, or the login form for a caller who is not signed in (or whose token is no
/// longer valid).
fn error_answer(lang: Lang, error: GatewayError) -> Response {
    if error.http_status() == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    rendered(error.http_status(), html::error_page(lang, &error.to_string()))
}

/// `GET /my/template.xlsx?period=YYYY-MM[&department=CODE]`: the unit's workbook for the month.
pub(crate) async fn my_template(
    State(web): State<Web>,
    Query(params): Query<WorkbookParams>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&params.lang);
    let result = async {
        let unit = web.unit_caller(&headers).await?;
        let period = period_param(&params.period)?;
        let (obligations, titles) = web.unit_obligations(&unit.caller, period, &params.department).await?;
        let who = match &unit.caller.principal {
            Principal::Department(code) => code.clone(),
            _ => params.department.clone(),
        };
        Ok::<_, GatewayError>((
            obligations,
            titles,
            format!("duban-{who}-{}.xlsx", params.period.trim()),
        ))
    }
    .await;
    let (obligations, titles, name) = match result {
        Ok(made) => made,
        Err(error) => return error_answer(lang, error),
    };
    match workbook::template(&web.0.plan, &obligations, &titles) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, workbook::CONTENT_TYPE.to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a report workbook template could not be written");
            (StatusCode::INTERNAL_SERVER_ERROR, "the workbook could not be written").into_response()
        }
    }
}

/// `GET /my/upload`: the upload form.
pub(crate) async fn my_upload_form(
    State(web): State<Web>,
    Query(params): Query<WorkbookParams>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&params.lang);
    match web.unit_caller(&headers).await {
        Ok(unit) => rendered(
            StatusCode::OK,
            html::upload_page(lang, unit.csrf.as_deref().unwrap_or(""), &params.period, None, None),
        ),
        Err(error) => error_answer(lang, error),
    }
}

/// The fields of the upload form.
#[derive(Debug, Default)]
struct UploadForm {
    csrf: String,
    lang: String,
    file: Vec<u8>,
}

async fn upload_form(mut multipart: Multipart) -> Result<UploadForm, GatewayError> {
    let mut form = UploadForm::default();
    let unreadable = |error: axum::extract::multipart::MultipartError| GatewayError::invalid("file", error.body_text());
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => form.csrf = field.text().await.map_err(unreadable)?,
            "lang" => form.lang = field.text().await.map_err(unreadable)?,
            "file" => form.file = field.bytes().await.map_err(unreadable)?.to_vec(),
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /my/upload` (multipart: `file`, `csrf`, `lang`): reads the workbook, sends its filled-in rows
/// with SubmitReports as the caller and shows what became of each. The caller is checked before the
/// body is read. A session's form must carry the session's CSRF token; a bearer token needs none (a
/// browser never sends one by itself).
pub(crate) async fn my_upload(
    State(web): State<Web>,
    Query(params): Query<WorkbookParams>,
    request: Request,
) -> Response {
    let unit = match web.unit_caller(request.headers()).await {
        Ok(unit) => unit,
        Err(error) => return error_answer(lang_of(&params.lang), error),
    };
    let form = match Multipart::from_request(request, &web).await {
        Ok(multipart) => upload_form(multipart).await,
        Err(rejection) => Err(GatewayError::invalid("file", rejection.body_text())),
    };
    let form = match form {
        Ok(form) => form,
        Err(error) => return error_answer(lang_of(&params.lang), error),
    };
    let lang = lang_of(if form.lang.is_empty() { &params.lang } else { &form.lang });
    let csrf = unit.csrf.as_deref().unwrap_or("");
    let page = |status: StatusCode, problem: Option<&str>, upload: Option<&workbook::Upload>| {
        rendered(status, html::upload_page(lang, csrf, "", problem, upload))
    };
    if let Some(expected) = &unit.csrf
        && !same_secret(&form.csrf, expected)
    {
        let problem = lang.pick(
            "上传请求并非来自本系统的表单，请重新打开本页后上传",
            "The upload did not come from this page's form: open the page again and upload",
        );
        return page(StatusCode::FORBIDDEN, Some(problem), None);
    }
    let rows = match workbook::read(&form.file) {
        Ok(rows) => rows,
        Err(error) => {
            let problem = match error {
                WorkbookError::Unreadable(_) => lang.pick(
                    "文件不是可读取的 .xlsx 工作簿",
                    "The file is not a readable .xlsx workbook",
                ),
                WorkbookError::NotATemplate(_) => lang.pick(
                    "文件不是本系统生成的报送模板，请先下载模板再填写",
                    "The file is not a Duban report template: download the template and fill it in",
                ),
                WorkbookError::TooManyRows(_) => lang.pick(
                    "行数超过 1000，请分多个文件上传",
                    "More than 1000 rows: split the workbook",
                ),
            };
            let problem = format!("{problem} ({error})");
            return page(StatusCode::BAD_REQUEST, Some(&problem), None);
        }
    };
    let mut client = web.0.dashboard.backends().reporting(unit.caller.token.as_deref());
    match workbook::upload(&mut client, rows).await {
        Ok(upload) => page(StatusCode::OK, None, Some(&upload)),
        Err(status) => error_answer(lang, refused_by_reporting(status)),
    }
}

/// A status of the reporting server, answered over HTTP as what it means: a refusal as 401, 403, 400
/// or 404, a server that did not answer as 503 (anything else is a bad gateway).
fn refused_by_reporting(status: tonic::Status) -> GatewayError {
    use tonic::Code;
    let http = match status.code() {
        code if crate::error::unreachable(code) => {
            return GatewayError::Dependency {
                service: duban_proto::reporting::v1::reporting_service_server::SERVICE_NAME,
                message: status.message().to_owned(),
            };
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    };
    GatewayError::Answered { status, http }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_months() {
        assert_eq!(period_param("2023-12").unwrap(), Period { year: 2023, month: 12 });
        assert!(period_param("2023-13").is_err());
        assert!(period_param("December").is_err());
        assert!(period_param("").is_err());
    }
}
