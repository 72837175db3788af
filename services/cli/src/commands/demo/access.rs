//! How the demo reaches the services: clients with a given token, and short-lived tokens of its own.

use std::time::Duration;

use duban_kit::{Settings, client::ServiceChannel};
use duban_proto::{
    departments::v1::{self as departments, departments_service_client::DepartmentsServiceClient},
    measures::v1::measures_service_client::MeasuresServiceClient,
    reporting::v1::{
        notices_service_client::NoticesServiceClient, reporting_service_client::ReportingServiceClient,
        supervision_orders_service_client::SupervisionOrdersServiceClient,
    },
    targets::v1::targets_service_client::TargetsServiceClient,
};

use crate::commands::{Connection, call_failed};

/// A client for each of the four services, all with the same token.
pub(crate) struct Clients {
    pub(crate) departments: DepartmentsServiceClient<ServiceChannel>,
    pub(crate) measures: MeasuresServiceClient<ServiceChannel>,
    pub(crate) targets: TargetsServiceClient<ServiceChannel>,
    pub(crate) reporting: ReportingServiceClient<ServiceChannel>,
}

pub(crate) fn clients(settings: &Settings, connection: &Connection, token: Option<&str>) -> anyhow::Result<Clients> {
    // Bulk streams take longer than one call.
    let timeout = Duration::from_secs(connection.timeout.max(600));
    let connection = Connection {
        token: token.map(str::to_owned).or_else(|| connection.token.clone()),
        ..connection.clone()
    };
    Ok(Clients {
        departments: DepartmentsServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.departments.endpoint_url(),
            timeout,
        )?),
        measures: MeasuresServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.measures.endpoint_url(),
            timeout,
        )?),
        targets: TargetsServiceClient::new(connection.channel_with_timeout(
            settings,
            &settings.targets.endpoint_url(),
            timeout,
        )?),
        reporting: ReportingServiceClient::new(connection.channel_with_timeout(
            settings,
            &connection.endpoint(&settings.reporting.endpoint_url()),
            timeout,
        )?),
    })
}

/// A notices client.
pub(crate) type NoticesClient = NoticesServiceClient<ServiceChannel>;
/// A supervision orders client.
pub(crate) type OrdersClient = SupervisionOrdersServiceClient<ServiceChannel>;

/// Clients of the reporting server's follow-up services, with `token` or the command's own.
pub(crate) fn follow_up_clients(
    settings: &Settings,
    connection: &Connection,
    token: Option<&str>,
) -> anyhow::Result<(NoticesClient, OrdersClient)> {
    let connection = Connection {
        token: token.map(str::to_owned).or_else(|| connection.token.clone()),
        ..connection.clone()
    };
    let channel = connection.channel_with_timeout(
        settings,
        &connection.endpoint(&settings.reporting.endpoint_url()),
        Duration::from_secs(connection.timeout.max(60)),
    )?;
    Ok((
        NoticesServiceClient::new(channel.clone()),
        SupervisionOrdersServiceClient::new(channel),
    ))
}

/// Issues a token, for the demo only; the caller revokes it when done.
pub(crate) async fn issue_token(
    departments_client: &mut DepartmentsServiceClient<ServiceChannel>,
    role: departments::Role,
    department: &str,
    description: String,
) -> anyhow::Result<(String, String)> {
    let response = departments_client
        .issue_credential(departments::IssueCredentialRequest {
            credential: Some(departments::Credential {
                role: role as i32,
                department: department.to_owned(),
                description,
                ..Default::default()
            }),
            request_id: uuid::Uuid::new_v4().to_string(),
            validate_only: false,
        })
        .await
        .map_err(|s| call_failed("IssueCredential", s))?
        .into_inner();
    let name = response.credential.map(|c| c.name).unwrap_or_default();
    Ok((name, response.token))
}

pub(crate) async fn revoke_token(departments_client: &mut DepartmentsServiceClient<ServiceChannel>, name: &str) {
    let request = departments::RevokeCredentialRequest {
        name: name.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    if let Err(status) = departments_client.revoke_credential(request).await {
        eprintln!("warning: {}", call_failed(&format!("RevokeCredential {name}"), status));
    }
}
