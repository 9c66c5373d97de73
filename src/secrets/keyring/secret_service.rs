//! Secret Service over D-Bus (libdbus): unlike the zbus store, its calls give up after
//! D-Bus's own reply timeout; our worker thread bounds them further.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dbus_secret_service::{EncryptionType, SecretService};
use keyring_core::{CredentialStore, Entry};

use super::super::{KeychainScope, Provider, Result, SecretStoreError};
use super::direct_read::{self, Read, Write};
pub use super::direct_search::Deletion;
use super::direct_search::{self, Search};
use super::{Direct, map_error};

pub fn connect() -> Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> =
        dbus_secret_service_keyring_store::Store::new().map_err(map_error)?;
    Ok(store)
}

/// The key of `profile` read over `bus` in an encrypted session of our own (see `direct_read`)
/// when exactly one unlocked item holds it and none is locked; [`Direct::Elsewhere`] otherwise.
pub fn read_directly(
    bus: &Mutex<Option<Bus>>,
    deadline: Instant,
    scope: &KeychainScope,
    profile: &str,
) -> Result<Direct> {
    let attributes = HashMap::from([("service", scope.service.as_str()), ("username", profile)]);
    with_bus(bus, deadline, |connection| {
        direct_read::read(connection, &attributes)
    })
    .map(|read| match read {
        Read::Found(secret) => Direct::Found(secret),
        Read::Elsewhere => Direct::Elsewhere,
    })
}

/// Creates the item of `profile`'s key over `bus` in an encrypted session of our own (see
/// `direct_read::create`), marked as the store's write and `mark` would leave it, when no item
/// holds it yet and the default collection is there and unlocked. Whether it did; when not,
/// nothing was written.
pub fn create_directly(
    bus: &Mutex<Option<Bus>>,
    deadline: Instant,
    scope: &KeychainScope,
    profile: &str,
    label: &str,
    secret: &[u8],
) -> Result<bool> {
    let search = HashMap::from([("service", scope.service.as_str()), ("username", profile)]);
    let mut attributes = search.clone();
    attributes.extend(scope.marker());
    with_bus(bus, deadline, |connection| {
        direct_read::create(connection, &search, &attributes, label, secret)
    })
    .map(|write| matches!(write, Write::Created))
}

/// The connection of [`search_directly`], [`read_directly`] and [`create_directly`].
pub type Bus = dbus::blocking::Connection;
/// An item found by [`search_directly`]: its object path.
pub type Handle = dbus::Path<'static>;
/// Our items found by [`search_directly`], with their profile names.
pub type Ours = Vec<(Handle, String)>;

/// Our items (with their profile names) and how many others are under the scope's service,
/// found over `bus` with pipelined calls (see `direct_search`); `None` when something is locked,
/// for the store to unlock.
pub fn search_directly(
    bus: &Mutex<Option<Bus>>,
    deadline: Instant,
    scope: &KeychainScope,
) -> Result<Option<(Ours, usize)>> {
    with_bus(bus, deadline, |connection| {
        let wanted = HashMap::from([("service", scope.service.as_str())]);
        let Search::Found(items) = direct_search::search(connection, &wanted)? else {
            return Ok(None);
        };
        let mut ours = Vec::new();
        let mut foreign = 0;
        for item in items {
            match scope.profile_of(&item.attributes) {
                Some(name) => ours.push((item.path, name)),
                None => foreign += 1,
            }
        }
        Ok(Some((ours, foreign)))
    })
}

/// Deletes the items at `paths` over `bus`, every request sent before the first reply is read;
/// `answered` is told each one's outcome as its reply comes in (see `direct_search`).
pub fn delete_directly(
    bus: &Mutex<Option<Bus>>,
    deadline: Instant,
    paths: &[Handle],
    answered: &mut dyn FnMut(usize, Deletion),
) -> Result<()> {
    with_bus(bus, deadline, |connection| {
        direct_search::delete_items(connection, paths, answered)
    })
}

