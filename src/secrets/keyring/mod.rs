//! The OS keychain through keyring-core and the per-OS store crates, every call bounded in time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};
use tracing::info;
use zeroize::Zeroize;

use super::{
    Backend, KeychainScope, PENDING_LOGIN_PREFIX, Provider, Purge, Result, SecretStore,
    SecretStoreError, bounded,
};

/// How long finding the Secret Service's program may take before the hints go generic.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a call may go unanswered before we look for a prompt (KeePassXC's access
/// confirmation) that it may be waiting on.
const PROMPT_PATIENCE: Duration = Duration::from_millis(500);

/// How long a person gets to answer such a prompt.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a platform's own read found (`platform::read_directly`).
pub enum Direct {
    /// The secret of the one item that holds the profile's key (Linux only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Found(zeroize::Zeroizing<Vec<u8>>),
    /// Not the plain case, or no read of our own on this platform: ask the store.
    Elsewhere,
}

/// Which way a key was read, named in `-v`'s log line of the read.
#[derive(Clone, Copy)]
enum ReadPath {
    /// Our own encrypted session (`platform::read_directly`).
    Own,
    /// The store crate's.
    Store,
}

/// Which way a key was written, named in `-v`'s log line of the write.
#[derive(Clone, Copy)]
enum WritePath {
    /// A new item, created in our own encrypted session (`platform::create_directly`).
    Own,
    /// The store crate's.
    Store,
}

/// Tells the person that the keychain is asking them, and for how long fluxloop waits.
pub type PromptNotice = Arc<dyn Fn(Option<Provider>, Duration) + Send + Sync>;

// One module per platform store, used as `platform`: each has the same eight functions
// (`connect`, `entry`, `mark`, `search`, `attributes`, `check_ready`, `check_none_locked`,
// `classify`, `provider`).
#[cfg(target_os = "linux")]
mod direct_read;
#[cfg(target_os = "linux")]
mod direct_search;
#[cfg(any(target_os = "macos", windows))]
mod native;
#[cfg(target_os = "linux")]
mod secret_service;
#[cfg(any(target_os = "macos", windows))]
use self::native as platform;
#[cfg(target_os = "linux")]
use self::secret_service as platform;

pub struct KeyringStore {
    scope: KeychainScope,
    timeout: Duration,
    /// Connected lazily, on the first call: commands that never touch the keychain never wait.
    store: Arc<Mutex<Option<Arc<CredentialStore>>>>,
    /// The connection of the platform's own searches (`platform::search_directly`), also lazy,
    /// and kept for every call of the command.
    bus: Arc<Mutex<Option<platform::Bus>>>,
    /// Called when a call waits on a prompt; the command layer says so (this module never
    /// prints).
    prompt_notice: Option<PromptNotice>,
}

impl KeyringStore {
    pub fn new(scope: KeychainScope, timeout: Duration) -> Self {
        Self {
            scope,
            timeout,
            store: Arc::new(Mutex::new(None)),
            bus: Arc::new(Mutex::new(None)),
            prompt_notice: None,
        }
    }

    /// Calls `notice` when a call waits on a prompt (then for up to [`PROMPT_TIMEOUT`]).
    pub fn with_prompt_notice(mut self, notice: PromptNotice) -> Self {
        self.prompt_notice = Some(notice);
        self
    }

    /// Runs `op` against the platform store on a worker thread, within `budget`.
    fn run<T, F>(&self, budget: Duration, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Arc<CredentialStore>, &KeychainScope) -> Result<T> + Send + 'static,
    {
        self.run_lazily(budget, move |connect, scope| op(&connect()?, scope))
    }

