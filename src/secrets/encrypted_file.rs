//! `--storage encrypted-file`: each profile's key in its own file, `<credentials dir>/keys/
//! <profile>.age`, encrypted with a passphrase by the `age` crate's scrypt recipient. For machines
//! with no keychain and no kernel keyring worth trusting across reboots: SSH servers, containers.
//!
//! The passphrase comes from a [`PassphraseSource`] the command layer gives (a hidden prompt, or
//! `FLUXLOOP_PASSPHRASE`); this module never prints and never reads the environment. It is asked
//! at most once per run and kept only in a [`SecretString`].
//!
//! The scrypt work factor ([`WORK_FACTOR`]) is written into each file's stanza by age, so files
//! written with a lower one keep opening after it is raised (docs/design.md).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use secrecy::SecretString;
use tracing::info;
use zeroize::Zeroizing;

use super::scope::is_profile_name;
use super::{Backend, Purge, Result, SecretStore, SecretStoreError};
use crate::crash_points::{self, Step};
use crate::leftovers::{is_own_regular_file, process_exists};

/// scrypt's N = 2^WORK_FACTOR (r = 8, p = 1 as age fixes them): 2^16 needs 64 MiB, and one unlock
/// takes about 0.2 s on the project's 2-core machines (docs/design.md has the measurements; every
/// step up doubles both the cost of a guess and the wait). age writes it into each file's stanza,
/// so it can be raised later.
pub const WORK_FACTOR: u8 = 16;

/// The highest work factor a file may ask for: 2^20 is 1 GiB and a few seconds. A file asking for
/// more is refused as damaged rather than tying up the machine.
pub const MAX_WORK_FACTOR: u8 = 20;

/// A key file larger than this is not ours (a key is under 200 bytes; age adds about 200).
const MAX_FILE: u64 = 16 * 1024;

/// The folder under the credentials directory that holds the key files.
pub const KEYS_DIR: &str = "keys";

/// The file name extension of a key file.
const EXTENSION: &str = "age";

/// Why a passphrase is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassphrasePurpose {
    /// To open an existing file.
    Unlock,
    /// To encrypt a new file: a prompt asks twice and compares.
    Choose,
}

/// Where passphrases come from (the terminal or `FLUXLOOP_PASSPHRASE`), given by the command
/// layer.
pub trait PassphraseSource: Send + Sync {
    /// Whether [`PassphraseSource::passphrase`] can succeed without failing for want of a
    /// source: a variable is set, or there is a terminal to ask at. Never asks.
    fn available(&self) -> bool;

    /// A passphrase for `path`; [`SecretStoreError::NoPassphrase`] when there is no source.
    fn passphrase(&self, purpose: PassphrasePurpose, path: &Path) -> Result<SecretString>;
}

/// A source with nothing to give, for in-process tests.
#[cfg(test)]
pub struct NoPassphrase;

#[cfg(test)]
impl PassphraseSource for NoPassphrase {
    fn available(&self) -> bool {
        false
    }
    fn passphrase(&self, _purpose: PassphrasePurpose, _path: &Path) -> Result<SecretString> {
        Err(SecretStoreError::NoPassphrase)
    }
}

/// Encrypted key files as a [`SecretStore`].
pub struct EncryptedFileStore {
    dir: PathBuf,
    source: Arc<dyn PassphraseSource>,
    /// The passphrase of this run, once given: asked once, used for every file.
    passphrase: Mutex<Option<SecretString>>,
}

impl EncryptedFileStore {
    /// Key files in `<home>/keys`.
    pub fn new(home: &Path, source: Arc<dyn PassphraseSource>) -> Self {
        Self {
            dir: home.join(KEYS_DIR),
            source,
            passphrase: Mutex::new(None),
        }
    }

    /// The folder of the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `profile`'s key.
    pub fn path(&self, profile: &str) -> PathBuf {
        self.dir.join(format!("{profile}.{EXTENSION}"))
    }

    /// The file's bytes as they are, without opening them; `None` when there is none.
    pub fn raw(&self, profile: &str) -> Result<Option<Vec<u8>>> {
        read_file(&self.path(profile))
    }

