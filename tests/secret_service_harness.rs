//! Checks that every variant of the private Secret Service in `tests/common/secret_service.rs`
//! behaves as documented there, using `secret-tool` as an independent client.
//! These tests do not use the fluxloop binary.
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::secret_service::{SecretService, parse_search_output, run_with_timeout};

const NOT_PROVIDED: &str =
    "secret-tool: The name org.freedesktop.secrets was not provided by any .service files\n";

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn start_gives_an_unlocked_default_login_collection() {
    let ss = SecretService::start();
    assert_eq!(ss.login_locked(), Some(false));
    assert_eq!(ss.items("fluxloop"), vec![]);
    assert_eq!(ss.lookup("fluxloop", "dev"), None);

    ss.store("fluxloop", "dev", "s3cret-value");
    assert_eq!(
        ss.lookup("fluxloop", "dev").as_deref(),
        Some("s3cret-value")
    );
    let items = ss.items("fluxloop");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].label, "keyring:dev@fluxloop");
    assert_eq!(items[0].secret.as_deref(), Some("s3cret-value"));
    assert_eq!(
        items[0].attributes,
        attrs(&[("service", "fluxloop"), ("username", "dev")])
    );

    // Storing the same attributes again replaces the item.
    ss.store("fluxloop", "dev", "second-value");
    let items = ss.items("fluxloop");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].secret.as_deref(), Some("second-value"));

    let out = ss.secret_tool(&["clear", "service", "fluxloop", "username", "dev"], None);
    assert!(out.success(), "{out:?}");
    assert_eq!(ss.items("fluxloop"), vec![]);
}

#[test]
fn items_parses_awkward_values_and_filters_by_service() {
    let ss = SecretService::start();
    ss.store("fluxloop", "user = name", "line one = 1\nline two");
    ss.store("fluxloop", "prod", "ünïcode-secret");
    ss.store("other-service", "dev", "not ours");
    let out = ss.secret_tool(
        &[
            "store",
            "--label=label = with [brackets]",
            "service",
            "fluxloop",
            "username",
            "labelled",
            "extra",
            "x",
        ],
        Some("plain"),
    );
    assert!(out.success(), "{out:?}");

    let items = ss.items("fluxloop");
    let summary: Vec<_> = items
        .iter()
        .map(|i| (i.label.as_str(), i.secret.as_deref(), &i.attributes))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "label = with [brackets]",
                Some("plain"),
                &attrs(&[
                    ("extra", "x"),
                    ("service", "fluxloop"),
                    ("username", "labelled")
                ])
            ),
            (
                "keyring:prod@fluxloop",
                Some("ünïcode-secret"),
                &attrs(&[("service", "fluxloop"), ("username", "prod")])
            ),
            (
                "keyring:user = name@fluxloop",
                Some("line one = 1\nline two"),
                &attrs(&[("service", "fluxloop"), ("username", "user = name")])
            ),
        ]
    );
    assert_eq!(ss.items("other-service").len(), 1);
}

#[test]
fn instances_are_isolated_from_each_other() {
    let a = SecretService::start();
    let b = SecretService::start();
    assert_ne!(a.bus_address(), b.bus_address());
    assert_ne!(a.keyring_pid(), b.keyring_pid());
    a.store("fluxloop", "dev", "only-in-a");
    assert_eq!(b.items("fluxloop"), vec![]);
    assert_eq!(b.lookup("fluxloop", "dev"), None);
    assert_eq!(a.lookup("fluxloop", "dev").as_deref(), Some("only-in-a"));
    assert_eq!(
        a.envs(),
        vec![(
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            a.bus_address().to_string()
        )]
    );
}

#[test]
#[allow(clippy::print_stderr)]
fn start_is_fast() {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let ss = SecretService::start();
        times.push(t.elapsed());
        drop(ss);
    }
    times.sort();
    eprintln!(
        "SecretService::start() took {times:?} (median {:?})",
        times[2]
    );
    // Target is < 300 ms; the bound is loose so a loaded CI machine does not flake.
    assert!(times[2] < Duration::from_secs(3), "{times:?}");
}

#[test]
fn locked_collection_refuses_without_hanging() {
    let ss = SecretService::start();
    ss.store("fluxloop", "dev", "s3cret-value");
    ss.lock();
    assert_eq!(ss.login_locked(), Some(true));
    check_locked(&ss);

    let ss = SecretService::start_locked();
    assert_eq!(ss.login_locked(), Some(true));
    let out = ss.secret_tool(
        &[
            "store",
            "--label=x",
            "service",
            "fluxloop",
            "username",
            "dev",
        ],
        Some("s3cret-value"),
    );
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "secret-tool: Cannot create an item in a locked collection\n"
    );
    assert!(out.elapsed < Duration::from_secs(5), "{out:?}");
    assert_eq!(ss.items("fluxloop"), vec![]);
}

