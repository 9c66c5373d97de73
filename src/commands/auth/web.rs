//! `fluxloop auth login --web`: the device authorization grant of RFC 8628. The platform mints
//! a new key for this device once the user approves in a browser; the key goes straight into
//! the store through the pasted key's path (`login::store`), never shown.
//!
//! `--no-wait` keeps the pending login (its device code, a secret, with the address and
//! expiry) in the keychain as an entry of its own beside the profile's key, and `--resume`
//! picks it up.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::load_profiles;
use super::login::{self, ValidatedKey};
use crate::api::{ApiClient, ApiError, BrowserLogin, NewKey, Poll, StartRequest};
use crate::cli::LoginArgs;
use crate::commands::json::{LoginPendingDocument, SCHEMA_VERSION};
use crate::context::Context;
use crate::error::{CliError, CliResult, ErrorCode, ExitStatus, KEYS_PAGE};
use crate::output::{Printer, bold, cyan, green};
use crate::profiles::Profile;
use crate::secrets::StoreKind;

/// RFC 8628 section 3.5: each `slow_down` adds this to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// A platform that asks for less is polled this often at most.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Nor is it polled less often than this, however long it asks to wait: a number no sane
/// platform sends must not make the wait endless (or overflow the clock).
const MAX_INTERVAL: Duration = Duration::from_secs(300);
/// A code is waited for a day at most, whatever `expires_in` says (RFC 8628 suggests minutes).
const MAX_CODE_LIFETIME: u64 = 24 * 3600;

/// What `--no-wait` keeps in the keychain; all of it is needed to resume, and the device code
/// makes the whole entry a secret.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    device_code: String,
    api_url: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_at: DateTime<Utc>,
    interval: u64,
}

impl Drop for PendingLogin {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.device_code);
    }
}

pub async fn run(args: &LoginArgs, ctx: &Context, p: &Printer) -> CliResult {
    let storage = args.storage.or(ctx.storage).unwrap_or(StoreKind::Keychain);
    login::check_cache_flag(args.cache, storage)?;
    let file = load_profiles(ctx, p)?;
    // Windows Credential Manager would give `Work` and `work` one entry (login.rs).
    file.check_new_name(ctx.profile.as_str())?;
    // The key goes there at the end, and a pending login lives there: check before starting.
    if let Some(store) = ctx.store(storage) {
        store.check_ready()?;
    }
    if args.no_wait || args.resume {
        ctx.keychain.check_ready()?;
    }
    if storage == StoreKind::EncryptedFile && !args.no_wait {
        login::choose_passphrase(ctx)?;
    }
    login::warn_env_key(ctx, p);
    let existing = file.profile(ctx.profile.as_str());
    if args.resume {
        return resume(ctx, p, storage, args.cache, existing).await;
    }

    let base = ctx.api_url(existing.as_ref())?;
    let mut client = ctx.client(base.clone())?;
    let request = StartRequest {
        client_name: "fluxloop",
        client_version: env!("CARGO_PKG_VERSION"),
        device_name: args.device_name.clone().unwrap_or_else(default_device_name),
        expires_in_days: args.expires_in,
    };
    let started = client
        .start_browser_login(&request, &crate::api::new_idempotency_key())
        .await
        .map_err(start_error)?;
    let expires_at = Utc::now() + code_lifetime(started.authorization.expires_in);
    let interval = interval_of(started.authorization.interval);

    if args.no_wait {
        return keep_pending(ctx, p, &base, &started, expires_at, args.json);
    }

    show_code(p, &started, expires_at);
    if !args.no_browser && ctx.desktop {
        open_browser(p, verification_address(&started));
    }
    let cancel = Cancel::on_interrupt();
    let new_key = match wait_for_approval(
        &mut client,
        &started.device_code,
        interval,
        expires_at,
        &cancel,
    )
    .await
    {
        Ok(key) => key,
        Err(Stopped::Cancelled) => {
            return Err(CliError::new(
                ExitStatus::Failure,
                ErrorCode::Cancelled,
                "Login cancelled; nothing was stored",
            )
            .detail("No key is made unless the login is approved in the browser."));
        }
        Err(Stopped::Failed(e)) => return Err(e),
    };
    store_minted(ctx, p, new_key, base, existing, storage, args.cache)
}

