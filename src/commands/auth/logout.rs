//! `fluxloop auth logout`: remove a profile's key and metadata, or everything of ours with `--all`.

use secrecy::SecretString;

use super::{count, load_profiles, stored_key};
use crate::api::Revocation;
use crate::cli::{LogoutArgs, env};
use crate::context::{Context, ProfileOrigin};
use crate::error::{CliError, CliResult, ExitStatus, KEYS_PAGE, KeyUsed};
use crate::keys;
use crate::output::{Printer, green};
use crate::profiles::{CredentialsFile, Profile, ProfileTx};
use crate::secrets::SecretStore as _;
use crate::secrets::{Backend, KeySource, Provider, Purge, StoreError, StoreKind};

pub async fn run(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    if args.all && ctx.profile_origin == ProfileOrigin::Flag {
        return Err(
            CliError::usage("--all removes every profile; it takes no --profile").hint(format!(
                "Run `fluxloop auth logout --profile {}` to log out of that profile only",
                ctx.profile
            )),
        );
    }
    // Loaded once outside the lock for its warnings (permissions fixed, plaintext keys); the
    // decisions below are made on the file as read under the lock.
    load_profiles(ctx, p)?;
    let status = if args.all {
        logout_all(args, ctx, p).await
    } else {
        logout_one(args, ctx, p).await
    }
    .map_err(CliError::for_store_change)?;
    if ctx.env_key.is_some() {
        p.warn(format!(
            "{} is still set in this environment and keeps authenticating fluxloop; unset it too",
            env::API_KEY
        ));
    }
    Ok(status)
}

/// Read, revoke and delete under one lock, so a login racing this logout cannot have its new
/// key deleted unrevoked, nor its metadata removed.
async fn logout_one(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    let name = ctx.profile.as_str();
    let mut tx = ctx.profiles.lock()?;
    let profile = tx.file.profile(name);
    // A profile whose key is in the file may live on a machine without a keychain: an
    // unreachable keychain cannot hold its key, so it does not block the logout.
    let in_file = profile
        .as_ref()
        .is_some_and(|pr| pr.store() == StoreKind::File);
    let in_encrypted_file = profile
        .as_ref()
        .is_some_and(|pr| pr.store() == StoreKind::EncryptedFile);
    let store = match profile.as_ref().map(Profile::store) {
        Some(kind @ (StoreKind::Keyutils | StoreKind::EncryptedFile)) => {
            ctx.store(kind).unwrap_or(&ctx.keychain)
        }
        _ => &ctx.keychain,
    };
    let backend = store.backend();

    let mut revoked = None;
    if args.revoke {
        match stored_key(ctx, name, profile.as_ref())? {
            Some((key, source)) => {
                // The retry hint names the profile the way the user did.
                let scope = if ctx.profile_origin == ProfileOrigin::Flag {
                    format!(" --profile {name}")
                } else {
                    String::new()
                };
                revoked = Some(revoke(ctx, &key, source, profile.as_ref(), name, &scope, p).await?);
            }
            None => p.info(format!(
                "No saved key for profile '{name}'; nothing to revoke."
            )),
        }
    }

    let removed_key = match store.delete(name) {
        // Secret Service reports a locked or missing collection as "no entry"; say that
        // rather than "not logged in" when the key would have been in the keychain.
        Ok(false) if !in_file => {
            store.confirm_absent()?;
            false
        }
        Ok(removed) => removed,
        Err(e) if in_file && e.kind.is_absent() => false,
        Err(e) => return Err(e.into()),
    };
    // A name without metadata may be an orphan of the kernel keyring or a key file (`list
    // --check` names them): those go too, best effort.
    let mut removed_elsewhere = Vec::new();
    if profile.is_none() {
        for other in [&ctx.kernel_keyring, &ctx.encrypted_files] {
            if other.delete(name).unwrap_or(false) {
                removed_elsewhere.push(other.backend());
            }
        }
    }
    // The opened copy of an encrypted file's key (`login --cache`) goes with it.
    let dropped_cache = in_encrypted_file && ctx.unlock_cache.delete(name).unwrap_or(false);
    let removed_meta = tx.file.remove(name);
    if removed_meta && !removed_key && !in_file {
        p.warn(format!(
            "the key of profile '{name}' was already gone from the {backend} (removed by an interrupted logout, or outside fluxloop)"
        ));
    }
    // A profile that is gone must not stay chosen: the next command would say "not logged in"
    // instead of falling back to the next rule.
    let (was_default, unbound) = tx.file.forget_choices_of(name);
    if removed_meta || was_default || !unbound.is_empty() {
        // The key goes first: a profile listed without its key is harmless, a key left in the
        // keychain unlisted is not. The next logout finishes the job, and says so.
        tx.commit().map_err(|e| {
            let err = CliError::from(e);
            if removed_key {
                err.detail(format!(
                    "The key was removed from the {backend}, but the profile's metadata could not be: run the command again once the file can be written."
                ))
            } else {
                err
            }
        })?;
    } else {
        drop(tx);
    }

    if !removed_key && !removed_meta && removed_elsewhere.is_empty() {
        p.info(format!(
            "Not logged in to profile '{name}'; nothing to remove."
        ));
        forgotten_choices_note(name, was_default, &unbound, "", p);
        return Ok(ExitStatus::Success);
    }
    p.info(format!(
        "✅ {}",
        green(format!("Logged out of profile '{name}'"))
    ));
    if removed_key {
        p.info(format!("   Removed the API key from the {backend}"));
        if dropped_cache {
            p.info("   Removed its unlocked copy from the kernel keyring");
        }
        if std::ptr::eq(store, &ctx.keychain) {
            kept_by_provider_note(1, ctx, p);
        }
    }
    for other in &removed_elsewhere {
        p.info(format!(
            "   Removed the API key from the {other} (it had no profile metadata)"
        ));
    }
    if removed_meta {
        let what = if in_file {
            "the plaintext key and metadata"
        } else {
            "profile metadata"
        };
        p.info(format!(
            "   Removed {what} from {}",
            ctx.profiles.path().display()
        ));
    }
    forgotten_choices_note(name, was_default, &unbound, "   ", p);
    revocation_note(args.revoke, revoked.as_ref(), profile.as_ref(), false, p);
    Ok(ExitStatus::Success)
}

