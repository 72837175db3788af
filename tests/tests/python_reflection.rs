//! A Python grpcio client, speaking only reflection v1alpha, can discover and probe a
//! Duban server: what a department's integrator with Python would do first.

use std::{process::Command, time::Duration};

use duban_catalog::directory::Directory;
use duban_kit::testing::{Backend, TestDatabase, test_settings, wait_serving};

const SERVICE: &str = "duban.departments.v1.DepartmentsService";

fn python_has_grpc() -> bool {
    Command::new("python3")
        .args(["-c", "import grpc, grpc_reflection, grpc_health"])
        .output()
        .is_ok_and(|output| output.status.success())
}

#[tokio::test]
async fn python_reflection_v1alpha_client_lists_and_describes_the_departments_service() {
    if !python_has_grpc() {
        assert!(
            std::env::var("DUBAN_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "DUBAN_REQUIRE_PYTHON=1 but python3 cannot import grpc, grpc_reflection and grpc_health"
        );
        eprintln!("\n!!! python3 with grpcio, grpcio-reflection and grpcio-health-checking is missing: SKIPPING\n");
        return;
    }
    let database = TestDatabase::new(Backend::Sqlite)
        .await
        .expect("sqlite is always available");
    let settings = test_settings(database.url());
    let directory = Directory::from_toml_str(duban_catalog::JIADING_DIRECTORY).unwrap();
    let server = duban_departments::start(&settings, directory).await.unwrap();
    let addr = server.local_addr();
    wait_serving(addr, SERVICE, Duration::from_secs(30)).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/reflection_client.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &addr.to_string(), SERVICE])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&"service duban.departments.v1.DepartmentsService"),
        "{stdout}"
    );
    assert!(lines.contains(&"service grpc.health.v1.Health"), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("descriptor ") && !line.starts_with("descriptor 0 ")),
        "{stdout}"
    );
    assert!(lines.contains(&"health SERVING"), "{stdout}");
    server.shutdown().await;
}
