//! Keychain entries belong to the credentials directory that made them, and the purge of
//! `logout --all` takes only fluxloop's own (SECURITY.md, "Keychain entries").

mod common;

use std::path::PathBuf;

use common::env::{MARKER, Run, SERVICE, TestEnv, keys};
use common::fluxloop_snapshot;

/// A credentials directory other than `~/.fluxloop`, and the environment that selects it.
struct OtherHome {
    dir: PathBuf,
    dir_str: String,
}

impl OtherHome {
    fn new(env: &TestEnv) -> Self {
        let dir = env.home().join("other");
        let dir_str = dir.to_str().unwrap().to_owned();
        Self { dir, dir_str }
    }

    fn envs(&self) -> [(&str, &str); 1] {
        [("FLUXLOOP_HOME", self.dir_str.as_str())]
    }
}

fn login_in(env: &TestEnv, other: &OtherHome, key: &str, profile: &str) -> Run {
    let run = env.run_with(
        &["auth", "login", "--profile", profile],
        Some(&format!("{key}\n")),
        &other.envs(),
    );
    run.assert_ok();
    run
}

/// The secret of the entry for `profile` under the default service, as secret-tool finds it.
fn main_secret(env: &TestEnv, profile: &str) -> Option<String> {
    env.ss.lookup(SERVICE, profile)
}

#[test]
fn logout_all_under_another_home_leaves_the_main_profiles_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let other = OtherHome::new(&env);
    login_in(&env, &other, keys::PROJECT_SCOPED, "ci");

    let envs = other.envs();
    let run = fluxloop_snapshot!(env, ["auth", "logout", "--all"], envs = &envs);
    run.assert_ok();

    assert_eq!(main_secret(&env, "default").as_deref(), Some(keys::VALID));
    assert!(env.keychain_of(&other.dir).is_empty());
    env.run(&["auth", "status"])
        .assert_ok()
        .assert_line("Profile: default");
}

#[test]
fn login_to_default_under_another_home_keeps_the_main_key_and_each_home_reads_its_own() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let other = OtherHome::new(&env);
    login_in(&env, &other, keys::PROJECT_SCOPED, "default");

    assert_eq!(main_secret(&env, "default").as_deref(), Some(keys::VALID));
    let theirs = env.keychain_of(&other.dir);
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0].secret.as_deref(), Some(keys::PROJECT_SCOPED));
    assert_ne!(theirs[0].attributes.get("service").unwrap(), SERVICE);

    // Each status shows its own key's masked hint (VALID: flux_dev_…, PROJECT_SCOPED:
    // flux_prod_…).
    fluxloop_snapshot!("status_main", env, ["auth", "status"]).assert_ok();
    let envs = other.envs();
    fluxloop_snapshot!("status_other", env, ["auth", "status"], envs = &envs).assert_ok();
}

#[test]
fn status_verbose_logs_the_service_name_of_its_home() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let other = OtherHome::new(&env);
    login_in(&env, &other, keys::PROJECT_SCOPED, "default");
    let scoped = env.keychain_of(&other.dir)[0].attributes["service"].clone();
    assert!(
        scoped.starts_with("fluxloop:") && scoped.len() == "fluxloop:".len() + 12,
        "{scoped}"
    );

    env.run(&["auth", "status", "-v"])
        .assert_ok()
        .stderr_has("service=\"fluxloop\"");
    env.run_with(&["auth", "status", "-v"], None, &other.envs())
        .assert_ok()
        .stderr_has(&format!("service=\"{scoped}\""));
}

#[test]
fn fluxloop_home_naming_the_default_directory_uses_the_main_entries() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let spelled = format!("{}/other/../.fluxloop/", env.home().display());
    std::fs::create_dir(env.home().join("other")).unwrap();
    let run = env.run_with(&["auth", "status"], None, &[("FLUXLOOP_HOME", &spelled)]);
    run.assert_ok().assert_line("Profile: default");
    run.stdout_has("flux_dev_abc1...mno34");
    // No second entry was made anywhere.
    assert_eq!(env.ss.search_where(&[MARKER]).unwrap().len(), 1);
}

#[test]
fn entries_other_programs_stored_under_our_service_survive_logout_all() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // An account name that is no profile name, and a profile name with another program's
    // marker.
    env.ss.store_with(
        "Backup token",
        &[("service", SERVICE), ("username", "john@example.com")],
        "not-ours-1",
    );
    env.ss.store_with(
        "FluxLoop Desktop",
        &[
            ("service", SERVICE),
            ("username", "work"),
            ("application", "fluxloop-desktop"),
        ],
        "not-ours-2",
    );

    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).assert_ok();

    let mut left: Vec<Option<String>> = env.keychain().into_iter().map(|i| i.secret).collect();
    left.sort();
    assert_eq!(
        left,
        [Some("not-ours-1".to_owned()), Some("not-ours-2".to_owned())]
    );
}

#[test]
fn logout_all_with_only_other_programs_entries_removes_nothing_and_says_so() {
    let env = TestEnv::new();
    env.ss.store_with(
        "Backup token",
        &[("service", SERVICE), ("username", "john@example.com")],
        "not-ours-1",
    );

    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).assert_ok();

    assert_eq!(env.keychain().len(), 1);
}

#[test]
fn an_earlier_releases_unmarked_entry_is_read_by_status_and_removed_by_logout_all() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    replace_with_unmarked(&env, "default", keys::VALID);
    // And one whose metadata was lost.
    env.ss.store(SERVICE, "old", keys::PROJECT_SCOPED);

    let status = env.run(&["auth", "status"]);
    status.assert_ok().stdout_has("flux_dev_abc1...mno34");
    // Written by `secret-tool store` (libsecret's own session), read in fluxloop's own.
    env.run(&["auth", "status", "-v"])
        .assert_ok()
        .stdout_has("flux_dev_abc1...mno34")
        .stderr_has("keychain get of profile 'default': found (read in fluxloop's own session)");

    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).assert_ok();
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
}

#[test]
fn an_earlier_releases_entry_gains_the_marker_on_the_next_login() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    replace_with_unmarked(&env, "default", keys::VALID);

    env.login(keys::PROJECT_SCOPED, None);

    let items = env.keychain();
    assert_eq!(items.len(), 1, "{items:?}");
    let dir = env.fluxloop_dir().canonicalize().unwrap();
    assert_eq!(items[0].secret.as_deref(), Some(keys::PROJECT_SCOPED));
    assert_eq!(
        items[0].attributes.get("application").map(String::as_str),
        Some("fluxloop")
    );
    assert_eq!(
        items[0].attributes.get("fluxloop-home").map(String::as_str),
        dir.to_str()
    );
}

/// Makes `profile`'s entry look as an earlier release left it: `service` and `username`, no
/// marker.
fn replace_with_unmarked(env: &TestEnv, profile: &str, key: &str) {
    let out = env
        .ss
        .secret_tool(&["clear", "service", SERVICE, "username", profile], None);
    assert!(out.success(), "{out:?}");
    env.ss.store(SERVICE, profile, key);
    let items = env.keychain();
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        !items[0].attributes.contains_key("application"),
        "{items:?}"
    );
}
