//! The credentials file's shape. It holds metadata only, except for keys a user explicitly put
//! there: the legacy `api_key:` of earlier releases, or the opt-in `--storage file`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Current file format version, written on every save.
pub const FORMAT_VERSION: u32 = 1;

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// Where a saved key lives: the one vocabulary for `login --storage`, the credentials file's
/// `storage:` field, and what `status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
// `login --storage` and `migrate --to` (fluxloop's command line); the fuzz targets go without.
#[cfg_attr(
    feature = "clap",
    derive(clap::ValueEnum),
    value(rename_all = "kebab-case")
)]
pub enum StoreKind {
    /// The OS keychain (macOS Keychain, Windows Credential Manager, Secret Service). The default.
    Keychain,
    /// The Linux kernel keyring (keyutils): no daemon needed, but emptied at reboot.
    Keyutils,
    /// A file per profile under the credentials directory, encrypted with a passphrase (age).
    EncryptedFile,
    /// PLAINTEXT in the credentials file (mode 0600), for machines without a keychain.
    File,
}

impl StoreKind {
    /// Stable identifier for JSON output and the credentials file.
    pub fn id(self) -> &'static str {
        match self {
            StoreKind::Keychain => "keychain",
            StoreKind::Keyutils => "keyutils",
            StoreKind::EncryptedFile => "encrypted-file",
            StoreKind::File => "file",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CredentialsFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Pre-profile releases kept one plaintext key at the top level; read as profile `default`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_secret",
        serialize_with = "ser_secret"
    )]
    pub api_key: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// The default profile set by `fluxloop auth switch PROFILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_profile: Option<String>,
    /// Directory bindings of `fluxloop auth switch --here / --dir`: canonical path to profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directories: BTreeMap<String, String>,
    /// Fields this version does not know (a newer version's, or a person's): kept on rewrite.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Expiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's name on the platform (a browser login's key is named after the device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// When the platform created the key, so that old keys can be found and rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// Where the key is. Absent in files of earlier releases: keychain, or legacy plaintext
    /// when `api_key` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StoreKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<DateTime<Utc>>,
    /// `--storage encrypted-file` with `login --cache`: how many seconds an opened key is kept
    /// in the kernel keyring. Absent: no cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_cache_seconds: Option<u64>,
    /// A plaintext key: legacy, or opt-in file storage. Never written for keychain profiles.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_secret",
        serialize_with = "ser_secret"
    )]
    pub api_key: Option<SecretString>,
    /// Fields this version does not know: kept on rewrite.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl Profile {
    /// Where this profile's key is kept, as the file says: a plaintext key in the file, the
    /// store its `storage:` names, or (as earlier releases wrote no `storage:`) the keychain.
    pub fn store(&self) -> StoreKind {
        match self.storage {
            _ if self.api_key.is_some() => StoreKind::File,
            Some(StoreKind::Keyutils) => StoreKind::Keyutils,
            Some(StoreKind::EncryptedFile) => StoreKind::EncryptedFile,
            _ => StoreKind::Keychain,
        }
    }

    /// A plaintext key written by an earlier release, as opposed to one chosen with
    /// `--storage file`.
    pub fn is_legacy_plaintext(&self) -> bool {
        self.api_key.is_some() && self.storage != Some(StoreKind::File)
    }
}

/// A profile whose key is in plaintext in the credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaintextKey {
    pub profile: String,
    /// Written by an earlier release rather than chosen with `--storage file`.
    pub legacy: bool,
}

/// A key's expiry as last seen from the platform: a date, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(DateTime<Utc>),
}

impl Expiry {
    pub fn from_api(expires_at: Option<DateTime<Utc>>) -> Self {
        expires_at.map_or(Expiry::Never, Expiry::At)
    }

    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            Expiry::At(t) => Some(t),
        }
    }
}

impl Serialize for Expiry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Expiry::Never => s.serialize_str("never"),
            Expiry::At(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

impl Expiry {
    /// `never`, an RFC 3339 time, or a date (`2024-04-15`, as the FluxLoop docs write it), read
    /// as the end of that day, UTC.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text == "never" {
            return Some(Expiry::Never);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Expiry::At(t.with_timezone(&Utc)));
        }
        let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Some(Expiry::At(day.and_hms_opt(23, 59, 59)?.and_utc()))
    }
}

