//! `fluxloop auth logout` end to end (issues 2 and 3): removal of keychain entries and
//! metadata, the orphan purge of `--all`, and revocation with `--revoke`.

mod common;

use common::env::{Fault, Platform, SERVICE, TestEnv, keys, labelled_transcript};
use common::secret_service::SecretService;
use common::{assert_run_snapshot, assert_runs_snapshot, fluxloop_snapshot};

/// Profile names in the `profiles:` map of the credentials file (empty if there is no file).
fn metadata_profiles(env: &TestEnv) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        profiles: std::collections::BTreeMap<String, serde_json::Value>,
    }
    let Some(text) = env.credentials() else {
        return Vec::new();
    };
    let file: File = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("credentials file is not valid YAML ({e}):\n{text}"));
    file.profiles.into_keys().collect()
}

fn deletes(env: &TestEnv) -> Vec<String> {
    env.platform
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.target)
        .collect()
}

#[test]
fn logout_removes_the_default_profile_and_says_the_key_is_not_revoked() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));

    // The key is gone from this machine, so `--revoke` could no longer reach it: the note
    // names the key for the dashboard instead.
    let logout = env.run(&["auth", "logout"]);
    logout.never_shows(keys::VALID);

    assert_eq!(env.keychain_profiles(), ["work"]);
    assert_eq!(env.ss.lookup(SERVICE, "default"), None);
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::EXPIRING_SOON)
    );
    assert_eq!(metadata_profiles(&env), ["work"]);
    // Not revoked means the platform was not asked to.
    assert!(deletes(&env).is_empty());
    assert!(env.platform.revoked().is_empty());

    // `status` agrees: logged out of default, still logged in to work.
    let status = env.run(&["auth", "status"]);
    let status_work = env.run(&["auth", "status", "--profile", "work"]);
    assert_runs_snapshot!(
        env,
        [logout, status, status_work],
        "logout of default while work stays, then status of each"
    );
}

#[test]
fn logout_of_a_named_profile_by_flag_or_env() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("work"));
    env.login(keys::VALID, Some("ci"));

    let by_flag = env.run(&["auth", "logout", "--profile", "work"]);
    assert_eq!(env.keychain_profiles(), ["ci", "default"]);
    assert_eq!(metadata_profiles(&env), ["ci", "default"]);

    let by_env = env.run_with(&["auth", "logout"], None, &[("FLUXLOOP_PROFILE", "ci")]);
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(metadata_profiles(&env), ["default"]);
    assert_runs_snapshot!(
        env,
        [by_flag, by_env],
        "logout of the profile named by --profile, then by FLUXLOOP_PROFILE"
    );
}

#[test]
fn logout_when_not_logged_in_says_so_and_succeeds() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let nothing = env.run(&["auth", "logout"]);
    assert_eq!(env.snapshot(), before);

    // Another profile exists: logging out of one that does not is still "nothing to do".
    env.login(keys::VALID, Some("work"));
    let before = env.snapshot();
    let other_exists = env.run(&["auth", "logout"]);
    assert_eq!(env.snapshot(), before);

    let work = env.run(&["auth", "logout", "--profile", "work"]);
    let all = env.run(&["auth", "logout", "--all"]);
    let text = labelled_transcript([
        ("no profile at all", &nothing),
        ("only profile work exists", &other_exists),
        ("log out of work", &work),
        ("no profile left", &all),
    ]);
    env.transcript_settings("logout with nothing to log out of")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn logout_removes_a_keychain_entry_whose_metadata_was_lost() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    std::fs::remove_file(env.credentials_path()).unwrap();
    fluxloop_snapshot!(env, ["auth", "logout"]);
    assert!(env.keychain().is_empty());
}

#[test]
fn logout_with_an_invalid_profile_name_touches_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let requests = env.platform.requests().len();
    let mut runs = Vec::new();
    for name in ["a b", "../default", ""] {
        runs.push(env.run(&["auth", "logout", "--profile", name]));
        runs.push(env.run(&["auth", "logout", "--all", "--profile", name]));
    }
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.platform.requests().len(), requests);
    assert_runs_snapshot!(
        env,
        runs,
        "logout with invalid profile names, alone and with --all"
    );
}

