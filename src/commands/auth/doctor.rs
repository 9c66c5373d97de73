//! `fluxloop auth doctor`: one screen that answers "why doesn't it work here?". Every check
//! yields findings, each with a severity, why it matters and the exact fix; `--fix` applies the
//! fixes that cannot lose anything (see [`Fix`]). Exit 0 when nothing is wrong, 1 otherwise.
//!
//! The checks, in order: the machine, the stores (one check per [`StoreKind`]), consistency
//! between the credentials file and the keychain, hygiene, the platform.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{EXPIRY_WARNING_DAYS, login_command};
use crate::cli::{DoctorArgs, env};
use crate::commands::json::{
    DoctorDocument, DoctorFinding, DoctorMachine, DoctorStore, SCHEMA_VERSION,
};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::{self, Printer, bold, dim};
use crate::profiles::{CredentialsFile, Expiry};
use crate::secrets::{Provider, StoreKind};
use crate::situation::{Ci, Container, Kind, Situation};

/// A keychain call slower than this is worth a warning: every command pays it.
const SLOW_KEYCHAIN: Duration = Duration::from_secs(1);
/// A clock further than this from the platform's shows wrong expiry dates.
const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Something does not work.
    Error,
    /// It works, but is unsafe or about to break.
    Warning,
    /// For the record; nothing to do.
    Info,
}

impl Severity {
    pub fn id(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Severity::Error => "❌",
            Severity::Warning => "⚠️ ",
            Severity::Info => "ℹ️ ",
        }
    }
}

/// What `--fix` may do, all of it safe: nothing that holds or locates a key is deleted or
/// rewritten. Not fixed, on purpose: orphaned keychain entries (the only copy of a key, maybe
/// still used with `--profile`), a file others can write to (its content must be checked
/// first), keys in `.env` files (the user's files), plaintext keys (`migrate` asks nothing, but
/// moves a key: the user runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fix {
    /// chmod 600 a credentials file that others can read but not write (Unix modes only).
    #[cfg_attr(not(unix), allow(dead_code))]
    OwnerOnly(PathBuf),
    /// chmod 700 the encrypted-file store's keys folder (Unix modes only).
    #[cfg_attr(not(unix), allow(dead_code))]
    OwnerOnlyDir(PathBuf),
    /// Remove temp files that an interrupted write left (the writer is gone).
    RemoveStaleTempFiles,
}

struct Finding {
    id: &'static str,
    area: &'static str,
    severity: Severity,
    title: String,
    explanation: String,
    fix: Option<String>,
    auto: Option<Fix>,
    fixed: bool,
}

impl Finding {
    fn new(
        id: &'static str,
        area: &'static str,
        severity: Severity,
        title: impl Into<String>,
    ) -> Self {
        Self {
            id,
            area,
            severity,
            title: title.into(),
            explanation: String::new(),
            fix: None,
            auto: None,
            fixed: false,
        }
    }

    fn because(mut self, text: impl Into<String>) -> Self {
        self.explanation = text.into();
        self
    }

    fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = Some(text.into());
        self
    }

    fn auto(mut self, fix: Fix) -> Self {
        self.auto = Some(fix);
        self
    }

    /// An error's title becomes the finding's title, its details the explanation and its first
    /// hint the fix: advice.rs stays the one place that words them.
    fn from_error(id: &'static str, area: &'static str, severity: Severity, e: &CliError) -> Self {
        let mut f = Finding::new(id, area, severity, e.title.clone())
            .because(e.details.join(" ").trim().to_string());
        f.fix = e.hints.first().cloned();
        f
    }

    fn is_problem(&self) -> bool {
        self.severity != Severity::Info && !self.fixed
    }
}

/// What one store check found.
struct StoreCheck {
    kind: StoreKind,
    usable: bool,
    detail: String,
}

/// Everything the checks found.
#[derive(Default)]
struct Report {
    stores: Vec<StoreCheck>,
    findings: Vec<Finding>,
    /// What `--fix` did, in words.
    done: Vec<String>,
}