async fn logout_all(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    let backend = ctx.keychain.backend();
    let mut tx = ctx.profiles.lock()?;
    let names = tx.file.names();
    // An unreachable keychain is not an empty one: it may hold entries whose metadata was
    // lost. Only profiles whose keys are all in the file are logged out without it, and the
    // summary says the keychain was not checked; with no such profile there is nothing this
    // run could honestly remove, so it fails with the keychain's error.
    let (in_keychain, unchecked) = match ctx.keychain.list() {
        Ok(found) => (found, None),
        Err(e)
            if e.kind.is_absent()
                && !names.is_empty()
                && names.iter().all(|n| {
                    tx.file
                        .profile(n)
                        .is_some_and(|pr| pr.store() != StoreKind::Keychain)
                }) =>
        {
            (Vec::new(), Some(e))
        }
        Err(e) if e.kind.is_absent() && names.is_empty() => {
            return Err(CliError::from(e).keychain_not_searched());
        }
        Err(e) => return Err(e.into()),
    };
    // The kernel keyring likewise: where keyctl is blocked, or off Linux, it holds nothing this
    // run could reach, and is named only when a profile said its key was there.
    let uses_kernel = names
        .iter()
        .any(|n| tx.file.profile(n).map(|pr| pr.store()) == Some(StoreKind::Keyutils));
    let (in_kernel, kernel_unchecked) = match ctx.kernel_keyring.list() {
        Ok(found) => (found, None),
        Err(e) if e.kind.is_absent() => (Vec::new(), uses_kernel.then_some(e)),
        Err(e) => return Err(e.into()),
    };
    // The encrypted files are found without their passphrase: listing and deleting need none.
    let uses_files = names
        .iter()
        .any(|n| tx.file.profile(n).map(|pr| pr.store()) == Some(StoreKind::EncryptedFile));
    // Listed from the folder directly: a local read, not one of the keychain's steps.
    let in_files = ctx.encrypted_file_store.list().map_err(|kind| StoreError {
        backend: Backend::EncryptedFile,
        provider: None,
        kind,
    })?;
    let file_orphans: Vec<&String> = in_files.iter().filter(|n| !names.contains(n)).collect();
    let orphans: Vec<&String> = in_keychain.iter().filter(|n| !names.contains(n)).collect();
    let kernel_orphans: Vec<&String> = in_kernel.iter().filter(|n| !names.contains(n)).collect();
    if unchecked.is_none() {
        // Listed with their key in the keychain, but it is not there.
        let keyless: Vec<&str> = names
            .iter()
            .filter(|n| {
                !in_keychain.contains(n)
                    && tx
                        .file
                        .profile(n)
                        .is_some_and(|pr| pr.store() == StoreKind::Keychain)
            })
            .map(String::as_str)
            .collect();
        if !keyless.is_empty() {
            p.warn(format!(
                "the {} of {} already gone from the {backend} (removed by an interrupted logout, or outside fluxloop): {}",
                if keyless.len() == 1 { "key" } else { "keys" },
                count(keyless.len(), "profile was", "profiles were"),
                keyless.join(", ")
            ));
        }
    }

    let (mut revoked, mut refused, mut refused_count) = (0, None, 0);
    if args.revoke {
        // Every key this run deletes is revoked first: the profiles' keys, then the keys no
        // profile has (keychain entries, kernel keys, key files), found by the listings. An
        // orphan has no saved URL, so it is revoked where the orphans of every store are: at
        // --api-url, FLUXLOOP_API_URL or the default. A key file is opened with the passphrase,
        // as a profile's is.
        let mut to_revoke: Vec<(&String, Option<StoreKind>)> =
            names.iter().map(|n| (n, None)).collect();
        to_revoke.extend(orphans.iter().map(|n| (*n, Some(StoreKind::Keychain))));
        to_revoke.extend(
            kernel_orphans
                .iter()
                .map(|n| (*n, Some(StoreKind::Keyutils))),
        );
        to_revoke.extend(
            file_orphans
                .iter()
                .map(|n| (*n, Some(StoreKind::EncryptedFile))),
        );
        // Every key is read before any is revoked: one that cannot be read (a key file without
        // its passphrase) stops the logout with nothing revoked and nothing removed. One key
        // found twice (an interrupted migrate left it in two stores) is revoked once.
        let mut found: Vec<(&String, Option<Profile>, SecretString, KeySource)> = Vec::new();
        for (name, orphan_in) in to_revoke {
            let prof = tx.file.profile(name);
            let key = match orphan_in {
                None => {
                    // Only names the keychain listed are looked up there: the others have no
                    // entry.
                    let elsewhere = prof
                        .as_ref()
                        .is_some_and(|pr| pr.store() != StoreKind::Keychain);
                    if elsewhere || in_keychain.contains(name) {
                        stored_key(ctx, name, prof.as_ref())?
                    } else {
                        None
                    }
                }
                Some(kind) => {
                    let read = ctx.store(kind).map(|store| store.get(name)).transpose();
                    read.map_err(|e| {
                        CliError::from(e)
                            .context(format!(
                                "Could not read the key of '{name}' (no profile has it) to revoke it"
                            ))
                            .detail("Nothing was revoked and nothing was removed.")
                            .hint(
                                "Run `fluxloop auth logout --all` without --revoke to remove it unrevoked",
                            )
                    })?
                    .flatten()
                    .map(|key| (key, KeySource::Store(kind)))
                }
            };
            if let Some((key, source)) = key
                && !found.iter().any(|(_, _, k, _)| keys::same(k, &key))
            {
                found.push((name, prof, key, source));
            }
        }
        for (name, prof, key, source) in &found {
            match revoke(ctx, key, *source, prof.as_ref(), name, " --all", p).await? {
                Outcome::Revoked => revoked += 1,
                not_accepted => {
                    refused = Some(not_accepted);
                    refused_count += 1;
                }
            }
        }
        p.info(format!(
            "Revoked {} on the platform.",
            count(revoked, "key", "keys")
        ));
        if refused_count > 0 && revoked > 0 {
            p.info(format!(
                "{} not accepted by the platform (already invalid there, or of another environment): nothing was revoked for {}.",
                count(refused_count, "key was", "keys were"),
                if refused_count == 1 { "it" } else { "them" }
            ));
        }
    }

    // The kernel keyring and the files first: they answer at once, and a keychain that dies
    // part way must not leave their copies behind.
    let kernel_deleted = if kernel_unchecked.is_none() && !in_kernel.is_empty() {
        ctx.kernel_keyring.delete_all()?.removed
    } else {
        0
    };
    let files_deleted = if in_files.is_empty() {
        0
    } else {
        ctx.encrypted_files.delete_all()?.removed
    };
    // Their opened copies (`login --cache`); a kernel keyring that cannot be reached has none.
    let unlocked_dropped = ctx
        .unlock_cache
        .delete_all()
        .map(|purge| purge.removed)
        .unwrap_or(0);
    let purge = if unchecked.is_some() {
        Purge {
            removed: 0,
            left_foreign: 0,
        }
    } else {
        let (purge, back) = delete_one_by_one(ctx, &in_keychain, tx)?;
        tx = back;
        purge
    };
    let deleted = purge.removed;
    // No file, or an empty one, has nothing to clear: say so only when it had something.
    // Choices left naming profiles that are gone are cleared too.
    let was_default = tx.file.current_profile.clone();
    let unbound: Vec<String> = tx.file.directories.keys().cloned().collect();
    let clears_file =
        !tx.file.is_empty() || was_default.is_some() || !tx.file.directories.is_empty();
    if clears_file {
        tx.file = CredentialsFile::default();
        tx.commit().map_err(|e| {
            let err = CliError::from(e);
            if deleted > 0 {
                err.detail(format!(
                    "Removed {} from the {backend}, but the file could not be cleared: run `fluxloop auth logout --all` again once it can be written.",
                    count(deleted, "entry", "entries")
                ))
            } else {
                err
            }
        })?;
    } else {
        drop(tx);
    }

    if names.is_empty() && deleted == 0 && kernel_deleted == 0 && files_deleted == 0 {
        p.info("Not logged in to any profile; nothing to remove.");
        foreign_note(purge.left_foreign, "", ctx, p);
        if let Some(name) = &was_default {
            forgotten_choices_note(name, true, &[], "", p);
        }
        bindings_note(&unbound, "", p);
        return Ok(ExitStatus::Success);
    }
    let list = if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    };
    p.info(format!(
        "✅ {}",
        green(format!("Logged out of all profiles{list}"))
    ));
    if let Some(e) = &unchecked {
        p.info(format!(
            "   Did not check the {backend}, so any fluxloop entries in it are still there: {}",
            e.kind
        ));
    } else {
        let orphan_note = match orphans.len() {
            0 => String::new(),
            1 => " (1 had no profile metadata)".to_string(),
            n => format!(" ({n} had no profile metadata)"),
        };
        p.info(format!(
            "   Removed {} from the {backend}{orphan_note}",
            count(deleted, "entry", "entries")
        ));
        if deleted > 0 {
            kept_by_provider_note(deleted, ctx, p);
        }
    }
    if let Some(e) = &kernel_unchecked {
        p.info(format!(
            "   Did not check the kernel keyring, so any fluxloop keys in it are still there: {}",
            e.kind
        ));
    } else if uses_kernel || kernel_deleted > 0 {
        let orphan_note = match kernel_orphans.len() {
            0 => String::new(),
            1 => " (1 had no profile metadata)".to_string(),
            n => format!(" ({n} had no profile metadata)"),
        };
        p.info(format!(
            "   Removed {} from the kernel keyring{orphan_note}",
            count(kernel_deleted, "key", "keys")
        ));
    }
    if uses_files || files_deleted > 0 {
        let orphan_note = match file_orphans.len() {
            0 => String::new(),
            1 => " (1 had no profile metadata)".to_string(),
            n => format!(" ({n} had no profile metadata)"),
        };
        p.info(format!(
            "   Removed {} from {}{orphan_note}",
            count(files_deleted, "encrypted key file", "encrypted key files"),
            ctx.encrypted_file_store.dir().display()
        ));
    }
    if unlocked_dropped > 0 {
        p.info(format!(
            "   Removed {} from the kernel keyring (login --cache)",
            count(unlocked_dropped, "unlocked key", "unlocked keys")
        ));
    }
    foreign_note(purge.left_foreign, "   ", ctx, p);
    if clears_file {
        p.info(format!("   Cleared {}", ctx.profiles.path().display()));
    }
    if let Some(name) = &was_default {
        forgotten_choices_note(name, true, &[], "   ", p);
    }
    bindings_note(&unbound, "   ", p);
    let outcome = if revoked > 0 {
        Some(Outcome::Revoked)
    } else {
        refused
    };
    // Keys without a profile count too: three keys revoked for one profile are "keys".
    let plural = names.len() > 1 || revoked + refused_count > 1;
    revocation_note(args.revoke, outcome.as_ref(), None, plural, p);
    Ok(ExitStatus::Success)
}

