//! `fluxloop auth login` end to end (issues 2 and 3): the built binary against the stand-in
//! platform and a private, real gnome-keyring.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Barrier;

use common::env::{Fault, Run, SERVICE, TestEnv, keys};
use common::secret_service::SecretService;

/// The dashboard page every "get a new key" hint points at.
const KEYS_PAGE: &str = "https://app.fluxloop.ai/settings/api-keys";
/// How the CLI masks [`keys::VALID`] (prefix, environment, first four and last five characters).
const VALID_HINT: &str = "flux_dev_abc1...mno34";
const EXPIRING_SOON_HINT: &str = "flux_dev_expi...Jd1Lf";

/// One profile's entry in `~/.fluxloop/credentials`, as a generic YAML map.
type Meta = BTreeMap<String, serde_json::Value>;

/// The `profiles:` map of the credentials file, parsed as YAML.
fn profiles(env: &TestEnv) -> BTreeMap<String, Meta> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        profiles: BTreeMap<String, Meta>,
    }
    let text = env.credentials().expect("the credentials file exists");
    let file: File = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("credentials file is not valid YAML ({e}):\n{text}"));
    file.profiles
}

fn text(meta: &Meta, field: &str) -> String {
    match meta.get(field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        other => panic!("metadata field {field} is {other:?}, expected a string: {meta:?}"),
    }
}

fn login_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec!["auth", "login"];
    args.extend_from_slice(extra);
    args
}

/// The failure must not have touched the machine nor reached the platform.
#[track_caller]
fn assert_untouched(env: &TestEnv, before: &common::env::Snapshot, requests_before: usize) {
    assert_eq!(
        &env.snapshot(),
        before,
        "credentials file or keychain changed"
    );
    assert_eq!(
        env.platform.requests().len(),
        requests_before,
        "the platform received a request: {:?}",
        env.platform.requests()
    );
}

// --- Reading the key -------------------------------------------------------------------------

#[test]
fn piped_stdin_key_is_validated_and_saved_with_the_documented_output() {
    let env = TestEnv::new();
    let run = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    run.assert_ok().never_shows(keys::VALID);
    let expected = [
        "✅ Successfully authenticated!".to_string(),
        "   API key saved to Secret Service (profile: default)".to_string(),
        format!(
            "   Profile metadata saved to {}",
            env.credentials_path().display()
        ),
        "Your account: john@example.com".to_string(),
        "Organizations: Acme Inc, Personal".to_string(),
    ];
    let lines: Vec<&str> = run.stderr.lines().collect();
    for line in &expected {
        assert!(
            lines.contains(&line.as_str()),
            "missing line {line:?} in\n{}",
            run.stderr
        );
    }
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
    assert!(
        !run.stderr.contains("Please enter"),
        "prompted: {}",
        run.stderr
    );
}

#[test]
fn api_key_dash_reads_stdin() {
    let env = TestEnv::new();
    env.run_stdin(
        &["auth", "login", "--api-key", "-"],
        &format!("{}\n", keys::VALID),
    )
    .assert_ok()
    .stderr_has("✅ Successfully authenticated!")
    .never_shows(keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

#[test]
fn api_key_argument_works_but_warns_about_history_and_process_list() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "login", "--api-key", keys::VALID]);
    run.assert_ok()
        .stderr_has("warning:")
        .stderr_has("shell history")
        .stderr_has("process list")
        .never_shows(keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );

    // The pipe and the `-` form do not warn: the warning is about the argument only.
    let piped = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    piped.assert_ok();
    assert!(
        !piped.stderr.contains("shell history"),
        "warned without --api-key: {}",
        piped.stderr
    );
}

