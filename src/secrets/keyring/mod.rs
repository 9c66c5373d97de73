//! The OS keychain through keyring-core and the per-OS store crates, every call bounded in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};
use tracing::info;
use zeroize::Zeroize;

use super::{Backend, Result, SecretStore, SecretStoreError, bounded};

// One module per platform store, used as `platform`: each has the same six functions
// (`connect`, `entry`, `search`, `profile_of`, `check_ready`, `classify`).
#[cfg(any(target_os = "macos", windows))]
mod native;
#[cfg(target_os = "linux")]
mod secret_service;
#[cfg(any(target_os = "macos", windows))]
use self::native as platform;
#[cfg(target_os = "linux")]
use self::secret_service as platform;

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