/// Says which choices of a removed profile were forgotten (`forget_choices_of`).
fn forgotten_choices_note(
    name: &str,
    was_default: bool,
    unbound: &[String],
    indent: &str,
    p: &Printer,
) {
    if was_default {
        p.info(format!(
            "{indent}'{name}' is no longer the default profile set by `fluxloop auth switch`; the default is 'default' again"
        ));
    }
    bindings_note(unbound, indent, p);
}

/// Names the directories that were bound to a removed profile and are no longer.
fn bindings_note(unbound: &[String], indent: &str, p: &Printer) {
    if unbound.is_empty() {
        return;
    }
    let dirs: Vec<String> = unbound
        .iter()
        .map(|dir| super::home_relative(std::path::Path::new(dir)))
        .collect();
    p.info(format!(
        "{indent}{} {} no longer bound to a profile",
        dirs.join(", "),
        if dirs.len() == 1 { "is" } else { "are" }
    ));
}

/// Deletes the keychain entries of `listed` (`delete_each`: in batches on gnome-keyring, else
/// one at a time), then whatever else of ours is there (counting the entries of other programs,
/// which stay). When the keychain fails part way (its
/// daemon killed, or stopped: each call is bounded), the profiles whose keys are gone lose their
/// metadata too, so each profile is wholly there or wholly gone, and the error says which went
/// and which remain; running the command again finishes the job.
fn delete_one_by_one<'a>(
    ctx: &'a Context,
    listed: &[String],
    mut tx: ProfileTx<'a>,
) -> CliResult<(Purge, ProfileTx<'a>)> {
    let mut removed: Vec<String> = Vec::new();
    let failure = ctx
        .keychain
        .delete_each(listed, &mut |name| removed.push(name.to_string()))
        .and_then(|()| ctx.keychain.delete_all());
    let e = match failure {
        Ok(rest) => {
            let purge = Purge {
                removed: removed.len() + rest.removed,
                left_foreign: rest.left_foreign,
            };
            return Ok((purge, tx));
        }
        Err(e) => e,
    };
    let backend = ctx.keychain.backend();
    for name in &removed {
        tx.file.remove(name);
    }
    let remaining = tx.file.names();
    let mut err = CliError::from(e);
    if !removed.is_empty() {
        let saved = tx.commit();
        err = err.detail(format!(
            "Removed from the {backend}: {} ({}).",
            count(removed.len(), "profile", "profiles"),
            removed.join(", ")
        ));
        if let Err(file_error) = saved {
            err = err.detail(format!(
                "Their metadata could not be removed: {file_error}."
            ));
        }
    }
    Err(err
        .detail(if remaining.is_empty() {
            "No profile remains; some keychain entries may.".to_string()
        } else {
            format!(
                "Still logged in: {} ({}).",
                count(remaining.len(), "profile", "profiles"),
                remaining.join(", ")
            )
        })
        .hint("Run `fluxloop auth logout --all` again once the keychain answers, to finish"))
}

