//! `--storage encrypted-file`: each profile's key in `~/.fluxloop/keys/<profile>.age`, encrypted
//! with a passphrase (age, scrypt). The passphrase from a real terminal (tmux) and from
//! `FLUXLOOP_PASSPHRASE`; wrong passphrases and damaged files; migrate in and out. (Issue 9,
//! "New stores".)

mod common;

use std::path::PathBuf;

use common::assert_run_snapshot;
use common::env::{SERVICE, TestEnv, keys};
use common::terminal::Terminal;

/// Long enough that the leak checks look for pieces of it (8 characters), like a key.
const PASSPHRASE: &str = "correct-horse-battery-staple";
const OTHER_PASSPHRASE: &str = "tr0ub4dor-and-3-more-words";

fn key_line(key: &str) -> String {
    format!("{key}\n")
}

fn with_passphrase(passphrase: &str) -> [(&str, &str); 1] {
    [("FLUXLOOP_PASSPHRASE", passphrase)]
}

fn key_file(env: &TestEnv, profile: &str) -> PathBuf {
    env.fluxloop_dir()
        .join("keys")
        .join(format!("{profile}.age"))
}

/// `login --storage encrypted-file` of `key` for `profile`, the passphrase from the environment.
fn login(env: &TestEnv, key: &str, profile: &str) {
    env.run_with(
        &[
            "auth",
            "login",
            "--storage",
            "encrypted-file",
            "--profile",
            profile,
        ],
        Some(&key_line(key)),
        &with_passphrase(PASSPHRASE),
    )
    .assert_ok();
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_key_saved_with_the_passphrase_from_the_environment_is_used_by_every_command() {
    let env = TestEnv::new();
    let login = env.run_with(
        &["auth", "login", "--storage", "encrypted-file"],
        Some(&key_line(keys::VALID)),
        &with_passphrase(PASSPHRASE),
    );
    login.assert_ok();
    assert_run_snapshot!("login", env, login);
    let file = key_file(&env, "default");
    #[cfg(unix)]
    {
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    // age's format with the scrypt stanza, and no piece of the key (checked at rest too).
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "));
    env.assert_not_on_disk(keys::VALID);
    let credentials = env.credentials().unwrap();
    assert!(
        credentials.contains("storage: encrypted-file"),
        "{credentials}"
    );
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());

    let status = env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE));
    status.assert_ok();
    status.stdout_has("encrypted file ");
    status.stdout_has("keys/default.age");
    let json = env.run_with(
        &["auth", "status", "--json"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    json.assert_ok();
    assert_eq!(json.json()["key"]["source"], "encrypted-file");
    // `-v` says what was done to the file, in words (the leak check covers key and passphrase).
    let verbose = env.run_with(
        &["-v", "auth", "status"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    verbose.assert_ok();
    verbose.stderr_has("key file get of profile 'default': opened");
    assert!(!verbose.stderr.contains("outcome="), "{}", verbose.stderr);
    env.run_with(&["auth", "whoami"], None, &with_passphrase(PASSPHRASE))
        .assert_ok()
        .stdout_has("encrypted file ");
    let token = env.run_expecting_key_on_stdout(&["auth", "token"], &with_passphrase(PASSPHRASE));
    token.assert_ok();
    assert_eq!(token.stdout.trim(), keys::VALID);

    // list names the file without opening it: no passphrase needed.
    let list = env.run(&["auth", "list"]);
    list.assert_ok();
    list.stdout_has("encrypted file ");
    let list_json = env.run(&["auth", "list", "--json"]);
    assert_eq!(list_json.json()["profiles"][0]["storage"], "encrypted-file");

    // A file that went missing is named as such.
    let saved = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let status = env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE));
    status.assert_code(3);
    status.stderr_has("its key file ");
    std::fs::write(&file, saved).unwrap();

    let logout = env.run(&["auth", "logout"]);
    logout.assert_ok();
    logout.stderr_has("Removed the API key from the encrypted file store");
    assert!(!file.exists());
}

#[test]
fn fluxloop_storage_chooses_the_encrypted_file_store() {
    let env = TestEnv::new();
    env.run_with(
        &["auth", "login", "--profile", "ci"],
        Some(&key_line(keys::VALID)),
        &[
            ("FLUXLOOP_STORAGE", "encrypted-file"),
            ("FLUXLOOP_PASSPHRASE", PASSPHRASE),
        ],
    )
    .assert_ok();
    assert!(key_file(&env, "ci").exists());
    assert!(env.keychain().is_empty());
}

#[test]
fn without_a_terminal_or_fluxloop_passphrase_nothing_is_stored_and_the_error_names_the_variable() {
    let env = TestEnv::new();
    let login = env.run_with(
        &["auth", "login", "--storage", "encrypted-file"],
        Some(&key_line(keys::VALID)),
        &[],
    );
    login.assert_code(6);
    login.stderr_has("FLUXLOOP_PASSPHRASE");
    assert_run_snapshot!("login_without_passphrase", env, login);
    assert!(!env.fluxloop_dir().join("keys").exists());
    assert!(env.credentials().unwrap_or_default().is_empty());

    // A saved key cannot be read without one either.
    login_default(&env);
    let status = env.run(&["auth", "status", "--json"]);
    status.assert_code(6);
    assert_eq!(status.json()["error"]["code"], "no_passphrase");
}

fn login_default(env: &TestEnv) {
    login(env, keys::VALID, "default");
}

#[test]
fn a_wrong_passphrase_is_exit_7_and_leaves_the_file_as_it_was() {
    let env = TestEnv::new();
    login_default(&env);
    let file = key_file(&env, "default");
    let before = std::fs::read(&file).unwrap();

    let status = env.run_with(
        &["auth", "status"],
        None,
        &with_passphrase(OTHER_PASSPHRASE),
    );
    status.assert_code(7);
    status.stderr_has("Wrong passphrase for ");
    assert_run_snapshot!("wrong_passphrase", env, status);
    let json = env.run_with(
        &["auth", "status", "--json"],
        None,
        &with_passphrase(OTHER_PASSPHRASE),
    );
    json.assert_code(7);
    assert_eq!(json.json()["error"]["code"], "wrong_passphrase");
    // Neither a logout --revoke nor a token read deletes anything on a wrong passphrase.
    env.run_with(
        &["auth", "logout", "--revoke"],
        None,
        &with_passphrase(OTHER_PASSPHRASE),
    )
    .assert_code(7);
    assert_eq!(std::fs::read(&file).unwrap(), before, "the file changed");
    assert!(
        env.credentials()
            .unwrap()
            .contains("storage: encrypted-file")
    );
    env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE))
        .assert_ok();
}

