//! How the CLI talks HTTP (issues 2 and 3): connection failures, platform faults, retries,
//! timeouts, the body cap, redirects, plain http, proxies, and exactly what a request carries.
//! `status` with FLUXLOOP_API_KEY is the probe: one GET /api/auth/key, no keychain involved.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::env::{Fault, Platform, Run, TestEnv, keys};
use common::{assert_run_snapshot, assert_runs_snapshot};

/// `fluxloop auth status` with the VALID key from the environment, plus `envs`.
fn status(env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut all = vec![("FLUXLOOP_API_KEY", keys::VALID)];
    all.extend_from_slice(envs);
    let mut argv = vec!["auth", "status"];
    argv.extend_from_slice(args);
    env.run_with(&argv, None, &all)
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A stand-in for an HTTP proxy (or any TCP peer): records everything each connection sends
/// (the request head, and whatever follows within a short while), then hangs up without
/// answering.
struct Recorder {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let request = whole_request(stream);
                            requests.lock().unwrap().push(request);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The whole of what each connection sent.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The first line of each connection's request.
    fn lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.lines().next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads the request head (up to the blank line; 64 KiB or 5 s at most), then whatever else
/// the client sends within 300 ms (a client should send nothing before the proxy answers),
/// then closes the connection.
fn whole_request(mut stream: TcpStream) -> String {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while buf.len() < 65536 && !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(300)));
    let mut rest = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut rest) {
        buf.extend_from_slice(&rest[..n]);
    }
    let _ = stream.shutdown(Shutdown::Both);
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn connection_refused_is_a_network_error_with_the_proxy_hint() {
    let env = TestEnv::new();
    let port = closed_port();
    env.filter(&format!("127.0.0.1:{port}"), "[CLOSED_PORT]");
    let run = status(
        &env,
        &[],
        &[("FLUXLOOP_API_URL", &format!("http://127.0.0.1:{port}"))],
    );
    assert_run_snapshot!(env, run);
}

#[test]
fn connection_refused_during_login_stores_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let port = closed_port();
    env.filter(&format!("127.0.0.1:{port}"), "[CLOSED_PORT]");
    let url = format!("http://127.0.0.1:{port}");
    let run = env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_URL", &url)],
    );
    assert_run_snapshot!(env, run);
    assert_eq!(env.snapshot(), before);
}

/// README: "429 and 5xx answers are retried up to 4 attempts".
#[test]
fn persistent_server_error_is_retried_a_bounded_number_of_times() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::ServerError));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 4);
}

#[test]
fn html_bad_gateway_is_reported_without_dumping_the_page() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::HtmlBadGateway));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 4);
}

#[test]
fn truncated_json_is_an_unexpected_response() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::TruncatedJson));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
}

#[test]
fn truncated_json_during_login_stores_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    env.platform.set_fault(Some(Fault::TruncatedJson));
    let run = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    assert_run_snapshot!(env, run);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_body_over_1_mib_is_refused() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::HugeBody));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
}

/// Serves one connection: a 200 with a chunked body (no Content-Length, so the size is only
/// known while reading) that starts like valid JSON and goes on for `total` bytes. Returns how
/// many bytes the client let it write before hanging up.
fn endless_chunked_server(total: usize) -> (u16, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        let _ = stream.write_all(b"1\r\n{\r\n");
        let mut sent = 0;
        while sent < total {
            if stream.write_all(&framed).is_err() {
                break;
            }
            sent += framed.len();
        }
        sent
    });
    (port, handle)
}

#[test]
fn the_body_cap_is_enforced_while_streaming() {
    let env = TestEnv::new();
    let total = 512 * 1024 * 1024;
    let (port, server) = endless_chunked_server(total);
    env.filter(&format!("127.0.0.1:{port}"), "[ENDLESS_SERVER]");
    let run = status(
        &env,
        &[],
        &[("FLUXLOOP_API_URL", &format!("http://127.0.0.1:{port}"))],
    );
    assert_run_snapshot!(env, run);
    let sent = server.join().unwrap();
    // A client that buffered the whole body before checking would have read all of it.
    assert!(sent < total, "the client read all {sent} bytes");
}

#[test]
fn a_redirect_is_not_followed_and_the_key_never_reaches_its_target() {
    let env = TestEnv::new();
    let target = Platform::start();
    env.filter(&target.url(), "[REDIRECT_TARGET]");
    env.platform.set_fault(Some(Fault::Redirect {
        location: format!("{}/api/auth/key", target.url()),
    }));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert!(target.requests().is_empty(), "{:?}", target.requests());
    assert_eq!(env.platform.requests().len(), 1);
}

