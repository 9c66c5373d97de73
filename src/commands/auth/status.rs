//! `fluxloop auth status`: one keychain read, one `GET /api/auth/key`, and a report.

use chrono::Utc;

use super::{
    ResolvedKey, client_while_key_is_read, describe_source, load_profiles, origin_text,
    resolve_key, warn_expiry,
};
use crate::api::KeyInfo;
use crate::cli::StatusArgs;
use crate::commands::json::{StatusDocument, StatusKey};
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::keys;
use crate::logging;
use crate::output::{self, Printer, bold, dim, green};
use crate::secrets::{KeySource, StoreKind};

/// On failure with `--json`, the caller prints the error document (`crate::run`).
pub async fn run(args: &StatusArgs, ctx: &Context, p: &Printer) -> CliResult {
    let (resolved, info, url) = check(ctx, p).await?;
    warn_expiry(p, info.key.expires_at);
    if args.json {
        p.json(&document(ctx, &resolved, &info, &url));
    } else {
        report(ctx, p, &resolved, &info, &url);
    }
    Ok(expiry_check(args.expires_within, info.key.expires_at, p))
}

/// `--expires-within DAYS`: the report is printed either way; the exit status says whether the
/// key expires within DAYS days, for scheduled checks.
fn expiry_check(
    within_days: Option<u32>,
    expires_at: Option<chrono::DateTime<Utc>>,
    p: &Printer,
) -> ExitStatus {
    let (Some(days), Some(at)) = (within_days, expires_at) else {
        return ExitStatus::Success;
    };
    let now = Utc::now();
    // Whole days, as the expiry warning counts them.
    if output::days_until(at, now) >= i64::from(days) {
        return ExitStatus::Success;
    }
    p.warn(format!(
        "the key expires {}, within {} (--expires-within)",
        output::expiry_text(Some(at), now),
        super::count(days as usize, "day", "days")
    ));
    ExitStatus::Auth
}

async fn check(ctx: &Context, p: &Printer) -> CliResult<(ResolvedKey, KeyInfo, url::Url)> {
    let file = load_profiles(ctx, p)?;
    logging::phase!("credentials file read");
    let early = client_while_key_is_read(ctx, &file);
    let resolved = resolve_key(ctx, &file, p)?;
    logging::phase!("key read");
    let url = resolved.api_url(ctx)?;
    let client = ctx.client_after(early, url.clone())?;
    logging::phase!("HTTP client built");
    let info = p
        .while_waiting(
            "Checking the key with FluxLoop…",
            client.introspect_key(&resolved.key),
        )
        .await
        .map_err(|e| CliError::for_key(e, &resolved.used(ctx)))?;
    if let Some(at) = info.key.expires_at
        && at <= Utc::now()
    {
        // The platform should have said 401 key_expired; report expiry, not validity, either way.
        return Err(CliError::key_expired(Some(at)));
    }
    Ok((resolved, info, url))
}

fn report(ctx: &Context, p: &Printer, r: &ResolvedKey, info: &KeyInfo, url: &url::Url) {
    let now = Utc::now();
    let label = |s: &str| bold(format!("{s:<15}"));
    p.data(format!("✅ {}", green("Authenticated")));
    p.data("");
    let profile = match r.source {
        KeySource::Env => format!(
            "{} {}",
            ctx.profile,
            dim("(not used: the key comes from the environment)")
        ),
        _ => match origin_text(&ctx.profile_origin) {
            Some(why) => format!("{} {}", ctx.profile, dim(format!("({why})"))),
            None => ctx.profile.to_string(),
        },
    };
    p.data(format!("{}{profile}", label("Profile:")));
    p.data(format!("{}{}", label("Account:"), info.account.email));
    if info.organizations.is_empty() {
        p.data(format!("{}none", label("Organizations:")));
    } else {
        p.data(bold("Organizations:"));
        for o in &info.organizations {
            p.data(format!("  • {} ({})", o.name, o.role));
        }
    }
    p.data(format!("{}{}", label("API key:"), keys::mask(&r.key)));
    p.data(format!(
        "{}{}{}",
        label("Key source:"),
        describe_source(r.source, ctx),
        super::unlocked_until(ctx, r.source, ctx.profile.as_str())
    ));
    p.data(format!(
        "{}{}, created {}",
        label("Key name:"),
        info.key.name.as_deref().unwrap_or("(not named)"),
        info.key.created_at.map_or("(not stated)".to_string(), |t| t
            .format("%Y-%m-%d")
            .to_string())
    ));
    p.data(format!(
        "{}{}",
        label("Expires:"),
        output::expiry_text(info.key.expires_at, now)
    ));
    let scopes = if info.key.scopes.all_projects {
        "All Projects".to_string()
    } else if info.key.scopes.projects.is_empty() {
        "No projects".to_string()
    } else {
        info.key.scopes.projects.join(", ")
    };
    p.data(format!("{}{scopes}", label("Scopes:")));
    p.data(bold("Permissions:"));
    for (name, granted) in &info.key.permissions {
        let mark = if *granted { "✅" } else { "❌" };
        p.data(format!("  {mark} {}", output::permission_label(name)));
    }
    p.data(format!(
        "{}{}",
        label("API URL:"),
        url.as_str().trim_end_matches('/')
    ));
}

/// The documented `--json` document (README.md, "JSON output"; docs/schema/status.schema.json).
fn document<'a>(
    ctx: &'a Context,
    r: &ResolvedKey,
    info: &'a KeyInfo,
    url: &'a url::Url,
) -> StatusDocument<'a> {
    let backend = match r.source {
        KeySource::Store(StoreKind::Keychain) => Some(ctx.keychain.backend()),
        _ => None,
    };
    let key = StatusKey::new(info, keys::mask(&r.key), r.source, backend, Utc::now());
    StatusDocument::new(
        ctx.profile.as_str(),
        url.as_str().trim_end_matches('/'),
        key,
        info,
    )
}