impl<'de> Deserialize<'de> for Expiry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Expiry::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "`expires` must be `never`, a date (2024-04-15) or an RFC 3339 time",
            )
        })
    }
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let text = zeroize::Zeroizing::new(Option::<String>::deserialize(d)?);
    Ok(text.as_ref().map(|t| SecretString::from(t.trim())))
}

fn ser_secret<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

/// A validated profile name: 1 to 64 of letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProfileName(String);

/// A profile name that breaks the rules; it keeps at most 80 characters of the input, for the
/// message (which redacts anything that looks like a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid profile name {shown:?}")]
pub struct ProfileNameError {
    pub shown: String,
}

/// A new profile name that differs from an existing one only in case (see
/// [`CredentialsFile::check_new_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile '{name}' differs from the existing profile '{existing}' only in case")]
pub struct ProfileCaseClash {
    pub name: String,
    pub existing: String,
}

impl ProfileName {
    pub fn parse(name: &str) -> Result<Self, ProfileNameError> {
        let ok_len = (1..=64).contains(&name.chars().count());
        let ok_chars = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok_len && ok_chars {
            Ok(Self(name.to_string()))
        } else {
            Err(ProfileNameError {
                shown: crate::keys::redact(&name.chars().take(80).collect::<String>()),
            })
        }
    }