/// README: FLUXLOOP_TIMEOUT is the seconds a command may spend talking to the platform,
/// retries included.
#[test]
fn a_silent_server_times_out_after_fluxloop_timeout() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::Silent));
    let run = status(&env, &[], &[("FLUXLOOP_TIMEOUT", "5")]);
    assert_run_snapshot!(env, run);
    assert!(
        run.elapsed >= Duration::from_millis(4500) && run.elapsed < Duration::from_secs(10),
        "a 5 s timeout took {:?}",
        run.elapsed
    );
    // The deadline covers the whole command: no retry after it passed.
    assert_eq!(env.platform.requests().len(), 1);
}

#[test]
fn an_invalid_fluxloop_timeout_is_a_usage_error() {
    let env = TestEnv::new();
    let runs: Vec<Run> = ["abc", "0", "-5", "1e9"]
        .into_iter()
        .map(|bad| status(&env, &[], &[("FLUXLOOP_TIMEOUT", bad)]))
        .collect();
    assert_runs_snapshot!(env, runs, "FLUXLOOP_TIMEOUT abc, 0, -5, 1e9");
    assert!(env.platform.requests().is_empty());
}

#[test]
fn rate_limiting_is_retried_after_retry_after() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::RateLimited {
        retry_after: 1,
        times: 2,
    }));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 3);
    // Two waits of the 1 s the platform asked for.
    assert!(
        run.elapsed >= Duration::from_millis(1900) && run.elapsed < Duration::from_secs(10),
        "two 1 s Retry-After waits took {:?}",
        run.elapsed
    );
}

#[test]
fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    // Waiting 30 s would pass the 10 s budget, so the CLI stops at once (well before the
    // deadline) and passes the platform's advice on.
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::RateLimited {
        retry_after: 30,
        times: 5,
    }));
    let run = status(&env, &[], &[("FLUXLOOP_TIMEOUT", "10")]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 1);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}: it waited",
        run.elapsed
    );
}

/// README: "429 and 5xx answers are retried up to 4 attempts".
#[test]
fn persistent_rate_limiting_gives_up_with_a_clear_error() {
    let env = TestEnv::new();
    env.platform.set_fault(Some(Fault::RateLimited {
        retry_after: 0,
        times: 1000,
    }));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 4);
}

#[test]
fn a_temporarily_unavailable_platform_is_retried() {
    let env = TestEnv::new();
    env.platform
        .set_fault(Some(Fault::Unavailable { times: 2 }));
    let run = status(&env, &[], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 3);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let env = TestEnv::new();
    // Anything that tried to connect would go through this "proxy" first.
    let proxy = Recorder::start();
    env.filter(&proxy.url(), "[PROXY_URL]");
    let proxied = [("HTTP_PROXY", proxy.url()), ("ALL_PROXY", proxy.url())];
    let proxied: Vec<(&str, &str)> = proxied.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut envs = proxied.clone();
    let mut runs = vec![status(&env, &["--api-url", "http://example.com"], &envs)];
    envs.push(("FLUXLOOP_API_URL", "http://10.1.2.3:8080"));
    runs.push(status(&env, &[], &envs));

    // Login refuses too, and stores nothing.
    let before = env.snapshot();
    let mut login = proxied.clone();
    login.push(("FLUXLOOP_API_URL", "http://localhost.example.com"));
    runs.push(env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &login,
    ));
    assert_eq!(env.snapshot(), before);
    assert_runs_snapshot!(
        env,
        runs,
        "status to http://example.com and http://10.1.2.3:8080, login to http://localhost.example.com"
    );

    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert!(env.platform.requests().is_empty());
}

#[test]
fn plain_http_to_localhost_is_allowed() {
    let env = TestEnv::new();
    let url = format!("http://localhost:{}", env.platform.port());
    let run = status(&env, &["--api-url", &url], &[]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.requests().len(), 1);
}

#[test]
fn http_proxy_is_never_used_for_loopback_http_urls() {
    // A proxy would read a plain-http request, Authorization header included: loopback http
    // URLs are always reached directly (more variants in tests/hostile.rs).
    let env = TestEnv::new();
    let proxy = Recorder::start();
    env.filter(&proxy.url(), "[PROXY_URL]");
    let url = format!("http://localhost:{}", env.platform.port());
    let direct = status(
        &env,
        &["--api-url", &url],
        &[("HTTP_PROXY", &proxy.url()), ("FLUXLOOP_TIMEOUT", "5")],
    );
    assert!(proxy.lines().is_empty(), "{:?}", proxy.lines());
    assert_eq!(env.platform.requests().len(), 1);
    assert_run_snapshot!(env, direct);
}

