//! Replies for the injected faults, which stand in for a platform (or the proxy in front of
//! it) misbehaving.

use chrono::Utc;
use serde_json::Value;

use crate::api::{self, KEY_PATH, WHOAMI_PATH};
use crate::http::{Body, JSON, Reply};
use crate::keys::Kind;
use crate::{Absurd, Fault, Hostile, RecordedRequest};

/// Size of the [`Fault::HugeBody`] body: far beyond anything a sane client should buffer.
pub const HUGE_BODY_LEN: usize = 2 * 1024 * 1024;

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n\
</body>\r\n</html>\r\n";

pub(crate) fn reply(fault: &Fault, req: &RecordedRequest) -> Reply {
    match fault {
        Fault::ServerError => api::error(500, "internal", "Internal server error"),
        Fault::HtmlBadGateway => Reply {
            status: 502,
            headers: vec![("Content-Type", "text/html".to_string())],
            body: Body::Full(NGINX_502.as_bytes().to_vec()),
        },
        Fault::TruncatedJson => Reply {
            status: 200,
            headers: vec![("Content-Type", JSON.to_string())],
            body: Body::Truncated(plausible_body(req).to_string().into_bytes()),
        },
        Fault::RateLimited { retry_after, .. } => {
            api::error(429, "rate_limited", "Too many requests")
                .with_header("Retry-After", retry_after.to_string())
        }
        Fault::Unavailable { .. } => api::error(503, "internal", "Service temporarily unavailable"),
        Fault::Silent => Reply {
            status: 0,
            headers: Vec::new(),
            body: Body::Silent,
        },
        Fault::Redirect { location } => Reply::empty(307).with_header("Location", location.clone()),
        Fault::HugeBody => huge(req),
        Fault::EchoKey(hostile) => {
            let token = api::bearer(req).unwrap_or_default();
            hostile_reply(*hostile, req, &mut |i| echo(token, i))
        }
        Fault::TerminalEscapes(hostile) => {
            hostile_reply(*hostile, req, &mut |i| format!("field{i}{ESCAPES}end"))
        }
        Fault::AbsurdNumbers(absurd) => absurd_reply(absurd, req),
    }
}

/// What [`Fault::TerminalEscapes`] puts in every string: clear the screen, write "flux" to the
/// clipboard (OSC 52), ring the bell.
pub const ESCAPES: &str = "\u{1b}[2J\u{1b}]52;c;Zmx1eA==\u{7}\u{7}";

/// The `i`-th string of an echoing reply: the token whole, without its prefix, its secret
/// alone, or cut in the middle, in turn, inside ordinary-looking text.
fn echo(token: &str, i: usize) -> String {
    let without_prefix = token.strip_prefix("flux_").unwrap_or(token);
    let secret = token.rsplit('_').next().unwrap_or(token);
    let middle = secret
        .get(3..secret.len().saturating_sub(3))
        .unwrap_or(secret);
    let form = match i % 4 {
        0 => token,
        1 => without_prefix,
        2 => secret,
        _ => middle,
    };
    format!("echo{i}:{form}")
}

fn hostile_reply(
    hostile: Hostile,
    req: &RecordedRequest,
    payload: &mut dyn FnMut(usize) -> String,
) -> Reply {
    let error = |status: u16, code: String, message: String| {
        Reply::json(
            status,
            &serde_json::json!({ "error": { "code": code, "message": message } }),
        )
    };
    match hostile {
        Hostile::ServerError => error(500, "internal".into(), payload(0)),
        Hostile::NotFound => error(404, "not_found".into(), payload(0)),
        Hostile::Unauthorized => error(401, payload(0), payload(1)),
        Hostile::PermissionDenied => Reply::json(
            403,
            &serde_json::json!({ "error": {
                "code": "permission_denied",
                "message": payload(0),
                "required_permission": payload(1),
                "permissions": [payload(2), payload(3), "read_scenarios"],
            } }),
        ),
        Hostile::Redirect => Reply::empty(307).with_header("Location", payload(0)),
        Hostile::Success if req.method == "DELETE" => Reply::empty(204),
        Hostile::Success => {
            let mut body = plausible_body(req);
            let mut count = 0;
            fill_strings(&mut body, &mut |_| {
                count += 1;
                payload(count - 1)
            });
            Reply::json(200, &body)
        }
        Hostile::WrongType => {
            let mut body = plausible_body(req);
            let text = Value::from(payload(0));
            if let Some(scopes) = body.pointer_mut("/key/scopes/all_projects") {
                *scopes = text.clone();
            }
            if let Some(access) = body.pointer_mut("/api_access") {
                *access = text;
            }
            Reply::json(200, &body)
        }
    }
}

