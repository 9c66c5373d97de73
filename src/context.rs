//! What every command needs. [`Settings::from_env`] is the one place that reads the environment
//! (one rule for every variable: unset and empty are the same; the one exception is an empty
//! `FLUXLOOP_API_KEY`, which is named as such); [`Context::from_env`] adds the
//! real stores; [`Context::new`] takes any parts, so commands can run in-process in tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::api::{self, ApiClient, ClientOptions};
use crate::cli::{self, GlobalArgs, env};
use crate::error::{CliError, CliResult};

/// Flags or environment variables that cannot be used; turned into advice in `error/advice.rs`.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid {}: {value:?}", env::TIMEOUT)]
    Timeout { value: String },
    #[error("invalid {}: {value:?}", env::KEYCHAIN_TIMEOUT)]
    KeychainTimeout { value: String },
    #[error("invalid {}: {value:?}", env::STORAGE)]
    Storage { value: String },
    #[error("{name} is not valid UTF-8 text")]
    NotUnicode { name: &'static str },
    #[error("cannot find your home directory")]
    NoHome,
}
use crate::passphrase::PassphraseFromEnvOrTerminal;
use crate::profiles::{Peeked, Profile, ProfileName, ProfileStore};
use crate::secrets::{
    self, EncryptedFileStore, Keychain, KeychainScope, KeyringStore, KeyutilsStore, StoreKind,
};

/// Which rule chose the profile in use, first to last. `status`, `list` and `-v` say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileOrigin {
    /// `--profile`.
    Flag,
    /// `FLUXLOOP_PROFILE`.
    Env,
    /// `fluxloop auth switch --here / --dir`: the nearest bound directory, canonical.
    Directory(PathBuf),
    /// `fluxloop auth switch PROFILE`: the default kept in the credentials file.
    Switched,
    /// None of the above: the profile named `default`.
    Default,
}

impl ProfileOrigin {
    /// Stable identifier for JSON output.
    pub fn id(&self) -> &'static str {
        match self {
            ProfileOrigin::Flag => "flag",
            ProfileOrigin::Env => "env",
            ProfileOrigin::Directory(_) => "directory",
            ProfileOrigin::Switched => "switched",
            ProfileOrigin::Default => "default",
        }
    }
}

/// The default budget for one command's conversation with the platform.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags and environment, resolved and validated, before any store is opened.
#[derive(Debug)]
pub struct Settings {
    pub profile: ProfileName,
    /// Why `profile` is the one in use.
    pub profile_origin: ProfileOrigin,
    /// `--api-url` or `FLUXLOOP_API_URL`, validated.
    pub api_url_override: Option<Url>,
    /// `FLUXLOOP_STORAGE`: where `login` saves a key when `--storage` is not given.
    pub storage: Option<StoreKind>,
    pub http: ClientOptions,
    pub env_key: Option<SecretString>,
    /// `FLUXLOOP_KEYCHAIN_TIMEOUT`, else [`secrets::CALL_TIMEOUT`]: the bound of every keychain
    /// call.
    pub keychain_timeout: Duration,
    /// `FLUXLOOP_API_KEY` is set but empty (or blank): an error of its own, not "unset".
    pub env_key_empty: bool,
    /// `FLUXLOOP_PASSPHRASE`: the encrypted-file store's passphrase, where no one can type it.
    pub passphrase: Option<SecretString>,
    /// The credentials directory (`FLUXLOOP_HOME`, else `~/.fluxloop`).
    pub home: PathBuf,
    /// `home` came from FLUXLOOP_HOME: the user's directory, never chmod-ed by us.
    pub home_chosen: bool,
    /// The keychain entries of `home`: the service name (`FLUXLOOP_KEYRING_SERVICE`, else
    /// `fluxloop`), scoped to `home` unless it is `~/.fluxloop`.
    pub keychain_scope: KeychainScope,
    /// Debug builds: `FLUXLOOP_DEBUG_FAIL_METADATA_WRITE` makes every credentials-file write fail.
    /// Always false, and never read, in a release build.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub fail_metadata_writes: bool,
    /// The credentials file as read to choose the profile, for the command's own read.
    pub peeked: Option<Peeked>,
    /// Whether `login --web` may open a browser.
    pub desktop: bool,
    /// Debug builds: `FLUXLOOP_DEBUG_CRASH_AT` and `FLUXLOOP_DEBUG_CRASH_TRACE` (crash_points.rs).
    #[cfg(debug_assertions)]
    pub crash_at: Option<u32>,
    #[cfg(debug_assertions)]
    pub crash_trace: Option<PathBuf>,
    #[cfg(debug_assertions)]
    pub crash_stops: bool,
}