/// `--all` takes no `--profile`: refused before any store is opened.
#[test]
fn logout_all_with_a_profile_is_a_usage_error_that_touches_nothing() {
    let env = TestEnv::without_keychain();
    // Metadata of a keychain profile, as a login on this machine would have written it.
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    let text = format!(
        "version: 1\nprofiles:\n  work:\n    account: john@example.com\n    api_url: {}\n    key_hint: flux_dev_abc1...mno34\n    storage: keychain\n",
        env.platform.url()
    );
    std::fs::write(env.credentials_path(), &text).unwrap();
    fluxloop_snapshot!(env, ["auth", "logout", "--all", "--profile", "work"]);
    assert_eq!(env.credentials().as_deref(), Some(text.as_str()));
    assert!(env.platform.requests().is_empty());
}

// --- logout --all ----------------------------------------------------------------------------

#[test]
fn logout_all_purges_every_profile_and_orphan_but_not_other_services() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    // An entry of ours with no metadata at all, as a crash or an older release might leave.
    env.ss.store(SERVICE, "ghost", keys::PROJECT_SCOPED);
    // A profile whose metadata entry was removed by hand.
    env.login(keys::VALID, Some("hand-edited"));
    let text = env.credentials().unwrap();
    let kept: Vec<&str> = {
        let mut skip = false;
        text.lines()
            .filter(|l| {
                if l.starts_with("  hand-edited:") {
                    skip = true;
                    return false;
                }
                if skip && l.starts_with("    ") {
                    return false;
                }
                skip = false;
                true
            })
            .collect()
    };
    std::fs::write(env.credentials_path(), kept.join("\n") + "\n").unwrap();
    assert_eq!(metadata_profiles(&env), ["default", "work"]);
    // Somebody else's secret under another service name.
    env.ss.store("other-app", "x", "secret");
    env.ss.store("other-app", "default", "another secret");
    assert_eq!(
        env.keychain_profiles(),
        ["default", "ghost", "hand-edited", "work"]
    );

    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).never_shows(keys::PROJECT_SCOPED);

    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    assert!(metadata_profiles(&env).is_empty());
    assert_eq!(env.ss.lookup("other-app", "x").as_deref(), Some("secret"));
    assert_eq!(
        env.ss.lookup("other-app", "default").as_deref(),
        Some("another secret")
    );
    assert!(env.platform.revoked().is_empty());
}

#[test]
fn logout_all_purges_entries_after_the_metadata_file_was_deleted() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("work"));
    env.ss.store("other-app", "x", "secret");
    std::fs::remove_file(env.credentials_path()).unwrap();

    fluxloop_snapshot!(env, ["auth", "logout", "--all"]);
    assert!(env.keychain().is_empty());
    assert_eq!(env.ss.lookup("other-app", "x").as_deref(), Some("secret"));
}

#[test]
fn logout_all_removes_orphans_only_even_with_no_profiles() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "ghost", keys::VALID);
    env.ss.store(SERVICE, "ghost2", keys::UNKNOWN);
    fluxloop_snapshot!(env, ["auth", "logout", "--all"]);
    assert!(env.keychain().is_empty());
}

/// More entries than the bus daemon lets one connection await replies for at once (128 unless
/// configured): logout --all sends its calls ahead of the replies, within that limit.
#[test]
fn logout_all_removes_more_entries_than_a_connection_may_await_at_once() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    for i in 0..150 {
        env.ss
            .store(SERVICE, &format!("orphan{i:03}"), keys::UNKNOWN);
    }
    env.ss.store("other-app", "x", "secret");
    let check = env.run(&["auth", "list", "--check", "--json"]);
    check.assert_ok();
    assert_eq!(
        check.json()["check"]["entries_without_profile"]
            .as_array()
            .map(Vec::len),
        Some(150),
        "{}",
        check.stdout
    );

    let run = env.run(&["auth", "logout", "--all"]);
    run.assert_ok()
        .stderr_has("Removed 151 entries from the Secret Service (150 had no profile metadata)");
    assert!(env.keychain().is_empty());
    assert_eq!(env.ss.lookup("other-app", "x").as_deref(), Some("secret"));
}

