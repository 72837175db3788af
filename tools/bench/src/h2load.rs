//! `--h2load`: the cross-check with a load generator nobody here wrote (issue 15).
//!
//! Starts the whole suite in this process (the gateway too), stores one report, and then
//! runs nghttp2's `h2load` (Debian package `nghttp2-client`) as a separate process
//! against the reporting server, in `--rounds` rounds that alternate the baseline and the
//! measured call (A B A B ..):
//!
//! - the baseline, `grpc.health.v1.Health/Check` (whole server) on the reporting server;
//! - GetReport of the stored report, as ADMIN, on the reporting server;
//! - the same GetReport through the gateway.
//!
//! Each h2load run sends one fixed gRPC-framed body with `--clients` streams in flight
//! over `--connections` connections for `--round-seconds`. h2load counts any HTTP 200 as a
//! success, gRPC errors included (a gRPC error is an HTTP 200 with a non-zero
//! `grpc-status` trailer), so before measuring, each exact request (URL, headers and body
//! file) is sent once with nghttp2's `nghttp -v`, whose transcript shows the trailers, and
//! the run fails unless it answers `grpc-status: 0`.

use std::{process::Command, time::Instant};

use anyhow::{Context, bail};
use duban_harness::{Caller, Server, Suite};
use duban_kit::testing::Backend;
use prost::Message;
use tonic_health::pb::HealthCheckRequest;

use super::{Args, STARTUP, rpcs::median, workload};

/// One request h2load repeats.
struct Target {
    label: &'static str,
    via: &'static str,
    url: String,
    body: std::path::PathBuf,
    token: bool,
}

/// What one h2load run reported.
#[derive(Debug, Clone, Copy, PartialEq)]
struct H2loadRun {
    requests_per_second: f64,
    succeeded: u64,
    failed: u64,
}

pub(crate) async fn bench(backend: Backend, args: &Args) -> anyhow::Result<()> {
    let (rounds, seconds) = if args.smoke {
        (1, 1.0)
    } else {
        (args.rounds, args.round_seconds)
    };
    if rounds == 0 || !(seconds.is_finite() && seconds >= 1.0) {
        bail!("--h2load needs --rounds of at least 1 and --round-seconds of at least 1 (h2load counts whole seconds)");
    }
    let version = tool_version("h2load")?;
    tool_version("nghttp")?;
    println!("## {backend}: h2load cross-check ({version})\n");
    let suite = Suite::builder(backend)
        .all()
        .startup_timeout(STARTUP)
        .try_start()
        .await?;
    let work = workload(&suite).await?;
    let first = work.submission(0);
    let name = work.keys[0].name();
    suite
        .reporting(Caller::Admin)
        .submit_report(first)
        .await
        .context("storing the report GetReport reads")?;

    let dir = tempfile_dir()?;
    let health_body = dir.join("health-check.bin");
    std::fs::write(&health_body, grpc_frame(&HealthCheckRequest { service: String::new() }))?;
    let get_body = dir.join("get-report.bin");
    std::fs::write(
        &get_body,
        grpc_frame(&duban_proto::reporting::v1::GetReportRequest { name: name.clone() }),
    )?;
    let reporting = suite.addr(Server::Reporting);
    let gateway = suite.addr(Server::Gateway);
    let get_report = "duban.reporting.v1.ReportingService/GetReport";
    let baseline = Target {
        label: "Health/Check",
        via: "direct",
        url: format!("http://{reporting}/grpc.health.v1.Health/Check"),
        body: health_body,
        token: false,
    };
    let measured = [
        Target {
            label: "GetReport",
            via: "direct",
            url: format!("http://{reporting}/{get_report}"),
            body: get_body.clone(),
            token: true,
        },
        Target {
            label: "GetReport",
            via: "gateway",
            url: format!("http://{gateway}/{get_report}"),
            body: get_body,
            token: true,
        },
    ];
    let token = suite.admin_token().to_owned();
    for target in std::iter::once(&baseline).chain(&measured) {
        let status = grpc_status(target, &token)?;
        if status != 0 {
            bail!(
                "{} {}: nghttp was answered grpc-status {status}, not 0 (OK)",
                target.label,
                target.via
            );
        }
    }
    println!(
        "each request checked once with `nghttp -v`: grpc-status 0 (OK). {rounds} rounds of {seconds} s, baseline and measured alternating; h2load -c {} -m {} (streams in flight: {}); medians of the rounds\n",
        args.connections,
        args.clients.div_ceil(args.connections),
        args.connections * args.clients.div_ceil(args.connections),
    );
    println!("| call | via | Health/Check req/s (baseline) | req/s | ÷ baseline | failed | command (one round) |");
    println!("|---|---|---|---|---|---|---|");
    let mut direct = None;
    for target in &measured {
        let mut base = Vec::new();
        let mut runs = Vec::new();
        for _ in 0..rounds {
            base.push(h2load(&baseline, &token, args, seconds)?);
            runs.push(h2load(target, &token, args, seconds)?);
        }
        let failed: u64 = base.iter().chain(&runs).map(|r| r.failed).sum();
        let base_rps = median(base.iter().map(|r| r.requests_per_second).collect());
        let rps = median(runs.iter().map(|r| r.requests_per_second).collect());
        let versus = match (target.via, direct) {
            ("gateway", Some(direct_rps)) => format!(" (gateway ÷ direct {:.2})", rps / f64::max(direct_rps, 1.0)),
            _ => String::new(),
        };
        if target.via == "direct" {
            direct = Some(rps);
        }
        println!(
            "| {} | {} | {base_rps:.0} | {rps:.0}{versus} | {:.3} | {failed} | `{}` |",
            target.label,
            target.via,
            rps / base_rps.max(1.0),
            shell_words(&command_line(target, "<admin token>", args, seconds)),
        );
        if failed != 0 || runs.iter().chain(&base).any(|r| r.succeeded == 0) {
            bail!(
                "{} {}: h2load counted {failed} failed requests",
                target.label,
                target.via
            );
        }
    }
    println!();
    suite.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `message` as one gRPC message on the wire: an uncompressed flag, its length (4 bytes,
/// big-endian), then its bytes.
fn grpc_frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + bytes.len());
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(bytes.len()).expect("a small message").to_be_bytes());
    frame.extend_from_slice(&bytes);
    frame
}

