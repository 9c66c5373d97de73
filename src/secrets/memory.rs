//! An in-memory keychain for unit tests, with switchable faults.

use std::collections::BTreeMap;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use super::{Backend, Result, SecretStore, SecretStoreError};

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, SecretString>>,
    /// When set, every call fails with a copy of this error.
    fault: Mutex<Option<fn() -> SecretStoreError>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_fault(&self, fault: Option<fn() -> SecretStoreError>) {
        *self.fault.lock().unwrap() = fault;
    }

    fn check(&self) -> Result<()> {
        match *self.fault.lock().unwrap() {
            Some(make) => Err(make()),
            None => Ok(()),
        }
    }
}

impl SecretStore for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn check_ready(&self) -> Result<()> {
        self.check()
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        self.check()?;
        Ok(self.entries.lock().unwrap().get(profile).cloned())
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        self.check()?;
        self.entries
            .lock()
            .unwrap()
            .insert(profile.to_string(), SecretString::from(key.expose_secret()));
        Ok(())
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.check()?;
        Ok(self.entries.lock().unwrap().remove(profile).is_some())
    }

    fn list(&self) -> Result<Vec<String>> {
        self.check()?;
        Ok(self.entries.lock().unwrap().keys().cloned().collect())
    }

    fn delete_all(&self) -> Result<usize> {
        self.check()?;
        let mut entries = self.entries.lock().unwrap();
        let n = entries.len();
        entries.clear();
        Ok(n)
    }
}
