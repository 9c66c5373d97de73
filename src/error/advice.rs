//! Module errors become [`CliError`]s here, and only here, with the hints that tell people what
//! to do next: `From` impls where the error carries all it needs, [`CliError::for_key`] where
//! the message names the key's origin.

use crate::api::{ApiError, ProxyRoute};
use crate::cli::env;
use crate::context::SettingsError;
use crate::keys::KeyFormatError;
use crate::profiles::{DEFAULT_PROFILE, ProfileCaseClash, ProfileError, ProfileNameError};
use crate::secrets::{KeySource, Provider, SecretStoreError, StoreError};
use crate::situation::{Ci, Container, Kind, Situation};
use crate::terminal::TerminalError;

use super::{CliError, ErrorCode, ExitStatus, KeyUsed};

/// Where the dashboard lets people create and revoke keys.
pub const KEYS_PAGE: &str = "https://app.fluxloop.ai/settings/api-keys";

/// A failure about one key: what the platform said of it, or why it is not a key at all.
pub enum KeyFailure {
    Api(ApiError),
    Format(KeyFormatError),
}

impl From<ApiError> for KeyFailure {
    fn from(e: ApiError) -> Self {
        KeyFailure::Api(e)
    }
}

impl From<KeyFormatError> for KeyFailure {
    fn from(e: KeyFormatError) -> Self {
        KeyFailure::Format(e)
    }
}

impl CliError {
    /// An error about the key in `key`: the message says where that key came from (the
    /// environment, a profile) and, for an expired one, since when.
    pub fn for_key(e: impl Into<KeyFailure>, key: &KeyUsed<'_>) -> Self {
        let err = match e.into() {
            KeyFailure::Api(e) => with_origin(api_error(e, key.expires), key),
            KeyFailure::Format(e) => key_format_error(e, key),
        };
        // A key from the environment wins over any login: replace it there, not by logging in.
        if key.source == KeySource::Env {
            err.replace_hints(
                "fluxloop auth login`",
                format!(
                    "Put a new key in {} (create one at {KEYS_PAGE})",
                    env::API_KEY
                ),
            )
        } else {
            err
        }
    }

    /// Replaces every hint that mentions `needle` with `hint` (once).
    fn replace_hints(mut self, needle: &str, hint: String) -> Self {
        let before = self.hints.len();
        self.hints.retain(|h| !h.contains(needle));
        if self.hints.len() != before {
            self.hints.insert(0, hint);
        }
        self
    }

    /// For commands that change, remove or inspect what is stored (`logout`, `migrate`,
    /// `login`, `list --check`, `token`): the keychain error's "set FLUXLOOP_API_KEY instead"
    /// does nothing for them.
    pub fn for_store_change(mut self) -> Self {
        self.hints.retain(|h| !h.starts_with(ENV_HINT_START));
        self
    }

