//! The OS keychain through keyring-core and the per-OS store crates, every call bounded in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};
use tracing::info;
use zeroize::Zeroize;

use super::{Backend, Result, SecretStore, SecretStoreError, bounded};

pub struct KeyringStore {
    service: String,
    timeout: Duration,
    /// Connected lazily, on the first call: commands that never touch the keychain never wait.
    store: Arc<Mutex<Option<Arc<CredentialStore>>>>,
}

impl KeyringStore {
    pub fn new(service: &str, timeout: Duration) -> Self {
        Self {
            service: service.to_string(),
            timeout,
            store: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `op` against the platform store on a worker thread, within `budget`.
    fn run<T, F>(&self, budget: Duration, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Arc<CredentialStore>, &str) -> Result<T> + Send + 'static,
    {
        let slot = self.store.clone();
        let service = self.service.clone();
        bounded::call(budget, move || {
            let store = {
                // A previous call that timed out may still hold the lock; fail rather than wait.
                let mut guard = slot
                    .try_lock()
                    .map_err(|_| SecretStoreError::Timeout(Duration::ZERO))?;
                match guard.as_ref() {
                    Some(store) => store.clone(),
                    None => {
                        let store = platform::connect()?;
                        *guard = Some(store.clone());
                        store
                    }
                }
            };
            op(&store, &service)
        })
        .map_err(|e| match e {
            SecretStoreError::Timeout(_) => SecretStoreError::Timeout(self.timeout),
            other => other,
        })
    }

    /// The budget for a read, keeping [`PROBE_RESERVE`] of the overall timeout for
    /// [`Self::explain_timeout`].
    fn read_budget(&self) -> Duration {
        if self.timeout > 2 * PROBE_RESERVE {
            self.timeout - PROBE_RESERVE
        } else {
            self.timeout
        }
    }

    /// A read that timed out may have been waiting on an unlock prompt nobody can answer: ask
    /// the service directly (no prompt), within what is left of the overall timeout, so the
    /// user hears "locked" or "not set up" when that is the truth.
    fn explain_timeout(&self, started: Instant, e: SecretStoreError) -> SecretStoreError {
        let SecretStoreError::Timeout(_) = e else {
            return e;
        };
        let left = self.timeout.saturating_sub(started.elapsed());
        if left < Duration::from_millis(200) {
            return e;
        }
        match bounded::call(left, platform::check_ready) {
            Err(found @ (SecretStoreError::Locked | SecretStoreError::NoCollection)) => found,
            _ => e,
        }
    }

    fn entry(store: &Arc<CredentialStore>, service: &str, profile: &str) -> Result<Entry> {
        let label = format!("FluxLoop API key ({profile})");
        let mods = HashMap::from([("label", label.as_str())]);
        platform::entry(store, service, profile, &mods).map_err(map_error)
    }
}

impl SecretStore for KeyringStore {
    fn backend(&self) -> Backend {
        Backend::for_this_os()
    }

    fn check_ready(&self) -> Result<()> {
        let started = Instant::now();
        let result = bounded::call(self.timeout, platform::check_ready).map_err(|e| match e {
            SecretStoreError::Timeout(_) => SecretStoreError::Timeout(self.timeout),
            other => other,
        });
        log("check", None, &result, started);
        result
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        let started = Instant::now();
        let result = self.get_inner(profile, started);
        log(
            "get",
            Some(profile),
            &result.as_ref().map(Option::is_some),
            started,
        );
        result
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        let started = Instant::now();
        let p = profile.to_string();
        let key = SecretString::from(key.expose_secret());
        let result = self.run(self.timeout, move |store, service| {
            let entry = Self::entry(store, service, &p)?;
            entry
                .set_password(key.expose_secret())
                .map_err(|e| map_profile_error(e, &p))
        });
        log("set", Some(profile), &result, started);
        result
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        let started = Instant::now();
        let result = self.delete_inner(profile, started);
        log("delete", Some(profile), &result, started);
        result
    }

    fn list(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = self.run(self.timeout, |store, service| {
            let mut names: Vec<String> = platform::search(store, service)?
                .iter()
                .filter_map(|e| platform::profile_of(e, service))
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        });
        log("search", None, &result.as_ref().map(Vec::len), started);
        result
    }

    fn delete_all(&self) -> Result<usize> {
        let started = Instant::now();
        let result = self.run(self.timeout, |store, service| {
            let entries = platform::search(store, service)?;
            for e in &entries {
                match e.delete_credential() {
                    Ok(()) | Err(keyring_core::Error::NoEntry) => {}
                    Err(err) => return Err(map_error(err)),
                }
            }
            Ok(entries.len())
        });
        log("delete all", None, &result, started);
        result
    }
}

impl KeyringStore {
    fn get_inner(&self, profile: &str, started: Instant) -> Result<Option<SecretString>> {
        let p = profile.to_string();
        let found = self
            .run(self.read_budget(), move |store, service| {
                let entry = Self::entry(store, service, &p)?;
                match entry.get_secret() {
                    Ok(mut bytes) => {
                        let text = std::str::from_utf8(&bytes)
                            .map(|s| SecretString::from(s.trim()))
                            .map_err(|_| SecretStoreError::BadData(p.clone()));
                        bytes.zeroize();
                        text.map(Some)
                    }
                    Err(keyring_core::Error::NoEntry) => Ok(None),
                    Err(e) => Err(map_profile_error(e, &p)),
                }
            })
            .map_err(|e| self.explain_timeout(started, e))?;
        if found.is_none() {
            // Secret Service reports a missing or locked collection as "no entry": tell the
            // truth instead of "not logged in".
            let left = self.timeout.saturating_sub(started.elapsed());
            bounded::call(left.max(PROBE_RESERVE), platform::check_ready).map_err(|e| match e {
                SecretStoreError::Timeout(_) => SecretStoreError::Timeout(self.timeout),
                other => other,
            })?;
        }
        Ok(found)
    }

    fn delete_inner(&self, profile: &str, started: Instant) -> Result<bool> {
        let p = profile.to_string();
        self.run(self.read_budget(), move |store, service| {
            let entry = Self::entry(store, service, &p)?;
            match entry.delete_credential() {
                Ok(()) => Ok(true),
                Err(keyring_core::Error::NoEntry) => Ok(false),
                Err(keyring_core::Error::Ambiguous(entries)) => {
                    // Duplicates can only come from outside tools; remove them all.
                    for e in &entries {
                        e.delete_credential().map_err(map_error)?;
                    }
                    Ok(true)
                }
                Err(e) => Err(map_profile_error(e, &p)),
            }
        })
        .map_err(|e| self.explain_timeout(started, e))
    }
}

/// Part of the timeout kept back for asking why a read timed out.
const PROBE_RESERVE: Duration = Duration::from_secs(1);

/// One line per keychain operation (`-v`): what, for which profile, the outcome and how long it
/// took. Outcomes are counts and booleans, never secrets.
fn log<T: std::fmt::Debug, E: std::fmt::Display>(
    op: &str,
    profile: Option<&str>,
    result: &std::result::Result<T, E>,
    started: Instant,
) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let profile = profile.unwrap_or("-");
    let backend = super::Backend::for_this_os().id();
    match result {
        Ok(outcome) => info!(op, profile, ?outcome, elapsed_ms, backend, "keychain"),
        Err(e) => info!(op, profile, error = %e, elapsed_ms, backend, "keychain call failed"),
    }
}

fn map_profile_error(e: keyring_core::Error, profile: &str) -> SecretStoreError {
    match e {
        keyring_core::Error::Ambiguous(items) => SecretStoreError::Ambiguous {
            profile: profile.to_string(),
            count: items.len(),
        },
        keyring_core::Error::BadEncoding(mut bytes) => {
            bytes.zeroize();
            SecretStoreError::BadData(profile.to_string())
        }
        other => map_error(other),
    }
}

fn map_error(e: keyring_core::Error) -> SecretStoreError {
    use keyring_core::Error as K;
    match e {
        K::PlatformFailure(inner) => platform::classify(inner.as_ref())
            .unwrap_or_else(|| SecretStoreError::Platform(inner.to_string())),
        K::NoStorageAccess(inner) => platform::classify(inner.as_ref())
            .unwrap_or_else(|| SecretStoreError::NoAccess(inner.to_string())),
        K::BadEncoding(mut bytes) => {
            bytes.zeroize();
            SecretStoreError::BadData(String::new())
        }
        K::BadDataFormat(mut bytes, _) => {
            bytes.zeroize();
            SecretStoreError::BadData(String::new())
        }
        K::Ambiguous(items) => SecretStoreError::Ambiguous {
            profile: String::new(),
            count: items.len(),
        },
        other => SecretStoreError::Platform(other.to_string()),
    }
}

#[cfg(target_os = "linux")]
mod platform {
    //! Secret Service over D-Bus (libdbus): unlike the zbus store, its calls give up after
    //! D-Bus's own reply timeout; our worker thread bounds them further.

