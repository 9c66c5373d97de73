//! Every way the keychain can be unusable, against the real gnome-keyring: each fails closed
//! with its own clear error and exit 6, offers FLUXLOOP_API_KEY, and never falls back to a
//! plaintext file. (Issue 3, "Keychain faults"; issue 2, "No usable keychain".)
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use common::env::{Run, TestEnv, keys, labelled_transcript};
use common::secret_service::SecretService;
use common::{assert_run_snapshot, assert_runs_snapshot};

/// `status`, `login` (key on stdin) and `logout` on a broken keychain, with `envs` added. Each
/// must leave the credentials file as it was, put the key in no file and never show it; returns
/// the runs, whose snapshot shows the fault's own error, exit 6 and the FLUXLOOP_API_KEY way out.
fn every_command(env: &TestEnv, envs: &[(&str, &str)]) -> Vec<Run> {
    let before = std::fs::read(env.credentials_path()).ok();
    let runs = vec![
        env.run_with(&["auth", "status"], None, envs),
        env.run_with(
            &["auth", "login"],
            Some(&format!("{}\n", keys::VALID)),
            envs,
        ),
        env.run_with(&["auth", "logout"], None, envs),
    ];
    for run in &runs {
        run.never_shows(keys::VALID);
    }
    assert_eq!(
        std::fs::read(env.credentials_path()).ok(),
        before,
        "the credentials file changed"
    );
    env.assert_not_on_disk(keys::VALID);
    runs
}

#[test]
fn no_dbus_session_at_a_missing_socket() {
    let env = TestEnv::new();
    let missing = env.ss.dir().join("no-such-bus");
    let address = format!("unix:path={}", missing.display());
    let runs = every_command(&env, &[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    assert_runs_snapshot!(
        env,
        runs,
        "status, login and logout with no bus at the address"
    );
}

#[test]
fn no_dbus_session_variable_at_all() {
    let env = TestEnv::new();
    let mut runs = Vec::new();
    for args in [
        &["auth", "status"][..],
        &["auth", "login"][..],
        &["auth", "logout"][..],
    ] {
        let mut cmd = env.cmd();
        cmd.args(args).env_remove("DBUS_SESSION_BUS_ADDRESS");
        let run = env.run_cmd(&mut cmd, Some(&format!("{}\n", keys::VALID)));
        run.never_shows(keys::VALID);
        runs.push(run);
    }
    assert!(env.credentials().is_none());
    env.assert_not_on_disk(keys::VALID);
    // The command lines cannot show a variable that is unset: the labels do.
    let text = labelled_transcript(
        runs.iter()
            .map(|run| ("DBUS_SESSION_BUS_ADDRESS unset", run)),
    );
    env.transcript_settings("status, login and logout with no session bus at all")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn dbus_without_a_secret_service() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let runs = every_command(&env, &[]);
    assert_runs_snapshot!(
        env,
        runs,
        "status, login and logout with no Secret Service on the bus"
    );
}

#[test]
fn locked_collection_with_nothing_stored() {
    let env = TestEnv::with(SecretService::start_locked());
    let runs = every_command(&env, &[]);
    assert!(env.keychain().is_empty());
    assert_runs_snapshot!(
        env,
        runs,
        "status, login and logout with a locked, empty keychain"
    );
}

#[test]
fn locked_collection_holding_the_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.ss.lock();
    let before = env.snapshot();
    let runs = every_command(&env, &[]);
    assert_eq!(env.snapshot(), before, "a locked keychain was changed");
    // Nothing was lost: unlocked again, the key is still there.
    assert_eq!(env.keychain_profiles(), ["default"]);
    // Locked, not "not logged in".
    assert_runs_snapshot!(
        env,
        runs,
        "status, login and logout with the key in a locked keychain"
    );
}

#[test]
fn no_login_collection_is_not_set_up_rather_than_not_logged_in() {
    let env = TestEnv::with(SecretService::start_without_login_collection());
    let runs = every_command(&env, &[]);
    assert_runs_snapshot!(
        "no_login_collection",
        env,
        runs,
        "status, login and logout with no default collection"
    );
    // Even when the metadata file says a profile exists, a read must not blame the user.
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    std::fs::write(
        env.credentials_path(),
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n",
    )
    .unwrap();
    set_mode(&env.credentials_path(), 0o600);
    let run = env.run(&["auth", "status"]);
    assert_run_snapshot!("no_login_collection_with_a_profile", env, run);
}

#[test]
fn stopped_daemon_times_out() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.credentials();
    env.ss.stop_daemon();
    let mut runs = Vec::new();
    for (args, stdin) in [
        (&["auth", "status"][..], None),
        (&["auth", "login"][..], Some(format!("{}\n", keys::VALID))),
        (&["auth", "logout"][..], None),
    ] {
        let run = env.run_with(args, stdin.as_deref(), &[]);
        run.never_shows(keys::VALID);
        // docs/design.md: every keychain call is bounded by 5 s, and a command stops at the
        // first that does not answer (a read gets 4 s of the 5, the rest is kept for asking the
        // service why). The lower bound proves it is our bound that fired, not the D-Bus
        // library's own 2 s reply timeout, which the message would then misreport.
        assert!(
            run.elapsed >= Duration::from_millis(3500) && run.elapsed < Duration::from_secs(10),
            "{args:?} took {:?} with a keychain bounded at 5 s per call",
            run.elapsed
        );
        runs.push(run);
    }
    assert_eq!(env.credentials(), before);
    env.ss.resume_daemon();
    // The entry survived the failed logout.
    assert_eq!(env.keychain_profiles(), ["default"]);
    env.assert_not_on_disk(keys::VALID);
    assert_runs_snapshot!(
        env,
        runs,
        "status, login and logout with a stopped keyring daemon"
    );
}

