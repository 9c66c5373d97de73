//! `fluxloop auth ...`: orchestration and output only; the work is in api/, secrets/, profiles/.

mod doctor;
mod list;
mod login;
mod logout;
mod migrate;
mod rotate;
mod status;
mod switch;
mod token;
mod web;
mod whoami;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::cli::{AuthCommand, env};
use crate::context::{ClientInBuild, Context, ProfileOrigin};
use crate::error::{CliError, CliResult, ErrorCode, ExitStatus, KEYS_PAGE, KeyUsed};
use crate::keys;
use crate::output::Printer;
use crate::profiles::{CredentialsFile, Profile};
use crate::secrets::SecretStore as _;
use crate::secrets::{KeySource, StoreKind};

/// Warn this many days before a key expires.
const EXPIRY_WARNING_DAYS: i64 = 14;

pub async fn run(command: AuthCommand, ctx: &Context, p: &Printer) -> CliResult {
    match command {
        AuthCommand::Login(args) => login::run(args, ctx, p).await,
        AuthCommand::Logout(args) => logout::run(&args, ctx, p).await,
        AuthCommand::Status(args) => status::run(&args, ctx, p).await,
        AuthCommand::Whoami(args) => whoami::run(&args, ctx, p).await,
        AuthCommand::Migrate(args) => migrate::run(&args, ctx, p),
        AuthCommand::Token(args) => token::run(&args, ctx, p),
        AuthCommand::List(args) => list::run(&args, ctx, p),
        AuthCommand::Switch(args) => switch::run(&args, ctx, p),
        AuthCommand::Doctor(args) => doctor::run(&args, ctx, p).await,
        AuthCommand::Rotate(args) => rotate::run(&args, ctx, p).await,
    }
}

/// Loads the credentials file and reports what every command must: permissions it tightened,
/// and plaintext keys on disk.
pub(crate) fn load_profiles(ctx: &Context, p: &Printer) -> CliResult<CredentialsFile> {
    let loaded = ctx.profiles.load()?;
    warn_tightened(&loaded.tightened, p);
    warn_plaintext(&loaded.file, ctx, p);
    Ok(loaded.file)
}

fn warn_tightened(paths: &[std::path::PathBuf], p: &Printer) {
    for path in paths {
        p.warn(format!(
            "{} was readable by other users; fixed its permissions (now owner-only)",
            path.display()
        ));
    }
}

fn warn_plaintext(file: &CredentialsFile, ctx: &Context, p: &Printer) {
    let plaintext = file.plaintext_keys();
    let names = |legacy: bool| -> Vec<&str> {
        plaintext
            .iter()
            .filter(|k| k.legacy == legacy)
            .map(|k| k.profile.as_str())
            .collect()
    };
    let (legacy, opted) = (names(true), names(false));
    let path = ctx.profiles.path();
    let backend = ctx.keychain.backend();
    if file.shadowed_legacy_key().is_some() {
        p.warn(format!(
            "a plaintext API key (the top-level `api_key:` of an earlier release) is on disk in {} beside profile '{}', which does not use it; run `fluxloop auth migrate` to move it into the {backend}",
            path.display(),
            crate::profiles::DEFAULT_PROFILE,
        ));
    }
    if !legacy.is_empty() {
        let (what, names) = profiles_phrase(&legacy);
        p.warn(format!(
            "{} on disk in {} ({what}: {names}); run `fluxloop auth migrate` to move {} into the {backend}",
            if legacy.len() == 1 { "a plaintext API key is" } else { "plaintext API keys are" },
            path.display(),
            if legacy.len() == 1 { "it" } else { "them" },
        ));
    }
    if !opted.is_empty() {
        let (what, names) = profiles_phrase(&opted);
        p.warn(format!(
            "{what} {names} {} in PLAINTEXT in {} (--storage file); `fluxloop auth migrate` moves {} into the {backend}",
            if opted.len() == 1 { "keeps its API key" } else { "keep their API keys" },
            path.display(),
            if opted.len() == 1 { "it" } else { "them" },
        ));
    }
}

/// ("profile", "a") or ("profiles", "a, b").
fn profiles_phrase(names: &[&str]) -> (&'static str, String) {
    let what = if names.len() == 1 {
        "profile"
    } else {
        "profiles"
    };
    (what, names.join(", "))
}

