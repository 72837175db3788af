//! `duban token issue|list|revoke`: credentials for department systems and people.

use duban_kit::{
    Settings,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::departments::v1::{self as pb, departments_service_client::DepartmentsServiceClient};
use serde::Serialize;

use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// Who a new token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// District leadership: reads everything, reviews reports.
    Leadership,
    /// Administrator.
    Admin,
}

/// A credential as `--json` prints it.
#[derive(Debug, Serialize)]
struct CredentialOut {
    name: String,
    role: String,
    department: String,
    description: String,
    token_prefix: String,
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn credential_out(credential: pb::Credential, token: Option<String>) -> CredentialOut {
    CredentialOut {
        role: credential
            .role()
            .as_str_name()
            .trim_start_matches("ROLE_")
            .to_ascii_lowercase(),
        revoked: credential.revoke_time.is_some(),
        name: credential.name,
        department: credential.department,
        description: credential.description,
        token_prefix: credential.token_prefix,
        token,
    }
}

fn client(
    settings: &Settings,
    connection: &Connection,
) -> anyhow::Result<DepartmentsServiceClient<duban_kit::client::ServiceChannel>> {
    Ok(DepartmentsServiceClient::new(
        connection.channel(settings, &settings.departments.endpoint_url())?,
    ))
}

/// Issues a token for a department or a role and prints it (once).
pub async fn issue(
    settings: &Settings,
    connection: &Connection,
    department: Option<String>,
    role: Option<RoleArg>,
    description: String,
    json: bool,
) -> anyhow::Result<()> {
    let (role, department) = match (department, role) {
        (Some(code), None) => (pb::Role::Department, code),
        (None, Some(RoleArg::Leadership)) => (pb::Role::Leadership, String::new()),
        (None, Some(RoleArg::Admin)) => (pb::Role::Admin, String::new()),
        _ => anyhow::bail!("give exactly one of --department <code> or --role leadership|admin"),
    };
    let request = pb::IssueCredentialRequest {
        credential: Some(pb::Credential {
            role: role as i32,
            department,
            description,
            ..Default::default()
        }),
        request_id: uuid_like(),
        validate_only: false,
    };
    let response = client(settings, connection)?
        .issue_credential(request)
        .await
        .map_err(|s| call_failed("IssueCredential", s))?
        .into_inner();
    let credential = response.credential.unwrap_or_default();
    if json {
        return print_json(&credential_out(credential, Some(response.token)));
    }
    println!(
        "Issued {} ({}). The token is shown only now:",
        credential.name,
        credential_out(credential.clone(), None).role
    );
    println!("  {}", response.token);
    Ok(())
}

/// Lists credentials (never their tokens).
pub async fn list(settings: &Settings, connection: &Connection, show_revoked: bool, json: bool) -> anyhow::Result<()> {
    let client = client(settings, connection)?;
    let listed = read_all_pages(|page_token| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_credentials(pb::ListCredentialsRequest {
                    page_size: READ_ALL_PAGE_SIZE,
                    page_token,
                    show_revoked,
                })
                .await?
                .into_inner();
            Ok::<_, tonic::Status>((page.credentials, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListCredentials", s))?;
    let credentials: Vec<_> = listed.into_iter().map(|c| credential_out(c, None)).collect();
    if json {
        return print_json(&credentials);
    }
    let rows: Vec<Vec<String>> = credentials
        .iter()
        .map(|c| {
            let state = if c.revoked { "revoked" } else { "valid" };
            vec![
                c.name.clone(),
                c.role.clone(),
                c.department.clone(),
                c.token_prefix.clone(),
                state.into(),
                c.description.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["name", "role", "department", "prefix", "state", "description"], &rows)
    );
    Ok(())
}

/// Revokes a credential by name (`credentials/7`) or number (`7`).
pub async fn revoke(settings: &Settings, connection: &Connection, credential: &str, json: bool) -> anyhow::Result<()> {
    let name = if credential.starts_with("credentials/") {
        credential.to_owned()
    } else {
        format!("credentials/{credential}")
    };
    let request = pb::RevokeCredentialRequest {
        name,
        request_id: uuid_like(),
    };
    let revoked = client(settings, connection)?
        .revoke_credential(request)
        .await
        .map_err(|s| call_failed("RevokeCredential", s))?
        .into_inner();
    if json {
        return print_json(&credential_out(revoked, None));
    }
    println!(
        "Revoked {}. Every service stops accepting its token within 30 s.",
        revoked.name
    );
    Ok(())
}

/// A fresh request id, so that a retried call cannot act twice.
fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}
