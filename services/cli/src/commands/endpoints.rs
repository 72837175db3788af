//! `duban departments endpoints add|list|remove|rotate-secret|disable|enable`: where a
//! unit wants its notices delivered (ADMIN for any unit, a department for its own).

use duban_kit::{
    Settings,
    paging::{READ_ALL_PAGE_SIZE, read_all_pages},
};
use duban_proto::departments::v1::{self as pb, departments_service_client::DepartmentsServiceClient};
use prost_types::FieldMask;
use serde::Serialize;

use crate::{
    commands::{Connection, call_failed, print_json},
    output::table,
};

/// A notice level, as `--levels` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// A report falls due soon.
    Reminder,
    /// Due today or overdue (蓝色).
    Blue,
    /// Late past the yellow threshold (黄色).
    Yellow,
    /// Late past the red threshold (红色).
    Red,
    /// A supervision order (督办单).
    Order,
}

impl LevelArg {
    fn to_proto(self) -> pb::NoticeLevel {
        match self {
            LevelArg::Reminder => pb::NoticeLevel::Reminder,
            LevelArg::Blue => pb::NoticeLevel::Blue,
            LevelArg::Yellow => pb::NoticeLevel::Yellow,
            LevelArg::Red => pb::NoticeLevel::Red,
            LevelArg::Order => pb::NoticeLevel::Order,
        }
    }
}

/// The language of a unit's notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LanguageArg {
    /// Chinese (the default).
    Zh,
    /// English.
    En,
}

/// Where notices go: exactly one of a webhook URL or an e-mail address.
#[derive(Debug, Clone)]
pub enum Target {
    /// A webhook URL.
    Webhook(String),
    /// An e-mail address.
    Email(String),
}

/// What `add` sends.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// The unit's code.
    pub department: String,
    /// Where notices go.
    pub target: Target,
    /// The notices' language.
    pub language: LanguageArg,
    /// The levels wanted; empty means all.
    pub levels: Vec<LevelArg>,
    /// Free text.
    pub description: String,
}

