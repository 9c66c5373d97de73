//! `fluxloop auth migrate`: move plaintext keys (legacy `api_key:` or `--storage file`) from the
//! credentials file into the OS keychain. All keychain writes happen first; the file changes only
//! if every one succeeded, so a failure leaves the file exactly as it was.

use crate::cli::MigrateArgs;
use crate::commands::errors;
use crate::context::Context;
use crate::error::{CliResult, ExitStatus};
use crate::keys;
use crate::output::{Printer, green};
use crate::profiles::{Profile, Storage};

pub fn run(_args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    let backend = ctx.secrets.backend();
    let (result, _) = ctx
        .profiles
        .update(|file| {
            let pending = file.plaintext_profiles();
            if pending.is_empty() {
                return (Ok(Vec::new()), false);
            }
            for (name, _) in &pending {
                let key = file.profile(name).and_then(|pr| pr.api_key);
                let Some(key) = key else { continue };
                if let Err(e) = ctx.secrets.set(name, &key) {
                    let err = errors::keychain_error(e, backend).detail(format!(
                        "{} was left untouched.",
                        ctx.profiles.path().display()
                    ));
                    return (Err(err), false);
                }
            }
            for (name, _) in &pending {
                let mut prof = file.profile(name).unwrap_or_default();
                if prof.key_hint.is_none() {
                    prof.key_hint = prof.api_key.as_ref().map(keys::mask);
                }
                prof.api_key = None;
                prof.storage = Some(Storage::Keychain);
                if name == crate::cli::DEFAULT_PROFILE && file.api_key.is_some() {
                    if prof.api_url.is_none() {
                        prof.api_url = file.api_url.take();
                    }
                    file.api_key = None;
                    file.api_url = None;
                }
                file.profiles.insert(name.clone(), Profile { ..prof });
            }
            (
                Ok(pending.into_iter().map(|(n, _)| n).collect::<Vec<_>>()),
                true,
            )
        })
        .map_err(errors::profile_error)?;
    let moved = result?;
    if moved.is_empty() {
        p.info(format!(
            "No plaintext API keys in {}; nothing to migrate.",
            ctx.profiles.path().display()
        ));
        return Ok(ExitStatus::Success);
    }
    p.info(format!(
        "✅ {}",
        green(format!(
            "Moved {} key(s) into the {backend}: {}",
            moved.len(),
            moved.join(", ")
        ))
    ));
    p.info(format!(
        "   {} no longer holds any API key",
        ctx.profiles.path().display()
    ));
    p.info("   Copies in backups, shell history or other files are not touched; if the file was ever shared, rotate the key.");
    Ok(ExitStatus::Success)
}