#[test]
fn https_proxy_tunnels_https_urls_without_seeing_the_key() {
    let env = TestEnv::new();
    let proxy = Recorder::start();
    env.filter(&proxy.url(), "[PROXY_URL]");
    let tunnelled = status(
        &env,
        &["--api-url", "https://api.fluxloop.ai"],
        &[("HTTPS_PROXY", &proxy.url()), ("FLUXLOOP_TIMEOUT", "5")],
    );
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    // The whole request the proxy saw: a CONNECT with the host and the user agent, nothing
    // after it, so no Authorization, no Proxy-Authorization and no piece of the key.
    assert_eq!(
        requests[0],
        format!(
            "CONNECT api.fluxloop.ai:443 HTTP/1.1\r\nHost: api.fluxloop.ai:443\r\n\
             user-agent: fluxloop/{} (linux)\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    env.assert_no_leak_in_text("the request the HTTPS proxy received", &requests[0]);

    // NO_PROXY wins for the hosts it names: the proxy sees no new connection (the direct
    // attempt then fails or not; nothing here reaches it either way, the timeout is short).
    let bypass_port = closed_port();
    env.filter(&format!("127.0.0.1:{bypass_port}"), "[CLOSED_PORT]");
    let bypassed = status(
        &env,
        &["--api-url", &format!("https://127.0.0.1:{bypass_port}")],
        &[
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "127.0.0.1"),
            ("FLUXLOOP_TIMEOUT", "5"),
        ],
    );
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
    assert_runs_snapshot!(
        env,
        [tunnelled, bypassed],
        "HTTPS through a proxy that hangs up, then NO_PROXY=127.0.0.1 to a closed port"
    );
}

#[test]
fn requests_carry_the_key_only_as_a_bearer_header() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.run(&["auth", "status"]).assert_ok();
    env.run(&["auth", "whoami"]).assert_ok();
    // The runs' output is checked by the harness; this is about what went over the wire.
    let requests = env.platform.requests();
    assert!(requests.len() >= 3, "{requests:?}");
    let agent = format!("fluxloop/{} (linux)", env!("CARGO_PKG_VERSION"));
    let secret = keys::VALID.rsplit('_').next().unwrap();
    for r in &requests {
        assert!(
            r.target == "/api/auth/key" || r.target == "/api/auth/whoami",
            "unexpected target {}",
            r.target
        );
        assert!(!r.target.contains(secret));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {}", keys::VALID).as_str())
        );
        assert_eq!(
            r.headers
                .iter()
                .filter(|(n, _)| n == "authorization")
                .count(),
            1
        );
        assert_eq!(r.header("user-agent"), Some(agent.as_str()));
        // Nowhere else in the request: not in another header, not in a body.
        let elsewhere = r
            .headers
            .iter()
            .filter(|(n, _)| n != "authorization")
            .any(|(_, v)| v.contains(secret));
        assert!(!elsewhere, "{:?}", r.headers);
        assert!(!String::from_utf8_lossy(&r.body).contains(secret));
    }
    let paths: Vec<&str> = requests.iter().map(|r| r.target.as_str()).collect();
    assert!(paths.contains(&"/api/auth/whoami"), "{paths:?}");
}

#[test]
fn a_proxy_that_refuses_is_named_and_not_suggested_again() {
    let env = TestEnv::new();
    let port = closed_port();
    let proxy = format!("http://127.0.0.1:{port}");
    env.filter(&format!("127.0.0.1:{port}"), "[CLOSED_PORT]");
    // A password in the proxy URL is never shown.
    let with_password = format!("http://user:pr0xy-pa55@127.0.0.1:{port}");
    for (variable, value) in [
        ("HTTPS_PROXY", proxy.as_str()),
        ("https_proxy", with_password.as_str()),
        ("ALL_PROXY", proxy.as_str()),
    ] {
        let run = status(
            &env,
            &["--api-url", "https://api.fluxloop.ai"],
            &[(variable, value), ("FLUXLOOP_TIMEOUT", "5")],
        );
        run.assert_code(5);
        let shown = variable.to_ascii_uppercase();
        let shown = if variable == "https_proxy" {
            variable
        } else {
            shown.as_str()
        };
        run.stderr_has(&format!(
            "Unable to connect to FluxLoop API through the proxy {proxy}"
        ))
        .stderr_has(&format!("(set by {shown})"))
        .stderr_has(&format!(
            "unset {shown}, or add api.fluxloop.ai to NO_PROXY"
        ));
        assert!(!run.stderr.contains("Set HTTPS_PROXY"), "{}", run.stderr);
        assert!(
            !run.stderr.contains("pr0xy-pa55") && !run.stderr.contains("user:"),
            "{}",
            run.stderr
        );
        if variable == "HTTPS_PROXY" {
            assert_run_snapshot!("a_proxy_that_refuses", env, run);
        }
    }
}