/// An endpoint as `--json` prints it.
#[derive(Debug, Serialize)]
struct EndpointOut {
    name: String,
    kind: String,
    target: String,
    language: String,
    levels: Vec<String>,
    enabled: bool,
    description: String,
    secret_prefix: String,
    etag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn endpoint_out(endpoint: pb::NotificationEndpoint, secret: Option<String>) -> EndpointOut {
    let kind = endpoint.kind();
    EndpointOut {
        kind: kind
            .as_str_name()
            .trim_start_matches("ENDPOINT_KIND_")
            .to_ascii_lowercase(),
        target: if kind == pb::EndpointKind::Email {
            endpoint.address
        } else {
            endpoint.url
        },
        levels: endpoint
            .levels
            .iter()
            .map(|level| {
                pb::NoticeLevel::try_from(*level)
                    .unwrap_or_default()
                    .as_str_name()
                    .trim_start_matches("NOTICE_LEVEL_")
                    .to_ascii_lowercase()
            })
            .collect(),
        enabled: endpoint.enabled.unwrap_or(true),
        name: endpoint.name,
        language: endpoint.language,
        description: endpoint.description,
        secret_prefix: endpoint.secret_prefix,
        etag: endpoint.etag,
        secret: secret.filter(|secret| !secret.is_empty()),
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

/// Adds an endpoint; a webhook's secret is printed once.
pub async fn add(settings: &Settings, connection: &Connection, new: NewEndpoint, json: bool) -> anyhow::Result<()> {
    let (kind, url, address) = match new.target {
        Target::Webhook(url) => (pb::EndpointKind::Webhook, url, String::new()),
        Target::Email(address) => (pb::EndpointKind::Email, String::new(), address),
    };
    let request = pb::CreateEndpointRequest {
        parent: format!("departments/{}", new.department),
        endpoint: Some(pb::NotificationEndpoint {
            kind: kind as i32,
            url,
            address,
            language: match new.language {
                LanguageArg::Zh => "zh".into(),
                LanguageArg::En => "en".into(),
            },
            levels: new.levels.iter().map(|level| level.to_proto() as i32).collect(),
            description: new.description,
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        validate_only: false,
    };
    let response = client(settings, connection)?
        .create_endpoint(request)
        .await
        .map_err(|s| call_failed("CreateEndpoint", s))?
        .into_inner();
    let endpoint = response.endpoint.unwrap_or_default();
    if json {
        return print_json(&endpoint_out(endpoint, Some(response.secret)));
    }
    println!("Added {}.", endpoint.name);
    if !response.secret.is_empty() {
        println!(
            "Its signing secret is shown only now; give it to the receiver, which checks each body's HMAC-SHA256:"
        );
        println!("  {}", response.secret);
    }
    Ok(())
}

/// Lists one unit's endpoints, or every one the caller may read (never their secrets).
pub async fn list(
    settings: &Settings,
    connection: &Connection,
    department: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let client = client(settings, connection)?;
    let parent = format!("departments/{}", department.as_deref().unwrap_or("-"));
    let listed = read_all_pages(|page_token| {
        let mut client = client.clone();
        let parent = parent.clone();
        async move {
            let page = client
                .list_endpoints(pb::ListEndpointsRequest {
                    parent,
                    page_size: READ_ALL_PAGE_SIZE,
                    page_token,
                })
                .await?
                .into_inner();
            Ok::<_, tonic::Status>((page.endpoints, page.next_page_token))
        }
    })
    .await
    .map_err(|s| call_failed("ListEndpoints", s))?;
    let endpoints: Vec<_> = listed.into_iter().map(|e| endpoint_out(e, None)).collect();
    if json {
        return print_json(&endpoints);
    }
    let rows: Vec<Vec<String>> = endpoints
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.kind.clone(),
                e.target.clone(),
                e.language.clone(),
                if e.levels.is_empty() {
                    "all".into()
                } else {
                    e.levels.join(",")
                },
                if e.enabled { "enabled" } else { "disabled" }.into(),
                e.secret_prefix.clone(),
                e.description.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "name",
                "kind",
                "target",
                "language",
                "levels",
                "state",
                "secret",
                "description"
            ],
            &rows
        )
    );
    Ok(())
}

/// Deletes an endpoint (and its secret).
pub async fn remove(settings: &Settings, connection: &Connection, name: &str, json: bool) -> anyhow::Result<()> {
    let removed = client(settings, connection)?
        .delete_endpoint(pb::DeleteEndpointRequest {
            name: name.to_owned(),
            etag: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
        })
        .await
        .map_err(|s| call_failed("DeleteEndpoint", s))?
        .into_inner();
    if json {
        return print_json(&endpoint_out(removed, None));
    }
    println!("Removed {}.", removed.name);
    Ok(())
}

/// Gives a webhook a new secret and prints it once; the old one stops at once.
pub async fn rotate_secret(settings: &Settings, connection: &Connection, name: &str, json: bool) -> anyhow::Result<()> {
    let response = client(settings, connection)?
        .rotate_endpoint_secret(pb::RotateEndpointSecretRequest {
            name: name.to_owned(),
            etag: String::new(),
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .map_err(|s| call_failed("RotateEndpointSecret", s))?
        .into_inner();
    let endpoint = response.endpoint.unwrap_or_default();
    if json {
        return print_json(&endpoint_out(endpoint, Some(response.secret)));
    }
    println!(
        "Rotated the secret of {}; the old one no longer signs. The new one is shown only now:",
        endpoint.name
    );
    println!("  {}", response.secret);
    Ok(())
}

/// Enables or disables an endpoint, keeping everything else.
pub async fn set_enabled(
    settings: &Settings,
    connection: &Connection,
    name: &str,
    enabled: bool,
    json: bool,
) -> anyhow::Result<()> {
    let updated = client(settings, connection)?
        .update_endpoint(pb::UpdateEndpointRequest {
            endpoint: Some(pb::NotificationEndpoint {
                name: name.to_owned(),
                enabled: Some(enabled),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["enabled".into()],
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
        })
        .await
        .map_err(|s| call_failed("UpdateEndpoint", s))?
        .into_inner();
    if json {
        return print_json(&endpoint_out(updated, None));
    }
    let state = if enabled { "Enabled" } else { "Disabled" };
    println!("{state} {}.", updated.name);
    Ok(())
}