pub async fn run(args: &DoctorArgs, ctx: &Context, p: &Printer) -> CliResult {
    let situation = Situation::here();
    let mut report = Report::default();
    machine(&situation, &mut report);
    let file = credentials(ctx, &mut report);
    let keychain_entries = stores(ctx, &situation, &file, &mut report);
    if let Some(entries) = &keychain_entries {
        consistency(ctx, &file, entries, &mut report);
    }
    temp_files(ctx, &mut report);
    hygiene(ctx, &file, &mut report);
    platform(ctx, &file, &mut report).await;
    if args.fix {
        apply_fixes(ctx, &mut report);
    }
    let ok = !report.findings.iter().any(Finding::is_problem);
    if args.json {
        p.json(&document(&situation, &report, ok));
    } else {
        print(p, &situation, &report, ok);
    }
    Ok(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn machine(situation: &Situation, report: &mut Report) {
    let (title, fix) = match situation.kind() {
        Kind::Desktop => return,
        Kind::Ci(ci) => (
            format!("CI runner detected ({})", ci_name(ci)),
            format!("Give the job its key as a secret in {}", env::API_KEY),
        ),
        Kind::Container(c) => (
            format!("Container detected ({})", container_name(c)),
            format!(
                "fluxloop auth login --storage encrypted-file (or pass {} to the container)",
                env::API_KEY
            ),
        ),
        Kind::Wsl => (
            "WSL detected".to_string(),
            "fluxloop auth login --storage encrypted-file".to_string(),
        ),
        Kind::SshWithoutBus => (
            "SSH session without a D-Bus session bus".to_string(),
            "fluxloop auth login --storage keyutils".to_string(),
        ),
        Kind::Headless => (
            "No desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set)".to_string(),
            "fluxloop auth login --storage encrypted-file".to_string(),
        ),
    };
    report.findings.push(
        Finding::new("machine", "machine", Severity::Info, title)
            .because("No OS keychain usually runs on such a machine; the store that fits it:")
            .fix(fix),
    );
}

/// The credentials file as it is, without tightening anything (a look, as `--fix` decides).
fn credentials(ctx: &Context, report: &mut Report) -> CredentialsFile {
    let path = ctx.profiles.path();
    permissions(&path, report);
    match ctx.profiles.peek() {
        Ok(file) => file,
        Err(e) => {
            let e = CliError::from(e);
            report.findings.push(Finding::from_error(
                "credentials_file",
                "hygiene",
                Severity::Error,
                &e,
            ));
            CredentialsFile::default()
        }
    }
}

#[cfg(unix)]
fn permissions(path: &Path, report: &mut Report) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        // Reported by `peek` as an error too when it refuses; said here with why not --fix.
        report.findings.push(
            Finding::new(
                "writable_by_others",
                "hygiene",
                Severity::Error,
                format!(
                    "{} can be changed by other users (mode {mode:o})",
                    path.display()
                ),
            )
            .because(
                "Someone else could have changed the API URL your key is sent to; check the \
                 file before trusting it again (not fixed by --fix).",
            )
            .fix(format!("chmod 600 {}", path.display())),
        );
    } else if mode & 0o044 != 0 {
        report.findings.push(
            Finding::new(
                "readable_by_others",
                "hygiene",
                Severity::Warning,
                format!(
                    "{} can be read by other users (mode {mode:o})",
                    path.display()
                ),
            )
            .because("It names your accounts and API URLs, and any plaintext key in it.")
            .fix(format!("chmod 600 {}", path.display()))
            .auto(Fix::OwnerOnly(path.to_path_buf())),
        );
    }
}

#[cfg(not(unix))]
fn permissions(_path: &Path, _report: &mut Report) {}

/// One check per store kind; returns the keychain's entries when it could be searched.
fn stores(
    ctx: &Context,
    situation: &Situation,
    file: &CredentialsFile,
    report: &mut Report,
) -> Option<Vec<String>> {
    let mut entries = None;
    for kind in <StoreKind as clap::ValueEnum>::value_variants() {
        let check = match kind {
            StoreKind::Keychain => {
                let (check, found) = keychain(ctx, situation, file, report);
                entries = found;
                check
            }
            StoreKind::Keyutils => kernel_keyring(ctx, situation, file, report),
            StoreKind::EncryptedFile => encrypted_files(ctx, file, report),
            StoreKind::File => StoreCheck {
                kind: *kind,
                usable: true,
                detail: format!(
                    "always usable, and PLAINTEXT: the key in {}",
                    ctx.profiles.path().display()
                ),
            },
        };
        report.stores.push(check);
    }
    entries
}

