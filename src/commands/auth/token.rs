//! `fluxloop auth token`: the key on stdout, for `FLUXLOOP_API_KEY=$(fluxloop auth token) tool`.
//! The only command that prints a key. No network call.

use chrono::{DateTime, Utc};

use super::{load_profiles, login_command, resolve_key, warn_expiry};
use crate::cli::{TokenArgs, env};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus, KEYS_PAGE};
use crate::output::{self, Printer};
use crate::secrets::KeySource;

pub fn run(args: &TokenArgs, ctx: &Context, p: &Printer) -> CliResult {
    // Refused before the keychain is read: nothing is unlocked for a key that is not printed.
    if p.stdout_is_terminal() && !args.force {
        return Err(refuse_terminal());
    }
    let file = load_profiles(ctx, p)?;
    // Setting FLUXLOOP_API_KEY instead (the keychain errors' advice) would only print it back.
    let resolved = resolve_key(ctx, &file, p).map_err(CliError::for_store_change)?;
    match resolved.source {
        KeySource::Env => tracing::info!(
            "printing the key of {} (it wins over profile '{}', which is not read)",
            env::API_KEY,
            ctx.profile
        ),
        _ => warn_if_expired(ctx, p, resolved.used(ctx).expires),
    }
    p.api_key(&resolved.key);
    Ok(ExitStatus::Success)
}

/// Printed all the same: the metadata may be stale, and the tool that gets the key says what the
/// platform thinks. Warned within 14 days, and once expired.
fn warn_if_expired(ctx: &Context, p: &Printer, expires: Option<DateTime<Utc>>) {
    let now = Utc::now();
    match expires {
        Some(at) if at <= now => p.warn(format!(
            "this API key expired {}, as recorded at login; create a new one at {KEYS_PAGE} and run `{}`",
            output::expiry_text(Some(at), now),
            login_command(ctx)
        )),
        _ => warn_expiry(p, expires),
    }
}

fn refuse_terminal() -> CliError {
    CliError::usage("Refusing to print the API key to a terminal")
        .detail("It would stay in the terminal's scrollback, and in any recording of the session.")
        .hint(format!(
            "Hand it to a program instead: `{}=$(fluxloop auth token) your-command`",
            env::API_KEY
        ))
        .hint("Or pass --force to print it here anyway")
}
