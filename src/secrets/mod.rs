//! Where API keys live: the OS keychain, one entry per profile under one service name.
//! Nothing here prints; errors say precisely which part of the keychain is missing.

mod bounded;
mod keyring;

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

pub use self::keyring::KeyringStore;

/// The default keychain service name; entries are `service=fluxloop, username=<profile>`.
pub const DEFAULT_SERVICE: &str = "fluxloop";

/// Every keychain call gives up after this long, with [`SecretStoreError::Timeout`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Which keychain holds the keys, named as users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MacosKeychain,
    WindowsCredentialManager,
    SecretService,
}

impl Backend {
    pub fn for_this_os() -> Self {
        if cfg!(target_os = "macos") {
            Backend::MacosKeychain
        } else if cfg!(windows) {
            Backend::WindowsCredentialManager
        } else {
            Backend::SecretService
        }
    }

    /// Stable identifier for JSON output.
    pub fn id(self) -> &'static str {
        match self {
            Backend::MacosKeychain => "macos-keychain",
            Backend::WindowsCredentialManager => "windows-credential-manager",
            Backend::SecretService => "secret-service",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::MacosKeychain => "macOS Keychain",
            Backend::WindowsCredentialManager => "Windows Credential Manager",
            Backend::SecretService => "Secret Service",
        })
    }
}

// The Secret Service failures (bus, provider, locked, no collection) only come from the Linux
// store; commands/errors.rs still names them on every platform.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error("no D-Bus session bus is available ({0})")]
    NoSessionBus(String),
    #[error("no Secret Service provider (such as gnome-keyring or KeePassXC) is running")]
    NoProvider,
    #[error("the keychain is locked")]
    Locked,
    #[error("the keychain has no default collection to store keys in")]
    NoCollection,
    #[error("the keychain did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the keychain entry for profile '{0}' is not valid text")]
    BadData(String),
    #[error("{count} keychain entries match profile '{profile}'")]
    Ambiguous { profile: String, count: usize },
    #[error("the keychain refused access ({0})")]
    NoAccess(String),
    #[error("the keychain failed: {0}")]
    Platform(String),
}

pub type Result<T> = std::result::Result<T, SecretStoreError>;

/// A keychain holding one secret per profile.
pub trait SecretStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Fails unless a key could be stored right now (bus, provider, collection unlocked).
    fn check_ready(&self) -> Result<()>;

    /// The profile's key; `Ok(None)` only when the keychain works and has no entry.
    fn get(&self, profile: &str) -> Result<Option<SecretString>>;

    /// Creates or replaces the profile's key.
    fn set(&self, profile: &str, key: &SecretString) -> Result<()>;

    /// Removes the profile's key; `Ok(false)` when there was none.
    fn delete(&self, profile: &str) -> Result<bool>;

    /// Profiles with an entry under our service name, found by searching the keychain itself, so
    /// entries whose metadata was lost are found too.
    fn list(&self) -> Result<Vec<String>>;

    /// Deletes every entry under our service name, readable or not; returns how many.
    fn delete_all(&self) -> Result<usize>;
}
