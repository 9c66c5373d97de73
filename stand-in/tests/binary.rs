//! The demo binary: its stdout protocol, its log, and its argument errors.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use fluxloop_stand_in::keys;
use support::{request, with_key};

const BIN: &str = env!("CARGO_BIN_EXE_fluxloop-stand-in");

/// Kills the child even when an assertion fails first.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the `127.0.0.1:PORT` it printed.
fn spawn(args: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("first stdout line is the URL, got {line:?}"))
        .to_string();
    (Running(child), addr)
}

/// Stops the binary and returns what it logged after its banner and key table.
fn stop_and_read_log(mut running: Running) -> String {
    running.0.kill().unwrap();
    let mut stderr = String::new();
    running
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    for (name, key) in keys::all() {
        assert!(
            stderr.contains(name) && stderr.contains(key),
            "table lists {name}"
        );
    }
    let (_, log) = stderr.split_once("requests:\n").expect("log section");
    log.to_string()
}

#[test]
fn serves_and_logs_without_keys() {
    let (running, addr) = spawn(&["--port", "0"]);
    assert_ne!(addr.rsplit(':').next().unwrap(), "0");
    assert_eq!(
        with_key(&addr, "GET", "/api/auth/key", keys::VALID).status,
        200
    );
    assert_eq!(
        with_key(&addr, "GET", "/api/auth/whoami", keys::UNKNOWN).status,
        401
    );
    let leaked = format!("/api/auth/key?api_key={}", keys::ECHO);
    assert_eq!(with_key(&addr, "GET", &leaked, keys::ECHO).status, 400);
    let in_path = format!("/keys/{}", keys::VALID);
    assert_eq!(request(&addr, "GET", &in_path, None).status, 400);

    let log = stop_and_read_log(running);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "GET /api/auth/key 200",
            "GET /api/auth/whoami 401",
            "GET /api/auth/key 400",
            "GET /keys/[redacted] 400",
        ]
    );
    assert!(!log.contains("flux_") && !log.to_lowercase().contains("bearer"));
}

#[test]
fn fault_flag_applies_to_every_request() {
    let (running, addr) = spawn(&["--fault", "rate-limited", "--retry-after", "3"]);
    for _ in 0..3 {
        let r = with_key(&addr, "GET", "/api/auth/key", keys::VALID);
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
    }
    let log = stop_and_read_log(running);
    assert_eq!(
        log.lines()
            .filter(|l| *l == "GET /api/auth/key 429 (fault: rate-limited)")
            .count(),
        3
    );
}

#[test]
fn bad_arguments_are_a_usage_error() {
    for args in [
        &["--bogus"][..],
        &["--fault", "melt"],
        &["--port", "seventy"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("error: ") && stderr.contains("usage: fluxloop-stand-in"));
    }
}