/// The kernel keyring: usable where keyctl may be called (Linux, outside a seccomp profile that
/// blocks it). Unusable is an error only for a profile that keeps its key there.
fn kernel_keyring(
    ctx: &Context,
    situation: &Situation,
    file: &CredentialsFile,
    report: &mut Report,
) -> StoreCheck {
    let kind = StoreKind::Keyutils;
    match ctx.kernel_keyring.check_ready() {
        Ok(()) => StoreCheck {
            kind,
            usable: true,
            detail: format!(
                "usable: the Linux kernel keyring, kept until this machine reboots{}",
                super::login::unused_limit()
            ),
        },
        Err(e) => {
            let detail = format!("not usable: {}", e.kind);
            let uses_it = file
                .names()
                .iter()
                .any(|n| file.profile(n).is_some_and(|p| p.store() == kind));
            if uses_it {
                let err = CliError::from(e).in_situation(situation);
                report.findings.push(Finding::from_error(
                    "kernel_keyring_unusable",
                    "stores",
                    Severity::Error,
                    &err,
                ));
            }
            StoreCheck {
                kind,
                usable: false,
                detail,
            }
        }
    }
}

/// The encrypted-file store: usable where a passphrase can be had (a terminal to ask at, or
/// FLUXLOOP_PASSPHRASE). Also finds key files no profile names, and a keys folder others can
/// read. Never asks for the passphrase: the files are not opened.
fn encrypted_files(ctx: &Context, file: &CredentialsFile, report: &mut Report) -> StoreCheck {
    let kind = StoreKind::EncryptedFile;
    let store = &ctx.encrypted_file_store;
    let users: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| file.profile(n).is_some_and(|p| p.store() == kind))
        .collect();
    let usable = ctx.encrypted_files.check_ready();
    let ready = usable.is_ok();
    if let Err(e) = usable
        && !users.is_empty()
    {
        let err = CliError::from(e);
        report.findings.push(Finding::from_error(
            "no_passphrase_source",
            "stores",
            Severity::Error,
            &err,
        ));
    }
    if let Ok(found) = ctx.encrypted_files.list() {
        for name in found.iter().filter(|n| !users.contains(n)) {
            let path = store.path(name);
            report.findings.push(
                Finding::new(
                    "encrypted_file_without_profile",
                    "consistency",
                    Severity::Warning,
                    format!("{} holds a key that no profile uses", path.display()),
                )
                .because(format!(
                    "No profile '{name}' in {} keeps its key there (left by an interrupted \
                     logout or migrate); it is still a working key, encrypted (not fixed by --fix).",
                    ctx.profiles.path().display()
                ))
                .fix(format!("rm {}", path.display())),
            );
        }
    }
    keys_dir_permissions(store.dir(), report);
    let detail = match ready {
        true if ctx.passphrase_from_env => format!(
            "usable: files in {}, passphrase from {}",
            store.dir().display(),
            env::PASSPHRASE
        ),
        true => format!(
            "usable: files in {}, passphrase asked at this terminal",
            store.dir().display()
        ),
        false => format!(
            "not usable: no terminal to ask for a passphrase, and {} is not set",
            env::PASSPHRASE
        ),
    };
    StoreCheck {
        kind,
        usable: ready,
        detail,
    }
}

/// The keys folder of the encrypted-file store should be the owner's alone (0700).
#[cfg(unix)]
fn keys_dir_permissions(dir: &Path, report: &mut Report) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        report.findings.push(
            Finding::new(
                "keys_dir_permissions",
                "hygiene",
                Severity::Warning,
                format!(
                    "{} can be reached by other users (mode {mode:o})",
                    dir.display()
                ),
            )
            .because(
                "Its files are encrypted, but others could copy them and guess the passphrase \
                 offline, or replace them.",
            )
            .fix(format!("chmod 700 {}", dir.display()))
            .auto(Fix::OwnerOnlyDir(dir.to_path_buf())),
        );
    }
}

#[cfg(not(unix))]
fn keys_dir_permissions(_dir: &Path, _report: &mut Report) {}

