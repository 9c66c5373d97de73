//! `fluxloop auth status` end to end (issue 2; expiry and FLUXLOOP_API_KEY rules of issue 3): the
//! documented text and JSON reports, every way of not being authenticated, and where the key
//! and the API URL come from.

mod common;

use common::env::{Platform, SERVICE, TestEnv, keys};
use common::schema::Schema;
use common::secret_service::SecretService;
use common::{assert_run_snapshot, assert_runs_snapshot, fluxloop_snapshot};

fn authorizations(platform: &Platform) -> Vec<String> {
    platform
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect()
}

#[test]
fn status_text_is_the_documented_report() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // The contract example's five permissions in its order, granted or not; a valid key far
    // from expiry gets no warning.
    fluxloop_snapshot!(env, ["auth", "status"]);
}

#[test]
fn status_shows_unknown_permissions_in_the_platforms_order() {
    let env = TestEnv::new();
    env.login(keys::UNKNOWN_PERMISSION, None);
    fluxloop_snapshot!(env, ["auth", "status"]);
}

#[test]
fn status_of_a_project_scoped_key_that_never_expires() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    fluxloop_snapshot!(env, ["auth", "status"]);
}

#[test]
fn status_json_follows_the_documented_schema() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // Nothing on stdout but the document: scripts pipe it to jq.
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json"]);
    assert_eq!(run.json_valid(Schema::Status)["schema_version"], 1);
}

#[test]
fn status_json_for_an_env_key_without_expiry_and_with_unknown_permissions() {
    let env = TestEnv::new();
    fluxloop_snapshot!(
        "status_json_env_key_project_scoped",
        env,
        ["auth", "status", "--json"],
        envs = &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)]
    )
    .json_valid(Schema::Status);
    fluxloop_snapshot!(
        "status_json_env_key_unknown_permissions",
        env,
        ["auth", "status", "--json"],
        envs = &[("FLUXLOOP_API_KEY", keys::UNKNOWN_PERMISSION)]
    )
    .json_valid(Schema::Status);
}

#[test]
fn status_not_logged_in_says_so_and_exits_3() {
    let env = TestEnv::new();
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "status"]);
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.requests().is_empty(), "nothing to send");
}

#[test]
fn status_json_not_logged_in_prints_a_document_and_exits_3() {
    let env = TestEnv::new();
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json"]);
    assert_eq!(
        run.json_valid(Schema::Error)["error"]["code"],
        "not_logged_in"
    );
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_when_the_keychain_entry_is_gone_but_metadata_remains() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let cleared = env
        .ss
        .secret_tool(&["clear", "service", SERVICE, "username", "default"], None);
    assert!(cleared.success(), "{cleared:?}");
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "status"]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn status_without_a_login_keyring_says_the_keychain_is_not_set_up() {
    // A missing collection reads as "no entry"; the user must hear the real reason.
    let env = TestEnv::with(SecretService::start_without_login_collection());
    fluxloop_snapshot!(env, ["auth", "status"]);
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_with_an_expired_stored_key_says_expired_not_invalid() {
    let env = TestEnv::new();
    // Login refuses an expired key, so plant it as an earlier login would have left it.
    env.ss.store(SERVICE, "default", keys::EXPIRED);
    let before = env.snapshot();
    fluxloop_snapshot!("status_expired_stored_key", env, ["auth", "status"]);
    // Reporting is not deleting: the entry stays until the user logs in again or out.
    assert_eq!(env.snapshot(), before);

    let run = fluxloop_snapshot!(
        "status_json_expired_stored_key",
        env,
        ["auth", "status", "--json"]
    );
    assert_eq!(
        run.json_valid(Schema::Error)["error"]["code"],
        "key_expired"
    );
}

#[test]
fn status_with_an_expired_env_key_says_expired() {
    let env = TestEnv::new();
    fluxloop_snapshot!(
        env,
        ["auth", "status"],
        envs = &[("FLUXLOOP_API_KEY", keys::EXPIRED)]
    );
}

#[test]
fn status_with_a_revoked_key_exits_3() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "default", keys::REVOKED);
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "status"]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn status_with_a_stored_key_the_platform_rejects_lists_the_three_checks() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "default", keys::UNKNOWN);
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "status"]);
    assert_eq!(env.snapshot(), before);
    assert_eq!(
        authorizations(&env.platform),
        [format!("Bearer {}", keys::UNKNOWN)]
    );
}

