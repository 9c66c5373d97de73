//! `fluxloop auth list`: every profile from the credentials file's metadata, and which one is
//! active and why. No network call and no keychain read, except `--check`, which asks the
//! keychain which profiles have an entry.

use chrono::{DateTime, Utc};

use super::{load_profiles, origin_text};
use crate::cli::{DEFAULT_API_URL, ListArgs, env};
use crate::commands::json::{
    ActiveProfile, KeychainCheck, ListDocument, ListedProfile, SCHEMA_VERSION,
};
use crate::context::{Context, ProfileOrigin};
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::{self, Printer, bold};
use crate::profiles::{CredentialsFile, Expiry, Profile};
use crate::secrets::StoreKind;
use crate::{api, keys};

pub fn run(args: &ListArgs, ctx: &Context, p: &Printer) -> CliResult {
    let file = load_profiles(ctx, p)?;
    let rows = rows(&file);
    // The only keychain call, and only when asked: listing never unlocks anything.
    let entries = if args.check {
        Some(
            ctx.keychain
                .list()
                .map_err(|e| CliError::from(e).for_store_change())?,
        )
    } else {
        None
    };
    // The other stores are searched with --check too: neither asks anything, and an unreachable
    // kernel keyring is said as such.
    let others = if args.check {
        OtherStores {
            kernel_keyring: ctx.kernel_keyring.list().ok(),
            encrypted_files: ctx.encrypted_files.list().unwrap_or_default(),
        }
    } else {
        OtherStores::default()
    };
    let doc = document(ctx, &rows, entries.as_deref(), &others, Utc::now());
    if args.json {
        p.json(&doc);
    } else {
        report(ctx, p, &doc);
    }
    Ok(ExitStatus::Success)
}

/// A profile of the file, by name (the legacy top-level key included, as `default`).
fn rows(file: &CredentialsFile) -> Vec<(String, Profile)> {
    let mut names = file.names();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| file.profile(&name).map(|profile| (name, profile)))
        .collect()
}

fn storage_id(profile: &Profile) -> &'static str {
    if profile.is_legacy_plaintext() {
        "legacy"
    } else {
        profile.store().id()
    }
}

/// What `--check` found in the kernel keyring (`None`: it could not be searched) and the
/// encrypted files' folder.
#[derive(Default)]
struct OtherStores {
    kernel_keyring: Option<Vec<String>>,
    encrypted_files: Vec<String>,
}

fn document<'a>(
    ctx: &'a Context,
    rows: &'a [(String, Profile)],
    entries: Option<&'a [String]>,
    others: &'a OtherStores,
    now: DateTime<Utc>,
) -> ListDocument<'a> {
    let without_profile = |found: &'a [String]| -> Vec<&'a str> {
        found
            .iter()
            .filter(|e| !rows.iter().any(|(name, _)| name == *e))
            .map(String::as_str)
            .collect()
    };
    let active = ctx.profile.as_str();
    let profiles = rows
        .iter()
        .map(|(name, profile)| {
            let (expiry, expires_at) = match profile.expires {
                Some(Expiry::At(at)) => ("date", Some(at)),
                Some(Expiry::Never) => ("never", None),
                None => ("unknown", None),
            };
            ListedProfile {
                name,
                active: name == active,
                account: profile.account.as_deref(),
                environment: profile.environment.as_deref(),
                key_name: profile.key_name.as_deref(),
                key_created_at: profile.key_created,
                expiry,
                expires_at,
                days_remaining: expires_at.map(|at| output::days_until(at, now)),
                storage: storage_id(profile),
                api_url: profile.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
                keychain_entry: entries.map(|e| e.contains(name)),
            }
        })
        .collect();
    let check = entries.map(|entries| KeychainCheck {
        backend: ctx.keychain.backend().id(),
        entries_without_profile: entries
            .iter()
            .filter(|e| !rows.iter().any(|(name, _)| name == *e))
            .map(String::as_str)
            .collect(),
        profiles_without_entry: rows
            .iter()
            .filter(|(name, profile)| {
                profile.store() == StoreKind::Keychain && !entries.contains(name)
            })
            .map(|(name, _)| name.as_str())
            .collect(),
        kernel_keyring_entries_without_profile: others
            .kernel_keyring
            .as_deref()
            .map(without_profile),
        encrypted_files_without_profile: without_profile(&others.encrypted_files),
    });
    ListDocument {
        schema_version: SCHEMA_VERSION,
        profiles,
        active: ActiveProfile {
            name: active,
            reason: ctx.profile_origin.id(),
            bound_directory: match &ctx.profile_origin {
                ProfileOrigin::Directory(dir) => dir.to_str(),
                _ => None,
            },
            exists: rows.iter().any(|(name, _)| name == active),
        },
        environment_key: ctx.env_key.is_some(),
        check,
    }
}