fn keychain(
    ctx: &Context,
    situation: &Situation,
    file: &CredentialsFile,
    report: &mut Report,
) -> (StoreCheck, Option<Vec<String>>) {
    let backend = ctx.keychain.backend();
    let started = Instant::now();
    let ready = ctx.keychain.check_ready();
    let took = started.elapsed();
    let kind = StoreKind::Keychain;
    if let Err(e) = ready {
        let detail = format!("not usable: {}", e.kind);
        let uses_it = file
            .names()
            .iter()
            .any(|n| file.profile(n).is_some_and(|p| p.store() == kind));
        let has_other_key = ctx.env_key.is_some()
            || file
                .names()
                .iter()
                .any(|n| file.profile(n).is_some_and(|p| p.store() != kind));
        // No keychain is a problem only for whoever needs one.
        let severity = if uses_it {
            Severity::Error
        } else if has_other_key {
            Severity::Info
        } else {
            Severity::Warning
        };
        let err = CliError::from(e).in_situation(situation);
        report.findings.push(Finding::from_error(
            "keychain_unusable",
            "stores",
            severity,
            &err,
        ));
        return (
            StoreCheck {
                kind,
                usable: false,
                detail,
            },
            None,
        );
    }
    let provider = ctx.keychain.provider();
    let by = match provider {
        Some(p) => format!(" ({})", provider_name(p)),
        None => String::new(),
    };
    let ms = took.as_millis();
    if took > SLOW_KEYCHAIN {
        report.findings.push(
            Finding::new(
                "keychain_slow",
                "stores",
                Severity::Warning,
                format!("The {backend} took {ms} ms to answer"),
            )
            .because("Every command that reads a key waits this long.")
            .fix("Restart the program that provides the keychain, or your session"),
        );
    }
    if provider == Some(Provider::KeePassXC) {
        report.findings.push(
            Finding::new(
                "keepassxc_keeps_deleted_keys",
                "stores",
                Severity::Info,
                "KeePassXC keeps what `logout` deletes",
            )
            .because(
                "KeePassXC moves deleted entries to its Recycle Bin and keeps earlier values in \
                 each entry's history, so removed keys stay in the database file.",
            )
            .fix(
                "In KeePassXC: right-click the Recycle Bin group > Empty Recycle Bin, then save \
                 the database",
            ),
        );
    }
    let entries = match ctx.keychain.list() {
        Ok(entries) => Some(entries),
        Err(e) => {
            report.findings.push(Finding::from_error(
                "keychain_unsearchable",
                "stores",
                Severity::Error,
                &CliError::from(e),
            ));
            None
        }
    };
    (
        StoreCheck {
            kind,
            usable: true,
            detail: format!("usable: {backend}{by}, answered in {ms} ms"),
        },
        entries,
    )
}

fn consistency(ctx: &Context, file: &CredentialsFile, entries: &[String], report: &mut Report) {
    let names = file.names();
    let backend = ctx.keychain.backend();
    for entry in entries.iter().filter(|e| !names.contains(e)) {
        report.findings.push(
            Finding::new(
                "orphan_keychain_entry",
                "consistency",
                Severity::Warning,
                format!("The {backend} holds a key for profile '{entry}', which the credentials file does not list"),
            )
            .because("Its metadata was lost (or removed by hand); it may be the only copy of that key, so --fix leaves it.")
            .fix(format!("fluxloop auth logout --profile {entry}")),
        );
    }
    for name in &names {
        let Some(profile) = file.profile(name) else {
            continue;
        };
        let in_keychain = entries.contains(name);
        if profile.store() == StoreKind::Keychain && !in_keychain {
            report.findings.push(
                Finding::new(
                    "profile_without_key",
                    "consistency",
                    Severity::Error,
                    format!("Profile '{name}' has no key in the {backend}"),
                )
                .because(
                    "The credentials file lists it, but its key is gone: it cannot authenticate.",
                )
                .fix(profile_command("fluxloop auth login", name)),
            );
        }
        if profile.store() == StoreKind::File && in_keychain {
            report.findings.push(
                Finding::new(
                    "key_in_two_places",
                    "consistency",
                    Severity::Warning,
                    format!("Profile '{name}' has a key in the credentials file and another in the {backend}"),
                )
                .because("The plaintext key is the one used; the keychain's is a leftover that may be another key.")
                .fix("fluxloop auth migrate  (the file's key replaces the keychain's)"),
            );
        }
        if in_keychain
            && let Err(e) = ctx.keychain.get(name)
            && let crate::secrets::SecretStoreError::Ambiguous { count, .. } = e.kind
        {
            report.findings.push(
                Finding::new(
                    "duplicate_keychain_entries",
                    "consistency",
                    Severity::Error,
                    format!("{count} entries in the {backend} are for profile '{name}'"),
                )
                .because(
                    "Another tool made a second entry, so fluxloop cannot tell which key is meant.",
                )
                .fix(format!(
                    "{}, then log in again",
                    profile_command("fluxloop auth logout", name)
                )),
            );
        }
    }
}

