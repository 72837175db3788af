//! A Python grpcio client, speaking only reflection v1alpha, can discover and probe a
//! Duban server: what a department's integrator with Python would do first.

use std::process::Command;

use duban_harness::{Server, Suite};
use duban_kit::testing::Backend;

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
    let suite = Suite::builder(Backend::Sqlite)
        .with(Server::Departments)
        .start()
        .await
        .expect("sqlite is always available");
    let addr = suite.addr(Server::Departments);

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
    suite.stop().await;
}
