//! macOS Keychain and Windows Credential Manager: no session bus to probe, and errors that
//! keyring-core already describes; only connecting and searching differ.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

use super::super::{KeychainScope, Result, SecretStoreError};
use super::{Direct, map_error};

pub fn connect() -> Result<Arc<CredentialStore>> {
    #[cfg(target_os = "macos")]
    let store: Arc<CredentialStore> =
        apple_native_keyring_store::keychain::Store::new().map_err(map_error)?;
    #[cfg(windows)]
    let store: Arc<CredentialStore> =
        windows_native_keyring_store::Store::new().map_err(map_error)?;
    Ok(store)
}

/// No connection of our own here: every call goes through the store.
pub type Bus = ();
pub type Handle = ();
pub type Ours = Vec<(Handle, String)>;

pub fn search_directly(
    _bus: &std::sync::Mutex<Option<Bus>>,
    _deadline: std::time::Instant,
    _scope: &KeychainScope,
) -> Result<Option<(Ours, usize)>> {
    Ok(None)
}

/// No write of our own here.
pub fn create_directly(
    _bus: &std::sync::Mutex<Option<Bus>>,
    _deadline: std::time::Instant,
    _scope: &KeychainScope,
    _profile: &str,
    _label: &str,
    _secret: &[u8],
) -> Result<bool> {
    Ok(false)
}

/// No faster read than the store's here.
pub fn read_directly(
    _bus: &std::sync::Mutex<Option<Bus>>,
    _deadline: std::time::Instant,
    _scope: &KeychainScope,
    _profile: &str,
) -> Result<Direct> {
    Ok(Direct::Elsewhere)
}

pub fn entry(
    store: &Arc<CredentialStore>,
    service: &str,
    profile: &str,
    _mods: &HashMap<&str, &str>,
) -> keyring_core::Result<Entry> {
    Entry::new_in_store(store, service, profile)
}

/// Neither store takes attributes of our own: an entry is ours by its service name and a
/// valid profile name alone (see `KeychainScope::profile_of`).
pub fn mark(_entry: &Entry, _scope: &KeychainScope) -> keyring_core::Result<()> {
    Ok(())
}

pub fn search(store: &Arc<CredentialStore>, service: &str) -> Result<Vec<Entry>> {
    #[cfg(target_os = "macos")]
    let spec = HashMap::from([("service", service.to_string())]);
    // Windows target names are `<user>.<service>` by default; its store searches by regex.
    #[cfg(windows)]
    let spec = HashMap::from([("pattern", super::windows_search_pattern(service))]);
    let spec: HashMap<&str, &str> = spec.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Entry::search_in_store(store, &spec).map_err(map_error)
}

/// The entry's service and account as attributes named as on the Secret Service; `None` when
/// the store cannot say.
pub fn attributes(entry: &Entry) -> Result<Option<HashMap<String, String>>> {
    Ok(entry.get_specifiers().map(|(service, user)| {
        HashMap::from([
            ("service".to_string(), service),
            ("username".to_string(), user),
        ])
    }))
}

pub fn check_ready() -> Result<()> {
    Ok(())
}

/// The native keychains answer a search for a locked keychain with an error, never with nothing.
pub fn check_none_locked() -> Result<()> {
    Ok(())
}

pub fn classify(_err: &(dyn std::error::Error + 'static)) -> Option<SecretStoreError> {
    None
}

/// Only the Secret Service has providers to tell apart.
pub fn provider() -> Option<super::super::Provider> {
    None
}

/// Only the Secret Service's prompts are looked for.
pub fn access_prompt_pending(_service: &str) -> Result<bool> {
    Ok(false)
}
