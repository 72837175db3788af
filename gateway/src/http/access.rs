//! Who may look: the bearer token or the login cookie when `gateway.require_token` is set, and the login form.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use duban_kit::Principal;
use serde::Deserialize;

use super::{Params, Web, pages::rendered};
use crate::{
    dashboard::Caller,
    error::GatewayError,
    html::{self, Lang},
};

impl Web {
    /// The caller: anyone when the dashboard is open, otherwise the LEADERSHIP or ADMIN
    /// owner of the bearer token or the login cookie.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
        if !self.0.require_token {
            return Ok(Caller::anonymous());
        }
        let token = bearer(headers)
            .or_else(|| cookie(headers, COOKIE))
            .ok_or(duban_kit::auth::AuthError::Missing)?;
        let caller = self.0.dashboard.caller_from_token(&token).await?;
        match caller.principal {
            Principal::Leadership | Principal::Admin | Principal::Service => Ok(caller),
            ref other => Err(GatewayError::RoleNotAllowed(format!(
                "the dashboard needs a leadership token; the caller is {}",
                other.label()
            ))),
        }
    }
}

const COOKIE: &str = "duban_token";

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then(|| token.to_owned())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

pub(crate) async fn login_form(Query(params): Query<Params>) -> Response {
    rendered(StatusCode::OK, html::login_page(params.lang(), None))
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The bearer token.
    pub token: String,
}

pub(crate) async fn login(State(web): State<Web>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim().to_owned();
    let ok = match web.0.dashboard.caller_from_token(&token).await {
        Ok(caller) => matches!(caller.principal, Principal::Leadership | Principal::Admin),
        Err(_) => false,
    };
    if !ok {
        return rendered(
            StatusCode::UNAUTHORIZED,
            html::login_page(
                Lang::Zh,
                Some("令牌无效，或不是领导（LEADERSHIP）令牌 / not a valid leadership token"),
            ),
        );
    }
    let mut response = Redirect::to("/").into_response();
    let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; duban_token=dbn_x"));
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("dbn_x"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer dbn_y"));
        assert_eq!(bearer(&headers).as_deref(), Some("dbn_y"));
    }
}
