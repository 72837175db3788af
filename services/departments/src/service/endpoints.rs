//! Notification endpoints: where each unit wants its notices delivered (a webhook or an
//! e-mail address), who may manage them, and the signing secrets of webhooks.
//!
//! A webhook's secret is generated here, shown once (in the Create and Rotate answers),
//! and otherwise leaves this service only through the internal ListDeliveryEndpoints,
//! to SERVICE. It is kept out of the request log, of every log line and of `Debug`.

use std::net::IpAddr;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use duban_kit::idempotency::RequestLogged as _;
use duban_kit::{
    FieldViolation, Principal,
    auth::AuthError,
    idempotency::{self, RequestKey},
    paging::Page,
};
use duban_proto::departments::v1 as pb;
use duban_proto::departments::v1::ErrorReason;
use rand::RngCore as _;
use sea_orm::{
    ActiveModelTrait as _,
    ActiveValue::{NotSet, Set},
};

use super::{Departments, Result, not_found, one};
use crate::{convert, entity::notification_endpoint as endpoint, error::DepartmentsError, store::is_unique_violation};

/// The most endpoints one unit may have (the contract says so too).
pub const MAX_ENDPOINTS_PER_UNIT: usize = 10;

/// What every webhook secret starts with, so that one found in a file or a paste is
/// recognised for what it is.
const SECRET_PREFIX: &str = "dbn_whsec_";

/// How often a create retries when a concurrent create took the slot it chose.
const SLOT_ATTEMPTS: usize = 3;

/// A parent as a request names it: one unit, or every unit (`departments/-`).
enum Parent {
    All,
    Unit(String),
}

