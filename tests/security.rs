//! The security promises of SECURITY.md that need the whole binary: the key never reaches a
//! file, a log line, a crash report or the process's memory after use.
//! (Issue 3: "Input", "Logs", "Disk", "Memory".)
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::assert_runs_snapshot;
use common::env::{Fault, Run, TestEnv, keys, labelled_transcript};
use common::secret_service::{SecretService, run_with_timeout};

fn key_line(key: &str) -> String {
    format!("{key}\n")
}

/// The secret part of a key: what must never show, even without its prefix.
fn secret_part(key: &str) -> &str {
    key.rsplit('_').next().unwrap()
}

#[track_caller]
fn assert_never_leaks(run: &Run, key: &str) {
    run.never_shows(key).never_shows(secret_part(key));
    for stream in [&run.stdout, &run.stderr] {
        assert!(
            !stream.contains("Bearer"),
            "the Authorization header leaked:\n{stream}"
        );
        assert!(
            !stream.to_ascii_lowercase().contains("authorization:"),
            "the Authorization header leaked:\n{stream}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Disk

#[test]
fn no_file_holds_the_key_after_any_command_or_failure() {
    let env = TestEnv::new();
    let fast = [("FLUXLOOP_TIMEOUT", "2")];
    let mut runs: Vec<(String, Run)> = Vec::new();
    // Checked after every step, so a copy made and later removed is caught too.
    let mut check = |what: &str, run: Run| {
        assert_never_leaks(&run, keys::VALID);
        assert_never_leaks(&run, keys::ECHO);
        env.assert_not_on_disk(keys::VALID);
        env.assert_not_on_disk(secret_part(keys::VALID));
        env.assert_not_on_disk(keys::ECHO);
        runs.push((what.to_owned(), run));
    };
    check(
        "login",
        env.run_stdin(&["auth", "login"], &key_line(keys::VALID)),
    );
    check("status", env.run(&["auth", "status"]));
    check("status --json", env.run(&["auth", "status", "--json"]));
    check("whoami", env.run(&["auth", "whoami"]));
    check(
        "login --no-save",
        env.run_stdin(&["auth", "login", "--no-save"], &key_line(keys::ECHO)),
    );
    check(
        "login --api-key",
        env.run(&[
            "auth",
            "login",
            "--profile",
            "flag",
            "--api-key",
            keys::ECHO,
        ]),
    );
    check("logout", env.run(&["auth", "logout"]));

    // Logins that fail halfway, after the key was read and sent.
    for (what, fault) in [
        ("login, the platform answers 500", Fault::ServerError),
        ("login, an HTML 502 page", Fault::HtmlBadGateway),
        ("login, truncated JSON", Fault::TruncatedJson),
        ("login, the platform never answers", Fault::Silent),
    ] {
        env.platform.set_fault(Some(fault));
        let run = env.run_with(&["auth", "login"], Some(&key_line(keys::VALID)), &fast);
        assert_never_leaks(&run, keys::VALID);
        env.assert_not_on_disk(keys::VALID);
        env.assert_not_on_disk(secret_part(keys::VALID));
        runs.push((what.to_owned(), run));
    }
    env.platform.set_fault(None);
    for (what, bad) in [
        ("login, a revoked key", keys::REVOKED),
        ("login, an expired key", keys::EXPIRED),
    ] {
        let run = env.run_stdin(&["auth", "login"], &key_line(bad));
        assert_never_leaks(&run, bad);
        env.assert_not_on_disk(bad);
        runs.push((what.to_owned(), run));
    }
    // Only the `--api-key` login's entry: no failed login stored anything.
    assert_eq!(env.keychain_profiles(), ["flag"]);
    let text = labelled_transcript(runs.iter().map(|(label, run)| (label.as_str(), run)));
    env.transcript_settings("every command, then logins that fail after the key was sent")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn no_file_holds_the_key_after_a_login_refused_by_a_locked_keychain() {
    let env = TestEnv::with(SecretService::start_locked());
    let piped = env.run_stdin(&["auth", "login"], &key_line(keys::VALID));
    assert_never_leaks(&piped, keys::VALID);
    env.assert_not_on_disk(keys::VALID);
    env.assert_not_on_disk(secret_part(keys::VALID));
    // The same with the key on the command line, which is read before anything else.
    let argument = env.run(&["auth", "login", "--api-key", keys::VALID]);
    assert_never_leaks(&argument, keys::VALID);
    env.assert_not_on_disk(keys::VALID);
    // Refused before the key left the machine.
    assert!(env.platform.requests().is_empty());
    assert_runs_snapshot!(
        env,
        [piped, argument],
        "login with a locked keychain, the key piped and as the argument"
    );
}

// ---------------------------------------------------------------------------------------------
// Logs

/// Each way of asking for diagnostics.
const VERBOSITY: [(&str, Option<&str>, Option<&str>); 5] = [
    ("-v", Some("-v"), None),
    ("-vv", Some("-vv"), None),
    ("-vvv", Some("-vvv"), None),
    ("RUST_LOG=trace", None, Some("trace")),
    ("RUST_LOG=trace -vvv", Some("-vvv"), Some("trace")),
];

fn run_logged(
    env: &TestEnv,
    args: &[&str],
    stdin: Option<&str>,
    flag: Option<&str>,
    rust_log: Option<&str>,
) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flag);
    let mut envs = vec![];
    if let Some(spec) = rust_log {
        envs.push(("RUST_LOG", spec));
    }
    env.run_with(&all, stdin, &envs)
}

/// A transcript of logged runs, with the two things that change from run to run filtered:
/// the timestamps that start log lines and the milliseconds an operation or a phase took.
macro_rules! assert_log_snapshot {
    ($name:literal, $env:expr, $runs:expr) => {{
        let env = &$env;
        let text = common::env::transcript(&$runs);
        let mut settings = env.transcript_settings("login, status --json, whoami, logout");
        settings.add_filter(
            r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
            "[TIMESTAMP]",
        );
        settings.add_filter(r"elapsed_ms=\d+", "elapsed_ms=[MS]");
        settings.add_filter(r"at_ms=[\d.]+", "at_ms=[MS]");
        settings.bind(|| insta::assert_snapshot!($name, text));
    }};
}

#[test]
fn logs_show_requests_and_keychain_calls_but_never_the_key() {
    for key in [keys::VALID, keys::ECHO] {
        for (name, flag, rust_log) in VERBOSITY {
            let env = TestEnv::new();
            let context = format!("{name}, key {}", &key[..12]);

            let login = run_logged(
                &env,
                &["auth", "login"],
                Some(&key_line(key)),
                flag,
                rust_log,
            );
            let status = run_logged(&env, &["auth", "status", "--json"], None, flag, rust_log);
            let whoami = run_logged(&env, &["auth", "whoami"], None, flag, rust_log);
            let logout = run_logged(&env, &["auth", "logout"], None, flag, rust_log);
            for run in [&login, &status, &whoami, &logout] {
                assert_eq!(run.code, Some(0), "{context}: {run:?}");
            }

            for (what, run, path) in [
                ("login", &login, Some("/api/auth/key")),
                ("status", &status, Some("/api/auth/key")),
                ("whoami", &whoami, Some("/api/auth/whoami")),
                ("logout", &logout, None),
            ] {
                assert_never_leaks(run, key);
                let log = &run.stderr;
                if let Some(path) = path {
                    for needle in ["GET", path, "status=200", "elapsed_ms="] {
                        assert!(
                            log.contains(needle),
                            "{what} ({context}): no {needle:?} in the log:\n{log}"
                        );
                    }
                }
                assert!(
                    log.contains("keychain") && log.contains("backend=\"secret-service\""),
                    "{what} ({context}): no keychain operation in the log:\n{log}"
                );
                // Words for people, not internal values.
                for internal in ["outcome=", "profile=\"-\"", "=()"] {
                    assert!(
                        !log.contains(internal),
                        "{what} ({context}): {internal} in the log:\n{log}"
                    );
                }
                // The profile, why, and the credentials file.
                assert!(
                    log.contains(
                        "profile 'default' (the default; no other rule applies); credentials file "
                    ),
                    "{what} ({context}): no profile choice in the log:\n{log}"
                );
            }
            // The keychain operations themselves, named.
            login.stderr_has("op=\"set\"");
            status.stderr_has("op=\"get\"");
            logout.stderr_has("op=\"delete\"");
            // Whole, where the log is fluxloop's own (other crates' traces change with their
            // versions): `-v` and `-vv` of the plain key.
            if key == keys::VALID && name == "-v" {
                assert_log_snapshot!("log_v", env, [login, status, whoami, logout]);
            } else if key == keys::VALID && name == "-vv" {
                assert_log_snapshot!("log_vv", env, [login, status, whoami, logout]);
            }
        }
    }
}

#[test]
fn logs_of_failures_never_show_the_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.platform.set_fault(Some(Fault::ServerError));
    let run = env.run_with(
        &["auth", "status", "-vvv"],
        None,
        &[("RUST_LOG", "trace"), ("FLUXLOOP_TIMEOUT", "2")],
    );
    run.stderr_has("status=500");
    assert_never_leaks(&run, keys::VALID);
    let mut runs = vec![without_log_lines(&run)];
    env.platform.set_fault(None);
    for bad in [keys::REVOKED, keys::UNKNOWN, keys::READ_ONLY] {
        let run = env.run_with(
            &["auth", "whoami", "-vvv"],
            None,
            &[("RUST_LOG", "trace"), ("FLUXLOOP_API_KEY", bad)],
        );
        assert_never_leaks(&run, bad);
        runs.push(without_log_lines(&run));
    }
    // The messages around the logs (whose other crates' traces change with their versions).
    assert_runs_snapshot!(
        env,
        runs,
        "failures at -vvv and RUST_LOG=trace, log lines left out"
    );
}

/// `run` without the lines of the log (those that start with a timestamp).
fn without_log_lines(run: &Run) -> Run {
    let timestamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").unwrap();
    let keep = |text: &str| -> String {
        text.lines()
            .filter(|l| !timestamp.is_match(l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    Run {
        args: run.args.clone(),
        envs: run.envs.clone(),
        code: run.code,
        stdout: keep(&run.stdout),
        stderr: keep(&run.stderr),
        elapsed: run.elapsed,
    }
}

// ---------------------------------------------------------------------------------------------
// Crashes

#[test]
fn panic_hook_prints_a_short_report_without_the_key() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[
            ("FLUXLOOP_DEBUG_PANIC", keys::VALID),
            ("RUST_BACKTRACE", "full"),
        ],
    );
    // Short, with the payload masked so that the report is still useful. The line of the
    // panic in the source is filtered: it moves with every edit of that file.
    let mut settings = env.snapshot_settings(&run);
    settings.add_filter(r"(at src/[\w/]+\.rs):\d+", "$1:[LINE]");
    let text = run.whole_output();
    settings.bind(|| insta::assert_snapshot!(text));
    assert_never_leaks(&run, keys::VALID);
}

// ---------------------------------------------------------------------------------------------
// Command line

#[test]
fn api_key_flag_warns_about_shell_history_and_the_process_list() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "login", "--api-key", keys::VALID]);
    assert_never_leaks(&run, keys::VALID);
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));
    let mut runs = vec![run];
    // The documented ways do not warn.
    for args in [
        &["auth", "login"][..],
        &["auth", "login", "--api-key", "-"][..],
    ] {
        runs.push(env.run_stdin(args, &key_line(keys::VALID)));
    }
    assert_runs_snapshot!(
        env,
        runs,
        "login with --api-key <key> (warns), then piped and with --api-key - (do not)"
    );
}

