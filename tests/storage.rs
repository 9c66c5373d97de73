//! The credentials file (`~/.fluxloop/credentials`): private from creation, written atomically,
//! metadata only, refused or repaired like ssh does, never followed through a symlink; legacy
//! plaintext keys and `fluxloop auth migrate`; opt-in `--storage file`.
//! (Issue 2, "Storage"; issue 3, "Disk", "Legacy plaintext" and "Opt-in file storage".)
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::env::{Run, TestEnv, keys, labelled_transcript};
use common::schema::Schema;
use common::secret_service::SecretService;
use common::{assert_runs_snapshot, fluxloop_snapshot};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Names in the directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes a credentials file by hand, the way an earlier release or a user would have.
fn plant_credentials(env: &TestEnv, text: &str) {
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    std::fs::write(env.credentials_path(), text).unwrap();
    set_mode(&env.credentials_path(), 0o600);
}

/// `fluxloop <args>` started from `sh` under `umask 000`, so every mode the CLI ends up with is
/// the mode it asked for when creating the file, not one the umask tightened.
fn run_with_umask_000(
    env: &TestEnv,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> Run {
    let mut cmd: Command = env.ss.command("sh");
    cmd.args([
        "-c",
        "umask 000; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_fluxloop"),
    ])
    .args(args)
    .env("TMPDIR", env.tmp())
    .env("FLUXLOOP_API_URL", env.platform.url());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut run = env.run_cmd(&mut cmd, stdin);
    // Describe it as the fluxloop command it is: drop `-c <script> <path of the binary>`.
    run.args.drain(..3);
    run
}

fn key_line(key: &str) -> String {
    format!("{key}\n")
}

// ---------------------------------------------------------------------------------------------
// Creation, contents, location

#[test]
fn created_private_even_under_umask_000_and_leaves_no_temp_files() {
    let env = TestEnv::new();
    let first = run_with_umask_000(&env, &["auth", "login"], Some(&key_line(keys::VALID)), &[]);
    let dir = env.fluxloop_dir();
    assert_eq!(mode(&dir), 0o700, "directory mode");
    assert_eq!(mode(&env.credentials_path()), 0o600, "file mode");
    assert_eq!(listing(&dir), ["credentials", "credentials.lock"]);
    assert_eq!(mode(&dir.join("credentials.lock")), 0o600, "lock file mode");

    // Every rewrite (a second profile, a logout) is again a private, atomic replacement.
    let second = run_with_umask_000(
        &env,
        &["auth", "login", "--profile", "work"],
        Some(&key_line(keys::PROJECT_SCOPED)),
        &[],
    );
    let logout = run_with_umask_000(&env, &["auth", "logout"], None, &[]);
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(listing(&dir), ["credentials", "credentials.lock"]);

    // A FLUXLOOP_HOME whose parents do not exist yet: every directory created is private.
    let relocated = env.home().join("a/b/fluxloop");
    let relocated_str = relocated.to_str().unwrap();
    let relocated_login = run_with_umask_000(
        &env,
        &["auth", "login", "--profile", "ci"],
        Some(&key_line(keys::VALID)),
        &[("FLUXLOOP_HOME", relocated_str)],
    );
    for d in [
        env.home().join("a"),
        env.home().join("a/b"),
        relocated.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&relocated.join("credentials")), 0o600);
    env.assert_not_on_disk(keys::VALID);
    env.assert_not_on_disk(keys::PROJECT_SCOPED);
    assert_runs_snapshot!(
        env,
        [first, second, logout, relocated_login],
        "logins and a logout under umask 000"
    );
}

#[test]
fn file_holds_profile_metadata_and_never_the_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let text = env.credentials().expect("credentials file");
    for expected in [
        "profiles:",
        "default:",
        "work:",
        "account: john@example.com",
        "expires: ",
        "expires: never",
        &format!("api_url: {}", env.platform.url().trim_end_matches('/')),
        "key_hint: flux_dev_abc1...mno34",
        "storage: keychain",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(!text.contains("api_key"), "{text}");
    assert!(!text.contains(keys::VALID) && !text.contains(keys::PROJECT_SCOPED));
    env.assert_not_on_disk(keys::VALID);
    env.assert_not_on_disk(keys::PROJECT_SCOPED);
}

