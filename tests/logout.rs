//! `fluxloop auth logout` end to end (issues 2 and 3): removal of keychain entries and
//! metadata, the orphan purge of `--all`, and revocation with `--revoke`.

mod common;

use common::env::{Fault, SERVICE, TestEnv, keys};
use common::secret_service::SecretService;

const NOT_REVOKED: &str = "the key was NOT revoked on the platform";

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

    env.run(&["auth", "logout"])
        .assert_ok()
        .stderr_has("Logged out of profile 'default'")
        .stderr_has("Removed the API key from the Secret Service")
        .stderr_has(NOT_REVOKED)
        // The key is gone from this machine, so `--revoke` could no longer reach it: the note
        // names the key for the dashboard instead.
        .stderr_has("If you no longer need it, revoke it at https://app.fluxloop.ai/settings/api-keys (key flux_dev_abc1...mno34, id key_01HV8Y3M2N)")
        .never_shows(keys::VALID);

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
    env.run(&["auth", "status"]).assert_code(3);
    env.run(&["auth", "status", "--profile", "work"])
        .assert_ok();
}

#[test]
fn logout_of_a_named_profile_by_flag_or_env() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("work"));
    env.login(keys::VALID, Some("ci"));

    env.run(&["auth", "logout", "--profile", "work"])
        .assert_ok()
        .stderr_has("Logged out of profile 'work'");
    assert_eq!(env.keychain_profiles(), ["ci", "default"]);
    assert_eq!(metadata_profiles(&env), ["ci", "default"]);

    env.run_with(&["auth", "logout"], None, &[("FLUXLOOP_PROFILE", "ci")])
        .assert_ok()
        .stderr_has("Logged out of profile 'ci'");
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(metadata_profiles(&env), ["default"]);
}

#[test]
fn logout_when_not_logged_in_says_so_and_succeeds() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let run = env.run(&["auth", "logout"]);
    run.assert_ok()
        .stderr_has("Not logged in to profile 'default'");
    assert_eq!(env.snapshot(), before);

    // Another profile exists: logging out of one that does not is still "nothing to do".
    env.login(keys::VALID, Some("work"));
    let before = env.snapshot();
    env.run(&["auth", "logout"])
        .assert_ok()
        .stderr_has("Not logged in to profile 'default'");
    assert_eq!(env.snapshot(), before);

    env.run(&["auth", "logout", "--profile", "work"])
        .assert_ok();
    env.run(&["auth", "logout", "--all"])
        .assert_ok()
        .stderr_has("Not logged in to any profile");
}

#[test]
fn logout_removes_a_keychain_entry_whose_metadata_was_lost() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    std::fs::remove_file(env.credentials_path()).unwrap();
    env.run(&["auth", "logout"])
        .assert_ok()
        .stderr_has("Removed the API key from the Secret Service");
    assert!(env.keychain().is_empty());
}

#[test]
fn logout_with_an_invalid_profile_name_touches_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    for name in ["a b", "../default", ""] {
        env.run(&["auth", "logout", "--profile", name])
            .assert_code(2)
            .stderr_has("Invalid profile name");
        env.run(&["auth", "logout", "--all", "--profile", name])
            .assert_code(2);
    }
    assert_eq!(env.snapshot(), before);
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

    env.run(&["auth", "logout", "--all"])
        .assert_ok()
        .stderr_has("Logged out of all profiles")
        .stderr_has("Removed 4 entries from the Secret Service")
        .stderr_has("2 had no profile metadata")
        .stderr_has(NOT_REVOKED)
        .never_shows(keys::PROJECT_SCOPED);

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

    env.run(&["auth", "logout", "--all"])
        .assert_ok()
        .stderr_has("Removed 2 entries from the Secret Service");
    assert!(env.keychain().is_empty());
    assert_eq!(env.ss.lookup("other-app", "x").as_deref(), Some("secret"));
}

#[test]
fn logout_all_removes_orphans_only_even_with_no_profiles() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "ghost", keys::VALID);
    env.ss.store(SERVICE, "ghost2", keys::UNKNOWN);
    env.run(&["auth", "logout", "--all"])
        .assert_ok()
        .stderr_has("Removed 2 entries from the Secret Service");
    assert!(env.keychain().is_empty());
}

// --- logout --revoke -------------------------------------------------------------------------

#[test]
fn revoke_deletes_the_key_on_the_platform_then_locally() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    env.run(&["auth", "logout", "--revoke"])
        .assert_ok()
        .stderr_has("Logged out of profile 'default'")
        .stderr_has("revoked on the platform")
        .never_shows(keys::VALID);

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

    let run = env.run(&["auth", "logout", "--revoke", "--profile", "work"]);
    assert!(!run.stderr.contains(NOT_REVOKED), "{}", run.stderr);
    assert!(env.keychain().is_empty());

    // The platform now refuses the key: it really is revoked.
    env.run_stdin(
        &["auth", "login", "--no-save"],
        &format!("{}\n", keys::VALID),
    )
    .assert_code(3)
    .stderr_has("revoked");
}

