//! The test harness's own promises: the leak check fires on a piece of a key (in output, in a
//! file, in /dev/shm, in a keychain label) and not on the documented mask; the snapshot text
//! has the documented shape.

mod common;

use std::time::Duration;

use common::env::{Run, SERVICE, TestEnv, keys};
use common::leak;

fn run_with(stdout: &str, stderr: &str) -> Run {
    Run {
        args: Vec::new(),
        envs: Vec::new(),
        code: Some(0),
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        elapsed: Duration::ZERO,
    }
}

/// 8 characters from the middle of VALID's secret (`abc123def456…`).
fn piece_of_valid() -> &'static str {
    &keys::VALID["flux_dev_".len() + 5..][..8]
}

#[test]
fn the_output_check_fires_on_eight_characters_of_a_fixture_key() {
    let env = TestEnv::without_keychain();
    let run = run_with("", &format!("error near {} here\n", piece_of_valid()));
    assert_eq!(
        env.leaks_in(&run),
        ["stderr: fixture key keys::VALID"],
        "the check missed a piece of the key"
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| env.assert_no_leak(&run)))
        .expect_err("assert_no_leak passed on a leaking run");
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    // The message names the key and shows the output without the piece.
    assert!(message.contains("keys::VALID"), "{message}");
    assert!(message.contains("error near [LEAK] here"), "{message}");
    assert!(!message.contains(piece_of_valid()), "{message}");

    // Seven characters are not a leak.
    let run = run_with(&piece_of_valid()[..7], "");
    assert!(env.leaks_in(&run).is_empty());
}

#[test]
fn the_output_check_passes_the_documented_mask_and_the_bare_prefix() {
    let env = TestEnv::without_keychain();
    let run = run_with(
        "API key: flux_dev_abc1...mno34\n",
        "flux_dev_ flux_prod_ flux_test_ key_revoked key_expired\n",
    );
    assert!(env.leaks_in(&run).is_empty(), "{:?}", env.leaks_in(&run));
}

#[test]
fn keys_passed_to_a_run_and_registered_keys_are_known() {
    let env = TestEnv::without_keychain();
    let made_up = "flux_staging_MadeUpForThisTest0123456789";
    let mut cmd = env.cmd();
    cmd.args(["auth", "status", "--help"])
        .env("FLUXLOOP_API_KEY", made_up);
    env.learn_keys_of(&cmd, Some("flux_dev_PipedInOnStdinXyzQwErTyUiOp\n"));
    env.know_key("not-even-shaped-like-a-key-ZxCvBnMaSd");
    let known = env.known_keys();
    for key in [
        made_up,
        "flux_dev_PipedInOnStdinXyzQwErTyUiOp",
        "not-even-shaped-like-a-key-ZxCvBnMaSd",
    ] {
        assert!(known.iter().any(|k| k.key == key), "not known: {key:?}");
    }
    let run = run_with("", &made_up[made_up.len() - 9..]);
    assert_eq!(env.leaks_in(&run).len(), 1, "{:?}", env.leaks_in(&run));
}

#[test]
fn the_at_rest_check_fires_on_a_piece_in_home_tmp_and_dev_shm() {
    let env = TestEnv::without_keychain();
    let shm = std::path::PathBuf::from(format!(
        "/dev/shm/fluxloop-leak-control-{}",
        std::process::id()
    ));
    let places = [
        env.home().join(".config/some-tool/cache"),
        env.tmp().join("scratch"),
        env.runtime_dir().join("sock.log"),
        shm.clone(),
    ];
    for file in &places {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, format!("x{}y", piece_of_valid())).unwrap();
        let found = env.leaks_at_rest();
        std::fs::remove_file(file).unwrap();
        assert_eq!(
            found,
            [format!("{}: fixture key keys::VALID", file.display())],
            "{}",
            file.display()
        );
    }
    assert!(env.leaks_at_rest().is_empty());
}

#[test]
fn allow_plaintext_on_disk_covers_only_the_fluxloop_directory() {
    let env = TestEnv::without_keychain();
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    std::fs::write(
        env.credentials_path(),
        format!("api_key: {}\n", keys::VALID),
    )
    .unwrap();
    assert_eq!(env.leaks_at_rest().len(), 1);
    env.allow_plaintext_on_disk();
    assert!(env.leaks_at_rest().is_empty());

    let elsewhere = env.home().join("notes.txt");
    std::fs::write(&elsewhere, keys::VALID).unwrap();
    assert_eq!(env.leaks_at_rest().len(), 1);
    std::fs::remove_file(elsewhere).unwrap();
}

