//! The credentials file (`~/.fluxloop/credentials`): private from creation, written atomically,
//! metadata only, refused or repaired like ssh does, never followed through a symlink; legacy
//! plaintext keys and `fluxloop auth migrate`; opt-in `--storage file`.
//! (Issue 2, "Storage"; issue 3, "Disk", "Legacy plaintext" and "Opt-in file storage".)
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::env::{Run, TestEnv, keys};
use common::schema::Schema;
use common::secret_service::SecretService;

const FAILURE: i32 = 1;
const KEYCHAIN: i32 = 6;

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
    env.run_cmd(&mut cmd, stdin)
}

/// The value of the `Key source:` line of `status`.
fn key_source(run: &Run) -> &str {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Key source:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no Key source line:\n{}", run.stdout))
}

fn key_line(key: &str) -> String {
    format!("{key}\n")
}

// ---------------------------------------------------------------------------------------------
// Creation, contents, location

#[test]
fn created_private_even_under_umask_000_and_leaves_no_temp_files() {
    let env = TestEnv::new();
    run_with_umask_000(&env, &["auth", "login"], Some(&key_line(keys::VALID)), &[]).assert_ok();
    let dir = env.fluxloop_dir();
    assert_eq!(mode(&dir), 0o700, "directory mode");
    assert_eq!(mode(&env.credentials_path()), 0o600, "file mode");
    assert_eq!(listing(&dir), ["credentials", "credentials.lock"]);
    assert_eq!(mode(&dir.join("credentials.lock")), 0o600, "lock file mode");

    // Every rewrite (a second profile, a logout) is again a private, atomic replacement.
    run_with_umask_000(
        &env,
        &["auth", "login", "--profile", "work"],
        Some(&key_line(keys::PROJECT_SCOPED)),
        &[],
    )
    .assert_ok();
    run_with_umask_000(&env, &["auth", "logout"], None, &[]).assert_ok();
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(listing(&dir), ["credentials", "credentials.lock"]);

    // A FLUXLOOP_HOME whose parents do not exist yet: every directory created is private.
    let relocated = env.home().join("a/b/fluxloop");
    let relocated_str = relocated.to_str().unwrap();
    run_with_umask_000(
        &env,
        &["auth", "login", "--profile", "ci"],
        Some(&key_line(keys::VALID)),
        &[("FLUXLOOP_HOME", relocated_str)],
    )
    .assert_ok();
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
    env.run_with(
        &["auth", "login", "--profile", "work"],
        Some(&key_line(keys::VALID)),
        &relocated,
    )
    .assert_ok()
    .stderr_has(&format!(
        "Profile metadata saved to {}",
        elsewhere.join("credentials").display()
    ));
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
    env.run_with(&["auth", "logout", "--profile", "work"], None, &relocated)
        .assert_ok()
        .stderr_has(&format!(
            "Removed profile metadata from {}",
            elsewhere.join("credentials").display()
        ));
    let text = std::fs::read_to_string(elsewhere.join("credentials")).unwrap();
    assert!(!text.contains("work:"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Permissions and ownership, as ssh checks them

/// Runs status, whoami, login and logout; each must fail with exit 1 and `message` and change
/// nothing at all (bytes, modes, keychain).
fn assert_refused_everywhere(env: &TestEnv, message: &str, hint: &str) {
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
        run.assert_code(FAILURE)
            .stderr_has(message)
            .stderr_has(hint)
            .never_shows(keys::VALID)
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
}

#[test]
fn group_or_world_writable_file_is_refused_with_chmod_instructions() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let path = env.credentials_path();
    for loose in [0o666, 0o620, 0o602] {
        set_mode(&path, loose);
        assert_refused_everywhere(
            &env,
            &format!(
                "{} is writable by other users (mode {loose:03o})",
                path.display()
            ),
            &format!("chmod 600 {}", path.display()),
        );
    }
    set_mode(&path, 0o600);
    env.run(&["auth", "status"]).assert_ok();
}

#[test]
fn world_writable_directory_is_refused_with_chmod_instructions() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let dir = env.fluxloop_dir();
    set_mode(&dir, 0o777);
    assert_refused_everywhere(
        &env,
        &format!("{} is writable by other users (mode 777)", dir.display()),
        &format!("chmod 700 {}", dir.display()),
    );
    let run = env.run(&["auth", "status"]);
    assert!(
        !run.stderr.contains(&format!("chmod 600 {}", dir.display())),
        "the hint would make the directory unusable:\n{}",
        run.stderr
    );
}

#[test]
fn readable_file_and_directory_are_tightened_and_reported() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let bytes = std::fs::read(env.credentials_path()).unwrap();
    set_mode(&env.credentials_path(), 0o644);
    env.run(&["auth", "status"])
        .assert_ok()
        .stderr_has(&format!(
            "{} was readable by other users; fixed its permissions (now owner-only)",
            env.credentials_path().display()
        ));
    assert_eq!(mode(&env.credentials_path()), 0o600);
    assert_eq!(std::fs::read(env.credentials_path()).unwrap(), bytes);

    // Once fixed, nothing more to report.
    let run = env.run(&["auth", "status"]);
    run.assert_ok();
    assert!(
        !run.stderr.contains("fixed its permissions"),
        "{}",
        run.stderr
    );

    set_mode(&env.fluxloop_dir(), 0o755);
    set_mode(&env.credentials_path(), 0o640);
    env.run(&["auth", "whoami"])
        .assert_ok()
        .stderr_has(&format!(
            "{} was readable by other users",
            env.fluxloop_dir().display()
        ))
        .stderr_has(&format!(
            "{} was readable by other users",
            env.credentials_path().display()
        ));
    assert_eq!(mode(&env.fluxloop_dir()), 0o700);
    assert_eq!(mode(&env.credentials_path()), 0o600);
}