#[test]
fn revoke_of_an_already_unusable_key_counts_as_success() {
    let env = TestEnv::new();
    // The same key saved twice; revoking it through one profile makes the other's unusable.
    env.login(keys::VALID, Some("a"));
    env.login(keys::VALID, Some("b"));
    env.run(&["auth", "logout", "--revoke", "--profile", "a"])
        .assert_ok();
    env.run(&["auth", "logout", "--revoke", "--profile", "b"])
        .assert_ok()
        .stderr_has("Logged out of profile 'b'");
    assert_eq!(
        deletes(&env).len(),
        2,
        "the second revocation was not attempted"
    );
    assert!(env.keychain().is_empty());
    assert!(metadata_profiles(&env).is_empty());

    // Keys the platform rejects with 401 for other reasons: revoked, expired, unknown.
    for key in [keys::REVOKED, keys::EXPIRED, keys::UNKNOWN] {
        env.ss.store(SERVICE, "default", key);
        env.run(&["auth", "logout", "--revoke"])
            .assert_ok()
            .never_shows(key);
        assert!(env.keychain().is_empty(), "{key}: entry left behind");
    }
    assert_eq!(deletes(&env).len(), 5);
}

#[test]
fn revoke_that_fails_on_the_network_keeps_everything_and_says_so() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();

    env.platform.set_fault(Some(Fault::ServerError));
    let run = env.run(&["auth", "logout", "--revoke"]);
    run.assert_code(5)
        .stderr_has("Could not revoke the key of profile 'default'")
        .stderr_has("still saved on this machine")
        .never_shows(keys::VALID);
    assert_eq!(env.snapshot(), before);
    env.platform.set_fault(None);

    // Nothing listening at the URL.
    env.run_with(
        &["auth", "logout", "--revoke"],
        None,
        &[("FLUXLOOP_API_URL", "http://127.0.0.1:1")],
    )
    .assert_code(5)
    .stderr_has("Unable to connect to FluxLoop API")
    .stderr_has("still saved on this machine");
    assert_eq!(env.snapshot(), before);

    // A platform that never answers.
    env.platform.set_fault(Some(Fault::Silent));
    env.run_with(
        &["auth", "logout", "--revoke"],
        None,
        &[("FLUXLOOP_TIMEOUT", "2")],
    )
    .assert_code(5)
    .stderr_has("still saved on this machine");
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.revoked().is_empty());
}

#[test]
fn revoke_refused_by_permission_keeps_everything() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, None);
    let before = env.snapshot();
    env.run(&["auth", "logout", "--revoke"])
        .assert_code(4)
        .stderr_has("Permission denied")
        .stderr_has("still saved on this machine");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn logout_all_revoke_revokes_every_profile_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    env.login(keys::PROJECT_SCOPED, Some("ci"));
    env.run(&["auth", "logout", "--all", "--revoke"])
        .assert_ok()
        .stderr_has("Revoked 3 keys on the platform.")
        .stderr_has("Logged out of all profiles");
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
    env.run(&["auth", "logout", "--all", "--revoke"])
        .assert_code(5)
        .stderr_has("still saved on this machine");
    assert_eq!(env.snapshot(), before);
}

// --- Keychain problems and the environment ---------------------------------------------------

#[test]
fn locked_keychain_at_logout_fails_and_keeps_the_metadata() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::VALID, Some("work"));
    env.ss.lock();
    let before = env.snapshot();
    for args in [
        &["auth", "logout"][..],
        &["auth", "logout", "--profile", "work"],
        &["auth", "logout", "--all"],
        &["auth", "logout", "--revoke"],
    ] {
        env.run(args)
            .assert_code(6)
            .stderr_has("locked")
            .stderr_has("FLUXLOOP_API_KEY");
        assert_eq!(env.snapshot(), before, "{args:?} changed something");
    }
    assert!(env.platform.revoked().is_empty());
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
    for args in [&["auth", "logout"][..], &["auth", "logout", "--all"]] {
        env.run(args)
            .assert_code(6)
            .stderr_has("Secret Service")
            .stderr_has("FLUXLOOP_API_KEY");
        assert_eq!(env.credentials().as_deref(), Some(text.as_str()));
    }
}

#[test]
fn env_api_key_still_set_at_logout_warns() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.run_with(
        &["auth", "logout"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    )
    .assert_ok()
    .stderr_has("warning: FLUXLOOP_API_KEY is still set")
    .never_shows(keys::EXPIRING_SOON);
    assert!(env.keychain().is_empty());
    // Also when there was nothing to log out of.
    env.run_with(
        &["auth", "logout", "--all"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    )
    .assert_ok()
    .stderr_has("FLUXLOOP_API_KEY is still set");
    // And not without it.
    let quiet = env.run(&["auth", "logout"]);
    assert!(
        !quiet.stderr.contains("FLUXLOOP_API_KEY"),
        "{}",
        quiet.stderr
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

    let run = env.run(&["auth", "logout", "--revoke"]);
    run.assert_ok()
        .stderr_has("nothing to revoke")
        .stderr_has("NOT revoked");
    assert!(
        !run.stderr.contains("The key was revoked"),
        "claims a revocation that never happened:\n{}",
        run.stderr
    );
    assert!(deletes(&env).is_empty());
    assert!(metadata_profiles(&env).is_empty());
}
