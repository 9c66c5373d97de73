//! `fluxloop auth login` end to end (issues 2 and 3): the built binary against the stand-in
//! platform and a private, real gnome-keyring.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Barrier;
use std::time::Duration;

use common::env::{Fault, Run, SERVICE, TestEnv, keys, labelled_transcript};
use common::secret_service::SecretService;
use common::{assert_run_snapshot, assert_runs_snapshot, fluxloop_snapshot};

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

fn login_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
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
    // No prompt without a terminal: the snapshot would show it.
    let run = fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::VALID)
    );
    run.never_shows(keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

#[test]
fn api_key_dash_reads_stdin() {
    let env = TestEnv::new();
    fluxloop_snapshot!(
        env,
        ["auth", "login", "--api-key", "-"],
        stdin = &format!("{}\n", keys::VALID)
    )
    .never_shows(keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

#[test]
fn api_key_argument_works_but_warns_about_history_and_process_list() {
    let env = TestEnv::new();
    fluxloop_snapshot!(env, ["auth", "login", "--api-key", keys::VALID]).never_shows(keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );

    // The pipe and the `-` form do not warn: the warning is about the argument only.
    fluxloop_snapshot!(
        "api_key_piped_does_not_warn",
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::VALID)
    );
}

/// Removes the default profile's keychain entry (secret-tool fails when there is none).
fn clear_default(env: &TestEnv) {
    env.ss
        .secret_tool(&["clear", "service", SERVICE, "username", "default"], None);
    assert_eq!(env.ss.lookup(SERVICE, "default"), None);
}

#[test]
fn whitespace_cr_and_lf_around_the_key_are_trimmed() {
    let env = TestEnv::new();
    let mut runs = Vec::new();
    for (label, input) in [
        (
            "stdin: two spaces, the key, CR LF",
            format!("  {}\r\n", keys::VALID),
        ),
        (
            "stdin: a tab, the key, two spaces, LF",
            format!("\t{}  \n", keys::VALID),
        ),
        ("stdin: the key, CR LF", format!("{}\r\n", keys::VALID)),
        ("stdin: the key, no newline at all", keys::VALID.to_string()),
    ] {
        // Each input starts from an empty keychain, so what is stored is this input's.
        clear_default(&env);
        let run = env.run_stdin(&["auth", "login"], &input);
        assert_eq!(
            env.ss.lookup(SERVICE, "default").as_deref(),
            Some(keys::VALID),
            "{label}: not stored trimmed"
        );
        let sent = env.platform.requests().pop().expect("a validation request");
        let bearer = format!("Bearer {}", keys::VALID);
        assert_eq!(
            sent.header("authorization"),
            Some(bearer.as_str()),
            "{label}"
        );
        runs.push((label, run));
    }
    // The argument form is trimmed as well.
    clear_default(&env);
    let run = env.run(&[
        "auth",
        "login",
        "--api-key",
        &format!(" {}\r\n", keys::VALID),
    ]);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
    runs.push(("--api-key: a space, the key, CR LF", run));
    let labelled = runs.iter().map(|(label, run)| (*label, run));
    let text = labelled_transcript(labelled);
    env.transcript_settings("a key with whitespace, CR and LF around it, each stored trimmed")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn empty_stdin_fails_at_once_with_a_hint_and_stores_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, Some("existing"));
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    let mut runs = Vec::new();
    // EOF at once, a blank line, and whitespace only: none of them is a key. No prompt
    // without a terminal (the snapshot would show it).
    for (label, stdin) in [
        ("stdin: empty", Some("")),
        ("stdin: a blank line", Some("\n")),
        ("stdin: spaces and CR LF", Some("  \r\n")),
        ("stdin: /dev/null", None),
    ] {
        for args in [login_args(&[]), login_args(&["--api-key", "-"])] {
            let run = env.run_with(&args, stdin, &[]);
            assert_untouched(&env, &before, requests);
            runs.push((label, run));
        }
    }
    let text = labelled_transcript(runs.iter().map(|(label, run)| (*label, run)));
    env.transcript_settings("login with nothing on stdin, without and with --api-key -")
        .bind(|| insta::assert_snapshot!(text));
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
    // Command lines hide `flux_…` keys; the one without the prefix needs this.
    env.filter(secret, "[SECRET]");
    let cases: Vec<(&str, String)> = vec![
        ("truncated", good[..good.len() - 20].to_string()),
        ("extra characters", format!("{good}!x")),
        ("pasted twice", format!("{good}{good}")),
        ("text after it", format!("{good} is my key")),
        ("too long", format!("{good}{}", "a".repeat(128))),
        (
            "missing prefix",
            good.trim_start_matches("flux_").to_string(),
        ),
        ("quotes", format!("\"{good}\"")),
        ("quote at the end", format!("{good}'")),
        ("uppercase environment", good.replacen("_dev_", "_DEV_", 1)),
        ("no environment", format!("flux_{secret}")),
    ];
    let mut runs = Vec::new();
    for (what, key) in &cases {
        for (how, args, stdin) in [
            ("stdin", login_args(&[]), Some(format!("{key}\n"))),
            (
                "--api-key -",
                login_args(&["--api-key", "-"]),
                Some(format!("{key}\n")),
            ),
            ("the argument", login_args(&["--api-key", key]), None),
        ] {
            let run = env.run_with(&args, stdin.as_deref(), &[]);
            run.never_shows(key).never_shows(secret);
            assert!(
                !run.stderr.contains(&key[key.len().saturating_sub(12)..]),
                "{what} via {how}: the message echoes part of the key:\n{}",
                run.stderr
            );
            assert_untouched(&env, &before, requests);
            runs.push((format!("{what}, via {how}"), run));
        }
    }
    let text = labelled_transcript(runs.iter().map(|(label, run)| (label.as_str(), run)));
    env.transcript_settings("ten paste errors made from a well-formed key, each three ways")
        .bind(|| insta::assert_snapshot!(text));
}

// --- Validation before storing ---------------------------------------------------------------

#[test]
fn unknown_key_is_invalid_with_the_three_checks_and_nothing_is_stored() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    fluxloop_snapshot!(
        env,
        ["auth", "login", "--profile", "work"],
        stdin = &format!("{}\n", keys::UNKNOWN)
    )
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
    fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::REVOKED)
    )
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
    fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::EXPIRED)
    )
    .never_shows(keys::EXPIRED);
    // The working key that was saved before is still there, unchanged.
    assert_eq!(env.snapshot(), before);
    env.assert_not_on_disk(keys::EXPIRED);
}

