//! The command layer: one file per command, each returning an exit status or a [`CliError`].
//!
//! [`CliError`]: crate::error::CliError

pub mod auth;
pub mod completions;
pub mod exec;
pub mod json;
pub mod man;

use crate::cli::Command;
use crate::context::Context;
use crate::error::CliResult;
use crate::output::Printer;

pub async fn run(command: Command, ctx: &Context, p: &Printer) -> CliResult {
    match command {
        Command::Auth(auth) => auth::run(auth, ctx, p).await,
        // Neither needs the context; `lib.rs::run` calls them without building one.
        Command::Completions(args) => completions::run(&args, p),
        Command::Man(args) => man::run(&args, p),
        // Its exit status is the child's, not an `ExitStatus`: `lib.rs::run` calls it directly.
        Command::Exec(_) => unreachable!("`fluxloop exec` is run by lib.rs"),
    }
}
