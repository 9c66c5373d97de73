//! TLS against a real HTTPS stand-in (rustls, a CA made up for each platform): a server the
//! trust store does not vouch for never sees the key, `SSL_CERT_FILE` adds a CA rather than
//! turning verification off, and a bad `SSL_CERT_FILE` is a usage error before any request.

mod common;

use std::path::PathBuf;

use common::env::{Fault, Platform, TestEnv, keys};
use common::{assert_run_snapshot, assert_runs_snapshot};

/// A TLS platform whose URL and port read `[TLS_URL]` and `[TLS_PORT]` in snapshots.
fn tls_platform(env: &TestEnv, names: Option<&[&str]>, label: &str) -> Platform {
    let platform = match names {
        Some(names) => Platform::start_tls_for(names),
        None => Platform::start_tls(),
    };
    env.filter(&platform.url(), &format!("[{label}_URL]"));
    env.filter(
        &format!("localhost:{}", platform.port()),
        &format!("localhost:[{label}_PORT]"),
    );
    platform
}

/// Writes the platform's CA where the CLI can read it, as a user would save a corporate CA.
fn save_ca(env: &TestEnv, platform: &Platform, name: &str) -> PathBuf {
    let path = env.tmp().join(name);
    std::fs::write(&path, platform.ca_pem().expect("a TLS platform")).unwrap();
    path
}

fn status_with(env: &TestEnv, platform: &Platform, extra: &[(&str, &str)]) -> common::env::Run {
    let url = platform.url();
    let mut envs = vec![
        ("FLUXLOOP_API_URL", url.as_str()),
        ("FLUXLOOP_API_KEY", keys::VALID),
        ("FLUXLOOP_TIMEOUT", "10"),
    ];
    envs.extend_from_slice(extra);
    env.run_with(&["auth", "status"], None, &envs)
}

#[track_caller]
fn assert_no_request(platform: &Platform) {
    let reqs = platform.requests();
    assert!(
        reqs.is_empty(),
        "the platform received {} request(s); the key must not be sent on an unverified connection",
        reqs.len()
    );
}

#[test]
fn a_ca_outside_the_trust_store_is_refused_before_the_key_is_sent() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");

    let run = status_with(&env, &tls, &[]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

#[test]
fn ssl_cert_file_adds_a_ca_and_the_request_goes_through() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let ca = save_ca(&env, &tls, "corporate-ca.pem");

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    let reqs = tls.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0].path(), "/api/auth/key");
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Bearer {}", keys::VALID).as_str())
    );
}

/// Trusting one extra CA is not trusting everything: a server whose certificate comes from
/// some other CA is still refused.
#[test]
fn ssl_cert_file_with_another_ca_still_refuses_the_server() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let stranger = tls_platform(&env, None, "STRANGER");
    let ca = save_ca(&env, &stranger, "other-ca.pem");

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

/// `SSL_CERT_FILE` adds to the trust store; it does not replace it. Offline, no server can
/// present a certificate from a real public CA, so the OS store's own CAs cannot be shown to
/// verify a connection here. What can be shown: `SSL_CERT_DIR` relocates the store (the
/// OpenSSL convention rustls-native-certs follows), and with it set to one CA and
/// `SSL_CERT_FILE` to another, servers of both CAs are accepted in the same configuration.
#[test]
fn ssl_cert_file_and_the_trust_store_are_used_together() {
    let env = TestEnv::new();
    let from_store = tls_platform(&env, None, "FROM_STORE");
    let from_file = tls_platform(&env, None, "FROM_FILE");
    let store = env.tmp().join("store");
    std::fs::create_dir(&store).unwrap();
    save_ca(&env, &from_store, "store/store-ca.pem");
    let file = save_ca(&env, &from_file, "corporate-ca.pem");
    let trust = [
        ("SSL_CERT_DIR", store.to_str().unwrap()),
        ("SSL_CERT_FILE", file.to_str().unwrap()),
    ];

    let runs = [
        status_with(&env, &from_store, &trust),
        status_with(&env, &from_file, &trust),
    ];
    assert_runs_snapshot!(
        env,
        runs,
        "SSL_CERT_DIR with one CA, SSL_CERT_FILE with another: a server of each"
    );
    assert_eq!(from_store.requests().len(), 1);
    assert_eq!(from_file.requests().len(), 1);
}