#[test]
fn the_at_rest_check_reads_keychain_labels_and_attributes_but_not_secrets() {
    let env = TestEnv::new();
    // A secret is where a key belongs.
    env.ss.store(SERVICE, "default", keys::VALID);
    assert!(env.leaks_at_rest().is_empty());
    // A label or attribute is not (the username is both).
    env.ss.store(SERVICE, piece_of_valid(), "secret");
    let found = env.leaks_at_rest();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("label/attributes: fixture key keys::VALID"));
    let cleared = env.ss.secret_tool(
        &["clear", "service", SERVICE, "username", piece_of_valid()],
        None,
    );
    assert!(cleared.success(), "{cleared:?}");
    assert!(env.leaks_at_rest().is_empty());
}

#[test]
fn the_secret_part_excludes_the_public_prefix() {
    assert_eq!(
        leak::secret_part(keys::VALID),
        "abc123def456ghi789jkl012mno34"
    );
    assert_eq!(leak::secret_part("flux_Dev_abcdefgh"), "Dev_abcdefgh");
    assert_eq!(leak::secret_part("plain-secret"), "plain-secret");
    // A key pasted twice: the first secret ends where the second key starts.
    let twice = format!("{}{}", keys::UNKNOWN, keys::UNKNOWN);
    assert_eq!(
        leak::secret_part(&twice),
        format!("{}flux", leak::secret_part(keys::UNKNOWN))
    );
    assert_eq!(leak::keys_in(&twice).len(), 2);
    assert_eq!(
        leak::keys_in("a flux_dev_abc123def456 b flux_dev_short flux_ c"),
        ["flux_dev_abc123def456"]
    );
}

#[test]
fn whole_output_names_the_exit_status_and_marks_a_missing_final_newline() {
    let mut run = run_with("data\n", "message");
    run.code = Some(6);
    assert_eq!(
        run.whole_output(),
        "exit: keychain (6)\n--- stdout\ndata\n--- stderr\nmessage\n[no newline at end]\n"
    );
}

#[test]
fn filters_replace_the_variable_parts_exactly() {
    let env = TestEnv::without_keychain();
    let in_84 = (chrono::Utc::now().date_naive() + chrono::Days::new(84)).format("%Y-%m-%d");
    let text = format!(
        "{url}/v1 {host} {home}/.fluxloop {tmp}/x {in_84} 2024-01-16\n",
        url = env.platform.url(),
        host = env.platform.url().trim_start_matches("http://"),
        home = env.home().display(),
        tmp = env.tmp().display(),
    );
    let mut run = run_with(&text, "");
    run.code = Some(0);
    assert_eq!(
        env.snapshot_text(&run),
        "exit: success (0)\n--- stdout\n[API_URL]/v1 [API_HOST] [HOME]/.fluxloop [TMP]/x \
         [TODAY+84d] 2024-01-16\n--- stderr\n"
    );
}

/// The one exception to the output check, for `auth token`, still fires on anything but the
/// whole key on stdout, and on any piece of a key on stderr.
#[test]
fn the_token_check_allows_only_exactly_one_key_on_stdout() {
    let env = TestEnv::without_keychain();
    let check = |run: &Run| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            env.assert_stdout_is_at_most_one_key(run)
        }))
        .is_ok()
    };
    assert!(check(&run_with(&format!("{}\n", keys::VALID), "")));
    assert!(check(&run_with("", "Error: not logged in\n")));
    for (stdout, stderr) in [
        // Not the whole key, or more than the key, or no newline.
        (piece_of_valid().to_owned(), String::new()),
        (format!("key: {}\n", keys::VALID), String::new()),
        (format!("{}\n{}\n", keys::VALID, keys::VALID), String::new()),
        (keys::VALID.to_owned(), String::new()),
        // The key is fine on stdout, never on stderr.
        (
            format!("{}\n", keys::VALID),
            format!("using {}\n", piece_of_valid()),
        ),
    ] {
        assert!(
            !check(&run_with(&stdout, &stderr)),
            "passed: stdout {:?} stderr {:?}",
            leak::redacted(&env.known_keys(), &stdout),
            leak::redacted(&env.known_keys(), &stderr)
        );
    }
}

/// Only `auth token` may be run with the exception.
#[test]
#[should_panic(expected = "only `fluxloop auth token` may print a key")]
fn only_auth_token_may_print_a_key() {
    let env = TestEnv::without_keychain();
    env.run_expecting_key_on_stdout(&["auth", "status"], &[]);
}
