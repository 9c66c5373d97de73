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