fn report(ctx: &Context, p: &Printer, doc: &ListDocument<'_>) {
    if doc.profiles.is_empty() {
        p.info(format!(
            "No profiles on this machine ({} has none).",
            ctx.profiles.path().display()
        ));
        p.info("Log in with `fluxloop auth login` (add `--profile NAME` for a second account).");
    } else {
        table(ctx, p, doc);
        p.data("");
        p.data(active_line(&ctx.profile_origin, &doc.active));
    }
    if doc.environment_key {
        p.data(format!(
            "{} is set: commands use that key, not the active profile's.",
            env::API_KEY
        ));
    }
    if let Some(check) = &doc.check {
        check_report(ctx, p, check);
    }
}

fn table(ctx: &Context, p: &Printer, doc: &ListDocument<'_>) {
    let now = Utc::now();
    let mut lines: Vec<[String; 8]> = vec![[
        String::new(),
        "PROFILE".into(),
        "ACCOUNT".into(),
        "ENV".into(),
        "KEY (CREATED)".into(),
        "EXPIRES".into(),
        "KEY IN".into(),
        "API URL".into(),
    ]];
    for row in &doc.profiles {
        let expires = match row.expiry {
            "date" => output::expiry_text(row.expires_at, now),
            other => other.to_string(),
        };
        let stored = match (row.keychain_entry, row.storage) {
            (Some(false), "keychain") => "keychain (missing)".to_string(),
            (_, "keyutils") => super::KERNEL_KEYRING_TEXT.to_string(),
            (_, "encrypted-file") => format!(
                "encrypted file {}",
                ctx.encrypted_file_store.path(row.name).display()
            ),
            _ => row.storage.to_string(),
        };
        lines.push([
            if row.active { "*" } else { " " }.into(),
            row.name.into(),
            row.account.unwrap_or("-").into(),
            row.environment.unwrap_or("-").into(),
            key_text(row.key_name, row.key_created_at),
            expires,
            stored,
            row.api_url.into(),
        ]);
    }
    // The file is the user's, but hand-editable: what it says reaches the terminal only with
    // its control characters made visible, and anything shaped like a key masked.
    for line in lines.iter_mut().skip(1) {
        for cell in line.iter_mut() {
            *cell = keys::redact(&api::neutralise_controls(cell));
        }
    }
    let mut widths = [0usize; 8];
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // One write for the whole table: stdout is flushed per call, and a line per call made 200
    // profiles 200 system calls.
    let table: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let text = line
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ");
            let text = text.trim_end();
            if i == 0 { bold(text) } else { text.to_string() }
        })
        .collect();
    p.data(table.join("\n"));
}

/// `laptop (2024-01-16)`; `-` when nothing was recorded (profiles of earlier releases).
fn key_text(name: Option<&str>, created: Option<DateTime<Utc>>) -> String {
    match (name, created) {
        (None, None) => "-".to_string(),
        (name, created) => format!(
            "{} ({})",
            name.unwrap_or("-"),
            created.map_or("?".to_string(), |t| t.format("%Y-%m-%d").to_string())
        ),
    }
}

fn active_line(origin: &ProfileOrigin, active: &ActiveProfile<'_>) -> String {
    let why = match origin {
        ProfileOrigin::Directory(_) | ProfileOrigin::Switched => {
            origin_text(origin).unwrap_or_default()
        }
        ProfileOrigin::Flag => "chosen with --profile".to_string(),
        ProfileOrigin::Env => format!("chosen by {}", env::PROFILE),
        ProfileOrigin::Default => format!(
            "the default; choose another with --profile or {}",
            env::PROFILE
        ),
    };
    let mut line = format!("Active profile: {} ({why})", active.name);
    if !active.exists {
        line.push_str(&format!(
            "; it has no saved key: run `{}`",
            login_for(active.name)
        ));
    }
    line
}

fn login_for(name: &str) -> String {
    if name == crate::profiles::DEFAULT_PROFILE {
        "fluxloop auth login".to_string()
    } else {
        format!("fluxloop auth login --profile {name}")
    }
}

fn check_report(ctx: &Context, p: &Printer, check: &KeychainCheck<'_>) {
    let backend = ctx.keychain.backend();
    p.data("");
    if check.entries_without_profile.is_empty() && check.profiles_without_entry.is_empty() {
        p.data(format!(
            "Keychain check ({backend}): every profile has its entry, and every entry a profile."
        ));
    } else {
        p.data(format!("Keychain check ({backend}):"));
    }
    // A key of ours that no profile names, and how to remove it.
    let orphan = |what: String, name: &str| {
        format!(
            "  ! {what} has no profile in {}; remove it with `fluxloop auth logout --profile {name}`",
            ctx.profiles.path().display()
        )
    };
    for name in &check.entries_without_profile {
        p.data(orphan(format!("entry '{name}'"), name));
    }
    for name in &check.profiles_without_entry {
        p.data(format!(
            "  ! profile '{name}' has no key in the {backend}; run `{}`",
            login_for(name)
        ));
    }
    // Keys of ours elsewhere that no profile names: said only when there are some.
    let kernel_orphans = check
        .kernel_keyring_entries_without_profile
        .as_deref()
        .unwrap_or_default();
    for name in kernel_orphans {
        p.data(orphan(format!("kernel keyring key '{name}'"), name));
    }
    for name in &check.encrypted_files_without_profile {
        let file = ctx.encrypted_file_store.path(name);
        p.data(orphan(file.display().to_string(), name));
    }
}