fn temp_files(ctx: &Context, report: &mut Report) {
    let stale = ctx.profiles.stale_temp_files();
    if stale.is_empty() {
        return;
    }
    let list = stale
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    report.findings.push(
        Finding::new(
            "stale_temp_files",
            "consistency",
            Severity::Warning,
            format!(
                "{} left by an interrupted write: {list}",
                super::count(stale.len(), "temp file", "temp files")
            ),
        )
        .because("Their writer is gone; they may hold a plaintext key.")
        .fix("fluxloop auth doctor --fix")
        .auto(Fix::RemoveStaleTempFiles),
    );
}

fn hygiene(ctx: &Context, file: &CredentialsFile, report: &mut Report) {
    let path = ctx.profiles.path();
    for key in file.plaintext_keys() {
        let (id, title) = if key.legacy {
            (
                "legacy_plaintext_key",
                format!(
                    "Profile '{}' has a plaintext key from an earlier release (`api_key:` in {})",
                    key.profile,
                    path.display()
                ),
            )
        } else {
            (
                "plaintext_store",
                format!(
                    "Profile '{}' keeps its key in PLAINTEXT in {} (--storage file)",
                    key.profile,
                    path.display()
                ),
            )
        };
        report.findings.push(
            Finding::new(id, "hygiene", Severity::Warning, title)
                .because("Anyone who can read the file, or a backup of it, has the key.")
                .fix("fluxloop auth migrate"),
        );
    }
    if ctx.env_key_empty {
        let e = CliError::empty_env_key(&Situation::here(), &login_command(ctx));
        report.findings.push(Finding::from_error(
            "empty_env_key",
            "hygiene",
            Severity::Error,
            &e,
        ));
    }
    for (file_path, line) in dotenv_keys() {
        report.findings.push(
            Finding::new(
                "key_in_dotenv",
                "hygiene",
                Severity::Warning,
                format!(
                    "{}:{line} sets {} to a key, in plain text",
                    file_path.display(),
                    env::API_KEY
                ),
            )
            .because("Files like this get committed, copied and shared.")
            .fix("Remove the line, and run commands with `fluxloop exec -- COMMAND` instead"),
        );
    }
    let now = Utc::now();
    for name in file.names() {
        let Some(profile) = file.profile(&name) else {
            continue;
        };
        if let Some(url) = profile.api_url.as_deref()
            && let Ok(parsed) = url::Url::parse(url)
            && parsed.scheme() != "https"
        {
            let loopback = crate::api::parse_base_url(url).is_ok();
            report.findings.push(
                Finding::new(
                    "non_https_api_url",
                    "hygiene",
                    if loopback {
                        Severity::Info
                    } else {
                        Severity::Error
                    },
                    format!("Profile '{name}' uses a plain http:// API URL ({url})"),
                )
                .because(if loopback {
                    "It is a loopback address (a local platform), so the key stays on this machine."
                } else {
                    "The key would cross the network unencrypted; fluxloop refuses to send it."
                }),
            );
            if !loopback && let Some(f) = report.findings.last_mut() {
                f.fix = Some(profile_command(
                    "fluxloop auth login --api-url https://...",
                    &name,
                ));
            }
        }
        let Some(Expiry::At(at)) = profile.expires else {
            continue;
        };
        let fix = format!(
            "Create a new key at {}, then run `{}`",
            crate::error::KEYS_PAGE,
            profile_command("fluxloop auth login", &name)
        );
        if at <= now {
            report.findings.push(
                Finding::new(
                    "key_expired",
                    "hygiene",
                    Severity::Error,
                    format!(
                        "The key of profile '{name}' expired on {}",
                        at.format("%Y-%m-%d")
                    ),
                )
                .because("The platform refuses it.")
                .fix(fix),
            );
        } else if output::days_until(at, now) < EXPIRY_WARNING_DAYS {
            report.findings.push(
                Finding::new(
                    "key_expires_soon",
                    "hygiene",
                    Severity::Warning,
                    format!(
                        "The key of profile '{name}' expires {}",
                        output::expiry_text(Some(at), now)
                    ),
                )
                .because("Within two weeks, commands using it will fail.")
                .fix(fix),
            );
        }
    }
}