#[test]
fn whitespace_cr_and_lf_around_the_key_are_trimmed() {
    for (i, input) in [
        format!("  {}\r\n", keys::VALID),
        format!("\t{}  \n", keys::VALID),
        format!("{}\r\n", keys::VALID),
        keys::VALID.to_string(), // no newline at all
    ]
    .iter()
    .enumerate()
    {
        let env = TestEnv::new();
        env.run_stdin(&["auth", "login"], input)
            .assert_ok()
            .stderr_has("✅ Successfully authenticated!");
        assert_eq!(
            env.ss.lookup(SERVICE, "default").as_deref(),
            Some(keys::VALID),
            "input #{i} was not stored trimmed"
        );
        let sent = env.platform.requests();
        let bearer = format!("Bearer {}", keys::VALID);
        assert_eq!(sent[0].header("authorization"), Some(bearer.as_str()));
    }
    // The argument form is trimmed as well.
    let env = TestEnv::new();
    env.run(&[
        "auth",
        "login",
        "--api-key",
        &format!(" {}\r\n", keys::VALID),
    ])
    .assert_ok();
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

#[test]
fn empty_stdin_fails_at_once_with_a_hint_and_stores_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, Some("existing"));
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    // EOF at once, a blank line, and whitespace only: none of them is a key.
    for stdin in [Some(""), Some("\n"), Some("  \r\n"), None] {
        for args in [login_args(&[]), login_args(&["--api-key", "-"])] {
            let run = env.run_with(&args, stdin, &[]);
            run.assert_code(2)
                .stderr_has("No API key on standard input")
                .stderr_has("hint:")
                .stderr_has("fluxloop auth login");
            assert!(
                !run.stderr.contains("Please enter"),
                "prompted without a terminal: {}",
                run.stderr
            );
            assert_untouched(&env, &before, requests);
        }
    }
}

// --- Key format ------------------------------------------------------------------------------

#[test]
fn malformed_keys_are_refused_before_any_request_without_echoing_them() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    let good = keys::UNKNOWN; // well formed; every case below is a paste error made from it
    let secret = good.rsplit('_').next().unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", good[..good.len() - 20].to_string(), "cut off"),
        ("extra characters", format!("{good}!x"), "extra characters"),
        ("pasted twice", format!("{good}{good}"), "extra characters"),
        (
            "text after it",
            format!("{good} is my key"),
            "extra characters",
        ),
        ("too long", format!("{good}{}", "a".repeat(128)), "too long"),
        (
            "missing prefix",
            good.trim_start_matches("flux_").to_string(),
            "does not start with `flux_`",
        ),
        ("quotes", format!("\"{good}\""), "a quote at character 1"),
        ("quote at the end", format!("{good}'"), "a quote"),
        (
            "uppercase environment",
            good.replacen("_dev_", "_DEV_", 1),
            "lowercase",
        ),
        (
            "no environment",
            format!("flux_{secret}"),
            "no environment part",
        ),
    ];
    for (what, key, points_at) in &cases {
        for (how, args, stdin) in [
            ("stdin", login_args(&[]), Some(format!("{key}\n"))),
            (
                "--api-key -",
                login_args(&["--api-key", "-"]),
                Some(format!("{key}\n")),
            ),
        ] {
            let run = env.run_with(&args, stdin.as_deref(), &[]);
            run.assert_code(3)
                .stderr_has("That is not a FluxLoop API key")
                .stderr_has(points_at)
                .stderr_has("Nothing was sent to the platform")
                .never_shows(key)
                .never_shows(secret);
            assert!(
                !run.stderr.contains(&key[key.len().saturating_sub(12)..]),
                "{what} via {how}: the message echoes part of the key:\n{}",
                run.stderr
            );
            assert_untouched(&env, &before, requests);
        }
        // The argument form too (its warning must not echo the key either).
        let run = env.run(&["auth", "login", "--api-key", key]);
        run.assert_code(3)
            .stderr_has(points_at)
            .never_shows(key)
            .never_shows(secret);
        assert_untouched(&env, &before, requests);
    }
}

// --- Validation before storing ---------------------------------------------------------------

