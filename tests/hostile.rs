//! A hostile server or proxy must not get the key out, crash the CLI, or drive the terminal:
//! the stand-in's hostile faults (keys echoed into every string field, terminal escapes,
//! absurd numbers) against status, whoami, login and logout --revoke; HTTP proxies against
//! plain-http loopback URLs; a 404 from a wrong URL.

mod common;

use std::io::Read;
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::env::{Fault, Platform, Run, TestEnv, keys};
use fluxloop_stand_in::{Absurd, Hostile};

/// Every hostile reply, for the loops below.
const HOSTILE: [Hostile; 7] = [
    Hostile::ServerError,
    Hostile::PermissionDenied,
    Hostile::Unauthorized,
    Hostile::NotFound,
    Hostile::Redirect,
    Hostile::Success,
    Hostile::WrongType,
];

/// Exit code README documents for each reply, for commands that read the key's details
/// (status, whoami, login).
fn documented_code(hostile: Hostile) -> i32 {
    match hostile {
        Hostile::Success => 0,
        Hostile::Unauthorized => 3,
        Hostile::PermissionDenied => 4,
        Hostile::ServerError | Hostile::NotFound | Hostile::Redirect | Hostile::WrongType => 5,
    }
}

/// The same for `logout --revoke`: a 401 means the key is already unusable (success), and
/// revocation reads no body, so a mistyped one does not matter.
fn documented_revoke_code(hostile: Hostile) -> i32 {
    match hostile {
        Hostile::Success | Hostile::Unauthorized | Hostile::WrongType => 0,
        other => documented_code(other),
    }
}

/// The key's secret part, `flux_<env>_<secret>`: the environment and prefix are shown on
/// purpose (in the masked form), the secret never 8 characters at a time.
fn secret(key: &str) -> &str {
    key.splitn(3, '_').nth(2).unwrap()
}

/// No 8 consecutive characters of `key`'s secret in `text`.
#[track_caller]
fn assert_no_piece(text: &str, key: &str, what: &str) {
    for window in secret(key).as_bytes().windows(8) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(
            !text.contains(window),
            "{what} holds {window:?}, a piece of the key:\n{text}"
        );
    }
}

/// What every run must be, whatever the server did: no piece of the key on stdout or stderr,
/// no escape sequence but our own colours (SGR, `ESC [ ... m`), no BEL or other control
/// character, no crash.
#[track_caller]
fn assert_safe(run: &Run, key: &str) {
    assert_no_piece(&run.stdout, key, "stdout");
    assert_no_piece(&run.stderr, key, "stderr");
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find('\u{1b}') {
            let after = &rest[at + 1..];
            let sgr = after.strip_prefix('[').and_then(|a| {
                let end = a.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
                (a.as_bytes()[end] == b'm').then_some(&a[end + 1..])
            });
            match sgr {
                Some(next) => rest = next,
                None => panic!("{name} has a raw escape sequence {after:.12?}:\n{text:?}"),
            }
        }
        let bad = text
            .chars()
            .find(|&c| c.is_control() && !matches!(c, '\n' | '\t' | '\u{1b}'));
        assert!(
            bad.is_none(),
            "{name} has control character {bad:?}:\n{text:?}"
        );
    }
    assert_ne!(run.code, Some(101), "crashed:\n{}", run.stderr);
    assert!(!run.stderr.contains("crashed"), "{}", run.stderr);
}

/// `status` or `whoami` with `key` from the environment; colours forced, so that nothing
/// strips what the server sent before it reaches the (pretend) terminal.
fn with_env_key(env: &TestEnv, command: &str, key: &str) -> Run {
    env.run_with(
        &["auth", command, "--color", "always"],
        None,
        &[("FLUXLOOP_API_KEY", key), ("FLUXLOOP_TIMEOUT", "8")],
    )
}

fn login(env: &TestEnv, key: &str) -> Run {
    env.run_with(
        &["auth", "login", "--color", "always"],
        Some(&format!("{key}\n")),
        &[("FLUXLOOP_TIMEOUT", "8")],
    )
}

fn revoke(env: &TestEnv) -> Run {
    env.run_with(
        &["auth", "logout", "--revoke", "--color", "always"],
        None,
        &[("FLUXLOOP_TIMEOUT", "8")],
    )
}

/// Runs status, whoami, login and logout --revoke against `fault` (each in a fresh world) and
/// checks each run is safe and exits as documented.
fn every_command_against(fault: impl Fn(Hostile) -> Fault) {
    for hostile in HOSTILE {
        let key = keys::VALID;
        let context = format!("{:?}", fault(hostile));
        for command in ["status", "whoami"] {
            let env = TestEnv::new();
            env.platform.set_fault(Some(fault(hostile)));
            let run = with_env_key(&env, command, key);
            assert_safe(&run, key);
            assert_eq!(
                run.code,
                Some(documented_code(hostile)),
                "{command} against {context}\n{}",
                run.stderr
            );
        }

        let env = TestEnv::new();
        env.platform.set_fault(Some(fault(hostile)));
        let run = login(&env, key);
        assert_safe(&run, key);
        assert_eq!(
            run.code,
            Some(documented_code(hostile)),
            "login against {context}\n{}",
            run.stderr
        );
        // What login keeps (the account's e-mail, organizations) came from the server too.
        assert_no_piece(
            &env.credentials().unwrap_or_default(),
            key,
            "the credentials file",
        );

        let env = TestEnv::new();
        env.login(key, None);
        env.platform.set_fault(Some(fault(hostile)));
        let run = revoke(&env);
        assert_safe(&run, key);
        assert_eq!(
            run.code,
            Some(documented_revoke_code(hostile)),
            "logout --revoke against {context}\n{}",
            run.stderr
        );
    }
}

