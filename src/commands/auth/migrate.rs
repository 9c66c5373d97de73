//! `fluxloop auth migrate`: move plaintext keys (legacy `api_key:` or `--storage file`) from the
//! credentials file into the OS keychain. All keychain writes happen first; the file changes only
//! if every one succeeded, so a failure leaves the file exactly as it was.

use super::count;
use crate::cli::MigrateArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::keys;
use crate::output::{Printer, green};
use crate::secrets::StoreKind;

pub fn run(_args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    let backend = ctx.keychain.backend();
    let mut tx = ctx.profiles.lock()?;
    let pending: Vec<String> = tx
        .file
        .plaintext_keys()
        .into_iter()
        .map(|k| k.profile)
        .collect();
    if pending.is_empty() {
        drop(tx);
        p.info(format!(
            "No plaintext API keys in {}; nothing to migrate.",
            ctx.profiles.path().display()
        ));
        return Ok(ExitStatus::Success);
    }
    for name in &pending {
        let Some(key) = tx.file.profile(name).and_then(|pr| pr.api_key) else {
            continue;
        };
        ctx.keychain.set(name, &key).map_err(|e| {
            CliError::from(e).detail(format!(
                "{} was left untouched.",
                ctx.profiles.path().display()
            ))
        })?;
    }
    for name in &pending {
        let mut prof = tx.file.profile(name).unwrap_or_default();
        if prof.key_hint.is_none() {
            prof.key_hint = prof.api_key.as_ref().map(keys::mask);
        }
        prof.api_key = None;
        prof.storage = Some(StoreKind::Keychain);
        tx.file.insert(name, prof);
    }
    tx.commit()?;
    p.info(format!(
        "✅ {}",
        green(format!(
            "Moved {} into the {backend}: {}",
            count(pending.len(), "key", "keys"),
            pending.join(", ")
        ))
    ));
    p.info(format!(
        "   {} no longer holds any API key",
        ctx.profiles.path().display()
    ));
    p.info("   Copies in backups, shell history or other files are not touched; if the file was ever shared, rotate the key.");
    Ok(ExitStatus::Success)
}