pub struct Context {
    pub profile: ProfileName,
    pub profile_origin: ProfileOrigin,
    pub api_url_override: Option<Url>,
    pub storage: Option<StoreKind>,
    pub http: ClientOptions,
    pub env_key: Option<SecretString>,
    pub env_key_empty: bool,
    pub profiles: ProfileStore,
    pub keychain: Keychain,
    /// `--storage keyutils`: the Linux kernel keyring, under the same service name.
    pub kernel_keyring: Keychain,
    /// `--storage encrypted-file`: the same store as [`Context::encrypted_files`], for what only
    /// it has (file paths, the passphrase asked before a login's key).
    pub encrypted_file_store: Arc<EncryptedFileStore>,
    /// `--storage encrypted-file`, as the other stores are used.
    pub encrypted_files: Keychain,
    /// `FLUXLOOP_PASSPHRASE` is set: no prompt.
    pub passphrase_from_env: bool,
    /// `login --cache`: keys opened from encrypted files, kept in the kernel keyring a while.
    pub unlock_cache: KeyutilsStore,
    /// A desktop session a browser can be opened in: not over SSH, not in CI.
    pub desktop: bool,
}

impl Context {
    /// The context of a real run: settings from flags and the environment, the credentials file
    /// and the OS keychain.
    pub fn from_env(global: &GlobalArgs) -> CliResult<Self> {
        let mut settings = Settings::from_env(global)?;
        let mut profiles =
            ProfileStore::new(settings.home.clone()).with_peeked(settings.peeked.take());
        if settings.home_chosen {
            profiles = profiles.user_chosen();
        }
        #[cfg(debug_assertions)]
        if settings.fail_metadata_writes {
            profiles = profiles.with_failing_writes();
        }
        #[cfg(debug_assertions)]
        crate::crash_points::arm(
            settings.crash_at,
            settings.crash_trace.clone(),
            settings.crash_stops,
        );
        let store = KeyringStore::new(settings.keychain_scope.clone(), settings.keychain_timeout)
            .with_prompt_notice(std::sync::Arc::new(|provider, limit| {
                crate::output::Printer::stdio().info(crate::error::prompt_notice(provider, limit));
            }));
        let keychain = Keychain::new(Box::new(store));
        let kernel_keyring = Keychain::new(Box::new(KeyutilsStore::new(
            settings.keychain_scope.clone(),
        )));
        let passphrase = Arc::new(PassphraseFromEnvOrTerminal::new(
            settings.passphrase.clone(),
        ));
        let encrypted_file_store = Arc::new(EncryptedFileStore::new(&settings.home, passphrase));
        Ok(Self::new(
            settings,
            profiles,
            keychain,
            kernel_keyring,
            encrypted_file_store,
        ))
    }

    pub fn new(
        settings: Settings,
        profiles: ProfileStore,
        keychain: Keychain,
        kernel_keyring: Keychain,
        encrypted_file_store: Arc<EncryptedFileStore>,
    ) -> Self {
        Self {
            profile: settings.profile,
            profile_origin: settings.profile_origin,
            api_url_override: settings.api_url_override,
            storage: settings.storage,
            http: settings.http,
            env_key: settings.env_key,
            env_key_empty: settings.env_key_empty,
            profiles,
            keychain,
            kernel_keyring,
            encrypted_files: Keychain::new(Box::new(encrypted_file_store.clone())),
            passphrase_from_env: settings.passphrase.is_some(),
            unlock_cache: KeyutilsStore::unlock_cache(&settings.keychain_scope),
            encrypted_file_store,
            desktop: settings.desktop,
        }
    }