    /// A keychain absent from this machine ([`CliError::absent_keychain`]): the advice speaks to
    /// the machine `situation` describes (a CI runner, a container, WSL, SSH, no desktop) and
    /// names the store that fits it, with the exact command. On a desktop it stays as it was.
    pub fn in_situation(mut self, situation: &Situation) -> Self {
        if !self.absent_keychain {
            return self;
        }
        // `for_store_change` removed this hint from errors where the variable does not help.
        let offers_env = self.hints.iter().any(|h| h.starts_with(ENV_HINT_START));
        let env_hint = |s: &str| format!("{ENV_HINT_START} {s}");
        let (detail, hints): (String, Vec<String>) = match situation.kind() {
            Kind::Desktop => return self,
            Kind::Ci(ci) => {
                let example = match ci {
                    Ci::GitHubActions => format!(
                        " (in the workflow: `env: {0}: ${{{{ secrets.{0} }}}}`)",
                        env::API_KEY
                    ),
                    Ci::GitLab => " (a masked CI/CD variable)".to_string(),
                    Ci::Other => String::new(),
                };
                self.hints.clear();
                (
                    format!(
                        "This is a CI runner ({}), and no keychain runs there.",
                        ci_name(ci)
                    ),
                    vec![
                        format!(
                            "Give the job its key as a secret in {}{example}; no login is needed",
                            env::API_KEY
                        ),
                        "A pull request from a fork gets no secrets: skip the steps that need \
                         the key there"
                            .to_string(),
                    ],
                )
            }
            Kind::Container(container) => {
                self.hints.clear();
                let mut hints = vec![format!(
                    "Keep the key encrypted with a passphrase: `fluxloop auth login --storage \
                     encrypted-file` (the passphrase from the terminal, or {})",
                    env::PASSPHRASE
                )];
                if offers_env {
                    hints.push(env_hint(&format!(
                        "pass the key in {} (`docker run -e {}`; nothing is stored)",
                        env::API_KEY,
                        env::API_KEY
                    )));
                }
                (
                    format!(
                        "This is a container ({}), and no keychain runs there.",
                        container_name(container)
                    ),
                    hints,
                )
            }
            Kind::Wsl => {
                self.hints.retain(|h| h.starts_with(ENV_HINT_START));
                (
                    "This is WSL, which runs no keychain of its own.".to_string(),
                    vec![
                        "Keep the key encrypted with a passphrase: `fluxloop auth login \
                         --storage encrypted-file` (the kernel keyring would be emptied each \
                         time WSL shuts down)"
                            .to_string(),
                    ],
                )
            }
            Kind::SshWithoutBus => {
                self.hints.retain(|h| h.starts_with(ENV_HINT_START));
                (
                    "This is an SSH session without a D-Bus session bus, so no keychain can be \
                     reached from it."
                        .to_string(),
                    vec![
                        "Keep the key in the kernel keyring, until reboot: `fluxloop auth login \
                         --storage keyutils`"
                            .to_string(),
                        "Or keep it encrypted with a passphrase: `fluxloop auth login --storage \
                         encrypted-file`"
                            .to_string(),
                        "Or reach a keychain: start a session bus with `dbus-run-session -- \
                         $SHELL` and unlock a keyring there"
                            .to_string(),
                    ],
                )
            }
            Kind::Headless => {
                self.hints.retain(|h| h.starts_with(ENV_HINT_START));
                (
                    "This machine has no desktop session (neither DISPLAY nor WAYLAND_DISPLAY is \
                     set), and nothing started a keychain."
                        .to_string(),
                    vec![
                        "Keep the key encrypted with a passphrase: `fluxloop auth login \
                         --storage encrypted-file`"
                            .to_string(),
                        "Or in the kernel keyring, until reboot: `fluxloop auth login --storage \
                         keyutils`"
                            .to_string(),
                    ],
                )
            }
        };
        self.details.push(detail);
        let mut hints = hints;
        if self.keyctl_blocked {
            // keyctl is what this machine refuses: the kernel keyring is no way out here.
            hints.retain(|h| !h.contains("--storage keyutils"));
            // The way out named first no longer follows another ("Or keep it …").
            if let Some(first) = hints.first_mut()
                && let Some(rest) = first.strip_prefix("Or ")
            {
                *first = capitalise(rest);
            }
        }
        // The situation's hints first, then what was kept (the FLUXLOOP_API_KEY way out).
        let kept = std::mem::replace(&mut self.hints, hints);
        self.hints.extend(kept);
        self
    }

    /// `FLUXLOOP_API_KEY` is set to nothing: in CI, a secret that was withheld (a pull request
    /// from a fork). Never a fall back to a saved key, which would be another account's in CI.
    pub fn empty_env_key(situation: &Situation, login_command: &str) -> Self {
        let err = CliError::new(
            ExitStatus::Auth,
            ErrorCode::EmptyEnvKey,
            format!("{} is set but empty", env::API_KEY),
        );
        match situation.ci {
            Some(ci) => err
                .detail(format!(
                    "This is a CI run ({}). A pull request from a fork gets no secrets, so a \
                     variable set from a secret is empty there.",
                    ci_name(ci)
                ))
                .hint(format!(
                    "Check that the secret exists and is passed to this job as {}",
                    env::API_KEY
                ))
                .hint(match ci {
                    Ci::GitHubActions => format!(
                        "For pull requests from forks, skip the steps that need the key: \
                         `if: env.{} != ''`",
                        env::API_KEY
                    ),
                    _ => "For pull requests from forks, skip the steps that need the key"
                        .to_string(),
                }),
            None => err
                .detail(
                    "An empty variable is not a key, and while it is set fluxloop does not use \
                     a saved one.",
                )
                .hint(format!(
                    "Set it to a key, or unset it (`unset {}`) to use the key saved by `{login_command}`",
                    env::API_KEY
                )),
        }
    }

    /// `logout --all` with no profile in the credentials file and no reachable keychain: the
    /// keychain may still hold keys whose metadata was lost, so this is not "nothing to remove".
    pub fn keychain_not_searched(self) -> Self {
        self.detail(
            "Nothing was removed: the credentials file lists no profile, and the keychain, \
             which may still hold fluxloop keys without profile metadata, could not be searched.",
        )
    }

    /// "Create a new key at <dashboard>, then run `fluxloop auth login`".
    fn hint_new_key(self) -> Self {
        self.hint(format!(
            "Create a new key at {KEYS_PAGE}, then run `fluxloop auth login`"
        ))
    }

    /// An expired key, whether the platform said so or its expiry date has passed.
    pub fn key_expired(at: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        let when = at
            .map(|at| format!(" on {}", at.format("%Y-%m-%d")))
            .unwrap_or_default();
        CliError::new(
            ExitStatus::Auth,
            ErrorCode::KeyExpired,
            format!("API key expired{when}"),
        )
        .hint_new_key()
    }
}

/// How the "use FLUXLOOP_API_KEY instead" hint starts, so it can be found and removed.
const ENV_HINT_START: &str = "Or skip the keychain:";