// --- logout --revoke -------------------------------------------------------------------------

#[test]
fn revoke_deletes_the_key_on_the_platform_then_locally() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    let default = env.run(&["auth", "logout", "--revoke"]);
    default.never_shows(keys::VALID);

    assert_eq!(env.platform.revoked(), [keys::VALID]);
    let delete = env
        .platform
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE")
        .expect("no DELETE request");
    assert_eq!(delete.target, "/api/auth/key");
    let bearer = format!("Bearer {}", keys::VALID);
    assert_eq!(delete.header("authorization"), Some(bearer.as_str()));
    assert_eq!(env.keychain_profiles(), ["work"]);
    assert_eq!(metadata_profiles(&env), ["work"]);

    let work = env.run(&["auth", "logout", "--revoke", "--profile", "work"]);
    assert_eq!(env.platform.revoked(), [keys::VALID, keys::EXPIRING_SOON]);
    assert!(env.keychain().is_empty());

    // The platform now refuses the key: it really is revoked.
    let login = env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::VALID),
    );
    assert_runs_snapshot!(
        env,
        [default, work, login],
        "logout --revoke of default, then of work, then a login with the revoked key"
    );
}

#[test]
fn revoke_of_an_already_unusable_key_counts_as_success() {
    let env = TestEnv::new();
    // The same key saved twice; revoking it through one profile makes the other's unusable.
    env.login(keys::VALID, Some("a"));
    env.login(keys::VALID, Some("b"));
    let mut runs = vec![
        (
            "profile a",
            env.run(&["auth", "logout", "--revoke", "--profile", "a"]),
        ),
        (
            "profile b, the same key",
            env.run(&["auth", "logout", "--revoke", "--profile", "b"]),
        ),
    ];
    assert_eq!(
        deletes(&env).len(),
        2,
        "the second revocation was not attempted"
    );
    assert!(env.keychain().is_empty());
    assert!(metadata_profiles(&env).is_empty());

    // Keys the platform rejects with 401 for other reasons: revoked, expired, unknown.
    for (label, key) in [
        ("a revoked key", keys::REVOKED),
        ("an expired key", keys::EXPIRED),
        ("an unknown key", keys::UNKNOWN),
    ] {
        env.ss.store(SERVICE, "default", key);
        let run = env.run(&["auth", "logout", "--revoke"]);
        run.never_shows(key);
        assert!(env.keychain().is_empty(), "{label}: entry left behind");
        runs.push((label, run));
    }
    assert_eq!(deletes(&env).len(), 5);
    let text = labelled_transcript(runs.iter().map(|(label, run)| (*label, run)));
    env.transcript_settings("logout --revoke of keys the platform no longer accepts")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn revoke_that_fails_on_the_network_keeps_everything_and_says_so() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();

    env.platform.set_fault(Some(Fault::ServerError));
    let server_error = env.run(&["auth", "logout", "--revoke"]);
    server_error.never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);
    env.platform.set_fault(None);

    // Nothing listening at the URL the key was validated with (saved at login; revoking goes
    // there, whatever FLUXLOOP_API_URL says).
    let saved = env.credentials().unwrap();
    let elsewhere = saved.replace(&env.platform.url(), "http://127.0.0.1:1");
    assert_ne!(saved, elsewhere, "the saved URL is in the file");
    std::fs::write(env.credentials_path(), &elsewhere).unwrap();
    let moved = env.snapshot();
    let refused = env.run(&["auth", "logout", "--revoke"]);
    assert_eq!(env.snapshot(), moved);
    std::fs::write(env.credentials_path(), &saved).unwrap();
    assert_eq!(env.snapshot(), before);

    // A platform that never answers.
    env.platform.set_fault(Some(Fault::Silent));
    let silent = env.run_with(
        &["auth", "logout", "--revoke"],
        None,
        &[("FLUXLOOP_TIMEOUT", "2")],
    );
    assert!(
        silent.elapsed < std::time::Duration::from_secs(10),
        "a 2 s timeout took {:?}",
        silent.elapsed
    );
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.revoked().is_empty());
    let text = labelled_transcript([
        ("the platform answers 500 every time", &server_error),
        ("connection refused", &refused),
        ("the platform never answers", &silent),
    ]);
    env.transcript_settings("logout --revoke while the platform cannot be reached")
        .bind(|| insta::assert_snapshot!(text));
}