/// The default store (no `SSL_CERT_DIR`) is still loaded when `SSL_CERT_FILE` is set: the
/// debug log counts the roots from each. Needs the distribution's CA bundle (package
/// ca-certificates), as every machine that talks to the real platform has.
#[test]
fn ssl_cert_file_keeps_the_system_roots() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let ca = save_ca(&env, &tls, "corporate-ca.pem");
    let url = tls.url();

    let run = env.run_with(
        &["-vv", "auth", "status"],
        None,
        &[
            ("FLUXLOOP_API_URL", &url),
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
    );
    run.assert_ok().never_shows(keys::VALID);
    // `name=<number>` on the log line that contains `message`.
    let field = |message: &str, name: &str| -> usize {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(message))
            .unwrap_or_else(|| panic!("no {message:?} in the log\n{}", run.stderr));
        line.split(&format!(" {name}="))
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name}=<number> in {line:?}"))
    };
    assert_eq!(field("CA certificates from SSL_CERT_FILE", "count"), 1);
    assert!(
        field("trusted CA certificates", "system") > 0,
        "the system roots were dropped\n{}",
        run.stderr
    );
}

#[test]
fn ssl_cert_file_that_does_not_exist_is_a_usage_error() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let missing = env.tmp().join("no-such-ca.pem");
    let before = env.snapshot();

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", missing.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn ssl_cert_file_that_is_not_pem_is_a_usage_error() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let garbage = env.tmp().join("ca.der");
    std::fs::write(&garbage, b"\x30\x82\x01\x0a not a PEM file at all\n").unwrap();

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", garbage.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

/// A PEM block that says CERTIFICATE but holds no valid certificate.
#[test]
fn ssl_cert_file_with_a_broken_certificate_is_a_usage_error() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let broken = env.tmp().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", broken.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

#[test]
fn a_certificate_for_another_host_is_refused_before_the_key_is_sent() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, Some(&["other.example"]), "TLS");
    // The CA is trusted: only the host name is wrong.
    let ca = save_ca(&env, &tls, "ca.pem");

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

#[test]
fn login_over_tls_with_ssl_cert_file_stores_the_key_and_url() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let ca = save_ca(&env, &tls, "corporate-ca.pem");
    let url = tls.url();
    let trust = ("SSL_CERT_FILE", ca.to_str().unwrap());

    let login = env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_URL", &url), trust],
    );
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));
    let credentials = env.credentials().unwrap();
    assert!(credentials.contains(&url), "{credentials}");
    env.assert_not_on_disk(keys::VALID);

    // Later commands find the saved https:// URL on their own, and still need the CA.
    let mut cmd = env.cmd();
    cmd.env_remove("FLUXLOOP_API_URL")
        .env(trust.0, trust.1)
        .args(["auth", "status"]);
    let with_ca = env.run_cmd(&mut cmd, None);
    let mut cmd = env.cmd();
    cmd.env_remove("FLUXLOOP_API_URL").args(["auth", "status"]);
    let without_ca = env.run_cmd(&mut cmd, None);
    assert_runs_snapshot!(
        env,
        [login, with_ca, without_ca],
        "login over TLS with the CA; status from the saved URL with, then without, the CA"
    );
    assert_eq!(tls.requests().len(), 2, "login and the first status only");
    assert!(
        env.platform.requests().is_empty(),
        "nothing went to plain http"
    );
}

/// An empty `SSL_CERT_FILE` (say, `export SSL_CERT_FILE=` in a profile script) means unset:
/// the system store stays in use and the error is the ordinary unknown-CA one.
#[test]
fn an_empty_ssl_cert_file_counts_as_unset() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");

    let run = status_with(&env, &tls, &[("SSL_CERT_FILE", "")]);
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
}

/// The client of a plain-http loopback URL loads no trust store (docs/benchmarks.md): a
/// redirect from it to HTTPS elsewhere is not followed, so the key never reaches the target,
/// even one whose CA SSL_CERT_FILE trusts.
#[test]
fn a_redirect_from_loopback_http_to_https_is_not_followed() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let ca = save_ca(&env, &tls, "corporate-ca.pem");
    env.platform.set_fault(Some(Fault::Redirect {
        location: format!("{}/api/auth/key", tls.url()),
    }));
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
    );
    assert_run_snapshot!(env, run);
    assert_no_request(&tls);
    assert_eq!(env.platform.requests().len(), 1);
}