/// How `status` and `list` name the kernel keyring: what it is, and that a reboot empties it.
pub(crate) const KERNEL_KEYRING_TEXT: &str = "kernel keyring, until reboot";

/// Where a key came from, as `status` says it.
pub(crate) fn describe_source(source: KeySource, ctx: &Context) -> String {
    match source {
        KeySource::Env => format!("{} environment variable", env::API_KEY),
        KeySource::Input => "input".to_string(),
        KeySource::Store(StoreKind::Keychain) => ctx.keychain.backend().to_string(),
        KeySource::Store(StoreKind::Keyutils) => KERNEL_KEYRING_TEXT.to_string(),
        KeySource::Store(StoreKind::EncryptedFile) => format!(
            "encrypted file {}",
            ctx.encrypted_file_store
                .path(ctx.profile.as_str())
                .display()
        ),
        KeySource::Store(StoreKind::File) => format!(
            "plaintext file {} (--storage file)",
            ctx.profiles.path().display()
        ),
        KeySource::LegacyFile => format!(
            "plaintext file {} (legacy; run `fluxloop auth migrate`)",
            ctx.profiles.path().display()
        ),
    }
}

/// The key a command uses, where it came from, and the selected profile's saved metadata.
pub(crate) struct ResolvedKey {
    pub key: SecretString,
    pub source: KeySource,
    pub profile: Option<Profile>,
}

impl ResolvedKey {
    /// Where this key may be sent. A key from the environment goes only where the user pointed
    /// it (`--api-url`, FLUXLOOP_API_URL) or to the default: never to a URL saved for a profile,
    /// which the credentials file chose and against which this key was never validated.
    pub fn api_url(&self, ctx: &Context) -> CliResult<url::Url> {
        match self.source {
            KeySource::Env => ctx.api_url(None),
            _ => ctx.api_url(self.profile.as_ref()),
        }
    }

    /// For error messages about this key.
    pub fn used<'a>(&self, ctx: &'a Context) -> KeyUsed<'a> {
        KeyUsed {
            source: self.source,
            profile: ctx.profile.as_str(),
            expires: match self.source {
                KeySource::Env | KeySource::Input => None,
                _ => self
                    .profile
                    .as_ref()
                    .and_then(|p| p.expires)
                    .and_then(|e| e.at()),
            },
        }
    }
}

/// The key for commands that talk to the platform: `FLUXLOOP_API_KEY` first, then the profile's
/// stored key (keychain, or a plaintext file the user chose or inherited).
pub(crate) fn resolve_key(
    ctx: &Context,
    file: &CredentialsFile,
    p: &Printer,
) -> CliResult<ResolvedKey> {
    let profile = file.profile(ctx.profile.as_str());
    if ctx.env_key_empty {
        return Err(CliError::empty_env_key(
            &crate::situation::Situation::here(),
            &login_command(ctx),
        ));
    }
    if let Some(key) = &ctx.env_key {
        let resolved = ResolvedKey {
            key: key.clone(),
            source: KeySource::Env,
            profile,
        };
        keys::check_format(key).map_err(|e| CliError::for_key(e, &resolved.used(ctx)))?;
        return Ok(resolved);
    }
    let Some((key, source)) = stored_key(ctx, ctx.profile.as_str(), profile.as_ref())? else {
        return Err(not_logged_in(ctx, file, profile.is_some()));
    };
    let resolved = ResolvedKey {
        key,
        source,
        profile,
    };
    let used = KeyUsed {
        expires: None,
        ..resolved.used(ctx)
    };
    keys::check_format(&resolved.key).map_err(|e| CliError::for_key(e, &used))?;
    tracing::info!(
        "using the key of profile '{}' from the {}",
        ctx.profile,
        describe_source(source, ctx)
    );
    if source == KeySource::Store(StoreKind::File) {
        p.warn(format!(
            "using the PLAINTEXT key of profile '{}' from {}",
            ctx.profile,
            ctx.profiles.path().display()
        ));
    }
    Ok(resolved)
}

