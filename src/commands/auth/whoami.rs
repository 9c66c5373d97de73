//! `fluxloop auth whoami`: the account, organizations, projects, plan and usage.

use super::{client_while_key_is_read, load_profiles, resolve_key, warn_expiry};
use crate::api::Whoami;
use crate::cli::WhoamiArgs;
use crate::commands::json::WhoamiDocument;
use crate::context::Context;
use crate::error::{CliError, CliResult, ExitStatus};
use crate::logging;
use crate::output::{Printer, bold, thousands};
use crate::secrets::{KeySource, StoreKind};

/// On failure with `--json`, the caller prints the error document (`crate::run`).
pub async fn run(args: &WhoamiArgs, ctx: &Context, p: &Printer) -> CliResult {
    let file = load_profiles(ctx, p)?;
    logging::phase!("credentials file read");
    let early = client_while_key_is_read(ctx, &file);
    let resolved = resolve_key(ctx, &file, p)?;
    logging::phase!("key read");
    let url = resolved.api_url(ctx)?;
    let client = ctx.client_after(early, url)?;
    logging::phase!("HTTP client built");
    // whoami does not return the expiry. The date saved at login describes the profile's key
    // only; for any other key (FLUXLOOP_API_KEY) or no saved date, ask the platform, at the same
    // time as the whoami request so the command still costs one round trip.
    let saved = match resolved.source {
        KeySource::Env => None,
        _ => resolved.profile.as_ref().and_then(|pr| pr.expires),
    };
    let expiry_lookup = async {
        match saved {
            Some(_) => None,
            // Only for the warning: a failure here is not fatal.
            None => client.introspect_key(&resolved.key).await.ok(),
        }
    };
    let (who, info) = p
        .while_waiting("Asking FluxLoop…", async {
            tokio::join!(client.whoami(&resolved.key), expiry_lookup)
        })
        .await;
    let who = who.map_err(|e| CliError::for_key(e, &resolved.used(ctx)))?;
    let expires = match saved {
        Some(e) => e.at(),
        None => info.and_then(|info| info.key.expires_at),
    };
    warn_expiry(p, expires);
    if args.json {
        p.json(&WhoamiDocument::from(&who));
    } else {
        report(p, &who);
        // The file whose passphrase was just asked for (or whose opened copy was used).
        if resolved.source == KeySource::Store(StoreKind::EncryptedFile) {
            p.data(format!(
                "{}{}{}",
                bold(format!("{:<18}", "Key source:")),
                super::describe_source(resolved.source, ctx),
                super::unlocked_until(ctx, resolved.source, ctx.profile.as_str())
            ));
        }
    }
    Ok(ExitStatus::Success)
}

fn report(p: &Printer, w: &Whoami) {
    let label = |s: &str| bold(format!("{s:<18}"));
    p.data(format!("{}{}", label("Email:"), w.account.email));
    if w.organizations.is_empty() {
        p.data(format!("{}none", label("Organizations:")));
    } else {
        p.data(bold("Organizations:"));
        for o in &w.organizations {
            p.data(format!("  • {} ({})", o.name, o.role));
        }
    }
    if w.projects.is_empty() {
        p.data(format!("{}none", label("Projects:")));
    } else {
        p.data(bold("Projects:"));
        for pr in &w.projects {
            match &pr.organization {
                Some(org) => p.data(format!("  • {} ({org})", pr.name)),
                None => p.data(format!("  • {}", pr.name)),
            }
        }
    }
    let access = if w.api_access { "Enabled" } else { "Disabled" };
    p.data(format!("{}{access}", label("API Access:")));
    match w.plan.runs_per_month {
        Some(limit) => {
            p.data(format!(
                "{}{} ({} runs/month)",
                label("Plan:"),
                w.plan.name,
                thousands(limit)
            ));
            p.data(format!(
                "{}{} / {} runs",
                label("Usage this month:"),
                thousands(w.usage.runs_this_month),
                thousands(limit)
            ));
        }
        None => {
            p.data(format!(
                "{}{} (unlimited runs)",
                label("Plan:"),
                w.plan.name
            ));
            p.data(format!(
                "{}{} runs (no limit)",
                label("Usage this month:"),
                thousands(w.usage.runs_this_month)
            ));
        }
    }
}
