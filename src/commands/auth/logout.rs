//! `fluxloop auth logout`: remove a profile's key and metadata, or everything of ours with `--all`.

use secrecy::SecretString;

use super::{load_profiles, stored_key};
use crate::cli::{LogoutArgs, env};
use crate::commands::errors::{self, KeyOrigin};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::{Printer, green};
use crate::profiles::{CredentialsFile, KeyLocation};
use crate::secrets::SecretStoreError;

pub async fn run(args: &LogoutArgs, ctx: &Context, p: &Printer) -> CliResult {
    let file = load_profiles(ctx, p)?;
    let status = if args.all {
        logout_all(args, ctx, &file, p).await?
    } else {
        logout_one(args, ctx, &file, p).await?
    };
    if ctx.env_key.is_some() {
        p.warn(format!(
            "{} is still set in this environment and keeps authenticating fluxloop; unset it too",
            env::API_KEY
        ));
    }
    Ok(status)
}

async fn logout_one(
    args: &LogoutArgs,
    ctx: &Context,
    file: &CredentialsFile,
    p: &Printer,
) -> CliResult {
    let name = ctx.profile.as_str();
    let backend = ctx.secrets.backend();
    let profile = file.profile(name);
    let location = profile.as_ref().map(|p| p.key_location());

    let mut revoked = false;
    if args.revoke {
        let key = stored_key(ctx, name, profile.as_ref())?.map(|(key, _)| key);
        match key {
            Some(key) => {
                revoke(ctx, &key, profile.as_ref(), name).await?;
                revoked = true;
            }
            None => p.info(format!(
                "No saved key for profile '{name}'; nothing to revoke."
            )),
        }
    }

    // A profile whose key is in the file may live on a machine without a keychain: an
    // unreachable keychain cannot hold its key, so it does not block the logout.
    let keychain_optional = matches!(
        location,
        Some(KeyLocation::File | KeyLocation::LegacyPlaintext)
    );
    let (result, _) = ctx
        .profiles
        .update(|f| {
            let removed_key = match ctx.secrets.delete(name) {
                // Secret Service reports a locked or missing collection as "no entry"; say that
                // rather than "not logged in" when the key would have been in the keychain.
                Ok(false) if !keychain_optional => match ctx.secrets.check_ready() {
                    Ok(()) => false,
                    Err(e) => return (Err(errors::keychain_error(e, backend)), false),
                },
                Ok(removed) => removed,
                Err(e) if keychain_optional && no_keychain_here(&e) => false,
                Err(e) => return (Err(errors::keychain_error(e, backend)), false),
            };
            let removed_meta = f.remove(name);
            (Ok((removed_key, removed_meta)), removed_meta)
        })
        .map_err(errors::profile_error)?;
    let (removed_key, removed_meta) = result?;

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
        let what = if keychain_optional {
            "the plaintext key and metadata"
        } else {
            "profile metadata"
        };
        p.info(format!(
            "   Removed {what} from {}",
            ctx.profiles.path().display()
        ));
    }
    revocation_note(args.revoke, revoked, p);
    Ok(ExitStatus::Success)
}

