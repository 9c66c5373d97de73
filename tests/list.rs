//! `fluxloop auth list` end to end (issue 8): every profile from the metadata, which one is
//! active and why, without the network and without reading the keychain; `--check` asks the
//! keychain and flags orphans both ways. Every `--json` document is checked against
//! docs/schema/list.schema.json.

mod common;

use common::env::{Run, SERVICE, TestEnv, keys};
use common::schema::Schema;
use common::secret_service::SecretService;
use common::{assert_runs_snapshot, fluxloop_snapshot};

/// Three profiles: `default` (a key that expires in 84 days), `work` (never expires) and `ci`
/// (the plaintext `--storage file` opt-in).
fn three_profiles() -> TestEnv {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    env.run_stdin(
        &["auth", "login", "--profile", "ci", "--storage", "file"],
        &format!("{}\n", keys::EXPIRING_SOON),
    )
    .assert_ok();
    env
}

#[test]
fn no_profiles_says_how_to_log_in() {
    let env = TestEnv::new();
    let run = fluxloop_snapshot!(env, ["auth", "list"]);
    run.assert_ok();
    assert_eq!(run.stdout, "");
    let run = fluxloop_snapshot!("no_profiles_json", env, ["auth", "list", "--json"]);
    let doc = run.json_valid(Schema::List);
    assert_eq!(doc["profiles"], serde_json::json!([]));
    assert_eq!(doc["active"]["exists"], false);
}

#[test]
fn list_shows_every_profile_from_the_metadata_alone() {
    let env = three_profiles();
    let requests = env.platform.requests().len();
    // A locked keychain: reading it would fail with exit 6, so success proves no read.
    env.ss.lock();
    let run = fluxloop_snapshot!(env, ["auth", "list"]);
    run.assert_ok();
    let run = fluxloop_snapshot!("every_profile_json", env, ["auth", "list", "--json"]);
    let doc = run.json_valid(Schema::List);
    let names: Vec<&str> = doc["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "default", "work"]);
    assert_eq!(doc["check"], serde_json::Value::Null);
    assert_eq!(
        env.platform.requests().len(),
        requests,
        "list used the network"
    );
}

#[test]
fn list_says_which_profile_is_active_and_why() {
    let env = three_profiles();
    let runs: Vec<Run> = vec![
        env.run(&["auth", "list"]),
        env.run(&["auth", "list", "--profile", "work"]),
        env.run_with(&["auth", "list"], None, &[("FLUXLOOP_PROFILE", "work")]),
        // The flag wins over the variable.
        env.run_with(
            &["auth", "list", "--profile", "ci"],
            None,
            &[("FLUXLOOP_PROFILE", "work")],
        ),
        env.run_with(&["auth", "list"], None, &[("FLUXLOOP_PROFILE", "nobody")]),
        env.run_with(
            &["auth", "list"],
            None,
            &[("FLUXLOOP_API_KEY", keys::READ_ONLY)],
        ),
    ];
    for run in &runs {
        run.assert_ok();
    }
    assert_runs_snapshot!(env, runs, "auth list with each way of choosing the profile");

    let reasons: Vec<(String, String, bool)> = [
        (vec!["auth", "list", "--json"], vec![]),
        (vec!["auth", "list", "--json", "--profile", "work"], vec![]),
        (
            vec!["auth", "list", "--json"],
            vec![("FLUXLOOP_PROFILE", "nobody")],
        ),
    ]
    .iter()
    .map(|(args, envs)| {
        let doc = env.run_with(args, None, envs).json_valid(Schema::List);
        (
            doc["active"]["name"].as_str().unwrap().to_owned(),
            doc["active"]["reason"].as_str().unwrap().to_owned(),
            doc["active"]["exists"].as_bool().unwrap(),
        )
    })
    .collect();
    assert_eq!(
        reasons,
        [
            ("default".into(), "default".into(), true),
            ("work".into(), "flag".into(), true),
            ("nobody".into(), "env".into(), false),
        ]
    );
}

#[test]
fn check_flags_orphans_both_ways() {
    let env = three_profiles();
    env.login(keys::READ_ONLY, Some("gone"));
    env.login(keys::UNKNOWN_PERMISSION, Some("stray"));
    // `gone` loses its keychain entry; `stray` loses its metadata.
    let cleared = env
        .ss
        .secret_tool(&["clear", "service", SERVICE, "username", "gone"], None);
    assert!(cleared.success(), "{cleared:?}");
    let text = env.credentials().unwrap();
    let without_stray = remove_profile(&text, "stray");
    std::fs::write(env.credentials_path(), without_stray).unwrap();

    let run = fluxloop_snapshot!(env, ["auth", "list", "--check"]);
    run.assert_ok();
    let run = fluxloop_snapshot!("check_json", env, ["auth", "list", "--check", "--json"]);
    let doc = run.json_valid(Schema::List);
    assert_eq!(
        doc["check"]["entries_without_profile"],
        serde_json::json!(["stray"])
    );
    assert_eq!(
        doc["check"]["profiles_without_entry"],
        serde_json::json!(["gone"])
    );
}

#[test]
fn check_with_nothing_wrong_says_so() {
    let env = three_profiles();
    fluxloop_snapshot!(env, ["auth", "list", "--check"]).assert_ok();
}

#[test]
fn check_with_a_locked_keychain_is_exit_6() {
    let env = three_profiles();
    env.ss.lock();
    let run = fluxloop_snapshot!(env, ["auth", "list", "--check"]);
    run.assert_code(6);
    let run = fluxloop_snapshot!(
        "check_locked_json",
        env,
        ["auth", "list", "--check", "--json"]
    );
    run.assert_code(6);
    run.json_valid(Schema::Error);
}

#[test]
fn check_without_a_secret_service_is_exit_6() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let run = fluxloop_snapshot!(env, ["auth", "list", "--check"]);
    run.assert_code(6);
    // Without --check, no keychain is needed at all.
    fluxloop_snapshot!("no_secret_service_plain", env, ["auth", "list"]).assert_ok();
}

#[test]
fn a_legacy_plaintext_key_is_listed_as_legacy() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    std::fs::set_permissions(env.fluxloop_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        env.credentials_path(),
        format!("api_key: {}\n", keys::VALID),
    )
    .unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fluxloop_snapshot!(env, ["auth", "list"]).assert_ok();
    let doc = env
        .run(&["auth", "list", "--json"])
        .json_valid(Schema::List);
    assert_eq!(doc["profiles"][0]["storage"], "legacy");
    assert_eq!(doc["profiles"][0]["expiry"], "unknown");
}

#[test]
fn control_characters_in_the_file_are_shown_not_obeyed() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let text = env.credentials().unwrap();
    let text = text.replace(
        "account: john@example.com",
        "account: \"john\\e[2J\\a@example.com\"",
    );
    std::fs::write(env.credentials_path(), text).unwrap();
    let run = fluxloop_snapshot!(env, ["auth", "list"]);
    run.assert_ok();
    assert!(!run.stdout.contains('\x1b'), "{:?}", run.stdout);
    assert!(
        run.stdout.contains(r"john\u{1b}[2J\u{7}@example.com"),
        "{}",
        run.stdout
    );
}

/// The credentials file's YAML without profile `name`'s block (two-space indented, as written).
fn remove_profile(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line == format!("  {name}:") {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    assert_ne!(out, text, "profile {name} not found in:\n{text}");
    out
}
