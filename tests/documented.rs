//! Documented rules that had no test: FLUXLOOP_KEYRING_SERVICE, RUST_LOG over `-v`, a
//! credentials file from a newer fluxloop, and hand edits of the credentials file.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::assert_runs_snapshot;
use common::env::{Run, SERVICE, TestEnv, keys};

/// README (environment variables): FLUXLOOP_KEYRING_SERVICE is the keychain service name
/// (default `fluxloop`), "to keep their entries apart".
#[test]
fn fluxloop_keyring_service_keeps_entries_apart() {
    let env = TestEnv::new();
    let service_a = [("FLUXLOOP_KEYRING_SERVICE", "fluxloop-test-a")];
    let service_b = [("FLUXLOOP_KEYRING_SERVICE", "fluxloop-test-b")];
    let login = |key: &str, envs: &[(&str, &str)]| -> Run {
        env.run_with(&["auth", "login"], Some(&format!("{key}\n")), envs)
    };
    let mut runs = vec![
        login(keys::VALID, &service_a),
        login(keys::PROJECT_SCOPED, &service_b),
    ];
    // One entry per service, each with its own key; none under the default name.
    let secrets = |service: &str| -> Vec<Option<String>> {
        env.ss
            .items(service)
            .into_iter()
            .map(|i| i.secret)
            .collect()
    };
    assert_eq!(secrets("fluxloop-test-a"), [Some(keys::VALID.to_owned())]);
    assert_eq!(
        secrets("fluxloop-test-b"),
        [Some(keys::PROJECT_SCOPED.to_owned())]
    );
    assert!(env.ss.items(SERVICE).is_empty());

    // Each service's status reads its own entry (the credentials file is shared, and says
    // what the last login saved).
    runs.push(env.run_with(&["auth", "status"], None, &service_a));
    runs.push(env.run_with(&["auth", "status"], None, &service_b));
    // Logging out under one service leaves the other's entry alone.
    runs.push(env.run_with(&["auth", "logout"], None, &service_a));
    assert!(env.ss.items("fluxloop-test-a").is_empty());
    assert_eq!(
        secrets("fluxloop-test-b"),
        [Some(keys::PROJECT_SCOPED.to_owned())]
    );
    assert_runs_snapshot!(
        env,
        runs,
        "login under services a and b, status under each, logout under a"
    );
}

/// README: RUST_LOG is the log filter for diagnostics and overrides `-v`.
#[test]
fn rust_log_overrides_the_verbosity_flags() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let with = |args: &[&str], rust_log: Option<&str>| -> Run {
        let mut argv = args.to_vec();
        argv.extend(["auth", "status"]);
        let envs: Vec<(&str, &str)> = rust_log.map(|l| ("RUST_LOG", l)).into_iter().collect();
        let run = env.run_with(&argv, None, &envs);
        run.assert_ok();
        run
    };
    let log_levels = |run: &Run| -> Vec<&'static str> {
        ["TRACE", "DEBUG", "INFO"]
            .into_iter()
            .filter(|level| run.stderr.contains(&format!(" {level} ")))
            .collect()
    };
    let quiet = with(&[], None);
    assert_eq!(quiet.stderr, "");
    // -vvv alone logs debug lines (of the HTTP stack).
    assert_eq!(log_levels(&with(&["-vvv"], None)), ["DEBUG", "INFO"]);
    // RUST_LOG=off silences -vvv: the whole output is the quiet run's.
    let off = with(&["-vvv"], Some("off"));
    assert_eq!(off.whole_output(), quiet.whole_output());
    // RUST_LOG=fluxloop=info keeps -vvv to info, and turns logging on without any -v.
    assert_eq!(
        log_levels(&with(&["-vvv"], Some("fluxloop=info"))),
        ["INFO"]
    );
    assert_eq!(log_levels(&with(&[], Some("fluxloop=info"))), ["INFO"]);
    // An empty RUST_LOG counts as unset: -v decides.
    assert_eq!(log_levels(&with(&["-v"], Some(""))), ["INFO"]);
}

/// Writes the credentials file as a user or another program would, with the modes fluxloop
/// itself uses (so the permission checks have nothing to say).
fn write_credentials(env: &TestEnv, text: &str) {
    let dir = env.fluxloop_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(env.credentials_path(), text).unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// README: "Unknown-but-valid files from a newer fluxloop (`version` greater than 1) are
/// refused rather than rewritten."
#[test]
fn a_credentials_file_from_a_newer_fluxloop_is_refused_and_left_untouched() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "default", keys::VALID);
    write_credentials(
        &env,
        "version: 2\nprofiles:\n  default:\n    account: john@example.com\n    future_field: 7\n",
    );
    let before = env.snapshot();
    let runs: Vec<Run> = [
        &["auth", "status"][..],
        &["auth", "logout"],
        &["auth", "migrate"],
    ]
    .into_iter()
    .map(|args| env.run(args))
    .chain([env.run_stdin(&["auth", "login"], &format!("{}\n", keys::PROJECT_SCOPED))])
    .collect();
    for run in &runs {
        assert_eq!(run.code, Some(1), "{}", run.whole_output());
    }
    assert_runs_snapshot!(
        env,
        runs,
        "status, logout, migrate and login with a version: 2 credentials file"
    );
    assert_eq!(env.snapshot(), before);
}

/// The file's header: "Managed by `fluxloop auth`; edits are kept." A login of one profile
/// rewrites the file; another profile's hand-edited values come through unchanged.
#[test]
fn hand_edits_of_other_profiles_survive_a_login() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let text = env.credentials().unwrap();
    let edited = text
        .replace(
            "account: scoped@example.com",
            "account: ops-team@example.com",
        )
        .replace("environment: prod", "environment: production-eu");
    assert_ne!(edited, text, "the edit found nothing to change:\n{text}");
    write_credentials(&env, &edited);
    let work_before = section(&edited, "work");

    env.login(keys::EXPIRING_SOON, None);
    let after = env.credentials().unwrap();
    assert_eq!(section(&after, "work"), work_before, "{after}");
    assert_ne!(section(&after, "default"), section(&edited, "default"));
    let status = env.run(&["auth", "status", "--profile", "work"]);
    status.assert_ok();
    assert_runs_snapshot!(
        env,
        [status],
        "status of the hand-edited profile after another profile's login"
    );
}

/// The lines of one profile's entry (`  <name>:` and the deeper-indented lines under it).
fn section(text: &str, name: &str) -> Vec<String> {
    let header = format!("  {name}:");
    text.lines()
        .skip_while(|l| *l != header)
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with("    "))
        .map(|(_, l)| l.to_owned())
        .collect()
}

/// README (the credentials file): a lock covers each read-modify-write; another fluxloop holding
/// it for longer than 10 s makes the command stop with a clear error, not hang, and change
/// nothing.
#[test]
fn a_held_lock_times_out_with_a_clear_error_and_changes_nothing() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.fluxloop_dir().join("credentials.lock"))
        .unwrap();
    lock.lock().unwrap();

    let run = env.run(&["auth", "logout"]);

    lock.unlock().unwrap();
    // The documented wait is 10 s: generous slack above, none below.
    assert!(
        run.elapsed >= std::time::Duration::from_secs(10)
            && run.elapsed < std::time::Duration::from_secs(30),
        "took {:?}",
        run.elapsed
    );
    common::assert_run_snapshot!(env, run);
    assert_eq!(env.snapshot(), before);
    // Once the lock is free, the same command works.
    env.run(&["auth", "logout"]).assert_ok();
}