async fn logout_all(
    args: &LogoutArgs,
    ctx: &Context,
    file: &CredentialsFile,
    p: &Printer,
) -> CliResult {
    let backend = ctx.secrets.backend();
    let mut names: Vec<String> = file.profiles.keys().cloned().collect();
    for (n, _) in file.plaintext_profiles() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let (in_keychain, keychain_absent) = match ctx.secrets.list() {
        Ok(found) => (found, false),
        // No keychain at all on this machine: nothing of ours can be in it.
        Err(e)
            if no_keychain_here(&e)
                && file
                    .profiles
                    .values()
                    .all(|pr| pr.key_location() != KeyLocation::Keychain) =>
        {
            (Vec::new(), true)
        }
        Err(e) => return Err(errors::keychain_error(e, backend)),
    };
    let orphans: Vec<&String> = in_keychain.iter().filter(|n| !names.contains(n)).collect();

    let mut revoked = 0;
    if args.revoke {
        for name in names.iter().chain(orphans.iter().copied()) {
            let prof = file.profile(name);
            // Only names the keychain listed are looked up there: the others have no entry.
            let in_file = prof
                .as_ref()
                .is_some_and(|pr| pr.key_location() != KeyLocation::Keychain);
            let key = if in_file || in_keychain.contains(name) {
                stored_key(ctx, name, prof.as_ref())?.map(|(key, _)| key)
            } else {
                None
            };
            if let Some(key) = key {
                revoke(ctx, &key, prof.as_ref(), name).await?;
                revoked += 1;
            }
        }
        p.info(format!("Revoked {revoked} key(s) on the platform."));
    }

    let (result, _) = ctx
        .profiles
        .update(|f| {
            let deleted = if keychain_absent {
                0
            } else {
                match ctx.secrets.delete_all() {
                    Ok(n) => n,
                    Err(e) => return (Err(errors::keychain_error(e, backend)), false),
                }
            };
            let had_any = !f.is_empty();
            *f = CredentialsFile::default();
            (Ok(deleted), had_any)
        })
        .map_err(errors::profile_error)?;
    let deleted = result?;

    if names.is_empty() && deleted == 0 {
        p.info("Not logged in to any profile; nothing to remove.");
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
            "   Removed {deleted} entr{} from the {backend}{orphan_note}",
            if deleted == 1 { "y" } else { "ies" }
        ));
    }
    p.info(format!("   Cleared {}", ctx.profiles.path().display()));
    revocation_note(args.revoke, revoked > 0, p);
    Ok(ExitStatus::Success)
}

/// Revokes on the platform; on any failure other than "already unusable", stops the logout so
/// the local copy stays and the user can retry.
async fn revoke(
    ctx: &Context,
    key: &SecretString,
    profile: Option<&crate::profiles::Profile>,
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
            (None, Some(saved)) => crate::api::parse_base_url(saved)
                .map_err(|e| errors::api_error(e, &KeyOrigin::None))?,
            (None, None) => ctx.api_url(None)?,
        }
    };
    let client = ctx.client(base)?;
    client.revoke_key(key).await.map_err(|e| {
        let origin = KeyOrigin::Profile {
            name: name.to_string(),
            expires: None,
        };
        let mut err: CliError = errors::api_error(e, &origin);
        err.title = format!(
            "Could not revoke the key of profile '{name}': {}",
            err.title
        );
        err.detail("Nothing was removed: the key is still saved on this machine and still valid.")
            .hint(
                "Retry `fluxloop auth logout --revoke`, or revoke the key in the dashboard \
                 and run `fluxloop auth logout`",
            )
    })
}

/// Says whether the key still works elsewhere. Only a revocation that happened counts: with
/// `--revoke` but no saved key there was nothing to send, so the key (if any) still works.
fn revocation_note(requested: bool, revoked: bool, p: &Printer) {
    if revoked {
        p.info("   The key was revoked on the platform and no longer works anywhere.");
    } else if requested {
        p.info("");
        p.info("Note: the key was NOT revoked on the platform: no saved key was found to revoke.");
        p.info(format!(
            "If it still exists, revoke it at {}",
            errors::KEYS_PAGE
        ));
    } else {
        p.info("");
        p.info("Note: the key was NOT revoked on the platform and still works wherever else it is used.");
        p.info(format!(
            "Revoke it with `fluxloop auth logout --revoke`, or at {}",
            errors::KEYS_PAGE
        ));
    }
}

/// The machine has no keychain at all (as opposed to one that is locked or not answering).
fn no_keychain_here(e: &SecretStoreError) -> bool {
    matches!(
        e,
        SecretStoreError::NoSessionBus(_) | SecretStoreError::NoProvider
    )
}
