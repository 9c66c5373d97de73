//! The keychain dies part way through `logout --all` of 50 profiles (issue 11, part 3): killed
//! (SIGKILL: calls fail at once) or stopped (SIGSTOP: calls go unanswered, bounded at 5 s). The
//! command says which profiles it removed and which remain, exits with the keychain's code, and
//! leaves each profile whole; a second run once the keychain is back finishes the job.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::env::{RUN_TIMEOUT, TestEnv};

const PROFILES: usize = 50;
/// logout --all's steps on gnome-keyring: the keychain list, the kernel keyring list, then one
/// per batch of 32 profiles' deletions (`DELETE_BATCH`, src/secrets/keyring/mod.rs). Stopped
/// before the second batch, the first batch's keys are gone.
const STOP_AT_STEP: usize = 4;
const REMOVED_BEFORE_STOP: usize = 32;

fn made_up_key(i: usize) -> String {
    format!("flux_dev_dies{i:02}Qx7Lm3Wv9Rt2Hk5Zp8Nc4Jd6Bs")
}

/// 50 profiles with keys in the keychain (planted as plaintext, moved by `migrate`).
fn fifty_profiles(env: &TestEnv) {
    use std::os::unix::fs::PermissionsExt;
    let mut text = String::from("profiles:\n");
    for i in 0..PROFILES {
        let key = made_up_key(i);
        env.know_key(&key);
        text.push_str(&format!(
            "  p{i:02}:\n    account: p{i:02}@example.com\n    storage: file\n    api_key: {key}\n"
        ));
    }
    let dir = env.fluxloop_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(env.credentials_path(), text).unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.run(&["auth", "migrate"]).assert_ok();
    assert_eq!(env.keychain().len(), PROFILES);
}

fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// `logout --all`, stopped by the debug hook before its step STOP_AT_STEP (the second batch).
fn stopped_logout(env: &TestEnv) -> Child {
    let mut child = env
        .cmd()
        .args(["auth", "logout", "--all"])
        .env("FLUXLOOP_DEBUG_CRASH_AT", STOP_AT_STEP.to_string())
        .env("FLUXLOOP_DEBUG_CRASH_SIGNAL", "stop")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while state(child.id()) != Some('T') {
        assert!(child.try_wait().unwrap().is_none(), "logout ended early");
        assert!(started.elapsed() < RUN_TIMEOUT, "logout never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::io::stderr().flush();
    child
}

/// Resumes the stopped logout and collects how it ended.
fn resume(child: Child) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let cont = std::process::Command::new("kill")
        .args(["-s", "CONT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(cont.success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// Profile names in the credentials file.
fn listed(env: &TestEnv) -> Vec<String> {
    let text = env.credentials().unwrap_or_default();
    let file: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
    file.get("profiles")
        .and_then(|p| p.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// What every variant checks once the keychain is back: the first run removed 32 profiles
/// wholly (key and metadata) and left 18 wholly; a second run removes those.
fn check_partial_then_finish(env: &TestEnv, code: Option<i32>, stderr: &str) {
    assert_eq!(code, Some(6), "the keychain's exit code\n{stderr}");
    let removed = REMOVED_BEFORE_STOP;
    let remaining: Vec<String> = (removed..PROFILES).map(|i| format!("p{i:02}")).collect();
    assert!(
        stderr.contains(&format!(
            "Removed from the Secret Service: {removed} profiles (p00, "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "Still logged in: {} profiles ({})",
            remaining.len(),
            remaining.join(", ")
        )),
        "{stderr}"
    );
    assert_eq!(
        listed(env),
        remaining,
        "metadata of exactly the remaining ones"
    );
    assert_eq!(
        env.keychain_profiles(),
        remaining,
        "keys of exactly the remaining ones"
    );
    let again = env.run(&["auth", "logout", "--all"]);
    again.assert_ok();
    assert!(listed(env).is_empty());
    assert!(env.keychain().is_empty());
}

#[test]
fn a_keychain_killed_during_logout_all_leaves_whole_profiles_and_a_second_run_finishes() {
    let mut env = TestEnv::new();
    fifty_profiles(&env);
    let logout = stopped_logout(&env);
    env.ss.kill_daemon();
    let (code, stderr, _) = resume(logout);
    env.ss.restart_daemon();
    check_partial_then_finish(&env, code, &stderr);
}

#[test]
fn a_keychain_stopped_during_logout_all_is_given_up_on_within_the_bound() {
    let env = TestEnv::new();
    fifty_profiles(&env);
    let logout = stopped_logout(&env);
    env.ss.stop_daemon();
    let (code, stderr, elapsed) = resume(logout);
    env.ss.resume_daemon();
    // One call waits out the 5 s bound; generous slack for a busy machine.
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}\n{stderr}"
    );
    assert!(stderr.contains("did not answer within"), "{stderr}");
    check_partial_then_finish(&env, code, &stderr);
}
