//! The demo's web browser: what a unit's clerk does in a browser at the gateway, done over
//! HTTP/1.1 with hyper, a cookie jar, and TLS as `client.tls` configures the suite's calls.
//!
//! Why not the gRPC channel (as `duban bulletin` uses for one download): that is HTTP/2 with
//! the command's bearer token; a browser speaks HTTP/1.1, sends no token, and is known to the
//! gateway only by the cookies it was given (the login form's CSRF cookie, then the session).
//! Each request opens its own connection (a handful per unit, on the gateway's own port), so no
//! idle keep-alive connection can be cut under the demo.

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    rustls::{
        ClientConfig, RootCertStore,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
    },
};

/// Why the demo could not talk to the gateway over HTTP. (A page the gateway answered with
/// a refusal is not this: the caller reads the status and the page.)
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrowserError {
    /// The gateway's address from the settings is not a URL with a host.
    #[error("the gateway's address {0:?} is not a URL such as http://127.0.0.1:50051")]
    Address(String),
    /// `client.tls` names files that cannot be used.
    #[error("TLS to the gateway at {endpoint}: {message}")]
    Tls {
        /// The gateway's address.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// No connection, a failed handshake, or no answer in time.
    #[error(
        "the gateway at {endpoint} did not answer {method} {path}: {message} (`duban demo` runs against `duban up`, \
         which serves the gateway there: is it running?)"
    )]
    Unreachable {
        /// The gateway's address.
        endpoint: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// Why.
        message: String,
    },
}

/// One cookie the gateway set, as the jar keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredCookie {
    name: String,
    value: String,
    path: String,
    secure: bool,
}

/// The cookies of one browser, by name and path (RFC 6265 §5.3, for one host). Expiry is kept
/// only as "removed" (`Max-Age=0` or an empty value): the demo's sessions last minutes.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<StoredCookie>,
}

impl CookieJar {
    /// Takes the `Set-Cookie` headers of an answer to a request for `request_path`.
    fn store(&mut self, headers: &HeaderMap, request_path: &str) {
        for value in headers.get_all(header::SET_COOKIE) {
            let Some(parsed) = value
                .to_str()
                .ok()
                .and_then(|v| cookie::Cookie::parse(v.to_owned()).ok())
            else {
                continue;
            };
            let path = match parsed.path() {
                Some(path) if path.starts_with('/') => path.to_owned(),
                _ => default_path(request_path),
            };
            self.cookies.retain(|c| !(c.name == parsed.name() && c.path == path));
            let removed = parsed.value().is_empty() || parsed.max_age().is_some_and(|age| age.is_zero());
            if !removed {
                self.cookies.push(StoredCookie {
                    name: parsed.name().to_owned(),
                    value: parsed.value().to_owned(),
                    path,
                    secure: parsed.secure().unwrap_or(false),
                });
            }
        }
    }

    /// The `Cookie` header for a request to `path`: the cookies whose path matches it, longest
    /// path first; `Secure` ones only over TLS.
    fn header_for(&self, path: &str, tls: bool) -> Option<HeaderValue> {
        let mut matching: Vec<&StoredCookie> = self
            .cookies
            .iter()
            .filter(|c| (tls || !c.secure) && path_matches(path, &c.path))
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let line = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        (!line.is_empty()).then(|| HeaderValue::from_str(&line).ok()).flatten()
    }

    /// The value of the cookie `name`, if the jar holds one.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.cookies.iter().find(|c| c.name == name).map(|c| c.value.as_str())
    }
}

/// A request path without its query.
fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// RFC 6265 §5.1.4: the default path of a cookie set in answer to `request_path`.
fn default_path(request_path: &str) -> String {
    let path = path_only(request_path);
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(end) => path[..end].to_owned(),
    }
}

/// RFC 6265 §5.1.4: whether a request to `request_path` carries a cookie of `cookie_path`.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    let path = path_only(request_path);
    path == cookie_path
        || (path.starts_with(cookie_path) && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// An answer: its status, headers and whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text (the gateway's pages are UTF-8).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Where a redirect goes.
    pub(crate) fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION)?.to_str().ok()
    }
}