/// `nobody`'s uid on Debian.
const NOBODY: u32 = 65534;

/// Chowns to `nobody`; false when this process may not (not root), so the test is skipped.
#[allow(clippy::print_stderr, reason = "say why the test did nothing")]
fn give_to_nobody(path: &Path) -> bool {
    match std::os::unix::fs::chown(path, Some(NOBODY), None) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
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
    assert_refused_everywhere(
        &env,
        &format!(
            "{} is owned by another user (uid {NOBODY})",
            env.credentials_path().display()
        ),
        "chown",
    );
}

#[test]
fn directory_owned_by_another_user_is_refused() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    if !give_to_nobody(&env.fluxloop_dir()) {
        return;
    }
    assert_refused_everywhere(
        &env,
        &format!(
            "{} is owned by another user (uid {NOBODY})",
            env.fluxloop_dir().display()
        ),
        "chown",
    );
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

    for run in [
        env.run(&["auth", "status"]),
        env.run_stdin(&["auth", "login"], &key_line(keys::VALID)),
        env.run(&["auth", "logout"]),
        env.run(&["auth", "migrate"]),
    ] {
        run.assert_code(FAILURE)
            .stderr_has(&format!(
                "{} is a symbolic link",
                env.credentials_path().display()
            ))
            .stderr_has("does not follow symbolic links")
            .never_shows(keys::VALID);
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
    env.run_stdin(&["auth", "login"], &key_line(keys::VALID))
        .assert_code(FAILURE)
        .stderr_has("is a symbolic link");
    assert!(!nowhere.exists(), "a file was created through the link");
    env.assert_not_on_disk(keys::VALID);
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
    for run in [
        env.run_stdin(&["auth", "login"], &key_line(keys::PROJECT_SCOPED)),
        env.run_stdin(
            &["auth", "login", "--profile", "work"],
            &key_line(keys::PROJECT_SCOPED),
        ),
        env.run(&["auth", "logout"]),
        env.run(&["auth", "logout", "--all"]),
    ] {
        run.assert_code(FAILURE)
            .stderr_has(&format!("{} is a symbolic link", lock.display()))
            .never_shows(keys::PROJECT_SCOPED);
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
    env.run(&["auth", "logout"]).assert_code(FAILURE);
    assert!(!nowhere.exists());
    assert_eq!(env.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// Malformed files

#[test]
fn malformed_yaml_is_named_untouched_and_never_echoes_a_key() {
    let env = TestEnv::new();
    let path = env.credentials_path();
    for text in [
        // A syntax error right after a plaintext key.
        format!("api_key: {}\nprofiles: [unclosed\n", keys::VALID),
        // A key where a profile map belongs: the parser quotes the offending value.
        format!("profiles:\n  default: {}\n", keys::VALID),
        format!("profiles:\n  default:\n    expires: \"{}\"\n", keys::VALID),
        "profiles: 5\n".to_string(),
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
            run.assert_code(FAILURE)
                .stderr_has(&format!("{} is not valid", path.display()))
                .stderr_has("Nothing was changed")
                .never_shows(keys::VALID)
                .never_shows(&keys::VALID["flux_dev_".len()..]);
        }
        assert_eq!(
            env.credentials().as_deref(),
            Some(text.as_str()),
            "file changed"
        );
        assert!(env.keychain().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Legacy plaintext keys

const PLAINTEXT_WARNING: &str = "a plaintext API key is on disk in";

#[test]
fn legacy_top_level_key_keeps_working_with_a_warning_everywhere() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    plant_credentials(&env, &format!("api_key: {}\n", keys::VALID));
    let warning = format!(
        "{PLAINTEXT_WARNING} {} (profile: default)",
        env.credentials_path().display()
    );

    env.run(&["auth", "status"])
        .assert_ok()
        .stdout_has("✅ Authenticated")
        .stdout_has("plaintext file")
        .stdout_has("flux_dev_abc1...mno34")
        .stderr_has(&warning)
        .stderr_has("fluxloop auth migrate")
        .never_shows(keys::VALID);
    let json = env
        .run(&["auth", "status", "--json"])
        .assert_ok()
        .json_valid(Schema::Status);
    assert_eq!(json["key"]["source"], "plaintext-file", "{json:#}");
    env.run(&["auth", "whoami"])
        .assert_ok()
        .stderr_has(&warning);
    env.run_stdin(&["auth", "login", "--no-save"], &key_line(keys::VALID))
        .assert_ok()
        .stderr_has(&warning);
    env.run_stdin(
        &["auth", "login", "--profile", "other"],
        &key_line(keys::PROJECT_SCOPED),
    )
    .assert_ok()
    .stderr_has(&warning);
    env.run(&["auth", "status", "--profile", "other"])
        .assert_ok()
        .stderr_has(&warning);
    env.run(&["auth", "logout", "--profile", "other"])
        .assert_ok()
        .stderr_has(&warning);
    // The legacy key was never copied anywhere by these commands, and still works.
    assert!(env.keychain().is_empty());
    env.run(&["auth", "status"])
        .assert_ok()
        .stderr_has(&warning);
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
    let warning = format!(
        "{PLAINTEXT_WARNING} {} (profile: work)",
        env.credentials_path().display()
    );
    env.run(&["auth", "status", "--profile", "work"])
        .assert_ok()
        .stdout_has("plaintext file")
        .stderr_has(&warning)
        .never_shows(keys::VALID);
    env.run(&["auth", "whoami", "--profile", "work"])
        .assert_ok()
        .stderr_has(&warning);
    // Even a command about another profile warns: the key is on disk all the same.
    env.run(&["auth", "status"])
        .assert_code(3)
        .stderr_has(&warning);
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
    env.run(&["auth", "migrate"])
        .assert_ok()
        .stderr_has("Moved 2 keys into the Secret Service")
        .stderr_has("default")
        .stderr_has("work")
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
    for profile in ["default", "work"] {
        let run = env.run(&["auth", "status", "--profile", profile]);
        run.assert_ok();
        assert_eq!(key_source(&run), "Secret Service");
        assert!(!run.stderr.contains("plaintext"), "{}", run.stderr);
    }
    env.run(&["auth", "migrate"])
        .assert_ok()
        .stderr_has("nothing to migrate");
}

#[test]
fn migrate_leaves_the_file_untouched_when_the_keychain_write_fails() {
    for (ss, message) in [
        (SecretService::start_locked(), "the keychain is locked"),
        (
            SecretService::start_bus_only(),
            "no Secret Service provider",
        ),
    ] {
        let env = TestEnv::with(ss);
        env.allow_plaintext_on_disk();
        let text = format!(
            "# hand-written\napi_key: {}\nprofiles:\n  work:\n    api_key: {}\n",
            keys::VALID,
            keys::PROJECT_SCOPED
        );
        plant_credentials(&env, &text);
        env.run(&["auth", "migrate"])
            .assert_code(KEYCHAIN)
            .stderr_has(message)
            .stderr_has(&format!(
                "{} was left untouched",
                env.credentials_path().display()
            ))
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
        env.run(&["auth", "status"])
            .assert_ok()
            .stdout_has("plaintext file");
    }
}

// ---------------------------------------------------------------------------------------------
// Opt-in plaintext file storage

#[test]
fn storage_file_works_with_no_keychain_and_warns_at_every_use() {
    let env = TestEnv::with(SecretService::start_bus_only());
    env.allow_plaintext_on_disk();
    env.run_stdin(
        &["auth", "login", "--storage", "file"],
        &key_line(keys::VALID),
    )
    .assert_ok()
    .stderr_has("✅ Successfully authenticated!")
    .stderr_has("API key saved IN PLAINTEXT")
    .never_shows(keys::VALID);
    env.run_with(
        &["auth", "login", "--profile", "ci"],
        Some(&key_line(keys::PROJECT_SCOPED)),
        &[("FLUXLOOP_STORAGE", "file")],
    )
    .assert_ok()
    .stderr_has("API key saved IN PLAINTEXT");
    let text = env.credentials().unwrap();
    assert!(text.contains("storage: file"), "{text}");
    assert_eq!(mode(&env.credentials_path()), 0o600);

    let warning = "keeps its API key in PLAINTEXT";
    env.run(&["auth", "status"])
        .assert_ok()
        .stdout_has("--storage file")
        .stdout_has("plaintext file")
        .stderr_has(warning)
        .stderr_has("using the PLAINTEXT key of profile 'default'")
        .never_shows(keys::VALID);
    let json = env
        .run(&["auth", "status", "--json"])
        .assert_ok()
        .json_valid(Schema::Status);
    assert_eq!(json["key"]["source"], "file", "{json:#}");
    env.run(&["auth", "whoami", "--profile", "ci"])
        .assert_ok()
        .stderr_has(warning)
        .stderr_has("using the PLAINTEXT key of profile 'ci'");
    env.run(&["auth", "logout", "--profile", "ci"])
        .assert_ok()
        .stderr_has(warning);
    let text = env.credentials().unwrap();
    assert!(
        !text.contains(keys::PROJECT_SCOPED),
        "logout left the key:\n{text}"
    );
}

#[test]
fn storage_file_can_be_migrated_when_a_keychain_appears() {
    // A headless machine logs in to a relocated directory...
    let headless = TestEnv::with(SecretService::start_bus_only());
    let shared = headless.home().join("shared-fluxloop");
    let shared_str = shared.to_str().unwrap();
    headless
        .run_with(
            &["auth", "login", "--storage", "file"],
            Some(&key_line(keys::VALID)),
            &[("FLUXLOOP_HOME", shared_str)],
        )
        .assert_ok();
    // ...which a session with a working keychain later migrates.
    let desktop = TestEnv::new();
    let home = [("FLUXLOOP_HOME", shared_str)];
    desktop
        .run_with(&["auth", "migrate"], None, &home)
        .assert_ok()
        .stderr_has("Moved 1 key into the Secret Service: default");
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
    let run = desktop.run_with(&["auth", "status"], None, &home);
    run.assert_ok();
    assert_eq!(key_source(&run), "Secret Service");
    assert!(!run.stderr.contains("PLAINTEXT"), "{}", run.stderr);
    headless.assert_not_on_disk(keys::VALID);
}

#[test]
fn without_the_opt_in_no_keychain_means_no_login() {
    let env = TestEnv::with(SecretService::start_bus_only());
    for args in [
        &["auth", "login"][..],
        &["auth", "login", "--storage", "keychain"][..],
    ] {
        env.run_stdin(args, &key_line(keys::VALID))
            .assert_code(KEYCHAIN)
            .stderr_has("no Secret Service provider")
            .stderr_has("FLUXLOOP_API_KEY")
            .never_shows(keys::VALID);
    }
    assert!(
        env.credentials().is_none_or(|t| !t.contains("api_key")),
        "{:?}",
        env.credentials()
    );
    env.assert_not_on_disk(keys::VALID);
}
