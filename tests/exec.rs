//! `fluxloop exec -- COMMAND` end to end (issue 8) on the real Secret Service: the child sees the
//! key and nothing else does, the key is masked in its output however it is cut, exit statuses
//! are passed on (128+N for a signal), signals are forwarded, nesting is guarded.
//!
//! Every run goes through the harness's leak check: no piece of a known key may reach
//! fluxloop's stdout or stderr, which is exactly what masking promises.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::env::{Run, TestEnv, keys};

/// `keys::mask` of the stand-in's keys, as exec's replacement shows it.
fn redacted(key: &str) -> String {
    let rest = key.strip_prefix("flux_").unwrap();
    let (env, secret) = rest.split_once('_').unwrap();
    format!(
        "<redacted:flux_{env}_{}...{}>",
        &secret[..4],
        &secret[secret.len() - 5..]
    )
}

fn exec(env: &TestEnv, args: &[&str], script: &str, envs: &[(&str, &str)]) -> Run {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--", "sh", "-c", script]);
    env.run_with(&all, None, envs)
}

/// Sets the expiry recorded for profile `default` to `days` from today (negative: past).
fn set_expiry(env: &TestEnv, days: i64) {
    let text = env.credentials().unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("expires:"))
        .expect("login records the expiry")
        .to_owned();
    let day = chrono::Utc::now().date_naive() + chrono::TimeDelta::days(days);
    let new = format!("    expires: {}T00:00:00Z", day.format("%Y-%m-%d"));
    std::fs::write(env.credentials_path(), text.replace(&line, &new)).unwrap();
}

#[test]
fn the_child_sees_the_key_url_and_profile_in_its_environment() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let requests_before = env.platform.requests().len();
    let script = r#"test "$FLUXLOOP_API_KEY" = "$EXPECTED" && echo key-ok;
        echo "url=$FLUXLOOP_API_URL profile=$FLUXLOOP_PROFILE marker=$FLUXLOOP_EXEC_PROFILE""#;
    let run = exec(&env, &[], script, &[("EXPECTED", keys::VALID)]);
    run.assert_ok();
    assert_eq!(
        run.stdout,
        format!(
            "key-ok\nurl={} profile=default marker=default\n",
            env.platform.url().trim_end_matches('/')
        )
    );
    assert_eq!(run.stderr, "");
    // No network call: the key is not validated first.
    assert_eq!(env.platform.requests().len(), requests_before);
}

#[test]
fn env_name_chooses_the_variable() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let script = r#"test "$MY_KEY" = "$EXPECTED" && test -z "$FLUXLOOP_API_KEY" && echo ok"#;
    let run = exec(
        &env,
        &["--env-name", "MY_KEY"],
        script,
        &[("EXPECTED", keys::VALID)],
    );
    run.assert_ok();
    assert_eq!(run.stdout, "ok\n");
    exec(&env, &["--env-name", "A=B"], "true", &[]).assert_code(2);
}

#[test]
fn a_key_printed_whole_is_masked_on_stdout_and_stderr() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let script =
        r#"echo "key: $FLUXLOOP_API_KEY twice $FLUXLOOP_API_KEY"; echo "$FLUXLOOP_API_KEY" >&2"#;
    let run = exec(&env, &[], script, &[]);
    run.assert_ok();
    let mask = redacted(keys::VALID);
    assert_eq!(run.stdout, format!("key: {mask} twice {mask}\n"));
    assert_eq!(run.stderr, format!("{mask}\n"));
}

#[test]
fn a_key_printed_one_byte_at_a_time_is_masked() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // One write per character, with a pause, so the key arrives over many reads.
    let script = r#"k=$FLUXLOOP_API_KEY; printf 'start '; while [ -n "$k" ]; do
        r=${k#?}; printf %s "${k%"$r"}"; k=$r; sleep 0.01; done; printf ' end\n'"#;
    let run = exec(&env, &[], script, &[]);
    run.assert_ok();
    assert_eq!(run.stdout, format!("start {} end\n", redacted(keys::VALID)));
}

#[test]
fn output_that_is_not_the_key_is_not_held_back() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let mut cmd = env.cmd();
    // A progress line without a newline, then a long wait: it must show before the wait ends.
    cmd.args(["exec", "--", "sh", "-c", "printf 'progress 50%%'; sleep 30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut out, &mut buf).unwrap();
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(&buf[..n], b"progress 50%");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn the_child_exit_status_is_passed_on() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    exec(&env, &[], "exit 0", &[]).assert_code(0);
    exec(&env, &[], "exit 42", &[]).assert_code(42);
    // Killed by SIGKILL: 128 + 9, as shells report it.
    exec(&env, &[], "kill -9 $$", &[]).assert_code(137);
}

#[test]
fn an_expired_key_is_refused_before_the_child_starts() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    set_expiry(&env, -keys::EXPIRED_DAYS_AGO);
    let marker = env.tmp().join("ran");
    let script = format!("touch '{}'", marker.display());
    let run = exec(&env, &[], &script, &[]);
    run.assert_code(3);
    run.stderr_has("API key expired");
    run.stderr_has("--allow-expired");
    assert!(!marker.exists(), "the child ran");

    let run = exec(&env, &["--allow-expired"], &script, &[]);
    run.assert_ok();
    run.stderr_has("running the command anyway (--allow-expired)");
    assert!(marker.exists());
}

