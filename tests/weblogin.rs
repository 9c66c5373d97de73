//! `fluxloop auth login --web` and `fluxloop auth rotate` end to end (issue 13): the built
//! binary against the stand-in's browser login and rotation, with a private, real
//! gnome-keyring. Every run is checked for leaks of the fixture keys, the keys the stand-in
//! minted and the device codes it handed out (TestEnv learns them as they appear).

mod common;

use std::time::{Duration, Instant};

use common::env::{SERVICE, TestEnv, keys};
use common::terminal::Terminal;
use fluxloop_stand_in::{ConnectFault, ConnectSettings};

fn stored_key(env: &TestEnv, profile: &str) -> Option<String> {
    env.ss.lookup(SERVICE, profile)
}

fn pending_entry(env: &TestEnv, profile: &str) -> Option<String> {
    env.ss.lookup(SERVICE, &format!("pending-login:{profile}"))
}

/// The profile's key works: `auth status` says so.
#[track_caller]
fn works(env: &TestEnv) {
    env.run(&["auth", "status"]).assert_ok();
}

// -----------------------------------------------------------------------------------------
// login --web

#[test]
fn a_web_login_stores_the_minted_key_and_names_it() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    let run = env.run(&[
        "auth",
        "login",
        "--web",
        "--device-name",
        "build-box",
        "--expires-in",
        "30",
    ]);
    run.assert_ok()
        .stderr_has("First copy your one-time code:")
        .stderr_has(&format!("{}/cli-connect?user_code=", env.platform.url()))
        .stderr_has("New API key saved to")
        .stderr_has("Key name: build-box, expires")
        .stderr_has("(30 days remaining)")
        .stderr_has("Your account: john@example.com");
    let minted = env.platform.minted();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        stored_key(&env, "default").as_deref(),
        Some(minted[0].api_key.as_str())
    );
    assert_eq!(env.platform.logins()[0].device_name, "build-box");
    let request = env
        .platform
        .requests()
        .into_iter()
        .find(|r| r.path() == "/api/cli-connect/start")
        .unwrap();
    assert!(request.header("idempotency-key").is_some());
    assert!(request.header("authorization").is_none());
    assert!(env.credentials().unwrap().contains(&minted[0].id));
    assert_eq!(pending_entry(&env, "default"), None);
    works(&env);
}

/// A stand-in `xdg-open` that records the address it was given, first on PATH.
fn fake_browser(env: &TestEnv) -> (String, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = env.tmp().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = env.tmp().join("opened");
    let script = bin.join("xdg-open");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    (path, opened)
}

/// What the fake browser was asked to open, once it had time to start.
fn opened(file: &std::path::Path, expect_some: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(if expect_some { 10 } else { 1 });
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_browser_opens_only_on_a_desktop_not_over_ssh_nor_in_ci_nor_with_no_browser() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    let (path, file) = fake_browser(&env);
    let desktop = [("PATH", path.as_str()), ("DISPLAY", ":99")];
    let login = ["auth", "login", "--web"];

    env.run_with(&login, None, &desktop).assert_ok();
    let url = opened(&file, true);
    assert!(
        url.starts_with(&format!("{}/cli-connect?user_code=", env.platform.url())),
        "{url}"
    );
    std::fs::remove_file(&file).unwrap();

    for (why, extra) in [
        ("over SSH", ("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")),
        ("in CI", ("CI", "true")),
        ("without a display", ("DISPLAY", "")),
    ] {
        let mut envs = desktop.to_vec();
        envs.push(extra);
        env.run_with(&login, None, &envs).assert_ok();
        assert_eq!(opened(&file, false), "", "a browser was opened {why}");
    }
    env.run_with(&["auth", "login", "--web", "--no-browser"], None, &desktop)
        .assert_ok();
    assert_eq!(
        opened(&file, false),
        "",
        "a browser was opened with --no-browser"
    );
}

#[test]
fn a_web_login_to_a_profile_named_like_another_but_for_case_is_refused_before_starting() {
    // Windows Credential Manager would give `Work` and `work` one entry.
    let env = TestEnv::new();
    env.quick_web_logins(true);
    env.login(keys::VALID, Some("work"));
    let run = env.run(&["auth", "login", "--web", "--profile", "Work"]);
    run.assert_code(2)
        .stderr_has("Profile 'Work' differs from the existing profile 'work' only in case");
    assert!(env.platform.logins().is_empty());
    assert!(env.platform.minted().is_empty());
    assert_eq!(stored_key(&env, "Work"), None);
    assert_eq!(pending_entry(&env, "Work"), None);
}

#[test]
fn a_refused_login_stores_nothing() {
    let env = TestEnv::new();
    env.quick_web_logins(false);
    env.platform.set_connect_fault(Some(ConnectFault::Deny));
    let run = env.run(&["auth", "login", "--web"]);
    run.assert_code(3)
        .stderr_has("The login was refused in the browser; nothing was stored");
    assert!(env.keychain().is_empty());
    assert!(env.platform.minted().is_empty());
}

