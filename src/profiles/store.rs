//! Reading and writing `~/.fluxloop/credentials`: refused when others could write it (as ssh
//! does), tightened when others could read it, never read or written through a symlink, replaced
//! atomically, and updated under a lock so concurrent runs keep each other's profiles.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::model::{CredentialsFile, FORMAT_VERSION};

/// Larger files are refused: metadata for hundreds of profiles is a few KiB.
const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// How long to wait for another fluxloop process to finish updating the file.
const LOCK_WAIT: Duration = Duration::from_secs(10);

const HEADER: &str = "# FluxLoop CLI profiles. Managed by `fluxloop auth`; edits are kept.\n\
# API keys are not here: they are in the OS keychain (unless a profile says `storage: file`).\n";

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
    #[error("another fluxloop process has been updating {path} for over {} s", LOCK_WAIT.as_secs())]
    LockTimeout { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, ProfileError>;

/// What loading found and did, for the command layer to report.
#[derive(Debug, Default)]
pub struct Loaded {
    pub file: CredentialsFile,
    /// Paths whose group/world read permission was removed.
    pub tightened: Vec<PathBuf>,
    pub exists: bool,
}

#[derive(Debug, Clone)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

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
        if let Some(fixed) = secure::check_dir(&self.dir)? {
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
        loaded.file = parse(&text, &path)?;
        Ok(loaded)
    }

    /// Read-modify-write under an exclusive lock. `change` returns a value and whether it changed
    /// the file; the file is only rewritten when it did. Keychain calls made inside `change` are
    /// serialised with the file, so the two cannot drift apart between concurrent runs.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut CredentialsFile) -> (T, bool),
    ) -> Result<(T, Loaded)> {
        secure::create_dir(&self.dir)?;
        let _lock = self.lock()?;
        let mut loaded = self.load()?;
        let (value, changed) = change(&mut loaded.file);
        if changed {
            loaded.file.version = Some(FORMAT_VERSION);
            self.write(&loaded.file)?;
        }
        Ok((value, loaded))
    }

    fn lock(&self) -> Result<File> {
        let path = self.lock_path();
        let file = secure::open_lock(&path)?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(ProfileError::LockTimeout { path });
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
        let body = zeroize::Zeroizing::new(serde_saphyr::to_string(file).map_err(|e| {
            ProfileError::Malformed {
                path: path.clone(),
                reason: crate::keys::redact(&e.to_string()),
            }
        })?);
        let tmp = self.dir.join(format!(
            ".credentials.tmp-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        self.replace_via(&tmp, body.as_bytes())
    }

    /// Writes `body` to `tmp` (which must not exist yet), then renames it over the file.
    fn replace_via(&self, tmp: &Path, body: &[u8]) -> Result<()> {
        let path = self.path();
        // Anything already at `tmp` (a planted symlink) is not ours: leave it, fail.
        let mut out = secure::create_new(tmp).map_err(|source| ProfileError::Write {
            path: path.clone(),
            source,
        })?;
        let result = (|| {
            out.write_all(HEADER.as_bytes())?;
            out.write_all(body)?;
            out.sync_all()?;
            std::fs::rename(tmp, &path)?;
            secure::sync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        result.map_err(|source| ProfileError::Write { path, source })
    }
}

/// The credentials file's parser alone, as [`ProfileStore::load`] applies it to the file's
/// text (which must be UTF-8): the entry point of the fuzz target.
pub fn parse_credentials(bytes: &[u8], path: &Path) -> Result<CredentialsFile> {
    let text = std::str::from_utf8(bytes).map_err(|source| ProfileError::Read {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidData, source),
    })?;
    parse(text, path)
}

fn parse(text: &str, path: &Path) -> Result<CredentialsFile> {
    if text.trim().is_empty() {
        return Ok(CredentialsFile::default());
    }
    let file: CredentialsFile =
        serde_saphyr::from_str(text).map_err(|e| ProfileError::Malformed {
            path: path.to_path_buf(),
            // Parser messages can quote the input, which may hold a legacy plaintext key.
            reason: crate::keys::redact_quoting(&e.to_string(), text),
        })?;
    if let Some(v) = file.version
        && v > FORMAT_VERSION
    {
        return Err(ProfileError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "format version {v} is newer than this fluxloop understands ({FORMAT_VERSION})"
            ),
        });
    }
    Ok(file)
}

#[cfg(unix)]
mod secure {
    use std::fs::{DirBuilder, File, OpenOptions, Permissions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use super::{MAX_FILE_SIZE, ProfileError, Result};

    const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;

    fn read_err(path: &Path) -> impl FnOnce(io::Error) -> ProfileError + '_ {
        move |source| {
            if source.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                ProfileError::Symlink {
                    path: path.to_path_buf(),
                }
            } else {
                ProfileError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        }
    }