#[test]
fn a_server_echoing_the_key_into_every_field_never_gets_it_shown() {
    every_command_against(Fault::EchoKey);
}

#[test]
fn terminal_escapes_from_the_server_never_reach_the_terminal() {
    every_command_against(Fault::TerminalEscapes);
}

#[test]
fn an_echoed_key_is_masked_in_each_field_that_is_shown() {
    // The fields are shown (masked), not dropped: the masked key or its stars are there.
    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::EchoKey(Hostile::PermissionDenied)));
    let run = with_env_key(&env, "whoami", keys::VALID);
    run.assert_code(4)
        .stderr_has("echo0:flux_dev_abc1...mno34")
        .stderr_has("echo1:dev_****")
        .stderr_has("echo2:****");

    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::EchoKey(Hostile::WrongType)));
    let run = with_env_key(&env, "status", keys::VALID);
    run.assert_code(5)
        .stderr_has("scopes.all_projects")
        .stderr_has("found a string, expected a boolean");
}

#[test]
fn escapes_in_server_text_are_shown_as_visible_codes() {
    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::TerminalEscapes(Hostile::ServerError)));
    let run = with_env_key(&env, "status", keys::VALID);
    run.assert_code(5)
        .stderr_has("field0\\u{1b}[2J\\u{1b}]52;c;Zmx1eA==\\u{7}");
    assert_safe(&run, keys::VALID);
}

#[test]
fn a_retry_after_of_u64_max_is_reported_not_a_crash() {
    for value in ["18446744073709551615", "99999999999999999999999999"] {
        for command in ["status", "whoami"] {
            let env = TestEnv::new();
            env.platform
                .set_fault(Some(Fault::AbsurdNumbers(Absurd::RetryAfter(value.into()))));
            let run = with_env_key(&env, command, keys::VALID);
            assert_safe(&run, keys::VALID);
            run.assert_code(5).stderr_has("Rate limited");
            // Past the deadline: no wait and no retry (whoami asks two things at once).
            assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
            let requests = env.platform.requests().len();
            assert!((1..=2).contains(&requests), "{command} {value}: {requests}");
        }

        let env = TestEnv::new();
        env.platform
            .set_fault(Some(Fault::AbsurdNumbers(Absurd::RetryAfter(value.into()))));
        let before = env.snapshot();
        let run = login(&env, keys::VALID);
        assert_safe(&run, keys::VALID);
        run.assert_code(5);
        assert_eq!(env.snapshot(), before);
    }
}

#[test]
fn a_retry_after_that_is_not_a_number_falls_back_to_bounded_backoff() {
    for value in [
        "-1",
        "-18446744073709551616",
        "soon",
        "1.5",
        "",
        "Fri, 31 Dec 1999 23:59:59 GMT",
    ] {
        let env = TestEnv::new();
        env.platform
            .set_fault(Some(Fault::AbsurdNumbers(Absurd::RetryAfter(value.into()))));
        let run = with_env_key(&env, "status", keys::VALID);
        assert_safe(&run, keys::VALID);
        run.assert_code(5).stderr_has("Rate limited");
        let attempts = env.platform.requests().len();
        assert!(
            (2..=4).contains(&attempts),
            "{value:?}: {attempts} attempts"
        );
        assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    }
}

#[test]
fn an_http_date_retry_after_beyond_the_deadline_is_not_waited_for() {
    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::AbsurdNumbers(Absurd::RetryAfter(
            "Fri, 31 Dec 9999 23:59:59 GMT".into(),
        ))));
    let run = with_env_key(&env, "status", keys::VALID);
    assert_safe(&run, keys::VALID);
    run.assert_code(5).stderr_has("Rate limited");
    assert_eq!(env.platform.requests().len(), 1);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn absurd_expiry_dates_do_not_crash_status_whoami_or_login() {
    for value in [
        serde_json::json!("+99999-01-01T00:00:00Z"),
        serde_json::json!("99999-01-01T00:00:00Z"),
        serde_json::json!("9999-12-31T23:59:59Z"),
        serde_json::json!("0001-01-01T00:00:00Z"),
        serde_json::json!(18446744073709551615u64),
        serde_json::json!(-1),
    ] {
        for command in ["status", "whoami"] {
            let env = TestEnv::new();
            env.platform
                .set_fault(Some(Fault::AbsurdNumbers(Absurd::ExpiresAt(value.clone()))));
            let run = with_env_key(&env, command, keys::VALID);
            assert_safe(&run, keys::VALID);
            // Served as valid, or refused as unreadable, or (year 1) expired: never a crash.
            assert!(
                matches!(run.code, Some(0 | 3 | 5)),
                "{command} with expires_at {value}: {:?}\n{}",
                run.code,
                run.stderr
            );
        }
        let env = TestEnv::new();
        env.platform
            .set_fault(Some(Fault::AbsurdNumbers(Absurd::ExpiresAt(value.clone()))));
        let run = login(&env, keys::VALID);
        assert_safe(&run, keys::VALID);
        assert!(
            matches!(run.code, Some(0 | 3 | 5)),
            "login with {value}: {:?}",
            run.code
        );
    }
}

