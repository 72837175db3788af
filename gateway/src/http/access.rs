//! Who may look (`gateway.dashboard_access`): a bearer token, a session opened at the login form, the
//! local user of `duban up`, or an anonymous reader of the aggregate figures; and the login and sign-out
//! forms, each protected against cross-site requests.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Redirect, Response},
};
use duban_kit::{Principal, auth::AuthError, settings::DashboardAccess};
use serde::Deserialize;

use super::{
    Params, Web,
    pages::rendered,
    session::{
        LOGIN_CSRF_COOKIE, LOGIN_FORM_LIFETIME, SESSION_COOKIE, arrived_over_https, cookie_value, random_secret,
        same_secret, set_cookie,
    },
};
use crate::{
    dashboard::Caller,
    error::GatewayError,
    html::{self, Audience, Lang},
};

/// Who is looking at the dashboard.
#[derive(Debug)]
pub(crate) enum Viewer {
    /// Signed in, or the local user: reads everything as `caller`. `session_csrf` is the sign-out
    /// form's token when the caller signed in through the login form.
    Full {
        caller: Caller,
        session_csrf: Option<String>,
    },
    /// Anonymous, under public access: the aggregate figures only, read as the gateway.
    Public,
}

impl Viewer {
    /// Whether only the aggregate figures may be shown.
    pub(crate) fn is_public(&self) -> bool {
        matches!(self, Viewer::Public)
    }

    /// Who the dashboard reads as: the caller, or the gateway itself for the aggregate figures.
    pub(crate) fn caller(&self) -> Caller {
        match self {
            Viewer::Full { caller, .. } => caller.clone(),
            Viewer::Public => Caller::anonymous(),
        }
    }

    /// What the page's header offers this viewer.
    pub(crate) fn audience(&self) -> Audience<'_> {
        match self {
            Viewer::Full {
                session_csrf: Some(csrf),
                ..
            } => Audience::Session { csrf },
            Viewer::Full { session_csrf: None, .. } => Audience::Reader,
            Viewer::Public => Audience::Public,
        }
    }
}

impl Web {
    /// Who is looking: the owner of the bearer token, else of the session cookie, else whoever
    /// `gateway.dashboard_access` lets in without signing in. A session whose credential was revoked
    /// (or no longer names leadership or an administrator) ends here, within the token cache's
    /// revocation window; one that cannot be checked because the directory is down is kept.
    pub(crate) async fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, GatewayError> {
        if let Some(token) = bearer(headers) {
            let caller = self.dashboard_reader(&token).await?;
            return Ok(Viewer::Full {
                caller,
                session_csrf: None,
            });
        }
        if let Some(id) = cookie_value(headers, SESSION_COOKIE)
            && let Some(session) = self.0.sessions.find(&id)
        {
            match self.dashboard_reader(&session.token).await {
                Ok(caller) => {
                    return Ok(Viewer::Full {
                        caller,
                        session_csrf: Some(session.csrf),
                    });
                }
                Err(GatewayError::Auth(AuthError::Unavailable(message))) => {
                    return Err(AuthError::Unavailable(message).into());
                }
                Err(_) => {
                    self.0.sessions.close(&id);
                }
            }
        }
        match self.0.access {
            DashboardAccess::Local => Ok(Viewer::Full {
                caller: Caller::anonymous(),
                session_csrf: None,
            }),
            DashboardAccess::Public => Ok(Viewer::Public),
            DashboardAccess::SignIn | DashboardAccess::Auto => Err(GatewayError::SignInNeeded),
        }
    }

    /// The viewer of a view that shows more than the aggregate figures: report text, blockers, a
    /// unit's detail, the reports CSV. Anyone not signed in is refused unless access is `local`.
    pub(crate) async fn signed_in_viewer(&self, headers: &HeaderMap) -> Result<Viewer, GatewayError> {
        match self.viewer(headers).await? {
            Viewer::Public => Err(GatewayError::SignInNeeded),
            full => Ok(full),
        }
    }