/// A body to send.
pub(crate) enum Body {
    /// Nothing (GET).
    Empty,
    /// A form, `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// A `multipart/form-data` form: text fields and one file.
    Multipart {
        /// The text fields.
        fields: Vec<(String, String)>,
        /// The file field's name.
        file_field: String,
        /// The file's name.
        file_name: String,
        /// Its content type.
        content_type: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

/// One browser at the gateway: its address, TLS, and its cookies.
pub(crate) struct Browser {
    endpoint: String,
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    pub(crate) jar: CookieJar,
}

impl Browser {
    /// A browser for the gateway at `endpoint` (`settings.gateway.endpoint_url()`), over TLS when
    /// `client.tls` says the suite's calls are (a CA file, or an `https://` address), presenting
    /// the configured client certificate to a gateway that asks for one.
    pub(crate) fn new(
        endpoint: &str,
        tls: &duban_kit::settings::ClientTlsSettings,
        timeout: Duration,
    ) -> Result<Self, BrowserError> {
        let uri: Uri = endpoint
            .parse()
            .map_err(|_| BrowserError::Address(endpoint.to_owned()))?;
        let host = uri
            .host()
            .ok_or_else(|| BrowserError::Address(endpoint.to_owned()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = uri.scheme_str() == Some("https");
        let secure = https || !tls.ca_file.is_empty();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri.authority().map_or_else(|| host.clone(), |a| a.as_str().to_owned());
        let tls = if secure {
            let config = tls_config(tls).map_err(|message| BrowserError::Tls {
                endpoint: endpoint.to_owned(),
                message,
            })?;
            let name = ServerName::try_from(host.clone()).map_err(|_| BrowserError::Address(endpoint.to_owned()))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Self {
            endpoint: endpoint.to_owned(),
            host,
            port,
            authority,
            tls,
            timeout,
            jar: CookieJar::default(),
        })
    }

    /// `GET path`.
    pub(crate) async fn get(&mut self, path: &str) -> Result<Answer, BrowserError> {
        self.send(Method::GET, path, Body::Empty).await
    }

    /// `POST path` with `body`.
    pub(crate) async fn post(&mut self, path: &str, body: Body) -> Result<Answer, BrowserError> {
        self.send(Method::POST, path, body).await
    }

    /// Sends one request on a connection of its own, with the jar's cookies, and keeps the
    /// cookies the answer sets. Redirects are not followed: the caller reads where they go.
    async fn send(&mut self, method: Method, path: &str, body: Body) -> Result<Answer, BrowserError> {
        let unreachable = |message: String| BrowserError::Unreachable {
            endpoint: self.endpoint.clone(),
            method: method.clone(),
            path: path.to_owned(),
            message,
        };
        let (content_type, bytes) = match body {
            Body::Empty => (None, Vec::new()),
            Body::Form(fields) => (
                Some("application/x-www-form-urlencoded".to_owned()),
                url_encoded(&fields).into_bytes(),
            ),
            Body::Multipart {
                fields,
                file_field,
                file_name,
                content_type,
                bytes,
            } => {
                let boundary = format!("duban-demo-{}", uuid::Uuid::new_v4().simple());
                let body = multipart(&boundary, &fields, (&file_field, &file_name, &content_type, &bytes));
                (Some(format!("multipart/form-data; boundary={boundary}")), body)
            }
        };
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::USER_AGENT, "duban-demo")
            .header(
                header::ACCEPT,
                "text/html,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            );
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        if let Some(cookies) = self.jar.header_for(path, self.tls.is_some()) {
            request = request.header(header::COOKIE, cookies);
        }
        let request = request
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| unreachable(format!("the request could not be made: {e}")))?;
        let exchange = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            // Small requests, answered at once: no Nagle delay.
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS handshake failed: {e}"))?;
                    exchange(stream, request).await
                }
                None => exchange(tcp, request).await,
            }
        };
        let answer = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {} s", self.timeout.as_secs())))?
            .map_err(unreachable)?;
        self.jar.store(&answer.headers, path);
        Ok(answer)
    }
}

/// One HTTP/1.1 exchange on `stream`.
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Answer, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    // The connection runs until the answer is read; its end (or error) is the exchange's.
    let driver = tokio::spawn(connection);
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    let (parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("the answer could not be read: {e}"))?
        .to_bytes();
    driver.abort();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// The rustls configuration of `client.tls`: its CA (else the system's roots), and its client
/// certificate if one is configured. Errors are the message to show.
fn tls_config(settings: &duban_kit::settings::ClientTlsSettings) -> Result<ClientConfig, String> {
    let read =
        |setting: &str, path: &str| std::fs::read(path).map_err(|e| format!("cannot read {setting} {path:?}: {e}"));
    let mut roots = RootCertStore::empty();
    if settings.ca_file.is_empty() {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    } else {
        let pem = read("client.tls.ca_file", &settings.ca_file)?;
        let (added, _) = roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
        if added == 0 {
            return Err(format!(
                "client.tls.ca_file {:?} holds no PEM certificate",
                settings.ca_file
            ));
        }
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match (settings.cert_file.is_empty(), settings.key_file.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let pem = read("client.tls.cert_file", &settings.cert_file)?;
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
            let key = PrivateKeyDer::from_pem_slice(&read("client.tls.key_file", &settings.key_file)?)
                .map_err(|e| format!("client.tls.key_file {:?}: {e}", settings.key_file))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| e.to_string())?
        }
        _ => return Err("client.tls.cert_file and client.tls.key_file go together".to_owned()),
    };
    // A browser's protocol: the gateway offers http/1.1 beside h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `application/x-www-form-urlencoded`, as a browser encodes a form.
