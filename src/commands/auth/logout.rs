//! `fluxloop auth logout`: remove a profile's key and metadata, or everything of ours with `--all`.

use secrecy::SecretString;

use super::{count, load_profiles, stored_key};
use crate::cli::{LogoutArgs, env};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus, KEYS_PAGE, KeyUsed};
use crate::output::{Printer, green};
use crate::profiles::{CredentialsFile, Profile};
use crate::secrets::{KeySource, Purge, StoreKind};

pub async fn run(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    if args.all && ctx.profile_flag {
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
        logout_all(args, ctx, p).await?
    } else {
        logout_one(args, ctx, p).await?
    };
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
    let backend = ctx.keychain.backend();
    let mut tx = ctx.profiles.lock()?;
    let profile = tx.file.profile(name);
    // A profile whose key is in the file may live on a machine without a keychain: an
    // unreachable keychain cannot hold its key, so it does not block the logout.
    let in_file = profile
        .as_ref()
        .is_some_and(|pr| pr.store() == StoreKind::File);

    let mut revoked = false;
    if args.revoke {
        match stored_key(ctx, name, profile.as_ref())? {
            Some((key, source)) => {
                revoke(ctx, &key, source, profile.as_ref(), name).await?;
                revoked = true;
            }
            None => p.info(format!(
                "No saved key for profile '{name}'; nothing to revoke."
            )),
        }
    }

    let removed_key = match ctx.keychain.delete(name) {
        // Secret Service reports a locked or missing collection as "no entry"; say that
        // rather than "not logged in" when the key would have been in the keychain.
        Ok(false) if !in_file => {
            ctx.keychain.check_ready()?;
            false
        }
        Ok(removed) => removed,
        Err(e) if in_file && e.kind.is_absent() => false,
        Err(e) => return Err(e.into()),
    };
    let removed_meta = tx.file.remove(name);
    if removed_meta {
        tx.commit()?;
    } else {
        drop(tx);
    }

    if !removed_key && !removed_meta {
        p.info(format!(
            "Not logged in to profile '{name}'; nothing to remove."
        ));
        return Ok(ExitStatus::Success);
    }
    p.info(format!(
        "✅ {}",
        green(format!("Logged out of profile '{name}'"))
    ));
    if removed_key {
        p.info(format!("   Removed the API key from the {backend}"));
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
    revocation_note(args.revoke, revoked, profile.as_ref(), p);
    Ok(ExitStatus::Success)
}

async fn logout_all(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    let backend = ctx.keychain.backend();
    let mut tx = ctx.profiles.lock()?;
    let names = tx.file.names();
    let (in_keychain, keychain_absent) = match ctx.keychain.list() {
        Ok(found) => (found, false),
        // No keychain at all on this machine: nothing of ours can be in it.
        Err(e)
            if e.kind.is_absent()
                && names.iter().all(|n| {
                    tx.file
                        .profile(n)
                        .is_some_and(|pr| pr.store() != StoreKind::Keychain)
                }) =>
        {
            (Vec::new(), true)
        }
        Err(e) => return Err(e.into()),
    };
    let orphans: Vec<&String> = in_keychain.iter().filter(|n| !names.contains(n)).collect();

    let mut revoked = 0;
    if args.revoke {
        for name in names.iter().chain(orphans.iter().copied()) {
            let prof = tx.file.profile(name);
            // Only names the keychain listed are looked up there: the others have no entry.
            let in_file = prof
                .as_ref()
                .is_some_and(|pr| pr.store() != StoreKind::Keychain);
            let key = if in_file || in_keychain.contains(name) {
                stored_key(ctx, name, prof.as_ref())?
            } else {
                None
            };
            if let Some((key, source)) = key {
                revoke(ctx, &key, source, prof.as_ref(), name).await?;
                revoked += 1;
            }
        }
        p.info(format!(
            "Revoked {} on the platform.",
            count(revoked, "key", "keys")
        ));
    }

    let purge = if keychain_absent {
        Purge {
            removed: 0,
            left_foreign: 0,
        }
    } else {
        ctx.keychain.delete_all()?
    };
    let deleted = purge.removed;
    if !tx.file.is_empty() {
        tx.file = CredentialsFile::default();
        tx.commit()?;
    } else {
        drop(tx);
    }

    if names.is_empty() && deleted == 0 {
        p.info("Not logged in to any profile; nothing to remove.");
        foreign_note(purge.left_foreign, "", ctx, p);
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
    if keychain_absent {
        p.info(format!(
            "   No {backend} on this machine, so no keychain entries to remove"
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
    }
    foreign_note(purge.left_foreign, "   ", ctx, p);
    p.info(format!("   Cleared {}", ctx.profiles.path().display()));
    revocation_note(args.revoke, revoked > 0, None, p);
    Ok(ExitStatus::Success)
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

/// Revokes on the platform; on any failure other than "already unusable", stops the logout so
/// the local copy stays and the user can retry.
async fn revoke(
    ctx: &Context,
    key: &SecretString,
    source: KeySource,
    profile: Option<&Profile>,
    name: &str,
) -> CliResult<()> {
    let base = if ctx.profile.as_str() == name {
        ctx.api_url(profile)?
    } else {
        // Other profiles (logout --all) use their own saved URL unless overridden.
        match (
            &ctx.api_url_override,
            profile.and_then(|p| p.api_url.as_deref()),
        ) {
            (Some(url), _) => url.clone(),
            (None, Some(saved)) => crate::api::parse_base_url(saved)?,
            (None, None) => ctx.api_url(None)?,
        }
    };
    let client = ctx.client(base)?;
    client.revoke_key(key).await.map_err(|e| {
        let used = KeyUsed {
            source,
            profile: name,
            expires: None,
        };
        CliError::for_key(e, &used)
            .context(format!("Could not revoke the key of profile '{name}'"))
            .detail("Nothing was removed: the key is still saved on this machine and still valid.")
            .hint("Retry `fluxloop auth logout --revoke`, or revoke the key in the dashboard and run `fluxloop auth logout`")
    })
}

/// Says whether the key still works elsewhere. Only a revocation that happened counts: with
/// `--revoke` but no saved key there was nothing to send, so the key (if any) still works. The
/// key is gone from this machine now, so `--revoke` can no longer reach it: point at the
/// dashboard, naming the key as the metadata knew it.
fn revocation_note(requested: bool, revoked: bool, profile: Option<&Profile>, p: &Printer) {
    if revoked {
        p.info("   The key was revoked on the platform and no longer works anywhere.");
        return;
    }
    p.info("");
    if requested {
        p.info("Note: the key was NOT revoked on the platform: no saved key was found to revoke.");
        p.info(format!("If it still exists, revoke it at {KEYS_PAGE}"));
        return;
    }
    p.info(
        "Note: the key was NOT revoked on the platform and still works wherever else it is used.",
    );
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
    p.info(format!(
        "If you no longer need it, revoke it at {KEYS_PAGE}{which}"
    ));
}
