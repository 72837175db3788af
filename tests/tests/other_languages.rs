//! Clients written in other languages than Rust, run as a department's integrator runs
//! them: Python's grpcio reflection client (v1alpha only) discovering and probing a
//! server, and the department systems of `examples/` (Python with grpcio, Node.js with
//! @grpc/grpc-js) filing a report through the gateway's front door.

use std::{path::PathBuf, process::Command};

use duban_harness::{Caller, PLAN, Server, Suite};
use duban_kit::testing::Backend;
use duban_proto::{departments::v1::Role, reporting::v1 as pb};
use duban_tests::workspace_root;

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

/// One of the department systems in `examples/`, each in its own language.
#[derive(Debug, Clone, Copy)]
enum Example {
    /// `examples/python`: grpcio, stubs generated from `proto/` with grpcio-tools.
    Python,
    /// `examples/node`: @grpc/grpc-js, `proto/` loaded at run time by @grpc/proto-loader.
    Node,
}

impl Example {
    /// Set to `1` (CI does) to fail, rather than skip, when this example cannot run.
    fn require_var(self) -> &'static str {
        match self {
            Example::Python => "DUBAN_REQUIRE_PYTHON",
            Example::Node => "DUBAN_REQUIRE_NODE",
        }
    }

    /// The department it runs as: two, so that both file into one suite without
    /// touching each other's reports, each reporting targets with decimal places.
    fn department(self) -> &'static str {
        match self {
            Example::Python => "commerce-commission",
            Example::Node => "tax-bureau",
        }
    }

    fn directory(self) -> PathBuf {
        workspace_root().join(match self {
            Example::Python => "examples/python",
            Example::Node => "examples/node",
        })
    }

    /// What is missing to run it (its runtime or its pinned packages); `None` if nothing.
    fn missing(self) -> Option<&'static str> {
        let (program, args, what) = match self {
            Example::Python => (
                "python3",
                [
                    "-c",
                    "import grpc, grpc_tools, grpc_status, google.rpc.error_details_pb2",
                ],
                "python3 cannot import grpc, grpc_tools, grpc_status and google.rpc \
                 (pip install -r examples/python/requirements.txt)",
            ),
            Example::Node => (
                "node",
                [
                    "-e",
                    "require('@grpc/grpc-js'); require('@grpc/proto-loader'); require('protobufjs')",
                ],
                "node cannot load @grpc/grpc-js, @grpc/proto-loader and protobufjs (npm ci in examples/node)",
            ),
        };
        let installed = Command::new(program)
            .args(args)
            .current_dir(self.directory())
            .output()
            .is_ok_and(|output| output.status.success());
        (!installed).then_some(what)
    }

    /// The command that runs it against `address` as `token`: the Python one with
    /// flags, the Node.js one with DUBAN_ADDRESS and DUBAN_TOKEN, so both ways work.
    fn command(self, address: &str, token: &str) -> Command {
        let mut command = match self {
            Example::Python => {
                let mut command = Command::new("python3");
                command.arg(self.directory().join("department_system.py")).args([
                    "--address",
                    address,
                    "--token",
                    token,
                ]);
                command
            }
            Example::Node => {
                let mut command = Command::new("node");
                command
                    .arg(self.directory().join("department_system.js"))
                    .env("DUBAN_ADDRESS", address)
                    .env("DUBAN_TOKEN", token);
                command
            }
        };
        command.env_remove("DUBAN_PLAN");
        command
    }
}

/// What an example printed about the report it filed, line by line (see the scripts).
#[derive(Debug, Default)]
struct Filed {
    /// `caller {code} ...`: the department GetCallerIdentity named.
    caller: String,
    /// `obligation {report} ...`: the report it chose to file.
    obligation: String,
    /// `fill {target} {value} {unit} {basis} ...`: every value it sent.
    values: Vec<[String; 4]>,
    /// `submitted {report} revision {n} ...`.
    submitted: Option<(String, String)>,
    /// `retried {report} revision {n} ...`: the same request sent again.
    retried: Option<(String, String)>,
    /// `violation {field}: ...`: the BadRequest of the deliberately wrong value.
    violations: Vec<String>,
}