fn check_locked(ss: &SecretService) {
    // Lookup needs an unlock prompt, which gnome-keyring dismisses at once: exit 1, silent.
    let out = ss.secret_tool(&["lookup", "service", "fluxloop", "username", "dev"], None);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert!(out.elapsed < Duration::from_secs(5), "{out:?}");

    // Search still lists the item (label, attributes), but without its secret.
    for unlock in [false, true] {
        let mut args = vec!["search", "--all"];
        if unlock {
            args.push("--unlock");
        }
        args.extend(["service", "fluxloop"]);
        let out = ss.secret_tool(&args, None);
        assert!(out.success(), "{out:?}");
        assert!(!out.stdout.contains("secret = "), "{out:?}");
        assert!(
            out.stderr
                .contains("secret-tool: Cannot get secret of a locked object\n"),
            "{out:?}"
        );
    }
    let items = ss.items("fluxloop");
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0].secret, None);
    assert_eq!(
        items[0].attributes,
        attrs(&[("service", "fluxloop"), ("username", "dev")])
    );

    let out = ss.secret_tool(&["clear", "service", "fluxloop", "username", "dev"], None);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!(ss.items("fluxloop").len(), 1);
}

#[test]
fn without_login_collection_there_is_no_default_collection() {
    let ss = SecretService::start_without_login_collection();
    assert_eq!(ss.login_locked(), None);
    let out = ss.secret_tool(
        &[
            "store",
            "--label=x",
            "service",
            "fluxloop",
            "username",
            "dev",
        ],
        Some("s3cret-value"),
    );
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "secret-tool: Object does not exist at path \
         “/org/freedesktop/secrets/collection/login”\n"
    );
    let out = ss.secret_tool(&["lookup", "service", "fluxloop", "username", "dev"], None);
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert_eq!(ss.items("fluxloop"), vec![]);
}

#[test]
fn bus_only_fails_fast() {
    let ss = SecretService::start_bus_only();
    assert_eq!(ss.keyring_pid(), None);
    assert_eq!(ss.login_locked(), None);
    for args in [
        &["lookup", "service", "fluxloop", "username", "dev"][..],
        &["search", "--all", "service", "fluxloop"][..],
        &["clear", "service", "fluxloop", "username", "dev"][..],
    ] {
        let out = ss.secret_tool(args, None);
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert_eq!(out.stderr, NOT_PROVIDED);
        assert!(out.elapsed < Duration::from_secs(2), "{out:?}");
    }
    let out = ss.secret_tool(
        &[
            "store",
            "--label=x",
            "service",
            "fluxloop",
            "username",
            "dev",
        ],
        Some("s3cret-value"),
    );
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert_eq!(out.stderr, NOT_PROVIDED);
}

#[test]
fn stopped_daemon_makes_clients_hang_until_our_timeout() {
    let ss = SecretService::start();
    ss.store("fluxloop", "dev", "s3cret-value");
    ss.stop_daemon();
    let out = run_with_timeout(
        ss.command("secret-tool")
            .args(["lookup", "service", "fluxloop", "username", "dev"]),
        None,
        Duration::from_secs(3),
    );
    assert!(out.timed_out(), "{out:?}");
    assert!(out.elapsed >= Duration::from_secs(3), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(5), "{out:?}");

    ss.resume_daemon();
    assert_eq!(
        ss.lookup("fluxloop", "dev").as_deref(),
        Some("s3cret-value")
    );
}

#[test]
fn drop_kills_the_daemons_even_when_stopped() {
    let ss = SecretService::start();
    let pids = [ss.dbus_pid(), ss.keyring_pid().unwrap()];
    let dir = ss.dir().to_owned();
    ss.stop_daemon();
    drop(ss);
    for pid in pids {
        // Reaped, so the pid is gone (or, unlikely, reused by something else).
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert!(
            !comm.starts_with("dbus-daemon") && !comm.starts_with("gnome-keyring"),
            "pid {pid} still alive: {comm}"
        );
    }
    assert!(!dir.exists());
}

#[test]
fn run_with_timeout_kills_and_passes_stdin() {
    let out = run_with_timeout(
        Command::new("sleep").arg("10"),
        None,
        Duration::from_millis(200),
    );
    assert!(out.timed_out());
    assert!(out.elapsed < Duration::from_secs(2), "{out:?}");

    let out = run_with_timeout(
        Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
        Some(b"hello"),
        Duration::from_secs(10),
    );
    assert_eq!(out.code(), Some(3));
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("hello", "err\n")
    );
}

#[test]
fn parse_search_output_handles_locked_items() {
    let output = "secret-tool: Cannot get secret of a locked object\n\
                  [/1]\n\
                  label = keyring:dev@fluxloop\n\
                  created = 2026-11-26 15:50:41\n\
                  modified = 2026-11-26 15:50:41\n\
                  schema = org.freedesktop.Secret.Generic\n\
                  attribute.service = fluxloop\n\
                  attribute.username = dev\n";
    let items = parse_search_output(output);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].path, "/1");
    assert_eq!(items[0].secret, None);
    assert_eq!(
        items[0].attributes,
        attrs(&[("service", "fluxloop"), ("username", "dev")])
    );
}