#[test]
fn fluxloop_home_relocates_the_directory() {
    let env = TestEnv::new();
    let elsewhere = env.home().join("config/fl");
    let elsewhere_str = elsewhere.to_str().unwrap();
    let relocated = [("FLUXLOOP_HOME", elsewhere_str)];
    let login = env.run_with(
        &["auth", "login", "--profile", "work"],
        Some(&key_line(keys::VALID)),
        &relocated,
    );
    assert!(
        !env.fluxloop_dir().exists(),
        "~/.fluxloop was created anyway"
    );
    let text = std::fs::read_to_string(elsewhere.join("credentials")).unwrap();
    assert!(
        text.contains("work:") && text.contains("account: john@example.com"),
        "{text}"
    );

    // Only the relocated file knows the profile's metadata.
    let logout = env.run_with(&["auth", "logout", "--profile", "work"], None, &relocated);
    let text = std::fs::read_to_string(elsewhere.join("credentials")).unwrap();
    assert!(!text.contains("work:"), "{text}");
    // Both name the relocated file.
    assert_runs_snapshot!(env, [login, logout], "login and logout with FLUXLOOP_HOME");
}

// ---------------------------------------------------------------------------------------------
// Permissions and ownership, as ssh checks them

/// Runs status, whoami, login, logout and migrate, which must change nothing at all (bytes,
/// modes, keychain); returns the runs, labelled with `what`, for the caller's snapshot.
#[track_caller]
fn refused_everywhere(env: &TestEnv, what: &str) -> Vec<(String, Run)> {
    let before = env.snapshot();
    let dir_mode = mode(&env.fluxloop_dir());
    let file_mode = mode(&env.credentials_path());
    let runs = [
        env.run(&["auth", "status"]),
        env.run(&["auth", "whoami"]),
        env.run_stdin(&["auth", "login"], &key_line(keys::PROJECT_SCOPED)),
        env.run(&["auth", "logout"]),
        env.run(&["auth", "migrate"]),
    ];
    for run in &runs {
        run.never_shows(keys::VALID)
            .never_shows(keys::PROJECT_SCOPED);
    }
    assert_eq!(env.snapshot(), before, "something changed");
    assert_eq!(
        mode(&env.fluxloop_dir()),
        dir_mode,
        "directory mode changed"
    );
    assert_eq!(
        mode(&env.credentials_path()),
        file_mode,
        "file mode changed"
    );
    runs.into_iter().map(|run| (what.to_owned(), run)).collect()
}

/// The snapshot of labelled runs, described by `what`.
fn labelled(runs: &[(String, Run)]) -> String {
    labelled_transcript(runs.iter().map(|(label, run)| (label.as_str(), run)))
}

#[test]
fn group_or_world_writable_file_is_refused_with_chmod_instructions() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let path = env.credentials_path();
    let mut runs = Vec::new();
    for loose in [0o666, 0o620, 0o602] {
        set_mode(&path, loose);
        runs.extend(refused_everywhere(&env, &format!("file mode {loose:03o}")));
    }
    set_mode(&path, 0o600);
    runs.push((
        "file mode 600 again".to_owned(),
        env.run(&["auth", "status"]),
    ));
    let text = labelled(&runs);
    env.transcript_settings("every command with a credentials file others can write to")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn world_writable_directory_is_refused_with_chmod_instructions() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let dir = env.fluxloop_dir();
    set_mode(&dir, 0o777);
    // The hint says chmod 700: 600 would make the directory unusable.
    let text = labelled(&refused_everywhere(&env, "directory mode 777"));
    env.transcript_settings("every command with a directory others can write to")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn readable_file_and_directory_are_tightened_and_reported() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let bytes = std::fs::read(env.credentials_path()).unwrap();
    set_mode(&env.credentials_path(), 0o644);
    let file_644 = env.run(&["auth", "status"]);
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(std::fs::read(env.credentials_path()).unwrap(), bytes);

    // Once fixed, nothing more to report.
    let fixed = env.run(&["auth", "status"]);

    set_mode(&env.fluxloop_dir(), 0o755);
    set_mode(&env.credentials_path(), 0o640);
    let both = env.run(&["auth", "whoami"]);
    assert_eq!(mode(&env.fluxloop_dir()), 0o700);
    assert_eq!(mode(&env.credentials_path()), 0o600);
    let text = labelled_transcript([
        ("file mode 644", &file_644),
        ("file mode 600 (fixed by the run before)", &fixed),
        ("directory mode 755, file mode 640", &both),
    ]);
    env.transcript_settings("commands with a credentials file others can read")
        .bind(|| insta::assert_snapshot!(text));
}