    /// Like [`Self::run`], but `op` connects the store only if it needs it (by calling the
    /// function it is given).
    fn run_lazily<T, F>(&self, budget: Duration, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&dyn Fn() -> Result<Arc<CredentialStore>>, &KeychainScope) -> Result<T>
            + Send
            + 'static,
    {
        let slot = self.store.clone();
        let scope = self.scope.clone();
        let started = Instant::now();
        let service = self.scope.service.clone();
        let prompted = std::cell::Cell::new(false);
        // Checked only once the call is slow: nothing is asked of a keychain that answers.
        let extend = || {
            let pending = bounded::call(PROVIDER_TIMEOUT, move || {
                platform::access_prompt_pending(&service)
            })
            .unwrap_or(false);
            if !pending {
                return None;
            }
            prompted.set(true);
            if let Some(notice) = &self.prompt_notice {
                notice(self.provider(), PROMPT_TIMEOUT);
            }
            Some(PROMPT_TIMEOUT)
        };
        bounded::call_patiently(
            budget,
            PROMPT_PATIENCE,
            move || {
                let mut attempt = 1;
                loop {
                    // The store connection this attempt used, if it needed one: the one to
                    // forget when the attempt's session is at fault.
                    let used = std::cell::RefCell::new(None);
                    let connect = || {
                        let store = Self::connected(&slot, started, budget)?;
                        *used.borrow_mut() = Some(store.clone());
                        Ok(store)
                    };
                    let result = op(&connect, &scope).map_err(|e| (e, used.take()));
                    match result {
                        Ok(found) => return Ok(found),
                        // The session's random key pair is at fault (KWallet, see
                        // `SessionRefused`): forget the connection and try a fresh one, as
                        // long as the call's bound lasts. Nothing was written: a refused write
                        // is refused whole.
                        Err((e @ SecretStoreError::SessionRefused(_), store))
                            if attempt < SESSION_ATTEMPTS && started.elapsed() < budget =>
                        {
                            info!(attempt, error = %e, "keychain session refused; trying a fresh connection");
                            attempt += 1;
                            Self::forget(&slot, store.as_ref());
                        }
                        // Such a session's read decrypts to noise instead, one time in 256
                        // (the padding checks out by chance): a secret that is not text gets
                        // one more look through a fresh session before it is called bad.
                        Err((SecretStoreError::BadData(_), store))
                            if attempt == 1 && started.elapsed() < budget =>
                        {
                            attempt += 1;
                            Self::forget(&slot, store.as_ref());
                        }
                        // D-Bus gave up on a reply before our bound did: after its own 2 s, or
                        // at once when the connection broke (CI saw "did not answer within 1 s"
                        // from a quiet machine). Every call made here may be made again: a read
                        // changes nothing, a write replaces the same item, a delete that took
                        // effect finds nothing the second time. So a fresh connection gets
                        // what is left of the bound; a daemon that stays silent still ends at it.
                        Err((e @ SecretStoreError::Timeout(_), store))
                            if started.elapsed() < budget =>
                        {
                            info!(attempt, error = %e, elapsed_ms = started.elapsed().as_millis() as u64, "keychain call got no reply; trying a fresh connection");
                            attempt += 1;
                            Self::forget(&slot, store.as_ref());
                        }
                        Err((e, _)) => return Err(e),
                    }
                }
            },
            extend,
        )
        .map_err(|e| match e {
            // Say how long we really waited: our bound, or D-Bus's own reply timeout if that
            // came first.
            SecretStoreError::Timeout(_) => SecretStoreError::Timeout(started.elapsed()),
            // The access prompt was dismissed: the items stay locked to us while no collection
            // is, so the person said no (a database locked meanwhile stays "locked").
            SecretStoreError::Locked
                if prompted.get()
                    && bounded::call(PROVIDER_TIMEOUT, platform::check_none_locked).is_ok() =>
            {
                SecretStoreError::AccessDenied
            }
            other => other,
        })
    }