/// A fresh directory for the body files.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("duban-bench-h2load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The tool's version line, or an error that says how to install it.
fn tool_version(tool: &str) -> anyhow::Result<String> {
    let out = Command::new(tool).arg("--version").output().with_context(|| {
        format!("cannot run `{tool}`: install Debian's nghttp2-client (apt-get install nghttp2-client)")
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or(tool)
        .trim()
        .to_owned())
}

/// The gRPC headers of `target` as `-H` arguments.
fn headers(target: &Target, token: &str) -> Vec<String> {
    let mut headers = vec![
        "-H".to_owned(),
        "content-type: application/grpc".to_owned(),
        "-H".to_owned(),
        "te: trailers".to_owned(),
    ];
    if target.token {
        headers.extend(["-H".to_owned(), format!("authorization: Bearer {token}")]);
    }
    headers
}

/// The h2load command line of one round.
fn command_line(target: &Target, token: &str, args: &Args, seconds: f64) -> Vec<String> {
    let streams_per_connection = args.clients.div_ceil(args.connections);
    let mut line = vec![
        "h2load".to_owned(),
        "-c".to_owned(),
        args.connections.to_string(),
        "-m".to_owned(),
        streams_per_connection.to_string(),
        "-D".to_owned(),
        format!("{}", seconds.round() as u64),
        "-d".to_owned(),
        target.body.display().to_string(),
    ];
    line.extend(headers(target, token));
    line.push(target.url.clone());
    line
}

/// `line` as one would type it, arguments with spaces in single quotes.
fn shell_words(line: &[String]) -> String {
    line.iter()
        .map(|word| {
            if word.contains(' ') {
                format!("'{word}'")
            } else {
                word.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs h2load once and reads its summary.
fn h2load(target: &Target, token: &str, args: &Args, seconds: f64) -> anyhow::Result<H2loadRun> {
    let line = command_line(target, token, args, seconds);
    let began = Instant::now();
    let out = Command::new(&line[0])
        .args(&line[1..])
        .output()
        .context("h2load did not run")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "h2load failed after {:.1} s ({}): {}{}",
            began.elapsed().as_secs_f64(),
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_summary(&text).with_context(|| format!("cannot read h2load's summary:\n{text}"))
}

/// `finished in 3.00s, 70000.00 req/s, 5.2MB/s` and
/// `requests: 210000 total, 210000 started, 210000 done, 210000 succeeded, 0 failed, ...`.
fn parse_summary(text: &str) -> Option<H2loadRun> {
    let finished = text.lines().find(|l| l.starts_with("finished in "))?;
    let requests_per_second = finished
        .split(", ")
        .find_map(|part| part.strip_suffix(" req/s"))?
        .trim()
        .parse()
        .ok()?;
    let requests = text.lines().find(|l| l.starts_with("requests: "))?;
    let count = |what: &str| {
        requests
            .split(", ")
            .find_map(|part| part.trim().strip_suffix(what))
            .and_then(|n| n.trim().rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(H2loadRun {
        requests_per_second,
        succeeded: count(" succeeded")?,
        failed: count(" failed")?,
    })
}

/// The `grpc-status` the exact request of `target` is answered with, read from the
/// transcript of `nghttp -v`.
fn grpc_status(target: &Target, token: &str) -> anyhow::Result<u32> {
    let mut line = vec!["-v".to_owned(), "-d".to_owned(), target.body.display().to_string()];
    line.extend(headers(target, token));
    line.push(target.url.clone());
    let out = Command::new("nghttp")
        .args(&line)
        .output()
        .context("nghttp did not run")?;
    let text = String::from_utf8_lossy(&out.stdout);
    read_grpc_status(&text).with_context(|| {
        format!(
            "no grpc-status in nghttp's transcript of {} {}:\n{text}{}",
            target.label,
            target.via,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The last `grpc-status: N` a `nghttp -v` transcript received.
fn read_grpc_status(transcript: &str) -> Option<u32> {
    transcript
        .lines()
        .filter(|l| l.contains("recv") || l.trim_start().starts_with("grpc-status"))
        .filter_map(|l| l.split("grpc-status: ").nth(1))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2load_summary_in_seconds_and_milliseconds() {
        let text = "starting benchmark...\n\nfinished in 3.00s, 70123.45 req/s, 5.20MB/s\nrequests: 210370 total, 210370 started, 210370 done, 210370 succeeded, 0 failed, 0 errored, 0 timeout\n";
        assert_eq!(
            parse_summary(text),
            Some(H2loadRun {
                requests_per_second: 70123.45,
                succeeded: 210370,
                failed: 0
            })
        );
        let short = "finished in 812.34ms, 246.20 req/s, 20KB/s\nrequests: 200 total, 200 started, 200 done, 190 succeeded, 10 failed, 10 errored, 0 timeout\n";
        assert_eq!(parse_summary(short).map(|r| (r.succeeded, r.failed)), Some((190, 10)));
        assert_eq!(parse_summary("h2load: connection refused"), None);
    }

    #[test]
    fn grpc_status_is_read_from_the_trailers() {
        let ok = "[  0.002] recv (stream_id=13) :status: 200\n[  0.002] recv (stream_id=13) content-type: application/grpc\n[  0.003] recv (stream_id=13) grpc-status: 0\n";
        assert_eq!(read_grpc_status(ok), Some(0));
        let denied =
            "[  0.003] recv (stream_id=13) grpc-status: 16\n[  0.003] recv (stream_id=13) grpc-message: no token\n";
        assert_eq!(read_grpc_status(denied), Some(16));
        assert_eq!(read_grpc_status("[  0.002] recv (stream_id=13) :status: 200\n"), None);
    }

    #[test]
    fn a_grpc_frame_is_flag_length_and_message() {
        assert_eq!(
            grpc_frame(&HealthCheckRequest { service: String::new() }),
            vec![0, 0, 0, 0, 0]
        );
        let frame = grpc_frame(&HealthCheckRequest { service: "x".into() });
        assert_eq!(&frame[..5], &[0, 0, 0, 0, 3]);
        assert_eq!(&frame[5..], &[10, 1, b'x']);
    }
}
