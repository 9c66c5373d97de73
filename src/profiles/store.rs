//! Reading and writing `~/.fluxloop/credentials`: refused when others could write it (as ssh
//! does), tightened when others could read it, never read or written through a symlink, replaced
//! atomically, and updated under a lock so concurrent runs keep each other's profiles.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluxloop_formats::profiles::{ParseError, parse_credentials_text};

use super::model::{CredentialsFile, FORMAT_VERSION, ProfileName};
use super::secure_fs as secure;
use crate::crash_points::{self, Step};

/// Larger files are refused: metadata for hundreds of profiles is a few KiB.
pub(super) const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// How long to wait for another fluxloop process to finish updating the file.
const LOCK_WAIT: Duration = Duration::from_secs(10);

const HEADER: &str = "# FluxLoop CLI profiles. Managed by `fluxloop auth`: fields it does not know are kept,\n\
# comments are not. API keys are not here: they are in the OS keychain (unless a profile says\n\
# `storage: file`).\n";

/// Temp files of an interrupted write: `.credentials.tmp-<pid>-<nanos>`.
const TEMP_PREFIX: &str = ".credentials.tmp-";

// NotAFile, WritableByOthers and NotOwned come from the Unix checks only (secure_fs.rs).
#[cfg_attr(not(unix), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} is not valid: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path} is a symbolic link")]
    Symlink { path: PathBuf },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{path} is writable by other users (mode {mode:03o})")]
    WritableByOthers {
        path: PathBuf,
        mode: u32,
        /// The directory rather than the file: the fix is a different chmod.
        is_dir: bool,
    },
    #[error("{path} is owned by another user (uid {owner})")]
    NotOwned { path: PathBuf, owner: u32 },
    #[error("{path} is larger than 1 MiB")]
    TooLarge { path: PathBuf },
    /// The home directory that `~/.fluxloop` would go in is missing (a wrong HOME): it is not
    /// ours to create.
    #[error("the home directory {path} does not exist")]
    NoHomeDir { path: PathBuf },
    #[error("another fluxloop{} is busy with the credentials file {path} (waited {} s)", holder.map(|pid| format!(" (PID {pid})")).unwrap_or_default(), LOCK_WAIT.as_secs())]
    LockTimeout {
        path: PathBuf,
        /// The process holding the lock, when it wrote its id into the lock file and still runs.
        holder: Option<u32>,
    },
}

pub type Result<T> = std::result::Result<T, ProfileError>;

impl From<ParseError> for ProfileError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::NotUtf8 { path, source } => ProfileError::Read {
                path,
                source: io::Error::new(io::ErrorKind::InvalidData, source),
            },
            ParseError::Malformed { path, reason } => ProfileError::Malformed { path, reason },
        }
    }
}

/// What loading found and did, for the command layer to report.
#[derive(Debug, Default)]
pub struct Loaded {
    pub file: CredentialsFile,
    /// Paths whose group/world read permission was removed.
    pub tightened: Vec<PathBuf>,
    pub exists: bool,
}

/// The credentials file as read before the command ran (to choose the profile), with the text
/// it was parsed from: the command's own read of the same text takes it instead of parsing the
/// file a second time (200 profiles take milliseconds to parse).
pub struct Peeked {
    text: zeroize::Zeroizing<String>,
    pub file: CredentialsFile,
}

impl std::fmt::Debug for Peeked {
    // The file may hold a plaintext key (`storage: file`): never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Peeked { .. }")
    }
}

#[derive(Debug, Clone)]
pub struct ProfileStore {
    dir: PathBuf,
    /// Taken by the first [`Self::load`] that reads the same text, and dropped otherwise.
    peeked: Arc<Mutex<Option<Peeked>>>,
    /// Whether a directory others can read is tightened to 0700: only fluxloop's own default
    /// directory, never one the user named (it may be shared on purpose).
    tighten_dir: bool,
    /// Debug builds only: every write fails, so tests can reach the rollback paths.
    fail_writes: bool,
}

/// The credentials file read under the exclusive lock, for one read-modify-write. Keychain calls
/// made while it is held are serialised with the file, so the two cannot drift apart between
/// concurrent runs. [`ProfileTx::commit`] writes the file; dropping the guard writes nothing and
/// releases the lock.
#[derive(Debug)]
pub struct ProfileTx<'a> {
    store: &'a ProfileStore,
    _lock: File,
    pub file: CredentialsFile,
}

