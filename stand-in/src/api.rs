//! The contract's routes and the fixture responses behind each key.

use chrono::{DateTime, NaiveTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::RecordedRequest;
use crate::connect::{
    self, APPROVE_PATH, COMPLETE_PATH, ConnectFault, ROTATE_PATH, START_PATH, State,
};
use crate::http::Reply;
use crate::keys::{self, Kind};

pub(crate) const KEY_PATH: &str = "/api/auth/key";
pub(crate) const WHOAMI_PATH: &str = "/api/auth/whoami";

pub(crate) fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

fn permission_denied(required: &str, granted: &[&str]) -> Reply {
    Reply::json(
        403,
        &json!({ "error": {
            "code": "permission_denied",
            "message": "Permission denied",
            "required_permission": required,
            "permissions": granted,
        } }),
    )
}

fn invalid_key() -> Reply {
    error(401, "invalid_api_key", "Invalid API key")
}

/// Answers a request that no fault intercepted, updating `state` (revocations, logins, minted
/// keys).
pub(crate) fn handle(req: &RecordedRequest, now: DateTime<Utc>, state: &mut State) -> Reply {
    let token = bearer(req);
    if key_in_url(&req.target, token) {
        return error(
            400,
            "bad_request",
            "API keys belong in the Authorization header, never in the URL",
        );
    }

    let path = req.path();
    let allow = match path {
        KEY_PATH => "GET, DELETE",
        WHOAMI_PATH => "GET",
        START_PATH | COMPLETE_PATH | ROTATE_PATH => "POST",
        APPROVE_PATH => "GET, POST",
        _ => return error(404, "not_found", "Not found"),
    };
    let route = (req.method.as_str(), path);
    match route {
        ("GET", KEY_PATH) | ("DELETE", KEY_PATH) | ("GET", WHOAMI_PATH) | ("POST", ROTATE_PATH) => {
        }
        ("POST", START_PATH) => return connect::start(req, state),
        ("POST", COMPLETE_PATH) => return connect::complete(req, state, now),
        ("GET" | "POST", APPROVE_PATH) => return connect::approval_page(req, state),
        _ => {
            return error(405, "method_not_allowed", "Method not allowed")
                .with_header("Allow", allow);
        }
    }

    let Some(token) = token else {
        return invalid_key();
    };
    let minted = state.minted(token).cloned();
    let Some(kind) = keys::lookup(token).or(minted.as_ref().map(|m| m.kind)) else {
        return invalid_key();
    };
    if kind == Kind::Revoked || state.revoked.iter().any(|k| k == token) {
        return error(401, "key_revoked", "API key revoked");
    }
    if kind == Kind::Expired
        || minted
            .as_ref()
            .is_some_and(|m| m.expires_at.is_some_and(|e| e <= now))
    {
        return error(401, "key_expired", "API key expired");
    }

    let fault = state.fault.clone();
    match route {
        ("GET", KEY_PATH)
            if minted.is_some() && fault == Some(ConnectFault::IntrospectMintedFails) =>
        {
            error(500, "internal", "Internal server error")
        }
        ("GET", KEY_PATH) => {
            let mut info = key_info(kind, token, now);
            if let Some(m) = &minted {
                connect::describe_minted(&mut info, m);
            }
            Reply::json(200, &info)
        }
        ("DELETE", KEY_PATH) if kind == Kind::ReadOnly => {
            permission_denied("revoke_keys", &["read_scenarios"])
        }
        ("DELETE", KEY_PATH)
            if minted.is_none() && fault == Some(ConnectFault::RevokeFixtureFails) =>
        {
            error(500, "internal", "Internal server error")
        }
        ("DELETE", KEY_PATH) => {
            state.revoked.push(token.to_string());
            Reply::empty(204)
        }
        ("POST", ROTATE_PATH) => connect::rotate(req, token, kind, state, now),
        _ if kind == Kind::ReadOnly => permission_denied("read_account", &["read_scenarios"]),
        _ => Reply::json(200, &whoami(kind, token)),
    }
}

/// The token of a single `Authorization: Bearer <token>` header. Anything else counts as no
/// credentials at all, which the contract answers with `invalid_api_key`.
pub(crate) fn bearer(req: &RecordedRequest) -> Option<&str> {
    let mut values = req
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str());
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

fn key_in_url(target: &str, token: Option<&str>) -> bool {
    let decoded = percent_decode(target);
    if !keys::key_shaped_ranges(&decoded).is_empty() {
        return true;
    }
    // Catch the presented token or its secret even when they are not key-shaped.
    token.is_some_and(|t| {
        let secret = t.rsplit('_').next().unwrap_or(t);
        (t.len() >= 8 && decoded.contains(t)) || (secret.len() >= 8 && decoded.contains(secret))
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// 23:59:59Z on the day `days` after today (UTC), so that a client flooring
/// `(expires_at - now) / 1 day` gets exactly `days` for the rest of today. Only the last
/// second of a UTC day gives one less.
pub(crate) fn end_of_day_in(now: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    (now.date_naive() + TimeDelta::days(days))
        .and_time(last_second)
        .and_utc()
}

const FULL_PERMISSIONS: [(&str, bool); 5] = [
    ("read_scenarios", true),
    ("upload_results", true),
    ("create_scenarios", true),
    ("delete_scenarios", false),
    ("manage_projects", false),
];

fn permissions(entries: &[(&str, bool)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(name, granted)| (name.to_string(), Value::Bool(*granted)))
            .collect(),
    )
}

fn contract_organizations() -> Value {
    json!([
        { "id": "org_1", "name": "Acme Inc", "role": "owner" },
        { "id": "org_2", "name": "Personal", "role": "member" },
    ])
}

fn account(kind: Kind) -> Value {
    let (id, email) = match kind {
        Kind::ReadOnly => ("usr_43", "readonly@example.com"),
        Kind::ProjectScoped => ("usr_44", "scoped@example.com"),
        Kind::UnknownPermission => ("usr_45", "future@example.com"),
        Kind::ExpiringIn(_) => ("usr_47", "soon@example.com"),
        Kind::Echo => ("usr_48", "echo@example.com"),
        Kind::Valid | Kind::Expired | Kind::Revoked => ("usr_42", "john@example.com"),
    };
    json!({ "id": id, "email": email })
}

pub(crate) fn key_info(kind: Kind, token: &str, now: DateTime<Utc>) -> Value {
    let in_84_days = Value::String(rfc3339(end_of_day_in(now, keys::VALID_DAYS_REMAINING)));
    let all_projects = json!({ "all_projects": true, "projects": [] });
    let (id, name, environment, created_at, expires_at, scopes, perms, orgs) = match kind {
        Kind::ReadOnly => (
            "key_01HV8Y3M2R",
            "ci-readonly",
            "prod",
            "2024-03-05T14:30:00Z",
            in_84_days,
            all_projects,
            permissions(&FULL_PERMISSIONS.map(|(n, _)| (n, n == "read_scenarios"))),
            json!([{ "id": "org_1", "name": "Acme Inc", "role": "viewer" }]),
        ),
        Kind::ProjectScoped => (
            "key_01HV8Y3M2S",
            "support-deploy",
            "prod",
            "2024-02-20T08:00:00Z",
            Value::Null,
            json!({ "all_projects": false, "projects": ["customer-support-bot", "sales-assistant"] }),
            permissions(&FULL_PERMISSIONS),
            json!([{ "id": "org_1", "name": "Acme Inc", "role": "admin" }]),
        ),
        Kind::UnknownPermission => (
            "key_01HV8Y3M2U",
            "future-perms",
            "test",
            "2024-02-01T10:00:00Z",
            in_84_days,
            all_projects,
            permissions(
                &[
                    &FULL_PERMISSIONS[..],
                    &[("manage_billing", true), ("export_traces", false)],
                ]
                .concat(),
            ),
            contract_organizations(),
        ),
        Kind::ExpiringIn(days) => (
            "key_01HV8Y3M2W",
            "laptop",
            "dev",
            "2024-01-16T09:12:00Z",
            Value::String(rfc3339(end_of_day_in(now, days))),
            all_projects,
            permissions(&FULL_PERMISSIONS),
            contract_organizations(),
        ),
        Kind::Echo => (
            "key_01HV8Y3M2E",
            "echo",
            "test",
            "2024-01-16T09:12:00Z",
            in_84_days,
            all_projects,
            permissions(&FULL_PERMISSIONS),
            contract_organizations(),
        ),
        // Expired and revoked keys never get this far; giving them VALID's shape keeps the
        // match total without inventing data nobody sees.
        Kind::Valid | Kind::Expired | Kind::Revoked => (
            "key_01HV8Y3M2N",
            "laptop",
            "dev",
            "2024-01-16T09:12:00Z",
            in_84_days,
            all_projects,
            permissions(&FULL_PERMISSIONS),
            contract_organizations(),
        ),
    };
    let mut key = json!({
        "id": id,
        "name": name,
        "environment": environment,
        "created_at": created_at,
        "expires_at": expires_at,
        "scopes": scopes,
        "permissions": perms,
    });
    let mut info = json!({ "key": key.take(), "account": account(kind), "organizations": orgs });
    if kind == Kind::Echo {
        info["key"]["debug_echo"] = Value::from(token);
        info["debug_echo"] = Value::from(token);
    }
    info
}

pub(crate) fn whoami(kind: Kind, token: &str) -> Value {
    let usage =
        |runs: u64| json!({ "runs_this_month": runs, "period_start": "2024-01-01T00:00:00Z" });
    let mut body = if kind == Kind::ProjectScoped {
        json!({
            "account": account(kind),
            "organizations": [{ "id": "org_1", "name": "Acme Inc", "role": "admin" }],
            "projects": [
                { "id": "prj_1", "name": "customer-support-bot", "organization": "Acme Inc" },
                { "id": "prj_2", "name": "sales-assistant", "organization": "Acme Inc" },
            ],
            "api_access": true,
            "plan": { "name": "Enterprise", "runs_per_month": null },
            "usage": usage(5120),
        })
    } else {
        json!({
            "account": account(kind),
            "organizations": contract_organizations(),
            "projects": [
                { "id": "prj_1", "name": "customer-support-bot", "organization": "Acme Inc" },
                { "id": "prj_2", "name": "sales-assistant", "organization": "Acme Inc" },
                { "id": "prj_3", "name": "analytics-agent", "organization": "Personal" },
            ],
            "api_access": true,
            "plan": { "name": "Team", "runs_per_month": 1000 },
            "usage": usage(234),
        })
    };
    if kind == Kind::Echo {
        body["debug_echo"] = Value::from(token);
    }
    body
}

/// The request path for the log: no query string, and nothing key-shaped, so that even a
/// client that wrongly puts its key in the URL does not get it written to the demo's stderr.
pub(crate) fn loggable_path(req: &RecordedRequest) -> String {
    let path = percent_decode(req.path());
    let mut out = String::with_capacity(path.len());
    let mut last = 0;
    for range in keys::key_shaped_ranges(&path) {
        out.push_str(&path[last..range.start]);
        out.push_str("[redacted]");
        last = range.end;
    }
    out.push_str(&path[last..]);
    match bearer(req) {
        Some(token) if token.len() >= 8 => out.replace(token, "[redacted]"),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn expiry_floors_to_the_promised_day_count() {
        for (h, m, s) in [(0, 0, 0), (12, 30, 0), (23, 59, 58)] {
            let now = Utc.with_ymd_and_hms(2025, 2, 27, h, m, s).unwrap();
            let expires = end_of_day_in(now, 84);
            assert_eq!((expires - now).num_days(), 84, "{now}");
        }
    }

    #[test]
    fn percent_decoding_reveals_keys() {
        assert!(key_in_url(
            "/x?k=flux%5Fdev%5Fabc123def456ghi789jkl012mno34",
            None
        ));
        assert!(key_in_url(
            "/x?k=SecretSecret",
            Some("flux_dev_SecretSecret")
        ));
        assert!(!key_in_url("/api/auth/key", Some(keys::VALID)));
    }
}
