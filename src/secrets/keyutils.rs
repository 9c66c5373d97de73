//! `--storage keyutils`: the Linux kernel key retention service, through keyring-core's
//! `linux-keyutils-keyring-store`. No D-Bus and no daemon: it works on SSH servers, in WSL and in
//! containers whose seccomp profile allows `keyctl`.
//!
//! Which keyring (docs/design.md, "The kernel keyring"): the store adds each key to the session
//! keyring and links it into the user's persistent keyring (`keyctl get_persistent`), which
//! every session of the same user can reach, so a key saved in one SSH login is there in the
//! next. Where the kernel has no persistent keyrings, the key is linked into the user keyring
//! instead, which lives as long as any process of the user. Neither survives a reboot, and the
//! persistent keyring expires after `/proc/sys/kernel/keys/persistent_keyring_expiry` (3 days by
//! default) without use.
//!
//! Entries are `keyring:<profile>@<service>` user keys; the store cannot search, so [`list`]
//! reads `/proc/keys`, which shows the keys this user may view.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use tracing::info;

use super::scope::is_profile_name;
use super::{Backend, KeychainScope, Purge, Result, SecretStore};

/// The kernel keyring as a [`SecretStore`]: one user key per profile.
pub struct KeyutilsStore {
    scope: KeychainScope,
}

impl KeyutilsStore {
    pub fn new(scope: KeychainScope) -> Self {
        Self { scope }
    }

    /// The encrypted-file store's unlock cache (`login --cache`): opened keys in the same kernel
    /// keyring, under a service name of their own (`<service>.unlocked`), each with a timeout.
    pub fn unlock_cache(scope: &KeychainScope) -> Self {
        let mut scope = scope.clone();
        scope.service = format!("{}{UNLOCKED_SUFFIX}", scope.service);
        Self { scope }
    }

    /// Stores `key` for `ttl`: the kernel drops it then, whatever becomes of this process.
    pub fn set_expiring(&self, profile: &str, key: &SecretString, ttl: Duration) -> Result<()> {
        let started = Instant::now();
        let result = platform::set(&self.scope.service, profile, key)
            .and_then(|()| platform::set_timeout(&self.scope.service, profile, ttl));
        if result.is_err() {
            // Never a cached key without its timeout.
            let _ = platform::delete(&self.scope.service, profile);
        }
        log(
            &self.scope.service,
            "set with timeout",
            Some(profile),
            &result,
            started,
        );
        result
    }

    /// How long the profile's key has left, as `/proc/keys` says (to the minute past the
    /// first); `None` without one, or without a timeout.
    #[cfg(target_os = "linux")]
    pub fn expires_in(&self, profile: &str) -> Option<Duration> {
        let text = std::fs::read_to_string("/proc/keys").ok()?;
        let uid = rustix::process::getuid().as_raw();
        let wanted = description(&self.scope.service, profile);
        timeout_of(&text, uid, &wanted)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn expires_in(&self, _profile: &str) -> Option<Duration> {
        None
    }
}

/// The suffix of the unlock cache's service name.
const UNLOCKED_SUFFIX: &str = ".unlocked";

// Used by the Linux store only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
/// The timeout column of our user key `description` in `/proc/keys` text: `perm`, `expd`, or a
/// number with a unit (s, m, h, d, w).
fn timeout_of(proc_keys: &str, uid: u32, description: &str) -> Option<Duration> {
    proc_keys.lines().find_map(|line| {
        // id flags usage timeout perms uid gid type description: summary
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (timeout, owner, kind) = (fields.get(3)?, fields.get(5)?, fields.get(7)?);
        let desc = fields.get(8)?.strip_suffix(':')?;
        if *kind != "user" || owner.parse::<u32>().ok()? != uid || desc != description {
            return None;
        }
        let unit_at = timeout.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = timeout.split_at(unit_at);
        let n: u64 = n.parse().ok()?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return None,
        };
        Some(Duration::from_secs(n * scale))
    })
}

/// How long the persistent keyring is kept without use, as this kernel is set; `None` off
/// Linux or when it cannot be read.
pub fn persistent_keyring_expiry() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/sys/kernel/keys/persistent_keyring_expiry").ok()?;
    text.trim().parse().ok().map(Duration::from_secs)
}

impl SecretStore for KeyutilsStore {
    fn backend(&self) -> Backend {
        Backend::KernelKeyring
    }