/// Runs `op` on the kept connection in `bus`, made now if there is none. A previous call that
/// timed out may still hold it for a while: waits for it until `deadline` (the caller's bound),
/// then gives up with the time really waited.
fn with_bus<T>(
    bus: &Mutex<Option<Bus>>,
    deadline: Instant,
    op: impl FnOnce(&Bus) -> std::result::Result<T, dbus_secret_service::Error>,
) -> Result<T> {
    let waited = Instant::now();
    let mut guard = loop {
        match bus.try_lock() {
            Ok(guard) => break guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(SecretStoreError::Timeout(waited.elapsed()));
            }
        }
    };
    if guard.is_none() {
        *guard = Some(Bus::new_session().map_err(|e| store_error(&e.into()))?);
        crate::logging::phase!("keychain: D-Bus connected");
    }
    let connection = guard.as_ref().expect("connected just above");
    let result = op(connection).map_err(|e| store_error(&e));
    // D-Bus gave up on a reply: the next try gets a fresh connection, as the store's does.
    if let Err(SecretStoreError::Timeout(_)) = result {
        *guard = None;
    }
    result
}

pub fn entry(
    store: &Arc<CredentialStore>,
    service: &str,
    profile: &str,
    mods: &HashMap<&str, &str>,
) -> keyring_core::Result<Entry> {
    Entry::new_in_store_with_modifiers(store, service, profile, mods)
}

/// Attributes KeePassXC computes for every item and refuses to be sent back (`Set` of
/// `Attributes` including them fails with `InvalidArgs`), where the store's own
/// `update_attributes` sends back every attribute it read.
const PROVIDER_COMPUTED: [&str; 2] = ["Uuid", "Path"];

