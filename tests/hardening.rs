//! The credentials file and the process, hardened (security, round two): parse errors without
//! snippets, the docs' date form of `expires`, fields a newer version adds, temp files of an
//! interrupted write, a legacy key shadowed by a `default` profile, a FLUXLOOP_HOME that is not
//! ours to chmod, an environment key that never goes to a saved URL, and no core dumps.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::env::{Platform, TestEnv, keys};
use common::{assert_run_snapshot, assert_runs_snapshot};

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Writes the credentials file by hand, with the modes fluxloop would give it.
fn plant(env: &TestEnv, text: &str) {
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o700);
    std::fs::write(env.credentials_path(), text).unwrap();
    set_mode(&env.credentials_path(), 0o600);
}

/// A syntax error 70 to 90 columns into the line after a legacy key made the parser print a
/// snippet cropped inside the key, which redaction no longer recognised. Now: file, line,
/// column and message only. (The harness checks every 8 characters of VALID on both streams.)
#[test]
fn a_parse_error_names_the_place_without_quoting_the_file() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    let text = format!(
        "api_key: {}\nprofiles: {{a: {{account: {}: : : [}}\n",
        keys::VALID,
        "x".repeat(70)
    );
    plant(&env, &text);
    let run = env.run(&["auth", "status"]);
    assert_run_snapshot!(env, run);
    assert_eq!(env.credentials().unwrap(), text, "nothing was changed");
}

/// The FluxLoop docs write `expires: "2024-04-15"`: it is read as the end of that day, UTC, so
/// the users `migrate` exists for can migrate; what fluxloop writes is RFC 3339.
#[test]
fn an_expiry_date_as_the_docs_write_it_is_accepted_and_migrated() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    plant(
        &env,
        &format!(
            "profiles:\n  default:\n    api_url: {}\n    expires: \"2099-04-15\"\n    storage: file\n    api_key: {}\n",
            env.platform.url(),
            keys::VALID
        ),
    );
    let status = env.run(&["auth", "status"]);
    status.assert_ok();
    let migrate = env.run(&["auth", "migrate"]);
    migrate.assert_ok();
    let after = env.credentials().unwrap();
    assert!(after.contains("2099-04-15T23:59:59Z"), "{after}");
    assert!(!after.contains("api_key"), "{after}");
    assert_runs_snapshot!(env, [status, migrate], "status, then migrate");
}

/// Fields a newer version adds (at the top and in a profile) survive a rewrite by this one,
/// including a login that replaces that very profile.
#[test]
fn fields_a_newer_version_adds_survive_every_rewrite() {
    let env = TestEnv::new();
    plant(
        &env,
        "version: 1\ncurrent_profile: default\nprofiles:\n  default:\n    account: old@example.com\n    created_by: fluxloop 9.0\n    flags: [y, on]\n",
    );
    env.login(keys::VALID, None);
    let after = env.credentials().unwrap();
    for kept in [
        "current_profile: default",
        "created_by: fluxloop 9.0",
        "flags:",
        "- \"y\"",
        "- \"on\"",
    ] {
        assert!(after.contains(kept), "{kept:?} was dropped:\n{after}");
    }
    assert!(after.contains("account: john@example.com"), "{after}");
    assert!(
        after.contains("comments are not"),
        "the header is honest:\n{after}"
    );
}

/// A temp file of a write that was killed may hold a plaintext key: the next write removes it
/// when its writer is gone, never a file whose writer still runs, and `migrate` says so.
#[test]
fn temp_files_of_an_interrupted_write_are_removed_once_their_writer_is_gone() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    env.login(keys::VALID, None);
    // A process id that is not running: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = env
        .fluxloop_dir()
        .join(format!(".credentials.tmp-{dead}-123"));
    let live = env
        .fluxloop_dir()
        .join(format!(".credentials.tmp-{}-456", std::process::id()));
    for path in [&stale, &live] {
        std::fs::write(path, format!("api_key: {}\n", keys::EXPIRING_SOON)).unwrap();
        set_mode(path, 0o600);
    }
    env.filter(&dead.to_string(), "[DEAD_PID]");

    let migrate = env.run(&["auth", "migrate"]);
    assert_run_snapshot!(env, migrate);
    assert!(!stale.exists(), "the dead writer's temp file is gone");
    assert!(live.exists(), "a live writer's temp file is left alone");
    std::fs::remove_file(&live).unwrap();
}

