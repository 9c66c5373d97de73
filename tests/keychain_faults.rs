//! Every way the keychain can be unusable, against the real gnome-keyring: each fails closed
//! with its own clear error and exit 6, offers FLUXLOOP_API_KEY, and never falls back to a
//! plaintext file. (Issue 3, "Keychain faults"; issue 2, "No usable keychain".)
#![cfg(target_os = "linux")]

mod common;

use common::env::{Run, TestEnv, keys};
use common::secret_service::SecretService;

/// Exit code for keychain errors (README, "Exit codes").
const KEYCHAIN: i32 = 6;

/// The distinct first line each fault must produce.
const NO_BUS: &str = "no D-Bus session bus is available";
const NO_PROVIDER: &str = "no Secret Service provider";
const LOCKED: &str = "the keychain is locked";
const NO_COLLECTION: &str = "the keychain has no default collection";
const NOT_ANSWERING: &str = "the keychain did not answer";

const ALL_FAULTS: [&str; 5] = [NO_BUS, NO_PROVIDER, LOCKED, NO_COLLECTION, NOT_ANSWERING];

/// A keychain failure: exit 6, this fault's message and no other fault's, the env-var way out,
/// never "not logged in", never the key.
#[track_caller]
fn assert_fault(run: &Run, fault: &str) {
    run.assert_code(KEYCHAIN)
        .stderr_has("❌ Error: The Secret Service is not usable: ")
        .stderr_has(fault)
        .stderr_has("FLUXLOOP_API_KEY")
        .never_shows(keys::VALID);
    for other in ALL_FAULTS.iter().filter(|f| **f != fault) {
        assert!(
            !run.stderr.contains(other),
            "stderr mixes in {other:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("Not logged in"),
        "a keychain fault reported as not logged in:\n{}",
        run.stderr
    );
}

/// `status`, `login` (key on stdin) and `logout` on a broken keychain, with `envs` added. Each
/// must fail with `fault`, leave the credentials file as it was and put the key in no file.
fn assert_every_command_fails(env: &TestEnv, fault: &str, envs: &[(&str, &str)]) {
    let before = std::fs::read(env.credentials_path()).ok();
    assert_fault(&env.run_with(&["auth", "status"], None, envs), fault);
    assert_fault(
        &env.run_with(
            &["auth", "login"],
            Some(&format!("{}\n", keys::VALID)),
            envs,
        ),
        fault,
    );
    assert_fault(&env.run_with(&["auth", "logout"], None, envs), fault);
    assert_eq!(
        std::fs::read(env.credentials_path()).ok(),
        before,
        "the credentials file changed"
    );
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn no_dbus_session_at_a_missing_socket() {
    let env = TestEnv::new();
    let missing = env.ss.dir().join("no-such-bus");
    let address = format!("unix:path={}", missing.display());
    assert_every_command_fails(&env, NO_BUS, &[("DBUS_SESSION_BUS_ADDRESS", &address)]);
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[("DBUS_SESSION_BUS_ADDRESS", &address)],
    );
    run.stderr_has("DBUS_SESSION_BUS_ADDRESS")
        .stderr_has("dbus-run-session");
}

#[test]
fn no_dbus_session_variable_at_all() {
    let env = TestEnv::new();
    for args in [
        &["auth", "status"][..],
        &["auth", "login"][..],
        &["auth", "logout"][..],
    ] {
        let mut cmd = env.cmd();
        cmd.args(args).env_remove("DBUS_SESSION_BUS_ADDRESS");
        let run = env.run_cmd(&mut cmd, Some(&format!("{}\n", keys::VALID)));
        assert_fault(&run, NO_BUS);
    }
    assert!(env.credentials().is_none());
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn dbus_without_a_secret_service() {
    let env = TestEnv::with(SecretService::start_bus_only());
    assert_every_command_fails(&env, NO_PROVIDER, &[]);
    env.run(&["auth", "status"])
        .stderr_has("org.freedesktop.secrets")
        .stderr_has("gnome-keyring");
}

#[test]
fn locked_collection_with_nothing_stored() {
    let env = TestEnv::with(SecretService::start_locked());
    assert_every_command_fails(&env, LOCKED, &[]);
    assert!(env.keychain().is_empty());
    env.run(&["auth", "status"]).stderr_has("Unlock it");
}

#[test]
fn locked_collection_holding_the_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.ss.lock();
    let before = env.snapshot();
    assert_every_command_fails(&env, LOCKED, &[]);
    assert_eq!(env.snapshot(), before, "a locked keychain was changed");
    // Nothing was lost: unlocked again, the key is still there.
    assert_eq!(env.keychain_profiles(), ["default"]);
}

#[test]
fn no_login_collection_is_not_set_up_rather_than_not_logged_in() {
    let env = TestEnv::with(SecretService::start_without_login_collection());
    assert_every_command_fails(&env, NO_COLLECTION, &[]);
    env.run(&["auth", "status"])
        .stderr_has("not set up")
        .stderr_has("default (login) keyring");
    // Even when the metadata file says a profile exists, a read must not blame the user.
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    std::fs::write(
        env.credentials_path(),
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n",
    )
    .unwrap();
    set_mode(&env.credentials_path(), 0o600);
    assert_fault(&env.run(&["auth", "status"]), NO_COLLECTION);
}

#[test]
fn stopped_daemon_times_out() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.credentials();
    env.ss.stop_daemon();
    for (args, stdin) in [
        (&["auth", "status"][..], None),
        (&["auth", "login"][..], Some(format!("{}\n", keys::VALID))),
        (&["auth", "logout"][..], None),
    ] {
        let run = env.run_with(args, stdin.as_deref(), &[]);
        assert_fault(&run, NOT_ANSWERING);
        run.stderr_has("Restart the keyring daemon");
    }
    assert_eq!(env.credentials(), before);
    env.ss.resume_daemon();
    // The entry survived the failed logout.
    assert_eq!(env.keychain_profiles(), ["default"]);
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn env_key_needs_no_keychain_at_all() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let with_key = [("FLUXLOOP_API_KEY", keys::VALID)];
    env.run_with(&["auth", "status"], None, &with_key)
        .assert_ok()
        .stdout_has("✅ Authenticated")
        .stdout_has("FLUXLOOP_API_KEY environment variable")
        .never_shows(keys::VALID);
    env.run_with(&["auth", "whoami"], None, &with_key)
        .assert_ok()
        .stdout_has("john@example.com");

    // No D-Bus session whatsoever.
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("FLUXLOOP_API_KEY", keys::VALID);
    env.run_cmd(&mut cmd, None)
        .assert_ok()
        .stdout_has("✅ Authenticated");
    env.assert_not_on_disk(keys::VALID);
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