/// `nobody`'s uid on Debian.
const NOBODY: u32 = 65534;

/// Chowns to `nobody`; false when this process may not (not root), so the test is skipped,
/// except in CI, where a skip would hide that the check never ran.
#[allow(clippy::print_stderr, reason = "say why the test did nothing")]
fn give_to_nobody(path: &Path) -> bool {
    match std::os::unix::fs::chown(path, Some(NOBODY), None) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: this test must run, and cannot chown as this user ({e})"
            );
            eprintln!("skipped: cannot chown as this user ({e})");
            false
        }
        Err(e) => panic!("chown {}: {e}", path.display()),
    }
}

#[test]
fn file_owned_by_another_user_is_refused() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    if !give_to_nobody(&env.credentials_path()) {
        return;
    }
    let text = labelled(&refused_everywhere(&env, "file owned by nobody"));
    env.transcript_settings("every command with a credentials file owned by another user")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn directory_owned_by_another_user_is_refused() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    if !give_to_nobody(&env.fluxloop_dir()) {
        return;
    }
    let text = labelled(&refused_everywhere(&env, "directory owned by nobody"));
    env.transcript_settings("every command with a directory owned by another user")
        .bind(|| insta::assert_snapshot!(text));
}

// ---------------------------------------------------------------------------------------------
// Symlinks

/// A file an attacker wants the CLI to read or overwrite.
fn decoy(env: &TestEnv) -> (PathBuf, Vec<u8>) {
    let path = env.home().join("decoy");
    let bytes = b"profiles:\n  default:\n    api_url: https://attacker.example\n".to_vec();
    std::fs::write(&path, &bytes).unwrap();
    set_mode(&path, 0o600);
    (path, bytes)
}

#[test]
fn symlink_at_the_credentials_path_is_never_followed() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    let (target, bytes) = decoy(&env);
    std::os::unix::fs::symlink(&target, env.credentials_path()).unwrap();
    let keychain_before = env.keychain();

    let mut runs = Vec::new();
    for run in [
        env.run(&["auth", "status"]),
        env.run_stdin(&["auth", "login"], &key_line(keys::VALID)),
        env.run(&["auth", "logout"]),
        env.run(&["auth", "migrate"]),
    ] {
        run.never_shows(keys::VALID);
        runs.push(("a link to a file".to_owned(), run));
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        bytes,
        "the link's target changed"
    );
    assert!(
        std::fs::symlink_metadata(env.credentials_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(env.keychain(), keychain_before);
    // The platform was never asked: the login stopped before the key was sent anywhere.
    assert!(env.platform.requests().is_empty());

    // A dangling link must not make the CLI create its target.
    let nowhere = env.home().join("created-through-link");
    std::fs::remove_file(env.credentials_path()).unwrap();
    std::os::unix::fs::symlink(&nowhere, env.credentials_path()).unwrap();
    let dangling = env.run_stdin(&["auth", "login"], &key_line(keys::VALID));
    assert!(!nowhere.exists(), "a file was created through the link");
    env.assert_not_on_disk(keys::VALID);
    runs.push(("a dangling link".to_owned(), dangling));
    let text = labelled(&runs);
    env.transcript_settings("commands with a symbolic link at the credentials path")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn symlink_at_the_lock_path_is_refused_and_loses_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let lock = env.fluxloop_dir().join("credentials.lock");
    std::fs::remove_file(&lock).unwrap();
    let (target, bytes) = decoy(&env);
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let before = env.snapshot();

    // Replacing the key of the existing profile, adding a profile, logging out: all refused.
    let mut runs = Vec::new();
    for run in [
        env.run_stdin(&["auth", "login"], &key_line(keys::PROJECT_SCOPED)),
        env.run_stdin(
            &["auth", "login", "--profile", "work"],
            &key_line(keys::PROJECT_SCOPED),
        ),
        env.run(&["auth", "logout"]),
        env.run(&["auth", "logout", "--all"]),
    ] {
        run.never_shows(keys::PROJECT_SCOPED);
        runs.push(("a link to a file".to_owned(), run));
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        bytes,
        "the link's target changed"
    );
    assert_eq!(
        env.snapshot(),
        before,
        "a refused run changed the file or the keychain"
    );
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));

    // Dangling: the target is not created.
    let nowhere = env.home().join("lock-target");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&nowhere, &lock).unwrap();
    runs.push(("a dangling link".to_owned(), env.run(&["auth", "logout"])));
    assert!(!nowhere.exists());
    assert_eq!(env.snapshot(), before);
    let text = labelled(&runs);
    env.transcript_settings("commands that write, with a symbolic link at the lock path")
        .bind(|| insta::assert_snapshot!(text));
}