#[test]
fn unknown_key_is_invalid_with_the_three_checks_and_nothing_is_stored() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let run = env.run_stdin(
        &["auth", "login", "--profile", "work"],
        &format!("{}\n", keys::UNKNOWN),
    );
    run.assert_code(3)
        .stderr_has("❌ Error: Invalid API key")
        .stderr_has("1. The key was copied completely")
        .stderr_has("2. The key has not been revoked or expired")
        .stderr_has("3. The key belongs to this environment")
        .stderr_has(KEYS_PAGE)
        .never_shows(keys::UNKNOWN);
    assert_eq!(env.snapshot(), before);
    assert!(!env.credentials().unwrap().contains("work"));
    // It was the platform that said no: the key was sent for validation.
    let last = env.platform.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path()),
        ("GET", "/api/auth/key")
    );
    env.assert_not_on_disk(keys::UNKNOWN);
}

#[test]
fn revoked_key_is_refused_and_nothing_is_stored() {
    let env = TestEnv::new();
    let before = env.snapshot();
    env.run_stdin(&["auth", "login"], &format!("{}\n", keys::REVOKED))
        .assert_code(3)
        .stderr_has("revoked")
        .stderr_has(KEYS_PAGE)
        .never_shows(keys::REVOKED);
    assert_eq!(env.snapshot(), before);
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::REVOKED);
}

#[test]
fn expired_key_is_reported_as_expired_not_invalid() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let run = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::EXPIRED));
    run.assert_code(3)
        .stderr_has("expired")
        .stderr_has(KEYS_PAGE)
        .never_shows(keys::EXPIRED);
    assert!(
        !run.stderr.contains("Invalid API key"),
        "an expired key is reported as invalid:\n{}",
        run.stderr
    );
    // The working key that was saved before is still there, unchanged.
    assert_eq!(env.snapshot(), before);
    env.assert_not_on_disk(keys::EXPIRED);
}

#[test]
fn network_failure_during_login_stores_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    // Nothing listens on port 1 of loopback: connection refused.
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_URL", "http://127.0.0.1:1")],
    )
    .assert_code(5)
    .stderr_has("Unable to connect to FluxLoop API")
    .stderr_has("Failed to connect to 127.0.0.1:1")
    .never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);

    // The platform fails with 5xx (after its retries): still nothing stored.
    env.platform.set_fault(Some(Fault::ServerError));
    env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID))
        .assert_code(5)
        .never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);

    // A platform that never answers: the timeout ends the login, nothing stored.
    env.platform.set_fault(Some(Fault::Silent));
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_TIMEOUT", "2")],
    )
    .assert_code(5)
    .never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
}

// --- What a successful login leaves behind ---------------------------------------------------

#[test]
fn metadata_file_holds_account_expiry_url_and_masked_hint_never_the_key() {
    let env = TestEnv::new();
    let day_before = (chrono::Utc::now() + chrono::Duration::days(keys::VALID_DAYS_REMAINING))
        .format("%Y-%m-%d")
        .to_string();
    env.login(keys::VALID, None);
    let day_after = (chrono::Utc::now() + chrono::Duration::days(keys::VALID_DAYS_REMAINING))
        .format("%Y-%m-%d")
        .to_string();

    let all = profiles(&env);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["default"]);
    let meta = &all["default"];
    assert_eq!(text(meta, "account"), "john@example.com");
    assert_eq!(text(meta, "api_url"), env.platform.url());
    assert_eq!(text(meta, "key_hint"), VALID_HINT);
    let expires = text(meta, "expires");
    assert!(
        expires.starts_with(&day_before) || expires.starts_with(&day_after),
        "expires is {expires}, expected about {day_before}"
    );
    assert!(
        !meta.contains_key("api_key"),
        "a keychain profile has api_key: {meta:?}"
    );
    let raw = env.credentials().unwrap();
    assert!(!raw.contains(keys::VALID), "the key is in the file:\n{raw}");
    env.assert_not_on_disk(keys::VALID);

    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&env.credentials_path()),
        0o600,
        "credentials file mode"
    );
    assert_eq!(mode(&env.fluxloop_dir()), 0o700, "~/.fluxloop mode");

    // The key itself is in the keychain, as an independent client sees it.
    let items = env.keychain();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].secret.as_deref(), Some(keys::VALID));
    assert_eq!(
        items[0].attributes.get("service").map(String::as_str),
        Some(SERVICE)
    );
    assert_eq!(
        items[0].attributes.get("username").map(String::as_str),
        Some("default")
    );
}

