//! Diagnostics on stderr with `-v`/`-vv`/`-vvv` or `RUST_LOG`. Nothing logged carries the key:
//! the Authorization header is marked sensitive and response bodies are never logged.

use std::sync::OnceLock;
use std::time::Instant;

use tracing_subscriber::EnvFilter;

use crate::cli::env;

/// When `run` began: `-vv` tells how far into the command each phase ended (`at_ms`), so where
/// the time goes can be read off one run (docs/benchmarks.md).
static STARTED: OnceLock<Instant> = OnceLock::new();

pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

/// Milliseconds since [`mark_start`], to the hundredth.
pub fn at_ms() -> f64 {
    let micros = STARTED.get().map_or(0, |t| t.elapsed().as_micros());
    (micros / 10) as f64 / 100.0
}

/// Logs the end of one phase of a command at `-vv`, with [`at_ms`].
macro_rules! phase {
    ($what:literal) => {
        tracing::debug!(at_ms = $crate::logging::at_ms(), concat!("phase: ", $what))
    };
}
pub(crate) use phase;

pub fn init(verbosity: u8) {
    let filter = match std::env::var(env::RUST_LOG) {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        // Quiet runs install no subscriber: nothing would pass the filter anyway.
        _ if verbosity == 0 => return,
        _ => EnvFilter::new(match verbosity {
            1 => "fluxloop=info",
            2 => "fluxloop=debug",
            _ => "fluxloop=trace,reqwest=debug,hyper_util=debug,rustls=debug",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never)
        .try_init();
}