/// `.env` and `.fluxloop/.env` in the current directory and its parents: (file, line number) of
/// every line that sets FLUXLOOP_API_KEY to something shaped like a key. The line itself is
/// never kept.
fn dotenv_keys() -> Vec<(PathBuf, usize)> {
    let Ok(cwd) = std::env::current_dir() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in cwd.ancestors() {
        for candidate in [dir.join(".env"), dir.join(".fluxloop").join(".env")] {
            let Ok(text) = std::fs::read_to_string(&candidate).map(zeroize::Zeroizing::new) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                if sets_a_key(line) {
                    found.push((candidate.clone(), n + 1));
                }
            }
        }
    }
    found
}

/// `FLUXLOOP_API_KEY=flux_...`, with an optional `export` and quotes.
fn sets_a_key(line: &str) -> bool {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    let Some(value) = line.strip_prefix(env::API_KEY) else {
        return false;
    };
    let Some(value) = value.trim_start().strip_prefix('=') else {
        return false;
    };
    value
        .trim_start()
        .trim_start_matches(['"', '\''])
        .starts_with("flux_")
}

async fn platform(ctx: &Context, file: &CredentialsFile, report: &mut Report) {
    // The URL each profile's commands would use (the override wins), each asked once.
    let names = file.names();
    let mut urls: Vec<CliResult<url::Url>> = Vec::new();
    if names.is_empty() {
        urls.push(ctx.api_url(None));
    }
    for name in &names {
        let url = ctx.api_url(file.profile(name).as_ref());
        let seen = urls
            .iter()
            .any(|u| matches!((u, &url), (Ok(a), Ok(b)) if a == b));
        if !seen {
            urls.push(url);
        }
    }
    for url in urls {
        let url = match url {
            Ok(url) => url,
            Err(e) => {
                report.findings.push(Finding::from_error(
                    "invalid_api_url",
                    "platform",
                    Severity::Error,
                    &e,
                ));
                continue;
            }
        };
        let shown = url.as_str().trim_end_matches('/').to_string();
        let reached = match ctx.client(url) {
            Ok(client) => client.reach().await.map_err(CliError::from),
            Err(e) => Err(e),
        };
        match reached {
            Ok(reached) => {
                // Asked without a key, the contract's answer is 401.
                if reached.status != 401 {
                    report.findings.push(
                        Finding::new(
                            "unexpected_platform_answer",
                            "platform",
                            Severity::Warning,
                            format!(
                                "{shown} answers HTTP {} where the FluxLoop API says 401",
                                reached.status
                            ),
                        )
                        .because("Something else may be answering: a wrong URL, a proxy or a captive portal.")
                        .fix("Check the API URL (--api-url, FLUXLOOP_API_URL, or log in again)"),
                    );
                }
                clock(&shown, reached.date, report);
            }
            Err(e) => {
                let mut f =
                    Finding::from_error("platform_unreachable", "platform", Severity::Error, &e);
                f.title = format!("{shown}: {}", f.title);
                report.findings.push(f);
            }
        }
    }
}

