//! Notification endpoints over gRPC: where each unit wants its notices delivered, who
//! may manage them, and that a webhook's secret is shown once and then only to SERVICE.

use duban_kit::testing::Backend;
use duban_proto::departments::v1 as pb;
use prost_types::FieldMask;
use tonic::Code;

use crate::support::{self, TestServer, error_metadata, expect_code, violated_fields};

duban_kit::backend_tests!(
    endpoints_live_through_create_list_get_update_and_delete,
    endpoint_fields_are_validated_and_named,
    a_department_manages_its_own_endpoints_only,
    secrets_go_to_service_only_and_rotate,
    a_replayed_create_stores_once_and_does_not_repeat_the_secret,
);

const TAX: &str = "tax-bureau";
const ANTING: &str = "anting-town";

fn webhook(url: &str) -> pb::NotificationEndpoint {
    pb::NotificationEndpoint {
        kind: pb::EndpointKind::Webhook as i32,
        url: url.to_owned(),
        ..Default::default()
    }
}

fn email(address: &str) -> pb::NotificationEndpoint {
    pb::NotificationEndpoint {
        kind: pb::EndpointKind::Email as i32,
        address: address.to_owned(),
        ..Default::default()
    }
}

fn create(unit: &str, endpoint: pb::NotificationEndpoint, request_id: &str) -> pb::CreateEndpointRequest {
    pb::CreateEndpointRequest {
        parent: format!("departments/{unit}"),
        endpoint: Some(endpoint),
        request_id: request_id.to_owned(),
        validate_only: false,
    }
}

async fn list(client: &mut support::Client, parent: &str) -> Result<Vec<pb::NotificationEndpoint>, tonic::Status> {
    let response = client
        .list_endpoints(pb::ListEndpointsRequest {
            parent: parent.to_owned(),
            page_size: 0,
            page_token: String::new(),
        })
        .await?;
    Ok(response.into_inner().endpoints)
}

async fn get(client: &mut support::Client, name: &str) -> Result<pb::NotificationEndpoint, tonic::Status> {
    client
        .get_endpoint(pb::GetEndpointRequest { name: name.to_owned() })
        .await
        .map(tonic::Response::into_inner)
}

