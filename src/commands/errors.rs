//! Module errors become [`CliError`]s here, with the hints that tell people what to do next.

use chrono::{DateTime, Utc};

use crate::api::ApiError;
use crate::cli::env;
use crate::error::{CliError, ExitStatus};
use crate::keys::KeyFormatError;
use crate::profiles::ProfileError;
use crate::secrets::{Backend, SecretStoreError};

/// Where the dashboard lets people create keys.
pub const KEYS_PAGE: &str = "https://app.fluxloop.ai/settings/api-keys";

/// Where the key that failed came from, so the hint can name it.
pub enum KeyOrigin {
    None,
    Env,
    Input,
    Profile {
        name: String,
        expires: Option<DateTime<Utc>>,
    },
}

pub fn api_error(e: ApiError, origin: &KeyOrigin) -> CliError {
    use ExitStatus::{Auth, Network, Permission, Usage};
    match e {
        ApiError::InvalidUrl { .. } => CliError::new(Usage, "invalid_api_url", capitalise(&e.to_string()))
            .hint(format!("Use an https:// URL, e.g. --api-url {}", crate::cli::DEFAULT_API_URL)),
        ApiError::InsecureUrl { url } => CliError::new(Usage, "insecure_api_url", format!("Refusing to use {url}"))
            .detail("Plain http:// would send your API key unencrypted; it is only allowed for loopback addresses (127.0.0.1, ::1, localhost).")
            .hint("Use the https:// form of the URL"),
        ApiError::Setup(reason) => CliError::new(Usage, "tls_setup", format!("Could not set up HTTPS: {reason}"))
            .hint(format!("{} must name a readable PEM file of CA certificates, or be unset", env::SSL_CERT_FILE)),
        ApiError::Unauthorized { code, message } => match code.as_str() {
            "key_expired" => {
                let when = match origin {
                    KeyOrigin::Profile { expires: Some(at), .. } => format!(" on {}", at.format("%Y-%m-%d")),
                    _ => String::new(),
                };
                with_origin(CliError::new(Auth, "key_expired", format!("API key expired{when}")), origin)
                    .hint(format!("Create a new key at {KEYS_PAGE}, then run `fluxloop auth login`"))
            }
            "key_revoked" => with_origin(CliError::new(Auth, "key_revoked", "API key has been revoked"), origin)
                .hint(format!("Create a new key at {KEYS_PAGE}, then run `fluxloop auth login`")),
            _ => with_origin(
                CliError::new(Auth, "invalid_api_key", "Invalid API key")
                    .detail(format!("The platform said: {}", crate::keys::redact(&message)))
                    .detail("")
                    .detail("Please check:")
                    .detail("  1. The key was copied completely (it starts with `flux_`)")
                    .detail("  2. The key has not been revoked or expired")
                    .detail("  3. The key belongs to this environment's API URL (dev, staging or production)"),
                origin,
            )
            .hint(format!("Generate a new key at {KEYS_PAGE}")),
        },
        ApiError::PermissionDenied { message, required, permissions } => {
            let mut err = CliError::new(Permission, "permission_denied", "Permission denied");
            if message != "Permission denied" {
                err = err.detail(crate::keys::redact(&message));
            }
            err = err.detail(format!("Required permission: {}", required.as_deref().unwrap_or("(not stated)")));
            err = err.detail(format!(
                "Your permissions: {}",
                if permissions.is_empty() { "none".to_string() } else { permissions.join(", ") }
            ));
            with_origin(err, origin).hint(format!("Ask an organization owner for the permission, or use a key that has it ({KEYS_PAGE})"))
        }
        ApiError::RateLimited { retry_after } => {
            let err = CliError::new(Network, "rate_limited", "Rate limited by the FluxLoop API");
            match retry_after {
                Some(d) => err.hint(format!("Try again in {} s", d.as_secs().max(1))),
                None => err.hint("Wait a minute and try again"),
            }
        }
        ApiError::Server { status, .. } => CliError::new(Network, "server_error", format!("The FluxLoop API failed (HTTP {status})"))
            .detail(capitalise(&e.to_string()))
            .detail("Retried with backoff; it kept failing.")
            .hint("The platform may be having trouble; try again in a few minutes"),
        // One request, not retried: the URL is the likelier mistake than the platform.
        ApiError::UnexpectedStatus { status, .. } => CliError::new(Network, "unexpected_status", format!("Unexpected answer from the FluxLoop API (HTTP {status})"))
            .detail(capitalise(&e.to_string()))
            .hint(if status == 404 { "Nothing answers at that address: check the API URL (--api-url, FLUXLOOP_API_URL)" } else { "Check the API URL (--api-url, FLUXLOOP_API_URL)" }),
        ApiError::Connect { host, reason } => CliError::new(Network, "connect_failed", "Unable to connect to FluxLoop API")
            .detail(format!("Failed to connect to {host}"))
            .detail(format!("Cause: {reason}"))
            .hint("Check your internet connection and the API URL (--api-url, FLUXLOOP_API_URL)")
            .hint("Behind a proxy? Set HTTPS_PROXY (and NO_PROXY for hosts that bypass it)"),
        ApiError::Tls { host, reason } => {
            let err = CliError::new(Network, "tls_failed", "Unable to connect to FluxLoop API securely")
                .detail(format!("TLS with {host} failed: {reason}"))
                .detail("Your key was not sent.");
            if reason.contains("not valid for name") {
                // The certificate is fine but for another host: a wrong URL, not a missing CA.
                err.hint("The server's certificate is for another host name; check the API URL (--api-url, FLUXLOOP_API_URL)")
            } else {
                err.hint(format!("Behind a TLS-inspecting proxy? Point {} at its CA certificate (PEM)", env::SSL_CERT_FILE))
            }
        }
        ApiError::Timeout { after } => CliError::new(Network, "timeout", format!("The FluxLoop API did not answer within {} s", fmt_secs(after)))
            .hint(format!("Check your connection, or allow longer with {}=<seconds>", env::TIMEOUT)),
        ApiError::Redirect { .. } => CliError::new(Network, "redirect", "Unexpected redirect from the FluxLoop API")
            .detail(capitalise(&e.to_string()))
            .hint("Check the API URL (--api-url, FLUXLOOP_API_URL); use the platform's canonical https:// address"),
        ApiError::BodyTooLarge | ApiError::InvalidResponse { .. } => CliError::new(Network, "invalid_response", "Unexpected response from the FluxLoop API")
            .detail(capitalise(&e.to_string()))
            .hint("Check the API URL (--api-url, FLUXLOOP_API_URL); a proxy or captive portal may be answering instead of the platform"),
    }
}

