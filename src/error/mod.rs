//! The one error type the command layer returns: a title, optional detail lines, hints, the exit
//! code that scripts can rely on (README.md, "Exit codes") and a machine-readable code for
//! `--json`. Module errors (api, secrets, profiles, keys) become `CliError`s in `advice.rs` only,
//! so conversion flows one way: from the modules up to here.

mod advice;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::secrets::KeySource;

pub use advice::{KEYS_PAGE, capitalise, prompt_notice};

/// Process exit codes. Stable: scripts branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    /// Anything not covered below (credentials file problems, internal errors).
    Failure = 1,
    /// Bad command line or environment variable; nothing was touched.
    Usage = 2,
    /// Not logged in, or the key is invalid, revoked or expired, or FLUXLOOP_API_KEY is empty.
    Auth = 3,
    /// The key is valid but lacks a permission.
    Permission = 4,
    /// The platform could not be reached or answered with something unusable.
    Network = 5,
    /// The OS keychain is missing, locked or not answering (or, for `--storage encrypted-file`,
    /// no passphrase can be had: no terminal and no `FLUXLOOP_PASSPHRASE`).
    Keychain = 6,
    /// `--storage encrypted-file`: the passphrase does not open the key's file.
    WrongPassphrase = 7,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Why a command failed, for scripts: the `error.code` of every `--json` document. Stable: a
/// code is never renamed or reused (docs/schema/ lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A bad command line, argument or environment variable.
    Usage,
    /// Anything else: an internal error, an I/O failure.
    Failure,
    /// A prompt was cancelled.
    Cancelled,
    /// `login` found nothing on standard input.
    NoKey,
    /// No key for the profile, and no `FLUXLOOP_API_KEY`.
    NotLoggedIn,
    /// `FLUXLOOP_API_KEY` is set but empty (as in CI for a pull request from a fork).
    EmptyEnvKey,
    /// The key is not in the `flux_<environment>_<secret>` format.
    MalformedKey,
    /// The platform does not accept the key.
    InvalidApiKey,
    /// The key was revoked.
    KeyRevoked,
    /// The key expired.
    KeyExpired,
    /// The key lacks a permission (HTTP 403).
    PermissionDenied,
    /// The API URL cannot be parsed or used.
    InvalidApiUrl,
    /// A plain `http://` URL that is not loopback.
    InsecureApiUrl,
    /// HTTPS could not be set up (`SSL_CERT_FILE`).
    TlsSetup,
    /// HTTP 429 after retries.
    RateLimited,
    /// HTTP 5xx after retries.
    ServerError,
    /// An HTTP status the contract does not have for this request (such as 404): not retried.
    UnexpectedStatus,
    /// The platform could not be reached.
    ConnectFailed,
    /// The TLS handshake failed.
    TlsFailed,
    /// No answer within the time budget.
    Timeout,
    /// The platform answered with a redirect, which is never followed.
    Redirect,
    /// The answer could not be read (not JSON, too large, cut off).
    InvalidResponse,
    /// The keychain is missing, locked or not answering.
    KeychainUnavailable,
    /// The keychain asked the person to let fluxloop at its key, and they refused.
    KeychainAccessDenied,
    /// The credentials file is unsafe, unreadable or invalid.
    CredentialsFile,
    /// `login --web`: the platform has no browser login (HTTP 404).
    BrowserLoginUnsupported,
    /// `login --web`: the login was refused in the browser.
    LoginDenied,
    /// `login --web`: the login expired before it was approved.
    LoginExpired,
    /// `login --web --resume`: no pending browser login for the profile.
    NoPendingLogin,
    /// `rotate`: the new key is in place, but the old one could not be revoked and still works.
    OldKeyNotRevoked,
    /// `--storage encrypted-file`: the passphrase does not open the key's file.
    WrongPassphrase,
    /// `--storage encrypted-file`: the key's file is cut short, altered or not a key file.
    KeyFileDamaged,
    /// `--storage encrypted-file`: no terminal to ask at and no `FLUXLOOP_PASSPHRASE`.
    NoPassphrase,
    /// `--storage encrypted-file`: the passphrase typed twice differed.
    PassphraseMismatch,
}

impl ErrorCode {
    /// The code as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Usage => "usage",
            ErrorCode::Failure => "failure",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::NoKey => "no_key",
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::EmptyEnvKey => "empty_env_key",
            ErrorCode::MalformedKey => "malformed_key",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::KeyRevoked => "key_revoked",
            ErrorCode::KeyExpired => "key_expired",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidApiUrl => "invalid_api_url",
            ErrorCode::InsecureApiUrl => "insecure_api_url",
            ErrorCode::TlsSetup => "tls_setup",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServerError => "server_error",
            ErrorCode::UnexpectedStatus => "unexpected_status",
            ErrorCode::ConnectFailed => "connect_failed",
            ErrorCode::TlsFailed => "tls_failed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Redirect => "redirect",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::KeychainUnavailable => "keychain_unavailable",
            ErrorCode::KeychainAccessDenied => "keychain_access_denied",
            ErrorCode::CredentialsFile => "credentials_file",
            ErrorCode::BrowserLoginUnsupported => "browser_login_unsupported",
            ErrorCode::LoginDenied => "login_denied",
            ErrorCode::LoginExpired => "login_expired",
            ErrorCode::NoPendingLogin => "no_pending_login",
            ErrorCode::OldKeyNotRevoked => "old_key_not_revoked",
            ErrorCode::WrongPassphrase => "wrong_passphrase",
            ErrorCode::KeyFileDamaged => "key_file_damaged",
            ErrorCode::NoPassphrase => "no_passphrase",
            ErrorCode::PassphraseMismatch => "passphrase_mismatch",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error ready to show to a person: what went wrong, then what to do next.
#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub code: ErrorCode,
    pub title: String,
    pub details: Vec<String>,
    pub hints: Vec<String>,
    /// No keychain exists here at all (no session bus, no Secret Service): `lib.rs` adds advice
    /// for the machine it runs on ([`CliError::in_situation`]).
    pub absent_keychain: bool,
    /// The absent store is the kernel keyring, refused by a seccomp filter: the machine's
    /// advice must not send the user back to it.
    pub keyctl_blocked: bool,
}

impl CliError {
    pub fn new(status: ExitStatus, code: ErrorCode, title: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            details: Vec::new(),
            hints: Vec::new(),
            code,
            absent_keychain: false,
            keyctl_blocked: false,
        }
    }

    pub fn usage(title: impl Into<String>) -> Self {
        Self::new(ExitStatus::Usage, ErrorCode::Usage, title)
    }

    pub fn failure(title: impl Into<String>) -> Self {
        Self::new(ExitStatus::Failure, ErrorCode::Failure, title)
    }

    pub fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub fn hint(mut self, line: impl Into<String>) -> Self {
        self.hints.push(line.into());
        self
    }

    /// Puts `context` before the title: "Could not revoke the key of profile 'work': ...".
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.title = format!("{context}: {}", self.title);
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)?;
        for d in &self.details {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T = ExitStatus> = Result<T, CliError>;

/// The key a failed request or check was about, so the message can say where it came from and
/// when it expired.
#[derive(Debug, Clone, Copy)]
pub struct KeyUsed<'a> {
    pub source: KeySource,
    pub profile: &'a str,
    pub expires: Option<DateTime<Utc>>,
}

impl<'a> KeyUsed<'a> {
    /// A key being logged in (typed, piped, or passed): nothing to say about where it came from.
    pub fn input(profile: &'a str) -> Self {
        Self {
            source: KeySource::Input,
            profile,
            expires: None,
        }
    }
}
