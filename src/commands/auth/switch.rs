//! `fluxloop auth switch`: the default profile, and directory bindings, kept in the credentials
//! file. Nothing else changes: other directories, shells and processes keep their choice.

use std::path::{Path, PathBuf};

use super::{home_relative, load_profiles};
use crate::cli::{SwitchArgs, env};
use crate::context::{Context, ProfileOrigin};
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::Printer;
use crate::profiles::{CredentialsFile, ProfileName};

pub fn run(args: &SwitchArgs, ctx: &Context, p: &Printer) -> CliResult {
    let name = args.name.as_deref().map(ProfileName::parse).transpose()?;
    let dir = target_dir(args)?;
    // Reports permissions and plaintext keys as every command does, before the lock.
    load_profiles(ctx, p)?;
    let mut tx = ctx.profiles.lock()?;
    if args.unset {
        let removed = match &dir {
            Some(dir) => unset_binding(&mut tx.file, dir, name.as_ref())?,
            None => unset_default(&mut tx.file, name.as_ref())?,
        };
        if removed {
            tx.commit()?;
        }
        report_unset(p, dir.as_deref(), removed);
        return Ok(ExitStatus::Success);
    }
    // `required_unless_present = "unset"` in cli.rs.
    let name = name.ok_or_else(|| CliError::usage("A profile name is required"))?;
    refuse_unknown(&tx.file, &name)?;
    match &dir {
        Some(dir) => {
            tx.file
                .directories
                .insert(dir_key(dir)?, name.as_str().to_string());
        }
        None => tx.file.current_profile = Some(name.as_str().to_string()),
    }
    tx.commit()?;
    match &dir {
        Some(dir) => p.info(format!(
            "✅ {} and the directories below it now use profile '{name}'",
            home_relative(dir)
        )),
        None => {
            p.info(format!("✅ The default profile is now '{name}'"));
            warn_overridden(ctx, p);
        }
    }
    Ok(ExitStatus::Success)
}

/// The directory to bind or unbind, canonical (so a binding matches however the directory is
/// reached), or `None` for the default.
fn target_dir(args: &SwitchArgs) -> CliResult<Option<PathBuf>> {
    let dir = match (&args.dir, args.here) {
        (Some(dir), _) => dir.clone(),
        (None, true) => std::env::current_dir()
            .map_err(|e| CliError::failure(format!("Cannot find the current directory: {e}")))?,
        (None, false) => return Ok(None),
    };
    let canonical = std::fs::canonicalize(&dir)
        .map_err(|e| CliError::usage(format!("Cannot use {}: {e}", dir.display())))?;
    if !canonical.is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(Some(canonical))
}

fn dir_key(dir: &Path) -> CliResult<String> {
    dir.to_str().map(str::to_string).ok_or_else(|| {
        CliError::usage(format!(
            "{} is not valid UTF-8, which the credentials file needs",
            dir.display()
        ))
    })
}

/// Only a profile the file knows can be chosen: a typo would otherwise make every later command
/// say "not logged in".
fn refuse_unknown(file: &CredentialsFile, name: &ProfileName) -> CliResult<()> {
    let mut names = file.names();
    if names.iter().any(|n| n == name.as_str()) {
        return Ok(());
    }
    names.sort();
    let err = CliError::usage(format!("No profile named '{name}' on this machine"));
    Err(if names.is_empty() {
        err.hint(format!(
            "There are no profiles yet; run `fluxloop auth login --profile {name}` first"
        ))
    } else {
        err.detail(format!("Profiles: {}", names.join(", ")))
            .hint(format!(
                "Log in to it first: `fluxloop auth login --profile {name}`"
            ))
    })
}

/// With a PROFILE, only a binding to that profile is removed.
fn unset_binding(
    file: &mut CredentialsFile,
    dir: &Path,
    name: Option<&ProfileName>,
) -> CliResult<bool> {
    let key = dir_key(dir)?;
    let Some(bound) = file.directories.get(&key) else {
        return Ok(false);
    };
    if let Some(name) = name
        && bound != name.as_str()
    {
        return Err(CliError::usage(format!(
            "{} is bound to profile '{bound}', not '{name}'; nothing was changed",
            home_relative(dir)
        )));
    }
    file.directories.remove(&key);
    Ok(true)
}

fn unset_default(file: &mut CredentialsFile, name: Option<&ProfileName>) -> CliResult<bool> {
    let Some(current) = &file.current_profile else {
        return Ok(false);
    };
    if let Some(name) = name
        && current != name.as_str()
    {
        return Err(CliError::usage(format!(
            "The default profile is '{current}', not '{name}'; nothing was changed"
        )));
    }
    file.current_profile = None;
    Ok(true)
}

fn report_unset(p: &Printer, dir: Option<&Path>, removed: bool) {
    let message = match (dir, removed) {
        (Some(dir), true) => format!("✅ {} is no longer bound to a profile", home_relative(dir)),
        (Some(dir), false) => format!("{} was not bound to a profile", home_relative(dir)),
        (None, true) => "✅ The default profile is 'default' again".to_string(),
        (None, false) => "No default was set by `fluxloop auth switch`".to_string(),
    };
    p.info(message);
}

/// A new default does not apply where a stronger rule chose the profile of this run.
fn warn_overridden(ctx: &Context, p: &Printer) {
    let by = match &ctx.profile_origin {
        ProfileOrigin::Env => format!("{} (profile '{}')", env::PROFILE, ctx.profile),
        ProfileOrigin::Directory(dir) => format!(
            "the binding of {} to profile '{}'",
            home_relative(dir),
            ctx.profile
        ),
        ProfileOrigin::Flag | ProfileOrigin::Switched | ProfileOrigin::Default => return,
    };
    p.warn(format!(
        "here, {by} still takes precedence over the default"
    ));
}