#[test]
fn fluxloop_home_relocates_the_metadata() {
    let env = TestEnv::new();
    let dir = env.tmp().join("elsewhere");
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_HOME", dir.to_str().unwrap())],
    )
    .assert_ok()
    .stderr_has(&format!("saved to {}", dir.join("credentials").display()));
    assert!(env.credentials().is_none(), "wrote ~/.fluxloop anyway");
    let raw = std::fs::read_to_string(dir.join("credentials")).unwrap();
    assert!(raw.contains(VALID_HINT) && !raw.contains(keys::VALID));
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn no_save_validates_and_shows_the_account_but_stores_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::VALID),
    )
    .assert_ok()
    .stderr_has("✅ Successfully authenticated!")
    .stderr_has("Your account: john@example.com")
    .stderr_has("Organizations: Acme Inc, Personal")
    .stderr_has("nothing was stored")
    .never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);
    assert!(env.keychain().is_empty());
    assert!(env.credentials().is_none());
    assert_eq!(
        env.platform.requests().len(),
        1,
        "the key was not validated"
    );

    // With a profile already saved, --no-save leaves it exactly as it was.
    env.login(keys::VALID, None);
    let before = env.snapshot();
    env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::EXPIRING_SOON),
    )
    .assert_ok()
    .stderr_has("Your account: soon@example.com");
    assert_eq!(env.snapshot(), before);

    // --no-save still refuses a key the platform rejects.
    env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::UNKNOWN),
    )
    .assert_code(3)
    .stderr_has("Invalid API key");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn explicit_save_stores_the_key() {
    let env = TestEnv::new();
    env.run_stdin(&["auth", "login", "--save"], &format!("{}\n", keys::VALID))
        .assert_ok()
        .stderr_has("API key saved to Secret Service (profile: default)");
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(text(&profiles(&env)["default"], "key_hint"), VALID_HINT);
    // --save and --no-save contradict each other: a usage error, and nothing is stored.
    let before = env.snapshot();
    env.run_stdin(
        &["auth", "login", "--save", "--no-save", "--profile", "x"],
        &format!("{}\n", keys::VALID),
    )
    .assert_code(2)
    .stderr_has("the argument '--save' cannot be used with '--no-save'");
    assert_eq!(env.snapshot(), before);
}

// --- Profiles --------------------------------------------------------------------------------

#[test]
fn profile_flag_and_env_select_the_profile_and_profiles_coexist() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.run_stdin(
        &["auth", "login", "--profile", "work"],
        &format!("{}\n", keys::EXPIRING_SOON),
    )
    .assert_ok()
    .stderr_has("(profile: work)");
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::PROJECT_SCOPED)),
        &[("FLUXLOOP_PROFILE", "ci.bot-2_x")],
    )
    .assert_ok()
    .stderr_has("(profile: ci.bot-2_x)");

    assert_eq!(env.keychain_profiles(), ["ci.bot-2_x", "default", "work"]);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::EXPIRING_SOON)
    );
    assert_eq!(
        env.ss.lookup(SERVICE, "ci.bot-2_x").as_deref(),
        Some(keys::PROJECT_SCOPED)
    );
    let all = profiles(&env);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["ci.bot-2_x", "default", "work"]
    );
    assert_eq!(text(&all["default"], "account"), "john@example.com");
    assert_eq!(text(&all["work"], "account"), "soon@example.com");
    assert_eq!(text(&all["ci.bot-2_x"], "account"), "scoped@example.com");

    // --profile wins over FLUXLOOP_PROFILE.
    env.run_with(
        &["auth", "login", "--profile", "flag"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_PROFILE", "fromenv")],
    )
    .assert_ok();
    assert_eq!(
        env.keychain_profiles(),
        ["ci.bot-2_x", "default", "flag", "work"]
    );
}