    /// The caller of such a view, as [`Web::signed_in_viewer`] admits it.
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
        Ok(self.signed_in_viewer(headers).await?.caller())
    }

    /// The owner of `token`, if leadership or an administrator.
    async fn dashboard_reader(&self, token: &str) -> Result<Caller, GatewayError> {
        let caller = self.0.dashboard.caller_from_token(token).await?;
        match caller.principal {
            Principal::Leadership | Principal::Admin => Ok(caller),
            ref other => Err(GatewayError::RoleNotAllowed(format!(
                "the dashboard needs a leadership or admin sign-in; the caller is {}",
                other.label()
            ))),
        }
    }

    /// Whether cookies set in answer to this request are marked `Secure`.
    fn secure_cookies(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        self.0.cookie_secure || arrived_over_https(headers, uri.scheme_str())
    }

    /// The login form with a fresh CSRF token, in the page and in its double-submit cookie.
    fn login_page(&self, status: StatusCode, lang: Lang, problem: Option<&str>, secure: bool) -> Response {
        let csrf = random_secret();
        let mut response = rendered(status, html::login_page(lang, problem, &csrf));
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(LOGIN_CSRF_COOKIE, &csrf, "/login", LOGIN_FORM_LIFETIME, secure),
        );
        response
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (!token.is_empty()).then(|| token.to_owned())
}

pub(crate) async fn login_form(
    State(web): State<Web>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let secure = web.secure_cookies(&headers, &uri);
    web.login_page(StatusCode::OK, params.lang(), None, secure)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The bearer token.
    #[serde(default)]
    pub token: String,
    /// The form's CSRF token, which must equal the login form's cookie.
    #[serde(default)]
    pub csrf: String,
    /// `en` for English, anything else Chinese.
    #[serde(default)]
    pub lang: String,
}

/// Signs in: a form that came from this dashboard (its CSRF token matches the cookie set with it)
/// carrying a LEADERSHIP or ADMIN token opens a session, whose id alone goes into the cookie.
pub(crate) async fn login(
    State(web): State<Web>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LoginForm>,
) -> Response {
    let secure = web.secure_cookies(&headers, &uri);
    let lang = if form.lang == "en" { Lang::En } else { Lang::Zh };
    let expected = cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !same_secret(&form.csrf, &expected) {
        let problem = lang.pick(
            "登录表单已过期或并非来自本系统，请重新输入令牌",
            "The form expired or did not come from this dashboard: enter the token again",
        );
        return web.login_page(StatusCode::FORBIDDEN, lang, Some(problem), secure);
    }
    let token = form.token.trim();
    let checked = if token.is_empty() {
        Err(AuthError::Missing.into())
    } else {
        web.dashboard_reader(token).await
    };
    match checked {
        Ok(_) => {}
        Err(GatewayError::Auth(AuthError::Unavailable(_))) => {
            let problem = lang.pick(
                "暂时无法核验令牌，请稍后再试",
                "The token cannot be checked now: try again shortly",
            );
            return web.login_page(StatusCode::SERVICE_UNAVAILABLE, lang, Some(problem), secure);
        }
        Err(_) => {
            let problem = lang.pick(
                "令牌无效，或不是领导（LEADERSHIP）或管理员令牌",
                "Not a valid leadership or admin token",
            );
            return web.login_page(StatusCode::UNAUTHORIZED, lang, Some(problem), secure);
        }
    }
    if let Some(previous) = cookie_value(&headers, SESSION_COOKIE) {
        web.0.sessions.close(&previous);
    }
    let id = web.0.sessions.open(token.to_owned());
    let home = if lang == Lang::En { "/?lang=en" } else { "/" };
    let mut response = Redirect::to(home).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, "/", web.0.sessions.lifetime(), secure),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", "/login", std::time::Duration::ZERO, secure),
    );
    response
}

/// The sign-out form's fields.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// The session's CSRF token, as the page's sign-out form carries it.
    #[serde(default)]
    pub csrf: String,
}

/// Signs out: ends the session when the form carries its CSRF token, and clears the cookie.
pub(crate) async fn logout(
    State(web): State<Web>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LogoutForm>,
) -> Response {
    let secure = web.secure_cookies(&headers, &uri);
    if let Some(id) = cookie_value(&headers, SESSION_COOKIE)
        && let Some(session) = web.0.sessions.find(&id)
    {
        if !same_secret(&form.csrf, &session.csrf) {
            return rendered(
                StatusCode::FORBIDDEN,
                html::error_page(
                    Lang::Zh,
                    "退出请求并非来自本系统 / the sign-out request did not come from this dashboard",
                ),
            );
        }
        web.0.sessions.close(&id);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", "/", std::time::Duration::ZERO, secure),
    );
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_tokens_come_from_the_authorization_header_only() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; duban_session=x"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer dbn_y"));
        assert_eq!(bearer(&headers).as_deref(), Some("dbn_y"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers), None);
    }
}
