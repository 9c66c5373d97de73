//! Replies for the injected faults, which stand in for a platform (or the proxy in front of
//! it) misbehaving.

use chrono::Utc;
use serde_json::Value;

use crate::api::{self, KEY_PATH, WHOAMI_PATH};
use crate::http::{Body, JSON, Reply};
use crate::keys::Kind;
use crate::{Fault, RecordedRequest};

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