/// Marks a written item as fluxloop's and as its directory's: its attributes as read, less the
/// ones the provider computes, plus the marker. Done here rather than with the store's
/// `update_attributes`, which fails on KeePassXC (see [`PROVIDER_COMPUTED`]).
pub fn mark(entry: &Entry, scope: &KeychainScope) -> keyring_core::Result<()> {
    let platform =
        |e: dbus_secret_service::Error| keyring_core::Error::PlatformFailure(Box::new(e));
    let (service, user) = entry
        .get_specifiers()
        .ok_or_else(|| keyring_core::Error::Invalid("entry".into(), "no service".into()))?;
    let ss = SecretService::connect(EncryptionType::Plain).map_err(platform)?;
    let wanted = HashMap::from([("service", service.as_str()), ("username", user.as_str())]);
    let found = ss.search_items(wanted).map_err(platform)?;
    let marker = scope.marker();
    for item in &found.unlocked {
        let current = item.get_attributes().map_err(platform)?;
        // The search matches any item that has these two among its attributes.
        if current.get("service") != Some(&service) || current.get("username") != Some(&user) {
            continue;
        }
        let mut updated: HashMap<&str, &str> = current
            .iter()
            .filter(|(name, _)| !PROVIDER_COMPUTED.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        updated.extend(marker.iter().map(|(k, v)| (*k, *v)));
        item.set_attributes(updated).map_err(platform)?;
    }
    Ok(())
}

/// Every item under `service`, or [`SecretStoreError::Locked`] while any collection is locked:
/// KeePassXC's `SearchItems` returns nothing at all for a locked database (gnome-keyring lists
/// such items as locked), so an empty or short answer proves nothing until every collection,
/// not only the `default` alias, is known to be unlocked. Checked first, so that a locked
/// KeePassXC with "unlock before search" on is never searched (2.7.4 can wedge on that).
pub fn search(store: &Arc<CredentialStore>, service: &str) -> Result<Vec<Entry>> {
    check_none_locked()?;
    Entry::search_in_store(store, &HashMap::from([("service", service)])).map_err(map_error)
}

/// Fails with [`SecretStoreError::Locked`] while any collection is locked: what a search finds
/// is complete only when none is (see [`search`]).
pub fn check_none_locked() -> Result<()> {
    let ss = SecretService::connect(EncryptionType::Plain).map_err(|e| store_error(&e))?;
    for collection in ss.get_all_collections().map_err(|e| store_error(&e))? {
        match collection.is_locked() {
            Ok(false) => {}
            Ok(true) if unlock_open_kwallet(&collection) => {}
            Ok(true) => return Err(SecretStoreError::Locked),
            // Deleted since it was listed: it holds nothing.
            Err(dbus_secret_service::Error::Dbus(e))
                if e.name() == Some("org.freedesktop.DBus.Error.UnknownObject") => {}
            Err(other) => return Err(store_error(&other)),
        }
    }
    Ok(())
}

/// KWallet lists the collection of an open wallet as locked until a client unlocks it (so it
/// is, right after a KDE login), and its `Unlock` prompt then completes with no dialog. Unlocks
/// `collection` when KWallet serves it and kwalletd says its wallet is open; a closed wallet
/// stays locked, since opening it would show its password dialog. Whether it is now unlocked.
fn unlock_open_kwallet(collection: &dbus_secret_service::Collection<'_>) -> bool {
    if provider() != Some(Provider::KWallet) {
        return false;
    }
    // KWallet names a wallet's collection by the wallet's name.
    let Ok(wallet) = collection.get_label() else {
        return false;
    };
    kwallet_is_open(&wallet)
        && collection.unlock().is_ok()
        && matches!(collection.is_locked(), Ok(false))
}

/// Whether kwalletd (KDE Frameworks 6 or 5) has `wallet` open, by its own interface.
fn kwallet_is_open(wallet: &str) -> bool {
    let Ok(bus) = dbus::blocking::Connection::new_session() else {
        return false;
    };
    [
        ("org.kde.kwalletd6", "/modules/kwalletd6"),
        ("org.kde.kwalletd5", "/modules/kwalletd5"),
    ]
    .into_iter()
    .any(|(name, path)| {
        bus.with_proxy(name, path, std::time::Duration::from_secs(1))
            .method_call("org.kde.KWallet", "isOpen", (wallet,))
            .is_ok_and(|(open,): (bool,)| open)
    })
}

fn store_error(e: &dbus_secret_service::Error) -> SecretStoreError {
    classify(e).unwrap_or_else(|| SecretStoreError::Platform(e.to_string()))
}

/// Every attribute of a found item: `service`, `username`, and any marker.
pub fn attributes(entry: &Entry) -> Result<Option<HashMap<String, String>>> {
    entry.get_attributes().map(Some).map_err(map_error)
}

/// Asks the Secret Service directly whether a key could be stored now, without triggering an
/// unlock prompt that nobody may be there to answer.
pub fn check_ready() -> Result<()> {
    let ss = SecretService::connect(EncryptionType::Plain)
        .map_err(|e| classify(&e).unwrap_or_else(|| SecretStoreError::Platform(e.to_string())))?;
    let collection = ss.get_default_collection().map_err(|e| match e {
        dbus_secret_service::Error::NoResult => SecretStoreError::NoCollection,
        other => classify(&other).unwrap_or_else(|| SecretStoreError::Platform(other.to_string())),
    })?;
    match collection.is_locked() {
        Ok(false) => Ok(()),
        Ok(true) if unlock_open_kwallet(&collection) => Ok(()),
        Ok(true) => Err(SecretStoreError::Locked),
        // The default alias may point at a collection that no longer exists.
        Err(dbus_secret_service::Error::Dbus(e))
            if e.name() == Some("org.freedesktop.DBus.Error.UnknownObject")
                || e.name() == Some("org.freedesktop.DBus.Error.UnknownMethod") =>
        {
            Err(SecretStoreError::NoCollection)
        }
        Err(other) => {
            Err(classify(&other).unwrap_or_else(|| SecretStoreError::Platform(other.to_string())))
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
        // Our side of a session whose key the service derived differently (see
        // `is_session_refusal`): the secret does not decrypt.
        dbus_secret_service::Error::Crypto(e) => SecretStoreError::SessionRefused(e.to_string()),
        dbus_secret_service::Error::Dbus(e) if is_session_refusal(e.message().unwrap_or("")) => {
            SecretStoreError::SessionRefused(e.message().unwrap_or("").to_string())
        }
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

/// KWallet's two answers to an encrypted (Diffie-Hellman) session it cannot use, together
/// about one session in 60 with dbus-secret-service 4.1 (read in kwalletd 5.103's
/// kwalletfreedesktopservice.cpp and kwalletfreedesktopsession.cpp; docs/design.md):
/// - "Client public key size is invalid", to `OpenSession` (1 in 256): kwalletd wants 128
///   bytes, and the crate sends its public key without leading zero bytes;
/// - "Can't find session …", to `CreateItem`/`SetSecret`: kwalletd says so whenever it cannot
///   decrypt the secret, and it cannot when its AES key differs from ours: when the shared
///   secret has a leading zero byte (1 in 256; kwalletd drops it, the crate and libsecret keep
///   it) or when it misreads our public key as a negative number (some keys with the top bit
///   set). A read then fails to decrypt on our side instead (`Error::Crypto`).
///
/// All are properties of the session's random key pair: a fresh connection gets past them.
fn is_session_refusal(message: &str) -> bool {
    message == "Client public key size is invalid" || message.starts_with("Can't find session")
}

/// Which program owns `org.freedesktop.secrets`: the bus daemon tells its process id, and
/// `/proc` its name. `None` when nothing owns the name or the bus cannot be asked.
pub fn provider() -> Option<Provider> {
    let bus = dbus::blocking::Connection::new_session().ok()?;
    let daemon = bus.with_proxy(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        std::time::Duration::from_secs(1),
    );
    let (pid,): (u32,) = daemon
        .method_call(
            "org.freedesktop.DBus",
            "GetConnectionUnixProcessID",
            ("org.freedesktop.secrets",),
        )
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let provider = Provider::from_program(&comm);
    if provider != Provider::Other {
        return Some(provider);
    }
    // comm can be renamed by the process; the executable's name is the other witness.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let name = exe.file_name()?.to_string_lossy().into_owned();
    Some(Provider::from_program(&name))
}

/// Whether the provider is asking a person to let us at our items: KeePassXC, with "Confirm
/// when passwords are retrieved by clients" on, lists an item a new client has not been
/// allowed as locked while its collection is unlocked, and answers the client's `Unlock`
/// with a prompt (an access confirmation dialog). Seen as: items of ours locked, no collection
/// locked.
pub fn access_prompt_pending(service: &str) -> Result<bool> {
    let ss = SecretService::connect(EncryptionType::Plain).map_err(|e| store_error(&e))?;
    let found = ss
        .search_items(HashMap::from([("service", service)]))
        .map_err(|e| store_error(&e))?;
    if found.locked.is_empty() {
        return Ok(false);
    }
    for collection in ss.get_all_collections().map_err(|e| store_error(&e))? {
        if collection.is_locked().unwrap_or(true) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dbus_error(name: &str, message: &str) -> dbus_secret_service::Error {
        dbus_secret_service::Error::Dbus(dbus::Error::new_custom(name, message))
    }

    #[test]
    fn kwallets_session_answers_are_session_refusals_not_a_missing_collection() {
        for (name, message) in [
            (
                "org.freedesktop.DBus.Error.InvalidArgs",
                "Client public key size is invalid",
            ),
            (
                "org.freedesktop.DBus.Error.InvalidObjectPath",
                "Can't find session /org/freedesktop/secrets/session/7",
            ),
            // SetSecret's answer: without the session check, UnknownObject reads as "no
            // collection", and its hint would send the person to create a wallet.
            (
                "org.freedesktop.DBus.Error.UnknownObject",
                "Can't find session /org/freedesktop/secrets/session/12",
            ),
        ] {
            assert!(
                matches!(
                    classify(&dbus_error(name, message)),
                    Some(SecretStoreError::SessionRefused(m)) if m == message
                ),
                "{name}: {message}"
            );
        }
        // A read whose secret does not decrypt with our session key.
        let undecryptable = dbus_secret_service::Error::Crypto("Unpad Error".into());
        assert!(matches!(
            classify(&undecryptable),
            Some(SecretStoreError::SessionRefused(_))
        ));
    }

    #[test]
    fn other_answers_keep_their_meaning() {
        assert!(matches!(
            classify(&dbus_error(
                "org.freedesktop.DBus.Error.UnknownObject",
                "No such object path '/org/freedesktop/secrets/collection/login'"
            )),
            Some(SecretStoreError::NoCollection)
        ));
        assert!(matches!(
            classify(&dbus_error(
                "org.freedesktop.DBus.Error.InvalidArgs",
                "Invalid arguments"
            )),
            Some(SecretStoreError::Platform(_))
        ));
    }
}
