//! Resource starvation (issue 11, part 4): a full disk (a 64 KiB tmpfs as FLUXLOOP_HOME, filled
//! up), a read-only FLUXLOOP_HOME (a read-only bind mount), almost no free file descriptors
//! (`ulimit -n`), and a HOME that does not exist. Each is a clear error with a documented exit
//! code, and nothing is lost: the credentials file and the keychain are as they were, or wholly
//! as the command meant them to be.
//!
//! The mounts are made in a private mount namespace (`unshare -m`, as root: CI runs as root),
//! so nothing outside the test sees them and they vanish with it. Without root or `unshare`,
//! those tests say so and pass, except in CI (CI=true), where they fail.
#![cfg(target_os = "linux")]
#![allow(
    clippy::print_stderr,
    reason = "prints the figures of docs/reliability.md"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::env::{Run, TestEnv, exit_name, keys};

/// FLUXLOOP_HOME for these tests: a directory of the test's own.
fn home_dir(env: &TestEnv) -> PathBuf {
    let dir = env.ss.dir().join("fluxloop-home");
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir.canonicalize().unwrap()
}

/// Whether private mounts can be made here (root and a working `unshare -m`); in CI they must.
fn can_mount() -> bool {
    let ok = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must be able to run `unshare -m` and mount a tmpfs (as root)"
        );
        eprintln!("SKIPPED: cannot make a private mount here (needs root and unshare -m)");
    }
    ok
}

/// Runs `fluxloop args` in a private mount namespace where `dir` is replaced by a copy of itself
/// on a filled-up 64 KiB tmpfs (`full`), or by a read-only bind mount of itself (`read-only`).
/// Outside the namespace `dir` is untouched, so what the command could write there is only
/// what it wrote, and a state worth comparing: the script copies the credentials file back
/// out as `dir/../after-<mode>` before the namespace ends.
fn run_starved(env: &TestEnv, dir: &Path, mode: &str, args: &[&str], stdin: Option<&str>) -> Run {
    const SCRIPT: &str = r#"set -e
mode=$1; dir=$2; bin=$3; shift 3
out="$dir/../after-$mode"
rm -f "$out"
case "$mode" in
full)
    copy=$(mktemp -d)
    cp -a "$dir/." "$copy/"
    mount -t tmpfs -o size=64k,mode=0700 tmpfs "$dir"
    cp -a "$copy/." "$dir/"
    dd if=/dev/zero of="$dir/filler" bs=1k 2>/dev/null || true
    ;;
read-only)
    mount --bind "$dir" "$dir"
    mount -o remount,ro,bind "$dir"
    ;;
esac
set +e
"$bin" "$@"
rc=$?
cp "$dir/credentials" "$out" 2>/dev/null
exit $rc"#;
    let base = env.cmd();
    let mut cmd = Command::new("unshare");
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env("FLUXLOOP_HOME", dir)
        .args(["-m", "sh", "-c", SCRIPT, "starved", mode])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_fluxloop"))
        .args(args);
    env.run_cmd(&mut cmd, stdin)
}

/// The credentials file's bytes, and our keychain entries (profile name, secret).
type State = (Option<Vec<u8>>, Vec<(String, Option<String>)>);

fn state(env: &TestEnv, dir: &Path) -> State {
    let file = std::fs::read(dir.join("credentials")).ok();
    let entries = env
        .keychain_of(dir)
        .into_iter()
        .map(|i| {
            (
                i.attributes.get("username").cloned().unwrap_or_default(),
                i.secret,
            )
        })
        .collect();
    (file, entries)
}

fn logged_in(env: &TestEnv, dir: &Path) {
    let home = dir.to_str().unwrap();
    for (key, profile) in [(keys::VALID, "default"), (keys::EXPIRING_SOON, "work")] {
        env.run_with(
            &["auth", "login", "--profile", profile],
            Some(&format!("{key}\n")),
            &[("FLUXLOOP_HOME", home)],
        )
        .assert_ok();
    }
}