/// A key is revoked where it was validated at login: an API URL pointing elsewhere (another
/// environment, where the key means nothing) is named in a warning and not used.
#[test]
fn revoke_goes_to_the_url_the_key_was_validated_with() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let other = Platform::start();
    env.filter(&other.url(), "[OTHER_URL]");
    let run = env.run_with(
        &["auth", "logout", "--revoke"],
        None,
        &[("FLUXLOOP_API_URL", &other.url())],
    );
    assert_run_snapshot!(env, run);
    assert_eq!(env.platform.revoked(), [keys::VALID]);
    assert!(other.requests().is_empty());
}

/// A 401 to the revocation is not a revocation: the key is not accepted there (already revoked
/// or expired, or a key of another environment), and the note says so instead of "revoked".
#[test]
fn a_key_the_platform_does_not_accept_is_not_reported_as_revoked() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    // A profile saved by hand with a key the platform revoked since.
    env.allow_plaintext_on_disk();
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    std::fs::set_permissions(env.fluxloop_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        env.credentials_path(),
        format!(
            "profiles:\n  default:\n    storage: file\n    api_url: {}\n    api_key: {}\n",
            env.platform.url(),
            keys::REVOKED
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let run = env.run(&["auth", "logout", "--revoke"]);
    assert_run_snapshot!(env, run);
    assert!(env.platform.revoked().is_empty(), "nothing was revoked");
    assert!(
        !env.credentials().unwrap().contains("default"),
        "removed locally all the same"
    );
}

/// The retry hint names the profile the way the user did, so that following it works.
#[test]
fn revoke_of_a_named_profile_that_fails_says_how_to_retry_it() {
    let env = TestEnv::new();
    env.login(keys::VALID, Some("work"));
    let before = env.snapshot();
    env.platform.set_fault(Some(Fault::ServerError));
    fluxloop_snapshot!(env, ["auth", "logout", "--revoke", "--profile", "work"]);
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.revoked().is_empty());
}

#[test]
fn revoke_refused_by_permission_keeps_everything() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, None);
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "logout", "--revoke"]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn logout_all_revoke_revokes_every_profile_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    env.login(keys::PROJECT_SCOPED, Some("ci"));
    fluxloop_snapshot!(env, ["auth", "logout", "--all", "--revoke"]);
    let mut revoked = env.platform.revoked();
    revoked.sort();
    let mut expected = vec![keys::VALID, keys::EXPIRING_SOON, keys::PROJECT_SCOPED];
    expected.sort();
    assert_eq!(revoked, expected);
    assert!(env.keychain().is_empty());
    assert!(metadata_profiles(&env).is_empty());
}

#[test]
fn logout_all_revoke_that_fails_keeps_everything() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    let before = env.snapshot();
    env.platform.set_fault(Some(Fault::ServerError));
    fluxloop_snapshot!(env, ["auth", "logout", "--all", "--revoke"]);
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.revoked().is_empty());
}

// --- Keychain problems and the environment ---------------------------------------------------

#[test]
fn locked_keychain_at_logout_fails_and_keeps_the_metadata() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("work"));
    env.ss.lock();
    let before = env.snapshot();
    let mut runs = Vec::new();
    for args in [
        &["auth", "logout"][..],
        &["auth", "logout", "--profile", "work"],
        &["auth", "logout", "--all"],
        &["auth", "logout", "--revoke"],
    ] {
        runs.push(env.run(args));
        assert_eq!(env.snapshot(), before, "{args:?} changed something");
    }
    assert!(env.platform.revoked().is_empty());
    assert_runs_snapshot!(env, runs, "every kind of logout with a locked keychain");
}