fn with_origin(err: CliError, origin: &KeyOrigin) -> CliError {
    match origin {
        KeyOrigin::Env => err.detail(format!("(The key came from {}.)", env::API_KEY)),
        KeyOrigin::Profile { name, .. } => {
            err.detail(format!("(The key is the one saved for profile '{name}'.)"))
        }
        KeyOrigin::None | KeyOrigin::Input => err,
    }
}

pub fn keychain_error(e: SecretStoreError, backend: Backend) -> CliError {
    let env_hint = format!(
        "Or skip the keychain: set {} in the environment (nothing is stored)",
        env::API_KEY
    );
    let err = CliError::new(
        ExitStatus::Keychain,
        "keychain_unavailable",
        format!("The {backend} is not usable: {e}"),
    );
    match e {
        SecretStoreError::NoSessionBus(_) => err
            .detail("The Secret Service is reached over the D-Bus session bus, and this process has none (DBUS_SESSION_BUS_ADDRESS).")
            .hint("On a desktop, run fluxloop inside your graphical login session; over SSH, start one with `dbus-run-session -- $SHELL` and unlock a keyring")
            .hint(env_hint),
        SecretStoreError::NoProvider => err
            .detail("Nothing on the session bus provides org.freedesktop.secrets.")
            .hint("Install and start a Secret Service, e.g. `apt install gnome-keyring` then log in again, or enable KeePassXC's Secret Service integration")
            .hint(env_hint),
        SecretStoreError::Locked => err
            .detail("The keyring that holds fluxloop's keys is locked, and no unlock prompt could be answered.")
            .hint("Unlock it (log in to the desktop, open Seahorse, or `gnome-keyring-daemon --unlock`), then retry")
            .hint(env_hint),
        SecretStoreError::NoCollection => err
            .detail("The keychain is not set up: it has no default (login) keyring, so no key can be stored or found.")
            .hint("Create a default keyring (Seahorse: File > New > Password Keyring, set as default), then retry")
            .hint(env_hint),
        SecretStoreError::Timeout(_) => err
            .detail("The keyring daemon may be hung, or waiting for an unlock prompt that nobody can see.")
            .hint("Restart the keyring daemon (or your session), then retry")
            .hint(env_hint),
        SecretStoreError::Ambiguous { ref profile, .. } => {
            let flag = if profile.is_empty() || profile == crate::cli::DEFAULT_PROFILE {
                String::new()
            } else {
                format!(" --profile {profile}")
            };
            err.detail("Another tool created a second entry for the same profile, so fluxloop cannot tell which key is meant.")
                .hint(format!("Remove them all with `fluxloop auth logout{flag}`, then log in again"))
        }
        _ => err.hint(env_hint),
    }
}