#[test]
fn a_login_that_expires_while_polling_says_so() {
    let env = TestEnv::new();
    env.quick_web_logins(false);
    env.platform
        .set_connect_fault(Some(ConnectFault::ExpireAfterPolls { polls: 1 }));
    let run = env.run(&["auth", "login", "--web"]);
    run.assert_code(3)
        .stderr_has("The login code expired at")
        .stderr_has("nothing was stored");
    assert!(env.keychain().is_empty());
    assert_eq!(env.platform.logins()[0].polls, 2);
}

#[test]
fn slow_down_lengthens_the_interval_as_the_platform_asks() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    // One slow_down: the platform then enforces 1 + 5 s between polls, and answers any earlier
    // poll with slow_down again.
    env.platform
        .set_connect_fault(Some(ConnectFault::SlowDownStorm { times: 1 }));
    let started = Instant::now();
    env.run(&["auth", "login", "--web"]).assert_ok();
    let took = started.elapsed();
    assert_eq!(env.platform.logins()[0].polls, 2, "no poll came too early");
    assert!(took >= Duration::from_secs(7), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn a_failed_answer_carrying_the_key_is_retried_and_one_key_is_made() {
    let env = TestEnv::new();
    env.quick_web_logins(true);
    env.platform
        .set_connect_fault(Some(ConnectFault::KeyAnswerFails { times: 1 }));
    env.run(&["auth", "login", "--web"]).assert_ok();
    assert_eq!(env.platform.minted().len(), 1);
    works(&env);
}

#[test]
fn a_platform_without_browser_login_gets_exit_5() {
    let env = TestEnv::new();
    // Every path under this prefix is a 404, as on a platform that predates contract 1.1.
    let url = format!("{}/v0", env.platform.url());
    let run = env.run_with(
        &["auth", "login", "--web"],
        None,
        &[("FLUXLOOP_API_URL", &url)],
    );
    run.assert_code(5)
        .stderr_has("This platform does not support browser login; use an API key");
    assert!(env.keychain().is_empty());
}

#[test]
fn no_wait_keeps_the_pending_login_in_the_keychain_and_resume_finishes_it() {
    let env = TestEnv::new();
    env.quick_web_logins(false);
    let run = env.run(&["auth", "login", "--web", "--no-wait", "--json"]);
    run.assert_ok();
    let doc = run.json();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["profile"], "default");
    assert_eq!(doc["resume_command"], "fluxloop auth login --web --resume");
    let user_code = doc["user_code"].as_str().unwrap().to_string();
    assert_eq!(user_code, env.platform.logins()[0].user_code);
    // In the keychain, as an entry of its own; nothing on disk.
    let pending = pending_entry(&env, "default").expect("a pending entry");
    assert!(pending.contains(&env.platform.device_codes()[0]));
    assert_eq!(stored_key(&env, "default"), None);
    assert!(env.credentials().is_none_or(|c| !c.contains("dc_")));
    // `auth list --check` does not take it for a profile's key.
    let list = env.run(&["auth", "list", "--check", "--json"]);
    assert!(!list.stdout.contains("pending-login"), "{}", list.stdout);

    assert!(env.platform.approve(&user_code));
    let resumed = env.run(&["auth", "login", "--web", "--resume"]);
    resumed.assert_ok().stderr_has("New API key saved to");
    assert_eq!(
        stored_key(&env, "default").as_deref(),
        Some(env.platform.minted()[0].api_key.as_str())
    );
    assert_eq!(pending_entry(&env, "default"), None);
    works(&env);
}

#[test]
fn no_wait_without_json_prints_the_code_and_how_to_resume() {
    let env = TestEnv::new();
    env.quick_web_logins(false);
    let run = env.run(&["--profile", "work", "auth", "login", "--web", "--no-wait"]);
    run.assert_ok()
        .stderr_has("First copy your one-time code:")
        .stderr_has("fluxloop auth login --profile work --web --resume");
    assert!(run.stdout.is_empty());
    assert!(pending_entry(&env, "work").is_some());
    // `logout --all` takes pending logins with everything else of fluxloop's.
    env.run(&["auth", "logout", "--all"]).assert_ok();
    assert_eq!(pending_entry(&env, "work"), None);
    assert!(env.keychain().is_empty());
}

#[test]
fn resuming_an_expired_pending_login_says_so_and_forgets_it() {
    let env = TestEnv::new();
    env.platform.set_connect(ConnectSettings {
        interval: 1,
        expires_in: 1,
        auto_approve_after: None,
    });
    env.run(&["auth", "login", "--web", "--no-wait"])
        .assert_ok();
    std::thread::sleep(Duration::from_millis(1500));
    let run = env.run(&["auth", "login", "--web", "--resume"]);
    run.assert_code(3)
        .stderr_has("The pending browser login of profile 'default' expired");
    assert_eq!(pending_entry(&env, "default"), None);
    assert!(env.keychain().is_empty());
}

#[test]
fn resume_without_a_pending_login_says_how_to_start_one() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "login", "--web", "--resume"]);
    run.assert_code(1)
        .stderr_has("No pending browser login for profile 'default'")
        .stderr_has("fluxloop auth login --web --no-wait");
}