/// The documented `error.code`s of `status --json` for keys the platform or the CLI refuses.
#[test]
fn status_json_names_each_refusal_with_its_documented_code() {
    let env = TestEnv::new();
    let mut runs = Vec::new();
    for (key, code) in [
        (keys::UNKNOWN, "invalid_api_key"),
        (keys::REVOKED, "key_revoked"),
        (keys::EXPIRED, "key_expired"),
        ("flux_dev_tooshort", "malformed_key"),
    ] {
        let run = env.run_with(
            &["auth", "status", "--json"],
            None,
            &[("FLUXLOOP_API_KEY", key)],
        );
        assert_eq!(
            run.json_valid(Schema::Error)["error"]["code"],
            code,
            "{}",
            run.stdout
        );
        runs.push(run);
    }
    assert_runs_snapshot!(
        env,
        runs,
        "status --json with FLUXLOOP_API_KEY unknown, revoked, expired, malformed"
    );
    // The malformed key never left the machine.
    assert_eq!(env.platform.requests().len(), 3);
}

#[test]
fn env_key_takes_precedence_over_the_stored_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let sent_by_login = env.platform.requests().len();
    // The account, hint and source are the env key's.
    fluxloop_snapshot!(
        env,
        ["auth", "status"],
        envs = &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)]
    );
    assert_eq!(
        authorizations(&env.platform)[sent_by_login..],
        [format!("Bearer {}", keys::PROJECT_SCOPED)]
    );
    // The stored key is still there, untouched.
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));
}

#[test]
fn env_key_works_without_any_keychain() {
    let env = TestEnv::with(SecretService::start_bus_only());
    fluxloop_snapshot!(
        "env_key_without_keychain_status",
        env,
        ["auth", "status"],
        envs = &[("FLUXLOOP_API_KEY", keys::VALID)]
    );
    fluxloop_snapshot!(
        "env_key_without_keychain_whoami",
        env,
        ["auth", "whoami"],
        envs = &[("FLUXLOOP_API_KEY", keys::VALID)]
    );
    assert!(!env.credentials_path().exists());
}

#[test]
fn malformed_env_key_is_refused_before_any_request() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let sent_by_login = env.platform.requests().len();
    let before = env.snapshot();
    let truncated = &keys::VALID[..keys::VALID.len() - 20];
    env.know_key(truncated);
    env.know_key("sk-not-a-flux-key-at-all-x");
    let runs: Vec<_> = [
        truncated,
        "flux_dev_abc123def456ghi789jkl012mno34\"",
        "sk-not-a-flux-key-at-all-x",
    ]
    .into_iter()
    .map(|bad| env.run_with(&["auth", "status"], None, &[("FLUXLOOP_API_KEY", bad)]))
    .collect();
    assert_runs_snapshot!(
        env,
        runs,
        "FLUXLOOP_API_KEY truncated, with a trailing quote, not a flux key"
    );
    assert_eq!(env.platform.requests().len(), sent_by_login);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_key_expiring_within_14_days_gets_a_warning() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None);
    fluxloop_snapshot!("expiring_soon_status", env, ["auth", "status"]);
    // The warning is for people, on stderr; the JSON on stdout stays parseable.
    let run = fluxloop_snapshot!(
        "expiring_soon_status_json",
        env,
        ["auth", "status", "--json"]
    );
    assert_eq!(run.json_valid(Schema::Status)["key"]["days_remaining"], 3);
}

/// The rule (src/commands/auth/mod.rs `warn_expiry`): warn while fewer than 14 whole days are
/// left. 13 days warns, 14 does not.
#[test]
fn the_expiry_warning_starts_below_14_whole_days() {
    let env = TestEnv::new();
    let warned = fluxloop_snapshot!(
        "expiry_13_days",
        env,
        ["auth", "status"],
        envs = &[("FLUXLOOP_API_KEY", keys::LAST_WARNED)]
    );
    assert!(warned.stderr.contains("warning"), "{}", warned.stderr);
    let quiet = fluxloop_snapshot!(
        "expiry_14_days",
        env,
        ["auth", "status"],
        envs = &[("FLUXLOOP_API_KEY", keys::FIRST_UNWARNED)]
    );
    assert_eq!(quiet.stderr, "");
}

#[test]
fn profiles_come_from_the_flag_then_fluxloop_profile() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    env.login(keys::VALID, Some("work"));

    let default = env.run(&["auth", "status"]);
    assert!(default.stdout.contains("scoped@example.com"));
    let flag = env.run(&["auth", "status", "--profile", "work"]);
    assert!(flag.stdout.contains("john@example.com"));
    let from_env = env.run_with(&["auth", "status"], None, &[("FLUXLOOP_PROFILE", "work")]);
    assert_eq!(from_env.whole_output(), flag.whole_output());
    // The flag wins over the variable.
    let both = env.run_with(
        &["auth", "status", "--profile", "default"],
        None,
        &[("FLUXLOOP_PROFILE", "work")],
    );
    assert_eq!(both.whole_output(), default.whole_output());
    // A profile that does not exist is "not logged in", naming it and the others.
    let missing = env.run(&["auth", "status", "--profile", "ci"]);
    assert_runs_snapshot!(
        env,
        [default, flag, missing],
        "default profile, --profile work, a profile that does not exist"
    );
}