    pub fn default_profile() -> Self {
        Self(DEFAULT_PROFILE.to_string())
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_PROFILE
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CredentialsFile {
    /// Profiles with a plaintext key in the file, legacy or opt-in, including the top-level
    /// legacy key as `default`.
    pub fn plaintext_keys(&self) -> Vec<PlaintextKey> {
        let mut out: Vec<PlaintextKey> = self
            .profiles
            .iter()
            .filter(|(_, p)| p.api_key.is_some())
            .map(|(n, p)| PlaintextKey {
                profile: n.clone(),
                legacy: p.is_legacy_plaintext(),
            })
            .collect();
        if self.api_key.is_some() && !self.profiles.contains_key(DEFAULT_PROFILE) {
            out.push(PlaintextKey {
                profile: DEFAULT_PROFILE.to_string(),
                legacy: true,
            });
        }
        out
    }

    /// The top-level legacy key when a `default` profile exists beside it, which then shadows
    /// it: a plaintext key on disk that no profile reads.
    pub fn shadowed_legacy_key(&self) -> Option<&SecretString> {
        self.api_key
            .as_ref()
            .filter(|_| self.profiles.contains_key(DEFAULT_PROFILE))
    }

    /// The profile as stored, folding in the legacy top-level key for `default`.
    pub fn profile(&self, name: &str) -> Option<Profile> {
        if let Some(p) = self.profiles.get(name) {
            return Some(p.clone());
        }
        if name == DEFAULT_PROFILE && self.api_key.is_some() {
            return Some(Profile {
                api_url: self.api_url.clone(),
                api_key: self.api_key.clone(),
                ..Profile::default()
            });
        }
        None
    }

    /// Every profile name the file knows, the legacy top-level key's `default` included.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.profiles.keys().cloned().collect();
        if self.api_key.is_some() && !self.profiles.contains_key(DEFAULT_PROFILE) {
            names.push(DEFAULT_PROFILE.to_string());
        }
        names
    }

    /// Fails when `name` is new but another profile has the same name but for case: Windows
    /// Credential Manager compares target names without case, so the two would share one
    /// entry there. Refused on every system, so a credentials file means the same everywhere.
    pub fn check_new_name(&self, name: &str) -> Result<(), ProfileCaseClash> {
        let names = self.names();
        if names.iter().any(|n| n == name) {
            return Ok(());
        }
        match names.into_iter().find(|n| n.eq_ignore_ascii_case(name)) {
            Some(existing) => Err(ProfileCaseClash {
                name: name.to_string(),
                existing,
            }),
            None => Ok(()),
        }
    }

    /// Saves a profile; a login to `default` supersedes the legacy top-level key.
    pub fn insert(&mut self, name: &str, profile: Profile) {
        if name == DEFAULT_PROFILE {
            self.api_key = None;
            self.api_url = None;
        }
        self.profiles.insert(name.to_string(), profile);
    }

    /// Removes a profile (and the legacy top-level key when it stands for that profile).
    pub fn remove(&mut self, name: &str) -> bool {
        let mut removed = self.profiles.remove(name).is_some();
        if name == DEFAULT_PROFILE && self.api_key.is_some() {
            self.api_key = None;
            self.api_url = None;
            removed = true;
        }
        removed
    }

    /// Forgets every choice of profile `name`: the default set by `switch`, and the directories
    /// bound to it, so that no rule names a profile that is gone. Returns whether the default was
    /// `name`, and the unbound directories.
    pub fn forget_choices_of(&mut self, name: &str) -> (bool, Vec<String>) {
        let was_default = self.current_profile.as_deref() == Some(name);
        if was_default {
            self.current_profile = None;
        }
        let unbound: Vec<String> = self
            .directories
            .iter()
            .filter(|(_, bound)| bound.as_str() == name)
            .map(|(dir, _)| dir.clone())
            .collect();
        for dir in &unbound {
            self.directories.remove(dir);
        }
        (was_default, unbound)
    }

    /// The profile bound to `dir` or its nearest ancestor, with the bound directory. `dir`
    /// must be canonical, as the stored paths are.
    pub fn nearest_binding(&self, dir: &std::path::Path) -> Option<(std::path::PathBuf, &str)> {
        dir.ancestors().find_map(|ancestor| {
            let name = self.directories.get(ancestor.to_str()?)?;
            Some((ancestor.to_path_buf(), name.as_str()))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty() && self.api_key.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_name_may_not_differ_from_another_only_in_case() {
        let mut file = CredentialsFile::default();
        file.insert("work", Profile::default());
        assert_eq!(file.check_new_name("work"), Ok(()));
        assert_eq!(file.check_new_name("home"), Ok(()));
        let clash = file.check_new_name("WORK").unwrap_err();
        assert_eq!(
            (clash.name.as_str(), clash.existing.as_str()),
            ("WORK", "work")
        );
    }

    #[test]
    fn expiry_reads_a_date_as_the_end_of_that_day_utc() {
        let at = Expiry::parse("2024-04-15").unwrap().at().unwrap();
        assert_eq!(at.to_rfc3339(), "2024-04-15T23:59:59+00:00");
        assert_eq!(Expiry::parse("never"), Some(Expiry::Never));
        assert!(Expiry::parse("2024-04-15T00:00:00Z").is_some());
        for bad in ["", "soon", "2024-13-01", "15/04/2024"] {
            assert_eq!(Expiry::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_nearest_directory_binding_wins() {
        let mut file = CredentialsFile::default();
        for (dir, name) in [("/src", "a"), ("/src/acme", "b"), ("/src/acme/x/y", "c")] {
            file.directories.insert(dir.into(), name.into());
        }
        let at = |dir: &str| {
            file.nearest_binding(std::path::Path::new(dir))
                .map(|(d, n)| (d.display().to_string(), n.to_string()))
        };
        assert_eq!(at("/"), None);
        assert_eq!(at("/srcx"), None);
        assert_eq!(at("/src"), Some(("/src".into(), "a".into())));
        assert_eq!(at("/src/acme/x"), Some(("/src/acme".into(), "b".into())));
        assert_eq!(
            at("/src/acme/x/y/z"),
            Some(("/src/acme/x/y".into(), "c".into()))
        );
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let text = "version: 1\nfuture_top: {a: 1}\nprofiles:\n  work:\n    account: a@b\n    expires: \"2024-04-15\"\n    future_field: [x, y]\n";
        let parse = |t: &str| -> CredentialsFile {
            serde_saphyr::from_str_with_options(t, serde_saphyr::options! { strict_booleans: true })
                .unwrap()
        };
        let file = parse(text);
        let again = serde_saphyr::to_string(&file).unwrap();
        let back = parse(&again);
        assert_eq!(back.unknown["future_top"], serde_json::json!({"a": 1}));
        assert_eq!(
            back.profiles["work"].unknown["future_field"],
            serde_json::json!(["x", "y"])
        );
        // The date is written back as RFC 3339.
        assert!(again.contains("2024-04-15T23:59:59Z"), "{again}");
    }
}