impl Filed {
    fn parse(stdout: &str) -> Filed {
        let mut filed = Filed::default();
        for line in stdout.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let word = |i: usize| words.get(i).map_or_else(String::new, |w| (*w).to_owned());
            match words.first().copied() {
                Some("caller") => filed.caller = word(1),
                Some("obligation") => filed.obligation = word(1),
                Some("fill") => filed.values.push([word(1), word(2), word(3), word(4)]),
                Some("submitted") => filed.submitted = Some((word(1), word(3))),
                Some("retried") => filed.retried = Some((word(1), word(3))),
                Some("violation") => filed.violations.push(word(1).trim_end_matches(':').to_owned()),
                _ => {}
            }
        }
        filed
    }
}

/// Runs `example` against the gateway's front door as its department and checks, from
/// its output and through the generated Rust clients, that it did what the integration
/// guide says: one revision stored with exactly the values sent, every slot of the
/// template filled, the retry answered with the same revision, the wrong value refused
/// with its field named.
async fn run_example(suite: &Suite, example: Example) {
    let department = example.department();
    let token = suite.issue_token(Role::Department, department).await;
    let address = suite.addr(Server::Gateway).to_string();
    let mut command = example.command(&address, &token);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("{example:?} example does not start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!("{stdout}\n--- stderr ---\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{example:?} example failed:\n{report}");
    eprintln!("--- {example:?} example ---\n{stdout}");

    let filed = Filed::parse(&stdout);
    assert_eq!(filed.caller, department, "{report}");
    let (name, revision) = filed
        .submitted
        .clone()
        .unwrap_or_else(|| panic!("no submission:\n{report}"));
    assert_eq!(name, filed.obligation, "it submits the obligation it chose:\n{report}");
    assert_eq!(revision, "1", "a fresh suite stores revision 1:\n{report}");
    assert_eq!(
        filed.retried, filed.submitted,
        "the retry returns the first revision:\n{report}"
    );
    assert!(
        filed
            .violations
            .iter()
            .any(|field| field.starts_with("report.metric_values[") && field.ends_with("].value")),
        "the BadRequest names the value with too many decimal places:\n{report}"
    );

    let mut reporting = suite.reporting(Caller::Admin);
    let revisions = reporting
        .list_report_revisions(pb::ListReportRevisionsRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .reports;
    assert_eq!(
        revisions.len(),
        1,
        "one revision: the retry and the refused value stored nothing:\n{report}"
    );
    let stored = &revisions[0];
    let mut stored_values: Vec<[String; 4]> = stored
        .metric_values
        .iter()
        .map(|value| {
            [
                value.target_code.clone(),
                value.value.clone().unwrap_or_default().value,
                value.unit().as_str_name().to_owned(),
                value.basis().as_str_name().to_owned(),
            ]
        })
        .collect();
    let mut sent = filed.values.clone();
    stored_values.sort();
    sent.sort();
    assert_eq!(stored_values, sent, "stored exactly the values sent:\n{report}");

    let obligations = reporting
        .list_obligations(pb::ListObligationsRequest {
            parent: PLAN.into(),
            department: department.into(),
            measure_number: stored.measure_number.clone(),
            start_period: stored.period,
            end_period: stored.period,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .obligations;
    let [obligation] = obligations.as_slice() else {
        panic!("one obligation for {name}: {obligations:?}");
    };
    let slots: Vec<&str> = obligation
        .template
        .iter()
        .flat_map(|template| &template.slots)
        .map(|slot| slot.target_code.as_str())
        .collect();
    let filled: Vec<&str> = sent.iter().map(|value| value[0].as_str()).collect();
    assert!(!slots.is_empty(), "{name} has figures to report");
    assert_eq!(filled, slots, "every slot of the template is filled:\n{report}");
    assert_eq!(obligation.state(), pb::ObligationState::Submitted);
}

#[tokio::test]
async fn example_department_systems_file_a_report_through_the_front_door() {
    let runnable: Vec<Example> = [Example::Python, Example::Node]
        .into_iter()
        .filter(|example| {
            let Some(missing) = example.missing() else {
                return true;
            };
            let var = example.require_var();
            assert!(std::env::var(var).as_deref() != Ok("1"), "{var}=1 but {missing}");
            eprintln!("\n!!! {missing}: SKIPPING the {example:?} example\n");
            false
        })
        .collect();
    if runnable.is_empty() {
        return;
    }
    let suite = Suite::builder(Backend::Sqlite)
        .all()
        .start()
        .await
        .expect("sqlite is always available");
    for example in runnable {
        run_example(&suite, example).await;
    }
    suite.stop().await;
}