/// Replaces every string, object keys included, except dates (whose fields end in `_at` or
/// `_start`), with what `with` makes of it.
fn fill_strings(value: &mut Value, with: &mut dyn FnMut(&str) -> String) {
    match value {
        Value::String(s) => *s = with(s),
        Value::Array(items) => items.iter_mut().for_each(|v| fill_strings(v, with)),
        Value::Object(map) => {
            for (name, mut v) in std::mem::take(map) {
                let is_date = name.ends_with("_at") || name.ends_with("_start");
                if !is_date {
                    fill_strings(&mut v, with);
                }
                // Field names the contract fixes stay; the permission names are data.
                let name = if is_permission_name(&name) {
                    with(&name)
                } else {
                    name
                };
                map.insert(name, v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn is_permission_name(name: &str) -> bool {
    matches!(
        name,
        "read_scenarios"
            | "upload_results"
            | "create_scenarios"
            | "delete_scenarios"
            | "manage_projects"
    )
}

fn absurd_reply(absurd: &Absurd, req: &RecordedRequest) -> Reply {
    match absurd {
        Absurd::RetryAfter(value) => api::error(429, "rate_limited", "Too many requests")
            .with_header("Retry-After", value.clone()),
        Absurd::ExpiresAt(value) => {
            let mut body = plausible_body(req);
            if let Some(at) = body.pointer_mut("/key/expires_at") {
                *at = value.clone();
            }
            Reply::json(200, &body)
        }
        Absurd::HugeCounts => {
            let mut body = plausible_body(req);
            for pointer in ["/plan/runs_per_month", "/usage/runs_this_month"] {
                if let Some(n) = body.pointer_mut(pointer) {
                    *n = Value::from(u64::MAX);
                }
            }
            Reply::json(200, &body)
        }
        Absurd::ContentLength(claimed) => Reply {
            status: 200,
            headers: vec![("Content-Type", JSON.to_string())],
            body: Body::Misdeclared {
                body: plausible_body(req).to_string().into_bytes(),
                claimed: claimed.clone(),
            },
        },
    }
}

/// What the route would return for VALID, so a client that ignores the fault would happily
/// accept the response: only the fault itself can make it fail.
fn plausible_body(req: &RecordedRequest) -> Value {
    match req.path() {
        KEY_PATH => api::key_info(Kind::Valid, "", Utc::now()),
        WHOAMI_PATH => api::whoami(Kind::Valid, ""),
        _ => Value::Object(Default::default()),
    }
}

/// A well-formed response padded to exactly [`HUGE_BODY_LEN`] bytes by an unknown field.
fn huge(req: &RecordedRequest) -> Reply {
    let mut prefix = plausible_body(req).to_string().into_bytes();
    prefix.pop(); // the closing brace; the padding field goes before it
    if prefix.len() > 1 {
        prefix.push(b',');
    }
    prefix.extend_from_slice(br#""padding":""#);
    let suffix = br#""}"#.to_vec();
    Reply {
        status: 200,
        headers: vec![("Content-Type", JSON.to_string())],
        body: Body::Streamed {
            fill_len: HUGE_BODY_LEN - prefix.len() - suffix.len(),
            prefix,
            fill: b'x',
            suffix,
        },
    }
}