#[test]
fn network_failure_during_login_stores_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let stdin = format!("{}\n", keys::VALID);
    // Nothing listens on port 1 of loopback: connection refused.
    let refused = env.run_with(
        &["auth", "login"],
        Some(&stdin),
        &[("FLUXLOOP_API_URL", "http://127.0.0.1:1")],
    );
    assert_eq!(env.snapshot(), before);

    // The platform fails with 5xx (after its retries): still nothing stored.
    env.platform.set_fault(Some(Fault::ServerError));
    let server_error = env.run_stdin(&["auth", "login"], &stdin);
    assert_eq!(env.snapshot(), before);

    // A platform that never answers: the timeout ends the login, nothing stored.
    env.platform.set_fault(Some(Fault::Silent));
    let silent = env.run_with(
        &["auth", "login"],
        Some(&stdin),
        &[("FLUXLOOP_TIMEOUT", "2")],
    );
    assert!(
        silent.elapsed < Duration::from_secs(10),
        "a 2 s timeout took {:?}",
        silent.elapsed
    );
    assert_eq!(env.snapshot(), before);
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
    let text = labelled_transcript([
        ("connection refused", &refused),
        ("the platform answers 500 every time", &server_error),
        ("the platform never answers", &silent),
    ]);
    env.transcript_settings("login while the platform cannot be reached")
        .bind(|| insta::assert_snapshot!(text));
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
    // The message names the new place.
    fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::VALID),
        envs = &[("FLUXLOOP_HOME", dir.to_str().unwrap())]
    );
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
    let first = env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::VALID),
    );
    first.never_shows(keys::VALID);
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
    let over_a_profile = env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::EXPIRING_SOON),
    );
    assert_eq!(env.snapshot(), before);

    // --no-save still refuses a key the platform rejects.
    let rejected = env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::UNKNOWN),
    );
    assert_eq!(env.snapshot(), before);
    let text = labelled_transcript([
        ("nothing saved yet", &first),
        ("a profile is saved; another key", &over_a_profile),
        ("a key the platform rejects", &rejected),
    ]);
    env.transcript_settings("login --no-save")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn explicit_save_stores_the_key() {
    let env = TestEnv::new();
    fluxloop_snapshot!(
        env,
        ["auth", "login", "--save"],
        stdin = &format!("{}\n", keys::VALID)
    );
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(text(&profiles(&env)["default"], "key_hint"), VALID_HINT);
    // --save and --no-save contradict each other: a usage error, and nothing is stored.
    let before = env.snapshot();
    fluxloop_snapshot!(
        "save_and_no_save_with_a_profile",
        env,
        ["auth", "login", "--save", "--no-save", "--profile", "x"],
        stdin = &format!("{}\n", keys::VALID)
    );
    assert_eq!(env.snapshot(), before);
}

