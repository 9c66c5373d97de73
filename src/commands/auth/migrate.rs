//! `fluxloop auth migrate`: with no `--to` (or `--to keychain` and no profile chosen), move
//! plaintext keys (legacy `api_key:` or `--storage file`) from the credentials file into the OS
//! keychain. All keychain writes happen first; the file changes only if every one succeeded, so a
//! failure leaves the file exactly as it was. `--to STORE` moves the keys of chosen profiles
//! between any two stores ([`migrate_to`]).

use secrecy::SecretString;

use super::count;
use crate::cli::MigrateArgs;
use crate::context::Context;
use crate::context::ProfileOrigin;
use crate::error::{CliError, CliResult, ErrorCode, ExitStatus};
use crate::keys;
use crate::output::{Printer, green};
use crate::profiles::{CredentialsFile, DEFAULT_PROFILE};
use crate::secrets::SecretStore as _;
use crate::secrets::StoreKind;

pub fn run(args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    migrate(args, ctx, p).map_err(CliError::for_store_change)
}

fn migrate(args: &MigrateArgs, ctx: &Context, p: &Printer) -> CliResult {
    if args.all && ctx.profile_origin == ProfileOrigin::Flag {
        return Err(CliError::usage(
            "--all moves every profile; it takes no --profile",
        ));
    }
    let chosen = args.all || matches!(ctx.profile_origin, ProfileOrigin::Flag | ProfileOrigin::Env);
    match args.to.or(ctx.storage) {
        Some(StoreKind::Keychain) | None if !chosen => {
            plaintext_into_keychain(args.dry_run, ctx, p)
        }
        to => migrate_to(
            to.unwrap_or(StoreKind::Keychain),
            args.all,
            args.dry_run,
            ctx,
            p,
        ),
    }
}

