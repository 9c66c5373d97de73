//! The command line itself (issue 2): help and version, usage errors (exit 2, nothing touched),
//! profile name rules, and colour control.

mod common;

use common::env::{Run, TestEnv, keys};

const ESC: &str = "\u{1b}[";

/// A profile logged in, so "nothing touched" has something to lose.
fn logged_in() -> TestEnv {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env
}

#[test]
fn unknown_subcommands_and_flags_are_usage_errors_that_touch_nothing() {
    let env = logged_in();
    let before = env.snapshot();
    let sent = env.platform.requests().len();
    for args in [
        &["frobnicate"][..],
        &["auth", "frobnicate"],
        &["auth", "status", "--bogus"],
        &["auth", "logout", "--all", "--bogus"],
        &["auth", "login", "--api-key"],
        &["auth", "status", "--profile"],
        &["auth", "status", "extra"],
        &["auth", "status", "--color", "sometimes"],
        &["auth", "login", "--storage", "cloud"],
        &["auth"],
        &[],
    ] {
        let run = env.run_stdin(args, &format!("{}\n", keys::VALID));
        run.assert_code(2).never_shows(keys::VALID);
        assert!(
            run.stderr.contains("error:") || run.stderr.contains("Usage:"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.platform.requests().len(), sent);
}

#[test]
fn help_for_every_command_lists_every_option() {
    let env = TestEnv::new();
    let global = ["--profile", "--api-url", "--color", "--verbose", "--help"];
    let cases: [(&[&str], &[&str]); 6] = [
        (&[], &["auth"]),
        (
            &["auth"],
            &["login", "logout", "status", "whoami", "migrate"],
        ),
        (&["auth", "login"], &["--api-key", "--save", "--no-save"]),
        (&["auth", "logout"], &["--all", "--revoke"]),
        (&["auth", "status"], &["--json"]),
        (&["auth", "whoami"], &["--json"]),
    ];
    for (command, options) in cases {
        let mut args = command.to_vec();
        args.push("--help");
        let run = env.run(&args);
        run.assert_ok();
        for option in options.iter().chain(global.iter()) {
            assert!(
                run.stdout.contains(option),
                "`fluxloop {}` lacks {option}\n{}",
                args.join(" "),
                run.stdout
            );
        }
        // The environment variables that stand in for options are named next to them.
        for var in ["FLUXLOOP_PROFILE", "FLUXLOOP_API_URL"] {
            assert!(run.stdout.contains(var), "{args:?} lacks {var}");
        }
    }
    // `-h` is the short form and `help <command>` the clap form of the same thing.
    env.run(&["auth", "status", "-h"])
        .assert_ok()
        .stdout_has("--json");
    env.run(&["help", "auth", "login"])
        .assert_ok()
        .stdout_has("--api-key");
    assert!(!env.credentials_path().exists());
    assert!(env.keychain().is_empty());
    assert!(env.platform.requests().is_empty());
}

#[test]
fn help_never_shows_a_key_from_the_environment() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "status", "--help"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    run.assert_ok().never_shows(keys::VALID);
}

#[test]
fn version_prints_the_package_version() {
    let env = TestEnv::new();
    let expected = format!("fluxloop {}", env!("CARGO_PKG_VERSION"));
    for args in [&["--version"][..], &["-V"]] {
        let run = env.run(args);
        run.assert_ok();
        assert_eq!(run.stdout.trim(), expected, "{args:?}");
    }
    // Subcommands know it too (clap names the subcommand: `fluxloop-auth-status 0.1.0`).
    let run = env.run(&["auth", "status", "--version"]);
    run.assert_ok();
    assert!(
        run.stdout
            .trim()
            .ends_with(&format!(" {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        run.stdout
    );
}

#[test]
fn invalid_profile_names_are_usage_errors_that_touch_nothing() {
    let env = logged_in();
    let before = env.snapshot();
    let sent = env.platform.requests().len();
    let too_long = "p".repeat(65);
    let bad = [
        "",
        "a b",
        "../default",
        "x/y",
        "work!",
        "naïve",
        "tab\there",
        "new\nline",
        too_long.as_str(),
    ];
    let commands: [&[&str]; 6] = [
        &["auth", "login"],
        &["auth", "logout"],
        &["auth", "logout", "--all"],
        &["auth", "status"],
        &["auth", "whoami"],
        &["auth", "migrate"],
    ];
    for name in bad {
        for command in commands {
            let mut args = command.to_vec();
            args.extend(["--profile", name]);
            env.run_stdin(&args, &format!("{}\n", keys::VALID))
                .assert_code(2)
                .stderr_has("Invalid profile name")
                .stderr_has("1 to 64 characters")
                .never_shows(keys::VALID);
        }
        // FLUXLOOP_PROFILE follows the same rules (clap treats an empty variable as unset).
        if !name.is_empty() {
            env.run_with(&["auth", "status"], None, &[("FLUXLOOP_PROFILE", name)])
                .assert_code(2)
                .stderr_has("Invalid profile name");
        }
    }
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.platform.requests().len(), sent);
}

#[test]
fn profile_names_of_1_to_64_allowed_characters_work() {
    let env = TestEnv::new();
    let longest = "a".repeat(64);
    for name in ["x", "work-2.prod_EU", longest.as_str()] {
        env.login(keys::VALID, Some(name));
        let run = env.run(&["auth", "status", "--profile", name]);
        run.assert_ok();
        assert!(run.stdout.contains(name), "{}", run.stdout);
    }
    let mut expected = vec!["work-2.prod_EU".to_string(), "x".into(), longest.clone()];
    expected.sort();
    assert_eq!(env.keychain_profiles(), expected);
}

#[test]
fn color_always_colours_text_but_never_json() {
    let env = logged_in();
    let run = env.run(&["--color", "always", "auth", "status"]);
    run.assert_ok();
    assert!(run.stdout.contains(ESC), "no ANSI escapes:\n{}", run.stdout);

    // A flag beats the environment.
    let run = env.run_with(
        &["auth", "status", "--color", "always"],
        None,
        &[("NO_COLOR", "1")],
    );
    run.assert_ok();
    assert!(run.stdout.contains(ESC), "no ANSI escapes:\n{}", run.stdout);

    // Errors on stderr are coloured too.
    let run = env.run(&["--color", "always", "auth", "status", "--profile", "nobody"]);
    run.assert_code(3);
    assert!(run.stderr.contains(ESC), "no ANSI escapes:\n{}", run.stderr);

    // JSON stays JSON.
    let run = env.run(&["--color", "always", "auth", "status", "--json"]);
    run.assert_ok();
    assert!(!run.stdout.contains(ESC), "{}", run.stdout);
    assert_eq!(run.json()["authenticated"], true);
}

#[test]
fn color_never_and_no_color_turn_colour_off() {
    let env = logged_in();
    // CLICOLOR_FORCE makes a pipe coloured, so turning colour off has something to turn off.
    let forced = env.run_with(&["auth", "status"], None, &[("CLICOLOR_FORCE", "1")]);
    forced.assert_ok();
    assert!(forced.stdout.contains(ESC), "{}", forced.stdout);

    for (args, envs) in [
        (
            &["--color", "never", "auth", "status"][..],
            &[("CLICOLOR_FORCE", "1")][..],
        ),
        (
            &["auth", "status"],
            &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
        ),
        (
            &["--color", "never", "auth", "status", "--profile", "nobody"],
            &[("CLICOLOR_FORCE", "1")],
        ),
    ] {
        let run = env.run_with(args, None, envs);
        assert!(
            !run.stdout.contains(ESC) && !run.stderr.contains(ESC),
            "{args:?} {envs:?}\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
        assert!(!run.stdout.is_empty() || !run.stderr.is_empty());
    }
}

/// Runs `fluxloop <args>` on a real pseudo-terminal (util-linux `script`), where `auto`
/// colour is decided by the terminal check.
fn in_terminal(env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let line = std::iter::once(env!("CARGO_BIN_EXE_fluxloop"))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = env.ss.command("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("TMPDIR", env.tmp())
        .env("FLUXLOOP_API_URL", env.platform.url())
        .env("TERM", "xterm-256color");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    env.run_cmd(&mut cmd, None)
}

#[test]
fn auto_colour_follows_the_terminal_and_no_color() {
    let env = logged_in();
    let run = in_terminal(&env, &["auth", "status"], &[]);
    run.assert_ok().stdout_has("Authenticated");
    assert!(run.stdout.contains(ESC), "{}", run.stdout);

    let run = in_terminal(&env, &["auth", "status"], &[("NO_COLOR", "1")]);
    run.assert_ok().stdout_has("Authenticated");
    assert!(!run.stdout.contains(ESC), "{}", run.stdout);

    // Piped (not a terminal): no colour by default.
    let run = env.run(&["auth", "status"]);
    assert!(!run.stdout.contains(ESC), "{}", run.stdout);
}