#[test]
fn a_damaged_or_truncated_file_is_named_with_the_fix_and_not_deleted() {
    let env = TestEnv::new();
    login_default(&env);
    let file = key_file(&env, "default");
    let good = std::fs::read(&file).unwrap();

    // One bit of the ciphertext (the last byte: the payload's tag) flipped.
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    std::fs::write(&file, &flipped).unwrap();
    let status = env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE));
    status.assert_code(1);
    status.stderr_has("is damaged");
    status.stderr_has("fluxloop auth login --storage encrypted-file");
    assert_run_snapshot!("damaged_ciphertext", env, status);
    let json = env.run_with(
        &["auth", "status", "--json"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    assert_eq!(json.json()["error"]["code"], "key_file_damaged");
    assert_eq!(std::fs::read(&file).unwrap(), flipped);

    // Cut short in its header: no passphrase is even asked for.
    std::fs::write(&file, &good[..40]).unwrap();
    let status = env.run(&["auth", "status"]);
    status.assert_code(1);
    status.stderr_has("is damaged");
    assert_run_snapshot!("truncated_header", env, status);

    // Cut short in its payload.
    std::fs::write(&file, &good[..good.len() - 10]).unwrap();
    let status = env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE));
    status.assert_code(1);
    status.stderr_has("is damaged");
    assert!(file.exists());

    // The fix the message gives works.
    login_default(&env);
    env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE))
        .assert_ok();
}