fn plaintext_into_keychain(dry_run: bool, ctx: &Context, p: &Printer) -> CliResult {
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

    if dry_run {
        drop(tx);
        for (name, _) in &moves {
            p.info(format!(
                "Would move the plaintext key of profile '{name}' into the {backend}"
            ));
        }
        for note in notes {
            p.info(format!("   {note}"));
        }
        p.info("Nothing was changed (--dry-run).");
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

/// `migrate --to STORE [--profile P | --all] [--dry-run]`: moves keys between any two stores.
/// Under the lock: every key is read from its source, written to the destination and read back
/// and compared; only then does the metadata change (one commit), and only then are the sources
/// emptied. A failure before the commit undoes the writes to the destination, so every source is
/// as it was.
fn migrate_to(to: StoreKind, all: bool, dry_run: bool, ctx: &Context, p: &Printer) -> CliResult {
    let mut tx = ctx.profiles.lock()?;
    let names: Vec<String> = if all {
        tx.file.names()
    } else {
        vec![ctx.profile.as_str().to_string()]
    };
    if !all && tx.file.profile(ctx.profile.as_str()).is_none() {
        drop(tx);
        return Err(CliError::new(
            ExitStatus::Auth,
            ErrorCode::NotLoggedIn,
            format!(
                "Not logged in (profile '{}'); nothing to migrate",
                ctx.profile
            ),
        )
        .hint(format!("Run `{}` first", super::login_command(ctx))));
    }
    // (profile, where its key is now)
    let mut moves: Vec<(String, StoreKind)> = Vec::new();
    for name in &names {
        let Some(profile) = tx.file.profile(name) else {
            continue;
        };
        let from = profile.store();
        if from == to {
            p.info(format!(
                "Profile '{name}' already keeps its key in the {}.",
                store_name(ctx, to)
            ));
            if !dry_run {
                remove_leftovers(ctx, name, to, p);
            }
        } else {
            moves.push((name.clone(), from));
        }
    }
    if moves.is_empty() {
        return Ok(ExitStatus::Success);
    }
    if dry_run {
        drop(tx);
        for (name, from) in &moves {
            p.info(format!(
                "Would move the key of profile '{name}' from the {} to the {}",
                store_name(ctx, *from),
                store_name(ctx, to)
            ));
        }
        p.info("Nothing was changed (--dry-run).");
        return Ok(ExitStatus::Success);
    }
    if let Some(dest) = ctx.store(to) {
        dest.check_ready()?;
    }

    // Read every key first: a source that cannot be read stops the move before anything changes.
    let mut keys: Vec<SecretString> = Vec::new();
    for (name, from) in &moves {
        let profile = tx.file.profile(name);
        let key = match ctx.store(*from) {
            None => profile.and_then(|pr| pr.api_key),
            Some(source) => source.get(name)?,
        };
        let Some(key) = key else {
            return Err(CliError::new(
                ExitStatus::Auth,
                ErrorCode::NotLoggedIn,
                format!(
                    "The key of profile '{name}' is not in the {}; nothing was moved",
                    store_name(ctx, *from)
                ),
            )
            .hint(format!(
                "Log in again: `fluxloop auth login --profile {name} --storage {}`",
                to.id()
            )));
        };
        keys.push(key);
    }

    // Write and read back; on any failure, put the destination back as it was.
    let mut written: Vec<(String, Option<SecretString>)> = Vec::new();
    let undo = |written: &[(String, Option<SecretString>)]| {
        let Some(dest) = ctx.store(to) else { return };
        for (name, previous) in written {
            let _ = match previous {
                Some(old) => dest.set(name, old),
                None => dest.delete(name).map(|_| ()),
            };
        }
    };
    if let Some(dest) = ctx.store(to) {
        for ((name, _), key) in moves.iter().zip(&keys) {
            let step = (|| {
                let previous = dest.get(name)?;
                if previous.is_some() {
                    p.warn(format!(
                        "the {} held a key for profile '{name}' that its metadata did not record (left by an interrupted migrate, or stored outside fluxloop); it is replaced now",
                        store_name(ctx, to)
                    ));
                }
                written.push((name.clone(), previous));
                dest.set(name, key)?;
                dest.get(name)
            })();
            let unchanged = "Every source is as it was; nothing was moved.";
            match step {
                Ok(Some(back)) if keys::same(&back, key) => {}
                Ok(_) => {
                    undo(&written);
                    return Err(CliError::failure(format!(
                        "The {} did not give back the key of profile '{name}' that was written to it",
                        store_name(ctx, to)
                    ))
                    .detail(unchanged));
                }
                Err(e) => {
                    undo(&written);
                    return Err(CliError::from(e).detail(unchanged));
                }
            }
        }
    }

    for ((name, _), key) in moves.iter().zip(&keys) {
        let mut profile = tx.file.profile(name).unwrap_or_default();
        if profile.api_url.is_none() {
            profile.api_url = tx.file.api_url.clone();
        }
        profile.key_hint = Some(keys::mask(key));
        profile.api_key = (to == StoreKind::File).then(|| key.clone());
        profile.storage = Some(to);
        tx.file.insert(name, profile);
    }
    if let Err(e) = tx.commit() {
        undo(&written);
        return Err(CliError::from(e).detail("Every source is as it was; nothing was moved."));
    }

    // The metadata now points at the destination: a copy left in a source is only a leftover.
    let mut leftovers = Vec::new();
    for (name, from) in &moves {
        if let Some(source) = ctx.store(*from)
            && let Err(e) = source.delete(name)
        {
            leftovers.push((name.clone(), *from, e));
        }
        if *from == StoreKind::EncryptedFile {
            let _ = ctx.unlock_cache.delete(name);
        }
    }
    let names: Vec<&str> = moves.iter().map(|(n, _)| n.as_str()).collect();
    p.info(format!(
        "✅ {}",
        green(format!(
            "Moved {} to the {}: {}",
            count(moves.len(), "key", "keys"),
            store_name(ctx, to),
            names.join(", ")
        ))
    ));
    for (name, from) in &moves {
        p.info(format!(
            "   {name}: {} → {}",
            store_name(ctx, *from),
            store_name(ctx, to)
        ));
    }
    for (name, from, e) in leftovers {
        p.warn(format!(
            "the old copy of profile '{name}''s key is still in the {} ({}); the profile no longer uses it",
            store_name(ctx, from),
            e.kind
        ));
    }
    if to == StoreKind::File {
        p.warn(format!(
            "anyone who can read {} can use {}",
            ctx.profiles.path().display(),
            if moves.len() == 1 {
                "this key"
            } else {
                "these keys"
            }
        ));
    }
    Ok(ExitStatus::Success)
}

/// A copy of the profile's key in a store its metadata does not name is a leftover of a migrate
/// killed after its commit: removed (best effort: an unreachable store holds nothing we can
/// reach), and said.
fn remove_leftovers(ctx: &Context, name: &str, kept_in: StoreKind, p: &Printer) {
    for kind in [
        StoreKind::Keychain,
        StoreKind::Keyutils,
        StoreKind::EncryptedFile,
    ] {
        if kind == kept_in {
            continue;
        }
        if let Some(store) = ctx.store(kind)
            && store.delete(name).unwrap_or(false)
        {
            p.warn(format!(
                "removed a leftover copy of profile '{name}''s key from the {} (left by an interrupted migrate)",
                store_name(ctx, kind)
            ));
        }
    }
}

/// A store as messages name it.
fn store_name(ctx: &Context, kind: StoreKind) -> String {
    match kind {
        StoreKind::Keychain => ctx.keychain.backend().to_string(),
        StoreKind::Keyutils => "kernel keyring".to_string(),
        StoreKind::EncryptedFile => format!(
            "encrypted files in {}",
            ctx.encrypted_file_store.dir().display()
        ),
        StoreKind::File => format!("plaintext file {}", ctx.profiles.path().display()),
    }
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