fn clock(url: &str, date: Option<chrono::DateTime<Utc>>, report: &mut Report) {
    let Some(date) = date else {
        report.findings.push(
            Finding::new(
                "no_platform_clock",
                "platform",
                Severity::Warning,
                format!("{url} answers, but sends no Date header"),
            )
            .because("This machine's clock cannot be compared with the platform's.")
            .fix("Check the API URL: a proxy may be answering instead of the platform"),
        );
        return;
    };
    let skew = Utc::now() - date;
    if skew.abs() > MAX_CLOCK_SKEW {
        report.findings.push(
            Finding::new(
                "clock_skew",
                "platform",
                Severity::Warning,
                format!(
                    "This machine's clock is {} min {} the platform's ({url})",
                    skew.num_minutes().abs(),
                    if skew > chrono::TimeDelta::zero() {
                        "ahead of"
                    } else {
                        "behind"
                    }
                ),
            )
            .because("Expiry dates and warnings are computed with this clock.")
            .fix("Synchronise the clock (e.g. `timedatectl set-ntp true`)"),
        );
    }
}

fn apply_fixes(ctx: &Context, report: &mut Report) {
    for finding in &mut report.findings {
        let Some(fix) = finding.auto.clone() else {
            continue;
        };
        match fix {
            Fix::OwnerOnly(path) => {
                if chmod(&path, 0o600).is_ok() {
                    finding.fixed = true;
                    report.done.push(format!("chmod 600 {}", path.display()));
                }
            }
            Fix::OwnerOnlyDir(path) => {
                if chmod(&path, 0o700).is_ok() {
                    finding.fixed = true;
                    report.done.push(format!("chmod 700 {}", path.display()));
                }
            }
            Fix::RemoveStaleTempFiles => {
                // Under the lock, so no live writer of ours is using them.
                let Ok(tx) = ctx.profiles.lock() else {
                    continue;
                };
                let removed = ctx.profiles.remove_stale_temp_files();
                drop(tx);
                if ctx.profiles.stale_temp_files().is_empty() {
                    finding.fixed = true;
                }
                for path in removed {
                    report.done.push(format!("removed {}", path.display()));
                }
            }
        }
    }
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn chmod(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn print(p: &Printer, situation: &Situation, report: &Report, ok: bool) {
    p.data(format!("{} {}", bold("Machine:"), machine_text(situation)));
    for area in ["machine", "stores", "consistency", "hygiene", "platform"] {
        let findings: Vec<&Finding> = report.findings.iter().filter(|f| f.area == area).collect();
        if findings.is_empty() && area != "stores" {
            continue;
        }
        p.data("");
        p.data(bold(crate::error::capitalise(area)));
        if area == "stores" {
            for store in &report.stores {
                let mark = if store.usable { "✅" } else { "❌" };
                p.data(format!("  {mark} {:<14} {}", store.kind.id(), store.detail));
            }
        }
        for f in findings {
            let mark = if f.fixed { "✅" } else { f.severity.mark() };
            let fixed = if f.fixed {
                dim(" (fixed)")
            } else {
                String::new()
            };
            p.data(format!("  {mark} {}{fixed}", f.title));
            if !f.explanation.is_empty() {
                p.data(format!("     {}", f.explanation));
            }
            if let Some(fix) = &f.fix
                && !f.fixed
            {
                p.data(format!("     fix: {fix}"));
            }
        }
    }
    if !report.done.is_empty() {
        p.data("");
        p.data(bold("Fixed"));
        for line in &report.done {
            p.data(format!("  {line}"));
        }
    }
    p.data("");
    let problems = report.findings.iter().filter(|f| f.is_problem()).count();
    if ok {
        p.data("✅ Nothing is wrong.");
    } else {
        let fixable = report
            .findings
            .iter()
            .filter(|f| f.is_problem() && f.auto.is_some())
            .count();
        let more = if fixable > 0 {
            format!("; `fluxloop auth doctor --fix` fixes {fixable}")
        } else {
            String::new()
        };
        p.data(format!(
            "{} found{more}.",
            super::count(problems, "problem", "problems")
        ));
    }
}

fn machine_text(situation: &Situation) -> String {
    match situation.kind() {
        Kind::Ci(ci) => format!("CI runner ({})", ci_name(ci)),
        Kind::Container(c) => format!("container ({})", container_name(c)),
        Kind::Wsl => "WSL".to_string(),
        Kind::SshWithoutBus => "SSH session, no D-Bus session bus".to_string(),
        Kind::Headless => "no desktop session".to_string(),
        Kind::Desktop => "desktop session".to_string(),
    }
}

fn document<'a>(situation: &Situation, report: &'a Report, ok: bool) -> DoctorDocument<'a> {
    DoctorDocument {
        schema_version: SCHEMA_VERSION,
        ok,
        machine: DoctorMachine {
            kind: kind_id(situation.kind()),
            ci: situation.ci.is_some(),
            container: situation.container.is_some(),
            wsl: situation.wsl,
            ssh: situation.ssh,
            session_bus: situation.session_bus,
            desktop: situation.desktop,
        },
        stores: report
            .stores
            .iter()
            .map(|s| DoctorStore {
                store: s.kind.id(),
                usable: s.usable,
                detail: &s.detail,
            })
            .collect(),
        findings: report
            .findings
            .iter()
            .map(|f| DoctorFinding {
                id: f.id,
                area: f.area,
                severity: f.severity.id(),
                title: &f.title,
                explanation: &f.explanation,
                fix: f.fix.as_deref(),
                fixable: f.auto.is_some(),
                fixed: f.fixed,
            })
            .collect(),
        fixed: report.done.iter().map(String::as_str).collect(),
    }
}