/// `--no-wait`: keep the login in the keychain and say how to finish it.
fn keep_pending(
    ctx: &Context,
    p: &Printer,
    base: &url::Url,
    started: &BrowserLogin,
    expires_at: DateTime<Utc>,
    json: bool,
) -> CliResult {
    let auth = &started.authorization;
    let pending = PendingLogin {
        device_code: started.device_code.expose_secret().to_string(),
        api_url: base.as_str().trim_end_matches('/').to_string(),
        user_code: auth.user_code.clone(),
        verification_uri: auth.verification_uri.clone(),
        verification_uri_complete: auth.verification_uri_complete.clone(),
        expires_at,
        interval: auth.interval,
    };
    let text = Zeroizing::new(
        serde_json::to_string(&pending)
            .map_err(|e| CliError::failure(format!("Could not keep the pending login: {e}")))?,
    );
    ctx.keychain
        .set_pending_login(ctx.profile.as_str(), &SecretString::from(text.as_str()))
        .map_err(|e| CliError::from(e).for_store_change())?;
    let resume = resume_command(ctx);
    if json {
        p.json(&LoginPendingDocument {
            schema_version: SCHEMA_VERSION,
            profile: ctx.profile.as_str(),
            user_code: &auth.user_code,
            verification_uri: &auth.verification_uri,
            verification_uri_complete: auth.verification_uri_complete.as_deref(),
            expires_at,
            resume_command: &resume,
        });
        return Ok(ExitStatus::Success);
    }
    show_code(p, started, expires_at);
    p.info(format!(
        "The pending login is kept in the {} (profile: {}); once it is approved, run:",
        ctx.keychain.backend(),
        ctx.profile
    ));
    p.info(format!("  {resume}"));
    Ok(ExitStatus::Success)
}

/// `--resume`: poll the login `--no-wait` kept until it is done; it is forgotten once it ends,
/// and kept when the user stops waiting.
async fn resume(
    ctx: &Context,
    p: &Printer,
    storage: StoreKind,
    cache: Option<std::time::Duration>,
    existing: Option<crate::profiles::Profile>,
) -> CliResult {
    let name = ctx.profile.as_str();
    let stored = ctx
        .keychain
        .get_pending_login(name)
        .map_err(|e| CliError::from(e).for_store_change())?;
    let Some(stored) = stored else {
        return Err(CliError::new(
            ExitStatus::Failure,
            ErrorCode::NoPendingLogin,
            format!("No pending browser login for profile '{name}'"),
        )
        .hint(format!(
            "Start one with `{} --web --no-wait`",
            super::login_command(ctx)
        )));
    };
    let pending: PendingLogin =
        match serde_json::from_str(stored.expose_secret()) {
            Ok(pending) => pending,
            Err(_) => {
                let _ = ctx.keychain.delete_pending_login(name);
                return Err(CliError::failure(format!(
                "The pending browser login of profile '{name}' could not be read; it was removed"
            ))
            .hint(format!("Start again with `{} --web`", super::login_command(ctx))));
            }
        };
    if Utc::now() >= pending.expires_at {
        let _ = ctx.keychain.delete_pending_login(name);
        return Err(expired(ctx, Some(pending.expires_at)));
    }
    let base = crate::api::parse_base_url(&pending.api_url)?;
    let mut client = ctx.client(base.clone())?;
    let device_code = SecretString::from(pending.device_code.as_str());
    p.info(format!(
        "Waiting for approval of code {} at {} (expires {})...",
        bold(&pending.user_code),
        pending
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&pending.verification_uri),
        pending.expires_at.format("%H:%M UTC"),
    ));
    let cancel = Cancel::on_interrupt();
    let outcome = wait_for_approval(
        &mut client,
        &device_code,
        interval_of(pending.interval),
        pending.expires_at,
        &cancel,
    )
    .await;
    let new_key = match outcome {
        Ok(key) => key,
        Err(Stopped::Cancelled) => {
            return Err(CliError::new(
                ExitStatus::Failure,
                ErrorCode::Cancelled,
                "Stopped waiting; the pending login is kept",
            )
            .hint(format!("Continue with `{}`", resume_command(ctx))));
        }
        Err(Stopped::Failed(e)) => {
            // Denied or expired logins cannot be resumed; anything else (the network) can.
            if matches!(e.code, ErrorCode::LoginDenied | ErrorCode::LoginExpired) {
                let _ = ctx.keychain.delete_pending_login(name);
            }
            return Err(e);
        }
    };
    let stored = store_minted(ctx, p, new_key, base, existing, storage, cache);
    // The device code is spent once the key is handed out, whatever became of the key.
    let _ = ctx.keychain.delete_pending_login(name);
    stored
}

