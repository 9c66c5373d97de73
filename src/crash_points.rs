//! Deterministic crash points, for the crash tests (tests/crash_points.rs): every step that
//! changes or asks something outside the process (each keychain call, each file operation of the
//! credentials file's atomic write, each HTTP request) calls [`step`] first. Debug builds only,
//! when armed (`FLUXLOOP_DEBUG_CRASH_AT=N`, read in context.rs): the process kills itself with
//! SIGKILL just before its N-th step, so a test can stop a command at each step in turn and check
//! what it leaves behind. `FLUXLOOP_DEBUG_CRASH_TRACE=<file>` appends each step's number and name
//! to that file, so a test can count them. With `FLUXLOOP_DEBUG_CRASH_SIGNAL=stop` the process
//! stops itself (SIGSTOP) there instead, holding whatever it holds (the credentials file's lock)
//! until a test resumes or kills it. Release builds have an empty [`step`] and no [`arm`].

/// One step of a command, named for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    KeychainCheck,
    KeychainGet,
    KeychainSet,
    KeychainDelete,
    KeychainList,
    /// One entry's deletion inside `delete_all`.
    KeychainDeleteOfAll,
    /// One batch of deletions sent together (`delete_each` on the Secret Service).
    #[cfg(target_os = "linux")]
    KeychainDeleteBatch,
    TempCreate,
    TempWrite,
    TempSync,
    Rename,
    DirSync,
    HttpRequest,
    /// `--storage encrypted-file`: the key file's temp file created, written and synced.
    KeyFileWrite,
    /// `--storage encrypted-file`: the temp file renamed over the key file.
    KeyFileRename,
}

impl Step {
    /// Named in the crash trace, which only debug builds write.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub fn name(self) -> &'static str {
        match self {
            Step::KeychainCheck => "keychain check",
            Step::KeychainGet => "keychain get",
            Step::KeychainSet => "keychain set",
            Step::KeychainDelete => "keychain delete",
            Step::KeychainList => "keychain list",
            Step::KeychainDeleteOfAll => "keychain delete (of all)",
            #[cfg(target_os = "linux")]
            Step::KeychainDeleteBatch => "keychain delete (batch)",
            Step::TempCreate => "create temp file",
            Step::TempWrite => "write temp file",
            Step::TempSync => "fsync temp file",
            Step::Rename => "rename over credentials",
            Step::DirSync => "fsync directory",
            Step::HttpRequest => "http request",
            Step::KeyFileWrite => "write key file temp",
            Step::KeyFileRename => "rename over key file",
        }
    }
}

#[cfg(debug_assertions)]
mod armed {
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::Step;

    struct Plan {
        crash_at: Option<u32>,
        trace: Option<PathBuf>,
        // SIGSTOP instead of SIGKILL: Unix only.
        #[cfg_attr(not(unix), allow(dead_code))]
        stop: bool,
    }

    static PLAN: OnceLock<Plan> = OnceLock::new();
    /// The one counter: steps taken so far by this process.
    static TAKEN: AtomicU32 = AtomicU32::new(0);

    /// Arms the hook once per process; later calls change nothing.
    pub fn arm(crash_at: Option<u32>, trace: Option<PathBuf>, stop: bool) {
        let _ = PLAN.set(Plan {
            crash_at,
            trace,
            stop,
        });
    }

    pub fn step(step: Step) {
        let Some(plan) = PLAN.get() else {
            return;
        };
        let n = TAKEN.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(path) = &plan.trace {
            // Appended and closed at once, so the line is on disk before any kill below.
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{n}\t{}", step.name()));
        }
        #[cfg(unix)]
        if plan.crash_at == Some(n) && plan.stop {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::STOP,
            );
            return;
        }
        if plan.crash_at == Some(n) {
            #[cfg(unix)]
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL cannot be caught; should it somehow not arrive (or on Windows), stop here
            // all the same, without unwinding or cleaning up.
            std::process::abort();
        }
    }
}

#[cfg(debug_assertions)]
pub use armed::{arm, step};

/// Release builds: no crash points.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn step(_step: Step) {}