/// The `machine.kind` ids of the JSON document.
pub fn kind_id(kind: Kind) -> &'static str {
    match kind {
        Kind::Ci(_) => "ci",
        Kind::Container(_) => "container",
        Kind::Wsl => "wsl",
        Kind::SshWithoutBus => "ssh-without-bus",
        Kind::Headless => "headless",
        Kind::Desktop => "desktop",
    }
}

fn ci_name(ci: Ci) -> &'static str {
    match ci {
        Ci::GitHubActions => "GitHub Actions",
        Ci::GitLab => "GitLab CI",
        Ci::Other => "CI is set",
    }
}

fn container_name(c: Container) -> &'static str {
    match c {
        Container::Docker => "Docker",
        Container::Podman => "Podman",
        Container::Kubernetes => "Kubernetes",
        Container::Other => "from its cgroup",
    }
}

fn provider_name(p: Provider) -> &'static str {
    match p {
        Provider::GnomeKeyring => "gnome-keyring",
        Provider::KeePassXC => "KeePassXC",
        Provider::KWallet => "KWallet",
        Provider::Other => "another provider",
    }
}

/// `command`, with `--profile NAME` unless NAME is `default`.
fn profile_command(command: &str, name: &str) -> String {
    if name == crate::profiles::DEFAULT_PROFILE {
        command.to_string()
    } else {
        format!("{command} --profile {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::{Report, Severity, clock, sets_a_key};
    use chrono::{TimeDelta, Utc};

    fn clock_findings(date: Option<chrono::DateTime<Utc>>) -> Vec<(&'static str, Severity)> {
        let mut report = Report::default();
        clock("https://api.example", date, &mut report);
        report.findings.iter().map(|f| (f.id, f.severity)).collect()
    }

    #[test]
    fn a_clock_more_than_five_minutes_off_is_a_warning_either_way() {
        let now = Utc::now();
        assert_eq!(clock_findings(Some(now)), []);
        assert_eq!(clock_findings(Some(now - TimeDelta::minutes(4))), []);
        for skewed in [now - TimeDelta::minutes(10), now + TimeDelta::hours(3)] {
            assert_eq!(
                clock_findings(Some(skewed)),
                [("clock_skew", Severity::Warning)]
            );
        }
        assert_eq!(
            clock_findings(None),
            [("no_platform_clock", Severity::Warning)]
        );
    }

    #[test]
    fn dotenv_lines_that_set_a_key_are_found() {
        for line in [
            "FLUXLOOP_API_KEY=flux_dev_abc",
            "export FLUXLOOP_API_KEY=flux_dev_abc",
            "  FLUXLOOP_API_KEY = \"flux_dev_abc\"",
            "FLUXLOOP_API_KEY='flux_prod_x'",
        ] {
            assert!(sets_a_key(line), "{line}");
        }
        for line in [
            "# FLUXLOOP_API_KEY=flux_dev_abc",
            "FLUXLOOP_API_KEY=",
            "FLUXLOOP_API_KEY=${SECRET}",
            "FLUXLOOP_API_URL=flux_dev",
            "OTHER_FLUXLOOP_API_KEY=flux_dev_abc",
        ] {
            assert!(!sets_a_key(line), "{line}");
        }
    }
}
