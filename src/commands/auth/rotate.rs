//! `fluxloop auth rotate`: mint a replacement for the profile's key, verify it, store it in
//! place (the same store and lock as login), then revoke the old key. Every failure leaves the
//! profile with a working key:
//!
//! * minting fails, or its answer is lost: the retries carry the same `Idempotency-Key`, so
//!   the platform answers with the same new key instead of a second one; if they all fail, the
//!   old key stays;
//! * verifying or storing the new key fails: the new key is revoked, the old one stays;
//! * revoking the old key fails: the new key is in place, and the old key's id and the
//!   dashboard are named, since `logout --revoke` can no longer reach it.

use chrono::Utc;

use super::login::{profile_meta, save_to_file, save_to_store};
use super::{
    client_while_stored_key_is_read, load_profiles, login_command, stored_key, warn_expiry,
};
use crate::api::{ApiClient, NewKey, Revocation, RotateRequest, new_idempotency_key};
use crate::cli::{RotateArgs, env};
use crate::context::Context;
use crate::error::{CliError, CliResult, ErrorCode, ExitStatus, KEYS_PAGE, KeyUsed};
use crate::keys;
use crate::output::{Printer, expiry_text, green};
use crate::secrets::{KeySource, StoreKind};

pub async fn run(args: &RotateArgs, ctx: &Context, p: &Printer) -> CliResult {
    let name = ctx.profile.as_str();
    let file = load_profiles(ctx, p)?;
    let profile = file.profile(name);
    if ctx.env_key.is_some() {
        p.warn(format!(
            "{} is set; rotating the key saved for profile '{name}', not that one",
            env::API_KEY
        ));
    }
    let early = client_while_stored_key_is_read(ctx, profile.as_ref());
    let Some((old_key, source)) = stored_key(ctx, name, profile.as_ref())? else {
        return Err(CliError::new(
            ExitStatus::Auth,
            ErrorCode::NotLoggedIn,
            format!("Not logged in (profile '{name}'): there is no saved key to rotate"),
        )
        .hint(format!("Run `{}` first", login_command(ctx))));
    };
    let storage = match source {
        KeySource::Store(kind) => kind,
        _ => StoreKind::File,
    };
    let used = KeyUsed {
        source,
        profile: name,
        expires: profile
            .as_ref()
            .and_then(|p| p.expires)
            .and_then(|e| e.at()),
    };
    keys::check_format(&old_key).map_err(|e| CliError::for_key(e, &used))?;
    let base = ctx.api_url(profile.as_ref())?;
    let mut client = ctx.client_after(early, base.clone())?;
    let old_id = profile
        .as_ref()
        .and_then(|p| p.key_id.clone())
        .unwrap_or_else(|| keys::mask(&old_key));

    // 1. Mint. The client retries 429 and 5xx with this same Idempotency-Key.
    let request = RotateRequest {
        expires_in_days: args.expires_in,
    };
    let idempotency_key = new_idempotency_key();
    let minted =
        client
            .rotate_key(&old_key, &request, &idempotency_key)
            .await
            .map_err(|e| {
                let lost = matches!(
                    e,
                    crate::api::ApiError::Server { .. } | crate::api::ApiError::Timeout { .. }
                );
                let err = CliError::for_key(e, &used)
                    .context("Could not rotate the key")
                    .detail(format!(
                        "Profile '{name}' keeps its key, which still works."
                    ));
                if lost {
                    err.detail(
                    "If the platform made a new key before failing, it never reached this machine; \
                     it is listed in the dashboard under the old key's name.",
                )
                .hint(format!("Try again later, or revoke a stray key at {KEYS_PAGE}"))
                } else {
                    err
                }
            })?;

    // 2. Verify the new key where it will be used.
    client.restart_deadline();
    let info = match client.introspect_key(&minted.api_key).await {
        Ok(info) => info,
        Err(e) => {
            let fate = revoke_new(&mut client, &minted).await;
            return Err(CliError::from(e)
                .context("The new key could not be verified")
                .detail(fate)
                .detail(format!(
                    "Profile '{name}' keeps its old key, which still works."
                )));
        }
    };

    // 3. Store it in place, under the lock login takes.
    let mut meta = profile_meta(&minted.api_key, &info, &base, storage);
    // The new key is kept the way the old one was.
    meta.unlock_cache_seconds = profile.as_ref().and_then(|p| p.unlock_cache_seconds);
    let saved = match storage {
        StoreKind::File => save_to_file(ctx, meta),
        kind => save_to_store(ctx, kind, &minted.api_key, meta, p),
    };
    if let Err(e) = saved {
        let fate = revoke_new(&mut client, &minted).await;
        return Err(e
            .context("The new key could not be stored")
            .detail(fate)
            .detail(format!(
                "Profile '{name}' keeps its old key, which still works."
            )));
    }

    // 4. Revoke the old key.
    client.restart_deadline();
    let new_name = info.key.name.as_deref().unwrap_or("(not named)");
    let revoked = client.revoke_key(&old_key).await;
    p.info(format!("✅ {}", green("Key rotated")));
    p.info(format!(
        "   New key saved to {} (profile: {name})",
        match storage {
            StoreKind::Keychain => ctx.keychain.backend().to_string(),
            StoreKind::Keyutils => format!("{} (--storage keyutils)", ctx.kernel_keyring.backend()),
            StoreKind::EncryptedFile => format!(
                "encrypted file {} (--storage encrypted-file)",
                ctx.encrypted_file_store.path(name).display()
            ),
            StoreKind::File => format!("{} (--storage file)", ctx.profiles.path().display()),
        }
    ));
    p.info(format!(
        "   Key name: {new_name}, created {}, expires {}",
        info.key.created_at.map_or("(not stated)".to_string(), |t| t
            .format("%Y-%m-%d")
            .to_string()),
        expiry_text(info.key.expires_at, Utc::now())
    ));
    match revoked {
        Ok(Revocation::Revoked) => p.info(format!("   Old key {old_id} revoked")),
        Ok(Revocation::NotAccepted) => {
            p.info(format!("   Old key {old_id} was already unusable"));
        }
        Err(e) => {
            return Err(CliError::new(
                ExitStatus::Failure,
                ErrorCode::OldKeyNotRevoked,
                format!("The new key is in place, but the old key {old_id} could not be revoked: it still works"),
            )
            .detail(crate::error::capitalise(&e.to_string()))
            .hint(format!(
                "Revoke key {old_id} at {KEYS_PAGE} (`logout --revoke` cannot: it is no longer stored)"
            )));
        }
    }
    warn_expiry(p, info.key.expires_at);
    Ok(ExitStatus::Success)
}

/// Revokes a new key that will not be used; says what became of it.
async fn revoke_new(client: &mut ApiClient, minted: &NewKey) -> String {
    client.restart_deadline();
    let id = minted
        .info
        .key
        .id
        .clone()
        .unwrap_or_else(|| keys::mask(&minted.api_key));
    match client.revoke_key(&minted.api_key).await {
        Ok(_) => format!("The new key {id} was revoked."),
        Err(_) => {
            format!("The new key {id} could not be revoked either; revoke it at {KEYS_PAGE}.")
        }
    }
}