    /// The connection in `slot`, made now if there is none. A previous call that timed out may
    /// still hold it for a while: waits for it within this call's own bound (a busy machine was
    /// seen to fail here at once, "did not answer within 1 s"), and never goes on once the
    /// caller has given up.
    fn connected(
        slot: &Mutex<Option<Arc<CredentialStore>>>,
        started: Instant,
        budget: Duration,
    ) -> Result<Arc<CredentialStore>> {
        let mut guard = loop {
            match slot.try_lock() {
                Ok(guard) => break guard,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) if started.elapsed() < budget => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(SecretStoreError::Timeout(started.elapsed()));
                }
            }
        };
        match guard.as_ref() {
            Some(store) => Ok(store.clone()),
            None => {
                let store = platform::connect()?;
                crate::logging::phase!("keychain connected (session open)");
                *guard = Some(store.clone());
                Ok(store)
            }
        }
    }

    /// Drops the connection in `slot` if it is still `store`, so the next call makes a new one.
    fn forget(slot: &Mutex<Option<Arc<CredentialStore>>>, store: Option<&Arc<CredentialStore>>) {
        let Some(store) = store else { return };
        let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.as_ref().is_some_and(|held| Arc::ptr_eq(held, store)) {
            *guard = None;
        }
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

    /// The label of `profile`'s item.
    fn label(profile: &str) -> String {
        match profile.strip_prefix(PENDING_LOGIN_PREFIX) {
            Some(name) => format!("FluxLoop pending browser login ({name})"),
            None => format!("FluxLoop API key ({profile})"),
        }
    }

    fn entry(store: &Arc<CredentialStore>, service: &str, profile: &str) -> Result<Entry> {
        let label = Self::label(profile);
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
        // D-Bus gives up on a reply after its own 2 s; asking again costs nothing (the call
        // changes nothing), so a slow daemon gets our whole bound before we call it hung.
        let result = loop {
            let left = self.timeout.saturating_sub(started.elapsed());
            match bounded::call(left, platform::check_ready) {
                Err(SecretStoreError::Timeout(_)) if started.elapsed() < self.timeout => {}
                Err(SecretStoreError::Timeout(_)) => {
                    break Err(SecretStoreError::Timeout(started.elapsed()));
                }
                other => break other,
            }
        };
        log(
            &self.scope.service,
            "check",
            None,
            &result,
            |()| Some("ready".into()),
            started,
        );
        result
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        let started = Instant::now();
        let result = self.get_inner(profile, started);
        log(
            &self.scope.service,
            "get",
            Some(profile),
            &result,
            |found| {
                Some(
                    match found {
                        Some((_, ReadPath::Own)) => "found (read in fluxloop's own session)",
                        Some((_, ReadPath::Store)) => "found (read in the store's session)",
                        None => "no entry",
                    }
                    .into(),
                )
            },
            started,
        );
        result.map(|found| found.map(|(key, _)| key))
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        let started = Instant::now();
        let p = profile.to_string();
        let key = key.clone();
        let bus = self.bus.clone();
        let deadline = started + self.timeout;
        let result = self.run_lazily(self.timeout, move |connect, scope| {
            // A new item in an unlocked default collection: created in our own session, marked
            // at once. Anything else (an item to replace, a prompt) through the store.
            let label = Self::label(&p);
            if platform::create_directly(
                &bus,
                deadline,
                scope,
                &p,
                &label,
                key.expose_secret().as_bytes(),
            )? {
                return Ok(WritePath::Own);
            }
            let store = connect()?;
            let entry = Self::entry(&store, &scope.service, &p)?;
            // Bytes, not `set_password`: Windows' store encodes a password as UTF-16, and every
            // read here is `get_secret`, so writing UTF-8 bytes keeps the two symmetric.
            entry
                .set_secret(key.expose_secret().as_bytes())
                .map_err(|e| map_profile_error(e, &p))?;
            // On every write, so that an earlier release's entry gains the marker too.
            platform::mark(&entry, scope).map_err(|e| map_profile_error(e, &p))?;
            Ok(WritePath::Store)
        });
        log(
            &self.scope.service,
            "set",
            Some(profile),
            &result,
            |path| {
                Some(
                    match path {
                        WritePath::Own => "saved (created in fluxloop's own session)",
                        WritePath::Store => "saved (in the store's session)",
                    }
                    .into(),
                )
            },
            started,
        );
        result.map(|_| ())
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        let started = Instant::now();
        let result = self.delete_inner(profile, started);
        log(
            &self.scope.service,
            "delete",
            Some(profile),
            &result,
            |removed| Some(if *removed { "deleted" } else { "no entry" }.into()),
            started,
        );
        result
    }

    fn delete_each(&self, profiles: &[String], removed: &mut dyn FnMut(&str)) -> Result<()> {
        #[cfg(target_os = "linux")]
        if self.provider() == Some(Provider::GnomeKeyring) {
            return self.delete_in_batches(profiles, removed);
        }
        super::delete_one_at_a_time(self, profiles, removed)
    }

    fn list(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let bus = self.bus.clone();
        let deadline = started + self.timeout;
        let result = self.run_lazily(self.timeout, move |connect, scope| {
            let ours = match platform::search_directly(&bus, deadline, scope)? {
                Some((ours, _)) => ours.into_iter().map(|(_, name)| name).collect(),
                None => Self::search_ours(&connect()?, scope)?
                    .0
                    .into_iter()
                    .map(|(_, name)| name)
                    .collect::<Vec<_>>(),
            };
            // Pending browser logins are not profiles' keys.
            let mut names: Vec<String> = ours
                .into_iter()
                .filter(|name| !name.starts_with(PENDING_LOGIN_PREFIX))
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        });
        log(
            &self.scope.service,
            "search",
            None,
            &result,
            |names| Some(format!("{} profiles with an entry", names.len())),
            started,
        );
        result
    }

    fn delete_all(&self) -> Result<Purge> {
        let started = Instant::now();
        // One entry at a time through the store, each deletion a crash point: `logout --all`
        // deletes the listed profiles before this (`delete_each`, commands/auth/logout.rs), so
        // that a keychain dying part way leaves an exact account; this removes what is left.
        let bus = self.bus.clone();
        let deadline = started + self.timeout;
        let result = self.run_lazily(self.timeout, move |connect, scope| {
            // Usually `delete_each` has deleted everything: the direct search says so without
            // the store's encrypted session.
            if let Some((ours, foreign)) = platform::search_directly(&bus, deadline, scope)?
                && ours.is_empty()
            {
                return Ok(Purge {
                    removed: 0,
                    left_foreign: foreign,
                });
            }
            let store = connect()?;
            let (ours, foreign) = Self::search_ours(&store, scope)?;
            for (e, _) in &ours {
                crate::crash_points::step(crate::crash_points::Step::KeychainDeleteOfAll);
                match e.delete_credential() {
                    Ok(()) | Err(keyring_core::Error::NoEntry) => {}
                    Err(err) => return Err(map_error(err)),
                }
            }
            Ok(Purge {
                removed: ours.len(),
                left_foreign: foreign,
            })
        });
        log(
            &self.scope.service,
            "delete all",
            None,
            &result,
            |purge| {
                Some(format!(
                    "{} deleted, {} not ours left",
                    purge.removed, purge.left_foreign
                ))
            },
            started,
        );
        result
    }

    fn confirm_absent(&self) -> Result<()> {
        let started = Instant::now();
        let result = self.confirm_absent_within(started);
        log(
            &self.scope.service,
            "check none locked",
            None,
            &result,
            |()| Some("none locked".into()),
            started,
        );
        result
    }

    fn service(&self) -> &str {
        &self.scope.service
    }

    fn provider(&self) -> Option<Provider> {
        // The bus daemon answers, not the provider, so a hung provider costs nothing here;
        // the bound is for a hung bus.
        bounded::call(PROVIDER_TIMEOUT, || Ok(platform::provider()))
            .ok()
            .flatten()
    }
}