#[test]
fn ctrl_c_while_waiting_cancels_cleanly() {
    let env = TestEnv::new();
    env.quick_web_logins(false);
    let term = Terminal::start_for_interrupt(&env, &["auth", "login", "--web"]);
    term.wait_for("First copy your one-time code:");
    // Let a poll or two go by, then stop.
    std::thread::sleep(Duration::from_millis(1500));
    term.press("C-c");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains("Login cancelled; nothing was stored"),
        "{screen}"
    );
    for secret in env.platform.device_codes() {
        assert!(!screen.contains(&secret));
    }
    assert!(env.keychain().is_empty());
    assert!(env.platform.minted().is_empty());
}

// -----------------------------------------------------------------------------------------
// rotate

/// The live keys the platform has for this test: the old one unless revoked, plus the minted
/// ones not revoked.
fn live_keys(env: &TestEnv) -> usize {
    let old_live = !env.platform.revoked().contains(&keys::VALID.to_string());
    usize::from(old_live) + env.platform.live_minted().len()
}

#[test]
fn rotate_replaces_the_key_in_place_and_revokes_the_old_one() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "rotate", "--expires-in", "60"]);
    run.assert_ok()
        .stderr_has("Key rotated")
        .stderr_has("Key name: laptop, created")
        .stderr_has("(60 days remaining)")
        .stderr_has("Old key key_01HV8Y3M2N revoked");
    let minted = env.platform.minted();
    assert_eq!(minted.len(), 1);
    assert_eq!(
        stored_key(&env, "default").as_deref(),
        Some(minted[0].api_key.as_str())
    );
    assert_eq!(env.platform.revoked(), [keys::VALID]);
    let rotate = env
        .platform
        .requests()
        .into_iter()
        .find(|r| r.path() == "/api/auth/key/rotate")
        .unwrap();
    assert!(rotate.header("idempotency-key").is_some());
    assert_eq!(live_keys(&env), 1);
    works(&env);
}

#[test]
fn rotate_retries_a_lost_answer_with_the_same_idempotency_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.platform
        .set_connect_fault(Some(ConnectFault::RotateAnswerLost { times: 1 }));
    env.run(&["auth", "rotate"]).assert_ok();
    let sent: Vec<String> = env
        .platform
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/api/auth/key/rotate")
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], sent[1]);
    assert_eq!(env.platform.minted().len(), 1);
    assert_eq!(live_keys(&env), 1);
    works(&env);
}

#[test]
fn rotate_that_cannot_mint_keeps_the_old_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.platform
        .set_connect_fault(Some(ConnectFault::RotateFails));
    let run = env.run(&["auth", "rotate"]);
    run.assert_code(5)
        .stderr_has("Could not rotate the key")
        .stderr_has("Profile 'default' keeps its key, which still works.");
    assert_eq!(stored_key(&env, "default").as_deref(), Some(keys::VALID));
    assert_eq!(live_keys(&env), 1);
    env.platform.set_connect_fault(None);
    works(&env);
}

#[test]
fn rotate_that_cannot_verify_the_new_key_revokes_it() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.platform
        .set_connect_fault(Some(ConnectFault::IntrospectMintedFails));
    let run = env.run(&["auth", "rotate"]);
    run.assert_code(5)
        .stderr_has("The new key could not be verified")
        .stderr_has("was revoked.")
        .stderr_has("keeps its old key");
    assert_eq!(stored_key(&env, "default").as_deref(), Some(keys::VALID));
    assert_eq!(env.platform.minted().len(), 1);
    assert_eq!(live_keys(&env), 1);
    works(&env);
}

#[test]
fn rotate_that_cannot_store_the_new_key_revokes_it() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run_with(
        &["auth", "rotate"],
        None,
        &[("FLUXLOOP_DEBUG_FAIL_METADATA_WRITE", "1")],
    );
    run.assert_code(1)
        .stderr_has("The new key could not be stored")
        .stderr_has("was revoked.")
        .stderr_has("keeps its old key");
    assert_eq!(stored_key(&env, "default").as_deref(), Some(keys::VALID));
    assert_eq!(live_keys(&env), 1);
    works(&env);
}

#[test]
fn rotate_that_cannot_revoke_the_old_key_names_it() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.platform
        .set_connect_fault(Some(ConnectFault::RevokeFixtureFails));
    let run = env.run(&["auth", "rotate"]);
    run.assert_code(1)
        .stderr_has("The new key is in place, but the old key key_01HV8Y3M2N could not be revoked: it still works")
        .stderr_has("https://app.fluxloop.ai/settings/api-keys");
    let minted = env.platform.minted();
    assert_eq!(
        stored_key(&env, "default").as_deref(),
        Some(minted[0].api_key.as_str())
    );
    // The one live extra key is the old one, and it was reported.
    assert_eq!(live_keys(&env), 2);
    works(&env);
}

#[test]
fn rotate_without_a_saved_key_says_to_log_in() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "rotate"]);
    run.assert_code(3)
        .stderr_has("there is no saved key to rotate");
}