impl ProfileTx<'_> {
    /// Replaces the file with `self.file` (atomically), then releases the lock.
    pub fn commit(mut self) -> Result<()> {
        self.file.version = Some(FORMAT_VERSION);
        self.store.write(&self.file)
    }
}

impl ProfileStore {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            peeked: Arc::default(),
            tighten_dir: true,
            fail_writes: false,
        }
    }

    /// Keeps `peeked` (from [`Self::peek_keeping_text`]) for the first [`Self::load`].
    pub fn with_peeked(self, peeked: Option<Peeked>) -> Self {
        *self.peeked.lock().unwrap_or_else(|p| p.into_inner()) = peeked;
        self
    }

    /// A directory the user chose (FLUXLOOP_HOME): its permissions are checked, never changed.
    pub fn user_chosen(mut self) -> Self {
        self.tighten_dir = false;
        self
    }

    /// A store whose every write fails as a full disk would: for tests of the rollback paths.
    #[cfg(any(test, debug_assertions))]
    pub fn with_failing_writes(mut self) -> Self {
        self.fail_writes = true;
        self
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("credentials")
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("credentials.lock")
    }

    /// Reads the file; a missing file is an empty one.
    pub fn load(&self) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        if let Some(fixed) = secure::check_dir(&self.dir, self.tighten_dir)? {
            loaded.tightened.push(fixed);
        }
        let path = self.path();
        let Some(mut file) = secure::open_existing(&path)? else {
            return Ok(loaded);
        };
        loaded.exists = true;
        if secure::check_file(&file, &path)? {
            loaded.tightened.push(path.clone());
        }
        let mut text = zeroize::Zeroizing::new(String::new());
        file.read_to_string(&mut text)
            .map_err(|source| ProfileError::Read {
                path: path.clone(),
                source,
            })?;
        let peeked = self.peeked.lock().unwrap_or_else(|p| p.into_inner()).take();
        loaded.file = match peeked {
            // The same bytes parse to the same file.
            Some(peeked) if *peeked.text == *text => peeked.file,
            _ => parse_credentials_text(&text, &path)?,
        };
        Ok(loaded)
    }

    /// The valid profile names in the file, for shell completion: a look only, so nothing is
    /// tightened or created and no lock is taken (the permission checks of [`Self::load`] are
    /// left to the command that uses the profile). A missing file has no names.
    pub fn peek_names(&self) -> Result<Vec<String>> {
        let file = self.peek()?;
        // Only names fluxloop accepts reach the shell's command line.
        Ok(file
            .names()
            .into_iter()
            .filter(|name| ProfileName::parse(name).is_ok())
            .collect())
    }

    /// Reads the file without checking, tightening, creating or locking anything, for a look
    /// before the command runs (shell completion, choosing the profile). A missing file is empty.
    pub fn peek(&self) -> Result<CredentialsFile> {
        Ok(self.peek_keeping_text()?.file)
    }

    /// [`Self::peek`], with the text the file was parsed from, for [`Self::with_peeked`].
    pub fn peek_keeping_text(&self) -> Result<Peeked> {
        let path = self.path();
        let Some(file) = secure::open_existing(&path)? else {
            return Ok(Peeked {
                text: zeroize::Zeroizing::new(String::new()),
                file: CredentialsFile::default(),
            });
        };
        let mut text = zeroize::Zeroizing::new(String::new());
        // One byte over the limit is enough to know the file is too large.
        file.take(MAX_FILE_SIZE + 1)
            .read_to_string(&mut text)
            .map_err(|source| ProfileError::Read {
                path: path.clone(),
                source,
            })?;
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(ProfileError::TooLarge { path });
        }
        let file = parse_credentials_text(&text, &path)?;
        Ok(Peeked { text, file })
    }

    /// Takes the exclusive lock (waiting up to [`LOCK_WAIT`] for another fluxloop), then reads
    /// the file, for a read-modify-write: `let mut tx = store.lock()?; ...; tx.commit()?`.
    pub fn lock(&self) -> Result<ProfileTx<'_>> {
        if self.tighten_dir
            && let Some(home) = self.dir.parent()
            && !home.is_dir()
        {
            return Err(ProfileError::NoHomeDir {
                path: home.to_path_buf(),
            });
        }
        secure::create_dir(&self.dir)?;
        let lock = self.acquire_lock()?;
        let loaded = self.load()?;
        Ok(ProfileTx {
            store: self,
            _lock: lock,
            file: loaded.file,
        })
    }

    fn acquire_lock(&self) -> Result<File> {
        let path = self.lock_path();
        let mut file = secure::open_lock(&path)?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    // Our id, for the message of a run that times out waiting for us. Only a
                    // courtesy: the lock is the flock, whatever the file says.
                    let _ = file.set_len(0).and_then(|()| {
                        file.write_all(format!("{}\n", std::process::id()).as_bytes())
                    });
                    return Ok(file);
                }
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(ProfileError::LockTimeout {
                        path: self.path(),
                        holder: lock_holder(&mut file),
                    });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(ProfileError::Write { path, source });
                }
            }
        }
    }

    /// Temp file in the same directory (created new, 0600, never through a symlink), fsync,
    /// rename over the old file, fsync the directory.
    fn write(&self, file: &CredentialsFile) -> Result<()> {
        let path = self.path();
        if self.fail_writes {
            return Err(ProfileError::Write {
                path,
                source: io::Error::from_raw_os_error(28), // ENOSPC
            });
        }
        let body = zeroize::Zeroizing::new(serde_saphyr::to_string(file).map_err(|e| {
            ProfileError::Malformed {
                path: path.clone(),
                reason: crate::keys::redact(&e.to_string()),
            }
        })?);
        self.remove_stale_temp_files();
        let tmp = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        self.replace_via(&tmp, body.as_bytes())
    }

    /// Temp files left by a write that was interrupted (killed, power lost): ours by name, a
    /// regular file owned by us, and their writer's process is gone. They may hold a plaintext
    /// key of `--storage file` or a legacy profile.
    pub fn stale_temp_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut stale: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let pid = name
                    .to_str()?
                    .strip_prefix(TEMP_PREFIX)?
                    .split_once('-')?
                    .0
                    .parse::<u32>()
                    .ok()?;
                let path = entry.path();
                (crate::leftovers::is_own_regular_file(&path)
                    && !crate::leftovers::process_exists(pid))
                .then_some(path)
            })
            .collect();
        stale.sort();
        stale
    }

    /// Removes [`Self::stale_temp_files`]; returns those it removed. Only called with the lock
    /// held, so no live writer of ours is using them.
    pub fn remove_stale_temp_files(&self) -> Vec<PathBuf> {
        self.stale_temp_files()
            .into_iter()
            .filter(|path| std::fs::remove_file(path).is_ok())
            .collect()
    }

    /// Writes `body` to `tmp` (which must not exist yet), then renames it over the file.
    fn replace_via(&self, tmp: &Path, body: &[u8]) -> Result<()> {
        let path = self.path();
        // Anything already at `tmp` (a planted symlink) is not ours: leave it, fail.
        crash_points::step(Step::TempCreate);
        let mut out = secure::create_new(tmp).map_err(|source| ProfileError::Write {
            path: path.clone(),
            source,
        })?;
        let result = (|| {
            crash_points::step(Step::TempWrite);
            out.write_all(HEADER.as_bytes())?;
            out.write_all(body)?;
            crash_points::step(Step::TempSync);
            out.sync_all()?;
            // Opened before the rename: once the new file is in place the write has happened,
            // and no later failure (no descriptor left, say) may make a caller roll back a
            // change that was made.
            let dir = secure::open_dir(&self.dir)?;
            crash_points::step(Step::Rename);
            std::fs::rename(tmp, &path)?;
            crash_points::step(Step::DirSync);
            // The rename is done and visible; a failed directory fsync only leaves it less
            // durable against a power cut, so it is not a failed write.
            if let Some(dir) = dir {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        result.map_err(|source| ProfileError::Write { path, source })
    }
}

/// The process id a lock holder wrote into the lock file, if that process still runs.
fn lock_holder(file: &mut File) -> Option<u32> {
    use std::io::Seek;
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    let pid = text.trim().parse::<u32>().ok()?;
    crate::leftovers::process_exists(pid).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::model::{Expiry, Profile};
    use crate::secrets::StoreKind;
    use secrecy::ExposeSecret;

    fn store() -> (tempfile::TempDir, ProfileStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(tmp.path().join(".fluxloop"));
        (tmp, store)
    }

    fn add(store: &ProfileStore, name: &str) {
        let mut tx = store.lock().unwrap();
        tx.file.insert(
            name,
            Profile {
                account: Some(format!("{name}@example.com")),
                expires: Some(Expiry::Never),
                storage: Some(StoreKind::Keychain),
                ..Profile::default()
            },
        );
        tx.commit().unwrap();
    }

    /// The read made to choose the profile is used by the command's own read only while the
    /// file still holds the same text; a file changed in between is parsed afresh.
    #[test]
    fn a_peeked_file_is_reused_only_for_the_same_text() {
        let (_tmp, s) = store();
        add(&s, "dev");
        let peeked = s.peek_keeping_text().unwrap();
        assert_eq!(peeked.file.names(), ["dev"]);
        // Same text: the peeked parse is what load returns (here marked by a profile the text
        // does not have, to tell it from a fresh parse).
        let mut marked = s.peek_keeping_text().unwrap();
        marked
            .file
            .profiles
            .insert("marked".into(), Profile::default());
        let s = s.with_peeked(Some(marked));
        assert_eq!(s.load().unwrap().file.names(), ["dev", "marked"]);
        // Taken once: the next load parses.
        assert_eq!(s.load().unwrap().file.names(), ["dev"]);
        // The file changed after the peek: parsed afresh.
        let mut stale = s.peek_keeping_text().unwrap();
        stale
            .file
            .profiles
            .insert("marked".into(), Profile::default());
        add(&s, "prod");
        let s = s.with_peeked(Some(stale));
        assert_eq!(s.load().unwrap().file.names(), ["dev", "prod"]);
    }

    #[test]
    fn peek_names_reads_valid_names_and_creates_nothing() {
        let (_t, s) = store();
        assert!(s.peek_names().unwrap().is_empty());
        assert!(!s.dir.exists(), "a look created the directory");
        add(&s, "work");
        add(&s, "default");
        let mut text = std::fs::read_to_string(s.path()).unwrap();
        text.push_str("  'not valid!': {}\n");
        std::fs::write(s.path(), &text).unwrap();
        assert_eq!(s.peek_names().unwrap(), ["default", "work"]);
        assert_eq!(std::fs::read_to_string(s.path()).unwrap(), text);
    }

    #[test]
    fn peek_names_refuses_a_file_over_the_size_limit() {
        let (_t, s) = store();
        add(&s, "default");
        let mut text = std::fs::read_to_string(s.path()).unwrap();
        text.push_str(&format!("# {}\n", "x".repeat(MAX_FILE_SIZE as usize)));
        std::fs::write(s.path(), &text).unwrap();
        assert!(matches!(s.peek_names(), Err(ProfileError::TooLarge { .. })));
    }

    #[test]
    fn a_dropped_transaction_writes_nothing_and_releases_the_lock() {
        let (_t, s) = store();
        add(&s, "default");
        let before = std::fs::read(s.path()).unwrap();
        {
            let mut tx = s.lock().unwrap();
            tx.file.remove("default");
            tx.file.insert("other", Profile::default());
        }
        assert_eq!(std::fs::read(s.path()).unwrap(), before);
        // The lock was released: a second transaction does not wait for LOCK_WAIT.
        let started = Instant::now();
        drop(s.lock().unwrap());
        assert!(started.elapsed() < LOCK_WAIT);
    }

    #[test]
    fn a_failed_write_leaves_the_file_as_it_was() {
        let (_t, s) = store();
        add(&s, "default");
        let before = std::fs::read(s.path()).unwrap();
        let failing = s.clone().with_failing_writes();
        let mut tx = failing.lock().unwrap();
        tx.file.remove("default");
        assert!(matches!(tx.commit(), Err(ProfileError::Write { .. })));
        assert_eq!(std::fs::read(s.path()).unwrap(), before);
    }

    #[test]
    fn a_home_directory_that_does_not_exist_is_not_created() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("no-such-home");
        let s = ProfileStore::new(home.join(".fluxloop"));
        assert!(matches!(s.lock(), Err(ProfileError::NoHomeDir { .. })));
        assert!(!home.exists(), "the home directory was created");
        // A directory the user chose is created, parents and all.
        let chosen = ProfileStore::new(home.join("fluxloop")).user_chosen();
        drop(chosen.lock().unwrap());
        assert!(home.join("fluxloop").is_dir());
    }

    #[test]
    fn missing_file_is_empty() {
        let (_t, s) = store();
        let l = s.load().unwrap();
        assert!(!l.exists);
        assert!(l.file.is_empty());
    }

    #[test]
    fn round_trip_and_modes() {
        let (_t, s) = store();
        add(&s, "default");
        add(&s, "work");
        let l = s.load().unwrap();
        assert_eq!(l.file.profiles.len(), 2);
        assert_eq!(
            l.file.profiles["work"].account.as_deref(),
            Some("work@example.com")
        );
        assert!(l.tightened.is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(s.dir()), 0o700);
            assert_eq!(mode(&s.path()), 0o600);
        }
        let text = std::fs::read_to_string(s.path()).unwrap();
        assert!(text.contains("version: 1"), "{text}");
        assert!(!text.contains("api_key"), "{text}");
    }

    #[test]
    fn concurrent_updates_keep_every_profile() {
        let (_t, s) = store();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || add(&s, &format!("p{i}")))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.load().unwrap().file.profiles.len(), 8);
    }

    #[test]
    fn reads_legacy_plaintext() {
        let (_t, s) = store();
        std::fs::create_dir_all(s.dir()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(s.dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::write(
            s.path(),
            "api_key: flux_dev_abc123def456ghi789jkl012mno34\nprofiles:\n  work:\n    api_key: \"flux_prod_abcdefghijabcdefghij12\"\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let f = s.load().unwrap().file;
        let d = f.profile("default").unwrap();
        assert_eq!(
            d.api_key.unwrap().expose_secret(),
            "flux_dev_abc123def456ghi789jkl012mno34"
        );
        assert_eq!(f.plaintext_keys().len(), 2);
    }

    #[test]
    fn malformed_file_error_redacts_keys() {
        let (_t, s) = store();
        add(&s, "default");
        std::fs::write(
            s.path(),
            "profiles: [flux_dev_abc123def456ghi789jkl012mno34\n",
        )
        .unwrap();
        let err = s.load().unwrap_err().to_string();
        assert!(!err.contains("abc123def456ghi789jkl012mno34"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink_planted_at_the_temp_path() {
        let (t, s) = store();
        add(&s, "default");
        let original = std::fs::read(s.path()).unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, "theirs").unwrap();
        let nowhere = t.path().join("nowhere");
        for (name, points_to) in [("existing", &target), ("dangling", &nowhere)] {
            let tmp = s.dir().join(format!(".credentials.tmp-{name}"));
            std::os::unix::fs::symlink(points_to, &tmp).unwrap();
            let err = s.replace_via(&tmp, b"profiles: {}\n").unwrap_err();
            assert!(matches!(err, ProfileError::Write { .. }), "{err}");
            assert!(std::fs::symlink_metadata(&tmp).unwrap().is_symlink());
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");
        assert!(!nowhere.exists());
        assert_eq!(std::fs::read(s.path()).unwrap(), original);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlink_and_loose_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let (t, s) = store();
        add(&s, "default");
        let target = t.path().join("elsewhere");
        std::fs::rename(s.path(), &target).unwrap();
        std::os::unix::fs::symlink(&target, s.path()).unwrap();
        assert!(matches!(s.load(), Err(ProfileError::Symlink { .. })));
        std::fs::remove_file(s.path()).unwrap();
        std::fs::rename(&target, s.path()).unwrap();

        std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            s.load(),
            Err(ProfileError::WritableByOthers { mode: 0o666, .. })
        ));
        std::fs::set_permissions(s.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let l = s.load().unwrap();
        assert_eq!(l.tightened, vec![s.path()]);
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