/// A provider that keeps what was deleted: KeePassXC moves a deleted entry to its Recycle Bin
/// (on by default) with its history of earlier values, so the key is still in the database
/// file, and no Secret Service client can prevent it. Say where it went and how to remove it.
fn kept_by_provider_note(deleted: usize, ctx: &Context, p: &Printer) {
    if ctx.keychain.provider() != Some(Provider::KeePassXC) {
        return;
    }
    let (keys, are, them) = if deleted == 1 {
        ("key", "is", "it")
    } else {
        ("keys", "are", "them")
    };
    p.info(format!(
        "   KeePassXC keeps deleted entries in its Recycle Bin, and earlier values in each \
         entry's history: the {keys} {are} still in the database file."
    ));
    p.info(format!(
        "   To remove {them} for good, in KeePassXC: right-click the Recycle Bin group > Empty \
         Recycle Bin (its entries go with their history), then save the database."
    ));
}

/// Names what `logout --all` found under our service name and left: entries another program
/// stored there, which are not ours to delete.
fn foreign_note(left: usize, indent: &str, ctx: &Context, p: &Printer) {
    if left == 0 {
        return;
    }
    p.info(format!(
        "{indent}Left {} under service {} that fluxloop did not create",
        count(left, "entry", "entries"),
        ctx.keychain.service()
    ));
}