fn ci_name(ci: Ci) -> &'static str {
    match ci {
        Ci::GitHubActions => "GitHub Actions",
        Ci::GitLab => "GitLab CI",
        Ci::Other => "CI is set",
    }
}

fn container_name(container: Container) -> &'static str {
    match container {
        Container::Docker => "Docker",
        Container::Podman => "Podman",
        Container::Kubernetes => "Kubernetes",
        Container::Other => "detected from its cgroup or `container` variable",
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> Self {
        api_error(e, None)
    }
}

fn api_error(e: ApiError, expires: Option<chrono::DateTime<chrono::Utc>>) -> CliError {
    use ExitStatus::{Auth, Network, Permission, Usage};
    match e {
        ApiError::InvalidUrl { .. } => {
            CliError::new(Usage, ErrorCode::InvalidApiUrl, capitalise(&e.to_string())).hint(
                format!(
                    "Use an https:// URL, e.g. --api-url {}",
                    crate::cli::DEFAULT_API_URL
                ),
            )
        }
        ApiError::InsecureUrl { url } => CliError::new(
            Usage,
            ErrorCode::InsecureApiUrl,
            format!("Refusing to use {url}"),
        )
        .detail(
            "Plain http:// would send your API key unencrypted; it is only allowed for loopback \
             addresses (127.0.0.1, ::1, localhost).",
        )
        .hint("Use the https:// form of the URL"),
        ApiError::Setup(reason) => CliError::new(
            Usage,
            ErrorCode::TlsSetup,
            format!("Could not set up HTTPS: {reason}"),
        )
        .hint(format!(
            "{} must name a readable PEM file of CA certificates, or be unset",
            env::SSL_CERT_FILE
        )),
        ApiError::Unauthorized { code, message } => match code.as_str() {
            "key_expired" => CliError::key_expired(expires),
            "key_revoked" => CliError::new(Auth, ErrorCode::KeyRevoked, "API key has been revoked")
                .hint_new_key(),
            _ => {
                let message = crate::keys::redact(&message);
                let mut err = CliError::new(Auth, ErrorCode::InvalidApiKey, "Invalid API key");
                // The platform's own words, unless they only repeat the title.
                if !message.eq_ignore_ascii_case("invalid api key") {
                    err = err.detail(format!("The platform said: {message}"));
                }
                err.detail("")
                    .detail("Please check:")
                    .detail("  1. The key was copied completely (it starts with `flux_`)")
                    .detail("  2. The key has not been revoked or expired")
                    .detail(
                        "  3. The key belongs to this environment's API URL (dev, staging or \
                         production)",
                    )
                    .hint(format!("Generate a new key at {KEYS_PAGE}"))
            }
        },
        ApiError::PermissionDenied {
            message,
            required,
            permissions,
        } => {
            let mut err =
                CliError::new(Permission, ErrorCode::PermissionDenied, "Permission denied");
            if message != "Permission denied" {
                err = err.detail(crate::keys::redact(&message));
            }
            let yours = if permissions.is_empty() {
                "none".to_string()
            } else {
                permissions.join(", ")
            };
            err.detail(format!(
                "Required permission: {}",
                required.as_deref().unwrap_or("(not stated)")
            ))
            .detail(format!("Your permissions: {yours}"))
            .hint(format!(
                "Ask an organization owner for the permission, or use a key that has it \
                 ({KEYS_PAGE})"
            ))
        }
        ApiError::RateLimited { retry_after } => {
            let err = CliError::new(
                Network,
                ErrorCode::RateLimited,
                "Rate limited by the FluxLoop API",
            );
            match retry_after {
                Some(d) => err.hint(format!("Try again in {} s", d.as_secs().max(1))),
                None => err.hint("Wait a minute and try again"),
            }
        }
        ApiError::Server { status, .. } => CliError::new(
            Network,
            ErrorCode::ServerError,
            format!("The FluxLoop API failed (HTTP {status})"),
        )
        .detail(capitalise(&e.to_string()))
        .detail("Retried with backoff; it kept failing.")
        .hint("The platform may be having trouble; try again in a few minutes"),
        ApiError::BadRequest { .. } => CliError::new(
            Network,
            ErrorCode::UnexpectedStatus,
            "The FluxLoop API refused the request (HTTP 400)",
        )
        .detail(capitalise(&e.to_string()))
        .hint("Check the options given, and that fluxloop is up to date"),
        // One request, not retried: a wrong URL is likelier than a platform in trouble.
        ApiError::UnexpectedStatus { status, .. } => CliError::new(
            Network,
            ErrorCode::UnexpectedStatus,
            format!("Unexpected answer from the FluxLoop API (HTTP {status})"),
        )
        .detail(capitalise(&e.to_string()))
        .hint(if status == 404 {
            "Nothing answers at that address: check the API URL (--api-url, FLUXLOOP_API_URL)"
        } else {
            "Check the API URL (--api-url, FLUXLOOP_API_URL)"
        }),
        ApiError::Connect {
            host,
            reason,
            route,
        } => connect_failed(&host, &reason, &route),
        ApiError::Tls { host, reason } => {
            let err = CliError::new(
                Network,
                ErrorCode::TlsFailed,
                "Unable to connect to FluxLoop API securely",
            )
            .detail(format!("TLS with {host} failed: {reason}"))
            .detail("Your key was not sent.");
            if reason.contains("not valid for name") {
                // The certificate is fine but for another host: a wrong URL, not a missing CA.
                err.hint(
                    "The server's certificate is for another host name; check the API URL \
                     (--api-url, FLUXLOOP_API_URL)",
                )
            } else {
                err.hint(format!(
                    "Behind a TLS-inspecting proxy? Point {} at its CA certificate (PEM)",
                    env::SSL_CERT_FILE
                ))
            }
        }
        ApiError::Timeout { after } => CliError::new(
            Network,
            ErrorCode::Timeout,
            format!(
                "The FluxLoop API did not answer within {} s",
                fmt_secs(after)
            ),
        )
        .hint(format!(
            "Check your connection, or allow longer with {}=<seconds>",
            env::TIMEOUT
        )),
        ApiError::Redirect { .. } => CliError::new(
            Network,
            ErrorCode::Redirect,
            "Unexpected redirect from the FluxLoop API",
        )
        .detail(capitalise(&e.to_string()))
        .hint(
            "Check the API URL (--api-url, FLUXLOOP_API_URL); use the platform's canonical \
             https:// address",
        ),
        ApiError::BodyTooLarge | ApiError::InvalidResponse { .. } => CliError::new(
            Network,
            ErrorCode::InvalidResponse,
            "Unexpected response from the FluxLoop API",
        )
        .detail(capitalise(&e.to_string()))
        .hint(
            "Check the API URL (--api-url, FLUXLOOP_API_URL); a proxy or captive portal may be \
             answering instead of the platform",
        ),
    }
}