pub fn profile_error(e: ProfileError) -> CliError {
    let title = capitalise(&e.to_string());
    let err = CliError::new(ExitStatus::Failure, "credentials_file", title);
    match &e {
        ProfileError::WritableByOthers { path, is_dir, .. } => err
            .detail("Other users could change which API URL your key is sent to, so fluxloop will not use it.")
            .hint(if *is_dir {
                format!("Run: chmod 700 {}", path.display())
            } else {
                format!("Run: chmod 600 {}  (and chmod 700 on its directory)", path.display())
            }),
        ProfileError::NotOwned { path, .. } => err
            .detail("fluxloop only trusts a credentials file that belongs to you.")
            .hint(format!("Check who created it; if it should be yours: sudo chown \"$USER\" {}", path.display())),
        ProfileError::Symlink { path } => err
            .detail("fluxloop does not follow symbolic links at this path, so nobody can redirect what it reads or writes.")
            .hint(format!("Replace the link with a regular file: rm {0} (the metadata is rebuilt at the next login)", path.display())),
        ProfileError::Malformed { path, .. } => err
            .detail("Nothing was changed. Keys in the keychain are not affected.")
            .hint(format!("Fix the file, or move it aside (mv {0} {0}.bak) and log in again", path.display())),
        ProfileError::LockTimeout { .. } => err.hint("Wait for the other fluxloop command to finish, then retry"),
        ProfileError::NotAFile { path } | ProfileError::TooLarge { path } => {
            err.hint(format!("Move {} aside and log in again", path.display()))
        }
        ProfileError::Read { .. } | ProfileError::Write { .. } => {
            err.hint(format!("Check the permissions and free space of the directory, or relocate it with {}", env::HOME))
        }
    }
}

pub fn key_format_error(e: KeyFormatError, origin: &KeyOrigin) -> CliError {
    let source = match origin {
        KeyOrigin::Env => format!(" in {}", env::API_KEY),
        KeyOrigin::Profile { name, .. } => format!(" saved for profile '{name}'"),
        KeyOrigin::None | KeyOrigin::Input => String::new(),
    };
    CliError::new(ExitStatus::Auth, "malformed_key", format!("That is not a FluxLoop API key{source}"))
        .detail(capitalise(&e.to_string()) + ".")
        .detail("API keys look like flux_<environment>_<20 to 128 letters and digits>, e.g. flux_dev_abc1...mno34.")
        .detail("Nothing was sent to the platform.")
        .hint(format!("Copy the key again from {KEYS_PAGE}"))
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn fmt_secs(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s:.1}")
    }
}