/// What `--revoke` achieved for one key.
enum Outcome {
    Revoked,
    /// The platform at this URL does not accept the key: nothing was revoked.
    NotAccepted(url::Url),
}

/// Revokes on the platform where the key was validated at login (the URL saved with its
/// profile), since a key of one environment means nothing to another. On any failure other than
/// "not accepted here", stops the logout so the local copy stays and the user can retry. `scope`
/// is what selects the profiles on the command line (` --all`, ` --profile work`, or nothing),
/// for the retry hint.
#[allow(clippy::too_many_arguments)]
async fn revoke(
    ctx: &Context,
    key: &SecretString,
    source: KeySource,
    profile: Option<&Profile>,
    name: &str,
    scope: &str,
    p: &Printer,
) -> CliResult<Outcome> {
    let saved = profile.and_then(|pr| pr.api_url.as_deref());
    let base = match (saved, &ctx.api_url_override) {
        (Some(saved), over) => {
            let url = crate::api::parse_base_url(saved)?;
            if let Some(over) = over.as_ref().filter(|o| o.as_str() != url.as_str()) {
                p.warn(format!(
                    "revoking the key of profile '{name}' at {}, where it was validated at login, not at {}",
                    url.as_str().trim_end_matches('/'),
                    over.as_str().trim_end_matches('/')
                ));
            }
            url
        }
        (None, _) => ctx.api_url(None)?,
    };
    let client = ctx.client(base.clone())?;
    match p
        .while_waiting("Revoking the key on FluxLoop…", client.revoke_key(key))
        .await
    {
        Ok(Revocation::Revoked) => Ok(Outcome::Revoked),
        Ok(Revocation::NotAccepted) => Ok(Outcome::NotAccepted(base)),
        Err(e) => {
            let used = KeyUsed {
                source,
                profile: name,
                expires: None,
            };
            Err(CliError::for_key(e, &used)
                .context(format!("Could not revoke the key of profile '{name}'"))
                .detail("Nothing was removed: the key is still saved on this machine and still valid.")
                .hint(format!("Retry `fluxloop auth logout{scope} --revoke`, or revoke the key in the dashboard and run `fluxloop auth logout{scope}`")))
        }
    }
}