    use std::collections::HashMap;
    use std::sync::Arc;

    use dbus_secret_service::{EncryptionType, SecretService};
    use keyring_core::{CredentialStore, Entry};

    use super::super::{Result, SecretStoreError};
    use super::map_error;

    pub fn connect() -> Result<Arc<CredentialStore>> {
        let store: Arc<CredentialStore> =
            dbus_secret_service_keyring_store::Store::new().map_err(map_error)?;
        Ok(store)
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        service: &str,
        profile: &str,
        mods: &HashMap<&str, &str>,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store_with_modifiers(store, service, profile, mods)
    }

    pub fn search(store: &Arc<CredentialStore>, service: &str) -> Result<Vec<Entry>> {
        Entry::search_in_store(store, &HashMap::from([("service", service)])).map_err(map_error)
    }

    pub fn profile_of(entry: &Entry, service: &str) -> Option<String> {
        let attrs = entry.get_attributes().ok()?;
        (attrs.get("service").map(String::as_str) == Some(service))
            .then(|| attrs.get("username").cloned())
            .flatten()
    }

    /// Asks the Secret Service directly whether a key could be stored now, without triggering an
    /// unlock prompt that nobody may be there to answer.
    pub fn check_ready() -> Result<()> {
        let ss = SecretService::connect(EncryptionType::Plain).map_err(|e| {
            classify(&e).unwrap_or_else(|| SecretStoreError::Platform(e.to_string()))
        })?;
        let collection = ss.get_default_collection().map_err(|e| match e {
            dbus_secret_service::Error::NoResult => SecretStoreError::NoCollection,
            other => {
                classify(&other).unwrap_or_else(|| SecretStoreError::Platform(other.to_string()))
            }
        })?;
        match collection.is_locked() {
            Ok(false) => Ok(()),
            Ok(true) => Err(SecretStoreError::Locked),
            // The default alias may point at a collection that no longer exists.
            Err(dbus_secret_service::Error::Dbus(e))
                if e.name() == Some("org.freedesktop.DBus.Error.UnknownObject")
                    || e.name() == Some("org.freedesktop.DBus.Error.UnknownMethod") =>
            {
                Err(SecretStoreError::NoCollection)
            }
            Err(other) => {
                Err(classify(&other)
                    .unwrap_or_else(|| SecretStoreError::Platform(other.to_string())))
            }
        }
    }

