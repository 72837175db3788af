//! Dashboard sign-ins: a bounded store of sessions held by the gateway, and the cookies that name them.
//!
//! The browser holds only a random 256-bit session id; the gateway keeps the bearer token it was opened
//! with (to check it again and to read as its owner), the session's own CSRF token for the sign-out form,
//! and the time it ends. The store is keyed by the SHA-256 of the id, so a dump of the map gives no id
//! a browser could present. Sessions are in this process's memory: a restart, or another replica behind
//! a balancer that does not keep a browser on one replica, asks the user to sign in again.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie that names a session.
pub(crate) const SESSION_COOKIE: &str = "duban_session";
/// The login form's double-submit CSRF cookie.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "duban_login_csrf";
/// How long a login form may stay open before its CSRF token is no longer accepted.
pub(crate) const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(3600);

/// At most this many sessions are kept; past it the expired go first, then the one that ends soonest.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// 256 random bits, URL-safe: session ids and CSRF tokens.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether two secrets are equal, in time that does not depend on where they first differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What a live session holds. Its `Debug` shows neither token: a session printed by
/// mistake must not put a credential in a log.
#[derive(Clone)]
pub(crate) struct Session {
    /// The bearer token the user signed in with, checked again on every use.
    pub token: String,
    /// The token the sign-out form must carry.
    pub csrf: String,
    expires: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The sessions of this gateway process.
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id_hash: Mutex<HashMap<[u8; 32], Session>>,
    lifetime: Duration,
    capacity: usize,
}

fn id_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A store whose sessions last `lifetime`, holding at most `capacity` of them.
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            by_id_hash: Mutex::default(),
            lifetime,
            capacity: capacity.max(1),
        }
    }

    /// How long a new session lasts.
    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_id_hash.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a session for `token` (already checked) and returns its id, for the cookie.
    pub(crate) fn open(&self, token: String) -> String {
        let id = random_secret();
        let session = Session {
            token,
            csrf: random_secret(),
            expires: Instant::now() + self.lifetime,
        };
        let mut map = self.map();
        if map.len() >= self.capacity {
            let now = Instant::now();
            map.retain(|_, s| s.expires > now);
        }
        if map.len() >= self.capacity
            && let Some(soonest) = map.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            map.remove(&soonest);
        }
        map.insert(id_hash(&id), session);
        id
    }

    /// The live session named `id`; an expired one is dropped and is `None`.
    pub(crate) fn find(&self, id: &str) -> Option<Session> {
        let key = id_hash(id);
        let mut map = self.map();
        match map.get(&key) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session named `id`; whether there was one.
    pub(crate) fn close(&self, id: &str) -> bool {
        self.map().remove(&id_hash(id)).is_some()
    }

    /// How many sessions are held, expired ones not yet dropped included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers, if set and not empty.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Whether the request reached the gateway over HTTPS: its URI says so, or the TLS-terminating proxy in
/// front of it does (`X-Forwarded-Proto` or `Forwarded: proto=https`). A client that fakes these only
/// makes its own cookies stricter.
pub(crate) fn arrived_over_https(headers: &HeaderMap, scheme: Option<&str>) -> bool {
    if scheme == Some("https") {
        return true;
    }
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    let forwarded = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([';', ',']))
        .any(|pair| pair.trim().eq_ignore_ascii_case("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, on `path`, for `max_age` (zero removes it), and
/// Secure when `secure`.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ))
        .build();
    // Names and values are ours (base64url and fixed names), so the header is always valid.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_found_by_id_and_closed() {
        let sessions = Sessions::new(Duration::from_secs(60), 10);
        let a = sessions.open("dbn_a".into());
        let b = sessions.open("dbn_b".into());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32, "256 random bits");
        let found = sessions.find(&a).unwrap();
        assert_eq!(found.token, "dbn_a");
        assert_eq!(URL_SAFE_NO_PAD.decode(&found.csrf).unwrap().len(), 32);
        assert!(sessions.find("not-an-id").is_none());
        assert!(sessions.close(&a));
        assert!(sessions.find(&a).is_none());
        assert!(!sessions.close(&a));
        assert_eq!(sessions.find(&b).unwrap().token, "dbn_b");
    }

    #[test]
    fn the_store_keeps_only_hashes_of_ids() {
        let sessions = Sessions::new(Duration::from_secs(60), 10);
        let id = sessions.open("dbn_a".into());
        let map = sessions.map();
        assert!(map.contains_key(&id_hash(&id)));
        assert!(map.keys().all(|k| k.as_slice() != id.as_bytes()));
    }

    #[test]
    fn sessions_expire() {
        let sessions = Sessions::new(Duration::from_millis(30), 10);
        let id = sessions.open("dbn_a".into());
        assert!(sessions.find(&id).is_some());
        std::thread::sleep(Duration::from_millis(50));
        assert!(sessions.find(&id).is_none());
        assert_eq!(sessions.len(), 0, "the expired session is dropped");
    }

    #[test]
    fn the_store_is_bounded_and_drops_the_session_that_ends_soonest() {
        let sessions = Sessions::new(Duration::from_secs(60), 3);
        let first = sessions.open("dbn_1".into());
        std::thread::sleep(Duration::from_millis(2));
        let later: Vec<String> = (2..=4).map(|n| sessions.open(format!("dbn_{n}"))).collect();
        assert_eq!(sessions.len(), 3);
        assert!(sessions.find(&first).is_none(), "the oldest made room");
        assert!(later.iter().all(|id| sessions.find(id).is_some()));
    }

    #[test]
    fn secrets_compare_whole_and_never_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn cookies_are_read_and_written_with_their_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; duban_session=xyz; b="));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&headers, "b"), None);
        let plain = set_cookie(SESSION_COOKIE, "xyz", "/", Duration::from_secs(60), false);
        let plain = plain.to_str().unwrap();
        assert!(plain.starts_with("duban_session=xyz"), "{plain}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"] {
            assert!(plain.contains(attribute), "{plain}");
        }
        assert!(!plain.contains("Secure"), "{plain}");
        let secure = set_cookie(SESSION_COOKIE, "", "/", Duration::ZERO, true);
        assert!(secure.to_str().unwrap().contains("Secure") && secure.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn https_is_recognised_from_the_scheme_or_the_proxy() {
        let mut headers = HeaderMap::new();
        assert!(!arrived_over_https(&headers, None));
        assert!(arrived_over_https(&headers, Some("https")));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(arrived_over_https(&headers, None));
        let mut headers = HeaderMap::new();
        headers.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;proto=https"));
        assert!(arrived_over_https(&headers, None));
        headers.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;proto=http"));
        assert!(!arrived_over_https(&headers, None));
    }
}
