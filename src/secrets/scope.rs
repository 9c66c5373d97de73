//! Which keychain entries belong to one credentials directory, and which are fluxloop's at all.
//!
//! Every platform: the service name. The default directory (`~/.fluxloop`) keeps the service
//! name as configured (`fluxloop`), so entries of earlier releases keep working; any other
//! directory gets `<service>:<12 hex digits of SHA-256 of its canonical path>`, so lookups,
//! searches and the purge of one directory never see another's entries.
//!
//! Secret Service only: items fluxloop writes also carry [`MARKER_ATTRIBUTE`] and
//! [`DIRECTORY_ATTRIBUTE`], so an item another program stored under the same service name is
//! told apart from ours.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Attribute naming the program that wrote an item (Secret Service).
pub const MARKER_ATTRIBUTE: &str = "application";
/// Its value on every item fluxloop writes.
pub const MARKER_VALUE: &str = "fluxloop";
/// Attribute naming the credentials directory an item belongs to (Secret Service).
pub const DIRECTORY_ATTRIBUTE: &str = "fluxloop-home";

/// Account-name prefix of the entry that holds a profile's pending browser login (its device
/// code): `:` is not allowed in a profile name, so the entry never stands for a profile.
pub const PENDING_LOGIN_PREFIX: &str = "pending-login:";

/// Hex digits of the directory's hash in a scoped service name: 48 bits, plenty to keep one
/// user's own directories apart.
const HASH_HEX_DIGITS: usize = 12;

/// The keychain entries of one credentials directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeychainScope {
    /// The service name every entry of this directory is stored under.
    pub service: String,
    /// The directory's canonical path, as written in [`DIRECTORY_ATTRIBUTE`].
    pub directory: String,
}

impl KeychainScope {
    /// The scope of `directory` for the configured service name `base_service`;
    /// `default_directory` (`~/.fluxloop`) keeps `base_service` unchanged.
    pub fn new(base_service: &str, directory: &Path, default_directory: Option<&Path>) -> Self {
        let resolved = canonical(directory);
        let is_default = default_directory.is_some_and(|d| canonical(d) == resolved);
        let service = if is_default {
            base_service.to_string()
        } else {
            let digest = Sha256::digest(resolved.as_os_str().as_encoded_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("{base_service}:{}", &hex[..HASH_HEX_DIGITS])
        };
        Self {
            service,
            directory: resolved.to_string_lossy().into_owned(),
        }
    }

    /// The profile an item found under [`KeychainScope::service`] holds the key of, if the
    /// item is ours: it carries our marker and names this directory, or it carries no marker
    /// at all (as earlier releases wrote, and as macOS and Windows store every item) and its
    /// account is a valid profile name. Anything else was made by another program.
    pub fn profile_of(&self, attributes: &HashMap<String, String>) -> Option<String> {
        if attributes.get("service") != Some(&self.service) {
            return None;
        }
        let profile = attributes.get("username")?;
        let named = profile
            .strip_prefix(PENDING_LOGIN_PREFIX)
            .unwrap_or(profile);
        if !is_profile_name(named) {
            return None;
        }
        let marker = attributes.get(MARKER_ATTRIBUTE);
        let directory = attributes.get(DIRECTORY_ATTRIBUTE);
        let ours = match (marker, directory) {
            (None, None) => true,
            (Some(m), Some(d)) => m == MARKER_VALUE && *d == self.directory,
            _ => false,
        };
        ours.then(|| profile.clone())
    }

    /// The attributes that mark an item as this directory's (Secret Service).
    // macOS's and Windows' stores take no attributes of our own.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn marker(&self) -> HashMap<&str, &str> {
        HashMap::from([
            (MARKER_ATTRIBUTE, MARKER_VALUE),
            (DIRECTORY_ATTRIBUTE, self.directory.as_str()),
        ])
    }
}