    /// Turns D-Bus and Secret Service failures into the distinct errors users can act on.
    pub fn classify(err: &(dyn std::error::Error + 'static)) -> Option<SecretStoreError> {
        let ss = err.downcast_ref::<dbus_secret_service::Error>()?;
        Some(match ss {
            dbus_secret_service::Error::Locked | dbus_secret_service::Error::Prompt => {
                SecretStoreError::Locked
            }
            dbus_secret_service::Error::NoResult => SecretStoreError::NoCollection,
            dbus_secret_service::Error::Unavailable => SecretStoreError::NoProvider,
            dbus_secret_service::Error::Dbus(e) => {
                let name = e.name().unwrap_or("");
                let message = e.message().unwrap_or("").to_string();
                match name {
                    "org.freedesktop.DBus.Error.ServiceUnknown"
                    | "org.freedesktop.DBus.Error.NameHasNoOwner" => SecretStoreError::NoProvider,
                    "org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout" => {
                        SecretStoreError::Timeout(super::super::CALL_TIMEOUT)
                    }
                    "org.freedesktop.DBus.Error.NotSupported"
                    | "org.freedesktop.DBus.Error.NoServer"
                    | "org.freedesktop.DBus.Error.FileNotFound"
                    | "org.freedesktop.DBus.Error.BadAddress"
                    | "org.freedesktop.DBus.Error.Spawn.ExecFailed"
                    | "org.freedesktop.DBus.Error.Disconnected" => {
                        SecretStoreError::NoSessionBus(message)
                    }
                    "org.freedesktop.Secret.Error.IsLocked" => SecretStoreError::Locked,
                    "org.freedesktop.Secret.Error.NoSuchObject"
                    | "org.freedesktop.DBus.Error.UnknownObject" => SecretStoreError::NoCollection,
                    _ => SecretStoreError::Platform(format!("{name}: {message}")),
                }
            }
            other => SecretStoreError::Platform(other.to_string()),
        })
    }
}

#[cfg(any(target_os = "macos", windows))]
mod platform {
    //! macOS Keychain and Windows Credential Manager: no session bus to probe, and errors that
    //! keyring-core already describes; only connecting and searching differ.

    use std::collections::HashMap;
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};

    use super::super::{Result, SecretStoreError};
    use super::map_error;

    pub fn connect() -> Result<Arc<CredentialStore>> {
        #[cfg(target_os = "macos")]
        let store: Arc<CredentialStore> =
            apple_native_keyring_store::keychain::Store::new().map_err(map_error)?;
        #[cfg(windows)]
        let store: Arc<CredentialStore> =
            windows_native_keyring_store::Store::new().map_err(map_error)?;
        Ok(store)
    }

    pub fn entry(
        store: &Arc<CredentialStore>,
        service: &str,
        profile: &str,
        _mods: &HashMap<&str, &str>,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, service, profile)
    }

    pub fn search(store: &Arc<CredentialStore>, service: &str) -> Result<Vec<Entry>> {
        #[cfg(target_os = "macos")]
        let spec = HashMap::from([("service", service.to_string())]);
        // Windows target names are `<user>.<service>` by default; its store searches by regex.
        #[cfg(windows)]
        let spec = HashMap::from([("pattern", format!(r"^.*\.{}$", service.replace('.', r"\.")))]);
        let spec: HashMap<&str, &str> = spec.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Entry::search_in_store(store, &spec).map_err(map_error)
    }

    pub fn profile_of(entry: &Entry, service: &str) -> Option<String> {
        entry
            .get_specifiers()
            .filter(|(s, _)| s == service)
            .map(|(_, user)| user)
    }

    pub fn check_ready() -> Result<()> {
        Ok(())
    }

    pub fn classify(_err: &(dyn std::error::Error + 'static)) -> Option<SecretStoreError> {
        None
    }
}