/// A top-level `api_key:` of an earlier release beside a `default` profile was ignored: no
/// warning, and `migrate` left it on disk. Now it is named, and moved or dropped.
#[test]
fn a_legacy_key_beside_a_default_profile_is_named_and_migrated() {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    env.login(keys::VALID, None);
    let file = env.credentials().unwrap();
    let cases = [
        // The same key as `default`'s: nothing to keep.
        ("same", keys::VALID),
        // Another key: kept, as its own profile.
        ("different", keys::PROJECT_SCOPED),
    ];
    let mut runs = Vec::new();
    for (_, key) in cases {
        plant(&env, &format!("api_key: {key}\n{file}"));
        runs.push(env.run(&["auth", "status"]));
        runs.push(env.run(&["auth", "migrate"]));
        let after = env.credentials().unwrap();
        assert!(!after.contains("api_key"), "{after}");
    }
    assert_eq!(env.keychain_profiles(), ["default", "legacy"]);
    assert_eq!(
        env.ss.lookup(common::env::SERVICE, "legacy").as_deref(),
        Some(keys::PROJECT_SCOPED)
    );
    assert_runs_snapshot!(
        env,
        runs,
        "status and migrate with a same, then a different, legacy key"
    );
}

/// A FLUXLOOP_HOME the user chose may be shared on purpose: its permissions are checked (a
/// directory others can write is still refused) but never changed. `~/.fluxloop` is ours and is
/// still tightened.
#[test]
fn a_chosen_fluxloop_home_is_never_chmod_ed() {
    let env = TestEnv::new();
    let shared = env.home().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    set_mode(&shared, 0o755);
    let home = shared.to_str().unwrap();
    env.run_with(&["auth", "status"], None, &[("FLUXLOOP_HOME", home)])
        .assert_code(3);
    env.run_with(
        &["auth", "login"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_HOME", home)],
    )
    .assert_ok();
    assert_eq!(mode(&shared), 0o755, "left as the user set it");

    set_mode(&shared, 0o777);
    let refused = env.run_with(&["auth", "status"], None, &[("FLUXLOOP_HOME", home)]);
    assert_run_snapshot!(env, refused);
    assert_eq!(mode(&shared), 0o777);

    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    set_mode(&env.fluxloop_dir(), 0o755);
    env.run(&["auth", "status", "--profile", "nobody"])
        .assert_code(3);
    assert_eq!(mode(&env.fluxloop_dir()), 0o700, "~/.fluxloop is ours");
}

/// FLUXLOOP_API_KEY goes to `--api-url`, FLUXLOOP_API_URL or the default, never to the URL a
/// profile saved: that URL was chosen by the credentials file, not validated with this key.
#[test]
fn an_environment_key_never_goes_to_a_profiles_saved_url() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let saved = env.platform.url();
    assert!(env.credentials().unwrap().contains(&saved));
    let other = Platform::start();

    // With FLUXLOOP_API_URL, the key goes there.
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED),
            ("FLUXLOOP_API_URL", &other.url()),
        ],
    );
    run.assert_ok();
    assert_eq!(other.requests().len(), 1);

    // Without it, the default URL is used (unreachable here), and the saved one is not.
    let before = env.platform.requests().len();
    let mut cmd = env.cmd();
    cmd.env_remove("FLUXLOOP_API_URL")
        .env("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)
        .env("FLUXLOOP_TIMEOUT", "3")
        .args(["auth", "status"]);
    let run = env.run_cmd(&mut cmd, None);
    assert_eq!(run.code, Some(5), "{}", run.stderr);
    assert!(run.stderr.contains("api.fluxloop.ai"), "{}", run.stderr);
    assert_eq!(
        env.platform.requests().len(),
        before,
        "nothing went to the saved URL"
    );
}

/// A crash never writes a core file with the key in it: the limit is 0, soft and hard.
#[test]
fn the_process_can_never_dump_core() {
    let env = TestEnv::new();
    let pid_file = env.tmp().join("paused.pid");
    let mut cmd = env.cmd();
    cmd.env("FLUXLOOP_DEBUG_PAUSE_AT_EXIT", &pid_file)
        .args(["auth", "status"]);
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let started = std::time::Instant::now();
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && !text.is_empty()
        {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never paused");
        std::thread::sleep(Duration::from_millis(50));
    };
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>(),
        ["Max", "core", "file", "size", "0", "0", "bytes"],
        "{limits}"
    );
    child.0.kill().unwrap();
}

/// Kills the child when the test ends, however it ends.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Output nobody received is not a success: `status --json > /dev/full` fails with exit 1 and
/// says why on stderr.
#[test]
fn a_full_stdout_is_a_failure_not_a_silent_success() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let (code, stderr) = env.run_to_full_stdout(&["auth", "status", "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("Could not write to standard output: No space left on device"),
        "{stderr}"
    );
}
