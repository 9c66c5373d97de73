//! Where API keys live: the OS keychain, one entry per profile under one service name.
//! Nothing here prints; errors say precisely which part of the keychain is missing.

mod bounded;
mod encrypted_file;
mod keyring;
mod keyutils;
#[cfg(test)]
mod memory;
mod scope;

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::crash_points::{self, Step};

#[cfg(test)]
pub use self::encrypted_file::NoPassphrase;
pub use self::encrypted_file::{EncryptedFileStore, PassphrasePurpose, PassphraseSource};
pub use self::keyring::KeyringStore;
pub use self::keyutils::{KeyutilsStore, persistent_keyring_expiry};
#[cfg(test)]
pub use self::memory::{MemoryStore, Op};
pub use self::scope::{KeychainScope, PENDING_LOGIN_PREFIX};

/// The default keychain service name; entries are `service=fluxloop, username=<profile>`.
/// Credentials directories other than `~/.fluxloop` add their own suffix ([`KeychainScope`]).
pub const DEFAULT_SERVICE: &str = "fluxloop";

/// Every keychain call gives up after this long, with [`SecretStoreError::Timeout`].
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

// The credentials file's `storage:` field, so it lives with the file's model.
pub use fluxloop_formats::profiles::StoreKind;

/// Where the key a command uses came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `FLUXLOOP_API_KEY`.
    Env,
    /// Typed, piped or passed to `login`.
    Input,
    /// A store, as the profile's metadata says.
    Store(StoreKind),
    /// The plaintext `api_key:` of a credentials file written by an earlier release.
    LegacyFile,
}

impl KeySource {
    /// Stable identifier for JSON output.
    pub fn id(self) -> &'static str {
        match self {
            KeySource::Env => "env",
            KeySource::Input => "input",
            KeySource::Store(kind) => kind.id(),
            KeySource::LegacyFile => "plaintext-file",
        }
    }
}

/// Which keychain holds the keys, named as users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MacosKeychain,
    WindowsCredentialManager,
    SecretService,
    /// The Linux kernel key retention service (`--storage keyutils`).
    KernelKeyring,
    /// Passphrase-encrypted files (`--storage encrypted-file`).
    EncryptedFile,
    /// The in-memory store of in-process tests.
    #[cfg(test)]
    Memory,
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
            Backend::KernelKeyring => "kernel-keyring",
            Backend::EncryptedFile => "encrypted-file",
            #[cfg(test)]
            Backend::Memory => "memory",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::MacosKeychain => "macOS Keychain",
            Backend::WindowsCredentialManager => "Windows Credential Manager",
            Backend::SecretService => "Secret Service",
            Backend::KernelKeyring => "kernel keyring",
            Backend::EncryptedFile => "encrypted file store",
            #[cfg(test)]
            Backend::Memory => "in-memory store",
        })
    }
}

/// The program that serves the Secret Service (the owner of `org.freedesktop.secrets`), so
/// that hints can name the app a person actually uses. Found only when a message needs it, and
/// only on Linux (`keyring/secret_service.rs`); error/advice.rs names them on every platform.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GnomeKeyring,
    KeePassXC,
    /// KDE's wallet (`kwalletd5`, `kwalletd6`, `ksecretd`).
    KWallet,
    /// Something else owns the name, or its program could not be read.
    Other,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl Provider {
    /// The provider a program name stands for: `/proc/<pid>/comm` (cut to 15 bytes, so
    /// `gnome-keyring-daemon` reads `gnome-keyring-d`) or the file name of `/proc/<pid>/exe`.
    pub fn from_program(name: &str) -> Self {
        let name = name.trim().to_ascii_lowercase();
        if name.starts_with("gnome-keyring-d") {
            Provider::GnomeKeyring
        } else if name == "keepassxc" {
            Provider::KeePassXC
        } else if name.starts_with("kwalletd") || name == "ksecretd" {
            Provider::KWallet
        } else {
            Provider::Other
        }
    }
}