// ---------------------------------------------------------------------------------------------
// Malformed files

#[test]
fn malformed_yaml_is_named_untouched_and_never_echoes_a_key() {
    let env = TestEnv::new();
    let mut runs = Vec::new();
    for (what, text) in [
        (
            "a syntax error right after a plaintext key",
            format!("api_key: {}\nprofiles: [unclosed\n", keys::VALID),
        ),
        // A key where a profile map belongs: the parser quotes the offending value.
        (
            "a key where a profile belongs",
            format!("profiles:\n  default: {}\n", keys::VALID),
        ),
        (
            "a key where a date belongs",
            format!("profiles:\n  default:\n    expires: \"{}\"\n", keys::VALID),
        ),
        (
            "a number where the profiles belong",
            "profiles: 5\n".to_string(),
        ),
    ] {
        plant_credentials(&env, &text);
        for run in [
            env.run(&["auth", "status"]),
            env.run(&["auth", "whoami"]),
            env.run_stdin(&["auth", "login"], &key_line(keys::PROJECT_SCOPED)),
            env.run(&["auth", "logout"]),
            env.run(&["auth", "logout", "--all"]),
            env.run(&["auth", "migrate"]),
        ] {
            run.never_shows(keys::VALID)
                .never_shows(&keys::VALID["flux_dev_".len()..]);
            runs.push((what.to_owned(), run));
        }
        assert_eq!(
            env.credentials().as_deref(),
            Some(text.as_str()),
            "file changed"
        );
        assert!(env.keychain().is_empty());
    }
    let text = labelled(&runs);
    env.transcript_settings("every command with a malformed credentials file")
        .bind(|| insta::assert_snapshot!(text));
}

// ---------------------------------------------------------------------------------------------
// Legacy plaintext keys

#[test]
fn legacy_top_level_key_keeps_working_with_a_warning_everywhere() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    plant_credentials(&env, &format!("api_key: {}\n", keys::VALID));

    // Every command warns, and names `fluxloop auth migrate`.
    let status = env.run(&["auth", "status"]);
    status.never_shows(keys::VALID);
    let json = env.run(&["auth", "status", "--json"]);
    assert_eq!(
        json.json_valid(Schema::Status)["key"]["source"],
        "plaintext-file"
    );
    let mut runs = vec![
        status,
        json,
        env.run(&["auth", "whoami"]),
        env.run_stdin(&["auth", "login", "--no-save"], &key_line(keys::VALID)),
        env.run_stdin(
            &["auth", "login", "--profile", "other"],
            &key_line(keys::PROJECT_SCOPED),
        ),
        env.run(&["auth", "status", "--profile", "other"]),
        env.run(&["auth", "logout", "--profile", "other"]),
    ];
    // The legacy key was never copied anywhere by these commands, and still works.
    assert!(env.keychain().is_empty());
    runs.push(env.run(&["auth", "status"]));
    assert_runs_snapshot!(env, runs, "every command with a legacy top-level api_key");
}