/// Starts building the HTTP client for the URL the key will be sent to, when the key is about
/// to be read from the keychain (a read that is mostly waiting on the Secret Service), so the
/// two overlap. The profile's metadata settles that URL before the key is read. `None` when the
/// key is at hand (FLUXLOOP_API_KEY, a plaintext file), read in microseconds (the kernel
/// keyring), or behind a passphrase (an encrypted file: a thread would gain nothing against a
/// prompt or scrypt, and would only compete with the prompt's terminal set-up), or when the URL
/// is not valid, or plain http (that client loads no trust store: 0.05 ms to build, less than
/// the thread): the client is then built after the read, and a bad URL reported then, as always.
pub(crate) fn client_while_key_is_read(
    ctx: &Context,
    file: &CredentialsFile,
) -> Option<ClientInBuild> {
    if ctx.env_key.is_some() || ctx.env_key_empty {
        return None;
    }
    client_while_stored_key_is_read(ctx, file.profile(ctx.profile.as_str()).as_ref())
}

/// [`client_while_key_is_read`] for a command that reads the profile's saved key whatever
/// FLUXLOOP_API_KEY says (`rotate`).
pub(crate) fn client_while_stored_key_is_read(
    ctx: &Context,
    profile: Option<&Profile>,
) -> Option<ClientInBuild> {
    if profile.is_some_and(|p| p.store() != StoreKind::Keychain) {
        return None;
    }
    let url = ctx
        .api_url(profile)
        .ok()
        .filter(|url| url.scheme() == "https")?;
    ctx.start_client(url)
}

/// A profile's saved key, wherever its metadata says it is: the credentials file for
/// `--storage file` and legacy profiles, the kernel keyring for `--storage keyutils`, the
/// profile's encrypted file for `--storage encrypted-file`, the keychain otherwise. `None`: no key saved.
pub(crate) fn stored_key(
    ctx: &Context,
    name: &str,
    profile: Option<&Profile>,
) -> CliResult<Option<(SecretString, KeySource)>> {
    if let Some(prof) = profile
        && let Some(key) = &prof.api_key
    {
        let source = if prof.is_legacy_plaintext() {
            KeySource::LegacyFile
        } else {
            KeySource::Store(StoreKind::File)
        };
        return Ok(Some((key.clone(), source)));
    }
    let kind = match profile.map(Profile::store) {
        Some(kind @ (StoreKind::Keyutils | StoreKind::EncryptedFile)) => kind,
        _ => StoreKind::Keychain,
    };
    if kind == StoreKind::EncryptedFile {
        return encrypted_key(ctx, name, profile);
    }
    let store = ctx.store(kind).unwrap_or(&ctx.keychain);
    let found = store.get(name)?;
    Ok(found.map(|key| (key, KeySource::Store(kind))))
}

/// A key from its encrypted file, or from the unlock cache when the profile has one
/// (`login --cache`): like sudo's timestamp, one passphrase opens it for that long.
fn encrypted_key(
    ctx: &Context,
    name: &str,
    profile: Option<&Profile>,
) -> CliResult<Option<(SecretString, KeySource)>> {
    let source = KeySource::Store(StoreKind::EncryptedFile);
    let ttl = profile
        .and_then(|p| p.unlock_cache_seconds)
        .map(std::time::Duration::from_secs);
    if ttl.is_some() {
        match ctx.unlock_cache.get(name) {
            Ok(Some(key)) => {
                tracing::info!("the key of profile '{name}' is unlocked (kernel keyring)");
                return Ok(Some((key, source)));
            }
            Ok(None) => {}
            // Said when storing fails too; the file is the key's home.
            Err(e) => tracing::info!("the unlock cache could not be read: {e}"),
        }
    }
    let found = ctx.encrypted_files.get(name)?;
    if let (Some(key), Some(ttl)) = (&found, ttl)
        && let Err(e) = ctx.unlock_cache.set_expiring(name, key, ttl)
    {
        crate::output::Printer::stdio().warn(format!(
            "the kernel keyring cannot keep the opened key ({e}); going on without the unlock cache, so the passphrase is asked every time"
        ));
    }
    Ok(found.map(|key| (key, source)))
}

/// ", unlocked until 14:05" when the profile's key is in the unlock cache.
pub(crate) fn unlocked_until(ctx: &Context, source: KeySource, name: &str) -> String {
    if source != KeySource::Store(StoreKind::EncryptedFile) {
        return String::new();
    }
    match ctx.unlock_cache.expires_in(name) {
        Some(left) => {
            let until = chrono::Local::now() + left;
            format!(", unlocked until {}", until.format("%H:%M"))
        }
        None => String::new(),
    }
}

