//! What the tests of the `duban` binary share: `duban up` as a child process on free
//! loopback ports with its own data directory, the other subcommands run against it, and
//! plain HTTP/1.1 requests to the gateway, as a browser sends them.

// Every test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError, Sender},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The binary under test.
pub const DUBAN: &str = env!("CARGO_BIN_EXE_duban");

/// How long `duban up` may take to print its banner.
const STARTUP: Duration = Duration::from_secs(120);

/// A free loopback port (free when asked; the suite binds it soon after).
pub fn free_port() -> u16 {
    duban_kit::testing::unclaimed_port()
}

/// How `duban up` logs, and where its standard error goes.
pub enum Logging {
    /// `RUST_LOG=warn`, standard error into the test's own: a failing test shows it.
    Quiet,
    /// `RUST_LOG` set to this filter, standard error captured for [`Suite::stop`] to return.
    Captured(&'static str),
}

/// Everything `duban up` printed, once it has exited.
#[derive(Debug, Default)]
pub struct Output {
    /// Standard output, line by line: its banner, and its log lines (`duban up` logs there).
    pub stdout: Vec<String>,
    /// Standard error, line by line (empty under [`Logging::Quiet`], which passes it through).
    pub stderr: Vec<String>,
}

/// `duban up` in its own data directory, on free loopback ports. Dropping it kills the
/// process, so that a failing assertion never leaves a suite running.
pub struct Suite {
    child: Child,
    /// The environment that configures it, which every command run against it gets too.
    pub env: Vec<(String, String)>,
    /// What it printed to standard output up to the last line of its banner ("Stop: …").
    pub stdout: Vec<String>,
    stdout_reader: Option<JoinHandle<Vec<String>>>,
    stderr_reader: Option<JoinHandle<Vec<String>>>,
}

/// Reads `stream` to its end on a thread of its own, so that the server never writes into
/// a full or closed pipe; the thread returns every line, and sends each to `lines` as it
/// arrives, while anyone listens.
fn read_lines(stream: impl Read + Send + 'static, lines: Option<Sender<String>>) -> JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(lines) = &lines {
                let _ = lines.send(line.clone());
            }
            all.push(line);
        }
        all
    })
}

/// Waits for the banner's last line; every line received until then.
fn banner(lines: &Receiver<String>) -> Result<Vec<String>, Vec<String>> {
    let deadline = Instant::now() + STARTUP;
    let mut received = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("Stop:");
                received.push(line);
                if done {
                    return Ok(received);
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return Err(received),
        }
    }
}

impl Suite {
    /// The environment of a suite in `data_dir`: every server on a free loopback port.
    pub fn env_for(data_dir: &Path) -> Vec<(String, String)> {
        let mut env = vec![("DUBAN__DATA_DIR".to_owned(), data_dir.display().to_string())];
        for server in duban_cli::SERVICES {
            env.push((
                format!("DUBAN__{}__LISTEN", server.to_uppercase()),
                format!("127.0.0.1:{}", free_port()),
            ));
            // Nothing reaches the metrics in these tests: any free port will do.
            env.push((
                format!("DUBAN__{}__METRICS_LISTEN", server.to_uppercase()),
                "127.0.0.1:0".to_owned(),
            ));
        }
        env
    }

    /// Starts `duban up`, logging only warnings, and waits for its "Duban is up." banner.
    pub fn up(env: Vec<(String, String)>) -> Suite {
        Suite::start(env, Logging::Quiet)
    }

    /// Starts `duban up` logging as `logging` says, and waits for its banner.
    pub fn start(env: Vec<(String, String)>, logging: Logging) -> Suite {
        let (filter, stderr) = match logging {
            Logging::Quiet => ("warn", Stdio::inherit()),
            Logging::Captured(filter) => (filter, Stdio::piped()),
        };
        let mut child = Command::new(DUBAN)
            .arg("up")
            .envs(env.iter().cloned())
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("duban up starts");
        let (sender, receiver) = mpsc::channel();
        let stdout_reader = read_lines(child.stdout.take().unwrap(), Some(sender));
        let stderr_reader = child.stderr.take().map(|stderr| read_lines(stderr, None));
        match banner(&receiver) {
            Ok(stdout) => Suite {
                child,
                env,
                stdout,
                stdout_reader: Some(stdout_reader),
                stderr_reader,
            },
            Err(printed) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("duban up never said it was up; it printed:\n{}", printed.join("\n"));
            }
        }
    }

    /// Runs `duban <args>` against the suite; its standard output. It must succeed.
    pub fn run(&self, args: &[&str]) -> String {
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

    /// Runs a command that must fail; returns its stderr.
    pub fn run_failing(&self, args: &[&str]) -> String {
        let output = Command::new(DUBAN)
            .args(args)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "duban {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).unwrap()
    }

    /// Runs a command that prints JSON; the JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.run(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("duban {args:?} printed no JSON ({e}):\n{text}"))
    }

    /// The value of the environment variable `name` the suite was started with.
    pub fn setting(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(variable, _)| variable == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("{name} is not set"))
    }

    /// Ctrl-C, as a person would stop it; it must exit cleanly and promptly. Everything it
    /// printed, from its first line to its last.
    pub fn stop(mut self) -> Output {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "duban up exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "duban up did not stop within 20 s of Ctrl-C");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The process is gone, so both pipes are at their end and the readers finish.
        let collect = |reader: Option<JoinHandle<Vec<String>>>| {
            reader.map_or_else(Vec::new, |reader| reader.join().expect("a pipe reader panicked"))
        };
        Output {
            stdout: collect(self.stdout_reader.take()),
            stderr: collect(self.stderr_reader.take()),
        }
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        // After `stop` the process has exited and this does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request, as a browser would send it: the whole answer, head and body.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

/// A plain HTTP/1.1 GET, as a browser would send it.
pub fn http_get(addr: &str, path: &str) -> String {
    http(addr, "GET", path, &[], "")
}