/// Profiles whose items `delete_each` sends together: well under the bus daemon's limit of
/// pending replies per connection, and small enough that a keychain stopped part way costs one
/// bounded wait for the batch.
#[cfg(target_os = "linux")]
const DELETE_BATCH: usize = 32;

#[cfg(target_os = "linux")]
impl KeyringStore {
    /// [`SecretStore::delete_each`] on gnome-keyring: the items found by one direct search,
    /// deleted by object path in batches of [`DELETE_BATCH`] profiles, every deletion of a batch
    /// sent before the first reply is read (gnome-keyring rewrites its keyring file per
    /// deletion, so what this saves is our round trips and the store's search before each
    /// one). Each batch is a crash point and is bounded like one call; a profile counts as
    /// removed once every item of it was answered as deleted. Locked items, and items whose
    /// deletion asks for a prompt, are deleted through the store afterwards, one at a time, as
    /// before; with anything locked the whole job is.
    fn delete_in_batches(&self, profiles: &[String], removed: &mut dyn FnMut(&str)) -> Result<()> {
        let bus = self.bus.clone();
        let deadline = Instant::now() + self.timeout;
        let found = self.run_lazily(self.timeout, move |_, scope| {
            platform::search_directly(&bus, deadline, scope)
        })?;
        let Some((ours, _)) = found else {
            return super::delete_one_at_a_time(self, profiles, removed);
        };
        // Each profile's items (more than one only when another tool made duplicates).
        let targets: Vec<(&String, Vec<platform::Handle>)> = profiles
            .iter()
            .map(|name| {
                let paths = ours
                    .iter()
                    .filter(|(_, n)| n == name)
                    .map(|(path, _)| path.clone())
                    .collect();
                (name, paths)
            })
            .filter(|(_, paths): &(_, Vec<_>)| !paths.is_empty())
            .collect();
        let mut for_the_store: Vec<String> = Vec::new();
        for batch in targets.chunks(DELETE_BATCH) {
            crate::crash_points::step(crate::crash_points::Step::KeychainDeleteBatch);
            let started = Instant::now();
            let paths: Vec<platform::Handle> =
                batch.iter().flat_map(|(_, p)| p.iter().cloned()).collect();
            // Shared with the worker thread, which may be abandoned at the bound: what it has
            // been told by then is what counts.
            let outcomes: Arc<Mutex<Vec<Option<platform::Deletion>>>> =
                Arc::new(Mutex::new(vec![None; paths.len()]));
            let (bus, seen) = (self.bus.clone(), outcomes.clone());
            let deadline = started + self.timeout;
            let result = self.run_lazily(self.timeout, move |_, _| {
                platform::delete_directly(&bus, deadline, &paths, &mut |index, deletion| {
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    // A `Done` stands even if a retry (after a lost connection) then finds the
                    // item gone. A deletion whose reply was lost is seen only as `Gone`, which
                    // alone does not count as removed: the profile is reported as remaining,
                    // the safe side (its metadata stays; the next `logout --all` ends the job).
                    if seen[index] != Some(platform::Deletion::Done) {
                        seen[index] = Some(deletion);
                    }
                })
            });
            let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let counts: Vec<usize> = batch.iter().map(|(_, paths)| paths.len()).collect();
            let mut deleted = 0;
            for ((name, _), account) in batch.iter().zip(account_of_batch(&counts, &outcomes)) {
                match account {
                    Account::Removed => {
                        deleted += 1;
                        removed(name);
                    }
                    Account::ForTheStore => for_the_store.push(name.to_string()),
                    Account::NotRemoved => {}
                }
            }
            log(
                &self.scope.service,
                "delete",
                None,
                &result,
                |()| {
                    Some(format!(
                        "{deleted} of {} profiles deleted in one batch",
                        batch.len()
                    ))
                },
                started,
            );
            result?;
        }
        for name in &for_the_store {
            crate::crash_points::step(crate::crash_points::Step::KeychainDelete);
            if self.delete(name)? {
                removed(name);
            }
        }
        Ok(())
    }
}