#[test]
fn a_key_expiring_soon_is_warned_about() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    set_expiry(&env, 5);
    let run = exec(&env, &[], "echo ran", &[]);
    run.assert_ok();
    assert_eq!(run.stdout, "ran\n");
    run.stderr_has("this API key expires");
}

#[test]
fn a_missing_command_is_a_usage_error() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.run(&["exec"]).assert_code(2);
    env.run(&["exec", "--"]).assert_code(2);
}

#[test]
fn a_command_that_cannot_start_is_127_or_126() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["exec", "--", "fluxloop-no-such-command"]);
    run.assert_code(127);
    run.stderr_has("Command not found: fluxloop-no-such-command");

    let script = env.tmp().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let run = env.run(&["exec", "--", script.to_str().unwrap()]);
    run.assert_code(126);
    run.stderr_has("permission denied");
}

#[test]
fn not_logged_in_is_exit_3_and_nothing_runs() {
    let env = TestEnv::new();
    let run = exec(&env, &[], "echo ran", &[]);
    run.assert_code(3);
    assert_eq!(run.stdout, "");
}

#[test]
fn the_environment_key_wins_and_verbose_says_so() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let envs = [
        ("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED),
        ("EXPECTED", keys::PROJECT_SCOPED),
    ];
    let script = r#"test "$FLUXLOOP_API_KEY" = "$EXPECTED" && echo ok"#;
    let run = exec(&env, &["-v"], script, &envs);
    run.assert_ok();
    assert_eq!(run.stdout, "ok\n");
    run.stderr_has("using the key in FLUXLOOP_API_KEY (it wins over profile 'default'");
}

#[test]
fn sigint_sent_to_fluxloop_reaches_the_child() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let mut cmd = env.cmd();
    let script = r#"trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done"#;
    cmd.args(["exec", "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fluxloop exec did not end within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got-int\n");
    assert_eq!(code, Some(7));
}

#[test]
fn a_nested_exec_needs_another_profile() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let bin = env!("CARGO_BIN_EXE_fluxloop");
    let envs = [("FLUXLOOP_BIN", bin), ("EXPECTED", keys::PROJECT_SCOPED)];
    let run = exec(&env, &[], r#""$FLUXLOOP_BIN" exec -- true"#, &envs);
    run.assert_code(2);
    run.stderr_has("Already inside `fluxloop exec` with profile 'default'");

    let run = exec(
        &env,
        &[],
        r#""$FLUXLOOP_BIN" exec --profile default -- true"#,
        &envs,
    );
    run.assert_code(2);

    let inner = r#""$FLUXLOOP_BIN" exec --profile work -- sh -c 'test "$FLUXLOOP_API_KEY" = "$EXPECTED" && echo "inner $FLUXLOOP_PROFILE"'"#;
    let run = exec(&env, &[], inner, &envs);
    run.assert_ok();
    assert_eq!(run.stdout, "inner work\n");
}

#[test]
fn a_closed_stdout_ends_the_child_as_it_would_without_exec() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let mut cmd = env.cmd();
    cmd.args(["exec", "--", "sh", "-c", "while :; do echo x; done"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Nobody reads: the child's next write fails (SIGPIPE), as in `yes | head -0`.
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fluxloop exec did not end within 10 s of its stdout closing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    env.assert_no_leak_in_text("stderr", &stderr);
    // 128 + SIGPIPE: the child's status, passed on.
    assert_eq!(status.code(), Some(141), "{stderr}");
}

#[test]
fn no_masking_hands_the_child_our_own_stdout() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // The child compares its stdout with fluxloop's (its parent's): the same pipe only when
    // nothing sits in between.
    let script = r#"if [ "$(readlink /proc/$PPID/fd/1)" = "$(readlink /proc/$$/fd/1)" ];
        then echo same; else echo different; fi"#;
    let run = exec(&env, &["--no-masking"], script, &[]);
    run.assert_ok();
    assert_eq!(run.stdout, "same\n");
    let run = exec(&env, &[], script, &[]);
    run.assert_ok();
    assert_eq!(run.stdout, "different\n");
}

/// Live (not zombie) processes in process group `pgid`, from /proc.
#[cfg(target_os = "linux")]
fn live_in_group(pgid: u32) -> Vec<u32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields[0] != "Z" {
            live.push(pid);
        }
    }
    live
}

#[cfg(target_os = "linux")]
#[test]
fn a_sigkilled_fluxloop_takes_its_child_along() {
    use std::os::unix::process::CommandExt;

    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let mut cmd = env.cmd();
    // The child becomes `sleep` itself; fluxloop leads its own process group, which the child
    // shares, so the group is empty once both are gone.
    cmd.args(["exec", "--", "sh", "-c", "echo $$; exec sleep 300"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut fluxloop = cmd.spawn().unwrap();
    let group = fluxloop.id();
    let mut line = String::new();
    BufReader::new(fluxloop.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child: u32 = line.trim().parse().expect("the child prints its pid");
    assert!(live_in_group(group).contains(&child), "{line}");

    // SIGKILL: no handler runs, nothing is forwarded; only the kernel can end the child now.
    fluxloop.kill().unwrap();
    fluxloop.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = live_in_group(group);
        if live.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &format!("-{group}")])
                .status();
            panic!("processes {live:?} of fluxloop's group outlived it by 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
