//! `fluxloop auth token` end to end (issue 8): exactly the key and a newline on a piped stdout,
//! never to a terminal without `--force` (checked in a real pty), `FLUXLOOP_API_KEY` first, no
//! network call, and the usual exit codes when there is no key to print.

mod common;

use common::assert_run_snapshot;
use common::assert_screen_snapshot;
use common::env::{TestEnv, keys};
use common::fluxloop_snapshot;
use common::secret_service::SecretService;
use common::terminal::{Terminal, screen_text};

/// `env` with `key` shown as `[THE KEY]` in snapshots, so no snapshot file holds a key.
fn hide_in_snapshots(env: &TestEnv, key: &str) {
    env.filter(key, "[THE KEY]");
}

#[test]
fn piped_stdout_gets_exactly_the_key_and_a_newline() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let requests_before = env.platform.requests().len();
    let run = env.run_expecting_key_on_stdout(&["auth", "token"], &[]);
    assert_eq!(run.stdout, format!("{}\n", keys::VALID));
    // Nothing else: no warning, no note, no request to the platform.
    assert_eq!(run.stderr, "");
    assert_eq!(env.platform.requests().len(), requests_before);
    hide_in_snapshots(&env, keys::VALID);
    assert_run_snapshot!(env, run);
}

#[test]
fn profile_flag_selects_the_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let run = env.run_expecting_key_on_stdout(&["auth", "token", "--profile", "work"], &[]);
    run.assert_ok();
    assert_eq!(run.stdout, format!("{}\n", keys::PROJECT_SCOPED));
    let run = env.run_expecting_key_on_stdout(&["auth", "token"], &[("FLUXLOOP_PROFILE", "work")]);
    assert_eq!(run.stdout, format!("{}\n", keys::PROJECT_SCOPED));
}

#[test]
fn a_key_expired_by_the_metadata_is_printed_with_a_warning() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let text = env.credentials().unwrap();
    let expires = text
        .lines()
        .find(|l| l.trim_start().starts_with("expires:"))
        .expect("login records the expiry")
        .to_owned();
    // At midnight UTC as many days ago as the EXPIRED fixture, so the snapshot's date filter
    // applies and the day count stays the same every day.
    let day = chrono::Utc::now().date_naive() - chrono::Days::new(keys::EXPIRED_DAYS_AGO as u64);
    let past = format!("    expires: {}T00:00:00Z", day.format("%Y-%m-%d"));
    std::fs::write(env.credentials_path(), text.replace(&expires, &past)).unwrap();
    let run = env.run_expecting_key_on_stdout(&["auth", "token"], &[]);
    run.assert_ok();
    assert_eq!(run.stdout, format!("{}\n", keys::VALID));
    hide_in_snapshots(&env, keys::VALID);
    assert_run_snapshot!(env, run);
}

#[test]
fn not_logged_in_is_exit_3_with_nothing_on_stdout() {
    let env = TestEnv::new();
    let run = fluxloop_snapshot!(env, ["auth", "token"]);
    run.assert_code(3);
    assert_eq!(run.stdout, "");
}

#[test]
fn the_environment_key_wins_and_only_verbose_says_so() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let envs = [("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)];
    let run = env.run_expecting_key_on_stdout(&["auth", "token"], &envs);
    run.assert_ok();
    assert_eq!(run.stdout, format!("{}\n", keys::PROJECT_SCOPED));
    assert_eq!(run.stderr, "");

    let run = env.run_expecting_key_on_stdout(&["-v", "auth", "token"], &envs);
    run.assert_ok();
    assert_eq!(run.stdout, format!("{}\n", keys::PROJECT_SCOPED));
    run.stderr_has("printing the key of FLUXLOOP_API_KEY (it wins over profile 'default'");
}

#[test]
fn a_malformed_environment_key_is_refused_not_printed() {
    let env = TestEnv::new();
    let run =
        env.run_expecting_key_on_stdout(&["auth", "token"], &[("FLUXLOOP_API_KEY", "not-a-key")]);
    run.assert_code(3);
    assert_eq!(run.stdout, "");
}

#[test]
fn a_locked_keychain_is_exit_6_and_prints_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.ss.lock();
    let run = fluxloop_snapshot!(env, ["auth", "token"]);
    run.assert_code(6);
    assert_eq!(run.stdout, "");
}

#[test]
fn no_secret_service_is_exit_6_and_prints_nothing() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let run = fluxloop_snapshot!(env, ["auth", "token"]);
    run.assert_code(6);
    assert_eq!(run.stdout, "");
}

/// A key nobody received is not a success: `auth token > /dev/full` is exit 1 and says why.
#[test]
fn a_full_stdout_is_exit_1() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let (code, stderr) = env.run_to_full_stdout(&["auth", "token"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Could not write to standard output: No space left on device"),
        "{stderr}"
    );
}

#[test]
fn a_terminal_is_refused_before_the_keychain_is_read() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // Locked: had the key been read first, this would be a keychain error (exit 6).
    env.ss.lock();
    let term = Terminal::start(&env, &["auth", "token"], &[]);
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 2, "{screen}");
    assert!(!screen.contains(keys::VALID));
    assert_screen_snapshot!(
        "terminal_refused",
        env,
        screen_text(&env, &screen, Some(code)),
        "auth token with stdout a terminal"
    );
}

#[test]
fn force_prints_the_key_at_a_terminal() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let term = Terminal::start(&env, &["auth", "token", "--force"], &[]);
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0);
    // The key on a line of its own, then the wrapper's exit line.
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let at = lines
        .iter()
        .position(|l| *l == keys::VALID)
        .unwrap_or_else(|| panic!("the key is not on a line of its own"));
    assert_eq!(lines[at + 1], "EXIT=0");
}
