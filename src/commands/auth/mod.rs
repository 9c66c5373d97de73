//! `fluxloop auth ...`: orchestration and output only; the work is in api/, secrets/, profiles/.

mod login;
mod logout;
mod migrate;
mod status;
mod whoami;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::cli::{AuthCommand, env};
use crate::commands::errors::{self, KeyOrigin};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::keys;
use crate::output::Printer;
use crate::profiles::{CredentialsFile, KeyLocation, Profile};
use crate::secrets::Backend;

/// Warn this many days before a key expires.
const EXPIRY_WARNING_DAYS: i64 = 14;

pub async fn run(command: AuthCommand, ctx: &Context, p: &Printer) -> CliResult {
    match command {
        AuthCommand::Login(args) => login::run(args, ctx, p).await,
        AuthCommand::Logout(args) => logout::run(&args, ctx, p).await,
        AuthCommand::Status(args) => status::run(&args, ctx, p).await,
        AuthCommand::Whoami(args) => whoami::run(&args, ctx, p).await,
        AuthCommand::Migrate(args) => migrate::run(&args, ctx, p),
    }
}

/// Loads the credentials file and reports what every command must: permissions it tightened,
/// and plaintext keys on disk.
pub(crate) fn load_profiles(ctx: &Context, p: &Printer) -> CliResult<CredentialsFile> {
    let loaded = ctx.profiles.load().map_err(errors::profile_error)?;
    for path in &loaded.tightened {
        p.warn(format!(
            "{} was readable by other users; fixed its permissions (now owner-only)",
            path.display()
        ));
    }
    warn_plaintext(&loaded.file, ctx, p);
    Ok(loaded.file)
}

fn warn_plaintext(file: &CredentialsFile, ctx: &Context, p: &Printer) {
    let plaintext = file.plaintext_profiles();
    let legacy: Vec<&str> = plaintext
        .iter()
        .filter(|(_, l)| *l == KeyLocation::LegacyPlaintext)
        .map(|(n, _)| n.as_str())
        .collect();
    let opted: Vec<&str> = plaintext
        .iter()
        .filter(|(_, l)| *l == KeyLocation::File)
        .map(|(n, _)| n.as_str())
        .collect();
    let path = ctx.profiles.path();
    if !legacy.is_empty() {
        p.warn(format!(
            "a plaintext API key is on disk in {} (profile: {}); run `fluxloop auth migrate` to move it into the {}",
            path.display(),
            legacy.join(", "),
            ctx.secrets.backend()
        ));
    }
    if !opted.is_empty() {
        p.warn(format!(
            "profile {} keeps its API key in PLAINTEXT in {} (--storage file); `fluxloop auth migrate` moves it into the {}",
            opted.join(", "),
            path.display(),
            ctx.secrets.backend()
        ));
    }
}

/// Where the key in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    Env,
    Keychain(Backend),
    File,
    LegacyPlaintext,
}

impl KeySource {
    pub fn id(self) -> &'static str {
        match self {
            KeySource::Env => "env",
            KeySource::Keychain(_) => "keychain",
            KeySource::File => "file",
            KeySource::LegacyPlaintext => "plaintext-file",
        }
    }

    pub fn describe(self, ctx: &Context) -> String {
        match self {
            KeySource::Env => format!("{} environment variable", env::API_KEY),
            KeySource::Keychain(b) => b.to_string(),
            KeySource::File => format!(
                "plaintext file {} (--storage file)",
                ctx.profiles.path().display()
            ),
            KeySource::LegacyPlaintext => format!(
                "plaintext file {} (legacy; run `fluxloop auth migrate`)",
                ctx.profiles.path().display()
            ),
        }
    }
}

pub(crate) struct ResolvedKey {
    pub key: SecretString,
    pub source: KeySource,
    /// The selected profile's saved metadata, if any.
    pub profile: Option<Profile>,
}

impl ResolvedKey {
    pub fn origin(&self, ctx: &Context) -> KeyOrigin {
        match self.source {
            KeySource::Env => KeyOrigin::Env,
            _ => KeyOrigin::Profile {
                name: ctx.profile.to_string(),
                expires: self
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
    if let Some(key) = &ctx.env_key {
        keys::check_format(key).map_err(|e| errors::key_format_error(e, &KeyOrigin::Env))?;
        return Ok(ResolvedKey {
            key: key.clone(),
            source: KeySource::Env,
            profile,
        });
    }
    let origin = KeyOrigin::Profile {
        name: ctx.profile.to_string(),
        expires: None,
    };
    let Some((key, source)) = stored_key(ctx, ctx.profile.as_str(), profile.as_ref())? else {
        return Err(not_logged_in(ctx, file, profile.is_some()));
    };
    keys::check_format(&key).map_err(|e| errors::key_format_error(e, &origin))?;
    if source == KeySource::File {
        p.warn(format!(
            "using the PLAINTEXT key of profile '{}' from {}",
            ctx.profile,
            ctx.profiles.path().display()
        ));
    }
    Ok(ResolvedKey {
        key,
        source,
        profile,
    })
}

/// A profile's saved key, wherever its metadata says it is: the credentials file for
/// `--storage file` and legacy profiles, the keychain otherwise. `None`: no key saved.
pub(crate) fn stored_key(
    ctx: &Context,
    name: &str,
    profile: Option<&Profile>,
) -> CliResult<Option<(SecretString, KeySource)>> {
    if let Some(prof) = profile
        && let Some(key) = &prof.api_key
    {
        match prof.key_location() {
            KeyLocation::File => return Ok(Some((key.clone(), KeySource::File))),
            KeyLocation::LegacyPlaintext => {
                return Ok(Some((key.clone(), KeySource::LegacyPlaintext)));
            }
            KeyLocation::Keychain => {}
        }
    }
    let backend = ctx.secrets.backend();
    ctx.secrets
        .get(name)
        .map(|found| found.map(|key| (key, KeySource::Keychain(backend))))
        .map_err(|e| errors::keychain_error(e, backend))
}

fn not_logged_in(ctx: &Context, file: &CredentialsFile, has_metadata: bool) -> CliError {
    let mut err = CliError::new(
        ExitStatus::Auth,
        "not_logged_in",
        format!("Not logged in (profile '{}')", ctx.profile),
    );
    if has_metadata {
        err = err.detail(format!(
            "{} lists this profile, but its key is missing from the {}.",
            ctx.profiles.path().display(),
            ctx.secrets.backend()
        ));
    }
    let others: Vec<&str> = file
        .profiles
        .keys()
        .map(String::as_str)
        .filter(|n| *n != ctx.profile.as_str())
        .collect();
    let login = if ctx.profile.as_str() == crate::cli::DEFAULT_PROFILE {
        "fluxloop auth login".to_string()
    } else {
        format!("fluxloop auth login --profile {}", ctx.profile)
    };
    err = err.hint(format!(
        "Run `{login}`, or set {} for this shell or CI job",
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

/// Warns on stderr when the key expires within two weeks.
pub(crate) fn warn_expiry(p: &Printer, expires: Option<DateTime<Utc>>) {
    let Some(at) = expires else { return };
    let now = Utc::now();
    if at > now && crate::output::days_until(at, now) < EXPIRY_WARNING_DAYS {
        p.warn(format!(
            "this API key expires {}; create a new one at {} and run `fluxloop auth login`",
            crate::output::expiry_text(Some(at), now),
            errors::KEYS_PAGE
        ));
    }
}