/// The rule of `ProfileName::parse`, restated here because secrets does not depend on profiles:
/// 1 to 64 of ASCII letters, digits, `-`, `_` and `.`.
pub(super) fn is_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `path` made absolute and canonical as far as it exists: the directory may not have been
/// created yet (the first login creates it), and must get the same name before and after.
fn canonical(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(resolved) = absolute.canonicalize() {
        return resolved;
    }
    // Not there yet: drop `.` and resolve `..` lexically, then resolve the part that exists.
    let mut lexical = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut missing = Vec::new();
    loop {
        if let Ok(resolved) = existing.canonicalize() {
            return missing
                .iter()
                .rev()
                .fold(resolved, |dir, part| dir.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_directory_keeps_the_service_name_and_others_get_their_own() {
        let root = tempfile::tempdir().unwrap();
        let default = root.path().join(".fluxloop");
        let other = root.path().join("other");
        let main = KeychainScope::new("fluxloop", &default, Some(&default));
        assert_eq!(main.service, "fluxloop");
        let scoped = KeychainScope::new("fluxloop", &other, Some(&default));
        let (base, hash) = scoped.service.split_once(':').unwrap();
        assert_eq!(base, "fluxloop");
        assert_eq!(hash.len(), HASH_HEX_DIGITS);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
        assert_ne!(
            scoped.service,
            KeychainScope::new("fluxloop", &root.path().join("third"), Some(&default)).service
        );
        // A configured service name is scoped the same way.
        let custom = KeychainScope::new("fluxloop-demo", &other, Some(&default));
        assert_eq!(custom.service, format!("fluxloop-demo:{hash}"));
    }

    #[test]
    fn a_directory_has_one_scope_however_it_is_spelled_and_before_it_exists() {
        let root = tempfile::tempdir().unwrap();
        let default = root.path().join(".fluxloop");
        let dir = root.path().join("a/b");
        let before = KeychainScope::new("fluxloop", &dir, Some(&default));
        std::fs::create_dir_all(&dir).unwrap();
        let after = KeychainScope::new("fluxloop", &dir, Some(&default));
        assert_eq!(before, after);
        let spelled = root.path().join("a/./c/../b");
        std::fs::create_dir_all(root.path().join("a/c")).unwrap();
        assert_eq!(
            KeychainScope::new("fluxloop", &spelled, Some(&default)),
            after
        );
        // The default directory named another way is still the default.
        let default_spelled = root.path().join("a/../.fluxloop");
        assert_eq!(
            KeychainScope::new("fluxloop", &default_spelled, Some(&default)).service,
            "fluxloop"
        );
    }

    #[test]
    fn ours_are_marked_items_of_this_directory_and_unmarked_items_with_a_profile_name() {
        let scope = KeychainScope {
            service: "fluxloop".into(),
            directory: "/home/u/.fluxloop".into(),
        };
        let marked = attributes(&[
            ("service", "fluxloop"),
            ("username", "work"),
            ("application", "fluxloop"),
            ("fluxloop-home", "/home/u/.fluxloop"),
        ]);
        assert_eq!(scope.profile_of(&marked).as_deref(), Some("work"));
        let earlier_release = attributes(&[("service", "fluxloop"), ("username", "default")]);
        assert_eq!(
            scope.profile_of(&earlier_release).as_deref(),
            Some("default")
        );
        for foreign in [
            // Not a profile name: another program's account.
            attributes(&[("service", "fluxloop"), ("username", "john@example.com")]),
            attributes(&[("service", "fluxloop"), ("username", "")]),
            // Another program's marker.
            attributes(&[
                ("service", "fluxloop"),
                ("username", "default"),
                ("application", "fluxloop-desktop"),
            ]),
            // Our marker, another directory.
            attributes(&[
                ("service", "fluxloop"),
                ("username", "default"),
                ("application", "fluxloop"),
                ("fluxloop-home", "/srv/other"),
            ]),
            // Another service, or none.
            attributes(&[
                ("service", "fluxloop:0123456789ab"),
                ("username", "default"),
            ]),
            attributes(&[("username", "default")]),
        ] {
            assert_eq!(scope.profile_of(&foreign), None, "{foreign:?}");
        }
    }
}