// The Secret Service failures (bus, provider, locked, no collection) only come from the Linux
// store; error/advice.rs still names them on every platform.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    #[error("no D-Bus session bus is available ({0})")]
    NoSessionBus(String),
    #[error("no Secret Service provider (such as gnome-keyring or KeePassXC) is running")]
    NoProvider,
    #[error("the keychain is locked")]
    Locked,
    /// The keychain asked the person to let fluxloop at its items (KeePassXC's access
    /// confirmation), and the answer was no.
    #[error("the access request was denied")]
    AccessDenied,
    #[error("the keychain has no default collection to store keys in")]
    NoCollection,
    /// How long fluxloop waited: its own bound, or less when D-Bus gave up first.
    #[error("the keychain did not answer within {} s", whole_seconds(.0))]
    Timeout(Duration),
    #[error("the keychain entry for profile '{0}' is not valid text")]
    BadData(String),
    #[error("{count} keychain entries match profile '{profile}'")]
    Ambiguous { profile: String, count: usize },
    #[error("the keychain refused access ({0})")]
    NoAccess(String),
    #[error("the keychain failed: {0}")]
    Platform(String),
    /// The Secret Service turned down or could not use this connection's encrypted session
    /// (KWallet's "Client public key size is invalid" and "Can't find session", or a secret
    /// that does not decrypt): a fresh connection, with a fresh key pair, gets past it.
    #[error("the keychain refused fluxloop's encrypted session ({0})")]
    SessionRefused(String),
    /// The kernel refuses every `keyctl` call: a seccomp filter (a container's) or a kernel
    /// built without keys. Holds the errno's name.
    #[error("the keyctl system call is blocked here ({0})")]
    KeyctlBlocked(String),
    /// `--storage encrypted-file`: the passphrase does not open the file.
    #[error("the passphrase does not open {}", .0.display())]
    WrongPassphrase(std::path::PathBuf),
    /// `--storage encrypted-file`: the file is cut short, altered or not ours.
    #[error("{} is damaged: {reason}", path.display())]
    Damaged {
        path: std::path::PathBuf,
        reason: String,
    },
    /// `--storage encrypted-file`: no terminal to ask at and no passphrase in the environment.
    #[error("no passphrase can be asked for or read here")]
    NoPassphrase,
    /// `--storage encrypted-file`: the passphrase typed twice differed.
    #[error("the two passphrases differ")]
    PassphraseMismatch,
    /// `--storage encrypted-file`: the passphrase prompt was cancelled (or was given nothing).
    #[error("the passphrase prompt was cancelled")]
    PassphraseCancelled,
    /// `--storage encrypted-file`: a key file or its folder could not be read or written.
    #[error("{}: {reason}", path.display())]
    File {
        path: std::path::PathBuf,
        reason: String,
    },
    /// The store does not exist on this operating system (the kernel keyring off Linux).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    #[error("{0}")]
    Unsupported(&'static str),
}

pub type Result<T> = std::result::Result<T, SecretStoreError>;

/// A shared store is a store: tests keep a handle on the one the command uses.
impl<T: SecretStore + ?Sized> SecretStore for std::sync::Arc<T> {
    fn backend(&self) -> Backend {
        (**self).backend()
    }
    fn check_ready(&self) -> Result<()> {
        (**self).check_ready()
    }
    fn confirm_absent(&self) -> Result<()> {
        (**self).confirm_absent()
    }
    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        (**self).get(profile)
    }
    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        (**self).set(profile, key)
    }
    fn delete(&self, profile: &str) -> Result<bool> {
        (**self).delete(profile)
    }
    fn delete_each(&self, profiles: &[String], removed: &mut dyn FnMut(&str)) -> Result<()> {
        (**self).delete_each(profiles, removed)
    }
    fn list(&self) -> Result<Vec<String>> {
        (**self).list()
    }
    fn delete_all(&self) -> Result<Purge> {
        (**self).delete_all()
    }
    fn service(&self) -> &str {
        (**self).service()
    }
    fn provider(&self) -> Option<Provider> {
        (**self).provider()
    }
}

