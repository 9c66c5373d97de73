//! Text that the server (or whatever answers in its place) chose. A hostile server or proxy can
//! echo the key it was sent, or send terminal escapes (clear the screen, write the clipboard
//! with OSC 52); such text only reaches a message or the terminal through [`ServerText`].

use std::borrow::Borrow;
use std::fmt;

use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

/// A string from the network, with every piece of the presented key (and anything
/// `flux_`-prefixed) masked, and control characters shown as escapes instead of sent to the
/// terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServerText(String);

impl ServerText {
    /// `key` is the key the request carried, so that an echo of it is recognised even without
    /// its `flux_` prefix or cut short.
    pub fn new(raw: &str, key: &SecretString) -> Self {
        Self(neutralise_controls(&crate::keys::redact_key(raw, key)))
    }

    /// Text made here, not by the server.
    pub fn ours(text: &str) -> Self {
        Self(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for ServerText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ServerText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ServerText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ServerText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// C0 and C1 controls (ESC, BEL, CR, ...) and the bidirectional overrides that can reorder what
/// a terminal shows become visible `\u{..}` escapes.
pub fn neutralise_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Passes every string of a decoded JSON document, object keys included, through
/// [`ServerText::new`], so that whatever the typed structs read from it is already safe to show.
pub fn sanitise_json(value: &mut Value, key: &SecretString) {
    match value {
        Value::String(s) => *s = ServerText::new(s, key).0,
        Value::Array(items) => items.iter_mut().for_each(|v| sanitise_json(v, key)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (name, mut v) in entries {
                sanitise_json(&mut v, key);
                map.insert(ServerText::new(&name, key).0, v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "flux_dev_abc123def456ghi789jkl012mno34";

    fn key() -> SecretString {
        SecretString::from(KEY)
    }

    #[test]
    fn an_echoed_key_is_masked_whole_cut_or_without_its_prefix() {
        for raw in [
            format!("bad key {KEY}"),
            "bad key abc123def456ghi789jkl012mno34".to_string(),
            "bad key 456ghi789jkl0".to_string(),
            "bad key FLUX_DEV_abc123def456ghi789jkl012mno34".to_string(),
        ] {
            let text = ServerText::new(&raw, &key());
            assert!(text.starts_with("bad key "), "{text}");
            for window in KEY.as_bytes()["flux_dev_".len()..].windows(8) {
                let window = std::str::from_utf8(window).unwrap();
                assert!(!text.contains(window), "{raw:?} became {text:?}");
            }
        }
    }

    #[test]
    fn terminal_escapes_become_visible() {
        let text = ServerText::new(
            "a\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}b\u{202e}c\u{9b}",
            &key(),
        );
        assert_eq!(
            text.as_str(),
            "a\\u{1b}[2J\\u{1b}]52;c;ZXZpbA==\\u{7}b\\u{202e}c\\u{9b}"
        );
        assert!(!text.chars().any(char::is_control));
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        let raw = "Acme Inc — john@example.com, 2024-01-16T09:12:00Z, flux_ alone";
        assert_eq!(ServerText::new(raw, &key()).as_str(), raw);
    }

    #[test]
    fn json_keys_and_values_are_sanitised() {
        let mut value = serde_json::json!({
            "a": ["x", KEY, { KEY: "\u{1b}[2J" }],
            "n": 18446744073709551615u64,
        });
        sanitise_json(&mut value, &key());
        let text = value.to_string();
        assert!(!text.contains("abc123def456"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert_eq!(value["n"], serde_json::json!(u64::MAX));
    }
}