async fn delivery(t: &TestServer, parent: &str) -> Vec<pb::DeliveryEndpoint> {
    t.internal_service()
        .list_delivery_endpoints(pb::ListDeliveryEndpointsRequest {
            parent: parent.to_owned(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("SERVICE lists the delivery endpoints")
        .into_inner()
        .endpoints
}

/// A LEADERSHIP client, with a freshly issued token.
async fn leadership(t: &TestServer) -> support::Client {
    let token = t
        .admin()
        .issue_credential(pb::IssueCredentialRequest {
            credential: Some(pb::Credential {
                role: pb::Role::Leadership as i32,
                ..Default::default()
            }),
            request_id: String::new(),
            validate_only: false,
        })
        .await
        .expect("the admin issues a leadership credential")
        .into_inner()
        .token;
    t.client(Some(&token))
}

async fn endpoints_live_through_create_list_get_update_and_delete(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let created = admin
        .create_endpoint(create(
            TAX,
            pb::NotificationEndpoint {
                levels: vec![pb::NoticeLevel::Yellow as i32, pb::NoticeLevel::Red as i32],
                description: "  值班系统  ".into(),
                ..webhook("https://hooks.example.org/duban")
            },
            "",
        ))
        .await
        .expect("the admin adds a webhook")
        .into_inner();
    let hook = created.endpoint.clone().unwrap();
    assert!(
        created.secret.starts_with("dbn_whsec_") && created.secret.len() > 50,
        "{}",
        created.secret
    );
    assert!(
        hook.name.starts_with("departments/tax-bureau/endpoints/"),
        "{}",
        hook.name
    );
    assert_eq!(hook.secret_prefix, created.secret[..14]);
    assert_eq!(hook.language, "zh", "the default language");
    assert_eq!(hook.enabled, Some(true), "enabled unless asked otherwise");
    assert_eq!(hook.description, "值班系统", "trimmed");
    assert_eq!(
        hook.levels,
        [pb::NoticeLevel::Yellow as i32, pb::NoticeLevel::Red as i32]
    );

    let mail = admin
        .create_endpoint(create(
            TAX,
            pb::NotificationEndpoint {
                language: "en".into(),
                ..email("Duty.Office@Example.ORG")
            },
            "",
        ))
        .await
        .expect("the admin adds an e-mail endpoint")
        .into_inner();
    assert_eq!(mail.secret, "", "e-mail has no secret");
    let mail = mail.endpoint.unwrap();
    assert_eq!(
        mail.address, "Duty.Office@example.org",
        "the domain in its canonical form"
    );
    assert_eq!(mail.secret_prefix, "");

    // Listed and read back, never with the secret.
    let listed = list(&mut admin, "departments/tax-bureau").await.unwrap();
    assert_eq!(listed, [hook.clone(), mail.clone()]);
    assert!(list(&mut admin, "departments/anting-town").await.unwrap().is_empty());
    assert_eq!(list(&mut admin, "departments/-").await.unwrap().len(), 2);
    assert_eq!(get(&mut admin, &hook.name).await.unwrap(), hook);
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&created.secret[14..]), "a listing shows no secret");
    expect_code(list(&mut admin, "departments/no-such-unit").await, Code::NotFound);

    // An update with the etag and a mask changes only the masked fields.
    let updated = admin
        .update_endpoint(pb::UpdateEndpointRequest {
            endpoint: Some(pb::NotificationEndpoint {
                name: hook.name.clone(),
                etag: hook.etag.clone(),
                url: "https://hooks.example.org/v2".into(),
                description: "not masked, kept".into(),
                enabled: Some(false),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["url".into(), "enabled".into(), "levels".into()],
            }),
            request_id: String::new(),
            validate_only: false,
        })
        .await
        .expect("an update with the current etag")
        .into_inner();
    assert_eq!(updated.url, "https://hooks.example.org/v2");
    assert_eq!(updated.enabled, Some(false));
    assert_eq!(
        updated.levels,
        [] as [i32; 0],
        "levels cleared by the mask: every level"
    );
    assert_eq!(updated.description, "值班系统", "outside the mask");
    assert_eq!(updated.secret_prefix, hook.secret_prefix, "the secret stays");
    assert_ne!(updated.etag, hook.etag);
    assert_eq!(get(&mut admin, &hook.name).await.unwrap(), updated);

    // The stale etag is refused, on update and on delete.
    let stale = expect_code(
        admin
            .update_endpoint(pb::UpdateEndpointRequest {
                endpoint: Some(pb::NotificationEndpoint {
                    name: hook.name.clone(),
                    etag: hook.etag.clone(),
                    language: "en".into(),
                    ..Default::default()
                }),
                update_mask: None,
                request_id: String::new(),
                validate_only: false,
            })
            .await,
        Code::Aborted,
    );
    assert_eq!(
        error_metadata(&stale, "current_etag").as_deref(),
        Some(updated.etag.as_str())
    );
    let delete = |etag: &str| pb::DeleteEndpointRequest {
        name: hook.name.clone(),
        etag: etag.to_owned(),
        request_id: String::new(),
        validate_only: false,
    };
    expect_code(admin.delete_endpoint(delete(&hook.etag)).await, Code::Aborted);
    // The kind is immutable.
    let kind = expect_code(
        admin
            .update_endpoint(pb::UpdateEndpointRequest {
                endpoint: Some(pb::NotificationEndpoint {
                    name: hook.name.clone(),
                    ..email("a@example.org")
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["address".into()],
                }),
                request_id: String::new(),
                validate_only: false,
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&kind), ["endpoint.kind", "endpoint.address"]);

    let deleted = admin
        .delete_endpoint(delete(&updated.etag))
        .await
        .expect("a delete with the current etag")
        .into_inner();
    assert_eq!(deleted, updated, "the endpoint as it was");
    let gone = expect_code(get(&mut admin, &hook.name).await, Code::NotFound);
    assert_eq!(duban_kit::status::reason(&gone).as_deref(), Some("ENDPOINT_NOT_FOUND"));
    assert_eq!(list(&mut admin, "departments/tax-bureau").await.unwrap(), [mail]);
    t.stop().await;
}

async fn endpoint_fields_are_validated_and_named(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let refused = |result| {
        let status = expect_code(result, Code::InvalidArgument);
        violated_fields(&status)
    };
    assert_eq!(
        refused(
            admin
                .create_endpoint(create(TAX, webhook("http://hooks.example.org/x"), ""))
                .await
        ),
        ["endpoint.url"],
        "plain http to a host that is not loopback"
    );
    assert_eq!(
        refused(admin.create_endpoint(create(TAX, email("not an address"), "")).await),
        ["endpoint.address"]
    );
    let unknown_level = pb::NotificationEndpoint {
        levels: vec![pb::NoticeLevel::Blue as i32, 42],
        ..email("duty@example.org")
    };
    assert_eq!(
        refused(admin.create_endpoint(create(TAX, unknown_level, "")).await),
        ["endpoint.levels[1]"]
    );
    let no_kind = pb::NotificationEndpoint {
        url: "https://hooks.example.org/x".into(),
        ..Default::default()
    };
    assert_eq!(
        refused(admin.create_endpoint(create(TAX, no_kind, "")).await),
        ["endpoint.kind"]
    );
    // http to loopback is accepted, for development and tests.
    admin
        .create_endpoint(create(TAX, webhook("http://127.0.0.1:8099/hook"), ""))
        .await
        .expect("http to loopback");
    assert_eq!(
        list(&mut admin, "departments/tax-bureau").await.unwrap().len(),
        1,
        "nothing refused was stored"
    );

    // At most 10 per unit: the eleventh is refused, naming the parent, and not stored.
    for n in 2..=10 {
        admin
            .create_endpoint(create(TAX, email(&format!("duty{n}@example.org")), ""))
            .await
            .expect("up to 10 endpoints");
    }
    let full = expect_code(
        admin
            .create_endpoint(create(TAX, email("eleventh@example.org"), ""))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        duban_kit::status::reason(&full).as_deref(),
        Some("ENDPOINT_LIMIT_REACHED")
    );
    assert_eq!(error_metadata(&full, "field").as_deref(), Some("parent"));
    assert_eq!(error_metadata(&full, "limit").as_deref(), Some("10"));
    assert_eq!(list(&mut admin, "departments/tax-bureau").await.unwrap().len(), 10);
    // Another unit has its own 10.
    admin
        .create_endpoint(create(ANTING, email("anting@example.org"), ""))
        .await
        .expect("the limit is per unit");
    // A freed place can be taken again.
    let first = list(&mut admin, "departments/tax-bureau").await.unwrap().remove(0);
    admin
        .delete_endpoint(pb::DeleteEndpointRequest {
            name: first.name,
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .create_endpoint(create(TAX, email("eleventh@example.org"), ""))
        .await
        .expect("a place freed by a delete");
    t.stop().await;
}

async fn a_department_manages_its_own_endpoints_only(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut tax = t.department(TAX).await;
    let own = tax
        .create_endpoint(create(TAX, email("duty@tax.example.org"), ""))
        .await
        .expect("a department adds its own endpoint")
        .into_inner()
        .endpoint
        .unwrap();
    let theirs = t
        .admin()
        .create_endpoint(create(ANTING, email("duty@anting.example.org"), ""))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap();
    // Its own: listed (also as `-`), read, changed, deleted.
    assert_eq!(
        list(&mut tax, "departments/-").await.unwrap(),
        std::slice::from_ref(&own),
        "`-` is its own only"
    );
    assert_eq!(get(&mut tax, &own.name).await.unwrap(), own);
    tax.update_endpoint(pb::UpdateEndpointRequest {
        endpoint: Some(pb::NotificationEndpoint {
            name: own.name.clone(),
            enabled: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("a department disables its own endpoint");

    // Another unit's: every call refused, nothing changed.
    let denied = |result| {
        let status = expect_code(result, Code::PermissionDenied);
        duban_kit::status::reason(&status)
    };
    let not_own = Some("NOT_OWN_DEPARTMENT".to_owned());
    assert_eq!(
        denied(
            tax.create_endpoint(create(ANTING, email("x@example.org"), ""))
                .await
                .map(drop)
        ),
        not_own
    );
    assert_eq!(
        denied(list(&mut tax, "departments/anting-town").await.map(drop)),
        not_own
    );
    assert_eq!(denied(get(&mut tax, &theirs.name).await.map(drop)), not_own);
    let patch = pb::UpdateEndpointRequest {
        endpoint: Some(pb::NotificationEndpoint {
            name: theirs.name.clone(),
            enabled: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(denied(tax.update_endpoint(patch).await.map(drop)), not_own);
    let delete = pb::DeleteEndpointRequest {
        name: theirs.name.clone(),
        ..Default::default()
    };
    assert_eq!(denied(tax.delete_endpoint(delete).await.map(drop)), not_own);
    assert_eq!(get(&mut t.admin(), &theirs.name).await.unwrap(), theirs, "unchanged");

    // LEADERSHIP and SERVICE read every unit's and change none.
    let mut leadership = leadership(&t).await;
    assert_eq!(list(&mut leadership, "departments/-").await.unwrap().len(), 2);
    assert_eq!(get(&mut t.service(), &theirs.name).await.unwrap(), theirs);
    let role = Some("ROLE_NOT_ALLOWED".to_owned());
    assert_eq!(
        denied(
            leadership
                .create_endpoint(create(TAX, email("l@example.org"), ""))
                .await
                .map(drop)
        ),
        role
    );
    t.stop().await;
}

async fn secrets_go_to_service_only_and_rotate(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut admin = t.admin();
    let created = admin
        .create_endpoint(create(TAX, webhook("https://hooks.example.org/tax"), ""))
        .await
        .unwrap()
        .into_inner();
    let hook = created.endpoint.unwrap();
    let mail = admin
        .create_endpoint(create(ANTING, email("duty@anting.example.org"), ""))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap();
    let paused = admin
        .create_endpoint(create(
            ANTING,
            pb::NotificationEndpoint {
                enabled: Some(false),
                ..webhook("https://hooks.example.org/paused")
            },
            "",
        ))
        .await
        .unwrap()
        .into_inner()
        .endpoint
        .unwrap();
    assert_eq!(paused.enabled, Some(false));

    // SERVICE gets the enabled endpoints with their secrets, of one unit or of all.
    let all = delivery(&t, "").await;
    let names: Vec<_> = all.iter().map(|d| d.endpoint.as_ref().unwrap().name.clone()).collect();
    assert_eq!(
        names,
        [mail.name.clone(), hook.name.clone()],
        "by unit code; the disabled one left out"
    );
    assert_eq!(all[1].secret, created.secret);
    assert_eq!(all[0].secret, "", "e-mail has none");
    let tax = delivery(&t, "departments/tax-bureau").await;
    assert_eq!(tax.len(), 1);
    assert_eq!(tax[0].secret, created.secret);

    // Nobody else, not even ADMIN, and a department least of all.
    let request = pb::ListDeliveryEndpointsRequest::default();
    let admin_token = t.settings().auth.bootstrap_admin_token.clone();
    expect_code(
        t.internal(&admin_token).list_delivery_endpoints(request.clone()).await,
        Code::PermissionDenied,
    );
    let (_, department_token) = support::issue_department_token(&mut admin, TAX, "").await;
    expect_code(
        t.internal(&department_token).list_delivery_endpoints(request).await,
        Code::PermissionDenied,
    );

    // Rotating replaces the secret at once; the old one is gone.
    let rotated = admin
        .rotate_endpoint_secret(pb::RotateEndpointSecretRequest {
            name: hook.name.clone(),
            etag: hook.etag.clone(),
            request_id: String::new(),
        })
        .await
        .expect("rotate with the current etag")
        .into_inner();
    assert!(rotated.secret.starts_with("dbn_whsec_"));
    assert_ne!(rotated.secret, created.secret);
    let endpoint = rotated.endpoint.unwrap();
    assert_eq!(endpoint.secret_prefix, rotated.secret[..14]);
    assert_ne!(endpoint.etag, hook.etag);
    assert_eq!(delivery(&t, "departments/tax-bureau").await[0].secret, rotated.secret);
    // With the old etag: refused. An e-mail endpoint has no secret to rotate.
    let rotate = |name: &str, etag: &str| pb::RotateEndpointSecretRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        request_id: String::new(),
    };
    expect_code(
        admin.rotate_endpoint_secret(rotate(&hook.name, &hook.etag)).await,
        Code::Aborted,
    );
    let not_webhook = expect_code(
        admin.rotate_endpoint_secret(rotate(&mail.name, "")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        duban_kit::status::reason(&not_webhook).as_deref(),
        Some("ENDPOINT_NOT_WEBHOOK")
    );
    t.stop().await;
}

async fn a_replayed_create_stores_once_and_does_not_repeat_the_secret(backend: Backend) {
    let Some(t) = TestServer::start(backend).await else {
        return;
    };
    let mut tax = t.department(TAX).await;
    let request = create(TAX, webhook("https://hooks.example.org/once"), "create-once-1");
    let first = tax.create_endpoint(request.clone()).await.unwrap().into_inner();
    let again = tax.create_endpoint(request.clone()).await.unwrap().into_inner();
    assert!(!first.secret.is_empty());
    assert_eq!(again.endpoint, first.endpoint, "the same endpoint");
    assert_eq!(again.secret, "", "the secret is shown once only");
    assert_eq!(
        list(&mut tax, "departments/tax-bureau").await.unwrap().len(),
        1,
        "stored once"
    );
    // The same id with another request is refused.
    let other = create(TAX, webhook("https://hooks.example.org/other"), "create-once-1");
    let reused = expect_code(tax.create_endpoint(other).await, Code::InvalidArgument);
    assert_eq!(duban_kit::status::reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));

    // A replayed rotation answers the same endpoint without a second new secret.
    let name = first.endpoint.unwrap().name;
    let rotate = pb::RotateEndpointSecretRequest {
        name: name.clone(),
        etag: String::new(),
        request_id: "rotate-once-1".into(),
    };
    let rotated = tax.rotate_endpoint_secret(rotate.clone()).await.unwrap().into_inner();
    let replayed = tax.rotate_endpoint_secret(rotate).await.unwrap().into_inner();
    assert_eq!(replayed.endpoint, rotated.endpoint);
    assert_eq!(replayed.secret, "");
    assert_eq!(
        delivery(&t, "departments/tax-bureau").await[0].secret,
        rotated.secret,
        "rotated once"
    );
    // validate_only checks and stores nothing.
    let dry = tax
        .create_endpoint(pb::CreateEndpointRequest {
            validate_only: true,
            ..create(TAX, email("dry@example.org"), "")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dry.secret, "");
    assert_eq!(list(&mut tax, "departments/tax-bureau").await.unwrap().len(), 1);
    t.stop().await;
}