    /// The store that keeps keys of `kind` outside the credentials file; `None` for `file`.
    pub fn store(&self, kind: StoreKind) -> Option<&Keychain> {
        match kind {
            StoreKind::Keychain => Some(&self.keychain),
            StoreKind::Keyutils => Some(&self.kernel_keyring),
            StoreKind::EncryptedFile => Some(&self.encrypted_files),
            StoreKind::File => None,
        }
    }

    /// First to last: `--api-url`, `FLUXLOOP_API_URL`, the URL saved with the profile, the default.
    pub fn api_url(&self, profile: Option<&Profile>) -> CliResult<Url> {
        if let Some(url) = &self.api_url_override {
            return Ok(url.clone());
        }

        let saved = profile.and_then(|p| p.api_url.as_deref());
        api::parse_base_url(saved.unwrap_or(cli::DEFAULT_API_URL)).map_err(|e| {
            CliError::from(e).hint(format!(
                "The URL comes from profile '{}' in {}; log in again or pass --api-url",
                self.profile,
                self.profiles.path().display()
            ))
        })
    }

    pub fn client(&self, base: Url) -> CliResult<ApiClient> {
        Ok(ApiClient::new(base, &self.http)?)
    }

    /// Starts building the client for `base` on a thread of its own, so that loading the trust
    /// store overlaps a keychain read (mostly waiting on the Secret Service). Building a client
    /// opens no connection and sends nothing. `None` when no thread can be started: the client
    /// is then built when it is needed, as without this.
    pub fn start_client(&self, base: Url) -> Option<ClientInBuild> {
        let options = self.http.clone();
        let url = base.clone();
        std::thread::Builder::new()
            .name("http-client".into())
            .spawn(move || ApiClient::new(url, &options))
            .ok()
            .map(|building| ClientInBuild { base, building })
    }

    /// The client for `base`: the one `early` built, when it was for that URL, else one built
    /// now. Its deadline starts now, once the key is known, whenever it was built, so a slow
    /// keychain (an unlock prompt) takes nothing from the platform's time. A set-up error
    /// comes out here, after the key was read, as it did when the client was built here.
    pub fn client_after(&self, early: Option<ClientInBuild>, base: Url) -> CliResult<ApiClient> {
        if let Some(early) = early
            && early.base == base
            && let Ok(built) = early.building.join()
        {
            let mut client = built?;
            client.restart_deadline();
            return Ok(client);
        }
        self.client(base)
    }
}

/// An HTTP client being built on another thread ([`Context::start_client`]); dropping it lets
/// the thread finish unseen.
pub struct ClientInBuild {
    base: Url,
    building: std::thread::JoinHandle<Result<ApiClient, api::ApiError>>,
}

