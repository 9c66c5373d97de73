//! What tells a temp file left by a killed writer (`.<name>.tmp-<pid>`) from one being written:
//! shared by the credentials file (profiles) and the key files (secrets), which do not depend
//! on each other.

use std::path::Path;

/// A regular file (not a link) that belongs to us.
#[cfg(unix)]
pub(crate) fn is_own_regular_file(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_file() && m.uid() == rustix::process::geteuid().as_raw())
}

#[cfg(not(unix))]
pub(crate) fn is_own_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// Whether a process with this id exists (ours or not: EPERM still means it exists).
#[cfg(unix)]
pub(crate) fn process_exists(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Without a cheap way to ask, a writer is assumed alive: its temp file stays.
#[cfg(not(unix))]
pub(crate) fn process_exists(_pid: u32) -> bool {
    true
}
