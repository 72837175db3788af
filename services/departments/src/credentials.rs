//! Credentials: issuing bearer tokens (shown once, stored as a hash), revoking them,
//! and telling other services who a token belongs to.

use duban_kit::idempotency::RequestLogged as _;
use duban_proto::departments::v1::ErrorReason;
use std::time::Duration;

use duban_kit::{
    FieldViolation, Principal,
    auth::{self, AuthError, TokenVerifier, Verified},
    idempotency::RequestKey,
    paging::Page,
};
use duban_proto::departments::v1 as pb;
use sea_orm::ActiveValue::{NotSet, Set};

use crate::{convert, entity::credential, error::DepartmentsError, service::Departments};

type Result<T> = std::result::Result<T, DepartmentsError>;

/// Characters of a token kept to recognise it in a list: the prefix and four more.
const SHOWN_PREFIX_CHARS: usize = auth::TOKEN_PREFIX.len() + 4;

impl Departments {
    /// Issues a credential (ADMIN); the token is in this response only.
    pub async fn issue_credential(
        &self,
        caller: &Principal,
        request: pb::IssueCredentialRequest,
    ) -> Result<pb::IssueCredentialResponse> {
        caller.require_admin("issuing credentials")?;
        let key = RequestKey::new(&caller.label(), "IssueCredential", &request.request_id, &request);
        if let Some(done) = self.replay::<pb::IssueCredentialResponse>(&key).await? {
            return Ok(done);
        }
        let draft = request.credential.unwrap_or_default();
        let (role, department) = self.validate_credential(&draft).await?;
        if request.validate_only {
            let preview = pb::Credential {
                name: String::new(),
                token_prefix: String::new(),
                create_time: None,
                revoke_time: None,
                ..draft
            };
            return Ok(pb::IssueCredentialResponse {
                credential: Some(preview),
                token: String::new(),
            });
        }
        let token = auth::new_token();
        let row = new_credential(&token, role, department, draft.description.trim());
        let txn = self.begin().await?;
        let row = self.store.insert_credential(&txn, row).await?;
        // The request log keeps the response without the token: a retry learns that the
        // credential exists, but the secret is never stored anywhere.
        let remembered = pb::IssueCredentialResponse {
            credential: Some(convert::credential(&row)),
            token: String::new(),
        };
        let stored = self.finish(txn, key, remembered).await?;
        if stored.credential.as_ref().map(|c| &c.name) != Some(&format!("credentials/{}", row.id)) {
            return Ok(stored);
        }
        tracing::info!(credential = row.id, role = %row.role, for_department = ?row.department, "issued credential");
        Ok(pb::IssueCredentialResponse {
            credential: stored.credential,
            token,
        })
    }

    async fn validate_credential(&self, draft: &pb::Credential) -> Result<(&'static str, Option<String>)> {
        let mut violations = Vec::new();
        let role = match pb::Role::try_from(draft.role) {
            Ok(pb::Role::Department) => Some("department"),
            Ok(pb::Role::Leadership) => Some("leadership"),
            Ok(pb::Role::Admin) => Some("admin"),
            Ok(pb::Role::Service) => {
                violations.push(FieldViolation::new(
                    "credential.role",
                    "ROLE_SERVICE is not issued: services use the configured service token",
                ));
                None
            }
            _ => {
                violations.push(FieldViolation::new(
                    "credential.role",
                    "must be ROLE_DEPARTMENT, ROLE_LEADERSHIP or ROLE_ADMIN",
                ));
                None
            }
        };
        let department = match role {
            Some("department") if draft.department.is_empty() => {
                violations.push(FieldViolation::new(
                    "credential.department",
                    "is required for ROLE_DEPARTMENT",
                ));
                None
            }
            Some("department") => {
                if self.store.unit(&draft.department).await?.is_none() {
                    violations.push(FieldViolation::new(
                        "credential.department",
                        format!("{:?} is not a unit code", draft.department),
                    ));
                }
                Some(draft.department.clone())
            }
            _ if !draft.department.is_empty() => {
                violations.push(FieldViolation::new(
                    "credential.department",
                    "is only for ROLE_DEPARTMENT",
                ));
                None
            }
            _ => None,
        };
        if draft.description.chars().count() > 200 {
            violations.push(FieldViolation::new(
                "credential.description",
                "must be at most 200 characters",
            ));
        }
        match role {
            Some(role) if violations.is_empty() => Ok((role, department)),
            _ => Err(DepartmentsError::Invalid(violations)),
        }
    }

    /// A page of credentials (ADMIN).
    pub async fn list_credentials(
        &self,
        caller: &Principal,
        request: &pb::ListCredentialsRequest,
    ) -> Result<pb::ListCredentialsResponse> {
        caller.require_admin("listing credentials")?;
        let filter = format!("revoked={}", request.show_revoked);
        let page = Page::from_request(request.page_size, &request.page_token, &filter)
            .map_err(|v| DepartmentsError::Invalid(vec![v]))?;
        let (rows, total) = self
            .store
            .credentials(request.show_revoked, page.offset, page.size)
            .await?;
        Ok(pb::ListCredentialsResponse {
            credentials: rows.iter().map(convert::credential).collect(),
            next_page_token: page.next_token(total, &filter),
        })
    }

