//! The README's contract, end to end through the real binary: `duban up` starts every
//! server and loads the plan, the other subcommands read it back, and a second start
//! changes nothing.

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

const DUBAN: &str = env!("CARGO_BIN_EXE_duban");

/// `duban up` in its own data directory, on free loopback ports.
struct Suite {
    child: Child,
    env: Vec<(String, String)>,
    stdout: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Suite {
    fn env_for(data_dir: &Path) -> Vec<(String, String)> {
        let mut env = vec![("DUBAN__DATA_DIR".to_owned(), data_dir.display().to_string())];
        for server in duban_cli::SERVICES {
            env.push((
                format!("DUBAN__{}__LISTEN", server.to_uppercase()),
                format!("127.0.0.1:{}", free_port()),
            ));
        }
        env
    }

    /// Starts `duban up` and waits for its "Duban is up." banner.
    fn up(env: Vec<(String, String)>) -> Suite {
        let mut child = Command::new(DUBAN)
            .arg("up")
            .envs(env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("duban up starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut stdout = Vec::new();
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    let done = line.starts_with("Stop:");
                    stdout.push(line);
                    if done {
                        // Keep reading, so that the server never writes into a closed pipe.
                        std::thread::spawn(move || lines.for_each(drop));
                        return Suite { child, env, stdout };
                    }
                }
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("duban up never said it was up; it printed:\n{}", stdout.join("\n"));
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new(DUBAN)
            .args(args)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "duban {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Ctrl-C, as a person would stop it; it must exit cleanly and promptly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "duban up exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "duban up did not stop within 20 s of Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn up_loads_the_plan_once_and_the_commands_read_it_back() {
    let data = tempfile::tempdir().unwrap();
    let env = Suite::env_for(data.path());

    let suite = Suite::up(env.clone());
    let banner = suite.stdout.join("\n");
    for server in duban_cli::SERVICES {
        assert!(
            banner.lines().any(|l| l.starts_with(server) && l.contains("SERVING")),
            "{server} not SERVING:\n{banner}"
        );
    }
    assert!(
        banner.contains("Plan jiading-2023 (嘉府规〔2023〕1号) revision 1: created"),
        "{banner}"
    );
    assert!(
        data.path().join("admin.token").exists(),
        "the development admin token is kept for the other commands"
    );

    let listing: Value = serde_json::from_str(&suite.run(&["departments", "list", "--json"])).unwrap();
    let units = listing["departments"].as_array().unwrap();
    assert_eq!(units.len(), 46, "34 units of the plan and 12 towns and streets");
    assert!(
        units
            .iter()
            .any(|u| u["code"] == "tax-bureau" && u["name"] == "区税务局")
    );
    assert_eq!(units.iter().filter(|u| u["kind"] == "town_or_street").count(), 12);
    let groups = listing["groups"].as_array().unwrap();
    let all_towns = groups
        .iter()
        .find(|g| g["name"] == "各街镇")
        .expect("各街镇 is a group");
    assert_eq!(all_towns["members"].as_array().unwrap().len(), 12);

    let export: Value = serde_json::from_str(&suite.run(&["plan", "export", "--format", "json"])).unwrap();
    assert_eq!(export["plan"]["document_number"], "嘉府规〔2023〕1号");
    let actions = export["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 10);
    let measures: Vec<&Value> = actions.iter().flat_map(|a| a["measures"].as_array().unwrap()).collect();
    assert_eq!(measures.len(), 29);
    for measure in &measures {
        for unit in measure["responsible_units"].as_array().unwrap() {
            assert!(
                unit["code"].as_str().is_some_and(|c| !c.is_empty()),
                "unresolved unit in {}: {unit}",
                measure["number"]
            );
            assert!(unit["kind"] == "department" || unit["kind"] == "group", "{unit}");
        }
    }
    let targets: Vec<&Value> = measures.iter().flat_map(|m| m["targets"].as_array().unwrap()).collect();
    assert_eq!(targets.len(), 25);
    let new_enterprises = targets.iter().find(|t| t["code"] == "new-enterprises").unwrap();
    assert_eq!(new_enterprises["value"], 40000.0);
    assert_eq!(new_enterprises["unit"], "enterprises");
    assert_eq!(new_enterprises["comparator"], "at_least");
    assert_eq!(new_enterprises["deadline"], "2023-12-31");
    let first = &measures[0]["responsible_units"][0];
    assert_eq!(
        (first["as_written"].as_str(), first["lead"].as_bool()),
        (Some("区税务局"), Some(true))
    );

    let csv = suite.run(&["plan", "export", "--format", "csv"]);
    assert!(csv.starts_with("action,measure,measure_title,position,as_written,code,name,kind,lead\n"));
    assert!(
        csv.lines()
            .any(|l| l.contains("区经委(金融办),economic-commission,区经委,department")),
        "{csv}"
    );

    let issued: Value =
        serde_json::from_str(&suite.run(&["token", "issue", "--department", "tax-bureau", "--json"])).unwrap();
    assert!(issued["token"].as_str().unwrap().starts_with("dbn_"));
    suite.stop();

    // The same data directory again: nothing new is loaded.
    let again = Suite::up(env);
    assert!(
        again
            .stdout
            .join("\n")
            .contains("Plan jiading-2023 (嘉府规〔2023〕1号) revision 1: unchanged"),
        "{:?}",
        again.stdout
    );
    again.stop();
}