/// Saves a key the platform minted for this device, the way a pasted key is saved.
fn store_minted(
    ctx: &Context,
    p: &Printer,
    new_key: NewKey,
    base: url::Url,
    existing: Option<Profile>,
    storage: StoreKind,
    cache: Option<std::time::Duration>,
) -> CliResult {
    login::store(
        ctx,
        p,
        ValidatedKey {
            key: new_key.api_key,
            info: new_key.info,
            base,
            existing,
            storage,
            cache,
            minted: true,
        },
    )
}

fn resume_command(ctx: &Context) -> String {
    format!("{} --web --resume", super::login_command(ctx))
}

fn interval_of(seconds: u64) -> Duration {
    Duration::from_secs(seconds).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

fn code_lifetime(expires_in: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(expires_in.min(MAX_CODE_LIFETIME)).unwrap_or(0))
}

/// The address to open: with the code filled in when the platform gives one.
fn verification_address(started: &BrowserLogin) -> &str {
    started
        .authorization
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&started.authorization.verification_uri)
}

fn show_code(p: &Printer, started: &BrowserLogin, expires_at: DateTime<Utc>) {
    let auth = &started.authorization;
    p.info(format!(
        "{} First copy your one-time code: {}",
        green("!"),
        bold(&auth.user_code)
    ));
    p.info(format!(
        "  Then open {} and approve the login (the code expires at {}).",
        cyan(verification_address(started)),
        expires_at.format("%H:%M UTC")
    ));
}

/// Opens the address in the desktop's browser, without waiting for it; failing to is no error,
/// since the address is on screen.
fn open_browser(p: &Printer, address: &str) {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    let spawned = command
        .arg(address)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => p.info("  Opened it in your browser."),
        Err(_) => p.info("  (Could not open a browser; open the address yourself.)"),
    }
}

/// The host name, the key's name when `--device-name` is not given.
fn default_device_name() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = from_kernel.or_else(|| {
        std::process::Command::new("hostname")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
    });
    name.map(|n| {
        n.trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect::<String>()
    })
    .filter(|n| !n.is_empty())
    .unwrap_or_else(|| "fluxloop-cli".to_string())
}

enum Stopped {
    Cancelled,
    Failed(CliError),
}