/// Adds where the key came from, for the errors that are about the key.
fn with_origin(err: CliError, key: &KeyUsed<'_>) -> CliError {
    if !matches!(err.status, ExitStatus::Auth | ExitStatus::Permission) {
        return err;
    }
    match key.source {
        KeySource::Env => err.detail(format!("(The key came from {}.)", env::API_KEY)),
        KeySource::Store(_) | KeySource::LegacyFile => err.detail(format!(
            "(The key is the one saved for profile '{}'.)",
            key.profile
        )),
        KeySource::Input => err,
    }
}

fn key_format_error(e: KeyFormatError, key: &KeyUsed<'_>) -> CliError {
    let source = match key.source {
        KeySource::Env => format!(" in {}", env::API_KEY),
        KeySource::Store(_) | KeySource::LegacyFile => {
            format!(" saved for profile '{}'", key.profile)
        }
        KeySource::Input => String::new(),
    };
    CliError::new(
        ExitStatus::Auth,
        ErrorCode::MalformedKey,
        format!("That is not a FluxLoop API key{source}"),
    )
    .detail(capitalise(&e.to_string()) + ".")
    .detail(
        "API keys look like flux_<environment>_<20 to 128 letters and digits>, e.g. \
         flux_dev_abc1...mno34.",
    )
    .detail("Nothing was sent to the platform.")
    .hint(format!("Copy the key again from {KEYS_PAGE}"))
}