    fn write_err(path: &Path) -> impl FnOnce(io::Error) -> ProfileError + '_ {
        move |source| ProfileError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Created 0700 from the start, not chmod-ed afterwards.
    pub fn create_dir(dir: &Path) -> Result<()> {
        match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            Ok(()) => Ok(()),
            Err(e) => Err(write_err(dir)(e)),
        }
    }

    /// Refuses a directory others can write to; tightens one others can read.
    pub fn check_dir(dir: &Path) -> Result<Option<PathBuf>> {
        let meta = match std::fs::symlink_metadata(dir) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_err(dir)(e)),
        };
        // A symlinked directory (dotfile managers do this) is fine if it resolves to ours.
        let meta = if meta.file_type().is_symlink() {
            std::fs::metadata(dir).map_err(read_err(dir))?
        } else {
            meta
        };
        if !meta.is_dir() {
            return Err(ProfileError::NotAFile {
                path: dir.to_path_buf(),
            });
        }
        check_owner_and_mode(dir, meta.uid(), meta.mode(), true)?;
        if meta.mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(write_err(dir))?;
            return Ok(Some(dir.to_path_buf()));
        }
        Ok(None)
    }

    fn check_owner_and_mode(path: &Path, uid: u32, mode: u32, is_dir: bool) -> Result<()> {
        let me = rustix::process::geteuid().as_raw();
        if uid != me {
            return Err(ProfileError::NotOwned {
                path: path.to_path_buf(),
                owner: uid,
            });
        }
        if mode & 0o022 != 0 {
            return Err(ProfileError::WritableByOthers {
                path: path.to_path_buf(),
                mode: mode & 0o777,
                is_dir,
            });
        }
        Ok(())
    }

    pub fn open_existing(path: &Path) -> Result<Option<File>> {
        match OpenOptions::new()
            .read(true)
            .custom_flags(NOFOLLOW | rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
        {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_err(path)(e)),
        }
    }

    /// Returns whether group/world read permission had to be removed.
    pub fn check_file(file: &File, path: &Path) -> Result<bool> {
        let meta = file.metadata().map_err(read_err(path))?;
        if !meta.is_file() {
            return Err(ProfileError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        check_owner_and_mode(path, meta.uid(), meta.mode(), false)?;
        if meta.len() > MAX_FILE_SIZE {
            return Err(ProfileError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        if meta.mode() & 0o077 != 0 {
            file.set_permissions(Permissions::from_mode(0o600))
                .map_err(write_err(path))?;
            return Ok(true);
        }
        Ok(false)
    }

    pub fn open_lock(path: &Path) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(NOFOLLOW)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                    ProfileError::Symlink {
                        path: path.to_path_buf(),
                    }
                } else {
                    ProfileError::Write {
                        path: path.to_path_buf(),
                        source: e,
                    }
                }
            })
    }

    /// O_EXCL: fails on anything already there, a planted symlink included.
    pub fn create_new(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(NOFOLLOW)
            .open(path)
    }

    pub fn sync_dir(dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

#[cfg(not(unix))]
mod secure {
    //! On Windows the profile directory inherits the user's ACLs; no mode bits to check.
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::path::{Path, PathBuf};

    use super::{MAX_FILE_SIZE, ProfileError, Result};

    pub fn create_dir(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| ProfileError::Write {
            path: dir.to_path_buf(),
            source,
        })
    }

    pub fn check_dir(_dir: &Path) -> Result<Option<PathBuf>> {
        Ok(None)
    }

    pub fn open_existing(path: &Path) -> Result<Option<File>> {
        if std::fs::symlink_metadata(path)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
        {
            return Err(ProfileError::Symlink {
                path: path.to_path_buf(),
            });
        }
        match File::open(path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProfileError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn check_file(file: &File, path: &Path) -> Result<bool> {
        let meta = file.metadata().map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.len() > MAX_FILE_SIZE {
            return Err(ProfileError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        Ok(false)
    }

    pub fn open_lock(path: &Path) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| ProfileError::Write {
                path: path.to_path_buf(),
                source,
            })
    }

    pub fn create_new(path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).create_new(true).open(path)
    }

    pub fn sync_dir(_dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::model::{Expiry, Profile, Storage};
    use secrecy::ExposeSecret;

    fn store() -> (tempfile::TempDir, ProfileStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(tmp.path().join(".fluxloop"));
        (tmp, store)
    }

    fn add(store: &ProfileStore, name: &str) {
        store
            .update(|f| {
                f.profiles.insert(
                    name.into(),
                    Profile {
                        account: Some(format!("{name}@example.com")),
                        expires: Some(Expiry::Never),
                        storage: Some(Storage::Keychain),
                        ..Profile::default()
                    },
                );
                ((), true)
            })
            .unwrap();
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
        assert_eq!(f.plaintext_profiles().len(), 2);
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
