//! `fluxloop auth migrate`: move plaintext keys (legacy `api_key:` or `--storage file`) from the
//! credentials file into the OS keychain. All keychain writes happen first; the file changes only
//! if every one succeeded, so a failure leaves the file exactly as it was.

use secrecy::SecretString;

use super::count;
use crate::cli::MigrateArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::keys;
use crate::output::{Printer, green};
use crate::profiles::{CredentialsFile, DEFAULT_PROFILE};
use crate::secrets::StoreKind;

pub fn run(args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    migrate(args, ctx, p).map_err(CliError::for_store_change)
}

fn migrate(_args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    let backend = ctx.keychain.backend();
    let path = ctx.profiles.path();
    let mut tx = ctx.profiles.lock()?;
    for stale in ctx.profiles.remove_stale_temp_files() {
        p.warn(format!(
            "removed {}, left by an interrupted write; it may have held a plaintext API key",
            stale.display()
        ));
    }

    // Each key to move, and the profile it goes to.
    let mut moves: Vec<(String, SecretString)> = tx
        .file
        .plaintext_keys()
        .into_iter()
        .filter_map(|k| Some((k.profile.clone(), tx.file.profile(&k.profile)?.api_key?)))
        .collect();
    let mut notes = Vec::new();
    if let Some(legacy) = tx.file.shadowed_legacy_key().cloned() {
        // A top-level key of an earlier release beside a `default` profile, which does not read
        // it. Keep it (it may still work) unless `default` already holds the same key.
        let default_key = match moves.iter().find(|(n, _)| n == DEFAULT_PROFILE) {
            Some((_, key)) => Some(key.clone()),
            None => ctx.keychain.get(DEFAULT_PROFILE)?,
        };
        match default_key {
            Some(key) if keys::same(&key, &legacy) => notes.push(format!(
                "The top-level (legacy) key was the key of profile '{DEFAULT_PROFILE}' too: removed from the file"
            )),
            None => moves.push((DEFAULT_PROFILE.to_string(), legacy)),
            Some(_) => {
                let name = free_name(&tx.file, "legacy");
                notes.push(format!(
                    "The top-level (legacy) key differs from the key of profile '{DEFAULT_PROFILE}': saved as profile '{name}'"
                ));
                moves.push((name, legacy));
            }
        }
    }
    if moves.is_empty() && notes.is_empty() {
        drop(tx);
        p.info(format!(
            "No plaintext API keys in {}; nothing to migrate.",
            path.display()
        ));
        return Ok(ExitStatus::Success);
    }

    let untouched = |e| CliError::from(e).detail(format!("{} was left untouched.", path.display()));
    // A migrate killed after some keychain writes left those keys in both places; say so when
    // this run finishes the job. One search, and a lookup only of the keys it found.
    let in_keychain = ctx.keychain.list().map_err(untouched)?;
    let mut already = Vec::new();
    for (name, key) in moves.iter().filter(|(n, _)| in_keychain.contains(n)) {
        if let Some(found) = ctx.keychain.get(name).map_err(untouched)?
            && keys::same(&found, key)
        {
            already.push(name.as_str());
        }
    }
    if !already.is_empty() {
        notes.push(format!(
            "Already in the {backend} (left by an interrupted migrate): {}",
            already.join(", ")
        ));
    }
    for (name, key) in &moves {
        ctx.keychain.set(name, key).map_err(untouched)?;
    }
    for (name, key) in &moves {
        let mut prof = tx
            .file
            .profiles
            .get(name)
            .cloned()
            .or_else(|| tx.file.profile(name))
            .unwrap_or_default();
        if prof.api_url.is_none() {
            prof.api_url = tx.file.api_url.clone();
        }
        if prof.key_hint.is_none() || prof.api_key.is_none() {
            prof.key_hint = Some(keys::mask(key));
        }
        prof.api_key = None;
        prof.storage = Some(StoreKind::Keychain);
        tx.file.profiles.insert(name.clone(), prof);
    }
    tx.file.api_key = None;
    tx.file.api_url = None;
    tx.commit()?;

    let names: Vec<&str> = moves.iter().map(|(n, _)| n.as_str()).collect();
    if !moves.is_empty() {
        p.info(format!(
            "✅ {}",
            green(format!(
                "Moved {} into the {backend}: {}",
                count(moves.len(), "key", "keys"),
                names.join(", ")
            ))
        ));
    } else {
        p.info(format!("✅ {}", green("Removed the plaintext key")));
    }
    for note in notes {
        p.info(format!("   {note}"));
    }
    p.info(format!("   {} no longer holds any API key", path.display()));
    p.info("   Copies in backups, shell history or other files are not touched; if the file was ever shared, rotate the key.");
    Ok(ExitStatus::Success)
}

/// `base`, or `base-2`, `base-3`, … : the first name no profile has.
fn free_name(file: &CredentialsFile, base: &str) -> String {
    let names = file.names();
    (1..)
        .map(|n| {
            if n == 1 {
                base.to_string()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|candidate| !names.contains(candidate))
        .unwrap_or_else(|| base.to_string())
}