/// What a batch did for one profile.
#[cfg(target_os = "linux")]
#[derive(Debug, PartialEq, Eq)]
enum Account {
    /// Every item of it answered: deleted (by this run at least once), or already gone.
    Removed,
    /// An item wants a prompt or is locked: the store deletes the profile's entry.
    ForTheStore,
    /// Unanswered (the batch failed or was given up on), or gone before this run deleted it.
    NotRemoved,
}

/// Each profile's [`Account`], from the outcomes of its items (`counts[i]` items for profile
/// `i`, in order; `None`: no answer).
#[cfg(target_os = "linux")]
fn account_of_batch(counts: &[usize], outcomes: &[Option<platform::Deletion>]) -> Vec<Account> {
    use platform::Deletion::{Done, Gone, NeedsStore};
    let mut next = outcomes.iter();
    counts
        .iter()
        .map(|&count| {
            let mine: Vec<_> = next.by_ref().take(count).collect();
            if mine.contains(&&Some(NeedsStore)) {
                Account::ForTheStore
            } else if mine.contains(&&Some(Done))
                && mine.iter().all(|d| matches!(d, Some(Done | Gone)))
            {
                Account::Removed
            } else {
                Account::NotRemoved
            }
        })
        .collect()
}

impl KeyringStore {
    /// The entries under our service that are ours, with their profile names, and how many
    /// others another program stored there (see [`KeychainScope::profile_of`]).
    fn search_ours(
        store: &Arc<CredentialStore>,
        scope: &KeychainScope,
    ) -> Result<(Vec<(Entry, String)>, usize)> {
        let mut ours = Vec::new();
        let mut foreign = 0;
        for entry in platform::search(store, &scope.service)? {
            let attributes = platform::attributes(&entry)?;
            match attributes.and_then(|a| scope.profile_of(&a)) {
                Some(name) => ours.push((entry, name)),
                None => foreign += 1,
            }
        }
        Ok((ours, foreign))
    }