    /// Puts back what [`EncryptedFileStore::raw`] gave: those bytes, or no file.
    pub fn restore_raw(&self, profile: &str, bytes: Option<&[u8]>) -> Result<()> {
        let path = self.path(profile);
        match bytes {
            Some(bytes) => write_atomically(&path, bytes).map_err(|e| file_error(&path, e)),
            None => self.remove(profile).map(|_| ()),
        }
    }

    /// Whether a passphrase could be had here without asking (see [`PassphraseSource`]).
    pub fn passphrase_available(&self) -> bool {
        self.passphrase.lock().is_ok_and(|p| p.is_some()) || self.source.available()
    }

    /// Asks for the passphrase to encrypt with now (twice at a prompt), so that `login` asks
    /// before the key is typed and a mismatch costs nothing.
    pub fn choose_passphrase(&self, profile: &str) -> Result<()> {
        self.passphrase_for(PassphrasePurpose::Choose, &self.path(profile))
            .map(|_| ())
    }

    fn passphrase_for(&self, purpose: PassphrasePurpose, path: &Path) -> Result<SecretString> {
        let mut held = self
            .passphrase
            .lock()
            .map_err(|_| SecretStoreError::Platform("passphrase lock poisoned".into()))?;
        if let Some(p) = held.as_ref() {
            return Ok(p.clone());
        }
        let given = self.source.passphrase(purpose, path)?;
        *held = Some(given.clone());
        Ok(given)
    }

    /// Forgets a passphrase that did not open a file, so a later prompt may ask again.
    fn forget_passphrase(&self) {
        if let Ok(mut held) = self.passphrase.lock() {
            *held = None;
        }
    }

