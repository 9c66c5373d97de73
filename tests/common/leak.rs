//! The leak check every run of the binary goes through (see `TestEnv::run_cmd`) and every test
//! ends with (`Drop` of `TestEnv`): no 8-character piece of the secret part of a known key may
//! show up in output, in files, or in keychain labels and attributes.
//!
//! Only windows inside the secret (after `flux_<env>_`) count. The documented mask
//! (`flux_dev_abc1...mno34`) shows 4 and 5 characters of the secret, so it never matches, and
//! neither does the public `flux_<env>_` prefix, nor a word like `key_revoked` that happens to
//! follow it.
//!
//! Messages never show a key: they name where the key came from and show the output with each
//! piece of it replaced by `[LEAK]`.

#![allow(dead_code)]

use std::ops::Range;

/// Length of the pieces that count as a leak.
pub const WINDOW: usize = 8;

/// A key the test knows, and where it came from (shown instead of the key in messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownKey {
    pub origin: String,
    pub key: String,
}

/// The part of `key` that is secret: after `flux_<env>_` when it has that shape, after `flux_`
/// when it only starts with it, else all of it.
pub fn secret_part(key: &str) -> &str {
    let Some(rest) = key.strip_prefix("flux_") else {
        return key;
    };
    match rest.split_once('_') {
        Some((env, secret)) if !env.is_empty() && env.bytes().all(|b| b.is_ascii_lowercase()) => {
            // The secret is letters and digits; a `_` ends it (`…Gsflux_dev_…`, a key pasted
            // twice, holds a second key rather than a longer secret).
            let end = secret.find('_').unwrap_or(secret.len());
            &secret[..end]
        }
        _ => rest,
    }
}

/// Every `flux_…` token in `text` (`flux_` followed by letters, digits and underscores) whose
/// secret part is long enough to have a piece: the keys a test hands to the binary.
pub fn keys_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("flux_") {
        let start = from + pos;
        let len = text[start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let token = &text[start..start + len];
        if secret_part(token).len() >= WINDOW {
            found.push(token.to_owned());
        }
        // Go on right after this `flux_`: a token may hold another key (pasted twice).
        from = start + "flux_".len();
    }
    found
}

/// Byte ranges of `haystack` that hold a piece of `key`'s secret, merged where they overlap.
pub fn pieces_of(key: &str, haystack: &[u8]) -> Vec<Range<usize>> {
    let secret = secret_part(key).as_bytes();
    let mut hits: Vec<Range<usize>> = Vec::new();
    if secret.len() < WINDOW || haystack.len() < WINDOW {
        return hits;
    }
    for at in 0..=haystack.len() - WINDOW {
        let window = &haystack[at..at + WINDOW];
        if secret.windows(WINDOW).any(|w| w == window) {
            match hits.last_mut() {
                Some(last) if last.end >= at => last.end = at + WINDOW,
                _ => hits.push(at..at + WINDOW),
            }
        }
    }
    hits
}

/// The origins of the keys of which `haystack` holds a piece.
pub fn leaked(keys: &[KnownKey], haystack: &[u8]) -> Vec<String> {
    let mut origins: Vec<String> = keys
        .iter()
        .filter(|k| !pieces_of(&k.key, haystack).is_empty())
        .map(|k| k.origin.clone())
        .collect();
    origins.dedup();
    origins
}

/// `text` with every piece of every key replaced by `[LEAK]`, so a failure can show the
/// output without repeating the leak.
pub fn redacted(keys: &[KnownKey], text: &str) -> String {
    let bytes = text.as_bytes();
    let mut ranges: Vec<Range<usize>> =
        keys.iter().flat_map(|k| pieces_of(&k.key, bytes)).collect();
    ranges.sort_by_key(|r| r.start);
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for r in ranges {
        if r.end <= at {
            continue;
        }
        out.extend_from_slice(&bytes[at..r.start.max(at)]);
        out.extend_from_slice(b"[LEAK]");
        at = r.end;
    }
    out.extend_from_slice(&bytes[at..]);
    String::from_utf8_lossy(&out).into_owned()
}
