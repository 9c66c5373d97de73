//! Many fluxloop processes at once against one real gnome-keyring (issue 11, part 2), and the
//! bound on waiting for the credentials file's lock.
#![allow(
    clippy::print_stderr,
    reason = "prints the figures of docs/reliability.md"
)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::env::{RUN_TIMEOUT, TestEnv, exit_name, keys};

/// Whether `pid` is stopped (SIGSTOP).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')')?.1.trim_start().chars().next())
        == Some('T')
}

fn spawn(env: &TestEnv, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Child {
    let mut cmd: Command = env.cmd();
    cmd.args(args)
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start fluxloop");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child
}

/// A login stopped under the lock (at its keychain lookup, by the debug hook) holds it; another
/// command gives up after the documented wait, naming the holder, instead of hanging.
#[test]
fn a_lock_wait_is_bounded_and_names_the_holder() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // login's steps: keychain check, HTTP request, keychain get (under the lock).
    let mut holder = spawn(
        &env,
        &["auth", "login", "--profile", "work"],
        Some(&format!("{}\n", keys::EXPIRING_SOON)),
        &[
            ("FLUXLOOP_DEBUG_CRASH_AT", "3"),
            ("FLUXLOOP_DEBUG_CRASH_SIGNAL", "stop"),
        ],
    );
    let started = Instant::now();
    while !stopped(holder.id()) {
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "the login never reached its crash point"
        );
        assert!(holder.try_wait().unwrap().is_none(), "the login ended");
        std::thread::sleep(Duration::from_millis(20));
    }

    let waiting = env.run(&["auth", "switch", "default"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(waiting.code, Some(1), "{}", waiting.stderr);
    waiting.stderr_has(&format!(
        "Another fluxloop (PID {}) is busy with the credentials file",
        holder.id()
    ));
    // The documented wait is 10 s; generous slack for a busy machine.
    assert!(
        waiting.elapsed < Duration::from_secs(20),
        "waited {:?}",
        waiting.elapsed
    );
    // Nothing changed, and the lock is free again once its holder is gone.
    env.run(&["auth", "switch", "default"]).assert_ok();
}

/// What one raced process was.
struct Racer {
    what: String,
    child: Child,
    started: Instant,
}

/// 64 processes at once: logins to distinct profiles, logins to one profile with two different
/// keys, logouts, `logout --all`, `switch` and `status`. Afterwards no process hung or crashed,
/// each ended with a documented exit code, and the state is one a serial order could leave: the
/// file parses, every profile listed has its key in the keychain and every entry is listed, one
/// entry per profile, and each profile's metadata describes the key the keychain holds for it.
#[test]
fn sixty_four_processes_at_once_leave_a_state_some_serial_order_would() {
    let env = TestEnv::new();
    for i in 0..12 {
        env.login(keys::VALID, Some(&format!("old{i:02}")));
    }
    let mut racers = Vec::new();
    let mut start = |what: String, args: Vec<String>, stdin: Option<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        racers.push(Racer {
            child: spawn(&env, &args, stdin.as_deref(), &[]),
            what,
            started: Instant::now(),
        });
    };
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    for i in 0..24 {
        let name = format!("new{i:02}");
        start(
            format!("login --profile {name}"),
            s(&["auth", "login", "--profile", &name]),
            Some(format!("{}\n", keys::VALID)),
        );
    }
    for i in 0..12 {
        let key = if i % 2 == 0 {
            keys::VALID
        } else {
            keys::EXPIRING_SOON
        };
        start(
            "login --profile shared".into(),
            s(&["auth", "login", "--profile", "shared"]),
            Some(format!("{key}\n")),
        );
    }
    for i in 0..12 {
        let name = format!("old{i:02}");
        start(
            format!("logout --profile {name}"),
            s(&["auth", "logout", "--profile", &name]),
            None,
        );
    }
    for _ in 0..2 {
        start("logout --all".into(), s(&["auth", "logout", "--all"]), None);
    }
    for _ in 0..6 {
        start(
            "switch shared".into(),
            s(&["auth", "switch", "shared"]),
            None,
        );
    }
    for i in 0..8 {
        let name = format!("new{i:02}");
        start(
            format!("status --profile {name}"),
            s(&["auth", "status", "--profile", &name]),
            None,
        );
    }
    assert_eq!(racers.len(), 64);

    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    // Which commands succeeded: what a serial order must explain.
    let mut succeeded: Vec<String> = Vec::new();
    for mut racer in racers {
        let status = loop {
            if let Some(status) = racer.child.try_wait().unwrap() {
                break status;
            }
            if racer.started.elapsed() > RUN_TIMEOUT {
                let _ = racer.child.kill();
                panic!("`{}` hung for over {RUN_TIMEOUT:?}", racer.what);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = racer.child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let code = status.code();
        let name = code.map_or("killed", exit_name);
        assert!(
            !matches!(name, "crash" | "undocumented" | "killed"),
            "`{}` ended {name} ({code:?}):\n{stderr}",
            racer.what
        );
        // A lock wait that timed out is the one failure allowed to a command that changes the
        // file; anything else it fails with must be explained.
        if code == Some(1) {
            assert!(
                stderr.contains("is busy with the credentials file"),
                "`{}` failed:\n{stderr}",
                racer.what
            );
        }
        for key in keys::ALL.iter().map(|(_, k)| *k) {
            assert!(!stderr.contains(key), "`{}` printed a key", racer.what);
        }
        if code == Some(0) {
            succeeded.push(racer.what.clone());
        }
        *codes
            .entry(format!(
                "{} -> {name}",
                racer.what.split(" --profile").next().unwrap()
            ))
            .or_default() += 1;
    }
    eprintln!("outcomes: {codes:#?}");

    // The state a serial order would leave.
    let text = env.credentials().unwrap_or_default();
    let file: serde_json::Value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_saphyr::from_str(&text).expect("the credentials file parses")
    };
    let listed: BTreeMap<String, serde_json::Value> = file
        .get("profiles")
        .and_then(|p| p.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let entries = env.keychain();
    let mut in_keychain: BTreeMap<String, String> = BTreeMap::new();
    for item in entries {
        let name = item.attributes.get("username").cloned().unwrap_or_default();
        let secret = item.secret.clone().expect("an unlocked entry");
        assert!(
            in_keychain.insert(name.clone(), secret).is_none(),
            "two keychain entries for profile {name}"
        );
    }
    let listed_names: Vec<&String> = listed.keys().collect();
    let keychain_names: Vec<&String> = in_keychain.keys().collect();
    assert_eq!(
        listed_names, keychain_names,
        "profiles listed and keys in the keychain differ"
    );
    for (name, meta) in &listed {
        let hint = meta.get("key_hint").and_then(|h| h.as_str()).unwrap_or("");
        let secret = &in_keychain[name];
        let (prefix, suffix) = hint.split_once("...").expect("a key hint");
        assert!(
            secret.starts_with(prefix) && secret.ends_with(suffix),
            "profile {name}: its metadata describes another key than the keychain holds"
        );
    }
    if let Some(current) = file.get("current_profile").and_then(|c| c.as_str()) {
        assert_eq!(current, "shared");
    }
    assert_explained_by_a_serial_order(&succeeded, &listed);
    eprintln!(
        "after the race: {} profiles, {} keychain entries",
        listed.len(),
        in_keychain.len()
    );
}

/// Whether the profiles left after the race are what some serial order of the commands that
/// succeeded would leave (the failed ones changed nothing). The 12 `old` profiles existed before
/// the race, so a `logout --all` that succeeded, whenever it ran, removed them all; a `new` or
/// `shared` profile can exist only if a login to it succeeded, and must exist if one did and no
/// `logout --all` succeeded (a later one may have removed it).
fn assert_explained_by_a_serial_order(
    succeeded: &[String],
    listed: &BTreeMap<String, serde_json::Value>,
) {
    let ok = |what: &str| succeeded.iter().any(|s| s == what);
    let logout_all = ok("logout --all");
    for i in 0..12 {
        let name = format!("old{i:02}");
        let removable = logout_all || ok(&format!("logout --profile {name}"));
        assert_eq!(
            listed.contains_key(&name),
            !removable,
            "profile {name}: listed = {}, yet its logout succeeded = {}, a logout --all \
             succeeded = {logout_all}",
            listed.contains_key(&name),
            ok(&format!("logout --profile {name}"))
        );
    }
    let logged_in = |name: &str| ok(&format!("login --profile {name}"));
    for name in (0..24)
        .map(|i| format!("new{i:02}"))
        .chain(["shared".to_owned()])
    {
        let present = listed.contains_key(&name);
        if present {
            assert!(
                logged_in(&name),
                "profile {name} is listed, but no login to it succeeded"
            );
        } else {
            assert!(
                !logged_in(&name) || logout_all,
                "a login to {name} succeeded and no logout --all did, yet it is not listed"
            );
        }
    }
    assert!(
        listed
            .keys()
            .all(|name| name.starts_with("old") || name.starts_with("new") || name == "shared"),
        "a profile nobody logged in to: {:?}",
        listed.keys().collect::<Vec<_>>()
    );
}
