//! The command line itself (issue 2): help and version, usage errors (exit 2, nothing touched),
//! profile name rules, and colour control.

mod common;

use common::env::{Run, TestEnv, keys};
use common::{assert_run_snapshot, assert_runs_snapshot, fluxloop_snapshot};

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
    let mut runs = Vec::new();
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
        runs.push(env.run_stdin(args, &format!("{}\n", keys::VALID)));
    }
    assert_runs_snapshot!(env, runs, "usage errors, with a key on stdin");
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.platform.requests().len(), sent);
}

/// `--help` of every command, whole; no keychain is needed (or started) to show it.
#[test]
fn help_of_every_command() {
    let env = TestEnv::without_keychain();
    fluxloop_snapshot!("help_fluxloop", env, ["--help"]);
    fluxloop_snapshot!("help_auth", env, ["auth", "--help"]);
    fluxloop_snapshot!("help_auth_login", env, ["auth", "login", "--help"]);
    fluxloop_snapshot!("help_auth_logout", env, ["auth", "logout", "--help"]);
    fluxloop_snapshot!("help_auth_status", env, ["auth", "status", "--help"]);
    fluxloop_snapshot!("help_auth_whoami", env, ["auth", "whoami", "--help"]);
    fluxloop_snapshot!("help_auth_migrate", env, ["auth", "migrate", "--help"]);
    fluxloop_snapshot!("help_completions", env, ["completions", "--help"]);
    fluxloop_snapshot!("help_man", env, ["man", "--help"]);
    // `-h` is the short form and `help <command>` the clap form of the same thing.
    fluxloop_snapshot!("short_help_auth_status", env, ["auth", "status", "-h"]);
    let long = env.run(&["auth", "login", "--help"]);
    let clap_form = env.run(&["help", "auth", "login"]);
    assert_eq!(clap_form.whole_output(), long.whole_output());
    assert!(!env.credentials_path().exists());
    assert!(env.platform.requests().is_empty());
}

#[test]
fn help_never_shows_a_key_from_the_environment() {
    let env = TestEnv::without_keychain();
    let run = env.run_with(
        &["auth", "status", "--help"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    run.assert_ok().never_shows(keys::VALID);
    // The same help as without the key.
    let plain = env.run(&["auth", "status", "--help"]);
    assert_eq!(run.whole_output(), plain.whole_output());
}

#[test]
fn version_prints_the_package_version() {
    let env = TestEnv::without_keychain();
    // Compared whole, but not snapshotted: the version changes with every release.
    let version = env!("CARGO_PKG_VERSION");
    for args in [&["--version"][..], &["-V"]] {
        let run = env.run(args);
        assert_eq!(
            run.whole_output(),
            format!("exit: success (0)\n--- stdout\nfluxloop {version}\n--- stderr\n"),
            "{args:?}"
        );
    }
    // Subcommands know it too (clap names the subcommand).
    let run = env.run(&["auth", "status", "--version"]);
    assert_eq!(
        run.whole_output(),
        format!("exit: success (0)\n--- stdout\nfluxloop-auth-status {version}\n--- stderr\n")
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
    let mut runs = Vec::new();
    let mut from_env = Vec::new();
    for name in bad {
        for command in commands {
            let mut args = command.to_vec();
            args.extend(["--profile", name]);
            runs.push(env.run_stdin(&args, &format!("{}\n", keys::VALID)));
        }
        // FLUXLOOP_PROFILE follows the same rules (clap treats an empty variable as unset).
        if !name.is_empty() {
            from_env.push(env.run_with(&["auth", "status"], None, &[("FLUXLOOP_PROFILE", name)]));
        }
    }
    assert_runs_snapshot!(
        "invalid_profile_flag",
        env,
        runs,
        "every command with every invalid --profile"
    );
    assert_runs_snapshot!(
        "invalid_profile_env",
        env,
        from_env,
        "auth status with each invalid FLUXLOOP_PROFILE"
    );
    assert_eq!(env.snapshot(), before);
    assert_eq!(env.platform.requests().len(), sent);
}

#[test]
fn profile_names_of_1_to_64_allowed_characters_work() {
    let env = TestEnv::new();
    let longest = "a".repeat(64);
    let mut runs = Vec::new();
    for name in ["x", "work-2.prod_EU", longest.as_str()] {
        runs.push(env.login(keys::VALID, Some(name)));
        runs.push(env.run(&["auth", "status", "--profile", name]));
    }
    assert_runs_snapshot!(env, runs, "login and status for each valid profile name");
    let mut expected = vec!["work-2.prod_EU".to_string(), "x".into(), longest.clone()];
    expected.sort();
    assert_eq!(env.keychain_profiles(), expected);
}

#[test]
fn color_always_colours_text_but_never_json() {
    let env = logged_in();
    // ESC shows as ␛ in the snapshots.
    let coloured = fluxloop_snapshot!("color_always", env, ["--color", "always", "auth", "status"]);
    assert!(
        coloured.stdout.contains(ESC),
        "no ANSI escapes:\n{}",
        coloured.stdout
    );

    // A flag beats the environment.
    let run = env.run_with(
        &["auth", "status", "--color", "always"],
        None,
        &[("NO_COLOR", "1")],
    );
    assert_eq!(run.whole_output(), coloured.whole_output());

    // Errors on stderr are coloured too.
    let run = fluxloop_snapshot!(
        "color_always_error",
        env,
        ["--color", "always", "auth", "status", "--profile", "nobody"]
    );
    assert!(run.stderr.contains(ESC), "no ANSI escapes:\n{}", run.stderr);

    // JSON stays JSON.
    let run = fluxloop_snapshot!(
        "color_always_json",
        env,
        ["--color", "always", "auth", "status", "--json"]
    );
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
    let plain = env.run(&["auth", "status"]);
    assert_run_snapshot!("color_off_status", env, plain);
    let plain_error = env.run(&["auth", "status", "--profile", "nobody"]);
    assert_run_snapshot!("color_off_error", env, plain_error);

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
        // Exactly the uncoloured output.
        let expected = if args.contains(&"nobody") {
            &plain_error
        } else {
            &plain
        };
        assert_eq!(
            run.whole_output(),
            expected.whole_output(),
            "{args:?} {envs:?}"
        );
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
    let mut run = env.run_cmd(&mut cmd, None);
    // The terminal merges stderr into stdout and ends lines with CR LF.
    run.stdout = run.stdout.replace("\r\n", "\n");
    run
}

#[test]
fn auto_colour_follows_the_terminal_and_no_color() {
    let env = logged_in();
    let coloured = env.run(&["--color", "always", "auth", "status"]);
    let plain = env.run(&["--color", "never", "auth", "status"]);
    assert_ne!(coloured.stdout, plain.stdout);

    let run = in_terminal(&env, &["auth", "status"], &[]);
    run.assert_ok();
    assert_eq!(run.stdout, coloured.stdout);

    let run = in_terminal(&env, &["auth", "status"], &[("NO_COLOR", "1")]);
    run.assert_ok();
    assert_eq!(run.stdout, plain.stdout);

    // Piped (not a terminal): no colour by default.
    let run = env.run(&["auth", "status"]);
    assert_eq!(run.whole_output(), plain.whole_output());
}
