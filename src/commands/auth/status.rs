//! `fluxloop auth status`: one keychain read, one `GET /api/auth/key`, and a report.

use chrono::Utc;
use serde_json::json;

use super::{ResolvedKey, describe_source, load_profiles, resolve_key, warn_expiry};
use crate::api::KeyInfo;
use crate::cli::StatusArgs;
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::keys;
use crate::output::{self, Printer, bold, dim, green};
use crate::secrets::{KeySource, StoreKind};

/// Bumped only on incompatible changes to the JSON document.
pub const SCHEMA_VERSION: u32 = 1;

pub async fn run(args: &StatusArgs, ctx: &Context, p: &Printer) -> CliResult {
    match check(ctx, p).await {
        Ok((resolved, info, url)) => {
            warn_expiry(p, info.key.expires_at);
            if args.json {
                p.json(&document(ctx, &resolved, &info, &url));
            } else {
                report(ctx, p, &resolved, &info, &url);
            }
            Ok(ExitStatus::Success)
        }
        Err(e) => {
            if args.json && e.status == ExitStatus::Auth {
                p.json(&json!({
                    "schema_version": SCHEMA_VERSION,
                    "authenticated": false,
                    "profile": ctx.profile.as_str(),
                    "error": { "code": e.code, "message": e.title },
                }));
            }
            Err(e)
        }
    }
}

async fn check(ctx: &Context, p: &Printer) -> CliResult<(ResolvedKey, KeyInfo, url::Url)> {
    let file = load_profiles(ctx, p)?;
    let resolved = resolve_key(ctx, &file, p)?;
    let url = ctx.api_url(resolved.profile.as_ref())?;
    let info = ctx
        .client(url.clone())?
        .introspect_key(&resolved.key)
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
        _ => ctx.profile.to_string(),
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
        "{}{}",
        label("Key source:"),
        describe_source(r.source, ctx)
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

/// The documented, stable `--json` schema (README.md, "JSON output").
fn document(ctx: &Context, r: &ResolvedKey, info: &KeyInfo, url: &url::Url) -> serde_json::Value {
    let now = Utc::now();
    let backend = match r.source {
        KeySource::Store(StoreKind::Keychain) => Some(ctx.keychain.backend().id()),
        _ => None,
    };
    json!({
        "schema_version": SCHEMA_VERSION,
        "authenticated": true,
        "profile": ctx.profile.as_str(),
        "api_url": url.as_str().trim_end_matches('/'),
        "key": {
            "hint": keys::mask(&r.key),
            "id": info.key.id,
            "name": info.key.name,
            "environment": info.key.environment,
            "source": r.source.id(),
            "backend": backend,
            "created_at": info.key.created_at,
            "expires_at": info.key.expires_at,
            "days_remaining": info.key.expires_at.map(|at| output::days_until(at, now)),
        },
        "account": info.account,
        "organizations": info.organizations,
        "scopes": info.key.scopes,
        "permissions": info.key.permissions.iter().map(|(name, granted)| json!({
            "name": name,
            "label": output::permission_label(name),
            "granted": granted,
        })).collect::<Vec<_>>(),
    })
}