/// Refused by the argument parser, before a key is read or a store opened.
#[test]
fn save_and_no_save_together_are_a_usage_error() {
    let env = TestEnv::without_keychain();
    fluxloop_snapshot!(
        env,
        ["auth", "login", "--save", "--no-save"],
        stdin = &format!("{}\n", keys::VALID)
    );
    assert!(env.credentials().is_none());
    assert!(env.platform.requests().is_empty());
}

// --- Profiles --------------------------------------------------------------------------------

#[test]
fn profile_flag_and_env_select_the_profile_and_profiles_coexist() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let work = env.run_stdin(
        &["auth", "login", "--profile", "work"],
        &format!("{}\n", keys::EXPIRING_SOON),
    );
    let from_env = env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::PROJECT_SCOPED)),
        &[("FLUXLOOP_PROFILE", "ci.bot-2_x")],
    );

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
    let both = env.run_with(
        &["auth", "login", "--profile", "flag"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_PROFILE", "fromenv")],
    );
    assert_eq!(
        env.keychain_profiles(),
        ["ci.bot-2_x", "default", "flag", "work"]
    );
    assert_runs_snapshot!(
        env,
        [work, from_env, both],
        "login to a profile named by --profile, by FLUXLOOP_PROFILE, and by both"
    );
}

#[test]
fn relogin_replaces_the_key_of_the_profile() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("other"));
    let relogin = env.login(keys::EXPIRING_SOON, None);
    assert_run_snapshot!(env, relogin);

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
    let mut runs = Vec::new();
    for name in ["a b", long.as_str(), "../x", "", "x/y", "é", "tab\there"] {
        let run = env.run_with(&["auth", "login", "--profile", name], Some(&stdin), &[]);
        run.never_shows(keys::VALID);
        assert_untouched(&env, &before, requests);
        runs.push(run);
    }
    for name in ["a b", long.as_str(), "../x"] {
        let run = env.run_with(
            &["auth", "login"],
            Some(&stdin),
            &[("FLUXLOOP_PROFILE", name)],
        );
        assert_untouched(&env, &before, requests);
        runs.push(run);
    }
    assert_runs_snapshot!(
        env,
        runs,
        "login with invalid profile names, by --profile and by FLUXLOOP_PROFILE"
    );
    // The boundary: 64 characters is a valid name.
    env.login(keys::VALID, Some(&"a".repeat(64)));
}

#[test]
fn a_new_profile_named_like_another_but_for_case_is_refused_and_touches_nothing() {
    // Windows Credential Manager would give `Work` and `work` one entry.
    let env = TestEnv::new();
    env.login(keys::VALID, Some("work"));
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    let run = env.run_with(
        &["auth", "login", "--profile", "Work"],
        Some(&format!("{}\n", keys::VALID)),
        &[],
    );
    assert_eq!(run.code, Some(2));
    assert_untouched(&env, &before, requests);
    assert_run_snapshot!(env, run);
    // The profile itself can log in again.
    env.login(keys::VALID, Some("work"));
}

#[test]
fn env_api_key_at_login_warns_that_it_takes_precedence() {
    let env = TestEnv::new();
    let warned = env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    );
    warned.never_shows(keys::EXPIRING_SOON);
    // The login stored the key it was given, not the environment's.
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );

    let quiet = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    assert_runs_snapshot!(
        env,
        [warned, quiet],
        "login with FLUXLOOP_API_KEY set (warns), then without it (does not)"
    );
}

// --- What goes over the wire -----------------------------------------------------------------

#[test]
fn key_travels_only_in_the_authorization_header_with_our_user_agent() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    fluxloop_snapshot!(
        env,
        [
            "auth",
            "login",
            "--no-save",
            "--api-key",
            keys::EXPIRING_SOON
        ]
    );
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
    let soon = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::EXPIRING_SOON));
    // 84 days away is no reason to warn.
    let quiet = env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID));
    assert_runs_snapshot!(
        env,
        [soon, quiet],
        "login with a key that expires in 3 days (warns), then one in 84 days (does not)"
    );
}

// --- No usable keychain ----------------------------------------------------------------------

/// A keychain problem is found before the key is read or sent anywhere: a malformed key on
/// stdin would fail with exit 3 if it were read first, and the platform would log a request.
/// Returns the transcript of the three logins, for the caller's snapshot.
#[track_caller]
fn keychain_refusal(env: &TestEnv) -> String {
    let mut runs = Vec::new();
    for (label, stdin) in [
        ("a valid key on stdin", format!("{}\n", keys::VALID)),
        ("not a key on stdin", "not-a-key-at-all\n".to_string()),
    ] {
        let run = env.run_stdin(&["auth", "login"], &stdin);
        run.never_shows(keys::VALID);
        runs.push((label, run));
    }
    let run = env.run(&["auth", "login", "--api-key", keys::VALID]);
    runs.push(("a valid key as the argument", run));
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
    labelled_transcript(runs.iter().map(|(label, run)| (*label, run)))
}