impl Departments {
    /// Adds an endpoint to a unit (ADMIN, or the unit itself); a webhook's secret is in
    /// this answer only.
    pub async fn create_endpoint(
        &self,
        caller: &Principal,
        request: pb::CreateEndpointRequest,
    ) -> Result<pb::CreateEndpointResponse> {
        let code = parse_unit(&request.parent, "parent")?;
        may_manage(caller, &code)?;
        let key = RequestKey::new(&caller.label(), "CreateEndpoint", &request.request_id, &request);
        if let Some(done) = self.replay::<pb::CreateEndpointResponse>(&key).await? {
            return Ok(done);
        }
        self.unit_exists(&code).await?;
        let draft = request.endpoint.unwrap_or_default();
        let valid = validate(&draft, None)?;
        let count = self.store.endpoint_slots(self.store.db(), &code).await?.len();
        if count >= MAX_ENDPOINTS_PER_UNIT {
            return Err(DepartmentsError::EndpointLimitReached {
                limit: MAX_ENDPOINTS_PER_UNIT,
            });
        }
        let now = chrono::Utc::now().timestamp_micros();
        let secret = (valid.kind == "webhook").then(new_secret);
        let preview = endpoint::Model {
            id: 0,
            department: code.clone(),
            slot: 0,
            kind: valid.kind.to_owned(),
            target: valid.target,
            language: valid.language.to_owned(),
            levels: convert::to_json(&valid.levels),
            enabled: draft.enabled.unwrap_or(true),
            description: valid.description,
            secret,
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        if request.validate_only {
            let mut shown = convert::endpoint(&preview);
            shown.name = String::new();
            shown.secret_prefix = String::new();
            return Ok(pb::CreateEndpointResponse {
                endpoint: Some(shown),
                secret: String::new(),
            });
        }
        for _ in 0..SLOT_ATTEMPTS {
            let txn = self.store.begin().await?;
            let slots = self.store.endpoint_slots(&txn, &code).await?;
            let Some(slot) = (0..MAX_ENDPOINTS_PER_UNIT as i32).find(|slot| !slots.contains(slot)) else {
                txn.rollback().await?;
                let full = DepartmentsError::EndpointLimitReached {
                    limit: MAX_ENDPOINTS_PER_UNIT,
                };
                return idempotency::replay_or_conflict(self.store.db(), &key, full).await;
            };
            let mut row = endpoint::ActiveModel::from(preview.clone()).reset_all();
            row.id = NotSet;
            row.slot = Set(slot);
            let row = match self.store.insert_endpoint(&txn, row).await {
                Ok(row) => row,
                Err(error) if is_unique_violation(&error) => {
                    // A concurrent create took this slot first: read the slots again.
                    txn.rollback().await?;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            // The request log keeps the answer without the secret: a retry learns that
            // the endpoint exists, and the secret is stored in one place only.
            let remembered = pb::CreateEndpointResponse {
                endpoint: Some(convert::endpoint(&row)),
                secret: String::new(),
            };
            let name = convert::endpoint_name(&row.department, row.id);
            let stored = self.finish(txn, key, remembered).await?;
            if stored.endpoint.as_ref().map(|e| &e.name) != Some(&name) {
                // A concurrent retry with the same request id committed first.
                return Ok(stored);
            }
            tracing::info!(endpoint = %name, kind = %row.kind, "created notification endpoint");
            return Ok(pb::CreateEndpointResponse {
                endpoint: stored.endpoint,
                secret: row.secret.unwrap_or_default(),
            });
        }
        Err(DepartmentsError::Db(sea_orm::DbErr::Custom(
            "concurrent creates kept taking the free endpoint slots".into(),
        )))
    }

    /// One endpoint, without its secret.
    pub async fn get_endpoint(&self, caller: &Principal, name: &str) -> Result<pb::NotificationEndpoint> {
        let (code, id) = parse_endpoint_name(name, "name")?;
        may_read(caller, &code)?;
        Ok(convert::endpoint(&self.endpoint_row(&code, id, name).await?))
    }

    /// A page of one unit's endpoints (or every readable unit's), without secrets.
    pub async fn list_endpoints(
        &self,
        caller: &Principal,
        request: &pb::ListEndpointsRequest,
    ) -> Result<pb::ListEndpointsResponse> {
        let parent = match parse_parent(&request.parent, "parent")? {
            // A department reads its own unit's only: `-` means its own.
            Parent::All => match caller {
                Principal::Department(own) => Parent::Unit(own.clone()),
                Principal::Admin | Principal::Leadership | Principal::Service => Parent::All,
            },
            Parent::Unit(code) => {
                may_read(caller, &code)?;
                self.unit_exists(&code).await?;
                Parent::Unit(code)
            }
        };
        let department = match &parent {
            Parent::All => None,
            Parent::Unit(code) => Some(code.as_str()),
        };
        let filter = format!("parent={}", department.unwrap_or("-"));
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let (rows, total) = self.store.endpoints(department, false, page.offset, page.size).await?;
        Ok(pb::ListEndpointsResponse {
            endpoints: rows.iter().map(convert::endpoint).collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// Changes an endpoint's url or address, language, levels, enabled or description.
    pub async fn update_endpoint(
        &self,
        caller: &Principal,
        request: pb::UpdateEndpointRequest,
    ) -> Result<pb::NotificationEndpoint> {
        let patch = request.endpoint.clone().unwrap_or_default();
        let (code, id) = parse_endpoint_name(&patch.name, "endpoint.name")?;
        may_manage(caller, &code)?;
        let key = RequestKey::new(&caller.label(), "UpdateEndpoint", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let current = self.endpoint_row(&code, id, &patch.name).await?;
        check_etag(&patch.etag, &current, &patch.name)?;
        let paths: Vec<&str> = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        const UPDATABLE: [&str; 6] = ["url", "address", "language", "levels", "enabled", "description"];
        // AIP-134: without a mask, the fields the request sets are the mask.
        let implied = [
            ("url", !patch.url.is_empty()),
            ("address", !patch.address.is_empty()),
            ("language", !patch.language.is_empty()),
            ("levels", !patch.levels.is_empty()),
            ("enabled", patch.enabled.is_some()),
            ("description", !patch.description.is_empty()),
        ];
        let touched: Vec<&str> = if paths.is_empty() {
            implied
                .iter()
                .filter(|(_, set)| *set)
                .map(|(field, _)| *field)
                .collect()
        } else {
            paths.clone()
        };
        let mut violations: Vec<FieldViolation> = paths
            .iter()
            .filter(|path| !UPDATABLE.contains(path))
            .map(|path| FieldViolation::new("update_mask", format!("{path:?} cannot be updated")))
            .collect();
        let mut merged = convert::endpoint(&current);
        if patch.kind != 0 && patch.kind != merged.kind {
            violations.push(FieldViolation::new(
                "endpoint.kind",
                "is immutable: add an endpoint of the other kind and delete this one",
            ));
        }
        let touches = |field: &str| touched.contains(&field);
        if touches("url") {
            merged.url = patch.url;
        }
        if touches("address") {
            merged.address = patch.address;
        }
        if touches("language") {
            merged.language = patch.language;
        }
        if touches("levels") {
            merged.levels = patch.levels;
        }
        if touches("enabled") {
            // Named in the mask but unset: the contract's default, enabled.
            merged.enabled = Some(patch.enabled.unwrap_or(true));
        }
        if touches("description") {
            merged.description = patch.description;
        }
        let valid = match validate(&merged, Some(&current.kind)) {
            Ok(valid) if violations.is_empty() => valid,
            Ok(_) => return Err(DepartmentsError::Invalid(violations)),
            Err(DepartmentsError::Invalid(more)) => {
                violations.extend(more);
                return Err(DepartmentsError::Invalid(violations));
            }
            Err(other) => return Err(other),
        };
        let read_version = current.version;
        let row = endpoint::Model {
            target: valid.target,
            language: valid.language.to_owned(),
            levels: convert::to_json(&valid.levels),
            enabled: merged.enabled.unwrap_or(true),
            description: valid.description,
            version: current.version + 1,
            update_time_us: chrono::Utc::now().timestamp_micros(),
            ..current
        };
        let response = convert::endpoint(&row);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        // Write only over the version read, so that two concurrent updates cannot both win.
        if !self.store.update_endpoint_if_version(&txn, row, read_version).await? {
            txn.rollback().await?;
            let conflict = self.lost_race(&code, id, &patch.name).await?;
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        tracing::info!(endpoint = %patch.name, "updated notification endpoint");
        self.finish(txn, key, response).await
    }

    /// Deletes an endpoint and its secret; answers the endpoint as it was.
    pub async fn delete_endpoint(
        &self,
        caller: &Principal,
        request: pb::DeleteEndpointRequest,
    ) -> Result<pb::NotificationEndpoint> {
        let (code, id) = parse_endpoint_name(&request.name, "name")?;
        may_manage(caller, &code)?;
        let key = RequestKey::new(&caller.label(), "DeleteEndpoint", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let current = self.endpoint_row(&code, id, &request.name).await?;
        check_etag(&request.etag, &current, &request.name)?;
        let response = convert::endpoint(&current);
        if request.validate_only {
            return Ok(response);
        }
        let txn = self.store.begin().await?;
        if !self.store.delete_endpoint_if_version(&txn, id, current.version).await? {
            txn.rollback().await?;
            let conflict = self.lost_race(&code, id, &request.name).await?;
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        tracing::info!(endpoint = %request.name, "deleted notification endpoint");
        self.finish(txn, key, response).await
    }

    /// Gives a webhook a new secret, in this answer only.
    pub async fn rotate_endpoint_secret(
        &self,
        caller: &Principal,
        request: pb::RotateEndpointSecretRequest,
    ) -> Result<pb::RotateEndpointSecretResponse> {
        let (code, id) = parse_endpoint_name(&request.name, "name")?;
        may_manage(caller, &code)?;
        let key = RequestKey::new(&caller.label(), "RotateEndpointSecret", &request.request_id, &request);
        if let Some(done) = self.replay::<pb::RotateEndpointSecretResponse>(&key).await? {
            return Ok(done);
        }
        let current = self.endpoint_row(&code, id, &request.name).await?;
        if current.kind != "webhook" {
            return Err(DepartmentsError::EndpointNotWebhook { name: request.name });
        }
        check_etag(&request.etag, &current, &request.name)?;
        let read_version = current.version;
        let row = endpoint::Model {
            secret: Some(new_secret()),
            version: current.version + 1,
            update_time_us: chrono::Utc::now().timestamp_micros(),
            ..current
        };
        let secret = row.secret.clone().unwrap_or_default();
        let shown = convert::endpoint(&row);
        let txn = self.store.begin().await?;
        if !self.store.update_endpoint_if_version(&txn, row, read_version).await? {
            txn.rollback().await?;
            let conflict = self.lost_race(&code, id, &request.name).await?;
            return idempotency::replay_or_conflict(self.store.db(), &key, conflict).await;
        }
        // As for create: the request log never holds the secret.
        let remembered = pb::RotateEndpointSecretResponse {
            endpoint: Some(shown.clone()),
            secret: String::new(),
        };
        let stored = self.finish(txn, key, remembered).await?;
        if stored.endpoint.as_ref().map(|e| &e.etag) != Some(&shown.etag) {
            return Ok(stored);
        }
        tracing::info!(endpoint = %request.name, "rotated a webhook secret");
        Ok(pb::RotateEndpointSecretResponse {
            endpoint: stored.endpoint,
            secret,
        })
    }

    /// The enabled endpoints of one unit or of all, WITH their secrets: for the
    /// delivery worker (SERVICE only).
    pub async fn list_delivery_endpoints(
        &self,
        caller: &Principal,
        request: &pb::ListDeliveryEndpointsRequest,
    ) -> Result<pb::ListDeliveryEndpointsResponse> {
        if !matches!(caller, Principal::Service) {
            return Err(AuthError::Denied(format!(
                "ListDeliveryEndpoints hands out signing secrets and is for the delivery worker (SERVICE) only; \
                 the caller is {}",
                caller.label()
            ))
            .into());
        }
        let department = match request.parent.as_str() {
            "" => None,
            parent => match parse_parent(parent, "parent")? {
                Parent::All => None,
                Parent::Unit(code) => {
                    self.unit_exists(&code).await?;
                    Some(code)
                }
            },
        };
        let filter = format!("delivery={}", department.as_deref().unwrap_or("-"));
        let page = Page::from_request(request.page_size, &request.page_token, &filter).map_err(one)?;
        let (rows, total) = self
            .store
            .endpoints(department.as_deref(), true, page.offset, page.size)
            .await?;
        Ok(pb::ListDeliveryEndpointsResponse {
            endpoints: rows
                .into_iter()
                .map(|row| pb::DeliveryEndpoint {
                    endpoint: Some(convert::endpoint(&row)),
                    secret: row.secret.unwrap_or_default(),
                })
                .collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    async fn unit_exists(&self, code: &str) -> Result<()> {
        match self.store.unit(code).await? {
            Some(_) => Ok(()),
            None => Err(not_found(
                ErrorReason::DepartmentNotFound,
                &format!("departments/{code}"),
            )),
        }
    }

    async fn endpoint_row(&self, code: &str, id: i64, name: &str) -> Result<endpoint::Model> {
        self.store
            .endpoint(code, id)
            .await?
            .ok_or_else(|| not_found(ErrorReason::EndpointNotFound, name))
    }

    /// The answer to a write that lost a race: the endpoint changed (its new etag) or
    /// was deleted meanwhile.
    async fn lost_race(&self, code: &str, id: i64, name: &str) -> Result<DepartmentsError> {
        Ok(match self.store.endpoint(code, id).await? {
            Some(now) => duban_kit::error::EtagMismatch {
                name: name.to_owned(),
                current: convert::etag(now.version),
            }
            .into(),
            None => not_found(ErrorReason::EndpointNotFound, name),
        })
    }
}

/// ADMIN manages any unit's endpoints, a DEPARTMENT its own unit's; nobody else.
fn may_manage(caller: &Principal, code: &str) -> Result<()> {
    match caller {
        Principal::Admin => Ok(()),
        Principal::Department(own) if own == code => Ok(()),
        Principal::Department(_) => Err(DepartmentsError::NotOwnDepartment {
            department: code.to_owned(),
        }),
        Principal::Leadership | Principal::Service => Err(AuthError::Denied(format!(
            "managing notification endpoints needs the admin role or the unit's own department role; the caller is {}",
            caller.label()
        ))
        .into()),
    }
}

/// Every role reads; a DEPARTMENT its own unit's only.
fn may_read(caller: &Principal, code: &str) -> Result<()> {
    match caller {
        Principal::Department(own) if own != code => Err(DepartmentsError::NotOwnDepartment {
            department: code.to_owned(),
        }),
        _ => Ok(()),
    }
}

fn check_etag(sent: &str, current: &endpoint::Model, name: &str) -> Result<()> {
    if !sent.is_empty() && sent != convert::etag(current.version) {
        return Err(duban_kit::error::EtagMismatch {
            name: name.to_owned(),
            current: convert::etag(current.version),
        }
        .into());
    }
    Ok(())
}

/// A fresh webhook secret: the prefix and 256 random bits.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// `departments/{code}`.
fn parse_unit(name: &str, field: &str) -> Result<String> {
    match parse_parent(name, field)? {
        Parent::Unit(code) => Ok(code),
        Parent::All => Err(DepartmentsError::invalid(
            field,
            "must name one unit, `departments/{code}`",
        )),
    }
}

/// `departments/{code}` or `departments/-`.
fn parse_parent(name: &str, field: &str) -> Result<Parent> {
    match name.strip_prefix("departments/") {
        Some("-") => Ok(Parent::All),
        Some(code) if !code.is_empty() && !code.contains('/') => Ok(Parent::Unit(code.to_owned())),
        _ => Err(DepartmentsError::invalid(
            field,
            "must be a resource name of the form `departments/{code}`",
        )),
    }
}

/// `departments/{code}/endpoints/{id}`.
fn parse_endpoint_name(name: &str, field: &str) -> Result<(String, i64)> {
    let parsed = name.strip_prefix("departments/").and_then(|rest| {
        let (code, id) = rest.split_once("/endpoints/")?;
        let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
        (!code.is_empty() && !code.contains('/')).then(|| (code.to_owned(), id))
    });
    parsed.ok_or_else(|| {
        DepartmentsError::invalid(
            field,
            "must be a resource name of the form `departments/{code}/endpoints/{id}`",
        )
    })
}

/// An endpoint's fields once checked, as stored.
#[derive(Debug)]
struct Valid {
    kind: &'static str,
    target: String,
    language: &'static str,
    levels: Vec<&'static str>,
    description: String,
}

/// Checks every field of an endpoint (`stored_kind` on update, where the kind is
/// fixed), naming each bad one under `endpoint.`.
fn validate(draft: &pb::NotificationEndpoint, stored_kind: Option<&str>) -> Result<Valid> {
    let mut violations = Vec::new();
    let kind = match stored_kind {
        Some("email") => Some("email"),
        Some(_) => Some("webhook"),
        None => match pb::EndpointKind::try_from(draft.kind) {
            Ok(pb::EndpointKind::Webhook) => Some("webhook"),
            Ok(pb::EndpointKind::Email) => Some("email"),
            _ => {
                violations.push(FieldViolation::new(
                    "endpoint.kind",
                    "must be ENDPOINT_KIND_WEBHOOK or ENDPOINT_KIND_EMAIL",
                ));
                None
            }
        },
    };
    let mut target = String::new();
    match kind {
        Some("webhook") => {
            if !draft.address.is_empty() {
                violations.push(FieldViolation::new("endpoint.address", "is only for EMAIL endpoints"));
            }
            match check_webhook_url(draft.url.trim()) {
                Ok(url) => target = url,
                Err(why) => violations.push(FieldViolation::new("endpoint.url", why)),
            }
        }
        Some(_) => {
            if !draft.url.is_empty() {
                violations.push(FieldViolation::new("endpoint.url", "is only for WEBHOOK endpoints"));
            }
            match check_email_address(draft.address.trim()) {
                Ok(address) => target = address,
                Err(why) => violations.push(FieldViolation::new("endpoint.address", why)),
            }
        }
        None => {}
    }
    let language = match draft.language.trim() {
        "" | "zh" => "zh",
        "en" => "en",
        _ => {
            violations.push(FieldViolation::new("endpoint.language", "must be `zh` or `en`"));
            "zh"
        }
    };
    let mut levels = Vec::new();
    for (index, level) in draft.levels.iter().enumerate() {
        let field = format!("endpoint.levels[{index}]");
        match convert::notice_level_str(*level) {
            None => violations.push(FieldViolation::new(
                field,
                "must be REMINDER, BLUE, YELLOW, RED or ORDER",
            )),
            Some(name) if levels.contains(&name) => {
                violations.push(FieldViolation::new(field, "is listed twice"));
            }
            Some(name) => levels.push(name),
        }
    }
    let description = draft.description.trim().to_owned();
    if description.chars().count() > 200 {
        violations.push(FieldViolation::new(
            "endpoint.description",
            "must be at most 200 characters",
        ));
    }
    match kind {
        Some(kind) if violations.is_empty() => Ok(Valid {
            kind,
            target,
            language,
            levels,
            description,
        }),
        _ => Err(DepartmentsError::Invalid(violations)),
    }
}

/// A webhook URL as stored (normalised by the URL parser), or why it is refused:
/// absolute `https://` with a host and no credentials or fragment; `http://` only to a
/// loopback host, for development and tests. IP literals in private, link-local and
/// other non-public ranges are refused too, whatever the scheme (the delivery worker
/// must still check where a host name resolves at send time).
fn check_webhook_url(raw: &str) -> std::result::Result<String, String> {
    if raw.is_empty() {
        return Err("is required for a WEBHOOK endpoint".into());
    }
    if raw.chars().count() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    let url = url::Url::parse(raw).map_err(|error| format!("is not an absolute URL: {error}"))?;
    let host = url
        .host()
        .ok_or_else(|| "must name a host, as in `https://example.org/hook`".to_owned())?;
    let loopback = match &host {
        url::Host::Domain(domain) => *domain == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "must use https: plain http is accepted only to a loopback host (for development), not {host}"
            ));
        }
        other => return Err(format!("must be an https URL, not {other}:")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment, which is never sent".into());
    }
    let ip: Option<IpAddr> = match host {
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = ip
        && !ip.is_loopback()
        && !duban_kit::net::is_public_ip(ip)
    {
        return Err(format!(
            "must not point at {ip}, a private, link-local or otherwise non-public address"
        ));
    }
    Ok(url.to_string())
}

/// An e-mail address as stored (`local@domain`, the domain lower-cased and in its
/// ASCII form), or why it is refused. The local part is an RFC 5321 dot-string of
/// printable ASCII; quoted local parts, comments and display names are refused, since
/// every relay does not take them.
fn check_email_address(raw: &str) -> std::result::Result<String, String> {
    if raw.is_empty() {
        return Err("is required for an EMAIL endpoint".into());
    }
    if raw.chars().count() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let (local, domain) = raw
        .rsplit_once('@')
        .ok_or_else(|| "must be an address of the form `local@domain`".to_owned())?;
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    let atom = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c));
    if local.len() > 64 || !local.split('.').all(atom) {
        return Err(format!(
            "has an invalid local part {local:?}: letters, digits, dots (not first, last or doubled) and {SPECIALS}, \
             at most 64"
        ));
    }
    // The URL parser's host parsing does the IDNA mapping (例子.中国 to xn--...).
    let ascii = match url::Host::parse(domain) {
        Ok(url::Host::Domain(ascii)) => ascii,
        _ => return Err(format!("has an invalid domain {domain:?}")),
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let top_ok = labels
        .last()
        .is_some_and(|top| !top.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() < 2 || ascii.len() > 253 || !labels.iter().all(label_ok) || !top_ok {
        return Err(format!(
            "has an invalid domain {domain:?}: it must be a host name with at least two labels, such as example.org"
        ));
    }
    Ok(format!("{local}@{ascii}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_need_https_except_to_loopback() {
        assert_eq!(
            check_webhook_url("https://hooks.example.org/duban?x=1").unwrap(),
            "https://hooks.example.org/duban?x=1"
        );
        assert!(check_webhook_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_webhook_url("http://localhost/hook").is_ok());
        assert!(check_webhook_url("http://[::1]:9/hook").is_ok());
        let refused = check_webhook_url("http://hooks.example.org/duban").unwrap_err();
        assert!(refused.contains("https"), "{refused}");
        for bad in [
            "",
            "hooks.example.org/duban",
            "ftp://example.org/x",
            "https://user:pw@example.org/x",
            "https://example.org/x#frag",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/x",
            "http://127.0.0.1.example.org/x",
            "mailto:a@example.org",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn email_addresses_are_checked_carefully() {
        assert_eq!(
            check_email_address("duty.office+duban@Example.ORG").unwrap(),
            "duty.office+duban@example.org"
        );
        assert_eq!(
            check_email_address("ban@例子.中国").unwrap(),
            "ban@xn--fsqu00a.xn--fiqs8s"
        );
        for bad in [
            "",
            "no-at-sign",
            "@example.org",
            "a@",
            "a..b@example.org",
            ".a@example.org",
            "a b@example.org",
            "\"quoted\"@example.org",
            "a@localhost",
            "a@example.123",
            "a@-example.org",
            "a@exa_mple.org",
            "Name <a@example.org>",
        ] {
            assert!(check_email_address(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let draft = pb::NotificationEndpoint {
            kind: pb::EndpointKind::Webhook as i32,
            url: "http://example.org/x".into(),
            address: "a@example.org".into(),
            language: "fr".into(),
            levels: vec![pb::NoticeLevel::Red as i32, 0, pb::NoticeLevel::Red as i32],
            ..Default::default()
        };
        let Err(DepartmentsError::Invalid(violations)) = validate(&draft, None) else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "endpoint.address",
                "endpoint.url",
                "endpoint.language",
                "endpoint.levels[1]",
                "endpoint.levels[2]"
            ]
        );
    }

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_eq!(convert::SHOWN_SECRET_CHARS, SECRET_PREFIX.len() + 4);
    }

    #[test]
    fn endpoint_names_are_parsed_strictly() {
        assert_eq!(
            parse_endpoint_name("departments/tax-bureau/endpoints/7", "name").unwrap(),
            ("tax-bureau".to_owned(), 7)
        );
        for bad in [
            "departments/tax-bureau/endpoints/",
            "departments/tax-bureau/endpoints/x",
            "departments/tax-bureau/endpoints/0",
            "departments//endpoints/1",
            "departments/a/b/endpoints/1",
            "tax-bureau/endpoints/1",
        ] {
            assert!(parse_endpoint_name(bad, "name").is_err(), "{bad:?}");
        }
    }
}