#[test]
fn relogin_replaces_the_key_of_the_profile() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("other"));
    env.login(keys::EXPIRING_SOON, None);

    assert_eq!(
        env.keychain_profiles(),
        ["default", "other"],
        "one entry per profile"
    );
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::EXPIRING_SOON)
    );
    assert_eq!(
        env.ss.lookup(SERVICE, "other").as_deref(),
        Some(keys::VALID)
    );
    let all = profiles(&env);
    assert_eq!(text(&all["default"], "key_hint"), EXPIRING_SOON_HINT);
    assert_eq!(text(&all["default"], "account"), "soon@example.com");
    assert_eq!(text(&all["other"], "key_hint"), VALID_HINT);
    env.assert_not_on_disk(keys::VALID);
    env.assert_not_on_disk(keys::EXPIRING_SOON);
}

#[test]
fn invalid_profile_names_are_usage_errors_that_touch_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    let long = "a".repeat(65);
    let stdin = format!("{}\n", keys::VALID);
    for name in ["a b", long.as_str(), "../x", "", "x/y", "é", "tab\there"] {
        let run = env.run_with(&["auth", "login", "--profile", name], Some(&stdin), &[]);
        run.assert_code(2).never_shows(keys::VALID);
        assert!(
            run.stderr.contains("profile name") || run.stderr.contains("--profile"),
            "{name:?}: the error does not say what is wrong:\n{}",
            run.stderr
        );
        assert_untouched(&env, &before, requests);
    }
    for name in ["a b", long.as_str(), "../x"] {
        env.run_with(
            &["auth", "login"],
            Some(&stdin),
            &[("FLUXLOOP_PROFILE", name)],
        )
        .assert_code(2)
        .stderr_has("profile name");
        assert_untouched(&env, &before, requests);
    }
    // The boundary: 64 characters is a valid name.
    env.login(keys::VALID, Some(&"a".repeat(64)));
}

#[test]
fn env_api_key_at_login_warns_that_it_takes_precedence() {
    let env = TestEnv::new();
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    )
    .assert_ok()
    .stderr_has("warning: FLUXLOOP_API_KEY is set")
    .stderr_has("precedence")
    .never_shows(keys::EXPIRING_SOON);
    // The login stored the key it was given, not the environment's.
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );

    let quiet = env.login(keys::VALID, None);
    assert!(
        !quiet.stderr.contains("FLUXLOOP_API_KEY"),
        "{}",
        quiet.stderr
    );
}

// --- What goes over the wire -----------------------------------------------------------------

#[test]
fn key_travels_only_in_the_authorization_header_with_our_user_agent() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.run(&[
        "auth",
        "login",
        "--no-save",
        "--api-key",
        keys::EXPIRING_SOON,
    ])
    .assert_ok();
    let sent = env.platform.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let user_agent = format!("fluxloop/{} (linux)", env!("CARGO_PKG_VERSION"));
    for (req, key) in sent.iter().zip([keys::VALID, keys::EXPIRING_SOON]) {
        assert_eq!(
            (req.method.as_str(), req.target.as_str()),
            ("GET", "/api/auth/key")
        );
        let bearer = format!("Bearer {key}");
        assert_eq!(req.header("authorization"), Some(bearer.as_str()));
        assert_eq!(req.header("user-agent"), Some(user_agent.as_str()));
        let auth_headers = req
            .headers
            .iter()
            .filter(|(n, _)| n == "authorization")
            .count();
        assert_eq!(auth_headers, 1);
        // Nowhere but the Authorization header: not the URL, no other header, no body.
        for (name, value) in &req.headers {
            assert!(
                name == "authorization" || !value.contains(key),
                "header {name} carries the key"
            );
        }
        assert!(!req.target.contains(key));
        assert!(!String::from_utf8_lossy(&req.body).contains(key));
    }
}

