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
    let login = kr.login(&env, keys::VALID, None);
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
    kr.login(&env, keys::VALID, None);
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
    kr.login(&env, keys::VALID, None);
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

#[test]
fn list_check_names_kernel_keys_without_a_profile_and_logout_profile_removes_one() {
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    kr.login(&env, keys::VALID, None);
    // A key of ours whose metadata was lost.
    kr.shell(
        &env,
        &format!(
            "p=$(keyctl get_persistent @s); keyctl padd user keyring:lost@fluxloop $p >/dev/null <<EOF\n{}\nEOF",
            keys::READ_ONLY
        ),
    );
    let check = kr.run(&env, &["auth", "list", "--check"], &[]);
    check.assert_ok();
    check.stdout_has("kernel keyring key 'lost' has no profile");
    let json = kr.run(&env, &["auth", "list", "--check", "--json"], &[]);
    json.assert_ok();
    assert_eq!(
        json.json()["check"]["kernel_keyring_entries_without_profile"],
        serde_json::json!(["lost"])
    );

    let logout = kr.run(&env, &["auth", "logout", "--profile", "lost"], &[]);
    logout.assert_ok();
    logout.stderr_has("Removed the API key from the kernel keyring (it had no profile metadata)");
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:default@fluxloop".to_string()]
    );
    kr.run(&env, &["auth", "logout", "--all"], &[]).assert_ok();
}

/// `login --web` and `rotate` with `--storage keyutils`: the minted key goes into the kernel
/// keyring, and a rotation replaces it there (issue 9: untested until now).
#[test]
fn a_web_login_and_a_rotation_keep_the_key_in_the_kernel_keyring() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    let kr = KernelKeyrings::start();
    let login = kr.run(
        &env,
        &["auth", "login", "--web", "--storage", "keyutils"],
        &[],
    );
    login.assert_ok();
    login.stderr_has("saved to the kernel keyring");
    let minted = env.platform.minted();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        kr.descriptions(&env),
        vec!["keyring:default@fluxloop".to_string()]
    );
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    assert_eq!(kernel_key(&kr, &env, "default"), minted[0].api_key);

    let rotate = kr.run(&env, &["auth", "rotate"], &[]);
    rotate.assert_ok();
    rotate.stderr_has("kernel keyring (--storage keyutils)");
    let minted = env.platform.minted();
    assert_eq!(minted.len(), 2);
    assert_eq!(kernel_key(&kr, &env, "default"), minted[1].api_key);
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    kr.run(&env, &["auth", "status"], &[]).assert_ok();
    kr.run(&env, &["auth", "logout", "--all"], &[]).assert_ok();
}

/// The key of `profile` in the namespace's persistent keyring, as a new login session reads it.
fn kernel_key(kr: &KernelKeyrings, env: &TestEnv, profile: &str) -> String {
    kr.shell(
        env,
        &format!(
            "keyctl pipe \"$(keyctl search \"$(keyctl get_persistent @s)\" user keyring:{profile}@fluxloop)\""
        ),
    )
    .trim()
    .to_string()
}

/// The interpreter that has Debian's libseccomp bindings (`python3-seccomp`, installed by
/// scripts/test): Debian's own, whatever python3 comes first on PATH.
const SECCOMP_PYTHON: &str = "/usr/bin/python3";

/// Loads a seccomp filter that makes keyctl, add_key and request_key fail with the errno named
/// in argv[1] (Docker's default profile answers EPERM), then execs argv[2:]. libseccomp sets
/// no_new_privs first, as an unprivileged filter needs.
const SECCOMP_EXEC: &str = r#"
import errno, os, sys
import seccomp
denied = seccomp.SyscallFilter(seccomp.ALLOW)
for call in ("keyctl", "add_key", "request_key"):
    denied.add_rule(seccomp.ERRNO(getattr(errno, sys.argv[1])), call)
denied.load()
os.execv(sys.argv[2], sys.argv[2:])
"#;