/// Says whether the key still works elsewhere. Only a revocation the platform confirmed counts:
/// a key it did not accept, or no saved key at all, was not revoked. The key is gone from this
/// machine now, so `--revoke` can no longer reach it: point at the dashboard, naming the key as
/// the metadata knew it.
fn revocation_note(
    requested: bool,
    outcome: Option<&Outcome>,
    profile: Option<&Profile>,
    plural: bool,
    p: &Printer,
) {
    let which = profile
        .map(|pr| {
            let parts: Vec<&str> = [pr.key_hint.as_deref(), pr.key_id.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" (key {})", parts.join(", id "))
            }
        })
        .unwrap_or_default();
    match outcome {
        Some(Outcome::Revoked) if plural => {
            p.info("   Revoked keys no longer work anywhere.");
        }
        Some(Outcome::Revoked) => {
            p.info("   The key was revoked on the platform and no longer works anywhere.");
        }
        Some(Outcome::NotAccepted(url)) => {
            p.info("");
            p.info(format!(
                "Note: nothing was revoked: the platform at {} does not accept this key (already revoked or expired there, or a key of another environment).",
                url.as_str().trim_end_matches('/')
            ));
            p.info(format!(
                "If it still works elsewhere, revoke it at {KEYS_PAGE}{which}"
            ));
        }
        None if requested => {
            p.info("");
            p.info(
                "Note: the key was NOT revoked on the platform: no saved key was found to revoke.",
            );
            p.info(format!("If it still exists, revoke it at {KEYS_PAGE}"));
        }
        None if plural => {
            p.info("");
            p.info(
                "Note: the keys were NOT revoked on the platform and still work wherever else they are used.",
            );
            p.info(format!(
                "If you no longer need them, revoke them at {KEYS_PAGE}"
            ));
        }
        None => {
            p.info("");
            p.info(
                "Note: the key was NOT revoked on the platform and still works wherever else it is used.",
            );
            p.info(format!(
                "If you no longer need it, revoke it at {KEYS_PAGE}{which}"
            ));
        }
    }
}