/// Every command that writes, each on a freshly starved home: a clear error naming the cause,
/// exit 1 (the credentials file), the file in the namespace as it was, and the keychain as it
/// was (a login puts the previous key back). A logout that could delete its key before the
/// file failed (a full disk; a read-only home fails at the lock, before) says so, and leaves
/// the profile listed without a key, which the next logout finishes and names.
fn every_write_fails_cleanly(mode: &str, cause: &str) {
    if !can_mount() {
        return;
    }
    let env = TestEnv::new();
    let dir = home_dir(&env);
    logged_in(&env, &dir);
    let mut before = state(&env, &dir);
    let cases: [(&[&str], Option<String>); 5] = [
        (
            &["auth", "login", "--profile", "new"],
            Some(format!("{}\n", keys::VALID)),
        ),
        (
            &["auth", "login"],
            Some(format!("{}\n", keys::EXPIRING_SOON)),
        ),
        (&["auth", "logout", "--profile", "work"], None),
        (&["auth", "logout", "--all"], None),
        (&["auth", "switch", "work"], None),
    ];
    for (args, stdin) in cases {
        let run = run_starved(&env, &dir, mode, args, stdin.as_deref());
        let what = format!("{mode}: fluxloop {}", args.join(" "));
        assert_eq!(run.code, Some(1), "{what}: exit code\n{}", run.stderr);
        assert!(
            run.stderr.contains(cause),
            "{what}: says {cause:?}\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("crashed"), "{what}\n{}", run.stderr);
        let inside = std::fs::read(dir.parent().unwrap().join(format!("after-{mode}"))).ok();
        assert_eq!(inside, before.0, "{what}: the file it could see changed");
        let after = state(&env, &dir);
        assert_eq!(after.0, before.0, "{what}: the file changed");
        if args[1] == "logout" && after.1 != before.1 {
            assert_eq!(mode, "full", "{what}: a key went");
            assert!(
                run.stderr.contains("again once"),
                "{what}: does not say how to finish\n{}",
                run.stderr
            );
            // The next logout, with room on the disk, finishes and says what it found.
            let home = dir.to_str().unwrap();
            let again = env.run_with(args, None, &[("FLUXLOOP_HOME", home)]);
            again.assert_ok();
            assert!(
                again.stderr.contains("interrupted logout"),
                "{}",
                again.stderr
            );
            logged_in(&env, &dir);
            // Logins write fresh metadata: the next case starts from this state.
            assert_eq!(state(&env, &dir).1, before.1);
            before = state(&env, &dir);
        } else {
            assert_eq!(after, before, "{what}: the keychain changed");
        }
    }
    // Reading still works where writing cannot.
    let status = run_starved(&env, &dir, mode, &["auth", "list"], None);
    assert_eq!(status.code, Some(0), "{mode}: list\n{}", status.stderr);
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    every_write_fails_cleanly("full", "No space left on device");
}

#[test]
fn a_read_only_home_is_a_clear_error_and_loses_nothing() {
    every_write_fails_cleanly("read-only", "Read-only file system");
}

/// With almost no free file descriptors, each command either works or stops with a documented
/// error (never a crash), and leaves every profile whole: both its metadata and its key, or
/// neither, as before the command or as after it.
#[test]
fn too_few_file_descriptors_is_an_error_never_a_torn_profile() {
    let env = TestEnv::new();
    let dir = home_dir(&env);
    let home = dir.to_str().unwrap().to_owned();
    let mut outcomes = Vec::new();
    for limit in 5..=24 {
        for (args, stdin) in [
            (
                &["auth", "login", "--profile", "work"][..],
                Some(format!("{}\n", keys::VALID)),
            ),
            (&["auth", "logout", "--profile", "work"][..], None),
        ] {
            let base = env.cmd();
            let mut cmd = Command::new("sh");
            cmd.env_clear();
            for (k, v) in base.get_envs() {
                if let Some(v) = v {
                    cmd.env(k, v);
                }
            }
            cmd.env("FLUXLOOP_HOME", &home)
                .args(["-c", r#"ulimit -n "$1"; shift; exec "$@""#, "sh"])
                .arg(limit.to_string())
                .arg(env!("CARGO_BIN_EXE_fluxloop"))
                .args(args);
            let run = env.run_cmd(&mut cmd, stdin.as_deref());
            let what = format!("ulimit -n {limit}: fluxloop {}", args.join(" "));
            // 127: the dynamic loader itself could not open a library, before fluxloop ran.
            let code = run.code.unwrap_or(-1);
            assert!(
                code == 127 || !matches!(exit_name(code), "crash" | "undocumented"),
                "{what}: ended with {:?}\n{}",
                run.code,
                run.stderr
            );
            assert!(!run.stderr.contains("crashed"), "{what}\n{}", run.stderr);
            // Whole: listed with its key, or neither.
            let text = std::fs::read_to_string(dir.join("credentials")).unwrap_or_default();
            let file: serde_json::Value = if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: the file does not parse: {e}"))
            };
            let listed = file.pointer("/profiles/work").is_some();
            let keyed = env
                .keychain_of(&dir)
                .iter()
                .any(|i| i.attributes.get("username").map(String::as_str) == Some("work"));
            assert_eq!(
                listed, keyed,
                "{what}: profile work is torn\n{}",
                run.stderr
            );
            outcomes.push(format!("{limit}\t{}\t{code}", args[1]));
        }
    }
    eprintln!("limit\tcommand\texit\n{}", outcomes.join("\n"));
}

/// A HOME that does not exist is not created (it is not ours to make): every command that would
/// write says so, exits 1, and writes nothing anywhere.
#[test]
fn a_home_that_does_not_exist_is_named_and_not_created() {
    let env = TestEnv::new();
    let missing = env.ss.dir().join("no-such-home");
    let missing_str = missing.to_str().unwrap();
    let before = env.keychain();
    for (args, stdin) in [
        (&["auth", "login"][..], Some(format!("{}\n", keys::VALID))),
        (&["auth", "switch", "default"][..], None),
        (&["auth", "logout"][..], None),
    ] {
        let run = env.run_with(args, stdin.as_deref(), &[("HOME", missing_str)]);
        let what = format!("fluxloop {}", args.join(" "));
        assert_eq!(run.code, Some(1), "{what}\n{}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "The home directory {} does not exist",
                missing.display()
            )),
            "{what}\n{}",
            run.stderr
        );
        assert!(!missing.exists(), "{what} created {}", missing.display());
        assert_eq!(env.keychain(), before, "{what} changed the keychain");
    }
    // Commands that only read say there is nothing, and create nothing either.
    let status = env.run_with(&["auth", "list"], None, &[("HOME", missing_str)]);
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    assert!(!missing.exists());
}