    fn read(&self, profile: &str) -> Result<Option<SecretString>> {
        let path = self.path(profile);
        let Some(bytes) = read_file(&path)? else {
            return Ok(None);
        };
        // A file that is not even an age header is damaged: say so before asking anything.
        let decryptor = age::Decryptor::new_buffered(&bytes[..])
            .map_err(|e| damaged(&path, &decrypt_reason(&e)))?;
        if !decryptor.is_scrypt() {
            return Err(damaged(&path, "it is not encrypted with a passphrase"));
        }
        let passphrase = self.passphrase_for(PassphrasePurpose::Unlock, &path)?;
        let mut identity = age::scrypt::Identity::new(passphrase);
        identity.set_max_work_factor(MAX_WORK_FACTOR);
        let mut reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
            Ok(reader) => reader,
            Err(age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys) => {
                self.forget_passphrase();
                return Err(SecretStoreError::WrongPassphrase(path));
            }
            Err(e) => return Err(damaged(&path, &decrypt_reason(&e))),
        };
        let mut plain = Zeroizing::new(Vec::with_capacity(256));
        reader
            .read_to_end(&mut plain)
            .map_err(|_| damaged(&path, "its ciphertext does not authenticate"))?;
        let text = std::str::from_utf8(&plain)
            .map_err(|_| damaged(&path, "what it holds is not text"))?
            .trim();
        if text.is_empty() {
            return Err(damaged(&path, "it holds no key"));
        }
        Ok(Some(SecretString::from(text)))
    }

    fn write(&self, profile: &str, key: &SecretString) -> Result<()> {
        use secrecy::ExposeSecret;

        let path = self.path(profile);
        let passphrase = self.passphrase_for(PassphrasePurpose::Choose, &path)?;
        let mut recipient = age::scrypt::Recipient::new(passphrase);
        recipient.set_work_factor(WORK_FACTOR);
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| SecretStoreError::Platform(format!("age: {e}")))?;
        let mut ciphertext = Vec::with_capacity(512);
        let io_err = |e: io::Error| SecretStoreError::Platform(format!("age: {e}"));
        let mut writer = encryptor.wrap_output(&mut ciphertext).map_err(io_err)?;
        writer
            .write_all(key.expose_secret().as_bytes())
            .map_err(io_err)?;
        writer.finish().map_err(io_err)?;
        create_dir(&self.dir)?;
        write_atomically(&path, &ciphertext).map_err(|e| file_error(&path, e))
    }

    fn remove(&self, profile: &str) -> Result<bool> {
        let path = self.path(profile);
        remove_stale_temp_files(&self.dir);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(file_error(&path, e)),
        }
    }

    fn names(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(file_error(&self.dir, e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| profile_of(&entry.file_name().to_string_lossy()))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The profile a file name of ours stands for: `<profile>.age` with a valid profile name.
fn profile_of(file_name: &str) -> Option<String> {
    let profile = file_name.strip_suffix(&format!(".{EXTENSION}"))?;
    // A leading dot is a temp file's (`.<profile>.age.tmp-<pid>`) or hidden: not a key file.
    (!profile.starts_with('.') && is_profile_name(profile)).then(|| profile.to_string())
}

fn damaged(path: &Path, reason: &str) -> SecretStoreError {
    SecretStoreError::Damaged {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn file_error(path: &Path, e: io::Error) -> SecretStoreError {
    SecretStoreError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Why age could not read a file, in words that do not depend on age's own messages.
fn decrypt_reason(e: &age::DecryptError) -> String {
    match e {
        age::DecryptError::ExcessiveWork { required, .. } => format!(
            "it asks for scrypt work factor {required}, above the limit of {MAX_WORK_FACTOR}"
        ),
        age::DecryptError::InvalidMac => "its header does not authenticate".to_string(),
        age::DecryptError::UnknownFormat => "it is not an age file this version reads".to_string(),
        age::DecryptError::Io(_) => "it is cut short".to_string(),
        _ => "its header cannot be read".to_string(),
    }
}

/// The file's bytes, never through a symlink; `None` when there is no file.
fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(path, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(damaged(path, "it is far larger than a key file"));
    }
    Ok(Some(bytes))
}

/// The keys folder, created 0700 from the start.
fn create_dir(dir: &Path) -> Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| file_error(dir, e))
}

/// A temp file beside the target (created new, 0600, never through a symlink), fsync, rename
/// over the target, fsync the folder: a crash leaves the old file or the new one, never half.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    // A temp file left by a killed run of this same process id is ours to replace.
    let _ = std::fs::remove_file(&tmp);
    remove_stale_temp_files(dir);
    let written = (|| {
        crash_points::step(Step::KeyFileWrite);
        let mut out: File = options.open(&tmp)?;
        out.write_all(bytes)?;
        out.sync_all()?;
        crash_points::step(Step::KeyFileRename);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir);
    Ok(())
}

/// Temp files of writes that were killed before their rename (`.<profile>.age.tmp-<pid>`, a
/// regular file of ours whose writer is gone): each holds an encrypted key that nothing reads.
/// Removed before the next write or removal in the folder.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix('.'))
            .and_then(|n| n.split_once(".age.tmp-"))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if !process_exists(pid) && is_own_regular_file(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Best effort: the rename is done and visible; a failed folder fsync only makes it less durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl SecretStore for EncryptedFileStore {
    fn backend(&self) -> Backend {
        Backend::EncryptedFile
    }

    /// Ready when a passphrase can be had (asked at a terminal or set in the environment).
    fn check_ready(&self) -> Result<()> {
        if self.passphrase_available() {
            Ok(())
        } else {
            Err(SecretStoreError::NoPassphrase)
        }
    }

    /// A missing file is the truth by itself: no passphrase is needed to see it.
    fn confirm_absent(&self) -> Result<()> {
        Ok(())
    }

    fn get(&self, profile: &str) -> Result<Option<SecretString>> {
        let started = Instant::now();
        let result = self.read(profile);
        let found = |k: &Option<SecretString>| if k.is_some() { "opened" } else { "no file" };
        log(
            "get",
            Some(profile),
            &result,
            |k| found(k).to_string(),
            started,
        );
        result
    }

    fn set(&self, profile: &str, key: &SecretString) -> Result<()> {
        let started = Instant::now();
        let result = self.write(profile, key);
        log(
            "set",
            Some(profile),
            &result,
            |_| "written".to_string(),
            started,
        );
        result
    }

    fn delete(&self, profile: &str) -> Result<bool> {
        let started = Instant::now();
        let result = self.remove(profile);
        let removed = |r: &bool| if *r { "removed" } else { "no file" }.to_string();
        log("delete", Some(profile), &result, removed, started);
        result
    }

    fn list(&self) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = self.names();
        log(
            "search",
            None,
            &result,
            |n| format!("{} found", n.len()),
            started,
        );
        result
    }

    fn delete_all(&self) -> Result<Purge> {
        let started = Instant::now();
        let result = self.names().and_then(|names| {
            let mut removed = 0;
            for name in names {
                if self.remove(&name)? {
                    removed += 1;
                }
            }
            Ok(Purge {
                removed,
                left_foreign: 0,
            })
        });
        log(
            "delete all",
            None,
            &result,
            |p| format!("{} removed", p.removed),
            started,
        );
        result
    }

    fn service(&self) -> &str {
        KEYS_DIR
    }
}

/// One line per call at `-v`, in words, as the keychain's: never the key, nor the passphrase.
fn log<T, E: std::fmt::Display>(
    op: &str,
    profile: Option<&str>,
    result: &std::result::Result<T, E>,
    outcome: impl FnOnce(&T) -> String,
    started: Instant,
) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let backend = Backend::EncryptedFile.id();
    let of = profile
        .map(|p| format!(" of profile '{p}'"))
        .unwrap_or_default();
    match result {
        Ok(value) => {
            let what = outcome(value);
            info!(op, elapsed_ms, backend, "key file {op}{of}: {what}");
        }
        Err(e) => info!(op, error = %e, elapsed_ms, backend, "key file {op}{of} failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    impl PassphraseSource for Fixed {
        fn available(&self) -> bool {
            true
        }
        fn passphrase(&self, _purpose: PassphrasePurpose, _path: &Path) -> Result<SecretString> {
            Ok(SecretString::from(self.0))
        }
    }

    fn store(home: &Path, passphrase: &'static str) -> EncryptedFileStore {
        EncryptedFileStore::new(home, Arc::new(Fixed(passphrase)))
    }

    #[test]
    fn a_key_goes_in_and_comes_back_and_only_the_right_passphrase_opens_it() {
        use secrecy::ExposeSecret;

        let home = tempfile::tempdir().unwrap();
        let key = SecretString::from("flux_dev_abcdefghijklmnopqrstuvwxyz");
        store(home.path(), "correct horse")
            .set("work", &key)
            .unwrap();
        let back = store(home.path(), "correct horse")
            .get("work")
            .unwrap()
            .unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
        let before = std::fs::read(home.path().join("keys/work.age")).unwrap();
        assert!(matches!(
            store(home.path(), "wrong").get("work"),
            Err(SecretStoreError::WrongPassphrase(_))
        ));
        assert_eq!(
            std::fs::read(home.path().join("keys/work.age")).unwrap(),
            before
        );
        assert_eq!(store(home.path(), "x").list().unwrap(), vec!["work"]);
        assert!(store(home.path(), "x").get("other").unwrap().is_none());
    }

    /// The work factor is in the file, as age writes it (`-> scrypt <salt> <log2 N>`), so it can
    /// be raised later and older files still open. Its cost is measured by benches/unlock.sh.
    #[test]
    fn each_file_records_the_work_factor_it_was_written_with() {
        let home = tempfile::tempdir().unwrap();
        let key = SecretString::from("flux_dev_abcdefghijklmnopqrstuvwxyz");
        store(home.path(), "correct horse")
            .set("work", &key)
            .unwrap();
        let bytes = std::fs::read(home.path().join("keys/work.age")).unwrap();
        let header = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        let stanza = header
            .lines()
            .find(|line| line.starts_with("-> scrypt "))
            .unwrap_or_else(|| panic!("no scrypt stanza in {header:?}"));
        assert_eq!(
            stanza.rsplit(' ').next(),
            Some(WORK_FACTOR.to_string().as_str())
        );
    }

    #[test]
    fn file_names_stand_for_valid_profiles_only() {
        assert_eq!(profile_of("work.age").as_deref(), Some("work"));
        for other in [
            ".work.age.tmp-1",
            "work.age.bak",
            ".age",
            "a b.age",
            ".hidden.age",
        ] {
            assert_eq!(profile_of(other), None, "{other}");
        }
    }
}