#[test]
fn counts_of_u64_max_are_printed_not_overflowed() {
    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::AbsurdNumbers(Absurd::HugeCounts)));
    let run = with_env_key(&env, "whoami", keys::VALID);
    assert_safe(&run, keys::VALID);
    run.assert_ok().stdout_has("18,446,744,073,709,551,615");
}

#[test]
fn a_lying_content_length_is_an_unexpected_response() {
    for claimed in [
        "18446744073709551615",
        "99999999999999999999",
        "-1",
        "1",
        "99999",
    ] {
        for command in ["status", "whoami"] {
            let env = TestEnv::new();
            env.platform
                .set_fault(Some(Fault::AbsurdNumbers(Absurd::ContentLength(
                    claimed.into(),
                ))));
            let run = with_env_key(&env, command, keys::VALID);
            assert_safe(&run, keys::VALID);
            assert_eq!(
                run.code,
                Some(5),
                "{command} with Content-Length {claimed}\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn a_404_from_a_wrong_api_url_is_one_request_and_points_at_the_url() {
    let env = TestEnv::new();
    let url = format!("{}/wrong-prefix", env.platform.url());
    let run = env.run_with(
        &["auth", "status", "--api-url", &url],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    assert_safe(&run, keys::VALID);
    run.assert_code(5)
        .stderr_has("HTTP 404")
        .stderr_has("check the API URL (--api-url, FLUXLOOP_API_URL)");
    assert!(!run.stderr.contains("Retried"), "{}", run.stderr);
    assert!(!run.stderr.contains("having trouble"), "{}", run.stderr);
    assert_eq!(env.platform.requests().len(), 1);
}

/// A listener that counts connections and closes each one at once: it stands for an HTTP
/// proxy that must never be used.
struct Proxy {
    port: u16,
    first_lines: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_lines = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        {
            let (lines, count) = (Arc::clone(&first_lines), Arc::clone(&connections));
            // Lives until the test process ends; each connection is closed after one read.
            std::thread::spawn(move || {
                for mut stream in listener.incoming().flatten() {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 512];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let text = String::from_utf8_lossy(&buf[..n]);
                    lines
                        .lock()
                        .unwrap()
                        .push(text.lines().next().unwrap_or_default().to_string());
                    let _ = stream.shutdown(Shutdown::Both);
                }
            });
        }
        Self {
            port,
            first_lines,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[test]
fn no_proxy_variable_makes_a_loopback_http_url_go_through_a_proxy() {
    let platform_port = |env: &TestEnv| env.platform.port();
    let proxy = Proxy::start();
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        for host in ["127.0.0.1", "localhost"] {
            let env = TestEnv::new();
            let url = format!("http://{host}:{}", platform_port(&env));
            let run = env.run_with(
                &["auth", "status", "--api-url", &url],
                None,
                &[
                    ("FLUXLOOP_API_KEY", keys::VALID),
                    (var, &proxy.url()),
                    ("FLUXLOOP_TIMEOUT", "5"),
                ],
            );
            assert_safe(&run, keys::VALID);
            run.assert_ok();
            assert_eq!(env.platform.requests().len(), 1, "{var} {host}");
        }
    }
    // [::1]: nothing listens there, and the proxy must not be tried instead.
    let env = TestEnv::new();
    let url = format!("http://[::1]:{}", env.platform.port());
    let run = env.run_with(
        &["auth", "status", "--api-url", &url],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("HTTP_PROXY", &proxy.url()),
            ("ALL_PROXY", &proxy.url()),
            ("FLUXLOOP_TIMEOUT", "5"),
        ],
    );
    run.assert_code(5);
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        0,
        "the proxy saw {:?}",
        proxy.first_lines.lock().unwrap()
    );
}

#[test]
fn https_urls_still_go_through_the_https_proxy() {
    let platform = Platform::start_tls();
    let env = TestEnv::new();
    let proxy = Proxy::start();
    let run = env.run_with(
        &["auth", "status", "--api-url", &platform.url()],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("HTTPS_PROXY", &proxy.url()),
            ("FLUXLOOP_TIMEOUT", "5"),
        ],
    );
    run.assert_code(5);
    assert_safe(&run, keys::VALID);
    let lines = proxy.first_lines.lock().unwrap().clone();
    assert_eq!(
        lines,
        [format!("CONNECT localhost:{} HTTP/1.1", platform.port())]
    );
}