#[test]
fn no_secret_service_on_the_bus_fails_closed_before_reading_the_key() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let text = keychain_refusal(&env);
    env.transcript_settings("login with no Secret Service on the bus")
        .bind(|| insta::assert_snapshot!(text));
    assert!(env.credentials().is_none());
}

#[test]
fn no_session_bus_fails_closed_before_reading_the_key() {
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.args(["auth", "login"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let run = env.run_cmd(&mut cmd, Some(&format!("{}\n", keys::VALID)));
    assert_run_snapshot!(env, run);
    run.never_shows(keys::VALID);
    assert!(env.platform.requests().is_empty());
    assert!(env.credentials().is_none());
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn locked_keychain_fails_closed_before_reading_the_key() {
    let env = TestEnv::with(SecretService::start_locked());
    let text = keychain_refusal(&env);
    env.transcript_settings("login with a locked keychain")
        .bind(|| insta::assert_snapshot!(text));
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
    fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::EXPIRING_SOON)
    );
    assert_untouched(&env, &before, requests);
    env.assert_not_on_disk(keys::EXPIRING_SOON);
}

#[test]
fn keychain_without_login_collection_fails_closed() {
    let env = TestEnv::with(SecretService::start_without_login_collection());
    fluxloop_snapshot!(
        env,
        ["auth", "login"],
        stdin = &format!("{}\n", keys::VALID)
    )
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
    // Each login says what it saved, whatever the order they ran in.
    let runs = concurrent_logins(&env, &logins);
    assert_runs_snapshot!(env, runs, "four logins at once, each to its own profile");
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
    let mut all_runs = Vec::new();
    for round in 0..3 {
        let runs = concurrent_logins(
            &env,
            &[(keys::VALID, "default"), (keys::EXPIRING_SOON, "default")],
        );
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
        all_runs.extend(runs);
    }
    // Whether a login replaced the other account's profile depends on which ran first: those
    // lines vary between runs, so they are checked here and left out of the snapshot.
    for run in &mut all_runs {
        let (changes, rest): (Vec<&str>, Vec<&str>) = run
            .stderr
            .split_inclusive('\n')
            .partition(|line| line.starts_with("warning: profile 'default' was "));
        for line in &changes {
            assert!(
                [
                    "warning: profile 'default' was john@example.com, now soon@example.com\n",
                    "warning: profile 'default' was soon@example.com, now john@example.com\n",
                ]
                .contains(line),
                "{line}"
            );
        }
        run.stderr = rest.concat();
    }
    // Both logins of each round succeed and say so (they race; their outputs do not).
    assert_runs_snapshot!(
        env,
        all_runs,
        "two logins at once to the same profile, three rounds"
    );
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
    let rotation = env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::EXPIRING_SOON)),
        &fail,
    );
    rotation.never_shows(keys::EXPIRING_SOON);
    assert_eq!(env.snapshot(), before);

    // A new profile: the entry it created is removed again.
    let new_profile = env.run_with(
        &["auth", "login", "--profile", "work"],
        Some(&format!("{}\n", keys::EXPIRING_SOON)),
        &fail,
    );
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.keychain_profiles(), ["default"]);
    env.assert_not_on_disk(keys::EXPIRING_SOON);
    assert_runs_snapshot!(
        env,
        [rotation, new_profile],
        "logins whose metadata write fails: a rotation, then a new profile"
    );
}

#[test]
fn no_save_needs_no_keychain() {
    let env = TestEnv::with(SecretService::start_bus_only());
    fluxloop_snapshot!(
        env,
        ["auth", "login", "--no-save"],
        stdin = &format!("{}\n", keys::VALID)
    )
    .never_shows(keys::VALID);
    assert!(env.credentials().is_none());
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn never_expiring_key_is_saved_as_never() {
    let env = TestEnv::new();
    let run = env.login(keys::PROJECT_SCOPED, None);
    assert_run_snapshot!(env, run);
    assert_eq!(text(&profiles(&env)["default"], "expires"), "never");
}

/// A key typed without `--api-key` lands in clap's usage error, which is masked.
#[test]
fn key_given_as_a_stray_argument_is_not_echoed() {
    // Refused by the argument parser: no keychain needed.
    let env = TestEnv::without_keychain();
    let runs: Vec<Run> = [
        &["auth", "login", keys::VALID][..],
        &["auth", "logout", keys::VALID],
        &["auth", "login", "--profile", "work", keys::VALID],
    ]
    .into_iter()
    .map(|args| env.run(args))
    .collect();
    for run in &runs {
        run.never_shows(keys::VALID);
    }
    assert_runs_snapshot!(env, runs, "a key given without --api-key");
    assert!(env.credentials().is_none());
    assert!(env.platform.requests().is_empty());
}