    fn check_ready(&self) -> Result<()> {
        let started = Instant::now();
        let result = platform::check_ready();
        log(&self.scope.service, "check", None, &result, started);
        result
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        let started = Instant::now();
        let result = platform::get(&self.scope.service, profile);
        log(
            &self.scope.service,
            "get",
            Some(profile),
            &result.as_ref().map(Option::is_some),
            started,
        );
        result
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        let started = Instant::now();
        let result = platform::set(&self.scope.service, profile, key);
        log(&self.scope.service, "set", Some(profile), &result, started);
        result
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        let started = Instant::now();
        let result = platform::delete(&self.scope.service, profile);
        log(
            &self.scope.service,
            "delete",
            Some(profile),
            &result,
            started,
        );
        result
    }

    fn list(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = platform::list(&self.scope.service);
        log(
            &self.scope.service,
            "search",
            None,
            &result.as_ref().map(Vec::len),
            started,
        );
        result
    }

    fn delete_all(&self) -> Result<Purge> {
        let started = Instant::now();
        let result = platform::list(&self.scope.service).and_then(|names| {
            let mut removed = 0;
            for name in names {
                if platform::delete(&self.scope.service, &name)? {
                    removed += 1;
                }
            }
            Ok(Purge {
                removed,
                left_foreign: 0,
            })
        });
        log(&self.scope.service, "delete all", None, &result, started);
        result
    }

    fn service(&self) -> &str {
        &self.scope.service
    }
}

/// The description of a profile's key, as the store writes it: `keyring:<profile>@<service>`.
// Used by the Linux store only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn description(service: &str, profile: &str) -> String {
    format!("{PREFIX}{profile}@{service}")
}

// Used by the Linux store only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const PREFIX: &str = "keyring:";

/// The profile a key description of ours names under `service`: `keyring:<profile>@<service>`
/// with a valid profile name (which never holds an `@`).
// Used by the Linux store only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn profile_of(description: &str, service: &str) -> Option<String> {
    let rest = description.strip_prefix(PREFIX)?;
    let (profile, svc) = rest.split_once('@')?;
    (svc == service && is_profile_name(profile)).then(|| profile.to_string())
}

/// The descriptions of the user keys in `/proc/keys` text owned by `uid`.
// Used by the Linux store only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn user_key_descriptions(proc_keys: &str, uid: u32) -> Vec<String> {
    proc_keys
        .lines()
        .filter_map(|line| {
            // id flags usage timeout perms uid gid type description: summary
            let mut fields = line.split_whitespace();
            let owner: u32 = fields.nth(5)?.parse().ok()?;
            let kind = fields.nth(1)?;
            if owner != uid || kind != "user" {
                return None;
            }
            let rest = line.split_once(" user ")?.1.trim_start();
            let (description, _summary) = rest.rsplit_once(':')?;
            Some(description.to_string())
        })
        .collect()
}