/// `status`, `whoami` and `rotate` with the key in the keychain, `envs` added: the commands
/// that build their HTTP client while the keychain is read.
fn keychain_commands(env: &TestEnv, envs: &[(&str, &str)]) -> Vec<common::env::Run> {
    [
        &["auth", "status"][..],
        &["auth", "whoami"][..],
        &["auth", "rotate"][..],
    ]
    .into_iter()
    .map(|args| env.run_with(args, None, envs))
    .collect()
}

/// The client is built while the keychain is read, but nothing goes out before the key is
/// known: when the keychain fails, the platform (trusted, reachable, over HTTPS) sees no
/// request, and the error is the keychain's (exit 6) alone. A keychain that hangs until
/// FLUXLOOP_KEYCHAIN_TIMEOUT gives an early request all the time it needs to arrive; one with
/// no bus at all fails at once.
#[test]
fn a_keychain_failure_sends_nothing_to_the_platform() {
    let env = TestEnv::new();
    let tls = tls_platform(&env, None, "TLS");
    let ca = save_ca(&env, &tls, "corporate-ca.pem");
    env.login(keys::VALID, None);
    let logins = env.platform.requests().len();
    let url = tls.url();
    let https = [
        ("FLUXLOOP_API_URL", url.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("FLUXLOOP_KEYCHAIN_TIMEOUT", "1"),
    ];

    env.ss.stop_daemon();
    let hung = keychain_commands(&env, &https);
    env.ss.resume_daemon();
    let missing = env.ss.dir().join("no-such-bus");
    let address = format!("unix:path={}", missing.display());
    let no_bus = keychain_commands(
        &env,
        &[https[0], https[1], ("DBUS_SESSION_BUS_ADDRESS", &address)],
    );
    for run in hung.iter().chain(&no_bus) {
        run.assert_code(6).never_shows(keys::VALID);
        assert!(!run.stderr.contains("TLS"), "{}", run.stderr);
    }
    for run in &hung {
        run.stderr_has("FLUXLOOP_KEYCHAIN_TIMEOUT");
    }
    assert_no_request(&tls);
    assert_eq!(env.platform.requests().len(), logins, "only the login's");
}

/// A client built while the keychain is read verifies the server as one built after it: a
/// certificate for another host name (its CA trusted), or from a CA that is not, fails the
/// TLS handshake as with FLUXLOOP_API_KEY, and the key is not sent.
#[test]
fn a_client_built_during_the_keychain_read_still_refuses_a_wrong_certificate() {
    let env = TestEnv::new();
    let other_name = tls_platform(&env, Some(&["other.example"]), "OTHER_NAME");
    let unknown_ca = tls_platform(&env, None, "UNKNOWN_CA");
    let ca = save_ca(&env, &other_name, "ca.pem");
    env.login(keys::VALID, None);

    let mut runs = Vec::new();
    for platform in [&other_name, &unknown_ca] {
        let url = platform.url();
        let envs = [
            ("FLUXLOOP_API_URL", url.as_str()),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ];
        let stored = keychain_commands(&env, &envs);
        let from_env = env.run_with(
            &["auth", "status"],
            None,
            &[envs[0], envs[1], ("FLUXLOOP_API_KEY", keys::VALID)],
        );
        for run in &stored {
            run.assert_code(5).stderr_has("Your key was not sent.");
        }
        // The same failure as a client built after the key is known (FLUXLOOP_API_KEY).
        let failure = |run: &common::env::Run| {
            run.stderr
                .lines()
                .find(|l| l.starts_with("TLS with"))
                .map(str::to_owned)
        };
        assert!(failure(&from_env).is_some(), "{}", from_env.stderr);
        assert_eq!(failure(&stored[0]), failure(&from_env));
        assert_no_request(platform);
        runs.extend(stored);
    }
    assert_runs_snapshot!(
        env,
        runs,
        "status, whoami and rotate with the key in the keychain, against a certificate for another name, then from an unknown CA"
    );
}
