//! `fluxloop completions <shell>`, and the answers to the scripts it prints.
//!
//! The scripts are clap_complete's dynamic ones: at each TAB the shell runs `fluxloop` with
//! `FLUXLOOP_COMPLETE=<shell>` and the words typed so far, and fluxloop prints the candidates
//! from its own clap definition, so subcommands, flags and values never go stale, and profile
//! names come from the credentials file of the moment. Answering reads that file only: no
//! keychain, no network, nothing written.

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use crate::cli::{Cli, CompletionsArgs, Shell, env};
use crate::context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::Printer;
use crate::profiles::ProfileStore;

/// The command the scripts complete, and the one they call back: found on PATH when the TAB is
/// pressed, so a script written by a package or an installer names no build path.
const BIN: &str = "fluxloop";

pub fn run(args: &CompletionsArgs, p: &Printer) -> CliResult {
    let mut script = Vec::new();
    completer(args.shell)
        .write_registration(env::COMPLETE, BIN, BIN, BIN, &mut script)
        .map_err(|e| CliError::failure(format!("Could not write the completion script: {e}")))?;
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if args.shell == Shell::Zsh {
        // Loaded from $fpath, the file is the body of `_fluxloop`, run at the first TAB: it
        // must complete that TAB too, not only register the completer for the next one.
        script.push_str(
            "\nif [[ \"${funcstack[1]}\" = \"_fluxloop\" ]]; then\n    \
             _clap_dynamic_completer_fluxloop \"$@\"\nfi\n",
        );
    }
    p.text(script);
    Ok(ExitStatus::Success)
}

fn completer(shell: Shell) -> &'static dyn EnvCompleter {
    match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
        Shell::Powershell => &Powershell,
        Shell::Elvish => &Elvish,
    }
}

/// When a completion script is asking (`FLUXLOOP_COMPLETE` is set), prints the candidates and
/// returns true; otherwise does nothing and returns false.
pub fn answer_script() -> Result<bool, clap::Error> {
    let current_dir = std::env::current_dir().ok();
    clap_complete::CompleteEnv::with_factory(command_with_profile_names)
        .var(env::COMPLETE)
        .try_complete(std::env::args_os(), current_dir.as_deref())
}

/// The clap definition, with the values of `--profile` and of `auth switch PROFILE` taken from
/// the credentials file.
fn command_with_profile_names() -> clap::Command {
    Cli::command()
        .mut_arg("profile", |arg| {
            arg.add(ArgValueCandidates::new(profile_candidates))
        })
        .mut_subcommand("auth", |auth| {
            auth.mut_subcommand("switch", |switch| {
                switch.mut_arg("name", |arg| {
                    arg.add(ArgValueCandidates::new(profile_candidates))
                })
            })
        })
}

/// Every problem (no home directory, an unreadable or malformed file) means no candidates: a
/// completion has nowhere to say why, and the command itself will.
fn profile_candidates() -> Vec<CompletionCandidate> {
    let Ok(dir) = context::credentials_dir() else {
        return Vec::new();
    };
    ProfileStore::new(dir)
        .peek_names()
        .unwrap_or_default()
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}
