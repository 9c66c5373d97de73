//! docs/cli.md, the command-line reference, is generated from the clap definition (the same
//! one the binary prints `--help` from) and must match it. Regenerate with
//! `UPDATE_CLI_DOCS=1 cargo test --test cli_docs`.

mod common;

use std::path::PathBuf;

use clap::{Command, CommandFactory};
use common::env::TestEnv;
use fluxloop::cli::Cli;

/// The width help is wrapped to when stdout is not a terminal (what the binary prints in a
/// pipe, and what tests/snapshots/usage__help_*.snap hold).
const WIDTH: usize = 100;

fn docs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md")
}

/// Every command, depth first, with its full name (`fluxloop auth login`); clap's own `help`
/// subcommands left out.
fn commands(cmd: &Command, prefix: &str, out: &mut Vec<(String, Command)>) {
    let name = if prefix.is_empty() {
        cmd.get_name().to_owned()
    } else {
        format!("{prefix} {}", cmd.get_name())
    };
    out.push((name.clone(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        commands(sub, &name, out);
    }
}

/// Stable text whatever the environment: no current values of FLUXLOOP_* variables, no
/// terminal width.
fn for_docs(cmd: Command) -> Command {
    cmd.term_width(WIDTH)
        .max_term_width(WIDTH)
        .mut_args(|a| a.hide_env_values(true))
        .mut_subcommands(for_docs)
}

/// Each command's full name and its long help, as the docs show it.
fn helps() -> Vec<(String, String)> {
    let mut root = for_docs(Cli::command());
    root.build();
    let mut all = Vec::new();
    commands(&root, "", &mut all);
    all.into_iter()
        .map(|(name, mut cmd)| {
            // `--help` prints the long form only where there is long help to show, as clap does.
            let help = if has_long_help(&cmd) {
                cmd.render_long_help()
            } else {
                cmd.render_help()
            }
            .to_string();
            // Trailing spaces are invisible in Markdown and trip editors; the text is the same.
            let lines: Vec<&str> = help.trim_end().lines().map(str::trim_end).collect();
            (name, lines.join("\n"))
        })
        .collect()
}

/// Whether `--help` prints the long form: clap's own rule (a long about or long help, or an
/// argument with long help or documented possible values).
fn has_long_help(cmd: &Command) -> bool {
    let long_arg = |a: &clap::Arg| {
        !a.is_hide_set()
            && (a.get_long_help().is_some()
                || a.is_hide_long_help_set()
                || a.is_hide_short_help_set()
                || (!a.is_hide_possible_values_set()
                    && a.get_possible_values()
                        .iter()
                        .any(|v| v.get_help().is_some() && !v.is_hide_set())))
    };
    cmd.get_long_about().is_some()
        || cmd.get_before_long_help().is_some()
        || cmd.get_after_long_help().is_some()
        || cmd.get_arguments().any(long_arg)
}

fn render() -> String {
    let all = helps();

    let mut md = String::from(
        "# Command-line reference\n\n\
         <!-- Generated from src/cli.rs by tests/cli_docs.rs; do not edit by hand. \
         Regenerate with `UPDATE_CLI_DOCS=1 cargo test --test cli_docs`. -->\n\n\
         Each section is what `<command> --help` prints. README.md explains the commands with \
         examples; this page lists every option.\n\n",
    );
    for (name, _) in &all {
        let anchor = name.replace(' ', "-");
        md.push_str(&format!("- [`{name}`](#{anchor})\n"));
    }
    for (name, help) in all {
        md.push_str(&format!("\n## {name}\n\n```text\n{help}\n```\n"));
    }
    md
}

/// What the docs show is what the binary prints, but for the environment variables' current
/// values (`[env: FLUXLOOP_PROFILE=]` when unset) and trailing spaces.
#[test]
fn docs_cli_md_shows_what_the_binary_prints() {
    let env = TestEnv::without_keychain();
    for (name, help) in helps() {
        let mut cmd = env.cmd();
        cmd.env_remove("FLUXLOOP_API_URL")
            .args(name.split(' ').skip(1))
            .arg("--help");
        let run = env.run_cmd(&mut cmd, None);
        run.assert_ok();
        let printed: Vec<String> = run
            .stdout
            .trim_end()
            .lines()
            .map(|l| l.trim_end().replace("=]", "]"))
            .collect();
        assert_eq!(printed.join("\n"), help, "{name} --help");
    }
}

#[test]
fn docs_cli_md_is_up_to_date() {
    let generated = render();
    let path = docs_path();
    if std::env::var_os("UPDATE_CLI_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/cli.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/cli.md does not match the clap definition in src/cli.rs; regenerate it with\n\n    \
         UPDATE_CLI_DOCS=1 cargo test --test cli_docs\n\nand commit the result"
    );
}

/// The reference covers every command the binary has, with its options.
#[test]
fn docs_cli_md_names_every_command_and_option() {
    let mut root = Cli::command();
    root.build();
    let mut all = Vec::new();
    commands(&root, "", &mut all);
    let docs = render();
    assert_eq!(
        all.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "fluxloop",
            "fluxloop auth",
            "fluxloop auth login",
            "fluxloop auth logout",
            "fluxloop auth status",
            "fluxloop auth whoami",
            "fluxloop auth migrate",
            "fluxloop auth token",
            "fluxloop auth list",
            "fluxloop auth rotate",
            "fluxloop auth switch",
            "fluxloop auth doctor",
            "fluxloop completions",
            "fluxloop man",
            "fluxloop exec",
        ]
    );
    for (name, cmd) in &all {
        assert!(docs.contains(&format!("\n## {name}\n")), "{name}");
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(docs.contains(&format!("--{long}")), "{name} --{long}");
            }
        }
    }
}