    fn get_inner(
        &self,
        profile: &str,
        started: Instant,
    ) -> Result<Option<(SecretString, ReadPath)>> {
        // A read changes nothing, so a D-Bus reply timeout (2 s) is asked again until our own
        // read budget is spent.
        let found = loop {
            let left = self.read_budget().saturating_sub(started.elapsed());
            let deadline = Instant::now() + left;
            let p = profile.to_string();
            let bus = self.bus.clone();
            // Inside the retry loop, so a refused session, a secret that is not text or an
            // early D-Bus timeout is tried again here exactly as through the store.
            let attempt = self.run_lazily(left, move |connect, scope| {
                let decode = |bytes: &[u8]| {
                    decode_secret(bytes, cfg!(windows))
                        .ok_or_else(|| SecretStoreError::BadData(p.clone()))
                };
                if let Direct::Found(bytes) = platform::read_directly(&bus, deadline, scope, &p)? {
                    return decode(&bytes).map(|key| Some((key, ReadPath::Own)));
                }
                let entry = Self::entry(&connect()?, &scope.service, &p)?;
                match entry.get_secret() {
                    Ok(mut bytes) => {
                        let text = decode(&bytes);
                        bytes.zeroize();
                        text.map(|key| Some((key, ReadPath::Store)))
                    }
                    Err(keyring_core::Error::NoEntry) => Ok(None),
                    Err(e) => Err(map_profile_error(e, &p)),
                }
            });
            match attempt {
                Err(SecretStoreError::Timeout(_)) if started.elapsed() < self.read_budget() => {}
                Err(e) => {
                    let e = match self.explain_timeout(started, e) {
                        SecretStoreError::Timeout(_) => {
                            SecretStoreError::Timeout(started.elapsed())
                        }
                        other => other,
                    };
                    return Err(e);
                }
                Ok(found) => break found,
            }
        };
        if found.is_none() {
            self.confirm_absent_within(started)?;
        }
        Ok(found)
    }

