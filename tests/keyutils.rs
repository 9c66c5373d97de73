//! `--storage keyutils`: the Linux kernel keyring, for real. Each test has kernel keyrings of
//! its own (tests/common/kernel_keyring.rs) and each run is a separate login session, so these
//! tests show what a user of separate SSH logins sees. (Issue 9, "New stores".)
#![cfg(target_os = "linux")]

mod common;

use common::assert_run_snapshot;
use common::env::{TestEnv, keys};
use common::kernel_keyring::KernelKeyrings;

fn key_line(key: &str) -> String {
    format!("{key}\n")
}

#[test]
fn a_key_saved_in_one_login_session_is_read_in_the_next() {
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    let login = kr.run_stdin(
        &env,
        &["auth", "login", "--storage", "keyutils"],
        Some(&key_line(keys::VALID)),
        &[],
    );
    login.assert_ok();
    assert_run_snapshot!("login", env, login);
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:default@fluxloop".to_string()]
    );
    // Metadata only, and nothing in the Secret Service.
    let credentials = env.credentials().unwrap();
    assert!(credentials.contains("storage: keyutils"), "{credentials}");
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());

    let status = kr.run(&env, &["auth", "status"], &[]);
    status.assert_ok();
    status.stdout_has("kernel keyring, until reboot");
    let json = kr.run(&env, &["auth", "status", "--json"], &[]);
    json.assert_ok();
    assert_eq!(json.json()["key"]["source"], "keyutils");

    let list = kr.run(&env, &["auth", "list"], &[]);
    list.assert_ok();
    list.stdout_has("kernel keyring, until reboot");
    let list_json = kr.run(&env, &["auth", "list", "--json"], &[]);
    assert_eq!(list_json.json()["profiles"][0]["storage"], "keyutils");

    let logout = kr.run(&env, &["auth", "logout"], &[]);
    logout.assert_ok();
    logout.stderr_has("Removed the API key from the kernel keyring");
    assert!(
        kr.descriptions(&env).is_empty(),
        "{:?}",
        kr.descriptions(&env)
    );
}

#[test]
fn fluxloop_storage_chooses_the_kernel_keyring_and_empty_is_unset() {
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    kr.run_stdin(
        &env,
        &["auth", "login", "--profile", "k"],
        Some(&key_line(keys::VALID)),
        &[("FLUXLOOP_STORAGE", "keyutils")],
    )
    .assert_ok();
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:k@fluxloop".to_string()]
    );
    assert!(env.keychain().is_empty());

    // Empty is unset: the default keychain.
    kr.run_stdin(
        &env,
        &["auth", "login", "--profile", "s"],
        Some(&key_line(keys::READ_ONLY)),
        &[("FLUXLOOP_STORAGE", "")],
    )
    .assert_ok();
    assert_eq!(env.keychain_profiles(), vec!["s".to_string()]);
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:k@fluxloop".to_string()]
    );
    kr.run(&env, &["auth", "logout", "--all"], &[]).assert_ok();
}

#[test]
fn a_key_the_kernel_forgot_is_named_as_gone_not_as_a_missing_login() {
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    kr.run_stdin(
        &env,
        &["auth", "login", "--storage", "keyutils"],
        Some(&key_line(keys::VALID)),
        &[],
    )
    .assert_ok();
    // What a reboot does: the keyrings start empty.
    kr.shell(
        &env,
        "keyctl clear \"$(keyctl get_persistent @s)\"; keyctl clear @u",
    );
    assert!(kr.descriptions(&env).is_empty());

    let status = kr.run(&env, &["auth", "status"], &[]);
    status.assert_code(3);
    status.stderr_has("was in the kernel keyring and is gone (reboot?); log in again");
    assert_run_snapshot!("status", env, status);
}

#[test]
fn logout_all_purges_the_kernel_keyring_and_says_what_it_removed() {
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    kr.run_stdin(
        &env,
        &["auth", "login", "--storage", "keyutils"],
        Some(&key_line(keys::VALID)),
        &[],
    )
    .assert_ok();
    kr.run_stdin(
        &env,
        &["auth", "login", "--profile", "desk"],
        Some(&key_line(keys::READ_ONLY)),
        &[],
    )
    .assert_ok();
    // A key of ours whose metadata was lost, and someone else's key beside it.
    kr.shell(
        &env,
        &format!(
            "p=$(keyctl get_persistent @s); keyctl padd user keyring:lost@fluxloop $p >/dev/null <<EOF\n{}\nEOF\nkeyctl add user keyring:x@other-app secret $p >/dev/null",
            keys::READ_ONLY
        ),
    );
    let logout = kr.run(&env, &["auth", "logout", "--all"], &[]);
    logout.assert_ok();
    assert_run_snapshot!("logout_all", env, logout);
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:x@other-app".to_string()]
    );
    assert!(env.keychain().is_empty());
    assert!(!env.credentials().unwrap_or_default().contains("default"));
}

#[test]
fn migrate_moves_a_key_keychain_to_kernel_keyring_to_file_and_back() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    let kr = KernelKeyrings::start();
    kr.run_stdin(&env, &["auth", "login"], Some(&key_line(keys::VALID)), &[])
        .assert_ok();
    assert_eq!(env.keychain_profiles(), vec!["default".to_string()]);

    let dry = kr.run(
        &env,
        &["auth", "migrate", "--to", "keyutils", "--dry-run"],
        &[],
    );
    dry.assert_ok();
    dry.stderr_has("Nothing was changed (--dry-run).");
    assert_eq!(env.keychain_profiles(), vec!["default".to_string()]);
    assert!(kr.descriptions(&env).is_empty());

    let to_kernel = kr.run(&env, &["auth", "migrate", "--to", "keyutils"], &[]);
    to_kernel.assert_ok();
    assert_run_snapshot!("migrate_to_keyutils", env, to_kernel);
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:default@fluxloop".to_string()]
    );
    kr.run(&env, &["auth", "status"], &[])
        .assert_ok()
        .stdout_has("kernel keyring, until reboot");

    let to_file = kr.run(&env, &["auth", "migrate", "--to", "file"], &[]);
    to_file.assert_ok();
    assert!(kr.descriptions(&env).is_empty());
    assert!(env.credentials().unwrap().contains(keys::VALID));

    // FLUXLOOP_STORAGE is migrate's default destination too.
    kr.run(
        &env,
        &["auth", "migrate"],
        &[("FLUXLOOP_STORAGE", "keyutils")],
    )
    .assert_ok();
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:default@fluxloop".to_string()]
    );
    assert!(!env.credentials().unwrap().contains(keys::VALID));

    kr.run(&env, &["auth", "migrate", "--to", "keychain", "--all"], &[])
        .assert_ok();
    assert_eq!(env.keychain_profiles(), vec!["default".to_string()]);
    assert!(kr.descriptions(&env).is_empty());
    kr.run(&env, &["auth", "status"], &[]).assert_ok();
}