impl From<StoreError> for CliError {
    fn from(
        StoreError {
            backend,
            provider,
            kind,
        }: StoreError,
    ) -> Self {
        let env_hint = format!(
            "{ENV_HINT_START} set {} in the environment (nothing is stored)",
            env::API_KEY
        );
        if let SecretStoreError::AccessDenied = kind {
            return access_denied(provider).hint(env_hint);
        }
        if let Some(err) = encrypted_file_error(&kind) {
            return err;
        }
        let mut err = CliError::new(
            ExitStatus::Keychain,
            ErrorCode::KeychainUnavailable,
            format!("The {backend} is not usable: {kind}"),
        );
        err.absent_keychain = kind.is_absent();
        err.keyctl_blocked = matches!(kind, SecretStoreError::KeyctlBlocked(_));
        match kind {
            SecretStoreError::NoSessionBus(_) => err
                .detail(
                    "The Secret Service is reached over the D-Bus session bus, and this process \
                     has none (DBUS_SESSION_BUS_ADDRESS).",
                )
                .hint(
                    "On a desktop, run fluxloop inside your graphical login session; over SSH, \
                     start one with `dbus-run-session -- $SHELL` and unlock a keyring",
                )
                .hint(env_hint),
            SecretStoreError::NoProvider => err
                .detail("Nothing on the session bus provides org.freedesktop.secrets.")
                .hint(
                    "Install and start a Secret Service, e.g. `apt install gnome-keyring` then \
                     log in again, or enable KeePassXC's Secret Service integration",
                )
                .hint(env_hint),
            SecretStoreError::Locked => locked(err, provider).hint(env_hint),
            SecretStoreError::NoCollection => no_collection(err, provider).hint(env_hint),
            SecretStoreError::Timeout(_) => timeout(err, provider)
                .hint(format!(
                    "If it shows an unlock prompt that needs longer, allow more time with {}=<seconds> \
                     (default {})",
                    env::KEYCHAIN_TIMEOUT,
                    crate::secrets::CALL_TIMEOUT.as_secs()
                ))
                .hint(env_hint),
            SecretStoreError::KeyctlBlocked(_) => err
                .detail(
                    "The kernel keyring is reached with the keyctl, add_key and request_key \
                     system calls, and this process may not make them: a container's seccomp \
                     profile (Docker's default one blocks them) or a kernel built without keys.",
                )
                .hint(
                    "In a container, allow those three system calls in its seccomp profile, or \
                     use another --storage",
                )
                .hint(env_hint),
            SecretStoreError::Unsupported(_) => err
                .hint("Use `--storage keychain` (the default) on this system")
                .hint(env_hint),
            SecretStoreError::Ambiguous { ref profile, .. } => {
                let flag = if profile.is_empty() || profile == DEFAULT_PROFILE {
                    String::new()
                } else {
                    format!(" --profile {profile}")
                };
                err.detail(
                    "Another tool created a second entry for the same profile, so fluxloop \
                     cannot tell which key is meant.",
                )
                .hint(format!(
                    "Remove them all with `fluxloop auth logout{flag}`, then log in again"
                ))
            }
            _ => err.hint(env_hint),
        }
    }
}

/// The encrypted-file store's own failures; `None` for the others. None of them deletes anything.
fn encrypted_file_error(kind: &SecretStoreError) -> Option<CliError> {
    // The file is named after its profile: `<profile>.age`.
    let login_again = |path: &std::path::Path| {
        let profile = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let flag = match profile.as_deref() {
            Some(name) if name != DEFAULT_PROFILE => format!(" --profile {name}"),
            _ => String::new(),
        };
        format!("log in again to replace it: `fluxloop auth login{flag} --storage encrypted-file`")
    };
    Some(match kind {
        SecretStoreError::WrongPassphrase(path) => CliError::new(
            ExitStatus::WrongPassphrase,
            ErrorCode::WrongPassphrase,
            format!("Wrong passphrase for {}", path.display()),
        )
        .detail("The file is unchanged.")
        .hint(format!(
            "Try again, or check {} if it is set",
            env::PASSPHRASE
        ))
        .hint(format!(
            "Forgot it? The key cannot be recovered; {}",
            login_again(path)
        )),
        SecretStoreError::Damaged { path, reason } => CliError::new(
            ExitStatus::Failure,
            ErrorCode::KeyFileDamaged,
            format!("The key file {} is damaged: {reason}", path.display()),
        )
        .detail("It was cut short or altered after it was written; nothing was deleted.")
        .hint(capitalise(&login_again(path))),
        SecretStoreError::NoPassphrase => CliError::new(
            ExitStatus::Keychain,
            ErrorCode::NoPassphrase,
            "No passphrase for the encrypted-file store: there is no terminal to ask at",
        )
        .detail(format!(
            "Keys kept with --storage encrypted-file are opened with a passphrase, typed at a \
             prompt or read from {}; never from the command line.",
            env::PASSPHRASE
        ))
        .hint(format!(
            "Run the command in a terminal, or set {} (from your CI's or container's secrets)",
            env::PASSPHRASE
        )),
        SecretStoreError::PassphraseMismatch => CliError::new(
            ExitStatus::Failure,
            ErrorCode::PassphraseMismatch,
            "The two passphrases differ; nothing was stored",
        )
        .hint("Run the command again and type the same passphrase twice"),
        SecretStoreError::PassphraseCancelled => CliError::new(
            ExitStatus::Failure,
            ErrorCode::Cancelled,
            "Passphrase prompt cancelled; nothing was changed",
        ),
        SecretStoreError::File { path, reason } => CliError::new(
            ExitStatus::Failure,
            ErrorCode::Failure,
            format!("Could not use the key file {}: {reason}", path.display()),
        ),
        _ => return None,
    })
}

/// Said on stderr while fluxloop waits for a person to answer the keychain's prompt.
pub fn prompt_notice(provider: Option<Provider>, limit: std::time::Duration) -> String {
    let secs = limit.as_secs();
    match provider {
        Some(Provider::KeePassXC) => format!(
            "Approve fluxloop in KeePassXC… (waiting up to {secs} s; to stop KeePassXC asking \
             each time, turn off \"Confirm when passwords are retrieved by clients\" in its \
             {KEEPASSXC_SETTINGS})"
        ),
        _ => format!("Approve fluxloop in your keychain's dialog… (waiting up to {secs} s)"),
    }
}