fn log<T: std::fmt::Debug, E: std::fmt::Display>(
    service: &str,
    op: &str,
    profile: Option<&str>,
    result: &std::result::Result<T, E>,
    started: Instant,
) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let profile = profile.unwrap_or("-");
    let backend = Backend::KernelKeyring.id();
    match result {
        Ok(outcome) => info!(
            op,
            profile,
            ?outcome,
            elapsed_ms,
            backend,
            service,
            "keychain"
        ),
        Err(e) => {
            info!(op, profile, error = %e, elapsed_ms, backend, service, "keychain call failed")
        }
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};
    use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};
    use secrecy::{ExposeSecret, SecretString};
    use zeroize::Zeroize;

    use super::super::{Result, SecretStoreError};
    use super::{description, profile_of, user_key_descriptions};

    /// Fails with [`SecretStoreError::KeyctlBlocked`] where a seccomp filter refuses `keyctl`.
    pub fn check_ready() -> Result<()> {
        KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(classify)?;
        Ok(())
    }

    fn entry(service: &str, profile: &str) -> Result<Entry> {
        let store: Arc<CredentialStore> =
            linux_keyutils_keyring_store::Store::new().map_err(map_error)?;
        Entry::new_in_store(&store, service, profile).map_err(map_error)
    }

    /// The persistent keyring is there (and linked into our session keyring by the store).
    fn has_persistent() -> bool {
        KeyRing::get_persistent(KeyRingIdentifier::Session).is_ok()
    }

    fn user_keyring() -> Result<KeyRing> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(classify)
    }

    pub fn get(service: &str, profile: &str) -> Result<Option<SecretString>> {
        let mut bytes = match entry(service, profile)?.get_secret() {
            Ok(bytes) => bytes,
            // Not reachable from the session: a kernel without persistent keyrings keeps it in
            // the user keyring (see `set`).
            Err(keyring_core::Error::NoEntry) => {
                match user_keyring()?.search(&description(service, profile)) {
                    Ok(key) => key.read_to_vec().map_err(classify)?,
                    Err(
                        KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired,
                    ) => return Ok(None),
                    Err(e) => return Err(classify(e)),
                }
            }
            Err(e) => return Err(map_profile_error(e, profile)),
        };
        let text = std::str::from_utf8(&bytes)
            .ok()
            .map(|t| SecretString::from(t.trim()));
        bytes.zeroize();
        text.map(Some)
            .ok_or_else(|| SecretStoreError::BadData(profile.to_string()))
    }

    pub fn set(service: &str, profile: &str, key: &SecretString) -> Result<()> {
        entry(service, profile)?
            .set_secret(key.expose_secret().as_bytes())
            .map_err(|e| map_profile_error(e, profile))?;
        if !has_persistent() {
            // Only in the session keyring so far, which ends with this login: keep it in the
            // user keyring too, for the next one.
            let session =
                KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(classify)?;
            let added = session
                .search(&description(service, profile))
                .map_err(classify)?;
            user_keyring()?.link_key(added).map_err(classify)?;
        }
        Ok(())
    }

    /// Gives the profile's key a timeout: the kernel removes it after `ttl`.
    pub fn set_timeout(service: &str, profile: &str, ttl: std::time::Duration) -> Result<()> {
        let wanted = description(service, profile);
        let session =
            KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(classify)?;
        let key = match session.search(&wanted) {
            Ok(key) => key,
            Err(_) => user_keyring()?.search(&wanted).map_err(classify)?,
        };
        let seconds = usize::try_from(ttl.as_secs().max(1)).unwrap_or(usize::MAX);
        key.set_timeout(seconds).map_err(classify)
    }

    pub fn delete(service: &str, profile: &str) -> Result<bool> {
        let removed = match entry(service, profile)?.delete_credential() {
            Ok(()) => true,
            Err(keyring_core::Error::NoEntry) => false,
            Err(e) => return Err(map_profile_error(e, profile)),
        };
        // Invalidating a key removes it from every keyring; one only the user keyring holds is
        // found there.
        if removed {
            return Ok(true);
        }
        match user_keyring()?.search(&description(service, profile)) {
            Ok(key) => key.invalidate().map(|()| true).map_err(classify),
            Err(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Profiles with a key of ours under `service` that this process can read: `/proc/keys`
    /// names the keys, a lookup keeps the ones reachable from here.
    pub fn list(service: &str) -> Result<Vec<String>> {
        check_ready()?;
        let text = std::fs::read_to_string("/proc/keys")
            .map_err(|e| SecretStoreError::Platform(format!("could not read /proc/keys: {e}")))?;
        let uid = rustix::process::getuid().as_raw();
        let mut names: Vec<String> = user_key_descriptions(&text, uid)
            .iter()
            .filter_map(|d| profile_of(d, service))
            .collect();
        names.sort();
        names.dedup();
        let mut found = Vec::new();
        for name in names {
            if get(service, &name)?.is_some() {
                found.push(name);
            }
        }
        Ok(found)
    }

    fn map_profile_error(e: keyring_core::Error, profile: &str) -> SecretStoreError {
        match e {
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
            K::PlatformFailure(inner) | K::NoStorageAccess(inner) => {
                match inner.downcast_ref::<KeyError>() {
                    Some(k) => classify(*k),
                    None => SecretStoreError::Platform(inner.to_string()),
                }
            }
            K::BadEncoding(mut bytes) | K::BadDataFormat(mut bytes, _) => {
                bytes.zeroize();
                SecretStoreError::BadData(String::new())
            }
            other => SecretStoreError::Platform(other.to_string()),
        }
    }

    /// EPERM on our own keyrings, or ENOSYS, means `keyctl` itself is refused: Docker's default
    /// seccomp profile answers EPERM, a kernel without keys ENOSYS.
    pub fn classify(e: KeyError) -> SecretStoreError {
        let nosys = rustix::io::Errno::NOSYS.raw_os_error();
        match e {
            KeyError::PermissionDenied => SecretStoreError::KeyctlBlocked("EPERM".into()),
            KeyError::Unknown(errno) if errno == nosys => {
                SecretStoreError::KeyctlBlocked("ENOSYS".into())
            }
            KeyError::AccessDenied => {
                SecretStoreError::NoAccess("the kernel keyring refused access (EACCES)".into())
            }
            KeyError::QuotaExceeded => SecretStoreError::Platform(
                "the kernel's key quota for this user is full (EDQUOT)".into(),
            ),
            other => SecretStoreError::Platform(format!("keyctl failed: {other}")),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_refused_keyctl_is_named_as_blocked() {
            for (e, name) in [
                (KeyError::PermissionDenied, "EPERM"),
                (
                    KeyError::Unknown(rustix::io::Errno::NOSYS.raw_os_error()),
                    "ENOSYS",
                ),
            ] {
                match classify(e) {
                    SecretStoreError::KeyctlBlocked(n) => assert_eq!(n, name),
                    other => panic!("{e:?}: {other:?}"),
                }
            }
            assert!(matches!(
                classify(KeyError::QuotaExceeded),
                SecretStoreError::Platform(_)
            ));
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use secrecy::SecretString;

    use super::super::{Result, SecretStoreError};

    const ONLY_LINUX: &str = "the kernel keyring (keyutils) exists only on Linux";

    pub fn check_ready() -> Result<()> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
    pub fn get(_service: &str, _profile: &str) -> Result<Option<SecretString>> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
    pub fn set(_service: &str, _profile: &str, _key: &SecretString) -> Result<()> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
    pub fn delete(_service: &str, _profile: &str) -> Result<bool> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
    pub fn set_timeout(_service: &str, _profile: &str, _ttl: std::time::Duration) -> Result<()> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
    pub fn list(_service: &str) -> Result<Vec<String>> {
        Err(SecretStoreError::Unsupported(ONLY_LINUX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_profile_under_our_service_only() {
        assert_eq!(description("fluxloop", "work"), "keyring:work@fluxloop");
        assert_eq!(
            profile_of("keyring:work@fluxloop", "fluxloop").as_deref(),
            Some("work")
        );
        assert_eq!(
            profile_of(
                "keyring:work@fluxloop:0123456789ab",
                "fluxloop:0123456789ab"
            )
            .as_deref(),
            Some("work")
        );
        for other in [
            "keyring:work@fluxloop:0123456789ab",
            "keyring:work@fluxloopx",
            "keyring:@fluxloop",
            "keyring:a b@fluxloop",
            "work@fluxloop",
            "keyring:john@example.com@fluxloop",
        ] {
            assert_eq!(profile_of(other, "fluxloop"), None, "{other}");
        }
    }

    #[test]
    fn the_timeout_column_of_proc_keys_is_read_for_our_key_only() {
        let text = "\
1c02f4c8 I--Q---     1   14m 3f010000  1000  1000 user      keyring:default@fluxloop.unlocked: 40
1c02f4c9 I--Q---     1   2s 3f010000  1000  1000 user      keyring:work@fluxloop.unlocked: 40
1c02f4ca I--Q---     1 perm 3f010000  1000  1000 user      keyring:perm@fluxloop.unlocked: 40
1c02f4cb I--Q---     1   5h 3f010000  1001  1001 user      keyring:default@fluxloop.unlocked: 40
";
        let of = |d| timeout_of(text, 1000, d);
        assert_eq!(
            of("keyring:default@fluxloop.unlocked"),
            Some(Duration::from_secs(840))
        );
        assert_eq!(
            of("keyring:work@fluxloop.unlocked"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(of("keyring:perm@fluxloop.unlocked"), None);
        assert_eq!(of("keyring:other@fluxloop.unlocked"), None);
    }

    #[test]
    fn proc_keys_lines_give_the_user_keys_of_one_uid() {
        let text = "\
02e91621 I------     1   2d 1f030000  1000 65534 keyring   _persistent.1000: 1
1c02f4c8 I--Q---     1 perm 3f010000  1000  1000 user      keyring:default@fluxloop: 40
1c02f4c9 I--Q---     1 perm 3f010000  1001  1001 user      keyring:other@fluxloop: 40
1c02f4ca I--Q---     1 perm 3f010000  1000  1000 logon     keyring:x@fluxloop: 40
";
        assert_eq!(
            user_key_descriptions(text, 1000),
            vec!["keyring:default@fluxloop".to_string()]
        );
    }
}