    /// Revokes a credential (ADMIN). Revoking a revoked credential changes nothing.
    pub async fn revoke_credential(
        &self,
        caller: &Principal,
        request: pb::RevokeCredentialRequest,
    ) -> Result<pb::Credential> {
        caller.require_admin("revoking credentials")?;
        let key = RequestKey::new(&caller.label(), "RevokeCredential", &request.request_id, &request);
        if let Some(done) = self.replay(&key).await? {
            return Ok(done);
        }
        let id: i64 = request
            .name
            .strip_prefix("credentials/")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| {
                DepartmentsError::invalid("name", "must be a resource name of the form `credentials/{id}`")
            })?;
        let txn = self.begin().await?;
        let row = self
            .store
            .credential(&txn, id)
            .await?
            .ok_or_else(|| duban_kit::error::NotFound::new(ErrorReason::CredentialNotFound, &request.name))?;
        let row = match row.revoke_time_us {
            Some(_) => row,
            None => {
                self.store
                    .revoke_credential(&txn, row, chrono::Utc::now().timestamp_micros())
                    .await?
            }
        };
        tracing::info!(credential = row.id, "revoked credential");
        self.finish(txn, key, convert::credential(&row)).await
    }

    /// Who a token belongs to, for services (SERVICE or ADMIN).
    pub async fn authenticate_token(
        &self,
        caller: &Principal,
        token: &str,
        ttl: Duration,
    ) -> Result<pb::AuthenticateTokenResponse> {
        if !matches!(caller, Principal::Service | Principal::Admin) {
            return Err(AuthError::Denied(format!(
                "AuthenticateToken is for services; the caller is {}",
                caller.label()
            ))
            .into());
        }
        let verified = self.verify_token(token).await?;
        Ok(pb::AuthenticateTokenResponse {
            principal: Some(verified.principal.to_proto(&verified.credential)),
            cache_ttl_seconds: ttl.as_secs().min(30) as i32,
        })
    }

    /// GetCallerIdentity: who the caller is, with its unit for a DEPARTMENT caller, so a
    /// department's system learns its own code from its token rather than configuration.
    pub async fn caller_identity(&self, caller: &Verified) -> Result<pb::CallerIdentity> {
        let department = match &caller.principal {
            Principal::Department(code) => Some(self.get_department(&format!("departments/{code}")).await?),
            Principal::Admin | Principal::Leadership | Principal::Service => None,
        };
        Ok(pb::CallerIdentity {
            principal: Some(caller.principal.to_proto(&caller.credential)),
            department,
        })
    }

    /// Looks a token up in the credentials table.
    pub async fn verify_token(&self, token: &str) -> Result<Verified> {
        let row = self.store.credential_by_hash(&auth::token_hash(token)).await?;
        let row = row
            .filter(|row| row.revoke_time_us.is_none())
            .ok_or(AuthError::Rejected)?;
        let principal = match (row.role.as_str(), row.department) {
            ("department", Some(code)) => Principal::Department(code),
            ("leadership", _) => Principal::Leadership,
            ("admin", _) => Principal::Admin,
            _ => return Err(AuthError::Rejected.into()),
        };
        Ok(Verified {
            principal,
            credential: format!("credentials/{}", row.id),
        })
    }

    /// Makes sure a configured bootstrap admin token is a valid ADMIN credential, so a
    /// fresh installation has a first administrator. Does nothing if it already is.
    pub async fn ensure_bootstrap_admin(&self, token: &str) -> Result<()> {
        if token.is_empty() || self.store.credential_by_hash(&auth::token_hash(token)).await?.is_some() {
            return Ok(());
        }
        let row = new_credential(
            token,
            "admin",
            None,
            "bootstrap administrator (auth.bootstrap_admin_token)",
        );
        self.store.insert_credential(self.store.db(), row).await?;
        tracing::info!("registered the bootstrap admin credential");
        Ok(())
    }
}

/// Checks tokens against this service's own credentials table; no cache, so a
/// revocation takes effect here at once.
#[derive(Debug, Clone)]
pub struct LocalVerifier(pub Departments);

#[tonic::async_trait]
impl TokenVerifier for LocalVerifier {
    async fn verify(&self, token: &str) -> std::result::Result<Verified, AuthError> {
        match self.0.verify_token(token).await {
            Ok(verified) => Ok(verified),
            Err(DepartmentsError::Auth(error)) => Err(error),
            Err(other) => Err(AuthError::Unavailable(other.to_string())),
        }
    }
}

/// A credential row to insert; the database assigns the id.
fn new_credential(token: &str, role: &str, department: Option<String>, description: &str) -> credential::ActiveModel {
    credential::ActiveModel {
        id: NotSet,
        token_sha256: Set(auth::token_hash(token)),
        token_prefix: Set(token.chars().take(SHOWN_PREFIX_CHARS).collect()),
        role: Set(role.to_owned()),
        department: Set(department),
        description: Set(description.to_owned()),
        create_time_us: Set(chrono::Utc::now().timestamp_micros()),
        revoke_time_us: Set(None),
    }
}