#[test]
fn migrate_moves_a_key_between_the_keychain_and_an_encrypted_file_both_ways() {
    let env = TestEnv::new();
    env.run_stdin(&["auth", "login"], &key_line(keys::VALID))
        .assert_ok();
    assert_eq!(env.keychain_profiles(), vec!["default".to_string()]);

    let to_file = env.run_with(
        &["auth", "migrate", "--to", "encrypted-file"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    to_file.assert_ok();
    assert_run_snapshot!("migrate_to_encrypted_file", env, to_file);
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    assert!(key_file(&env, "default").exists());
    env.run_with(&["auth", "status"], None, &with_passphrase(PASSPHRASE))
        .assert_ok()
        .stdout_has("encrypted file ");

    // Out again: a wrong passphrase moves nothing.
    env.run_with(
        &["auth", "migrate", "--to", "keychain", "--all"],
        None,
        &with_passphrase(OTHER_PASSPHRASE),
    )
    .assert_code(7);
    assert!(key_file(&env, "default").exists());
    assert!(env.keychain().is_empty());

    env.run_with(
        &["auth", "migrate", "--to", "keychain", "--all"],
        None,
        &with_passphrase(PASSPHRASE),
    )
    .assert_ok();
    assert!(!key_file(&env, "default").exists());
    assert_eq!(env.keychain_profiles(), vec!["default".to_string()]);
    env.run(&["auth", "status"]).assert_ok();
}

#[cfg(target_os = "linux")]
#[test]
fn migrate_moves_a_key_between_the_kernel_keyring_and_an_encrypted_file_both_ways() {
    use common::kernel_keyring::KernelKeyrings;

    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    kr.login(&env, keys::VALID, Some("a"));
    kr.login(&env, keys::READ_ONLY, Some("b"));
    // Both profiles, one passphrase asked once.
    kr.run(
        &env,
        &["auth", "migrate", "--to", "encrypted-file", "--all"],
        &with_passphrase(PASSPHRASE),
    )
    .assert_ok();
    assert!(
        kr.descriptions(&env).is_empty(),
        "{:?}",
        kr.descriptions(&env)
    );
    assert!(key_file(&env, "a").exists() && key_file(&env, "b").exists());
    kr.run(
        &env,
        &["auth", "status", "--profile", "b"],
        &with_passphrase(PASSPHRASE),
    )
    .assert_ok();

    kr.run(
        &env,
        &["auth", "migrate", "--to", "keyutils", "--all"],
        &with_passphrase(PASSPHRASE),
    )
    .assert_ok();
    assert!(!key_file(&env, "a").exists() && !key_file(&env, "b").exists());
    assert_eq!(
        kr.descriptions(&env),
        vec![
            "keyring:a@fluxloop".to_string(),
            "keyring:b@fluxloop".to_string()
        ]
    );
    kr.run(&env, &["auth", "status", "--profile", "a"], &[])
        .assert_ok();
    kr.run(&env, &["auth", "logout", "--all"], &[]).assert_ok();
}

#[test]
fn logout_all_removes_every_encrypted_file_and_says_so() {
    let env = TestEnv::new();
    login(&env, keys::VALID, "a");
    login(&env, keys::READ_ONLY, "b");
    env.run_stdin(
        &["auth", "login", "--profile", "desk"],
        &key_line(keys::VALID),
    )
    .assert_ok();
    // A file whose profile is gone (its metadata lost) goes too.
    std::fs::copy(key_file(&env, "b"), key_file(&env, "lost")).unwrap();

    let logout = env.run(&["auth", "logout", "--all"]);
    logout.assert_ok();
    assert_run_snapshot!("logout_all", env, logout);
    let keys_dir = env.fluxloop_dir().join("keys");
    let left: Vec<_> = std::fs::read_dir(&keys_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(env.keychain().is_empty());
}

/// `logout --all --revoke` revokes every key it removes. A key file no profile has is opened
/// with the passphrase and revoked where a keychain entry without a profile is (no saved URL:
/// the current API URL), then removed. Without the passphrase no key is revoked and nothing is
/// removed, and the error says how to remove it unrevoked.
#[test]
fn logout_all_revoke_revokes_a_key_file_without_a_profile_like_a_keychain_orphan() {
    let env = TestEnv::new();
    env.know_key(PASSPHRASE);
    env.login(keys::VALID, Some("desk"));
    // An entry of ours in the keychain with no metadata.
    env.ss.store(SERVICE, "ghost", keys::PROJECT_SCOPED);
    // A key file whose profile is gone: b's file under another name, then b logged out.
    login(&env, keys::EXPIRING_SOON, "b");
    std::fs::copy(key_file(&env, "b"), key_file(&env, "lost")).unwrap();
    env.run(&["auth", "logout", "--profile", "b"]).assert_ok();
    assert!(key_file(&env, "lost").exists());

    let refused = env.run(&["auth", "logout", "--all", "--revoke"]);
    refused.assert_code(6);
    assert_run_snapshot!(
        "logout_all_revoke_orphan_file_without_passphrase",
        env,
        refused
    );
    assert!(env.platform.revoked().is_empty(), "revoked before the stop");
    assert!(key_file(&env, "lost").exists());
    assert_eq!(env.keychain_profiles(), ["desk", "ghost"]);

    let logout = env.run_with(
        &["auth", "logout", "--all", "--revoke"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    logout.assert_ok();
    assert_run_snapshot!("logout_all_revoke_orphan_file", env, logout);
    let mut revoked = env.platform.revoked();
    revoked.sort();
    let mut expected = vec![keys::VALID, keys::PROJECT_SCOPED, keys::EXPIRING_SOON];
    expected.sort();
    assert_eq!(revoked, expected);
    assert!(!key_file(&env, "lost").exists());
    assert!(env.keychain().is_empty());
}

#[test]
fn rotate_keeps_the_key_in_its_encrypted_file_with_one_passphrase() {
    let env = TestEnv::new();
    login_default(&env);
    let before = std::fs::read(key_file(&env, "default")).unwrap();
    let rotate = env.run_with(&["auth", "rotate"], None, &with_passphrase(PASSPHRASE));
    rotate.assert_ok();
    rotate.stderr_has("encrypted file ");
    assert_ne!(std::fs::read(key_file(&env, "default")).unwrap(), before);
    let token = env.run_expecting_key_on_stdout(&["auth", "token"], &with_passphrase(PASSPHRASE));
    token.assert_ok();
    assert_ne!(token.stdout.trim(), keys::VALID);
    assert!(env.keychain().is_empty());
}

/// Types `first` and `second` at `login`'s two passphrase prompts (hidden).
fn answer_new_passphrase(term: &Terminal, first: &str, second: &str) {
    term.wait_for("New passphrase for ");
    term.type_text(first);
    term.press("Enter");
    term.wait_for("The same passphrase again:");
    term.type_text(second);
    term.press("Enter");
}

/// What a person sees: the passphrase asked twice before the key, then once by `status`.
#[test]
fn at_a_terminal_login_asks_for_the_passphrase_twice_and_status_once() {
    let env = TestEnv::new();
    env.know_key(PASSPHRASE);
    let term = Terminal::start(&env, &["auth", "login", "--storage", "encrypted-file"], &[]);
    answer_new_passphrase(&term, PASSPHRASE, PASSPHRASE);
    term.wait_for("Please enter your API key:");
    term.type_text(keys::VALID);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    env.assert_no_leak_in_text("the login screen", &screen);
    assert!(key_file(&env, "default").exists());

    let term = Terminal::start(&env, &["auth", "status"], &[]);
    term.wait_for("Passphrase for ");
    term.type_text(PASSPHRASE);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        screen.matches("Passphrase for ").count(),
        1,
        "asked more than once:\n{screen}"
    );
    assert!(screen.contains("encrypted file "), "{screen}");
    env.assert_no_leak_in_text("the status screen", &screen);
}

#[test]
fn two_different_passphrases_at_login_store_nothing() {
    let env = TestEnv::new();
    env.know_key(PASSPHRASE);
    env.know_key(OTHER_PASSPHRASE);
    let term = Terminal::start(&env, &["auth", "login", "--storage", "encrypted-file"], &[]);
    answer_new_passphrase(&term, PASSPHRASE, OTHER_PASSPHRASE);
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains("The two passphrases differ; nothing was stored"),
        "{screen}"
    );
    // Asked before the key: no key was typed for nothing.
    assert!(!screen.contains("Please enter your API key:"), "{screen}");
    env.assert_no_leak_in_text("the screen", &screen);
    assert!(!key_file(&env, "default").exists());
    assert!(env.credentials().unwrap_or_default().is_empty());
}

/// `login --cache 2s`: the key opened at login is kept in the kernel keyring for 2 s (like
/// sudo's timestamp), so a command in that time needs no passphrase; after it, one is needed
/// again. Each run is a separate login session of the same user (tests/common/kernel_keyring.rs).
#[cfg(target_os = "linux")]
#[test]
fn the_unlock_cache_spares_the_passphrase_until_it_expires_and_logout_drops_it() {
    use common::kernel_keyring::KernelKeyrings;

    const CACHED: &str = "keyring:default@fluxloop.unlocked";
    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    let login = kr.run_stdin(
        &env,
        &[
            "auth",
            "login",
            "--storage",
            "encrypted-file",
            "--cache",
            "2s",
        ],
        Some(&key_line(keys::VALID)),
        &with_passphrase(PASSPHRASE),
    );
    login.assert_ok();
    login.stderr_has("Unlocked for 2 s at a time");
    assert!(
        env.credentials()
            .unwrap()
            .contains("unlock_cache_seconds: 2"),
        "{}",
        env.credentials().unwrap()
    );
    assert_eq!(kr.descriptions(&env), vec![CACHED.to_string()]);

    // Within the 2 s: no terminal and no FLUXLOOP_PASSPHRASE, and still the key is there.
    let status = kr.run(&env, &["auth", "status"], &[]);
    status.assert_ok();
    status.stdout_has("unlocked until ");

    // After them: the passphrase is needed again (here, none can be had: exit 6).
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let status = kr.run(&env, &["auth", "status", "--json"], &[]);
    status.assert_code(6);
    assert_eq!(status.json()["error"]["code"], "no_passphrase");
    // One more unlock starts the cache again.
    kr.run(&env, &["auth", "status"], &with_passphrase(PASSPHRASE))
        .assert_ok();
    kr.run(&env, &["auth", "whoami"], &[]).assert_ok();

    let logout = kr.run(&env, &["auth", "logout"], &[]);
    logout.assert_ok();
    logout.stderr_has("Removed its unlocked copy from the kernel keyring");
    assert!(
        kr.descriptions(&env).is_empty(),
        "{:?}",
        kr.descriptions(&env)
    );
    assert!(!key_file(&env, "default").exists());
}

/// The unlock cache as a person at an SSH prompt meets it: `login --cache 2s` with the
/// passphrase typed (hidden) at a real terminal; a command at once is not asked for it; once the
/// kernel has dropped the opened key, the next command asks again (hidden) and works with it.
/// One tmux pane runs the three commands in turn, each a login session of its own in the
/// test's kernel keyrings; the third waits for Enter, pressed once the cached key is gone.
#[cfg(target_os = "linux")]
#[test]
fn at_a_terminal_the_unlock_cache_asks_again_after_it_expires() {
    use common::kernel_keyring::KernelKeyrings;
    use common::terminal::command_line;

    const CACHED: &str = "keyring:default@fluxloop.unlocked";
    let env = TestEnv::new();
    env.know_key(PASSPHRASE);
    let kr = KernelKeyrings::start();
    let enter = kr.enter();
    let login = command_line(
        &env,
        &enter,
        &[
            "auth",
            "login",
            "--storage",
            "encrypted-file",
            "--cache",
            "2s",
        ],
        &[],
    );
    let status = command_line(&env, &enter, &["auth", "status"], &[]);
    let script = env.ss.dir().join("unlock-cache-expiry.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{login}\necho \"LOGIN=$?\"\n{status}\necho \"WITHIN=$?\"\nread _\n{status}\necho \"AFTER=$?\"\nsleep 30\n"
        ),
    )
    .unwrap();
    let term = Terminal::run_script(&env, &script, "unlock-cache-expiry.sock");

    answer_new_passphrase(&term, PASSPHRASE, PASSPHRASE);
    term.wait_for("Please enter your API key:");
    term.type_text(keys::VALID);
    term.press("Enter");
    let screen = term.wait_for("WITHIN=");
    assert!(screen.contains("LOGIN=0"), "{screen}");
    assert!(screen.contains("Unlocked for 2 s at a time"), "{screen}");
    // Within the 2 s: the key came from the cache, and no passphrase was asked.
    assert!(screen.contains("WITHIN=0"), "{screen}");
    assert!(screen.contains("unlocked until "), "{screen}");
    assert!(!screen.contains("Passphrase for "), "{screen}");

    // The kernel drops the opened key after its 2 s (10 s of slack for a loaded machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    while kr.descriptions(&env).contains(&CACHED.to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the unlocked key outlived its 2 s by 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    term.press("Enter");
    term.wait_for("Passphrase for ");
    term.type_text(PASSPHRASE);
    term.press("Enter");
    let screen = term.wait_for("AFTER=");
    assert!(screen.contains("AFTER=0"), "{screen}");
    assert_eq!(
        screen.matches("Passphrase for ").count(),
        1,
        "asked other than once after the expiry:\n{screen}"
    );
    assert!(
        screen.matches("unlocked until ").count() == 2,
        "the unlock did not start the cache again:\n{screen}"
    );
    // Hidden: neither the passphrase nor the key is on the screen.
    env.assert_no_leak_in_text("the terminal", &screen);
}

#[cfg(target_os = "linux")]
#[test]
fn logout_all_leaves_no_key_file_and_no_unlocked_copy() {
    use common::kernel_keyring::KernelKeyrings;

    let env = TestEnv::new();
    let kr = KernelKeyrings::start();
    for (profile, key) in [("a", keys::VALID), ("b", keys::READ_ONLY)] {
        kr.run_stdin(
            &env,
            &[
                "auth",
                "login",
                "--storage",
                "encrypted-file",
                "--cache",
                "15m",
                "--profile",
                profile,
            ],
            Some(&key_line(key)),
            &with_passphrase(PASSPHRASE),
        )
        .assert_ok();
    }
    assert_eq!(kr.descriptions(&env).len(), 2);
    let logout = kr.run(&env, &["auth", "logout", "--all"], &[]);
    logout.assert_ok();
    assert_run_snapshot!("logout_all_with_cache", env, logout);
    assert!(
        kr.descriptions(&env).is_empty(),
        "{:?}",
        kr.descriptions(&env)
    );
    assert!(!key_file(&env, "a").exists() && !key_file(&env, "b").exists());
}

#[test]
fn cache_is_refused_for_a_store_without_a_passphrase() {
    let env = TestEnv::new();
    let login = env.run_stdin(&["auth", "login", "--cache", "15m"], &key_line(keys::VALID));
    login.assert_code(2);
    login.stderr_has("--cache is for --storage encrypted-file only");
    assert!(env.keychain().is_empty());
    let bad = env.run_with(
        &[
            "auth",
            "login",
            "--storage",
            "encrypted-file",
            "--cache",
            "2d",
        ],
        Some(&key_line(keys::VALID)),
        &with_passphrase(PASSPHRASE),
    );
    bad.assert_code(2);
}

/// `login --web --storage encrypted-file`: the passphrase is asked before the browser login
/// starts, and the minted key goes straight into its encrypted file.
#[test]
fn a_web_login_puts_the_minted_key_in_an_encrypted_file() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    let login = env.run_with(
        &["auth", "login", "--web", "--storage", "encrypted-file"],
        None,
        &with_passphrase(PASSPHRASE),
    );
    login.assert_ok();
    login.stderr_has("saved to the encrypted file");
    let minted = env.platform.minted();
    assert_eq!(minted.len(), 1);
    assert!(env.keychain().is_empty(), "{:?}", env.keychain());
    let token = env.run_expecting_key_on_stdout(&["auth", "token"], &with_passphrase(PASSPHRASE));
    assert_eq!(token.stdout.trim(), minted[0].api_key);

    // Without a passphrase source nothing starts on the platform.
    let refused = env.run_with(
        &[
            "auth",
            "login",
            "--web",
            "--storage",
            "encrypted-file",
            "--profile",
            "b",
        ],
        None,
        &[],
    );
    refused.assert_code(6);
    assert_eq!(env.platform.minted().len(), 1);
}
