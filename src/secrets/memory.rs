//! An in-memory keychain for in-process tests, with switchable faults.

use std::collections::BTreeMap;
use std::sync::Mutex;

use secrecy::SecretString;

use super::{Backend, Purge, Result, SecretStore, SecretStoreError};

/// One keychain operation, for aiming a fault at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CheckReady,
    Get,
    Set,
    Delete,
    List,
    DeleteAll,
}

/// Makes the error a fault returns, fresh for each call.
type MakeError = fn() -> SecretStoreError;

#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<String, SecretString>>,
    /// Calls of one operation that fail: the `n`-th call (counting from 1) and every later one.
    fail_from: Mutex<Option<(Op, usize, MakeError)>>,
    calls: Mutex<Vec<Op>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that already holds these entries.
    pub fn with(entries: &[(&str, &str)]) -> Self {
        let store = Self::new();
        for (profile, key) in entries {
            store
                .entries
                .lock()
                .unwrap()
                .insert(profile.to_string(), SecretString::from(*key));
        }
        store
    }

    /// From the `n`-th call of `op` on (counting from 1), `op` fails with `make()`.
    pub fn fail_from(&self, op: Op, n: usize, make: MakeError) {
        *self.fail_from.lock().unwrap() = Some((op, n, make));
    }

    /// The masked hint of the key held for `profile`, for assertions that never expose it.
    pub fn hint(&self, profile: &str) -> Option<String> {
        self.entries
            .lock()
            .unwrap()
            .get(profile)
            .map(crate::keys::mask)
    }

    /// The profiles that have an entry.
    pub fn profiles(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }

    fn check(&self, op: Op) -> Result<()> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(op);
        if let Some((target, n, make)) = *self.fail_from.lock().unwrap() {
            let seen = calls.iter().filter(|c| **c == target).count();
            if op == target && seen >= n {
                return Err(make());
            }
        }
        Ok(())
    }
}

impl SecretStore for MemoryStore {
    fn backend(&self) -> Backend {
        Backend::Memory
    }

    fn check_ready(&self) -> Result<()> {
        self.check(Op::CheckReady)
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        self.check(Op::Get)?;
        Ok(self.entries.lock().unwrap().get(profile).cloned())
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        self.check(Op::Set)?;
        self.entries
            .lock()
            .unwrap()
            .insert(profile.to_string(), key.clone());
        Ok(())
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        self.check(Op::Delete)?;
        Ok(self.entries.lock().unwrap().remove(profile).is_some())
    }

    fn list(&self) -> Result<Vec<String>> {
        self.check(Op::List)?;
        Ok(self.entries.lock().unwrap().keys().cloned().collect())
    }

    fn delete_all(&self) -> Result<Purge> {
        self.check(Op::DeleteAll)?;
        let mut entries = self.entries.lock().unwrap();
        let removed = entries.len();
        entries.clear();
        Ok(Purge {
            removed,
            left_foreign: 0,
        })
    }

    fn service(&self) -> &str {
        super::DEFAULT_SERVICE
    }
}