/// Where KeePassXC keeps the settings of its Secret Service.
const KEEPASSXC_SETTINGS: &str = "Tools > Settings > Secret Service Integration";

/// The person refused fluxloop's access request (KeePassXC's access confirmation): the keychain
/// works and still holds the key, so this is not "locked".
fn access_denied(provider: Option<Provider>) -> CliError {
    let err = |program: &str| {
        CliError::new(
            ExitStatus::Keychain,
            ErrorCode::KeychainAccessDenied,
            format!("{program} refused fluxloop access to its key: the access request was denied"),
        )
    };
    match provider {
        Some(Provider::KeePassXC) => err("KeePassXC")
            .detail(
                "KeePassXC's Access Request dialog was answered with Deny (or closed); the key \
                 stays where it is.",
            )
            .hint("Run the command again and choose Allow Selected in KeePassXC's dialog")
            .hint(format!(
                "To stop KeePassXC asking each time, turn off \"Confirm when passwords are \
                 retrieved by clients\" in its {KEEPASSXC_SETTINGS}"
            )),
        _ => err("The keychain")
            .detail("Its access request was answered with no; the key stays where it is.")
            .hint("Run the command again and allow fluxloop in the keychain's dialog"),
    }
}

/// A locked keychain, in the words of the program that serves it.
fn locked(err: CliError, provider: Option<Provider>) -> CliError {
    match provider {
        Some(Provider::GnomeKeyring) => err
            .detail(
                "The keyring that holds fluxloop's keys is locked, and no unlock prompt could be \
                 answered.",
            )
            .hint(
                "Unlock it (log in to the desktop, open Seahorse, or \
                 `gnome-keyring-daemon --unlock`), then retry",
            ),
        Some(Provider::KeePassXC) => err
            .detail(
                "A KeePassXC database is locked, and KeePassXC neither shows nor searches what a \
                 locked database holds.",
            )
            .hint("Unlock the database in KeePassXC, then retry")
            .hint(
                "If KeePassXC has several databases open, unlock each one it exposes (Database \
                 > Database Settings > Secret Service Integration)",
            ),
        Some(Provider::KWallet) => err
            .detail("The KDE wallet that holds fluxloop's keys is closed.")
            .hint("Open the wallet in KWalletManager, then retry"),
        Some(Provider::Other) | None => err
            .detail(
                "The part of the keychain that holds fluxloop's keys is locked, and no unlock \
                 prompt could be answered.",
            )
            .hint("Unlock it in the program that provides your keychain, then retry"),
    }
}

/// A keychain with no default collection, in the words of the program that serves it.
fn no_collection(err: CliError, provider: Option<Provider>) -> CliError {
    match provider {
        Some(Provider::GnomeKeyring) => err
            .detail(
                "The keychain is not set up: it has no default (login) keyring, so no key can be \
                 stored or found.",
            )
            .hint(
                "Create a default keyring (Seahorse: File > New > Password Keyring, set as \
                 default), then retry",
            ),
        Some(Provider::KeePassXC) => err
            .detail(
                "KeePassXC exposes no database to the Secret Service, so no key can be stored or \
                 found.",
            )
            .hint(
                "Open a database in KeePassXC and choose the group to expose (Database > \
                 Database Settings > Secret Service Integration), then retry",
            ),
        Some(Provider::KWallet) => err
            .detail("KWallet has no default wallet, so no key can be stored or found.")
            .hint("Create a wallet in KWalletManager, then retry"),
        Some(Provider::Other) | None => err
            .detail(
                "The keychain is not set up: it has no default collection, so no key can be \
                 stored or found.",
            )
            .hint(
                "Create a default collection (keyring) in the program that provides your \
                 keychain, then retry",
            ),
    }
}

/// A keychain that did not answer in time, in the words of the program that serves it.
fn timeout(err: CliError, provider: Option<Provider>) -> CliError {
    match provider {
        Some(Provider::GnomeKeyring) => err
            .detail(
                "The keyring daemon may be hung, or waiting for an unlock prompt that nobody can \
                 see.",
            )
            .hint("Restart the keyring daemon (or your session), then retry"),
        Some(Provider::KeePassXC) => err
            .detail(
                "KeePassXC may be showing a dialog nobody answered (an access confirmation or an \
                 unlock prompt), or be hung.",
            )
            .hint("Answer KeePassXC's dialog, or restart KeePassXC, then retry")
            .hint(format!(
                "To stop KeePassXC asking each time, turn off \"Confirm when passwords are \
                 retrieved by clients\" in its {KEEPASSXC_SETTINGS}"
            )),
        Some(Provider::KWallet) => err
            .detail("KWallet may be hung, or showing a dialog nobody answered.")
            .hint("Answer KWallet's dialog, or restart kwalletd, then retry"),
        Some(Provider::Other) | None => err
            .detail(
                "The program that provides the keychain may be hung, or waiting for a prompt \
                 that nobody can see.",
            )
            .hint("Restart it (or your session), then retry"),
    }
}