#[test]
fn env_key_needs_no_keychain_at_all() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let with_key = [("FLUXLOOP_API_KEY", keys::VALID)];
    let status = env.run_with(&["auth", "status"], None, &with_key);
    status.never_shows(keys::VALID);
    let whoami = env.run_with(&["auth", "whoami"], None, &with_key);

    // No D-Bus session whatsoever.
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("FLUXLOOP_API_KEY", keys::VALID);
    let no_bus = env.run_cmd(&mut cmd, None);
    env.assert_not_on_disk(keys::VALID);
    let text = labelled_transcript([
        ("no Secret Service on the bus", &status),
        ("no Secret Service on the bus", &whoami),
        ("DBUS_SESSION_BUS_ADDRESS unset", &no_bus),
    ]);
    env.transcript_settings("status and whoami with FLUXLOOP_API_KEY and no keychain")
        .bind(|| insta::assert_snapshot!(text));
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn keychain_timeout_variable_sets_the_bound_and_is_named_when_it_fires() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.ss.stop_daemon();
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[("FLUXLOOP_KEYCHAIN_TIMEOUT", "2")],
    );
    env.ss.resume_daemon();
    run.assert_code(6)
        .stderr_has("FLUXLOOP_KEYCHAIN_TIMEOUT=<seconds>");
    // Our 2 s bound, not the default 5 s (nor D-Bus's own 2 s reply timeout alone).
    assert!(
        run.elapsed >= Duration::from_millis(1500) && run.elapsed < Duration::from_secs(6),
        "took {:?} with FLUXLOOP_KEYCHAIN_TIMEOUT=2",
        run.elapsed
    );
    let mut runs = vec![run];
    for bad in ["0", "-1", "soon", "4000"] {
        let run = env.run_with(
            &["auth", "status"],
            None,
            &[("FLUXLOOP_KEYCHAIN_TIMEOUT", bad)],
        );
        run.assert_code(2)
            .stderr_has("Invalid FLUXLOOP_KEYCHAIN_TIMEOUT");
        runs.push(run);
    }
    assert_runs_snapshot!(
        env,
        runs,
        "FLUXLOOP_KEYCHAIN_TIMEOUT=2 with a stopped daemon, then values that are not a timeout"
    );
}

/// Two items for one profile (another program's copy beside ours): every read is the
/// ambiguous-entry error, never one of the two picked. The fast read of status, whoami and
/// exec (src/secrets/keyring/direct_read.rs) takes only the case of exactly one item, so it
/// answers as the store does, on gnome-keyring and on KeePassXC alike.
#[test]
fn two_items_for_one_profile_are_an_error_not_a_guess() {
    for ss in [SecretService::start(), SecretService::start_keepassxc()] {
        let env = TestEnv::with(ss);
        env.login(keys::VALID, None);
        env.ss.store_with(
            "a copy",
            &[
                ("service", "fluxloop"),
                ("username", "default"),
                ("copied-by", "another program"),
            ],
            keys::VALID,
        );
        let runs: Vec<Run> = [
            &["auth", "status"][..],
            &["auth", "whoami"],
            &["exec", "--", "true"],
        ]
        .into_iter()
        .map(|args| env.run(args))
        .collect();
        for run in &runs {
            run.never_shows(keys::VALID);
            assert_ne!(run.code, Some(0), "{}", run.stderr);
        }
        assert_runs_snapshot!(
            "two_items_for_one_profile",
            env,
            runs,
            "status, whoami and exec with two items for the profile"
        );
    }
}
