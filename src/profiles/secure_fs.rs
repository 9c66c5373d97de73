//! The file-system calls behind the credentials file, one module per platform: on Unix, mode
//! bits and ownership are checked and symlinks refused with O_NOFOLLOW.

#[cfg(unix)]
pub(super) use self::unix::{
    check_dir, check_file, create_dir, create_new, open_dir, open_existing, open_lock,
};
#[cfg(not(unix))]
pub(super) use self::windows::{
    check_dir, check_file, create_dir, create_new, open_dir, open_existing, open_lock,
};

#[cfg(unix)]
mod unix {
    use std::fs::{DirBuilder, File, OpenOptions, Permissions};
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use crate::profiles::store::{MAX_FILE_SIZE, ProfileError, Result};

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

    /// Refuses a directory others can write to. One others can read is tightened to 0700 only
    /// when `tighten` (the default `~/.fluxloop`, fluxloop's own); a directory the user named
    /// with FLUXLOOP_HOME may be shared on purpose, and the file in it is 0600 anyway.
    pub fn check_dir(dir: &Path, tighten: bool) -> Result<Option<PathBuf>> {
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
        if tighten && meta.mode() & 0o077 != 0 {
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

    /// The directory, for an fsync after a rename in it.
    pub fn open_dir(dir: &Path) -> io::Result<Option<File>> {
        File::open(dir).map(Some)
    }
}

#[cfg(not(unix))]
mod windows {
    //! On Windows the profile directory inherits the user's ACLs; no mode bits to check.
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::path::{Path, PathBuf};

    use crate::profiles::store::{MAX_FILE_SIZE, ProfileError, Result};

    pub fn create_dir(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| ProfileError::Write {
            path: dir.to_path_buf(),
            source,
        })
    }

    pub fn check_dir(_dir: &Path, _tighten: bool) -> Result<Option<PathBuf>> {
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

    /// No directory handle to fsync on Windows (as before): nothing to do.
    pub fn open_dir(_dir: &Path) -> io::Result<Option<File>> {
        Ok(None)
    }
}