    /// Secret Service reports a missing or locked collection as "no entry", and KeePassXC finds
    /// nothing in a locked database even when it is not the default: "no entry" is the truth
    /// only when the default collection is usable and no collection is locked.
    fn confirm_absent_within(&self, started: Instant) -> Result<()> {
        let left = self.timeout.saturating_sub(started.elapsed());
        bounded::call(left.max(PROBE_RESERVE), || {
            platform::check_ready()?;
            platform::check_none_locked()
        })
        .map_err(|e| match e {
            SecretStoreError::Timeout(_) => SecretStoreError::Timeout(started.elapsed()),
            other => other,
        })
    }

    fn delete_inner(&self, profile: &str, started: Instant) -> Result<bool> {
        let p = profile.to_string();
        self.run(self.read_budget(), move |store, scope| {
            let entry = Self::entry(store, &scope.service, &p)?;
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
        .map_err(|e| match self.explain_timeout(started, e) {
            SecretStoreError::Timeout(_) => SecretStoreError::Timeout(started.elapsed()),
            other => other,
        })
    }
}

/// The key in an entry's bytes: UTF-8, as every release writes it on Linux and macOS and as this
/// one writes it everywhere. Releases before it wrote Windows entries as UTF-16LE
/// (`set_password`), so with `legacy_utf16le` bytes that are not plain UTF-8 text (a key never
/// holds a NUL, and UTF-16LE of ASCII is full of them) are decoded as UTF-16LE instead.
/// `None` when the bytes are neither.
fn decode_secret(bytes: &[u8], legacy_utf16le: bool) -> Option<SecretString> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !(legacy_utf16le && text.contains('\0')) => {
            Some(SecretString::from(text.trim()))
        }
        _ if legacy_utf16le && bytes.len().is_multiple_of(2) => {
            let mut units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            let decoded = String::from_utf16(&units).ok();
            units.zeroize();
            decoded.map(|mut text| {
                let key = SecretString::from(text.trim());
                text.zeroize();
                key
            })
        }
        _ => None,
    }
}