/// A keychain failure, with the keychain it happened in, so it can be reported without context.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct StoreError {
    pub backend: Backend,
    /// Which program serves the Secret Service, when it could be found; `None` elsewhere.
    pub provider: Option<Provider>,
    pub kind: SecretStoreError,
}

/// The keychain as the commands use it: a [`SecretStore`] whose failures name the keychain.
pub struct Keychain {
    inner: Box<dyn SecretStore>,
}

impl Keychain {
    pub fn new(inner: Box<dyn SecretStore>) -> Self {
        Self { inner }
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend()
    }

    fn named<T>(&self, result: Result<T>) -> std::result::Result<T, StoreError> {
        result.map_err(|kind| StoreError {
            backend: self.backend(),
            // Looked up only now, for the hints: no keychain at all has no provider to name.
            provider: if kind.is_absent() {
                None
            } else {
                self.inner.provider()
            },
            kind,
        })
    }

    /// See [`SecretStore::provider`].
    pub fn provider(&self) -> Option<Provider> {
        self.inner.provider()
    }

    /// See [`SecretStore::check_ready`].
    pub fn check_ready(&self) -> std::result::Result<(), StoreError> {
        crash_points::step(Step::KeychainCheck);
        self.named(self.inner.check_ready())
    }

    /// See [`SecretStore::confirm_absent`].
    pub fn confirm_absent(&self) -> std::result::Result<(), StoreError> {
        crash_points::step(Step::KeychainCheck);
        self.named(self.inner.confirm_absent())
    }

    /// See [`SecretStore::get`].
    pub fn get(&self, profile: &str) -> std::result::Result<Option<SecretString>, StoreError> {
        crash_points::step(Step::KeychainGet);
        self.named(self.inner.get(profile))
    }

    /// See [`SecretStore::set`].
    pub fn set(&self, profile: &str, key: &SecretString) -> std::result::Result<(), StoreError> {
        crash_points::step(Step::KeychainSet);
        self.named(self.inner.set(profile, key))
    }

    /// See [`SecretStore::delete`].
    pub fn delete(&self, profile: &str) -> std::result::Result<bool, StoreError> {
        crash_points::step(Step::KeychainDelete);
        self.named(self.inner.delete(profile))
    }

    /// The device code of the profile's pending browser login (`login --web --no-wait`), kept
    /// as an entry of its own beside the profile's key.
    pub fn get_pending_login(
        &self,
        profile: &str,
    ) -> std::result::Result<Option<SecretString>, StoreError> {
        self.get(&pending_login_entry(profile))
    }

    pub fn set_pending_login(
        &self,
        profile: &str,
        device_code: &SecretString,
    ) -> std::result::Result<(), StoreError> {
        self.set(&pending_login_entry(profile), device_code)
    }

    pub fn delete_pending_login(&self, profile: &str) -> std::result::Result<bool, StoreError> {
        self.delete(&pending_login_entry(profile))
    }

    /// See [`SecretStore::delete_each`] (its crash points are its own: one per deletion, or one
    /// per batch of them).
    pub fn delete_each(
        &self,
        profiles: &[String],
        removed: &mut dyn FnMut(&str),
    ) -> std::result::Result<(), StoreError> {
        self.named(self.inner.delete_each(profiles, removed))
    }

    /// See [`SecretStore::list`].
    pub fn list(&self) -> std::result::Result<Vec<String>, StoreError> {
        crash_points::step(Step::KeychainList);
        self.named(self.inner.list())
    }

    /// See [`SecretStore::delete_all`].
    pub fn delete_all(&self) -> std::result::Result<Purge, StoreError> {
        crash_points::step(Step::KeychainList);
        self.named(self.inner.delete_all())
    }

    /// See [`SecretStore::service`].
    pub fn service(&self) -> &str {
        self.inner.service()
    }
}

fn pending_login_entry(profile: &str) -> String {
    format!("{}{profile}", scope::PENDING_LOGIN_PREFIX)
}

/// A wait in whole seconds, at least 1, for messages.
fn whole_seconds(d: &Duration) -> u64 {
    (d.as_secs_f64().round() as u64).max(1)
}

