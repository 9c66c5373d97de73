//! `fluxloop`: the FluxLoop command-line tool. The binary is `main.rs`; everything is here so the
//! pieces can be tested (and fuzzed) on their own.

pub mod api;
pub mod cli;
pub mod commands;
pub mod context;
pub mod error;
pub mod keys;
pub mod logging;
pub mod output;
pub mod profiles;
pub mod secrets;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::context::Context;
use crate::error::CliError;
use crate::output::Printer;

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    output::init_color(cli.global.color);
    logging::init(cli.global.verbose);
    let printer = Printer;
    let outcome = Context::from_args(&cli.global).and_then(|ctx| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failure(format!("Could not start the async runtime: {e}")))?;
        runtime.block_on(commands::run(cli.command, &ctx, &printer))
    });
    let status = match outcome {
        Ok(status) => status,
        Err(e) => {
            printer.error(&e);
            e.status
        }
    };
    debug_hooks::at_exit();
    ExitCode::from(status.code())
}

/// A crash prints a short bug report, never a key: the payload is redacted.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let mut err = anstream::stderr();
        let _ = std::io::Write::write_fmt(
            &mut err,
            format_args!(
                "fluxloop {} crashed. This is a bug.\n  {}{location}\nPlease report it at https://github.com/fluxloop/fluxloop/issues with the command you ran and `fluxloop --version` (never include an API key).\n",
                env!("CARGO_PKG_VERSION"),
                keys::redact(&payload),
            ),
        );
    }));
    debug_hooks::maybe_panic();
}

/// Test hooks compiled into debug builds only: a release binary has none of them.
mod debug_hooks {
    #[cfg(debug_assertions)]
    pub fn maybe_panic() {
        if let Ok(text) = std::env::var("FLUXLOOP_DEBUG_PANIC") {
            panic!("debug panic requested with {text}");
        }
    }

    /// Holds the process before it exits so a test can dump its memory (gcore).
    #[cfg(debug_assertions)]
    pub fn at_exit() {
        if let Some(path) = std::env::var_os("FLUXLOOP_DEBUG_PAUSE_AT_EXIT") {
            let _ = std::fs::write(&path, std::process::id().to_string());
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }

    #[cfg(not(debug_assertions))]
    pub fn maybe_panic() {}

    #[cfg(not(debug_assertions))]
    pub fn at_exit() {}
}
