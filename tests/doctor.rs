//! `fluxloop auth doctor` (issue 9): a machine state built for each finding, against the real
//! gnome-keyring and the stand-in, the whole output snapshotted; `--fix` applies the safe fixes
//! and says what it did; `--json` matches its published schema.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;

use common::env::{Run, SERVICE, TestEnv, keys};
use common::schema::Schema;
use common::{assert_run_snapshot, fluxloop_snapshot};

/// The keychain's answer time varies from run to run.
fn doctor_env(env: TestEnv) -> TestEnv {
    env.filter_pattern(r"answered in \d+ ms", "answered in [N] ms");
    // How long this host's kernel keeps a persistent keyring unused is the host's setting
    // (/proc/sys/kernel/keys/persistent_keyring_expiry), not fluxloop's behaviour.
    env.filter_pattern(
        r"kept until this machine reboots, or after \d+ (days?|s) unused",
        "kept until this machine reboots, or after [HOST'S EXPIRY] unused",
    );
    env
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn write_credentials(env: &TestEnv, text: &str) {
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    std::fs::write(env.credentials_path(), text).unwrap();
    set_mode(&env.credentials_path(), 0o600);
}

fn findings(run: &Run) -> Vec<String> {
    let doc = run.json_valid(Schema::Doctor);
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_healthy_machine_has_nothing_wrong() {
    let env = doctor_env(TestEnv::new());
    env.login(keys::VALID, None);
    let run = fluxloop_snapshot!(env, ["auth", "doctor"]);
    run.assert_ok().stdout_has("Nothing is wrong");
    let json = env.run(&["auth", "doctor", "--json"]);
    json.assert_ok();
    let doc = json.json_valid(Schema::Doctor);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["stores"][0]["store"], "keychain");
    assert_eq!(doc["stores"][0]["usable"], true);
}

#[test]
fn no_session_bus_and_nothing_to_log_in_with_is_a_warning_with_the_store_that_fits() {
    let env = doctor_env(TestEnv::without_keychain());
    let mut cmd = env.cmd();
    cmd.args(["auth", "doctor"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22");
    let run = env.run_cmd(&mut cmd, None);
    run.assert_code(1)
        .stdout_has("SSH session")
        .stdout_has("fluxloop auth login --storage keyutils");
    assert_run_snapshot!(env, run);

    let mut cmd = env.cmd();
    cmd.args(["auth", "doctor", "--json"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22");
    let json = env.run_cmd(&mut cmd, None);
    json.assert_code(1);
    let doc = json.json_valid(Schema::Doctor);
    assert_eq!(doc["machine"]["kind"], "ssh-without-bus");
    assert_eq!(doc["stores"][0]["usable"], false);
    assert_eq!(findings(&json), ["machine", "keychain_unusable"]);
}

#[test]
fn no_keychain_is_only_noted_when_the_key_comes_from_the_environment() {
    let env = doctor_env(TestEnv::with(
        common::secret_service::SecretService::start_bus_only(),
    ));
    let run = env.run_with(
        &["auth", "doctor", "--json"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID), ("CI", "true")],
    );
    run.assert_ok();
    let doc = run.json_valid(Schema::Doctor);
    assert_eq!(doc["machine"]["kind"], "ci");
    let unusable = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "keychain_unusable")
        .unwrap()
        .clone();
    assert_eq!(unusable["severity"], "info");
}

#[test]
fn keychain_and_credentials_file_that_disagree_are_found() {
    let env = doctor_env(TestEnv::new());
    env.allow_plaintext_on_disk();
    env.login(keys::VALID, None);
    env.login(keys::READ_ONLY, Some("gone"));
    env.login(keys::UNKNOWN_PERMISSION, Some("stray"));
    env.login(keys::PROJECT_SCOPED, Some("twice"));
    // `gone` loses its keychain entry; `stray` loses its metadata; `twice` also gets a
    // plaintext key in the file.
    let cleared = env
        .ss
        .secret_tool(&["clear", "service", SERVICE, "username", "gone"], None);
    assert!(cleared.success(), "{cleared:?}");
    let text = format!(
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n  gone:\n    account: john@example.com\n    storage: keychain\n  twice:\n    account: john@example.com\n    storage: file\n    api_key: {}\n",
        keys::PROJECT_SCOPED
    );
    write_credentials(&env, &text);
    // A second entry for `default`, as another tool would make it.
    env.ss.store_with(
        "FluxLoop API key (default)",
        // An attribute of its own, so that secret-tool adds an item instead of replacing ours.
        &[
            ("service", SERVICE),
            ("username", "default"),
            ("made-by", "another tool"),
        ],
        keys::VALID,
    );

    let run = fluxloop_snapshot!(env, ["auth", "doctor"]);
    run.assert_code(1);
    let json = env.run(&["auth", "doctor", "--json"]);
    let ids = findings(&json);
    for id in [
        "orphan_keychain_entry",
        "profile_without_key",
        "key_in_two_places",
        "plaintext_store",
        "duplicate_keychain_entries",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    // --fix touches none of these: each could lose a key.
    let before = env.snapshot();
    env.run(&["auth", "doctor", "--fix"]).assert_code(1);
    assert_eq!(env.snapshot(), before, "--fix changed keys or metadata");
}

#[test]
fn hygiene_problems_are_found_and_the_safe_ones_fixed() {
    let env = doctor_env(TestEnv::new());
    env.allow_plaintext_on_disk();
    let soon = chrono::Utc::now() + chrono::Days::new(5);
    env.filter(&soon.format("%Y-%m-%d").to_string(), "[IN 5 DAYS]");
    let soon = soon.format("%Y-%m-%dT%H:%M:%SZ");
    write_credentials(
        &env,
        &format!(
            "api_key: {}\nprofiles:\n  old:\n    account: john@example.com\n    storage: keychain\n    expires: 2020-01-01T00:00:00Z\n  soon:\n    account: john@example.com\n    storage: keychain\n    expires: {soon}\n",
            keys::VALID
        ),
    );
    env.ss.store(SERVICE, "old", keys::READ_ONLY);
    env.ss.store(SERVICE, "soon", keys::PROJECT_SCOPED);
    env.ss.store(SERVICE, "default", keys::VALID);
    set_mode(&env.credentials_path(), 0o644);
    // A temp file of a write that was killed.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = env
        .fluxloop_dir()
        .join(format!(".credentials.tmp-{dead}-123"));
    std::fs::write(&stale, "profiles: {}\n").unwrap();
    set_mode(&stale, 0o600);
    env.filter(&dead.to_string(), "[DEAD_PID]");
    // A project directory whose .env holds a key, and a parent's .fluxloop/.env too.
    let project = env.tmp().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(project.join(".fluxloop")).unwrap();
    let dotenv = format!(
        "# settings\nFLUXLOOP_API_URL=https://api.fluxloop.ai\nexport FLUXLOOP_API_KEY=\"{}\"\n",
        keys::VALID
    );
    std::fs::write(project.join(".env"), &dotenv).unwrap();
    std::fs::write(
        project.join(".fluxloop/.env"),
        format!("FLUXLOOP_API_KEY={}\n", keys::VALID),
    )
    .unwrap();
    env.allow_plaintext_in(&project);

    let doctor = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.args(args).current_dir(project.join("src"));
        env.run_cmd(&mut cmd, None)
    };
    let run = doctor(&["auth", "doctor"]);
    run.assert_code(1);
    assert_run_snapshot!("hygiene_before_fix", env, run);
    let json = doctor(&["auth", "doctor", "--json"]);
    let ids = findings(&json);
    for id in [
        "legacy_plaintext_key",
        "key_in_dotenv",
        "readable_by_others",
        "stale_temp_files",
        "key_expired",
        "key_expires_soon",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }

    let fixed = doctor(&["auth", "doctor", "--fix"]);
    fixed.assert_code(1).stdout_has("chmod 600");
    assert_run_snapshot!("hygiene_fix", env, fixed);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.credentials_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!stale.exists(), "the stale temp file was removed");
    // The user's files are theirs: reported, never edited.
    assert_eq!(
        std::fs::read_to_string(project.join(".env")).unwrap(),
        dotenv
    );

    let after = doctor(&["auth", "doctor", "--json"]);
    let ids = findings(&after);
    assert!(
        !ids.iter()
            .any(|i| i == "readable_by_others" || i == "stale_temp_files"),
        "{ids:?}"
    );
}

#[test]
fn an_unreachable_platform_is_an_error_naming_the_url() {
    let env = doctor_env(TestEnv::new());
    env.login(keys::VALID, None);
    // Nothing listens on port 1.
    let run = env.run_with(
        &["auth", "doctor"],
        None,
        &[("FLUXLOOP_API_URL", "http://127.0.0.1:1")],
    );
    run.assert_code(1)
        .stdout_has("http://127.0.0.1:1: Unable to connect to FluxLoop API");
    assert_run_snapshot!(env, run);
}

#[test]
fn keepassxc_is_said_to_keep_deleted_keys() {
    let env = doctor_env(TestEnv::with(
        common::secret_service::SecretService::start_keepassxc(),
    ));
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "doctor", "--json"]);
    run.assert_ok();
    assert!(
        findings(&run)
            .iter()
            .any(|i| i == "keepassxc_keeps_deleted_keys"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_locked_keychain_that_holds_a_profile_is_an_error_with_the_unlock_hint() {
    let env = doctor_env(TestEnv::with(
        common::secret_service::SecretService::start_locked(),
    ));
    write_credentials(
        &env,
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n",
    );
    let run = fluxloop_snapshot!(env, ["auth", "doctor"]);
    run.assert_code(1)
        .stdout_has("the keychain is locked")
        .stdout_has("gnome-keyring-daemon --unlock");
    let json = env.run(&["auth", "doctor", "--json"]);
    let doc = json.json_valid(Schema::Doctor);
    let unusable = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "keychain_unusable")
        .unwrap()
        .clone();
    assert_eq!(unusable["severity"], "error");
}

#[test]
fn hand_made_dangers_are_errors_that_fix_leaves_alone() {
    let env = doctor_env(TestEnv::new());
    env.login(keys::VALID, None);
    // Edited by hand: a non-loopback http:// URL, and a file others may write to.
    write_credentials(
        &env,
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n    api_url: http://api.example.com\n",
    );
    set_mode(&env.credentials_path(), 0o664);
    let envs = [("FLUXLOOP_API_KEY", "")];
    let run = fluxloop_snapshot!(env, ["auth", "doctor", "--fix"], envs = &envs);
    run.assert_code(1);
    let json = env.run_with(&["auth", "doctor", "--json", "--fix"], None, &envs);
    let doc = json.json_valid(Schema::Doctor);
    let severity = |id: &str| {
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {doc:#}"))["severity"]
            .clone()
    };
    assert_eq!(severity("writable_by_others"), "error");
    assert_eq!(severity("non_https_api_url"), "error");
    assert_eq!(severity("empty_env_key"), "error");
    assert_eq!(doc["fixed"], serde_json::json!([]));
    // Others could have changed what the file says: --fix does not make it trusted again.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.credentials_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o664);
}

/// The encrypted-file store's findings: a key file no profile uses, a keys folder others can
/// reach (fixed by --fix), and a profile whose file cannot be opened here for want of a
/// passphrase source. The files are never opened: doctor asks no passphrase.
#[test]
fn encrypted_file_findings_and_the_keys_folder_fix() {
    let env = doctor_env(TestEnv::new());
    env.run_with(
        &["auth", "login", "--storage", "encrypted-file"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_PASSPHRASE", "correct-horse-battery-staple")],
    )
    .assert_ok();
    let keys_dir = env.fluxloop_dir().join("keys");
    std::fs::copy(keys_dir.join("default.age"), keys_dir.join("gone.age")).unwrap();
    set_mode(&keys_dir, 0o755);

    let run = env.run(&["auth", "doctor"]);
    run.assert_code(1);
    assert_run_snapshot!(env, run);
    let json = env.run(&["auth", "doctor", "--json"]);
    let found = findings(&json);
    for id in [
        "no_passphrase_source",
        "encrypted_file_without_profile",
        "keys_dir_permissions",
    ] {
        assert!(found.iter().any(|f| f == id), "{id} not in {found:?}");
    }

    // With the variable set the store is usable; --fix tightens the folder and keeps the file.
    let fixed = env.run_with(
        &["auth", "doctor", "--fix", "--json"],
        None,
        &[("FLUXLOOP_PASSPHRASE", "correct-horse-battery-staple")],
    );
    let doc = fixed.json_valid(Schema::Doctor);
    assert_eq!(doc["fixed"][0], format!("chmod 700 {}", keys_dir.display()));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    assert!(keys_dir.join("gone.age").exists());
    let found = findings(&fixed);
    assert!(
        !found.iter().any(|f| f == "no_passphrase_source"),
        "{found:?}"
    );
    assert!(
        found.iter().any(|f| f == "encrypted_file_without_profile"),
        "{found:?}"
    );
}