#[test]
fn api_url_precedence_flag_then_env_then_saved_then_default() {
    let env = TestEnv::new();
    let a = Platform::start();
    let b = Platform::start();
    env.filter(&a.url(), "[API_URL_A]");
    env.filter(&b.url(), "[API_URL_B]");
    // Log in against A: its URL is saved with the profile.
    let mut login = env.cmd();
    login
        .args(["auth", "login", "--api-url", &a.url()])
        .env_remove("FLUXLOOP_API_URL");
    let mut runs = vec![env.run_cmd(&mut login, Some(&format!("{}\n", keys::VALID)))];
    assert_eq!(a.requests().len(), 1);
    assert!(env.credentials().unwrap().contains(&a.url()));

    // Saved URL.
    let mut saved = env.cmd();
    saved
        .args(["auth", "status"])
        .env_remove("FLUXLOOP_API_URL");
    runs.push(env.run_cmd(&mut saved, None));
    assert_eq!((a.requests().len(), b.requests().len()), (2, 0));

    // FLUXLOOP_API_URL beats the saved URL.
    let mut from_env = env.cmd();
    from_env
        .args(["auth", "status"])
        .env("FLUXLOOP_API_URL", b.url());
    runs.push(env.run_cmd(&mut from_env, None));
    assert_eq!((a.requests().len(), b.requests().len()), (2, 1));

    // --api-url beats FLUXLOOP_API_URL.
    let mut flag = env.cmd();
    flag.args(["auth", "status", "--api-url", &a.url()])
        .env("FLUXLOOP_API_URL", b.url());
    runs.push(env.run_cmd(&mut flag, None));
    assert_eq!((a.requests().len(), b.requests().len()), (3, 1));
    assert_runs_snapshot!(
        env,
        runs,
        "login at A; status with the saved URL, FLUXLOOP_API_URL=B, then --api-url A over B"
    );
    // None of this went to the harness's own platform.
    assert!(env.platform.requests().is_empty());
}

#[test]
fn api_url_defaults_to_production_when_nothing_else_is_set() {
    let env = TestEnv::new();
    // No URL anywhere: the production default. A closed proxy port makes the attempt fail on
    // this machine, and the error names the host it was meant for.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    drop(proxy);
    env.filter(&proxy_url, "[CLOSED_PROXY]");
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"])
        .env_remove("FLUXLOOP_API_URL")
        .env("FLUXLOOP_API_KEY", keys::VALID)
        .env("HTTPS_PROXY", &proxy_url)
        .env("FLUXLOOP_TIMEOUT", "5");
    let run = env.run_cmd(&mut cmd, None);
    assert_run_snapshot!(env, run);
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_json_on_a_network_failure_prints_the_failure_document_and_exits_5() {
    let env = TestEnv::new();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    env.filter(&url, "[CLOSED_URL]");
    env.filter(&format!("127.0.0.1:{port}"), "[CLOSED_HOST]");
    let envs = [
        ("FLUXLOOP_API_KEY", keys::VALID),
        ("FLUXLOOP_API_URL", url.as_str()),
    ];
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json"], envs = &envs);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["error"]["code"], "connect_failed");
}

#[test]
fn status_json_without_a_keychain_prints_the_failure_document_and_exits_6() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json", "--profile", "work"]);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["error"]["code"], "keychain_unavailable");
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_json_with_an_invalid_profile_prints_the_failure_document_without_a_profile() {
    let env = TestEnv::new();
    // Refused while reading the settings, before the profile is known: `profile` is null.
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json", "--profile", "../etc"]);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["profile"], serde_json::Value::Null);
}

#[test]
fn status_json_with_an_unknown_flag_prints_no_document() {
    let env = TestEnv::new();
    // The argument parser's own usage errors come before any command: usage text only.
    let run = fluxloop_snapshot!(env, ["auth", "status", "--json", "--no-such-flag"]);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn quiet_prints_errors_and_data_only() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // Data on stdout as usual; the notes on stderr are gone.
    let status = env.run(&["auth", "status", "-q"]);
    status.assert_ok().stdout_has("john@example.com");
    assert_eq!(status.stderr, "");
    let logout = env.run(&["auth", "logout", "--quiet"]);
    logout.assert_ok();
    assert_eq!((logout.stdout.as_str(), logout.stderr.as_str()), ("", ""));
    // An error is still printed, with its hint.
    let failed = env.run(&["auth", "status", "-q"]);
    failed.assert_code(3);
    assert!(failed.stderr.contains("Error: "), "{failed:?}");
    // -q and -v contradict each other.
    env.run(&["auth", "status", "-q", "-v"]).assert_code(2);
}
