//! Diagnostics on stderr with `-v`/`-vv`/`-vvv` or `RUST_LOG`. Nothing logged carries the key:
//! the Authorization header is marked sensitive and response bodies are never logged.

use tracing_subscriber::EnvFilter;

use crate::cli::env;

pub fn init(verbosity: u8) {
    let filter = match std::env::var(env::RUST_LOG) {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match verbosity {
            0 => "off",
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