#[test]
fn legacy_key_inside_a_profile_keeps_working_with_a_warning() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    plant_credentials(
        &env,
        &format!(
            "profiles:\n  work:\n    api_key: {}\n    account: john@example.com\n",
            keys::VALID
        ),
    );
    let status = env.run(&["auth", "status", "--profile", "work"]);
    status.never_shows(keys::VALID);
    let whoami = env.run(&["auth", "whoami", "--profile", "work"]);
    // Even a command about another profile warns: the key is on disk all the same.
    let other = env.run(&["auth", "status"]);
    assert_runs_snapshot!(
        env,
        [status, whoami, other],
        "commands with a legacy api_key in profile work"
    );
}

#[test]
fn migrate_moves_every_plaintext_key_into_the_keychain() {
    let env = TestEnv::new();
    plant_credentials(
        &env,
        &format!(
            "api_key: {}\nprofiles:\n  work:\n    api_key: {}\n    account: jane@example.com\n",
            keys::VALID,
            keys::PROJECT_SCOPED
        ),
    );
    let migrate = env.run(&["auth", "migrate"]);
    migrate
        .never_shows(keys::VALID)
        .never_shows(keys::PROJECT_SCOPED);

    let items = env.keychain();
    let secrets: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.attributes["username"].as_str(), i.secret.as_deref()))
        .collect();
    assert_eq!(
        secrets,
        [
            ("default", Some(keys::VALID)),
            ("work", Some(keys::PROJECT_SCOPED))
        ]
    );
    let text = env.credentials().unwrap();
    assert!(!text.contains("api_key"), "{text}");
    assert!(
        text.contains("account: jane@example.com"),
        "metadata lost:\n{text}"
    );
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(
        listing(&env.fluxloop_dir()),
        ["credentials", "credentials.lock"]
    );
    env.assert_not_on_disk(keys::VALID);
    env.assert_not_on_disk(keys::PROJECT_SCOPED);

    // Now served from the keychain, with no plaintext warning left.
    let status_default = env.run(&["auth", "status", "--profile", "default"]);
    let status_work = env.run(&["auth", "status", "--profile", "work"]);
    let again = env.run(&["auth", "migrate"]);
    assert_runs_snapshot!(
        env,
        [migrate, status_default, status_work, again],
        "migrate of two plaintext keys, status of each profile, migrate again"
    );
}

/// `migrate` with a keychain that cannot take the keys, then `status`; the file is untouched.
fn migrate_to_an_unusable_keychain(env: &TestEnv) -> [Run; 2] {
    {
        env.allow_plaintext_on_disk();
        let text = format!(
            "# hand-written\napi_key: {}\nprofiles:\n  work:\n    api_key: {}\n",
            keys::VALID,
            keys::PROJECT_SCOPED
        );
        plant_credentials(env, &text);
        let migrate = env.run(&["auth", "migrate"]);
        migrate
            .never_shows(keys::VALID)
            .never_shows(keys::PROJECT_SCOPED);
        assert_eq!(
            std::fs::read(env.credentials_path()).unwrap(),
            text.as_bytes()
        );
        assert_eq!(mode(&env.credentials_path()), 0o600);
        assert_eq!(
            listing(&env.fluxloop_dir()),
            ["credentials", "credentials.lock"]
        );
        // Still usable as before.
        [migrate, env.run(&["auth", "status"])]
    }
}

#[test]
fn migrate_leaves_the_file_untouched_when_the_keychain_write_fails() {
    let locked = TestEnv::with(SecretService::start_locked());
    let runs = migrate_to_an_unusable_keychain(&locked);
    assert_runs_snapshot!(
        "migrate_with_a_locked_keychain",
        locked,
        runs,
        "migrate with a locked keychain, then status"
    );
    let no_keychain = TestEnv::with(SecretService::start_bus_only());
    let runs = migrate_to_an_unusable_keychain(&no_keychain);
    assert_runs_snapshot!(
        "migrate_with_no_secret_service",
        no_keychain,
        runs,
        "migrate with no Secret Service on the bus, then status"
    );
}