fn url_encoded(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One name or value of a urlencoded form: unreserved bytes as they are, space as `+`, the rest
/// percent-encoded (UTF-8).
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path segment, percent-encoded but for unreserved characters.
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `multipart/form-data` body (RFC 7578): the text fields, then the file.
fn multipart(boundary: &str, fields: &[(String, String)], file: (&str, &str, &str, &[u8])) -> Vec<u8> {
    // Names are the form's own; quotes and line breaks would end the header, so they go.
    let quoted = |text: &str| text.replace(['"', '\r', '\n'], "");
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
                quoted(name)
            )
            .as_bytes(),
        );
    }
    let (name, file_name, content_type, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: \
             {content_type}\r\n\r\n",
            quoted(name),
            quoted(file_name)
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::SET_COOKIE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_jar_sends_cookies_by_path_and_forgets_removed_ones() {
        let mut jar = CookieJar::default();
        jar.store(
            &set_cookies(&[
                "duban_login_csrf=abc; HttpOnly; SameSite=Strict; Path=/login; Max-Age=3600",
                "theme=dark",
            ]),
            "/login?next=/my",
        );
        assert_eq!(
            jar.header_for("/login", false).unwrap(),
            "duban_login_csrf=abc; theme=dark"
        );
        assert_eq!(
            jar.header_for("/my", false).unwrap(),
            "theme=dark",
            "/login's cookie stays on /login"
        );
        assert!(jar.header_for("/loginx", false).unwrap() == "theme=dark");

        jar.store(
            &set_cookies(&[
                "duban_session=s1; HttpOnly; Path=/; Max-Age=28800",
                "duban_login_csrf=; Path=/login; Max-Age=0",
            ]),
            "/login",
        );
        assert_eq!(jar.get("duban_login_csrf"), None, "Max-Age=0 removes it");
        assert_eq!(
            jar.header_for("/my/obligations/4.1/2023-12", false).unwrap(),
            "theme=dark; duban_session=s1",
            "paths of the same length in the order set"
        );
        jar.store(&set_cookies(&["duban_session=s2; Path=/; Secure"]), "/login");
        assert_eq!(
            jar.header_for("/my", false).unwrap(),
            "theme=dark",
            "Secure only over TLS"
        );
        assert_eq!(jar.header_for("/my", true).unwrap(), "theme=dark; duban_session=s2");
    }

    #[tokio::test]
    async fn a_gateway_that_does_not_answer_is_named_with_its_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let tls = duban_kit::settings::ClientTlsSettings::default();
        let mut browser = Browser::new(&endpoint, &tls, Duration::from_secs(5)).unwrap();
        let error = browser.get("/login").await.unwrap_err();
        assert!(matches!(error, BrowserError::Unreachable { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "the gateway at {endpoint} did not answer GET /login: cannot connect"
            )),
            "{error}"
        );
        assert!(matches!(
            Browser::new("not a url", &tls, Duration::from_secs(5)),
            Err(BrowserError::Address(_))
        ));
    }

    #[test]
    fn cookie_paths_match_as_rfc_6265_says() {
        assert_eq!(default_path("/login?next=/my/x"), "/");
        assert_eq!(default_path("/my/obligations/4.1"), "/my/obligations");
        assert!(path_matches("/my/upload", "/my"));
        assert!(path_matches("/my", "/"));
        assert!(!path_matches("/myself", "/my"));
        assert!(path_matches("/login?next=/my", "/login"));
    }

    #[test]
    fn forms_are_encoded_as_browsers_send_them() {
        let fields = vec![
            ("value.new-enterprises".to_owned(), "3 200".to_owned()),
            ("narrative".to_owned(), "正式数据&更正".to_owned()),
        ];
        assert_eq!(
            url_encoded(&fields),
            "value.new-enterprises=3+200&narrative=%E6%AD%A3%E5%BC%8F%E6%95%B0%E6%8D%AE%26%E6%9B%B4%E6%AD%A3"
        );
        assert_eq!(path_segment("4.1"), "4.1");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        let body = multipart(
            "B",
            &[("csrf".to_owned(), "x".to_owned())],
            ("file", "a\".xlsx", "application/x", b"PK"),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n--B\r\nContent-Disposition: form-data; \
             name=\"file\"; filename=\"a.xlsx\"\r\nContent-Type: application/x\r\n\r\nPK\r\n--B--\r\n"
        );
    }
}