impl SecretStoreError {
    /// The machine has no keychain at all (as opposed to one that is locked or not answering).
    pub fn is_absent(&self) -> bool {
        matches!(
            self,
            SecretStoreError::NoSessionBus(_)
                | SecretStoreError::NoProvider
                | SecretStoreError::KeyctlBlocked(_)
                | SecretStoreError::Unsupported(_)
        )
    }
}

/// A keychain holding one secret per profile.
pub trait SecretStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Fails unless a key could be stored right now (bus, provider, collection unlocked).
    fn check_ready(&self) -> Result<()>;

    /// After a lookup or delete found nothing: fails unless "nothing there" is the truth, i.e.
    /// the store is ready and no part of it is locked out of sight (a Secret Service provider
    /// such as KeePassXC finds nothing in a locked collection, default or not).
    fn confirm_absent(&self) -> Result<()> {
        self.check_ready()
    }

    /// The profile's key; `Ok(None)` only when the keychain works and has no entry.
    fn get(&self, profile: &str) -> Result<Option<SecretString>>;

    /// Creates or replaces the profile's key.
    fn set(&self, profile: &str, key: &SecretString) -> Result<()>;

    /// Removes the profile's key; `Ok(false)` when there was none.
    fn delete(&self, profile: &str) -> Result<bool>;

    /// Deletes the entries of `profiles` in order, stopping at the first failure; `removed` is
    /// told each profile whose entry this call deleted, once the keychain has answered that
    /// deletion (so after a failure, every profile told is gone; one whose answer was lost with
    /// the connection may be left untold, and stays listed until a next run). One at a time
    /// here, each deletion a crash point; a store may delete several per request round.
    fn delete_each(&self, profiles: &[String], removed: &mut dyn FnMut(&str)) -> Result<()> {
        delete_one_at_a_time(self, profiles, removed)
    }

    /// Profiles with an entry of ours under our service name, found by searching the keychain
    /// itself, so entries whose metadata was lost are found too.
    fn list(&self) -> Result<Vec<String>>;

    /// Deletes every entry of ours under our service name, and leaves the ones another program
    /// stored there ([`KeychainScope::profile_of`]).
    fn delete_all(&self) -> Result<Purge>;

    /// The service name this store's entries are under, for messages and logs.
    fn service(&self) -> &str;

    /// Which program serves the Secret Service; `None` when there is none or it cannot be
    /// asked (and on other keychains). One bus round trip: call it only when a message needs it.
    fn provider(&self) -> Option<Provider> {
        None
    }
}

/// [`SecretStore::delete_each`] by [`SecretStore::delete`], one profile at a time.
pub(crate) fn delete_one_at_a_time<S: SecretStore + ?Sized>(
    store: &S,
    profiles: &[String],
    removed: &mut dyn FnMut(&str),
) -> Result<()> {
    for name in profiles {
        crash_points::step(Step::KeychainDelete);
        if store.delete(name)? {
            removed(name);
        }
    }
    Ok(())
}

/// What [`SecretStore::delete_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// Entries of ours deleted.
    pub removed: usize,
    /// Entries under our service name that another program made, left in place.
    pub left_foreign: usize,
}

#[cfg(test)]
mod tests {
    use super::Provider;

    #[test]
    fn program_names_tell_the_providers_apart() {
        // comm is cut to 15 bytes: gnome-keyring-daemon reads gnome-keyring-d.
        assert_eq!(
            Provider::from_program("gnome-keyring-d\n"),
            Provider::GnomeKeyring
        );
        assert_eq!(
            Provider::from_program("gnome-keyring-daemon"),
            Provider::GnomeKeyring
        );
        assert_eq!(Provider::from_program("keepassxc\n"), Provider::KeePassXC);
        assert_eq!(Provider::from_program("kwalletd5"), Provider::KWallet);
        assert_eq!(Provider::from_program("kwalletd6"), Provider::KWallet);
        assert_eq!(Provider::from_program("ksecretd"), Provider::KWallet);
        assert_eq!(Provider::from_program("python3"), Provider::Other);
        assert_eq!(Provider::from_program(""), Provider::Other);
    }
}