// ---------------------------------------------------------------------------------------------
// Memory

/// A process held at the end of `run()` by the debug hook `FLUXLOOP_DEBUG_PAUSE_AT_EXIT`.
struct Paused {
    child: std::process::Child,
    pid: u32,
}

impl Drop for Paused {
    fn drop(&mut self) {
        // The paused process may be a grandchild (behind `script`): end it by pid too.
        if self.pid != 0 && self.pid != self.child.id() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fluxloop <args>` with `stdin` and waits until it has finished its work and paused.
fn run_until_paused(env: &TestEnv, args: &[&str], stdin: Option<&str>, marker: &str) -> Paused {
    let pid_file = env.ss.dir().join(format!("pid-{marker}"));
    let mut cmd = env.cmd();
    cmd.args(args)
        .env("FLUXLOOP_DEBUG_PAUSE_AT_EXIT", &pid_file)
        // Positive control: a string certainly in the process's memory (its environment).
        .env("FLUXLOOP_TEST_MARKER", marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn fluxloop");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let mut paused = Paused { child, pid: 0 };
    let deadline = Instant::now() + Duration::from_secs(30);
    paused.pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            break pid;
        }
        if let Ok(Some(status)) = paused.child.try_wait() {
            panic!("fluxloop {args:?} exited ({status}) instead of pausing");
        }
        assert!(Instant::now() < deadline, "fluxloop {args:?} never paused");
        std::thread::sleep(Duration::from_millis(10));
    };
    paused
}

/// The whole memory of the paused process, via gdb's `gcore`; removed on drop.
struct Core(PathBuf);

impl Drop for Core {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Core {
    fn dump(env: &TestEnv, paused: &Paused) -> Core {
        let prefix: PathBuf = env.ss.dir().join("core");
        let done = run_with_timeout(
            Command::new("gcore")
                .arg("-o")
                .arg(&prefix)
                .arg(paused.pid.to_string()),
            None,
            Duration::from_secs(50),
        );
        assert!(done.success(), "gcore failed (is gdb installed?): {done:?}");
        let core = Core(PathBuf::from(format!(
            "{}.{}",
            prefix.display(),
            paused.pid
        )));
        assert!(core.0.is_file(), "gcore wrote no {}", core.0.display());
        core
    }

    /// Whether the dump holds `needle`. grep, because scanning ~80 MB in an unoptimised test
    /// build takes seconds per needle.
    fn contains(&self, needle: &str) -> bool {
        let done = run_with_timeout(
            Command::new("grep")
                .args(["-q", "-a", "-F", "--"])
                .arg(needle)
                .arg(&self.0),
            None,
            Duration::from_secs(50),
        );
        match done.code() {
            Some(0) => true,
            Some(1) => false,
            _ => panic!("grep failed: {done:?}"),
        }
    }

    /// Where each copy of `needle` sits, with the bytes around it, to find who made it.
    fn describe(&self, needle: &str) -> String {
        let core = std::fs::read(&self.0).unwrap();
        let needle = needle.as_bytes();
        let mut out = String::new();
        for (i, _) in core
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
        {
            let from = i.saturating_sub(64);
            let to = (i + needle.len() + 64).min(core.len());
            out += &format!(
                "  at offset {i:#x}: {:?}\n",
                String::from_utf8_lossy(&core[from..to])
            );
        }
        out
    }
}

#[track_caller]
fn assert_key_not_in_memory(env: &TestEnv, paused: &Paused, key: &str, marker: &str, what: &str) {
    let core = Core::dump(env, paused);
    assert!(
        core.contains(marker),
        "{what}: the positive control is missing from the core dump, so the search proves nothing"
    );
    for needle in [key, secret_part(key)] {
        assert!(
            !core.contains(needle),
            "{what}: the key is still in the memory of the finished process:\n{}",
            core.describe(needle)
        );
    }
}

#[test]
fn key_is_gone_from_memory_after_login_status_and_logout() {
    let env = TestEnv::new();
    let paused = run_until_paused(
        &env,
        &["auth", "login"],
        Some(&key_line(keys::VALID)),
        "marker-login-7Qk2",
    );
    // Only the documented `--api-key` puts the key where `ps` shows it.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", paused.pid)).unwrap();
    assert!(
        !cmdline
            .windows(keys::VALID.len())
            .any(|w| w == keys::VALID.as_bytes())
    );
    assert_key_not_in_memory(&env, &paused, keys::VALID, "marker-login-7Qk2", "login");
    drop(paused);
    assert_eq!(
        env.keychain_profiles(),
        ["default"],
        "the login did not finish"
    );

    let paused = run_until_paused(&env, &["auth", "status"], None, "marker-status-3Vx9");
    assert_key_not_in_memory(&env, &paused, keys::VALID, "marker-status-3Vx9", "status");
    drop(paused);

    let paused = run_until_paused(&env, &["auth", "logout"], None, "marker-logout-8Hn4");
    assert_key_not_in_memory(&env, &paused, keys::VALID, "marker-logout-8Hn4", "logout");
    drop(paused);
    assert!(env.keychain().is_empty(), "the logout did not finish");
}

#[test]
fn key_echoed_in_responses_is_gone_from_memory_too() {
    let env = TestEnv::new();
    env.login(keys::ECHO, None);
    for (args, marker) in [
        (&["auth", "status", "--json"][..], "marker-echo-status-5Tb1"),
        (&["auth", "whoami"][..], "marker-echo-whoami-2Wp6"),
    ] {
        let paused = run_until_paused(&env, args, None, marker);
        assert_key_not_in_memory(&env, &paused, keys::ECHO, marker, args[1]);
    }
}

/// Starts `fluxloop auth login` in a pseudo-terminal (util-linux `script`), waits for the
/// prompt, pastes or types `key` and Enter, and waits until the login finished and paused.
fn prompt_login_until_paused(env: &TestEnv, key: &str, paste: bool, marker: &str) -> Paused {
    use std::io::Read;
    let pid_file = env.ss.dir().join(format!("pid-{marker}"));
    let mut cmd = env.ss.command("script");
    cmd.args(["-q", "-e", "-c"])
        .arg(format!("{} auth login", env!("CARGO_BIN_EXE_fluxloop")))
        .arg("/dev/null")
        .env("TMPDIR", env.tmp())
        .env("FLUXLOOP_API_URL", env.platform.url())
        .env("TERM", "xterm")
        .env("FLUXLOOP_DEBUG_PAUSE_AT_EXIT", &pid_file)
        .env("FLUXLOOP_TEST_MARKER", marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("run script(1)");
    let mut screen = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        while let Ok(n) = screen.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if tx.send(String::from_utf8_lossy(&all).into_owned()).is_err() {
                break;
            }
        }
    });
    let mut paused = Paused { child, pid: 0 };
    loop {
        let shown = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the prompt never appeared");
        if shown.contains("Please enter your API key:") {
            break;
        }
    }
    let mut keyboard = paused.child.stdin.take().unwrap();
    let typed = format!("{key}\r");
    if paste {
        keyboard.write_all(typed.as_bytes()).unwrap();
    } else {
        // One key at a time, as a person types: each reaches the program in its own read.
        for byte in typed.bytes() {
            keyboard.write_all(&[byte]).unwrap();
            keyboard.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    keyboard.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    paused.pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the prompted login never paused");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Keep the terminal open until the dump is taken.
    paused.child.stdin = Some(keyboard);
    paused
}

#[test]
fn key_typed_at_the_prompt_is_gone_from_memory() {
    let env = TestEnv::new();
    let paused = prompt_login_until_paused(&env, keys::VALID, false, "marker-typed-6Rc2");
    assert_key_not_in_memory(&env, &paused, keys::VALID, "marker-typed-6Rc2", "typed");
    drop(paused);
    assert_eq!(
        env.keychain_profiles(),
        ["default"],
        "the login did not finish"
    );
}

#[test]
fn key_pasted_at_the_prompt_is_gone_from_memory() {
    let env = TestEnv::new();
    let paused = prompt_login_until_paused(&env, keys::VALID, true, "marker-pasted-4Jd8");
    assert_key_not_in_memory(&env, &paused, keys::VALID, "marker-pasted-4Jd8", "pasted");
}