impl Settings {
    /// Reads the flags and every environment variable fluxloop knows, validating each.
    pub fn from_env(global: &GlobalArgs) -> CliResult<Self> {
        let env_profile = var(env::PROFILE)?;
        let home_chosen = var_os(env::HOME).is_some();
        let default_home = default_credentials_dir();
        let home = credentials_dir()?;
        let mut peeked = None;
        let (profile, profile_origin) = match (global.profile.as_deref(), env_profile.as_deref()) {
            (Some(name), _) => (ProfileName::parse(name)?, ProfileOrigin::Flag),
            (None, Some(name)) => (ProfileName::parse(name)?, ProfileOrigin::Env),
            (None, None) => {
                let (name, origin, file) = saved_choice(&home);
                peeked = file;
                (name, origin)
            }
        };
        let api_url_override = match global.api_url.clone().or(var(env::API_URL)?) {
            Some(text) => Some(api::parse_base_url(&text)?),
            None => None,
        };
        let storage = match var(env::STORAGE)? {
            Some(text) => Some(parse_storage(&text)?),
            None => None,
        };
        let timeout = match var(env::TIMEOUT)? {
            Some(text) => parse_timeout(&text)?,
            None => DEFAULT_TIMEOUT,
        };
        let keychain_timeout = match var(env::KEYCHAIN_TIMEOUT)? {
            Some(text) => parse_timeout(&text).map_err(|_| SettingsError::KeychainTimeout {
                value: text.to_string(),
            })?,
            None => secrets::CALL_TIMEOUT,
        };
        let env_key = var(env::API_KEY)?.and_then(|v| {
            let v = zeroize::Zeroizing::new(v);
            let trimmed = v.trim();
            (!trimmed.is_empty()).then(|| SecretString::from(trimmed))
        });
        // The exception to the one rule: in CI an empty key is a secret that was withheld (a
        // pull request from a fork), and treating it as unset would fall back to a saved key.
        let env_key_empty = env_key.is_none() && std::env::var_os(env::API_KEY).is_some();
        // Trimmed as the prompt trims what is typed, so the two give the same passphrase.
        let passphrase = var(env::PASSPHRASE)?.and_then(|v| {
            let v = zeroize::Zeroizing::new(v);
            let trimmed = v.trim();
            (!trimmed.is_empty()).then(|| SecretString::from(trimmed))
        });
        let cert_file = var_os(env::SSL_CERT_FILE);
        // OpenSSL's variables, not ours: the platform verifier skips the system store whenever
        // SSL_CERT_FILE is present, even empty, so its presence is what counts here. Empty
        // entries (and an empty SSL_CERT_DIR) count as unset, as in rustls-native-certs.
        let system_cert_dirs = std::env::var_os(env::SSL_CERT_FILE).map(|_| {
            var_os(env::SSL_CERT_DIR)
                .map(|dirs| std::env::split_paths(&dirs).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        let keyring_service =
            var(env::KEYRING_SERVICE)?.unwrap_or_else(|| secrets::DEFAULT_SERVICE.to_string());
        let keychain_scope = KeychainScope::new(&keyring_service, &home, default_home.as_deref());
        Ok(Self {
            profile,
            profile_origin,
            api_url_override,
            storage,
            http: ClientOptions {
                timeout,
                extra_roots: cert_file.map(PathBuf::from),
                system_cert_dirs,
                proxy: proxy_vars(),
            },
            keychain_timeout,
            env_key,
            env_key_empty,
            passphrase,
            home,
            home_chosen,
            keychain_scope,
            fail_metadata_writes: cfg!(debug_assertions)
                && var_os("FLUXLOOP_DEBUG_FAIL_METADATA_WRITE").is_some(),
            peeked,
            desktop: has_desktop(),
            #[cfg(debug_assertions)]
            crash_at: var_os("FLUXLOOP_DEBUG_CRASH_AT")
                .and_then(|v| v.to_str().and_then(|v| v.trim().parse().ok())),
            #[cfg(debug_assertions)]
            crash_trace: var_os("FLUXLOOP_DEBUG_CRASH_TRACE").map(PathBuf::from),
            #[cfg(debug_assertions)]
            crash_stops: var_os("FLUXLOOP_DEBUG_CRASH_SIGNAL").is_some_and(|v| v == "stop"),
        })
    }

    /// Settings for an in-process test: profile `default`, `home` for the credentials file, the
    /// given API URL, nothing from the environment.
    #[cfg(test)]
    pub fn for_test(home: PathBuf, api_url: &str) -> Self {
        Self {
            profile: ProfileName::default_profile(),
            profile_origin: ProfileOrigin::Default,
            api_url_override: Some(api::parse_base_url(api_url).unwrap()),
            storage: None,
            http: ClientOptions {
                timeout: Duration::from_secs(5),
                extra_roots: None,
                system_cert_dirs: None,
                proxy: api::ProxyVars::default(),
            },
            keychain_timeout: secrets::CALL_TIMEOUT,
            env_key: None,
            env_key_empty: false,
            passphrase: None,
            keychain_scope: KeychainScope::new(secrets::DEFAULT_SERVICE, &home, Some(&home)),
            home,
            home_chosen: true,
            fail_metadata_writes: false,
            peeked: None,
            desktop: false,
            #[cfg(debug_assertions)]
            crash_at: None,
            #[cfg(debug_assertions)]
            crash_trace: None,
            #[cfg(debug_assertions)]
            crash_stops: false,
        }
    }
}

/// The profile chosen by the credentials file when neither `--profile` nor `FLUXLOOP_PROFILE`
/// names one: the nearest directory binding, then the default set by `switch`, then `default`.
/// One read, before the command runs: a file that cannot be read or parsed, or a name in it that
/// is not valid, counts as no choice, and the command itself reports the file.
/// Also returns what was read, for the command's own read of the file (see [`Peeked`]).
fn saved_choice(home: &Path) -> (ProfileName, ProfileOrigin, Option<Peeked>) {
    let Ok(peeked) = ProfileStore::new(home.to_path_buf()).peek_keeping_text() else {
        return (ProfileName::default_profile(), ProfileOrigin::Default, None);
    };
    let file = &peeked.file;
    let (name, origin) = if !file.directories.is_empty()
        && let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize)
        && let Some((dir, name)) = file.nearest_binding(&cwd)
        && let Ok(name) = ProfileName::parse(name)
    {
        (name, ProfileOrigin::Directory(dir))
    } else {
        match file.current_profile.as_deref().map(ProfileName::parse) {
            Some(Ok(name)) => (name, ProfileOrigin::Switched),
            _ => (ProfileName::default_profile(), ProfileOrigin::Default),
        }
    };
    (name, origin, Some(peeked))
}

/// The credentials directory: `FLUXLOOP_HOME`, else `~/.fluxloop`.
pub fn credentials_dir() -> Result<PathBuf, SettingsError> {
    match var_os(env::HOME) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => default_credentials_dir().ok_or(SettingsError::NoHome),
    }
}

fn default_credentials_dir() -> Option<PathBuf> {
    dirs::home_dir().map(|dir| dir.join(".fluxloop"))
}

/// The one rule for fluxloop's environment variables: unset and empty are the same. A value that
/// is not valid UTF-8 is a usage error naming the variable.
fn var(name: &'static str) -> Result<Option<String>, SettingsError> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(SettingsError::NotUnicode { name }),
    }
}