#[test]
fn key_expiring_within_14_days_warns_at_login() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None)
        .stderr_has("warning: this API key expires")
        .stderr_has(&format!(
            "({} days remaining)",
            keys::EXPIRING_SOON_DAYS_REMAINING
        ))
        .stderr_has(KEYS_PAGE);
    // 84 days away is no reason to warn.
    let quiet = env.login(keys::VALID, None);
    assert!(!quiet.stderr.contains("expires"), "{}", quiet.stderr);
}

// --- No usable keychain ----------------------------------------------------------------------

/// A keychain problem is found before the key is read or sent anywhere: a malformed key on
/// stdin would fail with exit 3 if it were read first, and the platform would log a request.
#[track_caller]
fn assert_keychain_refusal(env: &TestEnv, detail: &str) {
    for stdin in [
        format!("{}\n", keys::VALID),
        "not-a-key-at-all\n".to_string(),
    ] {
        let run = env.run_stdin(&["auth", "login"], &stdin);
        run.assert_code(6)
            .stderr_has("Secret Service")
            .stderr_has(detail)
            .stderr_has("FLUXLOOP_API_KEY")
            .never_shows(keys::VALID);
        assert!(!run.stderr.contains("That is not a FluxLoop API key"));
    }
    let run = env.run(&["auth", "login", "--api-key", keys::VALID]);
    run.assert_code(6).stderr_has("FLUXLOOP_API_KEY");
    assert!(
        env.platform.requests().is_empty(),
        "the platform was called: {:?}",
        env.platform.requests()
    );
    // Fail closed: no plaintext fallback anywhere.
    env.assert_not_on_disk(keys::VALID);
    if let Some(raw) = env.credentials() {
        assert!(!raw.contains("api_key"), "{raw}");
    }
}

#[test]
fn no_secret_service_on_the_bus_fails_closed_before_reading_the_key() {
    let env = TestEnv::with(SecretService::start_bus_only());
    assert_keychain_refusal(&env, "org.freedesktop.secrets");
    assert!(env.credentials().is_none());
}

