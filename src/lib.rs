//! `fluxloop`: the FluxLoop command-line tool. The binary is `main.rs`; everything is here so the
//! pieces can be tested (and fuzzed) on their own.

// Public: what fuzz targets and tests may use (key parsing, the command line, the credentials
// file format, the API's types). The rest is crate-private, so unused code is reported.
pub mod api;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod context;
pub(crate) mod crash_points;
pub(crate) mod error;
// The key format, mask and redaction: pure, in fluxloop-formats (fuzzed on its own).
pub use fluxloop_formats::keys;
pub(crate) mod leftovers;
pub(crate) mod logging;
pub(crate) mod output;
pub(crate) mod passphrase;
pub mod profiles;
pub(crate) mod secrets;
pub(crate) mod situation;
// `fluxloop exec` masks with it on Unix and Windows.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))]
pub(crate) mod stream_mask;
mod terminal;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::error::CliError;
use crate::output::Printer;

/// Every heap block is wiped when freed, so copies of a key that other crates make and drop
/// (hyper's request buffer, header values, parser scratch space) do not linger in memory.
#[global_allocator]
static ALLOCATOR: wipe_on_free::WipeOnFree = wipe_on_free::WipeOnFree;

mod wipe_on_free {
    // The one place that needs `unsafe`: a global allocator cannot be written without it.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};

    use zeroize::Zeroize;

    pub struct WipeOnFree;

    // SAFETY: every call is forwarded to `System` with the caller's arguments; `dealloc` only
    // writes within the block it is given (still owned by the caller) before freeing it.
    // `realloc` is not overridden: the default allocates, copies and frees the old block through
    // `dealloc`, so the old block is wiped too.
    unsafe impl GlobalAlloc for WipeOnFree {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` was returned by `alloc` with `layout`, so it points to
            // `layout.size()` bytes that the caller owns until it is freed below. `zeroize`
            // uses volatile writes, which the compiler may not remove as dead stores.
            unsafe {
                std::slice::from_raw_parts_mut(ptr, layout.size()).zeroize();
                System.dealloc(ptr, layout);
            }
        }
    }
}

/// The JSON Schema of every `--json` document, by file name, as published in docs/schema/.
pub fn json_schemas() -> [(&'static str, schemars::Schema); 6] {
    commands::json::schemas()
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    logging::mark_start();
    disable_core_dumps();
    install_panic_hook();
    match commands::completions::answer_script() {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => {}
        Err(e) => return usage_exit(&e),
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_exit(&e),
    };
    output::init_color(cli.global.color);
    logging::init(cli.global.verbose);
    logging::phase!("command line parsed");
    let printer = Printer::stdio().quiet(cli.global.quiet);
    let document = commands::json::requested(&cli.command);
    // Unknown until the settings are read: a bad `--profile` fails before it is known.
    let mut profile = None;
    let outcome = match cli.command {
        // No settings, credentials or keychain: these work whatever the environment holds.
        Command::Completions(args) => commands::completions::run(&args, &printer),
        Command::Man(args) => commands::man::run(&args, &printer),
        // The child's exit status is ours, whatever it is: not one of `ExitStatus`.
        Command::Exec(args) => {
            let code = Context::from_env(&cli.global)
                .and_then(|ctx| {
                    commands::auth::log_profile_choice(&ctx);
                    commands::exec::run(args, ctx, &printer)
                })
                .unwrap_or_else(|e| {
                    let e = advise_for_this_machine(e);
                    printer.error(&e);
                    e.status.code()
                });
            debug_hooks::at_exit();
            return ExitCode::from(code);
        }
        command @ Command::Auth(_) => Context::from_env(&cli.global).and_then(|ctx| {
            logging::phase!("settings read");
            profile = Some(ctx.profile.to_string());
            commands::auth::log_profile_choice(&ctx);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    CliError::failure(format!("Could not start the async runtime: {e}"))
                })?;
            logging::phase!("async runtime started");
            runtime.block_on(commands::run(command, &ctx, &printer))
        }),
    };
    let status = match outcome {
        Ok(status) => status,
        Err(e) => {
            let e = advise_for_this_machine(e);
            // Every `--json` run that fails prints a document, whatever failed (README.md).
            if let Some(kind) = document {
                printer.json(&commands::json::ErrorDocument::new(
                    kind,
                    profile.as_deref(),
                    &e,
                ));
            }
            printer.error(&e);
            e.status
        }
    };
    let status = printer.finish(status);
    logging::phase!("done");
    debug_hooks::at_exit();
    ExitCode::from(status.code())
}

/// An error about a keychain this machine does not have gets advice for the machine (a CI runner,
/// a container, SSH...). Detected only then: no other error depends on it.
fn advise_for_this_machine(e: CliError) -> CliError {
    if e.absent_keychain {
        e.in_situation(&situation::Situation::here())
    } else {
        e
    }
}

/// Prints clap's message (help, version, or a usage error) with any key in it masked: a usage
/// error quotes the offending argument, which may be a key typed without `--api-key`.
fn usage_exit(e: &clap::Error) -> ExitCode {
    use std::io::Write;
    let text = keys::redact(&e.render().ansi().to_string());
    let _ = if e.use_stderr() {
        write!(anstream::stderr(), "{text}")
    } else {
        write!(anstream::stdout(), "{text}")
    };
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// A crash must never write the process's memory, and the key in it, to a core file: the soft
/// and hard limits are set to 0, so nothing this process starts can raise them again either.
/// (Debuggers that attach, such as gdb's gcore in the memory tests, are not affected.)
fn disable_core_dumps() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let none = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        // Failure leaves the limit as it was; there is nothing better to do about it.
        let _ = setrlimit(Resource::Core, none);
    }
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
