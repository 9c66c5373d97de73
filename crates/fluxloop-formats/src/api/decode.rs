//! What a server's answer is turned into: JSON bodies decoded into the contract's types, and
//! the `Retry-After` header. Pure functions of the bytes received (the fuzz targets' subject);
//! fluxloop's HTTP client applies them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::text::sanitise_json;

/// A success body that could not be read; `reason` names a position, a field path and a kind,
/// never a value the server sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DecodeError {
    pub reason: String,
}

/// Decodes a success body. Every string in it is made safe to show first (see
/// [`sanitise_json`]); a mismatch is reported by field path and kind, never by value, since
/// serde quotes the offending value and a hostile server can make that value the key.
pub fn decode<T: DeserializeOwned>(body: &[u8], key: &SecretString) -> Result<T, DecodeError> {
    decode_value(parse_json(body)?, key)
}

/// Parses a body as JSON, nothing more.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, DecodeError> {
    serde_json::from_slice(body).map_err(|e| DecodeError {
        reason: if e.is_eof() {
            "the JSON ended early (truncated response)".to_string()
        } else {
            // Syntax errors name a position and what the parser expected, never the text.
            format!(
                "it is not JSON (error at line {} column {})",
                e.line(),
                e.column()
            )
        },
    })
}

/// Decodes what is left of an answer once its secrets are taken out, masked against `mask`.
pub fn decode_value<T: DeserializeOwned>(
    mut value: serde_json::Value,
    mask: &SecretString,
) -> Result<T, DecodeError> {
    sanitise_json(&mut value, mask);
    serde_path_to_error::deserialize(&value).map_err(|e| DecodeError {
        reason: mismatch(&e, &value),
    })
}

/// `unexpected JSON at usage.runs_this_month: found a string, expected u64`.
fn mismatch(e: &serde_path_to_error::Error<serde_json::Error>, root: &serde_json::Value) -> String {
    let message = e.inner().to_string();
    let path: String = e.path().to_string().chars().take(200).collect();
    if message.starts_with("missing field") {
        // Names one of our fields: nothing the server wrote.
        return format!("unexpected JSON at {path}: {message}");
    }
    let found = match value_at(root, e.path()) {
        Some(serde_json::Value::Null) => "null",
        Some(serde_json::Value::Bool(_)) => "a boolean",
        Some(serde_json::Value::Number(_)) => "a number",
        Some(serde_json::Value::String(_)) => "a string",
        Some(serde_json::Value::Array(_)) => "an array",
        Some(serde_json::Value::Object(_)) => "an object",
        None => "a value",
    };
    // serde's `invalid type: <the value>, expected <what our type wants>`: only the part after
    // the last `, expected ` is ours.
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => {
            format!("unexpected JSON at {path}: found {found}, expected {expected}")
        }
        None => format!("unexpected JSON at {path}: {found} that cannot be used there"),
    }
}

fn value_at<'v>(
    root: &'v serde_json::Value,
    path: &serde_path_to_error::Path,
) -> Option<&'v serde_json::Value> {
    use serde_path_to_error::Segment;
    path.iter().try_fold(root, |value, segment| match segment {
        Segment::Seq { index } => value.get(index),
        Segment::Map { key } => value.get(key),
        Segment::Enum { .. } | Segment::Unknown => None,
    })
}

/// The seconds to wait that a `Retry-After` value asks for: delta-seconds (saturating, so
/// `18446744073709551615` or more digits is simply "very long") or an HTTP-date (a past date
/// means now). Anything else, negative numbers included, is ignored.
pub fn parse_retry_after(value: &[u8], now: DateTime<Utc>) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
    // A negative difference (a date in the past) fails to_std: no wait.
    Some(
        at.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Whoami;

    #[test]
    fn retry_after_saturates_and_ignores_garbage() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let secs = |v: &str| parse_retry_after(v.as_bytes(), now).map(|d| d.as_secs());
        assert_eq!(secs("120"), Some(120));
        assert_eq!(secs(" 7 "), Some(7));
        assert_eq!(secs("18446744073709551615"), Some(u64::MAX));
        assert_eq!(secs("99999999999999999999999999"), Some(u64::MAX));
        for garbage in ["", "-1", "+5", "1.5", "soon", "0x10", "\u{1b}[2J"] {
            assert_eq!(secs(garbage), None, "{garbage:?}");
        }
        assert_eq!(secs("Thu, 01 Jan 2026 00:01:00 GMT"), Some(60));
        assert_eq!(secs("Fri, 31 Dec 1999 23:59:59 GMT"), Some(0));
        assert!(secs("Fri, 31 Dec 9999 23:59:59 GMT").unwrap() > 200 * 365 * 86400);
        assert_eq!(parse_retry_after(b"\xff\xfe", now), None);
    }

    #[test]
    fn a_mistyped_field_is_reported_by_path_and_kind_never_by_value() {
        let key = SecretString::from("flux_dev_abc123def456ghi789jkl012mno34");
        let body = br#"{"account":{"email":"a@b"},"organizations":[],"projects":[],
            "api_access":"flux_dev_abc123def456ghi789jkl012mno34 sneaky",
            "plan":{"name":"Team"},"usage":{"runs_this_month":1}}"#;
        let Err(DecodeError { reason }) = decode::<Whoami>(body, &key) else {
            panic!("decoded");
        };
        assert_eq!(
            reason,
            "unexpected JSON at api_access: found a string, expected a boolean"
        );
        let body = br#"{"account":{"email":"a@b"},"organizations":[{"name":"x","role":7}],
            "projects":[],"api_access":true,"plan":{"name":"Team"},"usage":{}}"#;
        let Err(DecodeError { reason }) = decode::<Whoami>(body, &key) else {
            panic!("decoded");
        };
        assert_eq!(
            reason,
            "unexpected JSON at organizations[0].role: found a number, expected a string"
        );
        let Err(DecodeError { reason }) =
            decode::<Whoami>(b"{\"a\": flux_dev_abc123def456ghi789jkl012mno34}", &key)
        else {
            panic!("decoded");
        };
        assert!(!reason.contains("abc123"), "{reason}");
    }

    #[test]
    fn decoded_strings_are_safe_to_show() {
        let key = SecretString::from("flux_dev_abc123def456ghi789jkl012mno34");
        let body = br#"{"account":{"email":"abc123def456ghi789@evil\u001b[2J"},"organizations":[],
            "projects":[],"api_access":true,"plan":{"name":"Team"},"usage":{"runs_this_month":1}}"#;
        let w: Whoami = decode(body, &key).unwrap();
        assert_eq!(w.account.email, "****@evil\\u{1b}[2J");
    }
}