// ---------------------------------------------------------------------------------------------
// Opt-in plaintext file storage

#[test]
fn storage_file_works_with_no_keychain_and_warns_at_every_use() {
    let env = TestEnv::with(SecretService::start_bus_only());
    env.allow_plaintext_on_disk();
    let login = env.run_stdin(
        &["auth", "login", "--storage", "file"],
        &key_line(keys::VALID),
    );
    login.never_shows(keys::VALID);
    let login_ci = env.run_with(
        &["auth", "login", "--profile", "ci"],
        Some(&key_line(keys::PROJECT_SCOPED)),
        &[("FLUXLOOP_STORAGE", "file")],
    );
    let text = env.credentials().unwrap();
    assert!(text.contains("storage: file"), "{text}");
    assert_eq!(mode(&env.credentials_path()), 0o600);

    let status = env.run(&["auth", "status"]);
    status.never_shows(keys::VALID);
    let json = env.run(&["auth", "status", "--json"]);
    assert_eq!(json.json_valid(Schema::Status)["key"]["source"], "file");
    let whoami = env.run(&["auth", "whoami", "--profile", "ci"]);
    let logout = env.run(&["auth", "logout", "--profile", "ci"]);
    let text = env.credentials().unwrap();
    assert!(
        !text.contains(keys::PROJECT_SCOPED),
        "logout left the key:\n{text}"
    );
    assert_runs_snapshot!(
        env,
        [login, login_ci, status, json, whoami, logout],
        "--storage file with no keychain: every command warns"
    );
}

#[test]
fn storage_file_can_be_migrated_when_a_keychain_appears() {
    // A headless machine logs in to a relocated directory...
    let headless = TestEnv::with(SecretService::start_bus_only());
    let shared = headless.home().join("shared-fluxloop");
    let shared_str = shared.to_str().unwrap();
    fluxloop_snapshot!(
        "storage_file_on_a_headless_machine",
        headless,
        ["auth", "login", "--storage", "file"],
        stdin = &key_line(keys::VALID),
        envs = &[("FLUXLOOP_HOME", shared_str)]
    );
    // ...which a session with a working keychain later migrates.
    let desktop = TestEnv::new();
    desktop.filter(&shared.to_string_lossy(), "[SHARED_FLUXLOOP_HOME]");
    let home = [("FLUXLOOP_HOME", shared_str)];
    let migrate = desktop.run_with(&["auth", "migrate"], None, &home);
    assert_eq!(
        desktop.keychain_of(&shared)[0].secret.as_deref(),
        Some(keys::VALID)
    );
    let text = std::fs::read_to_string(shared.join("credentials")).unwrap();
    assert!(
        !text.contains(keys::VALID) && !text.contains("api_key"),
        "{text}"
    );
    assert!(text.contains("storage: keychain"), "{text}");
    // Served from the keychain now, without a plaintext warning.
    let status = desktop.run_with(&["auth", "status"], None, &home);
    assert_runs_snapshot!(
        desktop,
        [migrate, status],
        "migrate of a --storage file profile, then status"
    );
    headless.assert_not_on_disk(keys::VALID);
}

#[test]
fn without_the_opt_in_no_keychain_means_no_login() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let mut runs = Vec::new();
    for args in [
        &["auth", "login"][..],
        &["auth", "login", "--storage", "keychain"][..],
    ] {
        let run = env.run_stdin(args, &key_line(keys::VALID));
        run.never_shows(keys::VALID);
        runs.push(run);
    }
    assert_runs_snapshot!(
        env,
        runs,
        "login with no Secret Service and no --storage file"
    );
    assert!(
        env.credentials().is_none_or(|t| !t.contains("api_key")),
        "{:?}",
        env.credentials()
    );
    env.assert_not_on_disk(keys::VALID);
}