/// Whether the seccomp helper can run here; without it the tests skip, except in CI.
fn seccomp_available() -> bool {
    let found = std::process::Command::new(SECCOMP_PYTHON)
        .args(["-c", "import seccomp"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{SECCOMP_PYTHON} cannot import seccomp (Debian's python3-seccomp; scripts/test installs it)"
        );
        #[allow(clippy::print_stderr, reason = "says why the test did nothing")]
        {
            eprintln!(
                "SKIPPED: {SECCOMP_PYTHON} cannot import seccomp (apt-get install python3-seccomp)"
            );
        }
    }
    found
}

/// `program args…` under the filter, with `env`'s isolated environment.
fn under_seccomp(env: &TestEnv, errno: &str, program: &str) -> std::process::Command {
    let template = env.cmd();
    let mut cmd = env.ss.command(SECCOMP_PYTHON);
    cmd.args(["-c", SECCOMP_EXEC, errno, program]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// `fluxloop args…` under a filter refusing keyctl with `errno`.
fn run_blocked(
    env: &TestEnv,
    errno: &str,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> common::env::Run {
    let mut cmd = under_seccomp(env, errno, env!("CARGO_BIN_EXE_fluxloop"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut run = env.run_cmd(&mut cmd, stdin);
    // Described as the test wrote it, not as the wrapper ran it.
    run.args = args.iter().map(|a| a.to_string()).collect();
    run
}

/// keyctl refused for real, as in a container under Docker's default seccomp profile (EPERM) or
/// on a kernel without keys (ENOSYS): `login --storage keyutils` fails naming that, and saves
/// nothing; `login --storage encrypted-file --cache 15m` warns, goes on without the cache and the
/// key works; `doctor` names keyctl as blocked.
#[test]
fn a_seccomp_filter_refusing_keyctl_is_named_and_encrypted_files_go_on_without_the_cache() {
    const PASSPHRASE: &str = "correct-horse-battery-staple";
    if !seccomp_available() {
        return;
    }
    for errno in ["EPERM", "ENOSYS"] {
        let env = TestEnv::new();
        env.know_key(PASSPHRASE);
        // The filter is in force: keyctl itself is refused.
        let probe = under_seccomp(&env, errno, "keyctl")
            .args(["show", "@s"])
            .output()
            .unwrap();
        assert!(!probe.status.success(), "{errno}: keyctl was not refused");

        let login = run_blocked(
            &env,
            errno,
            &["auth", "login", "--storage", "keyutils"],
            Some(&key_line(keys::VALID)),
            &[],
        );
        login.assert_code(6);
        login.stderr_has(&format!("the keyctl system call is blocked here ({errno})"));
        assert_eq!(env.credentials(), None, "{errno}: something was saved");
        env.assert_not_on_disk(keys::VALID);

        let cached = run_blocked(
            &env,
            errno,
            &[
                "auth",
                "login",
                "--storage",
                "encrypted-file",
                "--cache",
                "15m",
            ],
            Some(&key_line(keys::VALID)),
            &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
        );
        cached.assert_ok();
        cached.stderr_has("going on without the unlock cache");
        let status = run_blocked(
            &env,
            errno,
            &["auth", "status"],
            None,
            &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
        );
        status.assert_ok();
        // Not cached: without the passphrase the key cannot be opened.
        run_blocked(&env, errno, &["auth", "status", "--json"], None, &[]).assert_code(6);

        let doctor = run_blocked(
            &env,
            errno,
            &["auth", "doctor"],
            None,
            &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
        );
        doctor.stdout_has(&format!(
            "keyutils       not usable: the keyctl system call is blocked here ({errno})"
        ));
        let doctor = run_blocked(
            &env,
            errno,
            &["auth", "doctor", "--json"],
            None,
            &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
        );
        let stores = doctor.json()["stores"].clone();
        assert!(
            stores
                .to_string()
                .contains(&format!("blocked here ({errno})")),
            "{errno}: {stores}"
        );
        if errno == "EPERM" {
            assert_run_snapshot!("login_with_keyctl_blocked", env, login);
            assert_run_snapshot!("login_with_cache_and_keyctl_blocked", env, cached);
        }
    }
}