impl From<ProfileError> for CliError {
    fn from(e: ProfileError) -> Self {
        let title = capitalise(&e.to_string());
        let err = CliError::new(ExitStatus::Failure, ErrorCode::CredentialsFile, title);
        match &e {
            ProfileError::WritableByOthers { path, is_dir, .. } => err
                .detail(
                    "Other users could change which API URL your key is sent to, so fluxloop \
                     will not use it.",
                )
                .hint(if *is_dir {
                    format!("Run: chmod 700 {}", path.display())
                } else {
                    format!(
                        "Run: chmod 600 {}  (and chmod 700 on its directory)",
                        path.display()
                    )
                }),
            ProfileError::NotOwned { path, .. } => err
                .detail("fluxloop only trusts a credentials file that belongs to you.")
                .hint(format!(
                    "Check who created it; if it should be yours: sudo chown \"$USER\" {}",
                    path.display()
                )),
            ProfileError::Symlink { path } => err
                .detail(
                    "fluxloop does not follow symbolic links at this path, so nobody can \
                     redirect what it reads or writes.",
                )
                .hint(format!(
                    "Replace the link with a regular file: rm {0} (the metadata is rebuilt at \
                     the next login)",
                    path.display()
                )),
            ProfileError::Malformed { path, .. } => err
                .detail("Nothing was changed. Keys in the keychain are not affected.")
                .hint(format!(
                    "Fix the file, or move it aside (mv {0} {0}.bak) and log in again",
                    path.display()
                )),
            ProfileError::NoHomeDir { .. } => err
                .detail("Nothing was written.")
                .hint(format!(
                    "Set HOME to your home directory, or {} to the directory fluxloop should keep its files in",
                    env::HOME
                )),
            ProfileError::LockTimeout { .. } => {
                err.hint("Wait for the other fluxloop command to finish, then retry")
            }
            ProfileError::NotAFile { path } | ProfileError::TooLarge { path } => {
                err.hint(format!("Move {} aside and log in again", path.display()))
            }
            ProfileError::Read { .. } | ProfileError::Write { .. } => err.hint(format!(
                "Check the permissions and free space of the directory, or relocate it with {}",
                env::HOME
            )),
        }
    }
}

impl From<ProfileNameError> for CliError {
    fn from(e: ProfileNameError) -> Self {
        CliError::usage(capitalise(&e.to_string()))
            .detail("A profile name is 1 to 64 characters: letters, digits, `-`, `_` and `.`.")
            .hint("Example: --profile work")
    }
}

impl From<ProfileCaseClash> for CliError {
    fn from(e: ProfileCaseClash) -> Self {
        CliError::usage(capitalise(&e.to_string()))
            .detail(
                "Windows Credential Manager does not tell names apart by case, so two such \
                 profiles would share one key there; fluxloop refuses them everywhere.",
            )
            .hint(format!("Use --profile {}, or another name", e.existing))
    }
}

impl From<SettingsError> for CliError {
    fn from(e: SettingsError) -> Self {
        let title = capitalise(&e.to_string());
        match e {
            SettingsError::Timeout { .. } => CliError::usage(title)
                .detail("It is a number of seconds greater than 0 and at most 3600.")
                .hint(format!("Example: {}=60", env::TIMEOUT)),
            SettingsError::KeychainTimeout { .. } => CliError::usage(title)
                .detail(
                    "It is how many seconds a keychain call may take: a number greater than 0 and \
                     at most 3600 (default 5).",
                )
                .hint(format!("Example: {}=30", env::KEYCHAIN_TIMEOUT)),
            SettingsError::Storage { .. } => CliError::usage(title)
                .detail(
                    "It is `keychain` (the default), `keyutils` (the Linux kernel keyring) or \
                     `file` (plaintext, opt-in).",
                )
                .hint(format!("Example: {}=keychain", env::STORAGE)),
            SettingsError::NotUnicode { name } => {
                CliError::usage(title).hint(format!("Set {name} again, or unset it"))
            }
            SettingsError::NoHome => CliError::failure(title).hint(format!(
                "Set {} to the directory for fluxloop's files",
                env::HOME
            )),
        }
    }
}

impl From<TerminalError> for CliError {
    fn from(e: TerminalError) -> Self {
        CliError::failure(format!("Could not read the API key from the terminal: {e}"))
            .hint("Pipe the key on stdin instead: `printf '%s\\n' \"$KEY\" | fluxloop auth login`")
    }
}

/// "the key is empty" becomes "The key is empty": module messages are lowercase, as Rust's are.
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