#[test]
fn no_secret_service_at_logout_fails_and_keeps_the_metadata() {
    let env = TestEnv::with(SecretService::start_bus_only());
    // Metadata of a keychain profile, as a login on this machine would have written it.
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    let text = format!(
        "version: 1\nprofiles:\n  default:\n    account: john@example.com\n    api_url: {}\n    key_hint: flux_dev_abc1...mno34\n    storage: keychain\n",
        env.platform.url()
    );
    std::fs::write(env.credentials_path(), &text).unwrap();
    let mut runs = Vec::new();
    for args in [&["auth", "logout"][..], &["auth", "logout", "--all"]] {
        runs.push(env.run(args));
        assert_eq!(env.credentials().as_deref(), Some(text.as_str()));
    }
    assert_runs_snapshot!(env, runs, "logout with no Secret Service on the bus");
}

/// A bus address where nothing listens, as in a session without D-Bus (issue 14, point 6).
fn no_bus(env: &TestEnv) -> String {
    format!("unix:path={}", env.ss.dir().join("bus/none").display())
}

#[test]
fn logout_all_with_no_reachable_keychain_and_no_profile_fails_and_leaves_the_orphans() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "ghost", keys::UNKNOWN);
    let address = no_bus(&env);
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", address.as_str())];
    let runs = [
        env.run_with(&["auth", "logout", "--all"], None, &no_bus),
        env.run_with(&["auth", "logout", "--all", "--revoke"], None, &no_bus),
    ];
    for run in &runs {
        run.assert_code(6);
    }
    assert_eq!(env.keychain_profiles(), ["ghost"]);
    assert!(env.credentials().is_none());
    assert!(deletes(&env).is_empty());
    assert_runs_snapshot!(env, runs, "logout --all with no profile and no D-Bus");

    // Where the keychain is reachable, the orphan is found and removed.
    env.run(&["auth", "logout", "--all"]).assert_ok();
    assert!(env.keychain().is_empty());
}

#[test]
fn logout_all_with_no_secret_service_and_no_profile_fails() {
    let env = TestEnv::with(SecretService::start_bus_only());
    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).assert_code(6);
}

#[test]
fn logout_all_of_file_profiles_with_no_reachable_keychain_says_it_was_not_checked() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    env.ss.store(SERVICE, "ghost", keys::UNKNOWN);
    let address = no_bus(&env);
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", address.as_str())];
    env.run_with(
        &["auth", "login", "--storage", "file"],
        Some(&format!("{}\n", keys::VALID)),
        &no_bus,
    )
    .assert_ok();
    assert_eq!(metadata_profiles(&env), ["default"]);

    fluxloop_snapshot!(env, ["auth", "logout", "--all"], envs = &no_bus).assert_ok();
    assert!(metadata_profiles(&env).is_empty());
    assert!(!env.credentials().unwrap_or_default().contains(keys::VALID));
    // Not checked, so not removed.
    assert_eq!(env.keychain_profiles(), ["ghost"]);
}

#[test]
fn env_api_key_still_set_at_logout_warns() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let warned = env.run_with(
        &["auth", "logout"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    );
    warned.never_shows(keys::EXPIRING_SOON);
    assert!(env.keychain().is_empty());
    // Also when there was nothing to log out of.
    let nothing_to_do = env.run_with(
        &["auth", "logout", "--all"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    );
    // And not without it.
    let quiet = env.run(&["auth", "logout"]);
    assert_runs_snapshot!(
        env,
        [warned, nothing_to_do, quiet],
        "logout with FLUXLOOP_API_KEY set (warns, even with nothing to do), then without it"
    );
}

#[test]
fn revoke_without_a_saved_key_does_not_claim_it_was_revoked() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // The keychain entry is gone (removed by another tool); only the metadata is left.
    let cleared = env
        .ss
        .secret_tool(&["clear", "service", SERVICE, "username", "default"], None);
    assert!(cleared.success(), "{cleared:?}");

    fluxloop_snapshot!(env, ["auth", "logout", "--revoke"]);
    assert!(deletes(&env).is_empty());
    assert!(metadata_profiles(&env).is_empty());
}