/// [`var`] for paths, which need not be UTF-8.
fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// A browser can be opened for the user: a graphical session (always on macOS and Windows, a
/// display on the others), not reached over SSH (the browser would open on the far machine),
/// not a CI job.
fn has_desktop() -> bool {
    let remote = var_os(env::SSH_CONNECTION).is_some() || var_os(env::SSH_TTY).is_some();
    let ci = var_os(env::CI).is_some_and(|v| v != "false" && v != "0");
    let display = cfg!(any(target_os = "macos", windows))
        || var_os(env::DISPLAY).is_some()
        || var_os(env::WAYLAND_DISPLAY).is_some();
    display && !remote && !ci
}

fn parse_storage(text: &str) -> Result<StoreKind, SettingsError> {
    <StoreKind as clap::ValueEnum>::from_str(text.trim(), true).map_err(|_| {
        SettingsError::Storage {
            value: text.to_string(),
        }
    })
}

fn parse_timeout(text: &str) -> Result<Duration, SettingsError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| SettingsError::Timeout {
            value: text.to_string(),
        })
}

/// The proxy variables reqwest routes by (not ours, so read as they are: set-but-empty counts,
/// as in reqwest), only to name the proxy in errors.
fn proxy_vars() -> api::ProxyVars {
    let first = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find_map(|name| std::env::var(name).ok().map(|value| (name, value)))
    };
    api::ProxyVars {
        https: first(["HTTPS_PROXY", "https_proxy"]),
        all: first(["ALL_PROXY", "all_proxy"]),
        no: first(["NO_PROXY", "no_proxy"]).map(|(_, value)| value),
        cgi: std::env::var_os("REQUEST_METHOD").is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_values() {
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "abc", "", "inf", "NaN", "4000"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_values() {
        assert_eq!(parse_storage("keychain").unwrap(), StoreKind::Keychain);
        assert_eq!(parse_storage("File").unwrap(), StoreKind::File);
        assert_eq!(parse_storage("keyutils").unwrap(), StoreKind::Keyutils);
        assert!(parse_storage("vault").is_err());
    }
}