#[test]
fn no_session_bus_fails_closed_before_reading_the_key() {
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.args(["auth", "login"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let run = env.run_cmd(&mut cmd, Some(&format!("{}\n", keys::VALID)));
    run.assert_code(6)
        .stderr_has("D-Bus")
        .stderr_has("FLUXLOOP_API_KEY")
        .never_shows(keys::VALID);
    assert!(env.platform.requests().is_empty());
    assert!(env.credentials().is_none());
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn locked_keychain_fails_closed_before_reading_the_key() {
    let env = TestEnv::with(SecretService::start_locked());
    assert_keychain_refusal(&env, "locked");
    assert!(env.credentials().is_none());
    assert!(env.keychain().is_empty());
}

#[test]
fn locked_keychain_at_relogin_keeps_the_saved_profile() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let requests = env.platform.requests().len();
    env.ss.lock();
    let before = env.snapshot();
    env.run_stdin(&["auth", "login"], &format!("{}\n", keys::EXPIRING_SOON))
        .assert_code(6)
        .stderr_has("locked")
        .stderr_has("FLUXLOOP_API_KEY");
    assert_untouched(&env, &before, requests);
    env.assert_not_on_disk(keys::EXPIRING_SOON);
}

#[test]
fn keychain_without_login_collection_fails_closed() {
    let env = TestEnv::with(SecretService::start_without_login_collection());
    let run = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    run.assert_code(6)
        .stderr_has("not set up")
        .stderr_has("FLUXLOOP_API_KEY")
        .never_shows(keys::VALID);
    assert!(env.platform.requests().is_empty());
    assert!(env.credentials().is_none());
    env.assert_not_on_disk(keys::VALID);
}

// --- Concurrency -----------------------------------------------------------------------------

/// Runs the logins at the same moment, one thread each; returns their runs.
fn concurrent_logins(env: &TestEnv, logins: &[(&str, &str)]) -> Vec<Run> {
    let barrier = Barrier::new(logins.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = logins
            .iter()
            .map(|(key, profile)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let stdin = format!("{key}\n");
                    let args = ["auth", "login", "--profile", profile];
                    barrier.wait();
                    env.run_stdin(&args, &stdin)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_logins_to_different_profiles_keep_every_profile() {
    let env = TestEnv::new();
    let logins = [
        (keys::VALID, "alpha"),
        (keys::EXPIRING_SOON, "beta"),
        (keys::PROJECT_SCOPED, "gamma"),
        (keys::UNKNOWN_PERMISSION, "delta"),
    ];
    for run in concurrent_logins(&env, &logins) {
        run.assert_ok();
    }
    let all = profiles(&env);
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["alpha", "beta", "delta", "gamma"],
        "a concurrent login lost a profile"
    );
    assert_eq!(env.keychain_profiles(), ["alpha", "beta", "delta", "gamma"]);
    for (key, profile) in logins {
        assert_eq!(env.ss.lookup(SERVICE, profile).as_deref(), Some(key));
    }
}

#[test]
fn concurrent_logins_to_the_same_profile_end_consistent() {
    let env = TestEnv::new();
    for round in 0..3 {
        let runs = concurrent_logins(
            &env,
            &[(keys::VALID, "default"), (keys::EXPIRING_SOON, "default")],
        );
        for run in &runs {
            run.assert_ok();
        }
        let items = env.keychain();
        assert_eq!(items.len(), 1, "round {round}: {items:?}");
        let stored = items[0].secret.clone().unwrap();
        let hint = text(&profiles(&env)["default"], "key_hint");
        let expected = if stored == keys::VALID {
            VALID_HINT
        } else {
            assert_eq!(stored, keys::EXPIRING_SOON);
            EXPIRING_SOON_HINT
        };
        assert_eq!(
            hint, expected,
            "round {round}: metadata describes a different key than the keychain holds"
        );
    }
}

// --- Failure halfway through -----------------------------------------------------------------

#[test]
fn metadata_write_failure_leaves_the_keychain_as_it_was() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    // A debug-build hook makes every write of the credentials file fail as a full disk would,
    // so this runs everywhere, root included (where a read-only directory stops nothing).
    let fail = [("FLUXLOOP_DEBUG_FAIL_METADATA_WRITE", "1")];

    // Rotation whose metadata cannot be written: the old key stays in the keychain.
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::EXPIRING_SOON)),
        &fail,
    )
    .assert_code(1)
    .stderr_has("No space left on device")
    .stderr_has("The keychain was restored to what it held before; nothing changed.")
    .never_shows(keys::EXPIRING_SOON);
    assert_eq!(env.snapshot(), before);

    // A new profile: the entry it created is removed again.
    env.run_with(
        &["auth", "login", "--profile", "work"],
        Some(&format!("{}\n", keys::EXPIRING_SOON)),
        &fail,
    )
    .assert_code(1);
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.keychain_profiles(), ["default"]);
    env.assert_not_on_disk(keys::EXPIRING_SOON);
}

#[test]
fn no_save_needs_no_keychain() {
    let env = TestEnv::with(SecretService::start_bus_only());
    env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::VALID),
    )
    .assert_ok()
    .stderr_has("Your account: john@example.com")
    .never_shows(keys::VALID);
    assert!(env.credentials().is_none());
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn never_expiring_key_is_saved_as_never() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    assert_eq!(text(&profiles(&env)["default"], "expires"), "never");
}

/// A key typed without `--api-key` lands in clap's usage error, which is masked.
#[test]
fn key_given_as_a_stray_argument_is_not_echoed() {
    let env = TestEnv::new();
    let before = env.snapshot();
    for args in [
        &["auth", "login", keys::VALID][..],
        &["auth", "logout", keys::VALID],
        &["auth", "login", "--profile", "work", keys::VALID],
    ] {
        env.run(args).assert_code(2).never_shows(keys::VALID);
    }
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.requests().is_empty());
}