/// The platform was not reached. Through a proxy, the proxy is what failed, and is named; a
/// proxy that is already set is never suggested again.
fn connect_failed(host: &str, reason: &str, route: &ProxyRoute) -> CliError {
    let cause = format!("Cause: {reason}");
    let bare_host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    match route {
        ProxyRoute::Via { proxy, variable } => CliError::new(
            ExitStatus::Network,
            ErrorCode::ConnectFailed,
            format!("Unable to connect to FluxLoop API through the proxy {proxy}"),
        )
        .detail(format!(
            "Failed to connect to {host} through the proxy {proxy} (set by {variable})"
        ))
        .detail(cause)
        .hint(format!(
            "Check that the proxy at {proxy} is running and lets this machine connect to {host}"
        ))
        .hint(format!(
            "Or connect directly: unset {variable}, or add {bare_host} to NO_PROXY"
        )),
        ProxyRoute::Bypassed { variable } => CliError::new(
            ExitStatus::Network,
            ErrorCode::ConnectFailed,
            "Unable to connect to FluxLoop API",
        )
        .detail(format!(
            "Failed to connect to {host}, directly: NO_PROXY names it, so the proxy of {variable} was not used"
        ))
        .detail(cause)
        .hint("Check your internet connection and the API URL (--api-url, FLUXLOOP_API_URL)")
        .hint(format!(
            "If {bare_host} can only be reached through the proxy, remove it from NO_PROXY"
        )),
        ProxyRoute::Direct => CliError::new(
            ExitStatus::Network,
            ErrorCode::ConnectFailed,
            "Unable to connect to FluxLoop API",
        )
        .detail(format!("Failed to connect to {host}"))
        .detail(cause)
        .hint("Check your internet connection and the API URL (--api-url, FLUXLOOP_API_URL)")
        .hint("Behind a proxy? Set HTTPS_PROXY (and NO_PROXY for hosts that bypass it)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Backend;

    fn hints(provider: Option<Provider>, kind: SecretStoreError) -> String {
        let err = CliError::from(StoreError {
            backend: Backend::SecretService,
            provider,
            kind,
        });
        format!("{err}\n{}", err.hints.join("\n"))
    }

    #[test]
    fn an_unknown_provider_gets_hints_that_name_no_program() {
        for kind in [
            SecretStoreError::Locked,
            SecretStoreError::NoCollection,
            SecretStoreError::Timeout(std::time::Duration::from_secs(5)),
        ] {
            for provider in [None, Some(Provider::Other)] {
                let text = hints(provider, kind_copy(&kind));
                for program in ["Seahorse", "gnome-keyring", "KeePassXC", "KWallet"] {
                    assert!(!text.contains(program), "{text}");
                }
                assert!(text.contains("retry"), "{text}");
            }
        }
    }

    #[test]
    fn kwallet_gets_kwallet_hints() {
        assert!(
            hints(Some(Provider::KWallet), SecretStoreError::Locked).contains("KWalletManager")
        );
    }

    #[test]
    fn a_denied_access_request_is_its_own_error_not_locked() {
        for provider in [Some(Provider::KeePassXC), Some(Provider::Other), None] {
            let err = CliError::from(StoreError {
                backend: Backend::SecretService,
                provider,
                kind: SecretStoreError::AccessDenied,
            });
            assert_eq!(err.code, ErrorCode::KeychainAccessDenied);
            assert_eq!(err.status, ExitStatus::Keychain);
            let text = format!("{err}\n{}", err.hints.join("\n"));
            assert!(text.contains("access request was denied"), "{text}");
            assert!(!text.contains("locked"), "{text}");
            assert_eq!(
                text.contains("Confirm when passwords are retrieved by clients"),
                provider == Some(Provider::KeePassXC),
                "{text}"
            );
        }
    }

    /// keyctl refused: wherever the machine's advice would name the kernel keyring (SSH, no
    /// desktop), it does not, and the first way out still reads as the first.
    #[test]
    fn a_blocked_keyctl_is_not_answered_with_the_kernel_keyring() {
        let machine = |ssh| Situation {
            ci: None,
            container: None,
            wsl: false,
            ssh,
            session_bus: false,
            desktop: false,
        };
        for ssh in [true, false] {
            let err = CliError::from(StoreError {
                backend: Backend::KernelKeyring,
                provider: None,
                kind: SecretStoreError::KeyctlBlocked("EPERM".into()),
            })
            .in_situation(&machine(ssh));
            let text = err.hints.join("\n");
            assert!(!text.contains("--storage keyutils"), "{text}");
            assert!(text.contains("--storage encrypted-file"), "{text}");
            assert!(!err.hints[0].starts_with("Or "), "{text}");
        }
        // Another store's absence still gets the kernel keyring over SSH.
        let err = CliError::from(StoreError {
            backend: Backend::SecretService,
            provider: None,
            kind: SecretStoreError::NoProvider,
        })
        .in_situation(&machine(true));
        assert!(err.hints.join("\n").contains("--storage keyutils"));
    }

    fn kind_copy(kind: &SecretStoreError) -> SecretStoreError {
        match kind {
            SecretStoreError::Locked => SecretStoreError::Locked,
            SecretStoreError::NoCollection => SecretStoreError::NoCollection,
            SecretStoreError::Timeout(d) => SecretStoreError::Timeout(*d),
            _ => unreachable!(),
        }
    }
}