/// Polls every `interval` (longer after each `slow_down`) until the platform answers with the
/// key, refuses, or the code expires; Ctrl-C stops it. The first poll comes after one interval.
async fn wait_for_approval(
    client: &mut ApiClient,
    device_code: &SecretString,
    mut interval: Duration,
    expires_at: DateTime<Utc>,
    cancel: &Cancel,
) -> Result<NewKey, Stopped> {
    loop {
        let left = (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return Err(Stopped::Failed(expired_login(expires_at)));
        }
        tokio::select! {
            () = tokio::time::sleep(interval.min(left)) => {}
            () = cancel.wait() => return Err(Stopped::Cancelled),
        }
        if Utc::now() >= expires_at {
            return Err(Stopped::Failed(expired_login(expires_at)));
        }
        client.restart_deadline();
        let poll = tokio::select! {
            poll = client.poll_browser_login(device_code) => poll,
            () = cancel.wait() => return Err(Stopped::Cancelled),
        };
        match poll {
            Ok(Poll::Pending) => {}
            Ok(Poll::SlowDown) => interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL),
            Ok(Poll::Denied) => return Err(Stopped::Failed(denied())),
            Ok(Poll::Expired) => return Err(Stopped::Failed(expired_login(expires_at))),
            Ok(Poll::Approved(key)) => return Ok(*key),
            Err(e) => return Err(Stopped::Failed(CliError::from(e))),
        }
    }
}

fn denied() -> CliError {
    CliError::new(
        ExitStatus::Auth,
        ErrorCode::LoginDenied,
        "The login was refused in the browser; nothing was stored",
    )
    .hint("Run `fluxloop auth login --web` again to start over")
}

fn expired_login(at: DateTime<Utc>) -> CliError {
    CliError::new(
        ExitStatus::Auth,
        ErrorCode::LoginExpired,
        format!(
            "The login code expired at {} before it was approved; nothing was stored",
            at.format("%H:%M UTC")
        ),
    )
    .hint("Run `fluxloop auth login --web` again for a new code")
}

fn expired(ctx: &Context, at: Option<DateTime<Utc>>) -> CliError {
    let when = at.map_or(String::new(), |t| {
        format!(" at {}", t.format("%Y-%m-%d %H:%M UTC"))
    });
    CliError::new(
        ExitStatus::Auth,
        ErrorCode::LoginExpired,
        format!(
            "The pending browser login of profile '{}' expired{when}; it was removed",
            ctx.profile
        ),
    )
    .hint(format!(
        "Start again with `{} --web --no-wait`",
        super::login_command(ctx)
    ))
}

/// A platform without the endpoint (404) has no browser login; the rest as for any request.
fn start_error(e: ApiError) -> CliError {
    if let ApiError::UnexpectedStatus { status: 404, .. } = e {
        return CliError::new(
            ExitStatus::Network,
            ErrorCode::BrowserLoginUnsupported,
            "This platform does not support browser login; use an API key",
        )
        .hint(format!(
            "Create a key at {KEYS_PAGE} and run `fluxloop auth login` (it prompts for it)"
        ));
    }
    CliError::from(e)
}

/// Ctrl-C while waiting: noticed, so the command can stop and say so instead of dying mid-way.
struct Cancel {
    #[cfg(unix)]
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Cancel {
    fn on_interrupt() -> Cancel {
        #[cfg(unix)]
        {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            // If the handlers cannot be installed, Ctrl-C keeps its default: the process ends,
            // with nothing half-stored (the key is stored only after the wait). Registered in
            // this order, a second Ctrl-C (say, at the account-change question after the wait)
            // still ends the process the default way.
            let sigint = signal_hook::consts::SIGINT;
            let _ = signal_hook::flag::register_conditional_default(sigint, flag.clone());
            let _ = signal_hook::flag::register(sigint, flag.clone());
            Cancel { flag }
        }
        #[cfg(not(unix))]
        Cancel {}
    }

    async fn wait(&self) {
        #[cfg(unix)]
        while !self.flag.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_intervals_and_lifetimes_are_bounded() {
        assert_eq!(interval_of(0), MIN_INTERVAL);
        assert_eq!(interval_of(5), Duration::from_secs(5));
        assert_eq!(interval_of(u64::MAX), MAX_INTERVAL);
        assert_eq!(code_lifetime(900), TimeDelta::seconds(900));
        assert_eq!(code_lifetime(u64::MAX), TimeDelta::days(1));
        // Adding it to now cannot overflow.
        let _ = Utc::now() + code_lifetime(u64::MAX);
    }
}