fn not_logged_in(ctx: &Context, file: &CredentialsFile, has_metadata: bool) -> CliError {
    let in_kernel = file
        .profile(ctx.profile.as_str())
        .is_some_and(|p| p.store() == StoreKind::Keyutils);
    if in_kernel {
        // Not a missing login: the kernel keyring forgets at reboot, by design.
        return CliError::new(
            ExitStatus::Auth,
            ErrorCode::NotLoggedIn,
            format!(
                "The key of profile '{}' was in the kernel keyring and is gone (reboot?); log in again",
                ctx.profile
            ),
        )
        .detail(
            "The kernel keyring is emptied at every reboot, and its persistent keyring after some days unused.",
        )
        .hint(format!(
            "Run `{} --storage keyutils`, or set {} for this shell or CI job",
            login_command(ctx),
            env::API_KEY
        ));
    }
    let mut err = CliError::new(
        ExitStatus::Auth,
        ErrorCode::NotLoggedIn,
        format!("Not logged in (profile '{}')", ctx.profile),
    );
    let in_encrypted_file = file
        .profile(ctx.profile.as_str())
        .is_some_and(|p| p.store() == StoreKind::EncryptedFile);
    if has_metadata && in_encrypted_file {
        err = err.detail(format!(
            "{} lists this profile, but its key file {} is missing.",
            ctx.profiles.path().display(),
            ctx.encrypted_file_store
                .path(ctx.profile.as_str())
                .display()
        ));
    } else if has_metadata {
        err = err.detail(format!(
            "{} lists this profile, but its key is missing from the {}.",
            ctx.profiles.path().display(),
            ctx.keychain.backend()
        ));
    }
    let others: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| n != ctx.profile.as_str())
        .collect();
    err = err.hint(format!(
        "Run `{}`, or set {} for this shell or CI job",
        login_command(ctx),
        env::API_KEY
    ));
    if !others.is_empty() {
        err = err.hint(format!(
            "Other profiles on this machine: {} (select with --profile)",
            others.join(", ")
        ));
    }
    err
}

/// `fluxloop auth login`, with `--profile` when the profile is not the default one.
pub(crate) fn login_command(ctx: &Context) -> String {
    if ctx.profile.is_default() {
        "fluxloop auth login".to_string()
    } else {
        format!("fluxloop auth login --profile {}", ctx.profile)
    }
}

/// Warns on stderr when the key expires within two weeks.
pub(crate) fn warn_expiry(p: &Printer, expires: Option<DateTime<Utc>>) {
    let Some(at) = expires else { return };
    let now = Utc::now();
    if at > now && crate::output::days_until(at, now) < EXPIRY_WARNING_DAYS {
        p.warn(format!(
            "this API key expires {}; create a new one at {KEYS_PAGE} and run `fluxloop auth login`",
            crate::output::expiry_text(Some(at), now),
        ));
    }
}

/// Why the profile in use was chosen, for the rules `switch` adds; `None` for the others, whose
/// outputs say it their own way.
/// Why this run uses its profile, for `-v`: every rule, the flag and variable included.
pub(crate) fn origin_reason(origin: &ProfileOrigin) -> String {
    match origin {
        ProfileOrigin::Flag => "--profile".to_string(),
        ProfileOrigin::Env => env::PROFILE.to_string(),
        ProfileOrigin::Default => "the default; no other rule applies".to_string(),
        other => origin_text(other).unwrap_or_default(),
    }
}

/// One line (`-v`) saying which profile this run uses and why, and which credentials file.
pub(crate) fn log_profile_choice(ctx: &Context) {
    tracing::info!(
        "profile '{}' ({}); credentials file {}",
        ctx.profile,
        origin_reason(&ctx.profile_origin),
        ctx.profiles.path().display()
    );
}

pub(crate) fn origin_text(origin: &ProfileOrigin) -> Option<String> {
    match origin {
        ProfileOrigin::Directory(dir) => Some(format!(
            "bound to {} by `fluxloop auth switch --here`",
            home_relative(dir)
        )),
        ProfileOrigin::Switched => Some("the default set by `fluxloop auth switch`".to_string()),
        ProfileOrigin::Flag | ProfileOrigin::Env | ProfileOrigin::Default => None,
    }
}

/// `~/src/acme` for a path under the home directory; other paths as they are.
pub(crate) fn home_relative(path: &std::path::Path) -> String {
    let home = dirs::home_dir().and_then(|h| h.canonicalize().ok());
    match home.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_string(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

/// "1 key", "2 keys".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}