/// The Windows store's search pattern for every target name `<user>.<service>`: a regular
/// expression, so every metacharacter of the service name is escaped.
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_search_pattern(service: &str) -> String {
    let mut escaped = String::with_capacity(service.len() * 2);
    for c in service.chars() {
        // The `regex` crate's metacharacters, `#`, `&`, `-` and `~` included.
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!(r"^.*\.{escaped}$")
}

/// How many connections a call may try when the Secret Service refuses their encrypted
/// sessions ([`SecretStoreError::SessionRefused`]): KWallet 5 cannot use about one in 60, so
/// eight in a row is as good as never; more would be a service that refuses every session.
const SESSION_ATTEMPTS: u32 = 8;

/// Part of the timeout kept back for asking why a read timed out.
const PROBE_RESERVE: Duration = Duration::from_secs(1);

/// One line per keychain operation (`-v`): what, for which profile, what came of it in words,
/// how long it took, the backend and the service name. Never a secret.
fn log<T, E: std::fmt::Display>(
    service: &str,
    op: &str,
    profile: Option<&str>,
    result: &std::result::Result<T, E>,
    outcome: impl FnOnce(&T) -> Option<String>,
    started: Instant,
) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let backend = super::Backend::for_this_os().id();
    let of = profile
        .map(|p| format!(" of profile '{p}'"))
        .unwrap_or_default();
    match result {
        Ok(value) => {
            let what = outcome(value).map(|o| format!(": {o}")).unwrap_or_default();
            info!(op, elapsed_ms, backend, service, "keychain {op}{of}{what}");
        }
        Err(e) => {
            info!(op, error = %e, elapsed_ms, backend, service, "keychain {op}{of} failed");
        }
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

#[cfg(all(test, target_os = "linux"))]
mod batch_tests {
    use super::platform::Deletion::{Done, Gone, NeedsStore};
    use super::{Account, account_of_batch};

    #[test]
    fn a_profile_counts_as_removed_only_once_each_of_its_items_was_answered() {
        // Four profiles: one item each, then a profile with two items (duplicates).
        let counts = [1, 1, 1, 1, 2];
        let all_answered = [
            Some(Done),
            Some(Gone),
            Some(NeedsStore),
            Some(Done),
            Some(Done),
            Some(Gone),
        ];
        assert_eq!(
            account_of_batch(&counts, &all_answered),
            [
                Account::Removed,
                // Deleted by someone else before this run: as the store's "no entry".
                Account::NotRemoved,
                Account::ForTheStore,
                Account::Removed,
                Account::Removed,
            ]
        );
        // The connection failed part way: the unanswered ones are not reported, nor is a
        // profile one of whose two items was answered.
        let part_way = [Some(Done), None, None, Some(Done), Some(Done), None];
        assert_eq!(
            account_of_batch(&counts, &part_way),
            [
                Account::Removed,
                Account::NotRemoved,
                Account::NotRemoved,
                Account::Removed,
                Account::NotRemoved,
            ]
        );
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::{decode_secret, windows_search_pattern};

    const KEY: &str = "flux_dev_abc123def456ghi789jkl012mno34";

    fn utf16le(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn decoded(bytes: &[u8], legacy_utf16le: bool) -> Option<String> {
        decode_secret(bytes, legacy_utf16le).map(|k| k.expose_secret().to_string())
    }

    #[test]
    fn utf8_entries_are_read_as_written_on_every_platform() {
        for legacy_utf16le in [false, true] {
            assert_eq!(
                decoded(KEY.as_bytes(), legacy_utf16le).as_deref(),
                Some(KEY)
            );
            let padded = format!("  {KEY}\n");
            assert_eq!(
                decoded(padded.as_bytes(), legacy_utf16le).as_deref(),
                Some(KEY)
            );
        }
    }

    #[test]
    fn utf16le_entries_of_earlier_windows_releases_are_still_read() {
        assert_eq!(decoded(&utf16le(KEY), true).as_deref(), Some(KEY));
        assert_eq!(
            decoded(&utf16le(&format!("{KEY}\r\n")), true).as_deref(),
            Some(KEY)
        );
    }

    #[test]
    fn utf16le_is_not_guessed_where_no_release_wrote_it() {
        // Off Windows the bytes stay what they were: NULs and all, as before this change.
        let bytes = utf16le(KEY);
        let text = decoded(&bytes, false).unwrap();
        assert_ne!(text, KEY);
        assert!(text.starts_with("f\0l\0u\0x\0"), "{text:?}");
    }

    #[test]
    fn bytes_that_are_neither_utf8_nor_utf16le_are_refused() {
        // Odd length with a NUL: not UTF-16LE.
        assert_eq!(decoded(b"flux\0", true), None);
        // Invalid UTF-8, and an unpaired surrogate (0xD800) as UTF-16LE.
        assert_eq!(decoded(&[0x00, 0xD8, 0xff, 0xfe], true), None);
        assert_eq!(decoded(&[0xff, 0xfe, 0xfd], false), None);
    }

    #[test]
    fn the_windows_search_pattern_matches_the_service_name_literally() {
        for service in [
            "fluxloop",
            "fluxloop:0123456789ab",
            "a.b*c+d?e(f)g[h]i{j}k|l^m$n\\o#p&q-r~s t",
        ] {
            let pattern = regex::Regex::new(&windows_search_pattern(service)).unwrap();
            assert!(pattern.is_match(&format!("john.{service}")), "{service}");
            assert!(
                pattern.is_match(&format!("john.doe.{service}")),
                "{service}"
            );
            assert!(!pattern.is_match(service), "{service}");
            assert!(!pattern.is_match(&format!("john.{service}x")), "{service}");
            assert!(!pattern.is_match(&format!("john.x{service}")), "{service}");
        }
        // Unescaped, `.` and `*` would match other services' targets.
        let pattern = regex::Regex::new(&windows_search_pattern("flux.loop*")).unwrap();
        assert!(!pattern.is_match("john.fluxXloop"));
        assert!(!pattern.is_match("john.fluxXloopppp"));
    }
}
